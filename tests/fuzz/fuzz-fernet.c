/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * libFuzzer target for the Fernet token parser (fernet.c).  The first
 * byte picks a mode:
 *  - even: the rest is a token, decrypted with and without a TTL;
 *    whatever opens must be the canonical token, that is, encrypting
 *    the plaintext again with its timestamp and IV gives it back;
 *  - odd: the rest is a plaintext, encrypted, then one character of
 *    the token (chosen by the input) is changed: the original opens
 *    to the plaintext, the changed one never opens.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define fuzz_assert(c)	do { if (!(c)) abort(); } while (0)

#define KEY	"cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="

static void
check_token(const struct fernet_key *k, const char *tok)
{
	unsigned char	 raw[64], *out;
	unsigned long long ts = 0;
	size_t		 outlen;
	const char	*cause;
	char		*again;
	int		 i;

	if (fernet_decrypt(k, tok, 1000, 60, &out, &outlen, &cause) == 0)
		fernet_plain_free(out, outlen);
	else
		fuzz_assert(cause != NULL && out == NULL);
	if (fernet_decrypt(k, tok, 1000, 0, &out, &outlen, &cause) == -1) {
		fuzz_assert(cause != NULL && out == NULL && outlen == 0);
		return;
	}
	fuzz_assert(crypto_b64url_decode(tok, 36, raw, sizeof(raw)) == 27);
	for (i = 0; i < 8; i++)
		ts = ts << 8 | raw[1 + i];
	again = fernet_encrypt(k, out, outlen, (long long)ts, raw + 9);
	fuzz_assert(again != NULL && strcmp(again, tok) == 0);
	free(again);
	fernet_plain_free(out, outlen);
}

static void
check_plain(const struct fernet_key *k, const uint8_t *p, size_t n,
    unsigned int pick)
{
	static const char	 alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char		*out;
	size_t			 outlen, tl;
	const char		*cause, *c;
	char			*tok;

	tok = fernet_encrypt(k, p, n, 1000, NULL);
	fuzz_assert(tok != NULL);
	fuzz_assert(fernet_decrypt(k, tok, 1000, 60, &out, &outlen,
	    &cause) == 0);
	fuzz_assert(outlen == n && (n == 0 || memcmp(out, p, n) == 0));
	fernet_plain_free(out, outlen);
	tl = strlen(tok);
	while (tl > 0 && tok[tl - 1] == '=')
		tl--;
	pick %= tl;
	c = strchr(alpha, tok[pick]);
	fuzz_assert(c != NULL);
	tok[pick] = alpha[(c - alpha + 1 + pick % 63) % 64];
	fuzz_assert(fernet_decrypt(k, tok, 1000, 0, &out, &outlen,
	    &cause) == -1);
	free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fernet_key	 k;
	char			*s;

	if (size < 3 || fernet_key_parse(KEY, &k) == -1)
		return 0;
	if (data[0] % 2 == 0) {
		if ((s = malloc(size)) == NULL)
			return 0;
		memcpy(s, data + 1, size - 1);
		s[size - 1] = '\0';
		check_token(&k, s);
		free(s);
	} else
		check_plain(&k, data + 3, size - 3,
		    (unsigned int)data[1] << 8 | data[2]);
	return 0;
}
