/* SPDX-License-Identifier: BSD-2-Clause */
/* test_orgdom - the tree walk against the loopback dnsd */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dnstest.h"
#include "dns.h"
#include "metrics.h"
#include "orgdom.h"

#define PSL_FILE "/usr/share/publicsuffix/public_suffix_list.dat"

struct wcase {
	const char *name;
	const char *domain;
	enum orgdom_res pres;
	const char *policy_domain; /* where the record was, if pres OK */
	const char *policy_p;      /* "reject" ... */
	enum orgdom_res ores;
	const char *org;
	unsigned int timeout_ms;
};

static const struct wcase wcases[] = {
	{ "co.uk style, record at the domain", "example.co.uk", ORGDOM_OK,
	  "example.co.uk", "reject", ORGDOM_OK, "example.co.uk", 3000 },
	{ "co.uk style, subdomain inherits", "mail.example.co.uk", ORGDOM_OK,
	  "example.co.uk", "reject", ORGDOM_OK, "example.co.uk", 3000 },
	{ "psd=y: org is one label below, PSD policy applies",
	  "sub.nopolicy.co.uk", ORGDOM_OK, "co.uk", "none", ORGDOM_OK,
	  "nopolicy.co.uk", 3000 },
	{ "psd=n marks the org domain", "x.corp.example.org", ORGDOM_OK,
	  "corp.example.org", "reject", ORGDOM_OK, "corp.example.org", 3000 },
	{ "no psd: highest record", "a.b.example.org", ORGDOM_OK,
	  "example.org", "none", ORGDOM_OK, "example.org", 3000 },
	{ "two records: treated as none", "multi.test", ORGDOM_NONE, NULL,
	  NULL, ORGDOM_OK, "multi.test", 3000 },
	{ "record in two strings", "split.test", ORGDOM_OK, "split.test",
	  "reject", ORGDOM_OK, "split.test", 3000 },
	{ "nothing anywhere", "host.nothing.test", ORGDOM_NONE, NULL, NULL,
	  ORGDOM_OK, "host.nothing.test", 3000 },
	{ "SERVFAIL in the walk", "a.broken.test", ORGDOM_TEMPERROR, NULL,
	  NULL, ORGDOM_TEMPERROR, "", 3000 },
	{ "timeout in the walk", "a.dead.test", ORGDOM_TEMPERROR, NULL, NULL,
	  ORGDOM_TEMPERROR, "", 1200 },
};

static void
test_walks(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof wcases / sizeof wcases[0]; i++) {
		const struct wcase *c = &wcases[i];
		struct dns_set *set = dns_set_new("t");
		struct orgdom_walk w;
		struct timespec dl;
		char org[ORGDOM_MAX_NAME];
		size_t idx = 0;

		print_message("case: %s\n", c->name);
		assert_non_null(set);
		assert_int_equal(orgdom_walk_start(&w, set, c->domain), 0);
		dns_deadline(&dl, c->timeout_ms);
		orgdom_walk_wait(&w, set, &dl);
		assert_int_equal(orgdom_policy(&w, &idx), c->pres);
		if (c->pres == ORGDOM_OK) {
			assert_string_equal(w.step[idx].name,
					    c->policy_domain);
			assert_string_equal(dmarc_policy_str(w.step[idx].rec.p),
					    c->policy_p);
		}
		assert_int_equal(orgdom_org(&w, org, sizeof org), c->ores);
		assert_string_equal(org, c->org);
		dns_set_free(set);
	}
}

/* A 12-label name: 8 queries, the names RFC 9989 4.10 lists. */
static void
test_deep_query_log(void **state)
{
	static const char *want[] = {
		"_dmarc.a.b.c.d.e.f.g.h.i.j.deep.test",
		"_dmarc.f.g.h.i.j.deep.test", "_dmarc.g.h.i.j.deep.test",
		"_dmarc.h.i.j.deep.test", "_dmarc.i.j.deep.test",
		"_dmarc.j.deep.test", "_dmarc.deep.test", "_dmarc.test",
	};
	const char *qlog = getenv("AM_TEST_DNS_QLOG");
	struct dns_set *set = dns_set_new("t");
	struct orgdom_walk w;
	struct timespec dl;
	char line[512], org[ORGDOM_MAX_NAME];
	bool seen[8] = { false };
	size_t n = 0, i, idx = 0;
	FILE *f;

	(void)state;
	assert_non_null(qlog);
	assert_int_equal(orgdom_walk_start(&w, set,
					   "a.b.c.d.e.f.g.h.i.j.deep.test"), 0);
	dns_deadline(&dl, 3000);
	orgdom_walk_wait(&w, set, &dl);
	assert_int_equal(orgdom_policy(&w, &idx), ORGDOM_OK);
	assert_string_equal(w.step[idx].name, "deep.test");
	assert_int_equal(orgdom_org(&w, org, sizeof org), ORGDOM_OK);
	assert_string_equal(org, "deep.test");
	dns_set_free(set);

	f = fopen(qlog, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL) {
		char qn[300], qt[16];

		if (sscanf(line, "%*s %299s %15s", qn, qt) != 2)
			continue;
		if (strstr(qn, "deep.test") == NULL &&
		    strcmp(qn, "_dmarc.test") != 0 &&
		    strcmp(qn, "_dmarc.test.") != 0)
			continue;
		if (qn[strlen(qn) - 1] == '.')
			qn[strlen(qn) - 1] = '\0';
		for (i = 0; i < 8; i++)
			if (strcmp(qn, want[i]) == 0)
				break;
		if (i == 8)
			fail_msg("unexpected query %s", qn);
		if (!seen[i])
			n++;
		seen[i] = true;
	}
	fclose(f);
	assert_int_equal(n, 8);
}

/* authmilter_psl_mismatches_total as metrics_render() shows it. */
static unsigned long
psl_mismatches(void)
{
	static const char key[] = "\nauthmilter_psl_mismatches_total ";
	char *text = metrics_render();
	const char *p;
	unsigned long v;

	assert_non_null(text);
	p = strstr(text, key);
	assert_non_null(p);
	assert_int_equal(sscanf(p + strlen(key), "%lu", &v), 1);
	free(text);
	return v;
}

static void
test_psl_counter(void **state)
{
	unsigned long before = psl_mismatches();

	(void)state;
	/* Both pick example.co.uk: no mismatch. */
	assert_int_equal(orgdom_psl_check("t", PSL_FILE, "mail.example.co.uk",
					  "example.co.uk"), 0);
	assert_int_equal(psl_mismatches(), before);
	/* psd=n below a registrable domain: the list says example.org. */
	assert_int_equal(orgdom_psl_check("t", PSL_FILE, "x.corp.example.org",
					  "corp.example.org"), 1);
	assert_int_equal(psl_mismatches(), before + 1);
	/* "none" turns the cross-check off. */
	assert_int_equal(orgdom_psl_check("t", "none", "x.corp.example.org",
					  "corp.example.org"), 0);
	assert_int_equal(psl_mismatches(), before + 1);
	/* An unreadable list is an error, not a mismatch. */
	assert_true(orgdom_psl_check("t", "/nonexistent/psl.dat", "a.example",
				     "a.example") < 0);
	assert_int_equal(psl_mismatches(), before + 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walks),
		cmocka_unit_test(test_deep_query_log),
		cmocka_unit_test(test_psl_counter),
	};

	return cmocka_run_group_tests(tests, dnstest_setup, dnstest_teardown);
}
