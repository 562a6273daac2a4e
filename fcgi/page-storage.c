/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The storage part of /usage: records, backups and vectors against the
 * plan's cloud_storage_gb and backup_gb, the backup history, and the
 * deletion of a backup version (after a confirmation page).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tollgate.h"

/* One meter of the part: bytes taken against a limit (-1: none). */
static void
page_storage_meter(struct req *r, size_t i, const char *label,
    long long taken, long long limit)
{
	char		 b[64];
	long long	 scale;

	tmpl_set_row(r, "StorageMeters", i, "label", label);
	fmt_bytes(b, sizeof(b), taken);
	tmpl_set_row(r, "StorageMeters", i, "used", b);
	if (limit < 0) {
		tmpl_set_row(r, "StorageMeters", i, "unlimited", "1");
		return;
	}
	fmt_bytes(b, sizeof(b), limit);
	tmpl_set_row(r, "StorageMeters", i, "included", b);
	if (limit == 0) {
		tmpl_set_row(r, "StorageMeters", i, "none", "1");
		return;
	}
	fmt_percent(b, sizeof(b), taken, limit);
	tmpl_set_row(r, "StorageMeters", i, "percent", b);
	tmpl_set_row(r, "StorageMeters", i, "state", quota_budget_name(
	    quota_budget_status(limit, taken)));
	scale = taken > limit ? taken : limit;
	tmpl_set_row(r, "StorageMeters", i, "fill", arena_printf(&r->arena,
	    "%lld%%", taken * 100 / scale));
	tmpl_set_row(r, "StorageMeters", i, "m80", arena_printf(&r->arena,
	    "%lld%%", limit * 80 / scale));
	tmpl_set_row(r, "StorageMeters", i, "m100", arena_printf(&r->arena,
	    "%lld%%", limit * 100 / scale));
	tmpl_set_row(r, "StorageMeters", i, "tick80", "1");
}

static void
page_storage_kind(struct req *r, size_t i, const char *what,
    long long count, long long bytes)
{
	char	 b[64];

	tmpl_set_row(r, "StorageKinds", i, "what", what);
	fmt_count(b, sizeof(b), count);
	tmpl_set_row(r, "StorageKinds", i, "count", b);
	fmt_bytes(b, sizeof(b), bytes);
	tmpl_set_row(r, "StorageKinds", i, "bytes", b);
}

static void
page_storage_backups(struct req *r, const struct storage_backup *b,
    size_t n)
{
	char	 s[64];
	size_t	 i;

	for (i = 0; i < n; i++) {
		tmpl_set_row(r, "Backups", i, "id", b[i].backup_id);
		tmpl_set_row(r, "Backups", i, "version", b[i].version);
		fmt_bytes(s, sizeof(s), b[i].size);
		tmpl_set_row(r, "Backups", i, "size", s);
		page_row_time(r, "Backups", i, "created", b[i].created_at);
		tmpl_set_row(r, "Backups", i, "checksum", arena_printf(
		    &r->arena, "%.12s", b[i].sha256));
		if (b[i].pinned)
			tmpl_set_row(r, "Backups", i, "pinned", "1");
	}
}

/* The part's data, two statements; -1 with the error answered. */
int
page_storage_part(struct req *r)
{
	struct storage_usage	 u;
	struct storage_backup	*b;
	size_t			 n;
	enum db_rc		 rc;

	if ((rc = db_storage_usage(r, &u)) != DB_OK ||
	    (rc = db_backup_list(r, &b, &n)) != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	page_storage_meter(r, 0, "Cloud storage (records and vectors)",
	    u.storage_taken, u.storage_limit);
	page_storage_meter(r, 1, "Backups", u.backup_taken, u.backup_limit);
	page_storage_kind(r, 0, "Records", u.records, u.record_bytes);
	page_storage_kind(r, 1, "Backup versions", u.backups, u.backup_bytes);
	page_storage_kind(r, 2, u.collections == 1 ? "Vectors (1 collection)" :
	    arena_printf(&r->arena, "Vectors (%lld collections)",
	    u.collections), u.vectors, u.vector_bytes);
	page_storage_backups(r, b, n > 20 ? 20 : n);
	if (n > 20)
		tmpl_set(r, "Storage.more_backups", arena_printf(&r->arena,
		    "%zu", n - 20));
	return 0;
}

/* "208 kB of 5 GB", "12 MB (unlimited)", "none in this plan". */
static const char *
page_storage_of(struct req *r, long long taken, long long limit)
{
	char	 a[32], b[32];

	if (limit == 0)
		return "Not included in this plan";
	fmt_bytes(a, sizeof(a), taken);
	if (limit < 0)
		return arena_printf(&r->arena, "%s used (unlimited)", a);
	fmt_bytes(b, sizeof(b), limit);
	return arena_printf(&r->arena, "%s of %s", a, b);
}

/* /billing's plan card: storage used against the plan, one statement. */
int
page_storage_facts(struct req *r)
{
	struct storage_usage	 u;
	enum db_rc		 rc;

	if ((rc = db_storage_usage(r, &u)) != DB_OK) {
		req_error_from_db(r, rc);
		return -1;
	}
	tmpl_set(r, "Billing.storage", page_storage_of(r, u.storage_taken,
	    u.storage_limit));
	tmpl_set(r, "Billing.backups", page_storage_of(r, u.backup_taken,
	    u.backup_limit));
	return 0;
}

/* POST /usage/backups/delete: asked first, then deleted. */
void
page_storage_backup_delete(struct req *r)
{
	struct storage_backup	 b;
	const char		*id = page_form(r, "backup_id");
	char			 size[64];
	enum db_rc		 rc;

	rc = valid_uuid(id) ? db_backup_get(r, id, &b) : DB_NOTFOUND;
	if (rc == DB_NOTFOUND) {
		req_error(r, 404, NULL, "not_found", "There is no such backup "
		    "version.", NULL);
		return;
	}
	if (rc != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	if (!page_confirmed(r)) {
		fmt_bytes(size, sizeof(size), b.size);
		page_confirm(r, "usage", "Delete a backup version",
		    arena_printf(&r->arena, "Delete backup version "
		    "\xe2\x80\x9c%s\xe2\x80\x9d (%s, taken %s)? It cannot be "
		    "restored afterwards.", b.version, size, b.client_ts),
		    "/usage/backups/delete", "backup_id", id, "Delete",
		    "/usage#storage-h");
		return;
	}
	if ((rc = db_backup_delete(r, id)) != DB_OK) {
		req_error_from_db(r, rc);
		return;
	}
	page_flash(r, "backup_deleted");
	req_redirect(r, "/usage");
}
