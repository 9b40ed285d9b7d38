/* SPDX-License-Identifier: BSD-2-Clause */
/* test_dns - the DNS engine against the loopback test server (dnsd) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "amerr.h"
#include "dns.h"
#include "log.h"

static bool have_dns; /* dns_init succeeded against AM_TEST_DNS */

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

#define NEED_DNS()                                                             \
	do {                                                                   \
		if (!have_dns) {                                               \
			print_message("AM_TEST_DNS not set: run me "           \
				      "through tests/dnsd/with-dnsd.sh\n");    \
			skip();                                                \
		}                                                              \
	} while (0)

/* Submit and wait up to ms; the answer. */
static const struct dns_answer *
ask(struct dns_set *set, const char *name, enum dns_type type, unsigned int ms)
{
	struct dns_query *q = dns_submit(set, name, type);
	struct timespec dl;

	assert_non_null(q);
	dns_deadline(&dl, ms);
	(void)dns_wait(set, q, &dl);
	return dns_answer(q);
}

static bool
has_a(const struct dns_answer *a, const char *addr)
{
	struct in_addr want;

	inet_pton(AF_INET, addr, &want);
	for (size_t i = 0; i < a->n; i++)
		if (a->rr[i].a.s_addr == want.s_addr)
			return true;
	return false;
}

static int
group_setup(void **state)
{
	const char *fwd = getenv("AM_TEST_DNS");
	struct dns_options opt = {.mode = DNS_MODE_FORWARD, .forward = fwd};
	char err[256] = "";

	(void)state;
	if (fwd == NULL)
		return 0;
	if (dns_init(&opt, err, sizeof err) != 0) {
		fprintf(stderr, "dns_init: %s\n", err);
		return -1;
	}
	have_dns = true;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	dns_shutdown();
	return 0;
}

static void
test_a_aaaa(void **state)
{
	struct dns_set *s;
	const struct dns_answer *a;
	struct in6_addr want6;

	(void)state;
	NEED_DNS();
	s = dns_set_new("t-a");
	assert_non_null(s);
	a = ask(s, "a.example.test", DNS_T_A, 3000);
	assert_int_equal(a->status, DNS_DATA);
	assert_int_equal(a->rcode, 0);
	assert_int_equal(a->n, 2);
	assert_true(has_a(a, "192.0.2.1"));
	assert_true(has_a(a, "192.0.2.2"));
	assert_null(a->canonname);
	assert_false(a->secure);
	assert_true(a->ttl > 0 && a->ttl <= 300);
	assert_true(a->ms > 0);

	a = ask(s, "a.example.test", DNS_T_AAAA, 3000);
	assert_int_equal(a->status, DNS_DATA);
	assert_int_equal(a->n, 1);
	inet_pton(AF_INET6, "2001:db8::1", &want6);
	assert_memory_equal(&a->rr[0].aaaa, &want6, 16);
	dns_set_free(s);
}

static void
test_mx(void **state)
{
	struct dns_set *s;
	const struct dns_answer *a;
	bool seen10 = false, seen20 = false;

	(void)state;
	NEED_DNS();
	s = dns_set_new("t-mx");
	a = ask(s, "Example.TEST.", DNS_T_MX, 3000);
	assert_int_equal(a->status, DNS_DATA);
	assert_int_equal(a->n, 2);
	for (size_t i = 0; i < a->n; i++) {
		if (a->rr[i].pref == 10) {
			/* the zone spells it MX1.Example.TEST */
			assert_string_equal(a->rr[i].name, "mx1.example.test");
			seen10 = true;
		} else if (a->rr[i].pref == 20) {
			assert_string_equal(a->rr[i].name, "mx2.example.test");
			seen20 = true;
		}
	}
	assert_true(seen10 && seen20);

	a = ask(s, "nullmx.test", DNS_T_MX, 3000);
	assert_int_equal(a->status, DNS_DATA);
	assert_int_equal(a->n, 1);
	assert_int_equal(a->rr[0].pref, 0);
	assert_string_equal(a->rr[0].name, "");
	dns_set_free(s);
}

static void
test_txt(void **state)
{
	struct dns_set *s;
	const struct dns_answer *a;
	char want[301];

	(void)state;
	NEED_DNS();
	s = dns_set_new("t-txt");
	a = ask(s, "txt.example.test", DNS_T_TXT, 3000);
	assert_int_equal(a->status, DNS_DATA);
	assert_int_equal(a->n, 1);
	assert_string_equal(a->rr[0].txt, "v=spf1 ip4:192.0.2.0/24 -all");
	assert_int_equal(a->rr[0].txtlen,
			 strlen("v=spf1 ip4:192.0.2.0/24 -all"));
	assert_false(a->truncated);

	/* 300 octets: dnsd sends two strings (255 + 45) */
	a = ask(s, "longtxt.example.test", DNS_T_TXT, 3000);
	assert_int_equal(a->status, DNS_DATA);
	assert_int_equal(a->rr[0].txtlen, 300);
	memset(want, 'a', 300);
	want[300] = '\0';
	assert_string_equal(a->rr[0].txt, want);

	/* 9000 octets (over UDP size: TCP) cut at DNS_MAX_TXT */
	a = ask(s, "bigtxt.example.test", DNS_T_TXT, 3000);
	assert_int_equal(a->status, DNS_DATA);
	assert_true(a->truncated);
	assert_int_equal(a->rr[0].txtlen, DNS_MAX_TXT);
	assert_int_equal(a->rr[0].txt[DNS_MAX_TXT - 1], 'k');
	assert_int_equal(a->rr[0].txt[DNS_MAX_TXT], '\0');

	/* a NUL octet inside the string */
	a = ask(s, "nul.example.test", DNS_T_TXT, 3000);
	assert_int_equal(a->status, DNS_DATA);
	assert_int_equal(a->rr[0].txtlen, 3);
	assert_memory_equal(a->rr[0].txt, "a\0b", 4);
	dns_set_free(s);
}

static void
test_rr_cap(void **state)
{
	struct dns_set *s;
	const struct dns_answer *a;

	(void)state;
	NEED_DNS();
	s = dns_set_new("t-cap");
	/* 70 A records in the zone */
	a = ask(s, "many.example.test", DNS_T_A, 3000);
	assert_int_equal(a->status, DNS_DATA);
	assert_int_equal(a->n, DNS_MAX_RR);
	assert_true(a->truncated);
	dns_set_free(s);
}

static void
test_ptr_cname(void **state)
{
	struct dns_set *s;
	const struct dns_answer *a;

	(void)state;
	NEED_DNS();
	s = dns_set_new("t-ptr");
	/* 2.0.192.in-addr.arpa is one of libunbound's local zones */
	a = ask(s, "1.2.0.192.in-addr.arpa", DNS_T_PTR, 3000);
	assert_int_equal(a->status, DNS_DATA);
	assert_int_equal(a->n, 1);
	assert_string_equal(a->rr[0].name, "host.example.test");

	/* www -> alias -> a */
	a = ask(s, "www.example.test", DNS_T_A, 3000);
	assert_int_equal(a->status, DNS_DATA);
	assert_int_equal(a->n, 2);
	assert_true(has_a(a, "192.0.2.1"));
	assert_non_null(a->canonname);
	assert_string_equal(a->canonname, "a.example.test");
	dns_set_free(s);
}

static void
test_statuses(void **state)
{
	static const struct {
		const char *name;
		enum dns_type type;
		enum dns_status want;
		int rcode;
	} cases[] = {
	    {"nope.example.test", DNS_T_A, DNS_NXDOMAIN, 3},
	    {"nodata.example.test", DNS_T_AAAA, DNS_NODATA, 0},
	    {"nodata.example.test", DNS_T_MX, DNS_NODATA, 0},
	    /* empty non-terminal: owns nothing, has a child */
	    {"parent.example.test", DNS_T_A, DNS_NODATA, 0},
	    {"broken.test", DNS_T_A, DNS_SERVFAIL, 2},
	    /* upstream REFUSED surfaces as SERVFAIL */
	    {"refused.test", DNS_T_TXT, DNS_SERVFAIL, 2},
	};
	struct dns_set *s;

	(void)state;
	NEED_DNS();
	s = dns_set_new("t-status");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct dns_answer *a =
		    ask(s, cases[i].name, cases[i].type, 3000);

		print_message("%s/%s: %s\n", cases[i].name,
			      dns_type_str(cases[i].type),
			      dns_status_str(a->status));
		assert_int_equal(a->status, cases[i].want);
		assert_int_equal(a->rcode, cases[i].rcode);
		assert_int_equal(a->n, 0);
		assert_null(a->rr);
	}
	dns_set_free(s);
}

static void
test_invalid(void **state)
{
	static char l63[64], l64[65], n253[254], n254[255];
	static const struct {
		const char *name;
		bool valid;
	} fixed[] = {
	    {"", false},
	    {".", false},
	    {"a..example.test", false},
	    {".a.example.test", false},
	    {"a.example.test..", false},
	    /* any octet but the dot may stand in a label (RFC 2181
	     * section 11); it is sent escaped */
	    {"a b.example.test", true},
	    {"a\\.example.test", true},
	    {"tab\t.example.test", true},
	    {"caf\xc3\xa9.example.test", true},
	    {"_dmarc.example.test", true},
	    {"x-1.example.test.", true},
	};
	struct dns_set *s;
	struct timespec dl;
	const struct dns_answer *a;

	(void)state;
	NEED_DNS();
	s = dns_set_new("t-invalid");
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
		struct dns_query *q = dns_submit(s, fixed[i].name, DNS_T_A);

		a = dns_answer(q);
		print_message("'%s'\n", fixed[i].name);
		if (fixed[i].valid)
			assert_int_not_equal(a->status, DNS_INVALID);
		else
			assert_int_equal(a->status, DNS_INVALID);
	}
	a = dns_answer(dns_submit(s, NULL, DNS_T_A));
	assert_int_equal(a->status, DNS_INVALID);

	/* octets outside letters and digits reach the server intact */
	a = ask(s, "Macro%Percent  Space\\x.example.test", DNS_T_A, 3000);
	assert_int_equal(a->status, DNS_DATA);
	assert_int_equal(a->n, 1);
	a = ask(s, "caf\xc3\xa9.example.test", DNS_T_A, 3000);
	assert_int_equal(a->status, DNS_DATA);

	/* label and name length limits, both sides of each */
	memset(l63, 'x', 63);
	memset(l64, 'x', 64);
	a = dns_answer(dns_submit(s, l64, DNS_T_A));
	assert_int_equal(a->status, DNS_INVALID);
	/* 253 octets = 4 x 63-octet labels minus 3, with dots */
	snprintf(n253, sizeof n253, "%.61s.%s.%s.%s", l63, l63, l63, l63);
	assert_int_equal(strlen(n253), 253);
	snprintf(n254, sizeof n254, "%.62s.%s.%s.%s", l63, l63, l63, l63);
	assert_int_equal(strlen(n254), 254);
	a = dns_answer(dns_submit(s, n254, DNS_T_A));
	assert_int_equal(a->status, DNS_INVALID);
	/* a final dot does not count */
	n254[253] = '.';
	a = ask(s, n254, DNS_T_A, 3000);
	assert_int_not_equal(a->status, DNS_INVALID);
	a = ask(s, n253, DNS_T_A, 3000);
	assert_int_equal(a->status, DNS_NXDOMAIN);
	a = ask(s, l63, DNS_T_A, 3000);
	assert_int_equal(a->status, DNS_NXDOMAIN);

	/* waiting on invalid queries returns at once */
	dns_deadline(&dl, 0);
	assert_int_equal(dns_wait(s, NULL, &dl), 0);
	dns_set_free(s);
}

static void
test_dedup(void **state)
{
	struct dns_set *s;
	struct dns_query *q1, *q2, *q3, *q4;
	struct timespec dl;

	(void)state;
	NEED_DNS();
	s = dns_set_new("t-dedup");
	q1 = dns_submit(s, "a.example.test", DNS_T_A);
	q2 = dns_submit(s, "A.Example.Test.", DNS_T_A);
	q3 = dns_submit(s, "a.example.test", DNS_T_AAAA);
	assert_ptr_equal(q1, q2);
	assert_ptr_not_equal(q1, q3);
	assert_string_equal(dns_query_name(q2), "a.example.test");
	assert_int_equal(dns_query_type(q3), DNS_T_AAAA);
	dns_deadline(&dl, 3000);
	assert_int_equal(dns_wait(s, NULL, &dl), 0);
	/* asking again after the answer: same handle, same answer */
	q4 = dns_submit(s, "a.example.test.", DNS_T_A);
	assert_ptr_equal(q1, q4);
	assert_int_equal(dns_answer(q4)->status, DNS_DATA);
	dns_set_free(s);
}

static void
test_query_cap(void **state)
{
	struct dns_set *s;
	struct dns_query *q;
	char name[32];

	(void)state;
	NEED_DNS();
	s = dns_set_new("t-qcap");
	/* invalid names are complete at once but take a slot */
	for (int i = 0; i < DNS_MAX_QUERIES; i++) {
		snprintf(name, sizeof name, "x..%d", i);
		q = dns_submit(s, name, DNS_T_A);
		assert_int_equal(dns_answer(q)->status, DNS_INVALID);
	}
	q = dns_submit(s, "a.example.test", DNS_T_A);
	assert_int_equal(dns_answer(q)->status, DNS_SERVFAIL);
	/* an existing query is still found */
	q = dns_submit(s, "x..7", DNS_T_A);
	assert_string_equal(dns_query_name(q), "x..7");
	dns_set_free(s);
}

static void
test_parallel(void **state)
{
	struct dns_set *s;
	struct dns_query *q[20];
	struct timespec dl;
	char name[64];
	double t0, el;

	(void)state;
	NEED_DNS();
	s = dns_set_new("t-par");
	t0 = now_ms();
	/* dnsd delays each of these by 300 ms */
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof name, "s%d.slow.test", i);
		q[i] = dns_submit(s, name, DNS_T_A);
	}
	dns_deadline(&dl, 5000);
	assert_int_equal(dns_wait(s, NULL, &dl), 0);
	el = now_ms() - t0;
	print_message("20 x 300 ms queries in %.0f ms\n", el);
	assert_true(el >= 290);
	assert_true(el < 3 * 300);
	for (int i = 0; i < 20; i++) {
		const struct dns_answer *a = dns_answer(q[i]);

		snprintf(name, sizeof name, "192.0.2.%d", 100 + i);
		assert_int_equal(a->status, DNS_DATA);
		assert_true(has_a(a, name));
		assert_true(a->ms >= 290);
	}
	assert_true(dns_set_wait_ms(s) >= 290);
	dns_set_reset_wait(s);
	assert_true(dns_set_wait_ms(s) == 0);
	dns_set_free(s);
}

static void
test_background(void **state)
{
	struct dns_set *s;
	struct dns_query *q;
	const struct dns_answer *a;
	int i;

	(void)state;
	NEED_DNS();
	s = dns_set_new("t-bg");
	q = dns_submit(s, "txt.example.test", DNS_T_TXT);
	/* no dns_wait: the dispatcher delivers the answer on its own */
	for (i = 0; i < 300; i++) {
		a = dns_answer(q);
		if (a->status != DNS_PENDING)
			break;
		sleep_ms(10);
	}
	assert_int_equal(a->status, DNS_DATA);
	assert_int_equal(dns_set_wait_ms(s), 0);
	dns_set_free(s);
}

static void
test_local_zones(void **state)
{
	static const struct {
		int af;
		const char *addr;
		const char *ptr;
	} ptrs[] = {
	    {AF_INET, "127.0.0.1", "loop.example.test"},
	    {AF_INET, "10.0.0.1", "ten.example.test"},
	    {AF_INET, "172.16.0.1", "s172a.example.test"},
	    {AF_INET, "172.31.255.1", "s172b.example.test"},
	    {AF_INET, "192.168.0.5", "priv.example.test"},
	    {AF_INET, "100.64.0.1", "cgnat.example.test"},
	    {AF_INET, "100.127.0.1", "cgnat2.example.test"},
	    {AF_INET, "169.254.0.1", "ll.example.test"},
	    {AF_INET, "192.0.2.1", "host.example.test"},
	    {AF_INET, "198.51.100.1", "tn2.example.test"},
	    {AF_INET, "203.0.113.1", "tn3.example.test"},
	    {AF_INET, "255.255.255.255", "bcast.example.test"},
	    {AF_INET, "0.0.0.1", "zero.example.test"},
	    {AF_INET6, "::1", "v6loop.example.test"},
	    {AF_INET6, "::", "v6any.example.test"},
	    {AF_INET6, "fd00::1", "ula.example.test"},
	    {AF_INET6, "fe80::1", "fe80.example.test"},
	    {AF_INET6, "fe9f::1", "fe9.example.test"},
	    {AF_INET6, "feaf::1", "fea.example.test"},
	    {AF_INET6, "febf::1", "feb.example.test"},
	    {AF_INET6, "2001:db8::1", "doc6.example.test"},
	    {AF_INET6, "::ffff:192.0.2.1", "host.example.test"},
	};
	static const struct {
		const char *name;
		const char *a;
	} names[] = {
	    {"localhost", "192.0.2.77"},      {"x.invalid", "192.0.2.78"},
	    {"x.onion", "192.0.2.79"},	      {"x.home.arpa", "192.0.2.80"},
	    {"x.local", "192.0.2.81"},	      {"x.resolver.arpa", "192.0.2.82"},
	    {"x.service.arpa", "192.0.2.83"}, {"a.example.test", "192.0.2.1"},
	};
	struct dns_set *s;

	(void)state;
	NEED_DNS();
	s = dns_set_new("t-local");
	for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) {
		unsigned char buf[16];
		char rev[128];
		const struct dns_answer *a;

		assert_int_equal(inet_pton(ptrs[i].af, ptrs[i].addr, buf), 1);
		assert_int_equal(
		    dns_reverse_name(ptrs[i].af, buf,
				     ptrs[i].af == AF_INET6 &&
					     strchr(ptrs[i].addr, '.') == NULL
					 ? "ip6.arpa"
					 : "in-addr.arpa",
				     rev, sizeof rev),
		    0);
		a = ask(s, rev, DNS_T_PTR, 3000);
		print_message("%s -> %s: %s\n", ptrs[i].addr, rev,
			      dns_status_str(a->status));
		assert_int_equal(a->status, DNS_DATA);
		assert_string_equal(a->rr[0].name, ptrs[i].ptr);
	}
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const struct dns_answer *a =
		    ask(s, names[i].name, DNS_T_A, 3000);

		print_message("%s: %s\n", names[i].name,
			      dns_status_str(a->status));
		assert_int_equal(a->status, DNS_DATA);
		assert_true(has_a(a, names[i].a));
	}
	dns_set_free(s);
}

static void
test_reverse_name(void **state)
{
	static const struct {
		int af;
		const char *addr;
		const char *suffix;
		size_t outlen;
		int rc;
		const char *want;
	} cases[] = {
	    {AF_INET, "192.0.2.1", "in-addr.arpa", 64, 0,
	     "1.2.0.192.in-addr.arpa"},
	    {AF_INET, "10.20.30.40", "zen.example", 64, 0,
	     "40.30.20.10.zen.example"},
	    {AF_INET, "255.255.255.255", "x", 64, 0, "255.255.255.255.x"},
	    {AF_INET6, "::ffff:192.0.2.1", "in-addr.arpa", 64, 0,
	     "1.2.0.192.in-addr.arpa"},
	    {AF_INET6, "2001:db8::1", "ip6.arpa", 128, 0,
	     "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0."
	     "0.2.ip6.arpa"},
	    {AF_INET6, "2001:DB8:ABCD:12::FF", "dnsbl.test", 128, 0,
	     "f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.1.0.0.d.c.b.a.8.b.d.0.1.0."
	     "0.2.dnsbl.test"},
	    /* exactly fits, and one octet short */
	    {AF_INET, "192.0.2.1", "in-addr.arpa", 23, 0,
	     "1.2.0.192.in-addr.arpa"},
	    {AF_INET, "192.0.2.1", "in-addr.arpa", 22, AM_ERANGE, ""},
	    {AF_INET6, "2001:db8::1", "ip6.arpa", 73, 0,
	     "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0."
	     "0.2.ip6.arpa"},
	    {AF_INET6, "2001:db8::1", "ip6.arpa", 72, AM_ERANGE, ""},
	    {AF_INET6, "2001:db8::1", "ip6.arpa", 10, AM_ERANGE, ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned char buf[16];
		char out[128];

		memset(out, 'Z', sizeof out);
		assert_int_equal(inet_pton(cases[i].af, cases[i].addr, buf), 1);
		assert_int_equal(dns_reverse_name(cases[i].af, buf,
						  cases[i].suffix, out,
						  cases[i].outlen),
				 cases[i].rc);
		assert_string_equal(out, cases[i].want);
	}
}

static void
test_log_lines(void **state)
{
	struct dns_set *s;
	struct timespec dl;
	char path[] = "/tmp/test_dns_log.XXXXXX";
	char buf[8192];
	int fd, saved;
	ssize_t n;

	(void)state;
	NEED_DNS();
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	log_open(true, false);
	log_setup(LOG_L_DEBUG, LOG_F_TEXT);
	dup2(fd, STDERR_FILENO);
	s = dns_set_new("t-log");
	(void)dns_submit(s, "a.example.test", DNS_T_TXT);
	(void)dns_submit(s, "bad\001name.example.test", DNS_T_A);
	dns_deadline(&dl, 3000);
	(void)dns_wait(s, NULL, &dl);
	dns_set_free(s);
	dup2(saved, STDERR_FILENO);
	close(saved);
	log_setup(LOG_L_INFO, LOG_F_TEXT);
	n = pread(fd, buf, sizeof buf - 1, 0);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	print_message("%s", buf);
	assert_non_null(strstr(buf, "t-log: dns a.example.test/TXT: sent"));
	assert_non_null(strstr(buf, "t-log: dns a.example.test/TXT: nodata "
				    "rcode=0"));
	/* network data is escaped */
	assert_non_null(strstr(buf, "dns bad\\x01name.example.test/A: sent"));
	assert_null(strchr(buf, '\001'));
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(dns_status_str(DNS_DATA), "data");
	assert_string_equal(dns_status_str(DNS_NXDOMAIN), "nxdomain");
	assert_string_equal(dns_status_str(DNS_TIMEOUT), "timeout");
	assert_string_equal(dns_status_str(DNS_BOGUS), "bogus");
	assert_string_equal(dns_type_str(DNS_T_TXT), "TXT");
	assert_string_equal(dns_type_str(DNS_T_AAAA), "AAAA");
}

struct thr {
	int id;
	int fails; /* checks that did not hold */
};

static void *
thread_main(void *arg)
{
	struct thr *t = arg;
	char tag[16], name[64];
	struct dns_set *s;
	struct dns_query *qa, *qmx, *qtxt, *qnx, *qslow;
	struct timespec dl;

	snprintf(tag, sizeof tag, "thr%d", t->id);
	for (int round = 0; round < 5; round++) {
		s = dns_set_new(tag);
		if (s == NULL) {
			t->fails++;
			return NULL;
		}
		qa = dns_submit(s, "a.example.test", DNS_T_A);
		qmx = dns_submit(s, "example.test", DNS_T_MX);
		qtxt = dns_submit(s, "txt.example.test", DNS_T_TXT);
		snprintf(name, sizeof name, "t%d-%d.nope.example.test", t->id,
			 round);
		qnx = dns_submit(s, name, DNS_T_A);
		snprintf(name, sizeof name, "t%d-%d.slow.test", t->id, round);
		qslow = dns_submit(s, name, DNS_T_A);
		dns_deadline(&dl, 5000);
		if (dns_wait(s, NULL, &dl) != 0)
			t->fails++;
		if (dns_answer(qa)->status != DNS_DATA ||
		    dns_answer(qa)->n != 2)
			t->fails++;
		if (dns_answer(qmx)->status != DNS_DATA ||
		    dns_answer(qmx)->n != 2)
			t->fails++;
		if (dns_answer(qtxt)->status != DNS_DATA)
			t->fails++;
		if (dns_answer(qnx)->status != DNS_NXDOMAIN)
			t->fails++;
		/* slow.test children own nothing: NXDOMAIN after 300 ms */
		if (dns_answer(qslow)->status != DNS_NXDOMAIN)
			t->fails++;
		dns_set_free(s);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	pthread_t th[8];
	struct thr t[8];

	(void)state;
	NEED_DNS();
	for (int i = 0; i < 8; i++) {
		t[i].id = i;
		t[i].fails = 0;
		assert_int_equal(
		    pthread_create(&th[i], NULL, thread_main, &t[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		print_message("thread %d: %d failed checks\n", i, t[i].fails);
		assert_int_equal(t[i].fails, 0);
	}
}

static void
test_free_in_flight(void **state)
{
	char name[64];

	(void)state;
	NEED_DNS();
	/*
	 * Free sets while their queries are in flight, at times around the
	 * 300 ms answer of slow.test, so that some frees race a callback.
	 */
	for (int i = 0; i < 24; i++) {
		struct dns_set *s = dns_set_new("t-free");

		for (int k = 0; k < 6; k++) {
			snprintf(name, sizeof name, "f%d-%d.slow.test", i, k);
			(void)dns_submit(s, name, DNS_T_A);
		}
		(void)dns_submit(s, "a.example.test", DNS_T_A);
		sleep_ms(i < 4 ? 0 : 260 + (i % 8) * 10);
		dns_set_free(s);
	}
	/* the engine still works */
	{
		struct dns_set *s = dns_set_new("t-free2");
		const struct dns_answer *a =
		    ask(s, "txt.example.test", DNS_T_TXT, 3000);

		assert_int_equal(a->status, DNS_DATA);
		dns_set_free(s);
	}
}

static void
test_timeout(void **state)
{
	struct dns_set *s;
	struct dns_query *qd, *qa, *again;
	struct timespec dl;
	double t0, el;
	int rc;

	(void)state;
	NEED_DNS();
	s = dns_set_new("t-timeout");
	t0 = now_ms();
	qd = dns_submit(s, "x.dead.test", DNS_T_A);
	qa = dns_submit(s, "a.example.test", DNS_T_MX);
	dns_deadline(&dl, 800);
	rc = dns_wait(s, NULL, &dl);
	el = now_ms() - t0;
	print_message("timeout after %.0f ms\n", el);
	assert_int_equal(rc, AM_ETIMEOUT);
	assert_true(el >= 790);
	assert_true(el < 1500);
	assert_int_equal(dns_answer(qd)->status, DNS_TIMEOUT);
	assert_true(dns_answer(qd)->ms >= 790);
	/* the other query was answered (NODATA: a.example.test has no MX) */
	assert_int_equal(dns_answer(qa)->status, DNS_NODATA);
	assert_true(dns_set_wait_ms(s) >= 790);

	/* a timed-out query stays timed out, and waiting on it is instant */
	again = dns_submit(s, "X.Dead.Test", DNS_T_A);
	assert_ptr_equal(again, qd);
	dns_deadline(&dl, 2000);
	t0 = now_ms();
	assert_int_equal(dns_wait(s, again, &dl), 0);
	assert_true(now_ms() - t0 < 50);
	assert_int_equal(dns_answer(again)->status, DNS_TIMEOUT);

	/* waiting on one query only: the deadline applies to it alone */
	qd = dns_submit(s, "y.dead.test", DNS_T_TXT);
	qa = dns_submit(s, "s0-late.slow.test", DNS_T_A);
	dns_deadline(&dl, 400);
	t0 = now_ms();
	assert_int_equal(dns_wait(s, qd, &dl), AM_ETIMEOUT);
	el = now_ms() - t0;
	assert_true(el >= 390 && el < 1000);
	assert_int_equal(dns_answer(qd)->status, DNS_TIMEOUT);
	dns_deadline(&dl, 3000);
	assert_int_equal(dns_wait(s, qa, &dl), 0);
	assert_int_equal(dns_answer(qa)->status, DNS_NXDOMAIN);

	/* a deadline already past cancels at once */
	qd = dns_submit(s, "z.dead.test", DNS_T_A);
	dns_deadline(&dl, 0);
	assert_int_equal(dns_wait(s, NULL, &dl), AM_ETIMEOUT);
	assert_int_equal(dns_answer(qd)->status, DNS_TIMEOUT);
	dns_set_free(s);
}

static void
test_budget_per_message(void **state)
{
	struct dns_set *s;
	struct dns_query *q;
	char name[32];
	int msgs;

	(void)state;
	NEED_DNS();
	s = dns_set_new("t-budget");
	assert_int_equal(dns_set_over_budget(s), DNS_BUDGET_OK);
	/* one message: DNS_MAX_QUERIES new queries (invalid: nothing sent) */
	for (int i = 0; i < DNS_MAX_QUERIES; i++) {
		snprintf(name, sizeof name, "m0..%d", i);
		(void)dns_submit(s, name, DNS_T_A);
	}
	assert_int_equal(dns_set_over_budget(s), DNS_BUDGET_OK);
	q = dns_submit(s, "a.example.test", DNS_T_A);
	assert_int_equal(dns_answer(q)->status, DNS_SERVFAIL);
	assert_int_equal(dns_set_over_budget(s), DNS_BUDGET_MESSAGE);
	/* the next message has its own budget: the spoof after RSETs */
	dns_set_new_message(s);
	assert_int_equal(dns_set_over_budget(s), DNS_BUDGET_OK);
	q = dns_submit(s, "a.example.test", DNS_T_A);
	{
		struct timespec dl;

		dns_deadline(&dl, 3000);
		(void)dns_wait(s, q, &dl);
	}
	assert_int_equal(dns_answer(q)->status, DNS_DATA);
	/* queries of earlier messages are still found, at no cost */
	q = dns_submit(s, "m0..7", DNS_T_A);
	assert_string_equal(dns_query_name(q), "m0..7");
	/* the session's budget: DNS_MAX_CONN_QUERIES in all, then for good */
	for (msgs = 1; dns_set_over_budget(s) != DNS_BUDGET_CONNECTION;
	     msgs++) {
		dns_set_new_message(s);
		for (int i = 0; i < DNS_MAX_QUERIES &&
				dns_set_over_budget(s) == DNS_BUDGET_OK;
		     i++) {
			snprintf(name, sizeof name, "m%d..%d", msgs, i);
			(void)dns_submit(s, name, DNS_T_A);
		}
		assert_true(msgs < 2 * DNS_MAX_CONN_QUERIES / DNS_MAX_QUERIES);
	}
	assert_int_equal(dns_set_count(s), DNS_MAX_CONN_QUERIES);
	dns_set_new_message(s);
	assert_int_equal(dns_set_over_budget(s), DNS_BUDGET_CONNECTION);
	q = dns_submit(s, "fresh..name", DNS_T_A);
	assert_int_equal(dns_answer(q)->status, DNS_SERVFAIL);
	dns_set_free(s);
}

/*
 * A UDP relay between libunbound and dnsd that can black-hole: the
 * forwarder of test_down_and_back, which takes DNS away and gives it
 * back without a port change (as a forwarder that stops and restarts).
 */
struct relay {
	int fd; /* what libunbound talks to */
	int up; /* towards dnsd */
	struct sockaddr_in dnsd;
	struct sockaddr_in client[65536]; /* by DNS id */
	atomic_bool drop;		  /* black-hole everything */
	atomic_bool stop;
	pthread_t th;
	unsigned short port;
};

static void *
relay_main(void *arg)
{
	struct relay *r = arg;
	unsigned char buf[4096];

	while (!atomic_load(&r->stop)) {
		struct pollfd p[2] = {{r->fd, POLLIN, 0}, {r->up, POLLIN, 0}};
		struct sockaddr_in from;
		socklen_t fl = sizeof from;
		ssize_t n;

		if (poll(p, 2, 50) <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			n = recvfrom(r->fd, buf, sizeof buf, 0,
				     (struct sockaddr *)&from, &fl);
			if (n >= 12 && !atomic_load(&r->drop)) {
				r->client[buf[0] << 8 | buf[1]] = from;
				(void)sendto(r->up, buf, (size_t)n, 0,
					     (struct sockaddr *)&r->dnsd,
					     sizeof r->dnsd);
			}
		}
		if (p[1].revents & POLLIN) {
			n = recv(r->up, buf, sizeof buf, 0);
			if (n >= 12 && !atomic_load(&r->drop))
				(void)sendto(r->fd, buf, (size_t)n, 0,
					     (struct sockaddr *)&r
						 ->client[buf[0] << 8 | buf[1]],
					     sizeof(struct sockaddr_in));
		}
	}
	return NULL;
}

static struct relay *
relay_start(void)
{
	struct relay *r = calloc(1, sizeof *r);
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof a;
	const char *port = getenv("AM_TEST_DNS_PORT");

	assert_non_null(r);
	assert_non_null(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->fd = socket(AF_INET, SOCK_DGRAM, 0);
	r->up = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(r->fd >= 0 && r->up >= 0);
	assert_int_equal(bind(r->fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(r->fd, (struct sockaddr *)&a, &al), 0);
	r->port = ntohs(a.sin_port);
	r->dnsd.sin_family = AF_INET;
	r->dnsd.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->dnsd.sin_port = htons((unsigned short)atoi(port));
	assert_int_equal(pthread_create(&r->th, NULL, relay_main, r), 0);
	return r;
}

static void
relay_stop(struct relay *r)
{
	atomic_store(&r->stop, true);
	pthread_join(r->th, NULL);
	close(r->fd);
	close(r->up);
	free(r);
}

/* Start the engine again, forwarding to fwd (the relay, or dnsd). */
static void
reinit(const char *fwd)
{
	struct dns_options opt = {.mode = DNS_MODE_FORWARD, .forward = fwd};
	char err[256] = "";

	dns_shutdown();
	assert_int_equal(dns_init(&opt, err, sizeof err), 0);
}

/*
 * Ask a fresh name (nothing from the cache) and wait up to ms; the
 * status.
 */
static enum dns_status
ask_fresh(struct dns_set *s, const char *tag, int i, unsigned int ms)
{
	char name[64];

	snprintf(name, sizeof name, "%s%d.nope.example.test", tag, i);
	return ask(s, name, DNS_T_A, ms)->status;
}

/* The log text written to stderr while fn runs. */
static int log_fd = -1, log_saved = -1;
static char log_path[] = "/tmp/test_dns_down.XXXXXX";

static void
log_capture(void)
{
	log_fd = mkstemp(log_path);
	assert_true(log_fd >= 0);
	unlink(log_path);
	log_saved = dup(STDERR_FILENO);
	log_open(true, false);
	log_setup(LOG_L_INFO, LOG_F_TEXT);
	dup2(log_fd, STDERR_FILENO);
}

static char *
log_release(void)
{
	static char buf[16384];
	ssize_t n;

	dup2(log_saved, STDERR_FILENO);
	close(log_saved);
	n = pread(log_fd, buf, sizeof buf - 1, 0);
	close(log_fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/*
 * DNS goes away: failing lookups with no success for DNS_DOWN_AFTER_MS
 * make dns_down() true, once, with one warning; a message that failed
 * meanwhile settles to DOWN; when DNS comes back, a fresh lookup works
 * and DNS is up again within 2 s, with one warning.
 */
static void
test_down_and_back(void **state)
{
	struct relay *r;
	struct dns_set *s;
	char fwd[64], *log;
	struct timespec dl;
	double t0, back;
	int i = 0;

	(void)state;
	NEED_DNS();
	r = relay_start();
	snprintf(fwd, sizeof fwd, "127.0.0.1@%u", r->port);
	reinit(fwd);
	log_capture();
	s = dns_set_new("t-down");
	assert_int_equal(ask_fresh(s, "up", 0, 3000), DNS_NXDOMAIN);
	assert_false(dns_down());

	atomic_store(&r->drop, true);
	t0 = now_ms();
	/* one lookup failing is not yet DNS down ... */
	assert_int_equal(ask_fresh(s, "out", i++, 1000), DNS_TIMEOUT);
	assert_false(dns_down());
	/* ... a settle within a short deadline stays unsure ... */
	dns_deadline(&dl, 200);
	assert_int_equal(dns_health_settle(s, &dl), DNS_HEALTH_UNSURE);
	/* ... and after DNS_DOWN_AFTER_MS of failures, it is down */
	while (!dns_down() && now_ms() - t0 < 6000)
		(void)ask_fresh(s, "out", i++, 700);
	print_message("down after %.0f ms\n", now_ms() - t0);
	assert_true(dns_down());
	assert_true(now_ms() - t0 >= DNS_DOWN_AFTER_MS - 100);
	dns_deadline(&dl, 1000);
	assert_int_equal(dns_health_settle(s, &dl), DNS_HEALTH_DOWN);
	/* a cached answer is no sign of life */
	assert_int_equal(ask(s, "up0.nope.example.test", DNS_T_A, 500)->status,
			 DNS_NXDOMAIN);
	assert_true(dns_down());

	atomic_store(&r->drop, false);
	t0 = now_ms();
	while (now_ms() - t0 < 5000 &&
	       (ask_fresh(s, "back", i++, 500) != DNS_NXDOMAIN || dns_down()))
		;
	back = now_ms() - t0;
	print_message("lookups work again %.0f ms after DNS came back\n", back);
	assert_false(dns_down());
	assert_true(back < 2000);
	dns_set_free(s);
	log = log_release();
	print_message("%s", log);
	assert_int_equal(count(log, "DNS is down: no lookup has succeeded "
				    "for "),
			 1);
	assert_non_null(strstr(log, "(last error: timeout for out"));
	assert_non_null(strstr(log, fwd));
	assert_int_equal(count(log, "DNS is back: lookups succeed again "
				    "after "),
			 1);
	reinit(getenv("AM_TEST_DNS"));
	relay_stop(r);
}

/*
 * One domain whose servers never answer, while DNS works: never DNS
 * down, and a message whose lookup failed settles to UP (the probe is
 * answered) well within its deadline.
 */
static void
test_one_dead_domain(void **state)
{
	struct dns_set *s;
	struct timespec dl;
	double t0;

	(void)state;
	NEED_DNS();
	s = dns_set_new("t-dead");
	t0 = now_ms();
	for (int i = 0; i < 5; i++) {
		char name[64];

		snprintf(name, sizeof name, "d%d.dead.test", i);
		assert_int_equal(ask(s, name, DNS_T_TXT, 900)->status,
				 DNS_TIMEOUT);
	}
	assert_true(now_ms() - t0 >= DNS_DOWN_AFTER_MS);
	assert_false(dns_down());
	dns_deadline(&dl, 2000);
	t0 = now_ms();
	assert_int_equal(dns_health_settle(s, &dl), DNS_HEALTH_UP);
	assert_true(now_ms() - t0 < 1000);
	assert_false(dns_down());
	dns_set_free(s);
}

/*
 * DNSSEC group: run by tests/unit/dnssec/run.sh, which serves a zone
 * signed at test time from an unbound daemon (AM_TEST_DNSSEC) and
 * gives its DNSKEY as the trust anchor (AM_TEST_TA).
 */
static int
dnssec_setup(void **state)
{
	struct dns_options opt = {.mode = DNS_MODE_FORWARD};
	char err[256] = "";
	int rc;

	(void)state;
	opt.forward = getenv("AM_TEST_DNSSEC");
	/* configuration errors first, while no context runs */
	opt.trust_anchor = "/nonexistent/ta.key";
	rc = dns_init(&opt, err, sizeof err);
	fprintf(stderr, "bad trust anchor: %d %s\n", rc, err);
	if (rc != AM_ECONF || strstr(err, "/nonexistent/ta.key") == NULL)
		return -1;
	opt.trust_anchor = NULL;
	opt.forward = "not-an-address";
	rc = dns_init(&opt, err, sizeof err);
	fprintf(stderr, "bad forwarder: %d %s\n", rc, err);
	if (rc != AM_ECONF)
		return -1;
	opt.forward = " , ";
	if (dns_init(&opt, err, sizeof err) != AM_ECONF)
		return -1;

	opt.forward = getenv("AM_TEST_DNSSEC");
	opt.trust_anchor = getenv("AM_TEST_TA");
	if (dns_init(&opt, err, sizeof err) != 0) {
		fprintf(stderr, "dns_init: %s\n", err);
		return -1;
	}
	/* a second init is refused */
	if (dns_init(&opt, err, sizeof err) != AM_ESTATE)
		return -1;
	have_dns = true;
	return 0;
}

static void
test_dnssec(void **state)
{
	static const struct {
		const char *name;
		enum dns_type type;
		enum dns_status want;
		bool secure;
	} cases[] = {
	    {"www.sec.test", DNS_T_A, DNS_DATA, true},
	    {"www.sec.test", DNS_T_AAAA, DNS_DATA, true},
	    {"sec.test", DNS_T_MX, DNS_DATA, true},
	    {"txt.sec.test", DNS_T_TXT, DNS_DATA, true},
	    /* NSEC-proven denials are secure too */
	    {"nope.sec.test", DNS_T_A, DNS_NXDOMAIN, true},
	    {"www.sec.test", DNS_T_MX, DNS_NODATA, true},
	    /* its A record was changed after signing */
	    {"evil.sec.test", DNS_T_A, DNS_BOGUS, false},
	};
	struct dns_set *s;

	(void)state;
	NEED_DNS();
	s = dns_set_new("t-dnssec");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct dns_answer *a =
		    ask(s, cases[i].name, cases[i].type, 5000);

		print_message(
		    "%s/%s: %s%s\n", cases[i].name, dns_type_str(cases[i].type),
		    dns_status_str(a->status), a->secure ? " secure" : "");
		assert_int_equal(a->status, cases[i].want);
		assert_int_equal(a->secure, cases[i].secure);
		if (cases[i].want == DNS_BOGUS) {
			/* nothing of a bogus answer is handed out */
			assert_int_equal(a->n, 0);
			assert_null(a->rr);
		}
	}
	assert_string_equal(
	    dns_answer(dns_submit(s, "txt.sec.test", DNS_T_TXT))->rr[0].txt,
	    "v=spf1 -all");
	dns_set_free(s);
}

int
main(void)
{
	const struct CMUnitTest dnssec_tests[] = {
	    cmocka_unit_test(test_dnssec),
	};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_reverse_name),
	    cmocka_unit_test(test_a_aaaa),
	    cmocka_unit_test(test_mx),
	    cmocka_unit_test(test_txt),
	    cmocka_unit_test(test_rr_cap),
	    cmocka_unit_test(test_ptr_cname),
	    cmocka_unit_test(test_statuses),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_dedup),
	    cmocka_unit_test(test_query_cap),
	    cmocka_unit_test(test_log_lines),
	    cmocka_unit_test(test_background),
	    cmocka_unit_test(test_local_zones),
	    cmocka_unit_test(test_parallel),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_free_in_flight),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_budget_per_message),
	    cmocka_unit_test(test_one_dead_domain),
	    cmocka_unit_test(test_down_and_back),
	};

	if (getenv("AM_TEST_DNSSEC") != NULL)
		return cmocka_run_group_tests_name(
		    "dnssec", dnssec_tests, dnssec_setup, group_teardown);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
