/* SPDX-License-Identifier: BSD-2-Clause */
/* spf_record - strict parser of one SPF record (RFC 7208 s. 4.5, 12) */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "amerr.h"
#include "spf_macro.h"
#include "spf_record.h"

bool
spf_record_is_spf(const char *txt, size_t len)
{
	if (len < 6 || strncasecmp(txt, "v=spf1", 6) != 0)
		return false;
	return len == 6 || txt[6] == ' ';
}

static bool
is_toplabel(const char *s, size_t len)
{
	bool alpha = false, dash = false;

	if (len == 0 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isalpha(c))
			alpha = true;
		else if (c == '-')
			dash = true;
		else if (!isdigit(c))
			return false;
	}
	/* *alphanum ALPHA *alphanum, or 1*alphanum "-" ... alphanum */
	if (!dash)
		return alpha;
	return isalnum((unsigned char)s[0]) &&
	       isalnum((unsigned char)s[len - 1]);
}

bool
spf_domain_spec_valid(const char *s, size_t len)
{
	size_t end = len;

	if (len == 0 || spf_macro_check(s, len, 0) != 0)
		return false;
	/* domain-end = ( "." toplabel [ "." ] ) / macro-expand */
	if (s[len - 1] == '}')
		return true;
	if (len >= 2 && s[len - 2] == '%' &&
	    (s[len - 1] == '%' || s[len - 1] == '_' || s[len - 1] == '-')) {
		/* "%%", "%_" or "%-" ends it when the run of '%' before the
		 * last octet has odd length (so that '%' is not itself the
		 * second half of an earlier "%%") */
		size_t n = 0;
		for (size_t i = len - 1; i > 0 && s[i - 1] == '%'; i--)
			n++;
		if (n % 2 == 1)
			return true;
	}
	if (s[end - 1] == '.')
		end--;
	size_t start = end;
	while (start > 0 && s[start - 1] != '.')
		start--;
	if (start == 0)
		return false; /* no "." before the toplabel */
	return is_toplabel(s + start, end - start);
}

/* ip4-cidr-length / ip6-cidr-length digits: "0" or no leading zero. */
static bool
parse_len(const char *s, size_t len, unsigned int max, unsigned int *out)
{
	unsigned int v = 0;

	if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* qnum "." qnum "." qnum "." qnum, no leading zeros. */
static bool
parse_ip4(const char *s, size_t len, struct in_addr *out)
{
	unsigned char o[4];
	size_t i = 0;

	for (int k = 0; k < 4; k++) {
		size_t st = i;
		unsigned int v = 0;
		while (i < len && isdigit((unsigned char)s[i]) && i - st < 3) {
			v = v * 10 + (unsigned int)(s[i] - '0');
			i++;
		}
		if (i == st || v > 255 || (i - st > 1 && s[st] == '0'))
			return false;
		o[k] = (unsigned char)v;
		if (k < 3) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
	}
	if (i != len)
		return false;
	memcpy(&out->s_addr, o, 4);
	return true;
}

static bool
parse_ip6(const char *s, size_t len, struct in6_addr *out)
{
	char tmp[INET6_ADDRSTRLEN + 1];

	if (len == 0 || len >= sizeof tmp)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isxdigit(c) && c != ':' && c != '.')
			return false;
	}
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return inet_pton(AF_INET6, tmp, out) == 1;
}

/*
 * Split a trailing dual-cidr-length off s[0..*len): "/N4", "//N6" or
 * "/N4//N6" at the very end. Returns false on a bad length.
 */
static bool
split_dual_cidr(const char *s, size_t *len, unsigned int *c4, unsigned int *c6)
{
	size_t n = *len, d;

	*c4 = 32;
	*c6 = 128;
	/* "//" N6 at the end? */
	d = n;
	while (d > 0 && isdigit((unsigned char)s[d - 1]))
		d--;
	if (d < n && d >= 2 && s[d - 1] == '/' && s[d - 2] == '/') {
		if (!parse_len(s + d, n - d, 128, c6))
			return false;
		n = d - 2;
	}
	d = n;
	while (d > 0 && isdigit((unsigned char)s[d - 1]))
		d--;
	if (d < n && d >= 1 && s[d - 1] == '/' &&
	    !(d >= 2 && s[d - 2] == '/')) {
		if (!parse_len(s + d, n - d, 32, c4))
			return false;
		n = d - 1;
	}
	*len = n;
	return true;
}

static char *
dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static void
set_why(char *why, size_t whylen, const char *msg, const char *t, size_t tl)
{
	char term[64];
	size_t k = 0;

	if (why == NULL || whylen == 0)
		return;
	for (size_t i = 0; i < tl && k + 1 < sizeof term; i++) {
		unsigned char c = (unsigned char)t[i];
		term[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	term[k] = '\0';
	snprintf(why, whylen, "%s: %s%s", msg, term,
		 tl >= sizeof term ? "..." : "");
}

static const struct {
	const char *name;
	enum spf_mech_type type;
} mechs[] = {
    /* clang-format off */
	{"all", SPF_MECH_ALL},
	{"include", SPF_MECH_INCLUDE},
	{"a", SPF_MECH_A},
	{"mx", SPF_MECH_MX},
	{"ptr", SPF_MECH_PTR},
	{"ip4", SPF_MECH_IP4},
	{"ip6", SPF_MECH_IP6},
	{"exists", SPF_MECH_EXISTS},
    /* clang-format on */
};

/* Parse one mechanism term t[0..n) into m. Returns a message or NULL. */
static const char *
parse_mech(const char *t, size_t n, struct spf_mech *m)
{
	size_t i = 0, nl;
	const char *arg = NULL;
	size_t alen = 0;
	bool colon = false;

	memset(m, 0, sizeof *m);
	m->cidr4 = 32;
	m->cidr6 = 128;
	switch (t[0]) {
	case '+':
		m->qual = SPF_QUAL_PASS;
		i = 1;
		break;
	case '-':
		m->qual = SPF_QUAL_FAIL;
		i = 1;
		break;
	case '~':
		m->qual = SPF_QUAL_SOFTFAIL;
		i = 1;
		break;
	case '?':
		m->qual = SPF_QUAL_NEUTRAL;
		i = 1;
		break;
	default:
		m->qual = SPF_QUAL_PASS;
		break;
	}
	nl = i;
	while (nl < n && isalnum((unsigned char)t[nl]))
		nl++;
	size_t k;
	for (k = 0; k < sizeof mechs / sizeof mechs[0]; k++) {
		if (strlen(mechs[k].name) == nl - i &&
		    strncasecmp(mechs[k].name, t + i, nl - i) == 0)
			break;
	}
	if (k == sizeof mechs / sizeof mechs[0])
		return "unknown mechanism";
	m->type = mechs[k].type;
	if (nl < n && t[nl] == ':') {
		colon = true;
		arg = t + nl + 1;
		alen = n - nl - 1;
	} else if (nl < n && t[nl] == '/') {
		arg = t + nl;
		alen = n - nl;
	} else if (nl < n) {
		return "bad mechanism";
	}

	switch (m->type) {
	case SPF_MECH_ALL:
		if (arg != NULL)
			return "all takes no argument";
		break;
	case SPF_MECH_INCLUDE:
	case SPF_MECH_EXISTS:
	case SPF_MECH_PTR:
		if (arg == NULL && m->type == SPF_MECH_PTR)
			break;
		if (!colon)
			return m->type == SPF_MECH_PTR ? "ptr takes no cidr"
						       : "domain-spec needed";
		if (!spf_domain_spec_valid(arg, alen))
			return "bad domain-spec";
		if ((m->domain = dupn(arg, alen)) == NULL)
			return "";
		break;
	case SPF_MECH_A:
	case SPF_MECH_MX:
		if (arg == NULL)
			break;
		if (!split_dual_cidr(arg, &alen, &m->cidr4, &m->cidr6))
			return "bad cidr length";
		if (!colon) {
			if (alen != 0)
				return "bad cidr length";
			break;
		}
		if (!spf_domain_spec_valid(arg, alen))
			return "bad domain-spec";
		if ((m->domain = dupn(arg, alen)) == NULL)
			return "";
		break;
	case SPF_MECH_IP4: {
		if (!colon)
			return "ip4 needs a network";
		const char *sl = memchr(arg, '/', alen);
		size_t nlen = sl != NULL ? (size_t)(sl - arg) : alen;
		if (!parse_ip4(arg, nlen, &m->ip4))
			return "bad ip4 network";
		if (sl != NULL &&
		    !parse_len(sl + 1, alen - nlen - 1, 32, &m->cidr4))
			return "bad ip4 cidr length";
		break;
	}
	case SPF_MECH_IP6: {
		if (!colon)
			return "ip6 needs a network";
		const char *sl = memchr(arg, '/', alen);
		size_t nlen = sl != NULL ? (size_t)(sl - arg) : alen;
		if (!parse_ip6(arg, nlen, &m->ip6))
			return "bad ip6 network";
		if (sl != NULL &&
		    !parse_len(sl + 1, alen - nlen - 1, 128, &m->cidr6))
			return "bad ip6 cidr length";
		break;
	}
	}
	if ((m->text = dupn(t, n)) == NULL)
		return "";
	return NULL;
}

/* name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) */
static bool
is_mod_name(const char *s, size_t n)
{
	if (n == 0 || !isalpha((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '-' && c != '_' && c != '.')
			return false;
	}
	return true;
}

int
spf_record_parse(const char *txt, size_t len, struct spf_record **out,
		 char *why, size_t whylen)
{
	struct spf_record *r = NULL;
	size_t i, cap = 0;
	int rc = AM_EINVAL;

	*out = NULL;
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (len > SPF_RECORD_MAX) {
		set_why(why, whylen, "record too long", "", 0);
		goto out;
	}
	if (!spf_record_is_spf(txt, len)) {
		set_why(why, whylen, "not an SPF record", txt,
			len < 16 ? len : 16);
		goto out;
	}
	if ((r = calloc(1, sizeof *r)) == NULL) {
		rc = AM_ENOMEM;
		goto out;
	}
	i = 6;
	for (;;) {
		while (i < len && txt[i] == ' ')
			i++;
		if (i >= len)
			break;
		size_t st = i;
		while (i < len && txt[i] != ' ')
			i++;
		const char *t = txt + st;
		size_t n = i - st;

		/* A modifier has "=" before any ":" or "/". */
		size_t e = 0;
		while (e < n && t[e] != '=' && t[e] != ':' && t[e] != '/')
			e++;
		if (e < n && t[e] == '=') {
			const char *v = t + e + 1;
			size_t vl = n - e - 1;
			char **slot = NULL;
			if (!is_mod_name(t, e)) {
				set_why(why, whylen, "bad modifier name", t, n);
				goto out;
			}
			if (e == 8 && strncasecmp(t, "redirect", 8) == 0)
				slot = &r->redirect;
			else if (e == 3 && strncasecmp(t, "exp", 3) == 0)
				slot = &r->exp;
			if (slot == NULL) {
				if (spf_macro_check(v, vl, SPF_MACRO_ANY) !=
				    0) {
					set_why(why, whylen,
						"bad modifier value", t, n);
					goto out;
				}
				continue;
			}
			if (*slot != NULL) {
				set_why(why, whylen, "duplicate modifier", t,
					n);
				goto out;
			}
			if (!spf_domain_spec_valid(v, vl)) {
				set_why(why, whylen, "bad domain-spec", t, n);
				goto out;
			}
			if ((*slot = dupn(v, vl)) == NULL) {
				rc = AM_ENOMEM;
				goto out;
			}
			continue;
		}
		if (r->nmech >= SPF_RECORD_MAX_TERMS) {
			set_why(why, whylen, "too many terms", "", 0);
			goto out;
		}
		if (r->nmech == cap) {
			size_t ncap = cap == 0 ? 8 : cap * 2;
			struct spf_mech *nm =
			    realloc(r->mech, ncap * sizeof *nm);
			if (nm == NULL) {
				rc = AM_ENOMEM;
				goto out;
			}
			r->mech = nm;
			cap = ncap;
		}
		struct spf_mech *m = &r->mech[r->nmech];
		const char *msg = parse_mech(t, n, m);
		if (msg != NULL) {
			free(m->domain);
			free(m->text);
			if (*msg == '\0') {
				rc = AM_ENOMEM;
				goto out;
			}
			set_why(why, whylen, msg, t, n);
			goto out;
		}
		r->nmech++;
	}
	*out = r;
	r = NULL;
	rc = 0;
out:
	spf_record_free(r);
	return rc;
}

void
spf_record_free(struct spf_record *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nmech; i++) {
		free(r->mech[i].domain);
		free(r->mech[i].text);
	}
	free(r->mech);
	free(r->redirect);
	free(r->exp);
	free(r);
}
