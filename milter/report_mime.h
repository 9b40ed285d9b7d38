/*
 * report_mime - the e-mail message that carries one aggregate report
 *
 * RFC 9990 section 3.5.2: report_gzip() compresses the XML with zlib in
 * the gzip format (RFC 1952 header and trailer, not raw deflate);
 * report_mime_filename() names the attachment "receiver!policy-domain!
 * begin!end.xml.gz" (no unique-id: one report job reports for every MTA
 * of a fleet, so receiver, domain and period already make it unique);
 * report_mime_id() makes the Report-ID, a pure function of (submitter,
 * domain, begin) so that a report re-sent after a failure carries the
 * same one; report_mime_build() writes the message with GMime:
 * From (ReportFrom), To (one destination), Date, Message-ID,
 * MIME-Version, the Subject "Report Domain: D Submitter: S Report-ID:
 * <ID>", and a multipart/mixed body of a short text/plain part and the
 * application/gzip attachment in base64. Lines end in LF (what
 * sendmail(8) reads from a pipe) and are at most 78 octets long, the
 * headers folded by GMime where needed. report_mime_from_domain() gives
 * the domain of ReportFrom's address (the d= of the report's DKIM
 * signature).
 *
 * Caps: Report-ID at most STORE_REPORT_ID - 1 octets (a long domain is
 *   replaced by a hash of it in the Report-ID).
 * Ownership: *out buffers are malloc'd, the caller's (free()).
 * Threads: GMime is initialised once (pthread_once); a build uses only
 *   objects of its own, so any thread may build.
 * Errors: AM_EINVAL (a field that cannot be written: no From address,
 *   a name with a line break), AM_ERANGE (does not fit), AM_ELIB (zlib
 *   or GMime failed), AM_ENOMEM; err names the cause.
 * See also: RFC 9990 section 3.5, RFC 5322, RFC 2045, RFC 1952,
 *   report_xml.h, report_sign.h.
 */
#ifndef AM_REPORT_MIME_H
#define AM_REPORT_MIME_H

#include <stddef.h>
#include <stdint.h>

#define REPORT_FILENAME_MAX 600 /* two domains, two numbers, ".xml.gz" */

/* One message to build. */
struct report_message {
	const char *from;	 /* ReportFrom: "addr" or "Name <addr>" */
	const char *to;		 /* the destination address */
	const char *submitter;	 /* ReportSubmitter */
	const char *domain;	 /* the policy domain */
	const char *report_id;	 /* report_mime_id() */
	int64_t begin, end;	 /* the period; end inclusive */
	int64_t date;		 /* Date:, seconds since the epoch */
	const unsigned char *gz; /* the gzip'd XML */
	size_t gzlen;
};

/* report_gzip - len octets of in, gzip-compressed, into *out. */
int report_gzip(const void *in, size_t len, unsigned char **out, size_t *outlen,
		char *err, size_t errlen);

/*
 * report_mime_filename - "submitter!domain!begin!end.xml.gz" into out.
 * 0, AM_EINVAL when submitter or domain is not a domain name (so never
 * a path), or AM_ERANGE when it does not fit.
 */
int report_mime_filename(const char *submitter, const char *domain,
			 int64_t begin, int64_t end, char *out, size_t outlen);

/*
 * report_mime_id - the Report-ID of (submitter, domain, begin):
 * "DOMAIN.BEGIN@SUBMITTER" (RFC 9990 3.5.1 ridfmt), with a hash of the
 * domain in its place when it is too long or holds an octet that a
 * dot-atom cannot. 0 or AM_ERANGE (outlen too small, submitter unusable).
 */
int report_mime_id(const char *submitter, const char *domain, int64_t begin,
		   char *out, size_t outlen);

/* report_mime_build - the whole message into *out (*outlen octets). */
int report_mime_build(const struct report_message *m, char **out,
		      size_t *outlen, char *err, size_t errlen);

/*
 * report_mime_from_domain - the domain of the address in from (lower
 * case) into out. 0, or AM_EINVAL when from holds no address.
 */
int report_mime_from_domain(const char *from, char *out, size_t outlen);

#endif
