/* SPDX-License-Identifier: BSD-2-Clause */
/* test_iprev - FCrDNS (RFC 8601 iprev) against dnsd */
#include "conntest.h"
#include "engine.h"

#include <time.h>

#include "iprev.h"

struct ip_case {
	const char *name;
	const char *ip;
	const char *conf[4];  /* Key=Value, NULL-terminated */
	unsigned int wait_ms;
	enum am_result want;
	enum am_action action;
	const char *reply;    /* "rcode xcode text", or NULL: not checked */
	const char *ar;       /* wanted A-R resinfo (after "id;\n\t"), or
	                       * NULL: not checked */
	const char *asked;    /* a name whose A query must have been sent */
	const char *unasked;  /* a name whose A query must not be sent */
};

#define REJ "IPRevAction=reject"

static const struct ip_case ip_cases[] = {
	{"pass", "192.0.2.20", {REJ}, 3000, AM_R_PASS, AM_ACT_NONE, NULL,
	 "iprev=pass smtp.remote-ip=192.0.2.20 policy.iprev=mail.iprev.test",
	 NULL, NULL},
	{"no PTR is permerror (RFC 8601 2.7.3)", "192.0.2.21", {REJ}, 3000,
	 AM_R_PERMERROR, AM_ACT_REJECT,
	 "550 5.7.25 Reverse DNS validation failed for [192.0.2.21]",
	 "iprev=permerror (no PTR record) smtp.remote-ip=192.0.2.21", NULL,
	 NULL},
	{"PTR name maps elsewhere", "192.0.2.22", {REJ}, 3000, AM_R_FAIL,
	 AM_ACT_REJECT,
	 "550 5.7.25 Reverse DNS validation failed for [192.0.2.22]",
	 "iprev=fail (no PTR name maps back to the address) "
	 "smtp.remote-ip=192.0.2.22",
	 NULL, NULL},
	{"PTR name does not exist", "192.0.2.23", {REJ}, 3000, AM_R_FAIL,
	 AM_ACT_REJECT, NULL, NULL, "gone.iprev.test", NULL},
	{"12 PTR names, none maps back: 10 followed", "192.0.2.24", {REJ},
	 3000, AM_R_FAIL, AM_ACT_REJECT, NULL, NULL, NULL, NULL},
	{"10 PTR names, the 7th maps back", "192.0.2.29", {REJ}, 3000,
	 AM_R_PASS, AM_ACT_NONE, NULL,
	 "iprev=pass smtp.remote-ip=192.0.2.29 policy.iprev=m7.iprev.test",
	 NULL, NULL},
	{"second of two names maps back", "192.0.2.28", {REJ}, 3000,
	 AM_R_PASS, AM_ACT_NONE, NULL,
	 "iprev=pass smtp.remote-ip=192.0.2.28 policy.iprev=near.iprev.test",
	 "far.iprev.test", NULL},
	{"PTR in mixed case with a dot", "192.0.2.31", {REJ}, 3000,
	 AM_R_PASS, AM_ACT_NONE, NULL,
	 "iprev=pass smtp.remote-ip=192.0.2.31 "
	 "policy.iprev=mixed.iprev.test",
	 NULL, NULL},
	{"ipv6 pass", "2001:db8::20", {REJ}, 3000, AM_R_PASS, AM_ACT_NONE,
	 NULL,
	 /* authres puts quoted values last (python-authres needs it) */
	 "iprev=pass policy.iprev=v6.iprev.test "
	 "smtp.remote-ip=\"2001:db8::20\"",
	 NULL, NULL},
	{"ipv6 client, name has only an A record", "2001:db8::21", {REJ},
	 3000, AM_R_FAIL, AM_ACT_REJECT,
	 "550 5.7.25 Reverse DNS validation failed for [2001:db8::21]", NULL,
	 NULL, NULL},
	{"IPRevAction none still reports", "192.0.2.22", {NULL}, 3000,
	 AM_R_FAIL, AM_ACT_NONE, NULL, NULL, NULL, NULL},
	{"PTR servfail (OnDNSError accept)", "192.0.2.26", {REJ}, 3000,
	 AM_R_TEMPERROR, AM_ACT_NONE, NULL,
	 "iprev=temperror (PTR lookup: servfail) smtp.remote-ip=192.0.2.26",
	 NULL, NULL},
	{"PTR servfail (OnDNSError tempfail)", "192.0.2.26",
	 {REJ, "OnDNSError=tempfail"}, 3000, AM_R_TEMPERROR,
	 AM_ACT_TEMPFAIL, "451 4.4.3 Temporary DNS failure, try again later",
	 NULL, NULL, NULL},
	{"PTR servfail, action none: no tempfail", "192.0.2.26",
	 {"OnDNSError=tempfail"}, 3000, AM_R_TEMPERROR, AM_ACT_NONE, NULL,
	 NULL, NULL, NULL},
	/* Timeouts last. */
	{"PTR timeout", "192.0.2.25", {REJ}, 800, AM_R_TEMPERROR,
	 AM_ACT_NONE, NULL,
	 "iprev=temperror (PTR lookup: timeout) smtp.remote-ip=192.0.2.25",
	 NULL, NULL},
	{"forward lookup timeout", "192.0.2.27", {REJ}, 800, AM_R_TEMPERROR,
	 AM_ACT_NONE, NULL, NULL, NULL, NULL},
};

static void
run_case(const struct ip_case *tc)
{
	struct conf *cf;
	const char *kv[6];
	size_t k = 0;
	struct conn c;
	struct check_slot cs = {0};
	struct check_outcome o, o2;
	struct timespec dl;
	struct ct_report rep;
	struct authres *ar;
	char reply[400], want[600], *hdr;

	print_message("case: %s\n", tc->name);
	kv[k++] = "AuthservID=mx.test";
	for (size_t i = 0; i < 4 && tc->conf[i] != NULL; i++)
		kv[k++] = tc->conf[i];
	kv[k] = NULL;
	cf = ct_conf(kv);
	ct_conn(&c, cf, tc->ip, "client.example.test");
	assert_int_equal(iprev_ops.on_connect(&c, &cs), 0);
	iprev_ops.progress(&c, NULL, &cs, NULL);
	dns_deadline(&dl, tc->wait_ms);
	assert_int_equal(iprev_ops.finish(&c, NULL, &cs, NULL, &dl, &o), 0);
	dns_deadline(&dl, 0);
	assert_int_equal(iprev_ops.finish(&c, NULL, &cs, NULL, &dl, &o2), 0);
	assert_memory_equal(&o, &o2, sizeof o);
	engine_dns_error(cf, &o); /* as engine_decide() does */
	assert_true(o.done);
	assert_string_equal(am_result_str(o.result), am_result_str(tc->want));
	assert_string_equal(am_action_str(o.action),
			    am_action_str(tc->action));
	if (tc->reply != NULL) {
		snprintf(reply, sizeof reply, "%s %s %s", o.rcode, o.xcode,
			 o.reply);
		assert_string_equal(reply, tc->reply);
	}
	ar = authres_new("mx.test");
	assert_non_null(ar);
	ct_report_init(&rep, ar);
	iprev_ops.report(&c, NULL, &cs, NULL, &o, &rep.r);
	assert_int_equal(authres_count(ar), 1);
	hdr = authres_render(ar);
	assert_non_null(hdr);
	if (tc->ar != NULL) {
		snprintf(want, sizeof want, "mx.test;\n\t%s", tc->ar);
		assert_string_equal(hdr, want);
	}
	snprintf(want, sizeof want, "iprev=%s;", am_result_str(tc->want));
	assert_non_null(strstr(rep.logs, want));
	free(hdr);
	authres_free(ar);
	if (tc->asked != NULL)
		assert_true(ct_wait_queried(tc->asked, "A", 1000));
	if (tc->unasked != NULL)
		assert_false(ct_queried(tc->unasked, "A"));
	if (strcmp(tc->ip, "192.0.2.24") == 0) {
		/* Which 10 depends on the answer's order (libunbound
		 * rotates RRsets); that exactly 10 went out does not. */
		unsigned int asked = 0;
		char nm[64];

		for (int i = 1; i <= 12; i++) {
			snprintf(nm, sizeof nm, "n%d.iprev.test", i);
			asked += ct_queried(nm, "A");
		}
		assert_int_equal(asked, IPREV_MAX_NAMES);
	}
	iprev_ops.conn_free(&cs);
	iprev_ops.conn_free(&cs);
	ct_conn_free(&c);
	conf_free(cf);
}

static void
test_iprev_cases(void **state)
{
	(void)state;
	CT_NEED_DNS();
	for (size_t i = 0; i < sizeof ip_cases / sizeof ip_cases[0]; i++)
		run_case(&ip_cases[i]);
}

/* At the next hook (HELO here), once the PTR answer is in, progress()
 * sends the forward query without waiting for finish(). */
static void
test_iprev_helo_advances(void **state)
{
	static const char *const kv[] = {NULL};
	struct conf *cf;
	struct conn c;
	struct check_slot cs = {0};
	struct check_outcome o;
	struct timespec dl, nap = {0, 300 * 1000000L};

	(void)state;
	CT_NEED_DNS();
	cf = ct_conf(kv);
	ct_conn(&c, cf, "192.0.2.32", "early.iprev.test");
	assert_int_equal(iprev_ops.on_connect(&c, &cs), 0);
	nanosleep(&nap, NULL); /* the PTR answer arrives meanwhile */
	assert_false(ct_queried("early.iprev.test", "A"));
	iprev_ops.progress(&c, NULL, &cs, NULL);
	nanosleep(&nap, NULL);
	assert_true(ct_wait_queried("early.iprev.test", "A", 1000));
	assert_true(dns_set_wait_ms(c.dns) == 0.0);
	dns_deadline(&dl, 3000);
	assert_int_equal(iprev_ops.finish(&c, NULL, &cs, NULL, &dl, &o), 0);
	assert_int_equal(o.result, AM_R_PASS);
	iprev_ops.conn_free(&cs);
	ct_conn_free(&c);
	conf_free(cf);
}

/* A skipped session or an unknown client address: no lookups. */
static void
test_iprev_not_run(void **state)
{
	static const char *const kv[] = {NULL};
	struct conf *cf;
	struct conn c;
	struct check_slot cs = {0};
	struct check_outcome o;
	struct timespec dl;
	struct ct_report rep;
	struct authres *ar;

	(void)state;
	CT_NEED_DNS();
	cf = ct_conf(kv);
	dns_deadline(&dl, 100);
	ct_conn(&c, cf, "unknown", NULL);
	assert_int_equal(iprev_ops.on_connect(&c, &cs), 0);
	assert_null(cs.state);
	assert_int_equal(iprev_ops.finish(&c, NULL, &cs, NULL, &dl, &o), 0);
	/* an unknown client address is checked and cannot pass */
	assert_int_equal(o.result, AM_R_PERMERROR);
	assert_string_equal(o.why, "client address unknown");
	ar = authres_new("mx.test");
	ct_report_init(&rep, ar);
	iprev_ops.report(&c, NULL, &cs, NULL, &o, &rep.r);
	assert_int_equal(authres_count(ar), 1);
	authres_free(ar);
	ct_conn_free(&c);

	ct_conn(&c, cf, "192.0.2.20", NULL);
	c.skip = true;
	assert_int_equal(iprev_ops.on_connect(&c, &cs), 0);
	assert_null(cs.state);
	/* the engine asks no finish() of a skipped session (engine.c) */
	assert_int_equal(dns_set_count(c.dns), 0);
	ct_conn_free(&c);
	conf_free(cf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iprev_helo_advances),
		cmocka_unit_test(test_iprev_not_run),
		cmocka_unit_test(test_iprev_cases),
	};
	return cmocka_run_group_tests(tests, ct_setup, ct_teardown);
}
