/*
 * metrics - Prometheus counters and the MetricsListen HTTP endpoint
 *
 * The message path only bumps C11 atomic counters (relaxed order, no
 * lock): metrics_session() and metrics_session_closed() (the session
 * count and the open-session gauge), metrics_message(),
 * metrics_check_result(), metrics_action(), metrics_dns() (query count
 * by type and outcome, plus a latency histogram with atomic buckets),
 * metrics_internal_error(), metrics_psl_mismatch() and metrics_reload().
 * metrics is a leaf: it includes no module above result.h; what it
 * counts is pushed to it, and the names it shows (checks, DNS types)
 * are handed to it. metrics_render() turns them into the Prometheus
 * text exposition format 0.0.4; metrics_start() serves that at
 * http://ADDR:PORT/metrics with libmicrohttpd (its own polling thread),
 * and metrics_stop() shuts the server down.
 *
 * Series (all prefixed authmilter_): sessions_total, sessions_open,
 *   messages_total, messages_skipped_total{reason},
 *   check_results_total{check,result}, actions_total{action,dry_run},
 *   dns_queries_total{type,outcome}, dns_query_duration_seconds
 *   (histogram), dns_down (gauge, 0 or 1), dns_state_changes_total{to},
 *   dns_budget_exceeded_total{scope}, internal_errors_total,
 *   config_reloads_total{result}, config_last_reload_successful,
 *   config_last_reload_timestamp_seconds, psl_mismatches_total,
 *   build_info{version,libmilter,...}, start_time_seconds, and with
 *   reporting on (metrics_history_on()): history_rows_total{outcome=
 *   "recorded"|"written"|"dropped"}, history_queue (gauge),
 *   history_db_up (gauge) and reports_total{outcome="sent"|"failed"|
 *   "skipped"} (the report program's counters, read from the database
 *   by the history writer).
 *
 * Caps: at most METRICS_MAX_CHECKS checks are counted (further indexes
 *   are ignored; a check with no name given by metrics_check_name() is
 *   not shown); only the DNS types of metrics_dns() are counted; the
 *   server accepts METRICS_MAX_CONN connections at a
 *   time and answers only GET (405 otherwise, 404 for other paths).
 * Ownership: metrics_render() returns a malloc'd string the caller
 *   frees. All counters are process-wide statics. Check names are
 *   borrowed (static strings).
 * Threads: the counter functions may be called from any thread at any
 *   time, also before metrics_start() (counting never depends on the
 *   server). metrics_check_name(), metrics_start() and metrics_stop()
 *   are called by main only, metrics_check_name() before
 *   metrics_start().
 * Errors: metrics_start() returns AM_EINVAL for a bad address and
 *   AM_ELIB when libmicrohttpd cannot listen, with a message in err.
 * See also: https://prometheus.io/docs/instrumenting/exposition_formats/
 */
#ifndef AM_METRICS_H
#define AM_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "result.h"

#define METRICS_MAX_CHECKS 16
#define METRICS_MAX_CONN 16

/* metrics_session - a session opened: counted, and the gauge raised. */
void metrics_session(void);

/*
 * metrics_session_closed - a session counted by metrics_session() was
 * freed: the open-session gauge goes down by one.
 */
void metrics_session_closed(void);

/* metrics_message - a message reached a verdict (checked). */
void metrics_message(void);

/* metrics_skipped - a message was not checked; internal or not. */
void metrics_skipped(bool internal);

/*
 * metrics_exempt - a verdict was not enforced: every recipient exempt
 * (ExemptRecipients), or a DMARC policy of a DMARCExemptDomains domain
 * (dmarc_domain).
 */
void metrics_exempt(bool dmarc_domain);

/*
 * metrics_check_name - the label of check number i (check table order)
 * in check_results_total; name is borrowed and must stay valid (a
 * static string).
 */
void metrics_check_name(size_t i, const char *name);

/* metrics_check_result - check number i (check table order) gave r. */
void metrics_check_result(size_t i, enum am_result r);

/*
 * metrics_action - the message's action: what was done, or with
 * dry_run what would have been done (the label dry_run="true").
 * AM_ACT_NONE is counted as action="accept".
 */
void metrics_action(enum am_action a, bool dry_run);

/* The outcome label of a DNS query in dns_queries_total. */
enum metrics_dns_outcome {
	METRICS_DNS_NOERROR = 0, /* data or nodata */
	METRICS_DNS_NXDOMAIN,
	METRICS_DNS_SERVFAIL,
	METRICS_DNS_TIMEOUT,
	METRICS_DNS_BOGUS,   /* shown only once counted */
	METRICS_DNS_INVALID, /* shown only once counted */
};

/*
 * metrics_dns - one answered or timed-out query of type ("A", "AAAA",
 * "MX", "TXT" or "PTR"; other types are not counted), its outcome and
 * its latency in milliseconds.
 */
void metrics_dns(const char *type, enum metrics_dns_outcome o, double ms);

/* metrics_dns_down - DNS as a whole went down (true) or came back. */
void metrics_dns_down(bool down);

/*
 * metrics_dns_budget - a set reached its DNS query budget: the
 * session's (conn) or one message's.
 */
void metrics_dns_budget(bool conn);

/* metrics_internal_error - a session was tempfailed with 451 4.3.0. */
void metrics_internal_error(void);

/*
 * metrics_psl_mismatch - the DMARC tree walk and the Public Suffix List
 * gave different organizational domains (orgdom_psl_check()).
 */
void metrics_psl_mismatch(void);

/*
 * metrics_uribl - count a message's URIBL lookups (domain and zone
 * pairs queried) and listings (pairs whose answer passed the filter).
 */
void metrics_uribl(unsigned long lookups, unsigned long listings);

/* metrics_reload - a SIGHUP reload ended; ok says whether it worked. */
void metrics_reload(bool ok);

/* metrics_render - the whole exposition text, or NULL on ENOMEM. */
char *metrics_render(void);

/*
 * metrics_start - serve metrics_render() on listen ("ADDR:PORT" or
 * "[ADDR]:PORT"). Returns 0, or a negative AM_E* code with a message.
 */
int metrics_start(const char *listen, char *err, size_t errlen);

/* metrics_stop - stop the server (no-op when it is not running). */
void metrics_stop(void);

/* DMARC history (history.c): pushed here, shown once history is on. */
enum metrics_history_outcome {
	METRICS_HIST_RECORDED = 0, /* queued at end of message */
	METRICS_HIST_WRITTEN,	   /* written to the database */
	METRICS_HIST_DROPPED,	   /* lost: queue full, or at shutdown */
};

/* metrics_history_on - show the history series (history_start()). */
void metrics_history_on(void);

/* metrics_history_rows - n rows had outcome o. */
void metrics_history_rows(enum metrics_history_outcome o, unsigned long n);

/* metrics_history_queue - rows queued now (gauge). */
void metrics_history_queue(long n);

/* metrics_history_db_up - the history database is reachable or not. */
void metrics_history_db_up(bool up);

/*
 * metrics_reports - the report program's counters as read from the
 * database (absolute values: reports_total{outcome}).
 */
void metrics_reports(unsigned long long sent, unsigned long long failed,
		     unsigned long long skipped);

#endif
