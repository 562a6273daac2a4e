/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Fernet tokens, byte for byte the format of Python cryptography's
 * Fernet (github.com/fernet/spec), so that stored secrets stay readable
 * by Python tools and Python-made tokens by us:
 *
 *	0x80 | timestamp (64-bit big-endian) | IV (16) | AES-128-CBC
 *	ciphertext (PKCS7) | HMAC-SHA256 of everything before it (32)
 *
 * the whole in url-safe base64 with '=' padding.  A key is the url-safe
 * base64 of 32 bytes: the signing key, then the encryption key.  The
 * MAC is checked in constant time before anything is decrypted.  The
 * "multi" pair is MultiFernet: encrypt under the primary key, decrypt
 * under the primary and then the previous one (key rotation).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "tollgate.h"

#define FERNET_VERSION	0x80
#define FERNET_HDR	(1 + 8 + 16)	/* version, timestamp, IV */
#define FERNET_MAC	32
#define FERNET_BLOCK	16
#define FERNET_SKEW	60		/* seconds a token may be ahead */

/*
 * Strict url-safe base64 with padding: a length that is a multiple of
 * four, at most two '=' and only at the end, no stray bits.  Returns
 * the decoded length or -1.
 */
static long
fernet_b64_decode(const char *s, size_t n, unsigned char *out, size_t outsz)
{
	size_t	 pad = 0;

	if (n == 0 || n % 4 != 0)
		return -1;
	while (pad < n && s[n - 1 - pad] == '=')
		pad++;
	if (pad > 2)
		return -1;
	return crypto_b64url_decode(s, n, out, outsz);
}

/* Encode with padding; out needs 4 * ceil(n / 3) + 1 bytes. */
static void
fernet_b64_encode(const unsigned char *p, size_t n, char *out)
{
	size_t	 o;

	o = crypto_b64url_encode(p, n, out);
	while (o % 4 != 0)
		out[o++] = '=';
	out[o] = '\0';
}

int
fernet_key_parse(const char *s, struct fernet_key *k)
{
	unsigned char	 raw[33];
	size_t		 n;

	if (s == NULL || (n = strlen(s)) != 44)
		return -1;
	if (fernet_b64_decode(s, n, raw, sizeof(raw)) != 32) {
		OPENSSL_cleanse(raw, sizeof(raw));
		return -1;
	}
	memcpy(k->sign, raw, 16);
	memcpy(k->enc, raw + 16, 16);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

void
fernet_key_wipe(struct fernet_key *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}

static void
fernet_mac(const struct fernet_key *k, const unsigned char *p, size_t n,
    unsigned char out[FERNET_MAC])
{
	crypto_hmac_sha256(k->sign, sizeof(k->sign), p, n, out);
}

/* AES-128-CBC with PKCS7 one way or the other; -1 on any failure. */
static long
fernet_cbc(const struct fernet_key *k, const unsigned char iv[16], int enc,
    const unsigned char *in, size_t n, unsigned char *out)
{
	EVP_CIPHER_CTX	*ctx;
	int		 l1 = 0, l2 = 0;
	long		 rc = -1;

	if (n > INT32_MAX - 2 * FERNET_BLOCK ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	if (EVP_CipherInit_ex(ctx, EVP_aes_128_cbc(), NULL, k->enc, iv,
	    enc) != 1)
		goto done;
	if (EVP_CipherUpdate(ctx, out, &l1, in, (int)n) != 1)
		goto done;
	if (EVP_CipherFinal_ex(ctx, out + l1, &l2) != 1)
		goto done;
	rc = (long)l1 + l2;
done:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

char *
fernet_encrypt(const struct fernet_key *k, const void *plain, size_t n,
    long long now, const unsigned char *iv)
{
	unsigned char	*raw = NULL;
	char		*tok = NULL;
	size_t		 cap, len;
	long		 cl;
	int		 i;

	if (n > FERNET_PLAIN_MAX)
		return NULL;
	cap = FERNET_HDR + n + FERNET_BLOCK + FERNET_MAC;
	raw = xmalloc(cap);
	raw[0] = FERNET_VERSION;
	for (i = 0; i < 8; i++)
		raw[1 + i] = (unsigned char)((unsigned long long)now >>
		    (56 - 8 * i));
	if (iv != NULL)
		memcpy(raw + 9, iv, 16);
	else if (util_random(raw + 9, 16) == -1)
		goto done;
	if ((cl = fernet_cbc(k, raw + 9, 1, plain, n, raw + FERNET_HDR)) < 0)
		goto done;
	len = FERNET_HDR + (size_t)cl;
	fernet_mac(k, raw, len, raw + len);
	len += FERNET_MAC;
	tok = xmalloc(4 * ((len + 2) / 3) + 1);
	fernet_b64_encode(raw, len, tok);
done:
	OPENSSL_cleanse(raw, cap);
	free(raw);
	return tok;
}

int
fernet_decrypt(const struct fernet_key *k, const char *tok, long long now,
    long long ttl, unsigned char **out, size_t *outlen, const char **cause)
{
	unsigned char	*raw = NULL, *plain = NULL;
	unsigned char	 mac[FERNET_MAC];
	unsigned long long ts = 0;
	size_t		 tl, cap, body;
	long		 n, pl;
	int		 i, rc = -1;

	*out = NULL;
	*outlen = 0;
	*cause = "malformed token";
	if (tok == NULL || (tl = strlen(tok)) > FERNET_TOKEN_MAX)
		return -1;
	cap = tl / 4 * 3 + 3;
	raw = xmalloc(cap);
	if ((n = fernet_b64_decode(tok, tl, raw, cap)) < 0)
		goto done;
	if ((size_t)n < FERNET_HDR + FERNET_BLOCK + FERNET_MAC)
		goto done;
	body = (size_t)n - FERNET_HDR - FERNET_MAC;
	if (body % FERNET_BLOCK != 0)
		goto done;
	if (raw[0] != FERNET_VERSION) {
		*cause = "unknown token version";
		goto done;
	}
	for (i = 0; i < 8; i++)
		ts = ts << 8 | raw[1 + i];
	/* As Python's Fernet: the age and skew checks come with a TTL. */
	if (ttl > 0) {
		if (ts > (unsigned long long)INT64_MAX ||
		    (long long)ts > now + FERNET_SKEW) {
			*cause = "token timestamp in the future";
			goto done;
		}
		if ((long long)ts + ttl < now) {
			*cause = "token expired";
			goto done;
		}
	}
	fernet_mac(k, raw, (size_t)n - FERNET_MAC, mac);
	if (CRYPTO_memcmp(mac, raw + n - FERNET_MAC, FERNET_MAC) != 0) {
		*cause = "token signature mismatch";
		goto done;
	}
	plain = xmalloc(body + FERNET_BLOCK + 1);
	if ((pl = fernet_cbc(k, raw + 9, 0, raw + FERNET_HDR, body,
	    plain)) < 0) {
		*cause = "token padding invalid";
		OPENSSL_cleanse(plain, body + FERNET_BLOCK + 1);
		free(plain);
		goto done;
	}
	plain[pl] = '\0';	/* a convenience for text secrets */
	*out = plain;
	*outlen = (size_t)pl;
	*cause = NULL;
	rc = 0;
done:
	OPENSSL_cleanse(raw, cap);
	free(raw);
	return rc;
}

/* Wipe and free what fernet_decrypt() returned; NULL is fine. */
void
fernet_plain_free(unsigned char *p, size_t n)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, n);
	free(p);
}

int
fernet_multi_parse(const char *primary, const char *previous,
    struct fernet_multi *m)
{
	memset(m, 0, sizeof(*m));
	if (fernet_key_parse(primary, &m->primary) == -1)
		return -1;
	if (previous != NULL && *previous != '\0') {
		if (fernet_key_parse(previous, &m->previous) == -1) {
			fernet_multi_wipe(m);
			return -1;
		}
		m->has_previous = 1;
	}
	return 0;
}

void
fernet_multi_wipe(struct fernet_multi *m)
{
	OPENSSL_cleanse(m, sizeof(*m));
}

char *
fernet_multi_encrypt(const struct fernet_multi *m, const void *plain,
    size_t n, long long now)
{
	return fernet_encrypt(&m->primary, plain, n, now, NULL);
}

/*
 * Decrypt under the primary key, then the previous one.  "*used_previous"
 * (may be NULL) says which key opened it: a rotation re-encrypts those.
 * On failure the cause is the primary key's.
 */
int
fernet_multi_decrypt(const struct fernet_multi *m, const char *tok,
    long long now, long long ttl, unsigned char **out, size_t *outlen,
    int *used_previous, const char **cause)
{
	const char	*c2;

	if (used_previous != NULL)
		*used_previous = 0;
	if (fernet_decrypt(&m->primary, tok, now, ttl, out, outlen,
	    cause) == 0)
		return 0;
	if (!m->has_previous)
		return -1;
	if (fernet_decrypt(&m->previous, tok, now, ttl, out, outlen,
	    &c2) == -1)
		return -1;
	if (used_previous != NULL)
		*used_previous = 1;
	*cause = NULL;
	return 0;
}
