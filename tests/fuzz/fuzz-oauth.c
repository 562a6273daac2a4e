/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * libFuzzer target for the OAuth state parser (oauth.c).  The first
 * byte picks a mode:
 *  - even: the rest is a state as a callback would bring it; whatever
 *    verifies must be a state that signing its fields gives back
 *    byte for byte (one string per state), with its fields in shape;
 *  - odd: the rest chooses the fields of a state, which is signed,
 *    verified, then changed in one character (chosen by the input):
 *    the original verifies to the same fields, the changed one never.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define fuzz_assert(c)	do { if (!(c)) abort(); } while (0)

#define SECRET	"fuzz-oauth-state-secret-0123456789abcdef"
#define NOW	1700000000LL

static void
check_state(const char *in)
{
	struct oauth_state	 s;
	char			 again[OAUTH_STATE_MAX];
	enum oauth_state_rc	 rc;

	rc = oauth_state_verify(SECRET, in, NOW, &s);
	if (rc != OAUTH_STATE_OK && rc != OAUTH_STATE_EXPIRED)
		return;
	fuzz_assert(valid_uuid(s.tenant));
	fuzz_assert(*s.user == '\0' || valid_uuid(s.user));
	fuzz_assert(strlen(s.nonce) == OAUTH_NONCE_B64);
	fuzz_assert(oauth_state_sign(SECRET, &s, again) == 0);
	fuzz_assert(strcmp(again, in) == 0);
}

static void
check_fields(const uint8_t *p, size_t n, unsigned int pick)
{
	static const char	 alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	struct oauth_state	 s, back;
	char			 st[OAUTH_STATE_MAX];
	size_t			 i, len;
	char			 c;

	memset(&s, 0, sizeof(s));
	snprintf(s.tenant, sizeof(s.tenant), "%08x-0000-4000-8000-%012x",
	    n > 0 ? p[0] : 0u, n > 1 ? p[1] : 0u);
	if (n > 2 && (p[2] & 1))
		snprintf(s.user, sizeof(s.user),
		    "11111111-2222-4333-8444-%012x", p[2]);
	for (i = 0; i < OAUTH_NONCE_B64; i++)
		s.nonce[i] = alpha[(i < n ? p[i] : i) % 64];
	s.exp = NOW + 1 + (n > 3 ? p[3] : 0);
	fuzz_assert(oauth_state_sign(SECRET, &s, st) == 0);
	fuzz_assert(oauth_state_verify(SECRET, st, NOW, &back) ==
	    OAUTH_STATE_OK);
	fuzz_assert(memcmp(&s, &back, sizeof(s)) == 0);
	fuzz_assert(oauth_state_verify("another-secret", st, NOW, &back) ==
	    OAUTH_STATE_SIGNATURE);
	len = strlen(st);
	i = pick % len;
	c = alpha[(pick / len) % 64];
	if (st[i] == c || st[i] == '.')
		return;
	st[i] = c;
	fuzz_assert(oauth_state_verify(SECRET, st, NOW, &back) !=
	    OAUTH_STATE_OK);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*s;
	unsigned int	 pick;

	if (size < 1 || size > 2048)
		return 0;
	if ((data[0] & 1) == 0) {
		s = malloc(size);
		if (s == NULL)
			return 0;
		memcpy(s, data + 1, size - 1);
		s[size - 1] = '\0';
		check_state(s);
		free(s);
		return 0;
	}
	pick = size > 3 ? (unsigned int)data[1] << 8 | data[2] : 0;
	check_fields(data + 1, size - 1, pick);
	return 0;
}
