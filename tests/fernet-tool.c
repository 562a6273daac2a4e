/* Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE). */

/*
 * A small driver of fernet.c for tests/fernet-interop.sh:
 *
 *	fernet-tool encrypt		stdin -> token on stdout
 *	fernet-tool decrypt		token on stdin -> plaintext on stdout
 *
 * The key comes from FERNET_KEY, an optional previous key (MultiFernet)
 * from FERNET_KEY_PREVIOUS and an optional TTL in seconds from
 * FERNET_TTL.  decrypt reports on stderr which key opened the token.
 * Exit status 0, 1 when refused, 2 on a usage error.  It is a tool, not
 * a test: it checks nothing itself; tests/fernet-interop.sh compares
 * what it writes with what Python's cryptography writes and opens, in
 * both directions, and holds every assertion.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tollgate.h"

static unsigned char *
slurp(size_t *n)
{
	unsigned char	*p = NULL;
	size_t		 cap = 0, r;

	*n = 0;
	do {
		if (*n + 4096 > cap)
			p = xrealloc(p, cap = *n + 8192);
		r = fread(p + *n, 1, cap - *n - 1, stdin);
		*n += r;
	} while (r > 0 && *n < FERNET_TOKEN_MAX);
	p[*n] = '\0';
	return p;
}

int
main(int argc, char *argv[])
{
	struct fernet_multi	 m;
	unsigned char		*in, *out;
	const char		*ttl_s = getenv("FERNET_TTL"), *cause;
	char			*tok;
	size_t			 n, outlen;
	long long		 ttl = 0;
	int			 prev;

	if (argc != 2 || (strcmp(argv[1], "encrypt") != 0 &&
	    strcmp(argv[1], "decrypt") != 0)) {
		fprintf(stderr, "usage: fernet-tool encrypt|decrypt\n");
		return 2;
	}
	if (fernet_multi_parse(getenv("FERNET_KEY"),
	    getenv("FERNET_KEY_PREVIOUS"), &m) == -1) {
		fprintf(stderr, "fernet-tool: FERNET_KEY or "
		    "FERNET_KEY_PREVIOUS malformed\n");
		return 2;
	}
	if (ttl_s != NULL && util_strtonum(ttl_s, 0, 1LL << 40, &ttl) == -1)
		return 2;
	in = slurp(&n);
	if (strcmp(argv[1], "encrypt") == 0) {
		if ((tok = fernet_multi_encrypt(&m, in, n,
		    (long long)time(NULL))) == NULL)
			return 1;
		printf("%s\n", tok);
		free(tok);
	} else {
		while (n > 0 && (in[n - 1] == '\n' || in[n - 1] == '\r'))
			in[--n] = '\0';
		if (fernet_multi_decrypt(&m, (char *)in, (long long)time(NULL),
		    ttl, &out, &outlen, &prev, &cause) == -1) {
			fprintf(stderr, "fernet-tool: %s\n", cause);
			return 1;
		}
		fwrite(out, 1, outlen, stdout);
		fprintf(stderr, "key: %s\n", prev ? "previous" : "primary");
		fernet_plain_free(out, outlen);
	}
	free(in);
	fernet_multi_wipe(&m);
	return fflush(stdout) == 0 ? 0 : 1;
}
