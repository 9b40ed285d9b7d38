/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * dnstest - the DNS engine for unit tests that run under with-dnsd.sh
 *
 * dnstest_init() starts the engine in forward mode to AM_TEST_DNS (the
 * loopback dnsd). Returns 1 when it runs, 0 when AM_TEST_DNS is not set
 * (the test was not started through tests/dnsd/with-dnsd.sh; a message
 * says so), -1 when dns_init() failed (its message is printed).
 *
 * dnstest_setup() / dnstest_teardown() are that as a cmocka group setup
 * (failing when the engine does not run) and its teardown, which also
 * drops orgdom's public suffix list (loaded by the DMARC tests).
 *
 * Ownership: the caller stops the engine with dns_shutdown().
 * Threads: call from the test's setup, before any query.
 */
#ifndef AM_DNSTEST_H
#define AM_DNSTEST_H

#include <stdio.h>
#include <stdlib.h>

#include "dns.h"
#include "orgdom.h"

static inline int
dnstest_init(void)
{
	const char *fwd = getenv("AM_TEST_DNS");
	struct dns_options opt = {.mode = DNS_MODE_FORWARD, .forward = fwd};
	char err[256] = "";

	if (fwd == NULL) {
		fprintf(stderr, "AM_TEST_DNS not set (run under with-dnsd)\n");
		return 0;
	}
	if (dns_init(&opt, err, sizeof err) != 0) {
		fprintf(stderr, "dns_init: %s\n", err);
		return -1;
	}
	return 1;
}

static inline int
dnstest_setup(void **state)
{
	(void)state;
	return dnstest_init() == 1 ? 0 : -1;
}

static inline int
dnstest_teardown(void **state)
{
	(void)state;
	dns_shutdown();
	orgdom_shutdown();
	return 0;
}

#endif
