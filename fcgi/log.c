/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Logging: one line per event on stderr (the service manager or the
 * stack script keeps the file), "time level [pid] rid=... message".
 * The request id of the request being answered is on every line it
 * causes.  Untrusted bytes go through log_scrub() before they get here.
 */
#include "config.h"

#include <sys/time.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tollgate.h"

static const char	*log_names[LOG_LVL__MAX] = {
	"error", "warn", "info", "debug"
};
static enum log_level	 log_max = LOG_LVL_INFO;
static char		 log_prog[32] = "tollgate";
static char		 log_rid[65];

int
log_level_parse(const char *s, enum log_level *out)
{
	int	 i;

	for (i = 0; i < LOG_LVL__MAX; i++)
		if (strcmp(s, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

void
log_init(const char *prog, enum log_level max)
{
	snprintf(log_prog, sizeof(log_prog), "%s", prog);
	log_max = max;
}

/* Set (or, with NULL, clear) the request id put on every line. */
void
log_set_rid(const char *rid)
{
	snprintf(log_rid, sizeof(log_rid), "%s", rid == NULL ? "" : rid);
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	char		 line[2048], ts[32];
	struct timeval	 tv;
	struct tm	 tm;
	va_list		 ap;
	int		 n, m;

	if (lvl > log_max)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ %s %s[%ld]%s%s ", ts,
	    (long)(tv.tv_usec / 1000), log_names[lvl], log_prog,
	    (long)getpid(), log_rid[0] != '\0' ? " rid=" : "", log_rid);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write(2) per line so responders' lines do not interleave. */
	if (write(STDERR_FILENO, line, (size_t)n) == -1)
		return;		/* nowhere left to report it */
}

/*
 * Copy untrusted text for a log line: printable ASCII is kept, anything
 * else becomes "\xNN", and the result is cut to fit "out".
 */
void
log_scrub(const char *in, char *out, size_t outsz)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 o = 0;
	unsigned char		 c;

	if (outsz == 0)
		return;
	for (; in != NULL && *in != '\0'; in++) {
		c = (unsigned char)*in;
		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
			if (o + 1 >= outsz)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 4 >= outsz)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		}
	}
	out[o] = '\0';
}
