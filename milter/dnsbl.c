/* SPDX-License-Identifier: BSD-2-Clause */
/* dnsbl - DNSBL (client IP) and RHSBL (sender domain) scoring */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amerr.h"
#include "blentry.h"
#include "dns.h"
#include "dnsbl.h"
#include "log.h"

/* Room for a query name: 72 (IPv6 nibbles) or 253 (domain) + a zone. */
#define BL_NAME_MAX 512

/* What a DNSBL or RHSBL lookup keeps: one per connection or message. */
struct bl_state {
	const struct blentry_list *list; /* borrowed: the conf snapshot */
	size_t n;			 /* zones queried */
	/* n handles, NULL where the name was too long: the array is owned,
	 * the queries belong to the set */
	struct dns_query **q;
	char subject[256];	  /* client IP or sender domain, reply-safe */
	bool done;		  /* evaluated; out is final */
	struct check_outcome out; /* the cached outcome */
	int score;		  /* sum of the weights of matching zones */
	char zones[DNSBL_MAX_ZONES_TEXT]; /* matching zones, "a,b" */
};

enum bl_kind { BL_CLIENT, BL_SENDER };

static void
bl_free(struct bl_state *st)
{
	if (st == NULL)
		return;
	free(st->q);
	free(st);
}

/*
 * bl_start - submit one A query per zone of list. For BL_CLIENT the
 * name is the reversed client IP under the zone, for BL_SENDER the
 * domain under the zone. Returns the new state, or NULL on ENOMEM.
 */
static struct bl_state *
bl_start(struct conn *c, const struct blentry_list *list, enum bl_kind kind,
	 const char *domain)
{
	struct bl_state *st;
	char name[BL_NAME_MAX];
	char esc[BL_NAME_MAX];

	st = calloc(1, sizeof *st);
	if (st == NULL)
		return NULL;
	st->list = list;
	if (kind == BL_CLIENT)
		snprintf(st->subject, sizeof st->subject, "%s", c->ip);
	else
		check_reply_safe(domain, st->subject, sizeof st->subject);
	if (list->n == 0)
		return st;
	st->q = calloc(list->n, sizeof *st->q);
	if (st->q == NULL) {
		free(st);
		return NULL;
	}
	st->n = list->n;
	for (size_t i = 0; i < st->n; i++) {
		const char *zone = list->v[i].zone;
		int r;

		if (kind == BL_CLIENT) {
			r = dns_reverse_name(c->family, &c->addr, zone, name,
					     sizeof name);
		} else {
			r = snprintf(name, sizeof name, "%s.%s", domain, zone);
			r = (r < 0 || (size_t)r >= sizeof name) ? AM_ERANGE : 0;
		}
		if (r != 0) {
			log_swarn(
			    c->sid,
			    "%s: query name under %s too long; "
			    "zone skipped",
			    kind == BL_CLIENT ? "dnsbl" : "rhsbl",
			    log_escape(zone, strlen(zone), esc, sizeof esc));
			continue;
		}
		st->q[i] = dns_submit(c->dns, name, DNS_T_A);
	}
	return st;
}

static void
bl_append_zone(struct bl_state *st, const char *zone)
{
	size_t len = strlen(st->zones);
	int r;

	r = snprintf(st->zones + len, sizeof st->zones - len, "%s%s",
		     len ? "," : "", zone);
	if (r < 0 || (size_t)r >= sizeof st->zones - len)
		st->zones[len] = '\0'; /* does not fit: leave it out */
}

/*
 * bl_zone_match - whether a zone's answer lists the subject: some A
 * record passes the filter. Error codes (127.255.255.0/24) and answers
 * outside 127.0.0.0/8 are logged and never count.
 */
static bool
bl_zone_match(const struct conn *c, const struct bl_state *st, const char *what,
	      const struct blentry *e, const struct dns_answer *a)
{
	bool hit = false;
	size_t n = a->n < DNS_MAX_RR ? a->n : DNS_MAX_RR;
	char ip[INET_ADDRSTRLEN];

	for (size_t j = 0; j < n; j++) {
		const unsigned char *o =
		    (const unsigned char *)&a->rr[j].a.s_addr;

		if (inet_ntop(AF_INET, &a->rr[j].a, ip, sizeof ip) == NULL)
			snprintf(ip, sizeof ip, "?");
		if (o[0] == 127 && o[1] == 255 && o[2] == 255) {
			log_serror(c->sid,
				   "%s: %s answered error code %s for "
				   "%s; not counted",
				   what, e->zone, ip, st->subject);
			continue;
		}
		if (o[0] != 127) {
			log_swarn(c->sid,
				  "%s: %s answered %s, outside "
				  "127.0.0.0/8; ignored",
				  what, e->zone, ip);
			continue;
		}
		if (blentry_match(e, a->rr[j].a))
			hit = true;
	}
	return hit;
}

/*
 * bl_eval - wait for the answers (up to deadline) and score them. The
 * verdict is certain when no unanswered zone could change it: listed if
 * the score with every failed allowlist counted still reaches the
 * threshold, pass if the score with every failed blocklist counted
 * stays below it; otherwise temperror.
 */
static void
bl_eval(struct conn *c, struct bl_state *st, enum bl_kind kind,
	const struct timespec *deadline)
{
	const char *what = kind == BL_CLIENT ? "dnsbl" : "rhsbl";
	const struct conf *cf = c->conf;
	enum am_action action =
	    kind == BL_CLIENT ? cf->dnsbl_action : cf->rhsbl_action;
	struct check_outcome *out = &st->out;
	int up = 0, down = 0, best = 0;
	const char *top = NULL, *failed = NULL;
	enum dns_status fstatus = DNS_SERVFAIL;

	for (size_t i = 0; i < st->n; i++) {
		const struct blentry *e = &st->list->v[i];
		const struct dns_answer *a;

		if (st->q[i] == NULL)
			continue;
		dns_wait(c->dns, st->q[i], deadline);
		a = dns_answer(st->q[i]);
		switch (a->status) {
		case DNS_DATA:
			if (!bl_zone_match(c, st, what, e, a))
				break;
			st->score += e->weight;
			bl_append_zone(st, e->zone);
			if (top == NULL || e->weight > best) {
				top = e->zone;
				best = e->weight;
			}
			break;
		case DNS_NODATA:
		case DNS_NXDOMAIN:
			break;
		case DNS_INVALID:
			log_swarn(c->sid,
				  "%s: query under %s is not a valid "
				  "name; zone skipped",
				  what, e->zone);
			break;
		default: /* SERVFAIL, TIMEOUT, BOGUS, PENDING */
			if (e->weight > 0)
				up += e->weight;
			else
				down += e->weight;
			if (failed == NULL) {
				failed = e->zone;
				fstatus = a->status;
			}
			log_swarn(c->sid, "%s: %s: %s", what, e->zone,
				  dns_status_str(a->status));
			break;
		}
	}

	out->done = true;
	out->action = AM_ACT_NONE;
	if ((long)st->score + down >= cf->dnsbl_threshold) {
		out->result = AM_R_LISTED;
		out->action = action;
		if (snprintf(out->why, sizeof out->why, "score=%d zones=%s",
			     st->score, st->zones) < 0)
			out->why[0] = '\0';
		if (kind == BL_CLIENT)
			check_outcome_reply(out, "554", "5.7.1",
					    "Service unavailable; client [%s] "
					    "blocked using %s",
					    st->subject,
					    top != NULL ? top : "?");
		else
			check_outcome_reply(out, "554", "5.7.1",
					    "Service unavailable; sender "
					    "domain %s blocked using %s",
					    st->subject,
					    top != NULL ? top : "?");
	} else if ((long)st->score + up < cf->dnsbl_threshold) {
		out->result = AM_R_PASS;
		if (snprintf(out->why, sizeof out->why, "score=%d%s%s",
			     st->score, st->zones[0] ? " zones=" : "",
			     st->zones) < 0)
			out->why[0] = '\0';
	} else {
		check_outcome_temperror(out, action);
		snprintf(out->why, sizeof out->why, "score=%d, %s: %s",
			 st->score, failed != NULL ? failed : "?",
			 dns_status_str(fstatus));
	}
}

/* Outcome for a session or message that is not checked. */
static void
bl_none(struct check_outcome *out, enum am_result r, const char *why)
{
	memset(out, 0, sizeof *out);
	out->done = true;
	out->result = r;
	out->action = AM_ACT_NONE;
	snprintf(out->why, sizeof out->why, "%s", why);
}

static void
bl_report(const char *key, const struct bl_state *st,
	  const struct check_outcome *o, struct check_report *r)
{
	char val[DNSBL_MAX_ZONES_TEXT + 64];
	char score[16];
	int n;

	if (st == NULL || o->result == AM_R_SKIPPED || o->result == AM_R_NONE)
		return;
	snprintf(score, sizeof score, "%d", st->score);
	if (o->result == AM_R_TEMPERROR)
		n = snprintf(val, sizeof val, "%s (%s)",
			     am_result_str(o->result), o->why);
	else
		n = snprintf(val, sizeof val, "%s (score=%d%s%s)",
			     am_result_str(o->result), st->score,
			     st->zones[0] ? " zones=" : "", st->zones);
	if (n < 0)
		val[0] = '\0';
	if (r->xauth != NULL)
		r->xauth(r, key, val);
	if (r->logf != NULL) {
		char lkey[32];

		r->logf(r, key, am_result_str(o->result));
		snprintf(lkey, sizeof lkey, "%s_score", key);
		r->logf(r, lkey, score);
		if (st->zones[0] != '\0') {
			snprintf(lkey, sizeof lkey, "%s_zones", key);
			r->logf(r, lkey, st->zones);
		}
	}
}

/* DNSBL: the client IP, at connect. */

static int
dnsbl_connect(struct conn *c, struct check_slot *cs)
{
	struct bl_state *st;

	bl_free(cs->state);
	cs->state = NULL;
	if (c->skip || c->conf->dnsbl.n == 0 ||
	    (c->family != AF_INET && c->family != AF_INET6))
		return 0;
	st = bl_start(c, &c->conf->dnsbl, BL_CLIENT, NULL);
	if (st == NULL)
		return AM_ENOMEM;
	cs->state = st;
	return 0;
}

static int
dnsbl_finish(struct conn *c, struct msg *m, struct check_slot *cs,
	     struct check_slot *ms, const struct timespec *deadline,
	     struct check_outcome *out)
{
	struct bl_state *st = cs->state;

	(void)m;
	(void)ms;
	if (st == NULL) {
		bl_none(out, AM_R_NONE,
			c->conf->dnsbl.n == 0 ? "no DNSBL configured"
					      : "no client address");
		return 0;
	}
	if (!st->done) {
		bl_eval(c, st, BL_CLIENT, deadline);
		st->done = true;
	}
	*out = st->out;
	return 0;
}

static void
dnsbl_report(struct conn *c, struct msg *m, struct check_slot *cs,
	     struct check_slot *ms, const struct check_outcome *o,
	     struct check_report *r)
{
	(void)c;
	(void)m;
	(void)ms;
	bl_report("dnsbl", cs->state, o, r);
}

static void
dnsbl_conn_free(struct check_slot *cs)
{
	if (cs == NULL)
		return;
	bl_free(cs->state);
	cs->state = NULL;
}

static enum am_action
dnsbl_max_action(const struct conf *cf)
{
	return cf->dnsbl.n > 0 ? cf->dnsbl_action : AM_ACT_NONE;
}

const struct check_ops dnsbl_ops = {
    .name = "dnsbl",
    .ready = CHECK_PH_CONNECT,
    .on_connect = dnsbl_connect,
    .max_action = dnsbl_max_action,
    .finish = dnsbl_finish,
    .report = dnsbl_report,
    .conn_free = dnsbl_conn_free,
};

/* RHSBL: the MAIL FROM domain. */

static int
rhsbl_mail(struct conn *c, struct msg *m, struct check_slot *cs,
	   struct check_slot *ms)
{
	struct bl_state *st;
	char dom[256];
	size_t len;

	(void)cs;
	bl_free(ms->state);
	ms->state = NULL;
	if (c->skip || c->conf->rhsbl.n == 0 || m->null_sender ||
	    m->mail_domain == NULL || m->mail_domain[0] == '[')
		return 0;
	/* One trailing dot is the same domain; leave the rest to DNS. */
	len = strnlen(m->mail_domain, sizeof dom);
	if (len >= sizeof dom)
		len = sizeof dom - 1; /* too long: the query is invalid */
	memcpy(dom, m->mail_domain, len);
	dom[len] = '\0';
	if (len > 0 && dom[len - 1] == '.')
		dom[len - 1] = '\0';
	st = bl_start(c, &c->conf->rhsbl, BL_SENDER, dom);
	if (st == NULL)
		return AM_ENOMEM;
	ms->state = st;
	return 0;
}

static int
rhsbl_finish(struct conn *c, struct msg *m, struct check_slot *cs,
	     struct check_slot *ms, const struct timespec *deadline,
	     struct check_outcome *out)
{
	struct bl_state *st = ms != NULL ? ms->state : NULL;

	(void)cs;
	if (st == NULL) {
		const char *why = "no sender domain";

		if (c->conf->rhsbl.n == 0)
			why = "no RHSBL configured";
		else if (m != NULL && m->null_sender)
			why = "null sender";
		else if (m != NULL && m->mail_domain != NULL)
			why = "address literal";
		bl_none(out, AM_R_NONE, why);
		return 0;
	}
	if (!st->done) {
		bl_eval(c, st, BL_SENDER, deadline);
		st->done = true;
	}
	*out = st->out;
	return 0;
}

static void
rhsbl_report(struct conn *c, struct msg *m, struct check_slot *cs,
	     struct check_slot *ms, const struct check_outcome *o,
	     struct check_report *r)
{
	(void)c;
	(void)m;
	(void)cs;
	bl_report("rhsbl", ms != NULL ? ms->state : NULL, o, r);
}

static void
rhsbl_msg_free(struct check_slot *ms)
{
	if (ms == NULL)
		return;
	bl_free(ms->state);
	ms->state = NULL;
}

static enum am_action
rhsbl_max_action(const struct conf *cf)
{
	return cf->rhsbl.n > 0 ? cf->rhsbl_action : AM_ACT_NONE;
}

const struct check_ops rhsbl_ops = {
    .name = "rhsbl",
    .ready = CHECK_PH_MAIL,
    .on_mail = rhsbl_mail,
    .max_action = rhsbl_max_action,
    .finish = rhsbl_finish,
    .report = rhsbl_report,
    .msg_free = rhsbl_msg_free,
};
