/*
 * policy - check outcomes to one verdict, X-Authmilter and the log line
 *
 * policy_decide() combines the outcomes of the checks (check.h struct
 * check_outcome) into the message's verdict: the strongest action wins
 * (enum am_action order; on a tie the first check in table order), and
 * its reply is the one sent. DryRun turns reject, tempfail and
 * quarantine into accept and remembers what would have happened.
 *
 * policy_xauth_render() writes the X-Authmilter value
 *   "<authserv-id>; key=value; ...; action=<word>[ ...]"
 * where the items come from the checks' report() (policy_list), and the
 * action item is one of
 *   action=accept
 *   action=tag failed=dnsbl,helo
 *   action=quarantine reason="..."            (a real quarantine)
 *   action=reject (dry-run) reason="..." [failed=...]    (DryRun)
 * Values that are not plain tokens are quoted with '"' and '\\'
 * escaped; octets outside printable ASCII are dropped; items are folded
 * with "\n\t". policy_log_fields() lays out the per-message log line
 * (SPEC "Logs") for log_record(); in DryRun the action field reads
 * "would <action>".
 *
 * Caps: a policy_list holds at most POLICY_MAX_ITEMS items; a key is cut
 *   at 64 octets and a value at 256 (a header value added with
 *   policy_list_add_header() at POLICY_MAX_HEADER, 2048, its folds
 *   kept); the X-Authmilter value at 4096.
 * Ownership: a policy_list owns copies of its keys and values; free with
 *   policy_list_free(). policy_xauth_render() returns a malloc'd string
 *   the caller frees. A verdict holds copies (no pointers into outcomes
 *   except the check name, which is a static string of the check table).
 * Threads: no shared state; one session thread uses its own lists.
 * Errors: NULL or AM_ENOMEM on allocation failure; nothing else fails.
 * See also: SPEC.md "Headers written", "Replies", "Logs".
 */
#ifndef AM_POLICY_H
#define AM_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "check.h"
#include "conf.h"
#include "log.h"
#include "result.h"

#define POLICY_MAX_ITEMS 64
#define POLICY_MAX_HEADER 2048

/* One check's outcome as policy_decide() reads it. */
struct policy_entry {
	const char *check;	       /* check name: borrowed (static) */
	const struct check_outcome *o; /* borrowed; ignored unless o->done */
};

struct policy_verdict {
	enum am_action wanted; /* strongest configured action */
	enum am_action action; /* what to do: wanted, or none in DryRun */
	bool dry_run;	       /* DryRun turned wanted into accept */
	const char *check;     /* check whose action won, or NULL */
	char why[160];	       /* that check's why */
	char rcode[4];	       /* reply code for reject/tempfail */
	char xcode[10];	       /* enhanced status code */
	char reply[256];       /* reply text */
	char failed[256];      /* checks with an action other than none,
				* comma-separated, in table order */
};

/* An ordered list of key/value strings (X-Authmilter items, log fields). */
struct policy_item {
	char *key;   /* owned */
	char *value; /* owned */
};

struct policy_list {
	struct policy_item v[POLICY_MAX_ITEMS];
	size_t n;
};

/*
 * policy_decide - the verdict for the n entries. Outcomes with done unset
 * or result skipped are ignored. A reject or tempfail outcome without a
 * reply gets the SPEC's internal-error reply.
 */
void policy_decide(const struct conf *cf, const struct policy_entry *e,
		   size_t n, struct policy_verdict *v);

/* policy_action_word - "accept", "tag", "quarantine", "tempfail", ... */
const char *policy_action_word(enum am_action a);

/*
 * policy_list_add - append a copy of key and value (cut at the caps).
 * Returns 0, AM_ERANGE when the list is full, AM_EINVAL for a NULL or
 * empty key, or AM_ENOMEM.
 */
int policy_list_add(struct policy_list *l, const char *key, const char *value);

/*
 * policy_list_add_header - like policy_list_add() for a header field
 * (key = name, value = value): the value is cut at POLICY_MAX_HEADER
 * and keeps its folds (CRLF or LF before a space or tab become LF and
 * that character); other octets outside printable ASCII are dropped.
 */
int policy_list_add_header(struct policy_list *l, const char *name,
			   const char *value);

/* policy_list_get - the value of the first item called key, or NULL. */
const char *policy_list_get(const struct policy_list *l, const char *key);

/* policy_list_free - free every item; the list is empty afterwards. */
void policy_list_free(struct policy_list *l);

/*
 * policy_xauth_render - the X-Authmilter value (without the name), or
 * NULL on ENOMEM. items may be NULL.
 */
char *policy_xauth_render(const char *authserv_id,
			  const struct policy_list *items,
			  const struct policy_verdict *v);

/* What the per-message log line says about the message. */
struct policy_logmsg {
	const char *qid;	 /* queue id or NULL */
	const char *ip;		 /* client IP */
	const char *helo;	 /* HELO name or NULL */
	const char *mail_from;	 /* envelope sender ("" for <>) or NULL */
	const char *from_domain; /* From: domain or NULL */
	double dns_ms;		 /* milliseconds spent waiting for DNS */
};

/*
 * policy_log_fields - lay out the log line in f (at most max fields):
 * qid, ip, helo, mailfrom, from_domain, then the checks' fields in
 * order (a "from_domain" field among them only in its place), then
 * action and dns_ms. Strings are borrowed from the inputs,
 * from actbuf (at least 32 octets) for the action text and from buf (at
 * least 32 octets) for the number. Returns the number of fields
 * written.
 */
size_t policy_log_fields(const struct policy_logmsg *lm,
			 const struct policy_list *fields,
			 const struct policy_verdict *v, char *actbuf,
			 size_t actlen, char *buf, size_t buflen,
			 struct log_field *f, size_t max);

#endif
