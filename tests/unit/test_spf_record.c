/* SPDX-License-Identifier: BSD-2-Clause */
/* test_spf_record - the strict SPF record parser */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "amerr.h"
#include "spf_record.h"

/*
 * Each case: a record, whether it parses, and for a good one a summary
 * of what was parsed: one item per term, "q:type:domain/c4/c6" for
 * mechanisms ('-' for no domain), then "redirect=X" and "exp=X".
 */
static const struct {
	const char *name;
	const char *rec;
	size_t len;	  /* 0: strlen */
	const char *want; /* NULL: syntax error (permerror) */
} cases[] = {
    {"empty", "v=spf1", 0, ""},
    {"version case", "V=SpF1 -all", 0, "-:all:-/32/128"},
    {"all qualifiers", "v=spf1 +all -all ~all ?all all", 0,
     "+:all:-/32/128 -:all:-/32/128 ~:all:-/32/128 ?:all:-/32/128 "
     "+:all:-/32/128"},
    {"mechanism case", "v=spf1 A MX:Example.COM -ALL", 0,
     "+:a:-/32/128 +:mx:Example.COM/32/128 -:all:-/32/128"},
    {"include", "v=spf1 include:_spf.example.com", 0,
     "+:include:_spf.example.com/32/128"},
    {"a with cidr", "v=spf1 a/24", 0, "+:a:-/24/128"},
    {"a dual cidr", "v=spf1 a/24//64", 0, "+:a:-/24/64"},
    {"a ip6 cidr only", "v=spf1 a//64", 0, "+:a:-/32/64"},
    {"a domain dual cidr", "v=spf1 a:foo.example.com/24//64", 0,
     "+:a:foo.example.com/24/64"},
    {"a /0", "v=spf1 a/0 a//0", 0, "+:a:-/0/128 +:a:-/32/0"},
    {"mx domain cidr", "v=spf1 mx:foo.example.com/24", 0,
     "+:mx:foo.example.com/24/128"},
    {"ptr", "v=spf1 ptr ptr:example.com", 0,
     "+:ptr:-/32/128 +:ptr:example.com/32/128"},
    {"ip4", "v=spf1 ip4:192.0.2.0/24 ip4:192.0.2.1", 0,
     "+:ip4:192.0.2.0/24/128 +:ip4:192.0.2.1/32/128"},
    {"ip4 /0", "v=spf1 ip4:1.1.1.1/0", 0, "+:ip4:1.1.1.1/0/128"},
    {"ip6", "v=spf1 ip6:2001:db8::/32 ip6:::1.1.1.1/0", 0,
     "+:ip6:2001:db8::/32/32 +:ip6:::1.1.1.1/32/0"},
    {"exists", "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d}", 0,
     "+:exists:%{ir}.%{l1r+-}._spf.%{d}/32/128"},
    {"colon and slash in domain", "v=spf1 a:foo:bar/baz.example.com", 0,
     "+:a:foo:bar/baz.example.com/32/128"},
    {"dashed toplabel", "v=spf1 a:foo.example.xn--zckzah", 0,
     "+:a:foo.example.xn--zckzah/32/128"},
    {"domain ends in macro", "v=spf1 a:%{H}", 0, "+:a:%{H}/32/128"},
    {"domain trailing dot", "v=spf1 include:o.spf.example.com.", 0,
     "+:include:o.spf.example.com./32/128"},
    {"redirect and exp", "v=spf1 exp=e.%{d} redirect=_spf.example.com", 0,
     "redirect=_spf.example.com exp=e.%{d}"},
    {"modifier case", "v=spf1 REDIRECT=x.example.com", 0,
     "redirect=x.example.com"},
    {"unknown modifier ignored", "v=spf1 moo.cow-far_out=man:dog/cat -all", 0,
     "-:all:-/32/128"},
    {"unknown modifier any letter", "v=spf1 foo=%{c}%{r}%{t} -all", 0,
     "-:all:-/32/128"},
    {"obsolete default=", "v=spf1 default=+", 0, ""},
    {"spaces", "v=spf1  a   -all  ", 0, "+:a:-/32/128 -:all:-/32/128"},
    /* permerror */
    {"unknown mechanism", "v=spf1 moo", 0, NULL},
    {"error at the end", "v=spf1 ip4:1.2.3.4 -all moo", 0, NULL},
    {"all.", "v=spf1 -all.", 0, NULL},
    {"all:arg", "v=spf1 -all:foobar", 0, NULL},
    {"all/8", "v=spf1 -all/8", 0, NULL},
    {"ptr cidr", "v=spf1 ptr/0 -all", 0, NULL},
    {"ptr empty", "v=spf1 ptr:", 0, NULL},
    {"a empty", "v=spf1 a:", 0, NULL},
    {"a /33", "v=spf1 a/33", 0, NULL},
    {"a //129", "v=spf1 a//129", 0, NULL},
    {"a /24/64", "v=spf1 a/24/64", 0, NULL},
    {"cidr leading zero", "v=spf1 ip4:1.2.3.4/032", 0, NULL},
    {"ip4 /33", "v=spf1 ip4:1.2.3.4/33", 0, NULL},
    {"ip4 //32", "v=spf1 ip4:1.2.3.4//32", 0, NULL},
    {"ip4 port", "v=spf1 ip4:1.2.3.4:8080", 0, NULL},
    {"ip4 short", "v=spf1 ip4:1.2.3", 0, NULL},
    {"ip4 leading zero", "v=spf1 ip4:01.2.3.4", 0, NULL},
    {"ip4 bare", "v=spf1 ip4", 0, NULL},
    {"ip4 300", "v=spf1 ip4:300.1.1.1", 0, NULL},
    {"ip6 bare", "v=spf1 -all ip6", 0, NULL},
    {"ip6 /129", "v=spf1 ip6:::1.1.1.1/129", 0, NULL},
    {"ip6 //33", "v=spf1 ip6:::1.1.1.1//33", 0, NULL},
    {"ip6 bad", "v=spf1 ip6::CAFE::BABE", 0, NULL},
    {"include no domain", "v=spf1 include -all", 0, NULL},
    {"include empty", "v=spf1 include: -all", 0, NULL},
    {"include cidr", "v=spf1 include:ip5.example.com/24", 0, NULL},
    {"exists no domain", "v=spf1 exists", 0, NULL},
    {"exists cidr", "v=spf1 exists:mail.example.com/24", 0, NULL},
    {"numeric toplabel", "v=spf1 a:111.222.33.44", 0, NULL},
    {"abc.123", "v=spf1 a:abc.123", 0, NULL},
    {"single label", "v=spf1 a:museum", 0, NULL},
    {"single label dot", "v=spf1 a:museum.", 0, NULL},
    {"dash toplabel", "v=spf1 a:example.-com", 0, NULL},
    {"port in domain", "v=spf1 a:example.com:8080", 0, NULL},
    {"redirect is a modifier", "v=spf1 redirect:t2.example.com", 0, NULL},
    {"duplicate redirect",
     "v=spf1 redirect=a.example.com redirect=b.example.com", 0, NULL},
    {"duplicate exp", "v=spf1 exp=a.example.com exp=b.example.com", 0, NULL},
    {"empty exp", "v=spf1 exp= -all", 0, NULL},
    {"empty redirect", "v=spf1 ?all redirect=", 0, NULL},
    {"exp bad domain", "v=spf1 exp=-all", 0, NULL},
    {"redirect bad domain", "v=spf1 redirect=-all ?all", 0, NULL},
    {"r macro in domain", "v=spf1 -all exp=%{r}.example.com", 0, NULL},
    {"bad macro", "v=spf1 -exists:%(ir).sbl.example.com", 0, NULL},
    {"unknown modifier bad macro", "v=spf1 -all foo=%abc", 0, NULL},
    {"modifier name digit", "v=spf1 1up=foo", 0, NULL},
    {"modifier name empty", "v=spf1 =all", 0, NULL},
    {"slash before =", "v=spf1 moo.cow/far_out=man:dog/cat", 0, NULL},
    {"colon before =", "v=spf1 moo.cow:far_out=man:dog/cat", 0, NULL},
    {"NUL in record", "v=spf1 a:foo.example.com\0", 25, NULL},
    {"NUL mid record", "v=spf1 -all\0 +all", 17, NULL},
    {"CR separator", "v=spf1 a:ctrl.example.com\rptr -all", 0, NULL},
    {"LF after ip4", "v=spf1 ip4:192.0.2.5\n include:x.example.com", 0, NULL},
    {"8-bit in term",
     "v=spf1 \x80"
     "a:example.net -all",
     0, NULL},
    {"8-bit in domain", "v=spf1 a:\xEF\xBB\xBFgarbage.example.net", 0, NULL},
    {"tab separator", "v=spf1\ta -all", 0, NULL},
    {"not spf", "v=spf10", 0, NULL},
    {"no space after version", "v=spf1mx", 0, NULL},
};

static void
summary(const struct spf_record *r, char *out, size_t len)
{
	static const char *names[] = {"all", "include", "a",   "mx",
				      "ptr", "ip4",	"ip6", "exists"};
	static const char quals[] = "+-~?";
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < r->nmech; i++) {
		const struct spf_mech *m = &r->mech[i];
		char dom[300];
		if (m->type == SPF_MECH_IP4)
			inet_ntop(AF_INET, &m->ip4, dom, sizeof dom);
		else if (m->type == SPF_MECH_IP6)
			inet_ntop(AF_INET6, &m->ip6, dom, sizeof dom);
		else
			snprintf(dom, sizeof dom, "%s",
				 m->domain != NULL ? m->domain : "-");
		o += (size_t)snprintf(out + o, len - o, "%s%c:%s:%s/%u/%u",
				      o > 0 ? " " : "", quals[m->qual],
				      names[m->type], dom, m->cidr4, m->cidr6);
	}
	if (r->redirect != NULL)
		o += (size_t)snprintf(out + o, len - o, "%sredirect=%s",
				      o > 0 ? " " : "", r->redirect);
	if (r->exp != NULL)
		snprintf(out + o, len - o, "%sexp=%s", o > 0 ? " " : "",
			 r->exp);
}

static void
test_cases(void **state)
{
	char got[2048], why[120];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct spf_record *r = NULL;
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].rec);
		int rc =
		    spf_record_parse(cases[i].rec, len, &r, why, sizeof why);
		if (cases[i].want == NULL) {
			if (rc != AM_EINVAL || r != NULL)
				fail_msg("%s: want a syntax error, got %d",
					 cases[i].name, rc);
			if (why[0] == '\0')
				fail_msg("%s: no reason given", cases[i].name);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: parse failed: %s", cases[i].name, why);
		summary(r, got, sizeof got);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name,
				 got, cases[i].want);
		spf_record_free(r);
	}
}

static void
test_is_spf(void **state)
{
	static const struct {
		const char *s;
		bool want;
	} c[] = {
	    {"v=spf1", true},      {"v=spf1 -all", true},
	    {"V=SPF1 -all", true},
	    {"v=spf10", false}, {"v=spf1-all", false}, {"spf1", false},
	    {" v=spf1", false}, {"", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
		if (spf_record_is_spf(c[i].s, strlen(c[i].s)) != c[i].want)
			fail_msg("is_spf(\"%s\") wrong", c[i].s);
}

static void
test_caps(void **state)
{
	static char big[SPF_RECORD_MAX + 100];
	struct spf_record *r = NULL;
	size_t o;

	(void)state;
	/* Over the size cap. */
	o = (size_t)snprintf(big, sizeof big, "v=spf1");
	while (o + 5 < sizeof big - 1)
		o += (size_t)snprintf(big + o, sizeof big - o, " -all");
	assert_int_equal(spf_record_parse(big, strlen(big), &r, NULL, 0),
			 AM_EINVAL);
	assert_null(r);
	/* Over the term cap, under the size cap. */
	o = (size_t)snprintf(big, sizeof big, "v=spf1");
	for (int i = 0; i < SPF_RECORD_MAX_TERMS + 1; i++)
		o += (size_t)snprintf(big + o, sizeof big - o, " a");
	assert_true(o <= SPF_RECORD_MAX);
	assert_int_equal(spf_record_parse(big, o, &r, NULL, 0), AM_EINVAL);
	/* At the term cap it parses. */
	o = (size_t)snprintf(big, sizeof big, "v=spf1");
	for (int i = 0; i < SPF_RECORD_MAX_TERMS; i++)
		o += (size_t)snprintf(big + o, sizeof big - o, " a");
	assert_int_equal(spf_record_parse(big, o, &r, NULL, 0), 0);
	assert_int_equal(r->nmech, SPF_RECORD_MAX_TERMS);
	spf_record_free(r);
	spf_record_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_is_spf),
	    cmocka_unit_test(test_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
