/* SPDX-License-Identifier: BSD-2-Clause */
/* dns_packet - a DNS answer message in wire format to a struct dns_answer */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/nameser.h>

#include "dns_packet.h"

/*
 * Decode an uncompressed wire name of at most len octets into a new
 * string: lower case, no final dot, "" for the root, octets that are not
 * printable or are '.' or '\\' inside a label escaped as in RFC 1035
 * presentation format. NULL if malformed or out of memory.
 */
static char *
wire_name(const unsigned char *p, size_t len)
{
	size_t i = 0, o = 0, wire = 0;
	char *out;

	if (len > 255)
		len = 255;
	out = malloc(len * 4 + 1);
	if (out == NULL)
		return NULL;
	for (;;) {
		size_t ll;

		if (i >= len)
			goto bad;
		ll = p[i++];
		wire += ll + 1;
		if (ll == 0)
			break;
		if (ll > 63 || i + ll > len || wire > 255)
			goto bad; /* compression pointer or overrun */
		if (o > 0)
			out[o++] = '.';
		for (size_t k = 0; k < ll; k++) {
			unsigned char c = p[i++];

			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c + 32);
			if (c == '.' || c == '\\') {
				out[o++] = '\\';
				out[o++] = (char)c;
			} else if (c < 0x21 || c > 0x7e) {
				out[o++] = '\\';
				out[o++] = (char)('0' + c / 100);
				out[o++] = (char)('0' + c / 10 % 10);
				out[o++] = (char)('0' + c % 10);
			} else {
				out[o++] = (char)c;
			}
		}
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* Join a TXT record's character-strings; false if malformed or ENOMEM. */
static bool
wire_txt(const unsigned char *p, size_t len, struct dns_rr *rr, bool *truncated)
{
	size_t i = 0, total = 0, o = 0;

	while (i < len) {
		size_t sl = p[i];

		if (i + 1 + sl > len)
			return false;
		total += sl;
		i += 1 + sl;
	}
	if (total > DNS_MAX_TXT) {
		total = DNS_MAX_TXT;
		*truncated = true;
	}
	rr->txt = malloc(total + 1);
	if (rr->txt == NULL)
		return false;
	for (i = 0; i < len && o < total;) {
		size_t sl = p[i++];
		size_t take = sl < total - o ? sl : total - o;

		memcpy(rr->txt + o, p + i, take);
		o += take;
		i += sl;
	}
	rr->txt[o] = '\0';
	rr->txtlen = o;
	return true;
}

void
dns_packet_clear(struct dns_answer *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->rr[i].name);
		free(a->rr[i].txt);
	}
	free(a->rr);
	free(a->canonname);
	a->rr = NULL;
	a->canonname = NULL;
	a->n = 0;
}

/* One resource record of a message, as located by pkt_rr(). */
struct pkt_rr {
	unsigned char owner[NS_MAXCDNAME]; /* uncompressed wire name */
	uint16_t type, class;
	uint32_t ttl;
	const unsigned char *rdata; /* into the message */
	size_t rdlen;
};

/*
 * Read the record at *off of msg (len octets): the owner name through
 * glibc's ns_name_unpack (compression, loops, bounds), then the fixed
 * fields, checked against the end of the message. Advances *off.
 */
static bool
pkt_rr(const unsigned char *msg, size_t len, size_t *off, struct pkt_rr *rr,
       bool question)
{
	int n = ns_name_unpack(msg, msg + len, msg + *off, rr->owner,
			       sizeof rr->owner);

	if (n < 0)
		return false;
	*off += (size_t)n;
	if (*off + (question ? 4 : 10) > len)
		return false;
	rr->type = (uint16_t)(msg[*off] << 8 | msg[*off + 1]);
	rr->class = (uint16_t)(msg[*off + 2] << 8 | msg[*off + 3]);
	*off += 4;
	if (question) {
		rr->ttl = 0;
		rr->rdata = NULL;
		rr->rdlen = 0;
		return true;
	}
	rr->ttl = (uint32_t)msg[*off] << 24 | (uint32_t)msg[*off + 1] << 16 |
		  (uint32_t)msg[*off + 2] << 8 | (uint32_t)msg[*off + 3];
	rr->rdlen = (size_t)(msg[*off + 4] << 8 | msg[*off + 5]);
	*off += 6;
	if (rr->rdlen > len - *off)
		return false;
	rr->rdata = msg + *off;
	*off += rr->rdlen;
	return true;
}

/* Wire names equal, ASCII case ignored (both uncompressed, well-formed). */
static bool
wire_eq(const unsigned char *a, const unsigned char *b)
{
	for (;;) {
		size_t l = *a;

		if (l != *b)
			return false;
		if (l == 0)
			return true;
		for (size_t i = 1; i <= l; i++) {
			unsigned char x = a[i], y = b[i];

			if (x >= 'A' && x <= 'Z')
				x = (unsigned char)(x + 32);
			if (y >= 'A' && y <= 'Z')
				y = (unsigned char)(y + 32);
			if (x != y)
				return false;
		}
		a += l + 1;
		b += l + 1;
	}
}

static size_t
wire_len(const unsigned char *w)
{
	size_t n = 0;

	while (w[n] != 0)
		n += (size_t)w[n] + 1;
	return n + 1;
}

/* Uncompress a name inside rdata (MX exchange, PTR, CNAME target). */
static char *
rdata_name(const unsigned char *msg, size_t len, const unsigned char *p,
	   const unsigned char *rdend)
{
	unsigned char w[NS_MAXCDNAME];
	int n;

	if (p >= rdend)
		return NULL;
	n = ns_name_unpack(msg, msg + len, p, w, sizeof w);
	if (n < 0 || p + n > rdend)
		return NULL;
	return wire_name(w, wire_len(w));
}

/* Convert one record's rdata for type into rr; false if malformed. */
static bool
rr_convert(const unsigned char *msg, size_t len, enum dns_type type,
	   const struct pkt_rr *prr, struct dns_rr *rr, bool *truncated)
{
	const unsigned char *d = prr->rdata, *end = prr->rdata + prr->rdlen;

	switch (type) {
	case DNS_T_A:
		if (prr->rdlen != 4)
			return false;
		memcpy(&rr->a, d, 4);
		return true;
	case DNS_T_AAAA:
		if (prr->rdlen != 16)
			return false;
		memcpy(&rr->aaaa, d, 16);
		return true;
	case DNS_T_MX:
		if (prr->rdlen < 3)
			return false;
		rr->pref = (uint16_t)(d[0] << 8 | d[1]);
		rr->name = rdata_name(msg, len, d + 2, end);
		return rr->name != NULL;
	case DNS_T_PTR:
		rr->name = rdata_name(msg, len, d, end);
		return rr->name != NULL;
	case DNS_T_TXT:
		return wire_txt(d, prr->rdlen, rr, truncated);
	}
	return false;
}

#define DNS_CNAME_HOPS 16 /* CNAMEs followed inside one answer */

void
dns_packet_parse(struct dns_answer *a, enum dns_type type, int rcode,
		 const unsigned char *msg, size_t len, int sec)
{
	unsigned char qname[NS_MAXCDNAME], cur[NS_MAXCDNAME];
	struct pkt_rr prr;
	size_t off, ans_off, cap;
	unsigned qd, an;
	uint32_t ttl = UINT32_MAX;
	bool aliased = false, matched = false;

	a->rcode = -1;
	if (rcode != 0 || msg == NULL || len < 12) {
		/* libunbound's own failure (no answer to read) */
		a->rcode = rcode;
		a->status = rcode == 3 ? DNS_NXDOMAIN : DNS_SERVFAIL;
		return;
	}
	a->rcode = msg[3] & 0x0f;
	qd = (unsigned)(msg[4] << 8 | msg[5]);
	an = (unsigned)(msg[6] << 8 | msg[7]);
	a->secure = sec == 2;
	if (sec == 1) {
		a->status = DNS_BOGUS;
		return;
	}
	if (a->rcode == 3) {
		a->status = DNS_NXDOMAIN;
		return;
	}
	if (a->rcode != 0 || qd != 1) {
		a->status = DNS_SERVFAIL;
		return;
	}
	off = 12;
	if (!pkt_rr(msg, len, &off, &prr, true) || prr.type != type) {
		a->status = DNS_SERVFAIL;
		return;
	}
	memcpy(qname, prr.owner, wire_len(prr.owner));
	memcpy(cur, qname, wire_len(qname));
	ans_off = off;
	/*
	 * Follow the CNAME chain from the question name (RFC 1034 3.6.2).
	 * A chain longer than DNS_CNAME_HOPS is a failure (SERVFAIL), never
	 * a name without data: the records at its end were not looked at.
	 */
	for (int hop = 0; hop <= DNS_CNAME_HOPS; hop++) {
		bool moved = false;

		off = ans_off;
		for (unsigned i = 0; i < an; i++) {
			if (!pkt_rr(msg, len, &off, &prr, false)) {
				a->status = DNS_SERVFAIL;
				return;
			}
			if (prr.type == 5 && prr.class == 1 &&
			    wire_eq(prr.owner, cur)) {
				const unsigned char *d = prr.rdata;
				int n = ns_name_unpack(msg, msg + len, d, cur,
						       sizeof cur);

				if (n < 0 || (size_t)n > prr.rdlen ||
				    hop == DNS_CNAME_HOPS) {
					a->status = DNS_SERVFAIL;
					return;
				}
				if (prr.ttl < ttl)
					ttl = prr.ttl;
				moved = aliased = true;
				break;
			}
		}
		if (!moved)
			break;
	}
	if (aliased && !wire_eq(cur, qname)) {
		char *c = wire_name(cur, wire_len(cur));

		if (c != NULL && c[0] != '\0')
			a->canonname = c;
		else
			free(c);
	}
	/*
	 * One pass: room for every answer record (at most DNS_MAX_RR), the
	 * records of type at the chain's end converted as they come.
	 */
	cap = an < DNS_MAX_RR ? an : DNS_MAX_RR;
	if (cap > 0 && (a->rr = calloc(cap, sizeof *a->rr)) == NULL) {
		a->status = DNS_SERVFAIL;
		return;
	}
	off = ans_off;
	for (unsigned i = 0; i < an; i++) {
		struct dns_rr *rr;

		if (!pkt_rr(msg, len, &off, &prr, false))
			break; /* cannot happen: walked above */
		if (prr.type != type || prr.class != 1 ||
		    !wire_eq(prr.owner, cur))
			continue;
		matched = true;
		if (a->n == DNS_MAX_RR) {
			a->truncated = true;
			break;
		}
		rr = &a->rr[a->n];
		if (rr_convert(msg, len, type, &prr, rr, &a->truncated)) {
			if (prr.ttl < ttl)
				ttl = prr.ttl;
			a->n++;
		} else {
			free(rr->name);
			free(rr->txt);
			memset(rr, 0, sizeof *rr);
		}
	}
	if (!matched) {
		free(a->rr);
		a->rr = NULL;
		a->ttl = ttl == UINT32_MAX ? 0 : ttl;
		a->status = DNS_NODATA;
		return;
	}
	a->ttl = ttl == UINT32_MAX ? 0 : ttl;
	if (a->n == 0) {
		free(a->rr);
		a->rr = NULL;
	}
	a->status = a->n > 0 ? DNS_DATA : DNS_SERVFAIL;
}
