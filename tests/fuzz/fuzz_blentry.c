/* SPDX-License-Identifier: BSD-2-Clause */
/* fuzz_blentry - libFuzzer target: DNSBL entry parser (postscreen syntax) */
/*
 * Input: one entry "zone[=filter][*weight]" (configuration text, but
 * the parser must still be safe). A parsed entry is matched against a
 * few answers; a failed parse leaves a NUL-terminated error message.
 */
#include <arpa/inet.h>

#include "blentry.h"

#include "fuzz_util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *addrs[] = {
		"127.0.0.2", "127.0.0.0", "127.255.255.255", "0.0.0.0",
		"255.255.255.255", "127.0.1.10",
	};
	struct blentry e;
	char err[128], *f[1];
	int rc;

	fuzz_fields(data, size, f, 1);
	if (f[0] == NULL)
		return 0;
	memset(&e, 0, sizeof e);
	memset(err, 'X', sizeof err);
	rc = blentry_parse(f[0], &e, err, sizeof err);
	if (rc == 0) {
		if (e.zone == NULL || e.text == NULL)
			abort();
		for (unsigned int k = 0; e.has_filter && k < 4; k++)
			if (e.octet[k].n > BLENTRY_MAX_ALT)
				abort();
		for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
			struct in_addr a;

			inet_pton(AF_INET, addrs[i], &a);
			(void)blentry_match(&e, a);
		}
		if (size >= 4) {
			struct in_addr a;

			memcpy(&a, data, 4);
			(void)blentry_match(&e, a);
		}
	} else if (strnlen(err, sizeof err) == sizeof err) {
		abort();
	}
	blentry_free(&e);
	free(f[0]);
	return 0;
}
