/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * tollgate serve: the FastCGI master.  It binds the listening socket
 * (or inherits fd 0 from a web server that spawned it), drops root,
 * forks the responders and keeps their number: a responder that dies is
 * replaced after a delay that grows while they keep dying young (no fork
 * storm), SIGHUP re-reads the configuration and replaces responders one
 * at a time (the socket stays open throughout, so no request is
 * refused), SIGTERM lets in-flight requests finish for at most 10 s.
 * The master itself never touches a request or the database.
 *
 * Two pools when TOLLGATE_GATEWAY_LISTEN is set: the main one on
 * TOLLGATE_LISTEN and the LLM gateway's on its own socket with its own
 * TOLLGATE_GATEWAY_WORKERS, because a streamed completion holds its
 * responder for as long as the model writes; long streams then never
 * take the responders the portal and the API need.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "tollgate.h"

#define SERVE_MAX_CHILDREN	257	/* workers max + one being replaced */
#define SERVE_STOP_GRACE_MS	10000
#define SERVE_BACKOFF_MIN_MS	100
#define SERVE_BACKOFF_MAX_MS	10000
#define SERVE_YOUNG_MS		2000	/* died this young: back off */

#define SERVE_MAIN		0	/* pools: the portal and the API */
#define SERVE_GATEWAY		1	/* the LLM gateway's */
#define SERVE_POOLS		2

struct serve_child {
	pid_t	 pid;
	int	 gen;		/* configuration generation */
	int	 pool;
	double	 started;
};

struct serve_pool {
	int	 listen_fd;	/* -1: the pool is off */
	char	*sock_path;	/* unix socket to remove */
};

struct serve_state {
	struct serve_child	 kids[SERVE_MAX_CHILDREN];
	struct serve_pool	 pools[SERVE_POOLS];
	int			 gen;
	double			 next_spawn;	/* backoff: not before */
	int			 backoff_ms;
	pid_t			 retiring;	/* old responder stopping */
	int			 retiring_pool;
	double			 retire_deadline;
};

static double
serve_now(void)
{
	return util_now_ms();
}

static int
serve_fd_is_listener(int fd)
{
	int		 yes = 0;
	socklen_t	 len = sizeof(yes);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &yes, &len) == 0 &&
	    yes;
}

static int
serve_bind_unix(const char *path, const char **cause)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*cause = "TOLLGATE_LISTEN: socket path too long";
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* A socket left by a previous run that died is in the way. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		*cause = "socket(AF_UNIX) failed";
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_err("bind %s: %s", path, strerror(errno));
		*cause = "TOLLGATE_LISTEN: cannot bind the unix socket";
		close(fd);
		return -1;
	}
	return fd;
}

static int
serve_bind_tcp(const char *spec, const char **cause)
{
	struct addrinfo	 hints, *res = NULL;
	char		 host[256];
	const char	*colon = strrchr(spec, ':');
	size_t		 hl = (size_t)(colon - spec);
	int		 fd = -1, one = 1;

	if (hl >= sizeof(host)) {
		*cause = "TOLLGATE_LISTEN: host too long";
		return -1;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
		*cause = "TOLLGATE_LISTEN: expected a numeric address";
		return -1;
	}
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1) {
		log_err("bind %s: %s", spec, strerror(errno));
		*cause = "TOLLGATE_LISTEN: cannot bind the address";
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/*
 * The socket: fd 0 when the web server spawned us with a listening
 * socket there, else TOLLGATE_LISTEN.  A unix socket is 0660 and in the
 * web server's group: libfcgi trusts its peer, so nobody else may talk
 * to it.
 */
static int
serve_listen(struct serve_pool *p, const char *spec, int inherit,
    const char **cause)
{
	struct group	*gr;
	int		 fd;

	if (inherit && serve_fd_is_listener(STDIN_FILENO)) {
		log_info("using the listening socket inherited on fd 0");
		return STDIN_FILENO;
	}
	if (strncmp(spec, "unix:", 5) == 0) {
		if ((fd = serve_bind_unix(spec + 5, cause)) == -1)
			return -1;
		p->sock_path = xstrdup(spec + 5);
		if (chmod(p->sock_path, 0660) == -1)
			log_warnx("chmod %s: %s", p->sock_path, strerror(errno));
		if ((gr = getgrnam(conf.socket_group)) == NULL)
			log_warnx("TOLLGATE_SOCKET_GROUP: no group %s",
			    conf.socket_group);
		else if (chown(p->sock_path, (uid_t)-1, gr->gr_gid) == -1)
			log_warnx("chown %s: %s", p->sock_path,
			    strerror(errno));
	} else if ((fd = serve_bind_tcp(spec, cause)) == -1)
		return -1;
	if (listen(fd, 1024) == -1) {
		*cause = "listen failed";
		close(fd);
		return -1;
	}
	log_info("listening on %s", spec);
	return fd;
}

/*
 * When started as root, become TOLLGATE_USER for good (serve after
 * binding, work at once).  "sock" (may be NULL) is given to the user.
 */
int
serve_drop_root(const char *sock, const char **cause)
{
	struct passwd	*pw;

	if (geteuid() != 0)
		return 0;
	if ((pw = getpwnam(conf.user)) == NULL) {
		*cause = "TOLLGATE_USER: no such user";
		return -1;
	}
	if (sock != NULL && chown(sock, pw->pw_uid, (gid_t)-1) == -1)
		log_warnx("chown %s: %s", sock, strerror(errno));
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
		*cause = "TOLLGATE_USER: cannot switch to the user";
		return -1;
	}
	if (setuid(0) != -1) {
		*cause = "TOLLGATE_USER: root could be regained";
		return -1;
	}
	log_info("running as %s", pw->pw_name);
	return 0;
}

/* A socket besides the main one, given to TOLLGATE_USER while root. */
static void
serve_chown_sock(const char *sock)
{
	struct passwd	*pw;

	if (sock == NULL || geteuid() != 0 ||
	    (pw = getpwnam(conf.user)) == NULL)
		return;
	if (chown(sock, pw->pw_uid, (gid_t)-1) == -1)
		log_warnx("chown %s: %s", sock, strerror(errno));
}

static void
serve_write_pidfile(void)
{
	FILE	*fp;

	if (conf.pidfile == NULL)
		return;
	if ((fp = fopen(conf.pidfile, "w")) == NULL) {
		log_warnx("pidfile %s: %s", conf.pidfile, strerror(errno));
		return;
	}
	fprintf(fp, "%ld\n", (long)getpid());
	fclose(fp);
}

/* Responders of a pool (-1: all) of a generation (-1: any). */
static int
serve_count(const struct serve_state *s, int gen, int pool)
{
	int	 i, n = 0;

	for (i = 0; i < SERVE_MAX_CHILDREN; i++)
		if (s->kids[i].pid > 0 && (gen < 0 || s->kids[i].gen == gen) &&
		    (pool < 0 || s->kids[i].pool == pool))
			n++;
	return n;
}

/* How many responders a pool keeps. */
static int
serve_size(const struct serve_state *s, int pool)
{
	if (s->pools[pool].listen_fd == -1)
		return 0;
	return pool == SERVE_GATEWAY ? conf.gateway_workers : conf.workers;
}

static pid_t
serve_spawn(struct serve_state *s, int pool)
{
	sigset_t	 none;
	pid_t		 pid;
	int		 i, rc;

	for (i = 0; i < SERVE_MAX_CHILDREN; i++)
		if (s->kids[i].pid == 0)
			break;
	if (i == SERVE_MAX_CHILDREN)
		return -1;
	if ((pid = fork()) == -1) {
		log_err("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		signal(SIGCHLD, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		log_init(pool == SERVE_GATEWAY ? "tollgate-gateway" :
		    "tollgate-responder", conf.log_level);
		rc = responder_loop(s->pools[pool].listen_fd);
		_exit(rc == 0 ? 0 : 1);
	}
	s->kids[i].pid = pid;
	s->kids[i].gen = s->gen;
	s->kids[i].pool = pool;
	s->kids[i].started = serve_now();
	log_debug("responder %ld started", (long)pid);
	return pid;
}

static void
serve_reap(struct serve_state *s, int stopping)
{
	pid_t	 pid;
	int	 status, i;
	double	 age;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < SERVE_MAX_CHILDREN; i++)
			if (s->kids[i].pid == pid)
				break;
		if (i == SERVE_MAX_CHILDREN)
			continue;
		age = serve_now() - s->kids[i].started;
		s->kids[i].pid = 0;
		if (pid == s->retiring) {
			s->retiring = 0;
			continue;
		}
		if (stopping)
			continue;
		metrics_add(METRIC_RESPONDER_RESTARTS, 1);
		if (WIFSIGNALED(status))
			log_warnx("responder %ld killed by signal %d",
			    (long)pid, WTERMSIG(status));
		else
			log_warnx("responder %ld exited with %d", (long)pid,
			    WEXITSTATUS(status));
		/* Dying young again and again doubles the wait. */
		if (age < SERVE_YOUNG_MS) {
			s->backoff_ms = s->backoff_ms == 0 ?
			    SERVE_BACKOFF_MIN_MS : s->backoff_ms * 2;
			if (s->backoff_ms > SERVE_BACKOFF_MAX_MS)
				s->backoff_ms = SERVE_BACKOFF_MAX_MS;
			s->next_spawn = serve_now() + s->backoff_ms;
		} else
			s->backoff_ms = 0;
	}
}

/* What serve needs beyond what conf_load() checks. */
static int
serve_conf_check(const struct conf *c, const char **cause)
{
	if (conf_require(c, "TOLLGATE_DATABASE_URL", cause) == -1 ||
	    conf_require(c, "TOLLGATE_JWT_SECRET", cause) == -1 ||
	    blob_conf_check(c, cause) == -1)
		return -1;
	return 0;
}

/* Re-read the configuration; a bad file keeps the old one. */
static void
serve_reload(struct serve_state *s)
{
	struct conf	 next;
	const char	*cause = NULL;
	char		*old_listen;

	if (conf_load(&next, getenv("TOLLGATE_CONFIG"), &cause) == -1) {
		log_err("reload refused, keeping the running configuration: %s",
		    cause);
		return;
	}
	if (serve_conf_check(&next, &cause) == -1) {
		log_err("reload refused, keeping the running configuration: %s",
		    cause);
		conf_free(&next);
		return;
	}
	old_listen = xstrdup(conf.listen);
	if (strcmp(old_listen, next.listen) != 0)
		log_warnx("TOLLGATE_LISTEN changed: takes effect at restart");
	free(next.listen);
	next.listen = old_listen;
	/* The gateway's socket, too, is bound once. */
	if ((conf.gateway_listen == NULL) != (next.gateway_listen == NULL) ||
	    (conf.gateway_listen != NULL &&
	    strcmp(conf.gateway_listen, next.gateway_listen) != 0))
		log_warnx("TOLLGATE_GATEWAY_LISTEN changed: takes effect at "
		    "restart");
	free(next.gateway_listen);
	next.gateway_listen = conf.gateway_listen != NULL ?
	    xstrdup(conf.gateway_listen) : NULL;
	conf_free(&conf);
	conf = next;
	log_init("tollgate", conf.log_level);
	s->gen++;
	log_info("configuration reloaded; replacing responders");
}

/*
 * One step of a rolling replacement: start a responder of the new
 * generation, then stop one of the old.  The next step waits until
 * that one has exited, so capacity never drops.
 */
static void
serve_roll(struct serve_state *s)
{
	int	 i;

	if (s->retiring != 0) {
		if (serve_now() > s->retire_deadline) {
			log_warnx("responder %ld did not stop; killing it",
			    (long)s->retiring);
			kill(s->retiring, SIGKILL);
			s->retire_deadline = serve_now() + 60000;
		}
		return;
	}
	for (i = 0; i < SERVE_MAX_CHILDREN; i++)
		if (s->kids[i].pid > 0 && s->kids[i].gen != s->gen)
			break;
	if (i == SERVE_MAX_CHILDREN)
		return;
	if (serve_count(s, s->gen, s->kids[i].pool) < serve_size(s,
	    s->kids[i].pool) && serve_spawn(s, s->kids[i].pool) == -1)
		return;
	s->retiring = s->kids[i].pid;
	s->retiring_pool = s->kids[i].pool;
	s->retire_deadline = serve_now() + SERVE_STOP_GRACE_MS;
	kill(s->retiring, SIGTERM);
}

/*
 * First thing when stopping: the socket's name goes, so a web server
 * gets "no such file" at once instead of a connection that nobody will
 * ever accept.  Responders keep the listening socket itself and answer
 * what is already queued.
 */
static void
serve_unlink(struct serve_state *s)
{
	struct serve_pool	*p;
	int			 i;

	for (i = 0; i < SERVE_POOLS; i++) {
		p = &s->pools[i];
		if (p->sock_path != NULL && unlink(p->sock_path) == -1 &&
		    errno != ENOENT)
			log_warnx("unlink %s: %s", p->sock_path,
			    strerror(errno));
		free(p->sock_path);
		p->sock_path = NULL;
	}
}

static void
serve_stop_all(struct serve_state *s)
{
	double	 deadline = serve_now() + SERVE_STOP_GRACE_MS;
	int	 i;

	for (i = 0; i < SERVE_MAX_CHILDREN; i++)
		if (s->kids[i].pid > 0)
			kill(s->kids[i].pid, SIGTERM);
	while (serve_count(s, -1, -1) > 0 && serve_now() < deadline) {
		usleep(20000);
		serve_reap(s, 1);
	}
	for (i = 0; i < SERVE_MAX_CHILDREN; i++)
		if (s->kids[i].pid > 0) {
			log_warnx("responder %ld still busy after 10 s; "
			    "killing it", (long)s->kids[i].pid);
			kill(s->kids[i].pid, SIGKILL);
		}
	while (serve_count(s, -1, -1) > 0 && waitpid(-1, NULL, 0) > 0)
		serve_reap(s, 1);
}

static int
serve_loop(struct serve_state *s)
{
	struct timespec	 ts = { 0, 100 * 1000 * 1000 };
	siginfo_t	 si;
	sigset_t	 set;
	int		 sig, pool, extra = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (;;) {
		serve_reap(s, 0);
		serve_roll(s);
		/* During a roll its pool may run one responder more. */
		for (pool = 0; pool < SERVE_POOLS; pool++) {
			extra = s->retiring != 0 && s->retiring_pool == pool ?
			    1 : 0;
			while (serve_count(s, -1, pool) < serve_size(s, pool) +
			    extra && serve_now() >= s->next_spawn)
				if (serve_spawn(s, pool) == -1)
					break;
		}
		sig = sigtimedwait(&set, &si, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("stopping (signal %d)", sig);
			serve_unlink(s);
			serve_stop_all(s);
			return 0;
		}
		if (sig == SIGHUP)
			serve_reload(s);
	}
}

int
serve_main(int argc, char *argv[])
{
	struct serve_state	 s;
	const char		*cause = NULL;
	int			 rc = 1;

	memset(&s, 0, sizeof(s));
	s.pools[SERVE_MAIN].listen_fd = s.pools[SERVE_GATEWAY].listen_fd = -1;
	if (serve_conf_check(&conf, &cause) == -1 ||
	    db_role_check(&cause) == -1)
		goto done;
	/* Shared by every responder: mapped before the first fork. */
	if (rl_init() == -1) {
		cause = "cannot map the rate limit table";
		goto done;
	}
	if (metrics_init(ROUTE__MAX + 1) == -1) {
		cause = "cannot map the metrics";
		goto done;
	}
	if (FCGX_Init() != 0) {
		cause = "FCGX_Init failed";
		goto done;
	}
	if ((s.pools[SERVE_MAIN].listen_fd = serve_listen(&s.pools[SERVE_MAIN],
	    conf.listen, 1, &cause)) == -1)
		goto done;
	if (conf.gateway_listen != NULL &&
	    (s.pools[SERVE_GATEWAY].listen_fd = serve_listen(
	    &s.pools[SERVE_GATEWAY], conf.gateway_listen, 0, &cause)) == -1)
		goto done;
	serve_write_pidfile();
	serve_chown_sock(s.pools[SERVE_GATEWAY].sock_path);
	if (serve_drop_root(s.pools[SERVE_MAIN].sock_path, &cause) == -1)
		goto done;
	signal(SIGPIPE, SIG_IGN);
	log_info("tollgate %s serving with %d responders and %d for the "
	    "gateway", TOLLGATE_VERSION, conf.workers,
	    serve_size(&s, SERVE_GATEWAY));
	rc = serve_loop(&s);
done:
	if (cause != NULL)
		log_err("%s", cause);
	if (rc == 0)
		serve_unlink(&s);
	if (conf.pidfile != NULL && rc == 0 && unlink(conf.pidfile) == -1 &&
	    errno != ENOENT)
		log_warnx("unlink %s: %s", conf.pidfile, strerror(errno));
	free(s.pools[SERVE_MAIN].sock_path);
	free(s.pools[SERVE_GATEWAY].sock_path);
	return rc;
}
