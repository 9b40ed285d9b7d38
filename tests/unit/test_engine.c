/* SPDX-License-Identifier: BSD-2-Clause */
/* test_engine - the envelope sender as the checks see it */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_sender),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
