/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Unit tests of the credential modules: url-safe base64 and tokens
 * (crypto.c), password rules and argon2id parameters (passwd.c), the
 * JWT wrapper (jwt.c), the shared rate-limit table (ratelimit.c) and the
 * field validators (valid.c).
 */
#include "config.h"

#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jwt.h>

#include "tollgate.h"

#define SECRET	"0123456789abcdef0123456789abcdef-unit"

static void
test_b64url_roundtrip(void **state)
{
	unsigned char	 in[64], out[64];
	char		 enc[100];
	size_t		 n, len;
	long		 got;

	for (n = 0; n < sizeof(in); n++)
		in[n] = (unsigned char)(n * 37 + 11);
	for (n = 0; n <= sizeof(in); n++) {
		len = crypto_b64url_encode(in, n, enc);
		assert_int_equal(len, strlen(enc));
		assert_null(strpbrk(enc, "+/="));
		got = crypto_b64url_decode(enc, len, out, sizeof(out));
		assert_int_equal(got, (long)n);
		assert_memory_equal(in, out, n);
	}
	/* Padding is accepted, bad characters and lengths are not. */
	assert_int_equal(crypto_b64url_decode("YQ==", 4, out, sizeof(out)), 1);
	assert_int_equal(crypto_b64url_decode("Y+==", 4, out, sizeof(out)), -1);
	assert_int_equal(crypto_b64url_decode("YWJjZ", 5, out, sizeof(out)),
	    -1);
	/* Non-zero trailing bits are not a canonical encoding. */
	assert_int_equal(crypto_b64url_decode("YR", 2, out, sizeof(out)), -1);
	/* The output cap holds. */
	assert_int_equal(crypto_b64url_decode("YWJjZGVm", 8, out, 5), -1);
}

static void
test_token_new(void **state)
{
	char		 a[CRYPTO_TOKEN_MAX], b[CRYPTO_TOKEN_MAX], ha[67], hb[67];

	assert_int_equal(crypto_token_new("tg_", a), 0);
	assert_int_equal(crypto_token_new("tg_", b), 0);
	assert_int_equal(strlen(a), 3 + 43);
	assert_true(strncmp(a, "tg_", 3) == 0);
	assert_string_not_equal(a, b);
	crypto_token_hash_hex(a, ha);
	crypto_token_hash_hex(b, hb);
	assert_int_equal(strlen(ha), 66);
	assert_true(strncmp(ha, "\\x", 2) == 0);
	assert_string_not_equal(ha, hb);
	/* The hash is a function of the token. */
	crypto_token_hash_hex(a, hb);
	assert_string_equal(ha, hb);
	/* An over-long prefix is refused. */
	assert_int_equal(crypto_token_new("0123456789abcdefX", a), -1);
}

static void
test_password_rules(void **state)
{
	const char	*cause = NULL;
	char		 big[1100];

	assert_int_equal(passwd_check_new("short-pass1", &cause), -1);
	assert_non_null(strstr(cause, "12"));
	assert_int_equal(passwd_check_new("long enough pw", &cause), 0);
	/* Characters, not bytes: 12 two-byte characters pass. */
	assert_int_equal(passwd_check_new("éééééééééééé", &cause), 0);
	assert_int_equal(passwd_check_new("ééééééééééé", &cause), -1);
	assert_int_equal(passwd_check_new("Password1234", &cause), -1);
	assert_non_null(strstr(cause, "common"));
	assert_int_equal(passwd_check_new("\xff\xfe invalid utf8", &cause), -1);
	memset(big, 'a', 1024);
	big[1024] = '\0';
	assert_int_equal(passwd_check_new(big, &cause), 0);
	big[1024] = 'a';
	big[1025] = '\0';
	assert_int_equal(passwd_check_new(big, &cause), -1);
}

static void
test_password_hash(void **state)
{
	char	 h[PASSWD_ENCODED_MAX];

	assert_int_equal(passwd_hash("correct horse battery", h, sizeof(h)), 0);
	assert_true(strncmp(h, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
	assert_true(passwd_verify(h, "correct horse battery"));
	assert_false(passwd_verify(h, "correct horse batterY"));
	/* Exactly as received: no truncation, no trimming. */
	assert_false(passwd_verify(h, "correct horse battery "));
	assert_false(passwd_verify("$2y$10$notargon", "x"));
	assert_false(passwd_needs_rehash(h));
	assert_true(passwd_needs_rehash("$argon2id$v=19$m=4096,t=2,p=1$c2FsdHNhbHQ$aGFzaA"));
	assert_true(passwd_needs_rehash("$argon2id$v=19$m=19456,t=1,p=1$c2FsdHNhbHQ$aGFzaA"));
	assert_true(passwd_needs_rehash("garbage"));
}

/* A token signed by libjwt itself with chosen claims and algorithm. */
static char *
forge(jwt_alg_t alg, const char *key, long exp_delta, long nbf_delta,
    const char *aud, int with_exp)
{
	jwt_t	*j;
	char	*out;
	time_t	 now = time(NULL);

	assert_int_equal(jwt_new(&j), 0);
	jwt_add_grant(j, "iss", "tollgate");
	jwt_add_grant(j, "aud", aud);
	jwt_add_grant(j, "sub", "11111111-1111-4111-8111-111111111111");
	jwt_add_grant(j, "tid", "22222222-2222-4222-8222-222222222222");
	jwt_add_grant(j, "role", "owner");
	jwt_add_grant(j, "jti", "abc");
	jwt_add_grant_int(j, "iat", now);
	jwt_add_grant_int(j, "nbf", now + nbf_delta);
	if (with_exp)
		jwt_add_grant_int(j, "exp", now + exp_delta);
	assert_int_equal(jwt_set_alg(j, alg, (const unsigned char *)key,
	    key != NULL ? (int)strlen(key) : 0), 0);
	out = jwt_encode_str(j);
	jwt_free(j);
	return out;
}

static void
test_jwt(void **state)
{
	struct jwt_claims	 c;
	const char		*cause;
	char			*t;
	time_t			 exp;

	conf.jwt_secret = (char *)SECRET;
	assert_int_equal(jwt_issue("11111111-1111-4111-8111-111111111111",
	    "22222222-2222-4222-8222-222222222222", "admin", &t, &exp), 0);
	assert_int_equal(jwt_verify(t, &c, &cause), 0);
	assert_string_equal(c.role, "admin");
	assert_string_equal(c.tid, "22222222-2222-4222-8222-222222222222");
	assert_true(exp > time(NULL) + 800 && exp <= time(NULL) + 900);
	/* One changed character of the signature. */
	t[strlen(t) - 2] = t[strlen(t) - 2] == 'A' ? 'B' : 'A';
	assert_int_equal(jwt_verify(t, &c, &cause), -1);
	free(t);

	t = forge(JWT_ALG_HS256, SECRET, 300, 0, "tollgate-api", 1);
	assert_int_equal(jwt_verify(t, &c, &cause), 0);
	free(t);
	t = forge(JWT_ALG_NONE, NULL, 300, 0, "tollgate-api", 1);
	assert_int_equal(jwt_verify(t, &c, &cause), -1);
	free(t);
	/* HS512 with the right secret: its MAC is not the HS256 one. */
	t = forge(JWT_ALG_HS512, SECRET, 300, 0, "tollgate-api", 1);
	assert_int_equal(jwt_verify(t, &c, &cause), -1);
	assert_string_equal(cause, "bad signature");
	free(t);
	t = forge(JWT_ALG_HS256, "another secret of 32 bytes or more!!", 300,
	    0, "tollgate-api", 1);
	assert_int_equal(jwt_verify(t, &c, &cause), -1);
	free(t);
	t = forge(JWT_ALG_HS256, SECRET, -60, 0, "tollgate-api", 1);
	assert_int_equal(jwt_verify(t, &c, &cause), -1);
	assert_string_equal(cause, "expired");
	free(t);
	/* Inside the 30 s leeway: still accepted. */
	t = forge(JWT_ALG_HS256, SECRET, -10, 0, "tollgate-api", 1);
	assert_int_equal(jwt_verify(t, &c, &cause), 0);
	free(t);
	t = forge(JWT_ALG_HS256, SECRET, 300, 600, "tollgate-api", 1);
	assert_int_equal(jwt_verify(t, &c, &cause), -1);
	free(t);
	t = forge(JWT_ALG_HS256, SECRET, 300, 0, "someone-else", 1);
	assert_int_equal(jwt_verify(t, &c, &cause), -1);
	free(t);
	t = forge(JWT_ALG_HS256, SECRET, 300, 0, "tollgate-api", 0);
	assert_int_equal(jwt_verify(t, &c, &cause), -1);
	free(t);
	assert_int_equal(jwt_verify("a.b", &c, &cause), -1);
	assert_int_equal(jwt_verify("", &c, &cause), -1);
	/* A short secret is refused even if a token was made with it. */
	conf.jwt_secret = (char *)"short";
	assert_int_equal(jwt_issue("a", "b", "owner", &t, &exp), -1);
	conf.jwt_secret = NULL;
}

static void
test_ratelimit(void **state)
{
	struct rl_result	 res;
	time_t			 now = 1800000000 - 1800000000 % 60 + 5;
	pid_t			 pid;
	int			 i, allowed = 0, st;

	assert_int_equal(rl_init(), 0);
	for (i = 0; i < 25; i++)
		allowed += rl_hit("unit:a", 20, 60, now, &res);
	assert_int_equal(allowed, 20);
	assert_int_equal(res.remaining, 0);
	assert_int_equal(res.limit, 20);
	assert_int_equal(res.reset, 55);
	assert_int_equal(rl_peek("unit:a", 60, now), 20);
	/* Another key is counted apart. */
	assert_int_equal(rl_hit("unit:b", 20, 60, now, &res), 1);
	assert_int_equal(res.remaining, 19);
	/* The next window starts afresh. */
	assert_int_equal(rl_hit("unit:a", 20, 60, now + 60, &res), 1);
	/* Counts are shared with a forked child (the responders' case). */
	if ((pid = fork()) == 0) {
		for (i = 0; i < 10; i++)
			rl_hit("unit:c", 100, 60, now, &res);
		_exit(0);
	}
	assert_true(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
	assert_int_equal(rl_peek("unit:c", 60, now), 10);
}

static void
test_validators(void **state)
{
	assert_true(valid_email("a@example.com"));
	assert_false(valid_email("a@b"));
	assert_false(valid_email("@example.com"));
	assert_false(valid_email("a b@example.com"));
	assert_false(valid_email("a@example.com\r\nBcc: x@y.z"));
	assert_false(valid_email("a@@example.com"));
	assert_true(valid_uuid("11111111-1111-4111-8111-111111111111"));
	assert_false(valid_uuid("11111111-1111-4111-8111-11111111111"));
	assert_false(valid_uuid("11111111x1111-4111-8111-111111111111"));
	assert_int_equal(valid_scope_bit("usage:write"), SCOPE_USAGE_WRITE);
	assert_int_equal(valid_scope_bit("billing:read"), SCOPE_BILLING_READ);
	assert_int_equal(valid_scope_bit("admin"), -1);
	assert_string_equal(valid_scope_name(SCOPE_ENTITLEMENTS_READ),
	    "entitlements:read");
	/* RFC 3339 filters: only what PostgreSQL takes too. */
	assert_true(valid_time("2024-02-29T00:00:00Z"));
	assert_true(valid_time("2024-01-01T10:00:00.123+05:30"));
	assert_false(valid_time("2023-02-29T00:00:00Z"));
	assert_false(valid_time("2024-02-31T00:00:00Z"));
	assert_false(valid_time("2024-01-01T00:00:61Z"));
	assert_false(valid_time("2024-01-01T00:00:00+99:99"));
	/* PostgreSQL refuses offsets past 15:59: refused here, not there. */
	assert_true(valid_time("2024-01-01T00:00:00-15:59"));
	assert_false(valid_time("2024-01-01T00:00:00+16:00"));
	assert_false(valid_time("2024-01-01T00:00:00+23:59"));
	assert_false(valid_time("2024-01-01T00:00:00"));
	assert_false(valid_time("yesterday"));
	assert_int_equal(auth_role_parse("admin"), ROLE_ADMIN);
	assert_int_equal(auth_role_parse("root"), ROLE_NONE);
	assert_int_equal(auth_role_parse(NULL), ROLE_NONE);
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_b64url_roundtrip),
		cmocka_unit_test(test_token_new),
		cmocka_unit_test(test_password_rules),
		cmocka_unit_test(test_password_hash),
		cmocka_unit_test(test_jwt),
		cmocka_unit_test(test_ratelimit),
		cmocka_unit_test(test_validators),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
