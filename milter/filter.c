/* SPDX-License-Identifier: BSD-2-Clause */
/* filter - the libmilter callbacks: session state, checks, verdicts */
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
#include "conf.h"
#include "engine.h"
#include "filter.h"
#include "log.h"
#include "metrics.h"

/* Per-connection state of the filter around the engine's session. */
struct fconn {
	struct engine_session *s; /* the session: owned */
	struct conf *conf;	  /* snapshot reference, released at close */
	bool leadspc;		  /* header values carry their leading space */
	bool skip_body;		  /* SMFIS_SKIP may be returned from body */
	bool nr_hdr;	   /* no replies to headers and EOH (NR_HDR/EOH) */
	bool nr_body;	   /* no reply to body chunks (NR_BODY) */
	bool nr_early;	   /* no replies to connect, HELO, MAIL (NR_CONN,
			    * NR_HELO, NR_MAIL: DelayReject) */
	bool conn_failed;  /* connect/HELO failed with no reply to give */
	bool conn_drained; /* connect refused (draining), not answered */
	bool mail_failed;  /* MAIL failed with no reply to give */
	bool msg_failed;   /* a header/EOH/body step failed with no reply
			    * to give */
};

#define FILTER_NR_EARLY (SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL)

/*
 * Session threads run FILTER_SESSION_NICE nice steps below the process
 * (the main and DNS dispatcher threads keep its priority). The dispatcher
 * sends and reads the queries of every session; under CPU contention
 * the fair scheduler would give it the share of one thread among the
 * sessions, and every answer would wait behind their DKIM, header and
 * protocol work (docs/BENCHMARKS.md). Lowering one's own priority needs
 * no privilege.
 */
#define FILTER_SESSION_NICE 5

static int filter_base_nice; /* the process's, at start */
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

static void
fconn_free(struct fconn *fc)
{
	if (fc == NULL)
		return;
	engine_session_free(fc->s);
	conf_release(fc->conf);
	free(fc);
	atomic_fetch_sub(&filter_nsessions, 1);
}

/* The session of ctx, created on first use (negotiate or connect). */
static struct fconn *
fconn_get(SMFICTX *ctx)
{
	struct fconn *fc = fconn_of(ctx);
	char sid[24];
	unsigned long seq;

	if (fc != NULL)
		return fc;
	fc = calloc(1, sizeof *fc);
	if (fc == NULL)
		return NULL;
	atomic_fetch_add(&filter_nsessions, 1);
	seq = atomic_fetch_add(&filter_sidseq, 1) + 1;
	snprintf(sid, sizeof sid, "%08lX.%lu",
		 (unsigned long)time(NULL) & 0xffffffffUL, seq);
	fc->conf = conf_acquire();
	if (fc->conf != NULL)
		fc->s = engine_session_new(fc->conf, sid);
	if (fc->s == NULL || smfi_setpriv(ctx, fc) != MI_SUCCESS) {
		fconn_free(fc);
		return NULL;
	}
	return fc;
}

/* A failure with no session to log it on. */
static sfsistat
no_session(SMFICTX *ctx, const char *where)
{
	metrics_internal_error();
	log_error("internal error in %s: no session (out of memory?)", where);
	smfi_setreply(ctx, "451", "4.3.0",
		      "Temporary local problem, try again later");
	return SMFIS_TEMPFAIL;
}

/* The engine's answer as libmilter's; the reply set for a refusal. */
static sfsistat
answer(SMFICTX *ctx, enum engine_answer a, const struct engine_reply *r)
{
	if (a == ENGINE_CONTINUE)
		return SMFIS_CONTINUE;
	if (smfi_setreply(ctx, (char *)r->rcode,
			  r->xcode[0] != '\0' ? (char *)r->xcode : NULL,
			  (char *)r->text) != MI_SUCCESS)
		smfi_setreply(ctx, r->rcode[0] == '4' ? "451" : "550", NULL,
			      (char *)r->text);
	return a == ENGINE_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

static sfsistat
fi_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
	     unsigned long f3, unsigned long *pf0, unsigned long *pf1,
	     unsigned long *pf2, unsigned long *pf3)
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
	if (fc->conf->delay_reject && !atomic_load(&filter_draining) &&
	    (f1 & FILTER_NR_EARLY) == FILTER_NR_EARLY)
		*pf1 |= FILTER_NR_EARLY;
	fc->nr_early = (*pf1 & FILTER_NR_EARLY) == FILTER_NR_EARLY;
	*pf2 = 0;
	*pf3 = 0;
	fc->leadspc = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
	fc->s->c.hdr_trimmed = !fc->leadspc;
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

/*
 * The reply to a header, EOH (body false) or body step (body true): none
 * when negotiated away (NR_HDR/NR_EOH, NR_BODY), and a failure is then
 * kept for the next step that has a reply.
 */
static sfsistat
msg_reply(SMFICTX *ctx, sfsistat r, bool body)
{
	struct fconn *fc = fconn_of(ctx);

	if (fc == NULL || !(body ? fc->nr_body : fc->nr_hdr))
		return r;
	if (r != SMFIS_CONTINUE)
		fc->msg_failed = true;
	return SMFIS_NOREPLY;
}

/*
 * A failure kept by early_reply() or msg_reply(): 421 4.3.2 for a
 * connect refused by a drain, else 451 4.3.0 (already logged).
 */
static bool
kept_failure(SMFICTX *ctx, struct fconn *fc)
{
	if (fc->conn_drained) {
		smfi_setreply(ctx, "421", "4.3.2",
			      "Service shutting down, try again later");
		return true;
	}
	if (!fc->conn_failed && !fc->mail_failed && !fc->msg_failed)
		return false;
	smfi_setreply(ctx, "451", "4.3.0",
		      "Temporary local problem, try again later");
	return true;
}

/* Copy the queue id once the MTA has it (from DATA on in Postfix). */
static void
update_qid(SMFICTX *ctx, struct fconn *fc)
{
	engine_session_qid(fc->s, smfi_getsymval(ctx, "i"));
}

static sfsistat
connect_step(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
	struct fconn *fc = fconn_get(ctx);
	struct engine_reply r;

	if (fc == NULL)
		return no_session(ctx, "connect");
	if (atomic_load(&filter_draining)) {
		/* Stopping: the MTA tries again later, or another milter. */
		log_sinfo(fc->s->c.sid, "connection refused: shutting down");
		smfi_setreply(ctx, "421", "4.3.2",
			      "Service shutting down, try again later");
		return SMFIS_TEMPFAIL;
	}
	return answer(ctx,
		      engine_session_connect(fc->s, hostaddr, hostname,
					     smfi_getsymval(ctx, "j"), &r),
		      &r);
}

static sfsistat
fi_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
	sfsistat r = connect_step(ctx, hostname, hostaddr);
	struct fconn *fc = fconn_of(ctx);

	/* a drain refused it: 421 at the first RCPT, not 451 */
	if (fc != NULL && fc->nr_early && r != SMFIS_CONTINUE &&
	    atomic_load(&filter_draining))
		fc->conn_drained = true;
	return early_reply(ctx, false, r);
}

static sfsistat
fi_helo(SMFICTX *ctx, char *helohost)
{
	struct fconn *fc = fconn_of(ctx);
	struct engine_reply r;

	if (fc == NULL)
		return no_session(ctx, "helo");
	return early_reply(
	    ctx, false,
	    answer(ctx, engine_session_helo(fc->s, helohost, &r), &r));
}

static sfsistat
fi_envfrom(SMFICTX *ctx, char **argv)
{
	struct fconn *fc = fconn_of(ctx);
	struct engine_reply r;
	enum engine_answer a;

	if (fc == NULL)
		return no_session(ctx, "mail");
	fc->mail_failed = false;
	fc->msg_failed = false;
	a = engine_session_mail(fc->s, argv != NULL ? argv[0] : NULL,
				smfi_getsymval(ctx, "{auth_authen}"), &r);
	update_qid(ctx, fc);
	return early_reply(ctx, true, answer(ctx, a, &r));
}

static sfsistat
fi_envrcpt(SMFICTX *ctx, char **argv)
{
	struct fconn *fc = fconn_of(ctx);
	struct engine_reply r;

	if (fc == NULL)
		return no_session(ctx, "rcpt");
	update_qid(ctx, fc);
	if (kept_failure(ctx, fc))
		return SMFIS_TEMPFAIL;
	return answer(
	    ctx, engine_session_rcpt(fc->s, argv != NULL ? argv[0] : NULL, &r),
	    &r);
}

static sfsistat
fi_header(SMFICTX *ctx, char *name, char *value)
{
	struct fconn *fc = fconn_of(ctx);
	struct engine_reply r;

	if (fc == NULL)
		return no_session(ctx, "header");
	return msg_reply(
	    ctx, answer(ctx, engine_session_header(fc->s, name, value, &r), &r),
	    false);
}

static sfsistat
fi_eoh(SMFICTX *ctx)
{
	struct fconn *fc = fconn_of(ctx);
	struct engine_reply r;

	if (fc == NULL)
		return no_session(ctx, "eoh");
	update_qid(ctx, fc);
	return msg_reply(ctx, answer(ctx, engine_session_eoh(fc->s, &r), &r),
			 false);
}

static sfsistat
body_step(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct fconn *fc = fconn_of(ctx);
	struct engine_reply r;

	if (fc == NULL)
		return no_session(ctx, "body");
	if (kept_failure(ctx, fc))
		return SMFIS_TEMPFAIL;
	if (!engine_session_wants_body(fc->s))
		return fc->skip_body ? SMFIS_SKIP : SMFIS_CONTINUE;
	return answer(ctx, engine_session_body(fc->s, chunk, len, &r), &r);
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
	if (smfi_insheader(ctx, 0, (char *)name, v ? v : (char *)value) !=
	    MI_SUCCESS)
		rc = AM_ELIB;
out:
	free(v);
	return rc;
}

/*
 * Apply end of message: remove the forged A-R headers, highest index
 * first (CVE-2022-48521: a forgery that cannot be removed fails the
 * message), insert ours at the top, quarantine. Returns 0 or AM_E*.
 */
static int
apply_eom(SMFICTX *ctx, struct fconn *fc, const struct engine_eom *e,
	  const char **where)
{
	int rc = 0;

	*where = "removing forged headers";
	for (unsigned int k = e->nremove; rc == 0 && k > 0; k--) {
		unsigned int idx = e->remove[k - 1];

		if (smfi_chgheader(ctx, "Authentication-Results", (int)idx,
				   NULL) != MI_SUCCESS) {
			rc = AM_ELIB;
			break;
		}
		log_sinfo(fc->s->c.sid,
			  "qid=%s: removed forged Authentication-Results #%u",
			  fc->s->m != NULL && fc->s->m->m.qid[0]
			      ? fc->s->m->m.qid
			      : "-",
			  idx);
	}
	if (rc != 0)
		return rc;
	/* inserted at 0 from the bottom up: the first ends up on top */
	*where = "insert header";
	for (size_t k = e->nadd; rc == 0 && k > 0; k--)
		rc = insert_header(ctx, fc, e->add[k - 1].name,
				   e->add[k - 1].value);
	if (rc == 0 && e->quarantine[0] != '\0') {
		*where = "quarantine";
		if (smfi_quarantine(ctx, (char *)e->quarantine) != MI_SUCCESS)
			rc = AM_ELIB;
	}
	return rc;
}

static sfsistat
fi_eom(SMFICTX *ctx)
{
	struct fconn *fc = fconn_of(ctx);
	struct engine_eom e;
	const char *where = "eom";
	sfsistat ret;
	int rc;

	if (fc == NULL)
		return no_session(ctx, "eom");
	update_qid(ctx, fc);
	if (kept_failure(ctx, fc)) {
		ret = SMFIS_TEMPFAIL;
		goto out;
	}
	ret = answer(ctx, engine_session_eom(fc->s, &e), &e.reply);
	if (ret == SMFIS_CONTINUE) {
		rc = apply_eom(ctx, fc, &e, &where);
		if (rc < 0) {
			metrics_internal_error();
			log_serror(fc->s->c.sid,
				   "qid=%s: internal error in %s: "
				   "%s",
				   fc->s->m != NULL && fc->s->m->m.qid[0]
				       ? fc->s->m->m.qid
				       : "-",
				   where, am_strerror(rc));
			smfi_setreply(ctx, "451", "4.3.0",
				      "Temporary local problem, try again "
				      "later");
			ret = SMFIS_TEMPFAIL;
		}
	}
out:
	engine_session_end_message(fc->s);
	return ret;
}

static sfsistat
fi_abort(SMFICTX *ctx)
{
	struct fconn *fc = fconn_of(ctx);

	if (fc != NULL)
		engine_session_end_message(fc->s);
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
	    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE |
			  SMFIF_SETSYMLIST,
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
