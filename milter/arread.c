/* SPDX-License-Identifier: BSD-2-Clause */
/* arread - the SPF result of an upstream Authentication-Results header */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "arread.h"

#define ARREAD_MAX_TOKEN 256 /* a token, value or pvalue, with its NUL */

struct rd {
	const char *s; /* the header value: borrowed */
	size_t i;      /* next octet */
	bool bad;      /* a syntax error or a cap: the header is unusable */
};

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 2045 token octets: printable ASCII but tspecials. */
static bool
is_tokenc(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* RFC 8601 Keyword octets (letters, digits, '-', '_'). */
static bool
is_keyc(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_';
}

/* Skip whitespace and comments (nested at most ARREAD_MAX_DEPTH). */
static void
cfws(struct rd *r)
{
	for (;;) {
		unsigned int depth = 0;

		while (is_wsp(r->s[r->i]))
			r->i++;
		if (r->s[r->i] != '(')
			return;
		do {
			char c = r->s[r->i];

			if (c == '\0') {
				r->bad = true; /* unterminated comment */
				return;
			}
			if (c == '\\' && r->s[r->i + 1] != '\0')
				r->i++;
			else if (c == '(' && ++depth > ARREAD_MAX_DEPTH)
				r->bad = true;
			else if (c == ')')
				depth--;
			r->i++;
		} while (depth > 0 && !r->bad);
		if (r->bad)
			return;
	}
}

/*
 * The separator c at the read position, then CFWS: true, or false with
 * r->bad set when it is not there.
 */
static bool
expect(struct rd *r, char c)
{
	if (r->bad || r->s[r->i] != c) {
		r->bad = true;
		return false;
	}
	r->i++;
	cfws(r);
	return !r->bad;
}

/* A quoted-string, unquoted into out (folds dropped). */
static void
quoted(struct rd *r, char *out, size_t *k)
{
	for (r->i++;; r->i++) {
		char c = r->s[r->i];

		if (c == '\0') {
			r->bad = true;
			return;
		}
		if (c == '"') {
			r->i++;
			return;
		}
		if (c == '\\' && r->s[r->i + 1] != '\0')
			c = r->s[++r->i];
		if (c == '\r' || c == '\n')
			continue;
		if (*k + 1 >= ARREAD_MAX_TOKEN) {
			r->bad = true;
			return;
		}
		out[(*k)++] = c;
	}
}

/* value = token / quoted-string (RFC 2045); "" and bad when missing. */
static void
value(struct rd *r, char *out)
{
	size_t k = 0;

	if (r->s[r->i] == '"') {
		quoted(r, out, &k);
	} else {
		while (is_tokenc((unsigned char)r->s[r->i])) {
			if (k + 1 >= ARREAD_MAX_TOKEN) {
				r->bad = true;
				break;
			}
			out[k++] = r->s[r->i++];
		}
		if (k == 0)
			r->bad = true;
	}
	out[k] = '\0';
}

/* A Keyword; bad when missing. */
static void
keyword(struct rd *r, char *out)
{
	size_t k = 0;

	while (is_keyc((unsigned char)r->s[r->i])) {
		if (k + 1 >= ARREAD_MAX_TOKEN) {
			r->bad = true;
			break;
		}
		out[k++] = r->s[r->i++];
	}
	out[k] = '\0';
	if (k == 0)
		r->bad = true;
}

/*
 * pvalue = value / [[local-part] "@"] domain-name. Written in the wild
 * also as bare base64 (header.b=Ab/+=), so outside quotes everything up
 * to whitespace, ';' or '(' is the value; a quoted local part may be
 * followed by "@domain".
 */
static void
pvalue(struct rd *r, char *out)
{
	size_t k = 0;

	if (r->s[r->i] == '"')
		quoted(r, out, &k);
	for (;;) {
		unsigned char c = (unsigned char)r->s[r->i];

		if (r->bad || c == '\0' || is_wsp((char)c) || c == ';' ||
		    c == '(')
			break;
		if (c < 0x21 || c > 0x7e || c == '"' || c == ')' ||
		    k + 1 >= ARREAD_MAX_TOKEN) {
			r->bad = true;
			break;
		}
		out[k++] = (char)c;
		r->i++;
	}
	out[k] = '\0';
}

static bool
spf_result(const char *w, enum am_result *res)
{
	static const struct {
		const char *w;
		enum am_result r;
	} t[] = {
	    {"pass", AM_R_PASS},	   {"fail", AM_R_FAIL},
	    {"softfail", AM_R_SOFTFAIL},   {"neutral", AM_R_NEUTRAL},
	    {"none", AM_R_NONE},	   {"temperror", AM_R_TEMPERROR},
	    {"permerror", AM_R_PERMERROR},
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (strcasecmp(w, t[i].w) == 0) {
			*res = t[i].r;
			return true;
		}
	return false;
}

/* The domain of an smtp.mailfrom value: a host name, or false. */
static bool
mailfrom_domain(const char *v, char *out, size_t outlen)
{
	const char *at = strrchr(v, '@');
	const char *d = at != NULL ? at + 1 : v;
	size_t n = strlen(d), k;

	if (n > 0 && d[n - 1] == '.')
		n--;
	if (n == 0 || n >= outlen || n > 253 || d[n - 1] == '.')
		return false; /* "example..": an empty last label */
	for (k = 0; k < n; k++) {
		unsigned char c = (unsigned char)d[k];

		if (c == '.') {
			if (k == 0 || d[k - 1] == '.')
				return false;
		} else if (!isalnum(c) && c != '-' && c != '_') {
			return false;
		}
		out[k] = (char)tolower(c);
	}
	out[k] = '\0';
	return true;
}

int
arread_spf(const char *v, struct arread_spf *out)
{
	struct rd r = {v, 0, false};
	char method[ARREAD_MAX_TOKEN], res[ARREAD_MAX_TOKEN];
	char ptype[ARREAD_MAX_TOKEN], prop[ARREAD_MAX_TOKEN];
	char pval[ARREAD_MAX_TOKEN], mailfrom[ARREAD_MAX_TOKEN];
	unsigned int nres = 0, nspf = 0;
	bool have_mf = false;
	enum am_result spf = AM_R_NONE;
	int status = ARREAD_EINVAL;

	memset(out, 0, sizeof *out);
	mailfrom[0] = '\0';
	if (v == NULL || strnlen(v, ARREAD_MAX_INPUT + 1) > ARREAD_MAX_INPUT)
		goto out;
	cfws(&r);
	if (r.bad)
		goto out;
	value(&r, out->id);
	if (r.bad || out->id[0] == '\0') /* "": no authserv-id */
		goto out;
	cfws(&r);
	if (isdigit((unsigned char)v[r.i])) { /* authres-version */
		while (isdigit((unsigned char)v[r.i]))
			r.i++;
		cfws(&r);
	}
	if (r.bad || v[r.i] != ';')
		goto out;
	while (!r.bad && v[r.i] == ';') {
		unsigned int nprops = 0;
		bool this_mf = false;

		r.i++;
		cfws(&r);
		if (r.bad)
			break;
		keyword(&r, method);
		cfws(&r);
		if (r.bad)
			break;
		if (nres == 0 && strcasecmp(method, "none") == 0 &&
		    v[r.i] != '=' && v[r.i] != '/') {
			/* no-result: "; none", nothing after it */
			if (v[r.i] != '\0')
				r.bad = true;
			status = r.bad ? ARREAD_EINVAL : ARREAD_NOSPF;
			goto out;
		}
		if (++nres > ARREAD_MAX_RESINFO) {
			r.bad = true;
			break;
		}
		if (v[r.i] == '/') { /* method-version */
			r.i++;
			cfws(&r);
			if (!isdigit((unsigned char)v[r.i]))
				r.bad = true;
			while (isdigit((unsigned char)v[r.i]))
				r.i++;
			cfws(&r);
		}
		if (!expect(&r, '='))
			break;
		keyword(&r, res);
		cfws(&r);
		/* reasonspec and propspecs, up to the next ';' */
		while (!r.bad && v[r.i] != ';' && v[r.i] != '\0') {
			keyword(&r, ptype);
			cfws(&r);
			if (r.bad)
				break;
			if (v[r.i] == '=' && strcasecmp(ptype, "reason") == 0) {
				r.i++;
				cfws(&r);
				value(&r, pval);
				cfws(&r);
				continue;
			}
			if (++nprops > ARREAD_MAX_PROPS) {
				r.bad = true;
				break;
			}
			if (!expect(&r, '.'))
				break;
			keyword(&r, prop);
			cfws(&r);
			if (!expect(&r, '='))
				break;
			pvalue(&r, pval);
			cfws(&r);
			if (!r.bad && strcasecmp(method, "spf") == 0 &&
			    strcasecmp(ptype, "smtp") == 0 &&
			    strcasecmp(prop, "mailfrom") == 0) {
				if (this_mf)
					r.bad = true; /* two in one resinfo */
				this_mf = true;
				memcpy(mailfrom, pval, strlen(pval) + 1);
			}
		}
		if (r.bad)
			break;
		if (strcasecmp(method, "spf") == 0) {
			nspf++;
			have_mf = this_mf;
			if (!spf_result(res, &spf))
				have_mf = false;
		}
	}
	if (r.bad || v[r.i] != '\0')
		goto out;
	status = ARREAD_NOSPF;
	if (nspf == 1 && have_mf &&
	    mailfrom_domain(mailfrom, out->domain, sizeof out->domain)) {
		out->result = spf;
		status = ARREAD_OK;
	}
out:
	if (status != ARREAD_OK) {
		out->domain[0] = '\0';
		out->result = AM_R_NONE;
	}
	return status;
}
