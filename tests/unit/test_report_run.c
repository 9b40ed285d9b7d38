/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_report_run - one period's reports on a real SQLite history: sent,
 * failed and retried with the same Report-ID, never sent twice, a hung
 * sendmail killed, --dry-run writing files and marking nothing. Runs
 * under with-dnsd (zones/report_run.json); ReportSendmail is a script
 * of the test that keeps each message and exits as the test says.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "dnstest.h"
#include "report_fixture.h"
#include "report_run.h"
#include "store.h"

static char dir[] = "/tmp/test_report_run.XXXXXX";
static int64_t begin; /* the period: two days ago, UTC */
static int ncase;

/* A file in dir. */
static void
path(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static void
put(const char *name, const char *text)
{
	char p[256];
	FILE *fp;

	path(p, sizeof p, name);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* Files in dir/sub whose name starts with prefix. */
static int
count(const char *sub, const char *prefix)
{
	char p[256];
	DIR *d;
	struct dirent *e;
	int n = 0;

	path(p, sizeof p, sub);
	d = opendir(p);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

static int
setup(void **state)
{
	char sm[256], script[2048];

	(void)state;
	signal(SIGPIPE, SIG_IGN); /* as report_main.c */
	if (mkdtemp(dir) == NULL || dnstest_init() != 1)
		return -1;
	begin = ((int64_t)time(NULL) / 86400 - 2) * 86400;
	/* keeps the message in sent/, exits with the status in rc (or
	 * hangs while the file hang is there) */
	path(sm, sizeof sm, "sm.sh");
	snprintf(script, sizeof script,
		 "#!/bin/sh\n"
		 "mkdir -p %s/sent\n"
		 "f=$(mktemp %s/sent/msg.XXXXXX)\n"
		 "cat > \"$f\"\n"
		 "while [ -e %s/hang ]; do sleep 1; done\n"
		 "if [ -e %s/failto ] && "
		 "grep -qx \"To: $(cat %s/failto)\" \"$f\"; then exit 75; fi\n"
		 "exit $(cat %s/rc 2>/dev/null || echo 0)\n",
		 dir, dir, dir, dir, dir, dir);
	put("sm.sh", script);
	chmod(sm, 0700);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[256];

	(void)state;
	dns_shutdown();
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A fresh database with rows for example.test and norua.test, the
 * configuration that points at it, and a run over both. */
static struct conf *
fresh(struct store **s, struct report_run *r)
{
	char conf_path[256], text[1024], err[512];
	struct store_group g[3];
	struct history_row rows[4];
	struct conf *c;

	ncase++;
	snprintf(text, sizeof text,
		 "AuthservID mx.receiver.test\n"
		 "ReportDatabase sqlite:%s/h%d.sqlite\n"
		 "ReportContact dmarc-contact@receiver.test\n"
		 "ReportFrom dmarc@receiver.test\n"
		 "ReportSendmail %s/sm.sh -i -t\n",
		 dir, ncase, dir);
	put("authmilter.conf", text);
	path(conf_path, sizeof conf_path, "authmilter.conf");
	c = conf_load(conf_path, NULL, 0, stderr);
	assert_non_null(c);
	assert_int_equal(store_open(conf_report_db(c), s, err, sizeof err), 0);

	fixture_group(&g[0], "192.0.2.1", 1, AM_R_PASS, DMARC_P_NONE);
	fixture_group(&g[1], "192.0.2.2", 1, AM_R_FAIL, DMARC_P_REJECT);
	fixture_group(&g[2], "192.0.2.3", 1, AM_R_PASS, DMARC_P_NONE);
	rows[0] = g[0].row;
	rows[1] = g[0].row;
	rows[2] = g[1].row;
	rows[3] = g[2].row;
	for (int i = 0; i < 4; i++) {
		rows[i].time = begin + 100 + i;
		snprintf(rows[i].policy_domain, sizeof rows[i].policy_domain,
			 "%s", i < 3 ? "example.test" : "norua.test");
		snprintf(rows[i].header_from, sizeof rows[i].header_from,
			 "%s", rows[i].policy_domain);
	}
	assert_int_equal(store_insert(*s, rows, 4, err, sizeof err), 0);

	memset(r, 0, sizeof *r);
	r->c = c;
	r->store = *s;
	r->submitter = c->authserv_id;
	r->org_name = c->authserv_id;
	r->dns_ms = 2000;
	return c;
}

static enum store_report_state
state_of(struct store *s, const char *domain, char *id)
{
	enum store_report_state st;
	char err[512];

	assert_int_equal(store_report_state(s, domain, begin, &st, id, err,
					    sizeof err),
			 0);
	return st;
}

/* The Report-ID in the Subject of a message kept by sm.sh. */
static void
subject_id(const char *file, char *id, size_t len)
{
	char p[512], line[1024], all[8192] = "";
	FILE *fp;
	char *s, *e;

	snprintf(p, sizeof p, "%s/sent/%s", dir, file);
	fp = fopen(p, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof line, fp) != NULL && line[0] != '\n')
		strncat(all, line, sizeof all - strlen(all) - 1);
	fclose(fp);
	s = strstr(all, "Report-ID:");
	assert_non_null(s);
	s = strchr(s, '<');
	e = s != NULL ? strchr(s, '>') : NULL;
	assert_non_null(e);
	snprintf(id, len, "%.*s", (int)(e - s - 1), s + 1);
}

static void
first_sent(char *name, size_t len)
{
	char p[256];
	DIR *d;
	struct dirent *e;

	path(p, sizeof p, "sent");
	d = opendir(p);
	assert_non_null(d);
	name[0] = '\0';
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "msg.", 4) == 0)
			snprintf(name, len, "%s", e->d_name);
	closedir(d);
	assert_true(name[0] != '\0');
}

static void
clear_sent(void)
{
	char cmd[256];

	snprintf(cmd, sizeof cmd, "rm -rf %s/sent", dir);
	assert_int_equal(system(cmd), 0);
}

static void
test_fail_retry_once(void **state)
{
	struct store *s;
	struct report_run r;
	struct conf *c = fresh(&s, &r);
	char id[STORE_REPORT_ID], id2[STORE_REPORT_ID], msg[256];
	char want[STORE_REPORT_ID];

	(void)state;
	snprintf(want, sizeof want, "example.test.%lld@mx.receiver.test",
		 (long long)begin);
	clear_sent();
	/* the MTA refuses: FAILED with its Report-ID, norua.test done */
	put("rc", "75\n");
	report_run_period(&r, begin, 86400);
	assert_true(r.some_failed);
	assert_int_equal(r.failed, 1);
	assert_int_equal(r.sent, 0);
	assert_int_equal(count("sent", "msg."), 1);
	assert_int_equal(state_of(s, "example.test", id), STORE_REPORT_FAILED);
	assert_string_equal(id, want);
	assert_int_equal(state_of(s, "norua.test", id2), STORE_REPORT_SENT);

	/* the retry: sent, with the same Report-ID */
	clear_sent();
	put("rc", "0\n");
	memset(&r.sent, 0, sizeof r - offsetof(struct report_run, sent));
	report_run_period(&r, begin, 86400);
	assert_false(r.some_failed);
	assert_int_equal(r.sent, 1);
	first_sent(msg, sizeof msg);
	subject_id(msg, id2, sizeof id2);
	assert_string_equal(id2, want);
	assert_int_equal(state_of(s, "example.test", id), STORE_REPORT_SENT);
	assert_string_equal(id, want);

	/* and never again */
	clear_sent();
	memset(&r.sent, 0, sizeof r - offsetof(struct report_run, sent));
	report_run_period(&r, begin, 86400);
	assert_int_equal(r.sent, 0);
	assert_int_equal(count("sent", "msg."), 0);
	store_close(s);
	conf_free(c);
}

/* Messages kept by sm.sh whose To: is addr. */
static int
count_to(const char *addr)
{
	char cmd[512];
	FILE *fp;
	int n = -1;

	snprintf(cmd, sizeof cmd,
		 "cat %s/sent/msg.* 2>/dev/null | grep -cx 'To: %s'", dir,
		 addr);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	assert_int_equal(fscanf(fp, "%d", &n), 1);
	pclose(fp);
	return n;
}

/*
 * Two destinations, the MTA refuses one: the retry goes to that one
 * only. Before, the period was marked failed as a whole and the retry
 * sent it to both again (and again on every run while one kept
 * failing: a period sent many times to the destination that took it).
 */
static void
test_partial_failure(void **state)
{
	struct store *s;
	struct report_run r;
	struct conf *c = fresh(&s, &r);
	struct store_group g;
	char id[STORE_REPORT_ID], err[512];

	(void)state;
	fixture_group(&g, "192.0.2.9", 1, AM_R_PASS, DMARC_P_NONE);
	g.row.time = begin + 200;
	snprintf(g.row.policy_domain, sizeof g.row.policy_domain, "two.test");
	snprintf(g.row.header_from, sizeof g.row.header_from, "two.test");
	assert_int_equal(store_insert(s, &g.row, 1, err, sizeof err), 0);
	clear_sent();
	put("rc", "0\n");
	put("failto", "b@two.test\n");
	report_run_period(&r, begin, 86400);
	assert_int_equal(count_to("a@two.test"), 1);
	assert_int_equal(count_to("b@two.test"), 1); /* tried, refused */
	assert_int_equal(state_of(s, "two.test", id), STORE_REPORT_FAILED);

	/* the retry: to b only */
	clear_sent();
	path(err, sizeof err, "failto");
	unlink(err);
	memset(&r.sent, 0, sizeof r - offsetof(struct report_run, sent));
	report_run_period(&r, begin, 86400);
	assert_false(r.some_failed);
	assert_int_equal(count_to("a@two.test"), 0);
	assert_int_equal(count_to("b@two.test"), 1);
	assert_int_equal(r.sent, 1);
	assert_int_equal(state_of(s, "two.test", id), STORE_REPORT_SENT);
	store_close(s);
	conf_free(c);
}

static void
test_hung_sendmail(void **state)
{
	struct store *s;
	struct report_run r;
	struct conf *c = fresh(&s, &r);
	char id[STORE_REPORT_ID];
	time_t t0 = time(NULL);
	char p[256];

	(void)state;
	put("rc", "0\n");
	put("hang", "");
	r.sendmail_timeout_s = 1;
	report_run_period(&r, begin, 86400);
	path(p, sizeof p, "hang");
	unlink(p);
	assert_true(time(NULL) - t0 < 30);
	assert_true(r.some_failed);
	assert_int_equal(r.failed, 1);
	assert_int_equal(state_of(s, "example.test", id), STORE_REPORT_FAILED);
	store_close(s);
	conf_free(c);
}

static void
test_dry_run(void **state)
{
	struct store *s;
	struct report_run r;
	struct conf *c = fresh(&s, &r);
	char id[STORE_REPORT_ID], out[256], name[512];
	struct stat sb;

	(void)state;
	clear_sent();
	path(out, sizeof out, "dry");
	mkdir(out, 0700);
	r.dry_run = out;
	report_run_period(&r, begin, 86400);
	assert_false(r.some_failed);
	assert_int_equal(r.sent, 0);
	assert_int_equal(count("sent", "msg."), 0);
	snprintf(name, sizeof name,
		 "%s/mx.receiver.test!example.test!%lld!%lld.xml.gz", out,
		 (long long)begin, (long long)begin + 86399);
	assert_int_equal(stat(name, &sb), 0);
	assert_true(sb.st_size > 20);
	snprintf(name, sizeof name,
		 "%s/mx.receiver.test!example.test!%lld!%lld.eml", out,
		 (long long)begin, (long long)begin + 86399);
	assert_int_equal(stat(name, &sb), 0);
	/* norua.test is written too (nobody would get it), nothing marked */
	assert_int_equal(count("dry", "mx.receiver.test!norua.test!"), 2);
	assert_int_equal(state_of(s, "example.test", id), STORE_REPORT_NEW);
	assert_int_equal(state_of(s, "norua.test", id), STORE_REPORT_NEW);
	store_close(s);
	conf_free(c);
}

/*
 * --dry-run into a directory others can write (/tmp): a symbolic link
 * planted under the predictable file name is not followed (the program
 * may run as root), the run says it failed.
 */
static void
test_dry_run_symlink(void **state)
{
	struct store *s;
	struct report_run r;
	struct conf *c = fresh(&s, &r);
	char out[256], name[512], victim[256], buf[64] = "";
	FILE *fp;

	(void)state;
	path(out, sizeof out, "dry2");
	mkdir(out, 0700);
	path(victim, sizeof victim, "victim");
	put("victim", "keep me\n");
	snprintf(name, sizeof name,
		 "%s/mx.receiver.test!example.test!%lld!%lld.xml.gz", out,
		 (long long)begin, (long long)begin + 86399);
	assert_int_equal(symlink(victim, name), 0);
	r.dry_run = out;
	report_run_period(&r, begin, 86400);
	assert_true(r.some_failed);
	fp = fopen(victim, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof buf, fp));
	fclose(fp);
	assert_string_equal(buf, "keep me\n");
	store_close(s);
	conf_free(c);
}

/* A policy domain that is no domain name is done with, not retried. */
static void
test_unreportable(void **state)
{
	struct store *s;
	struct report_run r;
	struct conf *c = fresh(&s, &r);
	struct store_group g;
	char id[STORE_REPORT_ID], err[512];

	(void)state;
	clear_sent();
	put("rc", "0\n");
	fixture_group(&g, "192.0.2.9", 1, AM_R_FAIL, DMARC_P_NONE);
	g.row.time = begin + 50;
	snprintf(g.row.policy_domain, sizeof g.row.policy_domain,
		 "../x/y.test");
	assert_int_equal(store_insert(s, &g.row, 1, err, sizeof err), 0);
	report_run_period(&r, begin, 86400);
	assert_false(r.some_failed);
	assert_int_equal(r.sent, 1); /* example.test */
	assert_int_equal(state_of(s, "../x/y.test", id), STORE_REPORT_SENT);
	store_close(s);
	conf_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fail_retry_once),
	    cmocka_unit_test(test_partial_failure),
	    cmocka_unit_test(test_hung_sendmail),
	    cmocka_unit_test(test_dry_run),
	    cmocka_unit_test(test_dry_run_symlink),
	    cmocka_unit_test(test_unreportable),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
