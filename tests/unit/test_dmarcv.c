/* SPDX-License-Identifier: BSD-2-Clause */
/* test_dmarcv - From parsing, evaluation, and the check against dnsd */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dnstest.h"
#include "amerr.h"
#include "authres.h"
#include "conf.h"
#include "dkimv.h"
#include "dmarcv.h"
#include "engine.h"
#include "dns.h"
#include "fromaddr.h"
#include "orgdom.h"
#include "session.h"

/* ---- From: parser ---- */

struct fcase {
	const char *name;
	const char *value;
	int rc;
	size_t total;
	const char *domains[3];
	bool ok[3];
};

static const struct fcase fcases[] = {
	{ "bare address", "user@Example.COM", 0, 1, { "example.com" },
	  { true } },
	{ "display name", "John Doe <john@example.com>", 0, 1,
	  { "example.com" }, { true } },
	{ "quoted display name with comma and @",
	  "\"Doe, John <x@evil.test>\" <john@example.com>", 0, 1,
	  { "example.com" }, { true } },
	{ "comments", "(c1) john(c2)@(c3)example.com (trailing (nested))", 0,
	  1, { "example.com" }, { true } },
	{ "quoted local part with @", "\"a@b\"@example.com", 0, 1,
	  { "example.com" }, { true } },
	{ "folded", "John\r\n Doe\r\n <john@example.com>", 0, 1,
	  { "example.com" }, { true } },
	{ "two addresses same domain", "a@example.com, B <b@EXAMPLE.com>", 0,
	  2, { "example.com", "example.com" }, { true, true } },
	{ "two addresses two domains", "a@example.com, b@example.net", 0, 2,
	  { "example.com", "example.net" }, { true, true } },
	{ "group", "team: a@example.com, b@example.com;", 0, 2,
	  { "example.com", "example.com" }, { true, true } },
	{ "empty group", "undisclosed-recipients:;", 0, 0, { NULL },
	  { false } },
	{ "no address", "", 0, 0, { NULL }, { false } },
	{ "no domain", "John <john>", 0, 1, { "" }, { false } },
	{ "domain literal", "a@[192.0.2.1]", 0, 1, { "[192.0.2.1]" },
	  { false } },
	/* U-labels (SMTPUTF8): A-labels, RFC 9989 5.3.1 */
	{ "U-label domain: its A-label", "a@b\xc3\xbcro.example", 0, 1,
	  { "xn--bro-hoa.example" }, { true } },
	{ "U-label in an angle address, UTF-8 local part",
	  "J\xc3\xb6rg <j\xc3\xb6rg@b\xc3\xa4nk.test>", 0, 1,
	  { "xn--bnk-qla.test" }, { true } },
	{ "U-label upper case: mapped", "ceo@B\xc3\x84NK.Test", 0, 1,
	  { "xn--bnk-qla.test" }, { true } },
	{ "ideographic full stop", "ceo@b\xc3\xa4nk\xe3\x80\x82test", 0, 1,
	  { "xn--bnk-qla.test" }, { true } },
	{ "invalid IDN: disallowed code point", "a@\xe2\x98\x83.test", 0, 1,
	  { "\xe2\x98\x83.test" }, { false } },
	{ "invalid IDN: leading hyphen", "a@-b\xc3\xa4nk.test", 0, 1,
	  { "-b\xc3\xa4nk.test" }, { false } },
	{ "8-bit octets that are not UTF-8", "a@b\xe4nk.test", 0, 1,
	  { "b\xe4nk.test" }, { false } },
	{ "U-label with an empty label", "a@b\xc3\xa4nk..test", 0, 1,
	  { "b\xc3\xa4nk..test" }, { false } },
	{ "8-bit display name", "J\xc3\xb6rg <j@example.com>", 0, 1,
	  { "example.com" }, { true } },
	{ "trailing dot", "a@example.com.", 0, 1, { "example.com" },
	  { true } },
	{ "two trailing dots", "a@example.com..", 0, 1, { "example.com." },
	  { false } },
	{ "dot then space", "a@example.com. .", 0, 1, { "example.com." },
	  { false } },
	{ "obs-route", "<@relay.test:a@example.com>", 0, 1,
	  { "example.com" }, { true } },
	/* group syntax (CVE-2020-12272 class): an address before ':' */
	{ "address before a group", "ceo@bank.test x:a@atk.test;", AM_EINVAL,
	  0, { NULL }, { false } },
	{ "nested group", "a: b: c@example.com;;", AM_EINVAL, 0, { NULL },
	  { false } },
	{ "';' outside a group", "a@example.com; b@example.net", AM_EINVAL,
	  0, { NULL }, { false } },
	{ "group then mailbox", "team: a@example.com;, b@example.com", 0, 2,
	  { "example.com", "example.com" }, { true, true } },
	/* two addresses without a separator (tests/oracle found these) */
	{ "address before an angle address", "ceo@bank.test <>", AM_EINVAL,
	  0, { NULL }, { false } },
	{ "address as display name", "ceo@bank.test <a@atk.test>",
	  AM_EINVAL, 0, { NULL }, { false } },
	{ "empty local part as display name", "@BANK.TEST<i@x.test>",
	  AM_EINVAL, 0, { NULL }, { false } },
	{ "address after an angle address", "<a@evil.test>j@bank.test",
	  AM_EINVAL, 0, { NULL }, { false } },
	{ "two addr-specs, a space between", "ceo@bank.test a@atk.test",
	  AM_EINVAL, 0, { NULL }, { false } },
	{ "stray '<'", "<ceo@bank.test <a@atk.test>", AM_EINVAL, 0,
	  { NULL }, { false } },
	{ "quoted '>' in an angle address", "a@atk.test, <\">\"@bank.test>",
	  0, 2, { "atk.test", "bank.test" }, { true, true } },
	{ "quoted '<' and '@' in the display name",
	  "\"x <y@z>\" <a@example.com>", 0, 1, { "example.com" }, { true } },
	{ "a word after the domain", "a@atk.test junk", 0, 1,
	  { "atk.testjunk" }, { false } },
	{ "tab-folded", "John\r\n\tDoe\t<john@example.com>", 0, 1,
	  { "example.com" }, { true } },
	{ "unclosed angle", "John <john@example.com", AM_EINVAL, 0, { NULL },
	  { false } },
	{ "unclosed quote", "\"John <john@example.com>", AM_EINVAL, 0,
	  { NULL }, { false } },
	{ "unclosed comment", "john@example.com (oops", AM_EINVAL, 0,
	  { NULL }, { false } },
};

static void
test_fromaddr(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof fcases / sizeof fcases[0]; i++) {
		const struct fcase *c = &fcases[i];
		struct fromaddr_list fl;
		int rc = fromaddr_parse(c->value, strlen(c->value), &fl);

		print_message("case: %s\n", c->name);
		assert_int_equal(rc, c->rc);
		if (rc != 0)
			continue;
		assert_int_equal(fl.total, c->total);
		for (j = 0; j < fl.n && j < 3; j++) {
			assert_string_equal(fl.addr[j].domain, c->domains[j]);
			assert_int_equal(fl.addr[j].domain_ok, c->ok[j]);
		}
	}
}

static void
test_fromaddr_caps(void **state)
{
	char *big = malloc(FROMADDR_MAX_INPUT + 2);
	char many[2048];
	struct fromaddr_list fl;
	size_t i, n = 0;

	(void)state;
	assert_non_null(big);
	memset(big, 'a', FROMADDR_MAX_INPUT + 1);
	big[FROMADDR_MAX_INPUT + 1] = '\0';
	assert_int_equal(fromaddr_parse(big, FROMADDR_MAX_INPUT + 1, &fl),
			 AM_ERANGE);
	free(big);
	for (i = 0; i < 20; i++)
		n += (size_t)snprintf(many + n, sizeof many - n,
				      "u%zu@example.com,", i);
	assert_int_equal(fromaddr_parse(many, n, &fl), 0);
	assert_int_equal(fl.total, 20);
	assert_int_equal(fl.n, FROMADDR_MAX);
}

/* The fail-closed reading: every domain after an '@', anywhere. */
static const struct hcase {
	const char *name;
	const char *value;
	size_t n;
	const char *domains[4];
} hcases[] = {
	{ "plain", "a@Example.COM.", 1, { "example.com" } },
	{ "group syntax", "ceo@bank.test x:a@atk.test;", 2,
	  { "bank.test", "atk.test" } },
	{ "empty angle", "ceo@bank.test <>", 1, { "bank.test" } },
	{ "quoted and commented", "\"x@q.test\" (y@c.test) <a@b.test>", 3,
	  { "q.test", "c.test", "b.test" } },
	{ "CFWS around dots", "a@ bank . test", 1, { "bank.test" } },
	{ "comment after @", "a@(c)bank.test", 1, { "bank.test" } },
	{ "duplicates once", "a@x.test, b@X.test, c@x.test.", 1,
	  { "x.test" } },
	{ "empty label skipped", "a@x..test, b@.y.test, c@", 0, { NULL } },
	{ "no @", "plain text", 0, { NULL } },
	{ "U-label: its A-label", "ceo@b\xc3\xa4nk.test", 1,
	  { "xn--bnk-qla.test" } },
	{ "U-label quoted, and an address", "\"ceo@B\xc3\x84NK.test\" "
	  "<a@atk.test>", 2, { "xn--bnk-qla.test", "atk.test" } },
	{ "U-label and its A-label: once", "a@b\xc3\xa4nk.test, "
	  "b@xn--bnk-qla.test", 1, { "xn--bnk-qla.test" } },
	{ "ideographic full stop", "a@b\xc3\xa4nk\xe3\x80\x82test", 1,
	  { "xn--bnk-qla.test" } },
	{ "invalid IDN left out", "a@\xe2\x98\x83.test, b@x.test", 1,
	  { "x.test" } },
};

static void
test_fromaddr_harvest(void **state)
{
	char big[4096];
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof hcases / sizeof hcases[0]; i++) {
		const struct hcase *c = &hcases[i];
		struct fromaddr_set set = { 0 };

		print_message("case: %s\n", c->name);
		fromaddr_harvest(c->value, strlen(c->value), &set);
		assert_int_equal(set.n, c->n);
		assert_false(set.overflow);
		for (size_t j = 0; j < set.n; j++)
			assert_string_equal(set.domain[j], c->domains[j]);
	}
	/* more distinct domains than the set holds: overflow */
	{
		struct fromaddr_set set = { 0 };

		for (int i = 0; i < FROMADDR_MAX_DOMAINS + 1; i++)
			n += (size_t)snprintf(big + n, sizeof big - n,
					      "u@d%d.test, ", i);
		fromaddr_harvest(big, n, &set);
		assert_int_equal(set.n, FROMADDR_MAX_DOMAINS);
		assert_true(set.overflow);
	}
	/*
	 * a backslash as the last octet inside a comment after an '@'
	 * (found by the fuzz target: a read past the end)
	 */
	{
		static const char v[] = "a@(x\\";
		char *h = malloc(sizeof v - 1);
		struct fromaddr_set set = { 0 };

		assert_non_null(h);
		memcpy(h, v, sizeof v - 1);
		fromaddr_harvest(h, sizeof v - 1, &set);
		fromaddr_harvest(h, 3, &set);
		free(h);
	}
	/* more U-label domains than are converted: overflow */
	{
		struct fromaddr_set set = { 0 };

		n = 0;
		for (int i = 0; i < FROMADDR_MAX_IDN + 1; i++)
			n += (size_t)snprintf(big + n, sizeof big - n,
					      "u@b\xc3\xa4nk.test, ");
		fromaddr_harvest(big, n, &set);
		assert_int_equal(set.n, 1);
		assert_true(set.overflow);
	}
	/* many '@' in one unclosed comment: linear, and bounded */
	{
		struct fromaddr_set set = { 0 };
		size_t len = 200000;
		char *v = malloc(len);

		assert_non_null(v);
		v[0] = '(';
		for (size_t i = 1; i < len; i++)
			v[i] = i % 2 ? '@' : '(';
		fromaddr_harvest(v, len, &set);
		assert_int_equal(set.n, 0);
		free(v);
	}
}

/* Hostile input: random octets from the From: syntax alphabet. */
static void
test_fromaddr_random(void **state)
{
	static const char alphabet[] = "a@.<>\"\\(),:; \r\n[]\x80\xc3";
	char buf[300];
	struct fromaddr_list fl;
	uint32_t x = 88172645u;
	int i;

	(void)state;
	for (i = 0; i < 20000; i++) {
		size_t len, j;
		int rc;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		len = x % sizeof buf;
		for (j = 0; j < len; j++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			buf[j] = alphabet[x % (sizeof alphabet - 1)];
		}
		rc = fromaddr_parse(buf, len, &fl);
		assert_true(rc == 0 || rc == AM_EINVAL);
		assert_true(fl.n <= FROMADDR_MAX && fl.n <= fl.total);
		for (j = 0; j < fl.n; j++)
			assert_true(strlen(fl.addr[j].domain) <
				    FROMADDR_MAX_DOMAIN);
	}
}

/* ---- evaluation, walks fed by hand ---- */

#define NOREC NULL

struct ecase {
	const char *name;
	const char *from;
	const char *from_steps[4];    /* TXT per step, NULL = none */
	enum dmarcv_exists exists;
	enum am_result spf;
	const char *spf_domain;
	const char *spf_steps[4];
	enum am_result dkim;
	const char *dkim_domain;
	const char *dkim_steps[4];
	enum am_result want;
	enum dmarc_policy policy;
	enum dmarc_policy dis;
};

#define P_REJ "v=DMARC1; p=reject"
#define P_REJ_S "v=DMARC1; p=reject; adkim=s; aspf=s"
#define P_PSD "v=DMARC1; p=none; psd=y"

static const struct ecase ecases[] = {
	{ "dkim exact pass", "example.com", { P_REJ, NOREC },
	  DMARCV_EXISTS, AM_R_NONE, NULL, { NULL }, AM_R_PASS, "example.com",
	  { NULL }, AM_R_PASS, DMARC_P_REJECT, DMARC_P_NONE },
	{ "relaxed dkim subdomain pass", "example.com", { P_REJ, NOREC },
	  DMARCV_EXISTS, AM_R_NONE, NULL, { NULL }, AM_R_PASS,
	  "mail.example.com", { NOREC, P_REJ, NOREC }, AM_R_PASS,
	  DMARC_P_REJECT, DMARC_P_NONE },
	{ "strict dkim subdomain fails (libopendmarc accepts it)",
	  "example.com", { P_REJ_S, NOREC }, DMARCV_EXISTS, AM_R_NONE, NULL,
	  { NULL }, AM_R_PASS, "mail.example.com", { NOREC, P_REJ_S, NOREC },
	  AM_R_FAIL, DMARC_P_REJECT, DMARC_P_REJECT },
	{ "strict spf subdomain fails", "example.com", { P_REJ_S, NOREC },
	  DMARCV_EXISTS, AM_R_PASS, "bounce.example.com",
	  { NOREC, P_REJ_S, NOREC }, AM_R_NONE, NULL, { NULL }, AM_R_FAIL,
	  DMARC_P_REJECT, DMARC_P_REJECT },
	{ "relaxed spf subdomain pass", "example.com", { P_REJ, NOREC },
	  DMARCV_EXISTS, AM_R_PASS, "bounce.example.com",
	  { NOREC, P_REJ, NOREC }, AM_R_NONE, NULL, { NULL }, AM_R_PASS,
	  DMARC_P_REJECT, DMARC_P_NONE },
	{ "d=co.uk for example.co.uk is not aligned", "example.co.uk",
	  { P_REJ, P_PSD, NOREC }, DMARCV_EXISTS, AM_R_NONE, NULL, { NULL },
	  AM_R_PASS, "co.uk", { P_PSD, NOREC }, AM_R_FAIL, DMARC_P_REJECT,
	  DMARC_P_REJECT },
	{ "sibling under a PSD is not aligned", "a.example.co.uk",
	  { NOREC, P_REJ, P_PSD, NOREC }, DMARCV_EXISTS, AM_R_NONE, NULL,
	  { NULL }, AM_R_PASS, "other.co.uk", { NOREC, P_PSD, NOREC },
	  AM_R_FAIL, DMARC_P_REJECT, DMARC_P_REJECT },
	{ "unrelated domain fails", "example.com", { P_REJ, NOREC },
	  DMARCV_EXISTS, AM_R_PASS, "evil.test", { NOREC, NOREC }, AM_R_PASS,
	  "evil.test", { NOREC, NOREC }, AM_R_FAIL, DMARC_P_REJECT,
	  DMARC_P_REJECT },
	{ "sp for an existing subdomain", "sub.example.com",
	  { NOREC, "v=DMARC1; p=reject; sp=quarantine; np=none", NOREC },
	  DMARCV_EXISTS, AM_R_FAIL, "sub.example.com", { NULL }, AM_R_NONE,
	  NULL, { NULL }, AM_R_FAIL, DMARC_P_QUARANTINE, DMARC_P_QUARANTINE },
	{ "np for a non-existent subdomain", "nx.example.com",
	  { NOREC, "v=DMARC1; p=none; sp=quarantine; np=reject", NOREC },
	  DMARCV_NXDOMAIN, AM_R_NONE, NULL, { NULL }, AM_R_NONE, NULL,
	  { NULL }, AM_R_FAIL, DMARC_P_REJECT, DMARC_P_REJECT },
	{ "no np: sp for a non-existent subdomain", "nx.example.com",
	  { NOREC, "v=DMARC1; p=none; sp=quarantine", NOREC },
	  DMARCV_NXDOMAIN, AM_R_NONE, NULL, { NULL }, AM_R_NONE, NULL,
	  { NULL }, AM_R_FAIL, DMARC_P_QUARANTINE, DMARC_P_QUARANTINE },
	{ "p at the domain itself, np ignored", "example.com",
	  { "v=DMARC1; p=quarantine; np=reject", NOREC }, DMARCV_EXISTS,
	  AM_R_NONE, NULL, { NULL }, AM_R_NONE, NULL, { NULL }, AM_R_FAIL,
	  DMARC_P_QUARANTINE, DMARC_P_QUARANTINE },
	{ "t=y relaxes reject to quarantine", "example.com",
	  { "v=DMARC1; p=reject; t=y", NOREC }, DMARCV_EXISTS, AM_R_NONE,
	  NULL, { NULL }, AM_R_NONE, NULL, { NULL }, AM_R_FAIL,
	  DMARC_P_REJECT, DMARC_P_QUARANTINE },
	{ "pct=0 ignored: p=reject is a full reject", "example.com",
	  { "v=DMARC1; p=reject; pct=0", NOREC }, DMARCV_EXISTS,
	  AM_R_NONE, NULL, { NULL }, AM_R_NONE, NULL, { NULL }, AM_R_FAIL,
	  DMARC_P_REJECT, DMARC_P_REJECT },
	{ "pct=0 ignored: quarantine stays quarantine", "example.com",
	  { "v=DMARC1; p=quarantine; pct=0", NOREC }, DMARCV_EXISTS,
	  AM_R_NONE, NULL, { NULL }, AM_R_NONE, NULL, { NULL }, AM_R_FAIL,
	  DMARC_P_QUARANTINE, DMARC_P_QUARANTINE },
	{ "no record: none", "example.com", { NOREC, NOREC }, DMARCV_EXISTS,
	  AM_R_PASS, "example.com", { NULL }, AM_R_NONE, NULL, { NULL },
	  AM_R_NONE, DMARC_P_UNSET, DMARC_P_NONE },
	{ "record without p: permerror", "example.com",
	  { "v=DMARC1; adkim=s", NOREC }, DMARCV_EXISTS, AM_R_NONE, NULL,
	  { NULL }, AM_R_NONE, NULL, { NULL }, AM_R_PERMERROR, DMARC_P_UNSET,
	  DMARC_P_NONE },
	{ "invalid record at the domain: permerror", "example.com",
	  { "v=DMARC1; p=reject; p=none", NOREC }, DMARCV_EXISTS, AM_R_NONE,
	  NULL, { NULL }, AM_R_NONE, NULL, { NULL }, AM_R_PERMERROR,
	  DMARC_P_UNSET, DMARC_P_NONE },
	{ "temperror in policy discovery", "example.com", { "T", NOREC },
	  DMARCV_EXISTS, AM_R_PASS, "example.com", { NULL }, AM_R_NONE, NULL,
	  { NULL }, AM_R_TEMPERROR, DMARC_P_UNSET, DMARC_P_NONE },
	{ "aligned dkim temperror, nothing else: temperror", "example.com",
	  { P_REJ, NOREC }, DMARCV_EXISTS, AM_R_NONE, NULL, { NULL },
	  AM_R_TEMPERROR, "example.com", { NULL }, AM_R_TEMPERROR,
	  DMARC_P_REJECT, DMARC_P_REJECT },
	{ "org walk of a relaxed candidate fails: temperror", "example.com",
	  { P_REJ, NOREC }, DMARCV_EXISTS, AM_R_NONE, NULL, { NULL },
	  AM_R_PASS, "mail.example.com", { "T", P_REJ, NOREC },
	  AM_R_TEMPERROR, DMARC_P_REJECT, DMARC_P_REJECT },
	{ "spf pass beats a broken dkim walk", "example.com",
	  { P_REJ, NOREC }, DMARCV_EXISTS, AM_R_PASS, "example.com",
	  { NULL }, AM_R_PASS, "mail.example.com", { "T", P_REJ, NOREC },
	  AM_R_PASS, DMARC_P_REJECT, DMARC_P_NONE },
};

static void
feed_steps(struct orgdom_walk *w, const char *const *steps)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		const char *s = i < 4 ? steps[i] : NULL;
		size_t len;

		if (s == NULL) {
			orgdom_walk_feed(w, i, DNS_NXDOMAIN, NULL, NULL, 0);
		} else if (strcmp(s, "T") == 0) {
			orgdom_walk_feed(w, i, DNS_TIMEOUT, NULL, NULL, 0);
		} else {
			len = strlen(s);
			orgdom_walk_feed(w, i, DNS_DATA, &s, &len, 1);
		}
	}
}

static void
test_evaluate(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof ecases / sizeof ecases[0]; i++) {
		const struct ecase *c = &ecases[i];
		struct orgdom_walk fw, sw, dw;
		const struct orgdom_walk *walks[2];
		struct auth_results ar;
		struct dmarcv_input in;
		struct dmarcv_eval ev;
		size_t nw = 0;

		print_message("case: %s\n", c->name);
		memset(&ar, 0, sizeof ar);
		assert_int_equal(orgdom_walk_init(&fw, c->from), 0);
		feed_steps(&fw, c->from_steps);
		if (c->spf_domain != NULL) {
			ar.spf_done = true;
			ar.spf = c->spf;
			snprintf(ar.spf_domain, sizeof ar.spf_domain, "%s",
				 c->spf_domain);
			assert_int_equal(orgdom_walk_init(&sw, c->spf_domain),
					 0);
			feed_steps(&sw, c->spf_steps);
			walks[nw++] = &sw;
		}
		if (c->dkim_domain != NULL) {
			ar.dkim_done = true;
			ar.ndkim = 1;
			ar.dkim[0].result = c->dkim;
			snprintf(ar.dkim[0].domain, sizeof ar.dkim[0].domain,
				 "%s", c->dkim_domain);
			assert_int_equal(orgdom_walk_init(&dw, c->dkim_domain),
					 0);
			feed_steps(&dw, c->dkim_steps);
			walks[nw++] = &dw;
		}
		memset(&in, 0, sizeof in);
		in.from_domain = fw.domain;
		in.from_walk = &fw;
		in.exists = c->exists;
		in.auth = &ar;
		in.walks = walks;
		in.nwalks = nw;
		assert_int_equal(dmarcv_evaluate(&in, &ev), 0);
		print_message("  -> %s (%s)\n", am_result_str(ev.result),
			      ev.why);
		assert_int_equal(ev.result, c->want);
		assert_int_equal(ev.policy, c->policy);
		if (ev.result == AM_R_FAIL || ev.result == AM_R_PASS)
			assert_int_equal(ev.disposition, c->dis);
	}
}

/* ---- the check, end to end through dnsd ---- */

struct sink {
	char log[1024];
};

static void
logf_sink(struct check_report *r, const char *key, const char *value)
{
	struct sink *s = r->priv;
	size_t n = strlen(s->log);

	snprintf(s->log + n, sizeof s->log - n, "%s=%s ", key, value);
}

struct kcase {
	const char *name;
	const char *mail_domain;
	const char *froms[3];        /* From: values; NULL-terminated */
	const char *dkim_sig;        /* DKIM-Signature value or NULL */
	enum am_result dkim;         /* its result (set before finish) */
	bool list_id;
	enum am_result spf;
	enum am_result want;
	enum am_action action;
	const char *reply;           /* expected reply or NULL */
	const char *ar_part;         /* substring of the rendered A-R */
	enum { K_DEFAULT, K_NO_ENFORCE, K_ACTIONS_TAG } conf;
	const char *hist;            /* dmarcv_history() rendered by
				      * hist_text(), "-" for no row, NULL
				      * not checked */
};

/* The DMARC part of a history row, in one line for the cases. */
static void
hist_text(const struct history_row *h, char *out, size_t outlen)
{
	size_t o = (size_t)snprintf(out, outlen,
	    "%s from=%s p=%s sp=%s np=%s t=%d dmarc=%s dis=%s ov=%u "
	    "align=%d%d spf=%s:%s",
	    h->policy_domain, h->header_from, dmarc_policy_str(h->p),
	    dmarc_policy_str(h->sp), dmarc_policy_str(h->np), h->testing,
	    am_result_str(h->dmarc), dmarc_policy_str(h->disposition),
	    h->overrides, h->dkim_aligned, h->spf_aligned, h->spf_domain,
	    am_result_str(h->spf));

	for (unsigned int i = 0; i < h->ndkim && o < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, " dkim=%s:%s:%d",
				      h->dkim[i].domain,
				      am_result_str(h->dkim[i].result),
				      h->dkim[i].aligned);
}

static const struct kcase kcases[] = {
	{ "aligned relaxed dkim pass", "bounce.other.test",
	  { "Alice <alice@example.com>" },
	  "v=1; a=rsa-sha256; d=mail.example.com; s=s1; b=x", AM_R_PASS,
	  false, AM_R_FAIL, AM_R_PASS, AM_ACT_NONE, NULL,
	  "dmarc=pass (p=reject dis=none) header.from=example.com",
	  K_DEFAULT,
	  "example.com from=example.com p=reject sp=quarantine "
	  "np=reject t=0 dmarc=pass dis=none ov=0 align=10 "
	  "spf=bounce.other.test:fail dkim=mail.example.com:pass:1" },
	{ "p=reject failure rejects", "evil.test",
	  { "alice@example.com" }, NULL, AM_R_NONE, false, AM_R_PASS,
	  AM_R_FAIL, AM_ACT_REJECT,
	  "Rejected by DMARC policy for example.com",
	  "dmarc=fail (p=reject dis=reject) header.from=example.com",
	  K_DEFAULT,
	  "example.com from=example.com p=reject sp=quarantine "
	  "np=reject t=0 dmarc=fail dis=reject ov=0 align=00 "
	  "spf=evil.test:pass" },
	{ "strict: subdomain signature fails", "evil.test",
	  { "x@strict.test" }, "v=1; d=mail.strict.test; s=s; b=x",
	  AM_R_PASS, false, AM_R_NONE, AM_R_FAIL, AM_ACT_REJECT,
	  "Rejected by DMARC policy for strict.test",
	  "dmarc=fail (p=reject dis=reject) header.from=strict.test",
	  K_DEFAULT,
	  "strict.test from=strict.test p=reject sp=unset np=unset "
	  "t=0 dmarc=fail dis=reject ov=0 align=00 spf=evil.test:none "
	  "dkim=mail.strict.test:pass:0" },
	{ "sp=quarantine for an existing subdomain", "evil.test",
	  { "x@mail.example.com" }, NULL, AM_R_NONE, false, AM_R_NONE,
	  AM_R_FAIL, AM_ACT_QUARANTINE, NULL,
	  "dmarc=fail (p=quarantine dis=quarantine) "
	  "header.from=mail.example.com",
	  K_DEFAULT,
	  "example.com from=mail.example.com p=reject sp=quarantine "
	  "np=reject t=0 dmarc=fail dis=quarantine ov=0 align=00 "
	  "spf=evil.test:none" },
	{ "np=reject for a non-existent subdomain", "evil.test",
	  { "x@nx.example.com" }, NULL, AM_R_NONE, false, AM_R_NONE,
	  AM_R_FAIL, AM_ACT_REJECT,
	  "Rejected by DMARC policy for nx.example.com",
	  "dmarc=fail (p=reject dis=reject) header.from=nx.example.com",
	  K_DEFAULT,
	  "example.com from=nx.example.com p=reject sp=quarantine "
	  "np=reject t=0 dmarc=fail dis=reject ov=0 align=00 "
	  "spf=evil.test:none" },
	{ "t=y: reject becomes quarantine", "evil.test",
	  { "x@testing.test" }, NULL, AM_R_NONE, false, AM_R_NONE,
	  AM_R_FAIL, AM_ACT_QUARANTINE, NULL,
	  "dmarc=fail (p=reject dis=quarantine)",
	  K_DEFAULT,
	  "testing.test from=testing.test p=reject sp=unset np=unset "
	  "t=1 dmarc=fail dis=quarantine ov=4 align=00 "
	  "spf=evil.test:none" },
	{ "d=co.uk does not align with example.co.uk", "evil.test",
	  { "x@example.co.uk" }, "v=1; d=co.uk; s=s; b=x", AM_R_PASS, false,
	  AM_R_NONE, AM_R_FAIL, AM_ACT_REJECT,
	  "Rejected by DMARC policy for example.co.uk",
	  "header.from=example.co.uk",
	  K_DEFAULT,
	  "example.co.uk from=example.co.uk p=reject sp=unset "
	  "np=unset t=0 dmarc=fail dis=reject ov=0 align=00 "
	  "spf=evil.test:none dkim=co.uk:pass:0" },
	{ "mailing list: reject lowered to quarantine", "list.test",
	  { "x@example.com" }, "v=1; d=list.test; s=s; b=x", AM_R_PASS, true,
	  AM_R_PASS, AM_R_FAIL, AM_ACT_QUARANTINE, NULL,
	  "(p=reject dis=quarantine; mailing list: reject lowered to "
	  "quarantine)",
	  K_DEFAULT,
	  "example.com from=example.com p=reject sp=quarantine "
	  "np=reject t=0 dmarc=fail dis=quarantine ov=2 align=00 "
	  "spf=list.test:pass dkim=list.test:pass:0" },
	{ "no From: permerror", "example.com", { NULL }, NULL, AM_R_NONE,
	  false, AM_R_PASS, AM_R_PERMERROR, AM_ACT_NONE, NULL,
	  "dmarc=permerror",
	  K_DEFAULT,
	  "-" },
	/*
	 * A From: that gives permerror fails closed (SPEC "Checks"): the
	 * strictest policy among its domains applies as a failure, even
	 * where an aligned SPF pass exists for one of them.
	 */
	{ "two From: fields: permerror, p=reject applied", "example.com",
	  { "a@example.com", "b@example.com" }, NULL, AM_R_NONE, false,
	  AM_R_PASS, AM_R_PERMERROR, AM_ACT_REJECT,
	  "Rejected by DMARC policy for example.com",
	  "(several From: fields; strictest policy applied: reject of "
	  "example.com; dis=reject)",
	  K_DEFAULT,
	  "example.com from=example.com p=reject sp=quarantine "
	  "np=reject t=0 dmarc=permerror dis=reject ov=0 align=00 "
	  "spf=example.com:pass" },
	{ "From: of two domains: the reject one wins", "evil.test",
	  { "a@list.test, b@example.com" }, NULL, AM_R_NONE, false,
	  AM_R_PASS, AM_R_PERMERROR, AM_ACT_REJECT,
	  "Rejected by DMARC policy for example.com",
	  "header.from=example.com",
	  K_DEFAULT,
	  "example.com from=example.com p=reject sp=quarantine "
	  "np=reject t=0 dmarc=permerror dis=reject ov=0 align=00 "
	  "spf=evil.test:pass" },
	{ "group syntax hides no address", "list.test",
	  { "ceo@example.com x:a@list.test;" }, NULL, AM_R_NONE, false,
	  AM_R_PASS, AM_R_PERMERROR, AM_ACT_REJECT,
	  "Rejected by DMARC policy for example.com",
	  "(From: field cannot be parsed; strictest policy applied: "
	  "reject of example.com; dis=reject)",
	  K_DEFAULT,
	  "example.com from=example.com p=reject sp=quarantine "
	  "np=reject t=0 dmarc=permerror dis=reject ov=0 align=00 "
	  "spf=list.test:pass" },
	{ "empty angle address after the address", "list.test",
	  { "ceo@example.com <>" }, NULL, AM_R_NONE, false, AM_R_PASS,
	  AM_R_PERMERROR, AM_ACT_REJECT,
	  "Rejected by DMARC policy for example.com",
	  "header.from=example.com",
	  K_DEFAULT,
	  "example.com from=example.com p=reject sp=quarantine "
	  "np=reject t=0 dmarc=permerror dis=reject ov=0 align=00 "
	  "spf=list.test:pass" },
	{ "two From: fields, p=none and t=y: quarantine", "list.test",
	  { "a@list.test", "b@testing.test" }, NULL, AM_R_NONE, false,
	  AM_R_PASS, AM_R_PERMERROR, AM_ACT_QUARANTINE, NULL,
	  "reject of testing.test; dis=quarantine)",
	  K_DEFAULT,
	  "testing.test from=testing.test p=reject sp=unset np=unset "
	  "t=1 dmarc=permerror dis=quarantine ov=4 align=00 "
	  "spf=list.test:pass" },
	{ "np= counts where it is stricter", "list.test",
	  { "a@list.test, b@nx.example.com" }, NULL, AM_R_NONE, false,
	  AM_R_PASS, AM_R_PERMERROR, AM_ACT_REJECT,
	  "Rejected by DMARC policy for nx.example.com",
	  "header.from=nx.example.com",
	  K_DEFAULT,
	  "example.com from=nx.example.com p=reject sp=quarantine "
	  "np=reject t=0 dmarc=permerror dis=reject ov=0 align=00 "
	  "spf=list.test:pass" },
	{ "more domains than can be looked up: reject", "list.test",
	  { "a@a1.test, a@a2.test, a@a3.test, a@a4.test, a@a5.test",
	    "a@a6.test, a@a7.test, a@a8.test, a@a9.test" }, NULL,
	  AM_R_NONE, false, AM_R_PASS, AM_R_PERMERROR, AM_ACT_REJECT,
	  "Rejected by DMARC policy for a1.test",
	  "more than 8 domains in From:, treated as p=reject",
	  K_DEFAULT,
	  "a1.test from=a1.test p=reject sp=unset np=unset t=0 "
	  "dmarc=permerror dis=reject ov=0 align=00 "
	  "spf=list.test:pass" },
	{ "two p=none domains: permerror, no action", "list.test",
	  { "a@list.test, b@nothing.test" }, NULL, AM_R_NONE, false,
	  AM_R_PASS, AM_R_PERMERROR, AM_ACT_NONE, NULL, "dmarc=permerror",
	  K_DEFAULT,
	  "list.test from=list.test p=none sp=unset np=unset t=0 "
	  "dmarc=permerror dis=none ov=0 align=00 spf=list.test:pass" },
	{ "a From: domain's walk fails: tempfail", "list.test",
	  { "a@list.test, b@a.broken.test" }, NULL, AM_R_NONE, false,
	  AM_R_PASS, AM_R_PERMERROR, AM_ACT_TEMPFAIL,
	  "Temporary DNS failure, try again later", "dmarc=permerror",
	  K_DEFAULT,
	  "list.test from=list.test p=none sp=unset np=unset t=0 "
	  "dmarc=permerror dis=none ov=0 align=00 spf=list.test:pass" },
	{ "fail closed, mailing list: quarantine", "list.test",
	  { "a@list.test", "b@example.com" },
	  "v=1; d=list.test; s=s; b=x", AM_R_PASS, true, AM_R_PASS,
	  AM_R_PERMERROR, AM_ACT_QUARANTINE, NULL,
	  "dis=quarantine; mailing list: reject lowered to quarantine)",
	  K_DEFAULT,
	  "example.com from=example.com p=reject sp=quarantine "
	  "np=reject t=0 dmarc=permerror dis=quarantine ov=2 align=00 "
	  "spf=list.test:pass dkim=list.test:pass:0" },
	{ "SERVFAIL in the walk: temperror, tempfail", "evil.test",
	  { "x@a.broken.test" }, NULL, AM_R_NONE, false, AM_R_NONE,
	  AM_R_TEMPERROR, AM_ACT_TEMPFAIL,
	  "Temporary DNS failure, try again later", "dmarc=temperror",
	  K_DEFAULT,
	  "-" },
	{ "no record: none", "evil.test", { "x@nothing.test" }, NULL,
	  AM_R_NONE, false, AM_R_NONE, AM_R_NONE, AM_ACT_NONE, NULL,
	  "dmarc=none header.from=nothing.test",
	  K_DEFAULT,
	  "-" },
	/* DMARCEnforce no: results reported, no action, no tempfail */
	{ "DMARCEnforce no: p=reject failure only reported", "evil.test",
	  { "alice@example.com" }, NULL, AM_R_NONE, false, AM_R_PASS,
	  AM_R_FAIL, AM_ACT_NONE, NULL,
	  "dmarc=fail (p=reject dis=reject) header.from=example.com",
	  K_NO_ENFORCE,
	  "example.com from=example.com p=reject sp=quarantine "
	  "np=reject t=0 dmarc=fail dis=reject ov=1 align=00 "
	  "spf=evil.test:pass" },
	{ "DMARCEnforce no: p=quarantine failure only reported",
	  "evil.test", { "x@mail.example.com" }, NULL, AM_R_NONE, false,
	  AM_R_NONE, AM_R_FAIL, AM_ACT_NONE, NULL,
	  "dmarc=fail (p=quarantine dis=quarantine) "
	  "header.from=mail.example.com", K_NO_ENFORCE,
	  "example.com from=mail.example.com p=reject sp=quarantine "
	  "np=reject t=0 dmarc=fail dis=quarantine ov=1 align=00 "
	  "spf=evil.test:none" },
	{ "DMARCEnforce no: SERVFAIL is no tempfail", "evil.test",
	  { "x@a.broken.test" }, NULL, AM_R_NONE, false, AM_R_NONE,
	  AM_R_TEMPERROR, AM_ACT_NONE, NULL, "dmarc=temperror",
	  K_NO_ENFORCE,
	  "-" },
	/* DMARCRejectAction and DMARCQuarantineAction are honoured */
	{ "DMARCRejectAction tag", "evil.test", { "alice@example.com" },
	  NULL, AM_R_NONE, false, AM_R_PASS, AM_R_FAIL, AM_ACT_TAG, NULL,
	  "dmarc=fail (p=reject dis=reject) header.from=example.com",
	  K_ACTIONS_TAG,
	  "example.com from=example.com p=reject sp=quarantine "
	  "np=reject t=0 dmarc=fail dis=reject ov=0 align=00 "
	  "spf=evil.test:pass" },
	{ "DMARCQuarantineAction tag", "evil.test",
	  { "x@mail.example.com" }, NULL, AM_R_NONE, false, AM_R_NONE,
	  AM_R_FAIL, AM_ACT_TAG, NULL,
	  "dmarc=fail (p=quarantine dis=quarantine) "
	  "header.from=mail.example.com", K_ACTIONS_TAG,
	  "example.com from=mail.example.com p=reject sp=quarantine "
	  "np=reject t=0 dmarc=fail dis=quarantine ov=0 align=00 "
	  "spf=evil.test:none" },
};

static void
test_check(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof kcases / sizeof kcases[0]; i++) {
		const struct kcase *k = &kcases[i];
		struct conf cf;
		struct conn c;
		struct msg m;
		struct check_slot cs = { NULL }, ms = { NULL };
		struct check_outcome o, o2;
		struct check_report r;
		struct sink sink;
		struct timespec dl;
		char *hdr;

		print_message("case: %s\n", k->name);
		memset(&cf, 0, sizeof cf);
		cf.dmarc_enforce = true;
		cf.dmarc_reject_action = AM_ACT_REJECT;
		cf.dmarc_quarantine_action = AM_ACT_QUARANTINE;
		cf.on_dns_error = ONDNS_TEMPFAIL;
		if (k->conf == K_NO_ENFORCE)
			cf.dmarc_enforce = false;
		if (k->conf == K_ACTIONS_TAG)
			cf.dmarc_reject_action = cf.dmarc_quarantine_action =
			    AM_ACT_TAG;
		cf.dkim_max_signatures = 5;
		cf.public_suffix_list = NULL;
		memset(&c, 0, sizeof c);
		memset(&m, 0, sizeof m);
		c.conf = &cf;
		snprintf(c.sid, sizeof c.sid, "T%zu", i);
		c.dns = dns_set_new(c.sid);
		assert_non_null(c.dns);
		m.mail_domain = (char *)k->mail_domain;

		assert_int_equal(dmarcv_ops.on_mail(&c, &m, &cs, &ms), 0);
		if (k->dkim_sig != NULL)
			assert_int_equal(dmarcv_ops.on_header(&c, &m, &ms,
					 "DKIM-Signature", k->dkim_sig), 0);
		if (k->list_id)
			assert_int_equal(dmarcv_ops.on_header(&c, &m, &ms,
					 "List-Id", "<l.list.test>"), 0);
		for (j = 0; j < 3 && k->froms[j] != NULL; j++)
			assert_int_equal(dmarcv_ops.on_header(&c, &m, &ms,
					 "From", k->froms[j]), 0);
		assert_int_equal(dmarcv_ops.on_eoh(&c, &m, &ms), 0);

		/* what SPF and DKIM would have written */
		m.auth.spf_done = true;
		m.auth.spf = k->spf;
		snprintf(m.auth.spf_domain, sizeof m.auth.spf_domain, "%s",
			 k->mail_domain);
		if (k->dkim_sig != NULL) {
			m.auth.dkim_done = true;
			m.auth.ndkim = 1;
			m.auth.dkim[0].result = k->dkim;
			assert_int_equal(dkimv_sig_domain(k->dkim_sig,
				m.auth.dkim[0].domain,
				sizeof m.auth.dkim[0].domain), 0);
		}

		dns_deadline(&dl, 3000);
		assert_int_equal(dmarcv_ops.finish(&c, &m, &cs, &ms, &dl, &o),
				 0);
		/* idempotent */
		assert_int_equal(dmarcv_ops.finish(&c, &m, &cs, &ms, &dl, &o2),
				 0);
		assert_memory_equal(&o, &o2, sizeof o);
		engine_dns_error(&cf, &o); /* as engine_decide() does */
		print_message("  -> %s action %s (%s)\n",
			      am_result_str(o.result),
			      am_action_str(o.action), o.why);
		assert_true(o.done);
		assert_int_equal(o.result, k->want);
		assert_int_equal(o.action, k->action);
		if (k->reply != NULL)
			assert_string_equal(o.reply, k->reply);
		{
			struct history_row h;
			char ht[1024] = "-";

			memset(&h, 0, sizeof h);
			if (dmarcv_history(&ms, &m, &cf, &h))
				hist_text(&h, ht, sizeof ht);
			print_message("  history: %s\n", ht);
			if (k->hist != NULL)
				assert_string_equal(ht, k->hist);
		}
		memset(&r, 0, sizeof r);
		memset(&sink, 0, sizeof sink);
		r.ar = authres_new("mx.test");
		r.logf = logf_sink;
		r.priv = &sink;
		dmarcv_ops.report(&c, &m, &cs, &ms, &o, &r);
		hdr = authres_render(r.ar);
		assert_non_null(hdr);
		print_message("  A-R: %s\n", hdr);
		assert_non_null(strstr(hdr, k->ar_part));
		assert_non_null(strstr(sink.log, "dmarc="));
		free(hdr);
		authres_free(r.ar);
		dmarcv_ops.msg_free(&ms);
		assert_null(ms.state);
		dns_set_free(c.dns);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fromaddr),
		cmocka_unit_test(test_fromaddr_caps),
		cmocka_unit_test(test_fromaddr_harvest),
		cmocka_unit_test(test_fromaddr_random),
		cmocka_unit_test(test_evaluate),
		cmocka_unit_test(test_check),
	};

	return cmocka_run_group_tests(tests, dnstest_setup, dnstest_teardown);
}
