/* SPDX-License-Identifier: BSD-2-Clause */
/* dmarcv - DMARC verification per RFC 9989, the "dmarc" check */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "amerr.h"
#include "authres.h"
#include "conf.h"
#include "dkimv.h"
#include "dmarcv.h"
#include "fromaddr.h"
#include "log.h"
#include "metrics.h"
#include "orgdom.h"

enum from_state {
	FROM_NONE = 0,	   /* no From: field */
	FROM_OK,	   /* one usable domain */
	FROM_MANY_FIELDS,  /* several From: fields */
	FROM_BAD_SYNTAX,   /* unparseable or too long */
	FROM_NO_ADDRESS,   /* no address in it */
	FROM_BAD_DOMAIN,   /* an address without a usable domain */
	FROM_MANY_DOMAINS, /* addresses of different domains */
};

struct dstate {
	unsigned int nfrom;	  /* From: fields seen */
	char *from_value;	  /* first From: body, owned */
	size_t from_len;	  /* its octets (cut at cap + 1) */
	bool list_id;		  /* List-Id seen */
	unsigned int ndkim;	  /* DKIM-Signature fields scanned */
	enum from_state from;	  /* From: verdict (at eoh) */
	struct fromaddr_set cand; /* every domain of every From: field
				   * (fail-closed reading) */
	bool failclosed;	  /* permerror: cand's strictest policy
				   * applied as a failure */
	bool fc_dnserr;		  /* a DNS failure may hide a stricter one */
	char fc_domain[ORGDOM_MAX_NAME];   /* the domain it came from */
	bool eoh;			   /* on_eoh ran */
	char from_domain[ORGDOM_MAX_NAME]; /* lower case, when FROM_OK */
	struct orgdom_walk *walk[DMARCV_MAX_WALKS]; /* owned */
	size_t nwalk;
	struct orgdom_walk *from_walk;	 /* one of walk[], or NULL */
	struct dns_query *qexist[3];	 /* A, AAAA, MX of from_domain */
	bool finished;			 /* finish() ran */
	struct check_outcome outcome;	 /* its outcome */
	struct dmarcv_eval ev;		 /* its evaluation */
	bool evaluated;			 /* ev is meaningful */
	bool list_override;		 /* reject lowered for a list */
	char list_dkim[ORGDOM_MAX_NAME]; /* the list's DKIM d= */
	bool exempt; /* DMARCExemptDomains: the policy was not enforced */
};

static struct dstate *
get_state(struct check_slot *ms)
{
	if (ms->state == NULL)
		ms->state = calloc(1, sizeof(struct dstate));
	return ms->state;
}

/* Lower case, no trailing dot, into out; false if it does not fit. */
static bool
norm_domain(const char *in, char *out, size_t outlen)
{
	size_t len = strlen(in), i;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len >= outlen)
		return false;
	for (i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[len] = '\0';
	return true;
}

static struct orgdom_walk *
find_walk(struct dstate *st, const char *domain)
{
	char d[ORGDOM_MAX_NAME];
	size_t i;

	if (!norm_domain(domain, d, sizeof d))
		return NULL;
	for (i = 0; i < st->nwalk; i++)
		if (strcmp(st->walk[i]->domain, d) == 0)
			return st->walk[i];
	return NULL;
}

/* The walk of domain, started now if it is new; NULL if impossible. */
static struct orgdom_walk *
walk_for(struct conn *c, struct dstate *st, const char *domain)
{
	struct orgdom_walk *w = find_walk(st, domain);

	if (w != NULL || st->nwalk >= DMARCV_MAX_WALKS || c->dns == NULL)
		goto out;
	w = calloc(1, sizeof *w);
	if (w == NULL)
		goto out;
	if (orgdom_walk_start(w, c->dns, domain) != 0) {
		free(w);
		w = NULL;
		goto out;
	}
	st->walk[st->nwalk++] = w;
out:
	return w;
}

static int
on_mail(struct conn *c, struct msg *m, struct check_slot *cs,
	struct check_slot *ms)
{
	struct dstate *st = get_state(ms);
	int rc = 0;

	(void)cs;
	if (st == NULL) {
		rc = AM_ENOMEM;
		goto out;
	}
	if (m->mail_domain != NULL && *m->mail_domain != '\0')
		(void)walk_for(c, st, m->mail_domain);
out:
	return rc;
}

static int
on_header(struct conn *c, struct msg *m, struct check_slot *ms,
	  const char *name, const char *value)
{
	struct dstate *st = get_state(ms);
	unsigned int maxsig = SESSION_MAX_SIGS;
	char d[ORGDOM_MAX_NAME];
	int rc = 0;

	(void)m;
	if (st == NULL) {
		rc = AM_ENOMEM;
		goto out;
	}
	if (strcasecmp(name, "From") == 0) {
		fromaddr_harvest(value, strlen(value), &st->cand);
		if (st->nfrom++ == 0) {
			size_t len = strnlen(value, FROMADDR_MAX_INPUT + 1);

			st->from_value = malloc(len + 1);
			if (st->from_value == NULL) {
				rc = AM_ENOMEM;
				goto out;
			}
			memcpy(st->from_value, value, len);
			st->from_value[len] = '\0';
			st->from_len = len;
		}
	} else if (strcasecmp(name, "List-Id") == 0) {
		st->list_id = true;
	} else if (strcasecmp(name, "DKIM-Signature") == 0) {
		if (c->conf != NULL && c->conf->dkim_max_signatures < maxsig)
			maxsig = c->conf->dkim_max_signatures;
		if (st->ndkim >= maxsig)
			goto out;
		st->ndkim++;
		if (dkimv_sig_domain(value, d, sizeof d) == 0)
			(void)walk_for(c, st, d);
	}
out:
	return rc;
}

/* Decide what From: says; sets st->from and st->from_domain. */
static void
parse_from(struct dstate *st)
{
	struct fromaddr_list fl;
	size_t i;

	if (st->nfrom == 0) {
		st->from = FROM_NONE;
		return;
	}
	if (st->nfrom > 1) {
		st->from = FROM_MANY_FIELDS;
		return;
	}
	if (fromaddr_parse(st->from_value, st->from_len, &fl) != 0) {
		st->from = FROM_BAD_SYNTAX;
		return;
	}
	if (fl.total == 0) {
		st->from = FROM_NO_ADDRESS;
		return;
	}
	for (i = 0; i < fl.n; i++) {
		if (!fl.addr[i].domain_ok) {
			st->from = FROM_BAD_DOMAIN;
			return;
		}
		if (strcmp(fl.addr[i].domain, fl.addr[0].domain) != 0) {
			st->from = FROM_MANY_DOMAINS;
			return;
		}
	}
	if (fl.total > fl.n) {
		/* addresses past the cap were not looked at */
		st->from = FROM_MANY_DOMAINS;
		return;
	}
	snprintf(st->from_domain, sizeof st->from_domain, "%s",
		 fl.addr[0].domain);
	st->from = FROM_OK;
}

static int
on_eoh(struct conn *c, struct msg *m, struct check_slot *ms)
{
	struct dstate *st = get_state(ms);
	int rc = 0;

	(void)m;
	if (st == NULL) {
		rc = AM_ENOMEM;
		goto out;
	}
	st->eoh = true;
	parse_from(st);
	if (st->from == FROM_OK) {
		st->from_walk = walk_for(c, st, st->from_domain);
		if (st->from_walk == NULL)
			st->from = FROM_BAD_DOMAIN;
	}
	if (st->from != FROM_OK) {
		/* fail closed: the policy of every domain From: names */
		for (size_t i = 0; i < st->cand.n; i++)
			(void)walk_for(c, st, st->cand.domain[i]);
		goto out;
	}
	/* Does the From domain exist? (np=, RFC 9989 non-existent domain) */
	st->qexist[0] = dns_submit(c->dns, st->from_domain, DNS_T_A);
	st->qexist[1] = dns_submit(c->dns, st->from_domain, DNS_T_AAAA);
	st->qexist[2] = dns_submit(c->dns, st->from_domain, DNS_T_MX);
out:
	return rc;
}

/* ---- evaluation (pure) ---- */

enum tri { T_NO = 0, T_YES, T_UNKNOWN };

/* Is d equal to, or a subdomain of, parent? */
static bool
is_under(const char *d, const char *parent)
{
	size_t dl = strlen(d), pl = strlen(parent);

	if (dl == pl)
		return strcmp(d, parent) == 0;
	return dl > pl && d[dl - pl - 1] == '.' &&
	       strcmp(d + dl - pl, parent) == 0;
}

static enum orgdom_res
org_of(const struct dmarcv_input *in, const char *domain, char *out,
       size_t outlen)
{
	size_t i;

	if (strcmp(domain, in->from_domain) == 0)
		return orgdom_org(in->from_walk, out, outlen);
	for (i = 0; i < in->nwalks; i++)
		if (in->walks[i] != NULL &&
		    strcmp(in->walks[i]->domain, domain) == 0)
			return orgdom_org(in->walks[i], out, outlen);
	if (outlen > 0)
		out[0] = '\0';
	return ORGDOM_TEMPERROR;
}

static enum tri
aligned(const struct dmarcv_input *in, enum dmarc_align mode,
	const char *domain, enum orgdom_res from_res, const char *from_org)
{
	char d[ORGDOM_MAX_NAME], org[ORGDOM_MAX_NAME];

	if (domain == NULL || !norm_domain(domain, d, sizeof d))
		return T_NO;
	if (strcmp(d, in->from_domain) == 0)
		return T_YES;
	if (mode == DMARC_ALIGN_STRICT)
		return T_NO;
	if (from_res != ORGDOM_OK)
		return T_UNKNOWN;
	/* An organizational domain is a suffix of its domain. */
	if (!is_under(d, from_org))
		return T_NO;
	if (org_of(in, d, org, sizeof org) != ORGDOM_OK)
		return T_UNKNOWN;
	return strcmp(org, from_org) == 0 ? T_YES : T_NO;
}

int
dmarcv_evaluate(const struct dmarcv_input *in, struct dmarcv_eval *out)
{
	const struct orgdom_walk *w = in->from_walk;
	const struct dmarc_record *rec;
	const struct auth_results *a = in->auth;
	enum orgdom_res from_res;
	bool maybe = false;
	size_t idx = 0, i;

	memset(out, 0, sizeof *out);
	out->policy = DMARC_P_UNSET;
	out->disposition = DMARC_P_NONE;

	switch (orgdom_policy(w, &idx)) {
	case ORGDOM_TEMPERROR:
		out->result = AM_R_TEMPERROR;
		snprintf(out->why, sizeof out->why,
			 "DNS failure in policy discovery");
		goto out;
	case ORGDOM_NONE:
		if (w->n > 0 && w->step[0].status == ORGDOM_S_INVALID) {
			out->result = AM_R_PERMERROR;
			snprintf(out->why, sizeof out->why,
				 "invalid DMARC record");
		} else {
			out->result = AM_R_NONE;
			snprintf(out->why, sizeof out->why, "no DMARC record");
		}
		goto out;
	case ORGDOM_OK:
		break;
	}
	rec = &w->step[idx].rec;
	snprintf(out->policy_domain, sizeof out->policy_domain, "%s",
		 w->step[idx].name);
	if (!rec->usable) {
		out->result = AM_R_PERMERROR;
		snprintf(out->why, sizeof out->why,
			 "DMARC record without a valid p=");
		goto out;
	}
	out->have_policy = true;
	if (idx == 0)
		out->policy = rec->p;
	else if (in->exists == DMARCV_NXDOMAIN && rec->np != DMARC_P_UNSET)
		out->policy = rec->np;
	else if (rec->sp != DMARC_P_UNSET)
		out->policy = rec->sp;
	else
		out->policy = rec->p;
	out->testing = rec->testing;

	from_res = orgdom_org(w, out->org_domain, sizeof out->org_domain);

	if (a != NULL && a->spf_done && a->spf_domain[0] != '\0' &&
	    (a->spf == AM_R_PASS || a->spf == AM_R_TEMPERROR)) {
		enum tri t = aligned(in, rec->aspf, a->spf_domain, from_res,
				     out->org_domain);

		if (t == T_YES && a->spf == AM_R_PASS)
			out->spf_aligned = true;
		else if (t != T_NO)
			maybe = true;
	}
	for (i = 0; a != NULL && i < a->ndkim && i < SESSION_MAX_SIGS; i++) {
		const struct auth_dkim *k = &a->dkim[i];
		enum tri t;

		if (k->result != AM_R_PASS && k->result != AM_R_TEMPERROR)
			continue;
		t = aligned(in, rec->adkim, k->domain, from_res,
			    out->org_domain);
		if (t == T_YES && k->result == AM_R_PASS) {
			if (!out->dkim_aligned)
				snprintf(out->dkim_domain,
					 sizeof out->dkim_domain, "%s",
					 k->domain);
			out->dkim_aligned = true;
		} else if (t != T_NO) {
			maybe = true;
		}
	}

	if (out->spf_aligned || out->dkim_aligned) {
		out->result = AM_R_PASS;
		out->disposition = DMARC_P_NONE;
		snprintf(out->why, sizeof out->why, "aligned %s%s%s pass",
			 out->spf_aligned ? "spf" : "",
			 out->spf_aligned && out->dkim_aligned ? "+" : "",
			 out->dkim_aligned ? "dkim" : "");
		goto out;
	}
	out->disposition =
	    out->testing ? dmarc_policy_relax(out->policy) : out->policy;
	if (maybe) {
		out->result = AM_R_TEMPERROR;
		snprintf(out->why, sizeof out->why,
			 "DNS failure while checking alignment");
	} else {
		out->result = AM_R_FAIL;
		snprintf(out->why, sizeof out->why,
			 "no aligned SPF or DKIM pass%s",
			 out->testing ? " (t=y)" : "");
	}
out:
	return 0;
}

/* ---- finish and report ---- */

static enum dmarcv_exists
from_exists(struct conn *c, struct dstate *st, const struct timespec *dl)
{
	bool nx = false, unknown = false;
	size_t i;

	for (i = 0; i < 3; i++) {
		const struct dns_answer *a;

		if (st->qexist[i] == NULL)
			return DMARCV_UNKNOWN;
		(void)dns_wait(c->dns, st->qexist[i], dl);
		a = dns_answer(st->qexist[i]);
		if (a->status == DNS_DATA || a->status == DNS_NODATA)
			return DMARCV_EXISTS;
		if (a->status == DNS_NXDOMAIN)
			nx = true;
		else
			unknown = true;
	}
	(void)unknown;
	return nx ? DMARCV_NXDOMAIN : DMARCV_UNKNOWN;
}

static const char *
from_why(enum from_state f)
{
	switch (f) {
	case FROM_NONE:
		return "no From: field";
	case FROM_MANY_FIELDS:
		return "several From: fields";
	case FROM_BAD_SYNTAX:
		return "From: field cannot be parsed";
	case FROM_NO_ADDRESS:
		return "no address in From:";
	case FROM_BAD_DOMAIN:
		return "From: address without a usable domain";
	case FROM_MANY_DOMAINS:
		return "From: addresses of different domains";
	default:
		return "From: ok";
	}
}

/* Start (if needed) and wait for the walk of an identifier's domain. */
static void
need_walk(struct conn *c, struct dstate *st, const char *domain,
	  const struct timespec *dl)
{
	char d[ORGDOM_MAX_NAME];
	struct orgdom_walk *w;

	if (domain == NULL || !norm_domain(domain, d, sizeof d))
		return;
	if (strcmp(d, st->from_domain) == 0 ||
	    !is_under(d, st->ev.org_domain[0] ? st->ev.org_domain
					      : st->from_domain))
		return;
	w = walk_for(c, st, d);
	if (w != NULL)
		orgdom_walk_wait(w, c->dns, dl);
}

/*
 * The fail-closed reading of a From: that gives permerror (SPEC "Checks",
 * DMARC): the policy of every domain From: names is looked up and the
 * strictest applies as if DMARC had failed for it (each domain's own t=
 * relaxes its own disposition; np= counts where it is stricter). More
 * domains than can be looked up count as a reject. Fills st->ev (result
 * stays permerror) and st->fc_domain; returns whether a DNS failure may
 * hide a stricter policy.
 */
static bool
fail_closed(struct conn *c, struct dstate *st, const struct timespec *dl)
{
	struct dmarcv_eval *best = &st->ev, ev;
	bool dnserr = false;

	memset(best, 0, sizeof *best);
	best->policy = DMARC_P_UNSET;
	best->disposition = DMARC_P_NONE;
	for (size_t i = 0; i < st->cand.n; i++) {
		struct orgdom_walk *w = find_walk(st, st->cand.domain[i]);
		struct dmarcv_input in = {0};

		if (w == NULL)
			continue; /* not a name a policy can be published at */
		orgdom_walk_wait(w, c->dns, dl);
		in.from_domain = w->domain;
		in.from_walk = w;
		for (int nx = 0; nx < 2; nx++) {
			in.exists = nx ? DMARCV_NXDOMAIN : DMARCV_EXISTS;
			dmarcv_evaluate(&in, &ev);
			if (ev.result == AM_R_TEMPERROR)
				dnserr = true;
			if (!ev.have_policy ||
			    (best->have_policy &&
			     ev.disposition <= best->disposition))
				continue;
			*best = ev;
			snprintf(st->fc_domain, sizeof st->fc_domain, "%s",
				 w->domain);
		}
	}
	if (st->cand.overflow) {
		best->have_policy = true;
		best->policy = best->disposition = DMARC_P_REJECT;
		snprintf(st->fc_domain, sizeof st->fc_domain, "%s",
			 st->cand.domain[0]);
	}
	best->result = AM_R_PERMERROR;
	st->failclosed = best->have_policy;
	if (st->cand.overflow)
		snprintf(best->why, sizeof best->why,
			 "%.40s; more than %d domains in From:, treated as "
			 "p=reject",
			 from_why(st->from), FROMADDR_MAX_DOMAINS);
	else if (st->failclosed)
		snprintf(best->why, sizeof best->why,
			 "%.40s; strictest policy applied: %s of %.60s",
			 from_why(st->from), dmarc_policy_str(best->policy),
			 st->fc_domain);
	else
		snprintf(best->why, sizeof best->why, "%s", from_why(st->from));
	st->evaluated = true;
	return dnserr;
}

static enum am_action
max_action(const struct conf *cf)
{
	if (cf == NULL || !cf->dmarc_enforce)
		return AM_ACT_NONE;
	return cf->dmarc_reject_action > cf->dmarc_quarantine_action
		   ? cf->dmarc_reject_action
		   : cf->dmarc_quarantine_action;
}

/* The configured action for a disposition (DMARCEnforce on). */
static enum am_action
disposition_action(const struct conf *cf, enum dmarc_policy d)
{
	if (cf == NULL)
		return AM_ACT_NONE;
	if (d == DMARC_P_REJECT)
		return cf->dmarc_reject_action;
	if (d == DMARC_P_QUARANTINE)
		return cf->dmarc_quarantine_action;
	return AM_ACT_NONE;
}

static void
decide(struct conn *c, struct msg *m, struct dstate *st,
       struct check_outcome *out)
{
	const struct conf *cf = c->conf;
	struct dmarcv_eval *ev = &st->ev;
	size_t i;

	out->result = ev->result;
	out->action = AM_ACT_NONE;
	snprintf(out->why, sizeof out->why, "%s", ev->why);
	if (cf != NULL && !cf->dmarc_enforce)
		return;

	if ((ev->result == AM_R_FAIL || st->failclosed) &&
	    ev->disposition == DMARC_P_REJECT) {
		out->action =
		    cf != NULL ? cf->dmarc_reject_action : AM_ACT_REJECT;
		/* Mailing-list traffic (SPEC "Checks", RFC 9989 5.3.3). */
		for (i = 0;
		     st->list_id && i < m->auth.ndkim && i < SESSION_MAX_SIGS;
		     i++) {
			if (m->auth.dkim[i].result == AM_R_PASS) {
				st->list_override = true;
				snprintf(st->list_dkim, sizeof st->list_dkim,
					 "%s", m->auth.dkim[i].domain);
				break;
			}
		}
		if (st->list_override) {
			if (out->action > AM_ACT_QUARANTINE)
				out->action = AM_ACT_QUARANTINE;
			snprintf(out->why, sizeof out->why,
				 "%.40s; mailing list (List-Id, dkim pass "
				 "d=%.48s): reject lowered to quarantine",
				 ev->why, st->list_dkim);
		}
		snprintf(out->rcode, sizeof out->rcode, "550");
		snprintf(out->xcode, sizeof out->xcode, "5.7.1");
		snprintf(out->reply, sizeof out->reply,
			 "Rejected by DMARC policy for %.200s",
			 st->failclosed ? st->fc_domain : st->from_domain);
	} else if ((ev->result == AM_R_FAIL || st->failclosed) &&
		   ev->disposition == DMARC_P_QUARANTINE) {
		out->action = cf != NULL ? cf->dmarc_quarantine_action
					 : AM_ACT_QUARANTINE;
	} else if (ev->result == AM_R_TEMPERROR) {
		/*
		 * What the policy could have asked for had DNS answered:
		 * anything, when discovery failed; the disposition, when
		 * only alignment is unknown (p=none: nothing).
		 */
		check_outcome_temperror(
		    out, !ev->have_policy
			     ? max_action(cf)
			     : disposition_action(cf, ev->disposition));
	} else if (st->fc_dnserr) {
		/* a From: domain's policy is unknown: it may be reject */
		out->dns_failed = true;
		out->at_stake = max_action(cf);
	}
}

/*
 * DMARCExemptDomains: the policy of a listed From: domain (or one under
 * it) is evaluated and recorded, never enforced; that it would have
 * acted is logged and counted.
 */
static void
decide_exempt(struct conn *c, struct msg *m, struct dstate *st,
	      struct check_outcome *out)
{
	const char *dom = st->failclosed ? st->fc_domain : st->from_domain;
	size_t len;

	decide(c, m, st, out);
	if (out->action == AM_ACT_NONE && out->at_stake == AM_ACT_NONE)
		return;
	if (!conf_dmarc_exempt(c->conf, dom))
		return;
	st->exempt = true;
	log_sinfo(c->sid, "dmarc: %s of %s not enforced (DMARCExemptDomains)",
		  am_action_str(out->action != AM_ACT_NONE ? out->action
							   : out->at_stake),
		  dom);
	out->action = AM_ACT_NONE;
	out->at_stake = AM_ACT_NONE;
	len = strlen(out->why);
	if (len + 40 < sizeof out->why)
		snprintf(out->why + len, sizeof out->why - len,
			 "; not enforced: DMARCExemptDomains");
	metrics_exempt(true);
}

static int
finish(struct conn *c, struct msg *m, struct check_slot *cs,
       struct check_slot *ms, const struct timespec *deadline,
       struct check_outcome *out)
{
	struct dstate *st = get_state(ms);
	struct dmarcv_input in;
	size_t idx, i;
	int rc = 0;

	(void)cs;
	if (st == NULL) {
		rc = AM_ENOMEM;
		goto out;
	}
	if (st->finished) {
		*out = st->outcome;
		goto out;
	}
	memset(out, 0, sizeof *out);
	if (!st->eoh)
		parse_from(st);
	if (st->from != FROM_OK || st->from_walk == NULL) {
		if (st->from == FROM_OK)
			st->from = FROM_BAD_DOMAIN;
		if (!st->eoh)
			for (i = 0; i < st->cand.n; i++)
				(void)walk_for(c, st, st->cand.domain[i]);
		st->fc_dnserr = fail_closed(c, st, deadline);
		decide_exempt(c, m, st, out);
		goto done;
	}

	orgdom_walk_wait(st->from_walk, c->dns, deadline);
	memset(&in, 0, sizeof in);
	in.from_domain = st->from_walk->domain;
	in.from_walk = st->from_walk;
	in.auth = &m->auth;
	in.exists = DMARCV_EXISTS;
	if (orgdom_policy(st->from_walk, &idx) == ORGDOM_OK && idx > 0 &&
	    st->from_walk->step[idx].rec.np != DMARC_P_UNSET)
		in.exists = from_exists(c, st, deadline);

	/* The walks relaxed alignment needs (most are already in). */
	if (orgdom_org(st->from_walk, st->ev.org_domain,
		       sizeof st->ev.org_domain) == ORGDOM_OK) {
		if (m->auth.spf_done && m->auth.spf_domain[0] != '\0')
			need_walk(c, st, m->auth.spf_domain, deadline);
		for (i = 0; i < m->auth.ndkim && i < SESSION_MAX_SIGS; i++)
			need_walk(c, st, m->auth.dkim[i].domain, deadline);
	}
	in.walks = (const struct orgdom_walk *const *)st->walk;
	in.nwalks = st->nwalk;
	dmarcv_evaluate(&in, &st->ev);
	st->evaluated = true;

	if (c->conf != NULL && st->ev.org_domain[0] != '\0')
		(void)orgdom_psl_check(c->sid, c->conf->public_suffix_list,
				       st->from_domain, st->ev.org_domain);
	decide_exempt(c, m, st, out);
done:
	out->done = true;
	st->outcome = *out;
	st->finished = true;
	if (st->list_override)
		log_sinfo(c->sid, "dmarc: %s", out->why);
out:
	return rc;
}

/*
 * The policy in the log line: where it was found, its p/sp/np and t,
 * the disposition and what overrode it (a mailing list, local policy
 * (DMARCEnforce no, DMARCExemptDomains) or DryRun).
 */
static void
log_policy(struct conn *c, const struct dstate *st,
	   const struct check_outcome *o, struct check_report *r)
{
	const struct dmarc_record *rec = NULL;
	size_t idx;
	const char *why = NULL;
	enum dmarc_policy dis;

	if (!st->evaluated || !st->ev.have_policy)
		return;
	if (st->from_walk != NULL &&
	    orgdom_policy(st->from_walk, &idx) == ORGDOM_OK)
		rec = &st->from_walk->step[idx].rec;
	if (st->ev.policy_domain[0] != '\0')
		r->logf(r, "dmarc_domain", st->ev.policy_domain);
	if (rec != NULL) {
		r->logf(r, "dmarc_p", dmarc_policy_str(rec->p));
		if (rec->sp != DMARC_P_UNSET)
			r->logf(r, "dmarc_sp", dmarc_policy_str(rec->sp));
		if (rec->np != DMARC_P_UNSET)
			r->logf(r, "dmarc_np", dmarc_policy_str(rec->np));
	}
	r->logf(r, "dmarc_t", st->ev.testing ? "y" : "n");
	dis = o->result == AM_R_FAIL || o->result == AM_R_TEMPERROR ||
		      st->failclosed
		  ? st->ev.disposition
		  : DMARC_P_NONE;
	if (st->list_override)
		dis = DMARC_P_QUARANTINE;
	r->logf(r, "dmarc_dis", dmarc_policy_str(dis));
	if (st->list_override)
		why = "mailing_list";
	else if (dis != DMARC_P_NONE && dis != DMARC_P_UNSET &&
		 (st->exempt || (c->conf != NULL && !c->conf->dmarc_enforce)))
		why = "local_policy";
	else if (dis != DMARC_P_NONE && dis != DMARC_P_UNSET &&
		 c->conf != NULL && c->conf->dry_run && o->action != 0)
		why = "dry_run";
	if (why != NULL)
		r->logf(r, "dmarc_override", why);
}

static void
report(struct conn *c, struct msg *m, struct check_slot *cs,
       struct check_slot *ms, const struct check_outcome *o,
       struct check_report *r)
{
	struct dstate *st = ms->state;
	char comment[256];

	(void)c;
	(void)m;
	(void)cs;
	if (r->ar != NULL &&
	    authres_method(r->ar, "dmarc", am_result_str(o->result)) == 0) {
		if (st != NULL && st->failclosed) {
			snprintf(comment, sizeof comment, "%.140s; dis=%s%s",
				 st->ev.why,
				 dmarc_policy_str(st->list_override
						      ? DMARC_P_QUARANTINE
						      : st->ev.disposition),
				 st->list_override ? "; mailing list: reject "
						     "lowered to quarantine"
						   : "");
			authres_comment(r->ar, comment);
		} else if (st != NULL && st->evaluated && st->ev.have_policy) {
			snprintf(comment, sizeof comment, "p=%s dis=%s%s",
				 dmarc_policy_str(st->ev.policy),
				 st->list_override ? "quarantine"
				 : o->result == AM_R_FAIL ||
					 o->result == AM_R_TEMPERROR
				     ? dmarc_policy_str(st->ev.disposition)
				     : "none",
				 st->list_override
				     ? "; mailing list: reject lowered "
				       "to quarantine"
				     : "");
			authres_comment(r->ar, comment);
		} else if (o->result == AM_R_PERMERROR) {
			authres_comment(r->ar, o->why);
		}
		if (st != NULL && st->from == FROM_OK)
			authres_prop(r->ar, "header", "from", st->from_domain);
		else if (st != NULL && st->failclosed)
			authres_prop(r->ar, "header", "from", st->fc_domain);
	}
	if (r->logf != NULL) {
		r->logf(r, "dmarc", am_result_str(o->result));
		if (st != NULL && st->from == FROM_OK)
			r->logf(r, "from_domain", st->from_domain);
		else if (st != NULL && st->failclosed)
			r->logf(r, "from_domain", st->fc_domain);
		else if (st != NULL && st->cand.n > 0)
			r->logf(r, "from_domain", st->cand.domain[0]);
		if (st != NULL)
			log_policy(c, st, o, r);
		if (o->result != AM_R_PASS)
			r->logf(r, "dmarc_why", o->why);
	}
}

/* The record that applied, or NULL (p=reject for too many domains). */
static const struct dmarc_record *
applied_record(const struct dstate *st, const struct orgdom_walk **wp)
{
	const struct orgdom_walk *w = st->from_walk;
	size_t idx;

	if (st->failclosed) {
		w = NULL;
		for (size_t i = 0; i < st->nwalk; i++)
			if (strcmp(st->walk[i]->domain, st->fc_domain) == 0)
				w = st->walk[i];
	}
	*wp = w;
	if (w == NULL || orgdom_policy(w, &idx) != ORGDOM_OK)
		return NULL;
	return &w->step[idx].rec;
}

bool
dmarcv_history(const struct check_slot *ms, const struct msg *m,
	       const struct conf *cf, struct history_row *row)
{
	const struct dstate *st = ms != NULL ? ms->state : NULL;
	const struct dmarc_record *rec;
	const struct orgdom_walk *w;
	struct dmarcv_input in;
	char org[ORGDOM_MAX_NAME];
	enum orgdom_res org_res;
	bool failed;
	size_t n;

	if (st == NULL || !st->finished || !st->evaluated ||
	    !st->ev.have_policy)
		return false;
	rec = applied_record(st, &w);
	snprintf(row->header_from, sizeof row->header_from, "%s",
		 st->failclosed ? st->fc_domain : st->from_domain);
	snprintf(row->policy_domain, sizeof row->policy_domain, "%s",
		 st->ev.policy_domain[0] != '\0' ? st->ev.policy_domain
						 : row->header_from);
	row->p = rec != NULL ? rec->p : st->ev.policy;
	row->sp = rec != NULL ? rec->sp : DMARC_P_UNSET;
	row->np = rec != NULL ? rec->np : DMARC_P_UNSET;
	row->adkim = rec != NULL ? rec->adkim : DMARC_ALIGN_RELAXED;
	row->aspf = rec != NULL ? rec->aspf : DMARC_ALIGN_RELAXED;
	row->testing = rec != NULL && rec->testing;
	row->psd = rec != NULL ? rec->psd : DMARC_PSD_U;
	row->discovery_walk = true;
	row->dmarc = st->outcome.result;
	row->dkim_aligned = st->ev.dkim_aligned;
	row->spf_aligned = st->ev.spf_aligned;

	/* what DMARC asked for, and why it is less than the policy */
	/* a temperror is no failure: the policy was not applied */
	failed = st->outcome.result == AM_R_FAIL || st->failclosed;
	row->disposition = failed ? st->ev.disposition : DMARC_P_NONE;
	if (row->disposition == DMARC_P_UNSET)
		row->disposition = DMARC_P_NONE;
	if (failed && st->ev.testing && st->ev.disposition != st->ev.policy)
		row->overrides |= HISTORY_OV_POLICY_TEST_MODE;
	if (st->list_override) {
		row->disposition = DMARC_P_QUARANTINE;
		row->overrides |= HISTORY_OV_MAILING_LIST;
		snprintf(row->override_comment, sizeof row->override_comment,
			 "List-Id, DKIM pass of %.60s: reject lowered",
			 st->list_dkim);
	}
	if (row->disposition != DMARC_P_NONE &&
	    (st->exempt || (cf != NULL && !cf->dmarc_enforce))) {
		row->overrides |= HISTORY_OV_LOCAL_POLICY;
		snprintf(row->override_comment, sizeof row->override_comment,
			 "%s",
			 st->exempt ? "DMARCExemptDomains" : "DMARCEnforce no");
	}

	if (m->auth.spf_done) {
		snprintf(row->spf_domain, sizeof row->spf_domain, "%s",
			 m->auth.spf_domain);
		row->spf_helo = m->auth.spf_helo;
		row->spf = m->auth.spf;
	}
	memset(&in, 0, sizeof in);
	in.from_domain = row->header_from;
	in.from_walk = w;
	in.walks = (const struct orgdom_walk *const *)st->walk;
	in.nwalks = st->nwalk;
	org_res = w != NULL ? orgdom_org(w, org, sizeof org) : ORGDOM_NONE;
	n = m->auth.ndkim < SESSION_MAX_SIGS ? m->auth.ndkim : SESSION_MAX_SIGS;
	row->ndkim = 0;
	for (size_t i = 0; i < n; i++) {
		const struct auth_dkim *d = &m->auth.dkim[i];
		struct history_dkim *h;

		if (row->ndkim == HISTORY_MAX_DKIM) {
			row->dkim_omitted++;
			continue;
		}
		h = &row->dkim[row->ndkim++];
		snprintf(h->domain, sizeof h->domain, "%s", d->domain);
		snprintf(h->selector, sizeof h->selector, "%s", d->selector);
		h->result = d->result;
		h->aligned = w != NULL && aligned(&in, row->adkim, d->domain,
						  org_res, org) == T_YES;
	}
	return true;
}

static void
msg_free(struct check_slot *ms)
{
	struct dstate *st;
	size_t i;

	if (ms == NULL || ms->state == NULL)
		return;
	st = ms->state;
	for (i = 0; i < st->nwalk; i++)
		free(st->walk[i]);
	free(st->from_value);
	free(st);
	ms->state = NULL;
}

const struct check_ops dmarcv_ops = {
    .name = "dmarc",
    .ready = CHECK_PH_EOM,
    .on_mail = on_mail,
    .on_header = on_header,
    .on_eoh = on_eoh,
    .max_action = max_action,
    .finish = finish,
    .report = report,
    .msg_free = msg_free,
};
