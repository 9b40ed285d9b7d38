/* SPDX-License-Identifier: BSD-2-Clause */
/* fuzz_dkim_keyname - libFuzzer target: DKIM-Signature tag scan */
/*
 * Input: a DKIM-Signature header field value (NUL ends it, as in a
 * milter header callback). dkimv_keyname() must return either -1 with
 * out "" or 0 with a lower-case "s._domainkey.d" of at most 253 octets
 * that fits out; a small out buffer must fail cleanly.
 */
#include "dkimv.h"

#include "fuzz_util.h"

static void
check(const char *text, size_t outlen)
{
	char out[512];
	int rc;

	memset(out, 'X', sizeof out);
	rc = dkimv_keyname(text, out, outlen);
	if (rc == -1) {
		if (outlen > 0 && out[0] != '\0')
			abort();
		return;
	}
	if (rc != 0)
		abort();
	size_t n = strnlen(out, outlen);
	if (n == outlen || n > 253 || strstr(out, "._domainkey.") == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];
		if ((c >= 'A' && c <= 'Z') || c <= 0x20 || c >= 0x7f)
			abort();
	}
	if (out[n - 1] == '.' || out[outlen] != 'X')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *f[1];

	fuzz_fields(data, size, f, 1);
	if (f[0] == NULL)
		return 0;
	check(f[0], 300);
	check(f[0], 24);
	check(f[0], 1);
	free(f[0]);
	return 0;
}
