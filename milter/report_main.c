/* SPDX-License-Identifier: BSD-2-Clause */
/* report_main - authmilter-report, the DMARC aggregate report program */
/* (RFC 9990; see docs/REPORTS.md and authmilter-report(8)) */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "amerr.h"
#include "conf.h"
#include "dns.h"
#include "log.h"
#include "report_mime.h"
#include "report_rua.h"
#include "report_sign.h"
#include "report_xml.h"
#include "store.h"

#define EXIT_ALL_SENT 0
#define EXIT_CONFIG 1
#define EXIT_SOME_FAILED 2
#define SENDMAIL_ARGS 32       /* words of ReportSendmail */
#define SENDMAIL_TIMEOUT_S 300 /* one sendmail run, then it is killed */

struct opts {
	const char *file;	  /* -c */
	struct conf_override *ov; /* -o */
	size_t nov;
	const char *period;  /* --period YYYY-MM-DD */
	const char *dry_run; /* --dry-run DIR */
};

/* What one run did, for the exit code and the counters. */
struct tally {
	uint64_t sent, failed, skipped;
	bool some_failed;
};

/* Everything a report needs that is the same for all of them. */
struct job {
	const struct conf *c;
	struct store *store;
	struct report_signer *signer; /* NULL: unsigned */
	const char *submitter, *org_name;
	const char *dry_run;
	unsigned int dns_ms;
	struct tally t;
};

static void
usage(FILE *fp)
{
	fputs(
	    "usage: authmilter-report [-c FILE] [-o KEY=VALUE]... "
	    "[--period START] [--dry-run DIR]\n"
	    "  -c FILE          configuration file (default " CONF_DEFAULT_FILE
	    ")\n"
	    "  -o KEY=VALUE     set one configuration key after the file\n"
	    "  --period START   the period that begins at START (YYYY-MM-DD, "
	    "UTC);\n"
	    "                   default: the last complete period\n"
	    "  --dry-run DIR    write the .xml.gz and .eml files into DIR, "
	    "send nothing\n"
	    "  -V               print the version\n"
	    "  -h               this help\n",
	    fp);
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"period", required_argument, NULL, 'p'},
	    {"dry-run", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	o->ov = calloc((size_t)argc, sizeof *o->ov);
	if (o->ov == NULL)
		return -1;
	while ((ch = getopt_long(argc, argv, "c:o:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->file = optarg;
			break;
		case 'o':
			if (conf_override_arg("authmilter-report", optarg,
					      o->ov, &o->nov) != 0)
				return -1;
			break;
		case 'p':
			o->period = optarg;
			break;
		case 'd':
			o->dry_run = optarg;
			break;
		case 'V':
			printf("authmilter-report %s\n", AM_VERSION);
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

/* "YYYY-MM-DD" (UTC midnight) into *t; -1 when it is not one. */
static int
parse_day(const char *s, int64_t *t)
{
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0' || strlen(s) != 10)
		return -1;
	*t = (int64_t)timegm(&tm);
	return 0;
}

static void
fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* mono_ms - now on CLOCK_MONOTONIC, in milliseconds. */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Pipe msg to the ReportSendmail command (split on spaces, run without
 * a shell), within SENDMAIL_TIMEOUT_S: a command that hangs is killed.
 * 0 when it took the whole message and exited 0; otherwise -1 with the
 * cause in why.
 */
static int
sendmail_pipe(const char *cmd, const char *msg, size_t len, char *why,
	      size_t whylen)
{
	char *copy = strdup(cmd), *argv[SENDMAIL_ARGS + 1], *save = NULL;
	int fds[2], status = 0, n = 0;
	int64_t deadline = mono_ms() + SENDMAIL_TIMEOUT_S * 1000;
	bool timed_out = false;
	size_t off = 0;
	pid_t pid, got;

	if (copy == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	for (char *w = strtok_r(copy, " \t", &save); w != NULL;
	     w = strtok_r(NULL, " \t", &save)) {
		if (n == SENDMAIL_ARGS) {
			snprintf(why, whylen,
				 "ReportSendmail has more than %d "
				 "words",
				 SENDMAIL_ARGS);
			free(copy);
			return -1;
		}
		argv[n++] = w;
	}
	argv[n] = NULL;
	if (n == 0 || pipe2(fds, O_CLOEXEC) != 0) {
		snprintf(why, whylen, "%s",
			 n == 0 ? "ReportSendmail is empty" : strerror(errno));
		free(copy);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		free(copy);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[0], STDIN_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[0]);
	while (off < len) {
		struct pollfd pfd = {.fd = fds[1], .events = POLLOUT};
		int64_t left = deadline - mono_ms();
		ssize_t w;

		if (left <= 0) {
			timed_out = true;
			break;
		}
		if (poll(&pfd, 1, (int)(left > 1000 ? 1000 : left)) <= 0)
			continue;
		w = write(fds[1], msg + off, len - off);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			break; /* EPIPE: it exited; its status tells why */
		off += (size_t)w;
	}
	close(fds[1]);
	for (;;) {
		got = waitpid(pid, &status, WNOHANG);
		if (got == pid || (got < 0 && errno != EINTR))
			break;
		if (mono_ms() >= deadline) {
			timed_out = true;
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			break;
		}
		usleep(20000);
	}
	free(copy);
	if (timed_out)
		snprintf(why, whylen, "%s did not finish within %d s (killed)",
			 cmd, SENDMAIL_TIMEOUT_S);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && off == len)
		return 0;
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		snprintf(why, whylen, "%s could not be run", cmd);
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		snprintf(why, whylen, "%s exited with status %d", cmd,
			 WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(why, whylen, "%s was killed by signal %d", cmd,
			 WTERMSIG(status));
	else
		snprintf(why, whylen, "%s took %zu of %zu octets", cmd, off,
			 len);
	return -1;
}

/* Write len octets to DIR/name (mode 0640); 0 or -1 (logged). */
static int
write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *fp;
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || (fp = fdopen(fd, "w")) == NULL) {
		log_error("dry run: %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (fwrite(data, 1, len, fp) != len || fclose(fp) != 0) {
		log_error("dry run: %s: %s", path, strerror(errno));
		return -1;
	}
	log_info("dry run: wrote %s", path);
	return 0;
}

/*
 * The message of one report to one destination, signed when a key is
 * configured: *out (malloc'd). 0 or -1 with the cause in why.
 */
static int
make_message(struct job *j, const char *domain, const char *report_id,
	     int64_t begin, int64_t end, const unsigned char *gz, size_t gzlen,
	     const char *to, char **out, size_t *outlen, char *why,
	     size_t whylen)
{
	struct report_message m = {
	    .from = j->c->report_from,
	    .to = to,
	    .submitter = j->submitter,
	    .domain = domain,
	    .report_id = report_id,
	    .begin = begin,
	    .end = end,
	    .date = (int64_t)time(NULL),
	    .gz = gz,
	    .gzlen = gzlen,
	};
	char *msg, *sig, *both;
	size_t len, slen;

	if (report_mime_build(&m, &msg, &len, why, whylen) != 0)
		return -1;
	if (j->signer == NULL) {
		*out = msg;
		*outlen = len;
		return 0;
	}
	if (report_sign(j->signer, msg, len, &sig, why, whylen) != 0) {
		free(msg);
		return -1;
	}
	slen = strlen(sig);
	both = malloc(slen + len + 1);
	if (both == NULL) {
		free(sig);
		free(msg);
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	memcpy(both, sig, slen);
	memcpy(both + slen, msg, len + 1);
	free(sig);
	free(msg);
	*out = both;
	*outlen = slen + len;
	return 0;
}

/* --dry-run: the .xml.gz and one .eml (to the first destination). */
static int
dry_run_files(struct job *j, const char *domain, const char *report_id,
	      int64_t begin, int64_t end, const unsigned char *gz, size_t gzlen)
{
	char fname[REPORT_FILENAME_MAX], eml_name[REPORT_FILENAME_MAX + 8];
	char why[512], *msg;
	size_t len, base;
	struct report_rua_result *rua = calloc(1, sizeof *rua);
	struct dns_set *set = dns_set_new("report");
	const char *to = "undisclosed-recipients:;";
	int rc = -1;

	if (rua == NULL || set == NULL)
		goto out;
	report_rua_destinations(set, domain, j->c->report_max_uris, j->dns_ms,
				rua);
	if (rua->n > 0)
		to = rua->dest[0].addr;
	for (size_t i = 0; i < rua->n; i++)
		log_info("dry run: %s would go to %s%s", domain,
			 rua->dest[i].addr,
			 rua->dest[i].external ? " (verified external)" : "");
	if (rua->n == 0)
		log_info("dry run: %s: no destination would receive it now%s",
			 domain,
			 rua->temperror ? " (DNS failed: tried next run)" : "");
	if (report_mime_filename(j->submitter, domain, begin, end, fname,
				 sizeof fname) != 0) {
		log_error("report for %s: no file name: the domain or "
			  "ReportSubmitter is not a domain name, or too long",
			  domain);
		goto out;
	}
	base = strlen(fname) - strlen(".xml.gz");
	snprintf(eml_name, sizeof eml_name, "%.*s.eml", (int)base, fname);
	if (make_message(j, domain, report_id, begin, end, gz, gzlen, to, &msg,
			 &len, why, sizeof why) != 0) {
		log_error("report for %s: %s", domain, why);
		goto out;
	}
	rc = write_file(j->dry_run, fname, gz, gzlen) == 0 &&
		     write_file(j->dry_run, eml_name, msg, len) == 0
		 ? 0
		 : -1;
	free(msg);
out:
	dns_set_free(set);
	free(rua);
	return rc;
}

/* Send one report to every verified destination; the new state. */
static enum store_report_state
send_report(struct job *j, const char *domain, const char *report_id,
	    int64_t begin, int64_t end, const unsigned char *gz, size_t gzlen,
	    const char *period)
{
	struct report_rua_result *rua = calloc(1, sizeof *rua);
	struct dns_set *set = dns_set_new("report");
	enum store_report_state st = STORE_REPORT_SENT;
	unsigned int ok = 0, bad = 0;
	char why[512];

	if (rua == NULL || set == NULL) {
		log_error("report for %s, period %s: out of memory", domain,
			  period);
		j->t.failed++;
		st = STORE_REPORT_FAILED;
		goto out;
	}
	report_rua_destinations(set, domain, j->c->report_max_uris, j->dns_ms,
				rua);
	j->t.skipped += rua->skipped;
	for (size_t i = 0; i < rua->n; i++) {
		const struct report_dest *d = &rua->dest[i];
		char *msg;
		size_t len;

		if (make_message(j, domain, report_id, begin, end, gz, gzlen,
				 d->addr, &msg, &len, why, sizeof why) != 0) {
			log_error("report for %s, period %s, to %s: not sent: "
				  "%s",
				  domain, period, d->addr, why);
			bad++;
			continue;
		}
		/* RFC 9989 C.4 removed the size limit: read, not obeyed */
		if (d->limit != 0 && len > d->limit)
			log_info("report for %s to %s: %zu octets, over the "
				 "obsolete !size of %" PRIu64 " (sent anyway)",
				 domain, d->addr, len, d->limit);
		if (sendmail_pipe(j->c->report_sendmail, msg, len, why,
				  sizeof why) == 0) {
			log_info("report for %s, period %s, Report-ID %s: "
				 "sent to %s (%zu octets)",
				 domain, period, report_id, d->addr, len);
			ok++;
		} else {
			log_error("report for %s, period %s, to %s: not sent: "
				  "%s; tried again next run",
				  domain, period, d->addr, why);
			bad++;
		}
		free(msg);
	}
	j->t.sent += ok;
	j->t.failed += bad;
	if (bad > 0 || rua->temperror) {
		if (rua->temperror && bad == 0)
			log_error("report for %s, period %s: not sent to every "
				  "destination (DNS failed); tried again next "
				  "run",
				  domain, period);
		if (rua->temperror && bad == 0)
			j->t.failed++;
		st = STORE_REPORT_FAILED;
	} else if (ok == 0) {
		log_info("report for %s, period %s: no verified destination; "
			 "not sent",
			 domain, period);
	}
out:
	dns_set_free(set);
	free(rua);
	return st;
}

/* One (policy domain, period): build, then send or write. */
static void
one_report(struct job *j, const char *domain, int64_t begin, int64_t end)
{
	char err[512], report_id[STORE_REPORT_ID], period[80], b[32], e[32];
	enum store_report_state state;
	struct store_group *groups = NULL;
	size_t ngroups = 0, xmllen = 0, gzlen = 0;
	char *xml = NULL;
	unsigned char *gz = NULL;
	struct report_meta meta;

	fmt_time(begin, b, sizeof b);
	fmt_time(end, e, sizeof e);
	snprintf(period, sizeof period, "%s..%s", b, e);
	if (store_report_state(j->store, domain, begin, &state, report_id, err,
			       sizeof err) != 0) {
		log_error("report for %s, period %s: %s", domain, period, err);
		j->t.some_failed = true;
		return;
	}
	if (state == STORE_REPORT_SENT && j->dry_run == NULL)
		return;
	/* a retry keeps the Report-ID it was first tried with */
	if (state != STORE_REPORT_FAILED || report_id[0] == '\0') {
		if (report_mime_id(j->submitter, domain, begin, report_id,
				   sizeof report_id) != 0) {
			log_error("report for %s: ReportSubmitter %s cannot "
				  "make a Report-ID",
				  domain, j->submitter);
			j->t.some_failed = true;
			return;
		}
	}
	if (store_groups(j->store, domain, begin, end + 1, &groups, &ngroups,
			 err, sizeof err) != 0) {
		log_error("report for %s, period %s: %s", domain, period, err);
		j->t.some_failed = true;
		return;
	}
	if (ngroups == 0)
		goto out;
	meta.org_name = j->org_name;
	meta.email = j->c->report_contact;
	meta.extra_contact = NULL;
	meta.report_id = report_id;
	meta.begin = begin;
	meta.end = end;
	if (report_xml_build(&meta, groups, ngroups, &xml, &xmllen, err,
			     sizeof err) != 0 ||
	    report_gzip(xml, xmllen, &gz, &gzlen, err, sizeof err) != 0) {
		log_error("report for %s, period %s: %s", domain, period, err);
		j->t.some_failed = true;
		goto out;
	}
	if (j->dry_run != NULL) {
		if (dry_run_files(j, domain, report_id, begin, end, gz,
				  gzlen) != 0)
			j->t.some_failed = true;
		goto out;
	}
	state =
	    send_report(j, domain, report_id, begin, end, gz, gzlen, period);
	if (state == STORE_REPORT_FAILED)
		j->t.some_failed = true;
	if (store_mark_reported(j->store, domain, begin, end + 1, state,
				report_id, err, sizeof err) != 0) {
		log_error("report for %s, period %s: could not be marked %s: "
			  "%s",
			  domain, period,
			  state == STORE_REPORT_SENT ? "sent" : "failed", err);
		j->t.some_failed = true;
	}
out:
	free(groups);
	free(xml);
	free(gz);
}

/* Every policy domain with unreported rows in [begin, begin+interval). */
static void
one_period(struct job *j, int64_t begin, int64_t interval)
{
	char(*domains)[HISTORY_DOMAIN] = NULL;
	size_t n = 0;
	char err[512];

	if (store_domains(j->store, begin, begin + interval, &domains, &n, err,
			  sizeof err) != 0) {
		log_error("reports from %" PRId64 ": %s", begin, err);
		j->t.some_failed = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		one_report(j, domains[i], begin, begin + interval - 1);
	free(domains);
}

static struct conf *
load_logged(const struct opts *o)
{
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	struct conf *c;
	FILE *errs = open_memstream(&buf, &len);

	c = conf_load(o->file, o->ov, o->nov, errs != NULL ? errs : stderr);
	if (errs != NULL) {
		fclose(errs);
		for (line = strtok_r(buf, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save))
			log_error("%s", line);
	}
	free(buf);
	return c;
}

static int
run(const struct opts *o, struct conf *c)
{
	struct job j;
	struct dns_options dopt;
	char err[512], from_domain[256];
	int64_t now = (int64_t)time(NULL), interval, first, last, start;
	uint64_t purged = 0;
	struct stat sb;

	memset(&j, 0, sizeof j);
	j.c = c;
	j.dry_run = o->dry_run;
	j.submitter =
	    c->report_submitter != NULL ? c->report_submitter : c->authserv_id;
	j.org_name =
	    c->report_org_name != NULL ? c->report_org_name : c->authserv_id;
	j.dns_ms = c->dns_timeout > 0 ? c->dns_timeout * 1000 : 5000;
	interval = (int64_t)c->report_interval;

	if (!conf_reporting(c)) {
		/* not an error: the timer may be enabled before reporting is */
		log_info("ReportDatabase is none: reporting is off, nothing to "
			 "do");
		return EXIT_ALL_SENT;
	}
	if (c->report_contact == NULL || c->report_from == NULL) {
		log_error(
		    "ReportContact and ReportFrom are needed for reports");
		return EXIT_CONFIG;
	}
	if (o->dry_run != NULL &&
	    (stat(o->dry_run, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
		log_error("--dry-run %s: not a directory", o->dry_run);
		return EXIT_CONFIG;
	}

	/* the periods: [k * interval, (k + 1) * interval), UTC */
	last = now / interval * interval - interval; /* last complete one */
	first = last;
	if (o->period != NULL) {
		if (parse_day(o->period, &start) != 0 ||
		    start % interval != 0) {
			log_error("--period %s: not the start of a period "
				  "(YYYY-MM-DD, UTC)",
				  o->period);
			return EXIT_CONFIG;
		}
		if (start + interval > now && o->dry_run == NULL) {
			log_error("--period %s: the period is not over yet "
				  "(only --dry-run may look at it)",
				  o->period);
			return EXIT_CONFIG;
		}
		if (start > now) {
			log_error("--period %s: in the future", o->period);
			return EXIT_CONFIG;
		}
		first = last = start;
	} else if (o->dry_run == NULL) {
		/* earlier periods not sent yet (a failed send, a missed
		 * run), as far back as rows are kept */
		first = last - (int64_t)c->report_retention * 86400;
		first = first / interval * interval;
	}

	if (store_open(conf_report_db(c), &j.store, err, sizeof err) != 0) {
		log_error("ReportDatabase: %s", err);
		return EXIT_CONFIG;
	}
	dopt.mode = c->resolver;
	dopt.forward = c->resolver_forward;
	dopt.trust_anchor = c->trust_anchor_file;
	if (dns_init(&dopt, err, sizeof err) != 0) {
		log_error("DNS: %s", err);
		store_close(j.store);
		return EXIT_CONFIG;
	}
	if (c->report_signing_key != NULL) {
		if (report_mime_from_domain(c->report_from, from_domain,
					    sizeof from_domain) != 0 ||
		    report_sign_open(c->report_signing_key,
				     c->report_signing_selector, from_domain,
				     &j.signer, err, sizeof err) != 0) {
			log_error("ReportSigningKey: %s",
				  from_domain[0] == '\0' ? "ReportFrom has no "
							   "domain"
							 : err);
			dns_shutdown();
			store_close(j.store);
			return EXIT_CONFIG;
		}
	}

	for (int64_t b = first; b <= last; b += interval)
		one_period(&j, b, interval);

	if (o->dry_run == NULL) {
		if (store_purge(j.store, now, c->report_retention, &purged, err,
				sizeof err) != 0) {
			log_error("purge: %s", err);
			j.t.some_failed = true;
		} else if (purged > 0) {
			log_info("purged %" PRIu64 " history rows older than "
				 "ReportRetention (%u days)",
				 purged, c->report_retention);
		}
		if ((j.t.sent > 0 &&
		     store_count_add(j.store, STORE_CNT_SENT, j.t.sent, err,
				     sizeof err) != 0) ||
		    (j.t.failed > 0 &&
		     store_count_add(j.store, STORE_CNT_FAILED, j.t.failed, err,
				     sizeof err) != 0) ||
		    (j.t.skipped > 0 &&
		     store_count_add(j.store, STORE_CNT_SKIPPED, j.t.skipped,
				     err, sizeof err) != 0))
			log_warn("report counters: %s", err);
		log_info("reports: %" PRIu64 " sent, %" PRIu64
			 " failed, %" PRIu64 " destinations skipped",
			 j.t.sent, j.t.failed, j.t.skipped);
	}
	report_sign_close(j.signer);
	dns_shutdown();
	store_close(j.store);
	return j.t.some_failed || j.t.failed > 0 ? EXIT_SOME_FAILED
						 : EXIT_ALL_SENT;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct conf *c;
	int rc = EXIT_CONFIG;

	signal(SIGPIPE, SIG_IGN); /* a sendmail that dies is a status */
	memset(&o, 0, sizeof o);
	log_open(true, false);
	if (parse_args(argc, argv, &o) != 0)
		goto out;
	c = load_logged(&o);
	if (c == NULL)
		goto out;
	/*
	 * stderr always (a shell, cron's mail, or the journal under
	 * systemd); syslog as well when configured, unless stderr is the
	 * journal or a terminal already.
	 */
	log_open(true, c->syslog && getenv("JOURNAL_STREAM") == NULL &&
			   !isatty(STDERR_FILENO));
	log_setup(c->log_level, c->log_format);
	rc = run(&o, c);
	conf_free(c);
out:
	for (size_t i = 0; i < o.nov; i++)
		free((char *)o.ov[i].key);
	free(o.ov);
	return rc;
}
