/* SPDX-License-Identifier: BSD-2-Clause */
/* fuzz_arread - libFuzzer target: upstream Authentication-Results reader */
/*
 * Input: an Authentication-Results header value (NUL-terminated copy;
 * an embedded NUL ends it, as in a milter header). arread_spf() must
 * return one of its statuses; id and domain must be NUL-terminated in
 * their buffers; with ARREAD_OK the domain is a lower-case host name
 * and the result one of the seven SPF results; otherwise domain is ""
 * and result none. Over ARREAD_MAX_INPUT octets is never ARREAD_OK.
 */
#include "arread.h"

#include "fuzz_util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arread_spf a;
	char *v = malloc(size + 1);
	int st;

	if (v == NULL)
		return 0;
	memcpy(v, data, size);
	v[size] = '\0';
	memset(&a, 0xa5, sizeof a);
	st = arread_spf(v, &a);
	if (st != ARREAD_OK && st != ARREAD_NOSPF && st != ARREAD_EINVAL)
		abort();
	if (strnlen(a.id, sizeof a.id) == sizeof a.id ||
	    strnlen(a.domain, sizeof a.domain) == sizeof a.domain)
		abort();
	if (st == ARREAD_OK) {
		size_t n = strlen(a.domain);

		if (strlen(v) > ARREAD_MAX_INPUT || n == 0 || a.id[0] == '\0')
			abort();
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)a.domain[i];

			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			      c == '-' || c == '_' || c == '.'))
				abort();
		}
		if (a.domain[0] == '.' || a.domain[n - 1] == '.' ||
		    strstr(a.domain, "..") != NULL)
			abort();
		if (a.result != AM_R_PASS && a.result != AM_R_FAIL &&
		    a.result != AM_R_SOFTFAIL && a.result != AM_R_NEUTRAL &&
		    a.result != AM_R_NONE && a.result != AM_R_TEMPERROR &&
		    a.result != AM_R_PERMERROR)
			abort();
	} else if (a.domain[0] != '\0' || a.result != AM_R_NONE) {
		abort();
	}
	free(v);
	return 0;
}
