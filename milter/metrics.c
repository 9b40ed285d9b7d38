/* SPDX-License-Identifier: BSD-2-Clause */
/* metrics - atomic counters and the Prometheus endpoint (libmicrohttpd) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <dkim.h>
#include <libmilter/mfapi.h>
#include <libpsl.h>
#include <microhttpd.h>
#include <unbound.h>

#include "amerr.h"
#include "metrics.h"

#define M_NRESULT (AM_R_SKIPPED + 1)
#define M_NACTION (AM_ACT_REJECT + 1)
#define M_NOUTCOME (METRICS_DNS_INVALID + 1)
#define M_TIMEOUT_S 10 /* idle HTTP connection timeout */

/* The query types we send, in rendering order; index by m_type_idx(). */
static const char *const m_types[] = {
    "A", "AAAA", "MX", "TXT", "PTR",
};
#define M_NTYPE (sizeof m_types / sizeof m_types[0])

/* Histogram upper bounds in seconds; the last bucket is +Inf. */
static const double m_bounds[] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
#define M_NBUCKET (sizeof m_bounds / sizeof m_bounds[0] + 1)

/* Every counter is a relaxed atomic: no lock on the message path. */
static atomic_ulong m_sessions;
static atomic_long m_sessions_open; /* gauge */
static atomic_ulong m_messages;
static atomic_ulong m_skipped[2]; /* [0] authenticated, [1] internal */
static atomic_ulong m_exempt[2];  /* [0] recipients, [1] DMARC domain */
static atomic_ulong m_results[METRICS_MAX_CHECKS][M_NRESULT];
static atomic_ulong m_actions[M_NACTION][2]; /* [action][dry_run] */
static atomic_ulong m_dns[M_NTYPE][M_NOUTCOME];
static atomic_ulong m_dns_bucket[M_NBUCKET]; /* not cumulative */
static atomic_ullong m_dns_sum_us;	     /* microseconds */
static atomic_ulong m_internal;
static atomic_ulong m_psl_mismatches;
static atomic_ulong m_uribl[2];	      /* [0] lookups, [1] listings */
static atomic_int m_dns_down;	      /* 0 or 1 */
static atomic_ulong m_dns_changes[2]; /* [0] to up, [1] to down */
static atomic_ulong m_dns_budget[2];  /* [0] message, [1] session */
static atomic_ulong m_reloads[2];     /* [0] failure, [1] success */
static atomic_int m_last_reload_ok = 1;
static atomic_llong m_last_reload_time; /* 0 until the first */
static atomic_llong m_start_time;

/* Check labels, by check index: set by main before the server starts. */
static const char *m_check_names[METRICS_MAX_CHECKS];

/* The server; written by metrics_start/stop on the main thread only. */
static struct MHD_Daemon *m_daemon;

static void
inc(atomic_ulong *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static unsigned long
get(atomic_ulong *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

void
metrics_session(void)
{
	inc(&m_sessions);
	atomic_fetch_add_explicit(&m_sessions_open, 1, memory_order_relaxed);
}

void
metrics_session_closed(void)
{
	atomic_fetch_sub_explicit(&m_sessions_open, 1, memory_order_relaxed);
}

void
metrics_message(void)
{
	inc(&m_messages);
}

void
metrics_skipped(bool internal)
{
	inc(&m_skipped[internal ? 1 : 0]);
}

void
metrics_exempt(bool dmarc_domain)
{
	inc(&m_exempt[dmarc_domain ? 1 : 0]);
}

void
metrics_check_name(size_t i, const char *name)
{
	if (i < METRICS_MAX_CHECKS)
		m_check_names[i] = name;
}

void
metrics_check_result(size_t i, enum am_result r)
{
	if (i < METRICS_MAX_CHECKS && (unsigned)r < M_NRESULT)
		inc(&m_results[i][r]);
}

void
metrics_action(enum am_action a, bool dry_run)
{
	if ((unsigned)a < M_NACTION)
		inc(&m_actions[a][dry_run ? 1 : 0]);
}

static int
m_type_idx(const char *t)
{
	for (size_t i = 0; i < M_NTYPE; i++)
		if (strcmp(m_types[i], t) == 0)
			return (int)i;
	return -1;
}

void
metrics_dns(const char *type, enum metrics_dns_outcome o, double ms)
{
	int ti = m_type_idx(type);
	double sec = ms / 1000.0;
	size_t b = 0;

	if (ti < 0 || (unsigned)o >= M_NOUTCOME)
		return;
	inc(&m_dns[ti][o]);
	while (b + 1 < M_NBUCKET && sec > m_bounds[b])
		b++;
	inc(&m_dns_bucket[b]);
	atomic_fetch_add_explicit(&m_dns_sum_us,
				  (unsigned long long)(ms > 0 ? ms * 1000 : 0),
				  memory_order_relaxed);
}

void
metrics_dns_down(bool down)
{
	atomic_store(&m_dns_down, down ? 1 : 0);
	inc(&m_dns_changes[down ? 1 : 0]);
}

void
metrics_dns_budget(bool conn)
{
	inc(&m_dns_budget[conn ? 1 : 0]);
}

void
metrics_internal_error(void)
{
	inc(&m_internal);
}

void
metrics_psl_mismatch(void)
{
	inc(&m_psl_mismatches);
}

void
metrics_uribl(unsigned long lookups, unsigned long listings)
{
	atomic_fetch_add_explicit(&m_uribl[0], lookups, memory_order_relaxed);
	atomic_fetch_add_explicit(&m_uribl[1], listings, memory_order_relaxed);
}

void
metrics_reload(bool ok)
{
	inc(&m_reloads[ok ? 1 : 0]);
	atomic_store(&m_last_reload_ok, ok ? 1 : 0);
	atomic_store(&m_last_reload_time, (long long)time(NULL));
}

/* The outcome label (what an administrator expects), by outcome. */
static const char *const m_outcomes[M_NOUTCOME] = {
    [METRICS_DNS_NOERROR] = "NOERROR",	 [METRICS_DNS_NXDOMAIN] = "NXDOMAIN",
    [METRICS_DNS_SERVFAIL] = "SERVFAIL", [METRICS_DNS_TIMEOUT] = "timeout",
    [METRICS_DNS_BOGUS] = "bogus",	 [METRICS_DNS_INVALID] = "invalid",
};

/* A label value with '\\', '"' and newline escaped (exposition format). */
static void
m_label(FILE *fp, const char *v)
{
	for (const char *p = v; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"')
			fprintf(fp, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", fp);
		else
			fputc(*p, fp);
	}
}

static void
m_head(FILE *fp, const char *name, const char *type, const char *help)
{
	fprintf(fp, "# HELP authmilter_%s %s\n# TYPE authmilter_%s %s\n", name,
		help, name, type);
}

/* A series with one value and no labels, with its HELP and TYPE. */
static void
m_one(FILE *fp, const char *name, const char *type, const char *help,
      long long v)
{
	m_head(fp, name, type, help);
	fprintf(fp, "authmilter_%s %lld\n", name, v);
}

static void
m_build_info(FILE *fp)
{
	unsigned int ma = 0, mi = 0, pl = 0;
	uint32_t dv = dkim_libversion();
	char buf[64];

	smfi_version(&ma, &mi, &pl);
	m_head(fp, "build_info", "gauge",
	       "Version of authmilter and of the libraries it runs with.");
	fprintf(fp, "authmilter_build_info{version=\"");
	m_label(fp, AM_VERSION);
	fprintf(fp, "\",libmilter=\"%u.%u.%u\",libunbound=\"", ma, mi, pl);
	m_label(fp, ub_version());
	fprintf(fp, "\",libopendkim=\"%u.%u.%u\",libpsl=\"", dv >> 24,
		(dv >> 16) & 0xff, (dv >> 8) & 0xff);
	m_label(fp, psl_get_version());
	snprintf(buf, sizeof buf, "%s", MHD_get_version());
	fputs("\",libmicrohttpd=\"", fp);
	m_label(fp, buf);
	fputs("\"} 1\n", fp);
}

static void
m_checks(FILE *fp)
{
	m_head(fp, "check_results_total", "counter",
	       "Results of each check, per message verdict.");
	for (size_t i = 0; i < METRICS_MAX_CHECKS; i++) {
		if (m_check_names[i] == NULL)
			continue;
		for (int r = 0; r < (int)M_NRESULT; r++) {
			unsigned long v = get(&m_results[i][r]);

			if (v == 0)
				continue;
			fprintf(fp,
				"authmilter_check_results_total{check=\"%s\","
				"result=\"%s\"} %lu\n",
				m_check_names[i],
				am_result_str((enum am_result)r), v);
		}
	}
	m_head(fp, "actions_total", "counter",
	       "Actions taken; dry_run=\"true\" counts what DryRun would "
	       "have done.");
	for (int a = 0; a < (int)M_NACTION; a++)
		for (int d = 0; d < 2; d++)
			fprintf(fp,
				"authmilter_actions_total{action=\"%s\","
				"dry_run=\"%s\"} %lu\n",
				a == AM_ACT_NONE
				    ? "accept"
				    : am_action_str((enum am_action)a),
				d ? "true" : "false", get(&m_actions[a][d]));
}

static void
m_dns_render(FILE *fp)
{
	unsigned long cum = 0;

	m_head(fp, "dns_queries_total", "counter",
	       "DNS queries answered or timed out, by type and outcome.");
	for (size_t t = 0; t < M_NTYPE; t++) {
		/* the first four outcomes (every dashboard expects them)
		 * always shown, the others once counted */
		for (int o = 0; o < (int)M_NOUTCOME; o++) {
			unsigned long v = get(&m_dns[t][o]);

			if (o > METRICS_DNS_TIMEOUT && v == 0)
				continue;
			fprintf(fp,
				"authmilter_dns_queries_total{type=\"%s\","
				"outcome=\"%s\"} %lu\n",
				m_types[t], m_outcomes[o], v);
		}
	}
	m_head(fp, "dns_query_duration_seconds", "histogram",
	       "Time from sending a DNS query to its answer or timeout.");
	for (size_t b = 0; b < M_NBUCKET; b++) {
		cum += get(&m_dns_bucket[b]);
		if (b + 1 < M_NBUCKET)
			fprintf(fp,
				"authmilter_dns_query_duration_seconds_bucket"
				"{le=\"%g\"} %lu\n",
				m_bounds[b], cum);
		else
			fprintf(fp,
				"authmilter_dns_query_duration_seconds_bucket"
				"{le=\"+Inf\"} %lu\n",
				cum);
	}
	fprintf(
	    fp, "authmilter_dns_query_duration_seconds_sum %.6f\n",
	    (double)atomic_load_explicit(&m_dns_sum_us, memory_order_relaxed) /
		1e6);
	fprintf(fp, "authmilter_dns_query_duration_seconds_count %lu\n", cum);
	m_one(fp, "dns_down", "gauge",
	      "1 while DNS as a whole is down (no lookup succeeds; every "
	      "message is tempfailed), else 0.",
	      atomic_load(&m_dns_down));
	m_head(fp, "dns_state_changes_total", "counter",
	       "Times DNS as a whole went down (to=\"down\") or came back "
	       "(to=\"up\").");
	fprintf(fp,
		"authmilter_dns_state_changes_total{to=\"down\"} %lu\n"
		"authmilter_dns_state_changes_total{to=\"up\"} %lu\n",
		get(&m_dns_changes[1]), get(&m_dns_changes[0]));
	m_head(fp, "dns_budget_exceeded_total", "counter",
	       "Times a message reached its DNS query budget, or a "
	       "session its own (the message is tempfailed).");
	fprintf(fp,
		"authmilter_dns_budget_exceeded_total{scope=\"message\"} "
		"%lu\n"
		"authmilter_dns_budget_exceeded_total{scope=\"session\"} "
		"%lu\n",
		get(&m_dns_budget[0]), get(&m_dns_budget[1]));
}

static void m_history_render(FILE *fp);

char *
metrics_render(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	if (fp == NULL)
		return NULL;
	m_build_info(fp);
	m_one(fp, "start_time_seconds", "gauge",
	      "Start time of the process since the Unix epoch.",
	      atomic_load(&m_start_time));
	m_one(fp, "sessions_total", "counter", "SMTP sessions seen.",
	      (long long)get(&m_sessions));
	m_one(fp, "sessions_open", "gauge", "SMTP sessions open now.",
	      atomic_load_explicit(&m_sessions_open, memory_order_relaxed));
	m_one(fp, "messages_total", "counter", "Messages checked to a verdict.",
	      (long long)get(&m_messages));
	m_head(fp, "messages_skipped_total", "counter",
	       "Messages not checked (InternalHosts, SkipAuthenticated).");
	fprintf(fp,
		"authmilter_messages_skipped_total{reason=\"internal\"} %lu\n"
		"authmilter_messages_skipped_total{reason=\"authenticated\"} "
		"%lu\n",
		get(&m_skipped[1]), get(&m_skipped[0]));
	m_head(fp, "exemptions_total", "counter",
	       "Verdicts not enforced: a reject or quarantine turned into "
	       "tag because every recipient is in ExemptRecipients, or a "
	       "DMARC policy not enforced for a DMARCExemptDomains domain.");
	fprintf(fp,
		"authmilter_exemptions_total{reason=\"recipients\"} %lu\n"
		"authmilter_exemptions_total{reason=\"dmarc_domain\"} %lu\n",
		get(&m_exempt[0]), get(&m_exempt[1]));
	m_checks(fp);
	m_dns_render(fp);
	m_one(fp, "internal_errors_total", "counter",
	      "Sessions tempfailed with 451 4.3.0 for an internal error.",
	      (long long)get(&m_internal));
	m_head(fp, "config_reloads_total", "counter",
	       "SIGHUP configuration reloads, by result.");
	fprintf(fp,
		"authmilter_config_reloads_total{result=\"success\"} %lu\n"
		"authmilter_config_reloads_total{result=\"failure\"} %lu\n",
		get(&m_reloads[1]), get(&m_reloads[0]));
	m_one(fp, "config_last_reload_successful", "gauge",
	      "1 if the last reload worked (or none happened), else 0.",
	      atomic_load(&m_last_reload_ok));
	m_one(fp, "config_last_reload_timestamp_seconds", "gauge",
	      "Time of the last reload attempt, 0 if none.",
	      atomic_load(&m_last_reload_time));
	m_one(fp, "psl_mismatches_total", "counter",
	      "Organizational domains where the DMARC tree walk and the "
	      "Public Suffix List disagree.",
	      (long long)get(&m_psl_mismatches));
	m_one(fp, "uribl_lookups_total", "counter",
	      "URIBL lookups: a link domain queried in a URIBL zone.",
	      (long long)get(&m_uribl[0]));
	m_one(fp, "uribl_listings_total", "counter",
	      "URIBL lookups whose answer listed the domain.",
	      (long long)get(&m_uribl[1]));
	m_history_render(fp);
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static enum MHD_Result
m_reply(struct MHD_Connection *conn, unsigned int status, char *body,
	enum MHD_ResponseMemoryMode mode, const char *ctype)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), body, mode);
	if (r == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
m_handler(void *cls, struct MHD_Connection *conn, const char *url,
	  const char *method, const char *version, const char *upload,
	  size_t *upload_size, void **con_cls)
{
	static const char text[] = "text/plain; charset=utf-8";
	char *body;

	(void)cls;
	(void)version;
	(void)upload;
	(void)con_cls;
	if (*upload_size != 0) {
		*upload_size = 0; /* ignore request bodies */
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return m_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			       (char *)"only GET\n", MHD_RESPMEM_PERSISTENT,
			       text);
	if (strcmp(url, "/metrics") != 0 && strcmp(url, "/") != 0)
		return m_reply(conn, MHD_HTTP_NOT_FOUND,
			       (char *)"not found: try /metrics\n",
			       MHD_RESPMEM_PERSISTENT, text);
	body = metrics_render();
	if (body == NULL)
		return MHD_NO;
	return m_reply(conn, MHD_HTTP_OK, body, MHD_RESPMEM_MUST_FREE,
		       "text/plain; version=0.0.4; charset=utf-8");
}

/* "ADDR:PORT" or "[ADDR]:PORT" to a socket address. */
static int
m_parse(const char *listen, struct sockaddr_storage *ss)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *colon, *a = listen;
	size_t alen;
	long port;
	char *end;

	memset(ss, 0, sizeof *ss);
	if (listen[0] == '[') {
		const char *rb = strchr(listen, ']');

		if (rb == NULL || rb[1] != ':')
			return AM_EINVAL;
		a = listen + 1;
		alen = (size_t)(rb - a);
		colon = rb + 1;
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL)
			return AM_EINVAL;
		alen = (size_t)(colon - listen);
	}
	if (alen >= sizeof addr)
		return AM_EINVAL;
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return AM_EINVAL;
	if (listen[0] != '[') {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return inet_pton(AF_INET, addr, &sin->sin_addr) == 1
			   ? 0
			   : AM_EINVAL;
	}
	{
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1
			   ? 0
			   : AM_EINVAL;
	}
}

int
metrics_start(const char *listen, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
	int rc;

	atomic_store(&m_start_time, (long long)time(NULL));
	if (listen == NULL || m_daemon != NULL)
		return 0;
	rc = m_parse(listen, &ss);
	if (rc < 0) {
		snprintf(err, errlen, "MetricsListen: bad address \"%s\"",
			 listen);
		return rc;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m_daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, m_handler, NULL, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)METRICS_MAX_CONN, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)M_TIMEOUT_S, MHD_OPTION_END);
	if (m_daemon == NULL) {
		snprintf(err, errlen,
			 "MetricsListen: libmicrohttpd cannot listen on %s",
			 listen);
		return AM_ELIB;
	}
	return 0;
}

void
metrics_stop(void)
{
	if (m_daemon != NULL) {
		MHD_stop_daemon(m_daemon);
		m_daemon = NULL;
	}
}

/* DMARC history (history.c) and the report program's counters. */
static atomic_ulong m_hist[3];	   /* recorded, written, dropped */
static atomic_long m_hist_queue;   /* gauge */
static atomic_int m_hist_db_up;	   /* gauge, 0 or 1 */
static atomic_int m_hist_on;	   /* history_start() ran: show them */
static atomic_ullong m_reports[3]; /* sent, failed, skipped (absolute) */

void
metrics_history_on(void)
{
	atomic_store(&m_hist_on, 1);
}

void
metrics_history_rows(enum metrics_history_outcome o, unsigned long n)
{
	if ((unsigned int)o < 3)
		atomic_fetch_add_explicit(&m_hist[o], n, memory_order_relaxed);
}

void
metrics_history_queue(long n)
{
	atomic_store_explicit(&m_hist_queue, n, memory_order_relaxed);
}

void
metrics_history_db_up(bool up)
{
	atomic_store(&m_hist_db_up, up ? 1 : 0);
}

void
metrics_reports(unsigned long long sent, unsigned long long failed,
		unsigned long long skipped)
{
	atomic_store(&m_reports[0], sent);
	atomic_store(&m_reports[1], failed);
	atomic_store(&m_reports[2], skipped);
}

static void
m_history_render(FILE *fp)
{
	if (!atomic_load(&m_hist_on))
		return;
	m_head(fp, "history_rows_total", "counter",
	       "DMARC history rows: recorded at end of message, written to "
	       "the database, dropped with the queue full.");
	fprintf(fp,
		"authmilter_history_rows_total{outcome=\"recorded\"} %lu\n"
		"authmilter_history_rows_total{outcome=\"written\"} %lu\n"
		"authmilter_history_rows_total{outcome=\"dropped\"} %lu\n",
		get(&m_hist[0]), get(&m_hist[1]), get(&m_hist[2]));
	m_one(fp, "history_queue", "gauge",
	      "DMARC history rows waiting for the database.",
	      atomic_load_explicit(&m_hist_queue, memory_order_relaxed));
	m_one(fp, "history_db_up", "gauge",
	      "1 when the history database is reachable, else 0.",
	      atomic_load(&m_hist_db_up));
	m_head(fp, "reports_total", "counter",
	       "DMARC aggregate reports of authmilter-report (from the "
	       "database): sent, failed (retried), skipped destinations.");
	fprintf(fp,
		"authmilter_reports_total{outcome=\"sent\"} %llu\n"
		"authmilter_reports_total{outcome=\"failed\"} %llu\n"
		"authmilter_reports_total{outcome=\"skipped\"} %llu\n",
		(unsigned long long)atomic_load(&m_reports[0]),
		(unsigned long long)atomic_load(&m_reports[1]),
		(unsigned long long)atomic_load(&m_reports[2]));
}
