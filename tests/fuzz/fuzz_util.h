/*
 * fuzz_util - helpers shared by the libFuzzer targets in tests/fuzz
 *
 * fuzz_fields() splits an input at NUL octets into at most max
 * NUL-terminated strings (a missing field is ""); fuzz_header_ok()
 * checks the invariants of a header value we write: printable ASCII
 * only, a LF only as the fold "\n\t" (no CR, no bare LF, no 8-bit, no
 * NUL inside), quoted-strings closed and comments balanced, honouring
 * backslash quoted-pairs. Both abort() on a broken invariant so that
 * libFuzzer and the replay runner report it.
 *
 * Ownership: fuzz_fields() returns one malloc'd block holding every
 *   field; free(f[0]) frees them all (f[0] is NULL on ENOMEM).
 * Threads: pure.
 * Errors: none; abort() on an invariant violation.
 */
#ifndef AM_FUZZ_UTIL_H
#define AM_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void
fuzz_fields(const uint8_t *data, size_t size, char **f, size_t max)
{
	char *buf = malloc(size + max + 1);
	size_t k = 0, start = 0;

	for (size_t i = 0; i < max; i++)
		f[i] = NULL;
	if (buf == NULL)
		return;
	memcpy(buf, data, size);
	memset(buf + size, 0, max + 1);
	for (size_t i = 0; i <= size && k < max; i++) {
		if (i == size || buf[i] == '\0') {
			f[k++] = buf + start;
			start = i + 1;
		}
	}
	/* missing fields are "" (the NUL after the input) */
	for (; k < max; k++)
		f[k] = buf + size;
}

static inline void
fuzz_header_ok(const char *h)
{
	bool quoted = false;
	int depth = 0;

	for (const char *p = h; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '\n') {
			if (p[1] != '\t' || quoted || depth > 0)
				abort(); /* fold only between items */
			continue;
		}
		if (c != '\t' && (c < 0x20 || c > 0x7e))
			abort();
		if (c == '\\' && (quoted || depth > 0)) {
			p++;
			if (*p == '\0' || *p == '\n')
				abort(); /* a quoted-pair needs its octet */
			continue;
		}
		if (quoted) {
			if (c == '"')
				quoted = false;
		} else if (c == '"' && depth == 0) {
			quoted = true;
		} else if (c == '(') {
			depth++;
		} else if (c == ')') {
			if (--depth < 0)
				abort();
		}
	}
	if (quoted || depth != 0)
		abort();
}

#endif
