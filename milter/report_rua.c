/* SPDX-License-Identifier: BSD-2-Clause */
/* report_rua - rua= parsing and RFC 9990 section 4 verification */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dmarc_record.h"
#include "log.h"
#include "orgdom.h"
#include "report_rua.h"

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 5322 atext */
static bool
is_atext(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* A dot-atom local part of at most 64 octets. */
static bool
valid_local(const char *s, size_t len)
{
	bool dot = true;

	if (len == 0 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (dot)
				return false;
			dot = true;
		} else if (is_atext(c)) {
			dot = false;
		} else {
			return false;
		}
	}
	return !dot;
}

/*
 * A host name: labels of letters, digits, '-' and '_', 1-63 octets,
 * not beginning or ending with '-'.
 */
static bool
valid_host(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (isalnum(c) || c == '_' || (c == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0 && s[len - 1] != '-';
}

enum uri_res { URI_OK, URI_OTHER_SCHEME, URI_MALFORMED };

/* One URI (trimmed) into d. */
static enum uri_res
parse_uri(const char *u, size_t len, struct report_dest *d)
{
	char addr[REPORT_ADDR_MAX];
	size_t i, alen = 0, end = len;
	const char *bang, *at;

	memset(d, 0, sizeof *d);
	if (len < 7 || strncasecmp(u, "mailto:", 7) != 0) {
		/* a scheme at all? scheme ":" rest */
		for (i = 0; i < len && u[i] != ':'; i++)
			if (!isalnum((unsigned char)u[i]) && u[i] != '+' &&
			    u[i] != '-' && u[i] != '.')
				return URI_MALFORMED;
		return i > 0 && i < len - 1 && isalpha((unsigned char)u[0])
			   ? URI_OTHER_SCHEME
			   : URI_MALFORMED;
	}
	/* obsolete "!size" suffix: "!" 1*DIGIT [k/m/g/t] */
	bang = memchr(u, '!', len);
	if (bang != NULL) {
		size_t p = (size_t)(bang - u) + 1;
		uint64_t v = 0, mul = 1;

		if (p >= len || !isdigit((unsigned char)u[p]))
			return URI_MALFORMED;
		for (; p < len && isdigit((unsigned char)u[p]); p++) {
			if (v > UINT64_MAX / 10 - 10)
				return URI_MALFORMED;
			v = v * 10 + (uint64_t)(u[p] - '0');
		}
		if (p < len) {
			switch (tolower((unsigned char)u[p])) {
			case 'k':
				mul = 1ULL << 10;
				break;
			case 'm':
				mul = 1ULL << 20;
				break;
			case 'g':
				mul = 1ULL << 30;
				break;
			case 't':
				mul = 1ULL << 40;
				break;
			default:
				return URI_MALFORMED;
			}
			p++;
		}
		if (p != len || v > UINT64_MAX / mul)
			return URI_MALFORMED;
		d->limit = v * mul;
		end = (size_t)(bang - u);
	}
	/* hfields ("?subject=...") are not used */
	for (i = 7; i < end; i++)
		if (u[i] == '?')
			end = i;
	for (i = 7; i < end; i++) {
		int c = (unsigned char)u[i];

		if (c == '%') {
			int h, l;

			if (i + 2 >= end)
				return URI_MALFORMED;
			h = hexval(u[i + 1]);
			l = hexval(u[i + 2]);
			if (h < 0 || l < 0)
				return URI_MALFORMED;
			c = h * 16 + l;
			i += 2;
		}
		if (alen + 1 >= sizeof addr)
			return URI_MALFORMED;
		addr[alen++] = (char)c;
	}
	addr[alen] = '\0';
	if (strlen(addr) != alen) /* %00 */
		return URI_MALFORMED;
	at = strrchr(addr, '@');
	if (at == NULL || !valid_local(addr, (size_t)(at - addr)) ||
	    !valid_host(at + 1, strlen(at + 1)))
		return URI_MALFORMED;
	memcpy(d->addr, addr, alen + 1);
	for (i = 0; at[1 + i] != '\0'; i++)
		d->host[i] = (char)tolower((unsigned char)at[1 + i]);
	d->host[i] = '\0';
	return URI_OK;
}

unsigned int
report_rua_parse(const char *domain, const char *v, size_t len,
		 struct report_dest *out, size_t max, size_t *n)
{
	unsigned int ignored = 0;
	size_t pos = 0;

	*n = 0;
	while (pos <= len) {
		const char *comma =
		    pos < len ? memchr(v + pos, ',', len - pos) : NULL;
		size_t end = comma != NULL ? (size_t)(comma - v) : len;
		const char *s = v + pos;
		size_t sl = end - pos;
		char shown[256];
		struct report_dest d;
		enum uri_res r;

		pos = end + 1;
		while (sl > 0 && is_wsp(*s)) {
			s++;
			sl--;
		}
		while (sl > 0 && is_wsp(s[sl - 1]))
			sl--;
		log_escape(s, sl, shown, sizeof shown);
		r = sl == 0 ? URI_MALFORMED : parse_uri(s, sl, &d);
		if (r == URI_OK && *n < max) {
			out[(*n)++] = d;
			continue;
		}
		ignored++;
		if (r == URI_OK)
			log_info("report for %s: rua URI \"%s\" ignored: past "
				 "ReportMaxURIs (%zu)",
				 domain, shown, max);
		else if (r == URI_OTHER_SCHEME)
			log_info("report for %s: rua URI \"%s\" ignored: only "
				 "mailto: is used",
				 domain, shown);
		else
			log_warn("report for %s: rua URI \"%s\" ignored: "
				 "malformed",
				 domain, shown);
	}
	return ignored;
}

bool
report_rua_tag(const char *txt, size_t len, const char **v, size_t *vlen)
{
	struct dmarc_record rec;
	size_t pos = 0;

	if (dmarc_record_parse(txt, len, &rec) != DMARC_REC_OK)
		return false;
	while (pos < len) {
		const char *semi = memchr(txt + pos, ';', len - pos);
		size_t end = semi != NULL ? (size_t)(semi - txt) : len;
		const char *s = txt + pos, *eq;
		size_t sl = end - pos, nl;

		pos = end + 1;
		eq = memchr(s, '=', sl);
		if (eq == NULL)
			continue;
		nl = (size_t)(eq - s);
		while (nl > 0 && is_wsp(*s)) {
			s++;
			nl--;
		}
		while (nl > 0 && is_wsp(s[nl - 1]))
			nl--;
		if (nl == 3 && strncasecmp(s, "rua", 3) == 0) {
			*v = eq + 1;
			*vlen = (size_t)(txt + end - (eq + 1));
			return true;
		}
	}
	return false;
}

/* The outcome of one TXT lookup for DMARC-style records. */
enum txt_res { TXT_RECORD, TXT_NONE, TXT_MULTIPLE, TXT_TEMPERROR };

/*
 * Look up name's TXT and find its v=DMARC1 records: the first in *rec
 * (borrowed from the set); *rua and *rualen its rua value or NULL.
 */
static enum txt_res
lookup_dmarc_txt(struct dns_set *set, const char *name, unsigned int timeout_ms,
		 const struct dns_rr **rec, const char **rua, size_t *rualen)
{
	struct dns_query *q = dns_submit(set, name, DNS_T_TXT);
	const struct dns_answer *a;
	struct timespec deadline;
	size_t found = 0;

	*rec = NULL;
	*rua = NULL;
	*rualen = 0;
	dns_deadline(&deadline, timeout_ms);
	dns_wait(set, q, &deadline);
	a = dns_answer(q);
	switch (a->status) {
	case DNS_DATA:
		break;
	case DNS_NODATA:
	case DNS_NXDOMAIN:
	case DNS_INVALID:
		return TXT_NONE;
	default:
		return TXT_TEMPERROR;
	}
	for (size_t i = 0; i < a->n; i++) {
		struct dmarc_record r;
		const char *v;
		size_t vl;

		if (dmarc_record_parse(a->rr[i].txt, a->rr[i].txtlen, &r) !=
		    DMARC_REC_OK)
			continue;
		if (found++ == 0)
			*rec = &a->rr[i];
		/* the first record that carries a rua= gives it */
		if (*rua == NULL &&
		    report_rua_tag(a->rr[i].txt, a->rr[i].txtlen, &v, &vl)) {
			*rua = v;
			*rualen = vl;
		}
	}
	if (found == 0)
		return TXT_NONE;
	return found == 1 ? TXT_RECORD : TXT_MULTIPLE;
}

/* The organizational domain of name by the tree walk; false on DNS
 * failure. */
static bool
org_of(struct dns_set *set, const char *name, unsigned int timeout_ms,
       char *out)
{
	struct orgdom_walk w;
	struct timespec deadline;

	if (orgdom_walk_start(&w, set, name) != 0) {
		snprintf(out, ORGDOM_MAX_NAME, "%s", name);
		return true;
	}
	dns_deadline(&deadline, timeout_ms);
	orgdom_walk_wait(&w, set, &deadline);
	return orgdom_org(&w, out, ORGDOM_MAX_NAME) == ORGDOM_OK;
}

static void
add_dest(struct report_rua_result *res, const struct report_dest *d)
{
	for (size_t i = 0; i < res->n; i++)
		if (strcasecmp(res->dest[i].addr, d->addr) == 0)
			return; /* the same address twice: one report */
	if (res->n < REPORT_RUA_MAX)
		res->dest[res->n++] = *d;
}

/*
 * other_host - the host of a URI of another scheme than mailto: in the
 * rua value v (scheme "://" [userinfo "@"] host [":" port] ...) that is
 * not host, copied into out; false when there is none.
 */
static bool
other_host(const char *v, size_t len, const char *host, char *out,
	   size_t outlen)
{
	size_t pos = 0;

	while (pos < len) {
		const char *comma = memchr(v + pos, ',', len - pos);
		size_t end = comma != NULL ? (size_t)(comma - v) : len;
		const char *s = v + pos, *e = v + end, *h, *a;
		size_t hl;

		pos = end + 1;
		while (s < e && is_wsp(*s))
			s++;
		if ((size_t)(e - s) >= 7 && strncasecmp(s, "mailto:", 7) == 0)
			continue;
		h = s;
		while (h + 2 < e &&
		       !(h[0] == ':' && h[1] == '/' && h[2] == '/'))
			h++;
		if (h + 2 >= e)
			continue;
		h += 3;
		a = h;
		while (a < e && strchr("/?#", *a) == NULL)
			a++;
		for (const char *p = h; p < a; p++)
			if (*p == '@')
				h = p + 1;
		hl = 0;
		while (h + hl < a && h[hl] != ':')
			hl++;
		if (hl == 0 ||
		    (hl == strlen(host) && strncasecmp(h, host, hl) == 0))
			continue;
		log_escape(h, hl, out, outlen); /* from DNS: shown escaped */
		return true;
	}
	return false;
}

/* RFC 9990 section 4 for one external destination. */
static void
verify(struct dns_set *set, const char *domain, const struct report_dest *d,
       unsigned int timeout_ms, struct report_rua_result *res)
{
	char name[600], other[256];
	const struct dns_rr *rec;
	const char *rua;
	size_t rualen, n;
	struct report_dest over[REPORT_RUA_MAX];
	enum txt_res t;
	int len = snprintf(name, sizeof name, "%s._report._dmarc.%s", domain,
			   d->host);

	if (len < 0 || (size_t)len > 253) {
		log_warn("report for %s: destination %s not verified: the "
			 "name %s._report._dmarc.%s is too long",
			 domain, d->addr, domain, d->host);
		res->skipped++;
		return;
	}
	t = lookup_dmarc_txt(set, name, timeout_ms, &rec, &rua, &rualen);
	if (t == TXT_TEMPERROR) {
		log_warn("report for %s: destination %s: lookup of %s failed; "
			 "the report is tried again next run",
			 domain, d->addr, name);
		res->temperror = true;
		return;
	}
	if (t == TXT_NONE) {
		log_warn("report for %s: destination %s not verified: no "
			 "v=DMARC1 record at %s (RFC 9990 section 4)",
			 domain, d->addr, name);
		res->skipped++;
		return;
	}
	if (rua == NULL) {
		struct report_dest v = *d;

		v.external = true;
		add_dest(res, &v);
		return;
	}
	report_rua_parse(domain, rua, rualen, over, REPORT_RUA_MAX, &n);
	if (other_host(rua, rualen, d->host, other, sizeof other)) {
		log_warn("report for %s: destination %s not used: the record "
			 "at %s names another host (%s; RFC 9990 section 4)",
			 domain, d->addr, name, other);
		res->skipped++;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(over[i].host, d->host) != 0) {
			log_warn("report for %s: destination %s not used: the "
				 "record at %s sends reports to another host "
				 "(%s; RFC 9990 section 4)",
				 domain, d->addr, name, over[i].host);
			res->skipped++;
			return;
		}
	}
	if (n == 0) {
		/* a rua= with nothing usable replaces nothing */
		struct report_dest v = *d;

		v.external = true;
		add_dest(res, &v);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		over[i].external = true;
		if (strcasecmp(over[i].addr, d->addr) != 0)
			log_info("report for %s: destination %s replaced by %s "
				 "(record at %s)",
				 domain, d->addr, over[i].addr, name);
		add_dest(res, &over[i]);
	}
}

void
report_rua_destinations(struct dns_set *set, const char *policy_domain,
			unsigned int max_uris, unsigned int timeout_ms,
			struct report_rua_result *res)
{
	char name[300], porg[ORGDOM_MAX_NAME], horg[ORGDOM_MAX_NAME];
	struct report_dest uris[REPORT_RUA_MAX];
	const struct dns_rr *rec;
	const char *rua;
	size_t rualen, n;
	enum txt_res t;

	memset(res, 0, sizeof *res);
	if (max_uris > REPORT_RUA_MAX)
		max_uris = REPORT_RUA_MAX;
	snprintf(name, sizeof name, "_dmarc.%s", policy_domain);
	t = lookup_dmarc_txt(set, name, timeout_ms, &rec, &rua, &rualen);
	if (t == TXT_TEMPERROR) {
		log_warn("report for %s: lookup of %s failed; the report is "
			 "tried again next run",
			 policy_domain, name);
		res->temperror = true;
		return;
	}
	if (t != TXT_RECORD || rua == NULL) {
		log_info("report for %s: no report: %s", policy_domain,
			 t == TXT_NONE	     ? "no DMARC record any more"
			 : t == TXT_MULTIPLE ? "more than one DMARC record"
					     : "the record has no rua=");
		res->no_record = true;
		return;
	}
	res->skipped +=
	    report_rua_parse(policy_domain, rua, rualen, uris, max_uris, &n);
	if (n == 0) {
		res->no_record = true;
		return;
	}
	if (!org_of(set, policy_domain, timeout_ms, porg)) {
		log_warn("report for %s: the organizational domain could not "
			 "be found (DNS); the report is tried again next run",
			 policy_domain);
		res->temperror = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (!org_of(set, uris[i].host, timeout_ms, horg)) {
			log_warn("report for %s: destination %s: the "
				 "organizational domain of %s could not be "
				 "found (DNS); tried again next run",
				 policy_domain, uris[i].addr, uris[i].host);
			res->temperror = true;
			continue;
		}
		if (strcmp(porg, horg) == 0)
			add_dest(res, &uris[i]);
		else
			verify(set, policy_domain, &uris[i], timeout_ms, res);
	}
}
