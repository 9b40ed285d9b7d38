/*
 * report_rua - where one policy domain's aggregate reports go
 *
 * report_rua_parse() reads the value of a DMARC record's rua= tag
 * (RFC 9989 dmarc-urilist: URIs separated by commas, optional spaces):
 * only mailto: URIs are used (RFC 9990 3.5: other schemes are not
 * defined for aggregate reports), their address percent-decoded and
 * checked (a dot-atom local part, a host name of letters, digits,
 * hyphens and underscores); the obsolete "!size" suffix (RFC 9989
 * obs-dmarc-report-size) is read into limit, and "?hfields" are
 * dropped. A URI that is malformed, or of another scheme, is ignored;
 * past max usable ones the rest are ignored too; each ignored one is
 * logged and counted.
 *
 * report_rua_destinations() is the whole walk for the report program:
 * the TXT record at _dmarc.<policy-domain> (exactly one v=DMARC1
 * record), its rua=, then the verification of external destinations of
 * RFC 9990 section 4 for each URI whose host is in another
 * organizational domain (orgdom.h's tree walk on both names): the TXT
 * record at <policy-domain>._report._dmarc.<host> must start with
 * v=DMARC1; when it has a rua= of its own, those URIs replace the
 * destination, but only if every one of them names the same host (one
 * naming another host means no report to either). Every lookup goes
 * through the DNS engine (dns.h), so tests answer it with
 * dns_set_new_local().
 *
 * Caps: REPORT_RUA_MAX destinations; addresses of at most
 *   REPORT_ADDR_MAX - 1 octets; max (ReportMaxURIs) URIs taken from the
 *   policy record.
 * Ownership: all results are in caller-provided structs; the DNS set is
 *   the caller's (answers stay in it).
 * Threads: one set, one thread (dns.h).
 * Errors: none returned; DNS failures are temperror (try again later),
 *   everything else is a count and a log line naming the URI.
 * See also: RFC 9990 sections 3.5 and 4, RFC 9989 section 4.7, RFC 6068.
 */
#ifndef AM_REPORT_RUA_H
#define AM_REPORT_RUA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"

#define REPORT_RUA_MAX 16   /* destinations of one policy domain */
#define REPORT_ADDR_MAX 320 /* 64 + "@" + 253 + NUL, rounded */
#define REPORT_HOST_MAX 254

/* One mailto: destination. */
struct report_dest {
	char addr[REPORT_ADDR_MAX]; /* local@host, decoded */
	char host[REPORT_HOST_MAX]; /* the host part, lower case */
	uint64_t limit;		    /* obsolete !size in octets, 0: none */
	bool external;		    /* verified through _report._dmarc */
};

/*
 * report_rua_parse - the first max usable mailto: URIs of the rua value
 * v (len octets) into out[0..*n). Returns how many URIs were ignored
 * (malformed, another scheme, past max). domain only names the policy
 * domain in log lines.
 */
unsigned int report_rua_parse(const char *domain, const char *v, size_t len,
			      struct report_dest *out, size_t max, size_t *n);

/*
 * report_rua_tag - the value of the rua tag of a DMARC record txt into
 * *v and *vlen (pointing into txt). false when the record is not a
 * valid DMARC record (first tag v=DMARC1) or has no rua tag.
 */
bool report_rua_tag(const char *txt, size_t len, const char **v, size_t *vlen);

/* What report_rua_destinations() found. */
struct report_rua_result {
	struct report_dest dest[REPORT_RUA_MAX]; /* where to send */
	size_t n;
	unsigned int skipped; /* URIs ignored or not verified */
	bool no_record;	      /* no DMARC record or no rua: nothing to send */
	bool temperror;	      /* a lookup failed: try again later */
};

/*
 * report_rua_destinations - look up, parse and verify the destinations
 * of policy_domain (at most max_uris from its record), waiting at most
 * timeout_ms for each round of lookups.
 */
void report_rua_destinations(struct dns_set *set, const char *policy_domain,
			     unsigned int max_uris, unsigned int timeout_ms,
			     struct report_rua_result *res);

#endif
