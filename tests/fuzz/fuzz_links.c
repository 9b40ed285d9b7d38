/* SPDX-License-Identifier: BSD-2-Clause */
/* fuzz_links - libFuzzer target: the link extractor on a whole message */
/*
 * Input: a message (header fields, a blank line, the body). Its header
 * fields go to links_header() and its body to links_body() twice, in two
 * extractors: once whole, once in chunks of 1 to 64 octets (the size
 * taken from the input). Invariants: both give the same final domains
 * (buffering does not depend on chunking); every domain is a lower-case
 * host name of LDH/underscore labels without empty labels, or four
 * decimal octets for an IP; the counts stay within the caps; a prefetch
 * hint is a valid name too and never a skipped domain.
 */
#include <stdio.h>

#include "links.h"

#include "fuzz_util.h"

static const char *const skip[] = {"skip.test", "gmail.com"};

static void
check_name(const struct links_domain *d)
{
	size_t n = strnlen(d->name, LINKS_NAME_MAX), label = 0, labels = 0;

	if (n == 0 || n == LINKS_NAME_MAX ||
	    strnlen(d->host, LINKS_NAME_MAX) == LINKS_NAME_MAX)
		abort();
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)d->name[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63)
				abort(); /* empty or long label */
			label = 0;
			labels++;
			continue;
		}
		if (d->ip ? !(c >= '0' && c <= '9')
			  : !((c >= 'a' && c <= 'z') ||
			      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			abort();
		label++;
	}
	if (d->ip && labels != 4)
		abort();
	if (d->links == 0)
		abort();
}

static struct links *
extract(const uint8_t *data, size_t size, size_t chunk)
{
	struct links_limits lim = {4096 + size % 8192, 1 + size % 30};
	struct links *l = links_new(&lim, NULL, skip, 2);
	const uint8_t *p = data, *end = data + size;

	if (l == NULL)
		abort();
	/* header fields: "name:value" lines, continuation lines folded in */
	while (p < end && *p != '\n' && *p != '\r') {
		const uint8_t *e = p, *colon;
		char *field;

		while (e < end) {
			const uint8_t *nl = memchr(e, '\n', (size_t)(end - e));

			e = nl != NULL ? nl + 1 : end;
			if (e >= end || (*e != ' ' && *e != '\t'))
				break;
		}
		field = strndup((const char *)p, (size_t)(e - p));
		if (field == NULL)
			abort();
		colon = (const uint8_t *)strchr(field, ':');
		if (colon != NULL) {
			*(char *)colon = '\0';
			if (links_header(l, field, (const char *)colon + 1,
					 false) != 0)
				abort();
		}
		free(field);
		p = e;
	}
	while (p < end) {
		size_t n =
		    (size_t)(end - p) < chunk ? (size_t)(end - p) : chunk;

		if (links_body(l, p, n) != 0)
			abort();
		p += n;
	}
	if (links_end(l) != 0 || links_end(l) != 0)
		abort();
	return l;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct links *a, *b;
	const struct links_stats *s;

	if (size > 256 * 1024)
		return 0;
	a = extract(data, size, size ? size : 1);
	b = extract(data, size, 1 + (size ? data[size / 2] % 64 : 0));
	if (links_count(a) != links_count(b))
		abort();
	s = links_stats(a);
	if (s->links > LINKS_MAX_LINKS || s->parts > LINKS_MAX_PARTS ||
	    links_count(a) > 1 + size % 30 + LINKS_MAX_SKIPPED ||
	    links_prefetch_count(a) > 1 + size % 30)
		abort();
	for (size_t i = 0; i < links_count(a); i++) {
		const struct links_domain *x = links_get(a, i),
					  *y = links_get(b, i);

		check_name(x);
		if (strcmp(x->name, y->name) != 0 || x->links != y->links)
			abort();
		if (x->skipped != links_skip_match(skip, 2, x->name))
			abort();
	}
	for (size_t i = 0; i < links_prefetch_count(b); i++) {
		check_name(links_prefetch_get(b, i));
		if (links_prefetch_get(b, i)->skipped)
			abort();
	}
	links_free(a);
	links_free(b);
	return 0;
}
