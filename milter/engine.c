/* SPDX-License-Identifier: BSD-2-Clause */
/* engine - check hooks, decisions, reports and renderings of a session */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "amerr.h"
#include "authres.h"
#include "check.h"
#include "checks.h"
#include "dns.h"
#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "session.h"

#define ENGINE_EOM_SHARE 4	 /* 1/4 of DNSTimeout kept for end of message */
#define ENGINE_WAIT_SLACK_MS 100 /* waits this short cut no deadline */

#define EACH_CHECK(i, ops)                                                     \
	for (size_t i = 0; i < checks_count() && i < SESSION_MAX_CHECKS; i++)  \
		for (const struct check_ops *ops = checks_get(i); ops != NULL; \
		     ops = NULL)

static const char *
qid_or_dash(const struct msg *m)
{
	return m != NULL && m->qid[0] != '\0' ? m->qid : "-";
}

int
engine_set_sender(struct msg *m, const char *arg)
{
	size_t len = strlen(arg), dlen;
	const char *at;

	if (len >= 2 && arg[0] == '<' && arg[len - 1] == '>') {
		arg++;
		len -= 2;
	} else if (len >= 1 && arg[0] == '<') {
		arg++;
		len--;
	}
	at = memrchr(arg, '@', len);
	dlen = at != NULL ? len - (size_t)(at - arg) : 0;
	if (len <= SESSION_MAX_NAME) {
		m->mail_from = strndup(arg, len);
	} else if (at != NULL && dlen < SESSION_MAX_NAME / 2) {
		/*
		 * Over the cap: the local part is cut, never the domain, so
		 * that SPF and the sender check ask about the real one
		 * (a cut domain could be another, valid name).
		 */
		size_t keep = SESSION_MAX_NAME - dlen;

		m->mail_from = malloc(SESSION_MAX_NAME + 1);
		if (m->mail_from != NULL) {
			memcpy(m->mail_from, arg, keep);
			memcpy(m->mail_from + keep, at, dlen);
			m->mail_from[SESSION_MAX_NAME] = '\0';
		}
	} else {
		/* a domain this long is no host name, cut or not */
		m->mail_from = strndup(arg, SESSION_MAX_NAME);
	}
	if (m->mail_from == NULL)
		return AM_ENOMEM;
	m->null_sender = m->mail_from[0] == '\0';
	at = strrchr(m->mail_from, '@');
	if (at != NULL && at[1] != '\0') {
		m->mail_domain = strdup(at + 1);
		if (m->mail_domain == NULL)
			return AM_ENOMEM;
		for (char *p = m->mail_domain; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	return 0;
}

bool
engine_has_body_hook(void)
{
	EACH_CHECK(i, ops)
	if (ops->on_body != NULL)
		return true;
	return false;
}

/* Let each check send what the answers in so far make known. */
static void
engine_progress(struct conn *c, struct msg *m)
{
	EACH_CHECK(i, ops)
	{
		if (ops->progress != NULL && !(c->relay && ops->about_client))
			ops->progress(c, m, &c->slot[i],
				      m != NULL ? &m->slot[i] : NULL);
	}
}

/* The phase hooks engine_run() calls, and what they are given. */
enum engine_hook {
	HOOK_CONNECT,
	HOOK_HELO,
	HOOK_MAIL,
	HOOK_RCPT,
	HOOK_HEADER,
	HOOK_EOH,
	HOOK_BODY,
};

struct hook_args {
	const char *a;		    /* RCPT: the recipient; HEADER: the name */
	const char *b;		    /* HEADER: the value */
	const unsigned char *chunk; /* BODY */
	size_t len;		    /* BODY */
};

/*
 * Run one phase hook of every check in table order (after progress(),
 * except at connect): 0, or the first check's negative AM_E* code with
 * *who set to its name.
 */
static int
engine_run(struct conn *c, struct msg *m, enum engine_hook h,
	   const struct hook_args *x, const char **who)
{
	int rc = 0;

	if (h != HOOK_CONNECT)
		engine_progress(c, m);
	EACH_CHECK(i, ops)
	{
		struct check_slot *cs = &c->slot[i];
		struct check_slot *ms = m != NULL ? &m->slot[i] : NULL;

		if (c->relay && ops->about_client)
			continue; /* a trusted relay: not about the sender */
		switch (h) {
		case HOOK_CONNECT:
			rc = ops->on_connect ? ops->on_connect(c, cs) : 0;
			break;
		case HOOK_HELO:
			rc = ops->on_helo ? ops->on_helo(c, cs) : 0;
			break;
		case HOOK_MAIL:
			rc = ops->on_mail ? ops->on_mail(c, m, cs, ms) : 0;
			break;
		case HOOK_RCPT:
			rc =
			    ops->on_rcpt ? ops->on_rcpt(c, m, cs, ms, x->a) : 0;
			break;
		case HOOK_HEADER:
			rc = ops->on_header
				 ? ops->on_header(c, m, ms, x->a, x->b)
				 : 0;
			break;
		case HOOK_EOH:
			rc = ops->on_eoh ? ops->on_eoh(c, m, ms) : 0;
			break;
		case HOOK_BODY:
			rc = ops->on_body
				 ? ops->on_body(c, m, ms, x->chunk, x->len)
				 : 0;
			break;
		}
		if (rc < 0) {
			*who = ops->name;
			break;
		}
	}
	return rc;
}

int
engine_connect(struct conn *c, const char **who)
{
	return engine_run(c, NULL, HOOK_CONNECT, NULL, who);
}

int
engine_helo(struct conn *c, const char **who)
{
	return engine_run(c, NULL, HOOK_HELO, NULL, who);
}

int
engine_mail(struct conn *c, struct msg *m, const char **who)
{
	return engine_run(c, m, HOOK_MAIL, NULL, who);
}

int
engine_rcpt(struct conn *c, struct msg *m, const char *rcpt, const char **who)
{
	struct hook_args x = {.a = rcpt};

	return engine_run(c, m, HOOK_RCPT, &x, who);
}

/*
 * Past the header cap: the MIME fields that decide how the body is read
 * still reach the checks that read the MIME structure (mime_headers).
 */
static int
engine_mime_header(struct conn *c, struct msg *m, const char *name,
		   const char *value, const char **who)
{
	int rc = 0;

	if (strcasecmp(name, "Content-Type") != 0 &&
	    strcasecmp(name, "Content-Transfer-Encoding") != 0 &&
	    strcasecmp(name, "MIME-Version") != 0)
		return 0;
	EACH_CHECK(i, ops)
	{
		if (!ops->mime_headers || ops->on_header == NULL ||
		    (c->relay && ops->about_client))
			continue;
		rc = ops->on_header(c, m, &m->slot[i], name, value);
		if (rc < 0) {
			*who = ops->name;
			break;
		}
	}
	return rc;
}

int
engine_header(struct conn *c, struct msg *m, const char *name,
	      const char *value, const char **who)
{
	struct hook_args x = {.a = name, .b = value};

	/*
	 * Past the cap only From: fields still reach the checks: DMARC
	 * must see every one (a From: hidden behind a header flood would
	 * otherwise read as no From:); a DKIM signature or a header it
	 * covers past the cap is simply not verified (never a pass).
	 */
	if (m->nheaders >= SESSION_MAX_HEADERS) {
		if (!m->headers_capped)
			log_sinfo(c->sid,
				  "qid=%s: more than %d headers: only From: "
				  "fields past the cap are checked",
				  qid_or_dash(m), SESSION_MAX_HEADERS);
		m->headers_capped = true;
		if (strcasecmp(name, "From") != 0) {
			engine_progress(c, m);
			return engine_mime_header(c, m, name, value, who);
		}
	} else {
		m->nheaders++;
	}
	return engine_run(c, m, HOOK_HEADER, &x, who);
}

int
engine_eoh(struct conn *c, struct msg *m, const char **who)
{
	return engine_run(c, m, HOOK_EOH, NULL, who);
}

int
engine_body(struct conn *c, struct msg *m, const unsigned char *chunk,
	    size_t len, const char **who)
{
	struct hook_args x = {.chunk = chunk, .len = len};

	return engine_run(c, m, HOOK_BODY, &x, who);
}

/*
 * Make v a tempfail that no check's result can weaken (only a reject
 * stays): the DNS budget or DNS down (SPEC "DNS down is not a remote
 * error"). DryRun still only says what it would do.
 */
static void
force_tempfail(const struct conf *cf, struct policy_verdict *v,
	       const char *xcode, const char *reply, const char *why)
{
	if (v->wanted >= AM_ACT_REJECT)
		return;
	v->wanted = AM_ACT_TEMPFAIL;
	v->action = AM_ACT_TEMPFAIL;
	v->dry_run = false;
	v->check = "dns";
	snprintf(v->why, sizeof v->why, "%s", why);
	snprintf(v->rcode, sizeof v->rcode, "451");
	snprintf(v->xcode, sizeof v->xcode, "%s", xcode);
	snprintf(v->reply, sizeof v->reply, "%s", reply);
	if (strstr(v->failed, "dns") == NULL) {
		size_t len = strlen(v->failed);

		if (len + 5 < sizeof v->failed)
			snprintf(v->failed + len, sizeof v->failed - len,
				 "%sdns", len ? "," : "");
	}
	if (cf->dry_run) {
		v->dry_run = true;
		v->action = AM_ACT_NONE;
	}
}

void
engine_dns_error(const struct conf *cf, struct check_outcome *o)
{
	if (o->dns_failed && o->at_stake >= AM_ACT_TEMPFAIL &&
	    cf->on_dns_error == ONDNS_TEMPFAIL && o->action < AM_ACT_TEMPFAIL)
		check_outcome_dns_tempfail(o);
}

/*
 * How long a decision may wait for DNS (SPEC: a message never waits
 * longer than DNSTimeout in all for answers that do not come): what
 * this message has not spent of DNSTimeout yet, less, before end of
 * message, the share kept for end of message (ENGINE_EOM_SHARE), so
 * that a message whose RCPT TO decision waited out a dead lookup still
 * has time for the DKIM keys and DMARC records asked at end of
 * headers. *shortened says that earlier waits of the message cut this
 * one below its share: a query that times out then never had its
 * DNSTimeout, and its temperror must not be accepted.
 */
static unsigned int
wait_allowance_ms(const struct conn *c, enum check_phase upto, bool *shortened)
{
	double full = (double)c->conf->dns_timeout * 1000.0;
	double keep = full / ENGINE_EOM_SHARE;
	double left = full - dns_set_wait_ms(c->dns);

	if (upto != CHECK_PH_EOM)
		left -= keep;
	*shortened = left + ENGINE_WAIT_SLACK_MS < full - keep;
	return left > 0 ? (unsigned int)left : 0;
}

int
engine_decide(struct conn *c, struct msg *m, struct check_outcome *out,
	      enum check_phase upto, bool all, struct policy_verdict *v)
{
	struct policy_entry ent[SESSION_MAX_CHECKS];
	struct timespec deadline;
	enum dns_health health = DNS_HEALTH_UP;
	enum dns_budget budget;
	unsigned long timeouts = dns_set_timeouts(c->dns);
	bool temperror = false, shortened;
	size_t n = 0;
	int rc = 0;

	dns_deadline(&deadline, wait_allowance_ms(c, upto, &shortened));
	/* what needs the whole message starts before anything waits */
	if (upto == CHECK_PH_EOM && m != NULL)
		EACH_CHECK(i, ops)
		{
			if (ops->on_eom == NULL ||
			    (c->relay && ops->about_client))
				continue;
			rc = ops->on_eom(c, m, &m->slot[i]);
			if (rc < 0) {
				log_serror(c->sid, "qid=%s: check %s: %s",
					   qid_or_dash(m), ops->name,
					   am_strerror(rc));
				goto out;
			}
		}
	EACH_CHECK(i, ops)
	{
		struct check_outcome *o = &out[i];

		if (ops->finish == NULL || ops->ready > upto)
			continue;
		if (!all && (ops->max_action == NULL ||
			     ops->max_action(c->conf) < AM_ACT_TEMPFAIL))
			continue;
		if (c->relay && ops->about_client) {
			/* a trusted relay: at end of message only */
			if (upto < CHECK_PH_EOM)
				continue;
			if (!ops->from_upstream && !o->done) {
				memset(o, 0, sizeof *o);
				o->done = true;
				o->result = AM_R_SKIPPED;
				snprintf(o->why, sizeof o->why,
					 "trusted relay");
			}
		}
		if (!o->done) {
			rc = ops->finish(c, m, &c->slot[i],
					 m ? &m->slot[i] : NULL, &deadline, o);
			if (rc < 0) {
				log_serror(c->sid, "qid=%s: check %s: %s",
					   qid_or_dash(m), ops->name,
					   am_strerror(rc));
				goto out;
			}
			o->done = true;
			/* a lookup failed where the check could refuse */
			if (o->dns_failed && o->at_stake >= AM_ACT_TEMPFAIL)
				temperror = true;
			engine_dns_error(c->conf, o);
		}
		ent[n].check = ops->name;
		ent[n].o = o;
		n++;
	}
	/*
	 * A lookup failed: is it that domain's, or is DNS down? Wait
	 * (within what is left of DNSTimeout) until that is settled.
	 */
	if (temperror)
		health = dns_health_settle(c->dns, &deadline);
	policy_decide(c->conf, ent, n, v);
	budget = dns_set_over_budget(c->dns);
	if (budget != DNS_BUDGET_OK) {
		char why[sizeof v->why];

		snprintf(why, sizeof why, "DNS query budget reached (%d %s)",
			 budget == DNS_BUDGET_MESSAGE ? DNS_MAX_QUERIES
						      : DNS_MAX_CONN_QUERIES,
			 budget == DNS_BUDGET_MESSAGE ? "per message"
						      : "per session");
		force_tempfail(c->conf, v, "4.7.0",
			       budget == DNS_BUDGET_MESSAGE
				   ? "Too many DNS lookups for one message, "
				     "try again later"
				   : "Too many DNS lookups in this session, "
				     "try again later",
			       why);
	} else if (temperror && shortened &&
		   dns_set_timeouts(c->dns) != timeouts) {
		force_tempfail(c->conf, v, "4.4.3",
			       "Temporary DNS failure, try again later",
			       "DNS answers still missing when the message "
			       "had waited DNSTimeout in all");
	} else if (health != DNS_HEALTH_UP || dns_down()) {
		force_tempfail(c->conf, v, "4.4.3",
			       "Temporary DNS failure, try again later",
			       health == DNS_HEALTH_UNSURE
				   ? "DNS failing: no lookup succeeded "
				     "while this message waited"
				   : "DNS is down: no lookup succeeds");
	}
out:
	return rc;
}

static void
sink_xauth(struct check_report *r, const char *key, const char *value)
{
	struct engine_report *s = r->priv;

	policy_list_add(&s->xauth, key, value);
}

static void
sink_header(struct check_report *r, const char *name, const char *value)
{
	struct engine_report *s = r->priv;

	if (s->extra.n < ENGINE_MAX_EXTRA)
		policy_list_add_header(&s->extra, name, value);
}

static void
sink_logf(struct check_report *r, const char *key, const char *value)
{
	struct engine_report *s = r->priv;

	policy_list_add(&s->logf, key, value);
}

int
engine_report(struct conn *c, struct msg *m, const struct check_outcome *out,
	      struct engine_report *r)
{
	struct check_report rep = {
	    .xauth = sink_xauth,
	    .header = sink_header,
	    .logf = sink_logf,
	    .priv = r,
	};

	r->ar = authres_new(c->conf->authserv_id);
	if (r->ar == NULL)
		return AM_ENOMEM;
	rep.ar = r->ar;
	EACH_CHECK(i, ops)
	{
		if (ops->report == NULL || !out[i].done)
			continue;
		ops->report(c, m, &c->slot[i], m ? &m->slot[i] : NULL, &out[i],
			    &rep);
	}
	return 0;
}

void
engine_report_free(struct engine_report *r)
{
	authres_free(r->ar);
	r->ar = NULL;
	policy_list_free(&r->xauth);
	policy_list_free(&r->extra);
	policy_list_free(&r->logf);
}

int
engine_render(const struct conf *cf, const struct engine_report *r,
	      const struct policy_verdict *v, char **ar, char **xauth)
{
	*ar = r->ar != NULL ? authres_render(r->ar) : NULL;
	*xauth = policy_xauth_render(cf->authserv_id, &r->xauth, v);
	if (*ar == NULL || *xauth == NULL) {
		free(*ar);
		free(*xauth);
		*ar = *xauth = NULL;
		return AM_ENOMEM;
	}
	return 0;
}

void
engine_log(struct conn *c, struct msg *m, const struct engine_report *r,
	   const struct policy_verdict *v)
{
	struct log_field f[POLICY_MAX_ITEMS + 10];
	char act[48], num[32], nrcpt[16], rcpts[SESSION_RCPT_TEXT + 32];
	struct policy_logmsg lm = {0};
	size_t n;

	lm.qid = m != NULL && m->qid[0] ? m->qid : NULL;
	lm.ip = c->ip[0] ? c->ip : NULL;
	lm.helo = c->helo;
	lm.mail_from = m != NULL ? m->mail_from : NULL;
	if (m != NULL && m->naccepted > 0) {
		/* every recipient, or the first ones and how many more */
		if (m->naccepted > SESSION_LOG_RCPTS)
			snprintf(rcpts, sizeof rcpts, "%s,+%u more", m->rcpts,
				 m->naccepted - SESSION_LOG_RCPTS);
		else
			snprintf(rcpts, sizeof rcpts, "%s", m->rcpts);
		snprintf(nrcpt, sizeof nrcpt, "%u", m->naccepted);
		lm.rcpts = rcpts;
		lm.nrcpt = nrcpt;
	}
	/* DMARC's own reading of From: (dmarcv.c), when it ran */
	lm.from_domain = policy_list_get(&r->logf, "from_domain");
	lm.dns_ms = dns_set_wait_ms(c->dns);
	n = policy_log_fields(&lm, &r->logf, v, act, sizeof act, num,
			      sizeof num, f, sizeof f / sizeof f[0]);
	log_record(LOG_L_INFO, c->sid, f, n);
}

void
engine_count(const struct check_outcome *out, const struct policy_verdict *v)
{
	metrics_message();
	EACH_CHECK(i, ops)
	if (out[i].done)
		metrics_check_result(i, out[i].result);
	metrics_action(v->dry_run ? v->wanted : v->action, v->dry_run);
}
