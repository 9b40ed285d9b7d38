/* SPDX-License-Identifier: BSD-2-Clause */
/* dmarc_record - parse one DMARC policy record (RFC 9989 tag-list) */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "dmarc_record.h"

#define MAX_TAGS 64

struct span {
	const char *s; /* borrowed from the record text */
	size_t len;
};

static bool
is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct span
trim(const char *s, size_t len)
{
	struct span r;

	while (len > 0 && is_fws(*s)) {
		s++;
		len--;
	}
	while (len > 0 && is_fws(s[len - 1]))
		len--;
	r.s = s;
	r.len = len;
	return r;
}

static bool
span_is(struct span v, const char *word)
{
	size_t n = strlen(word);

	return v.len == n && strncasecmp(v.s, word, n) == 0;
}

/* tag-name = ALPHA *ALNUMPUNC (RFC 6376 3.2) */
static bool
valid_tag_name(struct span n)
{
	size_t i;

	if (n.len == 0 || !isalpha((unsigned char)n.s[0]))
		return false;
	for (i = 1; i < n.len; i++) {
		unsigned char c = (unsigned char)n.s[i];

		if (!isalnum(c) && c != '_')
			return false;
	}
	return true;
}

static enum dmarc_policy
parse_policy(struct span v)
{
	if (span_is(v, "none"))
		return DMARC_P_NONE;
	if (span_is(v, "quarantine"))
		return DMARC_P_QUARANTINE;
	if (span_is(v, "reject"))
		return DMARC_P_REJECT;
	return DMARC_P_UNSET;
}

/*
 * A DMARC URI (RFC 9989 4.7, rua/ruf): URI [ "!" size ]. We only need
 * to know whether one element of the comma-separated list looks like an
 * absolute URI: scheme ":" non-empty rest.
 */
static bool
valid_uri(struct span u)
{
	size_t i;

	u = trim(u.s, u.len);
	if (u.len < 3 || !isalpha((unsigned char)u.s[0]))
		return false;
	for (i = 1; i < u.len; i++) {
		unsigned char c = (unsigned char)u.s[i];

		if (c == ':')
			break;
		if (!isalnum(c) && c != '+' && c != '-' && c != '.')
			return false;
	}
	if (i >= u.len - 1)
		return false;
	for (i++; i < u.len; i++) {
		unsigned char c = (unsigned char)u.s[i];

		if (c <= 0x20 || c >= 0x7f)
			return false;
	}
	return true;
}

static bool
valid_uri_list(struct span v)
{
	size_t start = 0, i;

	for (i = 0; i <= v.len; i++) {
		if (i == v.len || v.s[i] == ',') {
			struct span e = {v.s + start, i - start};

			if (valid_uri(e))
				return true;
			start = i + 1;
		}
	}
	return false;
}

static int
parse_pct(struct span v)
{
	int n = 0;
	size_t i;

	if (v.len == 0 || v.len > 3)
		return -1;
	for (i = 0; i < v.len; i++) {
		if (!isdigit((unsigned char)v.s[i]))
			return -1;
		n = n * 10 + (v.s[i] - '0');
	}
	return n <= 100 ? n : -1;
}

static void
defaults(struct dmarc_record *rec)
{
	memset(rec, 0, sizeof *rec);
	rec->p = DMARC_P_UNSET;
	rec->sp = DMARC_P_UNSET;
	rec->np = DMARC_P_UNSET;
	rec->psd = DMARC_PSD_U;
	rec->pct = -1;
	rec->adkim = DMARC_ALIGN_RELAXED;
	rec->aspf = DMARC_ALIGN_RELAXED;
}

/* Apply one known tag; returns false if the value was bad (ignored). */
static bool
apply_tag(struct dmarc_record *rec, struct span n, struct span v, bool *sp_bad,
	  bool *np_bad)
{
	if (span_is(n, "p")) {
		rec->p = parse_policy(v);
		return rec->p != DMARC_P_UNSET;
	}
	if (span_is(n, "sp")) {
		rec->sp = parse_policy(v);
		*sp_bad = rec->sp == DMARC_P_UNSET;
		return !*sp_bad;
	}
	if (span_is(n, "np")) {
		rec->np = parse_policy(v);
		*np_bad = rec->np == DMARC_P_UNSET;
		return !*np_bad;
	}
	if (span_is(n, "psd")) {
		if (span_is(v, "y"))
			rec->psd = DMARC_PSD_Y;
		else if (span_is(v, "n"))
			rec->psd = DMARC_PSD_N;
		else if (span_is(v, "u"))
			rec->psd = DMARC_PSD_U;
		else
			return false;
		return true;
	}
	if (span_is(n, "t")) {
		if (span_is(v, "y"))
			rec->testing = true;
		else if (span_is(v, "n"))
			rec->testing = false;
		else
			return false;
		rec->t_set = true;
		return true;
	}
	if (span_is(n, "adkim") || span_is(n, "aspf")) {
		enum dmarc_align *a =
		    span_is(n, "adkim") ? &rec->adkim : &rec->aspf;

		if (span_is(v, "r"))
			*a = DMARC_ALIGN_RELAXED;
		else if (span_is(v, "s"))
			*a = DMARC_ALIGN_STRICT;
		else
			return false;
		return true;
	}
	if (span_is(n, "rua")) {
		rec->has_rua = true;
		rec->rua_valid = valid_uri_list(v);
		return rec->rua_valid;
	}
	if (span_is(n, "ruf")) {
		rec->has_ruf = true;
		return valid_uri_list(v);
	}
	if (span_is(n, "fo")) {
		size_t k =
		    v.len < sizeof rec->fo - 1 ? v.len : sizeof rec->fo - 1;

		memcpy(rec->fo, v.s, k);
		rec->fo[k] = '\0';
		return true;
	}
	if (span_is(n, "pct")) {
		int pct = parse_pct(v);

		if (pct < 0)
			return false;
		rec->pct = pct;
		rec->pct_set = true;
		return true;
	}
	rec->unknown++;
	return true;
}

int
dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *rec)
{
	struct span names[MAX_TAGS];
	size_t ntags = 0, pos = 0;
	bool sp_bad = false, np_bad = false;
	int status = DMARC_REC_OK;

	defaults(rec);
	if (txt == NULL) {
		status = DMARC_REC_NOT_DMARC;
		goto out;
	}

	while (pos <= len && ntags < MAX_TAGS) {
		const char *semi =
		    pos < len ? memchr(txt + pos, ';', len - pos) : NULL;
		size_t end = semi != NULL ? (size_t)(semi - txt) : len;
		struct span spec = trim(txt + pos, end - pos);
		const char *eq =
		    spec.len ? memchr(spec.s, '=', spec.len) : NULL;
		struct span n, v;
		size_t i;

		pos = end + 1;
		if (ntags == 0) {
			/* v=DMARC1 must be the first tag (RFC 9989 4.7). */
			if (eq == NULL) {
				status = DMARC_REC_NOT_DMARC;
				goto out;
			}
			n = trim(spec.s, (size_t)(eq - spec.s));
			v = trim(eq + 1, spec.len - (size_t)(eq + 1 - spec.s));
			if (!span_is(n, "v") || v.len != 6 ||
			    memcmp(v.s, "DMARC1", 6) != 0) {
				status = DMARC_REC_NOT_DMARC;
				goto out;
			}
			/* A DMARC record: now check its size and octets. */
			if (len > DMARC_RECORD_MAX || memchr(txt, '\0', len)) {
				status = DMARC_REC_INVALID;
				goto out;
			}
			names[ntags++] = n;
			continue;
		}
		if (spec.len == 0) {
			if (end >= len)
				break;
			continue; /* empty tag-spec: tolerated */
		}
		if (eq == NULL) {
			rec->bad++;
			continue;
		}
		n = trim(spec.s, (size_t)(eq - spec.s));
		v = trim(eq + 1, spec.len - (size_t)(eq + 1 - spec.s));
		if (!valid_tag_name(n)) {
			rec->bad++;
			continue;
		}
		for (i = 0; i < ntags; i++) {
			if (names[i].len == n.len &&
			    strncasecmp(names[i].s, n.s, n.len) == 0) {
				status = DMARC_REC_INVALID;
				goto out;
			}
		}
		names[ntags++] = n;
		if (!apply_tag(rec, n, v, &sp_bad, &np_bad))
			rec->bad++;
		if (end >= len)
			break;
	}

	/* RFC 9989: pct written for RFC 7489 maps onto t when t is absent. */
	if (!rec->t_set && rec->pct_set)
		rec->testing = rec->pct == 0;

	/*
	 * A missing or bad p, or a bad sp or np: act as p=none if rua has
	 * a valid URI, else there is no policy to apply.
	 */
	if (rec->p == DMARC_P_UNSET || sp_bad || np_bad) {
		if (rec->rua_valid) {
			if (rec->p == DMARC_P_UNSET) {
				rec->p = DMARC_P_NONE;
				rec->p_implied = true;
			}
			if (sp_bad || np_bad) {
				rec->p = DMARC_P_NONE;
				rec->p_implied = true;
				rec->sp = DMARC_P_UNSET;
				rec->np = DMARC_P_UNSET;
			}
			rec->usable = true;
		} else {
			rec->usable = false;
		}
	} else {
		rec->usable = true;
	}
out:
	if (status != DMARC_REC_OK)
		rec->usable = false;
	return status;
}

const char *
dmarc_policy_str(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_P_NONE:
		return "none";
	case DMARC_P_QUARANTINE:
		return "quarantine";
	case DMARC_P_REJECT:
		return "reject";
	default:
		return "unset";
	}
}

enum dmarc_policy
dmarc_policy_relax(enum dmarc_policy p)
{
	if (p == DMARC_P_REJECT)
		return DMARC_P_QUARANTINE;
	if (p == DMARC_P_QUARANTINE)
		return DMARC_P_NONE;
	return p;
}
