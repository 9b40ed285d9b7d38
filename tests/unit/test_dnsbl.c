/* SPDX-License-Identifier: BSD-2-Clause */
/* test_dnsbl - DNSBL and RHSBL scoring against dnsd; phase parallelism */
#include "conntest.h"
#include "engine.h"

#include "dnsbl.h"
#include "helo.h"
#include "iprev.h"
#include "sender.h"

struct bl_case {
	const char *name;
	const char *ip;            /* client */
	const char *from;          /* MAIL FROM (RHSBL cases), or NULL */
	const char *conf[6];       /* Key=Value, NULL-terminated */
	unsigned int wait_ms;      /* deadline for finish() */
	enum am_result want;
	enum am_action action;     /* wanted outcome action */
	const char *xauth;         /* wanted X-Authmilter items, or NULL */
	const char *reply;         /* "rcode xcode text", or NULL: none */
	const char *log;           /* substring of the log, or NULL */
};

#define LISTED_A "554 5.7.1 Service unavailable; client [192.0.2.10] " \
		 "blocked using "

static const struct bl_case dnsbl_cases[] = {
	{"ipv4 listed", "192.0.2.10", NULL, {"DNSBL=bl-a.test"}, 3000,
	 AM_R_LISTED, AM_ACT_REJECT,
	 "dnsbl=listed (score=1 zones=bl-a.test);", LISTED_A "bl-a.test",
	 NULL},
	{"ipv4 not listed", "192.0.2.11", NULL, {"DNSBL=bl-a.test"}, 3000,
	 AM_R_PASS, AM_ACT_NONE, "dnsbl=pass (score=0);", NULL, NULL},
	{"ipv6 nibbles", "2001:db8::1", NULL, {"DNSBL=bl-a.test"}, 3000,
	 AM_R_LISTED, AM_ACT_REJECT,
	 "dnsbl=listed (score=1 zones=bl-a.test);",
	 "554 5.7.1 Service unavailable; client [2001:db8::1] blocked "
	 "using bl-a.test",
	 NULL},
	{"ipv6 not listed", "2001:db8::2", NULL, {"DNSBL=bl-a.test"}, 3000,
	 AM_R_PASS, AM_ACT_NONE, "dnsbl=pass (score=0);", NULL, NULL},
	{"filter matches", "192.0.2.10", NULL, {"DNSBL=bl-b.test=127.0.0.4"},
	 3000, AM_R_LISTED, AM_ACT_REJECT,
	 "dnsbl=listed (score=1 zones=bl-b.test);", LISTED_A "bl-b.test",
	 NULL},
	{"filter misses", "192.0.2.10", NULL,
	 {"DNSBL=bl-b.test=127.0.0.[2;3;5..11]"}, 3000, AM_R_PASS,
	 AM_ACT_NONE, "dnsbl=pass (score=0);", NULL, NULL},
	{"filter on one of two answers", "192.0.2.10", NULL,
	 {"DNSBL=multi.test=127.0.0.[8..10]"}, 3000, AM_R_LISTED,
	 AM_ACT_REJECT, "dnsbl=listed (score=1 zones=multi.test);",
	 LISTED_A "multi.test", NULL},
	{"weights add up; reply names the heaviest zone", "192.0.2.10", NULL,
	 {"DNSBL=bl-a.test*2, bl-b.test*3", "DNSBLThreshold=5"}, 3000,
	 AM_R_LISTED, AM_ACT_REJECT,
	 "dnsbl=listed (score=5 zones=bl-a.test,bl-b.test);",
	 LISTED_A "bl-b.test", NULL},
	{"below threshold", "192.0.2.10", NULL,
	 {"DNSBL=bl-a.test*2", "DNSBLThreshold=3"}, 3000, AM_R_PASS,
	 AM_ACT_NONE, "dnsbl=pass (score=2 zones=bl-a.test);", NULL, NULL},
	{"allowlist", "192.0.2.10", NULL,
	 {"DNSBL=bl-a.test*2, allow.test*-5"}, 3000, AM_R_PASS, AM_ACT_NONE,
	 "dnsbl=pass (score=-3 zones=bl-a.test,allow.test);", NULL, NULL},
	{"error code is never counted", "192.0.2.10", NULL,
	 {"DNSBL=err.test"}, 3000, AM_R_PASS, AM_ACT_NONE,
	 "dnsbl=pass (score=0);", NULL,
	 "err.test answered error code 127.255.255.254 for 192.0.2.10"},
	{"error code beside a listing", "192.0.2.10", NULL,
	 {"DNSBL=mixed.test"}, 3000, AM_R_LISTED, AM_ACT_REJECT,
	 "dnsbl=listed (score=1 zones=mixed.test);", LISTED_A "mixed.test",
	 "mixed.test answered error code 127.255.255.252"},
	{"answer outside 127/8 ignored", "192.0.2.10", NULL,
	 {"DNSBL=odd.test=192.0.2.99"}, 3000, AM_R_PASS, AM_ACT_NONE,
	 "dnsbl=pass (score=0);", NULL,
	 "odd.test answered 192.0.2.99, outside 127.0.0.0/8; ignored"},
	{"action none still reports", "192.0.2.10", NULL,
	 {"DNSBL=bl-a.test", "DNSBLAction=none"}, 3000, AM_R_LISTED,
	 AM_ACT_NONE, "dnsbl=listed (score=1 zones=bl-a.test);",
	 LISTED_A "bl-a.test", NULL},
	{"action tempfail gives 4xx", "192.0.2.10", NULL,
	 {"DNSBL=bl-a.test", "DNSBLAction=tempfail"}, 3000, AM_R_LISTED,
	 AM_ACT_TEMPFAIL, NULL,
	 "454 4.7.1 Service unavailable; client [192.0.2.10] blocked using "
	 "bl-a.test",
	 NULL},
	{"servfail is temperror (OnDNSError accept)", "192.0.2.10", NULL,
	 {"DNSBL=sf.test"}, 3000, AM_R_TEMPERROR, AM_ACT_NONE, NULL, NULL,
	 "sf.test: servfail"},
	{"servfail, OnDNSError tempfail", "192.0.2.10", NULL,
	 {"DNSBL=sf.test", "OnDNSError=tempfail"}, 3000, AM_R_TEMPERROR,
	 AM_ACT_TEMPFAIL, NULL,
	 "451 4.4.3 Temporary DNS failure, try again later", NULL},
	{"servfail, tempfail, action none", "192.0.2.10", NULL,
	 {"DNSBL=sf.test", "OnDNSError=tempfail", "DNSBLAction=tag"}, 3000,
	 AM_R_TEMPERROR, AM_ACT_NONE, NULL, NULL, NULL},
	/* RHSBL */
	{"rhsbl listed", "192.0.2.10", "user@Bad.Example.TEST",
	 {"RHSBL=rhs.test"}, 3000, AM_R_LISTED, AM_ACT_REJECT,
	 "rhsbl=listed (score=1 zones=rhs.test);",
	 "554 5.7.1 Service unavailable; sender domain bad.example.test "
	 "blocked using rhs.test",
	 NULL},
	{"rhsbl weights and filter", "192.0.2.10", "user@bad.example.test",
	 {"RHSBL=rhs.test=127.0.0.9*2, rhs2.test*3", "DNSBLThreshold=3"},
	 3000, AM_R_LISTED, AM_ACT_REJECT,
	 "rhsbl=listed (score=3 zones=rhs2.test);",
	 "554 5.7.1 Service unavailable; sender domain bad.example.test "
	 "blocked using rhs2.test",
	 NULL},
	{"rhsbl clean", "192.0.2.10", "user@good.example.test",
	 {"RHSBL=rhs.test"}, 3000, AM_R_PASS, AM_ACT_NONE,
	 "rhsbl=pass (score=0);", NULL, NULL},
	{"rhsbl null sender not checked", "192.0.2.10", "",
	 {"RHSBL=rhs.test"}, 3000, AM_R_NONE, AM_ACT_NONE, "", NULL, NULL},
	{"rhsbl address literal not checked", "192.0.2.10",
	 "user@[192.0.2.1]", {"RHSBL=rhs.test"}, 3000, AM_R_NONE,
	 AM_ACT_NONE, "", NULL, NULL},
	{"rhsbl RHSBLAction", "192.0.2.10", "user@bad.example.test",
	 {"RHSBL=rhs.test", "RHSBLAction=quarantine"}, 3000, AM_R_LISTED,
	 AM_ACT_QUARANTINE, NULL, NULL, NULL},
	/* Timeouts last: they leave queries running in libunbound. */
	{"timeout is temperror", "192.0.2.10", NULL,
	 {"DNSBL=dead.test", "OnDNSError=tempfail"}, 800, AM_R_TEMPERROR,
	 AM_ACT_TEMPFAIL, "dnsbl=temperror (score=0, dead.test: timeout);",
	 "451 4.4.3 Temporary DNS failure, try again later", NULL},
	{"timeout that cannot change the verdict", "192.0.2.10", NULL,
	 {"DNSBL=bl-a.test*5, dead.test"}, 800, AM_R_LISTED, AM_ACT_REJECT,
	 "dnsbl=listed (score=5 zones=bl-a.test);", LISTED_A "bl-a.test",
	 NULL},
	{"timed-out allowlist blocks a listing", "192.0.2.10", NULL,
	 {"DNSBL=bl-a.test*5, dead.test*-10"}, 800, AM_R_TEMPERROR,
	 AM_ACT_NONE, NULL, NULL, NULL},
	{"rhsbl timeout", "192.0.2.10", "user@bad.example.test",
	 {"RHSBL=dead.test"}, 800, AM_R_TEMPERROR, AM_ACT_NONE,
	 "rhsbl=temperror (score=0, dead.test: timeout);", NULL, NULL},
};

static void
run_case(const struct bl_case *tc)
{
	const struct check_ops *ops = tc->from ? &rhsbl_ops : &dnsbl_ops;
	struct conf *cf = ct_conf(tc->conf);
	struct conn c;
	struct msg m;
	struct check_slot cs = {0}, ms = {0};
	struct check_outcome o1, o2;
	struct timespec dl;
	struct ct_report rep;
	struct ct_capture cap;
	char logs[8192];
	char reply[400];

	print_message("case: %s\n", tc->name);
	ct_conn(&c, cf, tc->ip, "helo.example.test");
	ct_capture_start(&cap);
	if (tc->from == NULL) {
		assert_int_equal(ops->on_connect(&c, &cs), 0);
	} else {
		ct_msg(&m, tc->from);
		c.msg = &m;
		assert_int_equal(ops->on_mail(&c, &m, &cs, &ms), 0);
	}
	dns_deadline(&dl, tc->wait_ms);
	memset(&o1, 0, sizeof o1);
	assert_int_equal(ops->finish(&c, c.msg, &cs, &ms, &dl, &o1), 0);
	ct_capture_end(&cap, logs, sizeof logs);
	/* Idempotent: a second call gives the same without waiting. */
	dns_deadline(&dl, 0);
	memset(&o2, 0, sizeof o2);
	assert_int_equal(ops->finish(&c, c.msg, &cs, &ms, &dl, &o2), 0);
	assert_memory_equal(&o1, &o2, sizeof o1);
	engine_dns_error(cf, &o1); /* as engine_decide() does */

	assert_true(o1.done);
	assert_string_equal(am_result_str(o1.result), am_result_str(tc->want));
	assert_string_equal(am_action_str(o1.action),
			    am_action_str(tc->action));
	if (tc->reply != NULL) {
		snprintf(reply, sizeof reply, "%s %s %s", o1.rcode, o1.xcode,
			 o1.reply);
		assert_string_equal(reply, tc->reply);
	}
	if (tc->log != NULL) {
		if (strstr(logs, tc->log) == NULL)
			print_message("log was: %s\n", logs);
		assert_non_null(strstr(logs, tc->log));
	}
	ct_report_init(&rep, NULL);
	ops->report(&c, c.msg, &cs, &ms, &o1, &rep.r);
	if (tc->xauth != NULL)
		assert_string_equal(rep.xauth, tc->xauth);

	if (tc->from != NULL) {
		ops->msg_free(&ms);
		ops->msg_free(&ms); /* NULL state is fine */
		ct_msg_free(&m);
	} else {
		ops->conn_free(&cs);
		ops->conn_free(&cs);
	}
	ct_conn_free(&c);
	conf_free(cf);
}

static void
test_dnsbl_cases(void **state)
{
	(void)state;
	CT_NEED_DNS();
	for (size_t i = 0; i < sizeof dnsbl_cases / sizeof dnsbl_cases[0]; i++)
		run_case(&dnsbl_cases[i]);
}

/* No zone, no address, skipped session: no queries, nothing reported. */
static void
test_dnsbl_not_run(void **state)
{
	static const char *const none[] = {NULL};
	static const char *const zone[] = {"DNSBL=bl-a.test", NULL};
	struct conf *cf0 = ct_conf(none), *cf1 = ct_conf(zone);
	struct conn c;
	struct check_slot cs = {0};
	struct check_outcome o;
	struct timespec dl;
	struct ct_report rep;

	(void)state;
	CT_NEED_DNS();
	dns_deadline(&dl, 100);

	ct_conn(&c, cf0, "192.0.2.10", NULL);
	assert_int_equal(dnsbl_ops.on_connect(&c, &cs), 0);
	assert_null(cs.state);
	assert_int_equal(dnsbl_ops.finish(&c, NULL, &cs, NULL, &dl, &o), 0);
	assert_int_equal(o.result, AM_R_NONE);
	ct_report_init(&rep, NULL);
	dnsbl_ops.report(&c, NULL, &cs, NULL, &o, &rep.r);
	assert_string_equal(rep.xauth, "");
	ct_conn_free(&c);

	ct_conn(&c, cf1, "192.0.2.10", NULL);
	c.skip = true;
	assert_int_equal(dnsbl_ops.on_connect(&c, &cs), 0);
	assert_null(cs.state);
	/* the engine asks no finish() of a skipped session (engine.c) */
	assert_int_equal(dns_set_count(c.dns), 0);
	ct_conn_free(&c);

	ct_conn(&c, cf1, "unknown", NULL); /* no address from the MTA */
	assert_int_equal(dnsbl_ops.on_connect(&c, &cs), 0);
	assert_int_equal(dnsbl_ops.finish(&c, NULL, &cs, NULL, &dl, &o), 0);
	assert_int_equal(o.result, AM_R_NONE);
	ct_conn_free(&c);
	conf_free(cf0);
	conf_free(cf1);
}

/*
 * Parallelism: every answer is 200 ms late. Four DNSBL zones, iprev,
 * HELO and the sender domain, driven phase by phase as the filter does,
 * must cost about two round trips (PTR, then the PTR name's A), not
 * the sum of all lookups.
 */
static void
test_parallel(void **state)
{
	static const char *const kv[] = {
		"DNSBL=bl1.slow.test, bl2.slow.test, bl3.slow.test, "
		"bl4.slow.test",
		"IPRevAction=reject", "HeloAction=reject", NULL,
	};
	const struct check_ops *ops[] = {&iprev_ops, &dnsbl_ops, &helo_ops,
					 &sender_ops};
	const size_t n = sizeof ops / sizeof ops[0];
	struct conf *cf = ct_conf(kv);
	struct conn c;
	struct msg m;
	struct check_slot cs[4] = {{0}}, ms[4] = {{0}};
	struct check_outcome o[4];
	struct timespec dl;
	double waited;

	(void)state;
	CT_NEED_DNS();
	ct_conn(&c, cf, "192.0.2.50", "helo.slow.test");
	for (size_t i = 0; i < n; i++)
		if (ops[i]->on_connect != NULL)
			assert_int_equal(ops[i]->on_connect(&c, &cs[i]), 0);
	for (size_t i = 0; i < n; i++)
		if (ops[i]->on_helo != NULL)
			assert_int_equal(ops[i]->on_helo(&c, &cs[i]), 0);
	ct_msg(&m, "user@sender.slow.test");
	c.msg = &m;
	for (size_t i = 0; i < n; i++)
		if (ops[i]->on_mail != NULL)
			assert_int_equal(ops[i]->on_mail(&c, &m, &cs[i],
							 &ms[i]),
					 0);
	dns_deadline(&dl, 5000);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ops[i]->finish(&c, &m, &cs[i], &ms[i], &dl,
						&o[i]),
				 0);
	waited = dns_set_wait_ms(c.dns);
	print_message("waited %.1f ms\n", waited);
	assert_int_equal(o[0].result, AM_R_PASS);   /* iprev */
	assert_int_equal(o[1].result, AM_R_PASS);   /* dnsbl */
	assert_int_equal(o[2].result, AM_R_PASS);   /* helo */
	assert_int_equal(o[3].result, AM_R_PASS);   /* sender */
	assert_true(waited >= 190.0); /* the delay was real */
	assert_true(waited < 3 * 200.0);
	for (size_t i = 0; i < n; i++) {
		if (ops[i]->msg_free != NULL)
			ops[i]->msg_free(&ms[i]);
		if (ops[i]->conn_free != NULL)
			ops[i]->conn_free(&cs[i]);
	}
	ct_msg_free(&m);
	ct_conn_free(&c);
	conf_free(cf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parallel),
		cmocka_unit_test(test_dnsbl_not_run),
		cmocka_unit_test(test_dnsbl_cases),
	};
	return cmocka_run_group_tests(tests, ct_setup, ct_teardown);
}
