/* SPDX-License-Identifier: BSD-2-Clause */
/* test_uribl - URIBL scoring, filters and error answers against dnsd */
#include "conntest.h"
#include "checks.h"
#include "engine.h"

#include "metrics.h"
#include "uribl.h"

struct ub_case {
	const char *name;
	const char *body;    /* text/plain body, or a whole message (hdrs) */
	bool hdrs;	     /* body starts with header fields */
	const char *conf[6]; /* Key=Value, NULL-terminated */
	unsigned int wait_ms;
	enum am_result want;
	enum am_action action; /* after engine_dns_error() */
	const char *xauth;     /* wanted X-Authmilter items, or NULL */
	const char *reply;     /* "rcode xcode text", or NULL */
	const char *log;       /* substring of the log lines, or NULL */
	const char *noquery;   /* a name that must not be queried, or NULL */
	const char *links;     /* substring of the log fields, or NULL */
};

#define DBL "URIBL=dbl.test=127.0.1.[2..99]"
#define REJ "554 5.7.1 Message rejected: link to "

static const struct ub_case cases[] = {
    {"listed",
     "see http://www.evil.test/offer\r\n",
     false,
     {DBL},
     3000,
     AM_R_LISTED,
     AM_ACT_REJECT,
     "uribl=listed (score=1 zones=dbl.test);",
     REJ "evil.test listed by dbl.test",
     NULL,
     NULL},
    {"public name in reply and header",
     "http://evil.test/\r\n",
     false,
     {DBL, "DNSBLReplyName=dbl.test Spamhaus-DBL"},
     3000,
     AM_R_LISTED,
     AM_ACT_REJECT,
     "uribl=listed (score=1 zones=Spamhaus-DBL);",
     REJ "evil.test listed by Spamhaus-DBL",
     NULL,
     NULL},
    {"filter misses",
     "http://grey.test/\r\n",
     false,
     {DBL},
     3000,
     AM_R_PASS,
     AM_ACT_NONE,
     "uribl=pass (score=0);",
     NULL,
     NULL,
     NULL},
    {"no filter: any 127/8",
     "http://grey.test/\r\n",
     false,
     {"URIBL=dbl.test"},
     3000,
     AM_R_LISTED,
     AM_ACT_REJECT,
     "uribl=listed (score=1 zones=dbl.test);",
     REJ "grey.test listed by "
	 "dbl.test",
     NULL,
     NULL},
    {"DBL error for an IP query",
     "http://192.0.2.5/\r\n",
     false,
     {"URIBL=dbl.test"},
     3000,
     AM_R_PASS,
     AM_ACT_NONE,
     "uribl=pass (score=0);",
     NULL,
     "dbl.test answered error code 127.0.1.255 for 5.2.0.192; not counted",
     NULL},
    {"refused code 127.0.0.1",
     "http://evil.test/\r\n",
     false,
     {"URIBL=multi.test"},
     3000,
     AM_R_PASS,
     AM_ACT_NONE,
     "uribl=pass (score=0);",
     NULL,
     "multi.test answered error code 127.0.0.1 for evil.test",
     NULL},
    {"127.255.255.x error",
     "http://evil.test/\r\n",
     false,
     {"URIBL=err.test"},
     3000,
     AM_R_PASS,
     AM_ACT_NONE,
     "uribl=pass (score=0);",
     NULL,
     "err.test answered error code 127.255.255.254",
     NULL},
    {"outside 127/8",
     "http://evil.test/\r\n",
     false,
     {"URIBL=odd.test"},
     3000,
     AM_R_PASS,
     AM_ACT_NONE,
     "uribl=pass (score=0);",
     NULL,
     "odd.test answered 192.0.2.99 for evil.test, outside 127.0.0.0/8",
     NULL},
    {"IP link listed, named dotted",
     "http://0xC0.0.2.5/\r\n",
     false,
     {"URIBL=multi.test"},
     3000,
     AM_R_LISTED,
     AM_ACT_REJECT,
     "uribl=listed (score=1 zones=multi.test);",
     REJ "192.0.2.5 listed by multi.test",
     NULL,
     NULL,
     "uribl_links=192.0.2.5 multi.test=127.0.0.4;"},
    {"weights add up; reply names the heaviest zone",
     "http://good.test/ http://bad.test/\r\n",
     false,
     {"URIBL=multi.test*2, multi2.test*3", "URIBLThreshold=5"},
     3000,
     AM_R_LISTED,
     AM_ACT_REJECT,
     "uribl=listed (score=5 zones=multi.test,multi2.test);",
     REJ "bad.test listed by multi2.test",
     NULL,
     NULL},
    {"below threshold",
     "http://bad.test/\r\n",
     false,
     {"URIBL=multi.test*2", "URIBLThreshold=3"},
     3000,
     AM_R_PASS,
     AM_ACT_NONE,
     "uribl=pass (score=2 zones=multi.test);",
     NULL,
     NULL,
     NULL},
    {"a zone counts once for two domains",
     "http://bad.test/ http://192.0.2.5/\r\n",
     false,
     {"URIBL=multi.test", "URIBLThreshold=2"},
     3000,
     AM_R_PASS,
     AM_ACT_NONE,
     "uribl=pass (score=1 zones=multi.test);",
     NULL,
     NULL,
     NULL},
    {"action tag",
     "http://evil.test/\r\n",
     false,
     {DBL, "URIBLAction=tag"},
     3000,
     AM_R_LISTED,
     AM_ACT_TAG,
     "uribl=listed (score=1 zones=dbl.test);",
     NULL,
     NULL,
     NULL},
    {"skip domain: no query",
     "http://www.skip.test/\r\n",
     false,
     {DBL, "URIBLSkipDomains=example.test, SKIP.test"},
     3000,
     AM_R_PASS,
     AM_ACT_NONE,
     "uribl=pass (score=0);",
     NULL,
     NULL,
     "skip.test.dbl.test",
     "uribl_links=skip.test skipped;"},
    {"past URIBLMaxDomains: judged on the first",
     "http://good.test/ http://evil.test/\r\n",
     false,
     {DBL, "URIBLMaxDomains=1"},
     3000,
     AM_R_PASS,
     AM_ACT_NONE,
     "uribl=pass (score=0);",
     NULL,
     "uribl: limits reached (domains)",
     "evil.test.dbl.test"},
    {"timeout: temperror, OnDNSError accept",
     "http://evil.test/\r\n",
     false,
     {"URIBL=dead.test"},
     800,
     AM_R_TEMPERROR,
     AM_ACT_NONE,
     "uribl=temperror (score=0, dead.test: timeout);",
     NULL,
     NULL,
     NULL},
    {"servfail: temperror, OnDNSError tempfail",
     "http://evil.test/\r\n",
     false,
     {"URIBL=sf.test", "OnDNSError=tempfail"},
     3000,
     AM_R_TEMPERROR,
     AM_ACT_TEMPFAIL,
     NULL,
     "451 4.4.3 Temporary DNS failure, try again later",
     NULL,
     NULL},
    {"a listing stands without the failed zone",
     "http://evil.test/\r\n",
     false,
     {DBL, "URIBL=dead.test"},
     800,
     AM_R_LISTED,
     AM_ACT_REJECT,
     NULL,
     REJ "evil.test listed by dbl.test",
     NULL,
     NULL},
    {"link only in base64 HTML",
     "MIME-Version: 1.0\r\n"
     "Content-Type: text/html; charset=utf-8\r\n"
     "Content-Transfer-Encoding: base64\r\n\r\n"
     "PGEgaHJlZj0iaHR0cDovL0VWSUwudGVzdC8iPng8L2E+Cg==\r\n",
     true,
     {DBL},
     3000,
     AM_R_LISTED,
     AM_ACT_REJECT,
     "uribl=listed (score=1 zones=dbl.test);",
     REJ "evil.test listed by dbl.test",
     NULL,
     NULL},
    {"no links",
     "hello\r\n",
     false,
     {DBL},
     3000,
     AM_R_PASS,
     AM_ACT_NONE,
     "uribl=pass (score=0);",
     NULL,
     NULL,
     NULL},
};

/* Feed header fields (when hdrs) and the body in 5-octet chunks. */
static void
feed(struct conn *c, struct msg *m, struct check_slot *ms, const char *text,
     bool hdrs)
{
	const char *p = text;

	if (hdrs) {
		while (!(p[0] == '\r' && p[1] == '\n')) {
			const char *colon = strchr(p, ':');
			const char *eol = strstr(p, "\r\n");
			char name[128], value[512];

			assert_non_null(colon);
			assert_non_null(eol);
			snprintf(name, sizeof name, "%.*s", (int)(colon - p),
				 p);
			snprintf(value, sizeof value, "%.*s",
				 (int)(eol - colon - 1), colon + 1);
			assert_int_equal(
			    uribl_ops.on_header(c, m, ms, name, value), 0);
			p = eol + 2;
		}
		p += 2;
	}
	for (size_t len = strlen(p); len > 0;) {
		size_t n = len < 5 ? len : 5;

		assert_int_equal(
		    uribl_ops.on_body(c, m, ms, (const unsigned char *)p, n),
		    0);
		p += n;
		len -= n;
	}
}

static bool
queried(const struct conn *c, const char *name)
{
	for (size_t i = 0; i < dns_set_count(c->dns); i++)
		if (strcmp(dns_query_name(dns_set_query(c->dns, i)), name) == 0)
			return true;
	return false;
}

static void
run_case(const struct ub_case *tc)
{
	struct conf *cf = ct_conf(tc->conf);
	struct conn c;
	struct msg m;
	struct check_slot cs = {0}, ms = {0};
	struct check_outcome o1, o2;
	struct timespec dl;
	struct ct_report rep;
	struct ct_capture cap;
	char logs[8192], reply[400];

	print_message("case: %s\n", tc->name);
	ct_conn(&c, cf, "192.0.2.10", "helo.example.test");
	ct_msg(&m, "user@sender.test");
	c.msg = &m;
	ct_capture_start(&cap);
	assert_int_equal(uribl_ops.on_mail(&c, &m, &cs, &ms), 0);
	assert_non_null(ms.state);
	feed(&c, &m, &ms, tc->body, tc->hdrs);
	dns_deadline(&dl, tc->wait_ms);
	memset(&o1, 0, sizeof o1);
	assert_int_equal(uribl_ops.finish(&c, &m, &cs, &ms, &dl, &o1), 0);
	ct_capture_end(&cap, logs, sizeof logs);
	dns_deadline(&dl, 0);
	memset(&o2, 0, sizeof o2);
	assert_int_equal(uribl_ops.finish(&c, &m, &cs, &ms, &dl, &o2), 0);
	assert_memory_equal(&o1, &o2, sizeof o1);
	engine_dns_error(cf, &o1);

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
	if (tc->noquery != NULL)
		assert_false(queried(&c, tc->noquery));
	ct_report_init(&rep, NULL);
	uribl_ops.report(&c, &m, &cs, &ms, &o1, &rep.r);
	if (tc->xauth != NULL)
		assert_string_equal(rep.xauth, tc->xauth);
	print_message("  log fields: %s\n", rep.logs);
	assert_non_null(strstr(rep.logs, "uribl_domains="));
	if (tc->links != NULL)
		assert_non_null(strstr(rep.logs, tc->links));

	uribl_ops.msg_free(&ms);
	uribl_ops.msg_free(&ms);
	ct_msg_free(&m);
	ct_conn_free(&c);
	conf_free(cf);
}

static void
test_cases(void **state)
{
	(void)state;
	CT_NEED_DNS();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i]);
}

/* A counter of metrics_render(), by its name. */
static unsigned long
counter(const char *name)
{
	char *text = metrics_render(), key[128], *p;
	unsigned long v = 0;

	assert_non_null(text);
	snprintf(key, sizeof key, "\nauthmilter_%s ", name);
	p = strstr(text, key);
	assert_non_null(p);
	v = strtoul(p + strlen(key), NULL, 10);
	free(text);
	return v;
}

/*
 * A link in plain text is looked up while the body streams, before end
 * of message; the log field lists each domain with its answers.
 */
static void
test_early_lookup(void **state)
{
	static const char *const kv[] = {DBL, "URIBL=multi.test", NULL};
	struct conf *cf;
	struct conn c;
	struct msg m;
	struct check_slot cs = {0}, ms = {0};
	struct check_outcome o;
	struct timespec dl;
	struct ct_report rep;
	static const char body[] = "first http://bad.test/\r\nthen more\r\n";
	unsigned long lookups, listings;

	(void)state;
	CT_NEED_DNS();
	cf = ct_conf(kv);
	ct_conn(&c, cf, "192.0.2.10", NULL);
	ct_msg(&m, "user@sender.test");
	assert_int_equal(uribl_ops.on_mail(&c, &m, &cs, &ms), 0);
	assert_int_equal(uribl_ops.on_body(&c, &m, &ms,
					   (const unsigned char *)body,
					   sizeof body - 1),
			 0);
	assert_true(queried(&c, "bad.test.dbl.test"));
	assert_true(queried(&c, "bad.test.multi.test"));
	dns_deadline(&dl, 3000);
	lookups = counter("uribl_lookups_total");
	listings = counter("uribl_listings_total");
	assert_int_equal(uribl_ops.finish(&c, &m, &cs, &ms, &dl, &o), 0);
	assert_int_equal(o.result, AM_R_LISTED);
	/* one domain, two zones, one listing */
	assert_int_equal(counter("uribl_lookups_total"), lookups + 2);
	assert_int_equal(counter("uribl_listings_total"), listings + 1);
	ct_report_init(&rep, NULL);
	uribl_ops.report(&c, &m, &cs, &ms, &o, &rep.r);
	assert_non_null(strstr(rep.logs, "uribl_links=bad.test dbl.test="
					 "nxdomain multi.test=127.0.0.2;"));
	uribl_ops.msg_free(&ms);
	ct_msg_free(&m);
	ct_conn_free(&c);
	conf_free(cf);
}

static double
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1e3 +
	       (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * What a link costs end of message, every answer 300 ms late: a plain
 * link found while the body streams is answered by the time the body
 * has taken 400 ms, so end of message does not wait for it; a link only
 * in base64 HTML costs one round trip at end of message, not more.
 */
static void
test_round_trips(void **state)
{
	static const char *const kv[] = {"URIBL=slow.test", NULL};
	static const char plain[] = "http://bad.test/\r\n";
	static const char *const hdr[][2] = {
	    {"Content-Type", " text/html"},
	    {"Content-Transfer-Encoding", " base64"}};
	/* <a href="http://bad2.test/">x</a> (another name: no cache) */
	static const char b64[] =
	    "PGEgaHJlZj0iaHR0cDovL2JhZDIudGVzdC8iPng8L2E+Cg==\r\n";
	/* the same with bad3.test (not cached by the run before) */
	static const char b64b[] =
	    "PGEgaHJlZj0iaHR0cDovL2JhZDMudGVzdC8iPng8L2E+Cg==\r\n";
	struct timespec t0, dl, pause = {0, 400 * 1000 * 1000};

	(void)state;
	CT_NEED_DNS();
	for (int k = 0; k < 3; k++) {
		struct conf *cf = ct_conf(kv);
		struct conn c;
		struct msg m;
		struct check_slot cs = {0}, ms = {0};
		struct check_outcome o;
		const char *body = k == 0 ? plain : k == 1 ? b64 : b64b;
		double took;
		char name[32];

		ct_conn(&c, cf, "192.0.2.10", NULL);
		ct_msg(&m, "user@sender.test");
		assert_int_equal(uribl_ops.on_mail(&c, &m, &cs, &ms), 0);
		for (size_t i = 0; k >= 1 && i < 2; i++)
			assert_int_equal(uribl_ops.on_header(
					     &c, &m, &ms, hdr[i][0], hdr[i][1]),
					 0);
		assert_int_equal(uribl_ops.on_body(&c, &m, &ms,
						   (const unsigned char *)body,
						   strlen(body)),
				 0);
		if (k == 2) {
			/*
			 * The engine calls on_eom() for every check before
			 * any finish() waits: the lookups of the parsed
			 * links then run while DKIM and DMARC wait (here:
			 * the pause), and finish() finds them answered.
			 */
			assert_int_equal(uribl_ops.on_eom(&c, &m, &ms), 0);
			assert_int_equal(uribl_ops.on_eom(&c, &m, &ms), 0);
		}
		nanosleep(&pause, NULL); /* the rest of the body streams */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		dns_deadline(&dl, 3000);
		assert_int_equal(uribl_ops.finish(&c, &m, &cs, &ms, &dl, &o),
				 0);
		took = ms_since(&t0);
		snprintf(name, sizeof name, "%s",
			 k == 0	  ? "plain"
			 : k == 1 ? "base64 HTML"
				  : "base64 HTML, on_eom first");
		print_message("%s: finish() waited %.0f ms\n", name, took);
		assert_int_equal(o.result, AM_R_LISTED);
		if (k != 1)
			assert_true(took < 150);
		else
			assert_true(took >= 250 && took < 550);
		uribl_ops.msg_free(&ms);
		ct_msg_free(&m);
		ct_conn_free(&c);
		conf_free(cf);
	}
}

/* Not configured, or a skipped session: nothing kept, nothing asked. */
static void
test_not_run(void **state)
{
	static const char *const none[] = {NULL};
	static const char *const one[] = {DBL, NULL};
	struct conf *cf0, *cf1;
	struct conn c;
	struct msg m;
	struct check_slot cs = {0}, ms = {0};
	struct check_outcome o;
	struct timespec dl;

	(void)state;
	CT_NEED_DNS();
	cf0 = ct_conf(none);
	cf1 = ct_conf(one);
	dns_deadline(&dl, 100);
	ct_conn(&c, cf0, "192.0.2.10", NULL);
	ct_msg(&m, "user@sender.test");
	assert_int_equal(uribl_ops.on_mail(&c, &m, &cs, &ms), 0);
	assert_null(ms.state);
	assert_int_equal(uribl_ops.finish(&c, &m, &cs, &ms, &dl, &o), 0);
	assert_int_equal(o.result, AM_R_NONE);
	assert_int_equal(uribl_ops.max_action(cf0), AM_ACT_NONE);
	assert_int_equal(uribl_ops.max_action(cf1), AM_ACT_REJECT);
	ct_msg_free(&m);
	ct_conn_free(&c);

	ct_conn(&c, cf1, "192.0.2.10", NULL);
	c.skip = true;
	ct_msg(&m, "user@sender.test");
	assert_int_equal(uribl_ops.on_mail(&c, &m, &cs, &ms), 0);
	assert_null(ms.state);
	assert_int_equal(dns_set_count(c.dns), 0);
	ct_msg_free(&m);
	ct_conn_free(&c);
	conf_free(cf0);
	conf_free(cf1);
}

static void
test_error_answers(void **state)
{
	static const unsigned char err[][4] = {
	    {127, 255, 255, 252}, {127, 255, 255, 254}, {127, 255, 255, 255},
	    {127, 255, 255, 0},	  {127, 0, 1, 255},	{127, 0, 0, 1},
	};
	static const unsigned char ok[][4] = {
	    {127, 0, 0, 2},  {127, 0, 1, 2},   {127, 0, 1, 102},
	    {127, 0, 0, 14}, {127, 0, 0, 255}, {127, 255, 254, 1},
	    {10, 0, 0, 1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof err / sizeof err[0]; i++)
		assert_true(uribl_error_answer(err[i]));
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		assert_false(uribl_error_answer(ok[i]));
}

/*
 * Through a whole engine session: the Content-Type and transfer
 * encoding after 1,000 filler headers (past SESSION_MAX_HEADERS) still
 * decide how the body is read, so a base64 HTML link is found; the
 * message is rejected at end of message with the SPEC's reply.
 */
static void
test_mime_fields_past_header_cap(void **state)
{
	static const char *const kv[] = {DBL, "SenderDomainAction=none",
					 "IPRevAction=none", NULL};
	static const char body[] =
	    "PGEgaHJlZj0iaHR0cDovL0VWSUwudGVzdC8iPng8L2E+Cg==\r\n";
	struct conf *cf;
	struct engine_session *s;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct engine_reply r;
	struct engine_eom e;
	char reply[400];

	(void)state;
	CT_NEED_DNS();
	cf = ct_conf(kv);
	s = engine_session_new(cf, "T");
	assert_non_null(s);
	inet_pton(AF_INET, "192.0.2.20", &sin.sin_addr);
	assert_int_equal(engine_session_connect(s, (struct sockaddr *)&sin,
						"mail.none.test", "mx.test",
						&r),
			 ENGINE_CONTINUE);
	assert_int_equal(engine_session_helo(s, "mail.none.test", &r),
			 ENGINE_CONTINUE);
	assert_int_equal(
	    engine_session_mail(s, "<bounce@sub.none.test>", NULL, &r),
	    ENGINE_CONTINUE);
	assert_int_equal(engine_session_rcpt(s, "<rcpt@dest.test>", &r),
			 ENGINE_CONTINUE);
	for (int i = 0; i < SESSION_MAX_HEADERS; i++)
		assert_int_equal(engine_session_header(s, "X-Filler", " x", &r),
				 ENGINE_CONTINUE);
	assert_int_equal(engine_session_header(s, "MIME-Version", " 1.0", &r),
			 ENGINE_CONTINUE);
	assert_int_equal(
	    engine_session_header(s, "Content-Type", " text/html", &r),
	    ENGINE_CONTINUE);
	assert_int_equal(engine_session_header(s, "Content-Transfer-Encoding",
					       " base64", &r),
			 ENGINE_CONTINUE);
	assert_int_equal(engine_session_eoh(s, &r), ENGINE_CONTINUE);
	assert_int_equal(engine_session_body(s, (const unsigned char *)body,
					     sizeof body - 1, &r),
			 ENGINE_CONTINUE);
	assert_int_equal(engine_session_eom(s, &e), ENGINE_REJECT);
	snprintf(reply, sizeof reply, "%s %s %s", e.reply.rcode, e.reply.xcode,
		 e.reply.text);
	assert_string_equal(reply, REJ "evil.test listed by dbl.test");
	engine_session_end_message(s);
	engine_session_free(s);
	conf_free(cf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_error_answers),
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_early_lookup),
	    cmocka_unit_test(test_round_trips),
	    cmocka_unit_test(test_not_run),
	    cmocka_unit_test(test_mime_fields_past_header_cap),
	};

	return cmocka_run_group_tests(tests, ct_setup, ct_teardown);
}
