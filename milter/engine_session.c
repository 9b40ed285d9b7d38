/* SPDX-License-Identifier: BSD-2-Clause */
/* engine_session - the life of an SMTP session and its messages */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "amerr.h"
#include "arread.h"
#include "authres.h"
#include "check.h"
#include "checks.h"
#include "cidr.h"
#include "conf.h"
#include "dmarcv.h"
#include "dns.h"
#include "engine.h"
#include "history.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "session.h"

#define ES_AR_NAME "Authentication-Results"
#define ES_XA_NAME "X-Authmilter"

static const char *
es_qid(const struct engine_session *s)
{
	return s->m != NULL && s->m->m.qid[0] != '\0' ? s->m->m.qid : "-";
}

/* Text for the MTA: printable ASCII, no '%' (libmilter reads formats). */
static void
es_reply(struct engine_reply *r, enum engine_answer a, const char *rcode,
	 const char *xcode, const char *text)
{
	r->answer = a;
	snprintf(r->rcode, sizeof r->rcode, "%s", rcode);
	snprintf(r->xcode, sizeof r->xcode, "%s", xcode);
	check_text_safe(text, r->text, sizeof r->text, true);
}

/* An internal failure: logged once here, answered 451 4.3.0. */
static enum engine_answer
es_internal(struct engine_session *s, const char *where, int rc,
	    struct engine_reply *r)
{
	metrics_internal_error();
	log_serror(s->c.sid, "qid=%s: internal error in %s: %s", es_qid(s),
		   where, am_strerror(rc));
	es_reply(r, ENGINE_TEMPFAIL, "451", "4.3.0",
		 "Temporary local problem, try again later");
	return r->answer;
}

static void
es_msg_free(struct engine_session *s)
{
	struct engine_msg *em = s->m;

	if (em == NULL)
		return;
	for (size_t i = 0; i < checks_count() && i < SESSION_MAX_CHECKS; i++) {
		const struct check_ops *ops = checks_get(i);

		if (ops != NULL && ops->msg_free != NULL)
			ops->msg_free(&em->m.slot[i]);
	}
	engine_report_free(&em->rep);
	free(em->ar);
	free(em->xauth);
	free(em->m.mail_from);
	free(em->m.mail_domain);
	free(em->forged);
	free(em->xforged);
	free(em);
	s->m = NULL;
	s->c.msg = NULL;
}

struct engine_session *
engine_session_new(struct conf *cf, const char *sid)
{
	struct engine_session *s = calloc(1, sizeof *s);

	if (s == NULL)
		return NULL;
	s->c.conf = cf;
	snprintf(s->c.sid, sizeof s->c.sid, "%s", sid);
	s->c.dns = dns_set_new(s->c.sid);
	if (s->c.dns == NULL) {
		free(s);
		return NULL;
	}
	metrics_session();
	return s;
}

void
engine_session_free(struct engine_session *s)
{
	if (s == NULL)
		return;
	es_msg_free(s);
	for (size_t i = 0; i < checks_count() && i < SESSION_MAX_CHECKS; i++) {
		const struct check_ops *ops = checks_get(i);

		if (ops != NULL && ops->conn_free != NULL)
			ops->conn_free(&s->c.slot[i]);
	}
	dns_set_free(s->c.dns);
	free(s->c.client_name);
	free(s->c.helo);
	free(s->c.our_name);
	metrics_session_closed();
	free(s);
}

/* The verdict's outcomes: the message's, or the connection's before it. */
static struct check_outcome *
es_out(struct engine_session *s)
{
	return s->m != NULL ? s->m->out : s->cout;
}

/* The per-message log line and its metrics. */
static void
es_log(struct engine_session *s, const struct engine_report *r)
{
	engine_log(&s->c, s->m != NULL ? &s->m->m : NULL, r, &s->v);
	engine_count(es_out(s), &s->v);
}

/*
 * The decision point of a phase before end of message: a reject or
 * tempfail verdict ends the message (later RCPTs get the same reply);
 * quarantine and tag wait for end of message.
 */
static enum engine_answer
es_decide(struct engine_session *s, enum check_phase upto, const char *stage,
	  struct engine_reply *r)
{
	struct policy_verdict all;
	struct engine_report rep = {0};
	struct msg *m = s->m != NULL ? &s->m->m : NULL;
	char esc[3 * sizeof s->v.reply];
	int rc;

	rc = engine_decide(&s->c, m, es_out(s), upto, false, &s->v);
	if (rc < 0)
		return es_internal(s, "finish", rc, r);
	if (s->v.action < AM_ACT_TEMPFAIL)
		return ENGINE_CONTINUE;
	/*
	 * Every result belongs in the log line, also those of the ready
	 * checks that cannot reject (their queries went out with the
	 * others). Only rejecting checks decided, so the verdict stays.
	 */
	rc = engine_decide(&s->c, m, es_out(s), upto, true, &all);
	if (rc < 0)
		return es_internal(s, "finish", rc, r);
	s->decided = true;
	s->stage = stage;
	log_sinfo(s->c.sid, "qid=%s: %s by %s: %s %s %s", es_qid(s),
		  am_action_str(s->v.action),
		  s->v.check != NULL ? s->v.check : "-", s->v.rcode, s->v.xcode,
		  log_escape(s->v.reply, sizeof s->v.reply, esc, sizeof esc));
	if (engine_report(&s->c, m, es_out(s), &rep) == 0)
		es_log(s, &rep);
	engine_report_free(&rep);
	es_reply(r,
		 s->v.action == AM_ACT_REJECT ? ENGINE_REJECT : ENGINE_TEMPFAIL,
		 s->v.rcode, s->v.xcode, s->v.reply);
	if (s->m != NULL) {
		s->m->refused = true;
		s->m->refusal = *r;
	}
	return r->answer;
}

/*
 * A refusal before end of message has no queue id: log what joins it to
 * Postfix's "NOQUEUE: reject: RCPT from NAME[IP]: REPLY; from=<..>
 * to=<..>" line (client, MAIL FROM, the recipient, the reply).
 */
static void
es_noqueue(struct engine_session *s, const char *stage, const char *rcpt,
	   const struct engine_reply *r)
{
	char client[SESSION_MAX_NAME + 64], reply[sizeof r->text + 16];
	char to[300] = "";
	struct log_field f[8];
	size_t n = 0;

	if (r->answer == ENGINE_CONTINUE)
		return;
	/* as Postfix writes it: "unknown" when there is no name (the MTA
	 * passes "[IP]" then) */
	snprintf(client, sizeof client, "%s[%s]",
		 s->c.client_name != NULL && s->c.client_name[0] != '['
		     ? s->c.client_name
		     : "unknown",
		 s->c.ip[0] != '\0' ? s->c.ip : "unknown");
	while (rcpt != NULL && *rcpt == '<')
		rcpt++;
	if (rcpt != NULL)
		snprintf(to, sizeof to, "%.*s", (int)strcspn(rcpt, ">"), rcpt);
	snprintf(reply, sizeof reply, "%s %s %s", r->rcode, r->xcode, r->text);
#define F(k, val)                                                              \
	do {                                                                   \
		f[n].key = (k);                                                \
		f[n].value = (val);                                            \
		f[n++].number = false;                                         \
	} while (0)
	F("noqueue", r->answer == ENGINE_REJECT ? "reject" : "tempfail");
	F("stage", stage);
	F("client", client);
	F("helo", s->c.helo);
	F("mailfrom", s->m != NULL ? s->m->m.mail_from : NULL);
	F("rcpt", rcpt != NULL ? to : NULL);
	F("check", s->v.check);
	F("reply", reply);
#undef F
	log_record(LOG_L_INFO, s->c.sid, f, n);
}

/* The domain of the first recipient, for the DMARC history row. */
static void
es_rcpt_domain(struct msg *m, const char *a, size_t alen)
{
	const char *at = NULL;
	size_t i, o = 0;

	for (i = 0; i < alen; i++)
		if (a[i] == '@')
			at = a + i;
	if (at == NULL)
		return;
	for (i = (size_t)(at + 1 - a);
	     i < alen && o + 1 < sizeof m->rcpt_domain; i++)
		m->rcpt_domain[o++] = (char)tolower((unsigned char)a[i]);
	m->rcpt_domain[o] = '\0';
}

/* A recipient the milter let through: counted, and named in the log. */
static void
es_accept_rcpt(struct engine_session *s, const char *rcpt, bool exempt)
{
	struct msg *m = &s->m->m;
	size_t len = strlen(m->rcpts);
	char esc[SESSION_RCPT_TEXT];
	const char *a = rcpt != NULL ? rcpt : "";
	size_t alen;

	m->naccepted++;
	if (exempt)
		m->nexempt++;
	if (m->naccepted > SESSION_LOG_RCPTS)
		return;
	while (*a == '<')
		a++;
	alen = strcspn(a, ">");
	if (m->naccepted == 1)
		es_rcpt_domain(m, a, alen);
	log_escape(a, alen < 256 ? alen : 256, esc, sizeof esc);
	if (len + 1 + strlen(esc) < sizeof m->rcpts)
		snprintf(m->rcpts + len, sizeof m->rcpts - len, "%s%s",
			 len > 0 ? "," : "", esc);
}

/*
 * ExemptRecipients at RCPT time: a reject (not a tempfail) that ended
 * the message spares an exempt recipient, which is accepted; the
 * others get the reject. End of message then sees only exempt
 * recipients and turns the reject into tag.
 */
static bool
es_spare(struct engine_session *s, const char *rcpt, bool exempt)
{
	char esc[300];

	if (!exempt || s->m->refusal.answer != ENGINE_REJECT)
		return false;
	log_escape(rcpt != NULL ? rcpt : "", 256, esc, sizeof esc);
	log_sinfo(s->c.sid,
		  "qid=%s: reject by %s not applied to exempt recipient %s "
		  "(ExemptRecipients)",
		  es_qid(s), s->v.check != NULL ? s->v.check : "-", esc);
	es_accept_rcpt(s, rcpt, true);
	return true;
}

/* The client address from the connect sockaddr, IPv4-mapped unwrapped. */
static void
es_address(struct conn *c, const struct sockaddr *sa)
{
	c->family = 0;
	c->ip[0] = '\0';
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		c->family = AF_INET;
		c->addr.v4 = sin->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			c->family = AF_INET;
			memcpy(&c->addr.v4, &sin6->sin6_addr.s6_addr[12], 4);
		} else {
			c->family = AF_INET6;
			c->addr.v6 = sin6->sin6_addr;
		}
	}
	if (c->family != 0 &&
	    inet_ntop(c->family, &c->addr, c->ip, sizeof c->ip) == NULL) {
		c->family = 0;
		c->ip[0] = '\0';
	}
}

/* A copy of s (NULL: "") of at most SESSION_MAX_NAME octets. */
static char *
es_name(const char *s)
{
	return strndup(s != NULL ? s : "", SESSION_MAX_NAME);
}

enum engine_answer
engine_session_connect(struct engine_session *s, const struct sockaddr *sa,
		       const char *client_name, const char *our_name,
		       struct engine_reply *r)
{
	struct conn *c = &s->c;
	const char *who = NULL;
	int rc;

	memset(r, 0, sizeof *r);
	es_address(c, sa);
	free(c->client_name);
	free(c->our_name);
	c->client_name = client_name != NULL ? es_name(client_name) : NULL;
	c->our_name = our_name != NULL ? es_name(our_name) : NULL;
	/*
	 * A client whose address the MTA does not know (an unknown family)
	 * is checked like any other: the checks of the address say that
	 * they could not run, and DMARC stands on DKIM alone.
	 */
	c->internal =
	    c->family != 0 &&
	    cidr_list_match(&c->conf->internal_hosts, c->family, &c->addr);
	c->skip = c->internal;
	/* a trusted relay: its own IP and HELO are not the sender's */
	c->relay =
	    !c->internal && c->family != 0 &&
	    cidr_list_match(&c->conf->trusted_relays, c->family, &c->addr);
	log_sdebug(c->sid, "connect from %s [%s]%s",
		   c->client_name ? c->client_name : "unknown",
		   c->ip[0] ? c->ip : "-",
		   c->internal ? " (internal)"
		   : c->relay  ? " (trusted relay)"
			       : "");
	if (c->skip)
		return ENGINE_CONTINUE;
	rc = engine_connect(c, &who);
	if (rc < 0)
		return es_internal(s, who, rc, r);
	if (!c->conf->delay_reject &&
	    es_decide(s, CHECK_PH_CONNECT, "connect", r) != ENGINE_CONTINUE)
		es_noqueue(s, "connect", NULL, r);
	return r->answer;
}

enum engine_answer
engine_session_helo(struct engine_session *s, const char *helo,
		    struct engine_reply *r)
{
	struct conn *c = &s->c;
	const char *who = NULL;
	int rc;

	memset(r, 0, sizeof *r);
	free(c->helo);
	c->helo = es_name(helo);
	if (c->helo == NULL)
		return es_internal(s, "helo", AM_ENOMEM, r);
	if (c->skip)
		return ENGINE_CONTINUE;
	rc = engine_helo(c, &who);
	if (rc < 0)
		return es_internal(s, who, rc, r);
	if (!c->conf->delay_reject &&
	    es_decide(s, CHECK_PH_HELO, "helo", r) != ENGINE_CONTINUE)
		es_noqueue(s, "helo", NULL, r);
	return r->answer;
}

enum engine_answer
engine_session_mail(struct engine_session *s, const char *arg,
		    const char *auth_authen, struct engine_reply *r)
{
	struct conn *c = &s->c;
	const char *who = NULL;
	int rc;

	memset(r, 0, sizeof *r);
	es_msg_free(s);
	s->decided = false;
	s->stage = NULL;
	memset(&s->v, 0, sizeof s->v);
	memset(s->cout, 0, sizeof s->cout);
	s->m = calloc(1, sizeof *s->m);
	if (s->m == NULL)
		return es_internal(s, "mail", AM_ENOMEM, r);
	c->msg = &s->m->m;
	/* per-message DNS budget and wait (SPEC: DNS budgets per message) */
	dns_set_new_message(c->dns);
	dns_set_reset_wait(c->dns);
	rc = engine_set_sender(&s->m->m, arg != NULL ? arg : "");
	if (rc < 0)
		return es_internal(s, "mail", rc, r);
	c->authenticated = auth_authen != NULL && auth_authen[0] != '\0';
	c->skip =
	    c->internal || (c->authenticated && c->conf->skip_authenticated);
	if (c->skip)
		return ENGINE_CONTINUE;
	rc = engine_mail(c, &s->m->m, &who);
	if (rc < 0)
		return es_internal(s, who, rc, r);
	if (!c->conf->delay_reject &&
	    es_decide(s, CHECK_PH_MAIL, "mail", r) != ENGINE_CONTINUE)
		es_noqueue(s, "mail", NULL, r);
	return r->answer;
}

enum engine_answer
engine_session_rcpt(struct engine_session *s, const char *rcpt,
		    struct engine_reply *r)
{
	struct conn *c = &s->c;
	const char *who = NULL;
	bool exempt;
	int rc;

	memset(r, 0, sizeof *r);
	if (s->m == NULL)
		return es_internal(s, "rcpt", AM_ESTATE, r);
	s->m->m.nrcpt++;
	exempt = conf_exempt_rcpt(c->conf, rcpt);
	if (s->m->refused) {
		if (es_spare(s, rcpt, exempt))
			return ENGINE_CONTINUE;
		*r = s->m->refusal;
		es_noqueue(s, "rcpt", rcpt, r);
		return r->answer;
	}
	if (!c->skip) {
		rc = engine_rcpt(c, &s->m->m, rcpt != NULL ? rcpt : "", &who);
		if (rc < 0)
			return es_internal(s, who, rc, r);
		if (s->m->m.nrcpt == 1 && c->conf->delay_reject &&
		    es_decide(s, CHECK_PH_MAIL, "rcpt", r) != ENGINE_CONTINUE) {
			if (es_spare(s, rcpt, exempt)) {
				memset(r, 0, sizeof *r);
				return ENGINE_CONTINUE;
			}
			es_noqueue(s, "rcpt", rcpt, r);
			return r->answer;
		}
	}
	es_accept_rcpt(s, rcpt, exempt);
	return ENGINE_CONTINUE;
}

void
engine_session_qid(struct engine_session *s, const char *qid)
{
	if (s->m == NULL || s->m->m.qid[0] != '\0' || qid == NULL)
		return;
	log_escape(qid, strlen(qid), s->m->m.qid, sizeof s->m->m.qid);
}

/*
 * Remember the index idx of a forged header in the list (*v, *n, *cap).
 * Every one must go, so a message with more than can be tracked is
 * tempfailed at end of message, never let through.
 */
static int
es_add_forged(struct engine_msg *em, unsigned int **v, unsigned int *n,
	      unsigned int *cap, unsigned int idx)
{
	unsigned int *nv;
	unsigned int ncap;

	if (*n >= ENGINE_MAX_FORGED) {
		em->too_many_forged = true;
		return 0;
	}
	if (*n == *cap) {
		ncap = *cap ? 2 * *cap : 8;
		nv = reallocarray(*v, ncap, sizeof *nv);
		if (nv == NULL)
			return AM_ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = idx;
	return 0;
}

/*
 * An Authentication-Results header. From a trusted relay, one of a
 * TrustedAuthservIDs id that parses within arread's caps is the
 * upstream's and is kept (the topmost one gives SPF for DMARC); any
 * other carrying our authserv-id is a forgery. Returns 0 or AM_ENOMEM.
 */
static int
es_ar_header(struct engine_session *s, const char *value)
{
	struct engine_msg *em = s->m;
	struct upstream_spf *up = &em->m.upstream;
	const struct conf *cf = s->c.conf;
	struct arread_spf a;
	char id[256], esc[3 * sizeof a.domain];
	int st;

	if (s->c.relay && authres_authserv_id(value, id, sizeof id) == 0 &&
	    conf_id_listed(&cf->trusted_authserv_ids, id)) {
		st = arread_spf(value, &a);
		if (!up->seen) {
			/* the topmost one decides, usable or not */
			up->seen = true;
			up->usable = st == ARREAD_OK;
			up->result = a.result;
			snprintf(up->id, sizeof up->id, "%s", id);
			snprintf(up->domain, sizeof up->domain, "%s", a.domain);
			log_sdebug(s->c.sid,
				   "qid=%s: upstream Authentication-Results "
				   "#%u of %s: %s%s",
				   es_qid(s), em->nar,
				   log_escape(id, strlen(id), esc, sizeof esc),
				   st == ARREAD_OK	? "spf="
				   : st == ARREAD_NOSPF ? "no usable spf result"
							: "malformed or over a "
							  "cap: not trusted",
				   st == ARREAD_OK ? am_result_str(a.result)
						   : "");
		}
		if (st != ARREAD_EINVAL) {
			em->nupstream++;
			return 0;
		}
	}
	if (authres_is_ours(value, cf->authserv_id))
		return es_add_forged(em, &em->forged, &em->nforged,
				     &em->forged_cap, em->nar);
	return 0;
}

enum engine_answer
engine_session_header(struct engine_session *s, const char *name,
		      const char *value, struct engine_reply *r)
{
	struct engine_msg *em = s->m;
	const char *who = NULL;
	int rc;

	memset(r, 0, sizeof *r);
	if (em == NULL)
		return es_internal(s, "header", AM_ESTATE, r);
	if (name == NULL || value == NULL)
		return ENGINE_CONTINUE;
	/* forged headers go for every sender, checked or not */
	if (strcasecmp(name, ES_AR_NAME) == 0) {
		em->nar++;
		if ((rc = es_ar_header(s, value)) < 0)
			return es_internal(s, "header", rc, r);
	} else if (strcasecmp(name, ES_XA_NAME) == 0) {
		/* only we write X-Authmilter: every incoming one is forged */
		em->nxa++;
		rc = es_add_forged(em, &em->xforged, &em->nxforged,
				   &em->xforged_cap, em->nxa);
		if (rc < 0)
			return es_internal(s, "header", rc, r);
	}
	if (s->c.skip)
		return ENGINE_CONTINUE;
	rc = engine_header(&s->c, &em->m, name, value, &who);
	if (rc < 0)
		return es_internal(s, who, rc, r);
	return ENGINE_CONTINUE;
}

enum engine_answer
engine_session_eoh(struct engine_session *s, struct engine_reply *r)
{
	const char *who = NULL;
	int rc;

	memset(r, 0, sizeof *r);
	if (s->m == NULL)
		return es_internal(s, "eoh", AM_ESTATE, r);
	if (s->c.skip)
		return ENGINE_CONTINUE;
	rc = engine_eoh(&s->c, &s->m->m, &who);
	if (rc < 0)
		return es_internal(s, who, rc, r);
	return ENGINE_CONTINUE;
}

bool
engine_session_wants_body(const struct engine_session *s)
{
	return !s->c.skip && engine_has_body_hook();
}

enum engine_answer
engine_session_body(struct engine_session *s, const unsigned char *chunk,
		    size_t len, struct engine_reply *r)
{
	const char *who = NULL;
	int rc;

	memset(r, 0, sizeof *r);
	if (s->m == NULL)
		return es_internal(s, "body", AM_ESTATE, r);
	if (!engine_session_wants_body(s))
		return ENGINE_CONTINUE;
	rc = engine_body(&s->c, &s->m->m, chunk, len, &who);
	if (rc < 0)
		return es_internal(s, who, rc, r);
	return ENGINE_CONTINUE;
}

/*
 * es_history - the DMARC history row of a message DMARC evaluated
 * against a policy record (rejected and quarantined ones too; not a
 * tempfailed one, which comes again): dmarcv fills the DMARC part, and
 * the final disposition is what was done, with the reason when it is
 * not what DMARC asked for.
 */
static void
es_history(struct engine_session *s)
{
	const struct policy_verdict *v = &s->v;
	const struct check_slot *ms = NULL;
	const struct conf *cf = s->c.conf;
	struct history_row row;
	enum dmarc_policy asked;
	const char *why = NULL;

	if (!history_enabled() || v->action == AM_ACT_TEMPFAIL)
		return;
	for (size_t i = 0; i < checks_count() && i < SESSION_MAX_CHECKS; i++)
		if (checks_get(i) == &dmarcv_ops)
			ms = &s->m->m.slot[i];
	memset(&row, 0, sizeof row);
	if (!dmarcv_history(ms, &s->m->m, cf, &row))
		return;
	row.time = (int64_t)time(NULL);
	snprintf(row.source_ip, sizeof row.source_ip, "%s", s->c.ip);
	snprintf(row.reporter, sizeof row.reporter, "%s",
		 cf != NULL && cf->authserv_id != NULL ? cf->authserv_id : "");
	snprintf(row.envelope_from, sizeof row.envelope_from, "%s",
		 s->m->m.mail_domain != NULL ? s->m->m.mail_domain : "");
	snprintf(row.envelope_to, sizeof row.envelope_to, "%s",
		 s->m->m.rcpt_domain);
	if (s->c.relay)
		row.overrides |= HISTORY_OV_TRUSTED_FORWARDER;
	asked = row.disposition;
	row.disposition = v->action == AM_ACT_REJECT	   ? DMARC_P_REJECT
			  : v->action == AM_ACT_QUARANTINE ? DMARC_P_QUARANTINE
							   : DMARC_P_NONE;
	if (row.disposition < asked && v->dry_run)
		why = "DryRun";
	else if (row.disposition < asked && v->exempted != AM_ACT_NONE)
		why = "ExemptRecipients";
	else if (row.disposition < asked &&
		 (row.overrides & HISTORY_OV_LOCAL_POLICY) == 0 &&
		 (row.overrides & HISTORY_OV_MAILING_LIST) == 0)
		why = "DMARCRejectAction/DMARCQuarantineAction";
	if (why != NULL) {
		row.overrides |= HISTORY_OV_LOCAL_POLICY;
		snprintf(row.override_comment, sizeof row.override_comment,
			 "%s", why);
	} else if (row.disposition > asked) {
		row.overrides |= HISTORY_OV_OTHER;
		snprintf(row.override_comment, sizeof row.override_comment,
			 "%s by the %.60s check",
			 row.disposition == DMARC_P_REJECT ? "rejected"
							   : "quarantined",
			 v->check != NULL ? v->check : "another");
	}
	history_record(&row);
}

enum engine_answer
engine_session_eom(struct engine_session *s, struct engine_eom *e)
{
	struct engine_msg *em = s->m;
	struct engine_reply *r = &e->reply;
	int rc;

	memset(e, 0, sizeof *e);
	if (em == NULL)
		return es_internal(s, "eom", AM_ESTATE, r);
	if (em->too_many_forged)
		return es_internal(s, "forged headers", AM_ERANGE, r);
	/* highest index first, so that the others keep theirs */
	e->nremove = em->nforged;
	e->remove = em->forged;
	e->nremove_xa = em->nxforged;
	e->remove_xa = em->xforged;
	if (s->c.skip) {
		log_sinfo(s->c.sid, "qid=%s: not checked (%s)", es_qid(s),
			  s->c.internal ? "internal" : "authenticated");
		metrics_skipped(s->c.internal);
		s->skipped = s->c.internal ? "internal" : "authenticated";
		return ENGINE_CONTINUE;
	}
	rc = engine_decide(&s->c, &em->m, em->out, CHECK_PH_EOM, true, &s->v);
	if (rc < 0)
		return es_internal(s, "finish", rc, r);
	/* RFC 5321 4.5.1: postmaster@ (ExemptRecipients) is not refused */
	if (em->m.naccepted > 0 && em->m.nexempt == em->m.naccepted &&
	    policy_exempt(&s->v)) {
		metrics_exempt(false);
		log_sinfo(s->c.sid,
			  "qid=%s: %s by %s turned into tag: every recipient "
			  "is exempt (ExemptRecipients)",
			  es_qid(s), am_action_str(s->v.exempted),
			  s->v.check != NULL ? s->v.check : "-");
	}
	s->decided = true;
	s->stage = "eom";
	rc = engine_report(&s->c, &em->m, em->out, &em->rep);
	if (rc < 0)
		return es_internal(s, "eom", rc, r);
	es_log(s, &em->rep);
	es_history(s);
	if (s->v.action >= AM_ACT_TEMPFAIL) {
		es_reply(r,
			 s->v.action == AM_ACT_REJECT ? ENGINE_REJECT
						      : ENGINE_TEMPFAIL,
			 s->v.rcode, s->v.xcode, s->v.reply);
		return r->answer;
	}
	rc = engine_render(s->c.conf, &em->rep, &s->v, &em->ar, &em->xauth);
	if (rc < 0)
		return es_internal(s, "eom", rc, r);
	/* top to bottom: A-R, the extra headers, X-Authmilter */
	e->add[e->nadd].name = ES_AR_NAME;
	e->add[e->nadd++].value = em->ar;
	for (size_t k = 0; k < em->rep.extra.n && e->nadd < ENGINE_MAX_ADD - 1;
	     k++) {
		e->add[e->nadd].name = em->rep.extra.v[k].key;
		e->add[e->nadd++].value = em->rep.extra.v[k].value;
	}
	e->add[e->nadd].name = ES_XA_NAME;
	e->add[e->nadd++].value = em->xauth;
	if (s->v.action == AM_ACT_QUARANTINE) {
		char why[sizeof s->v.why];

		check_text_safe(s->v.why, why, sizeof why, true);
		snprintf(e->quarantine, sizeof e->quarantine,
			 "authmilter: %s: %s",
			 s->v.check != NULL ? s->v.check : "-", why);
	}
	return ENGINE_CONTINUE;
}

void
engine_session_end_message(struct engine_session *s)
{
	es_msg_free(s);
}
