/* SPDX-License-Identifier: BSD-2-Clause */
/* iprev - PTR of the client IP, then the addresses of each PTR name */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amerr.h"
#include "dns.h"
#include "iprev.h"
#include "log.h"

struct iprev_state {
	struct dns_query *ptr; /* the PTR query: owned by the set */
	bool fwd_sent;	       /* forward queries submitted */
	size_t nnames;	       /* PTR names followed */
	const char *names[IPREV_MAX_NAMES];	/* borrowed from the set */
	struct dns_query *fwd[IPREV_MAX_NAMES]; /* owned by the set */
	bool done;				/* out is final */
	struct check_outcome out;		/* the cached outcome */
	const char *name; /* the verified name: borrowed, or NULL */
};

static bool
iprev_is_temp(enum dns_status s)
{
	return s == DNS_SERVFAIL || s == DNS_TIMEOUT || s == DNS_BOGUS ||
	       s == DNS_PENDING;
}

/* Submit the forward queries once the PTR answer is in. */
static void
iprev_advance(struct conn *c, struct iprev_state *st)
{
	const struct dns_answer *a;
	enum dns_type t = c->family == AF_INET6 ? DNS_T_AAAA : DNS_T_A;
	size_t n;

	if (st->fwd_sent || st->ptr == NULL)
		return;
	a = dns_answer(st->ptr);
	if (a->status == DNS_PENDING)
		return;
	st->fwd_sent = true;
	if (a->status != DNS_DATA)
		return;
	n = a->n < DNS_MAX_RR ? a->n : DNS_MAX_RR;
	for (size_t i = 0; i < n && st->nnames < IPREV_MAX_NAMES; i++) {
		const char *name = a->rr[i].name;
		bool dup = false;

		if (name == NULL || name[0] == '\0')
			continue;
		for (size_t k = 0; k < st->nnames && !dup; k++)
			dup = strcmp(st->names[k], name) == 0;
		if (dup)
			continue;
		st->names[st->nnames] = name;
		st->fwd[st->nnames] = dns_submit(c->dns, name, t);
		st->nnames++;
	}
}

static bool
iprev_has_ip(const struct conn *c, const struct dns_answer *a)
{
	size_t n = a->n < DNS_MAX_RR ? a->n : DNS_MAX_RR;

	for (size_t i = 0; i < n; i++) {
		if (c->family == AF_INET &&
		    a->rr[i].a.s_addr == c->addr.v4.s_addr)
			return true;
		if (c->family == AF_INET6 &&
		    memcmp(&a->rr[i].aaaa, &c->addr.v6, sizeof c->addr.v6) == 0)
			return true;
	}
	return false;
}

static void
iprev_fail(const struct conn *c, struct check_outcome *out, enum am_result r,
	   const char *why)
{
	out->result = r;
	out->action = c->conf->iprev_action;
	snprintf(out->why, sizeof out->why, "%s", why);
	check_outcome_reply(out, "550", "5.7.25",
			    "Reverse DNS validation failed for [%s]", c->ip);
}

static void
iprev_eval(struct conn *c, struct iprev_state *st,
	   const struct timespec *deadline)
{
	struct check_outcome *out = &st->out;
	const struct dns_answer *a;
	bool temp = false;
	char esc[300];

	out->done = true;
	out->action = AM_ACT_NONE;
	dns_wait(c->dns, st->ptr, deadline);
	iprev_advance(c, st);
	a = dns_answer(st->ptr);
	switch (a->status) {
	case DNS_DATA:
		break;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
	case DNS_INVALID:
		iprev_fail(c, out, AM_R_PERMERROR, "no PTR record");
		return;
	default:
		check_outcome_temperror(out, c->conf->iprev_action);
		snprintf(out->why, sizeof out->why, "PTR lookup: %s",
			 dns_status_str(a->status));
		return;
	}
	for (size_t i = 0; i < st->nnames; i++) {
		const struct dns_answer *f;

		dns_wait(c->dns, st->fwd[i], deadline);
		f = dns_answer(st->fwd[i]);
		if (f->status == DNS_DATA && iprev_has_ip(c, f)) {
			st->name = st->names[i];
			out->result = AM_R_PASS;
			snprintf(out->why, sizeof out->why, "%s",
				 log_escape(st->name, strlen(st->name), esc,
					    sizeof esc));
			return;
		}
		if (iprev_is_temp(f->status))
			temp = true;
	}
	if (temp) {
		check_outcome_temperror(out, c->conf->iprev_action);
		snprintf(out->why, sizeof out->why,
			 "forward lookup of a PTR name failed");
		return;
	}
	iprev_fail(c, out, AM_R_FAIL,
		   st->nnames == 0 ? "PTR names are not valid host names"
				   : "no PTR name maps back to the address");
}

static void
iprev_free(struct iprev_state *st)
{
	free(st);
}

static int
iprev_connect(struct conn *c, struct check_slot *cs)
{
	struct iprev_state *st;
	char name[128];

	iprev_free(cs->state);
	cs->state = NULL;
	if (c->skip || (c->family != AF_INET && c->family != AF_INET6))
		return 0;
	st = calloc(1, sizeof *st);
	if (st == NULL)
		return AM_ENOMEM;
	if (dns_reverse_name(c->family, &c->addr,
			     c->family == AF_INET ? "in-addr.arpa" : "ip6.arpa",
			     name, sizeof name) == 0)
		st->ptr = dns_submit(c->dns, name, DNS_T_PTR);
	cs->state = st;
	return 0;
}

static void
iprev_progress(struct conn *c, struct msg *m, struct check_slot *cs,
	       struct check_slot *ms)
{
	(void)m;
	(void)ms;
	if (cs->state != NULL)
		iprev_advance(c, cs->state);
}

static int
iprev_finish(struct conn *c, struct msg *m, struct check_slot *cs,
	     struct check_slot *ms, const struct timespec *deadline,
	     struct check_outcome *out)
{
	struct iprev_state *st = cs->state;

	(void)m;
	(void)ms;
	if (st == NULL || st->ptr == NULL) {
		memset(out, 0, sizeof *out);
		out->done = true;
		/* RFC 8601 2.7.3: no address to check is a permanent error */
		out->result = AM_R_PERMERROR;
		snprintf(out->why, sizeof out->why, "client address unknown");
		return 0;
	}
	if (!st->done) {
		iprev_eval(c, st, deadline);
		st->done = true;
	}
	*out = st->out;
	return 0;
}

static void
iprev_report(struct conn *c, struct msg *m, struct check_slot *cs,
	     struct check_slot *ms, const struct check_outcome *o,
	     struct check_report *r)
{
	const struct iprev_state *st = cs->state;
	const char *res = am_result_str(o->result);

	(void)m;
	(void)ms;
	if (o->result == AM_R_SKIPPED || o->result == AM_R_NONE)
		return;
	if (r->ar != NULL) {
		authres_method(r->ar, "iprev", res);
		if (o->result != AM_R_PASS)
			authres_comment(r->ar, o->why);
		if (c->ip[0] != '\0')
			authres_prop(r->ar, "smtp", "remote-ip", c->ip);
		if (o->result == AM_R_PASS && st != NULL && st->name != NULL)
			authres_prop(r->ar, "policy", "iprev", st->name);
	}
	if (r->logf != NULL) {
		r->logf(r, "iprev", res);
		if (st != NULL && st->name != NULL)
			r->logf(r, "iprev_name", st->name);
	}
}

static void
iprev_conn_free(struct check_slot *cs)
{
	if (cs == NULL)
		return;
	iprev_free(cs->state);
	cs->state = NULL;
}

static enum am_action
iprev_max_action(const struct conf *cf)
{
	return cf->iprev_action;
}

const struct check_ops iprev_ops = {
    .name = "iprev",
    .ready = CHECK_PH_CONNECT,
    .on_connect = iprev_connect,
    .progress = iprev_progress,
    .max_action = iprev_max_action,
    .finish = iprev_finish,
    .report = iprev_report,
    .conn_free = iprev_conn_free,
};
