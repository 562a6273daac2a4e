/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * libFuzzer target for the Stripe-Signature header (stripe-sig.c): the
 * input is a header and a body separated by a NUL.  No crash, no
 * sanitizer report, and the properties: a parse keeps at most
 * STRIPE_SIG_V1_MAX signatures of 64 lowercase hex digits each, and a
 * verification succeeds only for a header whose parse succeeded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define fuzz_assert(c)	do { if (!(c)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stripe_sig	 s;
	enum stripe_sig_rc	 prc, vrc;
	char			*h;
	const char		*body;
	size_t			 hl, i;

	if ((h = malloc(size + 1)) == NULL)
		return 0;
	memcpy(h, data, size);
	h[size] = '\0';
	hl = strlen(h);
	body = hl < size ? h + hl + 1 : "";
	prc = stripe_sig_parse(h, &s);
	fuzz_assert(prc < STRIPE_SIG__MAX && s.nv1 <= STRIPE_SIG_V1_MAX);
	for (i = 0; i < s.nv1; i++)
		fuzz_assert(strlen(s.v1[i]) == 64 &&
		    strspn(s.v1[i], "0123456789abcdef") == 64);
	vrc = stripe_sig_verify(h, "whsec_fuzz,whsec_other", body,
	    strlen(body), 1700000000LL, 300);
	fuzz_assert(vrc < STRIPE_SIG__MAX);
	if (vrc == STRIPE_SIG_OK)
		fuzz_assert(prc == STRIPE_SIG_OK);
	free(h);
	return 0;
}
