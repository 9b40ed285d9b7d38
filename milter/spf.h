/*
 * spf - RFC 7208 SPF evaluation on the session's DNS query set
 *
 * spf_check_new() prepares check_host() for one client address and one
 * identity: the MAIL FROM address, or postmaster@HELO for the null
 * sender. spf_eval() then runs the whole evaluation from the start using
 * only answers already in the query set, and never blocks: when it needs
 * an answer that is still pending it returns SPF_PENDING and the query it
 * waits for, after first submitting every lookup the current record will
 * need (its a, mx, ptr, exists and include targets, within the lookup
 * limit), so that a record's lookups go out together and an include
 * chain costs its depth in round trips. Because answers never change once
 * complete (dns.h), evaluating again gives the same result; spf_run()
 * loops eval -> dns_wait(that query, deadline) -> eval until done, and a
 * query that times out becomes temperror.
 *
 * What it implements: initial processing (s. 4.3: a malformed or single-
 * label domain gives none), record selection (s. 4.5: TXT only, exactly
 * one "v=spf1" record), the strict parser of spf_record.h, every
 * mechanism and modifier (s. 5, 6), macros (s. 7, spf_macro.h, including
 * the validated name %{p}), exp= (s. 6.2: only for the top-level fail,
 * dropped on redirect, ignored on any trouble), results (s. 2.6, 8).
 * IPv4-mapped IPv6 clients are IPv4 (s. 5). DNS timeouts, SERVFAIL and
 * DNSSEC-bogus answers are temperror.
 *
 * Caps (RFC 7208 s. 4.6.4, counted in evaluation order, not while
 *   prefetching): at most SPF_MAX_LOOKUPS include, a, mx, ptr, exists
 *   and redirect terms across the whole check (then permerror); at most
 *   SPF_MAX_VOID lookups that return NXDOMAIN or no data (then
 *   permerror); an MX answer with more than SPF_MAX_MX names is
 *   permerror; an A/AAAA answer of an a or mx term cut at DNS_MAX_RR
 *   records (dns.h) that does not hold the client is permerror; only
 *   the first SPF_MAX_PTR PTR names are validated; a
 *   term's domain-spec whose expansion passes SPF_MACRO_MAX octets
 *   (spf_macro.h) is permerror (an exp= one gives the default
 *   explanation); an explanation is cut at SPF_EXP_MAX octets. Lookups
 *   sent ahead (prefetch) are not counted against the lookup limit but
 *   stop at SPF_MAX_PREFETCH new queries per check, so a check sends at
 *   most SPF_MAX_QUERIES distinct queries, whatever order answers come
 *   in (without that cap, slow includes and fast mx answers could make
 *   prefetch send some 500 for a check that evaluates 11 terms).
 * Ownership: a check copies every input string; free it with
 *   spf_check_free() (NULL ok). It borrows the dns_set, which must
 *   outlive it. spf_outcome() points into the check.
 * Threads: one check, one session thread.
 * Errors: DNS trouble is the temperror result; spf_eval()/spf_run()
 *   return a negative AM_E* code only for an internal failure (ENOMEM).
 * The check of a message (check.h's spf_ops: when to start, the action,
 * the A-R and Received-SPF headers) is spf_check.c's; this module knows
 * no session.
 *
 * See also: RFC 7208, RFC 8601 section 2.7.2, spf_check.h,
 *   spf_record.h, spf_macro.h, spf_received.h, SPEC.md "Checks".
 */
#ifndef AM_SPF_H
#define AM_SPF_H

#include <stdbool.h>
#include <time.h>
#include <netinet/in.h>

#include "dns.h"
#include "result.h"

#define SPF_MAX_LOOKUPS 10  /* DNS-querying terms per check */
#define SPF_MAX_VOID 2	    /* void lookups per check */
#define SPF_MAX_MX 10	    /* MX names per mx term */
#define SPF_MAX_PTR 10	    /* PTR names validated per lookup */
#define SPF_EXP_MAX 512	    /* octets of an explanation */
#define SPF_MAX_PREFETCH 64 /* queries sent ahead of evaluation per check */
/*
 * Distinct queries one check can send: evaluation's own, at most 1 (the
 * record) + 10 terms * 11 (mx: the MX and 10 address lookups) + 11 (the
 * client's PTR and 10 address lookups, for ptr and %{p}) + 1 (exp=),
 * plus what prefetch sent ahead.
 */
#define SPF_MAX_QUERIES (123 + SPF_MAX_PREFETCH)
#define SPF_MAX_IDENTITY 512 /* octets of a MAIL FROM address or HELO */

enum spf_status {
	SPF_DONE = 0,	 /* the outcome is final */
	SPF_PENDING = 1, /* waiting for the query returned in *wait */
};

struct spf_request {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;		      /* client; v4-mapped v6 unwrapped */
	const char *sender;   /* MAIL FROM without <>, "" or NULL if null */
	const char *helo;     /* HELO/EHLO argument, or NULL */
	const char *receiver; /* %{r}: the AuthservID, or NULL ("unknown") */
	time_t now;	      /* %{t}; 0 means time(NULL) at spf_check_new */
};

struct spf_outcome {
	enum am_result result; /* none, neutral, pass, fail, softfail,
				* temperror, permerror */
	bool helo_identity;    /* the identity is postmaster@HELO */
	char domain[256];      /* the domain checked (lower case) */
	char sender[SPF_MAX_IDENTITY + 16]; /* the identity checked */
	char mechanism[80];    /* the term that decided, "default", or "" */
	char why[160];	       /* short reason, printable ASCII */
	char exp[SPF_EXP_MAX]; /* explanation (fail only), may come from the
				* sender's DNS: escape before use */
	bool exp_default;      /* exp is ours, not the domain's exp= text */
	unsigned int lookups;  /* DNS-querying terms evaluated */
	unsigned int voids;    /* void lookups counted */
};

struct spf_check;

/*
 * spf_check_new - a check of rq on the query set dns (borrowed). NULL on
 * ENOMEM or if rq->family is neither AF_INET nor AF_INET6.
 */
struct spf_check *spf_check_new(struct dns_set *dns,
				const struct spf_request *rq);

/* spf_check_free - free a check (NULL ok). */
void spf_check_free(struct spf_check *c);

/*
 * spf_eval - evaluate without blocking. Returns SPF_DONE (the outcome is
 * final, and later calls return it again at once), SPF_PENDING with the
 * query to wait for in *wait (wait may be NULL), or a negative AM_E*
 * code.
 */
int spf_eval(struct spf_check *c, struct dns_query **wait);

/*
 * spf_run - evaluate, waiting for answers up to the absolute
 * CLOCK_MONOTONIC deadline; past it the queries still pending time out
 * (temperror). Returns 0 (the outcome is final) or a negative AM_E*.
 */
int spf_run(struct spf_check *c, const struct timespec *deadline);

/* spf_outcome - the outcome (meaningful once spf_eval gave SPF_DONE). */
const struct spf_outcome *spf_outcome(const struct spf_check *c);

#endif
