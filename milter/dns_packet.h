/*
 * dns_packet - a DNS answer message in wire format to a struct dns_answer
 *
 * The types of a DNS answer (enum dns_type, enum dns_status, struct
 * dns_rr, struct dns_answer) live here, below dns.h, which includes
 * this header: every user of dns.h has them.
 *
 * dns_packet_parse() fills a struct dns_answer from what libunbound's
 * event callback gives for a query of type: its rcode (non-zero:
 * libunbound found no answer, status DNS_SERVFAIL, or DNS_NXDOMAIN for
 * 3), the DNS message in wire format (which may be hostile: every length
 * and pointer is checked; names are uncompressed by glibc's
 * ns_name_unpack) and sec (0 insecure, 1 bogus, 2 secure). Status from
 * the message's rcode; the CNAME chain from the question name is
 * followed through the answer section (at most 16 links; a longer chain
 * or a loop is DNS_SERVFAIL); canonname is its end when it differs; one
 * dns_rr per record of type at that name whose rdata is well-formed (A:
 * 4 octets, AAAA: 16, MX: preference and name, PTR: name, TXT:
 * character-strings joined). Malformed rdata is skipped; no well-formed
 * record at all is DNS_SERVFAIL, as is a malformed message or a
 * question that is not exactly one of type. dns_packet_clear() frees
 * what an answer owns and empties it. dns.c parses every answer from
 * libunbound with it; tests/unit/test_dns_packet.c and the fuzz target
 * fuzz_dns_answer call it directly.
 *
 * Caps: DNS_MAX_RR records, DNS_MAX_TXT octets per TXT record (then
 *   truncated is set); names at 255 wire octets.
 * Ownership: the answer owns rr, their strings and canonname until
 *   dns_packet_clear(); a must start zeroed. msg is only read.
 * Threads: pure; any thread, one answer at a time.
 * Errors: out of memory leaves DNS_SERVFAIL or skips the record.
 * See also: dns.h, RFC 1035 sections 3.3 and 4.1, RFC 1034 section
 *   3.6.2.
 */
#ifndef AM_DNS_PACKET_H
#define AM_DNS_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define DNS_MAX_RR 64	 /* records kept per answer */
#define DNS_MAX_TXT 8192 /* octets kept of one TXT record */

enum dns_type {
	DNS_T_A = 1,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
};

enum dns_status {
	DNS_PENDING = 0, /* not answered yet */
	DNS_DATA,	 /* NOERROR with at least one record of the type */
	DNS_NODATA,	 /* NOERROR, no record of the type */
	DNS_NXDOMAIN,	 /* the name does not exist */
	DNS_SERVFAIL,	 /* SERVFAIL, REFUSED, other rcodes, engine errors */
	DNS_TIMEOUT,	 /* deadline passed, or cancelled */
	DNS_BOGUS,	 /* DNSSEC validation failed: a temporary error */
	DNS_INVALID,	 /* the name is not a valid domain name; not sent */
};

/* One record. Which member is set depends on the query type. */
struct dns_rr {
	struct in_addr a;     /* A */
	struct in6_addr aaaa; /* AAAA */
	uint16_t pref;	      /* MX preference */
	char *name;	      /* MX exchange or PTR target: owned by the
			       * answer; lower case, no trailing dot; "" for
			       * the root (null MX "0 .") */
	char *txt;	      /* TXT: the record's strings joined, NUL-
			       * terminated; owned by the answer; may contain
			       * NUL octets, so use txtlen */
	size_t txtlen;	      /* TXT: octets in txt, without the final NUL */
};

struct dns_answer {
	enum dns_status status; /* DNS_PENDING until answered */
	int rcode;		/* DNS rcode as received, -1 if none */
	bool secure;		/* DNSSEC-validated (TrustAnchorFile set) */
	bool truncated;		/* records or TXT octets were cut at a cap */
	uint32_t ttl;		/* TTL of the answer */
	size_t n;		/* records in rr */
	struct dns_rr *rr;	/* n records: owned by the answer */
	char *canonname;	/* name after CNAMEs, or NULL: owned */
	double ms;		/* milliseconds from submit to answer */
};

/*
 * dns_packet_parse - fill a (zeroed) from libunbound's callback
 * arguments for a query of type: rcode, the message msg of len octets
 * (NULL when rcode is not 0) and sec. Never fails: trouble is a status.
 */
void dns_packet_parse(struct dns_answer *a, enum dns_type type, int rcode,
		      const unsigned char *msg, size_t len, int sec);

/*
 * dns_packet_clear - free the records, their strings and canonname of
 * a (from dns_packet_parse(), or malloc'd the same way by a local
 * set's answer function) and set n to 0. Status and the rest are kept.
 */
void dns_packet_clear(struct dns_answer *a);

#endif
