/* SPDX-License-Identifier: BSD-2-Clause */
/* filter - the libmilter callbacks: session state, checks, verdicts */
#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <libmilter/mfapi.h>

#include "amerr.h"
#include "authres.h"
#include "check.h"
#include "cidr.h"
#include "conf.h"
#include "dns.h"
#include "engine.h"
#include "filter.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "session.h"

#define FILTER_MAX_AR 100000     /* forged A-R headers of one message;
                                  * past it the message is tempfailed */
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
	bool failed; /* a header/EOH step failed with no reply to give */
};

/* Per-connection state of the filter around struct conn. */
struct fconn {
	struct conn c;        /* what the checks see */
	bool leadspc;         /* header values carry their leading space */
	bool skip_body;       /* SMFIS_SKIP may be returned from body */
	bool nr_hdr;          /* no replies to headers and EOH (NR_HDR/EOH) */
	bool nr_body;         /* no reply to body chunks (NR_BODY) */
	bool nr_early;        /* no replies to connect, HELO, MAIL (NR_CONN,
	                       * NR_HELO, NR_MAIL: DelayReject) */
	bool conn_failed;     /* connect/HELO failed with no reply to give */
	bool conn_drained;    /* connect refused (draining), not answered */
	bool mail_failed;     /* MAIL failed with no reply to give */
	bool has_body_hook;   /* some check reads the body */
	struct check_outcome cout[SESSION_MAX_CHECKS]; /* connection-phase
	                       * outcomes (when no message exists yet) */
};

#define FILTER_NR_EARLY (SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL)

/*
 * Session threads run FILTER_SESSION_NICE nice steps below the process
 * (the main and DNS dispatcher threads keep its priority). The dispatcher
 * sends and reads the queries of every session; under CPU contention
 * the fair scheduler would give it the share of one thread among the
 * sessions, and every answer would wait behind their DKIM, header and
 * protocol work (docs/BENCHMARKS.md: at 32 sessions and 20 ms DNS, p50
 * 66-79 -> 59-62 ms). Lowering one's own priority needs no privilege.
 */
#define FILTER_SESSION_NICE 5

static int filter_base_nice;              /* the process's, at start */
static _Thread_local bool filter_thread_niced;
static atomic_bool filter_nice_warned;

static atomic_uint filter_nsessions;
static atomic_ulong filter_sidseq;
static atomic_bool filter_draining;

void
filter_drain(void)
{
	atomic_store(&filter_draining, true);
}

unsigned int
filter_sessions(void)
{
	return atomic_load(&filter_nsessions);
}

/* Lower the calling libmilter worker thread once (FILTER_SESSION_NICE). */
static void
session_thread_nice(void)
{
	int want = filter_base_nice + FILTER_SESSION_NICE;

	if (filter_thread_niced)
		return;
	filter_thread_niced = true;
	if (want > 19)
		want = 19;
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), want) != 0 &&
	    !atomic_exchange(&filter_nice_warned, true))
		log_warn("cannot lower the session threads' priority "
			 "(setpriority: %s): DNS answers may wait longer "
			 "under CPU load",
			 strerror(errno));
}

/* The session of ctx; every callback comes through here or fconn_get. */
static struct fconn *
fconn_of(SMFICTX *ctx)
{
	session_thread_nice();
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
	metrics_session();
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
	fc->has_body_hook = engine_has_body_hook();
	return fc;
}

/* Log an internal failure and answer 451 4.3.0. */
static sfsistat
internal_error(SMFICTX *ctx, struct fconn *fc, const char *where, int rc)
{
	metrics_internal_error();
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

/* Finish the ready checks and decide (engine_decide). */
static int
decide(struct fconn *fc, enum check_phase upto, bool all,
       struct policy_verdict *v)
{
	struct fmsg *fm = fmsg_of(fc);

	return engine_decide(&fc->c, fm ? &fm->m : NULL,
			     fm ? fm->out : fc->cout, upto, all, v);
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
	/*
	 * Every result belongs in the log line, also those of the ready
	 * checks that cannot reject (their queries went out with the
	 * others and are answered by now, or within DNSTimeout). Only
	 * rejecting checks decided, so the verdict stays v.
	 */
	{
		struct policy_verdict all;

		rc = decide(fc, upto, true, &all);
		if (rc < 0)
			return internal_error(ctx, fc, "finish", rc);
	}
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
	/*
	 * Headers and end of headers never give a verdict: ask the MTA not
	 * to wait for a reply to each (one round trip per header saved,
	 * docs/BENCHMARKS.md); an internal failure there is answered at
	 * the body or end of message instead.
	 */
	if ((f1 & (SMFIP_NR_HDR | SMFIP_NR_EOH)) ==
	    (SMFIP_NR_HDR | SMFIP_NR_EOH))
		*pf1 |= SMFIP_NR_HDR | SMFIP_NR_EOH;
	fc->nr_hdr = (*pf1 & SMFIP_NR_HDR) != 0;
	/*
	 * Nor does a body chunk: no reply per chunk either. That rules out
	 * SMFIS_SKIP (it is a reply), which only ever spared the MTA
	 * sending the rest of a large unsigned message.
	 */
	if (f1 & SMFIP_NR_BODY)
		*pf1 = (*pf1 | SMFIP_NR_BODY) & ~(unsigned long)SMFIP_SKIP;
	fc->nr_body = (*pf1 & SMFIP_NR_BODY) != 0;
	/*
	 * With DelayReject, connect, HELO and MAIL give no verdict: their
	 * replies are saved too (three round trips), and a failure there
	 * (or a drain that starts after this) is answered at the first
	 * RCPT instead. Not while draining: that connect answers 421.
	 */
	if (fc->c.conf->delay_reject && !atomic_load(&filter_draining) &&
	    (f1 & FILTER_NR_EARLY) == FILTER_NR_EARLY)
		*pf1 |= FILTER_NR_EARLY;
	fc->nr_early = (*pf1 & FILTER_NR_EARLY) == FILTER_NR_EARLY;
	*pf2 = 0;
	*pf3 = 0;
	fc->leadspc = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
	fc->c.hdr_trimmed = !fc->leadspc;
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

/*
 * The reply to connect, HELO or MAIL: none when negotiated away, and a
 * failure is then kept for the first RCPT (conn_failed for the
 * connection, mail_failed for this transaction).
 */
static sfsistat
early_reply(SMFICTX *ctx, bool mail, sfsistat r)
{
	struct fconn *fc = fconn_of(ctx);

	if (fc == NULL || !fc->nr_early)
		return r;
	if (r != SMFIS_CONTINUE) {
		if (mail)
			fc->mail_failed = true;
		else
			fc->conn_failed = true;
	}
	return SMFIS_NOREPLY;
}

static sfsistat connect_step(SMFICTX *ctx, char *hostname,
			     _SOCK_ADDR *hostaddr);

static sfsistat
fi_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
	struct fconn *fc = fconn_of(ctx);
	sfsistat r = connect_step(ctx, hostname, hostaddr);

	/* a drain refused it: 421 at the first RCPT, not 451 */
	if (fc != NULL && fc->nr_early && r != SMFIS_CONTINUE &&
	    atomic_load(&filter_draining))
		fc->conn_drained = true;
	return early_reply(ctx, false, r);
}

static sfsistat
connect_step(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
	const char *who = NULL;
	struct fconn *fc = fconn_get(ctx);
	struct conn *c;
	const char *j;
	int rc = 0;

	if (fc == NULL)
		return internal_error(ctx, NULL, "connect", AM_ENOMEM);
	c = &fc->c;
	if (atomic_load(&filter_draining)) {
		/* Stopping: the MTA tries again later, or another milter. */
		log_sinfo(c->sid, "connection refused: shutting down");
		smfi_setreply(ctx, "421", "4.3.2",
			      "Service shutting down, try again later");
		return SMFIS_TEMPFAIL;
	}
	set_address(c, hostaddr);
	free(c->client_name);
	c->client_name = hostname ? capdup(hostname, SESSION_MAX_NAME) : NULL;
	j = smfi_getsymval(ctx, "j");
	free(c->our_name);
	c->our_name = j ? capdup(j, SESSION_MAX_NAME) : NULL;
	/*
	 * A connection whose address the MTA does not know (XCLIENT
	 * ADDR=[UNAVAILABLE], an unknown family) is checked like any other:
	 * the checks of the address itself say that they could not run,
	 * and DMARC stands on DKIM alone. (Postfix's local submissions come
	 * as 127.0.0.1, an internal host by default.)
	 */
	c->internal = c->family != 0 &&
		      cidr_list_match(&c->conf->internal_hosts, c->family,
				      &c->addr);
	c->skip = c->internal;
	log_sdebug(c->sid, "connect from %s [%s]%s",
		   c->client_name ? c->client_name : "unknown",
		   c->ip[0] ? c->ip : "-", c->internal ? " (internal)" : "");
	if (c->skip)
		return SMFIS_CONTINUE;
	rc = engine_connect(c, &who);
	if (rc < 0)
		return internal_error(ctx, fc, who, rc);
	if (!c->conf->delay_reject)
		return decision_point(ctx, fc, CHECK_PH_CONNECT);
	return SMFIS_CONTINUE;
}

static sfsistat helo_step(SMFICTX *ctx, char *helohost);

static sfsistat
fi_helo(SMFICTX *ctx, char *helohost)
{
	return early_reply(ctx, false, helo_step(ctx, helohost));
}

static sfsistat
helo_step(SMFICTX *ctx, char *helohost)
{
	const char *who = NULL;
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
	rc = engine_helo(c, &who);
	if (rc < 0)
		return internal_error(ctx, fc, who, rc);
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

static sfsistat envfrom_step(SMFICTX *ctx, char **argv);

static sfsistat
fi_envfrom(SMFICTX *ctx, char **argv)
{
	struct fconn *fc = fconn_of(ctx);

	if (fc != NULL)
		fc->mail_failed = false;
	return early_reply(ctx, true, envfrom_step(ctx, argv));
}

static sfsistat
envfrom_step(SMFICTX *ctx, char **argv)
{
	const char *who = NULL;
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
	dns_set_new_message(c->dns);
	rc = engine_set_sender(&fm->m, argv && argv[0] ? argv[0] : "");
	if (rc < 0)
		return internal_error(ctx, fc, "mail", rc);
	auth = smfi_getsymval(ctx, "{auth_authen}");
	c->authenticated = auth != NULL && auth[0] != '\0';
	c->skip = c->internal ||
		  (c->authenticated && c->conf->skip_authenticated);
	update_qid(ctx, fc);
	if (c->skip)
		return SMFIS_CONTINUE;
	rc = engine_mail(c, &fm->m, &who);
	if (rc < 0)
		return internal_error(ctx, fc, who, rc);
	if (!c->conf->delay_reject)
		return decision_point(ctx, fc, CHECK_PH_MAIL);
	return SMFIS_CONTINUE;
}

static bool kept_failure(SMFICTX *ctx, struct fconn *fc);

static sfsistat
fi_envrcpt(SMFICTX *ctx, char **argv)
{
	const char *who = NULL;
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
	if (kept_failure(ctx, fc))
		return SMFIS_TEMPFAIL;
	if (fm->rejected) {
		set_reply(ctx, fm->rcode, fm->xcode, fm->reply);
		return fm->verdict;
	}
	if (c->skip)
		return SMFIS_CONTINUE;
	rc = engine_rcpt(c, &fm->m, rcpt, &who);
	if (rc < 0)
		return internal_error(ctx, fc, who, rc);
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

/*
 * The reply to a header, EOH (body false) or body step (body true): none
 * when negotiated away (NR_HDR/NR_EOH, NR_BODY), and a failure is then
 * kept for the next step that has a reply.
 */
static sfsistat
msg_reply(SMFICTX *ctx, sfsistat r, bool body)
{
	struct fconn *fc = fconn_of(ctx);
	struct fmsg *fm = fc != NULL ? fmsg_of(fc) : NULL;

	if (fc == NULL || !(body ? fc->nr_body : fc->nr_hdr))
		return r;
	if (r != SMFIS_CONTINUE && fm != NULL)
		fm->failed = true;
	return SMFIS_NOREPLY;
}

/*
 * A failure kept by early_reply() or msg_reply(): 421 4.3.2 for a
 * connect refused by a drain, else 451 4.3.0 (already logged).
 */
static bool
kept_failure(SMFICTX *ctx, struct fconn *fc)
{
	struct fmsg *fm = fc != NULL ? fmsg_of(fc) : NULL;

	if (fc != NULL && fc->conn_drained) {
		smfi_setreply(ctx, "421", "4.3.2",
			      "Service shutting down, try again later");
		return true;
	}
	if (fc == NULL || (!fc->conn_failed && !fc->mail_failed &&
			   (fm == NULL || !fm->failed)))
		return false;
	smfi_setreply(ctx, "451", "4.3.0",
		      "Temporary local problem, try again later");
	return true;
}

static sfsistat
header_step(SMFICTX *ctx, char *name, char *value)
{
	const char *who = NULL;
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
		fm->nar++;
		if (authres_is_ours(value, c->conf->authserv_id)) {
			rc = add_forged(fm);
			if (rc < 0)
				return internal_error(ctx, fc, "header", rc);
		}
	} else if (strcasecmp(name, "From") == 0 && fm->from == NULL) {
		fm->from = capdup(value, SESSION_MAX_NAME);
	}
	if (c->skip)
		return SMFIS_CONTINUE;
	rc = engine_header(c, &fm->m, name, value, &who);
	if (rc < 0)
		return internal_error(ctx, fc, who, rc);
	return SMFIS_CONTINUE;
}

static sfsistat
fi_header(SMFICTX *ctx, char *name, char *value)
{
	return msg_reply(ctx, header_step(ctx, name, value), false);
}

static sfsistat
eoh_step(SMFICTX *ctx)
{
	const char *who = NULL;
	struct fconn *fc = fconn_of(ctx);
	struct fmsg *fm;
	int rc;

	if (fc == NULL || fmsg_of(fc) == NULL)
		return internal_error(ctx, fc, "eoh", AM_ESTATE);
	fm = fmsg_of(fc);
	update_qid(ctx, fc);
	if (fc->c.skip)
		return SMFIS_CONTINUE;
	rc = engine_eoh(&fc->c, &fm->m, &who);
	if (rc < 0)
		return internal_error(ctx, fc, who, rc);
	return SMFIS_CONTINUE;
}

static sfsistat
fi_eoh(SMFICTX *ctx)
{
	return msg_reply(ctx, eoh_step(ctx), false);
}

static sfsistat
body_step(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	const char *who = NULL;
	struct fconn *fc = fconn_of(ctx);
	struct fmsg *fm;
	int rc;

	if (fc == NULL || fmsg_of(fc) == NULL)
		return internal_error(ctx, fc, "body", AM_ESTATE);
	fm = fmsg_of(fc);
	if (kept_failure(ctx, fc))
		return SMFIS_TEMPFAIL;
	if (fc->c.skip || !fc->has_body_hook)
		return fc->skip_body ? SMFIS_SKIP : SMFIS_CONTINUE;
	rc = engine_body(&fc->c, &fm->m, chunk, len, &who);
	if (rc < 0)
		return internal_error(ctx, fc, who, rc);
	return SMFIS_CONTINUE;
}

static sfsistat
fi_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	return msg_reply(ctx, body_step(ctx, chunk, len), true);
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

/* The per-message log line and its metrics. */
static void
log_message(struct fconn *fc, const struct engine_report *r,
	    const struct policy_verdict *v)
{
	struct fmsg *fm = fmsg_of(fc);

	engine_log(&fc->c, fm ? &fm->m : NULL, fm ? fm->from : NULL, r, v);
	engine_count(fm ? fm->out : fc->cout, v);
}

/* The log line of a verdict given before end of message. */
static void
log_verdict(struct fconn *fc, const struct policy_verdict *v)
{
	struct fmsg *fm = fmsg_of(fc);
	struct engine_report r = {0};

	engine_report(&fc->c, fm ? &fm->m : NULL, fm ? fm->out : fc->cout,
		      &r);
	log_message(fc, &r, v);
	engine_report_free(&r);
}

static sfsistat
fi_eom(SMFICTX *ctx)
{
	struct fconn *fc = fconn_of(ctx);
	struct engine_report rep = {0};
	struct policy_verdict v;
	struct fmsg *fm;
	char *arv = NULL, *xav = NULL;
	sfsistat ret = SMFIS_CONTINUE;
	int rc = 0;

	if (fc == NULL || fmsg_of(fc) == NULL)
		return internal_error(ctx, fc, "eom", AM_ESTATE);
	fm = fmsg_of(fc);
	update_qid(ctx, fc);
	if (kept_failure(ctx, fc)) {
		ret = SMFIS_TEMPFAIL;
		goto out;
	}
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
		metrics_skipped(fc->c.internal);
		goto out;
	}
	rc = decide(fc, CHECK_PH_EOM, true, &v);
	if (rc < 0) {
		ret = internal_error(ctx, fc, "finish", rc);
		goto out;
	}
	rc = engine_report(&fc->c, &fm->m, fm->out, &rep);
	if (rc < 0) {
		ret = internal_error(ctx, fc, "eom", rc);
		goto out;
	}
	log_message(fc, &rep, &v);
	if (v.action >= AM_ACT_TEMPFAIL) {
		ret = verdict_reply(ctx, &v);
		goto out;
	}
	rc = engine_render(fc->c.conf, &rep, &v, &arv, &xav);
	if (rc < 0) {
		ret = internal_error(ctx, fc, "eom", rc);
		goto out;
	}
	/* inserted at 0 in reverse: A-R ends up on top */
	rc = insert_header(ctx, fc, FILTER_XA_NAME, xav);
	for (size_t k = rep.extra.n; rc == 0 && k > 0; k--)
		rc = insert_header(ctx, fc, rep.extra.v[k - 1].key,
				   rep.extra.v[k - 1].value);
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
	engine_report_free(&rep);
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

	errno = 0;
	filter_base_nice = getpriority(PRIO_PROCESS, 0);
	if (filter_base_nice == -1 && errno != 0)
		filter_base_nice = 0;
	return smfi_register(desc) == MI_SUCCESS ? 0 : AM_ELIB;
}
