/* SPDX-License-Identifier: BSD-2-Clause */
/* spf_macro - SPF macro-string syntax check and expansion (RFC 7208 s. 7) */
#include <ctype.h>
#include <string.h>

#include "amerr.h"
#include "spf_macro.h"

#define MAX_PARTS 128 /* parts of one macro value that are kept apart */

struct buf {
	char *p;    /* output, or NULL when only checking */
	size_t len; /* octets written */
	size_t cap; /* usable octets (without the NUL) */
	int err;    /* first error */
};

static void
put(struct buf *b, const char *s, size_t n)
{
	if (b->err != 0)
		return;
	if (b->len + n > b->cap) {
		b->err = AM_ERANGE;
		return;
	}
	if (b->p != NULL)
		memcpy(b->p + b->len, s, n);
	b->len += n;
}

static bool
is_delim(char c)
{
	return c != '\0' && strchr(".-+,/_=", c) != NULL;
}

static bool
unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static const char *
letter_value(const struct spf_macro_env *env, char l)
{
	switch (l) {
	case 's':
		return env->sender;
	case 'l':
		return env->local;
	case 'o':
		return env->odomain;
	case 'd':
		return env->domain;
	case 'i':
		return env->ip;
	case 'c':
		return env->client;
	case 'p':
		return env->ptr;
	case 'v':
		return env->version;
	case 'h':
		return env->helo;
	case 'r':
		return env->receiver;
	case 't':
		return env->timestamp;
	}
	return "";
}

/* Expand one macro value with its transformers into b. */
static void
transform(struct buf *b, const char *val, unsigned int keep, bool rev,
	  const char *delims, size_t ndelims, bool upper)
{
	const char *start[MAX_PARTS];
	size_t plen[MAX_PARTS];
	size_t n = 0, first, i;
	const char *p = val, *q;
	char tmp[SPF_MACRO_MAX + 1];
	struct buf t = {tmp, 0, SPF_MACRO_MAX, 0};

	/* Split on any delimiter; the last part takes the rest. */
	for (;;) {
		q = p;
		if (n + 1 < MAX_PARTS) {
			while (*q != '\0' &&
			       (ndelims == 0
				    ? *q != '.'
				    : memchr(delims, *q, ndelims) == NULL))
				q++;
		} else {
			q = p + strlen(p);
		}
		start[n] = p;
		plen[n] = (size_t)(q - p);
		n++;
		if (*q == '\0')
			break;
		p = q + 1;
	}
	if (rev) {
		for (i = 0; i < n / 2; i++) {
			const char *ts = start[i];
			size_t tl = plen[i];
			start[i] = start[n - 1 - i];
			plen[i] = plen[n - 1 - i];
			start[n - 1 - i] = ts;
			plen[n - 1 - i] = tl;
		}
	}
	first = (keep != 0 && keep < n) ? n - keep : 0;
	for (i = first; i < n; i++) {
		if (i > first)
			put(&t, ".", 1);
		put(&t, start[i], plen[i]);
	}
	if (t.err != 0) {
		b->err = t.err;
		return;
	}
	if (!upper) {
		put(b, tmp, t.len);
		return;
	}
	for (i = 0; i < t.len; i++) {
		unsigned char c = (unsigned char)tmp[i];
		if (unreserved(c)) {
			put(b, (const char *)&tmp[i], 1);
		} else {
			char hex[3];
			static const char digits[] = "0123456789ABCDEF";
			hex[0] = '%';
			hex[1] = digits[c >> 4];
			hex[2] = digits[c & 15];
			put(b, hex, 3);
		}
	}
}

/*
 * Walk a macro-string: check its syntax and, when env is set, expand it
 * into b. Returns 0 or AM_EINVAL.
 */
static int
walk(const char *s, size_t len, const struct spf_macro_env *env,
     unsigned int flags, struct buf *b)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c != '%') {
			if (c == ' ' && (flags & SPF_MACRO_EXP)) {
				/* explanation text may hold spaces */
			} else if (c < 0x21 || c > 0x7e) {
				return AM_EINVAL;
			}
			if (env != NULL)
				put(b, s + i, 1);
			i++;
			continue;
		}
		if (i + 1 >= len)
			return AM_EINVAL;
		c = (unsigned char)s[i + 1];
		if (c == '%' || c == '_' || c == '-') {
			if (env != NULL)
				put(b,
				    c == '%'   ? "%"
				    : c == '_' ? " "
					       : "%20",
				    c == '-' ? 3 : 1);
			i += 2;
			continue;
		}
		if (c != '{')
			return AM_EINVAL;
		i += 2;
		if (i >= len)
			return AM_EINVAL;
		char letter = s[i];
		char low = (char)tolower((unsigned char)letter);
		bool upper = letter != low;
		if (strchr("slodiphv", low) == NULL || low == '\0') {
			if (strchr("crt", low) == NULL || low == '\0' ||
			    !(flags & (SPF_MACRO_EXP | SPF_MACRO_ANY)))
				return AM_EINVAL;
		}
		if (!isalpha((unsigned char)letter))
			return AM_EINVAL;
		i++;
		unsigned int keep = 0;
		bool digits = false;
		while (i < len && isdigit((unsigned char)s[i])) {
			digits = true;
			if (keep <= MAX_PARTS)
				keep = keep * 10 + (unsigned int)(s[i] - '0');
			i++;
		}
		if (digits && keep == 0)
			return AM_EINVAL; /* RFC 7208 7.3: nonzero */
		bool rev = false;
		if (i < len && (s[i] == 'r' || s[i] == 'R')) {
			rev = true;
			i++;
		}
		size_t dstart = i;
		while (i < len && is_delim(s[i]))
			i++;
		size_t ndelims = i - dstart;
		if (i >= len || s[i] != '}')
			return AM_EINVAL;
		i++;
		if (env != NULL)
			transform(b, letter_value(env, low),
				  keep > MAX_PARTS ? 0 : keep, rev, s + dstart,
				  ndelims, upper);
	}
	return 0;
}

int
spf_macro_check(const char *s, size_t len, unsigned int flags)
{
	return walk(s, len, NULL, flags, NULL);
}

bool
spf_macro_uses(const char *s, size_t len, char letter)
{
	char low = (char)tolower((unsigned char)letter);

	for (size_t i = 0; i + 2 < len; i++) {
		if (s[i] != '%')
			continue;
		if (s[i + 1] == '{' &&
		    tolower((unsigned char)s[i + 2]) == (unsigned char)low)
			return true;
		i++; /* skip the escaped character of %%, %_, %- */
	}
	return false;
}

int
spf_macro_expand(const char *s, size_t len, const struct spf_macro_env *env,
		 unsigned int flags, char *out, size_t outlen)
{
	struct buf b;
	int rc;

	if (outlen == 0 || env == NULL)
		return AM_EINVAL;
	out[0] = '\0';
	b.p = out;
	b.len = 0;
	b.cap = outlen - 1 < SPF_MACRO_MAX ? outlen - 1 : SPF_MACRO_MAX;
	b.err = 0;
	rc = walk(s, len, env, flags, &b);
	if (rc == 0)
		rc = b.err;
	if (rc != 0) {
		out[0] = '\0';
		return rc;
	}
	out[b.len] = '\0';
	return (int)b.len;
}

void
spf_macro_domain(char *name)
{
	size_t len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		name[--len] = '\0';
	while (len > 253) {
		char *dot = strchr(name, '.');
		if (dot == NULL) {
			name[0] = '\0';
			return;
		}
		len -= (size_t)(dot + 1 - name);
		memmove(name, dot + 1, len + 1);
	}
}
