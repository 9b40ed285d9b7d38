/* SPDX-License-Identifier: BSD-2-Clause */
/* fromaddr_dump - what fromaddr_parse() reads, for fromaddr_diff.py */
/*
 * Input (stdin): one From: field body per line, hex-encoded (so that
 * any octet, CR and LF included, can be given). Output (stdout): one
 * line per input,
 *
 *     RC TOTAL N [OK:HEXDOMAIN]...
 *
 * RC is fromaddr_parse()'s return (0, or a negative AM_E* code), TOTAL
 * the addresses seen, N those kept, then each kept address's domain_ok
 * (0/1) and domain, hex-encoded. The value is cut at its first NUL, as
 * dmarcv.c sees it (a milter header value is a C string).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fromaddr.h"

static int
unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void
puthex(const char *s)
{
	for (; *s != '\0'; s++)
		printf("%02x", (unsigned char)*s);
}

int
main(void)
{
	char *line = NULL, *buf = NULL;
	size_t cap = 0, bcap = 0;
	ssize_t len;
	int rc = 0;

	while ((len = getline(&line, &cap, stdin)) >= 0) {
		struct fromaddr_list fl;
		size_t n = 0, i;
		int r;

		while (len > 0 && (line[len - 1] == '\n' ||
				   line[len - 1] == '\r'))
			len--;
		if (bcap < (size_t)len / 2 + 1) {
			char *nb = realloc(buf, (size_t)len / 2 + 1);

			if (nb == NULL) {
				rc = 1;
				goto out;
			}
			buf = nb;
			bcap = (size_t)len / 2 + 1;
		}
		for (i = 0; i + 1 < (size_t)len; i += 2) {
			int hi = unhex(line[i]), lo = unhex(line[i + 1]);

			if (hi < 0 || lo < 0) {
				fprintf(stderr, "fromaddr_dump: bad hex\n");
				rc = 1;
				goto out;
			}
			buf[n++] = (char)(hi << 4 | lo);
		}
		buf[n] = '\0';
		r = fromaddr_parse(buf, strlen(buf), &fl);
		printf("%d %zu %zu", r, fl.total, fl.n);
		for (i = 0; i < fl.n; i++) {
			printf(" %d:", fl.addr[i].domain_ok ? 1 : 0);
			puthex(fl.addr[i].domain);
		}
		printf("\n");
	}
out:
	free(line);
	free(buf);
	return rc;
}
