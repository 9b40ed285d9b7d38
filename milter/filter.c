/* SPDX-License-Identifier: BSD-2-Clause */
/* filter - the libmilter callbacks: session state, checks, verdicts */
#include <ctype.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>

#include <libmilter/mfapi.h>

#include "amerr.h"
#include "authres.h"
#include "check.h"
#include "cidr.h"
#include "conf.h"
#include "dns.h"
#include "filter.h"
#include "log.h"
#include "policy.h"
#include "session.h"

#define FILTER_MAX_AR 100000     /* forged A-R headers of one message;
                                  * past it the message is tempfailed */
#define FILTER_MAX_EXTRA 8       /* extra headers from the checks */
#define FILTER_MAX_EXTRA_LEN 4096 /* octets of one extra header value */
#define FILTER_AR_NAME "Authentication-Results"
#define FILTER_XA_NAME "X-Authmilter"

/* Per-message state of the filter around struct msg. */
struct fmsg {
	struct msg m;                      /* what the checks see */
	struct check_outcome out[SESSION_MAX_CHECKS]; /* finish() results */
	unsigned int nar;                  /* A-R headers seen */
	unsigned int *forged;              /* 1-based indexes of ours: owned */
	unsigned int nforged;              /* used entries of forged */
	unsigned int forged_cap;           /* allocated entries of forged */
	bool too_many_forged;              /* FILTER_MAX_AR passed */
	char *from;                        /* first From: value: owned */
	bool rejected;                     /* a verdict ended the message */
	char rcode[4];                     /* its reply, repeated at RCPT */
	char xcode[10];
	char reply[256];
	int verdict;                       /* SMFIS_REJECT or _TEMPFAIL */
};

/* Per-connection state of the filter around struct conn. */
struct fconn {
	struct conn c;        /* what the checks see */
	bool leadspc;         /* header values carry their leading space */
	bool skip_body;       /* SMFIS_SKIP may be returned from body */
	bool has_body_hook;   /* some check reads the body */
	struct check_outcome cout[SESSION_MAX_CHECKS]; /* connection-phase
	                       * outcomes (when no message exists yet) */
};

/* What report() sinks collect at end of message. */
struct fsink {
	struct policy_list xauth;  /* X-Authmilter items */
	struct policy_list logf;   /* log fields */
	struct policy_list extra;  /* extra headers (name, value) */
};

static atomic_uint filter_nsessions;
static atomic_ulong filter_sidseq;

unsigned int
filter_sessions(void)
{
	return atomic_load(&filter_nsessions);
}

static struct fconn *
fconn_of(SMFICTX *ctx)
{
	return smfi_getpriv(ctx);
}

static struct fmsg *
fmsg_of(struct fconn *fc)
{
	return (struct fmsg *)fc->c.msg; /* m is the first member */
}

/* A copy of at most max octets of s, NUL-terminated; NULL on ENOMEM. */
static char *
capdup(const char *s, size_t max)
{
	return strndup(s ? s : "", max);
}

static const char *
qid_of(struct fconn *fc)
{
	struct fmsg *fm = fmsg_of(fc);

	return fm != NULL && fm->m.qid[0] != '\0' ? fm->m.qid : "-";
}

static void
msg_free(struct fconn *fc)
{
	struct fmsg *fm = fmsg_of(fc);

	if (fm == NULL)
		return;
	for (size_t i = 0; i < check_count() && i < SESSION_MAX_CHECKS; i++) {
		const struct check_ops *ops = check_get(i);

		if (ops != NULL && ops->msg_free != NULL)
			ops->msg_free(&fm->m.slot[i]);
	}
	free(fm->m.mail_from);
	free(fm->m.mail_domain);
	free(fm->from);
	free(fm->forged);
	free(fm);
	fc->c.msg = NULL;
}

static void
fconn_free(struct fconn *fc)
{
	if (fc == NULL)
		return;
	msg_free(fc);
	for (size_t i = 0; i < check_count() && i < SESSION_MAX_CHECKS; i++) {
		const struct check_ops *ops = check_get(i);

		if (ops != NULL && ops->conn_free != NULL)
			ops->conn_free(&fc->c.slot[i]);
	}
	dns_set_free(fc->c.dns);
	conf_release(fc->c.conf);
	free(fc->c.client_name);
	free(fc->c.helo);
	free(fc->c.our_name);
	free(fc);
	atomic_fetch_sub(&filter_nsessions, 1);
}

/* The session of ctx, created on first use (negotiate or connect). */
static struct fconn *
fconn_get(SMFICTX *ctx)
{
	struct fconn *fc = fconn_of(ctx);
	unsigned long seq;

	if (fc != NULL)
		return fc;
	fc = calloc(1, sizeof *fc);
	if (fc == NULL)
		return NULL;
	atomic_fetch_add(&filter_nsessions, 1);
	seq = atomic_fetch_add(&filter_sidseq, 1) + 1;
	snprintf(fc->c.sid, sizeof fc->c.sid, "%08lX.%lu",
		 (unsigned long)time(NULL) & 0xffffffffUL, seq);
	fc->c.conf = conf_acquire();
	fc->c.dns = dns_set_new(fc->c.sid);
	if (fc->c.conf == NULL || fc->c.dns == NULL ||
	    smfi_setpriv(ctx, fc) != MI_SUCCESS) {
		fconn_free(fc);
		return NULL;
	}
	for (size_t i = 0; i < check_count() && i < SESSION_MAX_CHECKS; i++) {
		const struct check_ops *ops = check_get(i);

		if (ops != NULL && ops->on_body != NULL)
			fc->has_body_hook = true;
	}
	return fc;
}

/* Log an internal failure and answer 451 4.3.0. */
static sfsistat
internal_error(SMFICTX *ctx, struct fconn *fc, const char *where, int rc)
{
	if (fc != NULL) {
		log_serror(fc->c.sid, "qid=%s: internal error in %s: %s",
			   qid_of(fc), where, am_strerror(rc));
	} else {
		log_error("internal error in %s: %s", where, am_strerror(rc));
	}
	smfi_setreply(ctx, "451", "4.3.0",
		      "Temporary local problem, try again later");
	return SMFIS_TEMPFAIL;
}

/*
 * Text for the MTA (a reply, a quarantine reason): printable ASCII only,
 * and no '%', which libmilter's reply code would read as a format.
 */
static void
mta_text(const char *in, char *out, size_t outlen)
{
	size_t j = 0;

	for (const char *p = in; *p != '\0' && j + 1 < outlen; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c >= 0x7f)
			continue;
		out[j++] = c == '%' ? '?' : (char)c;
	}
	out[j] = '\0';
}

static void
set_reply(SMFICTX *ctx, const char *rcode, const char *xcode,
	  const char *text)
{
	char safe[256];

	mta_text(text, safe, sizeof safe);
	if (smfi_setreply(ctx, (char *)rcode,
			  xcode[0] != '\0' ? (char *)xcode : NULL,
			  safe) != MI_SUCCESS)
		smfi_setreply(ctx, rcode[0] == '4' ? "451" : "550", NULL,
			      safe);
}

static sfsistat
verdict_reply(SMFICTX *ctx, const struct policy_verdict *v)
{
	set_reply(ctx, v->rcode, v->xcode, v->reply);
	return v->action == AM_ACT_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

/* The outcome slots for check i: the message's, or the connection's. */
static struct check_outcome *
outcome_slot(struct fconn *fc, size_t i)
{
	struct fmsg *fm = fmsg_of(fc);

	return fm != NULL ? &fm->out[i] : &fc->cout[i];
}

/*
 * Finish the checks that are ready after phase upto (every check when
 * all is set, else only those whose action can reject or tempfail),
 * then decide. Returns 0 with v filled, or a negative AM_E* code.
 */
static int
decide(struct fconn *fc, enum check_phase upto, bool all,
       struct policy_verdict *v)
{
	struct policy_entry ent[SESSION_MAX_CHECKS];
	struct fmsg *fm = fmsg_of(fc);
	struct timespec deadline;
	size_t n = 0;
	int rc = 0;

	dns_deadline(&deadline, fc->c.conf->dns_timeout * 1000U);
	for (size_t i = 0; i < check_count() && i < SESSION_MAX_CHECKS; i++) {
		const struct check_ops *ops = check_get(i);
		struct check_outcome *o = outcome_slot(fc, i);

		if (ops == NULL || ops->finish == NULL || ops->ready > upto)
			continue;
		if (!all && policy_max_action(fc->c.conf, ops->name) <
				    AM_ACT_TEMPFAIL)
			continue;
		if (!o->done) {
			rc = ops->finish(&fc->c, fm ? &fm->m : NULL,
					 &fc->c.slot[i],
					 fm ? &fm->m.slot[i] : NULL, &deadline,
					 o);
			if (rc < 0) {
				log_serror(fc->c.sid, "qid=%s: check %s: %s",
					   qid_of(fc), ops->name,
					   am_strerror(rc));
				goto out;
			}
			o->done = true;
			policy_dns_error(fc->c.conf, ops->name, o);
		}
		ent[n].check = ops->name;
		ent[n].o = o;
		n++;
	}
	policy_decide(fc->c.conf, ent, n, v);
out:
	return rc;
}

static void log_verdict(struct fconn *fc, const struct policy_verdict *v);

/*
 * The decision point of a phase before end of message: act on a reject
 * or tempfail verdict; quarantine and tag wait for end of message.
 */
static sfsistat
decision_point(SMFICTX *ctx, struct fconn *fc, enum check_phase upto)
{
	struct policy_verdict v;
	struct fmsg *fm = fmsg_of(fc);
	int rc;

	if (fc->c.skip)
		return SMFIS_CONTINUE;
	rc = decide(fc, upto, false, &v);
	if (rc < 0)
		return internal_error(ctx, fc, "finish", rc);
	if (v.action < AM_ACT_TEMPFAIL)
		return SMFIS_CONTINUE;
	{
		char esc[3 * sizeof v.reply];

		log_sinfo(fc->c.sid, "qid=%s: %s by %s: %s %s %s",
			  qid_of(fc), am_action_str(v.action),
			  v.check ? v.check : "-", v.rcode, v.xcode,
			  log_escape(v.reply, sizeof v.reply, esc,
				     sizeof esc));
	}
	log_verdict(fc, &v);
	if (fm != NULL) {
		fm->rejected = true;
		fm->verdict = v.action == AM_ACT_REJECT ? SMFIS_REJECT
							: SMFIS_TEMPFAIL;
		snprintf(fm->rcode, sizeof fm->rcode, "%s", v.rcode);
		snprintf(fm->xcode, sizeof fm->xcode, "%s", v.xcode);
		snprintf(fm->reply, sizeof fm->reply, "%s", v.reply);
	}
	return verdict_reply(ctx, &v);
}

static sfsistat
fi_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
	     unsigned long f2, unsigned long f3, unsigned long *pf0,
	     unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	struct fconn *fc = fconn_get(ctx);

	(void)f2;
	(void)f3;
	if (fc == NULL) {
		log_error("negotiate: cannot start a session: out of memory "
			  "or no configuration");
		return SMFIS_TEMPFAIL;
	}
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE |
		     SMFIF_SETSYMLIST);
	*pf1 = f1 & (SMFIP_HDR_LEADSPC | SMFIP_SKIP | SMFIP_NOUNKNOWN |
		     SMFIP_NODATA);
	*pf2 = 0;
	*pf3 = 0;
	fc->leadspc = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
	fc->skip_body = (*pf1 & SMFIP_SKIP) != 0;
	if (*pf0 & SMFIF_SETSYMLIST) {
		smfi_setsymlist(ctx, SMFIM_CONNECT,
				"j {daemon_name} {client_addr} {client_name}");
		smfi_setsymlist(ctx, SMFIM_HELO, "{tls_version} {cipher}");
		smfi_setsymlist(ctx, SMFIM_ENVFROM,
				"i {auth_authen} {auth_type} {auth_author}");
		smfi_setsymlist(ctx, SMFIM_ENVRCPT, "i {rcpt_addr}");
		smfi_setsymlist(ctx, SMFIM_DATA, "i");
		smfi_setsymlist(ctx, SMFIM_EOH, "i");
		smfi_setsymlist(ctx, SMFIM_EOM, "i");
	}
	return SMFIS_CONTINUE;
}

/* The client address from the connect sockaddr, IPv4-mapped unwrapped. */
static void
set_address(struct conn *c, const struct sockaddr *sa)
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

static sfsistat
fi_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
	struct fconn *fc = fconn_get(ctx);
	struct conn *c;
	const char *j;
	int rc = 0;

	if (fc == NULL)
		return internal_error(ctx, NULL, "connect", AM_ENOMEM);
	c = &fc->c;
	set_address(c, hostaddr);
	free(c->client_name);
	c->client_name = hostname ? capdup(hostname, SESSION_MAX_NAME) : NULL;
	j = smfi_getsymval(ctx, "j");
	free(c->our_name);
	c->our_name = j ? capdup(j, SESSION_MAX_NAME) : NULL;
	/*
	 * A connection without an IP address (a local submission through
	 * the MTA's own pickup) is not checked, like an internal host.
	 */
	c->internal = c->family == 0 ||
		      cidr_list_match(&c->conf->internal_hosts, c->family,
				      &c->addr);
	c->skip = c->internal;
	log_sdebug(c->sid, "connect from %s [%s]%s",
		   c->client_name ? c->client_name : "unknown",
		   c->ip[0] ? c->ip : "-", c->internal ? " (internal)" : "");
	if (c->skip)
		return SMFIS_CONTINUE;
	for (size_t i = 0; i < check_count() && i < SESSION_MAX_CHECKS; i++) {
		const struct check_ops *ops = check_get(i);

		if (ops == NULL || ops->on_connect == NULL)
			continue;
		rc = ops->on_connect(c, &c->slot[i]);
		if (rc < 0)
			return internal_error(ctx, fc, ops->name, rc);
	}
	if (!c->conf->delay_reject)
		return decision_point(ctx, fc, CHECK_PH_CONNECT);
	return SMFIS_CONTINUE;
}

static sfsistat
fi_helo(SMFICTX *ctx, char *helohost)
{
	struct fconn *fc = fconn_of(ctx);
	struct conn *c;
	int rc;

	if (fc == NULL)
		return internal_error(ctx, NULL, "helo", AM_ESTATE);
	c = &fc->c;
	free(c->helo);
	c->helo = capdup(helohost, SESSION_MAX_NAME);
	if (c->helo == NULL)
		return internal_error(ctx, fc, "helo", AM_ENOMEM);
	if (c->skip)
		return SMFIS_CONTINUE;
	for (size_t i = 0; i < check_count() && i < SESSION_MAX_CHECKS; i++) {
		const struct check_ops *ops = check_get(i);

		if (ops == NULL || ops->on_helo == NULL)
			continue;
		rc = ops->on_helo(c, &c->slot[i]);
		if (rc < 0)
			return internal_error(ctx, fc, ops->name, rc);
	}
	if (!c->conf->delay_reject)
		return decision_point(ctx, fc, CHECK_PH_HELO);
	return SMFIS_CONTINUE;
}

/* Copy the queue id once the MTA has it (from DATA on in Postfix). */
static void
update_qid(SMFICTX *ctx, struct fconn *fc)
{
	struct fmsg *fm = fmsg_of(fc);
	const char *i;

	if (fm == NULL || fm->m.qid[0] != '\0')
		return;
	i = smfi_getsymval(ctx, "i");
	if (i != NULL)
		log_escape(i, strlen(i), fm->m.qid, sizeof fm->m.qid);
}

/* The envelope sender without <> and its lower-case domain. */
static int
set_sender(struct msg *m, const char *arg)
{
	size_t len = strnlen(arg, SESSION_MAX_NAME);
	const char *at;

	if (len >= 2 && arg[0] == '<' && arg[len - 1] == '>') {
		arg++;
		len -= 2;
	} else if (len >= 1 && arg[0] == '<') {
		arg++;
		len--;
	}
	m->mail_from = strndup(arg, len);
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

static sfsistat
fi_envfrom(SMFICTX *ctx, char **argv)
{
	struct fconn *fc = fconn_of(ctx);
	struct fmsg *fm;
	struct conn *c;
	const char *auth;
	int rc;

	if (fc == NULL)
		return internal_error(ctx, NULL, "mail", AM_ESTATE);
	c = &fc->c;
	msg_free(fc);
	fm = calloc(1, sizeof *fm);
	if (fm == NULL)
		return internal_error(ctx, fc, "mail", AM_ENOMEM);
	c->msg = &fm->m;
	c->nmsgs++;
	memset(fc->cout, 0, sizeof fc->cout);
	dns_set_reset_wait(c->dns);
	rc = set_sender(&fm->m, argv && argv[0] ? argv[0] : "");
	if (rc < 0)
		return internal_error(ctx, fc, "mail", rc);
	auth = smfi_getsymval(ctx, "{auth_authen}");
	c->authenticated = auth != NULL && auth[0] != '\0';
	c->skip = c->internal ||
		  (c->authenticated && c->conf->skip_authenticated);
	update_qid(ctx, fc);
	if (c->skip)
		return SMFIS_CONTINUE;
	for (size_t i = 0; i < check_count() && i < SESSION_MAX_CHECKS; i++) {
		const struct check_ops *ops = check_get(i);

		if (ops == NULL || ops->on_mail == NULL)
			continue;
		rc = ops->on_mail(c, &fm->m, &c->slot[i], &fm->m.slot[i]);
		if (rc < 0)
			return internal_error(ctx, fc, ops->name, rc);
	}
	if (!c->conf->delay_reject)
		return decision_point(ctx, fc, CHECK_PH_MAIL);
	return SMFIS_CONTINUE;
}

static sfsistat
fi_envrcpt(SMFICTX *ctx, char **argv)
{
	struct fconn *fc = fconn_of(ctx);
	struct fmsg *fm;
	struct conn *c;
	const char *rcpt = argv && argv[0] ? argv[0] : "";
	int rc;

	if (fc == NULL || fmsg_of(fc) == NULL)
		return internal_error(ctx, fc, "rcpt", AM_ESTATE);
	c = &fc->c;
	fm = fmsg_of(fc);
	fm->m.nrcpt++;
	update_qid(ctx, fc);
	if (fm->rejected) {
		set_reply(ctx, fm->rcode, fm->xcode, fm->reply);
		return fm->verdict;
	}
	if (c->skip)
		return SMFIS_CONTINUE;
	for (size_t i = 0; i < check_count() && i < SESSION_MAX_CHECKS; i++) {
		const struct check_ops *ops = check_get(i);

		if (ops == NULL || ops->on_rcpt == NULL)
			continue;
		rc = ops->on_rcpt(c, &fm->m, &c->slot[i], &fm->m.slot[i],
				  rcpt);
		if (rc < 0)
			return internal_error(ctx, fc, ops->name, rc);
	}
	if (fm->m.nrcpt == 1 && c->conf->delay_reject)
		return decision_point(ctx, fc, CHECK_PH_MAIL);
	return SMFIS_CONTINUE;
}

/*
 * Remember the index of a forged A-R header. Every one must go, so a
 * message with more than can be tracked is tempfailed, never let through.
 */
static int
add_forged(struct fmsg *fm)
{
	unsigned int *v;
	unsigned int cap;

	if (fm->nforged >= FILTER_MAX_AR) {
		fm->too_many_forged = true;
		return 0;
	}
	if (fm->nforged == fm->forged_cap) {
		cap = fm->forged_cap ? 2 * fm->forged_cap : 8;
		v = reallocarray(fm->forged, cap, sizeof *v);
		if (v == NULL)
			return AM_ENOMEM;
		fm->forged = v;
		fm->forged_cap = cap;
	}
	fm->forged[fm->nforged++] = fm->nar;
	return 0;
}

static sfsistat
fi_header(SMFICTX *ctx, char *name, char *value)
{
	struct fconn *fc = fconn_of(ctx);
	struct fmsg *fm;
	struct conn *c;
	int rc;

	if (fc == NULL || fmsg_of(fc) == NULL)
		return internal_error(ctx, fc, "header", AM_ESTATE);
	c = &fc->c;
	fm = fmsg_of(fc);
	if (name == NULL || value == NULL)
		return SMFIS_CONTINUE;
	if (strcasecmp(name, FILTER_AR_NAME) == 0) {
		char id[256];

		fm->nar++;
		if (authres_authserv_id(value, id, sizeof id) == 0 &&
		    strcasecmp(id, c->conf->authserv_id) == 0) {
			rc = add_forged(fm);
			if (rc < 0)
				return internal_error(ctx, fc, "header", rc);
		}
	} else if (strcasecmp(name, "From") == 0 && fm->from == NULL) {
		fm->from = capdup(value, SESSION_MAX_NAME);
	}
	if (c->skip || fm->m.nheaders >= SESSION_MAX_HEADERS)
		return SMFIS_CONTINUE;
	fm->m.nheaders++;
	for (size_t i = 0; i < check_count() && i < SESSION_MAX_CHECKS; i++) {
		const struct check_ops *ops = check_get(i);

		if (ops == NULL || ops->on_header == NULL)
			continue;
		rc = ops->on_header(c, &fm->m, &fm->m.slot[i], name, value);
		if (rc < 0)
			return internal_error(ctx, fc, ops->name, rc);
	}
	return SMFIS_CONTINUE;
}

static sfsistat
fi_eoh(SMFICTX *ctx)
{
	struct fconn *fc = fconn_of(ctx);
	struct fmsg *fm;
	int rc;

	if (fc == NULL || fmsg_of(fc) == NULL)
		return internal_error(ctx, fc, "eoh", AM_ESTATE);
	fm = fmsg_of(fc);
	update_qid(ctx, fc);
	if (fc->c.skip)
		return SMFIS_CONTINUE;
	for (size_t i = 0; i < check_count() && i < SESSION_MAX_CHECKS; i++) {
		const struct check_ops *ops = check_get(i);

		if (ops == NULL || ops->on_eoh == NULL)
			continue;
		rc = ops->on_eoh(&fc->c, &fm->m, &fm->m.slot[i]);
		if (rc < 0)
			return internal_error(ctx, fc, ops->name, rc);
	}
	return SMFIS_CONTINUE;
}

static sfsistat
fi_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct fconn *fc = fconn_of(ctx);
	struct fmsg *fm;
	int rc;

	if (fc == NULL || fmsg_of(fc) == NULL)
		return internal_error(ctx, fc, "body", AM_ESTATE);
	fm = fmsg_of(fc);
	if (fc->c.skip || !fc->has_body_hook)
		return fc->skip_body ? SMFIS_SKIP : SMFIS_CONTINUE;
	for (size_t i = 0; i < check_count() && i < SESSION_MAX_CHECKS; i++) {
		const struct check_ops *ops = check_get(i);

		if (ops == NULL || ops->on_body == NULL)
			continue;
		rc = ops->on_body(&fc->c, &fm->m, &fm->m.slot[i], chunk, len);
		if (rc < 0)
			return internal_error(ctx, fc, ops->name, rc);
	}
	return SMFIS_CONTINUE;
}

static void
sink_xauth(struct check_report *r, const char *key, const char *value)
{
	struct fsink *s = r->priv;

	policy_list_add(&s->xauth, key, value);
}

/*
 * A copy of a header value a check built (folded with "\n\t"): printable
 * ASCII and folds only, at most FILTER_MAX_EXTRA_LEN octets. The X-Authmilter
 * item lists of policy.c would drop the folds and cut the value at 256.
 */
static char *
header_copy(const char *v)
{
	size_t len = strnlen(v, FILTER_MAX_EXTRA_LEN), j = 0;
	char *out = malloc(len + 1);

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '\n' && i + 1 < len && (v[i + 1] == '\t' ||
						 v[i + 1] == ' ') && j > 0)
			out[j++] = '\n';
		else if ((c >= 0x20 && c < 0x7f) || (c == '\t' && j > 0))
			out[j++] = (char)c;
	}
	out[j] = '\0';
	return out;
}

static void
sink_header(struct check_report *r, const char *name, const char *value)
{
	struct fsink *s = r->priv;
	struct policy_item *it;

	if (s->extra.n >= FILTER_MAX_EXTRA || name == NULL || value == NULL)
		return;
	it = &s->extra.v[s->extra.n];
	it->key = header_copy(name);
	it->value = header_copy(value);
	if (it->key == NULL || it->value == NULL || it->key[0] == '\0') {
		free(it->key);
		free(it->value);
		it->key = it->value = NULL;
		return;
	}
	s->extra.n++;
}

static void
sink_logf(struct check_report *r, const char *key, const char *value)
{
	struct fsink *s = r->priv;

	policy_list_add(&s->logf, key, value);
}

/*
 * Insert a header at the top. With LEADSPC the value carries its own
 * leading space; without it the MTA adds one.
 */
static int
insert_header(SMFICTX *ctx, struct fconn *fc, const char *name,
	      const char *value)
{
	char *v = NULL;
	int rc = 0;

	if (fc->leadspc) {
		if (asprintf(&v, " %s", value) < 0) {
			v = NULL;
			rc = AM_ENOMEM;
			goto out;
		}
	}
	if (smfi_insheader(ctx, 0, (char *)name,
			   v ? v : (char *)value) != MI_SUCCESS)
		rc = AM_ELIB;
out:
	free(v);
	return rc;
}

/*
 * Remove our forged A-R headers, highest index first (CVE-2022-48521).
 * A header that cannot be removed fails the message: a forgery must not
 * reach the mailbox.
 */
static int
remove_forged(SMFICTX *ctx, struct fconn *fc)
{
	struct fmsg *fm = fmsg_of(fc);
	int rc = 0;

	for (unsigned int k = fm->nforged; k > 0; k--) {
		unsigned int idx = fm->forged[k - 1];

		if (smfi_chgheader(ctx, FILTER_AR_NAME, (int)idx, NULL) !=
		    MI_SUCCESS) {
			rc = AM_ELIB;
			break;
		}
		log_sinfo(fc->c.sid, "qid=%s: removed forged %s #%u",
			  qid_of(fc), FILTER_AR_NAME, idx);
	}
	return rc;
}

static void
log_message(struct fconn *fc, const struct fsink *s,
	    const struct policy_verdict *v)
{
	struct fmsg *fm = fmsg_of(fc);
	struct log_field f[POLICY_MAX_ITEMS + 8];
	char act[48], num[32], fromdom[256];
	struct policy_logmsg lm = {0};
	const char *from = policy_list_get(&s->logf, "from_domain");
	size_t n;

	if (from == NULL && fm != NULL) {
		policy_from_domain(fm->from, fromdom, sizeof fromdom);
		from = fromdom[0] ? fromdom : NULL;
	}
	lm.qid = fm != NULL && fm->m.qid[0] ? fm->m.qid : NULL;
	lm.ip = fc->c.ip[0] ? fc->c.ip : NULL;
	lm.helo = fc->c.helo;
	lm.mail_from = fm != NULL ? fm->m.mail_from : NULL;
	lm.from_domain = from;
	lm.dns_ms = dns_set_wait_ms(fc->c.dns);
	n = policy_log_fields(&lm, &s->logf, v, act, sizeof act, num,
			      sizeof num, f, sizeof f / sizeof f[0]);
	/* the checks' own from_domain field is already in lm */
	for (size_t i = 0; i < n; i++)
		if (i > 4 && strcmp(f[i].key, "from_domain") == 0)
			f[i].value = NULL;
	log_record(LOG_L_INFO, fc->c.sid, f, n);
}

/* Let every finished check report into rep. */
static void
report_all(struct fconn *fc, struct check_report *rep)
{
	struct fmsg *fm = fmsg_of(fc);

	for (size_t i = 0; i < check_count() && i < SESSION_MAX_CHECKS; i++) {
		const struct check_ops *ops = check_get(i);
		const struct check_outcome *o = outcome_slot(fc, i);

		if (ops == NULL || ops->report == NULL || !o->done)
			continue;
		ops->report(&fc->c, fm ? &fm->m : NULL, &fc->c.slot[i],
			    fm ? &fm->m.slot[i] : NULL, o, rep);
	}
}

static void
log_verdict(struct fconn *fc, const struct policy_verdict *v)
{
	struct fsink sink = {0};
	struct check_report rep = {
		.xauth = sink_xauth,
		.header = sink_header,
		.logf = sink_logf,
		.priv = &sink,
	};

	rep.ar = authres_new(fc->c.conf->authserv_id);
	if (rep.ar != NULL)
		report_all(fc, &rep);
	log_message(fc, &sink, v);
	authres_free(rep.ar);
	policy_list_free(&sink.xauth);
	policy_list_free(&sink.extra);
	policy_list_free(&sink.logf);
}

static sfsistat
fi_eom(SMFICTX *ctx)
{
	struct fconn *fc = fconn_of(ctx);
	struct fsink sink = {0};
	struct check_report rep = {0};
	struct policy_verdict v;
	struct fmsg *fm;
	char *arv = NULL, *xav = NULL;
	sfsistat ret = SMFIS_CONTINUE;
	int rc = 0;

	if (fc == NULL || fmsg_of(fc) == NULL)
		return internal_error(ctx, fc, "eom", AM_ESTATE);
	fm = fmsg_of(fc);
	update_qid(ctx, fc);
	/* forged A-R go for every sender, checked or not */
	if (fm->too_many_forged) {
		ret = internal_error(ctx, fc, "forged headers", AM_ERANGE);
		goto out;
	}
	rc = remove_forged(ctx, fc);
	if (rc < 0) {
		ret = internal_error(ctx, fc, "removing forged headers", rc);
		goto out;
	}
	if (fc->c.skip) {
		log_sinfo(fc->c.sid, "qid=%s: not checked (%s)", qid_of(fc),
			  fc->c.internal ? "internal" : "authenticated");
		goto out;
	}
	rc = decide(fc, CHECK_PH_EOM, true, &v);
	if (rc < 0) {
		ret = internal_error(ctx, fc, "finish", rc);
		goto out;
	}
	rep.ar = authres_new(fc->c.conf->authserv_id);
	if (rep.ar == NULL) {
		ret = internal_error(ctx, fc, "eom", AM_ENOMEM);
		goto out;
	}
	rep.xauth = sink_xauth;
	rep.header = sink_header;
	rep.logf = sink_logf;
	rep.priv = &sink;
	report_all(fc, &rep);
	log_message(fc, &sink, &v);
	if (v.action >= AM_ACT_TEMPFAIL) {
		ret = verdict_reply(ctx, &v);
		goto out;
	}
	arv = authres_render(rep.ar);
	xav = policy_xauth_render(fc->c.conf->authserv_id, &sink.xauth, &v);
	if (arv == NULL || xav == NULL) {
		ret = internal_error(ctx, fc, "eom", AM_ENOMEM);
		goto out;
	}
	/* inserted at 0 in reverse: A-R ends up on top */
	rc = insert_header(ctx, fc, FILTER_XA_NAME, xav);
	for (size_t k = sink.extra.n; rc == 0 && k > 0; k--)
		rc = insert_header(ctx, fc, sink.extra.v[k - 1].key,
				   sink.extra.v[k - 1].value);
	if (rc == 0)
		rc = insert_header(ctx, fc, FILTER_AR_NAME, arv);
	if (rc < 0) {
		ret = internal_error(ctx, fc, "insert header", rc);
		goto out;
	}
	if (v.action == AM_ACT_QUARANTINE) {
		char why[sizeof v.why], reason[200];

		mta_text(v.why, why, sizeof why);
		snprintf(reason, sizeof reason, "authmilter: %s: %s",
			 v.check ? v.check : "-", why);
		if (smfi_quarantine(ctx, reason) != MI_SUCCESS) {
			ret = internal_error(ctx, fc, "quarantine", AM_ELIB);
			goto out;
		}
	}
out:
	free(arv);
	free(xav);
	authres_free(rep.ar);
	policy_list_free(&sink.xauth);
	policy_list_free(&sink.extra);
	policy_list_free(&sink.logf);
	msg_free(fc);
	return ret;
}

static sfsistat
fi_abort(SMFICTX *ctx)
{
	struct fconn *fc = fconn_of(ctx);

	if (fc != NULL)
		msg_free(fc);
	return SMFIS_CONTINUE;
}

static sfsistat
fi_close(SMFICTX *ctx)
{
	struct fconn *fc = fconn_of(ctx);

	if (fc != NULL) {
		smfi_setpriv(ctx, NULL);
		fconn_free(fc);
	}
	return SMFIS_CONTINUE;
}

int
filter_register(void)
{
	struct smfiDesc desc = {
		.xxfi_name = "authmilter",
		.xxfi_version = SMFI_VERSION,
		.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS |
			      SMFIF_QUARANTINE | SMFIF_SETSYMLIST,
		.xxfi_connect = fi_connect,
		.xxfi_helo = fi_helo,
		.xxfi_envfrom = fi_envfrom,
		.xxfi_envrcpt = fi_envrcpt,
		.xxfi_header = fi_header,
		.xxfi_eoh = fi_eoh,
		.xxfi_body = fi_body,
		.xxfi_eom = fi_eom,
		.xxfi_abort = fi_abort,
		.xxfi_close = fi_close,
		.xxfi_negotiate = fi_negotiate,
	};

	return smfi_register(desc) == MI_SUCCESS ? 0 : AM_ELIB;
}
