/*
 * dns_internal - dns.c's answer parser, exposed for its fuzz target
 *
 * dns_answer_from_packet() fills a struct dns_answer from what
 * libunbound's event callback gives for a query of type: its rcode
 * (non-zero: libunbound found no answer, status DNS_SERVFAIL, or
 * DNS_NXDOMAIN for 3), the DNS message in wire format (which may be
 * hostile: every length and pointer is checked; names are uncompressed
 * by glibc's ns_name_unpack) and sec (0 insecure, 1 bogus, 2 secure).
 * Status from the message's rcode; the CNAME chain from the question
 * name is followed through the answer section (at most 16 links);
 * canonname is its end when it differs; one dns_rr per record of type
 * at that name whose rdata is well-formed (A: 4 octets, AAAA: 16, MX:
 * preference and name, PTR: name, TXT: character-strings joined).
 * Malformed rdata is skipped; no well-formed record at all is
 * DNS_SERVFAIL, as is a malformed message or a question that is not
 * exactly one of type. dns_answer_clear() frees what it allocated and
 * empties the answer. Only dns.c and tests/fuzz use this header;
 * everything else goes through dns.h.
 *
 * Caps: DNS_MAX_RR records, DNS_MAX_TXT octets per TXT record (then
 *   truncated is set); names at 255 wire octets.
 * Ownership: the answer owns rr, their strings and canonname until
 *   dns_answer_clear(); a must start zeroed. msg is only read.
 * Threads: pure; any thread, one answer at a time.
 * Errors: out of memory leaves DNS_SERVFAIL or skips the record.
 * See also: dns.h, RFC 1035 sections 3.3 and 4.1, RFC 1034 section 3.6.2.
 */
#ifndef AM_DNS_INTERNAL_H
#define AM_DNS_INTERNAL_H

#include <stddef.h>

#include "dns.h"

void dns_answer_from_packet(struct dns_answer *a, enum dns_type type,
			    int rcode, const unsigned char *msg, size_t len,
			    int sec);
void dns_answer_clear(struct dns_answer *a);

#endif
