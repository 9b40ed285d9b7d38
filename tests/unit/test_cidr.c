/* SPDX-License-Identifier: BSD-2-Clause */
/* test_cidr - network parsing, matching, IPv4-mapped addresses, lists */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "amerr.h"
#include "cidr.h"

static const struct {
	const char *name;
	const char *text;
	int rc;          /* 0 or AM_EINVAL */
	const char *err; /* wanted reason when rc != 0 */
	int family;
	unsigned int len;
} parse_cases[] = {
	{"v4 host", "192.0.2.1", 0, NULL, AF_INET, 32},
	{"v4 net", "192.0.2.0/24", 0, NULL, AF_INET, 24},
	{"v4 zero", "0.0.0.0/0", 0, NULL, AF_INET, 0},
	{"v6 host", "::1", 0, NULL, AF_INET6, 128},
	{"v6 net", "2001:db8::/32", 0, NULL, AF_INET6, 32},
	{"v4 len 33", "10.0.0.0/33", AM_EINVAL, "bad prefix length", 0, 0},
	{"v6 len 129", "::/129", AM_EINVAL, "bad prefix length", 0, 0},
	{"empty len", "10.0.0.0/", AM_EINVAL, "bad prefix length", 0, 0},
	{"signed len", "10.0.0.0/+8", AM_EINVAL, "bad prefix length", 0, 0},
	{"junk len", "10.0.0.0/8x", AM_EINVAL, "bad prefix length", 0, 0},
	{"short v4", "10.0.0/8", AM_EINVAL, "bad address", 0, 0},
	{"name", "localhost", AM_EINVAL, "bad address", 0, 0},
	{"empty", "", AM_EINVAL, "empty network", 0, 0},
	{"only slash", "/8", AM_EINVAL, "bad address", 0, 0},
};

static void
test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0];
	     i++) {
		struct cidr c;
		char err[128] = "";
		int rc = cidr_parse(parse_cases[i].text, &c, err, sizeof err);

		if (rc != parse_cases[i].rc)
			fail_msg("case %s: rc %d", parse_cases[i].name, rc);
		if (rc != 0) {
			assert_string_equal(err, parse_cases[i].err);
			continue;
		}
		assert_int_equal(c.family, parse_cases[i].family);
		assert_int_equal(c.len, parse_cases[i].len);
	}
}

static const struct {
	const char *name;
	const char *net;
	const char *addr;
	bool want;
} match_cases[] = {
	{"in /8", "127.0.0.0/8", "127.255.0.1", true},
	{"out /8", "127.0.0.0/8", "128.0.0.1", false},
	{"host bits cleared", "10.1.2.3/16", "10.1.200.200", true},
	{"odd prefix in", "192.0.2.0/25", "192.0.2.127", true},
	{"odd prefix out", "192.0.2.0/25", "192.0.2.128", false},
	{"/0 matches all", "0.0.0.0/0", "203.0.113.9", true},
	{"/32 exact", "192.0.2.1", "192.0.2.1", true},
	{"/32 other", "192.0.2.1", "192.0.2.2", false},
	{"v6 in", "2001:db8::/32", "2001:db8:ffff::1", true},
	{"v6 out", "2001:db8::/32", "2001:db9::1", false},
	{"v6 /127", "2001:db8::/127", "2001:db8::1", true},
	{"mapped v4", "127.0.0.0/8", "::ffff:127.0.0.1", true},
	{"mapped v4 out", "10.0.0.0/8", "::ffff:127.0.0.1", false},
	{"v4 net, v6 addr", "0.0.0.0/0", "::1", false},
	{"v6 net, v4 addr", "::/0", "127.0.0.1", false},
};

static void
test_match(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof match_cases / sizeof match_cases[0];
	     i++) {
		struct cidr c;
		unsigned char a[16];
		char err[128];
		int fam = strchr(match_cases[i].addr, ':') ? AF_INET6 : AF_INET;

		assert_int_equal(cidr_parse(match_cases[i].net, &c, err,
					    sizeof err), 0);
		assert_int_equal(inet_pton(fam, match_cases[i].addr, a), 1);
		if (cidr_match(&c, fam, a) != match_cases[i].want)
			fail_msg("case %s", match_cases[i].name);
	}
}

static void
test_list(void **state)
{
	struct cidr_list l = {NULL, 0};
	struct cidr c;
	unsigned char a[4] = {10, 9, 8, 7};
	char err[64];

	(void)state;
	assert_false(cidr_list_match(&l, AF_INET, a));
	assert_int_equal(cidr_parse("192.168.0.0/16", &c, err, sizeof err), 0);
	assert_int_equal(cidr_list_add(&l, &c), 0);
	assert_false(cidr_list_match(&l, AF_INET, a));
	assert_int_equal(cidr_parse("10.0.0.0/8", &c, err, sizeof err), 0);
	assert_int_equal(cidr_list_add(&l, &c), 0);
	assert_true(cidr_list_match(&l, AF_INET, a));
	for (size_t i = l.n; i < CIDR_MAX_LIST; i++)
		assert_int_equal(cidr_list_add(&l, &c), 0);
	assert_int_equal(cidr_list_add(&l, &c), AM_ERANGE);
	assert_int_equal(l.n, CIDR_MAX_LIST);
	cidr_list_free(&l);
	assert_null(l.v);
	assert_int_equal(l.n, 0);
	cidr_list_free(NULL);
	assert_false(cidr_list_match(NULL, AF_INET, a));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
