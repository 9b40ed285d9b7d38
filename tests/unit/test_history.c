/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_history - the history queue and its writer thread on a real
 * SQLite file (with "pg" as argument: on the cluster of tests/pg/
 * with-pg.sh, halted at start and started again): rows written in
 * batches, a database that appears later, drops past the bound, the
 * log lines and metrics of each.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "amerr.h"
#include "history.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

static char t_dir[256];	 /* temporary directory */
static char t_log[300];	 /* stderr goes here */
static char t_uri[1100]; /* the database */
static bool t_pg;

/* metric - the value of one series line in metrics_render(). */
static long
metric(const char *series)
{
	char *text = metrics_render();
	char key[256];
	const char *p;
	long v = -1;

	assert_non_null(text);
	snprintf(key, sizeof key, "\n%s ", series);
	p = strstr(text, key);
	if (p != NULL)
		v = strtol(p + strlen(key), NULL, 10);
	free(text);
	return v;
}

#define M_RECORDED "authmilter_history_rows_total{outcome=\"recorded\"}"
#define M_WRITTEN "authmilter_history_rows_total{outcome=\"written\"}"
#define M_DROPPED "authmilter_history_rows_total{outcome=\"dropped\"}"
#define M_SENT "authmilter_reports_total{outcome=\"sent\"}"
#define M_FAILED "authmilter_reports_total{outcome=\"failed\"}"
#define M_SKIPPED "authmilter_reports_total{outcome=\"skipped\"}"

/* wait_metric - until series reaches want (at most secs). */
static bool
wait_metric(const char *series, long want, int secs)
{
	for (int i = 0; i < secs * 20; i++) {
		if (metric(series) >= want)
			return true;
		usleep(50000);
	}
	return false;
}

/* log_count - lines of the captured log holding needle. */
static int
log_count(const char *needle)
{
	FILE *fp = fopen(t_log, "r");
	char line[LOG_MAX_LINE + 2];
	int n = 0;

	assert_non_null(fp);
	while (fgets(line, sizeof line, fp) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(fp);
	return n;
}

/* cpu_ms - CPU time of the process so far, in milliseconds. */
static long
cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
row(struct history_row *r, int64_t t, const char *dom)
{
	memset(r, 0, sizeof *r);
	r->time = t;
	snprintf(r->source_ip, sizeof r->source_ip, "192.0.2.%d",
		 (int)(t % 200));
	snprintf(r->header_from, sizeof r->header_from, "%s", dom);
	snprintf(r->policy_domain, sizeof r->policy_domain, "%s", dom);
	r->p = DMARC_P_REJECT;
	r->dmarc = AM_R_FAIL;
	r->disposition = DMARC_P_REJECT;
}

/* rows_in - rows stored for dom (sum of the group counts). */
static uint64_t
rows_in(const char *dom)
{
	struct store *s = NULL;
	struct store_group *g = NULL;
	size_t n = 0;
	uint64_t sum = 0;
	char err[512] = "";
	bool cut = false;

	if (store_open(t_uri, &s, err, sizeof err) != 0)
		fail_msg("store_open: %s", err);
	if (store_groups(s, dom, 0, INT64_MAX, &g, &n, &cut, err, sizeof err) !=
	    0)
		fail_msg("store_groups: %s", err);
	for (size_t i = 0; i < n; i++)
		sum += g[i].count;
	free(g);
	store_close(s);
	return sum;
}

static void
pgtmp(const char *cmd)
{
	char line[1024];

	snprintf(line, sizeof line, "%s/pg/pgtmp.sh %s '%s' >/dev/null",
		 AM_TESTS_DIR, cmd, getenv("AM_TEST_PG_DIR"));
	assert_int_equal(system(line), 0);
}

/* Off: nothing recorded, nothing started. */
static void
test_off(void **state)
{
	struct history_row r;
	char err[256] = "";

	(void)state;
	assert_int_equal(history_start(NULL, err, sizeof err), 0);
	assert_int_equal(history_start("none", err, sizeof err), 0);
	assert_false(history_enabled());
	row(&r, 1, "off.example");
	history_record(&r);
	history_stop();
	assert_int_equal(history_start("sqlite:relative", err, sizeof err),
			 AM_EINVAL);
	assert_int_equal(
	    history_start("postgresql://u:pw@[::1/x", err, sizeof err),
	    AM_EINVAL);
	assert_null(strstr(err, ":pw@"));
	assert_false(history_enabled());
}

/* 700 rows (more than two batches) all reach the database. */
static void
test_written(void **state)
{
	struct history_row r;
	char err[256] = "";
	long w0 = metric(M_WRITTEN), rec0 = metric(M_RECORDED);

	(void)state;
	if (w0 < 0)
		w0 = 0;
	if (rec0 < 0)
		rec0 = 0;
	/* the report program's counters, shown by the daemon */
	{
		struct store *st = NULL;
		char e[512] = "";

		if (store_open(t_uri, &st, e, sizeof e) != 0)
			fail_msg("store_open: %s", e);
		assert_int_equal(
		    store_count_add(st, STORE_CNT_SENT, 3, e, sizeof e), 0);
		assert_int_equal(
		    store_count_add(st, STORE_CNT_SKIPPED, 2, e, sizeof e), 0);
		store_close(st);
	}
	assert_int_equal(history_start(t_uri, err, sizeof err), 0);
	assert_true(history_enabled());
	assert_true(wait_metric(M_SENT, 3, 10));
	assert_int_equal(metric(M_SKIPPED), 2);
	assert_int_equal(metric(M_FAILED), 0);
	for (int i = 0; i < 700; i++) {
		row(&r, 1000 + i, "written.example");
		history_record(&r);
	}
	assert_int_equal(metric(M_RECORDED) - rec0, 700);
	assert_true(wait_metric(M_WRITTEN, w0 + 700, 20));
	assert_int_equal(metric("authmilter_history_db_up"), 1);
	assert_int_equal(metric("authmilter_history_queue"), 0);
	history_stop();
	assert_false(history_enabled());
	assert_int_equal(rows_in("written.example"), 700);
}

/*
 * A row goes through the queue packed (history.c leaves out its zero
 * padding): every field at its longest, odd octets in the padding of
 * another, and it must come back from the database as it went in.
 */
static void
test_packed_roundtrip(void **state)
{
	struct history_row r, *back;
	struct store *st = NULL;
	struct store_group *g = NULL;
	size_t n = 0;
	char err[512] = "";
	const char *dom;
	bool cut = true;

	(void)state;
	memset(&r, 0, sizeof r);
	r.time = 1700000000;
	snprintf(r.source_ip, sizeof r.source_ip, "%s",
		 "2001:db8:ffff:ffff:ffff:ffff:255.255.255.255");
	memset(r.header_from, 'a', sizeof r.header_from - 1);
	for (size_t i = 63; i < sizeof r.header_from - 1; i += 64)
		r.header_from[i] = '.';
	dom = r.header_from;
	memcpy(r.policy_domain, r.header_from, sizeof r.policy_domain);
	snprintf(r.envelope_from, sizeof r.envelope_from, "%s", "b.example");
	snprintf(r.envelope_to, sizeof r.envelope_to, "%s", "c.example");
	snprintf(r.spf_domain, sizeof r.spf_domain, "%s", "helo.b.example");
	snprintf(r.override_comment, sizeof r.override_comment, "%s",
		 "rejected by the dnsbl check");
	r.p = DMARC_P_REJECT;
	r.sp = DMARC_P_QUARANTINE;
	r.np = DMARC_P_NONE;
	r.adkim = DMARC_ALIGN_STRICT;
	r.testing = true;
	r.psd = DMARC_PSD_N;
	r.discovery_walk = true;
	r.dmarc = AM_R_FAIL;
	r.disposition = DMARC_P_REJECT;
	r.overrides = HISTORY_OV_OTHER | HISTORY_OV_TRUSTED_FORWARDER;
	r.spf_helo = true;
	r.spf = AM_R_SOFTFAIL;
	r.ndkim = HISTORY_MAX_DKIM;
	r.dkim_omitted = 3;
	for (int i = 0; i < HISTORY_MAX_DKIM; i++) {
		snprintf(r.dkim[i].domain, sizeof r.dkim[i].domain,
			 "d%d.example", i);
		memset(r.dkim[i].selector, 's', sizeof r.dkim[i].selector - 1);
		r.dkim[i].selector[0] = (char)('a' + i);
		r.dkim[i].result = i % 2 ? AM_R_PASS : AM_R_FAIL;
		r.dkim[i].aligned = i == 1;
	}
	/* octets after a string's NUL are not part of the row's meaning */
	memset(r.envelope_to + 10, 'x', 20);
	assert_int_equal(history_start(t_uri, err, sizeof err), 0);
	history_record(&r);
	history_stop();
	if (store_open(t_uri, &st, err, sizeof err) != 0)
		fail_msg("store_open: %s", err);
	if (store_groups(st, dom, 0, INT64_MAX, &g, &n, &cut, err,
			 sizeof err) != 0)
		fail_msg("store_groups: %s", err);
	store_close(st);
	assert_false(cut);
	assert_int_equal(n, 1);
	assert_int_equal(g[0].count, 1);
	back = &g[0].row;
	assert_int_equal(back->time, r.time);
	assert_string_equal(back->source_ip, r.source_ip);
	assert_string_equal(back->header_from, r.header_from);
	assert_string_equal(back->policy_domain, r.policy_domain);
	assert_string_equal(back->envelope_from, "b.example");
	assert_string_equal(back->envelope_to, "c.example");
	assert_string_equal(back->spf_domain, r.spf_domain);
	assert_string_equal(back->override_comment, r.override_comment);
	assert_int_equal(back->p, r.p);
	assert_int_equal(back->sp, r.sp);
	assert_int_equal(back->np, r.np);
	assert_int_equal(back->adkim, r.adkim);
	assert_int_equal(back->aspf, r.aspf);
	assert_true(back->testing);
	assert_int_equal(back->psd, r.psd);
	assert_int_equal(back->dmarc, r.dmarc);
	assert_int_equal(back->disposition, r.disposition);
	assert_int_equal(back->overrides, r.overrides);
	assert_true(back->spf_helo);
	assert_int_equal(back->spf, r.spf);
	assert_int_equal(back->ndkim, HISTORY_MAX_DKIM);
	for (int i = 0; i < HISTORY_MAX_DKIM; i++) {
		assert_string_equal(back->dkim[i].domain, r.dkim[i].domain);
		assert_string_equal(back->dkim[i].selector,
				    r.dkim[i].selector);
		assert_int_equal(back->dkim[i].result, r.dkim[i].result);
		assert_int_equal(back->dkim[i].aligned, r.dkim[i].aligned);
	}
	free(g);
}

/* Rows recorded just before the stop are written by history_stop(). */
static void
test_stop_flushes(void **state)
{
	struct history_row r;
	char err[256] = "";

	(void)state;
	assert_int_equal(history_start(t_uri, err, sizeof err), 0);
	for (int i = 0; i < 10; i++) {
		row(&r, 5000 + i, "flush.example");
		history_record(&r);
	}
	history_stop();
	assert_int_equal(rows_in("flush.example"), 10);
}

/*
 * The database is not there at first (a directory that does not exist
 * yet; or the PostgreSQL cluster halted): rows wait, the outage is
 * logged once, and they are written once it is there; the end of the
 * outage is logged once.
 */
static void
test_down_then_up(void **state)
{
	struct history_row r;
	char err[256] = "", later[1100], dir[600];
	long w0 = metric(M_WRITTEN), cpu0;

	(void)state;
	if (t_pg) {
		pgtmp("halt");
		snprintf(later, sizeof later, "%s", t_uri);
	} else {
		snprintf(dir, sizeof dir, "%s/later", t_dir);
		snprintf(later, sizeof later, "sqlite:%s/history.sqlite", dir);
	}
	assert_int_equal(history_start(later, err, sizeof err), 0);
	/* more than a batch: the writer must still wait between attempts */
	for (int i = 0; i < 2 * HISTORY_BATCH + 50; i++) {
		row(&r, 7000 + i, "late.example");
		history_record(&r);
	}
	cpu0 = cpu_ms();
	usleep(2500000); /* attempts at 0, 1 s (the next at 3 s) */
	assert_in_range(cpu_ms() - cpu0, 0, 300);
	assert_int_equal(metric("authmilter_history_db_up"), 0);
	assert_int_equal(metric("authmilter_history_queue"),
			 2 * HISTORY_BATCH + 50);
	assert_int_equal(metric(M_WRITTEN), w0);
	assert_int_equal(log_count("database unavailable"), 1);
	if (t_pg)
		pgtmp("start");
	else
		assert_int_equal(mkdir(dir, 0700), 0);
	assert_true(wait_metric(M_WRITTEN, w0 + 2 * HISTORY_BATCH + 50, 30));
	assert_int_equal(metric("authmilter_history_db_up"), 1);
	assert_int_equal(log_count("is back after"), 1);
	assert_int_equal(log_count("database unavailable"), 1);
	history_stop();
	if (!t_pg)
		snprintf(t_uri, sizeof t_uri, "%s", later);
	assert_int_equal(rows_in("late.example"), 2 * HISTORY_BATCH + 50);
}

/*
 * Past the bound (lowered for the test) with the database down: every
 * further row is dropped and counted, the first drop logged at once,
 * and what is still queued at the stop is logged as lost.
 */
static void
test_drops(void **state)
{
	struct history_row r;
	char err[256] = "";
	long d0 = metric(M_DROPPED);

	(void)state;
	assert_int_equal(history_start("sqlite:/nonexistent/authmilter/h.db",
				       err, sizeof err),
			 0);
	history_queue_limit(100);
	for (int i = 0; i < 130; i++) {
		row(&r, 9000 + i, "drop.example");
		history_record(&r);
	}
	assert_int_equal(metric(M_DROPPED) - d0, 30);
	assert_int_equal(metric("authmilter_history_queue"), 100);
	assert_int_equal(log_count("a row was dropped"), 1);
	history_stop();
	assert_int_equal(metric(M_DROPPED) - d0, 130);
	assert_int_equal(log_count("100 rows not written at shutdown"), 1);
	assert_int_equal(metric("authmilter_history_queue"), 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest cases[] = {
	    cmocka_unit_test(test_off),
	    cmocka_unit_test(test_written),
	    cmocka_unit_test(test_packed_roundtrip),
	    cmocka_unit_test(test_stop_flushes),
	    cmocka_unit_test(test_down_then_up),
	    cmocka_unit_test(test_drops),
	};
	int fd, rc;

	snprintf(t_dir, sizeof t_dir, "/tmp/test_history.XXXXXX");
	if (mkdtemp(t_dir) == NULL)
		return 1;
	if (argc > 1 && strcmp(argv[1], "pg") == 0) {
		const char *u = getenv("AM_TEST_PG_URI");

		if (u == NULL || getenv("AM_TEST_PG_DIR") == NULL) {
			printf("skipped: no AM_TEST_PG_URI (run through "
			       "tests/pg/with-pg.sh)\n");
			return 77;
		}
		snprintf(t_uri, sizeof t_uri, "%s", u);
		t_pg = true;
	} else {
		snprintf(t_uri, sizeof t_uri, "sqlite:%s/history.sqlite",
			 t_dir);
	}
	/* the log is part of the behaviour: capture stderr */
	snprintf(t_log, sizeof t_log, "%s/log", t_dir);
	fd = open(t_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || dup2(fd, 2) < 0)
		return 1;
	close(fd);
	log_open(true, false);
	log_setup(LOG_L_INFO, LOG_F_TEXT);
	rc = cmocka_run_group_tests_name(t_pg ? "history_pg" : "history", cases,
					 NULL, NULL);
	if (rc != 0) {
		FILE *fp = fopen(t_log, "r");
		char line[LOG_MAX_LINE + 2];

		while (fp != NULL && fgets(line, sizeof line, fp) != NULL)
			fputs(line, stdout);
		if (fp != NULL)
			fclose(fp);
	}
	{
		char cmd[400];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", t_dir);
		if (system(cmd) != 0)
			rc = 1;
	}
	return rc;
}
