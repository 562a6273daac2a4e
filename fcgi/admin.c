/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * tollgate admin: operator commands run on a server host.
 *
 *   admin tenant create EMAIL ORGANIZATION   (password on standard input)
 *   admin platform-key create NAME [SCOPE ...]
 *   admin stripe sync	(products, prices and meters of the catalogue)
 *   admin stripe reconcile --period YYYY-MM	(local usage and Stripe's)
 *   admin keys rotate	(stored secrets sealed again under the primary key)
 *
 * Secrets never go on the command line (they would show in ps and in
 * shell history): the password is read from standard input, and a new
 * key's secret is printed once on standard output.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tollgate.h"

static int
admin_usage(void)
{
	fprintf(stderr, "usage: tollgate admin tenant create EMAIL "
	    "ORGANIZATION < password\n"
	    "       tollgate admin platform-key create NAME [SCOPE ...]\n"
	    "       tollgate admin stripe sync\n"
	    "       tollgate admin stripe reconcile --period YYYY-MM\n"
	    "       tollgate admin keys rotate\n"
	    "scopes: usage:write usage:read entitlements:read billing:read "
	    "storage:read storage:write llm "
	    "(default: all)\n");
	return 2;
}

/* One line from standard input, without its newline. */
static int
admin_read_password(char *out, size_t outsz)
{
	size_t	 n;

	if (fgets(out, (int)outsz, stdin) == NULL)
		return -1;
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	return n > 0 ? 0 : -1;
}

static int
admin_tenant_create(struct req *r, const char *email, const char *org)
{
	struct fail	 f;
	char		 pw[PASSWD_MAX_CHARS * 4 + 2];
	int		 rc = 1;

	if (admin_read_password(pw, sizeof(pw)) == -1) {
		fprintf(stderr, "tollgate admin: the password is read from "
		    "standard input\n");
		return 1;
	}
	if (acct_register(r, &f, email, pw, org, NULL) == -1) {
		fprintf(stderr, "tollgate admin: %s\n", f.db != 0 ?
		    "database error (see the log)" : f.message);
		goto done;
	}
	if (db_commit(r) != DB_OK) {
		fprintf(stderr, "tollgate admin: commit failed\n");
		goto done;
	}
	printf("tenant %s\nuser %s\n", r->auth.tenant_id, r->auth.user_id);
	/* The link that proves the owner's address, as for a sign-up. */
	mail_after_request(r);
	rc = 0;
done:
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

static int
admin_platform_key_create(struct req *r, int argc, char *argv[])
{
	char		 token[CRYPTO_TOKEN_MAX], hash[67], prefix[16];
	const char	*key_id;
	int		 i, bit, scopes = 0;

	for (i = 1; i < argc; i++) {
		if ((bit = valid_scope_bit(argv[i])) < 0) {
			fprintf(stderr, "tollgate admin: unknown scope %s\n",
			    argv[i]);
			return 1;
		}
		scopes |= bit;
	}
	if (scopes == 0)
		scopes = SCOPE_ALL;
	if (strlen(argv[0]) < 1 || strlen(argv[0]) > 100)
		return admin_usage();
	if (crypto_token_new("tg_", token) == -1)
		return 1;
	crypto_token_hash_hex(token, hash);
	snprintf(prefix, sizeof(prefix), "%.11s", token);
	if (db_platform_key_create(r, argv[0], prefix, hash, scopes,
	    &key_id) != DB_OK) {
		fprintf(stderr, "tollgate admin: cannot store the key (see "
		    "the log)\n");
		return 1;
	}
	printf("%s\n", token);
	fprintf(stderr, "platform key %s created; the secret above is shown "
	    "only once\n", key_id);
	explicit_bzero(token, sizeof(token));
	return 0;
}

/* Nobody waits on a terminal for this: a minute per Stripe call. */
static int
admin_stripe_sync(struct req *r)
{
	stripe_set_budget(60000);
	if (billing_sync(r, stdout) == -1 || db_commit(r) != DB_OK) {
		fprintf(stderr, "tollgate admin: stripe sync failed\n");
		return 1;
	}
	return 0;
}

int
admin_main(int argc, char *argv[])
{
	struct req	 r;
	const char	*cause = NULL;
	int		 rc;

	if (conf_require(&conf, "TOLLGATE_DATABASE_URL", &cause) == -1) {
		fprintf(stderr, "tollgate: %s\n", cause);
		return 1;
	}
	req_init_job(&r, "local");
	if (argc == 5 && strcmp(argv[1], "tenant") == 0 &&
	    strcmp(argv[2], "create") == 0) {
		if (conf_require(&conf, "TOLLGATE_JWT_SECRET", &cause) == -1) {
			fprintf(stderr, "tollgate: %s\n", cause);
			rc = 1;
		} else
			rc = admin_tenant_create(&r, argv[3], argv[4]);
	} else if (argc >= 4 && strcmp(argv[1], "platform-key") == 0 &&
	    strcmp(argv[2], "create") == 0)
		rc = admin_platform_key_create(&r, argc - 3, argv + 3);
	else if (argc == 3 && strcmp(argv[1], "stripe") == 0 &&
	    strcmp(argv[2], "sync") == 0)
		rc = admin_stripe_sync(&r);
	else if (argc == 5 && strcmp(argv[1], "stripe") == 0 &&
	    strcmp(argv[2], "reconcile") == 0 &&
	    strcmp(argv[3], "--period") == 0) {
		stripe_set_budget(60000);
		rc = meter_reconcile(&r, argv[4], stdout);
	} else if (argc == 3 && strcmp(argv[1], "keys") == 0 &&
	    strcmp(argv[2], "rotate") == 0)
		rc = vault_rotate(&r, stdout);
	else
		rc = admin_usage();
	req_free(&r);
	db_close();
	return rc;
}
