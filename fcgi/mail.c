/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Outgoing e-mail through libcurl's SMTP client, when SMTP_URL is set.
 * A message that cannot be sent is logged, never fatal to the request
 * that caused it: the inviter has the link on screen anyway.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "tollgate.h"

struct mail_src {
	const char	*p;
	size_t		 left;
};

static size_t
mail_read(char *out, size_t size, size_t nmemb, void *arg)
{
	struct mail_src	*s = arg;
	size_t		 n = size * nmemb;

	if (n > s->left)
		n = s->left;
	memcpy(out, s->p, n);
	s->p += n;
	s->left -= n;
	return n;
}

/* Header values must not carry CR or LF (header injection). */
static int
mail_header_safe(const char *s)
{
	return strpbrk(s, "\r\n") == NULL;
}

/* Send one plain-text message; 0 or -1 (logged). */
int
mail_send(const char *to, const char *subject, const char *body)
{
	struct curl_slist	*rcpt = NULL;
	struct mail_src		 src;
	struct buf		 msg;
	char			 date[64], from[300];
	time_t			 now = time(NULL);
	struct tm		 tm;
	CURL			*c = NULL;
	CURLcode		 cc;
	int			 rc = -1;

	if (conf.smtp_url == NULL)
		return 0;
	if (!mail_header_safe(to) || !mail_header_safe(subject) ||
	    !valid_email(to))
		return -1;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(from, sizeof(from), "<%s>", conf.smtp_from);
	buf_init(&msg, 65536);
	buf_printf(&msg, "Date: %s\r\nFrom: %s\r\nTo: <%s>\r\nSubject: %s\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "\r\n%s\r\n", date, conf.smtp_from, to, subject, body);
	if (msg.toobig || (c = curl_easy_init()) == NULL)
		goto done;
	rcpt = curl_slist_append(rcpt, to);
	src.p = msg.p;
	src.left = msg.len;
	curl_easy_setopt(c, CURLOPT_URL, conf.smtp_url);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, mail_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &src);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
	if ((cc = curl_easy_perform(c)) != CURLE_OK) {
		log_warnx("mail not sent: %s", curl_easy_strerror(cc));
		goto done;
	}
	log_info("mail sent");
	rc = 0;
done:
	curl_slist_free_all(rcpt);
	if (c != NULL)
		curl_easy_cleanup(c);
	buf_free(&msg);
	return rc;
}

/*
 * The invitation e-mail: who invited, to what, and the link.  It is
 * only queued on the request: it leaves after the invitation is
 * committed and the inviter has the answer, so a slow mail server
 * neither holds the tenant's locks nor announces an invitation that a
 * failed commit took back.
 */
void
mail_invitation(struct req *r, const char *to, const char *link)
{
	if (conf.smtp_url == NULL)
		return;
	r->mail_to = arena_strdup(&r->arena, to);
	r->mail_subject = "You are invited to Tollgate";
	r->mail_body = arena_printf(&r->arena, "Hello,\r\n\r\n%s invited you "
	    "to join their organization on Tollgate.\r\nOpen this link within "
	    "7 days to accept:\r\n\r\n%s\r\n\r\nIf you did not expect this, "
	    "ignore this message.\r\n", r->auth.actor, link);
}

/*
 * Queue one message for after the answer; without SMTP_URL a link
 * that only mail can carry is lost, which the log says.
 */
static void
mail_queue(struct req *r, const char *to, const char *subject,
    const char *body)
{
	if (conf.smtp_url == NULL) {
		log_warnx("no SMTP_URL: \"%s\" cannot be mailed", subject);
		return;
	}
	r->mail_to = arena_strdup(&r->arena, to);
	r->mail_subject = subject;
	r->mail_body = body;
}

/*
 * The link that proves an address, queued like an invitation: it
 * leaves only once the account (or the new link) is committed.
 */
void
mail_verification(struct req *r, const char *to, const char *link)
{
	mail_queue(r, to, "Confirm your e-mail address for Tollgate",
	    arena_printf(&r->arena, "Hello,\r\n\r\nThis address "
	    "was used to sign up to Tollgate.  Open this link within 24 "
	    "hours to confirm that it is yours:\r\n\r\n%s\r\n\r\nIf you did "
	    "not sign up, ignore this message: nobody can invite people or "
	    "pay in your name until the address is confirmed.\r\n", link));
}

/*
 * The link that sets a new password.  Queued by the work done after
 * the answer (acct.c), so a visitor learns nothing from how long the
 * answer took; it leaves once the link is committed.
 */
void
mail_password_reset(struct req *r, const char *to, const char *link)
{
	mail_queue(r, to, "Reset your Tollgate password",
	    arena_printf(&r->arena, "Hello,\r\n\r\nSomeone asked "
	    "to reset the password of the Tollgate account of this address."
	    "  Open this link within an hour to choose a new one (it works "
	    "once):\r\n\r\n%s\r\n\r\nSetting a new password signs you out "
	    "everywhere.  If you did not ask for this, ignore this message: "
	    "your password stays as it is.\r\n", link));
}

/* Send what the request queued, if its answer was a success. */
void
mail_after_request(struct req *r)
{
	if (r->mail_to == NULL || r->refused || r->status >= 400)
		return;
	(void)mail_send(r->mail_to, r->mail_subject, r->mail_body);
}
