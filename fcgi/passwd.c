/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Passwords: argon2id in the PHC string format, at or above OWASP ASVS
 * 5.0's floor (t=2, m=19 MiB, p=1), verified exactly as received.  The
 * parameters are part of the stored string, so raising them later only
 * means rehashing at the next successful login (passwd_needs_rehash).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <argon2.h>

#include "tollgate.h"

#define PASSWD_T	2
#define PASSWD_M	19456		/* KiB */
#define PASSWD_P	1
#define PASSWD_SALT	16
#define PASSWD_HASH	32

/*
 * The most common passwords of 12 characters or more in public breach
 * corpora: the length rule already refuses the shorter ones.
 */
static const char	*passwd_common[] = {
	"123456789012", "1234567890123", "12345678901234",
	"123456789012345", "1234567890123456", "000000000000",
	"111111111111", "123123123123", "abcdefghijkl", "qwertyuiopas",
	"qwertyuiop123", "qwerty123456", "1q2w3e4r5t6y", "1qaz2wsx3edc",
	"password1234", "password12345", "password123456", "passwordpassword",
	"Password1234", "Password123!", "iloveyou1234", "letmein12345",
	"welcome12345", "administrator", "changeme1234", "trustno1trustno1",
	"football1234", "baseball1234", "princess1234", "sunshine1234",
	"asdfghjkl123", "zxcvbnm12345", "aaaaaaaaaaaa", "monkey123456",
	"dragon123456", "starwars1234", "superman1234", "qwertyqwerty",
	"correcthorsebatterystaple", "mypassword123", "tollgate1234",
};

/*
 * Is this acceptable as a new password?  On refusal *cause says why in
 * words fit for the user.
 */
int
passwd_check_new(const char *pw, const char **cause)
{
	size_t	 i, n;

	if (!http_utf8_valid(pw, strlen(pw))) {
		*cause = "must be valid UTF-8";
		return -1;
	}
	n = http_utf8_chars(pw);
	if (n < PASSWD_MIN_CHARS) {
		*cause = "must be at least 12 characters";
		return -1;
	}
	if (n > PASSWD_MAX_CHARS) {
		*cause = "must be at most 1024 characters";
		return -1;
	}
	for (i = 0; i < sizeof(passwd_common) / sizeof(passwd_common[0]); i++)
		if (strcasecmp(pw, passwd_common[i]) == 0) {
			*cause = "is too common; choose another";
			return -1;
		}
	return 0;
}

/* Hash into out (PASSWD_ENCODED_MAX bytes); 0 or -1. */
int
passwd_hash(const char *pw, char *out, size_t outsz)
{
	unsigned char	 salt[PASSWD_SALT];
	int		 rc;

	if (util_random(salt, sizeof(salt)) == -1)
		return -1;
	rc = argon2id_hash_encoded(PASSWD_T, PASSWD_M, PASSWD_P, pw,
	    strlen(pw), salt, sizeof(salt), PASSWD_HASH, out, outsz);
	if (rc != ARGON2_OK) {
		log_err("argon2id_hash_encoded: %s", argon2_error_message(rc));
		return -1;
	}
	return 0;
}

/* 1 when pw matches the stored PHC string, else 0. */
int
passwd_verify(const char *encoded, const char *pw)
{
	if (strncmp(encoded, "$argon2id$", 10) != 0)
		return 0;
	return argon2id_verify(encoded, pw, strlen(pw)) == ARGON2_OK;
}

/* Were these parameters below the current ones? */
int
passwd_needs_rehash(const char *encoded)
{
	unsigned int	 v, m, t, p;

	if (sscanf(encoded, "$argon2id$v=%u$m=%u,t=%u,p=%u$", &v, &m, &t,
	    &p) != 4)
		return 1;
	return v < ARGON2_VERSION_13 || m < PASSWD_M || t < PASSWD_T ||
	    p < PASSWD_P;
}

/*
 * Spend the time of one verification without a user: unknown e-mail
 * addresses answer in about the time a wrong password takes.
 */
void
passwd_burn(const char *pw)
{
	static char	 dummy[PASSWD_ENCODED_MAX];

	if (dummy[0] == '\0' &&
	    passwd_hash("tollgate-timing-equaliser", dummy, sizeof(dummy)) == -1)
		return;
	(void)passwd_verify(dummy, pw);
}
