/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Hashes, MACs, url-safe base64 and the random tokens built on them.
 * Tokens (refresh tokens, API keys, session cookies, invitation links)
 * are 256 random bits; only their SHA-256 is stored.
 */
#include "config.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "tollgate.h"

static const char	 b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
crypto_sha256(const void *p, size_t n, unsigned char out[32])
{
	SHA256(p, n, out);
}

void
crypto_hmac_sha256(const void *key, size_t keylen, const void *p, size_t n,
    unsigned char out[32])
{
	unsigned int	 len = 32;

	HMAC(EVP_sha256(), key, (int)keylen, p, n, out, &len);
}

/* Encode without padding; out needs 4 * ceil(n / 3) + 1 bytes. */
size_t
crypto_b64url_encode(const unsigned char *p, size_t n, char *out)
{
	size_t		 i, o = 0;
	unsigned int	 v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned int)p[i] << 16 | (unsigned int)p[i + 1] << 8 |
		    p[i + 2];
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
		out[o++] = b64url[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned int)p[i] << 16;
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
	} else if (n - i == 2) {
		v = (unsigned int)p[i] << 16 | (unsigned int)p[i + 1] << 8;
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

static int
crypto_b64val(int c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(b64url, c)) == NULL)
		return -1;
	return (int)(p - b64url);
}

/*
 * Decode url-safe base64, with or without '=' padding.  Returns the
 * decoded length, or -1 on a bad character, a bad length or overflow.
 */
long
crypto_b64url_decode(const char *in, size_t n, unsigned char *out,
    size_t outsz)
{
	size_t		 i, o = 0, q = 0;
	unsigned int	 acc = 0;
	int		 v;

	while (n > 0 && in[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((v = crypto_b64val((unsigned char)in[i])) < 0)
			return -1;
		acc = acc << 6 | (unsigned int)v;
		if (++q == 4) {
			if (o + 3 > outsz)
				return -1;
			out[o++] = (unsigned char)(acc >> 16);
			out[o++] = (unsigned char)(acc >> 8);
			out[o++] = (unsigned char)acc;
			acc = 0;
			q = 0;
		}
	}
	if (q == 2) {
		if (o + 1 > outsz || (acc & 0xf) != 0)
			return -1;
		out[o++] = (unsigned char)(acc >> 4);
	} else if (q == 3) {
		if (o + 2 > outsz || (acc & 0x3) != 0)
			return -1;
		out[o++] = (unsigned char)(acc >> 10);
		out[o++] = (unsigned char)(acc >> 2);
	}
	return (long)o;
}

/*
 * A new token: "prefix" then 43 characters of url-safe base64 of 256
 * random bits, into out (CRYPTO_TOKEN_MAX bytes).  hash receives the
 * SHA-256 of the whole token, which is what gets stored.
 */
int
crypto_token_new(const char *prefix, char *out, unsigned char hash[32])
{
	unsigned char	 raw[32];
	size_t		 pl = strlen(prefix);

	if (pl > 16 || util_random(raw, sizeof(raw)) == -1)
		return -1;
	memcpy(out, prefix, pl);
	crypto_b64url_encode(raw, sizeof(raw), out + pl);
	crypto_sha256(out, strlen(out), hash);
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

/* The stored form of a presented token, as bytea hex ("\x..."). */
void
crypto_token_hash_hex(const char *token, char out[67])
{
	unsigned char	 h[32];

	crypto_sha256(token, strlen(token), h);
	out[0] = '\\';
	out[1] = 'x';
	util_hex(h, sizeof(h), out + 2);
}
