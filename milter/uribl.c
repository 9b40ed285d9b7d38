/* SPDX-License-Identifier: BSD-2-Clause */
/* uribl - the registrable domains of a message's links in URI DNSBLs */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amerr.h"
#include "blentry.h"
#include "dns.h"
#include "links.h"
#include "log.h"
#include "metrics.h"
#include "orgdom.h"
#include "uribl.h"

#define UB_NAME_MAX 512 /* a domain (253) + a zone (200) + room */

/* One domain submitted to every zone. */
struct ub_entry {
	char name[LINKS_NAME_MAX]; /* registrable domain or reversed IPv4 */
	struct dns_query **q; /* one per zone, NULL if the name is too long:
			       * the array is owned, the queries are the
			       * set's */
};

/* What one zone made of the message. */
struct ub_zone {
	bool hit;		     /* some domain listed */
	bool failed;		     /* some lookup failed */
	char domain[LINKS_NAME_MAX]; /* the first listed domain */
	enum dns_status fstatus;     /* the first failure */
};

struct ub_state {
	const struct blentry_list *list; /* borrowed: the conf snapshot */
	struct links *lx;		 /* owned */
	struct ub_entry *ent;		 /* submitted domains: owned */
	size_t nent, cap;		 /* used, allocated */
	size_t npre;			 /* prefetch hints taken */
	struct ub_zone *zone;		 /* list->n, at finish: owned */
	bool parsed;			 /* links_end() ran, lookups sent */
	bool done;			 /* finished: out is final */
	struct check_outcome out;	 /* the cached outcome */
	int score;			 /* sum of the weights of hit zones */
	unsigned long lookups;		 /* domain x zone queries scored */
	unsigned long listings;		 /* of them, listed */
	char zones[URIBL_MAX_TEXT];	 /* listing zones, "a,b" */
	char detail[URIBL_MAX_TEXT];	 /* per domain answers, for the log */
};

bool
uribl_error_answer(const unsigned char *o)
{
	if (o[0] != 127)
		return false;
	if (o[1] == 255 && o[2] == 255)
		return true; /* 127.255.255.0/24: every list */
	if (o[1] == 0 && o[2] == 1 && o[3] == 255)
		return true; /* Spamhaus DBL: IP queries not allowed */
	return o[1] == 0 && o[2] == 0 && o[3] == 1; /* SURBL, URIBL: refused */
}

static void
ub_free(struct ub_state *st)
{
	if (st == NULL)
		return;
	links_free(st->lx);
	for (size_t i = 0; i < st->nent; i++)
		free(st->ent[i].q);
	free(st->ent);
	free(st->zone);
	free(st);
}

static struct ub_entry *
ub_find(struct ub_state *st, const char *name)
{
	for (size_t i = 0; i < st->nent; i++)
		if (strcmp(st->ent[i].name, name) == 0)
			return &st->ent[i];
	return NULL;
}

/* Submit name to every zone (once). NULL on ENOMEM. */
static struct ub_entry *
ub_submit(struct conn *c, struct ub_state *st, const char *name)
{
	struct ub_entry *e = ub_find(st, name);
	char q[UB_NAME_MAX], pub[UB_NAME_MAX];

	if (e != NULL)
		return e;
	if (st->nent == st->cap) {
		size_t ncap = st->cap ? st->cap * 2 : 16;
		struct ub_entry *v = realloc(st->ent, ncap * sizeof *v);

		if (v == NULL)
			return NULL;
		st->ent = v;
		st->cap = ncap;
	}
	e = &st->ent[st->nent];
	memset(e, 0, sizeof *e);
	snprintf(e->name, sizeof e->name, "%s", name);
	e->q = calloc(st->list->n, sizeof *e->q);
	if (e->q == NULL)
		return NULL;
	st->nent++;
	for (size_t i = 0; i < st->list->n; i++) {
		const struct blentry *z = &st->list->v[i];
		const char *shown = blentry_name(z);
		int r = snprintf(q, sizeof q, "%s.%s", name, z->zone);

		if (r < 0 || (size_t)r >= sizeof q)
			continue;
		if (shown != z->zone) {
			snprintf(pub, sizeof pub, "%s.%s", name, shown);
			e->q[i] = dns_submit_shown(c->dns, q, DNS_T_A, pub);
		} else {
			e->q[i] = dns_submit(c->dns, q, DNS_T_A);
		}
	}
	return e;
}

/* Submit the prefetch hints found since the last call. */
static int
ub_prefetch(struct conn *c, struct ub_state *st)
{
	size_t n = links_prefetch_count(st->lx);

	for (; st->npre < n; st->npre++) {
		const struct links_domain *d =
		    links_prefetch_get(st->lx, st->npre);

		if (ub_submit(c, st, d->name) == NULL)
			return AM_ENOMEM;
	}
	return 0;
}

static int
uribl_mail(struct conn *c, struct msg *m, struct check_slot *cs,
	   struct check_slot *ms)
{
	const struct conf *cf = c->conf;
	struct links_limits lim;
	struct ub_state *st;

	(void)m;
	(void)cs;
	ub_free(ms->state);
	ms->state = NULL;
	if (c->skip || cf->uribl.n == 0)
		return 0;
	st = calloc(1, sizeof *st);
	if (st == NULL)
		return AM_ENOMEM;
	st->list = &cf->uribl;
	lim.max_bytes = cf->uribl_max_bytes;
	lim.max_domains = cf->uribl_max_domains;
	st->lx =
	    links_new(&lim, orgdom_psl_ctx(cf->public_suffix_list),
		      (const char *const *)cf->uribl_skip.v, cf->uribl_skip.n);
	if (st->lx == NULL) {
		free(st);
		return AM_ENOMEM;
	}
	ms->state = st;
	return 0;
}

static int
uribl_header(struct conn *c, struct msg *m, struct check_slot *ms,
	     const char *name, const char *value)
{
	struct ub_state *st = ms->state;

	(void)m;
	if (st == NULL)
		return 0;
	return links_header(st->lx, name, value, c->hdr_trimmed);
}

static int
uribl_body(struct conn *c, struct msg *m, struct check_slot *ms,
	   const unsigned char *chunk, size_t len)
{
	struct ub_state *st = ms->state;
	int rc;

	(void)m;
	if (st == NULL)
		return 0;
	rc = links_body(st->lx, chunk, len);
	if (rc == 0)
		rc = ub_prefetch(c, st);
	return rc;
}

static void
ub_append(char *buf, size_t size, const char *sep, const char *text)
{
	size_t len = strlen(buf);
	int r;

	if (len + 1 >= size)
		return;
	r = snprintf(buf + len, size - len, "%s%s", len ? sep : "", text);
	if (r < 0 || (size_t)r >= size - len)
		buf[len] = '\0'; /* does not fit: left out */
}

/*
 * Score one domain's answer from zone i: true if it lists the domain.
 * what: the answers as text for the detail, appended to ans.
 */
static bool
ub_answer(const struct conn *c, const struct blentry *z, const char *name,
	  const struct dns_answer *a, char *ans, size_t anslen)
{
	bool hit = false;
	size_t n = a->n < DNS_MAX_RR ? a->n : DNS_MAX_RR;
	char ip[INET_ADDRSTRLEN];

	for (size_t j = 0; j < n; j++) {
		const unsigned char *o =
		    (const unsigned char *)&a->rr[j].a.s_addr;

		if (inet_ntop(AF_INET, &a->rr[j].a, ip, sizeof ip) == NULL)
			snprintf(ip, sizeof ip, "?");
		ub_append(ans, anslen, "/", ip);
		if (uribl_error_answer(o)) {
			log_serror(c->sid,
				   "uribl: %s answered error code %s for "
				   "%s; not counted",
				   blentry_name(z), ip, name);
			continue;
		}
		if (o[0] != 127) {
			log_swarn(c->sid,
				  "uribl: %s answered %s for %s, outside "
				  "127.0.0.0/8; ignored",
				  blentry_name(z), ip, name);
			continue;
		}
		if (blentry_match(z, a->rr[j].a))
			hit = true;
	}
	return hit;
}

/* The caps links.c reached, "bytes,domains", or "". */
static void
ub_capped(const struct links_stats *s, char *out, size_t len)
{
	out[0] = '\0';
	if (s->over_bytes)
		ub_append(out, len, ",", "bytes");
	if (s->over_domains)
		ub_append(out, len, ",", "domains");
	if (s->over_depth)
		ub_append(out, len, ",", "depth");
	if (s->over_parts)
		ub_append(out, len, ",", "parts");
	if (s->over_links)
		ub_append(out, len, ",", "links");
	if (s->over_header)
		ub_append(out, len, ",", "header");
	if (s->over_attrs)
		ub_append(out, len, ",", "attrs");
}

static void
ub_eval(struct conn *c, struct msg *m, struct ub_state *st,
	const struct timespec *deadline)
{
	const struct conf *cf = c->conf;
	struct check_outcome *out = &st->out;
	const struct blentry_list *list = st->list;
	int up = 0, down = 0, best = 0;
	const char *failed = NULL;
	enum dns_status fstatus = DNS_SERVFAIL;
	size_t top = SIZE_MAX;
	size_t nd = links_count(st->lx);
	char capped[64];

	/* submit what the hints did not, then wait for everything needed */
	for (size_t k = 0; k < nd; k++) {
		const struct links_domain *d = links_get(st->lx, k);

		if (!d->skipped && ub_submit(c, st, d->name) == NULL) {
			out->result = AM_R_TEMPERROR;
			return;
		}
	}
	for (size_t k = 0; k < nd; k++) {
		const struct links_domain *d = links_get(st->lx, k);
		struct ub_entry *e;
		char line[URIBL_MAX_TEXT];

		if (d->skipped) {
			snprintf(line, sizeof line, "%s skipped", d->name);
			ub_append(st->detail, sizeof st->detail, ", ", line);
			continue;
		}
		e = ub_find(st, d->name);
		if (d->ip)
			snprintf(line, sizeof line, "%s", d->host);
		else
			snprintf(line, sizeof line, "%s", d->name);
		for (size_t i = 0; e != NULL && i < list->n; i++) {
			const struct blentry *z = &list->v[i];
			const struct dns_answer *a;
			char ans[256] = "";

			if (e->q[i] == NULL)
				continue;
			dns_wait(c->dns, e->q[i], deadline);
			a = dns_answer(e->q[i]);
			st->lookups++;
			switch (a->status) {
			case DNS_DATA:
				if (ub_answer(c, z, d->name, a, ans,
					      sizeof ans)) {
					st->listings++;
					if (!st->zone[i].hit)
						snprintf(
						    st->zone[i].domain,
						    sizeof st->zone[i].domain,
						    "%s",
						    d->ip ? d->host : d->name);
					st->zone[i].hit = true;
				}
				break;
			case DNS_NODATA:
			case DNS_NXDOMAIN:
				snprintf(ans, sizeof ans, "%s",
					 dns_status_str(a->status));
				break;
			case DNS_INVALID:
				snprintf(ans, sizeof ans, "invalid");
				break;
			default: /* SERVFAIL, TIMEOUT, BOGUS, PENDING */
				snprintf(ans, sizeof ans, "%s",
					 dns_status_str(a->status));
				if (!st->zone[i].failed)
					st->zone[i].fstatus = a->status;
				st->zone[i].failed = true;
				log_swarn(c->sid, "uribl: %s.%s: %s", d->name,
					  blentry_name(z),
					  dns_status_str(a->status));
				break;
			}
			{
				char item[320];

				snprintf(item, sizeof item, " %s=%s",
					 blentry_name(z), ans);
				ub_append(line, sizeof line, "", item);
			}
		}
		ub_append(st->detail, sizeof st->detail, ", ", line);
	}

	for (size_t i = 0; i < list->n; i++) {
		const struct blentry *z = &list->v[i];

		if (st->zone[i].hit) {
			st->score += z->weight;
			ub_append(st->zones, sizeof st->zones, ",",
				  blentry_name(z));
			if (top == SIZE_MAX || z->weight > best) {
				top = i;
				best = z->weight;
			}
		} else if (st->zone[i].failed) {
			if (z->weight > 0)
				up += z->weight;
			else
				down += z->weight;
			if (failed == NULL) {
				failed = blentry_name(z);
				fstatus = st->zone[i].fstatus;
			}
		}
	}
	metrics_uribl(st->lookups, st->listings);

	ub_capped(links_stats(st->lx), capped, sizeof capped);
	if (capped[0] != '\0')
		log_sinfo(c->sid,
			  "qid=%s: uribl: limits reached (%s): checked on "
			  "what was scanned",
			  m != NULL && m->qid[0] ? m->qid : "-", capped);

	out->done = true;
	out->action = AM_ACT_NONE;
	if ((long)st->score + down >= cf->uribl_threshold) {
		char dom[LINKS_NAME_MAX];
		const char *zn =
		    top != SIZE_MAX ? blentry_name(&list->v[top]) : "?";

		check_reply_safe(top != SIZE_MAX ? st->zone[top].domain : "?",
				 dom, sizeof dom);
		out->result = AM_R_LISTED;
		out->action = cf->uribl_action;
		if (snprintf(out->why, sizeof out->why,
			     "score=%d domain=%s zones=%s", st->score, dom,
			     st->zones) < 0)
			out->why[0] = '\0';
		check_outcome_reply(out, "554", "5.7.1",
				    "Message rejected: link to %s listed by %s",
				    dom, zn);
	} else if ((long)st->score + up < cf->uribl_threshold) {
		out->result = AM_R_PASS;
		if (snprintf(out->why, sizeof out->why, "score=%d%s%s",
			     st->score, st->zones[0] ? " zones=" : "",
			     st->zones) < 0)
			out->why[0] = '\0';
	} else {
		check_outcome_temperror(out, cf->uribl_action);
		snprintf(out->why, sizeof out->why, "score=%d, %s: %s",
			 st->score, failed != NULL ? failed : "?",
			 dns_status_str(fstatus));
	}
}

/*
 * End of message, before any check waits: parse the message (links.h)
 * and send the lookups of every link domain the hints did not, so that
 * they share the end-of-message wait with DKIM and DMARC.
 */
static int
uribl_eom(struct conn *c, struct msg *m, struct check_slot *ms)
{
	struct ub_state *st = ms != NULL ? ms->state : NULL;
	size_t nd;
	int rc;

	(void)m;
	if (st == NULL || st->parsed)
		return 0;
	rc = links_end(st->lx);
	if (rc != 0)
		return rc;
	st->parsed = true;
	nd = links_count(st->lx);
	for (size_t k = 0; k < nd; k++) {
		const struct links_domain *d = links_get(st->lx, k);

		/* ENOMEM here is met again, and reported, by finish() */
		if (!d->skipped && ub_submit(c, st, d->name) == NULL)
			break;
	}
	return 0;
}

static void
ub_none(struct check_outcome *out, const char *why)
{
	memset(out, 0, sizeof *out);
	out->done = true;
	out->result = AM_R_NONE;
	out->action = AM_ACT_NONE;
	snprintf(out->why, sizeof out->why, "%s", why);
}

static int
uribl_finish(struct conn *c, struct msg *m, struct check_slot *cs,
	     struct check_slot *ms, const struct timespec *deadline,
	     struct check_outcome *out)
{
	struct ub_state *st = ms != NULL ? ms->state : NULL;
	int rc;

	(void)cs;
	if (st == NULL) {
		ub_none(out, c->conf->uribl.n == 0 ? "no URIBL configured"
						   : "not checked");
		return 0;
	}
	if (!st->done) {
		rc = uribl_eom(c, m, ms);
		if (rc != 0)
			return rc;
		st->zone =
		    calloc(st->list->n ? st->list->n : 1, sizeof *st->zone);
		if (st->zone == NULL)
			return AM_ENOMEM;
		ub_eval(c, m, st, deadline);
		if (!st->out.done)
			return AM_ENOMEM;
		st->done = true;
	}
	*out = st->out;
	return 0;
}

static void
uribl_report(struct conn *c, struct msg *m, struct check_slot *cs,
	     struct check_slot *ms, const struct check_outcome *o,
	     struct check_report *r)
{
	const struct ub_state *st = ms != NULL ? ms->state : NULL;
	char val[URIBL_MAX_TEXT + 64], num[32], capped[64];

	(void)c;
	(void)m;
	(void)cs;
	if (st == NULL || o->result == AM_R_SKIPPED || o->result == AM_R_NONE)
		return;
	if (o->result == AM_R_TEMPERROR)
		snprintf(val, sizeof val, "%s (%s)", am_result_str(o->result),
			 o->why);
	else
		snprintf(val, sizeof val, "%s (score=%d%s%s)",
			 am_result_str(o->result), st->score,
			 st->zones[0] ? " zones=" : "", st->zones);
	if (r->xauth != NULL)
		r->xauth(r, "uribl", val);
	if (r->logf == NULL)
		return;
	r->logf(r, "uribl", am_result_str(o->result));
	snprintf(num, sizeof num, "%d", st->score);
	r->logf(r, "uribl_score", num);
	if (st->zones[0] != '\0')
		r->logf(r, "uribl_zones", st->zones);
	snprintf(num, sizeof num, "%zu", links_count(st->lx));
	r->logf(r, "uribl_domains", num);
	if (st->detail[0] != '\0')
		r->logf(r, "uribl_links", st->detail);
	ub_capped(links_stats(st->lx), capped, sizeof capped);
	if (capped[0] != '\0')
		r->logf(r, "uribl_capped", capped);
}

/* One zone's answer for a domain as text: "127.0.0.2/127.0.0.4". */
static void
ub_answer_text(const struct ub_state *st, const char *name, size_t zone,
	       char *out, size_t len)
{
	const struct ub_entry *e = NULL;
	const struct dns_answer *a;

	out[0] = '\0';
	for (size_t j = 0; j < st->nent && e == NULL; j++)
		if (strcmp(st->ent[j].name, name) == 0)
			e = &st->ent[j];
	if (e == NULL || e->q[zone] == NULL) {
		snprintf(out, len, "not asked");
		return;
	}
	a = dns_answer(e->q[zone]);
	if (a->status != DNS_DATA) {
		snprintf(out, len, "%s", dns_status_str(a->status));
		return;
	}
	for (size_t j = 0; j < a->n && j < DNS_MAX_RR; j++) {
		char ip[INET_ADDRSTRLEN];

		if (inet_ntop(AF_INET, &a->rr[j].a, ip, sizeof ip) != NULL)
			ub_append(out, len, "/", ip);
	}
}

void
uribl_describe(const struct check_slot *ms, FILE *fp, bool json)
{
	const struct ub_state *st = ms != NULL ? ms->state : NULL;
	const struct links_stats *ls;
	char capped[64], ans[256];

	if (st == NULL || !st->done)
		return;
	ls = links_stats(st->lx);
	ub_capped(ls, capped, sizeof capped);
	/* names, hosts and zone names are LDH text: no escaping needed */
	if (json)
		fprintf(fp,
			",\"links\":{\"links\":%zu,\"body_octets\":%zu,"
			"\"capped\":\"%s\",\"domains\":[",
			ls->links, ls->body_bytes, capped);
	else
		fprintf(fp,
			"\nLinks (%zu domains, %zu links, %zu body "
			"octets):\n",
			links_count(st->lx), ls->links, ls->body_bytes);
	for (size_t k = 0; k < links_count(st->lx); k++) {
		const struct links_domain *d = links_get(st->lx, k);

		if (json)
			fprintf(fp,
				"%s{\"domain\":\"%s\",\"host\":\"%s\","
				"\"links\":%u,\"skipped\":%s,\"answers\":{",
				k ? "," : "", d->name, d->host, d->links,
				d->skipped ? "true" : "false");
		else
			fprintf(fp, "  %s host=%s links=%u%s", d->name, d->host,
				d->links,
				d->skipped ? " (URIBLSkipDomains)" : "");
		for (size_t i = 0; !d->skipped && i < st->list->n; i++) {
			const char *zn = blentry_name(&st->list->v[i]);

			ub_answer_text(st, d->name, i, ans, sizeof ans);
			if (json)
				fprintf(fp, "%s\"%s\":\"%s\"", i ? "," : "", zn,
					ans);
			else
				fprintf(fp, " %s=%s", zn, ans);
		}
		fputs(json ? "}}" : "\n", fp);
	}
	if (json)
		fputs("]}", fp);
	else if (capped[0] != '\0')
		fprintf(fp, "  limits reached: %s\n", capped);
}

static void
uribl_msg_free(struct check_slot *ms)
{
	if (ms == NULL)
		return;
	ub_free(ms->state);
	ms->state = NULL;
}

static enum am_action
uribl_max_action(const struct conf *cf)
{
	return cf->uribl.n > 0 ? cf->uribl_action : AM_ACT_NONE;
}

const struct check_ops uribl_ops = {
    .name = "uribl",
    .ready = CHECK_PH_EOM,
    .mime_headers = true,
    .on_mail = uribl_mail,
    .on_header = uribl_header,
    .on_body = uribl_body,
    .max_action = uribl_max_action,
    .on_eom = uribl_eom,
    .finish = uribl_finish,
    .report = uribl_report,
    .msg_free = uribl_msg_free,
};
