/* SPDX-License-Identifier: BSD-2-Clause */
/* spf_received - the Received-SPF header field (RFC 7208 section 9.1) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spf_received.h"

#define OUT_MAX 4096

struct out {
	char buf[OUT_MAX];
	size_t len;
	size_t col; /* octets since the last fold */
};

static void
put(struct out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n && o->len + 1 < sizeof o->buf; i++) {
		o->buf[o->len++] = s[i];
		o->col = s[i] == '\n' ? 0 : o->col + 1;
	}
	o->buf[o->len] = '\0';
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* RFC 5322 atext */
static bool
atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("!#$%&'*+-/=?^_`{|}~", c);
}

static bool
dot_atom(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SPF_RECEIVED_MAX_VALUE || s[0] == '.' ||
	    s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (s[i + 1] == '.')
				return false;
		} else if (c == '\0' || !atext(c)) {
			return false;
		}
	}
	return true;
}

static void
value(struct out *o, const char *s)
{
	size_t k = 0;

	if (dot_atom(s)) {
		puts_(o, s);
		return;
	}
	put(o, "\"", 1);
	for (size_t i = 0; s[i] != '\0' && k < SPF_RECEIVED_MAX_VALUE; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e)
			continue;
		if (c == '"' || c == '\\')
			put(o, "\\", 1);
		put(o, (const char *)&s[i], 1);
		k++;
	}
	put(o, "\"", 1);
}

static void
ctext(struct out *o, const char *s)
{
	size_t k = 0;

	for (size_t i = 0;
	     s != NULL && s[i] != '\0' && k < SPF_RECEIVED_MAX_VALUE; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e)
			continue;
		if (c == '(' || c == ')' || c == '\\')
			put(o, "\\", 1);
		put(o, (const char *)&s[i], 1);
		k++;
	}
}

static void
pair(struct out *o, const char *key, const char *v, bool *first)
{
	if (v == NULL)
		return;
	if (!*first)
		put(o, ";", 1);
	put(o, "\n\t", 2);
	*first = false;
	puts_(o, key);
	put(o, "=", 1);
	value(o, v);
}

char *
spf_received_build(const struct spf_received *in)
{
	struct out *o;
	char *res = NULL;
	bool first = true;
	const char *ip = in->client_ip != NULL ? in->client_ip : "";
	const char *who = in->sender != NULL ? in->sender : "";

	if ((o = calloc(1, sizeof *o)) == NULL)
		return NULL;
	puts_(o, am_result_str(in->result));
	put(o, " (", 2);
	if (in->receiver != NULL) {
		ctext(o, in->receiver);
		put(o, ": ", 2);
	}
	switch (in->result) {
	case AM_R_PASS:
		puts_(o, "domain of ");
		ctext(o, who);
		puts_(o, " designates ");
		ctext(o, ip);
		puts_(o, " as permitted sender");
		break;
	case AM_R_FAIL:
		puts_(o, "domain of ");
		ctext(o, who);
		puts_(o, " does not designate ");
		ctext(o, ip);
		puts_(o, " as permitted sender");
		break;
	case AM_R_SOFTFAIL:
		puts_(o, "domain of transitioning ");
		ctext(o, who);
		puts_(o, " does not designate ");
		ctext(o, ip);
		puts_(o, " as permitted sender");
		break;
	case AM_R_NEUTRAL:
		ctext(o, ip);
		puts_(o, " is neither permitted nor denied by domain of ");
		ctext(o, who);
		break;
	case AM_R_NONE:
		puts_(o, "domain of ");
		ctext(o, who);
		puts_(o, " does not publish an SPF record");
		break;
	case AM_R_TEMPERROR:
		puts_(o, "temporary error while checking ");
		ctext(o, who);
		break;
	default:
		puts_(o, "permanent error in the SPF record for ");
		ctext(o, who);
		break;
	}
	put(o, ")", 1);
	pair(o, "receiver", in->receiver, &first);
	pair(o, "client-ip", in->client_ip, &first);
	pair(o, "envelope-from", in->envelope_from, &first);
	pair(o, "helo", in->helo, &first);
	pair(o, "identity", in->identity, &first);
	if (in->mechanism != NULL && in->mechanism[0] != '\0')
		pair(o, "mechanism", in->mechanism, &first);
	if (in->result == AM_R_TEMPERROR || in->result == AM_R_PERMERROR)
		pair(o, "problem", in->problem, &first);
	res = strdup(o->buf);
	free(o);
	return res;
}
