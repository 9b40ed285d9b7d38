/* SPDX-License-Identifier: BSD-2-Clause */
/* policy - combine check outcomes into a verdict; X-Authmilter; log line */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "amerr.h"
#include "policy.h"

#define POLICY_MAX_KEY 64
#define POLICY_MAX_VALUE 256
#define POLICY_MAX_XAUTH 4096
#define POLICY_FOLD 76

/* Append ",name" (or "name") to a comma list, if it fits whole. */
static void
list_append(char *list, size_t size, const char *name)
{
	size_t len = strlen(list), nlen = strlen(name);

	if (len + (len ? 1 : 0) + nlen + 1 > size)
		return;
	if (len)
		list[len++] = ',';
	memcpy(list + len, name, nlen + 1);
}

void
policy_decide(const struct conf *cf, const struct policy_entry *e, size_t n,
	      struct policy_verdict *v)
{
	const struct check_outcome *win = NULL;

	memset(v, 0, sizeof *v);
	for (size_t i = 0; i < n; i++) {
		const struct check_outcome *o = e[i].o;

		if (o == NULL || !o->done || o->result == AM_R_SKIPPED)
			continue;
		if (o->action == AM_ACT_NONE)
			continue;
		/* named as in the X-Authmilter items (SPEC "Headers") */
		list_append(v->failed, sizeof v->failed,
			    e[i].check == NULL ? "?"
			    : strcmp(e[i].check, "sender") == 0
				? "sender-domain"
				: e[i].check);
		if (win == NULL || o->action > win->action) {
			win = o;
			v->check = e[i].check;
		}
	}
	if (win == NULL)
		return;
	v->wanted = win->action;
	v->action = win->action;
	snprintf(v->why, sizeof v->why, "%s", win->why);
	if (win->action >= AM_ACT_TEMPFAIL) {
		if (win->rcode[0] != '\0' && win->reply[0] != '\0') {
			snprintf(v->rcode, sizeof v->rcode, "%s", win->rcode);
			snprintf(v->xcode, sizeof v->xcode, "%s", win->xcode);
			snprintf(v->reply, sizeof v->reply, "%s", win->reply);
		} else {
			snprintf(v->rcode, sizeof v->rcode, "451");
			snprintf(v->xcode, sizeof v->xcode, "4.3.0");
			snprintf(v->reply, sizeof v->reply,
				 "Temporary local problem, try again later");
		}
	}
	if (cf != NULL && cf->dry_run && v->wanted >= AM_ACT_QUARANTINE) {
		v->dry_run = true;
		v->action = AM_ACT_NONE;
	}
}

const char *
policy_action_word(enum am_action a)
{
	return a == AM_ACT_NONE ? "accept" : am_action_str(a);
}

/* A copy of at most max octets of s, printable ASCII only. */
static char *
clean_copy(const char *s, size_t max)
{
	size_t len = strnlen(s, max), j = 0;
	char *out = malloc(len + 1);

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f)
			out[j++] = s[i];
	out[j] = '\0';
	return out;
}

/*
 * A copy of at most max octets of a header value: printable ASCII, and a
 * fold ("\n" or "\r\n" before a space or tab) kept as "\n" plus that
 * white space, so the value's folding whitespace (FWS) survives.
 */
static char *
fold_copy(const char *s, size_t max)
{
	size_t len = strnlen(s, max), j = 0;
	char *out = malloc(len + 1);

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t k = i + (c == '\r' && s[i + 1] == '\n');

		if (c >= 0x20 && c < 0x7f)
			out[j++] = s[i];
		else if (s[k] == '\n' && j > 0 &&
			 (s[k + 1] == ' ' || s[k + 1] == '\t') && k + 1 < len) {
			out[j++] = '\n';
			out[j++] = s[k + 1];
			i = k + 1;
		}
	}
	out[j] = '\0';
	return out;
}

static int
list_add(struct policy_list *l, const char *key, const char *value, bool header)
{
	struct policy_item *it;

	if (key == NULL || key[0] == '\0')
		return AM_EINVAL;
	if (l->n >= POLICY_MAX_ITEMS)
		return AM_ERANGE;
	it = &l->v[l->n];
	it->key = clean_copy(key, POLICY_MAX_KEY);
	it->value = header ? fold_copy(value ? value : "", POLICY_MAX_HEADER)
			   : clean_copy(value ? value : "", POLICY_MAX_VALUE);
	if (it->key == NULL || it->value == NULL) {
		free(it->key);
		free(it->value);
		it->key = it->value = NULL;
		return AM_ENOMEM;
	}
	l->n++;
	return 0;
}

int
policy_list_add(struct policy_list *l, const char *key, const char *value)
{
	return list_add(l, key, value, false);
}

int
policy_list_add_header(struct policy_list *l, const char *name,
		       const char *value)
{
	return list_add(l, name, value, true);
}

const char *
policy_list_get(const struct policy_list *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0)
			return l->v[i].value;
	return NULL;
}

void
policy_list_free(struct policy_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
		l->v[i].key = l->v[i].value = NULL;
	}
	l->n = 0;
}

static bool
plain_char(int c)
{
	return isalnum(c) || (c != '\0' && strchr("-._+:@,/*!", c) != NULL);
}

static bool
key_char(int c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.';
}

/* The X-Authmilter output buffer. */
struct xbuf {
	char s[POLICY_MAX_XAUTH + 1];
	size_t len;
	size_t col;
	bool full;
};

static void
xb_put(struct xbuf *b, const char *s, size_t len)
{
	if (b->full || len > POLICY_MAX_XAUTH - b->len) {
		b->full = true;
		return;
	}
	memcpy(b->s + b->len, s, len);
	b->len += len;
	b->s[b->len] = '\0';
	for (size_t i = 0; i < len; i++)
		b->col = s[i] == '\n' ? 0 : b->col + 1;
}

/* Append c to out[*j], keeping room for what must still follow. */
static void
put_char(char *out, size_t outlen, size_t *j, char c)
{
	if (*j + 6 < outlen) /* room for '"', " (", ")" and the NUL */
		out[(*j)++] = c;
}

/*
 * Append s[0..len) with every octet outside printable ASCII dropped and
 * every octet of esc preceded by a backslash.
 */
static void
put_escaped(char *out, size_t outlen, size_t *j, const char *s, size_t len,
	    const char *esc)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f)
			continue;
		if (strchr(esc, c) != NULL) {
			if (*j + 7 >= outlen)
				break;
			out[(*j)++] = '\\';
		}
		put_char(out, outlen, j, (char)c);
	}
}

/*
 * "key=value" into out, RFC 8601 style. The key keeps [A-Za-z0-9._-]. A
 * value "token (comment)" (as the checks write it) is split: the token
 * is written as is when made of plain characters, else quoted (with \"
 * and \\); the comment follows in parentheses with (, ) and \ escaped.
 * Returns the length, 0 if nothing is left of the key.
 */
static size_t
fmt_item(char *out, size_t outlen, const char *key, const char *value)
{
	size_t j = 0, vlen = strlen(value), tlen = vlen;
	const char *comment = NULL, *open = strstr(value, " (");
	size_t clen = 0;
	bool plain;

	for (const char *p = key; *p != '\0' && j + 1 < outlen; p++)
		if (key_char((unsigned char)*p))
			out[j++] = *p;
	if (j == 0 || j + 8 >= outlen)
		return 0;
	out[j++] = '=';
	if (open != NULL && vlen > 0 && value[vlen - 1] == ')') {
		tlen = (size_t)(open - value);
		comment = open + 2;
		clen = vlen - tlen - 3;
	}
	plain = tlen > 0;
	for (size_t i = 0; i < tlen; i++)
		if (!plain_char((unsigned char)value[i]))
			plain = false;
	if (!plain)
		out[j++] = '"';
	put_escaped(out, outlen, &j, value, tlen, plain ? "" : "\"\\");
	if (!plain)
		out[j++] = '"';
	if (comment != NULL) {
		out[j++] = ' ';
		out[j++] = '(';
		put_escaped(out, outlen, &j, comment, clen, "()\\");
		out[j++] = ')';
	}
	out[j] = '\0';
	return j;
}

/* Write "; item", folding before it when the line would grow too long. */
static void
xb_item(struct xbuf *b, const char *item, size_t len)
{
	xb_put(b, ";", 1);
	if (b->col + 1 + len > POLICY_FOLD)
		xb_put(b, "\n\t", 2);
	else
		xb_put(b, " ", 1);
	xb_put(b, item, len);
}

char *
policy_xauth_render(const char *authserv_id, const struct policy_list *items,
		    const struct policy_verdict *v)
{
	struct xbuf *b = calloc(1, sizeof *b);
	char item[2 * POLICY_MAX_VALUE + 2 * POLICY_MAX_KEY + 64];
	char *out = NULL;
	size_t len;

	if (b == NULL)
		return NULL;
	for (const char *p = authserv_id ? authserv_id : ""; *p; p++)
		if (plain_char((unsigned char)*p))
			xb_put(b, p, 1);
	if (b->len == 0)
		xb_put(b, "unknown", 7);
	for (size_t i = 0; items != NULL && i < items->n; i++) {
		len = fmt_item(item, sizeof item, items->v[i].key,
			       items->v[i].value);
		if (len > 0 && len + 64 < POLICY_MAX_XAUTH - b->len)
			xb_item(b, item, len);
	}
	/* The action item, composed here; the reason is quoted. */
	{
		char reason[2 * sizeof v->why + 16] = "";
		size_t j;

		if (v->dry_run || v->action == AM_ACT_QUARANTINE) {
			j = fmt_item(reason, sizeof reason, "reason", v->why);
			if (j == 0)
				reason[0] = '\0';
		}
		j = (size_t)snprintf(
		    item, sizeof item, "action=%s%s%s%s%s%s",
		    policy_action_word(v->dry_run ? v->wanted : v->action),
		    v->dry_run ? " (dry-run)" : "", reason[0] ? " " : "",
		    reason,
		    v->failed[0] && (v->dry_run || v->action == AM_ACT_TAG)
			? " failed="
			: "",
		    v->dry_run || v->action == AM_ACT_TAG ? v->failed : "");
		if (j >= sizeof item)
			j = sizeof item - 1;
		b->full = false;
		/* room for the item and its "; " or ";\n\t" in front */
		if (j + 3 > POLICY_MAX_XAUTH - b->len) {
			/* never lose the action: drop items to make room */
			b->len = 0;
			b->col = 0;
			xb_put(b, "unknown", 7);
		}
		xb_item(b, item, j);
	}
	out = strdup(b->s);
	free(b);
	return out;
}

size_t
policy_log_fields(const struct policy_logmsg *lm,
		  const struct policy_list *fields,
		  const struct policy_verdict *v, char *actbuf, size_t actlen,
		  char *buf, size_t buflen, struct log_field *f, size_t max)
{
	size_t n = 0;

#define ADD(k, val, num)                                                       \
	do {                                                                   \
		if (n < max) {                                                 \
			f[n].key = (k);                                        \
			f[n].value = (val);                                    \
			f[n].number = (num);                                   \
			n++;                                                   \
		}                                                              \
	} while (0)

	ADD("qid", lm->qid, false);
	ADD("ip", lm->ip, false);
	ADD("helo", lm->helo, false);
	ADD("mailfrom", lm->mail_from, false);
	ADD("from_domain", lm->from_domain, false);
	for (size_t i = 0; fields != NULL && i < fields->n; i++)
		if (strcmp(fields->v[i].key, "from_domain") != 0)
			ADD(fields->v[i].key, fields->v[i].value, false);
	if (v->dry_run)
		snprintf(actbuf, actlen, "would %s",
			 policy_action_word(v->wanted));
	else
		snprintf(actbuf, actlen, "%s", policy_action_word(v->action));
	ADD("action", actbuf, false);
	snprintf(buf, buflen, "%.0f", lm->dns_ms < 0 ? 0.0 : lm->dns_ms);
	ADD("dns_ms", buf, true);
#undef ADD
	return n;
}
