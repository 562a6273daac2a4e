/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Integration: the serve master of SPEC 1 as an operator sees it.  The
 * stack's master and responders run as TOLLGATE_USER and its socket is
 * open to the web server's group only.  The rest runs on private
 * instances of `tollgate serve` started here, since the stack's master
 * must go on serving the other programs: SIGTERM lets a request in
 * flight finish and stops within 10 s (2 s when idle), a connection
 * made while the master stops is answered or refused but never taken
 * and dropped, and responders that keep dying are replaced after
 * growing delays with no fork storm.  FastCGI records are written
 * straight to the private sockets, as in it-resilience.
 *
 * This program makes itself a child subreaper, so that a responder
 * orphaned by a master that died is adopted here and can be found and
 * stopped.
 */
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <linux/sockios.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "it-util.h"

#define HEALTH		"/api/v1/health"
#define LOGIN		"/api/v1/auth/login"
#define PIDS_MAX	300
#define READY_MS	15000	/* a private instance up and forked */
#define STOP_GRACE_MS	10000	/* SPEC 1: in-flight requests get 10 s */
#define IDLE_STOP_MS	2000
#define RESPAWNS	8
#define RESPAWN_WAIT_MS	20000	/* longest wait for one replacement */
#define QUIET_MS	3000

#define ANSWER_MAX	(1024 * 1024)

/* A private `tollgate serve`, started and stopped by this program. */
struct inst {
	char	 name[32];
	char	 dir[256];		/* socket and pid file; removed */
	char	 sock[PATH_MAX];
	char	 pidfile[PATH_MAX];
	char	 log[PATH_MAX];		/* stderr; kept in the stack's log/ */
	pid_t	 master;		/* 0: none started */
	int	 reaped;		/* waited for; status below */
	int	 status;
	double	 started;
};

/* What came back on one FastCGI connection. */
struct answer {
	unsigned char	*raw;		/* every byte read */
	size_t		 rawlen;
	char		*out;		/* FCGI_STDOUT data, NUL-terminated */
	size_t		 outlen;
	size_t		 errlen;	/* FCGI_STDERR bytes */
	int		 ended;		/* FCGI_END_REQUEST seen */
	int		 proto_status;
	int		 eof;		/* the peer closed */
	int		 read_errno;	/* a failed read: ECONNRESET, ... */
	int		 timed_out;
};

static struct inst	 priv;		/* the current test's instance */
static int		 priv_nobilling; /* start it without Stripe's key */
static int		 priv_passed;	/* set last in each test */

static const char	 login_body[] =
    "{\"email\":\"nobody@example.com\",\"password\":\"wrong password 123\"}";

/* --- processes ----------------------------------------------------- */

/* The state letter of /proc/<pid>/stat, or 0 when there is none. */
static char
proc_state(pid_t pid)
{
	char	 path[64], buf[1024], *rp, state;
	FILE	*fp;
	size_t	 n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if ((rp = strrchr(buf, ')')) == NULL || sscanf(rp + 1, " %c",
	    &state) != 1)
		return 0;
	return state;
}

/*
 * Read the four ids (real, effective, saved, file system) of the
 * "Uid:" or "Gid:" line of /proc/<pid>/status, and whether the
 * "Groups:" line names group 0.  Returns 0 or -1.
 */
static int
proc_ids(pid_t pid, unsigned long uid[4], unsigned long gid[4],
    int *root_group)
{
	char		 path[64], *line = NULL, *p, *end;
	size_t		 cap = 0;
	unsigned long	 g;
	FILE		*fp;
	int		 got = 0;

	*root_group = 0;
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (getline(&line, &cap, fp) != -1) {
		if (sscanf(line, "Uid: %lu %lu %lu %lu", &uid[0], &uid[1],
		    &uid[2], &uid[3]) == 4)
			got |= 1;
		else if (sscanf(line, "Gid: %lu %lu %lu %lu", &gid[0],
		    &gid[1], &gid[2], &gid[3]) == 4)
			got |= 2;
		else if (strncmp(line, "Groups:", 7) == 0) {
			for (p = line + 7; ; p = end) {
				g = strtoul(p, &end, 10);
				if (end == p)
					break;
				if (g == 0)
					*root_group = 1;
			}
		}
	}
	free(line);
	fclose(fp);
	return got == 3 ? 0 : -1;
}

/*
 * The process runs as the user for good: real, effective, saved and
 * file-system uid and gid are the user's (a saved uid of 0 would let
 * it become root again), and root's group is not among its groups.
 */
static void
assert_runs_as(pid_t pid, const char *what, const struct passwd *pw)
{
	unsigned long	 uid[4], gid[4];
	int		 root_group, i;

	if (proc_ids(pid, uid, gid, &root_group) == -1)
		fail_msg("%s %ld: cannot read its Uid: and Gid: lines in "
		    "/proc", what, (long)pid);
	print_message("# %s %ld: Uid %lu %lu %lu %lu, Gid %lu %lu %lu %lu\n",
	    what, (long)pid, uid[0], uid[1], uid[2], uid[3], gid[0], gid[1],
	    gid[2], gid[3]);
	for (i = 0; i < 4; i++) {
		if (uid[i] != (unsigned long)pw->pw_uid)
			fail_msg("%s %ld: uid %lu in field %d of Uid:, want "
			    "%lu (%s)", what, (long)pid, uid[i], i + 1,
			    (unsigned long)pw->pw_uid, pw->pw_name);
		if (gid[i] != (unsigned long)pw->pw_gid)
			fail_msg("%s %ld: gid %lu in field %d of Gid:, want "
			    "%lu (%s's group)", what, (long)pid, gid[i], i + 1,
			    (unsigned long)pw->pw_gid, pw->pw_name);
	}
	if (root_group)
		fail_msg("%s %ld: still in group 0 (Groups:)", what, (long)pid);
}

/* --- private instances ---------------------------------------------- */

static void
print_log_tail(const struct inst *in, int lines)
{
	char	*line = NULL, **ring;
	size_t	 cap = 0, n = 0, i;
	FILE	*fp;

	if ((fp = fopen(in->log, "r")) == NULL)
		return;
	ring = it_alloc(sizeof(*ring) * (size_t)lines);
	memset(ring, 0, sizeof(*ring) * (size_t)lines);
	while (getline(&line, &cap, fp) != -1) {
		free(ring[n % (size_t)lines]);
		ring[n % (size_t)lines] = line;
		line = NULL;
		cap = 0;
		n++;
	}
	fclose(fp);
	free(line);
	print_message("# --- last lines of %s ---\n", in->log);
	for (i = n > (size_t)lines ? n - (size_t)lines : 0; i < n; i++)
		print_message("# %s", ring[i % (size_t)lines]);
	for (i = 0; i < (size_t)lines; i++)
		free(ring[i]);
	free(ring);
}

/* Has the master exited?  Reaps it (once) and keeps its status. */
static int
inst_exited(struct inst *in)
{
	pid_t	 pid;

	if (in->master <= 0 || in->reaped)
		return 1;
	pid = waitpid(in->master, &in->status, WNOHANG);
	if (pid == in->master || (pid == -1 && errno == ECHILD)) {
		in->reaped = 1;
		return 1;
	}
	return 0;
}

/* Wait until the master exits or "deadline" (it_now_ms()) passes. */
static int
inst_wait_exit(struct inst *in, double deadline)
{
	for (;;) {
		if (inst_exited(in))
			return 0;
		if (it_now_ms() >= deadline)
			return -1;
		it_sleep_ms(5);
	}
}

static void
inst_exec(const struct inst *in, int workers, int logfd)
{
	const char	*bin = getenv("TOLLGATE_BIN");
	char		 spec[PATH_MAX + 8], nworkers[16];
	int		 null;

	snprintf(spec, sizeof(spec), "unix:%s", in->sock);
	snprintf(nworkers, sizeof(nworkers), "%d", workers);
	if (bin == NULL || setenv("TOLLGATE_LISTEN", spec, 1) == -1 ||
	    setenv("TOLLGATE_PIDFILE", in->pidfile, 1) == -1 ||
	    setenv("TOLLGATE_WORKERS", nworkers, 1) == -1 ||
	    setenv("TOLLGATE_LOG_LEVEL", "debug", 1) == -1 ||
	    unsetenv("TOLLGATE_GATEWAY_LISTEN") == -1 ||
	    (priv_nobilling && unsetenv("STRIPE_SECRET_KEY") == -1))
		_exit(126);
	/* fd 0 must not look like an inherited listening socket. */
	if ((null = open("/dev/null", O_RDONLY)) == -1 ||
	    dup2(null, STDIN_FILENO) == -1 ||
	    dup2(logfd, STDOUT_FILENO) == -1 ||
	    dup2(logfd, STDERR_FILENO) == -1 || chdir("/") == -1)
		_exit(126);
	execl(bin, "tollgate", "serve", (char *)NULL);
	dprintf(STDERR_FILENO, "it-serve: exec %s: %s\n", bin,
	    strerror(errno));
	_exit(127);
}

/* The pid the pid file names, or -1. */
static pid_t
read_pidfile(const char *path)
{
	char	 line[64], *end;
	FILE	*fp;
	long	 pid;

	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(line, sizeof(line), fp) == NULL)
		line[0] = '\0';
	fclose(fp);
	pid = strtol(line, &end, 10);
	return end != line && (*end == '\n' || *end == '\0') ? (pid_t)pid :
	    -1;
}

/* Socket, pid file and "workers" responders, or fail the test. */
static void
inst_wait_ready(struct inst *in, int workers)
{
	struct stat	 st;
	pid_t		 pids[PIDS_MAX];
	double		 deadline = it_now_ms() + READY_MS;
	size_t		 n = 0;
	int		 sock = 0, pidfile = 0;

	for (;;) {
		if (inst_exited(in)) {
			print_log_tail(in, 30);
			fail_msg("%s: tollgate serve exited at start-up (wait "
			    "status 0x%x)", in->name, in->status);
		}
		sock = lstat(in->sock, &st) == 0 && S_ISSOCK(st.st_mode);
		pidfile = read_pidfile(in->pidfile) == in->master;
		n = it_responder_pids(in->master, pids, PIDS_MAX);
		if (sock && pidfile && n == (size_t)workers)
			break;
		if (it_now_ms() >= deadline) {
			print_log_tail(in, 30);
			fail_msg("%s: not ready within %d ms: socket %s, pid "
			    "file %s, %zu of %d responders", in->name,
			    READY_MS, sock ? "there" : "missing", pidfile ?
			    "right" : "missing or wrong", n, workers);
		}
		it_sleep_ms(20);
	}
	print_message("# %s: master %ld ready in %.0f ms on %s\n", in->name,
	    (long)in->master, it_now_ms() - in->started, in->sock);
}

/*
 * Start `$TOLLGATE_BIN serve` with the stack's environment but a socket,
 * a pid file, a log and a number of responders of its own.  The socket
 * directory belongs to TOLLGATE_USER, as systemd's RuntimeDirectory
 * would, so that the master can remove its socket and pid file after
 * dropping root.
 */
static void
inst_start(struct inst *in, const char *name, int workers)
{
	const char		*stack = it_env("STACK_DIR");
	const char		*user = it_env_or("TOLLGATE_USER", "www-data");
	struct sockaddr_un	 sun;
	struct passwd		*pw;
	int			 logfd;

	memset(in, 0, sizeof(*in));
	priv_passed = 0;
	snprintf(in->name, sizeof(in->name), "%s", name);
	if ((size_t)snprintf(in->dir, sizeof(in->dir), "%s/serve-%s.XXXXXX",
	    stack, name) >= sizeof(in->dir))
		fail_msg("STACK_DIR too long: %s", stack);
	if (mkdtemp(in->dir) == NULL) {
		in->dir[0] = '\0';
		fail_msg("mkdtemp in %s: %s", stack, strerror(errno));
	}
	if (geteuid() == 0) {
		if ((pw = getpwnam(user)) == NULL)
			fail_msg("TOLLGATE_USER %s: no such user", user);
		if (chown(in->dir, pw->pw_uid, pw->pw_gid) == -1 ||
		    chmod(in->dir, 0750) == -1)
			fail_msg("chown %s: %s", in->dir, strerror(errno));
	}
	snprintf(in->sock, sizeof(in->sock), "%s/tollgate.sock", in->dir);
	snprintf(in->pidfile, sizeof(in->pidfile), "%s/tollgate.pid",
	    in->dir);
	snprintf(in->log, sizeof(in->log), "%s/log/it-serve-%s.log", stack,
	    name);
	if (strlen(in->sock) >= sizeof(sun.sun_path))
		fail_msg("socket path too long for a unix socket: %s",
		    in->sock);
	if ((logfd = open(in->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND |
	    O_CLOEXEC, 0644)) == -1)
		fail_msg("open %s: %s", in->log, strerror(errno));
	fflush(stdout);
	fflush(stderr);
	in->started = it_now_ms();
	if ((in->master = fork()) == -1) {
		close(logfd);
		in->master = 0;
		fail_msg("fork: %s", strerror(errno));
	}
	if (in->master == 0)
		inst_exec(in, workers, logfd);
	close(logfd);
	print_message("# %s: started %s serve, %d responders, log %s\n",
	    name, it_env("TOLLGATE_BIN"), workers, in->log);
	inst_wait_ready(in, workers);
}

/* SIGKILL and reap every child of ours: orphaned responders. */
static void
reap_orphans(void)
{
	pid_t	 pids[PIDS_MAX];
	size_t	 n, i;
	double	 deadline;

	n = it_responder_pids(getpid(), pids, PIDS_MAX);
	for (i = 0; i < n && i < PIDS_MAX; i++) {
		print_error("process %ld was left behind: killing it\n",
		    (long)pids[i]);
		kill(pids[i], SIGKILL);
	}
	deadline = it_now_ms() + 5000;
	do {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (it_responder_pids(getpid(), pids, PIDS_MAX) == 0)
			return;
		it_sleep_ms(10);
	} while (it_now_ms() < deadline);
	print_error("children of this program survive SIGKILL\n");
}

/*
 * Teardown: SIGTERM (after SIGCONT, in case a test left it stopped),
 * SIGKILL to the master and its responders after 12 s, then the files.
 */
static int
inst_stop(void **state)
{
	struct inst	*in = &priv;
	pid_t		 kids[PIDS_MAX];
	size_t		 n = 0, i;

	(void)state;
	if (in->master > 0 && !priv_passed)
		print_log_tail(in, 25);
	if (in->master > 0 && !inst_exited(in)) {
		n = it_responder_pids(in->master, kids, PIDS_MAX);
		kill(in->master, SIGCONT);
		kill(in->master, SIGTERM);
		if (inst_wait_exit(in, it_now_ms() + STOP_GRACE_MS + 2000) ==
		    -1) {
			print_error("%s: master %ld still running 12 s after "
			    "SIGTERM: killing it\n", in->name,
			    (long)in->master);
			kill(in->master, SIGKILL);
			for (i = 0; i < n && i < PIDS_MAX; i++)
				kill(kids[i], SIGKILL);
			(void)inst_wait_exit(in, it_now_ms() + 5000);
		}
	}
	reap_orphans();
	if (in->dir[0] != '\0') {
		unlink(in->sock);
		unlink(in->pidfile);
		if (rmdir(in->dir) == -1)
			print_error("rmdir %s: %s\n", in->dir, strerror(errno));
	}
	memset(in, 0, sizeof(*in));
	priv_passed = 0;
	return 0;
}

/*
 * No sanitizer report in the instance's log (integration.sh looks only
 * at the stack's logs).  Reports written at exit are in by now.
 */
static void
assert_log_clean(const struct inst *in)
{
	char	*line = NULL;
	size_t	 cap = 0;
	FILE	*fp;
	int	 found = 0;

	if ((fp = fopen(in->log, "r")) == NULL)
		fail_msg("%s: %s", in->log, strerror(errno));
	while (!found && getline(&line, &cap, fp) != -1)
		if (strstr(line, "ERROR: AddressSanitizer") != NULL ||
		    strstr(line, "ERROR: LeakSanitizer") != NULL ||
		    strstr(line, "runtime error:") != NULL) {
			print_error("%s: %s", in->log, line);
			found = 1;
		}
	free(line);
	fclose(fp);
	if (found)
		fail_msg("%s: sanitizer report in %s", in->name, in->log);
}

/*
 * The master exited with status 0; its socket and pid file are gone,
 * and so are its responders.
 */
static void
assert_clean_exit(const struct inst *in, const pid_t *kids, size_t nkids)
{
	pid_t	 left[PIDS_MAX];
	size_t	 i, n;

	if (!WIFEXITED(in->status) || WEXITSTATUS(in->status) != 0)
		fail_msg("%s: the master ended with wait status 0x%x, want "
		    "exit status 0", in->name, in->status);
	if (access(in->sock, F_OK) == 0 || errno != ENOENT)
		fail_msg("%s: the socket %s is still there after the master "
		    "exited", in->name, in->sock);
	if (access(in->pidfile, F_OK) == 0 || errno != ENOENT)
		fail_msg("%s: the pid file %s is still there after the master "
		    "exited", in->name, in->pidfile);
	for (i = 0; i < nkids; i++)
		if (it_pid_alive(kids[i]))
			fail_msg("%s: responder %ld outlived its master",
			    in->name, (long)kids[i]);
	/* Orphans would have been adopted by this process. */
	if ((n = it_responder_pids(getpid(), left, PIDS_MAX)) > 0) {
		it_print_pids("left behind", left, n < PIDS_MAX ? n : PIDS_MAX);
		fail_msg("%s: %zu processes left behind by the master",
		    in->name, n);
	}
	assert_log_clean(in);
}

/* --- FastCGI -------------------------------------------------------- */

/*
 * One PARAMS record with a request's CGI variables, then the empty
 * PARAMS record that ends them.  "kv" is name, value, ..., NULL.
 */
static void
put_params(struct it_fcgi *p, const char *const *kv)
{
	struct it_fcgi	 pairs;

	memset(&pairs, 0, sizeof(pairs));
	for (; kv[0] != NULL; kv += 2) {
		it_fcgi_len(&pairs, strlen(kv[0]));
		it_fcgi_len(&pairs, strlen(kv[1]));
		it_fcgi_put(&pairs, kv[0], strlen(kv[0]));
		it_fcgi_put(&pairs, kv[1], strlen(kv[1]));
	}
	it_fcgi_header(p, FCGI_PARAMS, pairs.len);
	it_fcgi_put(p, pairs.b, pairs.len);
	it_fcgi_header(p, FCGI_PARAMS, 0);
}

/* One STDIN record; an empty one ends the body. */
static void
put_stdin(struct it_fcgi *p, const void *data, size_t n)
{
	it_fcgi_header(p, FCGI_STDIN, n);
	it_fcgi_put(p, data, n);
}

/* The head of a request as a web server sends it, up to the body. */
static void
put_request_head(struct it_fcgi *p, const char *method, const char *uri,
    const char *ctype, size_t body_len)
{
	char		 clen[32];
	const char	*kv[] = {
		"GATEWAY_INTERFACE", "CGI/1.1",
		"SERVER_PROTOCOL", "HTTP/1.1",
		"SERVER_SOFTWARE", "it-serve",
		"SERVER_NAME", "127.0.0.1",
		"SERVER_ADDR", "127.0.0.1",
		"SERVER_PORT", "80",
		"REQUEST_SCHEME", "http",
		"REQUEST_METHOD", method,
		"REQUEST_URI", uri,
		"SCRIPT_NAME", uri,
		"QUERY_STRING", "",
		"CONTENT_TYPE", ctype != NULL ? ctype : "",
		"CONTENT_LENGTH", clen,
		"REMOTE_ADDR", "127.0.0.77",
		"REMOTE_PORT", "40077",
		"HTTP_HOST", "127.0.0.1",
		"HTTP_USER_AGENT", "it-serve",
		NULL
	};

	snprintf(clen, sizeof(clen), "%zu", body_len);
	it_fcgi_begin(p, FCGI_RESPONDER);
	put_params(p, kv);
}

/* Send all of it; -1 with errno when the peer is gone. */
static int
send_all(int fd, const struct it_fcgi *p)
{
	size_t	 off;
	ssize_t	 n;

	for (off = 0; off < p->len; off += (size_t)n)
		if ((n = send(fd, p->b + off, p->len - off, MSG_NOSIGNAL)) ==
		    -1) {
			if (errno == EINTR) {
				n = 0;
				continue;
			}
			return -1;
		}
	return 0;
}

/*
 * Wait until the peer has read every byte we sent on a unix stream
 * socket (SIOCOUTQ counts what sits unread in its receive queue): a
 * responder has then accepted the connection and taken it all in.
 */
static int
wait_all_read(int fd, double ms)
{
	double	 deadline = it_now_ms() + ms;
	int	 queued = -1;

	for (;;) {
		if (ioctl(fd, SIOCOUTQ, &queued) == -1)
			fail_msg("ioctl SIOCOUTQ: %s", strerror(errno));
		if (queued == 0)
			return 0;
		if (it_now_ms() >= deadline) {
			print_error("%d bytes still unread after %.0f ms\n",
			    queued, ms);
			return -1;
		}
		it_sleep_ms(2);
	}
}

static void
answer_free(struct answer *a)
{
	free(a->raw);
	free(a->out);
	memset(a, 0, sizeof(*a));
}

/* Take the complete records at the start of a->raw into the answer. */
static void
answer_parse(struct answer *a)
{
	const unsigned char	*h;
	size_t			 off = 0, clen, rlen;

	a->outlen = 0;
	a->errlen = 0;
	a->ended = 0;
	while (a->rawlen - off >= FCGI_HEADER_LEN) {
		h = a->raw + off;
		clen = (size_t)h[4] << 8 | h[5];
		rlen = FCGI_HEADER_LEN + clen + h[6];
		if (a->rawlen - off < rlen)
			break;
		if (h[1] == FCGI_STDOUT) {
			memcpy(a->out + a->outlen, h + FCGI_HEADER_LEN, clen);
			a->outlen += clen;
		} else if (h[1] == FCGI_STDERR)
			a->errlen += clen;
		else if (h[1] == FCGI_END_REQUEST && clen >= 8) {
			a->ended = 1;
			a->proto_status = h[FCGI_HEADER_LEN + 4];
		}
		off += rlen;
	}
	a->out[a->outlen] = '\0';
}

/*
 * Read records until FCGI_END_REQUEST, the end of the connection or
 * "deadline" (it_now_ms()).  The answer is owned: answer_free().
 */
static void
read_answer(int fd, double deadline, struct answer *a)
{
	struct pollfd	 pfd;
	ssize_t		 n;
	int		 rc;

	memset(a, 0, sizeof(*a));
	a->raw = it_alloc(ANSWER_MAX);
	a->out = it_alloc(ANSWER_MAX + 1);
	a->out[0] = '\0';
	while (!a->ended && a->rawlen < ANSWER_MAX) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (it_now_ms() >= deadline)
			rc = 0;
		else
			rc = poll(&pfd, 1, (int)(deadline - it_now_ms()) + 1);
		if (rc == -1 && errno == EINTR)
			continue;
		if (rc <= 0) {
			a->timed_out = 1;
			break;
		}
		n = read(fd, a->raw + a->rawlen, ANSWER_MAX - a->rawlen);
		if (n == 0) {
			a->eof = 1;
			break;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			a->read_errno = errno;
			break;
		}
		a->rawlen += (size_t)n;
		answer_parse(a);
	}
}

/* One line for the log of the test. */
static void
print_answer(const char *what, const struct answer *a)
{
	size_t	 eol = strcspn(a->out, "\r\n");

	print_message("# %s: %zu bytes, stdout \"%.*s\"%s, end request %s, "
	    "%s\n", what, a->rawlen, (int)(eol > 80 ? 80 : eol), a->out,
	    a->outlen > eol ? " ..." : "", a->ended ? "yes" : "no",
	    a->timed_out ? "timed out" : a->read_errno != 0 ?
	    strerror(a->read_errno) : a->eof ? "then closed" : "complete");
}

/* The response head holds "Status: <code> ...". */
static int
answer_has_status(const struct answer *a, int code)
{
	char		 want[32];
	const char	*line;
	size_t		 n;

	n = (size_t)snprintf(want, sizeof(want), "Status: %d ", code);
	for (line = a->out; line != NULL && *line != '\0'; ) {
		if (strncmp(line, want, n) == 0)
			return 1;
		if (*line == '\r' || *line == '\n')
			break;	/* the end of the head */
		if ((line = strchr(line, '\n')) != NULL)
			line++;
	}
	return 0;
}

/* A whole answer: some output and END_REQUEST, request complete. */
static int
answer_complete(const struct answer *a)
{
	return a->ended && a->proto_status == FCGI_REQUEST_COMPLETE &&
	    strncmp(a->out, "Status: ", 8) == 0;
}

/* --- 1. privileges --------------------------------------------------- */

static void
test_privileges(void **state)
{
	const char	*user = it_env_or("TOLLGATE_USER", "www-data");
	const char	*group = it_env_or("TOLLGATE_SOCKET_GROUP", "www-data");
	const char	*sock = it_env("TOLLGATE_SOCKET");
	struct passwd	*pw;
	struct group	*gr;
	struct stat	 st;
	pid_t		 master, pids[PIDS_MAX];
	size_t		 n = PIDS_MAX, i;

	(void)state;
	if (geteuid() != 0) {
		print_message("# not root: the stack was not started as root, "
		    "so there was no privilege to drop\n");
		skip();
	}
	if ((pw = getpwnam(user)) == NULL)
		fail_msg("TOLLGATE_USER %s: no such user", user);
	if ((gr = getgrnam(group)) == NULL)
		fail_msg("TOLLGATE_SOCKET_GROUP %s: no such group", group);
	master = it_master_pid();
	if (!it_pid_alive(master))
		fail_msg("the master %ld named by the pid file is not running",
		    (long)master);
	assert_runs_as(master, "master", pw);
	if (it_wait_responders(master, it_workers(), NULL, 0, 15.0, pids,
	    &n) == -1)
		fail_msg("the stack's master does not have its %d responders",
		    it_workers());
	for (i = 0; i < n; i++)
		assert_runs_as(pids[i], "responder", pw);

	if (lstat(sock, &st) == -1)
		fail_msg("%s: %s", sock, strerror(errno));
	print_message("# %s: mode %04o, owner %lu, group %lu\n", sock,
	    (unsigned)(st.st_mode & 07777), (unsigned long)st.st_uid,
	    (unsigned long)st.st_gid);
	if (!S_ISSOCK(st.st_mode))
		fail_msg("%s is not a socket", sock);
	if ((st.st_mode & 07777) != 0660)
		fail_msg("%s has mode %04o, want 0660", sock,
		    (unsigned)(st.st_mode & 07777));
	if (st.st_gid != gr->gr_gid)
		fail_msg("%s has group %lu, want %lu (%s)", sock,
		    (unsigned long)st.st_gid, (unsigned long)gr->gr_gid, group);
	priv_passed = 1;
}

/* --- 2. SIGTERM ------------------------------------------------------ */

/*
 * Connect and send a login request but for the second half of its
 * body; return once a responder has read all of that and so waits for
 * the rest, inside the request, with SIGTERM blocked.
 */
static int
hold_login(const char *sock)
{
	struct it_fcgi	 p;
	size_t		 len = sizeof(login_body) - 1;
	int		 fd;

	if ((fd = it_unix_connect(sock)) == -1)
		fail_msg("cannot connect to %s", sock);
	memset(&p, 0, sizeof(p));
	put_request_head(&p, "POST", LOGIN, "application/json", len);
	put_stdin(&p, login_body, len / 2);
	if (send_all(fd, &p) == -1)
		fail_msg("send: %s", strerror(errno));
	if (wait_all_read(fd, 5000) == -1)
		fail_msg("no responder read the request within 5 s");
	print_message("# POST %s: head and %zu of %zu body bytes read by a "
	    "responder\n", LOGIN, len / 2, len);
	return fd;
}

/* Send the rest of the body; the whole 401 answer must come back. */
static void
finish_login(int fd, double deadline)
{
	struct answer	 a;
	struct it_fcgi	 p;
	size_t		 len = sizeof(login_body) - 1;

	memset(&p, 0, sizeof(p));
	put_stdin(&p, login_body + len / 2, len - len / 2);
	put_stdin(&p, NULL, 0);
	if (send_all(fd, &p) == -1)
		fail_msg("the responder hung up on the request in flight: "
		    "send: %s", strerror(errno));
	read_answer(fd, deadline, &a);
	close(fd);
	print_answer("login answer", &a);
	if (!answer_complete(&a) || !answer_has_status(&a, 401)) {
		answer_free(&a);
		fail_msg("the request in flight at SIGTERM did not get its "
		    "whole 401 answer");
	}
	answer_free(&a);
}

static void
test_sigterm_in_flight(void **state)
{
	struct inst	*in = &priv;
	pid_t		 kids[PIDS_MAX], now[PIDS_MAX];
	size_t		 nkids, nnow;
	double		 t_term;
	int		 fd;

	(void)state;
	inst_start(in, "inflight", 2);
	nkids = it_responder_pids(in->master, kids, PIDS_MAX);
	it_print_pids("responders", kids, nkids);
	fd = hold_login(in->sock);

	t_term = it_now_ms();
	assert_int_equal(kill(in->master, SIGTERM), 0);
	it_sleep_ms(1000);
	if (inst_exited(in))
		fail_msg("the master exited %.0f ms after SIGTERM with a "
		    "request in flight (wait status 0x%x)",
		    it_now_ms() - t_term, in->status);
	nnow = it_responder_pids(in->master, now, PIDS_MAX);
	it_print_pids("1 s after SIGTERM, master alive, responders", now, nnow);

	finish_login(fd, t_term + STOP_GRACE_MS);
	if (inst_wait_exit(in, t_term + STOP_GRACE_MS) == -1)
		fail_msg("the master still runs %d ms after SIGTERM",
		    STOP_GRACE_MS);
	print_message("# master exited %.0f ms after SIGTERM\n",
	    it_now_ms() - t_term);
	assert_clean_exit(in, kids, nkids);
	priv_passed = 1;
}

static void
test_sigterm_idle(void **state)
{
	struct inst	*in = &priv;
	pid_t		 kids[PIDS_MAX];
	size_t		 nkids;
	double		 t_term;

	(void)state;
	inst_start(in, "idle", 2);
	nkids = it_responder_pids(in->master, kids, PIDS_MAX);
	t_term = it_now_ms();
	assert_int_equal(kill(in->master, SIGTERM), 0);
	if (inst_wait_exit(in, t_term + IDLE_STOP_MS) == -1)
		fail_msg("idle, the master still runs %d ms after SIGTERM",
		    IDLE_STOP_MS);
	print_message("# idle: master exited %.0f ms after SIGTERM\n",
	    it_now_ms() - t_term);
	assert_clean_exit(in, kids, nkids);
	priv_passed = 1;
}

/* --- 3. a connection made while the master stops ----------------------- */

/*
 * Wait until only "left" of "kids" still run (exited ones may not be
 * reaped yet), polling every millisecond for 2 s.
 */
static int
wait_kids_left(const pid_t *kids, size_t n, size_t left)
{
	double	 deadline = it_now_ms() + 2000;
	size_t	 i, alive;

	for (;;) {
		for (i = 0, alive = 0; i < n; i++)
			if (it_pid_alive(kids[i]))
				alive++;
		if (alive <= left)
			return 0;
		if (it_now_ms() >= deadline)
			return -1;
		it_sleep_ms(1);
	}
}

/* SIGSTOP the master; 1 once it is stopped, 0 if it exited first. */
static int
freeze_master(struct inst *in)
{
	double	 deadline = it_now_ms() + 2000;
	char	 st;

	if (inst_exited(in) || kill(in->master, SIGSTOP) == -1)
		return 0;
	for (;;) {
		st = proc_state(in->master);
		if (st == 'T' || st == 't')
			return 1;
		if (st == 0 || st == 'Z' || st == 'X')
			return 0;
		if (it_now_ms() >= deadline)
			fail_msg("master %ld: not stopped 2 s after SIGSTOP "
			    "(state %c)", (long)in->master, st);
		it_sleep_ms(1);
	}
}

/*
 * Connect and send a whole GET of the health route.  Returns the
 * connection, or -1 when it was refused (ECONNREFUSED: nobody listens;
 * ENOENT: the socket file is gone), the two right answers of a server
 * that stops.
 */
static int
connect_and_ask(const char *sock)
{
	struct sockaddr_un	 sun;
	struct it_fcgi		 p;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, sock, strlen(sock) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fail_msg("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		print_message("# new connection: %s\n", strerror(errno));
		if (errno != ECONNREFUSED && errno != ENOENT)
			fail_msg("connect %s: %s, want ECONNREFUSED or ENOENT",
			    sock, strerror(errno));
		close(fd);
		return -1;
	}
	memset(&p, 0, sizeof(p));
	put_request_head(&p, "GET", HEALTH, NULL, 0);
	put_stdin(&p, NULL, 0);
	if (send_all(fd, &p) == -1)
		print_message("# new connection: send: %s\n", strerror(errno));
	else
		print_message("# new connection: accepted; GET %s sent whole "
		    "(%zu bytes)\n", HEALTH, p.len);
	return fd;
}

/* The connection made after SIGTERM gets a whole answer. */
static void
assert_answered(int fd, double deadline)
{
	struct answer	 a;
	char		 how[64];
	size_t		 got;

	read_answer(fd, deadline, &a);
	close(fd);
	print_answer("new connection's answer", &a);
	if (!answer_complete(&a)) {
		snprintf(how, sizeof(how), "%s", a.timed_out ? "left hanging" :
		    a.read_errno != 0 ? strerror(a.read_errno) : "closed");
		got = a.rawlen;
		answer_free(&a);
		fail_msg("a connection accepted after SIGTERM, with a whole "
		    "request sent, got %zu bytes and was %s: taken into the "
		    "listening socket's queue and dropped", got, how);
	}
	answer_free(&a);
}

/*
 * After SIGTERM to an idle instance its responders stop at once, while
 * the master lives on a little to reap them.  A connection made in that
 * window must be refused, or answered; one the kernel queues on a
 * listening socket nobody will accept from again is dropped unanswered.
 * To make the window certain rather than a matter of timing, the master
 * is frozen with SIGSTOP the moment its responders are gone (a busy
 * machine can deschedule it as long), the connection is made and a
 * whole request sent, and the master is let go with SIGCONT.
 */
static void
test_connect_while_stopping(void **state)
{
	struct inst	*in = &priv;
	pid_t		 kids[PIDS_MAX];
	size_t		 nkids;
	int		 fd, frozen;
	double		 t_term;

	(void)state;
	inst_start(in, "stopping", 2);
	nkids = it_responder_pids(in->master, kids, PIDS_MAX);
	t_term = it_now_ms();
	assert_int_equal(kill(in->master, SIGTERM), 0);
	if (wait_kids_left(kids, nkids, 0) == -1)
		fail_msg("the responders of an idle master still run 2 s "
		    "after SIGTERM");
	frozen = freeze_master(in);
	print_message("# responders gone %.1f ms after SIGTERM; master %s; "
	    "socket file %s\n", it_now_ms() - t_term, frozen ? "frozen" :
	    "already exited", access(in->sock, F_OK) == 0 ? "present" :
	    "absent");
	fd = connect_and_ask(in->sock);
	if (frozen)
		kill(in->master, SIGCONT);
	if (fd != -1)
		assert_answered(fd, it_now_ms() + STOP_GRACE_MS + 2000);
	if (inst_wait_exit(in, it_now_ms() + STOP_GRACE_MS) == -1)
		fail_msg("the master still runs %d ms after SIGCONT",
		    STOP_GRACE_MS);
	assert_clean_exit(in, kids, nkids);
	priv_passed = 1;
}

/*
 * The same while a request is in flight: the master waits for it, the
 * idle responder has stopped, and a new connection comes in.  It must
 * be refused or answered, before the master exits.
 */
static void
test_connect_while_draining(void **state)
{
	struct inst	*in = &priv;
	pid_t		 kids[PIDS_MAX];
	size_t		 nkids;
	double		 t_term;
	int		 held, fd;

	(void)state;
	inst_start(in, "draining", 2);
	nkids = it_responder_pids(in->master, kids, PIDS_MAX);
	held = hold_login(in->sock);
	t_term = it_now_ms();
	assert_int_equal(kill(in->master, SIGTERM), 0);
	if (wait_kids_left(kids, nkids, 1) == -1)
		fail_msg("the idle responder still runs 2 s after SIGTERM");
	fd = connect_and_ask(in->sock);
	finish_login(held, t_term + STOP_GRACE_MS);
	if (fd != -1)
		assert_answered(fd, t_term + STOP_GRACE_MS + 2000);
	if (inst_wait_exit(in, t_term + STOP_GRACE_MS) == -1)
		fail_msg("the master still runs %d ms after SIGTERM",
		    STOP_GRACE_MS);
	assert_clean_exit(in, kids, nkids);
	priv_passed = 1;
}

/* --- 4. respawn with backoff ---------------------------------------- */

/*
 * Poll the master's live responders every 5 ms until one appears that
 * is not in seen[]; every new one is added to seen[].  Also keeps the
 * most live responders seen at once.  Returns the first new one, or -1
 * at "deadline".
 */
static pid_t
wait_new_responder(pid_t master, pid_t *seen, size_t *nseen, size_t max,
    double deadline, size_t *most)
{
	pid_t	 pids[PIDS_MAX], found = -1;
	size_t	 n, i;

	for (;;) {
		n = it_responder_pids(master, pids, PIDS_MAX);
		if (n > *most)
			*most = n;
		for (i = 0; i < n && i < PIDS_MAX; i++)
			if (!it_pid_in(pids[i], seen, *nseen) && *nseen < max) {
				seen[(*nseen)++] = pids[i];
				if (found == -1)
					found = pids[i];
			}
		if (found != -1 || it_now_ms() >= deadline)
			return found;
		it_sleep_ms(5);
	}
}

/* Lines "responder <pid> started" of the master in the log. */
static size_t
count_spawn_lines(const char *path)
{
	char	*line = NULL, *p, *end;
	size_t	 cap = 0, n = 0;
	FILE	*fp;

	if ((fp = fopen(path, "r")) == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	while (getline(&line, &cap, fp) != -1) {
		if ((p = strstr(line, "responder ")) == NULL)
			continue;
		p += strlen("responder ");
		if (strtol(p, &end, 10) > 0 && strncmp(end, " started", 8) ==
		    0)
			n++;
	}
	free(line);
	fclose(fp);
	return n;
}

static void
test_respawn_backoff(void **state)
{
	struct inst	*in = &priv;
	struct answer	 a;
	struct it_fcgi	 p;
	pid_t		 seen[32], cur, prev, pids[PIDS_MAX];
	size_t		 nseen = 0, most = 0, n, spawned;
	double		 killed, delay[RESPAWNS], t_term;
	int		 i, fd;

	(void)state;
	inst_start(in, "respawn", 1);
	cur = wait_new_responder(in->master, seen, &nseen, 32, it_now_ms(),
	    &most);
	assert_true(cur > 0);
	for (i = 0; i < RESPAWNS; i++) {
		if (kill(cur, SIGKILL) == -1)
			fail_msg("kill %ld: %s", (long)cur, strerror(errno));
		killed = it_now_ms();
		prev = cur;
		cur = wait_new_responder(in->master, seen, &nseen, 32,
		    killed + RESPAWN_WAIT_MS, &most);
		if (cur == -1)
			fail_msg("kill %d: no new responder within %d ms%s",
			    i + 1, RESPAWN_WAIT_MS, inst_exited(in) ?
			    " (the master is gone)" : "");
		delay[i] = it_now_ms() - killed;
		print_message("# kill %d: responder %ld replaced by %ld after "
		    "%.0f ms\n", i + 1, (long)prev, (long)cur, delay[i]);
	}

	/*
	 * Growing delays from the 4th on (before, the master's 100 ms
	 * wake-ups are as large as the steps); the first one short, the
	 * last at least 1 s.
	 */
	if (delay[0] > 1000)
		fail_msg("the first replacement took %.0f ms, over 1 s",
		    delay[0]);
	for (i = 3; i < RESPAWNS; i++)
		if (delay[i] <= delay[i - 1])
			fail_msg("respawn %d came after %.0f ms, respawn %d "
			    "after %.0f ms: the delays do not grow", i + 1,
			    delay[i], i, delay[i - 1]);
	if (delay[RESPAWNS - 1] < 1000)
		fail_msg("respawn %d came after %.0f ms, want at least 1 s",
		    RESPAWNS, delay[RESPAWNS - 1]);

	/* No fork storm: 1 + 8 forks, never two responders at once. */
	spawned = count_spawn_lines(in->log);
	print_message("# %zu responders seen, at most %zu at once; the log "
	    "has %zu \"responder N started\" lines\n", nseen, most, spawned);
	assert_int_equal(nseen, 1 + RESPAWNS);
	assert_int_equal(most, 1);
	if (spawned != 1 + RESPAWNS)
		fail_msg("the master logged %zu responder starts, want %d",
		    spawned, 1 + RESPAWNS);

	/* Left alone, the last one stays and answers. */
	it_sleep_ms(QUIET_MS);
	n = it_responder_pids(in->master, pids, PIDS_MAX);
	it_print_pids("responders after 3 s alone", pids, n);
	if (n != 1 || pids[0] != cur)
		fail_msg("after 3 s alone: %zu responders, want only %ld", n,
		    (long)cur);
	if ((fd = it_unix_connect(in->sock)) == -1)
		fail_msg("cannot connect to %s", in->sock);
	memset(&p, 0, sizeof(p));
	put_request_head(&p, "GET", HEALTH, NULL, 0);
	put_stdin(&p, NULL, 0);
	if (send_all(fd, &p) == -1)
		fail_msg("send: %s", strerror(errno));
	read_answer(fd, it_now_ms() + 10000, &a);
	close(fd);
	print_answer("GET health", &a);
	if (!answer_complete(&a)) {
		answer_free(&a);
		fail_msg("the last responder did not answer");
	}
	answer_free(&a);
	if (!it_pid_alive(cur))
		fail_msg("responder %ld died while answering", (long)cur);
	/* And nothing was forked behind our back meanwhile. */
	assert_int_equal(count_spawn_lines(in->log), 1 + RESPAWNS);

	t_term = it_now_ms();
	assert_int_equal(kill(in->master, SIGTERM), 0);
	if (inst_wait_exit(in, t_term + STOP_GRACE_MS) == -1)
		fail_msg("the master still runs %d ms after SIGTERM",
		    STOP_GRACE_MS);
	assert_clean_exit(in, &cur, 1);
	priv_passed = 1;
}

/* --- 6. billing not configured ----------------------------------------- */

/*
 * Without STRIPE_SECRET_KEY billing is off: its routes answer 503
 * billing_not_configured (the webhook too, signed or not), and the
 * rest works (health).
 */
static void
test_billing_not_configured(void **state)
{
	struct it_fcgi	 p;
	struct answer	 a;
	const char	*body = "{}";
	int		 fd;

	(void)state;
	priv_nobilling = 1;
	inst_start(&priv, "nobilling", 1);
	priv_nobilling = 0;
	if ((fd = it_unix_connect(priv.sock)) == -1)
		fail_msg("connect %s: %s", priv.sock, strerror(errno));
	memset(&p, 0, sizeof(p));
	put_request_head(&p, "POST", "/api/v1/billing/webhook",
	    "application/json", strlen(body));
	put_stdin(&p, body, strlen(body));
	put_stdin(&p, NULL, 0);
	if (send_all(fd, &p) == -1)
		fail_msg("send: %s", strerror(errno));
	read_answer(fd, it_now_ms() + 5000, &a);
	close(fd);
	print_answer("webhook without billing", &a);
	if (!answer_has_status(&a, 503) ||
	    strstr(a.out, "billing_not_configured") == NULL) {
		answer_free(&a);
		fail_msg("the webhook without STRIPE_SECRET_KEY did not answer "
		    "503 billing_not_configured");
	}
	answer_free(&a);
	if ((fd = it_unix_connect(priv.sock)) == -1)
		fail_msg("connect %s: %s", priv.sock, strerror(errno));
	memset(&p, 0, sizeof(p));
	put_request_head(&p, "GET", HEALTH, NULL, 0);
	put_stdin(&p, NULL, 0);
	if (send_all(fd, &p) == -1)
		fail_msg("send: %s", strerror(errno));
	read_answer(fd, it_now_ms() + 5000, &a);
	close(fd);
	if (!answer_has_status(&a, 200)) {
		answer_free(&a);
		fail_msg("health without billing is not 200");
	}
	answer_free(&a);
	priv_passed = 1;
}

static int
group_setup(void **state)
{
	(void)state;
	it_init();
	it_env("TOLLGATE_BIN");
	it_env("STACK_DIR");
	it_env("TOLLGATE_PIDFILE");
	it_env("TOLLGATE_SOCKET");
	it_env("TOLLGATE_DATABASE_URL");
	it_env("TOLLGATE_JWT_SECRET");
	/* Orphaned responders come to us, to be found and stopped. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1) {
		print_error("prctl PR_SET_CHILD_SUBREAPER: %s\n",
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_privileges),
		cmocka_unit_test_teardown(test_sigterm_in_flight, inst_stop),
		cmocka_unit_test_teardown(test_sigterm_idle, inst_stop),
		cmocka_unit_test_teardown(test_connect_while_stopping,
		    inst_stop),
		cmocka_unit_test_teardown(test_connect_while_draining,
		    inst_stop),
		cmocka_unit_test_teardown(test_respawn_backoff, inst_stop),
		cmocka_unit_test_teardown(test_billing_not_configured,
		    inst_stop),
	};

	return cmocka_run_group_tests_name("it-serve", tests, group_setup,
	    NULL);
}
