/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The per-request arena: PostgreSQL's per-cycle memory context applied
 * to FastCGI.  Small allocations come from chained blocks; foreign
 * objects (PGresult, json-c objects, HDF trees) are registered with
 * arena_defer() so the one arena_reset() at the end of the request
 * releases them too.  The first block is kept between requests so a
 * typical request does not touch malloc for its arena.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate.h"

#define ARENA_BLOCK	(16 * 1024)
#define ARENA_ALIGN	16

struct arena_block {
	struct arena_block	*next;
	size_t			 size;
	size_t			 used;
	_Alignas(max_align_t) unsigned char data[];
};

struct arena_defer {
	struct arena_defer	*next;
	void			(*fn)(void *);
	void			*p;
};

void
arena_init(struct arena *a)
{
	memset(a, 0, sizeof(*a));
}

void *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_block	*b = a->blocks;
	size_t			 size;
	void			*p;

	if (n > SIZE_MAX / 2) {
		log_err("%s: %zu bytes requested", __func__, n);
		abort();
	}
	n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (n == 0)
		n = ARENA_ALIGN;
	if (b == NULL || b->size - b->used < n) {
		size = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
		b = xmalloc(sizeof(*b) + size);
		b->size = size;
		b->used = 0;
		/* A large one-off block goes behind the current one. */
		if (size != ARENA_BLOCK && a->blocks != NULL) {
			b->next = a->blocks->next;
			a->blocks->next = b;
		} else {
			b->next = a->blocks;
			a->blocks = b;
		}
		a->total += size;
	}
	p = b->data + b->used;
	b->used += n;
	return p;
}

void *
arena_calloc(struct arena *a, size_t nmemb, size_t size)
{
	void	*p;

	if (size != 0 && nmemb > SIZE_MAX / size) {
		log_err("%s: overflow", __func__);
		abort();
	}
	p = arena_alloc(a, nmemb * size);
	memset(p, 0, nmemb * size);
	return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	char	*p;

	p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *
arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list	 ap;
	char	*p;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	p = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void
arena_defer(struct arena *a, void (*fn)(void *), void *p)
{
	struct arena_defer	*d;

	if (p == NULL)
		return;
	d = arena_alloc(a, sizeof(*d));
	d->fn = fn;
	d->p = p;
	d->next = a->defers;
	a->defers = d;
}

/*
 * Run the deferred releases (newest first) and free every block but one
 * standard block, which is kept for the next request.
 */
void
arena_reset(struct arena *a)
{
	struct arena_defer	*d;
	struct arena_block	*b, *next, *keep = NULL;

	for (d = a->defers; d != NULL; d = d->next)
		d->fn(d->p);
	a->defers = NULL;
	for (b = a->blocks; b != NULL; b = next) {
		next = b->next;
		if (keep == NULL && b->size == ARENA_BLOCK) {
			keep = b;
			continue;
		}
		free(b);
	}
	if (keep != NULL) {
		keep->next = NULL;
		keep->used = 0;
	}
	a->blocks = keep;
	a->total = keep != NULL ? keep->size : 0;
}

/* Release everything, the kept block included (process exit, tests). */
void
arena_free(struct arena *a)
{
	arena_reset(a);
	free(a->blocks);
	a->blocks = NULL;
	a->total = 0;
}
