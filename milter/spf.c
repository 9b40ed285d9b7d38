/* SPDX-License-Identifier: BSD-2-Clause */
/* spf - RFC 7208 SPF evaluation on the session's DNS query set */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "amerr.h"
#include "spf.h"
#include "spf_macro.h"
#include "spf_record.h"

#define NAME_MAX_LEN 253
#define MAX_DEPTH 24 /* recursion guard; the lookup limit stops first */

/* Internal results; RES_PENDING means "come back with more answers". */
enum res {
	RES_NONE = 1, /* 0 is "no result yet" in helper returns */
	RES_NEUTRAL,
	RES_PASS,
	RES_FAIL,
	RES_SOFTFAIL,
	RES_TEMPERROR,
	RES_PERMERROR,
	RES_PENDING,
	RES_ENOMEM,
};

/* Mechanism outcomes besides the results above. */
#define MATCH 100
#define NOMATCH 101
#define TOOLONG 102 /* target(): the expansion is over SPF_MACRO_MAX */

struct spf_check {
	struct dns_set *dns;	       /* borrowed */
	int family;		       /* AF_INET or AF_INET6 */
	struct in_addr v4;	       /* client, IPv4 */
	struct in6_addr v6;	       /* client, IPv6 */
	char *sender;		       /* s: owned */
	char *local;		       /* l: owned */
	char *odomain;		       /* o: owned */
	char *helo;		       /* h: owned */
	char *receiver;		       /* r: owned */
	char ip[80];		       /* i */
	char client[INET6_ADDRSTRLEN]; /* c */
	char timestamp[24];	       /* t */
	bool valid;		       /* the identity passed s. 4.3 */
	bool done;		       /* out is final */
	unsigned int prefetched;       /* queries prefetch added to dns */
	struct spf_outcome out;
};

/* State of one evaluation run (a run starts from scratch). */
struct ev {
	struct spf_check *c;
	unsigned int lookups;		   /* DNS terms so far */
	unsigned int voids;		   /* void lookups so far */
	struct dns_query *pending;	   /* the answer we wait for */
	char why[160];			   /* reason of the final result */
	char mech[80];			   /* deciding term */
	char *exp_spec;			   /* exp= of the decider: owned */
	char exp_domain[NAME_MAX_LEN + 1]; /* its <domain> */
};

/* Bounded copy that always terminates (dstlen > 0). */
static void
cpy(char *dst, size_t dstlen, const char *src)
{
	size_t n = strnlen(src, dstlen - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* why = pre + arg (printable) + post, unless a reason is already set. */
static void
setwhy3(struct ev *ev, const char *pre, const char *arg, const char *post)
{
	char clean[96];
	size_t k = 0;

	if (ev->why[0] != '\0')
		return; /* keep the innermost reason */
	for (size_t i = 0;
	     arg != NULL && arg[i] != '\0' && k + 1 < sizeof clean; i++) {
		unsigned char ch = (unsigned char)arg[i];
		clean[k++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	clean[k] = '\0';
	snprintf(ev->why, sizeof ev->why, "%s%s%s", pre, clean, post);
}

/* A query name: 1..63 octet labels, at most 253 octets, no empty label. */
static bool
name_ok(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (++label > 63) {
			return false;
		}
	}
	return label > 0;
}

/* RFC 7208 s. 4.3: a well-formed, multi-label domain name. */
static bool
domain_ok(const char *s)
{
	if (s[0] == '[' || !name_ok(s) || strchr(s, '.') == NULL)
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch <= 0x20 || ch >= 0x7f)
			return false;
	}
	return true;
}

static bool
temp_status(enum dns_status st)
{
	return st == DNS_SERVFAIL || st == DNS_TIMEOUT || st == DNS_BOGUS;
}

static bool
void_status(enum dns_status st)
{
	return st == DNS_NXDOMAIN || st == DNS_NODATA;
}

/* The answer to (name, type), or NULL with ev->pending set. */
static const struct dns_answer *
lookup(struct ev *ev, const char *name, enum dns_type type)
{
	struct dns_query *q = dns_submit(ev->c->dns, name, type);
	const struct dns_answer *a = dns_answer(q);

	if (a->status == DNS_PENDING) {
		ev->pending = q;
		return NULL;
	}
	return a;
}

static enum dns_type
addr_type(const struct spf_check *c)
{
	return c->family == AF_INET ? DNS_T_A : DNS_T_AAAA;
}

static bool
match4(const struct in_addr *a, const struct in_addr *net, unsigned int cidr)
{
	uint32_t mask = cidr == 0 ? 0 : htonl(0xffffffffu << (32 - cidr));
	return (a->s_addr & mask) == (net->s_addr & mask);
}

static bool
match6(const struct in6_addr *a, const struct in6_addr *net, unsigned int cidr)
{
	unsigned int full = cidr / 8, rest = cidr % 8;

	if (memcmp(a->s6_addr, net->s6_addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a->s6_addr[full] & mask) == (net->s6_addr[full] & mask);
}

/* Does an A/AAAA answer hold the client within the prefix? */
static bool
answer_has_client(const struct spf_check *c, const struct dns_answer *a,
		  unsigned int cidr4, unsigned int cidr6)
{
	for (size_t i = 0; i < a->n; i++) {
		if (c->family == AF_INET && match4(&c->v4, &a->rr[i].a, cidr4))
			return true;
		if (c->family == AF_INET6 &&
		    match6(&c->v6, &a->rr[i].aaaa, cidr6))
			return true;
	}
	return false;
}

static bool
ends_with_domain(const char *name, const char *dom)
{
	size_t nl = strlen(name), dl = strlen(dom);

	if (nl == dl)
		return strcasecmp(name, dom) == 0;
	return nl > dl && name[nl - dl - 1] == '.' &&
	       strcasecmp(name + nl - dl, dom) == 0;
}

/*
 * The validated names of the client (RFC 7208 s. 5.5): PTR names (the
 * first SPF_MAX_PTR) whose A/AAAA hold the client. Names whose lookup
 * fails are skipped. Returns 0 with the count in *n, or RES_PENDING.
 */
static int
validated_names(struct ev *ev, const char **names, size_t *n)
{
	struct spf_check *c = ev->c;
	char rev[80];
	const struct dns_answer *pa, *aa;
	size_t k, cnt;

	*n = 0;
	if (dns_reverse_name(c->family,
			     c->family == AF_INET ? (const void *)&c->v4
						  : (const void *)&c->v6,
			     c->family == AF_INET ? "in-addr.arpa" : "ip6.arpa",
			     rev, sizeof rev) != 0)
		return 0;
	if ((pa = lookup(ev, rev, DNS_T_PTR)) == NULL)
		return RES_PENDING;
	if (pa->status != DNS_DATA)
		return 0;
	cnt = pa->n < SPF_MAX_PTR ? pa->n : SPF_MAX_PTR;
	/* Ask for every name at once, then read them in order. */
	for (k = 0; k < cnt; k++)
		if (name_ok(pa->rr[k].name))
			(void)dns_submit(c->dns, pa->rr[k].name, addr_type(c));
	for (k = 0; k < cnt; k++) {
		if (!name_ok(pa->rr[k].name))
			continue;
		if ((aa = lookup(ev, pa->rr[k].name, addr_type(c))) == NULL)
			return RES_PENDING;
		if (aa->status == DNS_DATA && answer_has_client(c, aa, 32, 128))
			names[(*n)++] = pa->rr[k].name;
	}
	return 0;
}

/* %{p} for <domain>: exact, then a subdomain, then any validated name. */
static int
ptr_macro(struct ev *ev, const char *domain, char *out, size_t outlen)
{
	const char *names[SPF_MAX_PTR];
	const char *best = NULL;
	size_t n;
	int rc = validated_names(ev, names, &n);

	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n && best == NULL; i++)
		if (strcasecmp(names[i], domain) == 0)
			best = names[i];
	for (size_t i = 0; i < n && best == NULL; i++)
		if (ends_with_domain(names[i], domain))
			best = names[i];
	if (best == NULL && n > 0)
		best = names[0];
	snprintf(out, outlen, "%s", best != NULL ? best : "unknown");
	return 0;
}

/*
 * Expand a macro-string for <domain> into out. flags as spf_macro.h.
 * Returns 0, RES_PENDING (waiting for %{p}), or RES_PERMERROR.
 */
static int
expand(struct ev *ev, const char *spec, const char *domain, unsigned int flags,
       char *out, size_t outlen)
{
	struct spf_check *c = ev->c;
	struct spf_macro_env env;
	char ptr[NAME_MAX_LEN + 1] = "unknown";
	size_t len = strlen(spec);
	int rc;

	if (spf_macro_uses(spec, len, 'p')) {
		rc = ptr_macro(ev, domain, ptr, sizeof ptr);
		if (rc != 0)
			return rc;
	}
	env.sender = c->sender;
	env.local = c->local;
	env.odomain = c->odomain;
	env.domain = domain;
	env.ip = c->ip;
	env.client = c->client;
	env.ptr = ptr;
	env.version = c->family == AF_INET ? "in-addr" : "ip6";
	env.helo = c->helo;
	env.receiver = c->receiver;
	env.timestamp = c->timestamp;
	rc = spf_macro_expand(spec, len, &env, flags, out, outlen);
	if (rc < 0)
		return rc == AM_ERANGE ? RES_NONE : RES_PERMERROR;
	return 0;
}

/*
 * The target name of a term: its domain-spec expanded (or <domain>),
 * trailing dot dropped, cut to 253 octets. Returns 0 (out may be an
 * invalid name: test with name_ok), RES_PENDING, RES_PERMERROR, or
 * TOOLONG when the expansion would pass SPF_MACRO_MAX octets (out is
 * then ""): the caller's term is a permerror, never "no match".
 */
static int
target(struct ev *ev, const char *spec, const char *domain, char *out,
       size_t outlen)
{
	char buf[SPF_MACRO_MAX + 1];
	int rc;

	if (spec == NULL) {
		snprintf(out, outlen, "%s", domain);
		return 0;
	}
	rc = expand(ev, spec, domain, 0, buf, sizeof buf);
	if (rc == RES_NONE) {
		out[0] = '\0'; /* too long to expand: not a usable name */
		return TOOLONG;
	}
	if (rc != 0)
		return rc;
	spf_macro_domain(buf);
	cpy(out, outlen, buf);
	return 0;
}

static int check_host(struct ev *ev, const char *domain, unsigned int depth,
		      bool top);

/* Count one DNS-querying term; RES_PERMERROR past the limit. */
static int
count_lookup(struct ev *ev, const char *term)
{
	if (++ev->lookups > SPF_MAX_LOOKUPS) {
		setwhy3(ev, "more than 10 DNS lookups at ", term, "");
		return RES_PERMERROR;
	}
	return 0;
}

/*
 * A term whose domain-spec expands past SPF_MACRO_MAX octets: permerror
 * (a processing limit, as s. 4.6.4), not a term that matches nothing,
 * which would let a "-exists:%{l}..." term be skipped by a long local
 * part.
 */
static int
too_long(struct ev *ev, const char *term)
{
	setwhy3(ev, "macro expansion over 8192 octets at ", term, "");
	return RES_PERMERROR;
}

static int
count_void(struct ev *ev, const char *name)
{
	if (++ev->voids > SPF_MAX_VOID) {
		setwhy3(ev, "more than 2 void lookups at ", name, "");
		return RES_PERMERROR;
	}
	return 0;
}

static int select_record(const struct dns_answer *a, const struct dns_rr **rec);

/*
 * Submit a query ahead of evaluation, within SPF_MAX_PREFETCH new
 * queries per check (answers that come out of order can make prefetch
 * walk far past where evaluation stops: tens of mx terms whose include
 * is still pending). Returns NULL, sending nothing, once over it.
 */
static struct dns_query *
pf_submit(struct ev *ev, const char *name, enum dns_type type)
{
	struct spf_check *c = ev->c;
	size_t n0 = dns_set_count(c->dns);
	struct dns_query *q;

	if (c->prefetched >= SPF_MAX_PREFETCH)
		return NULL;
	q = dns_submit(c->dns, name, type);
	if (dns_set_count(c->dns) > n0)
		c->prefetched++;
	return q;
}

/*
 * Submit the address lookups of the names in an MX answer (none if it
 * has more than SPF_MAX_MX: permerror) or a PTR answer (the first
 * SPF_MAX_PTR).
 */
static void
prefetch_names(struct ev *ev, const struct dns_answer *a, bool ptr)
{
	size_t n = a->n;

	if (a->status != DNS_DATA)
		return;
	if (ptr && n > SPF_MAX_PTR)
		n = SPF_MAX_PTR;
	if (!ptr && n > SPF_MAX_MX)
		return;
	for (size_t i = 0; i < n; i++)
		if (name_ok(a->rr[i].name))
			(void)pf_submit(ev, a->rr[i].name, addr_type(ev->c));
}

static void prefetch(struct ev *ev, const struct spf_record *r,
		     const char *domain, unsigned int *budget,
		     unsigned int depth);

/*
 * Submit the TXT query of an include or redirect target, and when its
 * answer is already in, the lookups of that record too.
 */
static void
prefetch_target(struct ev *ev, const char *name, unsigned int *budget,
		unsigned int depth)
{
	struct dns_query *q = pf_submit(ev, name, DNS_T_TXT);
	const struct dns_answer *a;
	const struct dns_rr *rec;
	struct spf_record *r = NULL;

	if (q == NULL)
		return;
	a = dns_answer(q);
	if (depth >= MAX_DEPTH || a->status != DNS_DATA ||
	    select_record(a, &rec) != 0)
		return;
	if (spf_record_parse(rec->txt, rec->txtlen, &r, NULL, 0) == 0)
		prefetch(ev, r, name, budget, depth + 1);
	spf_record_free(r);
}

/*
 * Submit the lookups a record will need, in order, within the lookup
 * budget, and walk into the answers already in (MX and PTR names,
 * include and redirect targets), so that a record's lookups, and those
 * of records whose TXT answer is in, go out together. Nothing here is
 * counted against the limits: evaluation counts, in order.
 */
static void
prefetch(struct ev *ev, const struct spf_record *r, const char *domain,
	 unsigned int *budget, unsigned int depth)
{
	struct spf_check *c = ev->c;
	struct dns_query *saved = ev->pending;
	char name[NAME_MAX_LEN + 1];
	char rev[80];
	bool ended = false;

	for (size_t i = 0; i<r->nmech && * budget> 0 && !ended; i++) {
		const struct spf_mech *m = &r->mech[i];
		struct dns_query *q;

		if (m->type == SPF_MECH_ALL) {
			ended = true;
			continue;
		}
		if (m->type == SPF_MECH_IP4 || m->type == SPF_MECH_IP6)
			continue;
		(*budget)--;
		bool usesp = m->domain != NULL &&
			     spf_macro_uses(m->domain, strlen(m->domain), 'p');
		if ((m->type == SPF_MECH_PTR || usesp) &&
		    dns_reverse_name(
			c->family,
			c->family == AF_INET ? (const void *)&c->v4
					     : (const void *)&c->v6,
			c->family == AF_INET ? "in-addr.arpa" : "ip6.arpa", rev,
			sizeof rev) == 0) {
			if ((q = pf_submit(ev, rev, DNS_T_PTR)) != NULL)
				prefetch_names(ev, dns_answer(q), true);
		}
		if (usesp || m->type == SPF_MECH_PTR)
			continue;
		if (target(ev, m->domain, domain, name, sizeof name) != 0 ||
		    !name_ok(name))
			continue;
		switch (m->type) {
		case SPF_MECH_INCLUDE:
			prefetch_target(ev, name, budget, depth);
			break;
		case SPF_MECH_A:
			(void)pf_submit(ev, name, addr_type(c));
			break;
		case SPF_MECH_EXISTS:
			(void)pf_submit(ev, name, DNS_T_A);
			break;
		case SPF_MECH_MX:
			if ((q = pf_submit(ev, name, DNS_T_MX)) != NULL)
				prefetch_names(ev, dns_answer(q), false);
			break;
		default:
			break;
		}
	}
	if (!ended && *budget > 0 && r->redirect != NULL &&
	    !spf_macro_uses(r->redirect, strlen(r->redirect), 'p') &&
	    target(ev, r->redirect, domain, name, sizeof name) == 0 &&
	    name_ok(name)) {
		(*budget)--;
		prefetch_target(ev, name, budget, depth);
	}
	ev->pending = saved;
}

/* The a mechanism, and the address part of mx. */
static int
match_addrs(struct ev *ev, const char *name, unsigned int c4, unsigned int c6,
	    bool count_voids)
{
	const struct dns_answer *a;

	if (!name_ok(name))
		return NOMATCH;
	if ((a = lookup(ev, name, addr_type(ev->c))) == NULL)
		return RES_PENDING;
	if (temp_status(a->status)) {
		setwhy3(ev, "DNS error looking up ", name, "");
		return RES_TEMPERROR;
	}
	if (void_status(a->status)) {
		if (count_voids && count_void(ev, name) != 0)
			return RES_PERMERROR;
		return NOMATCH;
	}
	if (a->status != DNS_DATA)
		return NOMATCH;
	if (answer_has_client(ev->c, a, c4, c6))
		return MATCH;
	if (a->truncated) {
		/*
		 * Over DNS_MAX_RR addresses: the client may be among the
		 * ones not kept, so "no match" would skip a -a term.
		 */
		setwhy3(ev, "more than 64 addresses for ", name, "");
		return RES_PERMERROR;
	}
	return NOMATCH;
}

static int
mech_mx(struct ev *ev, const struct spf_mech *m, const char *name)
{
	const struct dns_answer *a;
	size_t i;
	int rc;

	if (!name_ok(name))
		return NOMATCH;
	if ((a = lookup(ev, name, DNS_T_MX)) == NULL)
		return RES_PENDING;
	if (temp_status(a->status)) {
		setwhy3(ev, "DNS error looking up MX ", name, "");
		return RES_TEMPERROR;
	}
	if (void_status(a->status))
		return count_void(ev, name) != 0 ? RES_PERMERROR : NOMATCH;
	if (a->status != DNS_DATA)
		return NOMATCH;
	if (a->n > SPF_MAX_MX || a->truncated) {
		setwhy3(ev, "more than 10 MX names for ", name, "");
		return RES_PERMERROR;
	}
	for (i = 0; i < a->n; i++)
		if (name_ok(a->rr[i].name))
			(void)dns_submit(ev->c->dns, a->rr[i].name,
					 addr_type(ev->c));
	for (i = 0; i < a->n; i++) {
		rc = match_addrs(ev, a->rr[i].name, m->cidr4, m->cidr6, false);
		if (rc != NOMATCH)
			return rc;
	}
	return NOMATCH;
}

static int
mech_ptr(struct ev *ev, const char *tname)
{
	const char *names[SPF_MAX_PTR];
	size_t n;
	int rc;
	char rev[80];
	struct spf_check *c = ev->c;
	const struct dns_answer *pa;

	/* The PTR lookup itself may be void. */
	if (dns_reverse_name(c->family,
			     c->family == AF_INET ? (const void *)&c->v4
						  : (const void *)&c->v6,
			     c->family == AF_INET ? "in-addr.arpa" : "ip6.arpa",
			     rev, sizeof rev) != 0)
		return NOMATCH;
	if ((pa = lookup(ev, rev, DNS_T_PTR)) == NULL)
		return RES_PENDING;
	if (void_status(pa->status) && count_void(ev, rev) != 0)
		return RES_PERMERROR;
	rc = validated_names(ev, names, &n);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (ends_with_domain(names[i], tname))
			return MATCH;
	return NOMATCH;
}

static int
mech_exists(struct ev *ev, const char *name)
{
	const struct dns_answer *a;

	if (!name_ok(name))
		return NOMATCH;
	if ((a = lookup(ev, name, DNS_T_A)) == NULL)
		return RES_PENDING;
	if (temp_status(a->status)) {
		setwhy3(ev, "DNS error looking up ", name, "");
		return RES_TEMPERROR;
	}
	if (void_status(a->status))
		return count_void(ev, name) != 0 ? RES_PERMERROR : NOMATCH;
	return a->status == DNS_DATA ? MATCH : NOMATCH;
}

static int
mech_include(struct ev *ev, const char *name, unsigned int depth)
{
	int rc;

	if (!name_ok(name)) {
		setwhy3(ev, "include of a bad name ", name, "");
		return RES_PERMERROR;
	}
	rc = check_host(ev, name, depth + 1, false);
	switch (rc) {
	case RES_PASS:
		return MATCH;
	case RES_FAIL:
	case RES_SOFTFAIL:
	case RES_NEUTRAL:
		return NOMATCH;
	case RES_NONE:
		setwhy3(ev, "included domain ", name, " has no SPF record");
		return RES_PERMERROR;
	}
	return rc; /* temperror, permerror, pending, enomem */
}

/* Evaluate one mechanism: MATCH, NOMATCH, or a result. */
static int
eval_mech(struct ev *ev, const struct spf_mech *m, const char *domain,
	  unsigned int depth)
{
	struct spf_check *c = ev->c;
	char name[NAME_MAX_LEN + 1];
	int rc;

	switch (m->type) {
	case SPF_MECH_ALL:
		return MATCH;
	case SPF_MECH_IP4:
		return c->family == AF_INET && match4(&c->v4, &m->ip4, m->cidr4)
			   ? MATCH
			   : NOMATCH;
	case SPF_MECH_IP6:
		return c->family == AF_INET6 &&
			       match6(&c->v6, &m->ip6, m->cidr6)
			   ? MATCH
			   : NOMATCH;
	default:
		break;
	}
	if ((rc = count_lookup(ev, m->text)) != 0)
		return rc;
	if ((rc = target(ev, m->domain, domain, name, sizeof name)) != 0)
		return rc == TOOLONG ? too_long(ev, m->text) : rc;
	/*
	 * A target that is no host name (an empty label, one over 63
	 * octets, empty after the cut to 253 octets): RFC 7208 4.8 allows
	 * "non-existent" (no match) or permerror; no match would skip a
	 * -exists or -a term whose name a long local part breaks, so it is
	 * permerror (fail closed; docs/SECURITY.md).
	 */
	if (!name_ok(name)) {
		setwhy3(ev, "bad target name at ", m->text, "");
		return RES_PERMERROR;
	}
	switch (m->type) {
	case SPF_MECH_INCLUDE:
		return mech_include(ev, name, depth);
	case SPF_MECH_A:
		return match_addrs(ev, name, m->cidr4, m->cidr6, true);
	case SPF_MECH_MX:
		return mech_mx(ev, m, name);
	case SPF_MECH_PTR:
		return mech_ptr(ev, name);
	case SPF_MECH_EXISTS:
		return mech_exists(ev, name);
	default:
		break;
	}
	return NOMATCH;
}

/*
 * The one SPF record of a TXT answer: 0 with *rec set, RES_NONE if there
 * is none, RES_PERMERROR if there are several or the answer was cut.
 */
static int
select_record(const struct dns_answer *a, const struct dns_rr **rec)
{
	size_t nspf = 0;

	*rec = NULL;
	for (size_t i = 0; i < a->n; i++) {
		if (spf_record_is_spf(a->rr[i].txt, a->rr[i].txtlen)) {
			nspf++;
			*rec = &a->rr[i];
		}
	}
	if (nspf == 0)
		return RES_NONE;
	if (nspf > 1 || a->truncated)
		return RES_PERMERROR;
	return 0;
}

/* Fetch and parse the SPF record of domain. */
static int
fetch_record(struct ev *ev, const char *domain, struct spf_record **out)
{
	const struct dns_answer *a;
	const struct dns_rr *rec = NULL;
	char why[120];
	int rc;

	*out = NULL;
	if ((a = lookup(ev, domain, DNS_T_TXT)) == NULL)
		return RES_PENDING;
	if (temp_status(a->status)) {
		setwhy3(ev, "DNS error looking up TXT ", domain, "");
		return RES_TEMPERROR;
	}
	if (a->status != DNS_DATA) {
		setwhy3(ev, "no SPF record at ", domain, "");
		return RES_NONE;
	}
	rc = select_record(a, &rec);
	if (rc == RES_NONE) {
		setwhy3(ev, "no SPF record at ", domain, "");
		return RES_NONE;
	}
	if (rc != 0) {
		setwhy3(ev,
			a->truncated ? "TXT answer over the cap at "
				     : "several SPF records at ",
			domain, "");
		return RES_PERMERROR;
	}
	rc = spf_record_parse(rec->txt, rec->txtlen, out, why, sizeof why);
	if (rc == AM_ENOMEM)
		return RES_ENOMEM;
	if (rc != 0) {
		char msg[200];
		snprintf(msg, sizeof msg, "%s in the record of ", why);
		setwhy3(ev, "syntax error: ", msg, "");
		snprintf(ev->why + strlen(ev->why),
			 sizeof ev->why - strlen(ev->why), "%s", domain);
		return RES_PERMERROR;
	}
	return 0;
}

static int
qual_result(enum spf_qualifier q)
{
	switch (q) {
	case SPF_QUAL_PASS:
		return RES_PASS;
	case SPF_QUAL_FAIL:
		return RES_FAIL;
	case SPF_QUAL_SOFTFAIL:
		return RES_SOFTFAIL;
	case SPF_QUAL_NEUTRAL:
		return RES_NEUTRAL;
	}
	return RES_NEUTRAL;
}

/*
 * check_host() of RFC 7208 s. 4. top: this record's result is the
 * check's (not inside an include), so its exp= counts.
 */
static int
check_host(struct ev *ev, const char *domain, unsigned int depth, bool top)
{
	struct spf_record *r = NULL;
	char name[NAME_MAX_LEN + 1];
	int rc;

	if (depth > MAX_DEPTH) {
		setwhy3(ev, "nesting too deep at ", domain, "");
		return RES_PERMERROR;
	}
	if (!domain_ok(domain)) {
		setwhy3(ev, "malformed domain ", domain, "");
		return RES_NONE;
	}
	rc = fetch_record(ev, domain, &r);
	if (rc != 0)
		goto out;
	unsigned int budget =
	    ev->lookups < SPF_MAX_LOOKUPS ? SPF_MAX_LOOKUPS - ev->lookups : 0;
	prefetch(ev, r, domain, &budget, depth);
	for (size_t i = 0; i < r->nmech; i++) {
		const struct spf_mech *m = &r->mech[i];
		rc = eval_mech(ev, m, domain, depth);
		if (rc == NOMATCH)
			continue;
		if (rc == MATCH) {
			rc = qual_result(m->qual);
			if (depth == 0 || top)
				snprintf(ev->mech, sizeof ev->mech, "%s",
					 m->text);
			if (top) {
				free(ev->exp_spec);
				ev->exp_spec = NULL;
				if (r->exp != NULL &&
				    (ev->exp_spec = strdup(r->exp)) == NULL) {
					rc = RES_ENOMEM;
					goto out;
				}
				snprintf(ev->exp_domain, sizeof ev->exp_domain,
					 "%s", domain);
				ev->why[0] = '\0';
				setwhy3(ev, "matched ", m->text, "");
			}
		}
		goto out;
	}
	if (r->redirect != NULL) {
		if ((rc = count_lookup(ev, "redirect")) != 0)
			goto out;
		rc = target(ev, r->redirect, domain, name, sizeof name);
		if (rc == TOOLONG)
			rc = too_long(ev, "redirect");
		if (rc != 0)
			goto out;
		if (!name_ok(name)) {
			setwhy3(ev, "redirect to a bad name ", name, "");
			rc = RES_PERMERROR;
			goto out;
		}
		rc = check_host(ev, name, depth + 1, top);
		if (rc == RES_NONE) {
			setwhy3(ev, "redirect target ", name,
				" has no SPF record");
			rc = RES_PERMERROR;
		}
		goto out;
	}
	if (top) {
		snprintf(ev->mech, sizeof ev->mech, "default");
		ev->why[0] = '\0';
		setwhy3(ev, "no mechanism matched at ", domain, "");
	}
	rc = RES_NEUTRAL;
out:
	spf_record_free(r);
	return rc;
}

/* The explanation of a top-level fail (RFC 7208 s. 6.2). */
static int
explain(struct ev *ev, struct spf_outcome *o)
{
	char name[NAME_MAX_LEN + 1];
	char text[SPF_MACRO_MAX + 1];
	const struct dns_answer *a;
	int rc;

	o->exp_default = true;
	snprintf(o->exp, sizeof o->exp, "%s is not a permitted sender for %s",
		 ev->c->client, o->domain);
	if (ev->exp_spec == NULL)
		return 0;
	rc = target(ev, ev->exp_spec, ev->exp_domain, name, sizeof name);
	if (rc == RES_PENDING)
		return rc;
	if (rc != 0 || !name_ok(name))
		return 0;
	if ((a = lookup(ev, name, DNS_T_TXT)) == NULL)
		return RES_PENDING;
	if (a->status != DNS_DATA || a->n != 1 ||
	    memchr(a->rr[0].txt, '\0', a->rr[0].txtlen) != NULL)
		return 0;
	rc = expand(ev, a->rr[0].txt, ev->exp_domain, SPF_MACRO_EXP, text,
		    sizeof text);
	if (rc == RES_PENDING)
		return rc;
	if (rc != 0)
		return 0;
	cpy(o->exp, sizeof o->exp, text);
	o->exp_default = false;
	return 0;
}

static enum am_result
to_am(int r)
{
	switch (r) {
	case RES_NONE:
		return AM_R_NONE;
	case RES_NEUTRAL:
		return AM_R_NEUTRAL;
	case RES_PASS:
		return AM_R_PASS;
	case RES_FAIL:
		return AM_R_FAIL;
	case RES_SOFTFAIL:
		return AM_R_SOFTFAIL;
	case RES_TEMPERROR:
		return AM_R_TEMPERROR;
	}
	return AM_R_PERMERROR;
}

int
spf_eval(struct spf_check *c, struct dns_query **wait)
{
	struct ev ev;
	struct spf_outcome *o = &c->out;
	int rc, ret = SPF_DONE;

	if (wait != NULL)
		*wait = NULL;
	if (c->done)
		return SPF_DONE;
	if (!c->valid) {
		o->result = AM_R_NONE;
		snprintf(o->why, sizeof o->why, "no valid domain to check");
		c->done = true;
		return SPF_DONE;
	}
	memset(&ev, 0, sizeof ev);
	ev.c = c;
	rc = check_host(&ev, o->domain, 0, true);
	if (rc == RES_FAIL) {
		int e = explain(&ev, o);
		if (e == RES_PENDING)
			rc = RES_PENDING;
	}
	if (rc == RES_ENOMEM) {
		ret = AM_ENOMEM;
		goto out;
	}
	if (rc == RES_PENDING) {
		if (wait != NULL)
			*wait = ev.pending;
		ret = SPF_PENDING;
		goto out;
	}
	o->result = to_am(rc);
	o->lookups = ev.lookups;
	o->voids = ev.voids;
	snprintf(o->mechanism, sizeof o->mechanism, "%s", ev.mech);
	if (ev.why[0] == '\0')
		snprintf(ev.why, sizeof ev.why, "%s", am_result_str(o->result));
	snprintf(o->why, sizeof o->why, "%s", ev.why);
	if (rc != RES_FAIL)
		o->exp[0] = '\0';
	c->done = true;
out:
	free(ev.exp_spec);
	return ret;
}

int
spf_run(struct spf_check *c, const struct timespec *deadline)
{
	struct dns_query *q;
	int rc;

	/*
	 * Each round either finishes or turns at least one pending query
	 * into a final answer (dns_wait times it out at the deadline), so
	 * the loop ends.
	 */
	for (;;) {
		rc = spf_eval(c, &q);
		if (rc != SPF_PENDING)
			return rc < 0 ? rc : 0;
		if (q == NULL)
			return AM_ESTATE;
		(void)dns_wait(c->dns, q, deadline);
	}
}

const struct spf_outcome *
spf_outcome(const struct spf_check *c)
{
	return &c->out;
}

static char *
dupstr(const char *s)
{
	return strdup(s != NULL ? s : "");
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

struct spf_check *
spf_check_new(struct dns_set *dns, const struct spf_request *rq)
{
	struct spf_check *c;
	const char *sender = rq->sender != NULL ? rq->sender : "";
	const char *at;
	char dom[SPF_MAX_IDENTITY + 1];
	char local[SPF_MAX_IDENTITY + 1];

	if (rq->family != AF_INET && rq->family != AF_INET6)
		return NULL;
	if ((c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	c->dns = dns;
	c->family = rq->family;
	if (rq->family == AF_INET) {
		c->v4 = rq->addr.v4;
	} else if (IN6_IS_ADDR_V4MAPPED(&rq->addr.v6)) {
		c->family = AF_INET; /* RFC 7208 s. 5: treat as IPv4 */
		memcpy(&c->v4.s_addr, &rq->addr.v6.s6_addr[12], 4);
	} else {
		c->v6 = rq->addr.v6;
	}
	if (c->family == AF_INET) {
		const unsigned char *b = (const unsigned char *)&c->v4.s_addr;
		snprintf(c->ip, sizeof c->ip, "%u.%u.%u.%u", b[0], b[1], b[2],
			 b[3]);
		inet_ntop(AF_INET, &c->v4, c->client, sizeof c->client);
	} else {
		static const char hex[] = "0123456789abcdef";
		size_t k = 0;
		for (int i = 0; i < 16; i++) {
			c->ip[k++] = hex[c->v6.s6_addr[i] >> 4];
			c->ip[k++] = '.';
			c->ip[k++] = hex[c->v6.s6_addr[i] & 15];
			c->ip[k++] = i < 15 ? '.' : '\0';
		}
		inet_ntop(AF_INET6, &c->v6, c->client, sizeof c->client);
	}
	snprintf(c->timestamp, sizeof c->timestamp, "%lld",
		 (long long)(rq->now != 0 ? rq->now : time(NULL)));

	/* The identity: MAIL FROM, or postmaster@HELO (RFC 7208 s. 2.4). */
	if (sender[0] == '\0') {
		c->out.helo_identity = true;
		snprintf(local, sizeof local, "postmaster");
		snprintf(dom, sizeof dom, "%s",
			 rq->helo != NULL ? rq->helo : "");
	} else if ((at = strrchr(sender, '@')) != NULL) {
		size_t ll = (size_t)(at - sender);
		if (ll >= sizeof local)
			ll = sizeof local - 1;
		memcpy(local, sender, ll);
		local[ll] = '\0';
		if (ll == 0)
			snprintf(local, sizeof local, "postmaster");
		snprintf(dom, sizeof dom, "%s", at + 1);
	} else {
		snprintf(local, sizeof local, "postmaster");
		snprintf(dom, sizeof dom, "%s", sender);
	}
	/* one trailing dot is allowed on a domain name */
	size_t dl = strlen(dom);
	if (dl > 0 && dom[dl - 1] == '.')
		dom[dl - 1] = '\0';
	c->local = dupstr(local);
	c->odomain = dupstr(dom);
	c->helo = dupstr(rq->helo != NULL && rq->helo[0] != '\0' ? rq->helo
								 : "unknown");
	c->receiver = dupstr(rq->receiver != NULL && rq->receiver[0] != '\0'
				 ? rq->receiver
				 : "unknown");
	snprintf(c->out.sender, sizeof c->out.sender, "%s@%s", local, dom);
	c->sender = dupstr(c->out.sender);
	if (c->local == NULL || c->odomain == NULL || c->helo == NULL ||
	    c->receiver == NULL || c->sender == NULL) {
		spf_check_free(c);
		return NULL;
	}
	snprintf(c->out.domain, sizeof c->out.domain, "%s", dom);
	lower(c->out.domain);
	c->valid = strlen(dom) < sizeof c->out.domain && domain_ok(dom);
	c->out.result = AM_R_NONE;
	return c;
}

void
spf_check_free(struct spf_check *c)
{
	if (c == NULL)
		return;
	free(c->sender);
	free(c->local);
	free(c->odomain);
	free(c->helo);
	free(c->receiver);
	free(c);
}
