/* SPDX-License-Identifier: BSD-2-Clause */
/* fuzz_authres - libFuzzer target: Authentication-Results builder, reader */
/*
 * Input: NUL-separated fields: the authserv-id, then groups of six
 * (method, result, comment, ptype, property, value) added to a builder;
 * an odd-length authserv-id also adds 40 more methods to pass the cap.
 * The rendered header must hold only printable ASCII with "\n\t" folds
 * between resinfos, closed quoted-strings and balanced comments, and
 * authres_authserv_id() must read back an id made of the given one's
 * octets (or "unknown"). The first field is also read as an existing
 * header value with authres_authserv_id() (with a large and a small out).
 */
#include "authres.h"

#include "fuzz_util.h"

#define NF 1 + 6 * 8

/* every octet of id, in order, comes from src */
static bool
subsequence(const char *id, const char *src)
{
	for (; *id != '\0'; id++) {
		src = strchr(src, *id);
		if (src == NULL)
			return false;
		src++;
	}
	return true;
}

static void
read_id(const char *value, size_t outlen)
{
	char out[300];
	int rc;

	memset(out, 'X', sizeof out);
	rc = authres_authserv_id(value, out, outlen);
	if (rc != 0 && rc != -1)
		abort();
	if (out[0] != '\0' && rc != 0)
		abort();
	if (strnlen(out, outlen) == outlen || out[outlen] != 'X')
		abort();
	if (rc == 0 && out[0] == '\0')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct authres *ar = NULL;
	char *f[NF], *h = NULL, id[300];
	size_t extra;

	fuzz_fields(data, size, f, NF);
	if (f[0] == NULL)
		return 0;
	read_id(f[0], 256);
	read_id(f[0], 4);

	ar = authres_new(f[0]);
	if (ar == NULL)
		goto out;
	for (size_t i = 1; i + 5 < NF; i += 6) {
		if (i > 1 && f[i][0] == '\0')
			break;
		(void)authres_method(ar, f[i], f[i + 1]);
		if (f[i + 2][0] != '\0')
			authres_comment(ar, f[i + 2]);
		authres_prop(ar, f[i + 3], f[i + 4], f[i + 5]);
	}
	extra = strlen(f[0]) % 2 ? 40 : 0;
	for (size_t k = 0; k < extra; k++) {
		size_t before = authres_count(ar);
		int rc = authres_method(ar, f[1], f[2]);

		if (before >= AUTHRES_MAX_METHODS && rc == 0)
			abort(); /* past the cap */
		if (rc == 0 && authres_count(ar) != before + 1)
			abort();
		authres_comment(ar, f[3]);
		authres_prop(ar, f[4], f[5], f[6]);
	}
	if (authres_count(ar) > AUTHRES_MAX_METHODS)
		abort();
	h = authres_render(ar);
	if (h == NULL)
		goto out;
	if (strlen(h) > 8192)
		abort();
	fuzz_header_ok(h);
	if (authres_authserv_id(h, id, sizeof id) != 0)
		abort();
	if (strcmp(id, "unknown") != 0 && !subsequence(id, f[0]))
		abort();
out:
	free(h);
	authres_free(ar);
	free(f[0]);
	return 0;
}
