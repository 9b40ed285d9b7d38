/* SPDX-License-Identifier: BSD-2-Clause */
/* cidr - parse IPv4/IPv6 networks and match addresses against them */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amerr.h"
#include "cidr.h"

static int
cidr_fail(char *err, size_t errlen, const char *why)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", why);
	return AM_EINVAL;
}

int
cidr_parse(const char *text, struct cidr *out, char *err, size_t errlen)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash;
	size_t alen;
	unsigned int maxlen;
	unsigned long len;
	char *end;

	if (text == NULL || *text == '\0')
		return cidr_fail(err, errlen, "empty network");
	memset(out, 0, sizeof *out);
	slash = strchr(text, '/');
	alen = slash != NULL ? (size_t)(slash - text) : strlen(text);
	if (alen == 0 || alen >= sizeof buf)
		return cidr_fail(err, errlen, "bad address");
	memcpy(buf, text, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		maxlen = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		maxlen = 128;
	} else {
		return cidr_fail(err, errlen, "bad address");
	}
	out->len = maxlen;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9')
			return cidr_fail(err, errlen, "bad prefix length");
		errno = 0;
		len = strtoul(slash + 1, &end, 10);
		if (errno != 0 || *end != '\0' || len > maxlen ||
		    end - (slash + 1) > 3)
			return cidr_fail(err, errlen, "bad prefix length");
		out->len = (unsigned int)len;
	}
	/* Clear host bits so that the stored address is the network. */
	for (unsigned int bit = out->len; bit < maxlen; bit++)
		out->addr[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
	return 0;
}

static bool
cidr_prefix_eq(const unsigned char *a, const unsigned char *b, unsigned int len)
{
	unsigned int bytes = len / 8, rem = len % 8;
	unsigned char mask;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rem == 0)
		return true;
	mask = (unsigned char)(0xffu << (8 - rem));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool
cidr_match(const struct cidr *net, int family, const void *addr)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0,	   0,
						 0, 0, 0, 0, 0xff, 0xff};
	const unsigned char *a = addr;

	if (net == NULL || addr == NULL)
		return false;
	if (family == AF_INET6 && net->family == AF_INET &&
	    memcmp(a, mapped, sizeof mapped) == 0) {
		family = AF_INET;
		a += 12;
	}
	if (family != net->family)
		return false;
	return cidr_prefix_eq(net->addr, a, net->len);
}

bool
cidr_list_match(const struct cidr_list *l, int family, const void *addr)
{
	if (l == NULL)
		return false;
	for (size_t i = 0; i < l->n; i++)
		if (cidr_match(&l->v[i], family, addr))
			return true;
	return false;
}

int
cidr_list_add(struct cidr_list *l, const struct cidr *c)
{
	struct cidr *v;

	if (l->n >= CIDR_MAX_LIST)
		return AM_ERANGE;
	v = realloc(l->v, (l->n + 1) * sizeof *v);
	if (v == NULL)
		return AM_ENOMEM;
	v[l->n++] = *c;
	l->v = v;
	return 0;
}

void
cidr_list_free(struct cidr_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
