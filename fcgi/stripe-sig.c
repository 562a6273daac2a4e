/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The Stripe-Signature header of a webhook delivery (CONTRACT.md 6),
 * pure: "t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]", an
 * HMAC-SHA256 under the endpoint secret (the whole "whsec_..." string)
 * of "<t>.<raw body>", compared in constant time against every v1 and
 * every configured secret (several while one is being rolled).  Only
 * v1 counts.  Stricter than Stripe's libraries, on purpose: exactly one
 * t, and a timestamp too far in the future is refused like one too old
 * (the tolerance holds both ways, SPEC 7).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tollgate.h"

static const char *const	stripe_sig_errors[STRIPE_SIG__MAX] = {
	[STRIPE_SIG_OK] = "signature verified",
	[STRIPE_SIG_MALFORMED] = "malformed Stripe-Signature header",
	[STRIPE_SIG_NO_V1] = "no signature with the scheme v1",
	[STRIPE_SIG_MISMATCH] = "no signature matches",
	[STRIPE_SIG_TOO_OLD] = "timestamp outside the tolerance (old)",
	[STRIPE_SIG_TOO_NEW] = "timestamp outside the tolerance (future)",
};

const char *
stripe_sig_strerror(enum stripe_sig_rc rc)
{
	return rc < STRIPE_SIG__MAX ? stripe_sig_errors[rc] : "unknown";
}

/* 64 lowercase hex digits. */
static int
stripe_sig_hex64(const char *s, size_t n)
{
	size_t	 i;

	if (n != 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f')))
			return 0;
	return 1;
}

/* One "k=v" item of the header into the parse. */
static enum stripe_sig_rc
stripe_sig_item(const char *p, size_t n, struct stripe_sig *s, int *have_t)
{
	const char	*eq = memchr(p, '=', n);
	char		 num[24];
	size_t		 kl, vl;
	long long	 t;

	if (eq == NULL)
		return STRIPE_SIG_MALFORMED;
	kl = (size_t)(eq - p);
	vl = n - kl - 1;
	if (kl == 1 && p[0] == 't') {
		if (*have_t || vl == 0 || vl >= sizeof(num) ||
		    strspn(eq + 1, "0123456789") < vl)
			return STRIPE_SIG_MALFORMED;
		memcpy(num, eq + 1, vl);
		num[vl] = '\0';
		if (util_strtonum(num, 0, (long long)1 << 40, &t) == -1)
			return STRIPE_SIG_MALFORMED;
		s->t = t;
		*have_t = 1;
	} else if (kl == 2 && p[0] == 'v' && p[1] == '1') {
		/* A bad entry cannot match; the others still may. */
		if (stripe_sig_hex64(eq + 1, vl) &&
		    s->nv1 < STRIPE_SIG_V1_MAX) {
			memcpy(s->v1[s->nv1], eq + 1, 64);
			s->v1[s->nv1++][64] = '\0';
		}
		s->seen_v1 = 1;
	}
	/* v0 (test-mode decoys) and unknown schemes are ignored. */
	return STRIPE_SIG_OK;
}

/* Split the header into its timestamp and v1 signatures. */
enum stripe_sig_rc
stripe_sig_parse(const char *h, struct stripe_sig *s)
{
	const char		*p, *e;
	enum stripe_sig_rc	 rc;
	int			 have_t = 0;

	memset(s, 0, sizeof(*s));
	if (h == NULL || *h == '\0' || strlen(h) > STRIPE_SIG_HEADER_MAX)
		return STRIPE_SIG_MALFORMED;
	for (p = h; ; p = e + 1) {
		e = strchr(p, ',');
		if (e == NULL)
			e = p + strlen(p);
		if ((rc = stripe_sig_item(p, (size_t)(e - p), s, &have_t)) !=
		    STRIPE_SIG_OK)
			return rc;
		if (*e == '\0')
			break;
	}
	if (!have_t)
		return STRIPE_SIG_MALFORMED;
	return s->seen_v1 ? STRIPE_SIG_OK : STRIPE_SIG_NO_V1;
}

/* Does any v1 of s sign "<t>.<body>" under this one secret? */
static int
stripe_sig_match(const struct stripe_sig *s, const char *secret, size_t sl,
    const void *body, size_t len)
{
	unsigned char	 mac[32];
	char		 hex[65], prefix[24];
	struct buf	 msg;
	size_t		 i;
	int		 ok = 0, n;

	n = snprintf(prefix, sizeof(prefix), "%lld.", s->t);
	buf_init(&msg, (size_t)n + len + 1);
	if (buf_append(&msg, prefix, (size_t)n) == -1 ||
	    buf_append(&msg, body, len) == -1)
		goto done;
	crypto_hmac_sha256(secret, sl, msg.p, msg.len, mac);
	util_hex(mac, sizeof(mac), hex);
	for (i = 0; i < s->nv1; i++)
		ok |= util_ct_equal(hex, s->v1[i], 64);
done:
	buf_free(&msg);
	return ok;
}

/*
 * Verify a delivery: header, the comma-separated list of endpoint
 * secrets, the raw body, the time now and the tolerance in seconds
 * (both ways).  The signature is checked before the time, as Stripe's
 * libraries do.
 */
enum stripe_sig_rc
stripe_sig_verify(const char *header, const char *secrets, const void *body,
    size_t len, long long now, int tolerance)
{
	struct stripe_sig	 s;
	enum stripe_sig_rc	 rc;
	const char		*p, *e;
	int			 ok = 0;

	if ((rc = stripe_sig_parse(header, &s)) != STRIPE_SIG_OK)
		return rc;
	for (p = secrets; p != NULL && *p != '\0'; p = *e != '\0' ? e + 1 :
	    e) {
		e = p + strcspn(p, ",");
		if (e > p)
			ok |= stripe_sig_match(&s, p, (size_t)(e - p), body,
			    len);
	}
	if (!ok)
		return STRIPE_SIG_MISMATCH;
	if (now - s.t > tolerance)
		return STRIPE_SIG_TOO_OLD;
	if (s.t - now > tolerance)
		return STRIPE_SIG_TOO_NEW;
	return STRIPE_SIG_OK;
}
