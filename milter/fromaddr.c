/* SPDX-License-Identifier: BSD-2-Clause */
/* fromaddr - the address domains of an RFC 5322 From: field */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amerr.h"
#include "fromaddr.h"

/*
 * Pass 1 copies value into buf without comments (each becomes one space)
 * and with CR/LF turned into spaces; quoted strings are kept verbatim.
 * Pass 2 splits buf at top-level ',' and group delimiters and takes the
 * address of each mailbox.
 */
static int
strip_comments(const char *v, size_t len, char *buf, size_t *blen)
{
	size_t i, o = 0;
	int depth = 0;
	bool quoted = false;
	int rc = 0;

	for (i = 0; i < len; i++) {
		char c = v[i];

		if (c == '\r' || c == '\n' || (c == '\t' && !quoted))
			c = ' ';
		if (depth > 0) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')' && --depth == 0)
				buf[o++] = ' ';
			continue;
		}
		if (quoted) {
			if (c == '\\' && i + 1 < len) {
				buf[o++] = c;
				c = v[++i];
			} else if (c == '"') {
				quoted = false;
			}
			buf[o++] = c;
			continue;
		}
		if (c == '(') {
			depth = 1;
			continue;
		}
		if (c == '"')
			quoted = true;
		buf[o++] = c;
	}
	if (depth > 0 || quoted)
		rc = AM_EINVAL;
	buf[o] = '\0';
	*blen = o;
	return rc;
}

static void
set_domain(struct fromaddr *a, const char *d, size_t len)
{
	size_t i, k = 0;
	bool ok = true;

	while (len > 0 && d[0] == ' ') {
		d++;
		len--;
	}
	while (len > 0 && d[len - 1] == ' ')
		len--;
	if (len > 0 && d[len - 1] == '.')
		len--;
	if (len == 0 || len >= sizeof a->domain)
		ok = false;
	for (i = 0; i < len && k < sizeof a->domain - 1; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == ' ') {
			/*
			 * CFWS may stand around the dots of an obs-domain
			 * ("bank . test"), nowhere else: "bank.test x" is
			 * two words, not a host name.
			 */
			size_t j = i;

			while (j < len && d[j] == ' ')
				j++;
			if (k > 0 && a->domain[k - 1] != '.' && j < len &&
			    d[j] != '.')
				ok = false;
			i = j - 1;
			continue;
		}
		if (c == '.') {
			if (k == 0 || a->domain[k - 1] == '.')
				ok = false;
		} else if (!isalnum(c) && c != '-' && c != '_') {
			ok = false;
		}
		a->domain[k++] = (char)tolower(c);
	}
	a->domain[k] = '\0';
	if (k == 0 || a->domain[k - 1] == '.')
		ok = false; /* "example.com..": an empty last label */
	a->domain_ok = ok;
}

/*
 * The first (with last: the last) c in s[0..len) outside a quoted
 * string, or NULL. A backslash inside quotes escapes the next octet.
 */
static const char *
unquoted_char(const char *s, size_t len, char c, bool last)
{
	const char *found = NULL;
	bool quoted = false;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && quoted && i + 1 < len) {
			i++;
			continue;
		}
		if (s[i] == '"') {
			quoted = !quoted;
		} else if (!quoted && s[i] == c) {
			found = s + i;
			if (!last)
				break;
		}
	}
	return found;
}

/* One mailbox, seg[0..len). */
static int
mailbox(const char *seg, size_t len, struct fromaddr_list *out)
{
	const char *spec = seg, *at = NULL, *open;
	size_t slen = len;
	int rc = 0;

	/* Trim. */
	while (slen > 0 && *spec == ' ') {
		spec++;
		slen--;
	}
	while (slen > 0 && spec[slen - 1] == ' ')
		slen--;
	if (slen == 0)
		goto out;

	/*
	 * name-addr: the angle-addr at top level. Anything that could be a
	 * second address makes the field an error (the caller then reads
	 * every domain in it): an '@' in the display name (a phrase has
	 * none: "ceo@bank.test <a@atk.test>"), a second '<', or text after
	 * the '>'. Quoted strings may hold '<', '>' and '@'.
	 */
	open = unquoted_char(spec, slen, '<', false);
	if (open != NULL) {
		const char *lt = open + 1;
		size_t rest = slen - (size_t)(lt - spec);
		const char *gt = unquoted_char(lt, rest, '>', false);

		if (gt == NULL) {
			rc = AM_EINVAL;
			goto out;
		}
		if (unquoted_char(spec, (size_t)(open - spec), '@', false) !=
			NULL ||
		    unquoted_char(lt, (size_t)(gt - lt), '<', false) != NULL ||
		    (size_t)(gt + 1 - spec) < slen)
			rc = AM_EINVAL;
		spec = lt;
		slen = (size_t)(gt - lt);
		/* obs-route "@a,@b:" */
		if (slen > 0 && spec[0] == '@') {
			const char *colon = memchr(spec, ':', slen);

			if (colon != NULL) {
				slen -= (size_t)(colon + 1 - spec);
				spec = colon + 1;
			}
		}
	}

	/*
	 * The domain follows the last '@' outside quotes; an addr-spec has
	 * one ("ceo@bank.test a@atk.test" is two addresses, no separator).
	 */
	at = unquoted_char(spec, slen, '@', true);
	if (at != NULL &&
	    unquoted_char(spec, (size_t)(at - spec), '@', false) != NULL &&
	    rc == 0)
		rc = AM_EINVAL;
	out->total++;
	if (out->n < FROMADDR_MAX) {
		struct fromaddr *a = &out->addr[out->n++];

		if (at != NULL)
			set_domain(a, at + 1, slen - (size_t)(at + 1 - spec));
		else
			set_domain(a, "", 0);
	}
out:
	return rc;
}

int
fromaddr_parse(const char *value, size_t len, struct fromaddr_list *out)
{
	char *buf = NULL;
	size_t blen = 0, i, start = 0;
	bool quoted = false, angle = false, group = false;
	int rc = 0, r;

	memset(out, 0, sizeof *out);
	if (value == NULL)
		goto out;
	if (len > FROMADDR_MAX_INPUT) {
		rc = AM_ERANGE;
		goto out;
	}
	buf = malloc(len + 1);
	if (buf == NULL) {
		rc = AM_ENOMEM;
		goto out;
	}
	rc = strip_comments(value, len, buf, &blen);
	if (rc != 0)
		goto out;

	for (i = 0; i <= blen; i++) {
		char c = i < blen ? buf[i] : (group ? ';' : ',');

		if (quoted) {
			if (c == '\\' && i + 1 < blen)
				i++;
			else if (c == '"')
				quoted = false;
			continue;
		}
		if (angle) {
			if (c == '"')
				quoted = true; /* may hold '>' */
			else if (c == '>')
				angle = false;
			else if (c == '<' && rc == 0)
				rc = AM_EINVAL;
			continue;
		}
		if (c == '"') {
			quoted = true;
		} else if (c == '<') {
			angle = true;
		} else if (c == ':') {
			/*
			 * group: "display-name:" starts a list. A display name
			 * holds no unquoted '@' and groups do not nest: else
			 * what precedes the ':' may be an address that a mail
			 * client shows (CVE-2020-12272), so the field is
			 * refused rather than read without it.
			 */
			if (group || unquoted_char(buf + start, i - start, '@',
						   false) != NULL) {
				if (rc == 0)
					rc = AM_EINVAL;
			}
			group = true;
			start = i + 1;
		} else if (c == ',' || c == ';') {
			if (c == ';' && !group && rc == 0)
				rc = AM_EINVAL; /* ';' ends only a group */
			if (c == ';')
				group = false;
			r = mailbox(buf + start, i - start, out);
			if (r != 0 && rc == 0)
				rc = r;
			start = i + 1;
		}
	}
	if (angle && rc == 0)
		rc = AM_EINVAL;
out:
	free(buf);
	return rc;
}

void
fromaddr_set_add(struct fromaddr_set *set, const char *domain)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->domain[i], domain) == 0)
			return;
	if (set->n >= FROMADDR_MAX_DOMAINS) {
		set->overflow = true;
		return;
	}
	snprintf(set->domain[set->n++], sizeof set->domain[0], "%s", domain);
}

static bool
host_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.';
}

/*
 * Skip spaces, folds and (nested) comments from v[i]; the new index.
 * At most FROMADDR_MAX_CFWS octets are skipped, so that a field of many
 * '@' in one long comment costs linear time.
 */
#define FROMADDR_MAX_CFWS 256

static size_t
skip_cfws(const char *v, size_t len, size_t i)
{
	size_t end;
	int depth = 0;

	if (i >= len)
		return len;
	end = len - i > FROMADDR_MAX_CFWS ? i + FROMADDR_MAX_CFWS : len;
	for (; i < end; i++) {
		char c = v[i];

		if (depth > 0) {
			if (c == '\\' && i + 1 < end)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '(') {
			depth = 1;
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			break;
		}
	}
	return i < len ? i : len;
}

void
fromaddr_harvest(const char *value, size_t len, struct fromaddr_set *set)
{
	char d[FROMADDR_MAX_DOMAIN];

	for (size_t i = 0; value != NULL && i < len; i++) {
		size_t k = 0, j;
		bool ok = true;

		if (value[i] != '@')
			continue;
		/*
		 * A domain, with the CFWS that obs-domain allows around its
		 * dots ("bank . test"), lower case.
		 */
		j = skip_cfws(value, len, i + 1);
		for (;;) {
			size_t t;

			while (j < len && host_char((unsigned char)value[j])) {
				if (k + 1 >= sizeof d) {
					ok = false;
					break;
				}
				d[k++] =
				    (char)tolower((unsigned char)value[j++]);
			}
			t = ok ? skip_cfws(value, len, j) : j;
			if (t == j || t >= len || k == 0 ||
			    !host_char((unsigned char)value[t]) ||
			    (d[k - 1] != '.' && value[t] != '.'))
				break;
			j = t;
		}
		d[k] = '\0';
		while (k > 0 && d[k - 1] == '.')
			d[--k] = '\0';
		if (!ok || k == 0)
			continue;
		for (size_t t = 0; t < k; t++)
			if (d[t] == '.' && (t == 0 || d[t - 1] == '.'))
				ok = false; /* an empty label */
		if (ok)
			fromaddr_set_add(set, d);
	}
}
