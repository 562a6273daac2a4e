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

#include <stdio.h>
#include <string.h>

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

/*
 * Render templates/<file> with the request's data as the answer.
 * Failure (a template bug, or a page over the cap) is a 500.
 */
void
tmpl_render(struct req *r, int status, const char *file)
{
	CSPARSE	*cs = NULL;
	HDF	*hdf;
	NEOERR	*err;
	char	 path[1024];

	buf_reset(&r->out);
	if ((hdf = tmpl_hdf(r)) == NULL)
		goto fail;
	snprintf(path, sizeof(path), "%s/%s", conf.template_dir, file);
	if ((err = cs_init(&cs, hdf)) != STATUS_OK) {
		tmpl_log_err(err, "cs_init");
		goto fail;
	}
	if ((err = cs_register_strfunc(cs, "url_escape", tmpl_url_escape)) !=
	    STATUS_OK) {
		tmpl_log_err(err, "cs_register_strfunc");
		goto fail;
	}
	if ((err = cs_parse_file(cs, path)) != STATUS_OK) {
		tmpl_log_err(err, file);
		goto fail;
	}
	if ((err = cs_render(cs, &r->out, tmpl_out)) != STATUS_OK) {
		tmpl_log_err(err, file);
		goto fail;
	}
	if (r->out.toobig) {
		log_err("%s: page over %d bytes", file, REQ_RESP_MAX);
		goto fail;
	}
	cs_destroy(&cs);
	r->status = status;
	r->content_type_out = "text/html; charset=utf-8";
	return;
fail:
	if (cs != NULL)
		cs_destroy(&cs);
	buf_reset(&r->out);
	r->resp_kind = RESP_PAGE;
	req_error(r, 500, NULL, "internal_error", "This page could not be "
	    "shown; the error has been logged.", NULL);
}
