/* SPDX-License-Identifier: BSD-2-Clause */
/* authres - build RFC 8601 Authentication-Results values, safely quoted */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "amerr.h"
#include "authres.h"

#define AR_MAX_VALUE 256   /* octets kept of a value or comment */
#define AR_MAX_HEADER 8192 /* octets of the rendered value */
#define AR_MAX_PROPS 16	   /* properties per resinfo */
#define AR_MAX_COMMENTS 4  /* comments per resinfo */
#define AR_FOLD 76	   /* fold before an element past this column */

struct ar_prop {
	char *ptype;	/* "smtp", "header", ...: owned */
	char *property; /* "mailfrom", ...: owned */
	char *value;	/* sanitized, not yet quoted: owned */
	bool quote;	/* render as a quoted-string */
};

struct ar_method {
	char *method;			/* owned */
	char *result;			/* owned */
	char *comment[AR_MAX_COMMENTS]; /* sanitized text: owned */
	size_t ncomment;
	struct ar_prop prop[AR_MAX_PROPS]; /* in call order */
	size_t nprop;
};

struct authres {
	char *id;				 /* token: owned */
	struct ar_method m[AUTHRES_MAX_METHODS]; /* methods added */
	size_t n;				 /* used entries of m */
	bool overflow;				 /* last method was refused */
};

/* RFC 2045 tspecials. */
static bool
is_tspecial(int c)
{
	return c != '\0' && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* A character of an RFC 2045 token. */
static bool
is_tokenc(int c)
{
	return c > 0x20 && c < 0x7f && !is_tspecial(c);
}

/* RFC 5322 atext. */
static bool
is_atext(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* RFC 8601 Keyword (an ldh-str): a letter or digit first, no '-' last. */
static bool
is_keyword(const char *s)
{
	size_t len = s == NULL ? 0 : strlen(s);

	if (len == 0 || len > 64 || !is_alnum((unsigned char)s[0]) ||
	    s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool
is_token(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_tokenc((unsigned char)s[i]))
			return false;
	return true;
}

/* RFC 5322 dot-atom-text. */
static bool
is_dot_atom(const char *s, size_t len)
{
	bool prev_dot = true;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (prev_dot)
				return false;
			prev_dot = true;
		} else if (is_atext((unsigned char)s[i])) {
			prev_dot = false;
		} else {
			return false;
		}
	}
	return !prev_dot;
}

/* RFC 6376 domain-name: two or more LDH labels. */
static bool
is_domain_name(const char *s, size_t len)
{
	size_t labels = 0, i = 0;

	while (i < len) {
		size_t start = i;

		while (i < len && s[i] != '.') {
			if (!is_alnum((unsigned char)s[i]) && s[i] != '-')
				return false;
			i++;
		}
		if (i == start || s[start] == '-' || s[i - 1] == '-' ||
		    i - start > 63)
			return false;
		labels++;
		if (i < len && ++i == len)
			return false; /* trailing dot */
	}
	return labels >= 2;
}

/*
 * A pvalue that may go unquoted: a token, or [ [local-part] "@" ]
 * domain-name with a dot-atom local-part (RFC 8601 section 2.2).
 */
static bool
is_plain_pvalue(const char *s)
{
	size_t len = strlen(s);
	const char *at = memchr(s, '@', len);

	if (at == NULL)
		return is_token(s, len) || is_domain_name(s, len);
	if (memchr(at + 1, '@', len - (size_t)(at - s) - 1) != NULL)
		return false;
	if (at != s && !is_dot_atom(s, (size_t)(at - s)))
		return false;
	return is_domain_name(at + 1, len - (size_t)(at - s) - 1);
}

/*
 * A copy of at most AR_MAX_VALUE octets of s with every octet outside
 * printable ASCII (space included) dropped; NULL on ENOMEM.
 */
static char *
sanitize(const char *s)
{
	size_t len = strnlen(s, AR_MAX_VALUE), j = 0;
	char *out = malloc(len + 1);

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f)
			out[j++] = (char)c;
	}
	out[j] = '\0';
	return out;
}

struct authres *
authres_new(const char *authserv_id)
{
	struct authres *ar = calloc(1, sizeof *ar);
	size_t len, j = 0;

	if (ar == NULL)
		return NULL;
	if (authserv_id == NULL)
		authserv_id = "";
	len = strnlen(authserv_id, AR_MAX_VALUE);
	ar->id = malloc(len + sizeof "unknown");
	if (ar->id == NULL) {
		free(ar);
		return NULL;
	}
	/*
	 * The id is written as a token: strict parsers (python-authres)
	 * refuse a quoted authserv-id, so anything else is dropped.
	 */
	for (size_t i = 0; i < len; i++)
		if (is_tokenc((unsigned char)authserv_id[i]))
			ar->id[j++] = authserv_id[i];
	ar->id[j] = '\0';
	if (j == 0)
		memcpy(ar->id, "unknown", sizeof "unknown");
	return ar;
}

static void
method_clear(struct ar_method *m)
{
	free(m->method);
	free(m->result);
	for (size_t i = 0; i < m->ncomment; i++)
		free(m->comment[i]);
	for (size_t i = 0; i < m->nprop; i++) {
		free(m->prop[i].ptype);
		free(m->prop[i].property);
		free(m->prop[i].value);
	}
	memset(m, 0, sizeof *m);
}

void
authres_free(struct authres *ar)
{
	if (ar == NULL)
		return;
	for (size_t i = 0; i < ar->n; i++)
		method_clear(&ar->m[i]);
	free(ar->id);
	free(ar);
}

int
authres_method(struct authres *ar, const char *method, const char *result)
{
	struct ar_method *m;
	int rc = 0;

	ar->overflow = true;
	if (!is_keyword(method) || !is_keyword(result)) {
		rc = AM_EINVAL;
		goto out;
	}
	if (ar->n >= AUTHRES_MAX_METHODS) {
		rc = AM_ERANGE;
		goto out;
	}
	m = &ar->m[ar->n];
	m->method = strdup(method);
	m->result = strdup(result);
	if (m->method == NULL || m->result == NULL) {
		method_clear(m);
		rc = AM_ENOMEM;
		goto out;
	}
	ar->n++;
	ar->overflow = false;
out:
	return rc;
}

void
authres_comment(struct authres *ar, const char *text)
{
	struct ar_method *m;
	char *c;

	if (ar->overflow || ar->n == 0 || text == NULL)
		return;
	m = &ar->m[ar->n - 1];
	if (m->ncomment >= AR_MAX_COMMENTS)
		return;
	c = sanitize(text);
	if (c == NULL)
		return;
	if (c[0] == '\0') {
		free(c);
		return;
	}
	m->comment[m->ncomment++] = c;
}

void
authres_prop(struct authres *ar, const char *ptype, const char *property,
	     const char *value)
{
	struct ar_method *m;
	struct ar_prop *p;
	char *v = NULL;

	if (ar->overflow || ar->n == 0 || value == NULL)
		return;
	m = &ar->m[ar->n - 1];
	if (m->nprop >= AR_MAX_PROPS)
		return;
	/* The ptypes of the IANA registry; property is a Keyword. */
	if (ptype == NULL ||
	    (strcmp(ptype, "smtp") != 0 && strcmp(ptype, "header") != 0 &&
	     strcmp(ptype, "body") != 0 && strcmp(ptype, "policy") != 0) ||
	    !is_keyword(property))
		return;
	v = sanitize(value);
	/* An empty value is left out (python-authres fails on ""). */
	if (v == NULL || v[0] == '\0')
		goto out;
	p = &m->prop[m->nprop];
	p->ptype = strdup(ptype);
	p->property = strdup(property);
	if (p->ptype == NULL || p->property == NULL) {
		free(p->ptype);
		free(p->property);
		memset(p, 0, sizeof *p);
		goto out;
	}
	p->value = v;
	p->quote = !is_plain_pvalue(v);
	v = NULL;
	m->nprop++;
out:
	free(v);
}

size_t
authres_count(const struct authres *ar)
{
	return ar->n;
}

/* The output buffer of authres_render(). */
struct arbuf {
	char *s;    /* AR_MAX_HEADER + 1 octets */
	size_t len; /* octets written */
	size_t col; /* column of the current line */
};

/* Append len octets, or nothing if they would pass the cap. */
static bool
ab_put(struct arbuf *b, const char *s, size_t len)
{
	if (len > AR_MAX_HEADER - b->len)
		return false;
	memcpy(b->s + b->len, s, len);
	b->len += len;
	b->s[b->len] = '\0';
	for (size_t i = 0; i < len; i++)
		b->col = s[i] == '\n' ? 0 : b->col + 1;
	return true;
}

static bool
ab_str(struct arbuf *b, const char *s)
{
	return ab_put(b, s, strlen(s));
}

/*
 * Write one element: a fold or space first, then the element, which is
 * escaped into tmp by the caller. All or nothing.
 */
static bool
ab_elem(struct arbuf *b, const char *elem, size_t len)
{
	size_t save = b->len, savecol = b->col;
	const char *sep = b->col + 1 + len > AR_FOLD ? "\n\t" : " ";

	if (ab_str(b, sep) && ab_put(b, elem, len))
		return true;
	b->len = save;
	b->col = savecol;
	b->s[b->len] = '\0';
	return false;
}

/* "(text)" with '(' ')' '\\' escaped; tmp holds 2 * AR_MAX_VALUE + 3. */
static size_t
fmt_comment(char *tmp, const char *text)
{
	size_t j = 0;

	tmp[j++] = '(';
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '(' || *p == ')' || *p == '\\')
			tmp[j++] = '\\';
		tmp[j++] = *p;
	}
	tmp[j++] = ')';
	tmp[j] = '\0';
	return j;
}

/* "ptype.property=value", the value quoted when needed. */
static size_t
fmt_prop(char *tmp, size_t tmplen, const struct ar_prop *p)
{
	size_t j = 0, n;

	n = strlen(p->ptype) + 1 + strlen(p->property) + 1;
	if (n >= tmplen)
		return 0;
	j = (size_t)snprintf(tmp, tmplen, "%s.%s=", p->ptype, p->property);
	if (!p->quote) {
		n = strlen(p->value);
		if (j + n >= tmplen)
			return 0;
		memcpy(tmp + j, p->value, n + 1);
		return j + n;
	}
	tmp[j++] = '"';
	for (const char *v = p->value; *v != '\0'; v++) {
		if (j + 4 >= tmplen)
			return 0;
		if (*v == '"' || *v == '\\')
			tmp[j++] = '\\';
		tmp[j++] = *v;
	}
	tmp[j++] = '"';
	tmp[j] = '\0';
	return j;
}

char *
authres_render(const struct authres *ar)
{
	/* a property: 64 + 1 + 64 + 1 + 2 + 2 * AR_MAX_VALUE, with room */
	char tmp[2 * AR_MAX_VALUE + 160];
	struct arbuf b = {0};

	b.s = malloc(AR_MAX_HEADER + 1);
	if (b.s == NULL)
		return NULL;
	b.s[0] = '\0';
	ab_str(&b, ar->id);
	ab_str(&b, ";");
	if (ar->n == 0) {
		ab_str(&b, " none");
		goto out;
	}
	for (size_t i = 0; i < ar->n; i++) {
		const struct ar_method *m = &ar->m[i];
		size_t save = b.len, savecol = b.col;
		int n;

		n = snprintf(tmp, sizeof tmp, "%s\n\t%s=%s", i ? ";" : "",
			     m->method, m->result);
		if (n < 0 || (size_t)n >= sizeof tmp ||
		    !ab_put(&b, tmp, (size_t)n)) {
			b.len = save;
			b.col = savecol;
			b.s[b.len] = '\0';
			break;
		}
		for (size_t k = 0; k < m->ncomment; k++)
			ab_elem(&b, tmp, fmt_comment(tmp, m->comment[k]));
		/*
		 * Plain values first, quoted ones last: python-authres
		 * drops a quoted value that is not the last of a resinfo.
		 * RFC 8601 gives the order of properties no meaning.
		 */
		for (int pass = 0; pass < 2; pass++)
			for (size_t k = 0; k < m->nprop; k++) {
				size_t len;

				if (m->prop[k].quote != (pass == 1))
					continue;
				len = fmt_prop(tmp, sizeof tmp, &m->prop[k]);
				if (len > 0)
					ab_elem(&b, tmp, len);
			}
	}
	if (b.len == strlen(ar->id) + 1)
		ab_str(&b, " none");
out:
	return b.s;
}

/* Skip CFWS: whitespace and (nested) comments. NULL if unterminated. */
static const char *
skip_cfws(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p != '(')
			return p;
		{
			unsigned int depth = 0;

			do {
				if (*p == '\0')
					return NULL;
				if (*p == '\\' && p[1] != '\0')
					p++;
				else if (*p == '(')
					depth++;
				else if (*p == ')')
					depth--;
				p++;
			} while (depth > 0);
		}
	}
}

int
authres_authserv_id(const char *value, char *out, size_t outlen)
{
	const char *p;
	size_t j = 0;
	int rc = -1;

	if (value == NULL || out == NULL || outlen == 0)
		return -1;
	out[0] = '\0';
	p = skip_cfws(value);
	if (p == NULL)
		goto out;
	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\0')
				goto out;
			if (*p == '\\' && p[1] != '\0')
				p++;
			if (*p == '\r' || *p == '\n')
				continue; /* folding inside the string */
			if (j + 1 >= outlen)
				goto out;
			out[j++] = *p;
		}
	} else {
		for (; is_tokenc((unsigned char)*p); p++) {
			if (j + 1 >= outlen)
				goto out;
			out[j++] = *p;
		}
	}
	if (j == 0)
		goto out;
	out[j] = '\0';
	rc = 0;
out:
	if (rc != 0)
		out[0] = '\0';
	return rc;
}

bool
authres_is_ours(const char *value, const char *ours)
{
	char id[256];
	size_t a, b;

	if (ours == NULL || authres_authserv_id(value, id, sizeof id) != 0)
		return false;
	a = strlen(id);
	b = strlen(ours);
	if (a > 0 && id[a - 1] == '.')
		a--;
	if (b > 0 && ours[b - 1] == '.')
		b--;
	return a == b && a > 0 && strncasecmp(id, ours, a) == 0;
}
