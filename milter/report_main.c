/* SPDX-License-Identifier: BSD-2-Clause */
/* report_main - authmilter-report, the DMARC aggregate report program */
/* (RFC 9990; see docs/REPORTS.md and authmilter-report(8)) */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "amerr.h"
#include "conf.h"
#include "dns.h"
#include "log.h"
#include "report_mime.h"
#include "report_run.h"
#include "report_sign.h"
#include "store.h"

#define EXIT_ALL_SENT 0
#define EXIT_CONFIG 1
#define EXIT_SOME_FAILED 2

struct opts {
	const char *file;	  /* -c */
	struct conf_override *ov; /* -o */
	size_t nov;
	const char *period;  /* --period YYYY-MM-DD */
	const char *dry_run; /* --dry-run DIR */
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
	time_t tt;
	char *end, back[16];

	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0' || strlen(s) != 10)
		return -1;
	tt = timegm(&tm);
	/* timegm makes 2026-02-31 into 2026-03-03: only a day that is
	 * written back the same exists */
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(back, sizeof back, "%Y-%m-%d", &tm) != 10 ||
	    strcmp(back, s) != 0)
		return -1;
	*t = (int64_t)tt;
	return 0;
}

static int
run(const struct opts *o, struct conf *c)
{
	struct report_run j;
	struct dns_options dopt;
	char err[512], from_domain[256], fname[REPORT_FILENAME_MAX];
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
	if (report_mime_filename(j.submitter, "example.org", 0, 1, fname,
				 sizeof fname) != 0) {
		log_error("ReportSubmitter (or AuthservID) %s is not a domain "
			  "name: it names the reports (RFC 9990 3.5.2)",
			  j.submitter);
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
	/* one sending run per database at a time (a dry run marks nothing) */
	if (o->dry_run == NULL) {
		bool got = false;

		if (store_run_lock(j.store, &got, err, sizeof err) != 0) {
			log_error("ReportDatabase: %s", err);
			store_close(j.store);
			return EXIT_SOME_FAILED;
		}
		if (!got) {
			log_info("another authmilter-report run holds the "
				 "report lock of the database: nothing to do");
			store_close(j.store);
			return EXIT_ALL_SENT;
		}
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
		report_run_period(&j, b, interval);

	if (o->dry_run == NULL) {
		if (store_purge(j.store, now, c->report_retention, &purged, err,
				sizeof err) != 0) {
			log_error("purge: %s", err);
			j.some_failed = true;
		} else if (purged > 0) {
			log_info("purged %" PRIu64 " history rows older than "
				 "ReportRetention (%u days)",
				 purged, c->report_retention);
		}
		if ((j.sent > 0 &&
		     store_count_add(j.store, STORE_CNT_SENT, j.sent, err,
				     sizeof err) != 0) ||
		    (j.failed > 0 &&
		     store_count_add(j.store, STORE_CNT_FAILED, j.failed, err,
				     sizeof err) != 0) ||
		    (j.skipped > 0 &&
		     store_count_add(j.store, STORE_CNT_SKIPPED, j.skipped, err,
				     sizeof err) != 0))
			log_warn("report counters: %s", err);
		log_info("reports: %" PRIu64 " sent, %" PRIu64
			 " failed, %" PRIu64 " destinations skipped",
			 j.sent, j.failed, j.skipped);
	}
	report_sign_close(j.signer);
	dns_shutdown();
	store_close(j.store);
	return j.some_failed || j.failed > 0 ? EXIT_SOME_FAILED : EXIT_ALL_SENT;
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
	c = conf_load_logged(o.file, o.ov, o.nov);
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
