/* SPDX-License-Identifier: BSD-2-Clause */
/* report_run - the reports of one period: build, send or write, mark */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "report_mime.h"
#include "report_rua.h"
#include "report_run.h"
#include "report_sign.h"
#include "report_xml.h"

#define SENDMAIL_ARGS 32 /* words of ReportSendmail */

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
 * a shell), within timeout_s: a command that hangs is killed.
 * 0 when it took the whole message and exited 0; otherwise -1 with the
 * cause in why.
 */
int
report_run_sendmail(const char *cmd, const char *msg, size_t len,
		    unsigned int timeout_s, char *why, size_t whylen)
{
	char *copy = strdup(cmd), *argv[SENDMAIL_ARGS + 1], *save = NULL;
	int fds[2], status = 0, n = 0;
	int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000;
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
		snprintf(why, whylen, "%s did not finish within %u s (killed)",
			 cmd, timeout_s);
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
	/* not through a link planted in a directory others can write */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0640);
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
make_message(struct report_run *j, const char *domain, const char *report_id,
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
dry_run_files(struct report_run *j, const char *domain, const char *report_id,
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
send_report(struct report_run *j, const char *domain, const char *report_id,
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
		j->failed++;
		st = STORE_REPORT_FAILED;
		goto out;
	}
	report_rua_destinations(set, domain, j->c->report_max_uris, j->dns_ms,
				rua);
	j->skipped += rua->skipped;
	for (size_t i = 0; i < rua->n; i++) {
		const struct report_dest *d = &rua->dest[i];
		char *msg;
		size_t len;
		bool done = false;

		/* a retry: not again to those that took it */
		if (store_dest_sent(j->store, domain, begin, d->addr, &done,
				    why, sizeof why) != 0) {
			log_error("report for %s, period %s, to %s: not sent: "
				  "%s; tried again next run",
				  domain, period, d->addr, why);
			bad++;
			continue;
		}
		if (done) {
			log_info("report for %s, period %s: %s took it on an "
				 "earlier run",
				 domain, period, d->addr);
			continue;
		}
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
		if (report_run_sendmail(j->c->report_sendmail, msg, len,
					j->sendmail_timeout_s > 0
					    ? j->sendmail_timeout_s
					    : SENDMAIL_TIMEOUT_S,
					why, sizeof why) == 0) {
			log_info("report for %s, period %s, Report-ID %s: "
				 "sent to %s (%zu octets)",
				 domain, period, report_id, d->addr, len);
			ok++;
			if (store_mark_dest(j->store, domain, begin, d->addr,
					    why, sizeof why) != 0)
				log_error("report for %s, period %s: could not "
					  "record that %s took it (%s): a "
					  "retry may send it there again",
					  domain, period, d->addr, why);
		} else {
			log_error("report for %s, period %s, to %s: not sent: "
				  "%s; tried again next run",
				  domain, period, d->addr, why);
			bad++;
		}
		free(msg);
	}
	j->sent += ok;
	j->failed += bad;
	if (bad > 0 || rua->temperror) {
		if (rua->temperror && bad == 0)
			log_error("report for %s, period %s: not sent to every "
				  "destination (DNS failed); tried again next "
				  "run",
				  domain, period);
		if (rua->temperror && bad == 0)
			j->failed++;
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
one_report(struct report_run *j, const char *domain, int64_t begin, int64_t end)
{
	char err[512], report_id[STORE_REPORT_ID], period[80], b[32], e[32];
	char fname[REPORT_FILENAME_MAX];
	enum store_report_state state;
	struct store_group *groups = NULL;
	size_t ngroups = 0, xmllen = 0, gzlen = 0;
	char *xml = NULL;
	unsigned char *gz = NULL;
	struct report_meta meta;
	bool truncated = false;

	fmt_time(begin, b, sizeof b);
	fmt_time(end, e, sizeof e);
	snprintf(period, sizeof period, "%s..%s", b, e);
	if (store_report_state(j->store, domain, begin, &state, report_id, err,
			       sizeof err) != 0) {
		log_error("report for %s, period %s: %s", domain, period, err);
		j->some_failed = true;
		return;
	}
	if (state == STORE_REPORT_SENT && j->dry_run == NULL)
		return;
	/*
	 * A policy domain that cannot be named in the file name or the
	 * Subject (not a domain name: the history holds what the daemon
	 * looked up) can never be reported: done with for good.
	 */
	if (report_mime_filename(j->submitter, domain, begin, end, fname,
				 sizeof fname) != 0) {
		log_error("report for %s, period %s: not reportable: the "
			  "policy domain is not a domain name (or too long)",
			  domain, period);
		if (j->dry_run == NULL &&
		    store_mark_reported(j->store, domain, begin, end + 1,
					STORE_REPORT_SENT, "", err,
					sizeof err) != 0) {
			log_error("report for %s: %s", domain, err);
			j->some_failed = true;
		}
		return;
	}
	/* a retry keeps the Report-ID it was first tried with */
	if (state != STORE_REPORT_FAILED || report_id[0] == '\0') {
		if (report_mime_id(j->submitter, domain, begin, report_id,
				   sizeof report_id) != 0) {
			log_error("report for %s: ReportSubmitter %s cannot "
				  "make a Report-ID",
				  domain, j->submitter);
			j->some_failed = true;
			return;
		}
	}
	if (store_groups(j->store, domain, begin, end + 1, &groups, &ngroups,
			 &truncated, err, sizeof err) != 0) {
		log_error("report for %s, period %s: %s", domain, period, err);
		j->some_failed = true;
		return;
	}
	if (truncated)
		log_warn("report for %s, period %s: more than %d distinct "
			 "records; only the %d largest are reported (the "
			 "others' messages are not counted)",
			 domain, period, STORE_MAX_GROUPS, STORE_MAX_GROUPS);
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
		j->some_failed = true;
		goto out;
	}
	if (j->dry_run != NULL) {
		if (dry_run_files(j, domain, report_id, begin, end, gz,
				  gzlen) != 0)
			j->some_failed = true;
		goto out;
	}
	state =
	    send_report(j, domain, report_id, begin, end, gz, gzlen, period);
	if (state == STORE_REPORT_FAILED)
		j->some_failed = true;
	if (store_mark_reported(j->store, domain, begin, end + 1, state,
				report_id, err, sizeof err) != 0) {
		log_error("report for %s, period %s: could not be marked %s: "
			  "%s",
			  domain, period,
			  state == STORE_REPORT_SENT ? "sent" : "failed", err);
		j->some_failed = true;
	}
out:
	free(groups);
	free(xml);
	free(gz);
}

void
report_run_period(struct report_run *j, int64_t begin, int64_t interval)
{
	char(*domains)[HISTORY_DOMAIN] = NULL;
	size_t n = 0;
	char err[512];

	if (store_domains(j->store, begin, begin + interval, &domains, &n, err,
			  sizeof err) != 0) {
		log_error("reports from %" PRId64 ": %s", begin, err);
		j->some_failed = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		one_report(j, domains[i], begin, begin + interval - 1);
	free(domains);
}
