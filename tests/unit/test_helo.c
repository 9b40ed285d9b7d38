/* SPDX-License-Identifier: BSD-2-Clause */
/* test_helo - the HELO name against the client IP, with dnsd */
#include "conntest.h"
#include "engine.h"

#include "helo.h"

struct helo_case {
	const char *name;
	const char *ip;
	const char *helo;      /* NULL: no HELO at all */
	const char *conf[4];   /* extra Key=Value, NULL-terminated */
	unsigned int wait_ms;
	enum am_result want;
	enum am_action action;
	const char *why;       /* wanted why, or NULL: not checked */
	const char *reply;     /* "rcode xcode text", or NULL: not checked */
	const char *asked;     /* "name TYPE" that must have been sent */
};

#define REJ "HeloAction=reject"

static const struct helo_case helo_cases[] = {
	{"name resolves to the client", "192.0.2.30", "h1.helo.test", {REJ},
	 3000, AM_R_PASS, AM_ACT_NONE, NULL, NULL, NULL},
	{"trailing dot and case", "192.0.2.30", "H1.Helo.Test.", {REJ}, 3000,
	 AM_R_PASS, AM_ACT_NONE, NULL, NULL, NULL},
	{"underscore is tolerated", "192.0.2.30", "under_score.helo.test",
	 {REJ}, 3000, AM_R_PASS, AM_ACT_NONE, NULL, NULL, NULL},
	{"ipv6 client, AAAA", "2001:db8::30", "h6.helo.test", {REJ}, 3000,
	 AM_R_PASS, AM_ACT_NONE, NULL, NULL, NULL},
	{"address literal", "192.0.2.30", "[192.0.2.30]", {REJ}, 3000,
	 AM_R_PASS, AM_ACT_NONE, "address literal", NULL, NULL},
	{"IPv6 address literal", "2001:db8::30", "[IPv6:2001:DB8::30]",
	 {REJ}, 3000, AM_R_PASS, AM_ACT_NONE, NULL, NULL, NULL},
	{"literal mismatch", "192.0.2.30", "[192.0.2.31]", {REJ}, 3000,
	 AM_R_FAIL, AM_ACT_REJECT, "address literal is not the client IP",
	 "550 5.7.1 HELO name [192.0.2.31] does not match client "
	 "[192.0.2.30]",
	 NULL},
	{"IPv4 literal from an IPv6 client", "2001:db8::30", "[192.0.2.30]",
	 {REJ}, 3000, AM_R_FAIL, AM_ACT_REJECT, NULL, NULL, NULL},
	{"malformed literal", "192.0.2.30", "[192.0.2.300]", {REJ}, 3000,
	 AM_R_FAIL, AM_ACT_REJECT, "invalid address literal", NULL, NULL},
	{"not a FQDN", "192.0.2.30", "localhost", {REJ}, 3000, AM_R_FAIL,
	 AM_ACT_REJECT, "not a fully qualified name",
	 "550 5.7.1 HELO name localhost does not match client [192.0.2.30]",
	 NULL},
	{"bare IP is not a FQDN", "192.0.2.30", "192.0.2.30", {REJ}, 3000,
	 AM_R_FAIL, AM_ACT_REJECT, "not a fully qualified name", NULL, NULL},
	{"bad characters", "192.0.2.30", "bad%name\r\n.helo.test", {REJ},
	 3000, AM_R_FAIL, AM_ACT_REJECT, "not a fully qualified name",
	 "550 5.7.1 HELO name bad?name??.helo.test does not match client "
	 "[192.0.2.30]",
	 NULL},
	{"claims our name (AuthservID)", "192.0.2.30", "MX.helo.test.",
	 {REJ}, 3000, AM_R_FAIL, AM_ACT_REJECT, "claims our own name", NULL,
	 NULL},
	{"claims our name (macro j)", "192.0.2.30", "smtp.ours.test", {REJ},
	 3000, AM_R_FAIL, AM_ACT_REJECT, "claims our own name", NULL, NULL},
	{"NXDOMAIN", "192.0.2.30", "nope.helo.test", {REJ}, 3000, AM_R_FAIL,
	 AM_ACT_REJECT, "name does not exist",
	 "550 5.7.1 HELO name nope.helo.test does not match client "
	 "[192.0.2.30]",
	 "nope.helo.test A"},
	{"no address record", "192.0.2.30", "txt.helo.test", {REJ}, 3000,
	 AM_R_FAIL, AM_ACT_REJECT, "no A record", NULL, NULL},
	{"resolves elsewhere", "192.0.2.30", "far.helo.test", {REJ}, 3000,
	 AM_R_FAIL, AM_ACT_REJECT, "resolves elsewhere", NULL, NULL},
	{"HeloAction none still reports", "192.0.2.30", "far.helo.test",
	 {NULL}, 3000, AM_R_FAIL, AM_ACT_NONE, NULL, NULL, NULL},
	{"no HELO", "192.0.2.30", NULL, {REJ}, 3000, AM_R_NONE, AM_ACT_NONE,
	 NULL, NULL, NULL},
	{"servfail, OnDNSError tempfail", "192.0.2.30", "x.sf.test",
	 {REJ, "OnDNSError=tempfail"}, 3000, AM_R_TEMPERROR,
	 AM_ACT_TEMPFAIL, "lookup: servfail",
	 "451 4.4.3 Temporary DNS failure, try again later", NULL},
	/* Timeouts last. */
	{"timeout", "192.0.2.30", "x.dead.test", {REJ}, 800, AM_R_TEMPERROR,
	 AM_ACT_NONE, "lookup: timeout", NULL, NULL},
};

static void
run_case(const struct helo_case *tc)
{
	const char *kv[6];
	size_t k = 0;
	struct conf *cf;
	struct conn c;
	struct check_slot cs = {0};
	struct check_outcome o, o2;
	struct timespec dl;
	struct ct_report rep;
	char reply[400], want[300];

	print_message("case: %s\n", tc->name);
	kv[k++] = "AuthservID=mx.helo.test";
	for (size_t i = 0; i < 4 && tc->conf[i] != NULL; i++)
		kv[k++] = tc->conf[i];
	kv[k] = NULL;
	cf = ct_conf(kv);
	ct_conn(&c, cf, tc->ip, tc->helo);
	assert_int_equal(helo_ops.on_helo(&c, &cs), 0);
	dns_deadline(&dl, tc->wait_ms);
	assert_int_equal(helo_ops.finish(&c, NULL, &cs, NULL, &dl, &o), 0);
	dns_deadline(&dl, 0);
	assert_int_equal(helo_ops.finish(&c, NULL, &cs, NULL, &dl, &o2), 0);
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
	helo_ops.report(&c, NULL, &cs, NULL, &o, &rep.r);
	snprintf(want, sizeof want, "helo=%s", am_result_str(tc->want));
	assert_true(strncmp(rep.xauth, want, strlen(want)) == 0);
	if (tc->asked != NULL) {
		char nm[256];
		const char *sp = strchr(tc->asked, ' ');

		snprintf(nm, sizeof nm, "%.*s", (int)(sp - tc->asked),
			 tc->asked);
		assert_true(ct_wait_queried(nm, sp + 1, 1000));
	}
	helo_ops.conn_free(&cs);
	helo_ops.conn_free(&cs);
	ct_conn_free(&c);
	conf_free(cf);
}

static void
test_helo_cases(void **state)
{
	(void)state;
	CT_NEED_DNS();
	for (size_t i = 0; i < sizeof helo_cases / sizeof helo_cases[0]; i++)
		run_case(&helo_cases[i]);
}

/* A second EHLO (after STARTTLS) replaces the first verdict. */
static void
test_helo_again(void **state)
{
	static const char *const kv[] = {"HeloAction=reject", NULL};
	struct conf *cf;
	struct conn c;
	struct check_slot cs = {0};
	struct check_outcome o;
	struct timespec dl;

	(void)state;
	CT_NEED_DNS();
	cf = ct_conf(kv);
	ct_conn(&c, cf, "192.0.2.30", "far.helo.test");
	assert_int_equal(helo_ops.on_helo(&c, &cs), 0);
	dns_deadline(&dl, 3000);
	assert_int_equal(helo_ops.finish(&c, NULL, &cs, NULL, &dl, &o), 0);
	assert_int_equal(o.result, AM_R_FAIL);
	free(c.helo);
	c.helo = strdup("h1.helo.test");
	assert_int_equal(helo_ops.on_helo(&c, &cs), 0);
	assert_int_equal(helo_ops.finish(&c, NULL, &cs, NULL, &dl, &o), 0);
	assert_int_equal(o.result, AM_R_PASS);
	helo_ops.conn_free(&cs);
	ct_conn_free(&c);
	conf_free(cf);
}

static void
test_helo_is_fqdn(void **state)
{
	static const struct {
		const char *in;
		bool want;
	} cases[] = {
		{"mail.example.com", true},   {"a.b", true},
		{"xn--bcher-kva.example", true}, {"localhost", false},
		{"", false},                  {".example.com", false},
		{"example..com", false},      {"-bad.example.com", false},
		{"bad-.example.com", false},  {"192.0.2.1", false},
		{"host.123", false},          {"123.example", true},
		{"sp ace.example", false},    {"example.com.", false},
	};
	char longlabel[80], longname[300];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		print_message("fqdn: \"%s\"\n", cases[i].in);
		assert_int_equal(helo_is_fqdn(cases[i].in), cases[i].want);
	}
	memset(longlabel, 'a', 64);
	snprintf(longlabel + 64, sizeof longlabel - 64, ".example");
	assert_false(helo_is_fqdn(longlabel));
	for (size_t i = 0; i < 254; i++)
		longname[i] = i % 2 ? '.' : 'a';
	longname[254] = '\0';
	longname[253] = 'a';
	assert_false(helo_is_fqdn(longname));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_helo_is_fqdn),
		cmocka_unit_test(test_helo_again),
		cmocka_unit_test(test_helo_cases),
	};
	return cmocka_run_group_tests(tests, ct_setup, ct_teardown);
}
