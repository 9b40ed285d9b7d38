/* SPDX-License-Identifier: BSD-2-Clause */
/* blentry - parse and match DNSBL/RHSBL entries in postscreen syntax */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amerr.h"
#include "blentry.h"

#define BLENTRY_MAX_ZONE 200
#define BLENTRY_MAX_WEIGHT 1000

static int bl_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
bl_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return AM_EINVAL;
}

/* A decimal 0..255 at *pp; advances *pp. -1 if none or too large. */
static int
bl_number(const char **pp, const char *end)
{
	const char *p = *pp;
	int v = 0, digits = 0;

	while (p < end && *p >= '0' && *p <= '9') {
		v = v * 10 + (*p - '0');
		if (++digits > 3 || v > 255)
			return -1;
		p++;
	}
	if (digits == 0)
		return -1;
	*pp = p;
	return v;
}

/* One item "a" or "a..b" into o. */
static int
bl_item(const char **pp, const char *end, struct blentry_octet *o, char *err,
	size_t errlen)
{
	int lo, hi;

	lo = bl_number(pp, end);
	if (lo < 0)
		return bl_fail(err, errlen, "octet must be a number 0..255");
	hi = lo;
	if (end - *pp >= 2 && (*pp)[0] == '.' && (*pp)[1] == '.') {
		*pp += 2;
		hi = bl_number(pp, end);
		if (hi < 0)
			return bl_fail(err, errlen,
				       "range end must be a number 0..255");
		if (hi < lo)
			return bl_fail(err, errlen, "range %d..%d is empty", lo,
				       hi);
	}
	if (o->n >= BLENTRY_MAX_ALT)
		return bl_fail(err, errlen, "more than %d alternatives",
			       BLENTRY_MAX_ALT);
	o->lo[o->n] = (unsigned char)lo;
	o->hi[o->n] = (unsigned char)hi;
	o->n++;
	return 0;
}

/* The filter "o.o.o.o" between p and end. */
static int
bl_filter(const char *p, const char *end, struct blentry *e, char *err,
	  size_t errlen)
{
	int rc;

	if (p == end)
		return bl_fail(err, errlen, "empty filter after '='");
	for (int i = 0; i < 4; i++) {
		struct blentry_octet *o = &e->octet[i];

		if (i > 0) {
			if (p >= end || *p != '.')
				return bl_fail(err, errlen,
					       "filter needs four octets");
			p++;
		}
		if (p < end && *p == '[') {
			p++;
			for (;;) {
				rc = bl_item(&p, end, o, err, errlen);
				if (rc != 0)
					return rc;
				if (p < end && *p == ';') {
					p++;
					continue;
				}
				if (p < end && *p == ']') {
					p++;
					break;
				}
				return bl_fail(err, errlen,
					       "missing ']' in filter");
			}
		} else {
			rc = bl_item(&p, end, o, err, errlen);
			if (rc != 0)
				return rc;
			if (o->lo[0] != o->hi[0])
				return bl_fail(err, errlen,
					       "a range needs brackets: "
					       "[a..b]");
		}
	}
	if (p != end)
		return bl_fail(err, errlen, "trailing text in filter");
	e->has_filter = true;
	return 0;
}

/* Zone syntax: LDH labels of 1..63 octets (underscore allowed). */
static int
bl_zone(const char *p, size_t len, struct blentry *e, char *err, size_t errlen)
{
	size_t label = 0;

	if (len > 0 && p[len - 1] == '.')
		len--;
	if (len == 0)
		return bl_fail(err, errlen, "empty zone");
	if (len > BLENTRY_MAX_ZONE)
		return bl_fail(err, errlen, "zone longer than %d octets",
			       BLENTRY_MAX_ZONE);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.') {
			if (label == 0)
				return bl_fail(err, errlen,
					       "empty label in zone");
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return bl_fail(err, errlen, "bad character in zone");
		if (++label > 63)
			return bl_fail(err, errlen,
				       "zone label longer than 63 octets");
	}
	if (memchr(p, '.', len) == NULL)
		return bl_fail(err, errlen, "zone needs at least two labels");
	e->zone = strndup(p, len);
	if (e->zone == NULL)
		return AM_ENOMEM;
	for (char *z = e->zone; *z != '\0'; z++)
		*z = (char)tolower((unsigned char)*z);
	return 0;
}

int
blentry_parse(const char *text, struct blentry *out, char *err, size_t errlen)
{
	const char *eq, *star, *zend, *fend;
	long w = 1;
	char *wend;
	int rc;

	memset(out, 0, sizeof *out);
	out->weight = 1;
	if (text == NULL || *text == '\0') {
		rc = bl_fail(err, errlen, "empty entry");
		goto out;
	}
	star = strchr(text, '*');
	eq = strchr(text, '=');
	if (eq != NULL && star != NULL && eq > star) {
		rc = bl_fail(err, errlen,
			     "'=filter' must come before "
			     "'*weight'");
		goto out;
	}
	fend = star != NULL ? star : text + strlen(text);
	zend = eq != NULL ? eq : fend;
	rc = bl_zone(text, (size_t)(zend - text), out, err, errlen);
	if (rc != 0)
		goto out;
	if (eq != NULL) {
		rc = bl_filter(eq + 1, fend, out, err, errlen);
		if (rc != 0)
			goto out;
	}
	if (star != NULL) {
		const char *ws = star + 1;

		if (!(*ws == '-' || *ws == '+' || (*ws >= '0' && *ws <= '9'))) {
			rc = bl_fail(err, errlen, "weight must be an integer");
			goto out;
		}
		w = strtol(ws, &wend, 10);
		if (*wend != '\0' || wend == ws ||
		    (wend == ws + 1 && (*ws == '-' || *ws == '+'))) {
			rc = bl_fail(err, errlen, "weight must be an integer");
			goto out;
		}
		if (w < -BLENTRY_MAX_WEIGHT || w > BLENTRY_MAX_WEIGHT) {
			rc = bl_fail(err, errlen, "weight must lie in -%d..%d",
				     BLENTRY_MAX_WEIGHT, BLENTRY_MAX_WEIGHT);
			goto out;
		}
		out->weight = (int)w;
	}
	out->text = strdup(text);
	if (out->text == NULL) {
		rc = AM_ENOMEM;
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		blentry_free(out);
	return rc;
}

bool
blentry_match(const struct blentry *e, struct in_addr answer)
{
	const unsigned char *o = (const unsigned char *)&answer.s_addr;

	if (!e->has_filter)
		return o[0] == 127;
	for (int i = 0; i < 4; i++) {
		const struct blentry_octet *f = &e->octet[i];
		bool hit = false;

		for (unsigned int k = 0; k < f->n && !hit; k++)
			hit = o[i] >= f->lo[k] && o[i] <= f->hi[k];
		if (!hit)
			return false;
	}
	return true;
}

void
blentry_free(struct blentry *e)
{
	if (e == NULL)
		return;
	free(e->zone);
	free(e->text);
	e->zone = NULL;
	e->text = NULL;
}

int
blentry_list_add(struct blentry_list *l, struct blentry *e)
{
	struct blentry *v;

	if (l->n >= BLENTRY_MAX_LIST)
		return AM_ERANGE;
	v = realloc(l->v, (l->n + 1) * sizeof *v);
	if (v == NULL)
		return AM_ENOMEM;
	v[l->n++] = *e;
	l->v = v;
	memset(e, 0, sizeof *e);
	return 0;
}

void
blentry_list_free(struct blentry_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		blentry_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
