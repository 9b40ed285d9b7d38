/* SPDX-License-Identifier: BSD-2-Clause */
/* test_report_xml - RFC 9990 XML: valid against the schema, and right */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "amerr.h"
#include "report_fixture.h"
#include "report_xml.h"

static const struct report_meta meta = {
    .org_name = "Receiver & Co <test>",
    .email = "dmarc-contact@receiver.example",
    .extra_contact = NULL,
    .report_id = "1733443200.example.com@mx.receiver.example",
    .begin = 1733443200,
    .end = 1733443200 + 86399,
};

/* Whether doc is valid against RFC 9990's schema. */
static int
schema_valid(xmlDocPtr doc)
{
	xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(
	    AM_TESTS_DIR "/data/dmarc/rfc9990-aggregate.xsd");
	xmlSchemaPtr schema;
	xmlSchemaValidCtxtPtr vc;
	int rc;

	assert_non_null(pc);
	schema = xmlSchemaParse(pc);
	assert_non_null(schema);
	vc = xmlSchemaNewValidCtxt(schema);
	assert_non_null(vc);
	rc = xmlSchemaValidateDoc(vc, doc);
	xmlSchemaFreeValidCtxt(vc);
	xmlSchemaFree(schema);
	xmlSchemaFreeParserCtxt(pc);
	return rc;
}

/* The text of the one node at XPath expr ("d:" is the namespace). */
static char *
xp(xmlDocPtr doc, const char *expr)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathObjectPtr o;
	char *s = NULL;

	xmlXPathRegisterNs(ctx, BAD_CAST "d", BAD_CAST REPORT_XML_NS);
	o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	if (o != NULL && o->nodesetval != NULL &&
	    o->nodesetval->nodeNr >= 1)
		s = (char *)xmlNodeGetContent(o->nodesetval->nodeTab[0]);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return s;
}

static int
xp_count(xmlDocPtr doc, const char *expr)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathObjectPtr o;
	int n = -1;

	xmlXPathRegisterNs(ctx, BAD_CAST "d", BAD_CAST REPORT_XML_NS);
	o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	if (o != NULL && o->nodesetval != NULL)
		n = o->nodesetval->nodeNr;
	else if (o != NULL)
		n = 0;
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return n;
}

static void
assert_xp(xmlDocPtr doc, const char *expr, const char *want)
{
	char *got = xp(doc, expr);

	if (got == NULL)
		fail_msg("no node at %s", expr);
	if (strcmp(got, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", expr, got, want);
	xmlFree(got);
}

static xmlDocPtr
build(const struct store_group *g, size_t n)
{
	char *xml = NULL, err[256];
	size_t len = 0;
	xmlDocPtr doc;

	assert_int_equal(report_xml_build(&meta, g, n, &xml, &len, err,
					  sizeof err),
			 0);
	assert_int_equal(strlen(xml), len);
	doc = xmlReadMemory(xml, (int)len, "report.xml", NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	free(xml);
	return doc;
}

static void
test_valid_and_counts(void **state)
{
	struct store_group g[3];
	xmlDocPtr doc;

	(void)state;
	fixture_group(&g[0], "192.0.2.1", 120, AM_R_PASS, DMARC_P_NONE);
	fixture_group(&g[1], "2001:db8::25", 7, AM_R_FAIL, DMARC_P_REJECT);
	fixture_group(&g[2], "198.51.100.9", 3, AM_R_FAIL, DMARC_P_NONE);
	g[2].row.overrides =
	    HISTORY_OV_MAILING_LIST | HISTORY_OV_LOCAL_POLICY;
	strcpy(g[2].row.override_comment, "List-Id seen");
	g[2].row.ndkim = 2;
	strcpy(g[2].row.dkim[1].domain, "lists.example.net");
	strcpy(g[2].row.dkim[1].selector, "s2024");
	g[2].row.dkim[1].result = AM_R_TEMPERROR;
	g[2].row.spf_helo = true;
	g[2].row.envelope_from[0] = '\0';

	doc = build(g, 3);
	assert_int_equal(schema_valid(doc), 0);

	assert_xp(doc, "/d:feedback/d:version", "1.0");
	assert_xp(doc, "//d:report_metadata/d:org_name",
		  "Receiver & Co <test>");
	assert_xp(doc, "//d:report_metadata/d:report_id", meta.report_id);
	assert_xp(doc, "//d:date_range/d:begin", "1733443200");
	assert_xp(doc, "//d:date_range/d:end", "1733529599");
	assert_int_equal(xp_count(doc, "//d:extra_contact_info"), 0);
	assert_xp(doc, "//d:policy_published/d:domain", "example.com");
	assert_xp(doc, "//d:policy_published/d:p", "reject");
	assert_xp(doc, "//d:policy_published/d:sp", "quarantine");
	assert_int_equal(xp_count(doc, "//d:policy_published/d:np"), 0);
	assert_xp(doc, "//d:policy_published/d:aspf", "s");
	assert_xp(doc, "//d:policy_published/d:adkim", "r");
	assert_xp(doc, "//d:policy_published/d:discovery_method", "treewalk");
	assert_xp(doc, "//d:policy_published/d:testing", "n");

	assert_int_equal(xp_count(doc, "/d:feedback/d:record"), 3);
	assert_xp(doc, "/d:feedback/d:record[1]/d:row/d:count", "120");
	assert_xp(doc, "/d:feedback/d:record[1]/d:row/d:source_ip",
		  "192.0.2.1");
	/* DMARC pass under p=reject: "pass" */
	assert_xp(doc, "/d:feedback/d:record[1]//d:disposition", "pass");
	assert_xp(doc, "/d:feedback/d:record[1]//d:policy_evaluated/d:dkim",
		  "pass");
	assert_xp(doc, "/d:feedback/d:record[1]//d:policy_evaluated/d:spf",
		  "fail");
	assert_xp(doc, "/d:feedback/d:record[2]/d:row/d:count", "7");
	assert_xp(doc, "/d:feedback/d:record[2]/d:row/d:source_ip",
		  "2001:db8::25");
	assert_xp(doc, "/d:feedback/d:record[2]//d:disposition", "reject");
	assert_xp(doc, "/d:feedback/d:record[2]//d:auth_results/d:spf/d:result",
		  "softfail");
	assert_xp(doc, "/d:feedback/d:record[2]//d:auth_results/d:spf/d:scope",
		  "mfrom");
	assert_xp(doc, "/d:feedback/d:record[2]//d:auth_results/d:dkim/d:result",
		  "fail");
	assert_xp(doc, "/d:feedback/d:record[2]//d:identifiers/d:envelope_to",
		  "receiver.example");
	/* the overridden one: two reasons, one comment */
	assert_xp(doc, "/d:feedback/d:record[3]//d:disposition", "none");
	assert_int_equal(xp_count(doc, "/d:feedback/d:record[3]//d:reason"), 2);
	assert_xp(doc, "/d:feedback/d:record[3]//d:reason[1]/d:type",
		  "local_policy");
	assert_xp(doc, "/d:feedback/d:record[3]//d:reason[1]/d:comment",
		  "List-Id seen");
	assert_xp(doc, "/d:feedback/d:record[3]//d:reason[2]/d:type",
		  "mailing_list");
	assert_int_equal(
	    xp_count(doc, "/d:feedback/d:record[3]//d:auth_results/d:dkim"), 2);
	assert_xp(doc,
		  "/d:feedback/d:record[3]//d:auth_results/d:dkim[2]/d:result",
		  "temperror");
	assert_xp(doc,
		  "/d:feedback/d:record[3]//d:auth_results/d:dkim[2]/d:selector",
		  "s2024");
	assert_int_equal(
	    xp_count(doc, "/d:feedback/d:record[3]//d:auth_results/d:spf/"
			  "d:scope"),
	    0);
	assert_xp(doc, "/d:feedback/d:record[3]//d:identifiers/d:envelope_from",
		  "");
	xmlFreeDoc(doc);
}

/* The policy of the group that began last is the one published. */
static void
test_latest_policy(void **state)
{
	struct store_group g[2];
	xmlDocPtr doc;

	(void)state;
	fixture_group(&g[0], "192.0.2.1", 1, AM_R_PASS, DMARC_P_NONE);
	fixture_group(&g[1], "192.0.2.2", 1, AM_R_PASS, DMARC_P_NONE);
	g[0].row.time += 3600;
	g[0].row.p = DMARC_P_QUARANTINE;
	g[0].row.testing = true;
	g[0].row.np = DMARC_P_NONE;
	doc = build(g, 2);
	assert_int_equal(schema_valid(doc), 0);
	assert_xp(doc, "//d:policy_published/d:p", "quarantine");
	assert_xp(doc, "//d:policy_published/d:np", "none");
	assert_xp(doc, "//d:policy_published/d:testing", "y");
	xmlFreeDoc(doc);
}

/* Every result value maps onto a word of the schema. */
static void
test_result_words(void **state)
{
	static const char *const dkim_ok[] = {"none",	   "pass",
					      "fail",	   "policy",
					      "neutral",   "temperror",
					      "permerror"};
	(void)state;
	for (int r = AM_R_NONE; r <= AM_R_SKIPPED; r++) {
		const char *d = report_xml_dkim((enum am_result)r);
		bool ok = false;

		for (size_t i = 0; i < 7; i++)
			ok = ok || strcmp(d, dkim_ok[i]) == 0;
		assert_true(ok);
	}
	assert_string_equal(report_xml_spf(AM_R_SOFTFAIL), "softfail");
	assert_string_equal(report_xml_dkim(AM_R_SOFTFAIL), "fail");
	assert_string_equal(report_xml_spf(AM_R_NULLMX), "none");
	assert_string_equal(report_xml_dkim(AM_R_PERMERROR), "permerror");
}

/* Octets from the network that XML cannot carry do not break it. */
static void
test_hostile_values(void **state)
{
	struct store_group g[1];
	xmlDocPtr doc;

	(void)state;
	fixture_group(&g[0], "192.0.2.1", 1, AM_R_FAIL, DMARC_P_NONE);
	strcpy(g[0].row.dkim[0].selector, "s\x01\xff<x>&");
	g[0].row.overrides = HISTORY_OV_OTHER;
	strcpy(g[0].row.override_comment, "\x1b[0m]]>\xc3");
	doc = build(g, 1);
	assert_int_equal(schema_valid(doc), 0);
	assert_xp(doc, "//d:auth_results/d:dkim/d:selector", "s?" "?<x>&");
	assert_xp(doc, "//d:reason/d:type", "other");
	assert_xp(doc, "//d:reason/d:comment", "?[0m]]>?");
	xmlFreeDoc(doc);
}

static void
test_no_records(void **state)
{
	char *xml = NULL, err[128];
	size_t len;

	(void)state;
	assert_int_equal(
	    report_xml_build(&meta, NULL, 0, &xml, &len, err, sizeof err),
	    AM_EINVAL);
	assert_null(xml);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_and_counts),
	    cmocka_unit_test(test_latest_policy),
	    cmocka_unit_test(test_result_words),
	    cmocka_unit_test(test_hostile_values),
	    cmocka_unit_test(test_no_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
