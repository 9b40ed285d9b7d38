/* SPDX-License-Identifier: BSD-2-Clause */
/* test_dkimv - the dkim check on the RFC vectors, and its tag scan */
/*
 * Runs with tests/unit/zones/dkimv.json served by dnsd (the key records
 * of tests/dkim/vectors/keys.txt, plus selectors of example.com
 * that time out and SERVFAIL). The published vectors are read from
 * tests/dkim/vectors, found from AM_TEST_ZONES.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include "authres.h"
#include "check.h"
#include "conf.h"
#include "dkimv.h"
#include "dns.h"
#include "log.h"
#include "session.h"

static char vecdir[1024];

static char *
slurp(const char *name)
{
	char path[1200];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof path, "%s/%s", vecdir, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	/* CRLF files (dkimpy's exim vector) become LF, as run_msg wants */
	{
		size_t o = 0;

		for (long i = 0; i < n; i++)
			if (!(buf[i] == '\r' && buf[i + 1] == '\n'))
				buf[o++] = buf[i];
		buf[o] = '\0';
	}
	return buf;
}

/* Replace the first occurrence of from by to (same buffer, realloc'd). */
static char *
subst(char *s, const char *from, const char *to)
{
	char *p = strstr(s, from);
	size_t fl = strlen(from), tl = strlen(to), sl = strlen(s);
	char *r;

	assert_non_null(p);
	r = malloc(sl - fl + tl + 1);
	assert_non_null(r);
	memcpy(r, s, (size_t)(p - s));
	memcpy(r + (p - s), to, tl);
	memcpy(r + (p - s) + tl, p + fl, sl - (size_t)(p - s) - fl + 1);
	free(s);
	return r;
}

struct run {
	struct conf conf;
	struct conn conn;
	struct msg msg;
	struct check_outcome out;
};

/* Feed a message (LF line ends) as the milter does and finish it. */
static void
run_msg(struct run *r, const char *text, unsigned int timeout_s)
{
	const char *p = text;
	struct timespec dl;
	char *body;
	size_t n = 0;

	memset(r, 0, sizeof *r);
	r->conf.dkim_max_signatures = 5;
	r->conf.dkim_min_key_bits = 1024;
	r->conf.dns_timeout = timeout_s;
	r->conn.conf = &r->conf;
	snprintf(r->conn.sid, sizeof r->conn.sid, "unit");
	r->conn.dns = dns_set_new("unit");
	assert_non_null(r->conn.dns);
	while (*p != '\0' && *p != '\n') {
		const char *colon = strchr(p, ':');
		const char *e = p;
		char name[64], *value;

		assert_non_null(colon);
		/* header end: a line end not followed by WSP */
		for (;;) {
			e = strchr(e, '\n');
			assert_non_null(e);
			if (e[1] != ' ' && e[1] != '\t')
				break;
			e++;
		}
		assert_true((size_t)(colon - p) < sizeof name);
		memcpy(name, p, (size_t)(colon - p));
		name[colon - p] = '\0';
		value = strndup(colon + 1, (size_t)(e - colon - 1));
		assert_non_null(value);
		/*
		 * as engine.c: at most SESSION_MAX_HEADERS, counted; past
		 * them only From: fields, and the message marked
		 */
		if (r->msg.nheaders < SESSION_MAX_HEADERS)
			r->msg.nheaders++;
		else
			r->msg.headers_capped = true;
		if (!r->msg.headers_capped || strcasecmp(name, "From") == 0)
			assert_int_equal(
			    dkimv_ops.on_header(&r->conn, &r->msg,
						&r->msg.slot[0], name, value),
			    0);
		free(value);
		p = e + 1;
	}
	if (*p == '\n')
		p++;
	assert_int_equal(dkimv_ops.on_eoh(&r->conn, &r->msg,
					  &r->msg.slot[0]), 0);
	body = malloc(2 * strlen(p) + 1);
	assert_non_null(body);
	for (; *p != '\0'; p++) {
		if (*p == '\n')
			body[n++] = '\r';
		body[n++] = *p;
	}
	assert_int_equal(dkimv_ops.on_body(&r->conn, &r->msg, &r->msg.slot[0],
					   (unsigned char *)body, n), 0);
	free(body);
	dns_deadline(&dl, timeout_s * 1000U);
	assert_int_equal(dkimv_ops.finish(&r->conn, &r->msg, NULL,
					  &r->msg.slot[0], &dl, &r->out), 0);
}

static void
run_free(struct run *r)
{
	dkimv_ops.msg_free(&r->msg.slot[0]);
	assert_null(r->msg.slot[0].state);
	dns_set_free(r->conn.dns);
}

/* One vector or variant: file, edits, wanted results. */
struct vcase {
	const char *name;
	const char *file;
	const char *from, *to;  /* one substitution, or NULL */
	size_t nwant;
	struct {
		enum am_result r;
		const char *d, *s, *why;
	} want[2];
};

static const struct vcase vcases[] = {
	{"rfc6376-a", "rfc6376-appendix-a.eml", NULL, NULL, 1,
	 {{AM_R_PASS, "example.com", "brisbane", ""}}},
	{"rfc8463-a", "rfc8463-appendix-a.eml", NULL, NULL, 2,
	 {{AM_R_PASS, "football.example.com", "brisbane", ""},
	  {AM_R_PASS, "football.example.com", "test", ""}}},
	{"dkimpy-signed", "dkimpy/rfc6376.signed.msg", NULL, NULL, 2,
	 {{AM_R_PASS, "football.example.com", "brisbane", ""},
	  {AM_R_PASS, "football.example.com", "test", ""}}},
	{"exim-ed25519", "dkimpy/ed25519test2.msg", NULL, NULL, 1,
	 {{AM_R_PASS, "test.ex", "sed", ""}}},
	{"rfc6376-body", "rfc6376-appendix-a.eml", "hungry", "thirsty", 1,
	 {{AM_R_FAIL, "example.com", "brisbane", "body hash mismatch"}}},
	{"rfc6376-subject", "rfc6376-appendix-a.eml", "dinner", "lunch", 1,
	 {{AM_R_FAIL, "example.com", "brisbane", "signature mismatch"}}},
	{"rfc8463-one-bad", "rfc8463-appendix-a.eml", "s=test", "s=nope", 2,
	 {{AM_R_PASS, "football.example.com", "brisbane", ""},
	  {AM_R_PERMERROR, "football.example.com", "nope", "no key"}}},
	{"rfc6376-timeout", "rfc6376-appendix-a.eml", "s=brisbane", "s=slow",
	 1, {{AM_R_TEMPERROR, "example.com", "slow", "timed out"}}},
	{"rfc6376-servfail", "rfc6376-appendix-a.eml", "s=brisbane",
	 "s=broken", 1,
	 {{AM_R_TEMPERROR, "example.com", "broken", "key query failed"}}},
	/* i= outside d=: a malformed signature */
	{"rfc6376-i-outside-d", "rfc6376-appendix-a.eml", "d=example.com",
	 "d=example.net", 1,
	 {{AM_R_NEUTRAL, "example.net", "brisbane", "bad signature"}}},
	{"unsigned", "dkimpy/rfc6376.msg", NULL, NULL, 0, {{0}}},
};

static void
test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof vcases / sizeof vcases[0]; i++) {
		const struct vcase *vc = &vcases[i];
		char *text = slurp(vc->file);
		struct run r;

		if (vc->from != NULL)
			text = subst(text, vc->from, vc->to);
		run_msg(&r, text, 1);
		print_message("case %s\n", vc->name);
		assert_int_equal(dkimv_result_count(&r.msg.slot[0]),
				 vc->nwant);
		assert_true(r.msg.auth.dkim_done);
		assert_int_equal(r.msg.auth.ndkim, vc->nwant);
		for (size_t j = 0; j < vc->nwant; j++) {
			const struct dkimv_result *res =
				dkimv_result_get(&r.msg.slot[0], j);

			assert_int_equal(res->result, vc->want[j].r);
			assert_string_equal(res->domain, vc->want[j].d);
			assert_string_equal(res->selector, vc->want[j].s);
			assert_non_null(strstr(res->why, vc->want[j].why));
			assert_int_equal(r.msg.auth.dkim[j].result,
					 vc->want[j].r);
			assert_string_equal(r.msg.auth.dkim[j].domain,
					    vc->want[j].d);
		}
		assert_null(dkimv_result_get(&r.msg.slot[0], vc->nwant));
		assert_int_equal(r.out.action, AM_ACT_NONE);
		if (vc->nwant == 0)
			assert_int_equal(r.out.result, AM_R_NONE);
		run_free(&r);
		free(text);
	}
}

/*
 * A signed header appended below SESSION_MAX_HEADERS junk headers never
 * reaches the library, which then verifies the old instance: that must
 * not pass (it did: fail open). A message that passes the cap has no
 * pass even when nothing was appended (it cannot be told apart); one of
 * exactly SESSION_MAX_HEADERS headers was seen whole.
 */
static void
test_header_cap(void **state)
{
	/* the vector has 7 headers */
	static const struct {
		int junk;
		bool append; /* the forged Subject after the junk */
		enum am_result want;
	} hc[] = {
	    {10, true, AM_R_FAIL},
	    {SESSION_MAX_HEADERS, true, AM_R_POLICY}, /* passed before */
	    {SESSION_MAX_HEADERS - 8, true, AM_R_FAIL}, /* 1000th: seen */
	    {SESSION_MAX_HEADERS - 8, false, AM_R_PASS}, /* 999 */
	    {SESSION_MAX_HEADERS - 7, false, AM_R_PASS}, /* 1000: all seen */
	    {SESSION_MAX_HEADERS - 6, false, AM_R_POLICY}, /* one held back */
	};

	(void)state;
	for (size_t i = 0; i < sizeof hc / sizeof hc[0]; i++) {
		char *text = slurp("rfc6376-appendix-a.eml");
		char *end = strstr(text, "\n\n");
		size_t hl = (size_t)(end - text) + 1;
		size_t sz = strlen(text) + 32 * (size_t)hc[i].junk + 64;
		char *msg = malloc(sz);
		size_t o;
		struct run r;
		const struct dkimv_result *res;

		assert_non_null(end);
		assert_non_null(msg);
		memcpy(msg, text, hl);
		o = hl;
		for (int j = 0; j < hc[i].junk; j++)
			o += (size_t)snprintf(msg + o, sz - o, "X-J%d: x\n", j);
		if (hc[i].append)
			o += (size_t)snprintf(msg + o, sz - o,
					      "Subject: pay account 666\n");
		snprintf(msg + o, sz - o, "%s", end + 1);
		run_msg(&r, msg, 1);
		print_message("header cap %d junk%s\n", hc[i].junk,
			      hc[i].append ? " and a Subject" : "");
		assert_int_equal(dkimv_result_count(&r.msg.slot[0]), 1);
		res = dkimv_result_get(&r.msg.slot[0], 0);
		assert_int_equal(res->result, hc[i].want);
		assert_int_equal(r.msg.auth.dkim[0].result, hc[i].want);
		if (hc[i].want == AM_R_POLICY)
			assert_non_null(
			    strstr(res->why, "too many headers: not all"));
		run_free(&r);
		free(msg);
		free(text);
	}
}

/*
 * More than DKIMV_MAX_SIGHDRS DKIM-Signature headers: the ones past it
 * never reach the library, so nothing passes (DKIMMaxSignatures of them
 * are still verified and reported).
 */
static void
test_sighdr_cap(void **state)
{
	static const struct {
		int copies;
		enum am_result want;
	} sc[] = {
	    {DKIMV_MAX_SIGHDRS, AM_R_PASS},
	    {DKIMV_MAX_SIGHDRS + 1, AM_R_POLICY},
	};

	(void)state;
	for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) {
		char *text = slurp("rfc6376-appendix-a.eml");
		char *rest = strstr(text, "\nReceived:");
		size_t sl = (size_t)(rest - text) + 1;
		size_t sz = strlen(text) + sl * (size_t)sc[i].copies;
		char *msg = malloc(sz);
		size_t o = 0;
		struct run r;

		/* the vector starts with its DKIM-Signature, then Received: */
		assert_non_null(rest);
		assert_non_null(msg);
		for (int j = 0; j < sc[i].copies; j++) {
			memcpy(msg + o, text, sl);
			o += sl;
		}
		snprintf(msg + o, sz - o, "%s", rest + 1);
		run_msg(&r, msg, 1);
		print_message("%d signature headers\n", sc[i].copies);
		assert_int_equal(dkimv_result_count(&r.msg.slot[0]), 5);
		for (size_t j = 0; j < 5; j++) {
			const struct dkimv_result *res =
			    dkimv_result_get(&r.msg.slot[0], j);

			assert_int_equal(res->result, sc[i].want);
			if (sc[i].want == AM_R_POLICY)
				assert_non_null(strstr(
				    res->why, "too many signature headers"));
		}
		assert_int_equal(r.out.result, sc[i].want);
		run_free(&r);
		free(msg);
		free(text);
	}
}

/* finish() twice: same outcome, no new work; msg_free(NULL state) ok. */
static void
test_idempotent(void **state)
{
	struct run r;
	struct check_outcome again;
	struct timespec dl;
	char *text = slurp("rfc6376-appendix-a.eml");

	(void)state;
	run_msg(&r, text, 1);
	memset(&again, 0, sizeof again);
	dns_deadline(&dl, 10);
	assert_int_equal(dkimv_ops.finish(&r.conn, &r.msg, NULL,
					  &r.msg.slot[0], &dl, &again), 0);
	assert_int_equal(again.result, r.out.result);
	assert_int_equal(again.result, AM_R_PASS);
	assert_int_equal(dkimv_result_count(&r.msg.slot[0]), 1);
	run_free(&r);
	dkimv_ops.msg_free(&r.msg.slot[0]);
	free(text);
}

static void
test_keyname(void **state)
{
	static const struct {
		const char *in, *want; /* want NULL: -1 */
	} cases[] = {
		{" v=1; a=rsa-sha256; d=Example.COM; s=Sel1; b=x",
		 "sel1._domainkey.example.com"},
		{"d=example.com;s=s", "s._domainkey.example.com"},
		{"\n\td = example.com ;\n s\t=\r\n sel ; h=from",
		 "sel._domainkey.example.com"},
		{"s=a.b; d=example.com.", "a.b._domainkey.example.com"},
		{"sd=x; ds=y; d=example.com; s=k", "k._domainkey.example.com"},
		{"bd=x; d=example.com; s=k", "k._domainkey.example.com"},
		{"D=example.com; s=k", NULL}, /* tags are case-sensitive */
		{"d=example.com", NULL},
		{"s=k", NULL},
		{"d=; s=k", NULL},
		{"d=exa mple.com; s=k", NULL},
		{"d=ex\"ample.com; s=k", NULL},
		{"d=example.com; s=k\n;", "k._domainkey.example.com"},
		{"", NULL},
		{"garbage", NULL},
		/* empty labels (fuzz_dkim_keyname) */
		{"s=k; d=example.com..", NULL},
		{"s=.k; d=example.com", NULL},
		{"s=k.; d=example.com", NULL},
		{"s=k; d=.example.com", NULL},
		{"s=k; d=example..com", NULL},
	};
	char out[254], big[700];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = dkimv_keyname(cases[i].in, out, sizeof out);

		print_message("keyname %zu\n", i);
		if (cases[i].want == NULL) {
			assert_int_equal(rc, -1);
			assert_string_equal(out, "");
		} else {
			assert_int_equal(rc, 0);
			assert_string_equal(out, cases[i].want);
		}
	}
	/* a name longer than 253 octets is refused */
	snprintf(big, sizeof big, "s=k; d=%0300d.com", 0);
	assert_int_equal(dkimv_keyname(big, out, sizeof out), -1);
	assert_int_equal(dkimv_keyname(NULL, out, sizeof out), -1);
	/* too small an output buffer */
	assert_int_equal(dkimv_keyname("d=example.com; s=k", out, 10), -1);
}

/* The d= of a signature, for prefetch (dmarcv's walk of it). */
static void
test_sig_domain(void **state)
{
	char d[256];

	(void)state;
	assert_int_equal(dkimv_sig_domain("v=1; a=rsa-sha256; d=Example.COM;"
					  " s=sel; b=abc", d, sizeof d), 0);
	assert_string_equal(d, "example.com");
	assert_int_equal(dkimv_sig_domain("v=1;\r\n\td = list.test ; s=x",
					  d, sizeof d), 0);
	assert_string_equal(d, "list.test");
	/* bh= and the b= value must not be taken for d= */
	assert_int_equal(dkimv_sig_domain("v=1; bh=d=x; b=xd=y", d,
					  sizeof d), -1);
	assert_int_equal(dkimv_sig_domain("", d, sizeof d), -1);
	assert_string_equal(d, "");
	assert_int_equal(dkimv_sig_domain(NULL, d, sizeof d), -1);
	/* not a domain name, or too long for out */
	assert_int_equal(dkimv_sig_domain("d=exa mple.com", d, sizeof d), -1);
	assert_int_equal(dkimv_sig_domain("d=example.com", d, 5), -1);
}

/* The report: one resinfo per signature, or dkim=none. */
static void
collect_log(struct check_report *rep, const char *key, const char *value)
{
	if (strcmp(key, "dkim") == 0)
		snprintf(rep->priv, 512, "%s", value);
}

static void
test_report(void **state)
{
	struct run r;
	struct check_report rep;
	char logv[512], *v;
	char *text = slurp("rfc8463-appendix-a.eml");

	(void)state;
	text = subst(text, "s=test", "s=nope");
	run_msg(&r, text, 1);
	memset(&rep, 0, sizeof rep);
	rep.ar = authres_new("mx.example.org");
	rep.logf = collect_log;
	rep.priv = logv;
	dkimv_ops.report(&r.conn, &r.msg, NULL, &r.msg.slot[0], &r.out, &rep);
	v = authres_render(rep.ar);
	assert_non_null(v);
	assert_non_null(strstr(v, "dkim=pass header.d=football.example.com"));
	assert_non_null(strstr(v, "header.b=\"/gCrinpc\""));
	assert_non_null(strstr(v, "dkim=permerror (no key)"));
	assert_non_null(strstr(v, "header.a=ed25519-sha256"));
	assert_int_equal(authres_count(rep.ar), 2);
	assert_string_equal(logv, "pass:football.example.com/brisbane,"
			    "permerror:football.example.com/nope");
	free(v);
	authres_free(rep.ar);
	run_free(&r);
	free(text);

	/* no signature */
	text = slurp("dkimpy/rfc6376.msg");
	run_msg(&r, text, 1);
	rep.ar = authres_new("mx.example.org");
	dkimv_ops.report(&r.conn, &r.msg, NULL, &r.msg.slot[0], &r.out, &rep);
	v = authres_render(rep.ar);
	assert_non_null(strstr(v, "dkim=none"));
	assert_string_equal(logv, "none");
	free(v);
	authres_free(rep.ar);
	run_free(&r);
	free(text);
}

static int
setup(void **state)
{
	struct dns_options o = {DNS_MODE_FORWARD, getenv("AM_TEST_DNS"),
				NULL};
	const char *zones = getenv("AM_TEST_ZONES");
	char err[256];
	char *slash;

	(void)state;
	if (o.forward == NULL || zones == NULL)
		return -1;
	/* zones is <root>/tests/unit/zones/dkimv.json */
	snprintf(vecdir, sizeof vecdir, "%s", zones);
	for (int i = 0; i < 4; i++) {
		slash = strrchr(vecdir, '/');
		if (slash == NULL)
			return -1;
		*slash = '\0';
	}
	{
		char root[sizeof vecdir];
		int n;

		snprintf(root, sizeof root, "%s", vecdir);
		n = snprintf(vecdir, sizeof vecdir,
			     "%s/tests/dkim/vectors", root);
		if (n < 0 || (size_t)n >= sizeof vecdir)
			return -1;
	}
	log_open(true, false);
	log_setup(LOG_L_WARNING, LOG_F_TEXT);
	if (dns_init(&o, err, sizeof err) < 0)
		return -1;
	return dkimv_init();
}

static int
teardown(void **state)
{
	(void)state;
	dkimv_shutdown();
	dns_shutdown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyname),
		cmocka_unit_test(test_sig_domain),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_idempotent),
		cmocka_unit_test(test_header_cap),
		cmocka_unit_test(test_sighdr_cap),
		cmocka_unit_test(test_report),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
