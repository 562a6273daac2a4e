/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: the invitation e-mail over real SMTP.  tests/stack.sh
 * points SMTP_URL at tests/smtp-sink.py, which keeps every message it
 * accepts as one file in $SMTP_SINK_DIR, the envelope in front
 * (X-Sink-Mail-From, X-Sink-Rcpt-To).  An invitation must arrive there
 * from SMTP_FROM with the link the API returned and a header nobody
 * could add lines to; an address carrying CR or LF must be refused and
 * mailed to no one; with the sink gone an invitation must still be made,
 * the failure logged (SPEC 10, 13).  mail_deliver() itself, called
 * from here, must tell the sink's failure switches apart (a 451, a 550,
 * a dropped connection, nothing listening) and deliver a multipart
 * message that decodes back.  Run by tests/integration.sh with the
 * stack's stack.env exported.
 *
 * Like it-accounts, each test talks from a loopback address of its own
 * (the auth routes are limited per address and minute, and every
 * program of the run shares the stack) and uses e-mail addresses made
 * of the pid and a counter, so a second run on the same stack meets
 * nothing of the first.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "tollgate.h"
#include "it-util.h"

#define API		"/api/v1"
#define REGISTER	API "/auth/register"
#define INVITE		API "/members/invitations"

#define TOKEN_MAX	2048		/* bytes of an access token kept */
#define MAIL_MAX	(1024 * 1024)	/* bytes of a sink file read */
#define MAIL_WAIT_S	5.0		/* for a message to reach the sink */
#define LINE_MAX_5322	998		/* RFC 5322 2.1.1, without CRLF */

/* A registered owner of a new tenant. */
struct owner {
	char	 email[128];
	char	 access[TOKEN_MAX];
};

/* One file of the sink, whole; see mail_read(). */
struct mail {
	char	 name[256];
	char	*text;		/* NUL-terminated (owned) */
	size_t	 len;
	char	*head;		/* the message: after the sink's lines */
	char	*body;		/* after the blank line; NULL: none */
};

static pid_t		 mail_pid;
static unsigned int	 mail_nclients;
static unsigned int	 mail_nemails;
static char		 mail_client[32];	/* source address */

/* --- clients, names and HTTP ---------------------------------------- */

/*
 * A loopback address of this program's own, 127.9.X.Y from the pid and
 * a counter (it-accounts uses 127.100/8 to 127.249/8).  Requests go out
 * from it until the next call.
 */
static void
client_new(void)
{
	unsigned int	 n = ++mail_nclients, pid = (unsigned int)mail_pid;

	snprintf(mail_client, sizeof(mail_client), "127.9.%u.%u",
	    pid & 0xff, 10 + (pid >> 8) % 200 + n % 40);
	print_message("# client address %s\n", mail_client);
	it_set_source(mail_client);
}

/* A fresh address: mail<pid>-<n>-<tag>@example.com. */
static void
email_new(char *out, size_t outsz, const char *tag)
{
	snprintf(out, outsz, "mail%ld-%u-%s@example.com", (long)mail_pid,
	    ++mail_nemails, tag);
}

/*
 * POST a JSON body from the current client address, with a bearer token
 * unless NULL.  Free with it_response_free().  A transport failure
 * fails the test.
 */
static void
post_json(struct it_resp *r, const char *path, const char *token,
    const char *json)
{
	const char	*hdrs[2] = { NULL, NULL };
	char		 auth[TOKEN_MAX + 64];

	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hdrs[0] = auth;
	}
	if (it_request_on(NULL, r, "POST", path, "application/json", json,
	    strlen(json), hdrs) == -1)
		fail_msg("POST %s from %s: %s", path, mail_client, r->error);
	print_message("# POST %s: %ld in %.1f ms: %.200s\n", path, r->status,
	    r->ms, r->body);
}

/* A new user owning a new tenant, on the free plan: two seats. */
static void
register_owner(struct owner *o, const char *tag)
{
	struct it_resp	 r;
	char		 pw[64], org[64];
	const char	*tok;

	memset(o, 0, sizeof(*o));
	email_new(o->email, sizeof(o->email), tag);
	snprintf(pw, sizeof(pw), "Mail-%ld-%s-password", (long)mail_pid, tag);
	snprintf(org, sizeof(org), "Mail %s %ld", tag, (long)mail_pid);
	post_json(&r, REGISTER, NULL, it_jobj("email", o->email, "password",
	    pw, "organization", org, NULL));
	it_expect_status(&r, 201);
	tok = it_must_str(&r, "access_token");
	if (strlen(tok) >= sizeof(o->access))
		fail_msg("access token of %zu bytes", strlen(tok));
	memcpy(o->access, tok, strlen(tok) + 1);
	it_response_free(&r);
	/* Owners here invite: their address counts as proven (it-verify). */
	it_mark_verified(o->email);
}

/* POST /members/invitations as o; the caller checks and frees r. */
static void
invite(struct it_resp *r, const struct owner *o, const char *email)
{
	post_json(r, INVITE, o->access, it_jobj("email", email, "role",
	    "member", NULL));
}

/* --- the sink's files ------------------------------------------------ */

static void
mail_free(struct mail *m)
{
	free(m->text);
	memset(m, 0, sizeof(*m));
}

/*
 * Read DIR/name whole.  head points past the sink's "X-Sink-" lines,
 * body past the blank line that ends the message's header.  Returns 0,
 * or -1 when the file went away or cannot be read.
 */
static int
mail_read(const char *name, struct mail *m)
{
	struct stat	 st;
	char		 path[4096];
	FILE		*fp;
	size_t		 n;

	memset(m, 0, sizeof(*m));
	snprintf(path, sizeof(path), "%s/%s", it_env("SMTP_SINK_DIR"), name);
	snprintf(m->name, sizeof(m->name), "%s", name);
	if ((fp = fopen(path, "rb")) == NULL)
		return -1;
	if (fstat(fileno(fp), &st) == -1) {
		fclose(fp);
		return -1;
	}
	/* The sink renames a finished file into place: its size is final. */
	n = st.st_size < MAIL_MAX ? (size_t)st.st_size : MAIL_MAX;
	m->text = it_alloc(n + 1);
	n = fread(m->text, 1, n, fp);
	fclose(fp);
	m->text[n] = '\0';
	m->len = n;
	for (m->head = m->text; strncmp(m->head, "X-Sink-", 7) == 0;
	    m->head += strcspn(m->head, "\n") + 1)
		if (strchr(m->head, '\n') == NULL)
			break;
	if ((m->body = strstr(m->head, "\r\n\r\n")) != NULL)
		m->body += 4;
	return 0;
}

/* How many "X-Sink-<what>: value" lines the sink wrote, and the first. */
static size_t
mail_envelope(const struct mail *m, const char *what, char *out,
    size_t outsz)
{
	const char	*p;
	size_t		 n = 0, plen = strlen(what), len;

	out[0] = '\0';
	for (p = m->text; p < m->head; p += strcspn(p, "\n") + 1) {
		if (strncmp(p, "X-Sink-", 7) != 0 ||
		    strncmp(p + 7, what, plen) != 0 ||
		    strncmp(p + 7 + plen, ": ", 2) != 0)
			continue;
		len = strcspn(p + 9 + plen, "\r\n");
		if (n++ == 0)
			snprintf(out, outsz, "%.*s", (int)len, p + 9 + plen);
	}
	return n;
}

/* Is this message addressed (in the envelope) to rcpt? */
static int
mail_to(const struct mail *m, const char *rcpt)
{
	const char	*p;
	size_t		 len;

	for (p = m->text; p < m->head; p += strcspn(p, "\n") + 1) {
		if (strncmp(p, "X-Sink-Rcpt-To: ", 16) != 0)
			continue;
		len = strcspn(p + 16, "\r\n");
		if (len == strlen(rcpt) && strncmp(p + 16, rcpt, len) == 0)
			return 1;
	}
	return 0;
}

/*
 * One pass over the sink: the files addressed to rcpt (rcpt NULL: any)
 * whose text holds needle (NULL: any).  The first one found goes to out
 * unless out is NULL.  Temporary files (".tmp-*") are not messages yet.
 */
static size_t
mail_scan(const char *rcpt, const char *needle, struct mail *out)
{
	struct mail	 m;
	struct dirent	*de;
	DIR		*d;
	size_t		 n = 0, len;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if ((d = opendir(it_env("SMTP_SINK_DIR"))) == NULL)
		fail_msg("opendir %s: %s", it_env("SMTP_SINK_DIR"),
		    strerror(errno));
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 5 ||
		    strcmp(de->d_name + len - 4, ".eml") != 0 ||
		    mail_read(de->d_name, &m) == -1)
			continue;
		if ((rcpt == NULL || mail_to(&m, rcpt)) &&
		    (needle == NULL || strstr(m.text, needle) != NULL)) {
			if (n++ == 0 && out != NULL) {
				*out = m;
				continue;
			}
		}
		mail_free(&m);
	}
	closedir(d);
	return n;
}

/* Poll the sink for "seconds" for a message to rcpt; how many came. */
static size_t
mail_wait(const char *rcpt, double seconds, struct mail *out)
{
	double	 deadline = it_now_ms() + seconds * 1000.0, t0 = it_now_ms();
	size_t	 n;

	for (;;) {
		if ((n = mail_scan(rcpt, NULL, out)) > 0) {
			print_message("# mail to %s in the sink after %.0f ms: "
			    "%s\n", rcpt, it_now_ms() - t0, out->name);
			return n;
		}
		if (it_now_ms() >= deadline)
			return 0;
		it_sleep_ms(100);
	}
}

/* n bytes of s for a message: CR, LF and other controls made visible. */
static const char *
visible(const char *s, size_t n, char *out, size_t outsz)
{
	size_t	 i, o = 0;

	for (i = 0; i < n && o + 5 < outsz; i++) {
		if (s[i] == '\r' || s[i] == '\n') {
			out[o++] = '\\';
			out[o++] = s[i] == '\r' ? 'r' : 'n';
		} else if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			out[o++] = '?';
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

/* The address of a From: or To: value: inside <...>, else the whole. */
static void
header_address(const char *v, char *out, size_t outsz)
{
	const char	*lt = strchr(v, '<'), *gt;

	if (lt != NULL && (gt = strchr(lt, '>')) != NULL)
		snprintf(out, outsz, "%.*s", (int)(gt - lt - 1), lt + 1);
	else
		snprintf(out, outsz, "%s", v);
}

/*
 * The message's header, line by line: every line ends in CRLF, with no
 * CR or LF inside it (what an injected header would leave); each is a
 * field "Name: value" of a name this message may carry, or a folded
 * continuation; From, To and Subject once each.  The values of those
 * three go to from, to and subject.
 */
static void
check_head(const struct mail *m, char *from, char *to, char *subject,
    size_t valsz)
{
	static const char *const	 allowed[] = { "Date", "From", "To",
	    "Subject", "MIME-Version", "Content-Type",
	    "Content-Transfer-Encoding", "Message-ID", "Auto-Submitted",
	    NULL };
	char				 name[80], shown[256], *val;
	const char			*line, *eol, *colon;
	size_t				 i, len, seen[3] = { 0, 0, 0 };

	from[0] = to[0] = subject[0] = '\0';
	for (line = m->head; line < m->body - 2; line = eol + 2) {
		eol = strstr(line, "\r\n");
		len = (size_t)(eol - line);
		if (memchr(line, '\n', len) != NULL ||
		    memchr(line, '\r', len) != NULL) {
			it_deferred_fail("%s: a bare CR or LF in the header "
			    "line \"%s\"", m->name, visible(line, len, shown,
			    sizeof(shown)));
			continue;
		}
		if (len > LINE_MAX_5322)
			it_deferred_fail("%s: a header line of %zu bytes",
			    m->name, len);
		if (*line == ' ' || *line == '\t') {
			if (line == m->head)
				it_deferred_fail("%s: the header starts with a "
				    "continuation line", m->name);
			continue;
		}
		colon = memchr(line, ':', len);
		if (colon == NULL || colon == line ||
		    (size_t)(colon - line) >= sizeof(name) ||
		    strcspn(line, " \t") < (size_t)(colon - line)) {
			it_deferred_fail("%s: not a header field: \"%s\"",
			    m->name, visible(line, len, shown, sizeof(shown)));
			continue;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(colon - line),
		    line);
		for (i = 0; allowed[i] != NULL; i++)
			if (strcasecmp(name, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			it_deferred_fail("%s: unexpected header field \"%.*s\"",
			    m->name, (int)len, line);
			continue;
		}
		val = i == 1 ? from : i == 2 ? to : i == 3 ? subject : NULL;
		if (val == NULL)
			continue;
		if (seen[i - 1]++ > 0)
			it_deferred_fail("%s: a second %s field", m->name,
			    name);
		colon++;
		colon += strspn(colon, " \t");
		snprintf(val, valsz, "%.*s", (int)(eol - colon), colon);
	}
	for (i = 0; i < 3; i++)
		if (seen[i] == 0)
			it_deferred_fail("%s: no %s field", m->name,
			    allowed[i + 1]);
}

/* Every line of the message (header and body) ends in CRLF and fits. */
static void
check_lines(const struct mail *m)
{
	const char	*p, *nl;
	size_t		 bad = 0, longest = 0;

	for (p = m->head; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL) {
			it_deferred_fail("%s: the message does not end in CRLF",
			    m->name);
			break;
		}
		if (nl == p || nl[-1] != '\r')
			bad++;
		if ((size_t)(nl - p) > longest)
			longest = (size_t)(nl - p);
	}
	if (bad > 0)
		it_deferred_fail("%s: %zu line(s) end in a bare LF", m->name,
		    bad);
	if (longest > LINE_MAX_5322 + 1)
		it_deferred_fail("%s: a line of %zu bytes", m->name,
		    longest - 1);
}

/* Is s in text, standing alone (not part of a longer URL or word)? */
static int
contains_alone(const char *text, const char *s)
{
	const char	*p;
	size_t		 n = strlen(s);

	for (p = strstr(text, s); p != NULL; p = strstr(p + 1, s))
		if ((p == text || strchr(" \t\r\n<(\"", p[-1]) != NULL) &&
		    (p[n] == '\0' || strchr(" \t\r\n>)\".,", p[n]) != NULL))
			return 1;
	return 0;
}

/* --- the sink process -------------------------------------------------- */

/* The port of SMTP_URL, smtp://127.0.0.1:PORT as tests/stack.sh has it. */
static int
sink_port(void)
{
	const char	*url = it_env("SMTP_URL"), *p;
	char		*end;
	long		 port;

	if (strncmp(url, "smtp://127.0.0.1:", 17) != 0)
		fail_msg("SMTP_URL %s is not the stack's sink", url);
	p = url + 17;
	port = strtol(p, &end, 10);
	if (end == p || (*end != '\0' && *end != '/') || port < 1 ||
	    port > 65535)
		fail_msg("SMTP_URL %s: no port", url);
	return (int)port;
}

/* Does something accept connections on the sink's port? */
static int
sink_listens(void)
{
	struct sockaddr_in	 sin;
	int			 fd, rc;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)sink_port());
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fail_msg("socket: %s", strerror(errno));
	rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return rc == 0;
}

/*
 * The sink's pid from its pid file, checked against its command line:
 * a stale file must not make the test signal an unrelated process.
 */
static pid_t
sink_pid(void)
{
	const char	*path = it_env("SMTP_SINK_PIDFILE");
	char		 buf[4096], *end;
	FILE		*fp;
	size_t		 n, i;
	long		 pid;

	if ((fp = fopen(path, "r")) == NULL)
		fail_msg("pid file %s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	if (end == buf || pid <= 1)
		fail_msg("pid file %s: no pid in \"%s\"", path, buf);
	snprintf(buf, sizeof(buf), "/proc/%ld/cmdline", pid);
	if ((fp = fopen(buf, "r")) == NULL)
		fail_msg("the sink (pid %ld) is not running", pid);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	for (i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	if (strstr(buf, "smtp-sink.py") == NULL)
		fail_msg("pid %ld is not the sink: %s", pid, buf);
	return (pid_t)pid;
}

/* Teardown: the sink back, as tests/stack.sh starts it. */
static int
sink_restart(void **state)
{
	if (it_stack_sh("smtp-start") != 0 || !sink_listens()) {
		print_error("the SMTP sink did not come back: tests/stack.sh "
		    "smtp-start failed\n");
		return -1;
	}
	return 0;
}

/* The organization of an owner, by address. */
static void
owner_tenant(const char *email, char *out, size_t outsz)
{
	it_owner_sql(out, outsz, NULL, "SELECT tenant_id FROM "
	    "auth_user_tenants((SELECT user_id FROM users WHERE email = "
	    "lower($1)))", 1, (const char *const[]){ email });
}

/* The outbox delivery of a personal message to "to": "status/tried?". */
static void
outbox_state(const char *tenant, const char *to, char *out, size_t outsz)
{
	it_owner_sql(out, outsz, tenant, "SELECT d.status || '/' || (d.attempts "
	    "> 0) FROM notification_deliveries d JOIN notifications n USING "
	    "(tenant_id, notification_id) WHERE n.recipient = $1", 1,
	    (const char *const[]){ to });
}

/* Its retry due now (the backoff is 30 s). */
static void
outbox_due(const char *tenant, const char *to)
{
	it_owner_sql(NULL, 0, tenant, "UPDATE notification_deliveries d SET "
	    "next_at = now() FROM notifications n WHERE n.tenant_id = "
	    "d.tenant_id AND n.notification_id = d.notification_id AND "
	    "n.recipient = $1", 1, (const char *const[]){ to });
}

/* --- tests ------------------------------------------------------------- */

/*
 * An invitation reaches the sink: envelope and From are SMTP_FROM, the
 * envelope recipient and To are the invitee, once; the Subject says
 * what it is; the body holds the link the API returned, exactly, and
 * names the inviter; the header is nothing but the expected fields.
 */
static void
test_invitation_mail(void **state)
{
	struct it_resp	 r;
	struct owner	 o;
	struct mail	 m;
	const char	*smtp_from = it_env("SMTP_FROM");
	char		 invitee[128], link[1024], v[512], from[512],
			 to[512], subject[512];
	size_t		 n;

	client_new();
	register_owner(&o, "owner");
	email_new(invitee, sizeof(invitee), "invitee");
	invite(&r, &o, invitee);
	it_expect_status(&r, 201);
	snprintf(link, sizeof(link), "%s", it_must_str(&r, "link"));
	if (strstr(link, "/invite/") == NULL)
		fail_msg("link %s has no /invite/", link);
	it_response_free(&r);

	if (mail_wait(invitee, MAIL_WAIT_S, &m) == 0)
		fail_msg("no mail to %s in %s within %.0f s (sink log: %s)",
		    invitee, it_env("SMTP_SINK_DIR"), MAIL_WAIT_S,
		    it_env_or("SMTP_SINK_LOG", "?"));
	print_message("# %s:\n%.2000s\n", m.name, m.text);

	if (mail_envelope(&m, "Mail-From", v, sizeof(v)) != 1 ||
	    strcmp(v, smtp_from) != 0)
		it_deferred_fail("%s: envelope sender \"%s\", want %s",
		    m.name, v, smtp_from);
	if ((n = mail_envelope(&m, "Rcpt-To", v, sizeof(v))) != 1)
		it_deferred_fail("%s: %zu envelope recipients, want 1 (%s)",
		    m.name, n, invitee);
	if (m.body == NULL)
		fail_msg("%s: no blank line after the header", m.name);
	check_head(&m, from, to, subject, sizeof(from));
	check_lines(&m);
	header_address(from, v, sizeof(v));
	if (strcmp(v, smtp_from) != 0)
		it_deferred_fail("%s: From \"%s\", want %s", m.name, from,
		    smtp_from);
	header_address(to, v, sizeof(v));
	if (strcmp(v, invitee) != 0)
		it_deferred_fail("%s: To \"%s\", want %s", m.name, to, invitee);
	if (strcasestr(subject, "invit") == NULL)
		it_deferred_fail("%s: Subject \"%s\" does not say it is an "
		    "invitation", m.name, subject);
	if (!contains_alone(m.body, link))
		it_deferred_fail("%s: the body does not hold the link %s",
		    m.name, link);
	if (strstr(m.body, o.email) == NULL)
		it_deferred_fail("%s: the body does not name the inviter %s",
		    m.name, o.email);
	mail_free(&m);

	/* Sent once: a second message would be a retry gone wrong. */
	it_sleep_ms(300);
	if ((n = mail_scan(invitee, NULL, NULL)) != 1)
		it_deferred_fail("%zu messages to %s, want 1", n, invitee);
	it_deferred_check();
}

/*
 * An address with CR or LF in it could add header lines (Bcc) or SMTP
 * commands: refused with 400 naming "email", and nobody gets mail for
 * it.  The check looks for mail mentioning this address or the
 * injected one rather than counting files: the worker may mail
 * someone else meanwhile.
 */
static void
test_invitation_injection(void **state)
{
	static const char *const	 seps[] = { "\r\n", "\n", "\r" };
	struct it_resp			 r;
	struct owner			 o;
	const char			*v;
	char				 local[64], evil[128], email[512];
	size_t				 i, before_local, before_evil, n;

	client_new();
	register_owner(&o, "inject");
	snprintf(local, sizeof(local), "mail%ld-inject-%u", (long)mail_pid,
	    ++mail_nemails);
	snprintf(evil, sizeof(evil), "x-%s@evil.example", local);
	before_local = mail_scan(NULL, local, NULL);
	before_evil = mail_scan(NULL, "evil.example", NULL);
	for (i = 0; i < sizeof(seps) / sizeof(seps[0]); i++) {
		snprintf(email, sizeof(email), "%s@example.com%sBcc: %s",
		    local, seps[i], evil);
		invite(&r, &o, email);
		if (r.status != 400)
			it_deferred_fail("invitation of \"%s\": %ld, want 400",
			    email, r.status);
		else if ((v = it_json_str(it_json(&r), "error.param")) ==
		    NULL || strcmp(v, "email") != 0)
			it_deferred_fail("invitation of \"%s\": error.param "
			    "%s, want email", email, v != NULL ? v : "(none)");
		it_response_free(&r);
	}
	/* Mail goes out before the answer; leave room for a queue anyway. */
	it_sleep_ms(1000);
	if ((n = mail_scan(NULL, local, NULL)) != before_local)
		it_deferred_fail("%zu new message(s) mention %s",
		    n - before_local, local);
	if ((n = mail_scan(NULL, "evil.example", NULL)) != before_evil)
		it_deferred_fail("%zu new message(s) mention evil.example",
		    n - before_evil);
	it_deferred_check();
}

/* --- mail_deliver() against the sink ------------------------------------ */

#define DELIVER_SUBJECT	"Über 80 % — Agent “Ops”"

/*
 * Set the sink's failure switch (tests/smtp-sink.py reads
 * DIR/.sink-mode when a session starts), under another name first so
 * that a session never reads half a word.  0, or -1 said on stderr.
 */
static int
sink_mode(const char *mode)
{
	char	 path[4000], tmp[4096];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/.sink-mode",
	    it_env("SMTP_SINK_DIR"));
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)mail_pid);
	if ((fp = fopen(tmp, "w")) == NULL) {
		print_error("%s: %s\n", tmp, strerror(errno));
		return -1;
	}
	fprintf(fp, "%s\n", mode);
	if (fclose(fp) != 0 || rename(tmp, path) == -1) {
		print_error("%s: %s\n", path, strerror(errno));
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

/* Teardown: the sink accepts again, whatever the test left. */
static int
sink_accept(void **state)
{
	return sink_mode("accept");
}

/*
 * mail_deliver() with the sink switched to "mode", switched back to
 * accept at once (other programs share the sink, and the worker may
 * mail meanwhile).  The outcome must be "want", and the reason must
 * name neither the recipient nor any of the body.
 */
static void
deliver_in_mode(const char *mode, const struct mail_msg *m,
    enum mail_rc want, const char *why_has)
{
	char		 why[256];
	enum mail_rc	 rc;

	if (sink_mode(mode) == -1)
		fail_msg("cannot switch the sink to %s", mode);
	rc = mail_deliver(m, why, sizeof(why));
	if (sink_mode("accept") == -1)
		fail_msg("cannot switch the sink back to accept");
	print_message("# sink %s: mail_deliver %d, \"%s\"\n", mode, rc, why);
	if (rc != want)
		it_deferred_fail("sink %s: mail_deliver %d (%s), want %d",
		    mode, rc, why, want);
	if (why_has != NULL && strstr(why, why_has) == NULL)
		it_deferred_fail("sink %s: the reason \"%s\" does not say %s",
		    mode, why, why_has);
	if (strstr(why, m->to[0]) != NULL || strstr(why, "Ops") != NULL)
		it_deferred_fail("sink %s: the reason \"%s\" holds the address "
		    "or the message", mode, why);
}

/*
 * Quoted-printable of n bytes into out (NUL-terminated); -1 on a bad
 * escape, an encoded line over 76 characters or no room.
 */
static int
qp_decode(const char *s, size_t n, char *out, size_t outsz)
{
	size_t		 i, o = 0, col = 0;
	unsigned int	 c;

	for (i = 0; i < n && o + 1 < outsz; i++) {
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
			out[o++] = '\r';
			if (o + 1 < outsz)
				out[o++] = '\n';
			i++;
			col = 0;
			continue;
		}
		if (++col > 76)
			return -1;
		if (s[i] != '=') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2;
			col = 0;
		} else if (i + 2 < n && sscanf(s + i + 1, "%2X", &c) == 1 &&
		    strchr("0123456789ABCDEF", s[i + 1]) != NULL &&
		    strchr("0123456789ABCDEF", s[i + 2]) != NULL) {
			out[o++] = (char)c;
			i += 2;
			col += 2;
		} else
			return -1;
	}
	out[o] = '\0';
	return i == n ? 0 : -1;
}

/*
 * Part "nth" (0: the first) of a multipart body whose boundary is bnd,
 * quoted-printable decoded into out; its Content-Type must start with
 * "type".  Fails the test when the part is not there or not so.
 */
static void
mime_part(const struct mail *ml, const char *bnd, int nth,
    const char *type, char *out, size_t outsz)
{
	char		 delim[128], ct[128];
	const char	*p = ml->body, *end, *sep, *q;
	int		 i;

	snprintf(delim, sizeof(delim), "--%s\r\n", bnd);
	for (i = 0; i <= nth; i++) {
		if ((p = strstr(p, delim)) == NULL)
			fail_msg("%s: no part %d", ml->name, i);
		p += strlen(delim);
	}
	snprintf(delim, sizeof(delim), "\r\n--%s", bnd);
	end = strstr(p, delim);
	sep = strstr(p, "\r\n\r\n");
	if (end == NULL || sep == NULL || sep > end)
		fail_msg("%s: part %d without an end or a header", ml->name,
		    nth);
	snprintf(ct, sizeof(ct), "Content-Type: %s;", type);
	if ((q = strstr(p, ct)) == NULL || q > sep)
		it_deferred_fail("%s: part %d is not %s", ml->name, nth, type);
	q = strstr(p, "Content-Transfer-Encoding: quoted-printable\r\n");
	if (q == NULL || q > sep)
		it_deferred_fail("%s: part %d is not quoted-printable",
		    ml->name, nth);
	if (qp_decode(sep + 4, (size_t)(end + 2 - (sep + 4)), out,
	    outsz) == -1)
		fail_msg("%s: part %d does not decode", ml->name, nth);
}

/* Is "NAME<TAB>msgid" a line of the sink's index? */
static int
sink_indexed(const char *name, const char *msgid)
{
	char	 path[4096], line[1024], want[1024];
	FILE	*fp;
	int	 found = 0;

	snprintf(path, sizeof(path), "%s/.index", it_env("SMTP_SINK_DIR"));
	snprintf(want, sizeof(want), "%s\t%s\n", name, msgid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), fp) != NULL)
		found = strcmp(line, want) == 0;
	fclose(fp);
	return found;
}

/*
 * mail_deliver() on the sink: a 451 to RCPT is MAIL_TRANSIENT, a 550
 * MAIL_PERMANENT, a connection dropped after the greeting transient;
 * none stores a message.  Accepted, the message arrives once, from
 * SMTP_FROM, with the caller's Message-ID (in the sink's index too),
 * the subject in encoded-words and both alternatives decoding to what
 * was given: the line that is only "." intact, lone CR and LF made CRLF.
 */
static void
test_deliver_modes(void **state)
{
	static const char	*text = "Agent \xe2\x80\x9cOps\xe2\x80\x9d "
	    "is at 80 % of its budget (8.00 = 80 % of 10.00 EUR).\n"
	    ".\n"
	    "The line above is a dot; this one ends in a lone CR\r"
	    "and this one is long: 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789.\n";
	static const char	*text_crlf = "Agent \xe2\x80\x9cOps"
	    "\xe2\x80\x9d is at 80 % of its budget (8.00 = 80 % of 10.00 "
	    "EUR).\r\n"
	    ".\r\n"
	    "The line above is a dot; this one ends in a lone CR\r\n"
	    "and this one is long: 0123456789 0123456789 0123456789 "
	    "0123456789 0123456789 0123456789 0123456789 0123456789.\r\n";
	static const char	*html = "<p>Agent &ldquo;Ops&rdquo; is at 80 %."
	    "</p>\n<p>.</p>\n";
	static const char	*html_crlf = "<p>Agent &ldquo;Ops&rdquo; is at "
	    "80 %.</p>\r\n<p>.</p>\r\n";
	struct mail_msg		 m;
	struct mail		 ml;
	char			 rcpt[128], msgid[128], want[256], from[512],
				 to[512], subject[512], bnd[128], *dec;
	const char		*p;
	size_t			 n;

	conf.smtp_url = (char *)it_env("SMTP_URL");
	conf.smtp_from = (char *)it_env("SMTP_FROM");
	email_new(rcpt, sizeof(rcpt), "deliver");
	snprintf(msgid, sizeof(msgid), "<it-mail.%ld.%u@tollgate.test>",
	    (long)mail_pid, mail_nemails);
	memset(&m, 0, sizeof(m));
	m.to[0] = rcpt;
	m.subject = DELIVER_SUBJECT;
	m.text = text;
	m.html = html;
	m.message_id = msgid;
	m.date = time(NULL);

	deliver_in_mode("tempfail", &m, MAIL_TRANSIENT, "451");
	deliver_in_mode("reject", &m, MAIL_PERMANENT, "550");
	deliver_in_mode("drop", &m, MAIL_TRANSIENT, NULL);
	if (mail_scan(rcpt, NULL, NULL) != 0)
		it_deferred_fail("a refused attempt left a message to %s",
		    rcpt);
	deliver_in_mode("accept", &m, MAIL_SENT, NULL);
	if (mail_wait(rcpt, MAIL_WAIT_S, &ml) == 0)
		fail_msg("no mail to %s in %s within %.0f s", rcpt,
		    it_env("SMTP_SINK_DIR"), MAIL_WAIT_S);
	print_message("# %s:\n%.3000s\n", ml.name, ml.text);
	if (ml.body == NULL)
		fail_msg("%s: no blank line after the header", ml.name);

	check_head(&ml, from, to, subject, sizeof(from));
	check_lines(&ml);
	header_address(from, want, sizeof(want));
	if (strcmp(want, it_env("SMTP_FROM")) != 0)
		it_deferred_fail("%s: From \"%s\"", ml.name, from);
	if (strcmp(to, rcpt) != 0)
		it_deferred_fail("%s: To \"%s\", want %s", ml.name, to, rcpt);
	if (strncmp(subject, "=?UTF-8?B?", 10) != 0)
		it_deferred_fail("%s: Subject \"%s\" not encoded", ml.name,
		    subject);
	snprintf(want, sizeof(want), "\r\nMessage-ID: %s\r\n", msgid);
	if (strstr(ml.head - 2, want) == NULL || strstr(ml.head, want) >
	    ml.body)
		it_deferred_fail("%s: no Message-ID %s", ml.name, msgid);
	if (!sink_indexed(ml.name, msgid))
		it_deferred_fail("%s: not in the sink's .index with %s",
		    ml.name, msgid);

	if ((p = strstr(ml.head, "boundary=\"")) == NULL || p > ml.body)
		fail_msg("%s: no multipart boundary", ml.name);
	n = strcspn(p + 10, "\"");
	if (n == 0 || n >= sizeof(bnd))
		fail_msg("%s: a boundary of %zu bytes", ml.name, n);
	snprintf(bnd, sizeof(bnd), "%.*s", (int)n, p + 10);
	p = strstr(ml.head, "Content-Type: multipart/alternative;");
	if (p == NULL || p > ml.body)
		it_deferred_fail("%s: not multipart/alternative", ml.name);
	dec = it_alloc(ml.len + 1);
	mime_part(&ml, bnd, 0, "text/plain", dec, ml.len + 1);
	if (strcmp(dec, text_crlf) != 0)
		it_deferred_fail("%s: the text decodes to \"%s\"", ml.name,
		    dec);
	mime_part(&ml, bnd, 1, "text/html", dec, ml.len + 1);
	if (strcmp(dec, html_crlf) != 0)
		it_deferred_fail("%s: the HTML decodes to \"%s\"", ml.name,
		    dec);
	free(dec);
	mail_free(&ml);

	/* Once: the refused attempts stored nothing. */
	it_sleep_ms(300);
	if ((n = mail_scan(rcpt, NULL, NULL)) != 1)
		it_deferred_fail("%zu messages to %s, want 1", n, rcpt);
	it_deferred_check();
}

/* Nothing listening (port 1 of the loopback): transient, and quick. */
static void
test_deliver_unreachable(void **state)
{
	struct mail_msg	 m;
	char		 rcpt[128], why[256];
	double		 t0 = it_now_ms();
	enum mail_rc	 rc;

	conf.smtp_url = (char *)"smtp://127.0.0.1:1";
	conf.smtp_from = (char *)it_env("SMTP_FROM");
	email_new(rcpt, sizeof(rcpt), "unreachable");
	memset(&m, 0, sizeof(m));
	m.to[0] = rcpt;
	m.subject = "Nobody there";
	m.text = "Hello.\n";
	rc = mail_deliver(&m, why, sizeof(why));
	print_message("# mail_deliver %d in %.0f ms: %s\n", rc,
	    it_now_ms() - t0, why);
	if (rc != MAIL_TRANSIENT)
		it_deferred_fail("mail_deliver %d (%s), want MAIL_TRANSIENT",
		    rc, why);
	if (it_now_ms() - t0 > 6000.0)
		it_deferred_fail("%.0f ms to give up on a closed port",
		    it_now_ms() - t0);
	conf.smtp_url = NULL;
	if (mail_deliver(&m, why, sizeof(why)) != MAIL_OFF)
		it_deferred_fail("no SMTP_URL: not MAIL_OFF");
	it_deferred_check();
}

/*
 * With the sink stopped (SIGTERM from its pid file, as `down` does) an
 * invitation is still made, 201 with the link: the mail is logged as
 * not sent, on a line with the request's id.  The teardown starts the
 * sink again.
 */
static void
test_invitation_sink_down(void **state)
{
	struct it_resp	 r;
	struct owner	 o;
	const char	*rid = NULL;
	char		 invitee[128], line[2048], state_now[64], tenant[64];
	pid_t		 pid = sink_pid();
	double		 deadline;

	if (kill(pid, SIGTERM) == -1)
		fail_msg("kill %ld: %s", (long)pid, strerror(errno));
	deadline = it_now_ms() + 5000.0;
	while (it_pid_alive(pid) && it_now_ms() < deadline)
		it_sleep_ms(50);
	if (it_pid_alive(pid))
		fail_msg("the sink (pid %ld) still runs 5 s after SIGTERM",
		    (long)pid);
	if (access(it_env("SMTP_SINK_PIDFILE"), F_OK) == 0)
		it_deferred_fail("the sink left its pid file %s behind",
		    it_env("SMTP_SINK_PIDFILE"));
	if (sink_listens())
		fail_msg("port %d still accepts connections", sink_port());

	client_new();
	register_owner(&o, "down");
	email_new(invitee, sizeof(invitee), "down");
	invite(&r, &o, invitee);
	it_expect_status(&r, 201);
	if (strstr(it_must_str(&r, "link"), "/invite/") == NULL)
		it_deferred_fail("link %s has no /invite/", it_must_str(&r,
		    "link"));
	it_response_free(&r);
	(void)rid;
	(void)line;
	/*
	 * The invitation goes through the outbox: the worker tries, the
	 * sink is down, the delivery stays queued (nothing lost) and goes
	 * once the sink is back and its retry is due.
	 */
	deadline = it_now_ms() + 10000.0;
	owner_tenant(o.email, tenant, sizeof(tenant));
	while (outbox_state(tenant, invitee, state_now, sizeof(state_now)),
	    strcmp(state_now, "queued/true") != 0 && it_now_ms() < deadline)
		it_sleep_ms(200);
	if (strcmp(state_now, "queued/true") != 0)
		it_deferred_fail("the invitation's delivery is %s, not queued "
		    "after an attempt", state_now);
	if (mail_scan(invitee, NULL, NULL) != 0)
		it_deferred_fail("a message to %s with the sink stopped",
		    invitee);
	if (sink_restart(NULL) != 0)
		fail_msg("the sink did not come back");
	outbox_due(tenant, invitee);
	deadline = it_now_ms() + 10000.0;
	while (mail_scan(invitee, NULL, NULL) == 0 && it_now_ms() < deadline)
		it_sleep_ms(200);
	if (mail_scan(invitee, NULL, NULL) != 1)
		it_deferred_fail("the invitation to %s did not arrive once the "
		    "sink was back", invitee);
	it_deferred_check();
}

static int
group_setup(void **state)
{
	it_init();
	mail_pid = getpid();
	it_env("TOLLGATE_URL");
	it_env("SMTP_URL");
	it_env("SMTP_FROM");
	it_env("SMTP_SINK_DIR");
	if (it_wait_health(15.0) != 0)
		return -1;
	if (!sink_listens()) {
		print_error("nothing listens on %s: is the SMTP sink "
		    "running (tests/stack.sh status)?\n", it_env("SMTP_URL"));
		return -1;
	}
	return 0;
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_invitation_mail),
		cmocka_unit_test(test_invitation_injection),
		cmocka_unit_test_teardown(test_deliver_modes, sink_accept),
		cmocka_unit_test(test_deliver_unreachable),
		/* Last: it stops the sink, and its teardown restarts it. */
		cmocka_unit_test_teardown(test_invitation_sink_down,
		    sink_restart),
	};

	return cmocka_run_group_tests_name("it-mail", tests, group_setup,
	    NULL);
}
