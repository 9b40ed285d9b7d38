/* SPDX-License-Identifier: BSD-2-Clause */
/* test_policy - verdicts, DryRun, OnDNSError, X-Authmilter, log fields */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "amerr.h"
#include "policy.h"

/* A configuration with the defaults of SPEC.md that matter here. */
static void
conf_defaults(struct conf *cf)
{
	memset(cf, 0, sizeof *cf);
	cf->dnsbl.n = 1; /* one zone configured */
	cf->dnsbl_action = AM_ACT_REJECT;
	cf->rhsbl.n = 0;
	cf->rhsbl_action = AM_ACT_REJECT;
	cf->iprev_action = AM_ACT_NONE;
	cf->helo_action = AM_ACT_NONE;
	cf->sender_domain_action = AM_ACT_REJECT;
	cf->spf_fail_action = AM_ACT_NONE;
	cf->spf_softfail_action = AM_ACT_NONE;
	cf->dmarc_enforce = true;
	cf->dmarc_reject_action = AM_ACT_REJECT;
	cf->dmarc_quarantine_action = AM_ACT_QUARANTINE;
	cf->on_dns_error = ONDNS_ACCEPT;
}

struct oc {
	const char *check;
	bool done;
	enum am_result result;
	enum am_action action;
	const char *rcode, *xcode, *reply, *why;
};

#define REJ_DNSBL "554", "5.7.1", "Service unavailable; client [192.0.2.1] " \
		  "blocked using zen.example", "listed in zen.example"
#define REJ_DMARC "550", "5.7.1", "Rejected by DMARC policy for example.com", \
		  "p=reject"

static const struct decide_case {
	const char *name;
	bool dry_run;
	struct oc in[5];
	enum am_action want_action;
	enum am_action want_wanted;
	bool want_dry;
	const char *want_check;
	const char *want_rcode;
	const char *want_reply;
	const char *want_failed;
} decide_cases[] = {
	{"nothing finished", false, {{"dnsbl", false, AM_R_LISTED,
	  AM_ACT_REJECT, REJ_DNSBL}},
	 AM_ACT_NONE, AM_ACT_NONE, false, NULL, "", "", ""},
	{"all pass", false,
	 {{"iprev", true, AM_R_PASS, AM_ACT_NONE, "", "", "", "ok"},
	  {"spf", true, AM_R_PASS, AM_ACT_NONE, "", "", "", "ok"}},
	 AM_ACT_NONE, AM_ACT_NONE, false, NULL, "", "", ""},
	{"tag", false,
	 {{"iprev", true, AM_R_PASS, AM_ACT_NONE, "", "", "", ""},
	  {"helo", true, AM_R_FAIL, AM_ACT_TAG, "", "", "", "no match"}},
	 AM_ACT_TAG, AM_ACT_TAG, false, "helo", "", "", "helo"},
	{"quarantine beats tag", false,
	 {{"helo", true, AM_R_FAIL, AM_ACT_TAG, "", "", "", "no match"},
	  {"dmarc", true, AM_R_FAIL, AM_ACT_QUARANTINE, "", "", "",
	   "p=quarantine"}},
	 AM_ACT_QUARANTINE, AM_ACT_QUARANTINE, false, "dmarc", "", "",
	 "helo,dmarc"},
	{"tempfail beats quarantine", false,
	 {{"dmarc", true, AM_R_FAIL, AM_ACT_QUARANTINE, "", "", "", "q"},
	  {"sender", true, AM_R_TEMPERROR, AM_ACT_TEMPFAIL, "451", "4.4.3",
	   "Temporary DNS failure, try again later", "servfail"}},
	 AM_ACT_TEMPFAIL, AM_ACT_TEMPFAIL, false, "sender", "451",
	 "Temporary DNS failure, try again later", "dmarc,sender-domain"},
	{"reject beats all, its reply is sent", false,
	 {{"sender", true, AM_R_TEMPERROR, AM_ACT_TEMPFAIL, "451", "4.4.3",
	   "Temporary DNS failure, try again later", "servfail"},
	  {"dmarc", true, AM_R_FAIL, AM_ACT_REJECT, REJ_DMARC},
	  {"helo", true, AM_R_FAIL, AM_ACT_TAG, "", "", "", "x"}},
	 AM_ACT_REJECT, AM_ACT_REJECT, false, "dmarc", "550",
	 "Rejected by DMARC policy for example.com", "sender-domain,dmarc,helo"},
	{"tie: the first check in table order", false,
	 {{"dnsbl", true, AM_R_LISTED, AM_ACT_REJECT, REJ_DNSBL},
	  {"dmarc", true, AM_R_FAIL, AM_ACT_REJECT, REJ_DMARC}},
	 AM_ACT_REJECT, AM_ACT_REJECT, false, "dnsbl", "554",
	 "Service unavailable; client [192.0.2.1] blocked using zen.example",
	 "dnsbl,dmarc"},
	{"skipped and unfinished are ignored", false,
	 {{"dnsbl", true, AM_R_SKIPPED, AM_ACT_REJECT, REJ_DNSBL},
	  {"dmarc", false, AM_R_FAIL, AM_ACT_REJECT, REJ_DMARC}},
	 AM_ACT_NONE, AM_ACT_NONE, false, NULL, "", "", ""},
	{"reject without a reply: internal-error reply", false,
	 {{"spf", true, AM_R_FAIL, AM_ACT_REJECT, "", "", "", "fail"}},
	 AM_ACT_REJECT, AM_ACT_REJECT, false, "spf", "451",
	 "Temporary local problem, try again later", "spf"},
	{"dry-run reject is accepted", true,
	 {{"dnsbl", true, AM_R_LISTED, AM_ACT_REJECT, REJ_DNSBL}},
	 AM_ACT_NONE, AM_ACT_REJECT, true, "dnsbl", "554",
	 "Service unavailable; client [192.0.2.1] blocked using zen.example",
	 "dnsbl"},
	{"dry-run tempfail is accepted", true,
	 {{"sender", true, AM_R_TEMPERROR, AM_ACT_TEMPFAIL, "451", "4.4.3",
	   "Temporary DNS failure, try again later", "servfail"}},
	 AM_ACT_NONE, AM_ACT_TEMPFAIL, true, "sender", "451",
	 "Temporary DNS failure, try again later", "sender-domain"},
	{"dry-run quarantine is accepted", true,
	 {{"dmarc", true, AM_R_FAIL, AM_ACT_QUARANTINE, "", "", "", "q"}},
	 AM_ACT_NONE, AM_ACT_QUARANTINE, true, "dmarc", "", "", "dmarc"},
	{"dry-run keeps tag", true,
	 {{"helo", true, AM_R_FAIL, AM_ACT_TAG, "", "", "", "x"}},
	 AM_ACT_TAG, AM_ACT_TAG, false, "helo", "", "", "helo"},
};

static size_t
load(const struct oc *in, size_t max, struct check_outcome *o,
     struct policy_entry *e)
{
	size_t n = 0;

	for (; n < max && in[n].check != NULL; n++) {
		memset(&o[n], 0, sizeof o[n]);
		o[n].done = in[n].done;
		o[n].result = in[n].result;
		o[n].action = in[n].action;
		snprintf(o[n].rcode, sizeof o[n].rcode, "%s", in[n].rcode);
		snprintf(o[n].xcode, sizeof o[n].xcode, "%s", in[n].xcode);
		snprintf(o[n].reply, sizeof o[n].reply, "%s", in[n].reply);
		snprintf(o[n].why, sizeof o[n].why, "%s", in[n].why);
		e[n].check = in[n].check;
		e[n].o = &o[n];
	}
	return n;
}

static void
test_decide(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof decide_cases / sizeof decide_cases[0];
	     i++) {
		const struct decide_case *c = &decide_cases[i];
		struct check_outcome o[5];
		struct policy_entry e[5];
		struct policy_verdict v;
		struct conf cf;
		size_t n;

		conf_defaults(&cf);
		cf.dry_run = c->dry_run;
		n = load(c->in, 5, o, e);
		policy_decide(&cf, e, n, &v);
		if (v.action != c->want_action || v.wanted != c->want_wanted ||
		    v.dry_run != c->want_dry ||
		    (v.check == NULL) != (c->want_check == NULL) ||
		    (v.check && strcmp(v.check, c->want_check) != 0) ||
		    strcmp(v.rcode, c->want_rcode) != 0 ||
		    strcmp(v.reply, c->want_reply) != 0 ||
		    strcmp(v.failed, c->want_failed) != 0)
			fail_msg("%s: action %s wanted %s dry %d check %s "
				 "rcode '%s' reply '%s' failed '%s'",
				 c->name, am_action_str(v.action),
				 am_action_str(v.wanted), v.dry_run,
				 v.check ? v.check : "(null)", v.rcode,
				 v.reply, v.failed);
	}
}

static const struct xauth_case {
	const char *name;
	const char *items[8][2];
	struct policy_verdict v;
	const char *want;
} xauth_cases[] = {
	{"accept, no items", {{0}}, {.action = AM_ACT_NONE},
	 "mx.example.org; action=accept"},
	{"accept with items",
	 {{"dnsbl", "0"}, {"helo", "pass"}, {"sender-domain", "pass"}},
	 {.action = AM_ACT_NONE},
	 "mx.example.org; dnsbl=0; helo=pass; sender-domain=pass;"
	 " action=accept"},
	{"tag names the failed checks", {{"helo", "fail"}},
	 {.action = AM_ACT_TAG, .wanted = AM_ACT_TAG, .failed = "helo,spf"},
	 "mx.example.org; helo=fail; action=tag failed=helo,spf"},
	{"quarantine says why", {{0}},
	 {.action = AM_ACT_QUARANTINE, .wanted = AM_ACT_QUARANTINE,
	  .why = "p=quarantine", .failed = "dmarc"},
	 "mx.example.org; action=quarantine reason=\"p=quarantine\""},
	{"dry-run reject",
	 {{"dnsbl", "fail (score=3 zones=zen.example)"}},
	 {.action = AM_ACT_NONE, .wanted = AM_ACT_REJECT, .dry_run = true,
	  .why = "listed in zen.example", .failed = "dnsbl"},
	 "mx.example.org; dnsbl=fail (score=3 zones=zen.example);\n"
	 "\taction=reject (dry-run) reason=\"listed in zen.example\""
	 " failed=dnsbl"},
	{"token and comment", {{"dnsbl", "pass (score=0)"}},
	 {.action = AM_ACT_NONE},
	 "mx.example.org; dnsbl=pass (score=0); action=accept"},
	{"value that is not a token is quoted", {{"dnsbl", "3 zen.example"}},
	 {.action = AM_ACT_NONE},
	 "mx.example.org; dnsbl=\"3 zen.example\"; action=accept"},
	{"parentheses and backslash in a comment are escaped",
	 {{"helo", "fail (name a(b)\\c) does not match)"}},
	 {.action = AM_ACT_NONE},
	 "mx.example.org; helo=fail (name a\\(b\\)\\\\c\\) does not "
	 "match); action=accept"},
	{"a comment cannot close early or inject a header",
	 {{"helo", "fail (x) ; evil=1\r\nX-Evil: 1 (y)"}},
	 {.action = AM_ACT_NONE},
	 "mx.example.org; helo=fail (x\\) ; evil=1X-Evil: 1 \\(y);"
	 " action=accept"},
	{"quoted token before a comment", {{"sender-domain", "a;b (c)"}},
	 {.action = AM_ACT_NONE},
	 "mx.example.org; sender-domain=\"a;b\" (c); action=accept"},
	{"no comment without the closing parenthesis",
	 {{"helo", "fail (x"}}, {.action = AM_ACT_NONE},
	 "mx.example.org; helo=\"fail (x\"; action=accept"},
	{"hostile key and value",
	 {{"k;e y\r\n", "a\"b\r\nX-Evil: 1\\"}},
	 {.action = AM_ACT_NONE},
	 "mx.example.org; key=\"a\\\"bX-Evil: 1\\\\\"; action=accept"},
	{"empty value is quoted", {{"helo", ""}}, {.action = AM_ACT_NONE},
	 "mx.example.org; helo=\"\"; action=accept"},
};

static void
test_xauth(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof xauth_cases / sizeof xauth_cases[0];
	     i++) {
		const struct xauth_case *c = &xauth_cases[i];
		struct policy_list l = {0};
		char *out;

		for (size_t k = 0; k < 8 && c->items[k][0] != NULL; k++)
			assert_int_equal(policy_list_add(&l, c->items[k][0],
							 c->items[k][1]),
					 0);
		out = policy_xauth_render("mx.example.org", &l, &c->v);
		assert_non_null(out);
		if (strcmp(out, c->want) != 0)
			fail_msg("%s: got\n%s\nwant\n%s", c->name, out,
				 c->want);
		free(out);
		policy_list_free(&l);
	}
}

/* Many long hostile items: folded, capped, the action always last. */
static void
test_xauth_long(void **state)
{
	struct policy_list l = {0};
	struct policy_verdict v = {.action = AM_ACT_TAG,
				   .wanted = AM_ACT_TAG,
				   .failed = "helo"};
	char val[600];
	char *out, *line;
	int rc = 0;

	(void)state;
	for (size_t i = 0; i < sizeof val - 1; i++)
		val[i] = "a \"\\\r\n;\x80"[i % 8];
	val[sizeof val - 1] = '\0';
	for (int i = 0; rc == 0; i++)
		rc = policy_list_add(&l, "item", val);
	assert_int_equal(rc, AM_ERANGE);
	assert_int_equal(l.n, POLICY_MAX_ITEMS);
	out = policy_xauth_render("mx.example.org", &l, &v);
	assert_non_null(out);
	assert_true(strlen(out) <= 4096);
	assert_null(strchr(out, '\r'));
	for (const char *p = out; *p; p++) {
		if (*p == '\n')
			assert_int_equal(p[1], '\t');
		assert_true(*p == '\n' || *p == '\t' ||
			    (*p >= 0x20 && *p < 0x7f));
	}
	for (line = out; line != NULL;) {
		char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		assert_true(len <= 998);
		line = nl ? nl + 1 : NULL;
	}
	line = strstr(out, "action=tag failed=helo");
	assert_non_null(line);
	assert_string_equal(line, "action=tag failed=helo");
	free(out);
	policy_list_free(&l);
	assert_int_equal(l.n, 0);
}

/*
 * The action item survives however close the items come to the cap:
 * sweep the space left for it across its length plus the separator
 * (found by fuzz_xauth: the "; " or ";\n\t" in front was not counted).
 */
static void
test_xauth_action_at_cap(void **state)
{
	struct policy_verdict v;
	char why[150], val[241], fill[301];

	(void)state;
	memset(&v, 0, sizeof v);
	v.wanted = v.action = AM_ACT_QUARANTINE;
	memset(why, 'w', sizeof why - 1);
	why[sizeof why - 1] = '\0';
	snprintf(v.why, sizeof v.why, "%s", why);
	memset(val, 'a', sizeof val - 1);
	val[sizeof val - 1] = '\0';
	for (size_t extra = 0; extra < sizeof fill - 1; extra++) {
		struct policy_list l = { .n = 0 };
		char *out;

		for (int i = 0; i < 15; i++)
			assert_int_equal(policy_list_add(&l, "k", val), 0);
		memset(fill, 'f', extra);
		fill[extra] = '\0';
		if (extra > 0)
			assert_int_equal(policy_list_add(&l, "f", fill), 0);
		out = policy_xauth_render("mx.example.org", &l, &v);
		assert_non_null(out);
		assert_true(strlen(out) <= 4096);
		assert_non_null(strstr(out, "action=quarantine reason=www"));
		free(out);
		policy_list_free(&l);
	}
}

static void
test_log_fields(void **state)
{
	struct policy_list fl = {0};
	struct policy_logmsg lm = {
		.qid = "4ABC", .ip = "192.0.2.1", .helo = "mail.example.com",
		.mail_from = "a@example.com", .from_domain = "example.com",
		.dns_ms = 12.4,
	};
	struct policy_verdict v = {.action = AM_ACT_NONE,
				   .wanted = AM_ACT_REJECT,
				   .dry_run = true};
	static const char *const want_keys[] = {
		"qid", "ip", "helo", "mailfrom", "from_domain", "spf",
		"dkim", "action", "dns_ms",
	};
	struct log_field f[16];
	char act[32], num[32];
	size_t n;

	(void)state;
	assert_int_equal(policy_list_add(&fl, "spf", "pass"), 0);
	/* the checks' own from_domain field is the one at its place */
	assert_int_equal(policy_list_add(&fl, "from_domain", "example.com"),
			 0);
	assert_int_equal(policy_list_add(&fl, "dkim", "fail"), 0);
	assert_int_equal(policy_list_add(&fl, "", "x"), AM_EINVAL);
	n = policy_log_fields(&lm, &fl, &v, act, sizeof act, num, sizeof num,
			      f, 16);
	assert_int_equal(n, sizeof want_keys / sizeof want_keys[0]);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(f[i].key, want_keys[i]);
	assert_string_equal(f[0].value, "4ABC");
	assert_string_equal(f[5].value, "pass");
	assert_string_equal(f[7].value, "would reject");
	assert_string_equal(f[8].value, "12");
	assert_true(f[8].number);
	assert_string_equal(policy_list_get(&fl, "dkim"), "fail");
	assert_null(policy_list_get(&fl, "dmarc"));

	v = (struct policy_verdict){.action = AM_ACT_QUARANTINE,
				    .wanted = AM_ACT_QUARANTINE};
	n = policy_log_fields(&lm, NULL, &v, act, sizeof act, num, sizeof num,
			      f, 16);
	assert_int_equal(n, 7);
	assert_string_equal(f[5].value, "quarantine");
	v = (struct policy_verdict){.action = AM_ACT_NONE};
	n = policy_log_fields(&lm, NULL, &v, act, sizeof act, num, sizeof num,
			      f, 3);
	assert_int_equal(n, 3);
	policy_list_free(&fl);
}

/* Header values keep their folds; other controls go; the cap is 2048. */
static void
test_list_header(void **state)
{
	static const struct {
		const char *name, *in, *want;
	} cases[] = {
		{"LF-TAB fold kept", "pass (c)\n\treceiver=x;\n\thelo=y",
		 "pass (c)\n\treceiver=x;\n\thelo=y"},
		{"CRLF-space fold becomes LF-space", "a\r\n b", "a\n b"},
		{"bare LF dropped", "a\nb", "ab"},
		{"bare CR dropped", "a\rb", "ab"},
		{"LF at the end dropped", "a\n", "a"},
		{"fold at the start dropped", "\n\ta", "a"},
		{"other controls dropped", "a\x01\x7f\x80" "b", "ab"},
	};
	struct policy_list l = {0};
	char *big = malloc(4000);

	(void)state;
	assert_non_null(big);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		print_message("case: %s\n", cases[i].name);
		assert_int_equal(policy_list_add_header(&l, "H", cases[i].in),
				 0);
		assert_string_equal(l.v[l.n - 1].value, cases[i].want);
	}
	memset(big, 'x', 3999);
	big[3999] = '\0';
	assert_int_equal(policy_list_add_header(&l, "H", big), 0);
	assert_int_equal(strlen(l.v[l.n - 1].value), POLICY_MAX_HEADER);
	/* A fold that would cross the cap is not kept. */
	memset(big, 'x', POLICY_MAX_HEADER - 1);
	memcpy(big + POLICY_MAX_HEADER - 1, "\n\tyy", 5);
	assert_int_equal(policy_list_add_header(&l, "H", big), 0);
	assert_int_equal(strlen(l.v[l.n - 1].value), POLICY_MAX_HEADER - 1);
	assert_int_equal(policy_list_add_header(&l, "", "x"), AM_EINVAL);
	policy_list_free(&l);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_xauth),
		cmocka_unit_test(test_xauth_long),
		cmocka_unit_test(test_xauth_action_at_cap),
		cmocka_unit_test(test_log_fields),
		cmocka_unit_test(test_list_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
