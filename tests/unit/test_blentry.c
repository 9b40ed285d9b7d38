/* SPDX-License-Identifier: BSD-2-Clause */
/* test_blentry - postscreen DNSBL syntax: filters, ranges, weights */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "amerr.h"
#include "blentry.h"

static const struct {
	const char *name;
	const char *text;
	const char *zone;   /* NULL: parsing must fail */
	int weight;
	const char *err;    /* the reason when parsing fails */
	const char *hit;    /* space-separated answers that match */
	const char *miss;   /* answers that do not */
} cases[] = {
	{"plain", "zen.spamhaus.org", "zen.spamhaus.org", 1, NULL,
	 "127.0.0.2 127.255.255.254", "128.0.0.2 10.0.0.2"},
	{"case, trailing dot", "ZEN.Spamhaus.ORG.", "zen.spamhaus.org", 1,
	 NULL, "127.0.0.1", ""},
	{"exact filter", "b.example.org=127.0.0.4", "b.example.org", 1, NULL,
	 "127.0.0.4", "127.0.0.5 127.0.0.3"},
	{"range*3", "zen.spamhaus.org=127.0.0.[2..11]*3", "zen.spamhaus.org",
	 3, NULL, "127.0.0.2 127.0.0.11 127.0.0.7",
	 "127.0.0.1 127.0.0.12 127.0.1.2"},
	{"alternatives", "x.example.org=127.0.0.[1;3;5..6]", "x.example.org",
	 1, NULL, "127.0.0.1 127.0.0.3 127.0.0.5 127.0.0.6",
	 "127.0.0.2 127.0.0.4 127.0.0.7"},
	{"negative weight", "list.dnswl.org=127.0.[0..255].[1..3]*-2",
	 "list.dnswl.org", -2, NULL, "127.0.9.1 127.0.255.3",
	 "127.0.9.0 127.1.0.1"},
	{"plus weight", "a.example.org*+4", "a.example.org", 4, NULL,
	 "127.0.0.2", ""},
	{"single in brackets", "a.example.org=[127].0.0.[2]",
	 "a.example.org", 1, NULL, "127.0.0.2", "127.0.0.3"},
	{"empty", "", NULL, 0, "empty entry", NULL, NULL},
	{"empty zone", "=127.0.0.2", NULL, 0, "empty zone", NULL, NULL},
	{"one label", "localhost", NULL, 0, "zone needs at least two labels",
	 NULL, NULL},
	{"empty label", "a..example.org", NULL, 0, "empty label in zone",
	 NULL, NULL},
	{"bad char", "a b.example.org", NULL, 0, "bad character in zone",
	 NULL, NULL},
	{"empty filter", "a.example.org=", NULL, 0, "empty filter after '='",
	 NULL, NULL},
	{"three octets", "a.example.org=127.0.2", NULL, 0,
	 "filter needs four octets", NULL, NULL},
	{"five octets", "a.example.org=127.0.0.2.1", NULL, 0,
	 "trailing text in filter", NULL, NULL},
	{"octet 256", "a.example.org=127.0.0.256", NULL, 0,
	 "octet must be a number 0..255", NULL, NULL},
	{"reverse range", "a.example.org=127.0.0.[9..2]", NULL, 0,
	 "range 9..2 is empty", NULL, NULL},
	{"open bracket", "a.example.org=127.0.0.[2..9", NULL, 0,
	 "missing ']' in filter", NULL, NULL},
	{"unbracketed range", "a.example.org=127.0.0.2..9", NULL, 0,
	 "a range needs brackets: [a..b]", NULL, NULL},
	{"bad alternative", "a.example.org=127.0.0.[1;;2]", NULL, 0,
	 "octet must be a number 0..255", NULL, NULL},
	{"weight word", "a.example.org*x", NULL, 0,
	 "weight must be an integer", NULL, NULL},
	{"weight sign only", "a.example.org*-", NULL, 0,
	 "weight must be an integer", NULL, NULL},
	{"weight junk", "a.example.org*3x", NULL, 0,
	 "weight must be an integer", NULL, NULL},
	{"weight big", "a.example.org*1001", NULL, 0,
	 "weight must lie in -1000..1000", NULL, NULL},
	{"weight before filter", "a.example.org*2=127.0.0.2", NULL, 0,
	 "'=filter' must come before '*weight'", NULL, NULL},
	{"too many alternatives",
	 "a.example.org=127.0.0.[1;2;3;4;5;6;7;8;9;10;11;12;13;14;15;16;17;"
	 "18;19;20;21;22;23;24;25;26;27;28;29;30;31;32;33]",
	 NULL, 0, "more than 32 alternatives", NULL, NULL},
};

static void
check_answers(const struct blentry *e, const char *list, bool want,
	      const char *name)
{
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof buf, "%s", list);
	for (tok = strtok_r(buf, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save)) {
		struct in_addr a;

		assert_int_equal(inet_pton(AF_INET, tok, &a), 1);
		if (blentry_match(e, a) != want)
			fail_msg("case %s: %s should %s", name, tok,
				 want ? "match" : "not match");
	}
}

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct blentry e;
		char err[128] = "";
		int rc = blentry_parse(cases[i].text, &e, err, sizeof err);

		if (cases[i].zone == NULL) {
			if (rc != AM_EINVAL || strcmp(err, cases[i].err) != 0)
				fail_msg("case %s: rc %d err \"%s\"",
					 cases[i].name, rc, err);
			assert_null(e.zone);
			assert_null(e.text);
			continue;
		}
		if (rc != 0)
			fail_msg("case %s: %s", cases[i].name, err);
		assert_string_equal(e.zone, cases[i].zone);
		assert_string_equal(e.text, cases[i].text);
		assert_int_equal(e.weight, cases[i].weight);
		check_answers(&e, cases[i].hit, true, cases[i].name);
		check_answers(&e, cases[i].miss, false, cases[i].name);
		blentry_free(&e);
	}
}

static void
test_list(void **state)
{
	struct blentry_list l = {NULL, 0};
	struct blentry e;
	char err[64];

	(void)state;
	for (size_t i = 0; i < BLENTRY_MAX_LIST; i++) {
		assert_int_equal(blentry_parse("a.example.org", &e, err,
					       sizeof err), 0);
		assert_int_equal(blentry_list_add(&l, &e), 0);
		assert_null(e.zone); /* ownership moved */
	}
	assert_int_equal(blentry_parse("b.example.org", &e, err, sizeof err),
			 0);
	assert_int_equal(blentry_list_add(&l, &e), AM_ERANGE);
	blentry_free(&e); /* still the caller's after a failed add */
	assert_int_equal(l.n, BLENTRY_MAX_LIST);
	blentry_list_free(&l);
	assert_int_equal(l.n, 0);
	blentry_list_free(NULL);
	blentry_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
