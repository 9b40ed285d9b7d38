/*
 * metrics - Prometheus counters and the MetricsListen HTTP endpoint
 *
 * The message path only bumps C11 atomic counters (relaxed order, no
 * lock): metrics_session(), metrics_message(), metrics_check_result(),
 * metrics_action(), metrics_dns() (query count by type and outcome,
 * plus a latency histogram with atomic buckets), metrics_internal_error()
 * and metrics_reload(). metrics_render() turns them into the Prometheus
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
 *   build_info{version,libmilter,...}, and start_time_seconds.
 *
 * Caps: at most METRICS_MAX_CHECKS checks are counted (further indexes
 *   are ignored); the server accepts METRICS_MAX_CONN connections at a
 *   time and answers only GET (405 otherwise, 404 for other paths).
 * Ownership: metrics_render() returns a malloc'd string the caller
 *   frees. All counters are process-wide statics.
 * Threads: the counter functions may be called from any thread at any
 *   time, also before metrics_start() (counting never depends on the
 *   server). metrics_start()/metrics_stop() are called by main only.
 * Errors: metrics_start() returns AM_EINVAL for a bad address and
 *   AM_ELIB when libmicrohttpd cannot listen, with a message in err.
 * See also: https://prometheus.io/docs/instrumenting/exposition_formats/
 */
#ifndef AM_METRICS_H
#define AM_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "dns.h"
#include "result.h"

#define METRICS_MAX_CHECKS 16
#define METRICS_MAX_CONN 16

/* metrics_session - a session opened. */
void metrics_session(void);

/* metrics_session_closed - a session closed. */
void metrics_session_closed(void);

/* metrics_message - a message reached a verdict (checked). */
void metrics_message(void);

/* metrics_skipped - a message was not checked; internal or not. */
void metrics_skipped(bool internal);

/* metrics_check_result - check number i (check table order) gave r. */
void metrics_check_result(size_t i, enum am_result r);

/*
 * metrics_action - the message's action: what was done, or with
 * dry_run what would have been done (the label dry_run="true").
 * AM_ACT_NONE is counted as action="accept".
 */
void metrics_action(enum am_action a, bool dry_run);

/* metrics_dns - one answered or timed-out query and its latency. */
void metrics_dns(enum dns_type t, enum dns_status s, double ms);

/* metrics_dns_down - DNS as a whole went down (true) or came back. */
void metrics_dns_down(bool down);

/*
 * metrics_dns_budget - a set reached its DNS query budget: the
 * session's (conn) or one message's.
 */
void metrics_dns_budget(bool conn);

/* metrics_internal_error - a session was tempfailed with 451 4.3.0. */
void metrics_internal_error(void);

/* metrics_reload - a SIGHUP reload ended; ok says whether it worked. */
void metrics_reload(bool ok);

/*
 * metrics_render - the whole exposition text, or NULL on ENOMEM. The
 * open-session gauge is read from filter_sessions().
 */
char *metrics_render(void);

/*
 * metrics_start - serve metrics_render() on listen ("ADDR:PORT" or
 * "[ADDR]:PORT"). Returns 0, or a negative AM_E* code with a message.
 */
int metrics_start(const char *listen, char *err, size_t errlen);

/* metrics_stop - stop the server (no-op when it is not running). */
void metrics_stop(void);

#endif
