/*
 * fuzz_world - a small DNS world read from a fuzz input, for targets
 * that run a check on a local query set (dns_set_new_local, dns.h)
 *
 * The input is text lines (LF-separated, any octet but LF inside):
 *
 *   <name> TXT <text>          one TXT record (the rest of the line,
 *                              NULs included; strings already joined)
 *   <name> TXT+ <text>         the record above goes on after a LF
 *   <name> A <dotted quad>     <name> AAAA <IPv6>
 *   <name> MX [<pref>] <host>  <name> PTR <host>
 *   <name> NXDOMAIN            the name does not exist (every type)
 *   <name> SERVFAIL|TIMEOUT|BOGUS|NODATA [<type>]
 *                              that status for the type (all if none)
 *   <name> DELAY <n>           staged runs: its answers come n rounds
 *                              (at most FW_MAX_DELAY) after the first ask
 *   <key> <value>              any other line: a keyword of the target
 *                              (fuzz_world_key finds it), e.g. "ip ..."
 *
 * Owner names may hold \DDD escapes (a space is \032); they are
 * matched without case and without a trailing dot; an
 * owner "*.suffix" answers any name below suffix that has no line of its
 * own. A (name, type) with records is DNS_DATA (at most DNS_MAX_RR
 * kept, a TXT record cut at DNS_MAX_TXT octets; either sets truncated,
 * as dns.c does); a name with lines of other types only is DNS_NODATA;
 * an unknown name DNS_NXDOMAIN. MX and PTR hosts are lower-cased, lose
 * one trailing dot and have octets outside 0x21-0x7e escaped as \DDD,
 * as dns.c presents them. TIMEOUT leaves the query pending for ever (the
 * check's dns_wait() then times it out).
 *
 * Delivery: with world.delay_seed set, each query's answer arrives
 * (fuzz_world_answer says DNS_PENDING until then) 0-3 rounds after the
 * round it was first asked in, a function of its name, type and the
 * seed, or as its DELAY line says; the target moves world.round on.
 * With delay_seed 0 every answer is there at once.
 *
 * Ownership: fuzz_world_parse() copies the input; fuzz_world_free()
 *   forgets the queries asked (for another run on the same world),
 *   fuzz_world_close() frees everything.
 * Threads: one world, one thread.
 * Errors: none; lines it cannot read are ignored, abort() on ENOMEM.
 */
#ifndef AM_FUZZ_WORLD_H
#define AM_FUZZ_WORLD_H

#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "dns.h"
#include "dns_packet.h"

#define FW_MAX_LINES 512   /* lines read from one input */
#define FW_MAX_ASKED 4096  /* distinct queries remembered */
#define FW_MAX_DELAY 9     /* rounds a DELAY line may ask for */

enum fw_kind {
	FW_TXT, FW_A, FW_AAAA, FW_MX, FW_PTR,
	FW_NXDOMAIN, FW_SERVFAIL, FW_TIMEOUT, FW_BOGUS, FW_NODATA,
	FW_DELAY, FW_KEY,
};

struct fw_line {
	const char *owner; /* into the input copy */
	size_t olen;
	char *oname;	   /* owned: owner as a query name (fw_owner) */
	size_t onl;	   /* its length */
	enum fw_kind kind;
	int qtype;	   /* status lines: the type, or 0 for all */
	const char *data;  /* the rest of the line */
	size_t dlen;
};

struct fw_asked {
	char *name;	   /* owned */
	enum dns_type type;
	unsigned int first; /* round of the first ask */
	bool answered;
};

struct fuzz_world {
	char *buf;	       /* owned: the input's copy */
	struct fw_line line[FW_MAX_LINES];
	size_t nline;
	uint32_t delay_seed;   /* 0: every answer at once */
	unsigned int round;    /* moved on by the target */
	struct fw_asked asked[FW_MAX_ASKED];
	size_t nasked;	       /* distinct (name, type) asked */
	size_t nanswered;      /* of them answered (not pending) */
	size_t asks;	       /* calls of the answer function */
	size_t maxname;	       /* longest name asked */
};

static inline bool
fw_tok(const char **p, const char *end, const char **tok, size_t *len)
{
	while (*p < end && **p == ' ')
		(*p)++;
	*tok = *p;
	while (*p < end && **p != ' ')
		(*p)++;
	*len = (size_t)(*p - *tok);
	return *len > 0;
}

static inline int
fw_type(const char *s, size_t n)
{
	static const struct {
		const char *s;
		int t;
	} m[] = {{"A", DNS_T_A}, {"AAAA", DNS_T_AAAA}, {"MX", DNS_T_MX},
		 {"TXT", DNS_T_TXT}, {"PTR", DNS_T_PTR}};

	for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
		if (strlen(m[i].s) == n && strncasecmp(s, m[i].s, n) == 0)
			return m[i].t;
	return -1;
}

static inline size_t fw_owner(const char *o, size_t olen, char *out,
			      size_t outlen);

/* The owner of l as a query name, once (the lookups compare it). */
static inline void
fw_decode(struct fw_line *l)
{
	char o[1024];

	l->onl = fw_owner(l->owner, l->olen, o, sizeof o);
	if ((l->oname = malloc(l->onl + 1)) == NULL)
		abort();
	memcpy(l->oname, o, l->onl + 1);
}

static inline void
fuzz_world_parse(struct fuzz_world *w, const char *in, size_t len)
{
	static const struct {
		const char *s;
		enum fw_kind k;
	} kinds[] = {{"TXT", FW_TXT}, {"A", FW_A}, {"AAAA", FW_AAAA},
		     {"MX", FW_MX}, {"PTR", FW_PTR}, {"NXDOMAIN", FW_NXDOMAIN},
		     {"SERVFAIL", FW_SERVFAIL}, {"TIMEOUT", FW_TIMEOUT},
		     {"BOGUS", FW_BOGUS}, {"NODATA", FW_NODATA},
		     {"TXT+", FW_TXT}, {"DELAY", FW_DELAY}};
	char *buf;
	const char *p, *end;

	memset(w, 0, sizeof *w);
	if ((buf = malloc(len + 1)) == NULL)
		abort();
	memcpy(buf, in, len);
	w->buf = buf;
	p = buf;
	end = buf + len;
	while (p < end && w->nline < FW_MAX_LINES) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol != NULL ? eol : end;
		struct fw_line *l = &w->line[w->nline];
		const char *k, *q = p;
		size_t kl;

		p = eol != NULL ? eol + 1 : end;
		if (!fw_tok(&q, le, &l->owner, &l->olen))
			continue;
		if (!fw_tok(&q, le, &k, &kl))
			kl = 0;
		l->kind = FW_KEY;
		for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
			if (strlen(kinds[i].s) == kl &&
			    strncmp(k, kinds[i].s, kl) == 0)
				l->kind = kinds[i].k;
		if (l->kind == FW_KEY) {
			/* "key value": the value is the rest after one space */
			l->data = l->owner + l->olen;
			if (l->data < le && *l->data == ' ')
				l->data++;
			l->dlen = (size_t)(le - l->data);
			w->nline++;
			continue;
		}
		if (q < le && *q == ' ')
			q++;
		l->data = q;
		l->dlen = (size_t)(le - q);
		if (kl == 4 && memcmp(k, "TXT+", 4) == 0 && w->nline > 0 &&
		    l[-1].kind == FW_TXT &&
		    l[-1].data + l[-1].dlen < q) {
			/*
			 * "TXT+": the previous TXT record goes on after a LF
			 * (records may hold one); move the text next to it.
			 */
			char *to = (char *)l[-1].data + l[-1].dlen;

			*to++ = '\n';
			memmove(to, q, l->dlen);
			l[-1].dlen += 1 + l->dlen;
			continue;
		}
		if (l->kind >= FW_SERVFAIL && l->kind <= FW_NODATA) {
			const char *t;
			size_t tl;

			l->qtype = fw_tok(&q, le, &t, &tl) ? fw_type(t, tl) : 0;
			if (l->qtype < 0)
				continue;
		}
		fw_decode(l);
		w->nline++;
	}
}

/* The value of keyword key (the last line wins), or NULL. */
static inline const char *
fuzz_world_key(const struct fuzz_world *w, const char *key, size_t *len)
{
	const char *v = NULL;

	for (size_t i = 0; i < w->nline; i++) {
		const struct fw_line *l = &w->line[i];

		if (l->kind == FW_KEY && l->olen == strlen(key) &&
		    memcmp(l->owner, key, l->olen) == 0) {
			v = l->data;
			*len = l->dlen;
		}
	}
	return v;
}

/* An owner name as a query name: \DDD decoded, lower case, no final dot. */
static inline size_t
fw_owner(const char *o, size_t olen, char *out, size_t outlen)
{
	size_t k = 0;

	for (size_t i = 0; i < olen && k + 1 < outlen; i++) {
		unsigned char c = (unsigned char)o[i];

		if (c == '\\' && i + 3 < olen &&
		    isdigit((unsigned char)o[i + 1]) &&
		    isdigit((unsigned char)o[i + 2]) &&
		    isdigit((unsigned char)o[i + 3])) {
			c = (unsigned char)((o[i + 1] - '0') * 100 +
					    (o[i + 2] - '0') * 10 +
					    (o[i + 3] - '0'));
			i += 3;
		}
		out[k++] = (char)tolower(c);
	}
	if (k > 0 && out[k - 1] == '.')
		k--;
	out[k] = '\0';
	return k;
}

/* Does line l's owner name name (nl octets) exactly? */
static inline bool
fw_owner_is(const struct fw_line *l, const char *name, size_t nl)
{
	return l->onl == nl && memcmp(l->oname, name, nl) == 0;
}

/* Is l's owner "*.suffix" and name below suffix? */
static inline bool
fw_wild_matches(const struct fw_line *l, const char *name, size_t nl)
{
	size_t sl;

	if (l->onl < 3 || l->oname[0] != '*' || l->oname[1] != '.')
		return false;
	sl = l->onl - 2;
	return nl > sl + 1 && name[nl - sl - 1] == '.' &&
	       memcmp(name + nl - sl, l->oname + 2, sl) == 0;
}

static inline char *
fw_host(const char *s, size_t n)
{
	char *out = malloc(4 * n + 1);
	size_t k = 0;

	if (out == NULL)
		abort();
	if (n > 0 && s[n - 1] == '.')
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)tolower((unsigned char)s[i]);

		if (c < 0x21 || c > 0x7e)
			k += (size_t)sprintf(out + k, "\\%03u", c);
		else
			out[k++] = (char)c;
	}
	out[k] = '\0';
	return out;
}

static inline void
fw_add(struct dns_answer *a, const struct fw_line *l, enum dns_type type)
{
	struct dns_rr rr;
	char tmp[64];
	const char *d = l->data;
	size_t dl = l->dlen;

	memset(&rr, 0, sizeof rr);
	switch (type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		if (dl >= sizeof tmp)
			return;
		memcpy(tmp, d, dl);
		tmp[dl] = '\0';
		if (inet_pton(type == DNS_T_A ? AF_INET : AF_INET6, tmp,
			      type == DNS_T_A ? (void *)&rr.a
					      : (void *)&rr.aaaa) != 1)
			return;
		break;
	case DNS_T_MX: {
		const char *p = d, *t;
		size_t tl;

		if (!fw_tok(&p, d + dl, &t, &tl))
			return;
		if (isdigit((unsigned char)t[0])) {
			rr.pref = (uint16_t)strtoul(t, NULL, 10);
			if (!fw_tok(&p, d + dl, &t, &tl))
				return;
		}
		rr.name = fw_host(t, tl);
		break;
	}
	case DNS_T_PTR:
		rr.name = fw_host(d, dl);
		break;
	case DNS_T_TXT:
		if (dl > DNS_MAX_TXT) {
			dl = DNS_MAX_TXT;
			a->truncated = true;
		}
		if ((rr.txt = malloc(dl + 1)) == NULL)
			abort();
		memcpy(rr.txt, d, dl);
		rr.txt[dl] = '\0';
		rr.txtlen = dl;
		break;
	}
	if (a->n >= DNS_MAX_RR) {
		a->truncated = true;
		free(rr.name);
		free(rr.txt);
		return;
	}
	a->rr = realloc(a->rr, (a->n + 1) * sizeof *a->rr);
	if (a->rr == NULL)
		abort();
	a->rr[a->n++] = rr;
}

static inline uint32_t
fw_hash(const char *s, uint32_t h)
{
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Rounds from the first ask to the answer: a DELAY line, or the hash. */
static inline unsigned int
fw_delay(const struct fuzz_world *w, const char *name, enum dns_type type)
{
	for (size_t i = 0; i < w->nline; i++) {
		const struct fw_line *l = &w->line[i];

		if (l->kind == FW_DELAY && (fw_owner_is(l, name, strlen(name)) ||
					    fw_wild_matches(l, name,
							    strlen(name))))
			return (unsigned int)strtoul(l->data, NULL, 10) %
			       (FW_MAX_DELAY + 1);
	}
	return fw_hash(name, w->delay_seed ^ type) % 4;
}

/* The answer function (dns_local_fn) over a struct fuzz_world. */
static inline void
fuzz_world_answer(void *arg, const char *name, enum dns_type type,
		  struct dns_answer *a)
{
	static const enum fw_kind rrkind[] = {
	    [DNS_T_A] = FW_A,	  [DNS_T_PTR] = FW_PTR, [DNS_T_MX] = FW_MX,
	    [DNS_T_TXT] = FW_TXT, [DNS_T_AAAA] = FW_AAAA,
	};
	struct fuzz_world *w = arg;
	struct fw_asked *q = NULL;
	bool exact = false, exists = false;
	enum dns_status st = DNS_PENDING;
	size_t nl = strlen(name);

	w->asks++;
	if (strlen(name) > w->maxname)
		w->maxname = strlen(name);
	for (size_t i = 0; i < w->nasked; i++)
		if (w->asked[i].type == type &&
		    strcmp(w->asked[i].name, name) == 0)
			q = &w->asked[i];
	if (q == NULL && w->nasked < FW_MAX_ASKED) {
		q = &w->asked[w->nasked++];
		if ((q->name = strdup(name)) == NULL)
			abort();
		q->type = type;
		q->first = w->round;
	}
	if (q != NULL && w->delay_seed != 0 &&
	    w->round < q->first + fw_delay(w, name, type))
		return; /* not yet */

	for (size_t i = 0; i < w->nline && !exact; i++)
		if (w->line[i].kind != FW_KEY && w->line[i].kind != FW_DELAY &&
		    fw_owner_is(&w->line[i], name, nl))
			exact = true;
	for (size_t i = 0; i < w->nline; i++) {
		const struct fw_line *l = &w->line[i];

		if (l->kind == FW_KEY || l->kind == FW_DELAY)
			continue;
		if (exact ? !fw_owner_is(l, name, nl)
			  : !fw_wild_matches(l, name, nl))
			continue;
		exists = true;
		if (l->kind == FW_NXDOMAIN) {
			st = DNS_NXDOMAIN;
			break;
		}
		if (l->kind >= FW_SERVFAIL && l->kind <= FW_NODATA) {
			if (l->qtype != 0 && l->qtype != (int)type)
				continue;
			st = l->kind == FW_SERVFAIL ? DNS_SERVFAIL
			     : l->kind == FW_TIMEOUT ? DNS_TIMEOUT
			     : l->kind == FW_BOGUS   ? DNS_BOGUS
						     : DNS_NODATA;
			break;
		}
		if (l->kind == rrkind[type])
			fw_add(a, l, type);
	}
	if (st == DNS_TIMEOUT) {
		/* never answered: free what was added, stay pending */
		dns_packet_clear(a);
		a->truncated = false;
		return;
	}
	if (st != DNS_PENDING) {
		dns_packet_clear(a);
		a->truncated = false;
		a->status = st;
	} else if (a->n > 0) {
		a->status = DNS_DATA;
	} else {
		a->status = exists ? DNS_NODATA : DNS_NXDOMAIN;
	}
	a->rcode = a->status == DNS_NXDOMAIN ? 3
		   : a->status == DNS_SERVFAIL ? 2
					      : 0;
	if (q != NULL && !q->answered) {
		q->answered = true;
		w->nanswered++;
	}
}

static inline void
fuzz_world_free(struct fuzz_world *w)
{
	for (size_t i = 0; i < w->nasked; i++)
		free(w->asked[i].name);
	w->nasked = 0;
}

/* fuzz_world_close - free the world's copy of the input too. */
static inline void
fuzz_world_close(struct fuzz_world *w)
{
	fuzz_world_free(w);
	for (size_t i = 0; i < w->nline; i++)
		free(w->line[i].oname);
	w->nline = 0;
	free(w->buf);
	w->buf = NULL;
}

#endif
