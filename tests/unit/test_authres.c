/* SPDX-License-Identifier: BSD-2-Clause */
/* test_authres - Authentication-Results rendering, quoting, authserv-id */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "amerr.h"
#include "authres.h"

#ifndef AM_TESTS_DIR
#error "AM_TESTS_DIR must name the tests directory"
#endif

/* One builder call: 'm' method, 'c' comment, 'p' property. */
struct step {
	char kind;
	const char *a, *b, *c;
	int want_rc; /* for 'm' */
};

struct render_case {
	const char *name;
	const char *id;
	struct step steps[12];
	const char *want;
};

static const struct render_case render_cases[] = {
	{"no method", "mx.example.org", {{0}}, "mx.example.org; none"},
	{"spec example", "mx.example.org",
	 {{'m', "iprev", "pass"},
	  {'p', "smtp", "remote-ip", "192.0.2.1"},
	  {'p', "policy", "iprev", "mail.example.com"},
	  {'m', "spf", "pass"},
	  {'p', "smtp", "mailfrom", "example.com"},
	  {'m', "dkim", "pass"},
	  {'p', "header", "d", "example.com"},
	  {'p', "header", "s", "sel1"},
	  {'p', "header", "a", "rsa-sha256"},
	  {'p', "header", "b", "AbCdEf12"},
	  {'m', "dmarc", "pass"},
	  {'c', "p=reject dis=none"}},
	 "mx.example.org;\n"
	 "\tiprev=pass smtp.remote-ip=192.0.2.1 "
	 "policy.iprev=mail.example.com;\n"
	 "\tspf=pass smtp.mailfrom=example.com;\n"
	 "\tdkim=pass header.d=example.com header.s=sel1 header.a=rsa-sha256\n"
	 "\theader.b=AbCdEf12;\n"
	 "\tdmarc=pass (p=reject dis=none)"},
	{"address stays plain", "mx",
	 {{'m', "spf", "fail"}, {'p', "smtp", "mailfrom", "u.x+t@example.com"}},
	 "mx;\n\tspf=fail smtp.mailfrom=u.x+t@example.com"},
	{"single-label domain is quoted", "mx",
	 {{'m', "spf", "fail"}, {'p', "smtp", "mailfrom", "user@localhost"}},
	 "mx;\n\tspf=fail smtp.mailfrom=\"user@localhost\""},
	{"IPv6 is quoted", "mx",
	 {{'m', "iprev", "fail"}, {'p', "smtp", "remote-ip", "2001:db8::1"}},
	 "mx;\n\tiprev=fail smtp.remote-ip=\"2001:db8::1\""},
	{"quote and backslash escaped", "mx",
	 {{'m', "spf", "none"}, {'p', "smtp", "mailfrom", "a\"b\\c@x.org"}},
	 "mx;\n\tspf=none smtp.mailfrom=\"a\\\"b\\\\c@x.org\""},
	{"CR LF and 8-bit dropped", "mx",
	 {{'m', "spf", "none"},
	  {'p', "smtp", "helo", "caf\xc3\xa9\r\nX-Evil: 1"}},
	 "mx;\n\tspf=none smtp.helo=\"cafX-Evil: 1\""},
	{"comment escaped", "mx",
	 {{'m', "dkim", "fail"}, {'c', "a (b) \\ c\r\n"}},
	 "mx;\n\tdkim=fail (a \\(b\\) \\\\ c)"},
	{"quoted values go last", "mx",
	 {{'m', "spf", "pass"},
	  {'p', "smtp", "mailfrom", "a b@x.org"},
	  {'p', "smtp", "helo", "h.example"}},
	 "mx;\n\tspf=pass smtp.helo=h.example smtp.mailfrom=\"a b@x.org\""},
	{"empty value left out", "mx",
	 {{'m', "spf", "none"}, {'p', "smtp", "mailfrom", "\r\n\x01"}},
	 "mx;\n\tspf=none"},
	{"bad method refused, its props ignored", "mx",
	 {{'m', "sp f", "pass", NULL, AM_EINVAL},
	  {'p', "smtp", "mailfrom", "x"},
	  {'m', "spf", "fail;x", NULL, AM_EINVAL},
	  {'m', "dkim", "none"},
	  {'p', "smtp", "mailfrom", "y"}},
	 "mx;\n\tdkim=none smtp.mailfrom=y"},
	{"unregistered ptype and bad property ignored", "mx",
	 {{'m', "spf", "pass"},
	  {'p', "envelope", "from", "x"},
	  {'p', "smtp", "mail from", "x"},
	  {'p', "smtp", "mailfrom", "ok.example"}},
	 "mx;\n\tspf=pass smtp.mailfrom=ok.example"},
	{"authserv-id reduced to a token", "mx \"ex\".org",
	 {{0}}, "mxex.org; none"},
};

static struct authres *
build(const char *id, const struct step *steps, size_t nsteps)
{
	struct authres *ar = authres_new(id);

	assert_non_null(ar);
	for (size_t i = 0; i < nsteps && steps[i].kind != 0; i++) {
		const struct step *s = &steps[i];

		if (s->kind == 'm')
			assert_int_equal(authres_method(ar, s->a, s->b),
					 s->want_rc);
		else if (s->kind == 'c')
			authres_comment(ar, s->a);
		else
			authres_prop(ar, s->a, s->b, s->c);
	}
	return ar;
}

static void
test_render(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof render_cases / sizeof render_cases[0];
	     i++) {
		const struct render_case *rc = &render_cases[i];
		struct authres *ar = build(rc->id, rc->steps, 12);
		char *out = authres_render(ar);

		assert_non_null(out);
		if (strcmp(out, rc->want) != 0)
			fail_msg("%s: got\n%s\nwant\n%s", rc->name, out,
				 rc->want);
		free(out);
		authres_free(ar);
	}
}

static void
test_max_methods(void **state)
{
	struct authres *ar = authres_new("mx");
	char *out;

	(void)state;
	for (int i = 0; i < AUTHRES_MAX_METHODS; i++)
		assert_int_equal(authres_method(ar, "dkim", "pass"), 0);
	assert_int_equal(authres_method(ar, "spf", "pass"), AM_ERANGE);
	authres_prop(ar, "smtp", "mailfrom", "lost.example");
	assert_int_equal(authres_count(ar), AUTHRES_MAX_METHODS);
	out = authres_render(ar);
	assert_non_null(out);
	assert_null(strstr(out, "lost.example"));
	assert_null(strstr(out, "spf"));
	free(out);
	authres_free(ar);
	authres_free(NULL);
}

static void
test_authserv_id(void **state)
{
	static const struct {
		const char *name;
		const char *in;
		size_t outlen;
		int want_rc;
		const char *want;
	} cases[] = {
		{"plain", "mx.example.org; spf=pass", 256, 0,
		 "mx.example.org"},
		{"leading space (LEADSPC)", " mx.example.org;", 256, 0,
		 "mx.example.org"},
		{"comment first", "(c) mx.example.org; none", 256, 0,
		 "mx.example.org"},
		{"nested comment, folding, version",
		 "(a (b) \\) c)\r\n\t mx.example.org 1; none", 256, 0,
		 "mx.example.org"},
		{"quoted", "\"mx.example.org\"; none", 256, 0,
		 "mx.example.org"},
		{"quoted with pair", "\"mx\\\"x\"; none", 256, 0, "mx\"x"},
		{"case kept", "MX.Example.ORG;", 256, 0, "MX.Example.ORG"},
		{"empty", "", 256, -1, ""},
		{"no id", "; spf=pass", 256, -1, ""},
		{"only a comment", " (mx.example.org)", 256, -1, ""},
		{"unterminated comment", "(mx.example.org; none", 256, -1,
		 ""},
		{"unterminated quote", "\"mx.example.org; none", 256, -1, ""},
		{"does not fit", "mx.example.org;", 8, -1, ""},
		{"fits exactly", "mx.example.org;", 15, 0, "mx.example.org"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[256];
		int rc = authres_authserv_id(cases[i].in, out,
					     cases[i].outlen);

		if (rc != cases[i].want_rc || strcmp(out, cases[i].want) != 0)
			fail_msg("%s: rc %d id \"%s\"", cases[i].name, rc,
				 out);
	}
}

/* Hostile values, and a deterministic stream of random octets. */
static const char *const hostile[] = {
	"\"", "\\", "\"\\\"", "a\r\nX-Injected: yes", "\r\n\r\n", "\n\t",
	"caf\xc3\xa9", "\xff\xfe\x80", "(", ")", "(()", "a;b", "a; dkim=pass",
	"x=y", "@", "@@", "a@", "@b.c", "a@b@c.d", ".", "..", "a..b@c.d",
	"-a.b", "a.b-", " ", "  lead", "trail  ", "\t", "%s%n", "<a@b.c>",
	"a,b", "[1.2.3.4]", "2001:db8::1", "none", ";", "=", "/", "?",
	"\x01\x02\x03", "é", "UTF8 \xe2\x80\x8f RTL",
};

static uint32_t rng = 2463534242U;

static uint32_t
xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static void
put_hex(FILE *f, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x", (unsigned char)s[i]);
	if (len == 0)
		fputs("00", f); /* an empty field; the checker sees "\0" */
	fputc(' ', f);
}

/* Render one header of hostile values and hand the case to the checker. */
static void
hostile_case(FILE *f, const char **vals, const size_t *lens, size_t nvals,
	     size_t nmethods)
{
	static const char *const props[][2] = {
		{"smtp", "mailfrom"}, {"smtp", "helo"}, {"header", "from"},
		{"header", "b"}, {"policy", "iprev"}, {"smtp", "remote-ip"},
	};
	struct authres *ar = authres_new("mx.example.org");
	char *out, name[64];
	size_t k = 0;

	assert_non_null(ar);
	for (size_t m = 0; m < nmethods; m++) {
		assert_int_equal(authres_method(ar, "dkim", "fail"), 0);
		authres_comment(ar, vals[k % nvals]);
		for (size_t p = 0; p < 3; p++, k++) {
			const char *const *pr = props[(m + p) % 6];
			char *v = strndup(vals[k % nvals], lens[k % nvals]);

			assert_non_null(v);
			authres_prop(ar, pr[0], pr[1], v);
			free(v);
		}
	}
	out = authres_render(ar);
	assert_non_null(out);
	put_hex(f, out, strlen(out));
	put_hex(f, "mx.example.org", 14);
	/* past the cap, trailing resinfos are left out */
	fprintf(f, "%s%zu ", strlen(out) > 7000 ? "-" : "", nmethods);
	k = 0;
	for (size_t m = 0; m < nmethods; m++)
		for (size_t p = 0; p < 3; p++, k++) {
			const char *const *pr = props[(m + p) % 6];

			snprintf(name, sizeof name, "%s.%s", pr[0], pr[1]);
			/* one method per case keeps property names unique */
			if (nmethods == 1) {
				put_hex(f, name, strlen(name));
				put_hex(f, vals[k % nvals],
					strnlen(vals[k % nvals],
						lens[k % nvals]));
			}
		}
	fputc('\n', f);
	free(out);
	authres_free(ar);
}

static void
test_hostile_python(void **state)
{
	const char *cmd = "/usr/bin/python3 " AM_TESTS_DIR
			  "/unit/authres_check.py";
	size_t nh = sizeof hostile / sizeof hostile[0];
	const char *vals[3];
	size_t lens[3];
	char rnd[3][1200];
	FILE *f;
	int st;

	(void)state;
	f = popen(cmd, "w");
	assert_non_null(f);
	/* every hostile value, alone and in threes */
	for (size_t i = 0; i < nh; i++) {
		for (int j = 0; j < 3; j++) {
			vals[j] = hostile[(i + (size_t)j * 7) % nh];
			lens[j] = strlen(vals[j]);
		}
		hostile_case(f, vals, lens, 3, 1);
	}
	/* random octets (NUL cut the string short), short and very long */
	for (int i = 0; i < 200; i++) {
		for (int j = 0; j < 3; j++) {
			size_t len = xorshift() % (i < 100 ? 40 : 1100);

			for (size_t b = 0; b < len; b++) {
				uint32_t r = xorshift();

				/* mostly the dangerous printable set */
				rnd[j][b] = (r & 3)
						    ? "\"\\();:@.= \r\n\tax-"
							      [(r >> 8) % 16]
						    : (char)(r >> 16);
				if (rnd[j][b] == '\0')
					rnd[j][b] = 'z';
			}
			rnd[j][len] = '\0';
			vals[j] = rnd[j];
			lens[j] = len;
		}
		hostile_case(f, vals, lens, 3, 1 + (size_t)(i % 3 == 0) * 31);
	}
	st = pclose(f);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* Which existing headers are forgeries of ours (mx.test). */
static void
test_is_ours(void **state)
{
	static const struct {
		const char *value;
		bool ours;
	} cases[] = {
		{ "mx.test; spf=pass", true },
		{ "MX.Test; spf=pass", true },
		{ "mx.test.; spf=pass", true },
		{ "\"mx.test\"; dmarc=pass", true },
		{ "(c) mx.test (d); dkim=pass", true },
		{ " mx.test\r\n\t1; dmarc=pass", true },
		{ "mx.test..; spf=pass", false },
		{ "mx.test.evil; spf=pass", false },
		{ "sub.mx.test; spf=pass", false },
		{ "; spf=pass", false },
		{ "", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		print_message("case: %s\n", cases[i].value);
		assert_int_equal(authres_is_ours(cases[i].value, "mx.test"),
				 cases[i].ours);
	}
	assert_true(authres_is_ours("mx.test; none", "mx.test."));
	assert_false(authres_is_ours("mx.test; none", NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_max_methods),
		cmocka_unit_test(test_authserv_id),
		cmocka_unit_test(test_is_ours),
		cmocka_unit_test(test_hostile_python),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
