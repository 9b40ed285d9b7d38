/*
 * report_run - the aggregate reports of one period, built and sent
 *
 * report_run_period() is the body of authmilter-report: for each policy
 * domain that store_domains() lists for [begin, begin + interval), it
 * skips a (domain, period) already sent, takes the Report-ID kept for a
 * failed one (report_mime_id() otherwise), groups the rows
 * (store_groups()), writes the XML (report_xml) and gzips it, looks up
 * and verifies the destinations (report_rua) on a DNS set of its own,
 * builds and signs one message per destination (report_mime,
 * report_sign) and hands each to ReportSendmail with
 * report_run_sendmail(). It then marks the period SENT (also when there
 * was no verified destination, or no rua: nothing to retry) or FAILED
 * (a send or a lookup failed: the next run tries again, with the same
 * Report-ID and file name). With dry_run set it writes NAME.xml.gz and
 * NAME.eml into that directory instead and marks nothing. Every failure
 * is logged with the domain, the period, the destination and the cause.
 *
 * Caps: SENDMAIL_TIMEOUT_S per sendmail run (then it is killed: a
 *   failed send); ReportSendmail of at most 32 words.
 * Ownership: struct report_run is the caller's; everything in it is
 *   borrowed (configuration, store, signer).
 * Threads: one run, one thread (it uses the store and a DNS set). The
 *   program ignores SIGPIPE (report_main.c does), so that a sendmail
 *   that exits early is a failed send, not the end of the program.
 * Errors: none returned: the counters and some_failed in the struct
 *   say what happened.
 * See also: report_main.c, store.h, RFC 9990 sections 3.5 and 4.
 */
#ifndef AM_REPORT_RUN_H
#define AM_REPORT_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "report_sign.h"
#include "store.h"

#define SENDMAIL_TIMEOUT_S 300 /* one sendmail run, then it is killed */

struct report_run {
	/* set by the caller */
	const struct conf *c;
	struct store *store;
	struct report_signer *signer;	 /* NULL: unsigned */
	const char *submitter;		 /* ReportSubmitter or AuthservID */
	const char *org_name;		 /* ReportOrgName or AuthservID */
	const char *dry_run;		 /* --dry-run DIR or NULL */
	unsigned int dns_ms;		 /* wait per round of lookups */
	unsigned int sendmail_timeout_s; /* 0: SENDMAIL_TIMEOUT_S */
	/* what the run did */
	uint64_t sent;	  /* messages handed to ReportSendmail */
	uint64_t failed;  /* messages (or lookups) that failed */
	uint64_t skipped; /* destinations ignored or not verified */
	bool some_failed; /* anything failed: exit status 2 */
};

/* report_run_period - every report of [begin, begin + interval). */
void report_run_period(struct report_run *r, int64_t begin, int64_t interval);

/*
 * report_run_sendmail - pipe len octets of msg to cmd (split on spaces,
 * no shell), killing it after timeout_s seconds. 0 when it took all of
 * it and exited 0, else -1 and the cause in why.
 */
int report_run_sendmail(const char *cmd, const char *msg, size_t len,
			unsigned int timeout_s, char *why, size_t whylen);

#endif
