/* SPDX-License-Identifier: BSD-2-Clause */
/* fuzz_fromaddr - libFuzzer target: From: address parsers (DMARC, log) */
/*
 * Input: a From: header field body. It goes through fromaddr_parse()
 * (DMARC's strict parser) and fromaddr_harvest() (its fail-closed
 * reading); the outputs must be bounded, NUL-terminated, lower case,
 * and a domain_ok or harvested domain a plain host name.
 */
#include <stdio.h>

#include "fromaddr.h"

#include "fuzz_util.h"

static void
check_domain(const char *d, size_t cap, bool strict)
{
	size_t n = strnlen(d, cap);

	if (n == cap)
		abort(); /* not NUL-terminated within its buffer */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c >= 'A' && c <= 'Z')
			abort();
		if (strict && !((c >= 'a' && c <= 'z') ||
				(c >= '0' && c <= '9') || c == '-' ||
				c == '.' || c == '_'))
			abort();
	}
	if (strict && (n == 0 || d[n - 1] == '.'))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fromaddr_list fl;
	int rc;

	memset(&fl, 0xa5, sizeof fl);
	rc = fromaddr_parse((const char *)data, size, &fl);
	if (rc == 0) {
		if (fl.n > FROMADDR_MAX || fl.n > fl.total ||
		    (fl.total <= FROMADDR_MAX && fl.n != fl.total))
			abort();
		for (size_t i = 0; i < fl.n; i++)
			check_domain(fl.addr[i].domain, FROMADDR_MAX_DOMAIN,
				     fl.addr[i].domain_ok);
	}

	{
		struct fromaddr_set set = {0};

		fromaddr_harvest((const char *)data, size, &set);
		if (set.n > FROMADDR_MAX_DOMAINS)
			abort();
		for (size_t i = 0; i < set.n; i++)
			check_domain(set.domain[i], FROMADDR_MAX_DOMAIN, true);
	}
	return 0;
}
