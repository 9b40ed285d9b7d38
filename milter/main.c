/* SPDX-License-Identifier: BSD-2-Clause */
/* main - options, configuration, socket, privilege drop, threads, signals */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dkim.h>
#include <event2/event.h>
#include <libmilter/mfapi.h>
#include <libpsl.h>
#include <microhttpd.h>
#include <unbound.h>

#include "amerr.h"
#include "check.h"
#include "checks.h"
#include "conf.h"
#include "dkimv.h"
#include "dns.h"
#include "filter.h"
#include "history.h"
#include "log.h"
#include "metrics.h"
#include "orgdom.h"
#include "store.h"

#define DRAIN_SECONDS 300   /* how long SIGTERM waits for open sessions */
#define KICK_SIGNAL SIGUSR2 /* interrupts libmilter's listener select() */

struct opts {
	const char *file;	  /* -c, or NULL for the default file */
	struct conf_override *ov; /* -o, keys owned */
	size_t nov;
	bool foreground;	 /* -f */
	bool check;		 /* -n */
	int ready_fd;		 /* without -f: tells the parent "up" */
	const struct conf *boot; /* the startup snapshot (borrowed): what
				  * the socket and resolver were built from */
};

static atomic_bool stopping;	/* set once SIGTERM/SIGINT arrived */
static atomic_int milter_rc;	/* smfi_main()'s return value */
static atomic_bool milter_died; /* smfi_main() returned unasked */
static atomic_bool milter_done; /* the milter thread is about to end */
static pthread_t main_thread;

/* Where libmilter's signal thread parks (see sigwait below): nobody
 * signals park_cond; park_lock guards nothing but the wait itself. */
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;

/* The reloader thread: main hands each SIGHUP over and goes straight
 * back to sigwait (LIBRARIES.md 5.3). reload_lock guards reload_pending
 * and reload_quit; reload_cond signals a change of either. */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reload_cond = PTHREAD_COND_INITIALIZER;
static bool reload_pending;
static bool reload_quit;

static void
usage(FILE *fp)
{
	fputs("usage: authmilter [-c FILE] [-o KEY=VALUE]... [-f] [-n] [-V] "
	      "[-h]\n"
	      "  -c FILE       configuration file (default " CONF_DEFAULT_FILE
	      ")\n"
	      "  -o KEY=VALUE  set one configuration key after the file\n"
	      "  -f            stay in the foreground, log to stderr\n"
	      "  -n            check the configuration and exit\n"
	      "  -V            print the version and library versions\n"
	      "  -h            this help\n",
	      fp);
}

static void
print_version(void)
{
	unsigned int ma = 0, mi = 0, pl = 0;
	uint32_t dv = dkim_libversion();

	smfi_version(&ma, &mi, &pl);
	printf("authmilter %s\n", AM_VERSION);
	printf("libmilter %u.%u.%u\n", ma, mi, pl);
	printf("libunbound %s\n", ub_version());
	printf("libopendkim %u.%u.%u\n", dv >> 24, (dv >> 16) & 0xff,
	       (dv >> 8) & 0xff);
	printf("libpsl %s\n", psl_get_version());
	printf("libmicrohttpd %s\n", MHD_get_version());
	printf("libevent %s (libunbound's event loop in dns.c)\n",
	       event_get_version());
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	int ch;

	o->ov = calloc((size_t)argc, sizeof *o->ov);
	if (o->ov == NULL)
		return -1;
	while ((ch = getopt(argc, argv, "c:o:fnVh")) != -1) {
		switch (ch) {
		case 'c':
			o->file = optarg;
			break;
		case 'o':
			if (conf_override_arg("authmilter", optarg, o->ov,
					      &o->nov) != 0)
				return -1;
			break;
		case 'f':
			o->foreground = true;
			break;
		case 'n':
			o->check = true;
			break;
		case 'V':
			print_version();
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -1;
	}
	return 0;
}

static const char *
path_of_socket(const char *sock)
{
	if (strncasecmp(sock, "unix:", 5) == 0)
		return sock + 5;
	if (strncasecmp(sock, "local:", 6) == 0)
		return sock + 6;
	return NULL;
}

/* Look up UserID's uid and gid; 0 or -1 (logged). */
static int
lookup_user(const char *spec, char *user, size_t userlen, uid_t *uid,
	    gid_t *gid)
{
	char buf[4096];
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	const char *colon = strchr(spec, ':');
	size_t ulen = colon != NULL ? (size_t)(colon - spec) : strlen(spec);

	if (ulen >= userlen)
		return -1;
	memcpy(user, spec, ulen);
	user[ulen] = '\0';
	if (getpwnam_r(user, &pw, buf, sizeof buf, &pwp) != 0 || pwp == NULL) {
		log_error("UserID: no such user \"%s\"", user);
		return -1;
	}
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	if (colon != NULL) {
		if (getgrnam_r(colon + 1, &gr, buf, sizeof buf, &grp) != 0 ||
		    grp == NULL) {
			log_error("UserID: no such group \"%s\"", colon + 1);
			return -1;
		}
		*gid = gr.gr_gid;
	}
	return 0;
}

/* SocketGroup's gid; 0 or -1 (logged). */
static int
lookup_group(const char *name, gid_t *gid)
{
	char buf[4096];
	struct group gr, *grp = NULL;

	if (getgrnam_r(name, &gr, buf, sizeof buf, &grp) != 0 || grp == NULL) {
		log_error("SocketGroup: no such group \"%s\"", name);
		return -1;
	}
	*gid = gr.gr_gid;
	return 0;
}

/* Open the milter socket (as root if need be); 0 or -1 (logged). */
static int
open_socket(const struct conf *c)
{
	const char *path = path_of_socket(c->socket);
	char user[256];
	uid_t uid;
	gid_t gid;
	mode_t old;
	int rc;

	if (smfi_setconn(c->socket) != MI_SUCCESS) {
		log_error("smfi_setconn(%s) failed", c->socket);
		return -1;
	}
	if (filter_register() != 0) {
		log_error("smfi_register failed");
		return -1;
	}
	old = umask(path != NULL ? (~c->socket_mode & 0777) : 077);
	rc = smfi_opensocket(true); /* true: remove a stale unix socket */
	umask(old);
	if (rc != MI_SUCCESS) {
		log_error("cannot open milter socket %s", c->socket);
		return -1;
	}
	if (path == NULL)
		return 0;
	if (chmod(path, c->socket_mode) != 0) {
		log_errno("chmod %s", path);
		return -1;
	}
	uid = (uid_t)-1;
	gid = (gid_t)-1;
	if (c->user_id != NULL && geteuid() == 0 &&
	    lookup_user(c->user_id, user, sizeof user, &uid, &gid) != 0)
		return -1;
	if (c->socket_group != NULL && lookup_group(c->socket_group, &gid) != 0)
		return -1;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    chown(path, uid, gid) != 0) {
		log_errno("chown %s to %s%s%s", path,
			  c->user_id != NULL ? c->user_id : "",
			  c->socket_group != NULL ? " group " : "",
			  c->socket_group != NULL ? c->socket_group : "");
		return -1;
	}
	return 0;
}

/* Switch to UserID; every step checked, any failure fatal. */
static int
drop_privileges(const struct conf *c)
{
	char user[256];
	uid_t uid;
	gid_t gid;

	if (c->user_id == NULL) {
		if (geteuid() == 0)
			log_warn("running as root: set UserID to drop "
				 "privileges");
		return 0;
	}
	if (lookup_user(c->user_id, user, sizeof user, &uid, &gid) != 0)
		return -1;
	if (geteuid() != 0) {
		if (geteuid() == uid && getegid() == gid)
			return 0;
		log_error("UserID %s: cannot switch user when not started "
			  "as root",
			  c->user_id);
		return -1;
	}
	if (initgroups(user, gid) != 0) {
		log_errno("initgroups(%s)", user);
		return -1;
	}
	if (setgid(gid) != 0) {
		log_errno("setgid(%u)", (unsigned)gid);
		return -1;
	}
	if (setuid(uid) != 0) {
		log_errno("setuid(%u)", (unsigned)uid);
		return -1;
	}
	if (uid != 0 && (setuid(0) == 0 || geteuid() == 0)) {
		log_error("still root after setuid(%u)", (unsigned)uid);
		return -1;
	}
	log_info("running as %s (uid %u, gid %u)", user, (unsigned)uid,
		 (unsigned)gid);
	return 0;
}

/* The directory of a "sqlite:PATH" store, or "" for another store. */
static void
history_dir(const char *uri, char *dir, size_t dirlen)
{
	const char *slash;

	dir[0] = '\0';
	if (uri == NULL || strncmp(uri, "sqlite:/", 8) != 0)
		return;
	slash = strrchr(uri + 7, '/');
	snprintf(dir, dirlen, "%.*s",
		 slash == uri + 7 ? 1 : (int)(slash - (uri + 7)), uri + 7);
}

/*
 * Before the privilege drop: a missing directory of the SQLite history
 * (/var/lib/authmilter by default) is created for UserID. A failure is
 * logged; the writer then logs the outage and keeps the rows queued.
 */
static void
history_prepare(const struct conf *c)
{
	char dir[1024], user[256];
	struct stat st;
	uid_t uid;
	gid_t gid;

	history_dir(conf_report_db(c), dir, sizeof dir);
	if (dir[0] == '\0' || stat(dir, &st) == 0 || errno != ENOENT ||
	    geteuid() != 0)
		return;
	if (mkdir(dir, 0750) != 0) {
		log_errno("ReportDatabase: cannot create the directory %s",
			  dir);
		return;
	}
	if (c->user_id != NULL &&
	    lookup_user(c->user_id, user, sizeof user, &uid, &gid) == 0 &&
	    chown(dir, uid, gid) != 0)
		log_errno("ReportDatabase: chown %s to %s", dir, user);
	log_info("ReportDatabase: created the directory %s", dir);
}

/*
 * After the privilege drop: start the history writer. A database that is
 * down is no failure (rows are queued); a bad URI is.
 */
static int
history_begin(const struct conf *c)
{
	const char *uri = conf_report_db(c);
	char dir[1024], err[512];

	if (uri == NULL)
		return 0;
	history_dir(uri, dir, sizeof dir);
	if (dir[0] != '\0' && access(dir, W_OK | X_OK) != 0)
		log_errno("ReportDatabase: the directory %s of the DMARC "
			  "history is not writable by uid %u (UserID); rows "
			  "are queued until it is",
			  dir, (unsigned)geteuid());
	if (history_start(uri, err, sizeof err) != 0) {
		log_error("ReportDatabase: %s", err);
		return -1;
	}
	log_info("DMARC history on (%s)",
		 strncmp(uri, "sqlite:", 7) == 0 ? uri : "postgresql");
	return 0;
}

static int
write_pidfile(const char *path)
{
	char buf[32];
	int fd, n, rc = -1;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	if (fd < 0) {
		log_errno("cannot write PidFile %s", path);
		return -1;
	}
	n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n)
		log_errno("cannot write PidFile %s", path);
	else
		rc = 0;
	if (close(fd) != 0 && rc == 0) {
		log_errno("cannot write PidFile %s", path);
		rc = -1;
	}
	return rc;
}

/*
 * sigwait - libmilter's, interposed. smfi_main() starts a signal thread
 * that sigwait()s for SIGHUP, SIGTERM and SIGINT and stops the milter on
 * any of them (LIBRARIES.md 5.3). A signal mask cannot keep a signal
 * from it (sigwait takes blocked signals), so a SIGHUP that arrived
 * while main was busy could stop the milter. This definition in the
 * executable takes the place of libc's for libmilter.so: its signal
 * thread parks here until the process exits, and main, waiting with
 * sigwaitinfo(), is the only thread that ever takes these signals.
 * Any other caller gets libc's behaviour.
 */
int
sigwait(const sigset_t *set, int *sig)
{
	int s;

	if (sigismember(set, SIGHUP) == 1 &&
	    !pthread_equal(pthread_self(), main_thread)) {
		log_debug("libmilter's signal thread parked: SIGHUP, SIGTERM "
			  "and SIGINT go to main");
		pthread_mutex_lock(&park_lock);
		for (;;)
			pthread_cond_wait(&park_cond, &park_lock);
	}
	s = sigwaitinfo(set, NULL);
	if (s < 0)
		return errno;
	*sig = s;
	return 0;
}

static void
kick_handler(int sig)
{
	(void)sig; /* only here to interrupt a system call */
}

static void *
milter_thread(void *arg)
{
	sigset_t kick;

	(void)arg;
	/* The listener runs in this thread; main interrupts its select()
	 * with KICK_SIGNAL to make smfi_stop() take effect at once. */
	sigemptyset(&kick);
	sigaddset(&kick, KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	atomic_store(&milter_rc, smfi_main());
	/* If the milter stopped on its own (listener failures; no signal
	 * can do it since sigwait() parks libmilter's signal thread), wake
	 * the signal loop and exit non-zero, so that a supervisor (systemd
	 * Restart=on-failure) starts us again. */
	if (!atomic_load(&stopping)) {
		atomic_store(&milter_died, true);
		pthread_kill(main_thread, SIGTERM);
	}
	atomic_store(&milter_done, true);
	return NULL;
}

static void *
stop_thread(void *arg)
{
	(void)arg;
	smfi_stop();
	return NULL;
}

/*
 * Stop libmilter's listener and wait for the milter thread. smfi_stop()
 * waits for the listener's lock, which the listener holds in a select()
 * with a 5 s timeout (MI_CHK_TIME) between checks of the stop flag; the
 * select() returns EINTR on KICK_SIGNAL, and the loop then sees the flag.
 */
static void
stop_milter(pthread_t tid)
{
	struct timespec tick = {0, 10 * 1000 * 1000};
	pthread_t stid;
	bool stopper;

	/* After an unasked stop libmilter has torn down its mutexes. */
	stopper = !atomic_load(&milter_done) &&
		  pthread_create(&stid, NULL, stop_thread, NULL) == 0;
	if (!stopper && !atomic_load(&milter_done))
		smfi_stop(); /* slower (up to 5 s), but it stops */
	while (!atomic_load(&milter_done)) {
		pthread_kill(tid, KICK_SIGNAL);
		nanosleep(&tick, NULL);
	}
	pthread_join(tid, NULL);
	if (stopper)
		pthread_join(stid, NULL);
}

/*
 * The keywords that differ between a and b, restart-only ones (or all
 * the others) into buf as "Key, Key"; "" when none.
 */
static void
changed_keys(const struct conf *a, const struct conf *b, bool restart,
	     char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < conf_keyword_count(); i++) {
		int r;

		if (conf_keyword_restart(i) != restart ||
		    !conf_keyword_differs(a, b, i))
			continue;
		r = snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
			     conf_keyword_name(i));
		if (r < 0 || (size_t)r >= len - used)
			break;
		used += (size_t)r;
	}
}

/* SIGHUP: load the same file and -o again; keep the old on failure. */
static void
reload(const struct opts *o)
{
	struct conf *n, *prev;
	char keys[1024];

	log_info("SIGHUP: reloading the configuration");
	n = conf_load_logged(o->file, o->ov, o->nov);
	if (n == NULL) {
		log_error("reload failed: keeping the running configuration");
		metrics_reload(false);
		return;
	}
	/* against the startup snapshot: what the process still runs with */
	changed_keys(o->boot, n, true, keys, sizeof keys);
	if (keys[0] != '\0')
		log_warn("reload: %s changed: takes effect at the next restart "
			 "(the startup value stays in force until then)",
			 keys);
	prev = conf_acquire();
	if (prev != NULL) {
		changed_keys(prev, n, false, keys, sizeof keys);
		log_info("reload: %s", keys[0] != '\0' ? keys : "no change");
		conf_release(prev);
	}
	log_setup(n->log_level, n->log_format);
	(void)orgdom_psl_load(n->public_suffix_list); /* before use */
	conf_publish(n);
	metrics_reload(true);
	log_info("configuration reloaded from %s",
		 o->file != NULL ? o->file
				 : (n->defaults_only ? "built-in defaults"
						     : CONF_DEFAULT_FILE));
}

static void *
reload_thread(void *arg)
{
	const struct opts *o = arg;

	pthread_mutex_lock(&reload_lock);
	for (;;) {
		while (!reload_pending && !reload_quit)
			pthread_cond_wait(&reload_cond, &reload_lock);
		if (reload_quit)
			break;
		reload_pending = false; /* SIGHUPs during a reload coalesce */
		pthread_mutex_unlock(&reload_lock);
		reload(o);
		pthread_mutex_lock(&reload_lock);
	}
	pthread_mutex_unlock(&reload_lock);
	return NULL;
}

static void
reload_post(bool quit)
{
	pthread_mutex_lock(&reload_lock);
	if (quit)
		reload_quit = true;
	else
		reload_pending = true;
	pthread_cond_signal(&reload_cond);
	pthread_mutex_unlock(&reload_lock);
}

/*
 * Wait for open sessions to finish, at most DRAIN_SECONDS, while the
 * listener still accepts (filter answers new connections with 421) so
 * that libmilter never drops a session. SIGHUP still reloads; SIGINT
 * ends the wait.
 */
static void
drain(const sigset_t *sigs)
{
	struct timespec tick = {0, 50 * 1000 * 1000};
	unsigned int left;
	int sig;

	for (int i = 0; i < DRAIN_SECONDS * 20; i++) {
		if ((left = filter_sessions()) == 0)
			return;
		if (i == 0)
			log_info("waiting for %u open session(s)", left);
		sig = sigtimedwait(sigs, NULL, &tick);
		if (sig == SIGHUP)
			reload_post(false);
		else if (sig == SIGINT) {
			log_warn("SIGINT: not waiting for %u open session(s)",
				 filter_sessions());
			return;
		}
	}
	log_warn("%u session(s) still open after %d s: exiting anyway",
		 filter_sessions(), DRAIN_SECONDS);
}

/*
 * Without -f: go to the background as daemons do (fork, setsid, stdin
 * and stdout on /dev/null, stderr too unless it is the log). The
 * parent waits on a pipe until the child is listening (one byte) or
 * has ended (EOF), and exits 0 or with the child's status, so a start
 * failure (socket, DNS, user) still reaches the caller. Must run
 * before any thread exists. Returns the pipe's write end in the child,
 * -1 if the fork cannot be done (then nothing has changed).
 */
static int
detach(bool keep_stderr)
{
	int fds[2], null, status;
	ssize_t n;
	pid_t pid;
	char b;

	if (pipe2(fds, O_CLOEXEC) != 0) {
		log_errno("cannot go to the background: pipe");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_errno("cannot go to the background: fork");
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid > 0) {
		close(fds[1]);
		do
			n = read(fds[0], &b, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1)
			_exit(0); /* the child is up and listening */
		if (waitpid(pid, &status, 0) == pid && WIFEXITED(status))
			_exit(WEXITSTATUS(status));
		_exit(1);
	}
	close(fds[0]);
	(void)setsid();
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		(void)dup2(null, STDIN_FILENO);
		(void)dup2(null, STDOUT_FILENO);
		if (!keep_stderr)
			(void)dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	return fds[1];
}

static int
run(const struct opts *o, struct conf *c, sigset_t *sigs)
{
	struct dns_options dopt;
	struct sigaction sa;
	char err[512];
	pthread_t tid, rtid;
	bool pid_written = false;
	int sig, rc = 1;

	dopt.mode = c->resolver;
	dopt.forward = c->resolver_forward;
	dopt.trust_anchor = c->trust_anchor_file;
	if (dns_init(&dopt, err, sizeof err) != 0) {
		log_error("DNS: %s", err);
		return 1;
	}
	if (dkimv_init() != 0) {
		log_error("cannot initialize libopendkim");
		goto out;
	}
	/* not fatal: the cross-check logs and skips a missing list */
	(void)orgdom_psl_load(c->public_suffix_list);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = kick_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(KICK_SIGNAL, &sa, NULL);
	if (open_socket(c) != 0)
		goto out;
	for (size_t i = 0; i < checks_count(); i++)
		metrics_check_name(i, checks_get(i)->name);
	/* before the privilege drop: the port may be below 1024 */
	if (metrics_start(c->metrics_listen, err, sizeof err) != 0) {
		log_error("%s", err);
		goto out;
	}
	if (c->metrics_listen != NULL)
		log_info("metrics on http://%s/metrics", c->metrics_listen);
	history_prepare(c);
	if (drop_privileges(c) != 0)
		goto out;
	if (history_begin(c) != 0)
		goto out;
	if (c->pid_file != NULL) {
		if (write_pidfile(c->pid_file) != 0)
			goto out;
		pid_written = true;
	}
	if (pthread_create(&rtid, NULL, reload_thread, (void *)o) != 0) {
		log_error("cannot start the reload thread");
		goto out;
	}
	if (pthread_create(&tid, NULL, milter_thread, NULL) != 0) {
		log_error("cannot start the milter thread");
		reload_post(true);
		pthread_join(rtid, NULL);
		goto out;
	}
	log_info("authmilter %s listening on %s", AM_VERSION, c->socket);
	if (o->ready_fd >= 0) {
		/* detached: the parent may exit 0 now */
		if (write(o->ready_fd, "1", 1) != 1)
			log_errno("cannot tell the starting process");
		close(o->ready_fd);
	}
	for (;;) {
		if ((sig = sigwaitinfo(sigs, NULL)) < 0)
			continue;
		if (sig == SIGHUP)
			reload_post(false);
		else if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	atomic_store(&stopping, true);
	if (!atomic_load(&milter_died)) {
		log_info("%s: stopping: new connections get 421, open "
			 "sessions finish",
			 sig == SIGINT ? "SIGINT" : "SIGTERM");
		filter_drain();
		drain(sigs);
	}
	stop_milter(tid);
	reload_post(true);
	pthread_join(rtid, NULL);
	/*
	 * smfi_stop() closes the listening socket; if it runs before
	 * smfi_main() has reached its listener (a SIGTERM right after
	 * start), libmilter tries to bind again and fails. We asked it to
	 * stop and it stopped: that is a clean exit, not a failure.
	 */
	rc = atomic_load(&milter_rc) == MI_SUCCESS || !atomic_load(&milter_died)
		 ? 0
		 : 1;
	if (atomic_load(&milter_rc) != MI_SUCCESS && rc == 0)
		log_info("the milter loop ended while stopping");
	if (rc != 0)
		log_error("the milter loop failed");
	if (atomic_load(&milter_died)) {
		log_error("the milter loop stopped unasked: exiting with "
			  "status 1");
		rc = 1;
	}
out:
	/* the sessions are drained: write what they recorded */
	history_stop();
	metrics_stop();
	dkimv_shutdown();
	dns_shutdown();
	orgdom_shutdown();
	if (pid_written && unlink(c->pid_file) != 0)
		log_errno("cannot remove PidFile %s", c->pid_file);
	log_info("exiting with status %d", rc);
	return rc;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct conf *c = NULL;
	sigset_t sigs;
	int rc = 1;

	/*
	 * glibc gives each new thread its own malloc arena, up to 8 per
	 * core; with a thread per milter session each arena keeps its own
	 * free memory. Two arenas per core hold peak RSS down at little
	 * lock contention (docs/BENCHMARKS.md). An explicit MALLOC_ARENA_MAX
	 * in the environment wins.
	 */
	if (getenv("MALLOC_ARENA_MAX") == NULL) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		mallopt(M_ARENA_MAX,
			ncpu > 0 && ncpu < 64 ? 2 * (int)ncpu : 128);
	}
	/* Before any thread exists: the signals go to sigwait below. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	{
		sigset_t kick; /* unblocked in the milter thread only */

		sigemptyset(&kick);
		sigaddset(&kick, KICK_SIGNAL);
		pthread_sigmask(SIG_BLOCK, &kick, NULL);
	}
	main_thread = pthread_self();
	signal(SIGPIPE, SIG_IGN);

	memset(&o, 0, sizeof o);
	if (parse_args(argc, argv, &o) != 0)
		goto out;
	c = conf_load(o.file, o.ov, o.nov, stderr);
	if (c == NULL)
		goto out;
	if (conf_reporting(c)) {
		char err[512];

		/* a URI libpq cannot parse is a configuration error */
		if (store_check_uri(conf_report_db(c), err, sizeof err) != 0) {
			fprintf(stderr, "%s: ReportDatabase: %s\n",
				c->defaults_only ? "built-in defaults"
						 : c->file,
				err);
			conf_free(c);
			goto out;
		}
	}
	if (o.check) {
		printf("%s: configuration valid\n",
		       c->defaults_only ? "built-in defaults" : c->file);
		conf_free(c);
		rc = 0;
		goto out;
	}
	log_open(o.foreground || !c->syslog, !o.foreground && c->syslog);
	log_setup(c->log_level, c->log_format);
	if (c->defaults_only)
		log_info("no configuration file %s: using the built-in "
			 "defaults",
			 CONF_DEFAULT_FILE);
	conf_publish(c);
	c = conf_acquire(); /* the startup snapshot: socket, user, pid */
	o.boot = c;
	o.ready_fd = -1;
	if (!o.foreground) {
		o.ready_fd = detach(!c->syslog);
		if (o.ready_fd < 0) {
			rc = 1;
			conf_release(c);
			goto out;
		}
		main_thread = pthread_self(); /* the child's own */
	}
	rc = run(&o, c, &sigs);
	conf_release(c);
out:
	conf_shutdown();
	for (size_t i = 0; i < o.nov; i++)
		free((char *)o.ov[i].key);
	free(o.ov);
	return rc;
}
