/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Notifications (SPEC 10): the settings, the words of each trigger,
 * and the delivery of the outbox by `tollgate work`.
 *
 * A notification is a row queued in the transaction of its event
 * (sql/019 decides there whether it is skipped or debounced, and makes
 * one delivery per transport).  The worker takes each due delivery
 * under its row lock, sends it (SMTP through mail.c, Slack through an
 * incoming webhook), records the attempt and its result, and commits.
 * A transient failure is tried again later, 30 s after the first and
 * doubling up to an hour, NOTIFY_ATTEMPTS times in all; a permanent
 * one (an address refused, a webhook gone) is not.  A worker killed
 * between sending and committing leaves the delivery due: it goes
 * again with the same Message-ID, which lets a mail system tell.
 *
 * Personal messages (an invitation, a password reset) carry their link
 * sealed by the vault, opened only to be sent.  acct.c's convention.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "tollgate.h"

#define NOTIFY_ATTEMPTS		8	/* then the delivery has failed */
#define NOTIFY_BACKOFF_FIRST_S	30
#define NOTIFY_BACKOFF_MAX_S	3600
#define NOTIFY_TENANTS_MAX	100	/* tenants per listing */
#define NOTIFY_SEND_MAX		200	/* deliveries per pass */
#define NOTIFY_SLACK_PREFIX	"https://hooks.slack.com/services/"

/* The triggers a tenant may turn off, with what they are about. */
static const char *const	notify_triggers[][2] = {
	{ "quota_80", "A quota reaches 80 %" },
	{ "quota_100", "A quota is used up" },
	{ "quota_120", "A quota is 20 % over" },
	{ "budget_warning", "An agent spends 80 % of its budget" },
	{ "budget_exceeded", "An agent spends its whole budget" },
	{ "payment_failed", "A payment fails" },
	{ "trial_will_end", "The trial ends in 3 days" },
	{ "grace_ended", "Agents stop while a payment is overdue" },
	{ "subscription_canceled", "The subscription ends" },
	{ "agents_deactivated", "Agents are deactivated by a plan change" },
	{ "llm_key_failing", "A provider refuses a stored LLM key" },
};
#define NOTIFY_NTRIGGERS	(sizeof(notify_triggers) / \
	sizeof(notify_triggers[0]))

const char *
notify_trigger_name(size_t i, const char **label)
{
	if (i >= NOTIFY_NTRIGGERS)
		return NULL;
	if (label != NULL)
		*label = notify_triggers[i][1];
	return notify_triggers[i][0];
}

/* Is a trigger on in these settings (not in their "disabled" list)? */
int
notify_trigger_on(const struct notify_settings *s, const char *name)
{
	char	 q[64];

	snprintf(q, sizeof(q), "\"%s\"", name);
	return strstr(s->disabled, q) == NULL;
}

static int
notify_trigger_known(const char *t)
{
	size_t	 i;

	for (i = 0; i < NOTIFY_NTRIGGERS; i++)
		if (strcmp(t, notify_triggers[i][0]) == 0)
			return 1;
	return 0;
}

/*
 * Is this an incoming-webhook URL of Slack's (or of the configured
 * Slack base, which is the emulator in tests)?  Nothing else is ever
 * POSTed to: a tenant cannot point the worker at another host.
 */
int
notify_webhook_ok(const char *url)
{
	char	 base[512];
	size_t	 n = strlen(url), i;

	if (n < 20 || n > 500)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)url[i] <= ' ' || (unsigned char)url[i] >= 0x7f)
			return 0;
	if (strncmp(url, NOTIFY_SLACK_PREFIX, strlen(NOTIFY_SLACK_PREFIX)) == 0)
		return strstr(url, "..") == NULL;
	if (conf.slack_api_base == NULL)
		return 0;
	snprintf(base, sizeof(base), "%s/services/", conf.slack_api_base);
	return strncmp(url, base, strlen(base)) == 0 && strstr(url, "..") ==
	    NULL && n > strlen(base);
}

/* --- settings ------------------------------------------------------------ */

/* The recipients: an array of at most MAIL_RCPT_MAX addresses, as JSON. */
static int
notify_recipients_json(struct req *r, struct fail *f, struct json_object *a,
    const char **out)
{
	struct json_object	*o = json_object_new_array(), *e;
	char			 norm[EMAIL_MAX + 1];
	size_t			 i, n;
	int			 rc = -1;

	if (!json_object_is_type(a, json_type_array) ||
	    (n = json_object_array_length(a)) > MAIL_RCPT_MAX) {
		acct_fail(f, 400, "invalid_value", "recipients must be a list of "
		    "at most 10 e-mail addresses.", "recipients");
		goto done;
	}
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(a, i);
		if (!json_object_is_type(e, json_type_string) ||
		    valid_email_norm(json_object_get_string(e), norm,
		    sizeof(norm)) == -1) {
			acct_fail(f, 400, "invalid_value", arena_printf(
			    &r->arena, "recipients[%zu] is not an e-mail "
			    "address.", i), "recipients");
			goto done;
		}
		json_object_array_add(o, json_object_new_string(norm));
	}
	*out = arena_strdup(&r->arena, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN));
	rc = 0;
done:
	json_object_put(o);
	return rc;
}

/*
 * The triggers turned off, as JSON: those named false in "t" (an object
 * of trigger: boolean), the others as they are in "cur".
 */
static int
notify_disabled_json(struct req *r, struct fail *f, struct json_object *t,
    const struct notify_settings *cur, const char **out)
{
	struct json_object	*o, *v;
	size_t			 i;
	const char		*name;
	int			 off;

	json_object_object_foreach(t, key, val) {
		if (!notify_trigger_known(key) ||
		    !json_object_is_type(val, json_type_boolean))
			return acct_fail(f, 400, "invalid_value", arena_printf(
			    &r->arena, "triggers.%.40s is not a trigger that can "
			    "be turned on or off (true or false).", key),
			    "triggers");
	}
	o = json_object_new_array();
	for (i = 0; i < NOTIFY_NTRIGGERS; i++) {
		name = notify_triggers[i][0];
		if (json_object_object_get_ex(t, name, &v))
			off = !json_object_get_boolean(v);
		else
			off = !notify_trigger_on(cur, name);
		if (off)
			json_object_array_add(o, json_object_new_string(name));
	}
	*out = arena_strdup(&r->arena, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return 0;
}

/* "…/" and the last four characters of a webhook URL. */
static void
notify_webhook_hint(const char *url, char *out, size_t outsz)
{
	size_t	 n = strlen(url);

	snprintf(out, outsz, "...%s", n > 4 ? url + n - 4 : url);
}

/*
 * PUT /notifications/settings {recipients?, slack_webhook_url?,
 * triggers?}: what is absent stays; slack_webhook_url null removes the
 * webhook.  The URL is sealed and the request's copy wiped.
 */
int
notify_settings_put(struct req *r, struct fail *f, struct json_object *in)
{
	struct notify_settings	 cur;
	struct json_object	*v;
	const char		*recipients, *disabled, *hint = NULL;
	char			*sealed = NULL, h[16];
	enum db_rc		 rc;
	int			 keep = 1, ret = -1;

	json_object_object_foreach(in, key, val) {
		(void)val;
		if (strcmp(key, "recipients") != 0 && strcmp(key,
		    "slack_webhook_url") != 0 && strcmp(key, "triggers") != 0)
			return acct_fail(f, 400, "unknown_parameter",
			    arena_printf(&r->arena, "%.40s is not a setting.",
			    key), key);
	}
	if ((rc = db_notify_settings(r, &cur)) != DB_OK)
		return acct_fail_db(f, rc);
	recipients = cur.recipients;
	if (json_object_object_get_ex(in, "recipients", &v) &&
	    notify_recipients_json(r, f, v, &recipients) == -1)
		return -1;
	disabled = cur.disabled;
	if (json_object_object_get_ex(in, "triggers", &v)) {
		if (!json_object_is_type(v, json_type_object))
			return acct_fail(f, 400, "invalid_type", "triggers must "
			    "be an object of trigger names and true or false.",
			    "triggers");
		if (notify_disabled_json(r, f, v, &cur, &disabled) == -1)
			return -1;
	}
	if (json_object_object_get_ex(in, "slack_webhook_url", &v)) {
		keep = 0;
		if (v != NULL && !json_object_is_type(v, json_type_string))
			return acct_fail(f, 400, "invalid_type",
			    "slack_webhook_url must be a URL or null.",
			    "slack_webhook_url");
		if (v != NULL && !notify_webhook_ok(json_object_get_string(v)))
			return acct_fail(f, 400, "invalid_value",
			    "slack_webhook_url must be a Slack incoming webhook "
			    "(https://hooks.slack.com/services/...).",
			    "slack_webhook_url");
		if (v != NULL && conf.encryption_key == NULL)
			return acct_fail(f, 503, "encryption_not_configured",
			    "Stored secrets need TOLLGATE_ENCRYPTION_KEY.",
			    NULL);
		if (v != NULL) {
			notify_webhook_hint(json_object_get_string(v), h,
			    sizeof(h));
			hint = h;
			sealed = vault_seal(json_object_get_string(v),
			    strlen(json_object_get_string(v)));
			OPENSSL_cleanse((char *)(uintptr_t)
			    json_object_get_string(v),
			    strlen(json_object_get_string(v)));
			if (sealed == NULL)
				return acct_fail_db(f, DB_ERROR);
		}
	}
	if ((rc = db_notify_settings_put(r, recipients, disabled, keep, sealed,
	    hint)) != DB_OK || (rc = db_audit_add(r, "notifications.settings",
	    NULL, NULL)) != DB_OK)
		acct_fail_db(f, rc);
	else
		ret = 0;
	free(sealed);
	return ret;
}

/* POST /notifications/test: one notification through every transport. */
int
notify_test(struct req *r, struct fail *f)
{
	enum db_rc	 rc;

	if ((rc = db_notify_queue(r, "test", "", "{}")) != DB_OK)
		return acct_fail_db(f, rc);
	return 0;
}

/*
 * A personal message: its link sealed into the outbox row, to go by
 * mail once the transaction that made the link commits.
 */
enum db_rc
notify_personal(struct req *r, const char *trigger, const char *to,
    const char *details, const char *link)
{
	char		*sealed;
	enum db_rc	 rc;

	if ((sealed = vault_seal(link, strlen(link))) == NULL) {
		log_warnx("%s: no TOLLGATE_ENCRYPTION_KEY: the %s link to an "
		    "address cannot be queued", __func__, trigger);
		return DB_OK;
	}
	rc = db_notify_personal(r, trigger, to, details, sealed);
	free(sealed);
	return rc;
}

/* An invitation to "to", from the user or key making it. */
enum db_rc
notify_invitation(struct req *r, const char *to, const char *link)
{
	struct json_object	*d = json_object_new_object();
	enum db_rc		 rc;

	api_str(d, "inviter", r->auth.actor);
	rc = notify_personal(r, "member_invited", to,
	    json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN), link);
	json_object_put(d);
	return rc;
}

/* --- the words ----------------------------------------------------------- */

struct notify_text {
	const char	*subject;
	const char	*text;
	const char	*html;
};

static long long
notify_int(struct json_object *d, const char *k)
{
	return http_json_int(d, k, 0);
}

/* A quota threshold: the metric, how much of how much. */
static void
notify_words_quota(struct req *r, struct json_object *d, const char *metric,
    struct notify_text *w)
{
	char	 used[32], lim[32];
	long long th = notify_int(d, "threshold");

	fmt_count(used, sizeof(used), notify_int(d, "value"));
	fmt_count(lim, sizeof(lim), notify_int(d, "limit"));
	w->subject = th >= 120 ? arena_printf(&r->arena, "%s is 20 %% over "
	    "your plan", metric) : th >= 100 ? arena_printf(&r->arena,
	    "%s: your plan's quota is used up", metric) : arena_printf(
	    &r->arena, "%s at %lld %% of your plan", metric, th);
	w->text = arena_printf(&r->arena, "Your organization has used %s of "
	    "the %s %s its plan includes this period (%lld %%).\n\nSee the "
	    "Usage page: %s/usage\nUpgrade on the Billing page: %s/billing",
	    used, lim, metric, th, conf.public_url, conf.public_url);
}

static void
notify_words_budget(struct req *r, const struct notify_delivery *n,
    struct json_object *d, struct notify_text *w)
{
	struct agent	 a;
	char		 spent[32], budget[32];
	const char	*name = "an agent", *id = n->subject;

	if (strncmp(id, "agent:", 6) == 0 && valid_uuid(id + 6) &&
	    db_agent_get(r, id + 6, &a) == DB_OK)
		name = arena_printf(&r->arena, "\xe2\x80\x9c%s\xe2\x80\x9d",
		    a.name);
	fmt_usd_micros(spent, sizeof(spent), notify_int(d, "value"));
	fmt_usd_micros(budget, sizeof(budget), notify_int(d, "limit"));
	w->subject = strcmp(n->trigger, "budget_exceeded") == 0 ?
	    arena_printf(&r->arena, "Agent %s spent its budget", name) :
	    arena_printf(&r->arena, "Agent %s spent %lld %% of its budget",
	    name, notify_int(d, "threshold"));
	w->text = arena_printf(&r->arena, "Agent %s has spent %s of its %s "
	    "budget this period.\n\nSee the Agents page: %s/agents", name,
	    spent, budget, conf.public_url);
}

/* The subject and text of a delivery; link: a personal message's. */
static void
notify_words(struct req *r, const struct notify_delivery *n,
    const char *link, struct notify_text *w)
{
	struct json_object	*d = json_tokener_parse(n->details);
	char			 b[64];

	if (strncmp(n->trigger, "quota_", 6) == 0)
		notify_words_quota(r, d, n->subject, w);
	else if (strncmp(n->trigger, "budget_", 7) == 0)
		notify_words_budget(r, n, d, w);
	else if (strcmp(n->trigger, "payment_failed") == 0) {
		fmt_money(b, sizeof(b), notify_int(d, "amount_due"), "usd");
		w->subject = "A payment failed";
		w->text = arena_printf(&r->arena, "Stripe could not collect %s "
		    "for your Tollgate subscription. Update the card on the "
		    "Billing page before the grace period ends, or agents beyond "
		    "the free plan stop: %s/billing", b, conf.public_url);
	} else if (strcmp(n->trigger, "trial_will_end") == 0) {
		fmt_day(b, sizeof(b), notify_int(d, "trial_end"));
		w->subject = "Your trial ends in 3 days";
		w->text = arena_printf(&r->arena, "Your trial ends on %s. Add a "
		    "payment method on the Billing page to keep your plan: "
		    "%s/billing", b, conf.public_url);
	} else if (strcmp(n->trigger, "grace_ended") == 0) {
		w->subject = "Agents stopped: a payment is overdue";
		w->text = arena_printf(&r->arena, "The grace period for an "
		    "unpaid invoice ended. Agents beyond the free plan are "
		    "stopped until the invoice is paid: %s/billing",
		    conf.public_url);
	} else if (strcmp(n->trigger, "subscription_canceled") == 0) {
		w->subject = "Your subscription ended";
		w->text = arena_printf(&r->arena, "Your Tollgate subscription "
		    "ended; your organization is on the free plan now. Choose a "
		    "plan on the Billing page: %s/billing", conf.public_url);
	} else if (strcmp(n->trigger, "agents_deactivated") == 0) {
		fmt_plural(b, sizeof(b), notify_int(d, "count"), "agent",
		    "agents");
		w->subject = arena_printf(&r->arena, "%s deactivated", b);
		w->text = arena_printf(&r->arena, "%s beyond the free plan's "
		    "limit were deactivated (%s). They come back with a paid "
		    "plan: %s/agents", b, strcmp(n->subject,
		    "payment_overdue") == 0 ? "a payment is overdue" :
		    "the subscription ended", conf.public_url);
	} else if (strcmp(n->trigger, "llm_key_failing") == 0) {
		w->subject = arena_printf(&r->arena, "Your %s key was refused",
		    n->subject);
		w->text = arena_printf(&r->arena, "%s refused the %s key stored "
		    "for your organization (%s), so gateway calls to its models "
		    "fail. %s\n\nReplace the key on the Keys page: %s/keys",
		    n->subject, n->subject, http_json_text(d, "hint") != NULL ?
		    http_json_text(d, "hint") : "...", http_json_text(d,
		    "detail") != NULL ? http_json_text(d, "detail") : "",
		    conf.public_url);
	} else if (strcmp(n->trigger, "member_invited") == 0) {
		w->subject = "You are invited to Tollgate";
		w->text = arena_printf(&r->arena, "Hello,\n\n%s invited you to "
		    "join their organization on Tollgate. Open this link within "
		    "7 days to accept:\n\n%s\n\nIf you did not expect this, "
		    "ignore this message.", http_json_text(d, "inviter") !=
		    NULL ? http_json_text(d, "inviter") : "Someone", link);
	} else if (strcmp(n->trigger, "password_reset") == 0) {
		w->subject = "Reset your Tollgate password";
		w->text = arena_printf(&r->arena, "Hello,\n\nSomeone asked to "
		    "reset the password of the Tollgate account of this address."
		    " Open this link within an hour to choose a new one (it "
		    "works once):\n\n%s\n\nSetting a new password signs you out "
		    "everywhere. If you did not ask for this, ignore this "
		    "message: your password stays as it is.", link);
	} else {
		w->subject = "Test notification from Tollgate";
		w->text = arena_printf(&r->arena, "This is a test notification. "
		    "Notifications of your organization reach this address and "
		    "channel. Settings: %s/settings/notifications",
		    conf.public_url);
	}
	json_object_put(d);
}

/* The HTML alternative: the text, escaped, in paragraphs. */
static const char *
notify_html(struct req *r, const struct notify_text *w)
{
	struct buf	 b;
	const char	*p, *e, *out;

	buf_init(&b, 64 * 1024);
	buf_puts(&b, "<!DOCTYPE html><html><body style=\"font-family:"
	    "sans-serif\"><h1 style=\"font-size:18px\">");
	http_html_text(&b, w->subject);
	buf_puts(&b, "</h1>");
	for (p = w->text; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, "\n");
		if (e == p)
			continue;
		buf_puts(&b, "<p>");
		http_html_text(&b, arena_printf(&r->arena, "%.*s",
		    (int)(e - p), p));
		buf_puts(&b, "</p>");
	}
	buf_puts(&b, "</body></html>");
	out = b.toobig || b.p == NULL ? NULL : arena_strdup(&r->arena, b.p);
	buf_free(&b);
	return out;
}

/* --- delivery ------------------------------------------------------------ */

enum notify_outcome {
	NOTIFY_SENT,
	NOTIFY_RETRY,
	NOTIFY_FAILED
};

static int
notify_backoff_s(int attempts)
{
	long	 s = NOTIFY_BACKOFF_FIRST_S;

	while (--attempts > 0 && s < NOTIFY_BACKOFF_MAX_S)
		s *= 2;
	return (int)(s > NOTIFY_BACKOFF_MAX_S ? NOTIFY_BACKOFF_MAX_S : s);
}

/* By e-mail: to the named person, or to the tenant's recipients. */
static enum notify_outcome
notify_email(struct req *r, const struct notify_delivery *n,
    struct notify_text *w, char *why, size_t whysz)
{
	struct mail_msg	 m;
	PGresult	*res = NULL;
	size_t		 k = 0;
	int		 i;
	enum mail_rc	 mrc;

	memset(&m, 0, sizeof(m));
	if (n->recipient != NULL)
		m.to[k++] = n->recipient;
	else if (db_notify_recipients(r, &res) != DB_OK) {
		snprintf(why, whysz, "the recipients could not be read");
		return NOTIFY_RETRY;
	} else
		for (i = 0; i < db_nrows(res) && k < MAIL_RCPT_MAX; i++)
			m.to[k++] = db_get(res, i, 0);
	if (k == 0) {
		snprintf(why, whysz, "no recipient");
		return NOTIFY_FAILED;
	}
	m.subject = w->subject;
	m.text = w->text;
	m.html = w->html = notify_html(r, w);
	m.message_id = arena_printf(&r->arena, "<%s.email@tollgate>",
	    n->notification_id);
	m.date = time(NULL);
	mrc = mail_deliver(&m, why, whysz);
	if (mrc == MAIL_OFF) {
		snprintf(why, whysz, "SMTP_URL is not set");
		return NOTIFY_RETRY;
	}
	return mrc == MAIL_SENT ? NOTIFY_SENT : mrc == MAIL_TRANSIENT ?
	    NOTIFY_RETRY : NOTIFY_FAILED;
}

/* By Slack: the tenant's incoming webhook, opened only to be used. */
static enum notify_outcome
notify_slack(struct req *r, const struct notify_text *w, char *why,
    size_t whysz)
{
	struct notify_settings	 s;
	struct upstream_resp	 u;
	struct json_object	*o;
	char			*url = NULL;
	size_t			 n = 0;
	int			 rc;

	if (db_notify_settings(r, &s) != DB_OK) {
		snprintf(why, whysz, "the settings could not be read");
		return NOTIFY_RETRY;
	}
	if (s.webhook == NULL) {
		snprintf(why, whysz, "no Slack webhook any more");
		return NOTIFY_FAILED;
	}
	if (vault_unseal(s.webhook, &url, &n) == -1 ||
	    !notify_webhook_ok(url)) {
		vault_wipe(url, n);
		snprintf(why, whysz, "the stored webhook cannot be used");
		return NOTIFY_FAILED;
	}
	o = json_object_new_object();
	json_object_object_add(o, "text", json_object_new_string(arena_printf(
	    &r->arena, "*%s*\n%s", w->subject, w->text)));
	rc = upstream_call(r, "POST", url, NULL, "application/json",
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), &u);
	json_object_put(o);
	vault_wipe(url, n);
	if (rc == -1) {
		snprintf(why, whysz, "Slack could not be reached");
		return NOTIFY_RETRY;
	}
	if (u.status == 200)
		return NOTIFY_SENT;
	snprintf(why, whysz, "Slack answered %ld", u.status);
	return u.status == 429 || u.status >= 500 ? NOTIFY_RETRY :
	    NOTIFY_FAILED;
}

/* Send one locked delivery and record what happened. */
static enum db_rc
notify_deliver(struct req *r, const struct notify_delivery *n)
{
	struct notify_text	 w;
	enum notify_outcome	 o;
	char			*link = NULL, why[256];
	size_t			 len = 0;
	const char		*result;

	why[0] = '\0';
	memset(&w, 0, sizeof(w));
	if (n->secret != NULL && vault_unseal(n->secret, &link, &len) == -1) {
		o = NOTIFY_FAILED;
		snprintf(why, sizeof(why), "its sealed link cannot be opened");
	} else {
		notify_words(r, n, link != NULL ? link : "", &w);
		o = strcmp(n->transport, "slack") == 0 ? notify_slack(r, &w,
		    why, sizeof(why)) : notify_email(r, n, &w, why,
		    sizeof(why));
	}
	/* The words held the link: wipe them with it. */
	if (link != NULL && w.text != NULL)
		OPENSSL_cleanse((char *)(uintptr_t)w.text, strlen(w.text));
	if (link != NULL && w.html != NULL)
		OPENSSL_cleanse((char *)(uintptr_t)w.html, strlen(w.html));
	vault_wipe(link, len);
	if (o == NOTIFY_RETRY && n->attempts + 1 >= NOTIFY_ATTEMPTS)
		o = NOTIFY_FAILED;
	if (o == NOTIFY_SENT)
		why[0] = '\0';
	result = o == NOTIFY_SENT ? "sent" : o == NOTIFY_RETRY ? "retry" :
	    "failed";
	log_info("notification %s by %s: %s%s%s", n->notification_id,
	    n->transport, result, why[0] != '\0' ? ": " : "", why);
	return db_notify_record(r, n, result, why[0] != '\0' ? why : NULL,
	    o == NOTIFY_RETRY ? notify_backoff_s(n->attempts + 1) : 0);
}

/* A tenant's due deliveries, each in its own transaction. */
static enum db_rc
notify_send_tenant(struct req *r, const char *tenant, long long *n,
    int *budget)
{
	struct notify_delivery	 d;
	enum db_rc		 rc;

	snprintf(r->auth.tenant_id, sizeof(r->auth.tenant_id), "%s", tenant);
	while (*budget > 0) {
		if ((rc = db_begin(r, tenant)) != DB_OK)
			return rc;
		if ((rc = db_notify_next(r, &d)) == DB_NOTFOUND)
			return db_commit(r);
		if (rc != DB_OK || (rc = notify_deliver(r, &d)) != DB_OK ||
		    (rc = db_commit(r)) != DB_OK)
			return rc;
		(*budget)--;
		(*n)++;
	}
	return DB_OK;
}

/* The worker's job: due deliveries of every tenant. */
enum db_rc
notify_send(struct req *r, long long *n)
{
	PGresult	*res;
	enum db_rc	 rc;
	int		 i, budget = NOTIFY_SEND_MAX;

	if ((rc = db_notify_due(r, NOTIFY_TENANTS_MAX, &res)) != DB_OK)
		return rc;
	for (i = 0; i < db_nrows(res) && budget > 0; i++)
		if ((rc = notify_send_tenant(r, db_get(res, i, 0), n,
		    &budget)) != DB_OK)
			return rc;
	return DB_OK;
}
