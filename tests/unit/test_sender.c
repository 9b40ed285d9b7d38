/* SPDX-License-Identifier: BSD-2-Clause */
/* test_sender - MAIL FROM domain: MX, implicit MX, null MX, with dnsd */
#include "conntest.h"
#include "engine.h"

#include "sender.h"

struct sender_case {
	const char *name;
	const char *from;      /* MAIL FROM address, "" = null sender */
	const char *conf[4];   /* extra Key=Value, NULL-terminated */
	unsigned int wait_ms;
	enum am_result want;
	enum am_action action;
	const char *why;       /* wanted why, or NULL: not checked */
	const char *reply;     /* "rcode xcode text", or NULL: not checked */
	const char *xauth;     /* wanted X-Authmilter items, or NULL */
};

static const struct sender_case sender_cases[] = {
	{"MX", "user@mx.sender.test", {NULL}, 3000, AM_R_PASS, AM_ACT_NONE,
	 "MX", NULL, "sender-domain=pass;"},
	{"upper case and trailing dot", "user@MX.Sender.Test.", {NULL}, 3000,
	 AM_R_PASS, AM_ACT_NONE, "MX", NULL, NULL},
	{"implicit MX (A)", "user@a.sender.test", {NULL}, 3000, AM_R_PASS,
	 AM_ACT_NONE, "implicit MX", NULL, NULL},
	{"implicit MX (AAAA only)", "user@aaaa.sender.test", {NULL}, 3000,
	 AM_R_PASS, AM_ACT_NONE, "implicit MX", NULL, NULL},
	{"null MX", "user@null.sender.test", {NULL}, 3000, AM_R_NULLMX,
	 AM_ACT_REJECT, "null MX", "550 5.7.27 Sender address has null MX",
	 "sender-domain=nullmx (null MX);"},
	{"null MX beside an A record", "user@nulla.sender.test", {NULL},
	 3000, AM_R_NULLMX, AM_ACT_REJECT, NULL, NULL, NULL},
	{"null MX among other MX: the others count", "u@both.sender.test",
	 {NULL}, 3000, AM_R_PASS, AM_ACT_NONE, NULL, NULL, NULL},
	{"MX . with a preference", "user@dotpref.sender.test", {NULL}, 3000,
	 AM_R_FAIL, AM_ACT_REJECT, NULL, NULL, NULL},
	{"NXDOMAIN", "user@nope.sender.test", {NULL}, 3000, AM_R_FAIL,
	 AM_ACT_REJECT, "domain does not exist",
	 "550 5.1.8 Sender address rejected: domain nope.sender.test not "
	 "found",
	 "sender-domain=fail (domain does not exist);"},
	{"no MX, A or AAAA", "user@empty.sender.test", {NULL}, 3000,
	 AM_R_FAIL, AM_ACT_REJECT, "no MX, A or AAAA record",
	 "550 5.1.8 Sender address rejected: domain empty.sender.test not "
	 "found",
	 NULL},
	{"SenderDomainAction tempfail gives 4xx", "user@nope.sender.test",
	 {"SenderDomainAction=tempfail"}, 3000, AM_R_FAIL, AM_ACT_TEMPFAIL,
	 NULL,
	 "450 4.1.8 Sender address rejected: domain nope.sender.test not "
	 "found",
	 NULL},
	{"SenderDomainAction none still reports", "user@nope.sender.test",
	 {"SenderDomainAction=none"}, 3000, AM_R_FAIL, AM_ACT_NONE, NULL,
	 NULL, "sender-domain=fail (domain does not exist);"},
	{"hostile domain in the reply", "user@bad%dom\x01.sender.test",
	 {NULL}, 3000, AM_R_FAIL, AM_ACT_REJECT, NULL,
	 "550 5.1.8 Sender address rejected: domain bad?dom?.sender.test not "
	 "found",
	 NULL},
	{"over-long domain", "user@"
	 "a23456789012345678901234567890123456789012345678901234567890.a2345"
	 "6789012345678901234567890123456789012345678901234567890.a23456789"
	 "012345678901234567890123456789012345678901234567890.a234567890123"
	 "4567890123456789012345678901234567890123456789012345.a23456789012"
	 "34567890",
	 {NULL}, 3000, AM_R_FAIL, AM_ACT_REJECT, "not a valid domain name",
	 NULL, NULL},
	{"null sender is not checked", "", {NULL}, 3000, AM_R_NONE,
	 AM_ACT_NONE, "null sender", NULL, "sender-domain=none (null sender);"},
	{"address literal is not checked", "user@[192.0.2.1]", {NULL}, 3000,
	 AM_R_NONE, AM_ACT_NONE, "address literal", NULL, NULL},
	{"no domain is not checked", "postmaster", {NULL}, 3000, AM_R_NONE,
	 AM_ACT_NONE, "no sender domain", NULL, NULL},
	{"servfail (OnDNSError accept)", "user@x.sf.test", {NULL}, 3000,
	 AM_R_TEMPERROR, AM_ACT_NONE, "lookup: servfail", NULL,
	 "sender-domain=temperror (lookup: servfail);"},
	{"servfail (OnDNSError tempfail)", "user@y.sf.test",
	 {"OnDNSError=tempfail"}, 3000, AM_R_TEMPERROR, AM_ACT_TEMPFAIL, NULL,
	 "451 4.4.3 Temporary DNS failure, try again later", NULL},
	/* Timeouts last. */
	{"timeout", "user@x.dead.test", {"OnDNSError=tempfail"}, 800,
	 AM_R_TEMPERROR, AM_ACT_TEMPFAIL, "lookup: timeout", NULL, NULL},
	{"MX timeout but an A record: pass", "user@a-mxdead.sender.test",
	 {NULL}, 800, AM_R_PASS, AM_ACT_NONE, "implicit MX", NULL, NULL},
};

static void
run_case(const struct sender_case *tc)
{
	const char *kv[6];
	size_t k = 0;
	struct conf *cf;
	struct conn c;
	struct msg m;
	struct check_slot cs = {0}, ms = {0};
	struct check_outcome o, o2;
	struct timespec dl;
	struct ct_report rep;
	char reply[400];

	print_message("case: %s\n", tc->name);
	for (size_t i = 0; i < 4 && tc->conf[i] != NULL; i++)
		kv[k++] = tc->conf[i];
	kv[k] = NULL;
	cf = ct_conf(kv);
	ct_conn(&c, cf, "192.0.2.60", "client.example.test");
	ct_msg(&m, tc->from);
	c.msg = &m;
	assert_int_equal(sender_ops.on_mail(&c, &m, &cs, &ms), 0);
	if (m.null_sender)
		assert_null(ms.state);
	dns_deadline(&dl, tc->wait_ms);
	assert_int_equal(sender_ops.finish(&c, &m, &cs, &ms, &dl, &o), 0);
	dns_deadline(&dl, 0);
	assert_int_equal(sender_ops.finish(&c, &m, &cs, &ms, &dl, &o2), 0);
	assert_memory_equal(&o, &o2, sizeof o);
	engine_dns_error(cf, &o); /* as engine_decide() does */
	assert_string_equal(am_result_str(o.result), am_result_str(tc->want));
	assert_string_equal(am_action_str(o.action),
			    am_action_str(tc->action));
	if (tc->why != NULL)
		assert_string_equal(o.why, tc->why);
	if (tc->reply != NULL) {
		snprintf(reply, sizeof reply, "%s %s %s", o.rcode, o.xcode,
			 o.reply);
		assert_string_equal(reply, tc->reply);
	}
	ct_report_init(&rep, NULL);
	sender_ops.report(&c, &m, &cs, &ms, &o, &rep.r);
	if (tc->xauth != NULL)
		assert_string_equal(rep.xauth, tc->xauth);
	sender_ops.msg_free(&ms);
	sender_ops.msg_free(&ms);
	ct_msg_free(&m);
	ct_conn_free(&c);
	conf_free(cf);
}

static void
test_sender_cases(void **state)
{
	(void)state;
	CT_NEED_DNS();
	for (size_t i = 0; i < sizeof sender_cases / sizeof sender_cases[0];
	     i++)
		run_case(&sender_cases[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sender_cases),
	};
	return cmocka_run_group_tests(tests, ct_setup, ct_teardown);
}
