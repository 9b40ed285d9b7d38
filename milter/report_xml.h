/*
 * report_xml - one RFC 9990 aggregate report as XML
 *
 * report_xml_build() writes the <feedback> document of one policy
 * domain and one period with libxml2's xmlTextWriter (no markup is
 * assembled by hand): version 1.0 in the urn:ietf:params:xml:ns:dmarc-2.0
 * namespace, report_metadata (org_name, email, optional
 * extra_contact_info, report_id, date_range), policy_published and one
 * <record> per struct store_group. The published policy is that of the
 * group seen last in the period (RFC 9990 3.3 lets a report carry one
 * policy_published for a period in which the record changed). Result
 * values are mapped onto the schema's enumerations (report_xml_dkim(),
 * report_xml_spf()); a value the schema has no word for becomes the
 * nearest one that it has, never an invalid word. The output is valid
 * against RFC 9990 appendix A (tests/data/dmarc/rfc9990-aggregate.xsd).
 *
 * Caps: n >= 1 (RFC 9990 3.1.1.2: at least one record).
 * Ownership: *out is malloc'd, the caller's (free()); the inputs are
 *   only read.
 * Threads: pure; any thread.
 * Errors: AM_EINVAL (no group, missing metadata), AM_ELIB (libxml2
 *   refused), AM_ENOMEM; err names the cause.
 * See also: RFC 9990 sections 3.1 and appendix A, store.h, report_mime.h.
 */
#ifndef AM_REPORT_XML_H
#define AM_REPORT_XML_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"
#include "store.h"

#define REPORT_XML_NS "urn:ietf:params:xml:ns:dmarc-2.0"

/* The report_metadata of one report. */
struct report_meta {
	const char *org_name;	   /* ReportOrgName (or AuthservID) */
	const char *email;	   /* ReportContact */
	const char *extra_contact; /* extra_contact_info or NULL */
	const char *report_id;	   /* the Report-ID (report_mime_id()) */
	int64_t begin;		   /* first second of the period */
	int64_t end;		   /* last second of the period (inclusive,
				    * as in RFC 9990's sample) */
};

/*
 * report_xml_build - the XML document for n groups of one policy
 * domain into *out (*outlen octets, NUL-terminated). 0 or AM_E*.
 */
int report_xml_build(const struct report_meta *m, const struct store_group *g,
		     size_t n, char **out, size_t *outlen, char *err,
		     size_t errlen);

/* report_xml_dkim - the DKIMResultType word for a DKIM result. */
const char *report_xml_dkim(enum am_result r);

/* report_xml_spf - the SPFResultType word for an SPF result. */
const char *report_xml_spf(enum am_result r);

#endif
