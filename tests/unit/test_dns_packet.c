/* SPDX-License-Identifier: BSD-2-Clause */
/* test_dns_packet - dns_packet_parse() on hand-built DNS messages */
/*
 * What libunbound's event callback hands to dns.c is a DNS message in
 * wire format. These cases build messages octet by octet (no DNS
 * server, no library encoder) to pin the reading down: status from the
 * header's rcode and the callback's, the CNAME chain from the question
 * name, records at other names or of class CH left out, compression
 * pointers in rdata names, loops, truncation, DNSSEC flags and caps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "dns.h"
#include "dns_packet.h"

struct pkt {
	unsigned char b[16384];
	size_t n;
};

static void
put8(struct pkt *p, unsigned v)
{
	assert_true(p->n < sizeof p->b);
	p->b[p->n++] = (unsigned char)v;
}

static void
put16(struct pkt *p, unsigned v)
{
	put8(p, v >> 8);
	put8(p, v & 0xff);
}

static void
put32(struct pkt *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

/* An uncompressed name from dotted text ("" is the root). */
static size_t
putname(struct pkt *p, const char *name)
{
	size_t at = p->n;

	while (*name != '\0') {
		size_t l = strcspn(name, ".");

		put8(p, (unsigned)l);
		for (size_t i = 0; i < l; i++)
			put8(p, (unsigned char)name[i]);
		name += l;
		if (*name == '.')
			name++;
	}
	put8(p, 0);
	return at;
}

static void
putptr(struct pkt *p, size_t off)
{
	put16(p, 0xc000 | (unsigned)off);
}

/* Header and question; returns the question name's offset (12). */
static size_t
begin(struct pkt *p, unsigned rcode, unsigned ancount, const char *qname,
      unsigned qtype)
{
	p->n = 0;
	put16(p, 0x1234);
	put16(p, 0x8180 | rcode); /* QR RD RA */
	put16(p, 1);
	put16(p, ancount);
	put16(p, 0);
	put16(p, 0);
	putname(p, qname);
	put16(p, qtype);
	put16(p, 1);
	return 12;
}

/* A record's fixed part; the caller writes rdlen octets of rdata. */
static void
rrhead(struct pkt *p, size_t owner_ptr, const char *owner, unsigned type,
       unsigned class, uint32_t ttl, unsigned rdlen)
{
	if (owner != NULL)
		putname(p, owner);
	else
		putptr(p, owner_ptr);
	put16(p, type);
	put16(p, class);
	put32(p, ttl);
	put16(p, rdlen);
}

static void
rr_a(struct pkt *p, size_t owner_ptr, const char *owner, const char *ip,
     uint32_t ttl)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, ip, &a), 1);
	rrhead(p, owner_ptr, owner, 1, 1, ttl, 4);
	memcpy(p->b + p->n, &a, 4);
	p->n += 4;
}

static void
parse(struct dns_answer *a, const struct pkt *p, enum dns_type type, int rcode,
      int sec)
{
	/* an exact-size copy, so that ASan sees any over-read */
	unsigned char *m = malloc(p->n ? p->n : 1);

	assert_non_null(m);
	memcpy(m, p->b, p->n);
	memset(a, 0, sizeof *a);
	dns_packet_parse(a, type, rcode, m, p->n, sec);
	free(m);
}

static bool
has_a(const struct dns_answer *a, const char *ip)
{
	char buf[INET_ADDRSTRLEN];

	for (size_t i = 0; i < a->n; i++)
		if (inet_ntop(AF_INET, &a->rr[i].a, buf, sizeof buf) &&
		    strcmp(buf, ip) == 0)
			return true;
	return false;
}

static void
test_a_and_ttl(void **state)
{
	struct pkt p;
	struct dns_answer a;
	size_t q;

	(void)state;
	q = begin(&p, 0, 2, "Example.COM", 1);
	rr_a(&p, q, NULL, "192.0.2.1", 300);
	rr_a(&p, 0, "example.com", "192.0.2.2", 60); /* other case */
	parse(&a, &p, DNS_T_A, 0, 0);
	assert_int_equal(a.status, DNS_DATA);
	assert_int_equal(a.rcode, 0);
	assert_int_equal(a.n, 2);
	assert_true(has_a(&a, "192.0.2.1") && has_a(&a, "192.0.2.2"));
	assert_int_equal(a.ttl, 60);
	assert_null(a.canonname);
	assert_false(a.secure);
	dns_packet_clear(&a);
}

static void
test_rcodes(void **state)
{
	struct pkt p;
	struct dns_answer a;

	(void)state;
	begin(&p, 3, 0, "nx.example.com", 1);
	parse(&a, &p, DNS_T_A, 0, 0);
	assert_int_equal(a.status, DNS_NXDOMAIN);
	assert_int_equal(a.rcode, 3);
	begin(&p, 2, 0, "sf.example.com", 1);
	parse(&a, &p, DNS_T_A, 0, 0);
	assert_int_equal(a.status, DNS_SERVFAIL);
	assert_int_equal(a.rcode, 2);
	begin(&p, 5, 0, "refused.example.com", 16);
	parse(&a, &p, DNS_T_TXT, 0, 0);
	assert_int_equal(a.status, DNS_SERVFAIL);
	/* NOERROR without a record of the type */
	begin(&p, 0, 0, "example.com", 15);
	parse(&a, &p, DNS_T_MX, 0, 0);
	assert_int_equal(a.status, DNS_NODATA);
	/* libunbound's own failure: no message to read */
	parse(&a, &p, DNS_T_MX, 2, 0);
	assert_int_equal(a.status, DNS_SERVFAIL);
	assert_int_equal(a.rcode, 2);
	memset(&a, 0, sizeof a);
	dns_packet_parse(&a, DNS_T_A, 3, NULL, 0, 0);
	assert_int_equal(a.status, DNS_NXDOMAIN);
	memset(&a, 0, sizeof a);
	dns_packet_parse(&a, DNS_T_A, 0, NULL, 0, 0);
	assert_int_equal(a.status, DNS_SERVFAIL);
}

static void
test_cname_chain(void **state)
{
	struct pkt p;
	struct dns_answer a;
	size_t q, n1, n2;

	(void)state;
	/* www -> a -> b; b has the A; an A at an unrelated name is left out,
	 * and so is one of class CH at b */
	q = begin(&p, 0, 5, "www.example.com", 1);
	rrhead(&p, q, NULL, 5, 1, 300, 0);
	{
		size_t len_at = p.n - 2;

		n1 = putname(&p, "a.example.com");
		p.b[len_at + 1] = (unsigned char)(p.n - n1);
	}
	rrhead(&p, n1, NULL, 5, 1, 120, 0);
	{
		size_t len_at = p.n - 2;
		size_t s = p.n;

		put8(&p, 1);
		put8(&p, 'b');
		putptr(&p, n1 + 2); /* "example.com" inside a.example.com */
		n2 = s;
		p.b[len_at + 1] = (unsigned char)(p.n - s);
	}
	rr_a(&p, 0, "other.example.com", "198.51.100.1", 300);
	rrhead(&p, n2, NULL, 1, 3, 300, 4); /* class CH */
	put32(&p, 0x0a000001);
	rr_a(&p, n2, NULL, "192.0.2.9", 200);
	parse(&a, &p, DNS_T_A, 0, 0);
	assert_int_equal(a.status, DNS_DATA);
	assert_int_equal(a.n, 1);
	assert_true(has_a(&a, "192.0.2.9"));
	assert_non_null(a.canonname);
	assert_string_equal(a.canonname, "b.example.com");
	assert_int_equal(a.ttl, 120);
	dns_packet_clear(&a);

	/* a CNAME to a name without data: NODATA, canonname kept */
	q = begin(&p, 0, 1, "alias.example.com", 16);
	rrhead(&p, q, NULL, 5, 1, 300, 15);
	putname(&p, "t.example.com");
	parse(&a, &p, DNS_T_TXT, 0, 0);
	assert_int_equal(a.status, DNS_NODATA);
	assert_string_equal(a.canonname, "t.example.com");
	dns_packet_clear(&a);

	/*
	 * A CNAME pointing to itself: a chain without end, so a failure
	 * (SERVFAIL: its data was never seen), no hang.
	 */
	q = begin(&p, 0, 1, "loop.example.com", 1);
	rrhead(&p, q, NULL, 5, 1, 300, 2);
	putptr(&p, q);
	parse(&a, &p, DNS_T_A, 0, 0);
	assert_int_equal(a.status, DNS_SERVFAIL);
	assert_null(a.canonname);
	dns_packet_clear(&a);

	/*
	 * c0 -> c1 -> ... -> cN and an A at cN: 16 CNAMEs are followed, a
	 * 17th is a failure, never "no data" (fails closed).
	 */
	for (int hops = 16; hops <= 17; hops++) {
		char name[32];

		q = begin(&p, 0, (unsigned)hops + 1, "c0.example.com", 1);
		for (int i = 0; i < hops; i++) {
			size_t len_at;

			snprintf(name, sizeof name, "c%d.example.com", i);
			rrhead(&p, 0, name, 5, 1, 300, 0);
			len_at = p.n - 2;
			snprintf(name, sizeof name, "c%d.example.com", i + 1);
			{
				size_t st = p.n;

				putname(&p, name);
				p.b[len_at] = 0;
				p.b[len_at + 1] = (unsigned char)(p.n - st);
			}
		}
		snprintf(name, sizeof name, "c%d.example.com", hops);
		rr_a(&p, 0, name, "192.0.2.77", 300);
		parse(&a, &p, DNS_T_A, 0, 0);
		print_message("%d CNAMEs: %s\n", hops, dns_status_str(a.status));
		assert_int_equal(a.status,
				 hops == 16 ? DNS_DATA : DNS_SERVFAIL);
		dns_packet_clear(&a);
	}
}

static void
test_mx_ptr_names(void **state)
{
	struct pkt p;
	struct dns_answer a;
	size_t q;

	(void)state;
	/* MX exchanges compressed against the question; null MX "0 ." */
	q = begin(&p, 0, 3, "Example.com", 15);
	rrhead(&p, q, NULL, 15, 1, 300, 2 + 2 + 2);
	put16(&p, 10);
	put8(&p, 1);
	put8(&p, 'M');
	putptr(&p, q);
	rrhead(&p, q, NULL, 15, 1, 300, 3);
	put16(&p, 0);
	put8(&p, 0);
	/* an exchange whose pointer leaves the rdata's bounds: skipped */
	rrhead(&p, q, NULL, 15, 1, 300, 3);
	put16(&p, 20);
	put8(&p, 0xc0);
	parse(&a, &p, DNS_T_MX, 0, 0);
	assert_int_equal(a.status, DNS_DATA);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.rr[0].pref, 10);
	assert_string_equal(a.rr[0].name, "m.example.com");
	assert_int_equal(a.rr[1].pref, 0);
	assert_string_equal(a.rr[1].name, "");
	dns_packet_clear(&a);

	/* PTR with an octet that needs escaping in the target */
	q = begin(&p, 0, 1, "1.2.0.192.in-addr.arpa", 12);
	rrhead(&p, q, NULL, 12, 1, 300, 7);
	put8(&p, 3);
	put8(&p, 'a');
	put8(&p, ' ');
	put8(&p, '.');
	put8(&p, 1);
	put8(&p, 'x');
	put8(&p, 0);
	parse(&a, &p, DNS_T_PTR, 0, 0);
	assert_int_equal(a.status, DNS_DATA);
	assert_string_equal(a.rr[0].name, "a\\032\\..x");
	dns_packet_clear(&a);
}

static void
test_txt(void **state)
{
	struct pkt p;
	struct dns_answer a;
	size_t q;

	(void)state;
	q = begin(&p, 0, 2, "example.com", 16);
	rrhead(&p, q, NULL, 16, 1, 300, 1 + 7 + 1 + 4);
	put8(&p, 7);
	memcpy(p.b + p.n, "v=spf1 ", 7);
	p.n += 7;
	put8(&p, 4);
	memcpy(p.b + p.n, "-all", 4);
	p.n += 4;
	/* a string longer than its record: skipped */
	rrhead(&p, q, NULL, 16, 1, 300, 2);
	put8(&p, 9);
	put8(&p, 'x');
	parse(&a, &p, DNS_T_TXT, 0, 0);
	assert_int_equal(a.status, DNS_DATA);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.rr[0].txtlen, 11);
	assert_string_equal(a.rr[0].txt, "v=spf1 -all");
	dns_packet_clear(&a);

	/* over DNS_MAX_TXT octets: cut there and marked truncated */
	q = begin(&p, 0, 1, "big.example.com", 16);
	rrhead(&p, q, NULL, 16, 1, 300, 40 * 256);
	for (int i = 0; i < 40; i++) {
		put8(&p, 255);
		memset(p.b + p.n, 'a' + i % 26, 255);
		p.n += 255;
	}
	parse(&a, &p, DNS_T_TXT, 0, 0);
	assert_int_equal(a.status, DNS_DATA);
	assert_int_equal(a.rr[0].txtlen, DNS_MAX_TXT);
	assert_true(a.truncated);
	dns_packet_clear(&a);
}

static void
test_malformed(void **state)
{
	struct pkt p, cut;
	struct dns_answer a;
	size_t q;

	(void)state;
	/* every A of the wrong length: no well-formed record, SERVFAIL */
	q = begin(&p, 0, 1, "example.com", 1);
	rrhead(&p, q, NULL, 1, 1, 300, 3);
	put8(&p, 1);
	put8(&p, 2);
	put8(&p, 3);
	parse(&a, &p, DNS_T_A, 0, 0);
	assert_int_equal(a.status, DNS_SERVFAIL);
	assert_int_equal(a.n, 0);
	assert_null(a.rr); /* nothing kept, nothing left allocated */

	/* the question is not the type asked */
	begin(&p, 0, 0, "example.com", 28);
	parse(&a, &p, DNS_T_A, 0, 0);
	assert_int_equal(a.status, DNS_SERVFAIL);

	/* a message cut anywhere never reads past its end */
	q = begin(&p, 0, 1, "example.com", 1);
	rr_a(&p, q, NULL, "192.0.2.1", 300);
	for (size_t n = 0; n < p.n; n++) {
		cut = p;
		cut.n = n;
		parse(&a, &cut, DNS_T_A, 0, 0);
		assert_int_equal(a.status, DNS_SERVFAIL);
		dns_packet_clear(&a);
	}

	/* an owner name that is a pointer to itself */
	q = begin(&p, 0, 1, "example.com", 1);
	putptr(&p, p.n);
	put16(&p, 1);
	put16(&p, 1);
	put32(&p, 300);
	put16(&p, 4);
	put32(&p, 0xc0000201);
	parse(&a, &p, DNS_T_A, 0, 0);
	assert_int_equal(a.status, DNS_SERVFAIL);

	/* more answers announced than present */
	q = begin(&p, 0, 3, "example.com", 1);
	rr_a(&p, q, NULL, "192.0.2.1", 300);
	parse(&a, &p, DNS_T_A, 0, 0);
	assert_int_equal(a.status, DNS_SERVFAIL);
}

static void
test_dnssec_flags_and_cap(void **state)
{
	struct pkt p;
	struct dns_answer a;
	size_t q;

	(void)state;
	q = begin(&p, 0, 1, "example.com", 1);
	rr_a(&p, q, NULL, "192.0.2.1", 300);
	parse(&a, &p, DNS_T_A, 0, 2);
	assert_int_equal(a.status, DNS_DATA);
	assert_true(a.secure);
	dns_packet_clear(&a);
	parse(&a, &p, DNS_T_A, 0, 1);
	assert_int_equal(a.status, DNS_BOGUS);
	assert_int_equal(a.n, 0);

	/* more records than DNS_MAX_RR: the first DNS_MAX_RR, truncated */
	q = begin(&p, 0, DNS_MAX_RR + 6, "many.example.com", 1);
	for (int i = 0; i < DNS_MAX_RR + 6; i++) {
		char ip[32];

		snprintf(ip, sizeof ip, "10.0.%d.%d", i / 256, i % 256);
		rr_a(&p, q, NULL, ip, 300);
	}
	parse(&a, &p, DNS_T_A, 0, 0);
	assert_int_equal(a.status, DNS_DATA);
	assert_int_equal(a.n, DNS_MAX_RR);
	assert_true(a.truncated);
	assert_true(has_a(&a, "10.0.0.0"));
	dns_packet_clear(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_and_ttl),
	    cmocka_unit_test(test_rcodes),
	    cmocka_unit_test(test_cname_chain),
	    cmocka_unit_test(test_mx_ptr_names),
	    cmocka_unit_test(test_txt),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_dnssec_flags_and_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
