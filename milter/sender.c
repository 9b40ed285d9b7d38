/* SPDX-License-Identifier: BSD-2-Clause */
/* sender - MX/A/AAAA of the MAIL FROM domain, null MX */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amerr.h"
#include "dns.h"
#include "sender.h"

#define SENDER_REPLY_NAME 200 /* octets of the domain quoted in a reply */

enum { Q_MX, Q_A, Q_AAAA, Q_N };

struct sender_state {
	char domain[256];	  /* the domain, no trailing dot */
	struct dns_query *q[Q_N]; /* MX, A, AAAA: owned by the set */
	bool done;		  /* out is final */
	struct check_outcome out; /* the cached outcome */
};

static bool
sender_is_temp(enum dns_status s)
{
	return s == DNS_SERVFAIL || s == DNS_TIMEOUT || s == DNS_BOGUS ||
	       s == DNS_PENDING;
}

static int
sender_mail(struct conn *c, struct msg *m, struct check_slot *cs,
	    struct check_slot *ms)
{
	struct sender_state *st;
	size_t len;

	(void)cs;
	free(ms->state);
	ms->state = NULL;
	if (c->skip || m->null_sender || m->mail_domain == NULL ||
	    m->mail_domain[0] == '\0' || m->mail_domain[0] == '[')
		return 0;
	st = calloc(1, sizeof *st);
	if (st == NULL)
		return AM_ENOMEM;
	ms->state = st;
	len = strnlen(m->mail_domain, sizeof st->domain);
	if (len >= sizeof st->domain) {
		/* Longer than any domain: keep a prefix for the reply and
		 * never query a cut name (it could be someone else's). */
		memcpy(st->domain, m->mail_domain, sizeof st->domain - 1);
		return 0;
	}
	memcpy(st->domain, m->mail_domain, len + 1);
	if (len > 1 && st->domain[len - 1] == '.')
		st->domain[len - 1] = '\0';
	st->q[Q_MX] = dns_submit(c->dns, st->domain, DNS_T_MX);
	st->q[Q_A] = dns_submit(c->dns, st->domain, DNS_T_A);
	st->q[Q_AAAA] = dns_submit(c->dns, st->domain, DNS_T_AAAA);
	return 0;
}

static void
sender_set(struct conn *c, struct sender_state *st, enum am_result r,
	   const char *why)
{
	struct check_outcome *out = &st->out;
	char safe[SENDER_REPLY_NAME + 1];

	out->done = true;
	out->result = r;
	out->action = AM_ACT_NONE;
	snprintf(out->why, sizeof out->why, "%s", why);
	if (r == AM_R_FAIL) {
		out->action = c->conf->sender_domain_action;
		check_outcome_reply(
		    out, "550", "5.1.8",
		    "Sender address rejected: domain %s not "
		    "found",
		    check_reply_safe(st->domain, safe, sizeof safe));
	} else if (r == AM_R_NULLMX) {
		out->action = c->conf->sender_domain_action;
		check_outcome_reply(out, "550", "5.7.27",
				    "Sender address has null MX");
	}
}

/*
 * sender_mx - judge the MX answer alone: AM_R_NULLMX, AM_R_PASS (an MX
 * host), AM_R_FAIL (only "." with a non-zero preference) or AM_R_NONE
 * (no MX data: look at A/AAAA).
 */
static enum am_result
sender_mx(const struct dns_answer *a)
{
	size_t n = a->n < DNS_MAX_RR ? a->n : DNS_MAX_RR;
	bool root = false;

	if (a->status != DNS_DATA || n == 0)
		return AM_R_NONE;
	if (n == 1 && a->rr[0].name != NULL && a->rr[0].name[0] == '\0')
		return a->rr[0].pref == 0 ? AM_R_NULLMX : AM_R_FAIL;
	for (size_t i = 0; i < n; i++) {
		if (a->rr[i].name != NULL && a->rr[i].name[0] != '\0')
			return AM_R_PASS;
		root = true;
	}
	return root ? AM_R_FAIL : AM_R_NONE;
}

static void
sender_eval(struct conn *c, struct sender_state *st,
	    const struct timespec *deadline)
{
	const struct dns_answer *a[Q_N];
	enum am_result mx;
	bool temp = false, nx = false, invalid = false;
	enum dns_status tstatus = DNS_SERVFAIL;

	if (st->q[Q_MX] == NULL) {
		sender_set(c, st, AM_R_FAIL, "not a valid domain name");
		return;
	}
	/* The MX answer alone may decide; A/AAAA are awaited only if not. */
	dns_wait(c->dns, st->q[Q_MX], deadline);
	a[Q_MX] = dns_answer(st->q[Q_MX]);
	mx = sender_mx(a[Q_MX]);
	if (mx == AM_R_NULLMX) {
		sender_set(c, st, AM_R_NULLMX, "null MX");
		return;
	}
	if (mx == AM_R_PASS) {
		sender_set(c, st, AM_R_PASS, "MX");
		return;
	}
	for (int i = Q_A; i < Q_N; i++) {
		dns_wait(c->dns, st->q[i], deadline);
		a[i] = dns_answer(st->q[i]);
	}
	if (a[Q_A]->status == DNS_DATA || a[Q_AAAA]->status == DNS_DATA) {
		sender_set(c, st, AM_R_PASS, "implicit MX");
		return;
	}
	if (mx == AM_R_FAIL) {
		sender_set(c, st, AM_R_FAIL, "MX \".\" with a preference");
		return;
	}
	for (int i = 0; i < Q_N; i++) {
		if (a[i]->status == DNS_NXDOMAIN)
			nx = true;
		else if (a[i]->status == DNS_INVALID)
			invalid = true;
		else if (sender_is_temp(a[i]->status) && !temp) {
			temp = true;
			tstatus = a[i]->status;
		}
	}
	if (invalid) {
		sender_set(c, st, AM_R_FAIL, "not a valid domain name");
	} else if (nx) {
		sender_set(c, st, AM_R_FAIL, "domain does not exist");
	} else if (temp) {
		sender_set(c, st, AM_R_NONE, "");
		check_outcome_temperror(&st->out,
					c->conf->sender_domain_action);
		snprintf(st->out.why, sizeof st->out.why, "lookup: %s",
			 dns_status_str(tstatus));
	} else {
		sender_set(c, st, AM_R_FAIL, "no MX, A or AAAA record");
	}
}

static int
sender_finish(struct conn *c, struct msg *m, struct check_slot *cs,
	      struct check_slot *ms, const struct timespec *deadline,
	      struct check_outcome *out)
{
	struct sender_state *st = ms != NULL ? ms->state : NULL;

	(void)cs;
	if (st == NULL) {
		memset(out, 0, sizeof *out);
		out->done = true;
		out->result = AM_R_NONE;
		snprintf(out->why, sizeof out->why, "%s",
			 m != NULL && m->null_sender ? "null sender"
			 : m != NULL && m->mail_domain != NULL &&
				 m->mail_domain[0] == '['
			     ? "address literal"
			     : "no sender domain");
		return 0;
	}
	if (!st->done) {
		sender_eval(c, st, deadline);
		st->done = true;
	}
	*out = st->out;
	return 0;
}

static void
sender_report(struct conn *c, struct msg *m, struct check_slot *cs,
	      struct check_slot *ms, const struct check_outcome *o,
	      struct check_report *r)
{
	(void)c;
	(void)m;
	(void)cs;
	(void)ms;
	check_report_result(r, o, "sender-domain", "sender_domain");
}

static enum am_action
sender_max_action(const struct conf *cf)
{
	return cf->sender_domain_action;
}

const struct check_ops sender_ops = {
    .name = "sender",
    .ready = CHECK_PH_MAIL,
    .on_mail = sender_mail,
    .max_action = sender_max_action,
    .finish = sender_finish,
    .report = sender_report,
    .msg_free = check_slot_free,
};
