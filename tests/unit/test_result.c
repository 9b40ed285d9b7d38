/* SPDX-License-Identifier: BSD-2-Clause */
/* test_result - names of results and actions, and action parsing */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "result.h"

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(am_result_str(AM_R_PASS), "pass");
	assert_string_equal(am_result_str(AM_R_TEMPERROR), "temperror");
	assert_string_equal(am_result_str(AM_R_PERMERROR), "permerror");
	assert_string_equal(am_result_str((enum am_result)99), "unknown");
	assert_string_equal(am_action_str(AM_ACT_QUARANTINE), "quarantine");
}

static void
test_parse(void **state)
{
	static const struct {
		const char *in;
		int want;
	} cases[] = {
		{"reject", AM_ACT_REJECT},     {"TempFail", AM_ACT_TEMPFAIL},
		{"quarantine", AM_ACT_QUARANTINE}, {"tag", AM_ACT_TAG},
		{"none", AM_ACT_NONE},         {"discard", -1},
		{"", -1},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_int_equal(am_action_parse(cases[i].in), cases[i].want);
	assert_true(AM_ACT_REJECT > AM_ACT_TEMPFAIL);
	assert_true(AM_ACT_TEMPFAIL > AM_ACT_QUARANTINE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
