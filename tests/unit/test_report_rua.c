/* SPDX-License-Identifier: BSD-2-Clause */
/* test_report_rua - rua= parsing and RFC 9990 section 4 verification */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "dns.h"
#include "report_rua.h"

static void
test_parse(void **state)
{
	static const char rua[] =
	    " mailto:agg@example.com ,mailto:big@x.example!10m,"
	    "https://reports.example/upload, mailto:bad, ,"
	    "mailto:c%40d@e.example, mailto:enc%2Bx@F.Example?subject=hi,"
	    "mailto:more@example.org";
	struct report_dest d[8];
	size_t n;
	unsigned int ign;

	(void)state;
	ign = report_rua_parse("example.com", rua, strlen(rua), d, 3, &n);
	assert_int_equal(n, 3);
	assert_string_equal(d[0].addr, "agg@example.com");
	assert_string_equal(d[0].host, "example.com");
	assert_int_equal(d[0].limit, 0);
	assert_string_equal(d[1].addr, "big@x.example");
	assert_int_equal(d[1].limit, 10ULL << 20);
	/* percent-decoded, hfields dropped, host lower-cased */
	assert_string_equal(d[2].addr, "enc+x@F.Example");
	assert_string_equal(d[2].host, "f.example");
	/* https, "mailto:bad", the empty one, c@d@e, the one past 3 */
	assert_int_equal(ign, 5);

	/* malformed sizes, hosts, escapes; NUL; header injection */
	static const char *const bad[] = {
	    "mailto:a@b.example!",   "mailto:a@b.example!10x",
	    "mailto:a@b.example!k",  "mailto:a@-",
	    "mailto:a@b..example",   "mailto:@b.example",
	    "mailto:a@b.example%",   "mailto:a@b.example%4",
	    "mailto:a%00@b.example", "mailto:a%0d%0aBcc:x@b.example",
	    "mailto:a b@c.example",  "mailto:",
	    ":nothing",		     "mailto:a@b.example!99999999999999999999",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ign = report_rua_parse("example.com", bad[i], strlen(bad[i]),
				       d, 8, &n);
		if (n != 0 || ign != 1)
			fail_msg("\"%s\" was taken", bad[i]);
	}
	/* max 0: nothing taken, everything counted */
	ign = report_rua_parse("example.com", "mailto:a@b.example", 18, d, 0,
			       &n);
	assert_int_equal(n, 0);
	assert_int_equal(ign, 1);
}

/* The caps: 64-octet local parts, 253-octet hosts, REPORT_RUA_MAX. */
static void
test_caps(void **state)
{
	char uri[600], many[4096];
	struct report_dest d[REPORT_RUA_MAX];
	size_t n, off = 0;
	unsigned int ign;

	(void)state;
	/* a local part of 64 octets and a host of 253: taken */
	memcpy(uri, "mailto:", 7);
	memset(uri + 7, 'l', 64);
	uri[71] = '@';
	for (size_t i = 0; i < 253; i++)
		uri[72 + i] = i % 50 == 49 ? '.' : 'h';
	uri[72 + 253] = '\0';
	ign = report_rua_parse("example.com", uri, strlen(uri), d, 1, &n);
	assert_int_equal(n, 1);
	assert_int_equal(ign, 0);
	assert_int_equal(strlen(d[0].addr), 64 + 1 + 253);
	assert_int_equal(strlen(d[0].host), 253);
	/* 65 octets, or a host of 254: malformed */
	memmove(uri + 8, uri + 7, strlen(uri + 7) + 1);
	uri[7] = 'l';
	ign = report_rua_parse("example.com", uri, strlen(uri), d, 1, &n);
	assert_int_equal(n, 0);
	assert_int_equal(ign, 1);
	memmove(uri + 7, uri + 8, strlen(uri + 8) + 1);
	strcat(uri, "h");
	ign = report_rua_parse("example.com", uri, strlen(uri), d, 1, &n);
	assert_int_equal(n, 0);
	assert_int_equal(ign, 1);
	/* a label of 64 octets: malformed */
	snprintf(uri, sizeof uri, "mailto:a@%064d.example", 0);
	ign = report_rua_parse("example.com", uri, strlen(uri), d, 1, &n);
	assert_int_equal(n, 0);

	/* REPORT_RUA_MAX + 4 URIs, max REPORT_RUA_MAX: the first 16 */
	for (int i = 0; i < REPORT_RUA_MAX + 4; i++)
		off += (size_t)snprintf(many + off, sizeof many - off,
					"%smailto:r%d@x.example",
					i > 0 ? "," : "", i);
	ign = report_rua_parse("example.com", many, off, d, REPORT_RUA_MAX,
			       &n);
	assert_int_equal(n, REPORT_RUA_MAX);
	assert_int_equal(ign, 4);
	assert_string_equal(d[REPORT_RUA_MAX - 1].addr, "r15@x.example");
}

static void
test_tag(void **state)
{
	static const char r1[] = "v=DMARC1; p=none; RUA = mailto:a@b.example "
				 ", mailto:c@d.example ;ruf=mailto:x@y";
	const char *v;
	size_t vl;

	(void)state;
	assert_true(report_rua_tag(r1, strlen(r1), &v, &vl));
	assert_int_equal(vl, strlen(" mailto:a@b.example , mailto:c@d.example "));
	assert_memory_equal(v, " mailto:a@b.example", 19);
	assert_false(report_rua_tag("v=DMARC1; p=none", 16, &v, &vl));
	assert_false(report_rua_tag("v=spf1 rua=mailto:a@b.example", 29, &v,
				    &vl));
	assert_false(
	    report_rua_tag("v=DMARC1; rua=mailto:a@b.c; rua=mailto:d@e.f", 45,
			   &v, &vl));
}

/* A local DNS: TXT answers from a table (several records per name),
 * SERVFAIL for names in the fail list, everything else NXDOMAIN. */
struct zone_rr {
	const char *name;
	const char *txt; /* NULL: SERVFAIL */
};

static void
zone_answer(void *arg, const char *name, enum dns_type type,
	    struct dns_answer *a)
{
	const struct zone_rr *z = arg;
	size_t n = 0;

	a->status = DNS_NXDOMAIN;
	if (type != DNS_T_TXT)
		return;
	for (const struct zone_rr *t = z; t->name != NULL; t++)
		if (strcmp(t->name, name) == 0) {
			if (t->txt == NULL) {
				a->status = DNS_SERVFAIL;
				return;
			}
			n++;
		}
	if (n == 0)
		return;
	a->rr = calloc(n, sizeof *a->rr);
	assert_non_null(a->rr);
	for (const struct zone_rr *t = z; t->name != NULL; t++)
		if (strcmp(t->name, name) == 0) {
			a->rr[a->n].txt = strdup(t->txt);
			assert_non_null(a->rr[a->n].txt);
			a->rr[a->n].txtlen = strlen(t->txt);
			a->n++;
		}
	a->status = DNS_DATA;
}

static bool
asked(const struct dns_set *set, const char *name)
{
	for (size_t i = 0; i < dns_set_count(set); i++)
		if (strcmp(dns_query_name(dns_set_query(set, i)), name) == 0)
			return true;
	return false;
}

static const struct zone_rr world[] = {
    {"_dmarc.example.com",
     "v=DMARC1; p=reject; rua=mailto:agg@example.com,"
     "mailto:d@dmarc.example.com, mailto:r@reports.example.net,"
     "mailto:x@noauth.example, mailto:y@over.example,"
     "mailto:z@evil.example, ftp://example.com/x, mailto:w@wild.example,"
     "mailto:h@https.example"},
    {"_dmarc.example.net", "v=DMARC1; p=none"},
    {"_dmarc.noauth.example", "v=DMARC1; p=none"},
    {"_dmarc.over.example", "v=DMARC1; p=none"},
    {"_dmarc.evil.example", "v=DMARC1; p=none"},
    {"_dmarc.wild.example", "v=DMARC1; p=none"},
    {"_dmarc.https.example", "v=DMARC1; p=none"},
    /* authorized, no override */
    {"example.com._report._dmarc.reports.example.net", "v=spf1 -all"},
    {"example.com._report._dmarc.reports.example.net", "v=DMARC1"},
    /* not a DMARC record first: no authorization */
    {"example.com._report._dmarc.noauth.example", "p=none; v=DMARC1"},
    /* override to the same host */
    {"example.com._report._dmarc.over.example",
     "v=DMARC1; rua=mailto:other@over.example"},
    /* override to another host: no report to either */
    {"example.com._report._dmarc.evil.example",
     "v=DMARC1; rua=mailto:z@evil.example, mailto:victim@victim.example"},
    /* override by a URI of another scheme on another host: the same
     * (RFC 9990 4: "a URI whose host is again different") */
    {"example.com._report._dmarc.https.example",
     "v=DMARC1; rua=https://u@Collector.Other.example:8443/dmarc"},
    {NULL, NULL},
};

static void
test_verify(void **state)
{
	struct dns_set *set = dns_set_new_local("t", zone_answer,
						(void *)world);
	struct report_rua_result res;

	(void)state;
	assert_non_null(set);
	report_rua_destinations(set, "example.com", 10, 1000, &res);
	assert_false(res.temperror);
	assert_false(res.no_record);
	assert_int_equal(res.n, 4);
	assert_string_equal(res.dest[0].addr, "agg@example.com");
	assert_false(res.dest[0].external);
	assert_string_equal(res.dest[1].addr, "d@dmarc.example.com");
	assert_false(res.dest[1].external);
	assert_string_equal(res.dest[2].addr, "r@reports.example.net");
	assert_true(res.dest[2].external);
	assert_string_equal(res.dest[3].addr, "other@over.example");
	assert_true(res.dest[3].external);
	/* noauth, evil, ftp, wild.example (no record at all), https */
	assert_int_equal(res.skipped, 5);
	assert_true(asked(set, "example.com._report._dmarc.https.example"));
	/* the same organizational domain is not asked for */
	assert_false(asked(set, "example.com._report._dmarc.example.com"));
	assert_false(
	    asked(set, "example.com._report._dmarc.dmarc.example.com"));
	assert_true(asked(set, "example.com._report._dmarc.evil.example"));
	assert_true(asked(set, "example.com._report._dmarc.wild.example"));
	dns_set_free(set);

	/* ReportMaxURIs 2: the first two only, nothing verified further */
	set = dns_set_new_local("t", zone_answer, (void *)world);
	report_rua_destinations(set, "example.com", 2, 1000, &res);
	assert_int_equal(res.n, 2);
	assert_int_equal(res.skipped, 7);
	assert_false(asked(set, "example.com._report._dmarc.evil.example"));
	dns_set_free(set);
}

static void
test_no_record_and_failures(void **state)
{
	static const struct zone_rr z[] = {
	    {"_dmarc.norua.example", "v=DMARC1; p=reject"},
	    {"_dmarc.two.example", "v=DMARC1; p=reject; rua=mailto:a@two.example"},
	    {"_dmarc.two.example", "v=DMARC1; p=none; rua=mailto:a@two.example"},
	    {"_dmarc.fail.example", NULL},
	    {"_dmarc.tf.example", "v=DMARC1; p=none; rua=mailto:a@ext.example"},
	    {"_dmarc.ext.example", "v=DMARC1; p=none"},
	    {"tf.example._report._dmarc.ext.example", NULL},
	    {NULL, NULL},
	};
	struct dns_set *set = dns_set_new_local("t", zone_answer, (void *)z);
	struct report_rua_result res;

	(void)state;
	report_rua_destinations(set, "norua.example", 2, 1000, &res);
	assert_true(res.no_record);
	assert_int_equal(res.n, 0);
	report_rua_destinations(set, "two.example", 2, 1000, &res);
	assert_true(res.no_record);
	report_rua_destinations(set, "gone.example", 2, 1000, &res);
	assert_true(res.no_record);
	assert_false(res.temperror);
	report_rua_destinations(set, "fail.example", 2, 1000, &res);
	assert_true(res.temperror);
	assert_int_equal(res.n, 0);
	report_rua_destinations(set, "tf.example", 2, 1000, &res);
	assert_true(res.temperror);
	assert_int_equal(res.n, 0);
	dns_set_free(set);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_tag),
	    cmocka_unit_test(test_verify),
	    cmocka_unit_test(test_no_record_and_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
