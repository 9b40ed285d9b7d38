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

#define ENGINE_MAX_EXTRA 8 /* extra headers (Received-SPF) per message */

/* What the checks' report() hooks produced for one message. */
struct engine_report {
	struct authres *ar;       /* Authentication-Results builder: owned */
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
 * info). from_header is the first From: value or NULL; m may be NULL.
 */
void engine_log(struct conn *c, struct msg *m, const char *from_header,
		const struct engine_report *r,
		const struct policy_verdict *v);

/*
 * engine_count - count the message, each finished check's result and
 * the action in the metrics (metrics.h).
 */
void engine_count(const struct check_outcome *out,
		  const struct policy_verdict *v);

#endif
