/* SPDX-License-Identifier: BSD-2-Clause */
/* test_spf_macro - macro expansion: the RFC 7208 s. 7.4 examples, syntax */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "amerr.h"
#include "spf_macro.h"

/* RFC 7208 s. 7.4: sender strong-bad@email.example.com, IP 192.0.2.3. */
static const struct spf_macro_env env4 = {
    .sender = "strong-bad@email.example.com",
    .local = "strong-bad",
    .odomain = "email.example.com",
    .domain = "email.example.com",
    .ip = "192.0.2.3",
    .client = "192.0.2.3",
    .ptr = "mx.example.org",
    .version = "in-addr",
    .helo = "mx.example.org",
    .receiver = "receiver.example.net",
    .timestamp = "1700000000",
};

/* The same with IP 2001:db8::cb01. */
static const struct spf_macro_env env6 = {
    .sender = "strong-bad@email.example.com",
    .local = "strong-bad",
    .odomain = "email.example.com",
    .domain = "email.example.com",
    .ip = "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1",
    .client = "2001:db8::cb01",
    .ptr = "unknown",
    .version = "ip6",
    .helo = "mx.example.org",
    .receiver = "receiver.example.net",
    .timestamp = "1700000000",
};

static const struct {
	const char *name;
	const struct spf_macro_env *env;
	const char *in;
	unsigned int flags;
	const char *want; /* NULL: syntax error */
} cases[] = {
    /* RFC 7208 s. 7.4, in its order */
    {"s", &env4, "%{s}", 0, "strong-bad@email.example.com"},
    {"o", &env4, "%{o}", 0, "email.example.com"},
    {"d", &env4, "%{d}", 0, "email.example.com"},
    {"d4", &env4, "%{d4}", 0, "email.example.com"},
    {"d3", &env4, "%{d3}", 0, "email.example.com"},
    {"d2", &env4, "%{d2}", 0, "example.com"},
    {"d1", &env4, "%{d1}", 0, "com"},
    {"dr", &env4, "%{dr}", 0, "com.example.email"},
    {"d2r", &env4, "%{d2r}", 0, "example.email"},
    {"l", &env4, "%{l}", 0, "strong-bad"},
    {"l-", &env4, "%{l-}", 0, "strong.bad"},
    {"lr", &env4, "%{lr}", 0, "strong-bad"},
    {"lr-", &env4, "%{lr-}", 0, "bad.strong"},
    {"l1r-", &env4, "%{l1r-}", 0, "strong"},
    {"ir.v._spf.d2", &env4, "%{ir}.%{v}._spf.%{d2}", 0,
     "3.2.0.192.in-addr._spf.example.com"},
    {"lr-.lp._spf.d2", &env4, "%{lr-}.lp._spf.%{d2}", 0,
     "bad.strong.lp._spf.example.com"},
    {"lr-.lp.ir.v._spf.d2", &env4, "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", 0,
     "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
    {"ir.v.l1r-.lp._spf.d2", &env4, "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", 0,
     "3.2.0.192.in-addr.strong.lp._spf.example.com"},
    {"d2.trusted", &env4, "%{d2}.trusted-domains.example.net", 0,
     "example.com.trusted-domains.example.net"},
    {"ipv6 ir.v._spf.d2", &env6, "%{ir}.%{v}._spf.%{d2}", 0,
     "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
     ".ip6._spf.example.com"},
    /* escapes, upper case = URL-escape, exp-only letters */
    {"%% %_ %-", &env4, "a%%b%_c%-d", 0, "a%b c%20d"},
    {"upper L", &env4, "%{L}", 0, "strong-bad"},
    {"upper S", &env4, "%{S}", 0, "strong-bad%40email.example.com"},
    {"upper unreserved", &env4, "x%{S}", 0, "xstrong-bad%40email.example.com"},
    {"c in exp", &env6, "%{c}", SPF_MACRO_EXP, "2001:db8::cb01"},
    {"r in exp", &env4, "%{r}", SPF_MACRO_EXP, "receiver.example.net"},
    {"t in exp", &env4, "%{t}", SPF_MACRO_EXP, "1700000000"},
    {"spaces in exp", &env4, "%{i} is not ok", SPF_MACRO_EXP,
     "192.0.2.3 is not ok"},
    {"p", &env4, "%{p}", 0, "mx.example.org"},
    {"h", &env4, "%{h}", 0, "mx.example.org"},
    {"big count", &env4, "%{d99999999999}", 0, "email.example.com"},
    {"multi delim", &env4, "%{l2r+-}", 0, "bad.strong"},
    /* syntax errors */
    {"c outside exp", &env4, "%{c}", 0, NULL},
    {"r outside exp", &env4, "%{r}.example.com", 0, NULL},
    {"t outside exp", &env4, "%{t}", 0, NULL},
    {"unknown letter", &env4, "%{a}", 0, NULL},
    {"zero count", &env4, "%{d0}", 0, NULL},
    {"bare percent", &env4, "foo%.bar", 0, NULL},
    {"trailing percent", &env4, "foo%", 0, NULL},
    {"%( not %{", &env4, "%(ir).sbl", 0, NULL},
    {"unclosed", &env4, "%{d", 0, NULL},
    {"bad delimiter", &env4, "%{d*}", 0, NULL},
    {"space outside exp", &env4, "a b", 0, NULL},
    {"8-bit", &env4, "a\x96", SPF_MACRO_EXP, NULL},
    {"control", &env4, "a\rb", SPF_MACRO_EXP, NULL},
};

static void
test_cases(void **state)
{
	char out[SPF_MACRO_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = spf_macro_expand(cases[i].in, strlen(cases[i].in),
					  cases[i].env, cases[i].flags, out,
					  sizeof out);
		int chk = spf_macro_check(cases[i].in, strlen(cases[i].in),
					  cases[i].flags);
		if (cases[i].want == NULL) {
			if (rc != AM_EINVAL || chk != AM_EINVAL)
				fail_msg("%s: want a syntax error, got %d/%d",
					 cases[i].name, rc, chk);
			continue;
		}
		if (rc < 0 || chk != 0 || strcmp(out, cases[i].want) != 0)
			fail_msg("%s: got %d \"%s\", want \"%s\"",
				 cases[i].name, rc, rc < 0 ? "" : out,
				 cases[i].want);
		assert_int_equal((size_t)rc, strlen(cases[i].want));
	}
}

static void
test_uses(void **state)
{
	(void)state;
	assert_true(spf_macro_uses("x.%{p}.y", 8, 'p'));
	assert_true(spf_macro_uses("%{P2r}", 6, 'p'));
	assert_false(spf_macro_uses("%%{p}", 5, 'p'));
	assert_false(spf_macro_uses("%{d}", 4, 'p'));
}

static void
test_domain(void **state)
{
	static const struct {
		const char *name;
		const char *in;
		const char *want;
	} dc[] = {
	    {"trailing dot", "example.com.", "example.com"},
	    {"no dot", "example.com", "example.com"},
	};
	char buf[600];

	(void)state;
	for (size_t i = 0; i < sizeof dc / sizeof dc[0]; i++) {
		snprintf(buf, sizeof buf, "%s", dc[i].in);
		spf_macro_domain(buf);
		if (strcmp(buf, dc[i].want) != 0)
			fail_msg("%s: got %s", dc[i].name, buf);
	}
	/* Over 253 octets: labels go from the left (RFC 7208 s. 7.3). */
	size_t off = 0;
	for (int i = 0; i < 30; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s",
					"abcdefghi.");
	snprintf(buf + off, sizeof buf - off, "%s", "example.com");
	spf_macro_domain(buf);
	assert_true(strlen(buf) <= 253);
	assert_true(strlen(buf) > 253 - 10);
	assert_string_equal(buf + strlen(buf) - 11, "example.com");
	assert_int_equal(strncmp(buf, "abcdefghi.", 10), 0);
}

static void
test_overflow(void **state)
{
	char small[8];

	(void)state;
	assert_int_equal(
	    spf_macro_expand("%{s}", 4, &env4, 0, small, sizeof small),
	    AM_ERANGE);
	assert_string_equal(small, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_uses),
	    cmocka_unit_test(test_domain),
	    cmocka_unit_test(test_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
