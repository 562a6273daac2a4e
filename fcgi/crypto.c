/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Hashes, MACs, url-safe base64 and the random tokens built on them.
 * Tokens (refresh tokens, API keys, session cookies, invitation links)
 * are 256 random bits; only their SHA-256 is stored.
 */
#include "config.h"

#include <stdint.h>
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
 * random bits, into out (CRYPTO_TOKEN_MAX bytes).  What gets stored is
 * its crypto_token_hash_hex().
 */
int
crypto_token_new(const char *prefix, char *out)
{
	unsigned char	 raw[32];
	size_t		 pl = strlen(prefix);

	if (pl > 16 || util_random(raw, sizeof(raw)) == -1)
		return -1;
	memcpy(out, prefix, pl);
	crypto_b64url_encode(raw, sizeof(raw), out + pl);
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

/*
 * Seal p[0..n) with AES-256-GCM under key: out gets nonce (12 bytes),
 * ciphertext (n bytes) and tag (16 bytes), CRYPTO_SEAL_OVERHEAD more
 * than the input.  Returns the output length or -1.
 */
long
crypto_seal(const unsigned char key[32], const void *p, size_t n,
    unsigned char *out)
{
	EVP_CIPHER_CTX	*c = NULL;
	int		 len, total = -1;

	if (n > INT32_MAX || util_random(out, 12) == -1 ||
	    (c = EVP_CIPHER_CTX_new()) == NULL)
		goto done;
	if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, out) != 1 ||
	    EVP_EncryptUpdate(c, out + 12, &len, p, (int)n) != 1)
		goto done;
	total = 12 + len;
	if (EVP_EncryptFinal_ex(c, out + total, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16,
	    out + total + len) != 1) {
		total = -1;
		goto done;
	}
	total += len + 16;
done:
	EVP_CIPHER_CTX_free(c);
	return total;
}

/* Open what crypto_seal() made; out needs n bytes.  Length or -1. */
long
crypto_open(const unsigned char key[32], const unsigned char *in, size_t n,
    unsigned char *out)
{
	EVP_CIPHER_CTX	*c = NULL;
	int		 len, total = -1;

	if (n < CRYPTO_SEAL_OVERHEAD || n > INT32_MAX ||
	    (c = EVP_CIPHER_CTX_new()) == NULL)
		goto done;
	if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, in) != 1 ||
	    EVP_DecryptUpdate(c, out, &len, in + 12,
	    (int)(n - CRYPTO_SEAL_OVERHEAD)) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16,
	    (void *)(in + n - 16)) != 1)
		goto done;
	total = len;
	if (EVP_DecryptFinal_ex(c, out + total, &len) != 1) {
		total = -1;
		goto done;
	}
	total += len;
done:
	EVP_CIPHER_CTX_free(c);
	return total;
}
