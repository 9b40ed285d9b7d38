/* SPDX-License-Identifier: BSD-2-Clause */
/* fuzz_dns_answer - libFuzzer target: dns.c's DNS message parser */
/*
 * Input: octet 0 picks the query type (low 3 bits, mod 5) and sec (bits
 * 3-4, mod 3: insecure, bogus, secure); with bit 5 set, octet 1 is a
 * non-zero libunbound rcode (its failure path). The rest is the DNS
 * message, copied into an exact-size allocation so that any over-read is
 * caught. The answer must be consistent: status in range, DATA iff
 * records were kept, at most DNS_MAX_RR, names printable (escaped) and
 * bounded, TXT within its cap and NUL-terminated, canonname never the
 * empty name.
 */
#include "dns_packet.h"

#include "fuzz_util.h"

static void
check_name(const char *n)
{
	if (n == NULL || strlen(n) > 4 * 255)
		abort();
	for (const char *p = n; *p != '\0'; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum dns_type types[] = {
		DNS_T_A, DNS_T_PTR, DNS_T_MX, DNS_T_TXT, DNS_T_AAAA,
	};
	struct dns_answer a;
	enum dns_type type;
	unsigned char *msg;
	size_t len;
	int sec, rcode = 0;

	if (size < 2)
		return 0;
	type = types[(data[0] & 7) % 5];
	sec = ((data[0] >> 3) & 3) % 3;
	if (data[0] & 32)
		rcode = data[1] != 0 ? data[1] : 2;
	len = size - 2;
	msg = malloc(len ? len : 1);
	if (msg == NULL)
		return 0;
	memcpy(msg, data + 2, len);
	memset(&a, 0, sizeof a);
	dns_packet_parse(&a, type, rcode, msg, len, sec);

	if (a.status != DNS_DATA && a.status != DNS_NODATA &&
	    a.status != DNS_NXDOMAIN && a.status != DNS_SERVFAIL &&
	    a.status != DNS_BOGUS)
		abort();
	if ((a.status == DNS_DATA) != (a.n > 0) || a.n > DNS_MAX_RR ||
	    (a.n == 0 && a.rr != NULL))
		abort();
	if (rcode != 0 && a.status != DNS_SERVFAIL &&
	    a.status != DNS_NXDOMAIN)
		abort();
	if (sec == 1 && rcode == 0 && len >= 12 && a.status == DNS_DATA)
		abort();
	if (a.canonname != NULL) {
		check_name(a.canonname);
		if (a.canonname[0] == '\0')
			abort();
	}
	for (size_t k = 0; k < a.n; k++) {
		const struct dns_rr *rr = &a.rr[k];

		if (type == DNS_T_MX || type == DNS_T_PTR) {
			if (rr->name[0] != '\0')
				check_name(rr->name);
		}
		if (type == DNS_T_TXT &&
		    (rr->txt == NULL || rr->txtlen > DNS_MAX_TXT ||
		     rr->txt[rr->txtlen] != '\0'))
			abort();
	}
	dns_packet_clear(&a);
	if (a.rr != NULL || a.canonname != NULL || a.n != 0)
		abort();
	free(msg);
	return 0;
}
