/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_engine - the engine: the envelope sender as the checks see it,
 * and OnDNSError applied once (engine_dns_error), through whole
 * sessions (engine_session_*) against dnsd (tests/unit/zones/engine.json)
 */
#include "conntest.h"
#include "checks.h"
#include "dkimv.h"
#include "engine.h"
#include "session.h"

static void
check_sender(const char *arg, const char *want_from, const char *want_dom,
	     bool null)
{
	struct msg m;

	memset(&m, 0, sizeof m);
	assert_int_equal(engine_set_sender(&m, arg), 0);
	if (want_from != NULL)
		assert_string_equal(m.mail_from, want_from);
	assert_true(strlen(m.mail_from) <= SESSION_MAX_NAME);
	if (want_dom == NULL)
		assert_null(m.mail_domain);
	else
		assert_string_equal(m.mail_domain, want_dom);
	assert_int_equal(m.null_sender, null);
	free(m.mail_from);
	free(m.mail_domain);
}

static void
test_set_sender(void **state)
{
	char big[2048], want[SESSION_MAX_NAME + 1];

	(void)state;
	check_sender("<a@Example.COM>", "a@Example.COM", "example.com", false);
	check_sender("<>", "", NULL, true);
	check_sender("b@x.test", "b@x.test", "x.test", false);
	check_sender("<nolocal", "nolocal", NULL, false);

	/*
	 * Over SESSION_MAX_NAME: the local part is cut, the domain kept,
	 * so a cut can never turn the domain into another name.
	 */
	memset(big, 'l', 1000);
	snprintf(big + 1000, sizeof big - 1000, "@bank.test.atk.test>");
	big[0] = '<';
	memcpy(want, big + 1, SESSION_MAX_NAME - 19);
	snprintf(want + SESSION_MAX_NAME - 19, sizeof want - SESSION_MAX_NAME + 19,
		 "@bank.test.atk.test");
	check_sender(big, want, "bank.test.atk.test", false);

	/* a domain longer than half the cap is no host name: cut */
	{
		struct msg m;

		memset(big, 'd', sizeof big - 1);
		big[0] = 'x';
		big[1] = '@';
		big[sizeof big - 1] = '\0';
		memset(&m, 0, sizeof m);
		assert_int_equal(engine_set_sender(&m, big), 0);
		assert_int_equal(strlen(m.mail_from), SESSION_MAX_NAME);
		assert_non_null(m.mail_domain);
		assert_true(strlen(m.mail_domain) > 253);
		free(m.mail_from);
		free(m.mail_domain);
	}
}

/*
 * One session from 192.0.2.20 (mail.none.test: iprev passes), MAIL
 * FROM <bounce@sub.none.test> (SPF passes for sub.none.test), the
 * From: given, under the configuration kv. Returns the final answer
 * (at RCPT TO or end of message) and its reply in r; *dmarc is the
 * DMARC outcome when the session got that far.
 */
static enum engine_answer
session(const char *const *kv, const char *from, struct engine_reply *r,
	struct check_outcome *dmarc)
{
	struct conf *cf = ct_conf(kv);
	struct engine_session *s = engine_session_new(cf, "T");
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct engine_eom e;
	char hdr[256];
	enum engine_answer a;

	assert_non_null(s);
	memset(dmarc, 0, sizeof *dmarc);
	inet_pton(AF_INET, "192.0.2.20", &sin.sin_addr);
	a = engine_session_connect(s, (struct sockaddr *)&sin,
				   "mail.none.test", "mx.test", r);
	if (a == ENGINE_CONTINUE)
		a = engine_session_helo(s, "mail.none.test", r);
	if (a == ENGINE_CONTINUE)
		a = engine_session_mail(s, "<bounce@sub.none.test>", NULL, r);
	if (a == ENGINE_CONTINUE)
		a = engine_session_rcpt(s, "<rcpt@dest.test>", r);
	if (a != ENGINE_CONTINUE)
		goto out;
	snprintf(hdr, sizeof hdr, " <a@%s>", from);
	assert_int_equal(engine_session_header(s, "From", hdr, r),
			 ENGINE_CONTINUE);
	assert_int_equal(engine_session_eoh(s, r), ENGINE_CONTINUE);
	assert_int_equal(engine_session_body(s, (const unsigned char *)"x\r\n",
					     3, r),
			 ENGINE_CONTINUE);
	a = engine_session_eom(s, &e);
	*r = e.reply;
	for (size_t i = 0; i < checks_count(); i++)
		if (strcmp(checks_get(i)->name, "dmarc") == 0)
			*dmarc = s->m->out[i];
	engine_session_end_message(s);
out:
	engine_session_free(s);
	conf_free(cf);
	return a;
}

/*
 * OnDNSError through the engine (issue 14): a DMARC DNS error where the
 * policy is p=none can never reject, so it is never tempfailed; a check
 * that could reject (DNSBL, DMARC with an unknown policy) is tempfailed
 * under OnDNSError tempfail and only recorded under accept.
 */
static void
test_on_dns_error(void **state)
{
	static const struct {
		const char *name;
		const char *kv[3];
		const char *from;
		enum engine_answer want;
		const char *reply;
	} cases[] = {
	    {"p=none, alignment lookup fails, OnDNSError tempfail",
	     {"OnDNSError=tempfail"}, "none.test", ENGINE_CONTINUE, NULL},
	    {"p=none, alignment lookup fails, OnDNSError accept",
	     {"OnDNSError=accept"}, "none.test", ENGINE_CONTINUE, NULL},
	    {"DNSBL lookup fails, OnDNSError tempfail",
	     {"OnDNSError=tempfail", "DNSBL=sf.test"}, "none.test",
	     ENGINE_TEMPFAIL, "451 4.4.3 Temporary DNS failure, try again "
			      "later"},
	    {"DNSBL lookup fails, OnDNSError accept",
	     {"OnDNSError=accept", "DNSBL=sf.test"}, "none.test",
	     ENGINE_CONTINUE, NULL},
	    {"DMARC policy unknown, OnDNSError tempfail",
	     {"OnDNSError=tempfail"}, "broken.test", ENGINE_TEMPFAIL,
	     "451 4.4.3 Temporary DNS failure, try again later"},
	    {"DMARC policy unknown, OnDNSError accept",
	     {"OnDNSError=accept"}, "broken.test", ENGINE_CONTINUE, NULL},
	};

	(void)state;
	CT_NEED_DNS();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct engine_reply r;
		struct check_outcome dm;
		enum engine_answer a;
		char got[400];

		print_message("case: %s\n", cases[i].name);
		a = session(cases[i].kv, cases[i].from, &r, &dm);
		snprintf(got, sizeof got, "%s %s %s", r.rcode, r.xcode, r.text);
		print_message("  -> %d %s (dmarc %s)\n", a, got,
			      dm.done ? am_result_str(dm.result) : "-");
		assert_int_equal(a, cases[i].want);
		if (cases[i].reply != NULL)
			assert_string_equal(got, cases[i].reply);
		if (strcmp(cases[i].from, "none.test") == 0 &&
		    strstr(cases[i].name, "DNSBL") == NULL) {
			assert_true(dm.done);
			assert_int_equal(dm.result, AM_R_TEMPERROR);
			assert_true(dm.dns_failed);
			assert_int_equal(dm.at_stake, AM_ACT_NONE);
		}
	}
}

static int
setup(void **state)
{
	int rc = ct_setup(state);

	if (rc == 0 && ct_have_dns && dkimv_init() != 0)
		rc = -1;
	return rc;
}

static int
teardown(void **state)
{
	if (ct_have_dns)
		dkimv_shutdown();
	return ct_teardown(state);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_sender),
		cmocka_unit_test(test_on_dns_error),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
