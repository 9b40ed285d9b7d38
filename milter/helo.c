/* SPDX-License-Identifier: BSD-2-Clause */
/* helo - the HELO/EHLO name against the client IP */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "amerr.h"
#include "dns.h"
#include "helo.h"
#include "log.h"

#define HELO_REPLY_NAME 200 /* octets of the name quoted in a reply */

struct helo_state {
	char name[256];		  /* HELO name without a trailing dot; "" if
				   * too long */
	struct dns_query *q;	  /* address query or NULL: the set's */
	bool done;		  /* out is final */
	struct check_outcome out; /* decided at HELO or in finish() */
};

bool
helo_is_fqdn(const char *name)
{
	size_t len = strlen(name), lab = 0, labstart = 0, dots = 0;
	bool numeric = true;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i <= len; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch == '.' || ch == '\0') {
			if (lab == 0 || lab > 63 || name[labstart] == '-' ||
			    name[i - 1] == '-')
				return false;
			if (ch == '.')
				dots++;
			lab = 0;
			labstart = i + 1;
			if (ch == '.')
				numeric = true;
			continue;
		}
		if (!isalnum(ch) && ch != '-' && ch != '_')
			return false;
		if (!isdigit(ch))
			numeric = false;
		lab++;
	}
	/* numeric is now about the last label: "192.0.2.1" is no FQDN. */
	return dots > 0 && !numeric;
}

static void
helo_decide(struct conn *c, struct helo_state *st, enum am_result r,
	    const char *why)
{
	struct check_outcome *out = &st->out;
	char safe[HELO_REPLY_NAME + 1];

	memset(out, 0, sizeof *out);
	out->done = true;
	out->result = r;
	snprintf(out->why, sizeof out->why, "%s", why);
	out->action = AM_ACT_NONE;
	if (r == AM_R_FAIL) {
		out->action = c->conf->helo_action;
		check_outcome_reply(
		    out, "550", "5.7.1",
		    "HELO name %s does not match client [%s]",
		    check_reply_safe(c->helo, safe, sizeof safe), c->ip);
	}
	st->done = true;
}

/* An address literal: equal to the client IP or not. */
static void
helo_literal(struct conn *c, struct helo_state *st, const char *lit)
{
	char in[INET6_ADDRSTRLEN + 8];
	size_t len = strlen(lit);
	struct in6_addr a6;
	struct in_addr a4;
	bool ok, same = false;

	if (len < 3 || lit[len - 1] != ']' || len - 2 >= sizeof in) {
		helo_decide(c, st, AM_R_FAIL, "invalid address literal");
		return;
	}
	memcpy(in, lit + 1, len - 2);
	in[len - 2] = '\0';
	if (strncasecmp(in, "IPv6:", 5) == 0) {
		ok = inet_pton(AF_INET6, in + 5, &a6) == 1;
		if (ok && IN6_IS_ADDR_V4MAPPED(&a6)) {
			memcpy(&a4, &a6.s6_addr[12], 4);
			same = c->family == AF_INET &&
			       a4.s_addr == c->addr.v4.s_addr;
		} else if (ok) {
			same = c->family == AF_INET6 &&
			       memcmp(&a6, &c->addr.v6, sizeof a6) == 0;
		}
	} else {
		ok = inet_pton(AF_INET, in, &a4) == 1;
		same = ok && c->family == AF_INET &&
		       a4.s_addr == c->addr.v4.s_addr;
	}
	if (!ok)
		helo_decide(c, st, AM_R_FAIL, "invalid address literal");
	else if (same)
		helo_decide(c, st, AM_R_PASS, "address literal");
	else
		helo_decide(c, st, AM_R_FAIL,
			    "address literal is not the client IP");
}

static bool
helo_is_ours(const struct conn *c, const char *name)
{
	const char *own[2] = {c->our_name, c->conf->authserv_id};

	for (size_t i = 0; i < 2; i++) {
		size_t len;

		if (own[i] == NULL || own[i][0] == '\0')
			continue;
		len = strlen(own[i]);
		if (own[i][len - 1] == '.')
			len--;
		if (strlen(name) == len && strncasecmp(name, own[i], len) == 0)
			return true;
	}
	return false;
}

static int
helo_helo(struct conn *c, struct check_slot *cs)
{
	struct helo_state *st = cs->state;
	size_t len;

	if (c->skip)
		return 0;
	if (st == NULL) {
		st = calloc(1, sizeof *st);
		if (st == NULL)
			return AM_ENOMEM;
		cs->state = st;
	}
	memset(st, 0, sizeof *st); /* a new HELO/EHLO replaces the old */
	if (c->helo == NULL || c->helo[0] == '\0') {
		helo_decide(c, st, AM_R_NONE, "no HELO name");
		return 0;
	}
	if (c->helo[0] == '[') {
		helo_literal(c, st, c->helo);
		return 0;
	}
	len = strlen(c->helo);
	if (len < sizeof st->name) {
		memcpy(st->name, c->helo, len + 1);
		if (len > 1 && st->name[len - 1] == '.')
			st->name[len - 1] = '\0';
	}
	if (!helo_is_fqdn(st->name)) {
		helo_decide(c, st, AM_R_FAIL, "not a fully qualified name");
		return 0;
	}
	if (helo_is_ours(c, st->name)) {
		helo_decide(c, st, AM_R_FAIL, "claims our own name");
		return 0;
	}
	st->q = dns_submit(c->dns, st->name,
			   c->family == AF_INET6 ? DNS_T_AAAA : DNS_T_A);
	return 0;
}

static void
helo_eval(struct conn *c, struct helo_state *st,
	  const struct timespec *deadline)
{
	const struct dns_answer *a;
	size_t n;

	dns_wait(c->dns, st->q, deadline);
	a = dns_answer(st->q);
	switch (a->status) {
	case DNS_DATA:
		n = a->n < DNS_MAX_RR ? a->n : DNS_MAX_RR;
		for (size_t i = 0; i < n; i++) {
			if ((c->family == AF_INET &&
			     a->rr[i].a.s_addr == c->addr.v4.s_addr) ||
			    (c->family == AF_INET6 &&
			     memcmp(&a->rr[i].aaaa, &c->addr.v6,
				    sizeof c->addr.v6) == 0)) {
				helo_decide(c, st, AM_R_PASS,
					    "resolves to the client IP");
				return;
			}
		}
		helo_decide(c, st, AM_R_FAIL, "resolves elsewhere");
		return;
	case DNS_NXDOMAIN:
		helo_decide(c, st, AM_R_FAIL, "name does not exist");
		return;
	case DNS_NODATA:
		helo_decide(c, st, AM_R_FAIL,
			    c->family == AF_INET6 ? "no AAAA record"
						  : "no A record");
		return;
	case DNS_INVALID:
		helo_decide(c, st, AM_R_FAIL, "not a valid name");
		return;
	default:
		helo_decide(c, st, AM_R_NONE, "");
		check_outcome_temperror(&st->out, c->conf->helo_action);
		snprintf(st->out.why, sizeof st->out.why, "lookup: %s",
			 dns_status_str(a->status));
		return;
	}
}

static int
helo_finish(struct conn *c, struct msg *m, struct check_slot *cs,
	    struct check_slot *ms, const struct timespec *deadline,
	    struct check_outcome *out)
{
	struct helo_state *st = cs->state;

	(void)m;
	(void)ms;
	if (st == NULL) {
		memset(out, 0, sizeof *out);
		out->done = true;
		out->result = AM_R_NONE;
		snprintf(out->why, sizeof out->why, "no HELO name");
		return 0;
	}
	if (!st->done)
		helo_eval(c, st, deadline);
	*out = st->out;
	return 0;
}

static void
helo_report(struct conn *c, struct msg *m, struct check_slot *cs,
	    struct check_slot *ms, const struct check_outcome *o,
	    struct check_report *r)
{
	(void)c;
	(void)m;
	(void)cs;
	(void)ms;
	check_report_result(r, o, "helo", "helo_result");
}

static enum am_action
helo_max_action(const struct conf *cf)
{
	return cf->helo_action;
}

const struct check_ops helo_ops = {
    .name = "helo",
    .ready = CHECK_PH_HELO,
    .on_helo = helo_helo,
    .max_action = helo_max_action,
    .finish = helo_finish,
    .report = helo_report,
    .conn_free = check_slot_free,
};
