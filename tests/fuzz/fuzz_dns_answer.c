/* SPDX-License-Identifier: BSD-2-Clause */
/* fuzz_dns_answer - libFuzzer target: dns.c's libunbound answer parser */
/*
 * Input: octet 0 picks the query type (low 3 bits) and the flags bogus
 * (8), havedata (16), secure (32) and "has canonname" (64); octet 1 is
 * the rcode (mod 8). With a canonname, a NUL-terminated presentation
 * name follows. The rest is records, each a 2-octet big-endian length
 * and that many rdata octets (cut at the end of the input), each in its
 * own exact-size allocation so that an over-read is caught. The answer
 * must be consistent: status in range, DATA iff records were kept,
 * at most DNS_MAX_RR, names printable (escaped), TXT within its cap and
 * NUL-terminated.
 */
#include "dns_internal.h"

#include "fuzz_util.h"

#define MAXREC 100

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
	struct ub_result r;
	struct dns_answer a;
	char *rec[MAXREC + 1] = {NULL};
	int len[MAXREC + 1] = {0};
	enum dns_type type;
	size_t i = 2, n = 0;

	if (size < 2)
		return 0;
	memset(&r, 0, sizeof r);
	memset(&a, 0, sizeof a);
	type = types[(data[0] & 7) % 5];
	r.bogus = (data[0] & 8) != 0;
	r.havedata = (data[0] & 16) != 0;
	r.secure = (data[0] & 32) != 0;
	r.rcode = data[1] & 7;
	r.ttl = (int)size - 100;
	if (data[0] & 64) {
		size_t s = i;

		while (i < size && data[i] != 0)
			i++;
		r.canonname = malloc(i - s + 1);
		if (r.canonname == NULL)
			return 0;
		memcpy(r.canonname, data + s, i - s);
		r.canonname[i - s] = '\0';
		i++;
	}
	while (i + 2 <= size && n < MAXREC) {
		size_t l = (size_t)data[i] << 8 | data[i + 1];

		i += 2;
		if (l > size - i)
			l = size - i;
		rec[n] = malloc(l ? l : 1);
		if (rec[n] == NULL)
			goto out;
		memcpy(rec[n], data + i, l);
		len[n++] = (int)l;
		i += l;
	}
	r.data = rec;
	r.len = len;
	dns_answer_parse(&a, "example.com", type, 0, &r);

	if (a.status != DNS_DATA && a.status != DNS_NODATA &&
	    a.status != DNS_NXDOMAIN && a.status != DNS_SERVFAIL &&
	    a.status != DNS_BOGUS)
		abort();
	if ((a.status == DNS_DATA) != (a.n > 0) || a.n > DNS_MAX_RR ||
	    a.n > n)
		abort();
	if (a.canonname != NULL) {
		/* libunbound's presentation form: kept as given, normalised */
		if (strlen(a.canonname) > 253)
			abort();
		if (strcmp(a.canonname, "example.com") == 0)
			abort();
	}
	for (size_t k = 0; k < a.n; k++) {
		const struct dns_rr *rr = &a.rr[k];

		if (type == DNS_T_MX || type == DNS_T_PTR)
			check_name(rr->name);
		if (type == DNS_T_TXT &&
		    (rr->txt == NULL || rr->txtlen > DNS_MAX_TXT ||
		     rr->txt[rr->txtlen] != '\0'))
			abort();
	}
	dns_answer_clear(&a);
	if (a.rr != NULL || a.canonname != NULL || a.n != 0)
		abort();

	/* the error path */
	memset(&a, 0, sizeof a);
	dns_answer_parse(&a, "example.com", type, 1, &r);
	if (a.status != DNS_SERVFAIL || a.n != 0)
		abort();
	dns_answer_clear(&a);
out:
	for (size_t k = 0; k < n; k++)
		free(rec[k]);
	free(r.canonname);
	return 0;
}
