/* SPDX-License-Identifier: BSD-2-Clause */
/* spf_check - the SPF check of a message: spf.c's evaluator as a check */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "amerr.h"
#include "authres.h"
#include "spf.h"
#include "spf_check.h"
#include "spf_received.h"

_Static_assert(SPF_MAX_IDENTITY >= SESSION_MAX_NAME,
	       "spf.c holds every MAIL FROM the session keeps");

struct spf_msg {
	struct spf_check *chk;	  /* owned */
	struct dns_query *waitq;  /* the answer evaluation stopped at */
	struct check_outcome out; /* what finish() decided */
};

static int
spf_on_mail(struct conn *c, struct msg *m, struct check_slot *cs,
	    struct check_slot *ms)
{
	struct spf_request rq;
	struct spf_msg *st;

	(void)cs;
	if (c->skip || (c->family != AF_INET && c->family != AF_INET6))
		return 0;
	if ((st = calloc(1, sizeof *st)) == NULL)
		return AM_ENOMEM;
	memset(&rq, 0, sizeof rq);
	rq.family = c->family;
	if (c->family == AF_INET)
		rq.addr.v4 = c->addr.v4;
	else
		rq.addr.v6 = c->addr.v6;
	rq.sender = m->null_sender ? "" : m->mail_from;
	rq.helo = c->helo;
	rq.receiver = c->conf != NULL ? c->conf->authserv_id : NULL;
	if ((st->chk = spf_check_new(c->dns, &rq)) == NULL) {
		free(st);
		return AM_ENOMEM;
	}
	ms->state = st;
	/* Start the queries now; progress() and finish() go on from here. */
	return spf_eval(st->chk, &st->waitq) < 0 ? AM_ENOMEM : 0;
}

/*
 * Evaluate again once the answer evaluation stopped at is in: the next
 * records of an include or redirect chain, and the names of mx, a and
 * ptr terms, go out now rather than at finish(). Out of memory here is
 * met again, and reported, by finish().
 */
static void
spf_progress(struct conn *c, struct msg *m, struct check_slot *cs,
	     struct check_slot *ms)
{
	struct spf_msg *st = ms != NULL ? ms->state : NULL;

	(void)c;
	(void)m;
	(void)cs;
	if (st == NULL || st->waitq == NULL || st->out.done ||
	    dns_answer(st->waitq)->status == DNS_PENDING)
		return;
	if (spf_eval(st->chk, &st->waitq) < 0)
		st->waitq = NULL;
}

static enum am_action
spf_max_action(const struct conf *cf)
{
	return cf->spf_fail_action > cf->spf_softfail_action
		   ? cf->spf_fail_action
		   : cf->spf_softfail_action;
}

/*
 * A trusted relay (TrustedRelays): SPF was checked where the message
 * entered, so the result is the one of the topmost Authentication-
 * Results header of a TrustedAuthservIDs id (engine_session.c reads it
 * into m->upstream). It feeds DMARC and takes no SPF action here: the
 * relay has accepted the message already.
 */
static void
spf_finish_relay(struct msg *m, struct check_outcome *out)
{
	const struct upstream_spf *up = &m->upstream;

	if (up->usable) {
		out->result = up->result;
		snprintf(out->why, sizeof out->why, "from trusted relay %.100s",
			 up->id);
		m->auth.spf_done = true;
		m->auth.spf_helo = false;
		m->auth.spf = up->result;
		snprintf(m->auth.spf_domain, sizeof m->auth.spf_domain, "%s",
			 up->domain);
	} else {
		out->result = AM_R_NONE;
		snprintf(out->why, sizeof out->why, "%s",
			 up->seen ? "trusted relay: its upstream "
				    "Authentication-Results has no usable "
				    "spf result"
				  : "trusted relay: no upstream "
				    "Authentication-Results of a trusted "
				    "authserv-id");
	}
}

static int
spf_finish(struct conn *c, struct msg *m, struct check_slot *cs,
	   struct check_slot *ms, const struct timespec *deadline,
	   struct check_outcome *out)
{
	struct spf_msg *st = ms->state;
	const struct spf_outcome *o;
	char dom[256];
	enum am_action act = AM_ACT_NONE;
	int rc;

	(void)cs;
	memset(out, 0, sizeof *out);
	out->done = true;
	if (st == NULL && c->relay) {
		spf_finish_relay(m, out);
		return 0;
	}
	if (st == NULL) {
		out->result = AM_R_SKIPPED;
		snprintf(out->why, sizeof out->why, "not checked");
		return 0;
	}
	if (st->out.done) {
		*out = st->out;
		return 0;
	}
	if ((rc = spf_run(st->chk, deadline)) < 0)
		return rc;
	o = spf_outcome(st->chk);
	out->result = o->result;
	snprintf(out->why, sizeof out->why, "%s", o->why);
	check_reply_safe(o->domain, dom, sizeof dom);
	if (o->result == AM_R_FAIL)
		act = c->conf->spf_fail_action;
	else if (o->result == AM_R_SOFTFAIL)
		act = c->conf->spf_softfail_action;
	if (o->result == AM_R_TEMPERROR) {
		check_outcome_temperror(out, spf_max_action(c->conf));
	} else {
		out->action = act;
		if (act != AM_ACT_NONE)
			check_outcome_reply(out, "550", "5.7.23",
					    "SPF validation failed for %s",
					    dom);
	}
	m->auth.spf_done = true;
	m->auth.spf_helo = o->helo_identity;
	m->auth.spf = o->result;
	snprintf(m->auth.spf_domain, sizeof m->auth.spf_domain, "%s",
		 o->domain);
	st->out = *out;
	return 0;
}

static void
spf_report(struct conn *c, struct msg *m, struct check_slot *cs,
	   struct check_slot *ms, const struct check_outcome *co,
	   struct check_report *r)
{
	struct spf_msg *st = ms->state;
	const struct spf_outcome *o;
	struct spf_received rs;
	char comment[200];
	char *hdr;

	(void)cs;
	if (st == NULL && c->relay && co->done) {
		/* no Received-SPF: this server did not check SPF itself */
		if (r->ar != NULL) {
			authres_method(r->ar, "spf", am_result_str(co->result));
			authres_comment(r->ar, co->why);
			if (m->upstream.usable)
				authres_prop(r->ar, "smtp", "mailfrom",
					     m->upstream.domain);
		}
		if (r->logf != NULL) {
			r->logf(r, "spf", am_result_str(co->result));
			r->logf(r, "spf_domain", m->auth.spf_domain);
			r->logf(r, "spf_why", co->why);
			r->logf(r, "trusted_relay", c->ip);
		}
		return;
	}
	if (st == NULL || !co->done)
		return;
	o = spf_outcome(st->chk);
	if (r->ar != NULL) {
		authres_method(r->ar, "spf", am_result_str(o->result));
		if (o->mechanism[0] != '\0' && o->result != AM_R_TEMPERROR &&
		    o->result != AM_R_PERMERROR)
			snprintf(comment, sizeof comment, "%s", o->mechanism);
		else
			snprintf(comment, sizeof comment, "%s", o->why);
		authres_comment(r->ar, comment);
		if (o->helo_identity)
			authres_prop(r->ar, "smtp", "helo",
				     c->helo != NULL ? c->helo : "");
		else
			authres_prop(r->ar, "smtp", "mailfrom", o->domain);
	}
	if (c->conf != NULL && c->conf->received_spf && r->header != NULL) {
		memset(&rs, 0, sizeof rs);
		rs.result = o->result;
		rs.receiver = c->conf->authserv_id;
		rs.client_ip = c->ip;
		rs.envelope_from = m->null_sender ? "" : m->mail_from;
		rs.helo = c->helo;
		rs.identity = o->helo_identity ? "helo" : "mailfrom";
		rs.sender = o->sender;
		rs.mechanism = o->mechanism;
		rs.problem = o->why;
		if ((hdr = spf_received_build(&rs)) != NULL) {
			r->header(r, "Received-SPF", hdr);
			free(hdr);
		}
	}
	if (r->logf != NULL) {
		r->logf(r, "spf", am_result_str(o->result));
		r->logf(r, "spf_domain", o->domain);
		r->logf(r, "spf_why", o->why);
	}
}

static void
spf_msg_free(struct check_slot *ms)
{
	struct spf_msg *st;

	if (ms == NULL || (st = ms->state) == NULL)
		return;
	spf_check_free(st->chk);
	free(st);
	ms->state = NULL;
}

const struct check_ops spf_ops = {
    .name = "spf",
    .ready = CHECK_PH_MAIL,
    .about_client = true,
    .from_upstream = true,
    .on_mail = spf_on_mail,
    .progress = spf_progress,
    .max_action = spf_max_action,
    .finish = spf_finish,
    .report = spf_report,
    .msg_free = spf_msg_free,
};
