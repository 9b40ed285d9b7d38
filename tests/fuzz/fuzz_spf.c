/* SPDX-License-Identifier: BSD-2-Clause */
/* fuzz_spf - libFuzzer target: SPF record parser, macros, Received-SPF */
/*
 * Input: one control octet, then the text. The control octet picks the
 * macro flags and the IP version of the macro environment; the text is
 * parsed as an SPF record (as is, and with "v=spf1 " in front), checked
 * and expanded as a macro-string, turned into a target name, checked as
 * a domain-spec, and used as every network field of a Received-SPF
 * header. No DNS is involved.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spf_macro.h"
#include "spf_received.h"
#include "spf_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct spf_macro_env env4 = {
    "strong-bad@email.example.com",
    "strong-bad",
    "email.example.com",
    "email.example.com",
    "192.0.2.3",
    "192.0.2.3",
    "mx.example.org",
    "in-addr",
    "mx.example.org",
    "receiver.example.net",
    "1700000000",
};

static const struct spf_macro_env env6 = {
    "a.b-c+d=e@x.example",
    "a.b-c+d=e",
    "x.example",
    "x.example",
    "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1",
    "2001:db8::cb01",
    "unknown",
    "ip6",
    "[192.0.2.1]",
    "unknown",
    "0",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spf_record *r = NULL;
	char *text, *pre, *hdr;
	char out[SPF_MACRO_MAX + 1];
	unsigned int flags;
	const struct spf_macro_env *env;
	struct spf_received rs;
	int n;

	if (size == 0 || size > 3 * SPF_RECORD_MAX)
		return 0;
	flags = data[0] & 3;
	env = (data[0] & 4) ? &env6 : &env4;
	data++;
	size--;

	if (spf_record_parse((const char *)data, size, &r, out, 100) == 0)
		spf_record_free(r);
	(void)spf_record_is_spf((const char *)data, size);

	pre = malloc(size + 8);
	if (pre == NULL)
		return 0;
	memcpy(pre, "v=spf1 ", 7);
	memcpy(pre + 7, data, size);
	r = NULL;
	if (spf_record_parse(pre, size + 7, &r, NULL, 0) == 0) {
		for (size_t i = 0; i < r->nmech; i++) {
			const char *d = r->mech[i].domain;
			if (d == NULL)
				continue;
			n = spf_macro_expand(d, strlen(d), env, 0, out,
					     sizeof out);
			if (n >= 0)
				spf_macro_domain(out);
		}
		spf_record_free(r);
	}
	free(pre);

	(void)spf_macro_check((const char *)data, size, flags);
	(void)spf_macro_uses((const char *)data, size, 'p');
	(void)spf_domain_spec_valid((const char *)data, size);
	n = spf_macro_expand((const char *)data, size, env, flags, out,
			     sizeof out);
	if (n >= 0) {
		if ((size_t)n != strlen(out))
			abort(); /* the length must match the string */
		spf_macro_domain(out);
		if (strlen(out) > 253)
			abort();
	}
	/* a small output buffer must fail cleanly */
	(void)spf_macro_expand((const char *)data, size, env, flags, out, 8);

	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&rs, 0, sizeof rs);
	rs.result = (enum am_result)(flags + 1);
	rs.receiver = text;
	rs.client_ip = text;
	rs.envelope_from = text;
	rs.helo = text;
	rs.identity = "mailfrom";
	rs.sender = text;
	rs.mechanism = text;
	rs.problem = text;
	hdr = spf_received_build(&rs);
	if (hdr != NULL) {
		/* no CR, no bare LF, nothing outside printable ASCII */
		for (const char *p = hdr; *p != '\0'; p++) {
			unsigned char c = (unsigned char)*p;
			if (c == '\n' ? p[1] != '\t'
				      : (c != '\t' && (c < 0x20 || c > 0x7e)))
				abort();
		}
		free(hdr);
	}
	free(text);
	return 0;
}
