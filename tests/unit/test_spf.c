/* SPDX-License-Identifier: BSD-2-Clause */
/* test_spf - SPF evaluation against the loopback test DNS server */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "authres.h"
#include "check.h"
#include "dns.h"
#include "spf.h"
#include "spf_check.h"

#define TIMEOUT_MS 1500

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void
set_addr(struct spf_request *rq, const char *ip)
{
	if (inet_pton(AF_INET, ip, &rq->addr.v4) == 1)
		rq->family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &rq->addr.v6) == 1)
		rq->family = AF_INET6;
	else
		fail_msg("bad test address %s", ip);
}

/* Run one check to completion; the outcome is copied into *out. */
static void
run(const char *ip, const char *helo, const char *from, struct spf_outcome *out,
    double *ms)
{
	struct spf_request rq = {0};
	struct dns_set *set = dns_set_new("test");
	struct spf_check *c;
	struct timespec dl;
	double t0;

	assert_non_null(set);
	set_addr(&rq, ip);
	rq.helo = helo;
	rq.sender = from;
	rq.receiver = "mx.receiver.test";
	c = spf_check_new(set, &rq);
	assert_non_null(c);
	t0 = now_ms();
	dns_deadline(&dl, TIMEOUT_MS);
	assert_int_equal(spf_run(c, &dl), 0);
	if (ms != NULL)
		*ms = now_ms() - t0;
	*out = *spf_outcome(c);
	/* finished: a further eval returns the same at once */
	assert_int_equal(spf_eval(c, NULL), SPF_DONE);
	spf_check_free(c);
	dns_set_free(set);
}

static const struct {
	const char *name;
	const char *ip;
	const char *helo;
	const char *from;
	enum am_result want;
	const char *why; /* substring of the reason, or NULL */
} cases[] = {
    {"include chain pass", "192.0.2.10", "h.test", "u@chain.test", AM_R_PASS,
     "include:l1.chain.test"},
    {"include chain v6 pass", "2001:db8::10", "h.test", "u@chain.test",
     AM_R_PASS, NULL},
    {"include chain fail", "192.0.2.11", "h.test", "u@chain.test", AM_R_FAIL,
     "-all"},
    {"10 lookups across include+redirect", "192.0.2.20", "h.test",
     "u@at.lim.test", AM_R_PASS, NULL},
    {"11 lookups across include+redirect", "192.0.2.20", "h.test",
     "u@over.lim.test", AM_R_PERMERROR, "more than 10 DNS lookups"},
    {"include loop", "192.0.2.20", "h.test", "u@loop.lim.test", AM_R_PERMERROR,
     "more than 10 DNS lookups"},
    {"2 void lookups", "192.0.2.1", "h.test", "u@void2.test", AM_R_NEUTRAL,
     NULL},
    {"3 void lookups (a, mx, exists)", "192.0.2.1", "h.test", "u@void3.test",
     AM_R_PERMERROR, "more than 2 void lookups"},
    {"10 MX names, last matches", "198.51.100.10", "h.test", "u@mx10.test",
     AM_R_PASS, NULL},
    {"11 MX names", "198.51.100.1", "h.test", "u@mx11.test", AM_R_PERMERROR,
     "more than 10 MX"},
    {"null MX", "192.0.2.1", "h.test", "u@nullmx.test", AM_R_NEUTRAL, NULL},
    {"ptr validated", "192.0.2.40", "h.test", "u@ptr4.test", AM_R_PASS, NULL},
    {"include of a timeout", "192.0.2.1", "h.test", "u@tinc.test",
     AM_R_TEMPERROR, "dead.test"},
    {"match before a timeout", "192.0.2.50", "h.test", "u@tmx.test", AM_R_PASS,
     NULL},
    {"timeout after no match", "192.0.2.51", "h.test", "u@tmx.test",
     AM_R_TEMPERROR, NULL},
    {"a dual cidr v6", "2001:db8::1:2", "h.test", "u@v6.test", AM_R_PASS, NULL},
    {"a dual cidr v6 outside /64", "2001:db8:0:1::60", "h.test", "u@v6.test",
     AM_R_FAIL, NULL},
    {"a dual cidr v4", "192.0.2.200", "h.test", "u@v6.test", AM_R_PASS, NULL},
    {"ipv4-mapped client is ipv4", "::ffff:192.0.2.70", "h.test",
     "u@mapped.test", AM_R_PASS, "ip4:192.0.2.70"},
    {"null sender uses HELO", "192.0.2.80", "helo.test", "", AM_R_PASS, NULL},
    {"null sender bad HELO", "192.0.2.80", "[192.0.2.80]", "", AM_R_NONE, NULL},
    {"two records", "192.0.2.1", "h.test", "u@two.test", AM_R_PERMERROR,
     "several SPF records"},
    {"no record", "192.0.2.1", "h.test", "u@nospf.test", AM_R_NONE, NULL},
    {"nxdomain", "192.0.2.1", "h.test", "u@nx.nowhere.test", AM_R_NONE, NULL},
    {"syntax error", "192.0.2.1", "h.test", "u@syntax.test", AM_R_PERMERROR,
     "unknown mechanism"},
    {"single-label domain", "192.0.2.1", "h.test", "u@localhost", AM_R_NONE,
     NULL},
};

static void
test_cases(void **state)
{
	struct spf_outcome o;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		run(cases[i].ip, cases[i].helo, cases[i].from, &o, NULL);
		if (o.result != cases[i].want)
			fail_msg("%s: got %s (%s), want %s", cases[i].name,
				 am_result_str(o.result), o.why,
				 am_result_str(cases[i].want));
		if (cases[i].why != NULL && strstr(o.why, cases[i].why) == NULL)
			fail_msg("%s: reason \"%s\" lacks \"%s\"",
				 cases[i].name, o.why, cases[i].why);
	}
}

static void
test_counts(void **state)
{
	struct spf_outcome o;

	(void)state;
	run("192.0.2.20", "h.test", "u@at.lim.test", &o, NULL);
	assert_int_equal(o.result, AM_R_PASS);
	assert_int_equal(o.lookups, 10);
	run("192.0.2.1", "h.test", "u@void2.test", &o, NULL);
	assert_int_equal(o.voids, 2);
}

static void
test_explanation(void **state)
{
	struct spf_outcome o;

	(void)state;
	run("192.0.2.9", "h.test", "joe@exp.test", &o, NULL);
	assert_int_equal(o.result, AM_R_FAIL);
	assert_false(o.exp_default);
	assert_string_equal(o.exp, "joe from 192.0.2.9 may not use exp.test");
	/* %{p}: validated name of 192.0.2.40 */
	run("192.0.2.40", "h.test", "joe@pmacro.test", &o, NULL);
	assert_false(o.exp_default);
	assert_string_equal(o.exp,
			    "192.0.2.40 is not good.ptr4.test for pmacro.test");
	run("192.0.2.41", "h.test", "joe@pmacro.test", &o, NULL);
	assert_string_equal(o.exp, "192.0.2.41 is not unknown for pmacro.test");
	/* no exp=: our default text */
	run("192.0.2.9", "h.test", "joe@fail.test", &o, NULL);
	assert_true(o.exp_default);
	assert_true(strstr(o.exp, "192.0.2.9") != NULL);
}

static void
test_identity(void **state)
{
	struct spf_outcome o;

	(void)state;
	run("192.0.2.80", "helo.test", "", &o, NULL);
	assert_true(o.helo_identity);
	assert_string_equal(o.domain, "helo.test");
	assert_string_equal(o.sender, "postmaster@helo.test");
	run("192.0.2.80", "helo.test", "@Helo.Test", &o, NULL);
	assert_false(o.helo_identity);
	assert_string_equal(o.domain, "helo.test");
	assert_string_equal(o.sender, "postmaster@Helo.Test");
	assert_int_equal(o.result, AM_R_PASS);
}

/* A timeout costs the deadline, not more. */
static void
test_timeout_time(void **state)
{
	struct spf_outcome o;
	double ms;

	(void)state;
	run("192.0.2.1", "h.test", "u@tinc2.test", &o, &ms);
	print_message("timeout: %.0f ms (%s)\n", ms, o.why);
	assert_int_equal(o.result, AM_R_TEMPERROR);
	assert_true(ms >= TIMEOUT_MS - 50);
	assert_true(ms < TIMEOUT_MS + 500);
}

/*
 * Every answer under slow.test takes 200 ms. A two-level include chain
 * of a terms (top -> l1 -> l2: 3 TXT and 8 A queries, 2.2 s one after
 * the other) takes one round trip per record plus one for the last
 * record's a terms: 4 round trips (0.8 s).
 */
static void
test_parallel_a(void **state)
{
	struct spf_outcome o;
	double ms;

	(void)state;
	run("192.0.2.78", "h.test", "u@top.fast.slow.test", &o, &ms);
	if (o.result != AM_R_PASS)
		fail_msg("got %s: %s", am_result_str(o.result), o.why);
	assert_int_equal(o.lookups, 10);
	print_message("a-only chain, 11 queries: %.0f ms\n", ms);
	assert_true(ms >= 4 * 200 - 20);
	assert_true(ms < 5 * 200);
}

/*
 * The same with mx terms (top -> l1 -> l2: 14 queries, 2.8 s one after
 * the other). An mx term needs a second round trip for its hosts, and
 * the evaluator waits for the answer it needs next, so each record with
 * an mx costs two: 7 round trips at most (1.4 s), whatever the number
 * of terms.
 */
static void
test_parallel_mx(void **state)
{
	struct spf_outcome o;
	double ms;

	(void)state;
	run("192.0.2.77", "h.test", "u@top.slow.test", &o, &ms);
	assert_int_equal(o.result, AM_R_PASS);
	assert_int_equal(o.lookups, 10);
	print_message("chain with mx terms, 14 queries: %.0f ms\n", ms);
	assert_true(ms >= 5 * 200 - 20);
	assert_true(ms < 8 * 200);
}

/*
 * PTR names: only the first 10 of the client's 11 are looked up
 * (RFC 7208 s. 4.6.4). The order of the answer is the resolver's, so
 * count the address queries dnsd saw for them.
 */
static void
test_ptr_limit(void **state)
{
	struct spf_outcome o;
	const char *qlog = getenv("AM_TEST_DNS_QLOG");
	char line[512];
	FILE *f;
	int n = 0;

	(void)state;
	run("192.0.2.30", "h.test", "u@ptr11.test", &o, NULL);
	assert_true(o.result == AM_R_FAIL || o.result == AM_R_PASS);
	if (qlog == NULL)
		skip(); /* needs with-dnsd.sh's query log */
	f = fopen(qlog, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, ".ptr.test A ") != NULL)
			n++;
	fclose(f);
	assert_int_equal(n, 10);
}

/* Non-blocking use: the first eval only starts queries. */
static void
test_nonblocking(void **state)
{
	struct spf_request rq = {0};
	struct dns_set *set = dns_set_new("nb");
	struct spf_check *c;
	struct dns_query *q = NULL;
	struct timespec dl;
	int rounds = 0, rc;

	(void)state;
	set_addr(&rq, "192.0.2.10");
	rq.sender = "u@nb.test"; /* names no other test asks for */
	c = spf_check_new(set, &rq);
	assert_non_null(c);
	assert_int_equal(spf_eval(c, &q), SPF_PENDING);
	assert_non_null(q);
	assert_string_equal(dns_query_name(q), "nb.test");
	assert_int_equal(dns_query_type(q), DNS_T_TXT);
	dns_deadline(&dl, TIMEOUT_MS);
	while ((rc = spf_eval(c, &q)) == SPF_PENDING) {
		rounds++;
		dns_wait(set, q, &dl);
	}
	assert_int_equal(rc, SPF_DONE);
	assert_int_equal(spf_outcome(c)->result, AM_R_PASS);
	/* nb.test, l1, l2: one round trip each */
	assert_int_equal(rounds, 3);
	spf_check_free(c);
	dns_set_free(set);
}

/* The check_ops glue: finish() outcome, msg->auth, report(). */
struct sink {
	char hdr_name[64];
	char *hdr;
	int nlog;
};

static void
sink_header(struct check_report *r, const char *name, const char *value)
{
	struct sink *s = r->priv;
	snprintf(s->hdr_name, sizeof s->hdr_name, "%s", name);
	free(s->hdr);
	s->hdr = strdup(value);
}

static void
sink_log(struct check_report *r, const char *key, const char *value)
{
	struct sink *s = r->priv;
	(void)key;
	(void)value;
	s->nlog++;
}

static void
test_ops(void **state)
{
	struct conf cf;
	struct conn cn;
	struct msg m;
	struct check_slot cs = {0}, ms = {0};
	struct check_outcome out, out2;
	struct check_report rep;
	struct sink sk = {{0}, NULL, 0};
	struct timespec dl;
	char *ar;

	(void)state;
	memset(&cf, 0, sizeof cf);
	memset(&cn, 0, sizeof cn);
	memset(&m, 0, sizeof m);
	cf.authserv_id = "mx.receiver.test";
	cf.spf_fail_action = AM_ACT_REJECT;
	cf.received_spf = true;
	cn.conf = &cf;
	cn.dns = dns_set_new("ops");
	cn.family = AF_INET;
	inet_pton(AF_INET, "192.0.2.9", &cn.addr.v4);
	snprintf(cn.ip, sizeof cn.ip, "192.0.2.9");
	cn.helo = "client.test";
	m.mail_from = "joe@fail.test";

	assert_int_equal(spf_ops.on_mail(&cn, &m, &cs, &ms), 0);
	assert_non_null(ms.state);
	dns_deadline(&dl, TIMEOUT_MS);
	assert_int_equal(spf_ops.finish(&cn, &m, &cs, &ms, &dl, &out), 0);
	assert_true(out.done);
	assert_int_equal(out.result, AM_R_FAIL);
	assert_int_equal(out.action, AM_ACT_REJECT);
	assert_string_equal(out.rcode, "550");
	assert_string_equal(out.xcode, "5.7.23");
	assert_string_equal(out.reply, "SPF validation failed for fail.test");
	assert_true(m.auth.spf_done);
	assert_int_equal(m.auth.spf, AM_R_FAIL);
	assert_string_equal(m.auth.spf_domain, "fail.test");
	/* idempotent */
	assert_int_equal(spf_ops.finish(&cn, &m, &cs, &ms, &dl, &out2), 0);
	assert_memory_equal(&out, &out2, sizeof out);

	memset(&rep, 0, sizeof rep);
	rep.ar = authres_new("mx.receiver.test");
	rep.header = sink_header;
	rep.logf = sink_log;
	rep.priv = &sk;
	spf_ops.report(&cn, &m, &cs, &ms, &out, &rep);
	ar = authres_render(rep.ar);
	assert_non_null(ar);
	assert_non_null(strstr(ar, "spf=fail"));
	assert_non_null(strstr(ar, "smtp.mailfrom=fail.test"));
	assert_string_equal(sk.hdr_name, "Received-SPF");
	assert_non_null(sk.hdr);
	assert_int_equal(strncmp(sk.hdr, "fail (", 6), 0);
	assert_non_null(strstr(sk.hdr, "client-ip=192.0.2.9;"));
	assert_non_null(strstr(sk.hdr, "envelope-from=\"joe@fail.test\";"));
	assert_non_null(strstr(sk.hdr, "identity=mailfrom"));
	assert_true(sk.nlog >= 1);
	free(ar);
	free(sk.hdr);
	authres_free(rep.ar);

	/* ReceivedSPF no: the A-R result stays, no Received-SPF header */
	cf.received_spf = false;
	memset(&sk, 0, sizeof sk);
	memset(&rep, 0, sizeof rep);
	rep.ar = authres_new("mx.receiver.test");
	rep.header = sink_header;
	rep.logf = sink_log;
	rep.priv = &sk;
	spf_ops.report(&cn, &m, &cs, &ms, &out, &rep);
	ar = authres_render(rep.ar);
	assert_non_null(ar);
	assert_non_null(strstr(ar, "spf=fail"));
	assert_string_equal(sk.hdr_name, "");
	assert_null(sk.hdr);
	free(ar);
	authres_free(rep.ar);
	spf_ops.msg_free(&ms);
	assert_null(ms.state);
	dns_set_free(cn.dns);
}

/* SPFSoftfailAction applies to softfail, SPFFailAction does not. */
static void
test_softfail_action(void **state)
{
	static const struct {
		const char *name;
		enum am_action fail_act, soft_act, want;
		const char *rcode, *xcode;
	} scases[] = {
	    {"softfail, both none", AM_ACT_NONE, AM_ACT_NONE, AM_ACT_NONE,
	     "", ""},
	    {"SPFFailAction does not apply", AM_ACT_REJECT, AM_ACT_NONE,
	     AM_ACT_NONE, "", ""},
	    {"SPFSoftfailAction reject", AM_ACT_NONE, AM_ACT_REJECT,
	     AM_ACT_REJECT, "550", "5.7.23"},
	    {"SPFSoftfailAction tempfail", AM_ACT_NONE, AM_ACT_TEMPFAIL,
	     AM_ACT_TEMPFAIL, "450", "4.7.23"},
	    {"SPFSoftfailAction tag", AM_ACT_REJECT, AM_ACT_TAG, AM_ACT_TAG,
	     "", ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof scases / sizeof scases[0]; i++) {
		struct conf cf;
		struct conn cn;
		struct msg m;
		struct check_slot cs = {0}, ms = {0};
		struct check_outcome out;
		struct timespec dl;

		print_message("case: %s\n", scases[i].name);
		memset(&cf, 0, sizeof cf);
		memset(&cn, 0, sizeof cn);
		memset(&m, 0, sizeof m);
		memset(&out, 0, sizeof out);
		cf.authserv_id = "mx.receiver.test";
		cf.spf_fail_action = scases[i].fail_act;
		cf.spf_softfail_action = scases[i].soft_act;
		cn.conf = &cf;
		cn.dns = dns_set_new("soft");
		cn.family = AF_INET;
		inet_pton(AF_INET, "192.0.2.9", &cn.addr.v4);
		snprintf(cn.ip, sizeof cn.ip, "192.0.2.9");
		cn.helo = "client.test";
		m.mail_from = "joe@softfail.test";
		assert_int_equal(spf_ops.on_mail(&cn, &m, &cs, &ms), 0);
		dns_deadline(&dl, TIMEOUT_MS);
		assert_int_equal(
		    spf_ops.finish(&cn, &m, &cs, &ms, &dl, &out), 0);
		assert_int_equal(out.result, AM_R_SOFTFAIL);
		assert_int_equal(out.action, scases[i].want);
		if (scases[i].rcode[0] != '\0') {
			assert_string_equal(out.rcode, scases[i].rcode);
			assert_string_equal(out.xcode, scases[i].xcode);
			assert_string_equal(out.reply,
					    "SPF validation failed for "
					    "softfail.test");
		}
		spf_ops.msg_free(&ms);
		dns_set_free(cn.dns);
	}
}

/*
 * A local query set (dns_set_new_local): a table of TXT and A answers,
 * everything else NXDOMAIN. No dnsd needed.
 */
struct local_rr {
	const char *name;
	enum dns_type type;
	const char *data; /* TXT text or dotted quad */
};

static void
local_answer(void *arg, const char *name, enum dns_type type,
	     struct dns_answer *a)
{
	const struct local_rr *t = arg;

	a->status = DNS_NXDOMAIN;
	if (strcmp(name, "big.test") == 0 && type == DNS_T_A) {
		/* 64 addresses kept of more (dns.c's cap), none the client */
		a->rr = calloc(DNS_MAX_RR, sizeof *a->rr);
		assert_non_null(a->rr);
		for (size_t i = 0; i < DNS_MAX_RR; i++)
			a->rr[i].a.s_addr = htonl(0xc6336400u + (uint32_t)i);
		a->n = DNS_MAX_RR;
		a->truncated = true;
		a->status = DNS_DATA;
		return;
	}
	for (; t->name != NULL; t++) {
		if (strcmp(t->name, name) != 0 || t->type != type)
			continue;
		a->rr = calloc(1, sizeof *a->rr);
		assert_non_null(a->rr);
		if (type == DNS_T_TXT) {
			a->rr[0].txt = strdup(t->data);
			assert_non_null(a->rr[0].txt);
			a->rr[0].txtlen = strlen(t->data);
		} else {
			inet_pton(AF_INET, t->data, &a->rr[0].a);
		}
		a->n = 1;
		a->status = DNS_DATA;
		return;
	}
}

/* 200 times %{l} with a 64-octet local part: 12800 octets, over 8192. */
#define BOMB                                                                 \
	"%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}"  \
	"%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}"
#define BOMB200 BOMB BOMB BOMB BOMB BOMB BOMB "%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}"
#define L64 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

/*
 * A domain-spec that expands past SPF_MACRO_MAX is permerror. It used to
 * make the term match nothing, so "-exists:<bomb> +all" passed any
 * sender with a long enough local part (fail open). So is an address
 * answer cut at DNS_MAX_RR records without the client: "-a:big +all"
 * passed a client among the addresses not kept.
 */
static void
test_macro_cap(void **state)
{
	static const struct local_rr zone[] = {
	    {"neg.test", DNS_T_TXT, "v=spf1 -exists:" BOMB200 ".bl.test +all"},
	    {"a.test", DNS_T_TXT, "v=spf1 a:" BOMB200 ".test -all"},
	    {"redir.test", DNS_T_TXT, "v=spf1 redirect=" BOMB200 ".test"},
	    {"short.test", DNS_T_TXT, "v=spf1 -exists:%{l}.bl.test +all"},
	    {"exp.test", DNS_T_TXT, "v=spf1 -all exp=" BOMB200 ".test"},
	    {"trunc.test", DNS_T_TXT, "v=spf1 -a:big.test +all"},
	    {"trunc2.test", DNS_T_TXT, "v=spf1 a:big.test/24 -all"},
	    {NULL, 0, NULL},
	};
	static const struct {
		const char *from;
		enum am_result want;
		const char *why;
	} lc[] = {
	    {L64 "@neg.test", AM_R_PERMERROR, "macro expansion over 8192"},
	    /*
	     * 200 octets expand fine, but into one 200-octet label: no host
	     * name, so the -exists term is permerror, not skipped (fail
	     * closed, RFC 7208 4.8 allows either; it was a pass)
	     */
	    {"u@neg.test", AM_R_PERMERROR, "bad target name"},
	    {L64 "@a.test", AM_R_PERMERROR, "macro expansion over 8192"},
	    {L64 "@redir.test", AM_R_PERMERROR, "at redirect"},
	    {L64 "@short.test", AM_R_PERMERROR, "bad target name"},
	    {"u.v@short.test", AM_R_PASS, NULL}, /* a usable name: no match */
	    {L64 "@exp.test", AM_R_FAIL, NULL}, /* default explanation */
	    /* the client may be among the addresses not kept: not a skip */
	    {"u@trunc.test", AM_R_PERMERROR, "more than 64 addresses"},
	    {"u@trunc2.test", AM_R_PERMERROR, "more than 64 addresses"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof lc / sizeof lc[0]; i++) {
		struct spf_request rq = {0};
		struct dns_set *set = dns_set_new_local("t", local_answer,
							(void *)zone);
		struct spf_check *c;
		const struct spf_outcome *o;

		assert_non_null(set);
		set_addr(&rq, "192.0.2.1");
		rq.sender = lc[i].from;
		rq.helo = "h.test";
		c = spf_check_new(set, &rq);
		assert_non_null(c);
		/* every answer is in at once: one evaluation finishes */
		assert_int_equal(spf_eval(c, NULL), SPF_DONE);
		o = spf_outcome(c);
		if (o->result != lc[i].want)
			fail_msg("%s: got %s (%s), want %s", lc[i].from,
				 am_result_str(o->result), o->why,
				 am_result_str(lc[i].want));
		if (lc[i].why != NULL && strstr(o->why, lc[i].why) == NULL)
			fail_msg("%s: reason \"%s\" lacks \"%s\"", lc[i].from,
				 o->why, lc[i].why);
		if (lc[i].want == AM_R_FAIL)
			assert_true(o->exp_default);
		spf_check_free(c);
		dns_set_free(set);
	}
}

/*
 * Slow includes, fast everything else: q.test is "include:a1.q.test
 * mx:x1.q.test ... mx:x9.q.test -all", each a<k> is "include:a<k+1>"
 * and 9-k mx terms, every mx name has 10 MX hosts of its own. An
 * include's record comes on its 10th ask, everything else at once.
 */
struct slow_world {
	unsigned int asks[16]; /* per include a<k> */
};

static void
slow_answer(void *arg, const char *name, enum dns_type type,
	    struct dns_answer *a)
{
	struct slow_world *sw = arg;
	char txt[512];
	size_t o = 0;
	unsigned int k, n;

	if (type == DNS_T_TXT && (strcmp(name, "q.test") == 0 ||
				  sscanf(name, "a%u.q.test", &k) == 1)) {
		if (strcmp(name, "q.test") == 0)
			k = 0;
		else if (k >= 16 || ++sw->asks[k] < 10)
			return; /* pending */
		o = (size_t)snprintf(txt, sizeof txt,
				     "v=spf1 include:a%u.q.test", k + 1);
		for (n = 1; k < 10 && n < 10 - k; n++)
			o += (size_t)snprintf(txt + o, sizeof txt - o,
					      " mx:x%u-%u.q.test", k, n);
		snprintf(txt + o, sizeof txt - o, " ?all");
		a->rr = calloc(1, sizeof *a->rr);
		assert_non_null(a->rr);
		a->rr[0].txt = strdup(txt);
		assert_non_null(a->rr[0].txt);
		a->rr[0].txtlen = strlen(txt);
		a->n = 1;
		a->status = DNS_DATA;
	} else if (type == DNS_T_MX && name[0] == 'x') {
		a->rr = calloc(10, sizeof *a->rr);
		assert_non_null(a->rr);
		for (n = 0; n < 10; n++) {
			snprintf(txt, sizeof txt, "h%u.%s", n, name);
			a->rr[n].name = strdup(txt);
			assert_non_null(a->rr[n].name);
		}
		a->n = 10;
		a->status = DNS_DATA;
	} else if (type == DNS_T_A && name[0] == 'h') {
		a->rr = calloc(1, sizeof *a->rr);
		assert_non_null(a->rr);
		inet_pton(AF_INET, "198.51.100.2", &a->rr[0].a);
		a->n = 1;
		a->status = DNS_DATA;
	} else {
		a->status = DNS_NXDOMAIN;
	}
}

/*
 * Prefetching walks past a pending include into later terms; with fast
 * answers it sent some 500 queries for a check that evaluates 11 terms.
 * At most SPF_MAX_QUERIES now, with the same result.
 */
static void
test_prefetch_cap(void **state)
{
	struct slow_world sw;
	struct spf_request rq = {0};
	struct dns_set *set;
	struct spf_check *c;
	struct dns_query *q;
	const struct spf_outcome *o;
	int rc;

	(void)state;
	memset(&sw, 0, sizeof sw);
	set = dns_set_new_local("t", slow_answer, &sw);
	assert_non_null(set);
	set_addr(&rq, "192.0.2.1");
	rq.sender = "u@q.test";
	rq.helo = "h.test";
	c = spf_check_new(set, &rq);
	assert_non_null(c);
	while ((rc = spf_eval(c, &q)) == SPF_PENDING) {
		assert_non_null(q);
		/* time passes: the include is asked for until it comes */
		while (dns_answer(q)->status == DNS_PENDING)
			;
	}
	assert_int_equal(rc, SPF_DONE);
	o = spf_outcome(c);
	assert_int_equal(o->result, AM_R_PERMERROR);
	assert_non_null(strstr(o->why, "more than 10 DNS lookups"));
	print_message("queries: %zu\n", dns_set_count(set));
	assert_true(dns_set_count(set) <= SPF_MAX_QUERIES);
	assert_true(dns_set_count(set) <= 11 + SPF_MAX_PREFETCH);
	spf_check_free(c);
	dns_set_free(set);
}

static int
setup(void **state)
{
	struct dns_options opt = {0};
	char err[256];

	(void)state;
	opt.mode = DNS_MODE_FORWARD;
	opt.forward = getenv("AM_TEST_DNS");
	if (opt.forward == NULL) {
		fprintf(stderr,
			"AM_TEST_DNS not set: run under with-dnsd.sh\n");
		return -1;
	}
	if (dns_init(&opt, err, sizeof err) != 0) {
		fprintf(stderr, "dns_init: %s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	dns_shutdown();
	return 0;
}

int
main(void)
{
	/*
	 * The timing tests come first: libunbound adapts its retransmit
	 * timer to the server's round-trip time, and after many fast answers
	 * a 200 ms answer would be retried.
	 */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parallel_a),
	    cmocka_unit_test(test_parallel_mx),
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_counts),
	    cmocka_unit_test(test_explanation),
	    cmocka_unit_test(test_identity),
	    cmocka_unit_test(test_timeout_time),
	    cmocka_unit_test(test_ptr_limit),
	    cmocka_unit_test(test_nonblocking),
	    cmocka_unit_test(test_ops),
	    cmocka_unit_test(test_softfail_action),
	    cmocka_unit_test(test_macro_cap),
	    cmocka_unit_test(test_prefetch_cap),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
