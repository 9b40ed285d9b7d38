/*
 * dns_internal - dns.c's answer parser, exposed for its fuzz target
 *
 * dns_answer_parse() fills a struct dns_answer from a libunbound result
 * for a query of qname (lower case, no final dot) and type: status from
 * err/rcode/bogus/havedata, the CNAME target when it differs from
 * qname, and one dns_rr per record whose rdata is well-formed for type
 * (A: 4 octets, AAAA: 16, MX: preference + uncompressed name, PTR: name,
 * TXT: character-strings joined). Malformed rdata is skipped; no
 * well-formed record at all is DNS_SERVFAIL. dns_answer_clear() frees
 * what dns_answer_parse() allocated and empties the answer. Only dns.c
 * and tests/fuzz use this header; everything else goes through dns.h.
 *
 * Caps: DNS_MAX_RR records, DNS_MAX_TXT octets per TXT record (then
 *   truncated is set); names at 255 wire octets.
 * Ownership: the answer owns rr, their strings and canonname until
 *   dns_answer_clear(); a must start zeroed.
 * Threads: pure; any thread, one answer at a time.
 * Errors: out of memory leaves DNS_SERVFAIL or skips the record.
 * See also: dns.h, LIBRARIES.md section 1.3, RFC 1035 section 3.3.
 */
#ifndef AM_DNS_INTERNAL_H
#define AM_DNS_INTERNAL_H

#include <unbound.h>

#include "dns.h"

void dns_answer_parse(struct dns_answer *a, const char *qname,
		      enum dns_type type, int err, const struct ub_result *r);
void dns_answer_clear(struct dns_answer *a);

#endif
