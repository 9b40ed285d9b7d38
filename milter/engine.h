/*
 * engine - run the check table over one session, without libmilter
 *
 * The part of a milter session that does not talk to the MTA: the phase
 * hooks of every check in table order (engine_connect() ... engine_body()),
 * the decision at a phase (engine_decide(): finish the ready checks
 * within what is left of the message's DNSTimeout, apply OnDNSError,
 * ask policy_decide(), then tempfail whatever the checks said when a
 * DNS budget was reached (451 4.7.0), DNS is down or failing (451
 * 4.4.3, after dns_health_settle()), or a check that could reject got
 * no answer because the message's wait budget cut its wait short),
 * the report of the finished checks (engine_report()), the header
 * values that would be added (engine_render()), the per-message log
 * line (engine_log()) and its
 * metrics (engine_count()). filter.c (the daemon) and authmilter-explain
 * both drive a session through these functions, so the explain tool
 * shows exactly what the daemon decides and writes.
 *
 * A hook function returns 0, or the first negative AM_E* code of a
 * check, with *who set to that check's name (static) for the log.
 *
 * Caps: at most ENGINE_MAX_EXTRA extra headers, each value cut at
 *   POLICY_MAX_HEADER octets (policy_list_add_header); their folds
 *   ("\n\t") are kept, other octets outside printable ASCII dropped.
 * Ownership: struct engine_report owns its builder and lists; free them
 *   with engine_report_free() (also after a failed engine_report()).
 *   engine_render() returns two malloc'd strings the caller frees.
 *   out arrays (SESSION_MAX_CHECKS outcomes) belong to the caller.
 * Threads: no shared state beyond the atomic metrics; one session
 *   thread uses its own conn, msg and outcomes.
 * Errors: AM_ENOMEM, or what a check's hook returns.
 * See also: check.h, policy.h, filter.h.
 */
#ifndef AM_ENGINE_H
#define AM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "authres.h"
#include "check.h"
#include "policy.h"
#include "session.h"

struct sockaddr;

#define ENGINE_MAX_EXTRA 8 /* extra headers (Received-SPF) per message */

/* What the checks' report() hooks produced for one message. */
struct engine_report {
	struct authres *ar;	  /* Authentication-Results builder: owned */
	struct policy_list xauth; /* X-Authmilter items: owned */
	struct policy_list logf;  /* log fields: owned */
	struct policy_list extra; /* extra headers (name, value): owned */
};

/*
 * engine_set_sender - fill m->mail_from (the MAIL FROM argument without
 * <>, at most SESSION_MAX_NAME octets: past it the local part is cut,
 * never a domain shorter than half the cap), m->null_sender and
 * m->mail_domain (lower case, NULL without '@'). Returns 0 or AM_ENOMEM.
 */
int engine_set_sender(struct msg *m, const char *arg);

/* engine_has_body_hook - whether some check reads the body. */
bool engine_has_body_hook(void);

/* The phase hooks of every check, in table order. */
int engine_connect(struct conn *c, const char **who);
int engine_helo(struct conn *c, const char **who);
int engine_mail(struct conn *c, struct msg *m, const char **who);
int engine_rcpt(struct conn *c, struct msg *m, const char *rcpt,
		const char **who);
/*
 * engine_header - passes at most SESSION_MAX_HEADERS headers on, and
 * past them only From: fields (logged once per message).
 */
int engine_header(struct conn *c, struct msg *m, const char *name,
		  const char *value, const char **who);
int engine_eoh(struct conn *c, struct msg *m, const char **who);
int engine_body(struct conn *c, struct msg *m, const unsigned char *chunk,
		size_t len, const char **who);

/*
 * engine_decide - finish the checks ready after phase upto (every one
 * when all is set, else only those whose action can reject or tempfail)
 * into out[i] (i = table index; a done outcome is not finished again),
 * then fill v. m may be NULL before MAIL FROM. Returns 0, or the
 * negative AM_E* code of a failed finish() (logged here with qid).
 */
int engine_decide(struct conn *c, struct msg *m, struct check_outcome *out,
		  enum check_phase upto, bool all, struct policy_verdict *v);

/*
 * engine_dns_error - OnDNSError, applied in this one place (by
 * engine_decide() to each outcome it finishes): with tempfail, an
 * outcome whose lookup failed where the check could have rejected or
 * tempfailed (o->dns_failed, o->at_stake) answers 451 4.4.3; with
 * accept it is only recorded. A stronger action of the check stays.
 */
void engine_dns_error(const struct conf *cf, struct check_outcome *o);

/*
 * engine_report - let every finished check report into r (which must be
 * zeroed). Returns 0 or AM_ENOMEM.
 */
int engine_report(struct conn *c, struct msg *m,
		  const struct check_outcome *out, struct engine_report *r);

/* engine_report_free - free what r holds; r may be reused after. */
void engine_report_free(struct engine_report *r);

/*
 * engine_render - the Authentication-Results and X-Authmilter values
 * (without the names) into *ar and *xauth. Returns 0 or AM_ENOMEM (both
 * NULL then).
 */
int engine_render(const struct conf *cf, const struct engine_report *r,
		  const struct policy_verdict *v, char **ar, char **xauth);

/*
 * engine_log - write the SPEC's per-message log line (log_record at
 * info); from_domain is DMARC's reading of From: (its log field). m may
 * be NULL.
 */
void engine_log(struct conn *c, struct msg *m, const struct engine_report *r,
		const struct policy_verdict *v);

/*
 * engine_count - count the message, each finished check's result and
 * the action in the metrics (metrics.h).
 */
void engine_count(const struct check_outcome *out,
		  const struct policy_verdict *v);

/* ---- the session: what filter.c and authmilter-explain drive ---- */

#define ENGINE_MAX_FORGED                                                      \
	100000 /* forged A-R headers of one message;                           \
		* past it the message is tempfailed */
#define ENGINE_MAX_ADD (ENGINE_MAX_EXTRA + 2) /* headers added per message */

/* What the MTA is to answer to a step. */
enum engine_answer {
	ENGINE_CONTINUE = 0, /* go on (the MTA's own answer) */
	ENGINE_REJECT,	     /* 5xx: reply holds the text */
	ENGINE_TEMPFAIL,     /* 4xx: reply holds the text */
};

struct engine_reply {
	enum engine_answer answer;
	char rcode[4];	/* "550", "451" */
	char xcode[10]; /* "5.7.1" */
	char text[256]; /* printable ASCII, no '%': safe for smfi_setreply */
};

/* What end of message changes in the message. */
struct engine_eom {
	struct engine_reply reply;  /* REJECT/TEMPFAIL: nothing else applies */
	unsigned int nremove;	    /* forged A-R headers to remove */
	const unsigned int *remove; /* their 1-based indexes among the A-R
				     * headers, ascending: remove from the
				     * last (borrowed from the session) */
	size_t nadd;		    /* headers to insert at the top */
	struct {
		const char *name;  /* borrowed from the session */
		const char *value; /* borrowed; folded with "\n\t" */
	} add[ENGINE_MAX_ADD];	   /* top to bottom */
	char quarantine[200];	   /* reason when quarantined, else "" */
};

/* One message of a session (MAIL FROM to end of message or abort). */
struct engine_msg {
	struct msg m;				      /* what the checks see */
	struct check_outcome out[SESSION_MAX_CHECKS]; /* finish() results */
	bool refused;		     /* a verdict before EOM ended it */
	struct engine_reply refusal; /* ... repeated at later RCPTs */
	unsigned int nar;	     /* A-R headers seen */
	unsigned int *forged;	     /* 1-based indexes of ours: owned */
	unsigned int nforged;	     /* entries used */
	unsigned int forged_cap;     /* entries allocated */
	bool too_many_forged;	     /* ENGINE_MAX_FORGED passed */
	struct engine_report rep;    /* the report at EOM: owned */
	char *ar;		     /* rendered A-R value: owned */
	char *xauth;		     /* rendered X-Authmilter: owned */
};

/*
 * A session: the connection and its current message. Read its members
 * freely (authmilter-explain prints them); change them only through the
 * functions below.
 */
struct engine_session {
	struct conn c;	      /* the connection: owns its dns set */
	struct engine_msg *m; /* current message or NULL: owned */
	struct check_outcome
	    cout[SESSION_MAX_CHECKS]; /* connection-phase
				       * outcomes (before MAIL FROM) */
	struct policy_verdict v;      /* the last verdict */
	bool decided;		      /* v ended or finished the message */
	const char *stage;	      /* where: "connect", "helo", "mail",
				       * "rcpt", "eom" (static) or NULL */
	const char *skipped;	      /* "internal"/"authenticated" at EOM */
};

/*
 * engine_session_new - a session on the configuration snapshot cf (the
 * caller keeps its reference and releases it after
 * engine_session_free()) with log prefix sid. NULL on ENOMEM.
 */
struct engine_session *engine_session_new(struct conf *cf, const char *sid);

/* engine_session_free - the end of the connection; NULL accepted. */
void engine_session_free(struct engine_session *s);

/*
 * The steps of an SMTP session, in order, each as the MTA reports it.
 * Each returns the answer (and fills r for REJECT and TEMPFAIL): the
 * verdicts of the checks at the decision points (connect, HELO and MAIL
 * without DelayReject, the first RCPT with it, end of message), the
 * repeat of a verdict that ended the message at a later RCPT, or 451
 * 4.3.0 for an internal failure (logged here with the queue id). Who is
 * checked (InternalHosts, SkipAuthenticated) is decided here too.
 *
 * engine_session_connect: sa NULL or of an unknown family is a client
 *   whose address is unknown (checked, not internal).
 * engine_session_mail: starts a message (the previous one is freed);
 *   arg is the MAIL FROM argument, auth_authen the SASL login or NULL.
 * engine_session_qid: the MTA's queue id, once it is known.
 * engine_session_eom: also the headers to add and remove and the
 *   quarantine reason in e (pointers into the session, valid until
 *   engine_session_end_message()).
 */
enum engine_answer engine_session_connect(struct engine_session *s,
					  const struct sockaddr *sa,
					  const char *client_name,
					  const char *our_name,
					  struct engine_reply *r);
enum engine_answer engine_session_helo(struct engine_session *s,
				       const char *helo,
				       struct engine_reply *r);
enum engine_answer engine_session_mail(struct engine_session *s,
				       const char *arg, const char *auth_authen,
				       struct engine_reply *r);
enum engine_answer engine_session_rcpt(struct engine_session *s,
				       const char *rcpt,
				       struct engine_reply *r);
void engine_session_qid(struct engine_session *s, const char *qid);
enum engine_answer engine_session_header(struct engine_session *s,
					 const char *name, const char *value,
					 struct engine_reply *r);
enum engine_answer engine_session_eoh(struct engine_session *s,
				      struct engine_reply *r);
/* engine_session_wants_body - whether the body is read at all. */
bool engine_session_wants_body(const struct engine_session *s);
enum engine_answer engine_session_body(struct engine_session *s,
				       const unsigned char *chunk, size_t len,
				       struct engine_reply *r);
enum engine_answer engine_session_eom(struct engine_session *s,
				      struct engine_eom *e);

/*
 * engine_session_end_message - free the message (after end of message,
 * once e has been applied, or at abort).
 */
void engine_session_end_message(struct engine_session *s);

#endif
