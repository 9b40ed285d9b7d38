/* SPDX-License-Identifier: BSD-2-Clause */
/* test_arread - the SPF result of an upstream A-R header, named cases */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arread.h"

static const struct acase {
	const char *name;
	const char *value;
	int status;
	const char *id;
	enum am_result result;
	const char *domain;
} cases[] = {
    {"plain", "mx1.example; spf=pass smtp.mailfrom=user@Example.COM",
     ARREAD_OK, "mx1.example", AM_R_PASS, "example.com"},
    {"folded, comments, version, other methods",
     "mx1.example 1;\r\n\tiprev=pass (ok) policy.iprev=192.0.2.1;\r\n"
     "\tspf=fail (mechanism -all matched) smtp.mailfrom=example.net;\r\n"
     "\tdkim=pass header.d=example.net header.b=Ab/+=",
     ARREAD_OK, "mx1.example", AM_R_FAIL, "example.net"},
    {"quoted id and quoted local part",
     "\"mx1.example\"; spf=softfail smtp.mailfrom=\"a b\"@example.org.",
     ARREAD_OK, "mx1.example", AM_R_SOFTFAIL, "example.org"},
    {"domain only", "mx1.example; SPF = Pass reason=\"ok\" "
     "smtp.mailfrom = example.com", ARREAD_OK, "mx1.example", AM_R_PASS,
     "example.com"},
    {"temperror", "mx1.example; spf=temperror smtp.mailfrom=example.com",
     ARREAD_OK, "mx1.example", AM_R_TEMPERROR, "example.com"},
    {"none (no-result)", "mx1.example; none", ARREAD_NOSPF, "mx1.example",
     AM_R_NONE, ""},
    {"no spf", "mx1.example; dkim=pass header.d=example.com", ARREAD_NOSPF,
     "mx1.example", AM_R_NONE, ""},
    {"spf for the helo only", "mx1.example; spf=pass smtp.helo=mx.example",
     ARREAD_NOSPF, "mx1.example", AM_R_NONE, ""},
    {"two spf results: ambiguous", "mx1.example; spf=fail "
     "smtp.mailfrom=a.example; spf=pass smtp.mailfrom=b.example",
     ARREAD_NOSPF, "mx1.example", AM_R_NONE, ""},
    {"unknown spf result", "mx1.example; spf=policy smtp.mailfrom=a.example",
     ARREAD_NOSPF, "mx1.example", AM_R_NONE, ""},
    {"mailfrom not a host name", "mx1.example; spf=pass "
     "smtp.mailfrom=a@[192.0.2.1]", ARREAD_NOSPF, "mx1.example", AM_R_NONE,
     ""},
    {"two mailfrom in one resinfo", "mx1.example; spf=pass "
     "smtp.mailfrom=a.example smtp.mailfrom=b.example", ARREAD_EINVAL, NULL,
     AM_R_NONE, ""},
    {"no resinfo", "mx1.example", ARREAD_EINVAL, NULL, AM_R_NONE, ""},
    {"missing result", "mx1.example; spf= smtp.mailfrom=a.example",
     ARREAD_EINVAL, NULL, AM_R_NONE, ""},
    {"property without a dot", "mx1.example; spf=pass mailfrom=a.example",
     ARREAD_EINVAL, NULL, AM_R_NONE, ""},
    {"unterminated comment", "mx1.example; spf=pass (x smtp.mailfrom=a.b",
     ARREAD_EINVAL, NULL, AM_R_NONE, ""},
    {"unterminated quote", "mx1.example; spf=pass smtp.mailfrom=\"a.b",
     ARREAD_EINVAL, NULL, AM_R_NONE, ""},
    {"empty last label (found by fuzzing)",
     "\"mdkix.xxample\"; spf=softfail smtp.mailfrom=\"a b\"@example..",
     ARREAD_NOSPF, "mdkix.xxample", AM_R_NONE, ""},
    {"empty quoted id (found by fuzzing)",
     "\"\"; spf=fail smtp.mailfrom=example.com", ARREAD_EINVAL, NULL,
     AM_R_NONE, ""},
    {"text after none", "mx1.example; none spf=pass", ARREAD_EINVAL, NULL,
     AM_R_NONE, ""},
    {"8-bit octet in a value", "mx1.example; spf=pass "
     "smtp.mailfrom=a@b\xc3\xa4nk.test", ARREAD_EINVAL, NULL, AM_R_NONE, ""},
    {"comments too deep", "mx1.example; spf=pass (((((((((x))))))))) "
     "smtp.mailfrom=a.example", ARREAD_EINVAL, NULL, AM_R_NONE, ""},
    {"comments at the cap", "mx1.example; spf=pass ((((((((x)))))))) "
     "smtp.mailfrom=a.example", ARREAD_OK, "mx1.example", AM_R_PASS,
     "a.example"},
};

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct acase *c = &cases[i];
		struct arread_spf a;

		print_message("case: %s\n", c->name);
		assert_int_equal(arread_spf(c->value, &a), c->status);
		if (c->id != NULL)
			assert_string_equal(a.id, c->id);
		assert_int_equal(a.result, c->result);
		assert_string_equal(a.domain, c->domain);
	}
}

/* Every cap fails closed: the header is not read at all. */
static void
test_caps(void **state)
{
	size_t n = ARREAD_MAX_INPUT + 64, k;
	char *v = malloc(n + 1);
	struct arread_spf a;

	(void)state;
	assert_non_null(v);
	/* over ARREAD_MAX_INPUT octets: a long comment before the result */
	k = (size_t)snprintf(v, n, "mx1.example; spf=pass (");
	memset(v + k, 'x', ARREAD_MAX_INPUT);
	k += ARREAD_MAX_INPUT;
	snprintf(v + k, n + 1 - k, ") smtp.mailfrom=a.example");
	assert_int_equal(arread_spf(v, &a), ARREAD_EINVAL);
	assert_string_equal(a.domain, "");

	/* more than ARREAD_MAX_RESINFO resinfos */
	k = (size_t)snprintf(v, n, "mx1.example; spf=pass "
				   "smtp.mailfrom=a.example");
	for (int i = 0; i < ARREAD_MAX_RESINFO; i++)
		k += (size_t)snprintf(v + k, n - k, "; x=pass");
	assert_int_equal(arread_spf(v, &a), ARREAD_EINVAL);
	v[k - 8] = '\0'; /* one fewer: at the cap */
	assert_int_equal(arread_spf(v, &a), ARREAD_OK);

	/* more than ARREAD_MAX_PROPS properties in one resinfo */
	k = (size_t)snprintf(v, n, "mx1.example; spf=pass "
				   "smtp.mailfrom=a.example");
	for (int i = 0; i < ARREAD_MAX_PROPS; i++)
		k += (size_t)snprintf(v + k, n - k, " x.y=z");
	assert_int_equal(arread_spf(v, &a), ARREAD_EINVAL);

	/* a value over 255 octets */
	k = (size_t)snprintf(v, n, "mx1.example; spf=pass smtp.mailfrom=");
	memset(v + k, 'a', 300);
	v[k + 300] = '\0';
	assert_int_equal(arread_spf(v, &a), ARREAD_EINVAL);
	free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
