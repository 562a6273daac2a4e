/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Rate limits shared by every responder of a host: fixed one-minute
 * windows counted in a hash table in shared memory that the master maps
 * before it forks, so a limit holds whichever responder answers.
 * Striped process-shared robust mutexes guard the slots: a responder
 * killed while holding one leaves it recoverable, not locked forever.
 *
 * Keys are hashed under a random key chosen when the table is mapped,
 * so nobody can compute keys that crowd one run of slots.  An entry
 * whose window has ended is free; when none is, the entry whose window
 * ends soonest gives way.  Every request is counted: a full run never
 * lets one through uncounted.
 */
#include "config.h"

#include <sys/mman.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "tollgate.h"

#define RL_SLOTS	65536		/* power of two */
#define RL_STRIPES	64
#define RL_PROBE	16

struct rl_slot {
	uint64_t	 key;		/* 0: empty */
	int64_t		 window;	/* start, seconds since the epoch */
	int64_t		 end;		/* window + its length */
	uint32_t	 count;
};

struct rl_table {
	unsigned char	 hashkey[32];
	pthread_mutex_t	 locks[RL_STRIPES];
	struct rl_slot	 slots[RL_SLOTS];
};

static struct rl_table	*rl;

/* Map the table; called once by the master (or a test) before forking. */
int
rl_init(void)
{
	pthread_mutexattr_t	 ma;
	int			 i;

	if (rl != NULL)
		return 0;
	rl = mmap(NULL, sizeof(*rl), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rl == MAP_FAILED) {
		rl = NULL;
		log_err("%s: mmap: %s", __func__, strerror(errno));
		return -1;
	}
	if (util_random(rl->hashkey, sizeof(rl->hashkey)) == -1) {
		log_err("%s: no randomness for the hash key", __func__);
		munmap(rl, sizeof(*rl));
		rl = NULL;
		return -1;
	}
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	for (i = 0; i < RL_STRIPES; i++)
		pthread_mutex_init(&rl->locks[i], &ma);
	pthread_mutexattr_destroy(&ma);
	return 0;
}

/* A keyed hash of the key (HMAC-SHA256, 64 bits), never 0. */
static uint64_t
rl_hash(const char *s)
{
	unsigned char	 mac[32];
	uint64_t	 h;

	crypto_hmac_sha256(rl->hashkey, sizeof(rl->hashkey), s, strlen(s),
	    mac);
	memcpy(&h, mac, sizeof(h));
	return h == 0 ? 1 : h;
}

/*
 * Where key h lives: the first of its RL_PROBE slots and the stripe
 * whose lock guards them (probing never leaves one stripe's run).
 */
static size_t
rl_locate(uint64_t h, size_t *stripe)
{
	size_t	 idx = (size_t)(h & (RL_SLOTS - 1));

	*stripe = (idx / RL_PROBE) % RL_STRIPES;
	return idx - idx % RL_PROBE;
}

static void
rl_lock(pthread_mutex_t *m)
{
	if (pthread_mutex_lock(m) == EOWNERDEAD)
		pthread_mutex_consistent(m);
}

/*
 * Count one request under "key" against "limit" per "window_s" seconds
 * at time "now".  Fills res (limit, remaining, seconds to reset) and
 * returns 1 when allowed, 0 when over the limit.
 */
int
rl_hit(const char *key, int limit, int window_s, time_t now,
    struct rl_result *res)
{
	struct rl_slot	*s = NULL, *victim = NULL, *t;
	uint64_t	 h;
	int64_t		 win = (int64_t)now - (int64_t)now % window_s;
	size_t		 i, idx, stripe;
	int		 allowed = 1;

	res->limit = limit;
	res->remaining = limit;
	res->reset = (int)(win + window_s - now);
	if (rl == NULL)
		return 1;
	h = rl_hash(key);
	idx = rl_locate(h, &stripe);
	rl_lock(&rl->locks[stripe]);
	for (i = 0; i < RL_PROBE && s == NULL; i++) {
		t = &rl->slots[idx + i];
		if (t->key == h)
			s = t;
		else if (victim == NULL || t->key == 0 ||
		    (victim->key != 0 && t->end < victim->end))
			victim = t;
	}
	if (s == NULL) {
		/* A live counter gives way only when no slot is free. */
		if (victim->key != 0 && victim->end > now)
			log_info("rate limit run full; an entry was evicted");
		s = victim;
		s->key = h;
		s->window = win;
		s->end = win + window_s;
		s->count = 0;
	}
	if (s->window != win) {
		s->window = win;
		s->end = win + window_s;
		s->count = 0;
	}
	if (s->count >= (uint32_t)limit)
		allowed = 0;
	else
		s->count++;
	res->remaining = limit - (int)s->count;
	pthread_mutex_unlock(&rl->locks[stripe]);
	return allowed;
}

/* The count under "key" in the current window, without counting. */
int
rl_peek(const char *key, int window_s, time_t now)
{
	struct rl_slot	*s;
	uint64_t	 h;
	int64_t		 win = (int64_t)now - (int64_t)now % window_s;
	size_t		 i, idx, stripe;
	int		 count = 0;

	if (rl == NULL)
		return 0;
	h = rl_hash(key);
	idx = rl_locate(h, &stripe);
	rl_lock(&rl->locks[stripe]);
	for (i = 0; i < RL_PROBE; i++) {
		s = &rl->slots[idx + i];
		if (s->key == h && s->window == win) {
			count = (int)s->count;
			break;
		}
	}
	pthread_mutex_unlock(&rl->locks[stripe]);
	return count;
}
