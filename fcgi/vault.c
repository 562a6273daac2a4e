/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The stored secrets (SPEC 9): `tollgate admin keys rotate` re-encrypts
 * every Fernet token of every column that vault_columns lists (sql/017:
 * LLM keys today; channel tokens and Slack webhook URLs join by a row
 * there) under the primary key, TOLLGATE_ENCRYPTION_KEY, reading with
 * the primary and then TOLLGATE_ENCRYPTION_KEY_PREVIOUS (MultiFernet).
 *
 * A batch of VAULT_BATCH tokens is read across tenants, decrypted and
 * re-encrypted in memory, then written in one short transaction, each
 * row under its own tenant and only where the token is still the one
 * read: a writer that came in between is never overwritten (such a row
 * is then read again under its row lock and done over).  Nothing else
 * is locked, so requests go on meanwhile.  A token the primary key
 * opens alone is current and left as it is, which makes a run killed
 * halfway resumable: the next run skips what the first one finished.
 * A token that neither key opens is reported by table and id, never by
 * value.  Plaintexts are wiped as soon as they are sealed again.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "tollgate.h"

#define VAULT_COLUMNS_MAX	32
#define VAULT_NIL		"00000000-0000-0000-0000-000000000000"

enum vault_state {
	VAULT_CURRENT,		/* the primary key opens it */
	VAULT_SEALED,		/* the previous key did: sealed again */
	VAULT_UNREADABLE,	/* neither key opens it */
	VAULT_FAILED		/* sealing again failed (out of memory) */
};

struct vault_run {
	struct fernet_multi	 keys;
	FILE			*out;
	int			 tty;
	long long		 rotated;
	long long		 current;
	long long		 unreadable;
	long long		 seen;
};

/*
 * Seal a secret under the primary key: a Fernet token (caller frees),
 * or NULL when no key is configured or sealing failed.
 */
char *
vault_seal(const void *plain, size_t n)
{
	struct fernet_multi	 m;
	char			*tok;

	if (conf.encryption_key == NULL || fernet_multi_parse(
	    conf.encryption_key, conf.encryption_key_previous, &m) == -1)
		return NULL;
	tok = fernet_multi_encrypt(&m, plain, n, (long long)time(NULL));
	fernet_multi_wipe(&m);
	return tok;
}

/*
 * Open a stored token with the primary key, then the previous one, into
 * a NUL-terminated plaintext (free it with vault_wipe()).  -1 when
 * neither key opens it: the secret is unusable, and says so.
 */
int
vault_unseal(const char *tok, char **plain, size_t *n)
{
	struct fernet_multi	 m;
	unsigned char		*p = NULL, *s;
	const char		*cause = NULL;
	int			 previous, rc = -1;

	*plain = NULL;
	*n = 0;
	if (conf.encryption_key == NULL || tok == NULL || fernet_multi_parse(
	    conf.encryption_key, conf.encryption_key_previous, &m) == -1)
		return -1;
	if (fernet_multi_decrypt(&m, tok, (long long)time(NULL), 0, &p, n,
	    &previous, &cause) == 0 && (s = malloc(*n + 1)) != NULL) {
		memcpy(s, p, *n);
		s[*n] = '\0';
		*plain = (char *)s;
		rc = 0;
	}
	if (p != NULL)
		fernet_plain_free(p, *n);
	if (rc == -1)
		*n = 0;
	fernet_multi_wipe(&m);
	return rc;
}

/* Wipe and free what vault_unseal() gave. */
void
vault_wipe(char *plain, size_t n)
{
	if (plain == NULL)
		return;
	OPENSSL_cleanse(plain, n);
	free(plain);
}

/* Does either key open this token?  (The plaintext is wiped at once.) */
int
vault_usable(const char *tok)
{
	char	*p;
	size_t	 n;

	if (vault_unseal(tok, &p, &n) == -1)
		return 0;
	vault_wipe(p, n);
	return 1;
}

/*
 * Open tok.  What the previous key opened is sealed again under the
 * primary into *sealed (caller frees); the plaintext is wiped here.
 */
static enum vault_state
vault_reopen(const struct vault_run *v, const char *tok, char **sealed)
{
	unsigned char	*plain;
	size_t		 n;
	const char	*cause = NULL;
	int		 previous;
	long long	 now = (long long)time(NULL);

	*sealed = NULL;
	if (fernet_multi_decrypt(&v->keys, tok, now, 0, &plain, &n, &previous,
	    &cause) == -1)
		return VAULT_UNREADABLE;
	if (previous)
		*sealed = fernet_multi_encrypt(&v->keys, plain, n, now);
	fernet_plain_free(plain, n);
	if (!previous)
		return VAULT_CURRENT;
	return *sealed != NULL ? VAULT_SEALED : VAULT_FAILED;
}

static void
vault_progress_clear(const struct vault_run *v)
{
	if (v->tty)
		fprintf(stderr, "\r%72s\r", "");
}

static void
vault_unreadable(struct vault_run *v, const struct vault_column *c,
    const char *tenant, const char *id)
{
	vault_progress_clear(v);
	fprintf(v->out, "keys rotate: unreadable: %s.%s %s %s (tenant %s)\n",
	    c->table, c->column, c->id_column, id, tenant);
	fflush(v->out);
	v->unreadable++;
}

/*
 * A row changed between the listing and the replacement: read it again
 * under its row lock (bound to its tenant, in the batch's transaction)
 * and do it over.  A row that went is not counted.
 */
static enum db_rc
vault_redo(struct vault_run *v, struct req *r, const struct vault_column *c,
    const struct vault_secret *s, long long *rotated)
{
	const char	*tok;
	char		*sealed;
	enum db_rc	 rc;
	int		 replaced;

	if ((rc = db_vault_lock(r, c, s->id, &tok)) != DB_OK || tok == NULL)
		return rc;
	switch (vault_reopen(v, tok, &sealed)) {
	case VAULT_CURRENT:
		v->current++;
		return DB_OK;
	case VAULT_UNREADABLE:
		vault_unreadable(v, c, s->tenant_id, s->id);
		return DB_OK;
	case VAULT_FAILED:
		return DB_ERROR;
	case VAULT_SEALED:
		break;
	}
	rc = db_vault_replace(r, c, s->id, tok, sealed, &replaced);
	free(sealed);
	if (rc == DB_OK && !replaced)
		rc = DB_ERROR;		/* it is locked: cannot happen */
	if (rc == DB_OK)
		(*rotated)++;
	return rc;
}

/*
 * Write a batch's sealed tokens in one transaction, each under its
 * tenant (the batch is in tenant order); the count of rows sealed
 * again is added once the transaction is committed.
 */
static enum db_rc
vault_write(struct vault_run *v, struct req *r, const struct vault_column *c,
    const struct vault_secret *s, char **sealed, size_t n)
{
	const char	*tenant = NULL;
	long long	 rotated = 0;
	enum db_rc	 rc = DB_OK;
	size_t		 i;
	int		 replaced;

	for (i = 0; i < n && rc == DB_OK; i++) {
		if (sealed[i] == NULL)
			continue;
		if (tenant == NULL)
			rc = db_begin(r, s[i].tenant_id);
		else if (strcmp(tenant, s[i].tenant_id) != 0)
			rc = db_set_tenant(r, s[i].tenant_id);
		if (rc != DB_OK)
			break;
		tenant = s[i].tenant_id;
		if ((rc = db_vault_replace(r, c, s[i].id, s[i].token, sealed[i],
		    &replaced)) != DB_OK)
			break;
		if (replaced)
			rotated++;
		else
			rc = vault_redo(v, r, c, &s[i], &rotated);
	}
	if (rc == DB_OK && tenant != NULL)
		rc = db_commit(r);
	if (rc == DB_OK)
		v->rotated += rotated;
	return rc;
}

/* Every token of one column, a batch at a time. */
static enum db_rc
vault_column_rotate(struct vault_run *v, struct req *r,
    const struct vault_column *c)
{
	struct vault_secret	*s;
	char			 after_tenant[40], after_id[40];
	char			*sealed[VAULT_BATCH];
	size_t			 i, n;
	enum db_rc		 rc;

	snprintf(after_tenant, sizeof(after_tenant), "%s", VAULT_NIL);
	snprintf(after_id, sizeof(after_id), "%s", VAULT_NIL);
	for (;;) {
		/* The last batch's results go: memory stays one batch's. */
		req_release(r);
		req_job(r, "local");
		if ((rc = db_vault_list(r, c, after_tenant, after_id,
		    VAULT_BATCH, &s, &n)) != DB_OK)
			return rc;
		if (n == 0)
			return DB_OK;
		for (i = 0; i < n; i++) {
			sealed[i] = NULL;
			switch (vault_reopen(v, s[i].token, &sealed[i])) {
			case VAULT_CURRENT:
				v->current++;
				break;
			case VAULT_UNREADABLE:
				vault_unreadable(v, c, s[i].tenant_id,
				    s[i].id);
				break;
			case VAULT_SEALED:
				break;
			case VAULT_FAILED:
				rc = DB_ERROR;
				break;
			}
		}
		if (rc == DB_OK)
			rc = vault_write(v, r, c, s, sealed, n);
		for (i = 0; i < n; i++)
			free(sealed[i]);
		if (rc != DB_OK)
			return rc;
		v->seen += (long long)n;
		if (v->tty)
			fprintf(stderr, "\rkeys rotate: %s.%s: %lld read, "
			    "%lld re-encrypted", c->table, c->column, v->seen,
			    v->rotated);
		if (n < VAULT_BATCH)
			return DB_OK;
		snprintf(after_tenant, sizeof(after_tenant), "%s",
		    s[n - 1].tenant_id);
		snprintf(after_id, sizeof(after_id), "%s", s[n - 1].id);
	}
}

/*
 * `tollgate admin keys rotate`: the summary on out; progress on stderr
 * when it is a terminal.  Exit status 0, or 1 when a token is
 * unreadable or the run stopped (it resumes where it stopped).
 */
int
vault_rotate(struct req *r, FILE *out)
{
	struct vault_column	 cols[VAULT_COLUMNS_MAX];
	struct vault_run	 v;
	size_t			 i, ncols;
	enum db_rc		 rc;

	memset(&v, 0, sizeof(v));
	v.out = out;
	v.tty = isatty(fileno(stderr));
	if (conf.encryption_key == NULL) {
		fprintf(stderr, "tollgate admin: keys rotate: "
		    "TOLLGATE_ENCRYPTION_KEY is not set\n");
		return 1;
	}
	if (fernet_multi_parse(conf.encryption_key,
	    conf.encryption_key_previous, &v.keys) == -1) {
		fprintf(stderr, "tollgate admin: keys rotate: a key is not a "
		    "Fernet key\n");
		return 1;
	}
	if ((rc = db_vault_columns(r, cols, VAULT_COLUMNS_MAX, &ncols)) ==
	    DB_OK)
		for (i = 0; i < ncols && rc == DB_OK; i++)
			rc = vault_column_rotate(&v, r, &cols[i]);
	fernet_multi_wipe(&v.keys);
	vault_progress_clear(&v);
	if (rc != DB_OK) {
		fprintf(stderr, "tollgate admin: keys rotate: database: %s; "
		    "%lld re-encrypted so far (run it again to go on)\n",
		    db_strerror(rc), v.rotated);
		return 1;
	}
	fprintf(out, "keys rotate: %lld re-encrypted, %lld already current, "
	    "%lld unreadable\n", v.rotated, v.current, v.unreadable);
	return v.unreadable > 0 ? 1 : 0;
}
