/* SPDX-License-Identifier: BSD-2-Clause */
/* fuzz_report_rua - libFuzzer target: rua= tag and mailto: URI parser */
/*
 * Input: a DMARC record's text (its rua= value is parsed when it has
 * one), and the same octets as a rua value of their own. Every
 * comma-separated element is either taken or counted as ignored; a
 * destination is a NUL-terminated local@host of printable ASCII without
 * space, '<', '>', ',', '"' or a line break (it goes into a To:
 * header), and its host is the lower-cased part after the last '@'.
 */
#include <ctype.h>
#include <stdio.h>

#include "log.h"
#include "report_rua.h"

#include "fuzz_util.h"

static void
check(const char *v, size_t len, size_t max)
{
	struct report_dest d[REPORT_RUA_MAX];
	size_t n = 0, elems = 1;
	unsigned int ign;

	for (size_t i = 0; i < len; i++)
		elems += v[i] == ',';
	ign = report_rua_parse("fuzz.example", v, len, d, max, &n);
	if (n > max || n + ign != elems)
		abort();
	for (size_t i = 0; i < n; i++) {
		const char *at;
		size_t alen = strnlen(d[i].addr, sizeof d[i].addr);

		if (alen == sizeof d[i].addr ||
		    strnlen(d[i].host, sizeof d[i].host) == sizeof d[i].host)
			abort();
		for (size_t k = 0; k < alen; k++) {
			unsigned char c = (unsigned char)d[i].addr[k];

			if (c <= 0x20 || c >= 0x7f || strchr("<>,\"", c))
				abort();
		}
		at = strrchr(d[i].addr, '@');
		if (at == NULL || at == d[i].addr ||
		    strcasecmp(at + 1, d[i].host) != 0)
			abort();
		for (const char *h = d[i].host; *h != '\0'; h++)
			if (isupper((unsigned char)*h))
				abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *v;
	size_t vlen;
	static bool quiet;

	if (!quiet) {
		log_setup(LOG_L_ERROR, LOG_F_TEXT); /* ignored URIs log */
		quiet = true;
	}
	if (report_rua_tag((const char *)data, size, &v, &vlen)) {
		if (v < (const char *)data ||
		    v + vlen > (const char *)data + size)
			abort();
		check(v, vlen, 2);
	}
	check((const char *)data, size, REPORT_RUA_MAX);
	return 0;
}
