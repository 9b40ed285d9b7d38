/* SPDX-License-Identifier: BSD-2-Clause */
/* report_xml - one RFC 9990 aggregate report as XML (xmlTextWriter) */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlwriter.h>

#include "amerr.h"
#include "report_xml.h"

const char *
report_xml_dkim(enum am_result r)
{
	switch (r) {
	case AM_R_PASS:
		return "pass";
	case AM_R_FAIL:
	case AM_R_SOFTFAIL: /* not a DKIM result; the nearest one */
		return "fail";
	case AM_R_NEUTRAL:
		return "neutral";
	case AM_R_POLICY:
		return "policy";
	case AM_R_TEMPERROR:
		return "temperror";
	case AM_R_PERMERROR:
		return "permerror";
	default:
		return "none";
	}
}

const char *
report_xml_spf(enum am_result r)
{
	switch (r) {
	case AM_R_PASS:
		return "pass";
	case AM_R_FAIL:
		return "fail";
	case AM_R_SOFTFAIL:
		return "softfail";
	case AM_R_NEUTRAL:
		return "neutral";
	case AM_R_POLICY:
		return "policy";
	case AM_R_TEMPERROR:
		return "temperror";
	case AM_R_PERMERROR:
		return "permerror";
	default:
		return "none";
	}
}

static const char *
policy_word(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_P_QUARANTINE:
		return "quarantine";
	case DMARC_P_REJECT:
		return "reject";
	default:
		return "none";
	}
}

/*
 * ActionDispositionType: "pass" is "no action, passing DMARC with an
 * enforcing policy"; otherwise what was done.
 */
static const char *
disposition_word(const struct history_row *r)
{
	if (r->disposition == DMARC_P_NONE && r->dmarc == AM_R_PASS &&
	    (r->p == DMARC_P_QUARANTINE || r->p == DMARC_P_REJECT))
		return "pass";
	return policy_word(r->disposition);
}

static const struct {
	unsigned int bit;
	const char *word;
} override_words[] = {
    {HISTORY_OV_LOCAL_POLICY, "local_policy"},
    {HISTORY_OV_MAILING_LIST, "mailing_list"},
    {HISTORY_OV_POLICY_TEST_MODE, "policy_test_mode"},
    {HISTORY_OV_TRUSTED_FORWARDER, "trusted_forwarder"},
    {HISTORY_OV_OTHER, "other"},
};

/* Every libxml2 writer call returns < 0 on failure: chain them. */
#define W(call)                                                                \
	do {                                                                   \
		if ((call) < 0)                                                \
			goto fail;                                             \
	} while (0)

static int
elem(xmlTextWriterPtr w, const char *name, const char *text)
{
	return xmlTextWriterWriteElement(w, BAD_CAST name, BAD_CAST text);
}

/*
 * A value that came from the network (a selector, a comment): any octet
 * outside printable ASCII becomes '?', so that no control character or
 * broken UTF-8 can make the document ill-formed.
 */
static int
elem_net(xmlTextWriterPtr w, const char *name, const char *text)
{
	char buf[HISTORY_DOMAIN];
	size_t i;

	for (i = 0; text[i] != '\0' && i < sizeof buf - 1; i++)
		buf[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
	buf[i] = '\0';
	return elem(w, name, buf);
}

static int
elem_i64(xmlTextWriterPtr w, const char *name, int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%" PRId64, v);
	return elem(w, name, buf);
}

static int
write_metadata(xmlTextWriterPtr w, const struct report_meta *m)
{
	W(xmlTextWriterStartElement(w, BAD_CAST "report_metadata"));
	W(elem(w, "org_name", m->org_name));
	W(elem(w, "email", m->email));
	if (m->extra_contact != NULL && m->extra_contact[0] != '\0')
		W(elem(w, "extra_contact_info", m->extra_contact));
	W(elem(w, "report_id", m->report_id));
	W(xmlTextWriterStartElement(w, BAD_CAST "date_range"));
	W(elem_i64(w, "begin", m->begin));
	W(elem_i64(w, "end", m->end));
	W(xmlTextWriterEndElement(w));
	W(elem(w, "generator", "authmilter " AM_VERSION));
	W(xmlTextWriterEndElement(w));
	return 0;
fail:
	return -1;
}

/*
 * policy_published: the schema has no psd element (RFC 9990 appendix A),
 * so psd= is not reported; fo is not kept (failure reports are out of
 * scope).
 */
static int
write_policy(xmlTextWriterPtr w, const struct history_row *r)
{
	W(xmlTextWriterStartElement(w, BAD_CAST "policy_published"));
	W(elem_net(w, "domain", r->policy_domain));
	W(elem(w, "p", policy_word(r->p)));
	if (r->sp != DMARC_P_UNSET)
		W(elem(w, "sp", policy_word(r->sp)));
	if (r->np != DMARC_P_UNSET)
		W(elem(w, "np", policy_word(r->np)));
	W(elem(w, "adkim", r->adkim == DMARC_ALIGN_STRICT ? "s" : "r"));
	W(elem(w, "aspf", r->aspf == DMARC_ALIGN_STRICT ? "s" : "r"));
	W(elem(w, "discovery_method", r->discovery_walk ? "treewalk" : "psl"));
	W(elem(w, "testing", r->testing ? "y" : "n"));
	W(xmlTextWriterEndElement(w));
	return 0;
fail:
	return -1;
}

static int
write_record(xmlTextWriterPtr w, const struct store_group *g)
{
	const struct history_row *r = &g->row;
	bool commented = false;
	char cnt[32];

	W(xmlTextWriterStartElement(w, BAD_CAST "record"));
	W(xmlTextWriterStartElement(w, BAD_CAST "row"));
	W(elem_net(w, "source_ip", r->source_ip));
	snprintf(cnt, sizeof cnt, "%" PRIu64, g->count);
	W(elem(w, "count", cnt));
	W(xmlTextWriterStartElement(w, BAD_CAST "policy_evaluated"));
	W(elem(w, "disposition", disposition_word(r)));
	W(elem(w, "dkim", r->dkim_aligned ? "pass" : "fail"));
	W(elem(w, "spf", r->spf_aligned ? "pass" : "fail"));
	for (size_t i = 0; i < sizeof override_words / sizeof override_words[0];
	     i++) {
		if ((r->overrides & override_words[i].bit) == 0)
			continue;
		W(xmlTextWriterStartElement(w, BAD_CAST "reason"));
		W(elem(w, "type", override_words[i].word));
		/* the one comment goes with the first reason */
		if (!commented && r->override_comment[0] != '\0')
			W(elem_net(w, "comment", r->override_comment));
		commented = true;
		W(xmlTextWriterEndElement(w));
	}
	W(xmlTextWriterEndElement(w)); /* policy_evaluated */
	W(xmlTextWriterEndElement(w)); /* row */

	W(xmlTextWriterStartElement(w, BAD_CAST "identifiers"));
	W(elem_net(w, "header_from", r->header_from));
	/* RFC 9990 3.1.1.10: present but empty for a null reverse-path */
	W(elem_net(w, "envelope_from", r->envelope_from));
	if (r->envelope_to[0] != '\0')
		W(elem_net(w, "envelope_to", r->envelope_to));
	W(xmlTextWriterEndElement(w));

	W(xmlTextWriterStartElement(w, BAD_CAST "auth_results"));
	for (unsigned int i = 0; i < r->ndkim && i < HISTORY_MAX_DKIM; i++) {
		W(xmlTextWriterStartElement(w, BAD_CAST "dkim"));
		W(elem_net(w, "domain", r->dkim[i].domain));
		W(elem_net(w, "selector", r->dkim[i].selector));
		W(elem(w, "result", report_xml_dkim(r->dkim[i].result)));
		W(xmlTextWriterEndElement(w));
	}
	if (r->spf_domain[0] != '\0') {
		W(xmlTextWriterStartElement(w, BAD_CAST "spf"));
		W(elem_net(w, "domain", r->spf_domain));
		/* the schema knows only "mfrom": a HELO check has no scope */
		if (!r->spf_helo)
			W(elem(w, "scope", "mfrom"));
		W(elem(w, "result", report_xml_spf(r->spf)));
		W(xmlTextWriterEndElement(w));
	}
	W(xmlTextWriterEndElement(w)); /* auth_results */
	W(xmlTextWriterEndElement(w)); /* record */
	return 0;
fail:
	return -1;
}

int
report_xml_build(const struct report_meta *m, const struct store_group *g,
		 size_t n, char **out, size_t *outlen, char *err, size_t errlen)
{
	xmlBufferPtr buf = NULL;
	xmlTextWriterPtr w = NULL;
	size_t latest = 0;
	int rc = AM_ELIB;

	*out = NULL;
	*outlen = 0;
	if (n == 0 || g == NULL || m->org_name == NULL || m->email == NULL ||
	    m->report_id == NULL) {
		snprintf(err, errlen, "report XML: no record or no metadata");
		return AM_EINVAL;
	}
	/*
	 * One policy_published per report: when the record changed within
	 * the period, the policy of the group seen last wins (a group's time
	 * is its earliest row, so this is the group that began last).
	 */
	for (size_t i = 1; i < n; i++)
		if (g[i].row.time > g[latest].row.time)
			latest = i;

	buf = xmlBufferCreate();
	if (buf == NULL || (w = xmlNewTextWriterMemory(buf, 0)) == NULL) {
		rc = AM_ENOMEM;
		goto fail;
	}
	W(xmlTextWriterSetIndent(w, 1));
	W(xmlTextWriterSetIndentString(w, BAD_CAST "  "));
	W(xmlTextWriterStartDocument(w, "1.0", "UTF-8", NULL));
	W(xmlTextWriterStartElementNS(w, NULL, BAD_CAST "feedback",
				      BAD_CAST REPORT_XML_NS));
	W(elem(w, "version", "1.0"));
	W(write_metadata(w, m));
	W(write_policy(w, &g[latest].row));
	for (size_t i = 0; i < n; i++)
		W(write_record(w, &g[i]));
	W(xmlTextWriterEndElement(w));
	W(xmlTextWriterEndDocument(w));
	xmlFreeTextWriter(w); /* flushes into buf */
	w = NULL;

	*outlen = (size_t)xmlBufferLength(buf);
	*out = malloc(*outlen + 1);
	if (*out == NULL) {
		rc = AM_ENOMEM;
		goto fail;
	}
	memcpy(*out, xmlBufferContent(buf), *outlen);
	(*out)[*outlen] = '\0';
	xmlBufferFree(buf);
	return 0;
fail:
	if (w != NULL)
		xmlFreeTextWriter(w);
	if (buf != NULL)
		xmlBufferFree(buf);
	*outlen = 0;
	snprintf(err, errlen, "report XML for %s: %s",
		 g != NULL && n > 0 ? g[0].row.policy_domain : "?",
		 rc == AM_ENOMEM ? "out of memory" : "libxml2 writer failed");
	return rc;
}
