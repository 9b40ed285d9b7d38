/*
 * check - the interface every check module offers to the filter
 *
 * A check (dnsbl, iprev, helo, sender, rhsbl, spf, dkim, dmarc) exports
 * one const struct check_ops and is listed once in the table in checks.c;
 * the engine walks that table in order (the order of the methods in the
 * Authentication-Results header: iprev, spf, dkim, dmarc, then the
 * checks that only appear in X-Authmilter).
 *
 * The phase hooks start DNS queries on conn->dns and return at once;
 * they never wait; progress() sends the next lookups of a chain as soon
 * as the answers they depend on are in (SPEC: queries go out as early
 * as their input is known). finish() is called when a decision needs
 * the result: at the first RCPT TO (DelayReject yes) or in the check's own
 * phase (DelayReject no) when its action can reject or tempfail, and at end of
 * message for every check. finish() may wait (dns_wait() with the given
 * deadline) and must be idempotent: a second call returns the same
 * outcome without new work. report() then adds the check's results to
 * the Authentication-Results builder, the X-Authmilter items, extra
 * headers (Received-SPF) and the log line.
 *
 * A hook returns 0, or a negative AM_E* code for an internal failure
 * (out of memory, a library refusing to work): the filter logs it and
 * tempfails the message (451 4.3.0). A DNS problem is never such a
 * failure: it is the temperror result.
 *
 * Ownership: a check's state lives in its slot of struct conn or struct
 *   msg and is freed by its conn_free/msg_free hook (called with NULL
 *   too). Strings handed to report() sinks are copied by them.
 * Threads: hooks run on the session's thread only.
 * Errors: a hook's negative AM_E* code (see above); DNS trouble is
 *   a temperror outcome, never an error.
 */
#ifndef AM_CHECK_H
#define AM_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "authres.h"
#include "result.h"
#include "session.h"

/* The phase after which a check's result can be known. */
enum check_phase {
	CHECK_PH_CONNECT = 0,
	CHECK_PH_HELO,
	CHECK_PH_MAIL,
	CHECK_PH_EOM,
};

/* What finish() decides. */
struct check_outcome {
	bool done;		 /* finish() has run */
	enum am_result result;	 /* the check's result */
	enum am_action action;	 /* configured action for this result, before
				  * DryRun; AM_ACT_NONE if it passed */
	char why[160];		 /* short reason for logs, X-Authmilter and
				  * the A-R comment; plain ASCII */
	char rcode[4];		 /* SMTP reply for reject/tempfail: "550" */
	char xcode[10];		 /* enhanced status: "5.7.1" */
	char reply[256];	 /* reply text, per SPEC "Replies" */
	bool dns_failed;	 /* a lookup failed: the result may hide
				  * another (check_outcome_temperror) */
	enum am_action at_stake; /* with dns_failed: the strongest action
				  * this message could have got from the
				  * check had DNS answered; OnDNSError is
				  * applied to it once, by the engine */
};

/* Where report() puts things. Each sink copies what it is given. */
struct check_report {
	struct authres *ar; /* Authentication-Results builder */
	/* X-Authmilter item "key=value" (value may be quoted by the sink) */
	void (*xauth)(struct check_report *r, const char *key,
		      const char *value);
	/* an extra header to add at end of message (e.g. Received-SPF) */
	void (*header)(struct check_report *r, const char *name,
		       const char *value);
	/* a field of the per-message log line */
	void (*logf)(struct check_report *r, const char *key,
		     const char *value);
	void *priv; /* the filter's state for the sinks */
};

struct check_ops {
	const char *name;	/* "dnsbl", "iprev", "spf", ... */
	enum check_phase ready; /* finish() is possible after this phase */
	/*
	 * A check of the client itself (its IP, its HELO: DNSBL, iprev,
	 * HELO, SPF). For a client in TrustedRelays (conn.relay) the
	 * engine runs none of its hooks and decides nothing with it
	 * before end of message; there its outcome is "skipped", unless
	 * from_upstream is set: then finish() and report() run at end of
	 * message and give the result the upstream relay found (SPF).
	 */
	bool about_client;
	bool from_upstream;
	/*
	 * The check reads the MIME structure (URIBL): past the header cap
	 * (SESSION_MAX_HEADERS) its on_header still gets Content-Type,
	 * Content-Transfer-Encoding and MIME-Version, which decide how the
	 * body is read; the other checks do not see them.
	 */
	bool mime_headers;

	/* Phase hooks; NULL when not needed. */
	int (*on_connect)(struct conn *c, struct check_slot *cs);
	int (*on_helo)(struct conn *c, struct check_slot *cs);
	int (*on_mail)(struct conn *c, struct msg *m, struct check_slot *cs,
		       struct check_slot *ms);
	int (*on_rcpt)(struct conn *c, struct msg *m, struct check_slot *cs,
		       struct check_slot *ms, const char *rcpt);
	int (*on_header)(struct conn *c, struct msg *m, struct check_slot *ms,
			 const char *name, const char *value);
	int (*on_eoh)(struct conn *c, struct msg *m, struct check_slot *ms);
	int (*on_body)(struct conn *c, struct msg *m, struct check_slot *ms,
		       const unsigned char *chunk, size_t len);

	/*
	 * Non-blocking: send the queries that answers already in make
	 * known (the forward lookups of a PTR name, an SPF include's
	 * record), so that a chain of dependent lookups moves on at every
	 * later hook of the session instead of waiting for finish().
	 * Called before the hooks of HELO, MAIL, RCPT, each header, end of
	 * headers and each body chunk; never waits, never fails (finish()
	 * meets the same problem again and reports it). ms is NULL before
	 * the first MAIL FROM.
	 */
	void (*progress)(struct conn *c, struct msg *m, struct check_slot *cs,
			 struct check_slot *ms);

	/*
	 * Non-blocking, at end of message, for every check before any
	 * finish() waits: start the lookups that need the whole message
	 * (URIBL: the links the MIME parse finds), so that they run in
	 * the same wait as the others instead of after them. Idempotent;
	 * NULL when not needed. 0 or a negative AM_E* code.
	 */
	int (*on_eom)(struct conn *c, struct msg *m, struct check_slot *ms);

	/*
	 * The strongest action the check can take under cf (its configured
	 * actions, AM_ACT_NONE when it is off); NULL: it never acts. The
	 * engine finishes a check at RCPT TO (DelayReject) only when this
	 * can reject or tempfail.
	 */
	enum am_action (*max_action)(const struct conf *cf);

	/* Wait (up to deadline) and decide; idempotent. */
	int (*finish)(struct conn *c, struct msg *m, struct check_slot *cs,
		      struct check_slot *ms, const struct timespec *deadline,
		      struct check_outcome *out);

	/* Add the results to the report (after finish). */
	void (*report)(struct conn *c, struct msg *m, struct check_slot *cs,
		       struct check_slot *ms, const struct check_outcome *o,
		       struct check_report *r);

	void (*msg_free)(struct check_slot *ms);  /* end of message */
	void (*conn_free)(struct check_slot *cs); /* close */
};

const struct check_ops *check_get(size_t i);

/*
 * Helpers every check uses to fill its outcome (added by the connection
 * checks; any check may use them).
 *
 * check_outcome_reply - set out's rcode, xcode and reply (printf format;
 * the text is cut to fit). Strings from the network must first go
 * through check_reply_safe(). Set out->action first: when it is
 * AM_ACT_TEMPFAIL, a 5xx code and a 5.x.x enhanced code become 4xx and
 * 4.x.x (as Postfix's soft_bounce does).
 */
void check_outcome_reply(struct check_outcome *out, const char *rcode,
			 const char *xcode, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * check_outcome_dns_tempfail - set out's action to tempfail with the
 * SPEC's reply for DNS trouble, 451 4.4.3 "Temporary DNS failure, try
 * again later" (OnDNSError=tempfail).
 */
void check_outcome_dns_tempfail(struct check_outcome *out);

/*
 * check_report_result - the report of a check with one result: the
 * X-Authmilter item xkey "result", or "result (why)" when the result is
 * not pass and why is set, and the log field logkey "result". A skipped
 * outcome is not reported.
 */
void check_report_result(struct check_report *r, const struct check_outcome *o,
			 const char *xkey, const char *logkey);

/*
 * check_slot_free - free(slot->state) and clear it (slot NULL ok): the
 * conn_free/msg_free hook of a check whose state is one malloc'd block.
 */
void check_slot_free(struct check_slot *slot);

/*
 * check_outcome_temperror - a temperror result: a lookup failed, and had
 * it answered the check could have given the message the action
 * at_stake (its configured action for the result the lookup might have
 * led to). out->action stays AM_ACT_NONE: the engine applies OnDNSError
 * once (engine_decide), tempfail when at_stake can reject or tempfail.
 * Sets result, dns_failed and at_stake; leaves out->why alone.
 */
void check_outcome_temperror(struct check_outcome *out,
			     enum am_action at_stake);

/*
 * check_reply_safe - copy a network string (a domain, a HELO name) for
 * use in an SMTP reply or X-Authmilter comment: at most outlen - 1
 * octets, every space, control or non-ASCII octet and '%' (libmilter's
 * smfi_setreply treats it as a format) replaced by '?'. Always NUL-
 * terminates (outlen > 0). Returns out.
 */
char *check_reply_safe(const char *in, char *out, size_t outlen);

/*
 * check_text_safe - copy text for the MTA (a reply, a quarantine
 * reason): at most outlen - 1 octets of printable ASCII; with words,
 * spaces are kept and other octets outside printable ASCII dropped;
 * without, every space, control or non-ASCII octet becomes '?' (one
 * token, as check_reply_safe()); '%' always becomes '?' (libmilter's
 * smfi_setreply reads it as a format). NUL-terminates (outlen > 0).
 */
void check_text_safe(const char *in, char *out, size_t outlen, bool words);

#endif
