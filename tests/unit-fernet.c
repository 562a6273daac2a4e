/* Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE). */

/*
 * Unit tests of fernet.c: every vector of the Fernet specification
 * (tests/fernet/, copied unchanged from ../shared/fernet/: generate
 * must give the token exactly, verify must open, every invalid case
 * must be refused), then round trips, the TTL and clock-skew edges,
 * tampering, malformed keys and MultiFernet rotation.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "tollgate.h"

#define KEY_A	"cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="
#define KEY_B	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static char	 srcdir[1024];

/* "1985-10-26T01:20:00-07:00" (or "...Z") as seconds since the epoch. */
static long long
rfc3339(const char *s)
{
	struct tm	 tm;
	int		 y, mo, d, h, mi, sec, oh = 0, om = 0, n = 0;
	char		 sign = 'Z';

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi,
	    &sec, &n) != 6)
		fail_msg("bad time %s", s);
	if (s[n] == '+' || s[n] == '-') {
		sign = s[n];
		if (sscanf(s + n + 1, "%2d:%2d", &oh, &om) != 2)
			fail_msg("bad offset %s", s);
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	return (long long)timegm(&tm) + (sign == '-' ? 1 : -1) *
	    (oh * 3600LL + om * 60LL);
}

static struct json_object *
vectors(const char *name)
{
	struct json_object	*o;
	char			 path[1200];

	snprintf(path, sizeof(path), "%s/tests/fernet/%s", srcdir, name);
	if ((o = json_object_from_file(path)) == NULL)
		fail_msg("cannot read %s", path);
	assert_true(json_object_is_type(o, json_type_array));
	assert_true(json_object_array_length(o) > 0);
	return o;
}

static const char *
str(struct json_object *c, const char *k)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(c, k, &v))
		fail_msg("vector without %s", k);
	return json_object_get_string(v);
}

static void
test_generate(void **state)
{
	struct json_object	*all = vectors("generate.json"), *c, *ivj;
	struct fernet_key	 k;
	unsigned char		 iv[16], *out;
	size_t			 i, j, outlen;
	const char		*cause;
	char			*tok;

	(void)state;
	for (i = 0; i < json_object_array_length(all); i++) {
		c = json_object_array_get_idx(all, i);
		assert_int_equal(fernet_key_parse(str(c, "secret"), &k), 0);
		assert_true(json_object_object_get_ex(c, "iv", &ivj));
		assert_int_equal(json_object_array_length(ivj), 16);
		for (j = 0; j < 16; j++)
			iv[j] = (unsigned char)json_object_get_int(
			    json_object_array_get_idx(ivj, j));
		tok = fernet_encrypt(&k, str(c, "src"), strlen(str(c, "src")),
		    rfc3339(str(c, "now")), iv);
		assert_non_null(tok);
		assert_string_equal(tok, str(c, "token"));
		assert_int_equal(fernet_decrypt(&k, tok, rfc3339(str(c, "now")),
		    60, &out, &outlen, &cause), 0);
		assert_int_equal(outlen, strlen(str(c, "src")));
		assert_memory_equal(out, str(c, "src"), outlen);
		fernet_plain_free(out, outlen);
		free(tok);
	}
	json_object_put(all);
}

static void
test_verify(void **state)
{
	struct json_object	*all = vectors("verify.json"), *c, *ttl;
	struct fernet_key	 k;
	unsigned char		*out;
	size_t			 i, outlen;
	const char		*cause = NULL;

	(void)state;
	for (i = 0; i < json_object_array_length(all); i++) {
		c = json_object_array_get_idx(all, i);
		assert_true(json_object_object_get_ex(c, "ttl_sec", &ttl));
		assert_int_equal(fernet_key_parse(str(c, "secret"), &k), 0);
		if (fernet_decrypt(&k, str(c, "token"), rfc3339(str(c, "now")),
		    json_object_get_int64(ttl), &out, &outlen, &cause) != 0)
			fail_msg("verify %zu: %s", i, cause);
		assert_int_equal(outlen, strlen(str(c, "src")));
		assert_memory_equal(out, str(c, "src"), outlen);
		fernet_plain_free(out, outlen);
	}
	json_object_put(all);
}

static void
test_invalid(void **state)
{
	struct json_object	*all = vectors("invalid.json"), *c, *ttl;
	struct fernet_key	 k;
	unsigned char		*out;
	size_t			 i, outlen;
	const char		*cause;

	(void)state;
	assert_int_equal(json_object_array_length(all), 8);
	for (i = 0; i < json_object_array_length(all); i++) {
		c = json_object_array_get_idx(all, i);
		assert_true(json_object_object_get_ex(c, "ttl_sec", &ttl));
		assert_int_equal(fernet_key_parse(str(c, "secret"), &k), 0);
		cause = NULL;
		if (fernet_decrypt(&k, str(c, "token"), rfc3339(str(c, "now")),
		    json_object_get_int64(ttl), &out, &outlen, &cause) != -1)
			fail_msg("invalid vector accepted: %s",
			    str(c, "desc"));
		assert_non_null(cause);
		assert_null(out);
		assert_int_equal(outlen, 0);
	}
	json_object_put(all);
}

static void
test_roundtrip(void **state)
{
	struct fernet_key	 k;
	unsigned char		 big[1000], *out;
	size_t			 outlen, n, i;
	const char		*cause;
	char			*t1, *t2;

	(void)state;
	assert_int_equal(fernet_key_parse(KEY_B, &k), 0);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7);
	for (n = 0; n <= sizeof(big); n += n < 40 ? 1 : 111) {
		t1 = fernet_encrypt(&k, big, n, 1700000000, NULL);
		t2 = fernet_encrypt(&k, big, n, 1700000000, NULL);
		assert_non_null(t1);
		assert_non_null(t2);
		/* A fresh IV each time. */
		assert_string_not_equal(t1, t2);
		assert_int_equal(strlen(t1) % 4, 0);
		assert_int_equal(fernet_decrypt(&k, t1, 1800000000, 0, &out,
		    &outlen, &cause), 0);
		assert_int_equal(outlen, n);
		if (n > 0)
			assert_memory_equal(out, big, n);
		assert_int_equal(out[n], '\0');
		fernet_plain_free(out, outlen);
		free(t1);
		free(t2);
	}
	assert_null(fernet_encrypt(&k, big, FERNET_PLAIN_MAX + 1, 0, NULL));
}

static int
opens(const struct fernet_key *k, const char *tok, long long now,
    long long ttl)
{
	unsigned char	*out;
	size_t		 outlen;
	const char	*cause;

	if (fernet_decrypt(k, tok, now, ttl, &out, &outlen, &cause) == -1) {
		assert_non_null(cause);
		return 0;
	}
	fernet_plain_free(out, outlen);
	return 1;
}

static void
test_time(void **state)
{
	struct fernet_key	 k;
	char			*tok;

	(void)state;
	assert_int_equal(fernet_key_parse(KEY_B, &k), 0);
	tok = fernet_encrypt(&k, "secret", 6, 1000000, NULL);
	assert_non_null(tok);
	assert_true(opens(&k, tok, 1000000 + 60, 60));
	assert_false(opens(&k, tok, 1000000 + 61, 60));
	/* Sixty seconds of clock skew, not sixty-one. */
	assert_true(opens(&k, tok, 1000000 - 60, 60));
	assert_false(opens(&k, tok, 1000000 - 61, 60));
	/* Without a TTL neither age nor skew is checked (Python's rule). */
	assert_true(opens(&k, tok, 5000000000LL, 0));
	assert_true(opens(&k, tok, 0, 0));
	free(tok);
}

static void
test_tampered(void **state)
{
	static const char	 alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	struct fernet_key	 k, other;
	size_t			 i, n;
	char			*tok, *t;

	(void)state;
	assert_int_equal(fernet_key_parse(KEY_A, &k), 0);
	assert_int_equal(fernet_key_parse(KEY_B, &other), 0);
	tok = fernet_encrypt(&k, "sk-tollgate-test-key-0001", 25, 1000, NULL);
	assert_non_null(tok);
	n = strlen(tok);
	assert_true(opens(&k, tok, 1000, 0));
	assert_false(opens(&other, tok, 1000, 0));
	t = xstrdup(tok);
	for (i = 0; i < n && tok[i] != '='; i++) {
		t[i] = alpha[(strchr(alpha, tok[i]) - alpha + 1) % 64];
		if (opens(&k, t, 1000, 0))
			fail_msg("character %zu changed, token accepted", i);
		t[i] = tok[i];
	}
	/* Unpadded, truncated, extended, empty, not base64. */
	t[n - 1] = '\0';
	assert_false(opens(&k, t, 1000, 0));
	t[n - 4] = '\0';
	assert_false(opens(&k, t, 1000, 0));
	assert_false(opens(&k, "", 1000, 0));
	assert_false(opens(&k, "====", 1000, 0));
	assert_false(opens(&k, "gAAAAAAdwJ6w", 1000, 0));
	free(t);
	t = xasprintf("%sAAAA", tok);
	assert_false(opens(&k, t, 1000, 0));
	free(t);
	t = xasprintf(" %s", tok);
	assert_false(opens(&k, t, 1000, 0));
	free(t);
	free(tok);
}

static void
test_bad_keys(void **state)
{
	static const char *const	 bad[] = {
		"",
		"not-a-key",
		KEY_A "A",
		"cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4",
		"cw/0x689RpI+jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=",
		"cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e5=",
		"cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4==",
		"cw_0x689RpI-jtRR7oE8h_eQsK=mvJapLeSbXpwF4e4=",
		"cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4 ",
		/* 24 bytes, well formed. */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYX",
	};
	struct fernet_key	 k;
	struct fernet_multi	 m;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (fernet_key_parse(bad[i], &k) != -1)
			fail_msg("key accepted: \"%s\"", bad[i]);
	assert_int_equal(fernet_key_parse(NULL, &k), -1);
	assert_int_equal(fernet_multi_parse(KEY_A, "short=", &m), -1);
	assert_int_equal(fernet_multi_parse("short=", KEY_A, &m), -1);
	assert_int_equal(fernet_multi_parse(KEY_A, "", &m), 0);
	assert_false(m.has_previous);
	assert_int_equal(fernet_key_parse(KEY_A, &k), 0);
	fernet_key_wipe(&k);
	for (i = 0; i < sizeof(k.sign); i++)
		assert_int_equal(k.sign[i] | k.enc[i], 0);
}

static void
test_multi(void **state)
{
	struct fernet_multi	 old, rotated, fresh;
	struct fernet_key	 kb;
	unsigned char		*out;
	size_t			 outlen;
	const char		*cause;
	char			*t_old, *t_new;
	int			 prev;

	(void)state;
	/* Before rotation: KEY_A alone. */
	assert_int_equal(fernet_multi_parse(KEY_A, NULL, &old), 0);
	t_old = fernet_multi_encrypt(&old, "sk-old", 6, 2000);
	assert_non_null(t_old);
	/* Rotation: KEY_B primary, KEY_A previous. */
	assert_int_equal(fernet_multi_parse(KEY_B, KEY_A, &rotated), 0);
	assert_true(rotated.has_previous);
	assert_int_equal(fernet_multi_decrypt(&rotated, t_old, 2000, 0, &out,
	    &outlen, &prev, &cause), 0);
	assert_int_equal(prev, 1);
	assert_memory_equal(out, "sk-old", 6);
	fernet_plain_free(out, outlen);
	/* New tokens are under the primary and need no previous key. */
	t_new = fernet_multi_encrypt(&rotated, "sk-new", 6, 2000);
	assert_non_null(t_new);
	assert_int_equal(fernet_multi_decrypt(&rotated, t_new, 2000, 0, &out,
	    &outlen, &prev, &cause), 0);
	assert_int_equal(prev, 0);
	fernet_plain_free(out, outlen);
	assert_int_equal(fernet_key_parse(KEY_B, &kb), 0);
	assert_true(opens(&kb, t_new, 2000, 0));
	assert_false(opens(&old.primary, t_new, 2000, 0));
	/* After rotation the previous key is gone: old tokens fail. */
	assert_int_equal(fernet_multi_parse(KEY_B, NULL, &fresh), 0);
	assert_int_equal(fernet_multi_decrypt(&fresh, t_old, 2000, 0, &out,
	    &outlen, NULL, &cause), -1);
	assert_non_null(cause);
	assert_null(out);
	fernet_multi_wipe(&rotated);
	free(t_old);
	free(t_new);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_bad_keys),
		cmocka_unit_test(test_multi),
	};
	const char	*top = getenv("top_srcdir");

	snprintf(srcdir, sizeof(srcdir), "%s", top != NULL && *top != '\0' ?
	    top : ".");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
