/* SPDX-License-Identifier: BSD-2-Clause */
/* report_sign - DKIM-signing report messages with libopendkim */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dkim.h>

#include "amerr.h"
#include "report_sign.h"

struct report_signer {
	DKIM_LIB *lib;
	unsigned char *key; /* PEM text, NUL-terminated */
	char *selector;
	char *domain;
};

/* The header fields signed (lower case: libopendkim matches them). */
static const char *sign_headers[] = {
    "from",	  "to",		  "subject",	  "date",
    "message-id", "mime-version", "content-type", NULL,
};

static int
read_key(const char *path, unsigned char **out, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char *buf;
	size_t len = 0;
	ssize_t n;

	if (fd < 0) {
		snprintf(err, errlen, "ReportSigningKey %s: %s", path,
			 strerror(errno));
		return AM_ESYS;
	}
	buf = malloc(REPORT_SIGN_KEY_MAX + 1);
	if (buf == NULL) {
		close(fd);
		snprintf(err, errlen, "ReportSigningKey: out of memory");
		return AM_ENOMEM;
	}
	while ((n = read(fd, buf + len, REPORT_SIGN_KEY_MAX - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (n < 0 || len == 0 || len >= REPORT_SIGN_KEY_MAX) {
		snprintf(err, errlen, "ReportSigningKey %s: %s", path,
			 n < 0	    ? strerror(errno)
			 : len == 0 ? "empty file"
				    : "too large for a key");
		free(buf);
		return n < 0 ? AM_ESYS : AM_EINVAL;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

int
report_sign_open(const char *keyfile, const char *selector, const char *domain,
		 struct report_signer **out, char *err, size_t errlen)
{
	struct report_signer *s;
	unsigned int flags = DKIM_LIBFLAGS_FIXCRLF;
	int rc;

	*out = NULL;
	if (keyfile == NULL || selector == NULL || selector[0] == '\0' ||
	    domain == NULL || domain[0] == '\0') {
		snprintf(err, errlen,
			 "report signing: key, selector and "
			 "domain are needed");
		return AM_EINVAL;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return AM_ENOMEM;
	rc = read_key(keyfile, &s->key, err, errlen);
	if (rc != 0) {
		free(s);
		return rc;
	}
	s->selector = strdup(selector);
	s->domain = strdup(domain);
	s->lib = dkim_init(NULL, NULL);
	if (s->selector == NULL || s->domain == NULL || s->lib == NULL) {
		report_sign_close(s);
		snprintf(err, errlen,
			 "report signing: libopendkim could not "
			 "start");
		return AM_ELIB;
	}
	if (dkim_options(s->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags,
			 sizeof flags) != DKIM_STAT_OK ||
	    dkim_options(s->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS,
			 sign_headers, sizeof(char **)) != DKIM_STAT_OK) {
		report_sign_close(s);
		snprintf(err, errlen,
			 "report signing: libopendkim options "
			 "refused");
		return AM_ELIB;
	}
	*out = s;
	return 0;
}

void
report_sign_close(struct report_signer *s)
{
	if (s == NULL)
		return;
	if (s->lib != NULL)
		dkim_close(s->lib);
	if (s->key != NULL) {
		explicit_bzero(s->key, strlen((char *)s->key));
		free(s->key);
	}
	free(s->selector);
	free(s->domain);
	free(s);
}

/* msg with every LF turned into CRLF (msg has none of its own). */
static char *
to_crlf(const char *msg, size_t len, size_t *outlen)
{
	size_t lf = 0, j = 0;
	char *out;

	for (size_t i = 0; i < len; i++)
		lf += msg[i] == '\n';
	out = malloc(len + lf + 1);
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\n')
			out[j++] = '\r';
		out[j++] = msg[i];
	}
	out[j] = '\0';
	*outlen = j;
	return out;
}

static int
lib_fail(DKIM *d, DKIM_STAT st, const char *step, char *err, size_t errlen)
{
	const char *why = d != NULL ? dkim_geterror(d) : NULL;
	const char *code = dkim_getresultstr(st);

	snprintf(err, errlen, "report signing: %s: %s%s%s", step,
		 code != NULL ? code : "error", why != NULL ? ": " : "",
		 why != NULL ? why : "");
	return AM_ELIB;
}

int
report_sign(struct report_signer *s, const char *msg, size_t len, char **sighdr,
	    char *err, size_t errlen)
{
	DKIM *d;
	DKIM_STAT st;
	size_t clen = 0, pos, hlen;
	char *crlf, *body;
	unsigned char *hdr = NULL;
	int rc = 0;

	*sighdr = NULL;
	if (memchr(msg, '\r', len) != NULL) {
		snprintf(err, errlen,
			 "report signing: the message must "
			 "have LF line ends");
		return AM_EINVAL;
	}
	crlf = to_crlf(msg, len, &clen);
	if (crlf == NULL)
		return AM_ENOMEM;
	body = strstr(crlf, "\r\n\r\n");
	if (body == NULL) {
		free(crlf);
		snprintf(err, errlen, "report signing: no end of header");
		return AM_EINVAL;
	}
	d = dkim_sign(s->lib, (const unsigned char *)"report", NULL,
		      (dkim_sigkey_t)s->key, (const unsigned char *)s->selector,
		      (const unsigned char *)s->domain, DKIM_CANON_RELAXED,
		      DKIM_CANON_RELAXED, DKIM_SIGN_RSASHA256, -1L, &st);
	if (d == NULL) {
		free(crlf);
		return lib_fail(NULL, st, "dkim_sign", err, errlen);
	}
	/* one field at a time: a line and its continuation lines */
	for (pos = 0; crlf + pos < body + 2;) {
		hlen = 0;
		do {
			char *eol = strstr(crlf + pos + hlen, "\r\n");

			hlen = (size_t)(eol - (crlf + pos)) + 2;
		} while (crlf[pos + hlen] == ' ' || crlf[pos + hlen] == '\t');
		st = dkim_header(d, (unsigned char *)crlf + pos, hlen - 2);
		if (st != DKIM_STAT_OK) {
			rc = lib_fail(d, st, "header", err, errlen);
			goto out;
		}
		pos += hlen;
	}
	if ((st = dkim_eoh(d)) != DKIM_STAT_OK) {
		rc = lib_fail(d, st, "end of header", err, errlen);
		goto out;
	}
	body += 4;
	st = dkim_body(d, (unsigned char *)body, clen - (size_t)(body - crlf));
	if (st != DKIM_STAT_OK) {
		rc = lib_fail(d, st, "body", err, errlen);
		goto out;
	}
	if ((st = dkim_eom(d, NULL)) != DKIM_STAT_OK) {
		rc = lib_fail(d, st, "end of message", err, errlen);
		goto out;
	}
	st = dkim_getsighdr_d(d, strlen("DKIM-Signature: "), &hdr, &hlen);
	if (st != DKIM_STAT_OK || hdr == NULL) {
		rc = lib_fail(d, st, "signature", err, errlen);
		goto out;
	}
	/* "DKIM-Signature: " value "\n", its folds turned into LF */
	*sighdr = malloc(strlen("DKIM-Signature: ") + hlen + 2);
	if (*sighdr == NULL) {
		rc = AM_ENOMEM;
		goto out;
	}
	{
		char *o = *sighdr;

		memcpy(o, "DKIM-Signature: ", strlen("DKIM-Signature: "));
		o += strlen("DKIM-Signature: ");
		for (size_t i = 0; i < hlen; i++)
			if (hdr[i] != '\r')
				*o++ = (char)hdr[i];
		*o++ = '\n';
		*o = '\0';
	}
out:
	dkim_free(d);
	free(crlf);
	return rc;
}
