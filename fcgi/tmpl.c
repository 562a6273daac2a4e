/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Page rendering with ClearSilver.  Debian's 0.10.5 escapes
 * <?cs var: ?> only when Config.VarEscapeMode is "html", so every page
 * sets it before the template is parsed, and the source check refuses
 * uvar:.  Application data lives under its own roots (Page, User,
 * Tenant, Form, Flash, ...), never CGI.* or Query.*, and request data
 * never becomes a format string.  The HDF tree and the parse tree
 * belong to the request's arena.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ClearSilver's cs_config.h defines PACKAGE_* too: ours step aside. */
#undef PACKAGE_NAME
#undef PACKAGE_STRING
#undef PACKAGE_TARNAME
#undef PACKAGE_VERSION
#undef PACKAGE_BUGREPORT
#undef PACKAGE_URL
#include <ClearSilver.h>

#include "tollgate.h"

static void
tmpl_hdf_free(void *p)
{
	HDF	*hdf = p;

	hdf_destroy(&hdf);
}

static void
tmpl_log_err(NEOERR *err, const char *what)
{
	STRING	 s;
	char	 line[512];

	string_init(&s);
	nerr_error_string(err, &s);
	log_scrub(s.buf != NULL ? s.buf : "?", line, sizeof(line));
	log_err("%s: %s", what, line);
	string_clear(&s);
	nerr_ignore(&err);
}

/* The request's HDF tree, created on first use. */
static HDF *
tmpl_hdf(struct req *r)
{
	static int	 inited;
	HDF		*hdf = NULL;
	NEOERR		*err;

	if (r->hdf != NULL)
		return r->hdf;
	if (!inited) {
		if ((err = nerr_init()) != STATUS_OK) {
			tmpl_log_err(err, "nerr_init");
			return NULL;
		}
		inited = 1;
	}
	if ((err = hdf_init(&hdf)) != STATUS_OK) {
		tmpl_log_err(err, "hdf_init");
		return NULL;
	}
	if ((err = hdf_set_value(hdf, "Config.VarEscapeMode", "html")) !=
	    STATUS_OK || (err = hdf_set_value(hdf, "hdf.loadpaths.0",
	    conf.template_dir)) != STATUS_OK) {
		tmpl_log_err(err, "hdf_set_value");
		hdf_destroy(&hdf);
		return NULL;
	}
	arena_defer(&r->arena, tmpl_hdf_free, hdf);
	r->hdf = hdf;
	return hdf;
}

/* Set a value (NULL: empty).  Names are ours, values anything. */
void
tmpl_set(struct req *r, const char *name, const char *value)
{
	HDF	*hdf;
	NEOERR	*err;

	if ((hdf = tmpl_hdf(r)) == NULL)
		return;
	if ((err = hdf_set_value(hdf, name, value != NULL ? value : "")) !=
	    STATUS_OK)
		tmpl_log_err(err, "hdf_set_value");
}

void
tmpl_set_int(struct req *r, const char *name, long long value)
{
	char	 v[32];

	snprintf(v, sizeof(v), "%lld", value);
	tmpl_set(r, name, v);
}

/* Set "prefix.i.field" for list rows. */
void
tmpl_set_row(struct req *r, const char *prefix, size_t i, const char *field,
    const char *value)
{
	char	 name[256];

	snprintf(name, sizeof(name), "%s.%zu.%s", prefix, i, field);
	tmpl_set(r, name, value);
}

/*
 * url_escape() for templates: ClearSilver registers it only in its CGI
 * kit (cgi_register_strfuncs), which Tollgate does not link.
 */
static NEOERR *
tmpl_url_escape(const char *in, char **out)
{
	return neos_url_escape(in, out, NULL);
}

static NEOERR *
tmpl_out(void *ctx, char *s)
{
	struct buf	*b = ctx;

	/* Past the cap the page is dropped below; keep going quietly. */
	(void)buf_puts(b, s);
	return STATUS_OK;
}

/* Render templates/<file> into "out"; -1 (logged) when it cannot be. */
static int
tmpl_run(struct req *r, const char *file, struct buf *out)
{
	CSPARSE	*cs = NULL;
	HDF	*hdf;
	NEOERR	*err;
	char	 path[1024];
	int	 rc = -1;

	if ((hdf = tmpl_hdf(r)) == NULL)
		goto done;
	snprintf(path, sizeof(path), "%s/%s", conf.template_dir, file);
	if ((err = cs_init(&cs, hdf)) != STATUS_OK) {
		tmpl_log_err(err, "cs_init");
		goto done;
	}
	if ((err = cs_register_strfunc(cs, "url_escape", tmpl_url_escape)) !=
	    STATUS_OK) {
		tmpl_log_err(err, "cs_register_strfunc");
		goto done;
	}
	if ((err = cs_parse_file(cs, path)) != STATUS_OK) {
		tmpl_log_err(err, file);
		goto done;
	}
	if ((err = cs_render(cs, out, tmpl_out)) != STATUS_OK) {
		tmpl_log_err(err, file);
		goto done;
	}
	if (out->toobig) {
		log_err("%s: page over %d bytes", file, REQ_RESP_MAX);
		goto done;
	}
	rc = 0;
done:
	if (cs != NULL)
		cs_destroy(&cs);
	return rc;
}

/*
 * Render templates/<file> with the request's data as the answer.
 * Failure (a template bug, or a page over the cap) is a 500.
 */
void
tmpl_render(struct req *r, int status, const char *file)
{
	buf_reset(&r->out);
	if (tmpl_run(r, file, &r->out) == -1) {
		buf_reset(&r->out);
		r->resp_kind = RESP_PAGE;
		req_error(r, 500, NULL, "internal_error", "This page could "
		    "not be shown; the error has been logged.", NULL);
		return;
	}
	r->status = status;
	r->content_type_out = "text/html; charset=utf-8";
	r->error_page = 0;
}

/*
 * Render templates/<file> in place of the answer's body, keeping its
 * status and headers.  On failure (-1, logged) the body stays as it
 * was: the pipeline's error pages fall back to the bare one.
 */
int
tmpl_rerender(struct req *r, const char *file)
{
	struct buf	 b, old;

	buf_init(&b, REQ_RESP_MAX);
	if (tmpl_run(r, file, &b) == -1) {
		buf_free(&b);
		return -1;
	}
	old = r->out;
	r->out = b;
	buf_free(&old);
	r->content_type_out = "text/html; charset=utf-8";
	return 0;
}

/*
 * Forget the page's data (for a page that replaces another): the next
 * tmpl_set() starts a new tree; the old one goes with the arena.
 */
void
tmpl_reset(struct req *r)
{
	r->hdf = NULL;
}

/*
 * The version of a static file for its URL ("/static/tollgate.css?v="):
 * 16 hex digits of its SHA-256, so that the web server may let browsers
 * keep it for a year and a changed file is a new URL.  The files sit
 * beside the templates (static/ next to templates/, in the source tree
 * and installed alike).  Each responder hashes a file once and then
 * only stat()s it: a file replaced under a running server gets a new
 * version at once.  An unreadable file has the release for version.
 */
#define TMPL_STATIC_MAX		4		/* files that have a version */
#define TMPL_STATIC_SIZE_MAX	(1024 * 1024)

struct tmpl_static {
	char		 name[64];
	time_t		 mtime;
	off_t		 size;
	char		 version[17];
};

static int
tmpl_static_hash(const char *path, struct tmpl_static *f)
{
	struct stat	 st;
	unsigned char	 md[32], *p = NULL;
	FILE		*fp = NULL;
	int		 rc = -1;

	if ((fp = fopen(path, "rb")) == NULL || fstat(fileno(fp), &st) == -1 ||
	    st.st_size > TMPL_STATIC_SIZE_MAX)
		goto done;
	if ((p = malloc((size_t)st.st_size + 1)) == NULL ||
	    fread(p, 1, (size_t)st.st_size, fp) != (size_t)st.st_size)
		goto done;
	crypto_sha256(p, (size_t)st.st_size, md);
	util_hex(md, 8, f->version);
	f->mtime = st.st_mtime;
	f->size = st.st_size;
	rc = 0;
done:
	if (rc == -1)
		log_warnx("%s: %s: cannot read", __func__, path);
	free(p);
	if (fp != NULL)
		fclose(fp);
	return rc;
}

const char *
tmpl_static_version(const char *file)
{
	static struct tmpl_static	 files[TMPL_STATIC_MAX];
	struct tmpl_static		*f = NULL;
	struct stat			 st;
	char				 path[1024];
	size_t				 i;

	for (i = 0; i < TMPL_STATIC_MAX && f == NULL; i++)
		if (strcmp(files[i].name, file) == 0)
			f = &files[i];
	for (i = 0; i < TMPL_STATIC_MAX && f == NULL; i++)
		if (files[i].name[0] == '\0')
			f = &files[i];
	if (f == NULL || strlen(file) >= sizeof(f->name))
		return TOLLGATE_VERSION;
	snprintf(path, sizeof(path), "%s/../static/%s", conf.template_dir,
	    file);
	if (f->name[0] != '\0' && stat(path, &st) == 0 &&
	    st.st_mtime == f->mtime && st.st_size == f->size)
		return f->version;
	if (tmpl_static_hash(path, f) == -1) {
		f->name[0] = '\0';
		return TOLLGATE_VERSION;
	}
	snprintf(f->name, sizeof(f->name), "%s", file);
	return f->version;
}
