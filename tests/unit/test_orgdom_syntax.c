/* SPDX-License-Identifier: BSD-2-Clause */
/* test_orgdom_syntax - tree-walk names and decisions, no DNS */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "amerr.h"
#include "orgdom.h"

struct ncase {
	const char *name;
	const char *domain;
	int rc;
	const char *names[9]; /* NULL-terminated */
};

static const struct ncase ncases[] = {
	{ "three labels", "a.example.com", 0,
	  { "a.example.com", "example.com", "com", NULL } },
	{ "trailing dot and case", "Mail.Example.COM.", 0,
	  { "mail.example.com", "example.com", "com", NULL } },
	{ "single label", "localhost", 0, { "localhost", NULL } },
	{ "seven labels", "a.b.c.d.e.f.g", 0,
	  { "a.b.c.d.e.f.g", "b.c.d.e.f.g", "c.d.e.f.g", "d.e.f.g",
	    "e.f.g", "f.g", "g", NULL } },
	{ "eight labels: jump to seven", "a.b.c.d.e.f.g.h", 0,
	  { "a.b.c.d.e.f.g.h", "b.c.d.e.f.g.h", "c.d.e.f.g.h", "d.e.f.g.h",
	    "e.f.g.h", "f.g.h", "g.h", "h", NULL } },
	{ "twelve labels: 8 queries", "a.b.c.d.e.f.g.h.i.j.k.l", 0,
	  { "a.b.c.d.e.f.g.h.i.j.k.l", "f.g.h.i.j.k.l", "g.h.i.j.k.l",
	    "h.i.j.k.l", "i.j.k.l", "j.k.l", "k.l", "l", NULL } },
	{ "empty", "", AM_EINVAL, { NULL } },
	{ "empty label", "a..example.com", AM_EINVAL, { NULL } },
	{ "leading dot", ".example.com", AM_EINVAL, { NULL } },
	{ "8-bit octets", "b\xc3\xbcro.example", AM_EINVAL, { NULL } },
	{ "space", "exa mple.com", AM_EINVAL, { NULL } },
	{ "at sign", "user@example.com", AM_EINVAL, { NULL } },
};

static void
test_names(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof ncases / sizeof ncases[0]; i++) {
		const struct ncase *c = &ncases[i];
		struct orgdom_walk w;

		print_message("case: %s\n", c->name);
		assert_int_equal(orgdom_walk_init(&w, c->domain), c->rc);
		for (j = 0; c->names[j] != NULL; j++) {
			assert_true(j < w.n);
			assert_string_equal(w.step[j].name, c->names[j]);
		}
		assert_int_equal(w.n, j);
		assert_true(w.n <= ORGDOM_MAX_QUERIES);
	}
}

static void
test_long_name(void **state)
{
	char d[300];
	struct orgdom_walk w;

	(void)state;
	memset(d, 'a', sizeof d - 1);
	d[sizeof d - 1] = '\0';
	assert_int_equal(orgdom_walk_init(&w, d), AM_EINVAL);
}

/*
 * A walk described as one string per name, from the domain upwards:
 * "-" no record, "T" temperror, "M" two DMARC records, "I" invalid,
 * otherwise the TXT record itself.
 */
struct dcase {
	const char *name;
	const char *domain;
	const char *steps[8];
	enum orgdom_res pres; /* policy discovery */
	int pidx;             /* its step */
	enum orgdom_res ores; /* organizational domain */
	const char *org;
};

#define REC "v=DMARC1; p=reject"
#define PSDY "v=DMARC1; p=none; psd=y"
#define PSDN "v=DMARC1; p=reject; psd=n"

static const struct dcase dcases[] = {
	{ "record at the domain", "example.com", { REC, "-" },
	  ORGDOM_OK, 0, ORGDOM_OK, "example.com" },
	{ "inherited from the parent", "a.b.example.com",
	  { "-", "-", REC, "-" }, ORGDOM_OK, 2, ORGDOM_OK, "example.com" },
	{ "no record anywhere: the domain itself", "a.example.com",
	  { "-", "-", "-" }, ORGDOM_NONE, 0, ORGDOM_OK, "a.example.com" },
	{ "co.uk style: psd=y at co.uk", "mail.example.co.uk",
	  { "-", "-", PSDY, "-" }, ORGDOM_OK, 2, ORGDOM_OK,
	  "example.co.uk" },
	/*
	 * RFC 9989 4.10.1: the policy is the Author Domain's record, else
	 * the Organizational Domain's (co.uk: none), else the PSD's (uk);
	 * the record at example.co.uk is neither.
	 */
	{ "co.uk style: psd=y at uk, record at example", "mail.example.co.uk",
	  { "-", REC, "-", PSDY }, ORGDOM_OK, 3, ORGDOM_OK, "co.uk" },
	{ "policy: org domain's record, not one between", "a.b.example.com",
	  { "-", REC, REC, "-" }, ORGDOM_OK, 2, ORGDOM_OK, "example.com" },
	{ "policy: org domain's record below the PSD", "a.b.example.co.uk",
	  { "-", REC, REC, PSDY, "-" }, ORGDOM_OK, 2, ORGDOM_OK,
	  "example.co.uk" },
	{ "policy: PSD's record when the org domain has none",
	  "a.b.example.co.uk", { "-", REC, "-", PSDY, "-" }, ORGDOM_OK, 3,
	  ORGDOM_OK, "example.co.uk" },
	{ "policy: psd=n record between", "a.b.example.com",
	  { "-", PSDN, REC, "-" }, ORGDOM_OK, 1, ORGDOM_OK, "b.example.com" },
	{ "temperror above an intermediate record", "a.b.example.com",
	  { "-", REC, "-", "T" }, ORGDOM_TEMPERROR, 0, ORGDOM_TEMPERROR,
	  "" },
	{ "psd=y at the start ends the walk", "shop.co.uk",
	  { PSDY, "-", PSDY }, ORGDOM_OK, 0, ORGDOM_OK, "shop.co.uk" },
	{ "psd=n stops the walk", "a.b.example.co.uk",
	  { "-", PSDN, REC, PSDY, "-" }, ORGDOM_OK, 1, ORGDOM_OK,
	  "b.example.co.uk" },
	{ "highest record wins without psd", "a.b.example.com",
	  { REC, "-", REC, REC }, ORGDOM_OK, 0, ORGDOM_OK, "com" },
	{ "psd=y at the domain itself is not decisive", "co.uk",
	  { PSDY, "-" }, ORGDOM_OK, 0, ORGDOM_OK, "co.uk" },
	{ "psd=y at start, psd=y above", "co.uk", { PSDY, PSDY },
	  ORGDOM_OK, 0, ORGDOM_OK, "co.uk" },
	{ "two records at a name: no record", "a.example.com",
	  { "M", "-", "-" }, ORGDOM_NONE, 0, ORGDOM_OK, "a.example.com" },
	{ "two records below a record", "a.example.com",
	  { "M", REC, "-" }, ORGDOM_OK, 1, ORGDOM_OK, "example.com" },
	{ "invalid record skipped", "a.example.com",
	  { "I", REC, "-" }, ORGDOM_OK, 1, ORGDOM_OK, "example.com" },
	{ "temperror before the record", "a.example.com",
	  { "T", REC, "-" }, ORGDOM_TEMPERROR, 0, ORGDOM_TEMPERROR, "" },
	{ "temperror above the policy record", "a.example.com",
	  { REC, "-", "T" }, ORGDOM_OK, 0, ORGDOM_TEMPERROR, "" },
	{ "temperror above psd=n does not matter", "a.example.com",
	  { "-", PSDN, "T" }, ORGDOM_OK, 1, ORGDOM_OK, "example.com" },
	{ "deep name: psd=y at the 7-label jump target",
	  "a.b.c.d.e.f.g.h.i.j", { "-", PSDY, "-", "-", "-", "-", "-", "-" },
	  ORGDOM_OK, 1, ORGDOM_OK, "c.d.e.f.g.h.i.j" },
};

static void
feed(struct orgdom_walk *w, size_t i, const char *s)
{
	const char *txt[2];
	size_t len[2];

	if (strcmp(s, "-") == 0) {
		orgdom_walk_feed(w, i, DNS_NXDOMAIN, NULL, NULL, 0);
	} else if (strcmp(s, "T") == 0) {
		orgdom_walk_feed(w, i, DNS_SERVFAIL, NULL, NULL, 0);
	} else if (strcmp(s, "M") == 0) {
		txt[0] = REC;
		txt[1] = "v=DMARC1; p=none";
		len[0] = strlen(txt[0]);
		len[1] = strlen(txt[1]);
		orgdom_walk_feed(w, i, DNS_DATA, txt, len, 2);
	} else if (strcmp(s, "I") == 0) {
		txt[0] = "v=DMARC1; p=none; p=reject";
		txt[1] = "v=spf1 -all";
		len[0] = strlen(txt[0]);
		len[1] = strlen(txt[1]);
		orgdom_walk_feed(w, i, DNS_DATA, txt, len, 2);
	} else {
		txt[0] = "some other TXT";
		txt[1] = s;
		len[0] = strlen(txt[0]);
		len[1] = strlen(txt[1]);
		orgdom_walk_feed(w, i, DNS_DATA, txt, len, 2);
	}
}

static void
test_decisions(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof dcases / sizeof dcases[0]; i++) {
		const struct dcase *c = &dcases[i];
		struct orgdom_walk w;
		char org[ORGDOM_MAX_NAME];
		size_t idx = 99;

		print_message("case: %s\n", c->name);
		assert_int_equal(orgdom_walk_init(&w, c->domain), 0);
		for (j = 0; j < w.n; j++) {
			assert_non_null(c->steps[j]);
			feed(&w, j, c->steps[j]);
		}
		assert_int_equal(orgdom_policy(&w, &idx), c->pres);
		if (c->pres == ORGDOM_OK)
			assert_int_equal(idx, c->pidx);
		assert_int_equal(orgdom_org(&w, org, sizeof org), c->ores);
		assert_string_equal(org, c->org);
	}
}

static void
test_pending_is_temperror(void **state)
{
	struct orgdom_walk w;
	char org[ORGDOM_MAX_NAME];
	size_t idx;

	(void)state;
	assert_int_equal(orgdom_walk_init(&w, "example.com"), 0);
	assert_int_equal(orgdom_policy(&w, &idx), ORGDOM_TEMPERROR);
	assert_int_equal(orgdom_org(&w, org, sizeof org), ORGDOM_TEMPERROR);
}

static void
test_suffix(void **state)
{
	(void)state;
	assert_string_equal(orgdom_suffix("a.b.example.com", 2),
			    "example.com");
	assert_string_equal(orgdom_suffix("example.com", 5), "example.com");
	assert_int_equal(orgdom_labels("a.b.c"), 3);
	assert_int_equal(orgdom_labels(""), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_long_name),
		cmocka_unit_test(test_decisions),
		cmocka_unit_test(test_pending_is_temperror),
		cmocka_unit_test(test_suffix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
