/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Small helpers: allocation with one out-of-memory policy (log and
 * abort: a responder that cannot allocate is replaced by the master),
 * bounded number parsing, randomness and constant-time comparison.
 */
#include "config.h"

#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tollgate.h"

static void
util_oom(size_t n)
{
	log_err("out of memory allocating %zu bytes", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		util_oom(n);
	return p;
}

void *
xrealloc(void *old, size_t n)
{
	void	*p;

	if ((p = realloc(old, n == 0 ? 1 : n)) == NULL)
		util_oom(n);
	return p;
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		util_oom(strlen(s) + 1);
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*p;
	int	 rc;

	va_start(ap, fmt);
	rc = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (rc < 0)
		util_oom(strlen(fmt));
	return p;
}

/*
 * Parse a whole decimal integer within [min, max].  Leading blanks,
 * trailing garbage, an empty string and overflow all fail.
 */
int
util_strtonum(const char *s, long long min, long long max, long long *out)
{
	char		*end;
	long long	 v;

	if (s == NULL || *s == '\0' || *s == ' ' || *s == '\t' || *s == '+')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
util_random(void *p, size_t n)
{
	unsigned char	*c = p;
	ssize_t		 got;

	while (n > 0) {
		got = getrandom(c, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += got;
		n -= (size_t)got;
	}
	return 0;
}

/* Write 2n lowercase hex digits and a NUL into out. */
void
util_hex(const unsigned char *p, size_t n, char *out)
{
	static const char	 digits[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

/* Compare two secrets in time that depends only on n. */
int
util_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char	*x = a, *y = b;
	unsigned char			 d = 0;
	size_t				 i;

	for (i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

double
util_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/*
 * A write failed for want of room or permission (ENOSPC, EROFS, ...):
 * the storage's 503, not a bug.
 */
int
util_errno_full(int e)
{
	return e == ENOSPC || e == EDQUOT || e == EROFS || e == EACCES ||
	    e == EPERM || e == EFBIG;
}

/* fsync a directory, so that the names made in it survive a crash. */
int
util_fsync_dir(const char *dir)
{
	int	 fd, rc;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * mkdir(dir, 0700), its name made durable when it is new: a file
 * fsynced into a directory that a crash forgets is lost with it.  0
 * when the directory is there (new or not), -1 with errno.
 */
int
util_mkdir_durable(const char *dir)
{
	char	 parent[1024], *slash;
	int	 rc = -1, saved;

	if (mkdir(dir, 0700) == -1)
		return errno == EEXIST ? 0 : -1;
	if (strlen(dir) >= sizeof(parent)) {
		errno = ENAMETOOLONG;
		goto done;
	}
	memcpy(parent, dir, strlen(dir) + 1);
	if ((slash = strrchr(parent, '/')) == NULL)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == parent)
		slash[1] = '\0';
	else
		*slash = '\0';
	rc = util_fsync_dir(parent);
done:
	if (rc == -1) {
		/* Gone again, so that the next attempt syncs it. */
		saved = errno;
		(void)rmdir(dir);
		errno = saved;
	}
	return rc;
}
