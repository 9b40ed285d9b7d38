/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_store - the history store on a real SQLite file, and with "pg" as
 * argument on the PostgreSQL cluster of $AM_TEST_PG_URI (tests/pg/
 * with-pg.sh starts one): rows, groups and their counts, report states,
 * counters, purge, schema version, URIs and passwords in messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "amerr.h"
#include "store.h"

static char t_dir[256];	 /* the SQLite cases' temporary directory */
static char t_uri[1024]; /* the database of the current group */
static bool t_pg;	 /* the group runs on PostgreSQL */

static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* raw - one SQL statement on the database, around the store. */
static void
raw(const char *sql)
{
	if (t_pg) {
		PGconn *c = PQconnectdb(t_uri);
		PGresult *r;

		assert_int_equal(PQstatus(c), CONNECTION_OK);
		PQsetNoticeProcessor(c, quiet, NULL);
		r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK &&
		    PQresultStatus(r) != PGRES_TUPLES_OK)
			fail_msg("%s: %s", sql, PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(c);
	} else {
		sqlite3 *db;
		char *msg = NULL;

		assert_int_equal(sqlite3_open(t_uri + 7, &db), SQLITE_OK);
		if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
			fail_msg("%s: %s", sql, msg);
		sqlite3_close(db);
	}
}

static void
unlink_db(void)
{
	char p[1100];

	unlink(t_uri + 7);
	snprintf(p, sizeof p, "%s-wal", t_uri + 7);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", t_uri + 7);
	unlink(p);
}

/* Each case starts from an empty database. */
static int
fresh(void **state)
{
	(void)state;
	if (t_pg)
		raw("DROP TABLE IF EXISTS authmilter_history, "
		    "authmilter_reports, authmilter_counters, "
		    "authmilter_schema");
	else
		unlink_db();
	return 0;
}

static struct store *
open_ok(void)
{
	struct store *s = NULL;
	char err[512] = "";

	if (store_open(t_uri, &s, err, sizeof err) != 0)
		fail_msg("store_open: %s", err);
	assert_string_equal(store_kind(s), t_pg ? "postgresql" : "sqlite");
	return s;
}

static void
row_init(struct history_row *r, int64_t t, const char *ip, const char *dom)
{
	memset(r, 0, sizeof *r);
	r->time = t;
	snprintf(r->source_ip, sizeof r->source_ip, "%s", ip);
	snprintf(r->reporter, sizeof r->reporter, "mx1.example.net");
	snprintf(r->header_from, sizeof r->header_from, "%s", dom);
	snprintf(r->envelope_from, sizeof r->envelope_from, "%s", dom);
	snprintf(r->envelope_to, sizeof r->envelope_to, "example.net");
	snprintf(r->policy_domain, sizeof r->policy_domain, "%s", dom);
	r->p = DMARC_P_REJECT;
	r->sp = DMARC_P_QUARANTINE;
	r->np = DMARC_P_UNSET;
	r->adkim = DMARC_ALIGN_STRICT;
	r->aspf = DMARC_ALIGN_RELAXED;
	r->psd = DMARC_PSD_U;
	r->discovery_walk = true;
	r->dmarc = AM_R_PASS;
	r->dkim_aligned = true;
	r->disposition = DMARC_P_NONE;
	snprintf(r->spf_domain, sizeof r->spf_domain, "%s", dom);
	r->spf = AM_R_PASS;
	r->ndkim = 2;
	snprintf(r->dkim[0].domain, sizeof r->dkim[0].domain, "%s", dom);
	snprintf(r->dkim[0].selector, sizeof r->dkim[0].selector, "s1");
	r->dkim[0].result = AM_R_PASS;
	r->dkim[0].aligned = true;
	snprintf(r->dkim[1].domain, sizeof r->dkim[1].domain, "esp.example");
	snprintf(r->dkim[1].selector, sizeof r->dkim[1].selector, "k/1,x");
	r->dkim[1].result = AM_R_FAIL;
}

static void
insert_ok(struct store *s, const struct history_row *r, size_t n)
{
	char err[512] = "";

	if (store_insert(s, r, n, err, sizeof err) != 0)
		fail_msg("store_insert: %s", err);
}

static void
groups_ok(struct store *s, const char *dom, int64_t b, int64_t e,
	  struct store_group **g, size_t *n)
{
	char err[512] = "";
	bool cut = true;

	if (store_groups(s, dom, b, e, g, n, &cut, err, sizeof err) != 0)
		fail_msg("store_groups: %s", err);
	assert_false(cut);
}

/*
 * A policy domain with more distinct groups than STORE_MAX_GROUPS in a
 * period (spam forging a big brand's From: from a botnet: one group per
 * address; or a hostile domain signing each message with a new
 * selector): the report program held every group in memory (4.9 KB
 * each, a million groups 5 GB), then the XML, and died, and with it
 * every later domain's report, on every run. The largest groups are
 * returned, and the cut is said.
 */
static void
test_groups_cap(void **state)
{
	struct store *s = open_ok();
	struct history_row *r = calloc(STORE_MAX_GROUPS + 1, sizeof *r);
	struct store_group *g = NULL;
	size_t n = 0, total = STORE_MAX_GROUPS + 5, done = 0;
	char err[512] = "";
	bool cut = false;

	(void)state;
	assert_non_null(r);
	while (done < total) {
		size_t k = 0;

		for (; k < 1000 && done + k < total; k++) {
			char ip[HISTORY_IP];
			size_t i = done + k;

			snprintf(ip, sizeof ip, "10.%zu.%zu.%zu", i >> 16,
				 (i >> 8) & 255, i & 255);
			row_init(&r[k], 1000, ip, "big.example");
			snprintf(r[k].dkim[0].selector,
				 sizeof r[k].dkim[0].selector, "s%zu", i);
		}
		insert_ok(s, r, k);
		done += k;
	}
	/* one group of 3 rows: the largest, first */
	row_init(&r[0], 1001, "192.0.2.7", "big.example");
	r[1] = r[0];
	insert_ok(s, r, 2);
	assert_int_equal(store_groups(s, "big.example", 0, 2000, &g, &n, &cut,
				      err, sizeof err),
			 0);
	assert_true(cut);
	assert_int_equal(n, STORE_MAX_GROUPS);
	assert_string_equal(g[0].row.source_ip, "192.0.2.7");
	assert_int_equal(g[0].count, 2);
	free(g);
	free(r);
	store_close(s);
}

/*
 * Two report runs on one database (the timer enabled on two hosts of a
 * fleet, which the Debian package does by default, or a manual run
 * during the timer's): both read a period as not sent and both sent
 * it. One run holds the lock until it closes the store; another does
 * not get it meanwhile.
 */
static void
test_run_lock(void **state)
{
	struct store *a = open_ok(), *b = open_ok();
	char err[512] = "";
	bool got = false;

	(void)state;
	assert_int_equal(store_run_lock(a, &got, err, sizeof err), 0);
	assert_true(got);
	assert_int_equal(store_run_lock(b, &got, err, sizeof err), 0);
	assert_false(got);
	store_close(a);
	assert_int_equal(store_run_lock(b, &got, err, sizeof err), 0);
	assert_true(got);
	store_close(b);
}

/* The schema is created once and a second open finds it. */
static void
test_open_twice(void **state)
{
	struct store *a, *b;

	(void)state;
	a = open_ok();
	if (!t_pg) {
		struct stat st;

		/* addresses and domains of the mail: not for everyone */
		assert_int_equal(stat(t_uri + 7, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0640);
	}
	b = open_ok();
	store_close(a);
	store_close(b);
	store_close(NULL);
}

/*
 * Rows differing only in time and reporter (two MTAs of a fleet) and in
 * the order of their DKIM results are one group; another source IP or
 * DKIM result is another. Every field comes back as written.
 */
static void
test_groups(void **state)
{
	struct store *s = open_ok();
	struct history_row r[6];
	struct store_group *g = NULL;
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 4; i++)
		row_init(&r[i], 1000 + i, "192.0.2.1", "example.com");
	snprintf(r[1].reporter, sizeof r[1].reporter, "mx2.example.net");
	/* the same DKIM set in the other order */
	struct history_dkim d = r[2].dkim[0];
	r[2].dkim[0] = r[2].dkim[1];
	r[2].dkim[1] = d;
	r[3].dkim[1].result = AM_R_TEMPERROR; /* another group */
	row_init(&r[4], 1004, "2001:db8::1", "example.com");
	row_init(&r[5], 1005, "192.0.2.9", "other.example");
	insert_ok(s, r, 6);

	groups_ok(s, "example.com", 1000, 2000, &g, &n);
	assert_int_equal(n, 3);
	assert_int_equal(g[0].count, 3);
	assert_int_equal(g[0].row.time, 1000);
	assert_string_equal(g[0].row.source_ip, "192.0.2.1");
	assert_string_equal(g[0].row.reporter, "");
	assert_string_equal(g[0].row.header_from, "example.com");
	assert_string_equal(g[0].row.envelope_to, "example.net");
	assert_int_equal(g[0].row.p, DMARC_P_REJECT);
	assert_int_equal(g[0].row.sp, DMARC_P_QUARANTINE);
	assert_int_equal(g[0].row.np, DMARC_P_UNSET);
	assert_int_equal(g[0].row.adkim, DMARC_ALIGN_STRICT);
	assert_true(g[0].row.discovery_walk);
	assert_true(g[0].row.dkim_aligned);
	assert_false(g[0].row.spf_aligned);
	assert_int_equal(g[0].row.spf, AM_R_PASS);
	assert_int_equal(g[0].row.ndkim, 2);
	/* sorted canonically: "esp.example" before "example.com" */
	assert_string_equal(g[0].row.dkim[0].domain, "esp.example");
	assert_string_equal(g[0].row.dkim[0].selector, "k/1,x");
	assert_int_equal(g[0].row.dkim[0].result, AM_R_FAIL);
	assert_false(g[0].row.dkim[0].aligned);
	assert_string_equal(g[0].row.dkim[1].domain, "example.com");
	assert_true(g[0].row.dkim[1].aligned);
	/* count 1 each, then by source address */
	assert_int_equal(g[1].count, 1);
	assert_int_equal(g[2].count, 1);
	assert_string_equal(g[1].row.source_ip, "192.0.2.1");
	assert_int_equal(g[1].row.dkim[0].result, AM_R_TEMPERROR);
	assert_string_equal(g[2].row.source_ip, "2001:db8::1");
	free(g);

	/* [begin, end): 1000 is in, 1003 is out of [1001, 1003) */
	groups_ok(s, "example.com", 1001, 1003, &g, &n);
	assert_int_equal(n, 1);
	assert_int_equal(g[0].count, 2);
	assert_int_equal(g[0].row.time, 1001);
	free(g);
	groups_ok(s, "nothing.example", 0, 5000, &g, &n);
	assert_int_equal(n, 0);
	free(g);
	store_close(s);
}

/* Overrides, HELO scope and texts that are no UTF-8 survive a trip. */
static void
test_fields(void **state)
{
	struct store *s = open_ok();
	struct history_row r;
	struct store_group *g = NULL;
	size_t n = 0;

	(void)state;
	row_init(&r, 50, "198.51.100.7", "example.org");
	r.overrides = HISTORY_OV_MAILING_LIST | HISTORY_OV_LOCAL_POLICY;
	snprintf(r.override_comment, sizeof r.override_comment,
		 "List-Id \xff\x01");
	r.spf_helo = true;
	r.spf = AM_R_SOFTFAIL;
	r.disposition = DMARC_P_QUARANTINE;
	r.dmarc = AM_R_FAIL;
	r.testing = true;
	r.psd = DMARC_PSD_N;
	r.dkim_omitted = 3;
	r.ndkim = 0;
	snprintf(r.envelope_from, sizeof r.envelope_from, "b\xc3\xbc.example");
	insert_ok(s, &r, 1);
	groups_ok(s, "example.org", 0, 100, &g, &n);
	assert_int_equal(n, 1);
	assert_int_equal(g[0].row.overrides,
			 HISTORY_OV_MAILING_LIST | HISTORY_OV_LOCAL_POLICY);
	assert_string_equal(g[0].row.override_comment, "List-Id ??");
	assert_string_equal(g[0].row.envelope_from, "b\xc3\xbc.example");
	assert_true(g[0].row.spf_helo);
	assert_int_equal(g[0].row.spf, AM_R_SOFTFAIL);
	assert_int_equal(g[0].row.disposition, DMARC_P_QUARANTINE);
	assert_int_equal(g[0].row.dmarc, AM_R_FAIL);
	assert_true(g[0].row.testing);
	assert_int_equal(g[0].row.psd, DMARC_PSD_N);
	assert_int_equal(g[0].row.dkim_omitted, 3);
	assert_int_equal(g[0].row.ndkim, 0);
	free(g);
	store_close(s);
}

static void
state_is(struct store *s, const char *dom, int64_t b,
	 enum store_report_state want, const char *want_id)
{
	enum store_report_state st;
	char id[STORE_REPORT_ID], err[512] = "";

	if (store_report_state(s, dom, b, &st, id, err, sizeof err) != 0)
		fail_msg("store_report_state: %s", err);
	assert_int_equal(st, want);
	assert_string_equal(id, want_id);
}

static void
mark_ok(struct store *s, const char *dom, int64_t b, int64_t e,
	enum store_report_state st, const char *id)
{
	char err[512] = "";

	if (store_mark_reported(s, dom, b, e, st, id, err, sizeof err) != 0)
		fail_msg("store_mark_reported: %s", err);
}

/* NEW -> FAILED (same id kept) -> SENT; a sent period is not listed. */
static void
test_report_state(void **state)
{
	struct store *s = open_ok();
	struct history_row r[2];
	char(*d)[HISTORY_DOMAIN] = NULL;
	size_t n = 0;
	char err[512];

	(void)state;
	row_init(&r[0], 100, "192.0.2.1", "b.example");
	row_init(&r[1], 150, "192.0.2.1", "a.example");
	insert_ok(s, r, 2);
	assert_int_equal(store_domains(s, 0, 200, &d, &n, err, sizeof err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(d[0], "a.example");
	assert_string_equal(d[1], "b.example");
	free(d);

	state_is(s, "a.example", 0, STORE_REPORT_NEW, "");
	mark_ok(s, "a.example", 0, 200, STORE_REPORT_FAILED, "id-1@x");
	state_is(s, "a.example", 0, STORE_REPORT_FAILED, "id-1@x");
	/* a failed period is still to be reported */
	assert_int_equal(store_domains(s, 0, 200, &d, &n, err, sizeof err), 0);
	assert_int_equal(n, 2);
	free(d);
	mark_ok(s, "a.example", 0, 200, STORE_REPORT_SENT, "id-1@x");
	state_is(s, "a.example", 0, STORE_REPORT_SENT, "id-1@x");
	state_is(s, "a.example", 200, STORE_REPORT_NEW, "");
	state_is(s, "b.example", 0, STORE_REPORT_NEW, "");
	assert_int_equal(store_domains(s, 0, 200, &d, &n, err, sizeof err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(d[0], "b.example");
	free(d);
	store_close(s);
}

static void
test_counters(void **state)
{
	struct store *s = open_ok();
	uint64_t v[STORE_CNT_N];
	char err[512];

	(void)state;
	assert_int_equal(store_counts(s, v, err, sizeof err), 0);
	assert_int_equal(v[STORE_CNT_SENT], 0);
	assert_int_equal(store_count_add(s, STORE_CNT_SENT, 2, err, sizeof err),
			 0);
	assert_int_equal(store_count_add(s, STORE_CNT_SENT, 3, err, sizeof err),
			 0);
	assert_int_equal(
	    store_count_add(s, STORE_CNT_SKIPPED, 1, err, sizeof err), 0);
	assert_int_equal(store_count_add(s, STORE_CNT_N, 1, err, sizeof err),
			 AM_EINVAL);
	assert_int_equal(store_counts(s, v, err, sizeof err), 0);
	assert_int_equal(v[STORE_CNT_SENT], 5);
	assert_int_equal(v[STORE_CNT_FAILED], 0);
	assert_int_equal(v[STORE_CNT_SKIPPED], 1);
	store_close(s);
}

/*
 * Purge with 10 days, "now" 15 days after a period that was sent: its
 * rows go; unreported rows of the same age stay, those older than 20
 * days go; a recent sent period stays.
 */
static void
test_purge(void **state)
{
	struct store *s = open_ok();
	int64_t now = (int64_t)time(NULL);
	int64_t later = now + 15 * 86400;
	int64_t day = 86400;
	struct history_row r[4];
	struct store_group *g = NULL;
	uint64_t del = 99;
	size_t n;
	char err[512];

	(void)state;
	row_init(&r[0], now - day, "192.0.2.1", "sent.example");
	row_init(&r[1], now - day, "192.0.2.2", "open.example");
	row_init(&r[2], later - 21 * day, "192.0.2.3", "open.example");
	row_init(&r[3], later - day, "192.0.2.4", "sent.example");
	insert_ok(s, r, 4);
	mark_ok(s, "sent.example", now - 2 * day, now, STORE_REPORT_SENT, "a");
	assert_int_equal(store_purge(s, later, 10, &del, err, sizeof err), 0);
	assert_int_equal(del, 2);
	groups_ok(s, "sent.example", 0, later + day, &g, &n);
	assert_int_equal(n, 1);
	assert_string_equal(g[0].row.source_ip, "192.0.2.4");
	free(g);
	groups_ok(s, "open.example", 0, later + day, &g, &n);
	assert_int_equal(n, 1);
	assert_string_equal(g[0].row.source_ip, "192.0.2.2");
	free(g);
	/* the mark stays as long as rows of its period might */
	state_is(s, "sent.example", now - 2 * day, STORE_REPORT_SENT, "a");
	assert_int_equal(
	    store_purge(s, later + 30 * day, 10, &del, err, sizeof err), 0);
	assert_int_equal(del, 2);
	state_is(s, "sent.example", now - 2 * day, STORE_REPORT_NEW, "");
	store_close(s);
}

/* A database of a newer schema is refused, and left as it is. */
static void
test_newer_schema(void **state)
{
	struct store *s = open_ok();
	char err[512] = "";

	(void)state;
	store_close(s);
	raw("UPDATE authmilter_schema SET version = 99");
	s = (struct store *)1;
	assert_int_equal(store_open(t_uri, &s, err, sizeof err), AM_EIO);
	assert_null(s);
	assert_non_null(strstr(err, "schema version 99 is newer"));
	raw("UPDATE authmilter_schema SET version = 1");
	s = open_ok();
	store_close(s);
}

/* A batch is all or nothing: a refused row leaves no row written. */
static void
test_batch_atomic(void **state)
{
	struct store *s = open_ok();
	struct history_row r[3];
	struct store_group *g = NULL;
	size_t n;
	char err[512] = "";

	(void)state;
	for (int i = 0; i < 3; i++)
		row_init(&r[i], 10 + i, "192.0.2.1", "atomic.example");
	raw("CREATE UNIQUE INDEX t_once ON authmilter_history (time)");
	r[2].time = 10; /* refused by the index */
	assert_int_equal(store_insert(s, r, 3, err, sizeof err), AM_EINVAL);
	assert_non_null(strstr(err, "insert"));
	groups_ok(s, "atomic.example", 0, 100, &g, &n);
	assert_int_equal(n, 0);
	free(g);
	raw("DROP INDEX t_once");
	store_close(s);
}

/* one_int - the first column of the first row of sql, as a number. */
static long
one_int(const char *sql)
{
	long v = -1;

	if (t_pg) {
		PGconn *c = PQconnectdb(t_uri);
		PGresult *r = PQexec(c, sql);

		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
			v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		PQfinish(c);
	} else {
		sqlite3 *db;
		sqlite3_stmt *st;

		assert_int_equal(sqlite3_open(t_uri + 7, &db), SQLITE_OK);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	return v;
}

static void *
opener(void *arg)
{
	struct store *s = NULL;
	char err[512];
	int *rc = arg;

	*rc = store_open(t_uri, &s, err, sizeof err);
	if (*rc != 0)
		fprintf(stderr, "concurrent open: %s\n", err);
	store_close(s);
	return NULL;
}

/*
 * Daemons starting at once on an empty database: each opens it, the
 * schema is created once (one version row).
 */
static void
test_open_concurrent(void **state)
{
	pthread_t t[6];
	int rc[6];

	(void)state;
	for (int i = 0; i < 6; i++)
		assert_int_equal(pthread_create(&t[i], NULL, opener, &rc[i]),
				 0);
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(rc[i], 0);
	}
	assert_int_equal(one_int("SELECT COUNT(*) FROM authmilter_schema"), 1);
	assert_int_equal(one_int("SELECT version FROM authmilter_schema"),
			 STORE_SCHEMA_VERSION);
}

/* Bad URIs, and no password in any message. */
static void
test_uris(void **state)
{
	static const struct {
		const char *uri;
		int rc;
		const char *want; /* in the message */
	} cases[] = {
	    {"sqlite:relative/path", AM_EINVAL, "not a database"},
	    {"mysql://u:sekrit@h/db", AM_EINVAL, "not a database"},
	    {"postgresql://u:sekrit@[::1/db", AM_EINVAL, "bad URI"},
	    {"postgresql:///db?host=/nonexistent/x&password=sekrit&user=u",
	     AM_EIO, "cannot open"},
	    {"postgresql://u:sekrit@/db?host=/nonexistent/y", AM_EIO,
	     "postgresql://u:xxx@/db?host=/nonexistent/y"},
	    {"sqlite:/nonexistent/dir/h.sqlite", AM_EIO,
	     "No such file or directory"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct store *s = NULL;
		char err[512] = "";
		int rc = store_open(cases[i].uri, &s, err, sizeof err);

		if (rc != cases[i].rc || strstr(err, cases[i].want) == NULL ||
		    strstr(err, "sekrit") != NULL || s != NULL)
			fail_msg("%s: rc %d: %s", cases[i].uri, rc, err);
		err[0] = '\0';
		rc = store_check_uri(cases[i].uri, err, sizeof err);
		if (rc != (cases[i].rc == AM_EIO ? 0 : AM_EINVAL) ||
		    strstr(err, "sekrit") != NULL)
			fail_msg("check %s: rc %d: %s", cases[i].uri, rc, err);
	}
}

static const struct CMUnitTest cases[] = {
    cmocka_unit_test_setup(test_open_twice, fresh),
    cmocka_unit_test_setup(test_open_concurrent, fresh),
    cmocka_unit_test_setup(test_groups, fresh),
    cmocka_unit_test_setup(test_groups_cap, fresh),
    cmocka_unit_test_setup(test_run_lock, fresh),
    cmocka_unit_test_setup(test_fields, fresh),
    cmocka_unit_test_setup(test_report_state, fresh),
    cmocka_unit_test_setup(test_counters, fresh),
    cmocka_unit_test_setup(test_purge, fresh),
    cmocka_unit_test_setup(test_newer_schema, fresh),
    cmocka_unit_test_setup(test_batch_atomic, fresh),
    cmocka_unit_test(test_uris),
};

int
main(int argc, char **argv)
{
	int rc;

	if (argc > 1 && strcmp(argv[1], "pg") == 0) {
		const char *u = getenv("AM_TEST_PG_URI");

		if (u == NULL) {
			printf("skipped: no AM_TEST_PG_URI (run through "
			       "tests/pg/with-pg.sh)\n");
			return 77;
		}
		snprintf(t_uri, sizeof t_uri, "%s", u);
		t_pg = true;
		return cmocka_run_group_tests_name("store_pg", cases, NULL,
						   NULL);
	}
	snprintf(t_dir, sizeof t_dir, "/tmp/test_store.XXXXXX");
	if (mkdtemp(t_dir) == NULL)
		return 1;
	snprintf(t_uri, sizeof t_uri, "sqlite:%s/history.sqlite", t_dir);
	rc = cmocka_run_group_tests_name("store_sqlite", cases, NULL, NULL);
	unlink_db();
	rmdir(t_dir);
	return rc;
}
