/*
 * dns - the process-wide libunbound context and per-session query sets
 *
 * dns_init() creates the one libunbound context of the process (event
 * mode on a libevent base, raised outgoing-range, 512 KB message and 1 MB
 * RRset caches, resolver mode and trust anchor from the configuration)
 * and starts the dispatcher thread that runs its event loop: libunbound
 * resolves inside that thread. Session threads queue their queries and
 * wake it through an eventfd, once per batch. Every lookup of every
 * check goes through it.
 *
 * A session owns one struct dns_set for its whole life. dns_submit()
 * starts a query at once and returns its handle; submitting the same
 * (name, type) twice in one set returns the same handle, so a check may
 * ask again freely. dns_answer() reads a query without blocking (status
 * DNS_PENDING until the answer is in). dns_wait() blocks until one query,
 * or every pending query of the set, is answered or the deadline passes;
 * a query still pending at the deadline is cancelled and becomes
 * DNS_TIMEOUT for good, so that a check evaluated again later sees the
 * same answers. Queries started in one milter callback can be read in a
 * later callback of the same session. Every answer and every timeout
 * is counted (type, outcome, latency) with metrics_dns(), lock-free.
 * dns_set_new_local() makes a set whose answers come from a function
 * instead (unit tests and fuzz targets: no network, no libunbound).
 *
 * Caps: names longer than 253 octets or with a label over 63 octets, or
 *   empty labels, complete at once with DNS_INVALID and send nothing
 *   (any other octet may stand in a label and is sent escaped);
 *   at most DNS_MAX_RR records are kept per answer and a TXT record's
 *   joined strings are cut at DNS_MAX_TXT octets (the answer is then
 *   marked truncated).
 *   Budgets (SPEC "DNS budgets are per message"): a set takes at most
 *   DNS_MAX_QUERIES new queries per message (dns_set_new_message() at
 *   each MAIL FROM starts the count again; the queries of the
 *   connection phase, DNSBL, PTR and HELO, count before the first one)
 *   and DNS_MAX_CONN_QUERIES in all (queries stay in the set until it
 *   is freed: this bounds a session's memory). Past either, dns_submit()
 *   sends nothing and returns a query that completed with DNS_SERVFAIL,
 *   logs a warning naming the cap once, and dns_set_over_budget() says
 *   which budget was reached: the engine then tempfails the message
 *   (451 4.7.0), whatever OnDNSError says, so a budget reached never
 *   turns into a temperror that the policy accepts.
 *
 * DNS health (SPEC "DNS down is not a remote error"): every answer
 *   that comes from the network (data, nodata, nxdomain; not one that
 *   libunbound gave from its cache) is a success; a SERVFAIL and a
 *   timeout are failures. A failure counts towards "DNS is down" only
 *   when nothing succeeded since its query was sent. When counted
 *   failures have gone on for DNS_DOWN_AFTER_MS with no success, DNS
 *   is down (dns_down()): a warning names it once (the last error and
 *   the resolver), the gauge authmilter_dns_down is 1, and the engine
 *   tempfails every message with 451 4.4.3. The first success ends it
 *   (a warning with its duration). While failures are counted, or DNS
 *   is down, the dispatcher sends a probe at most every DNS_PROBE_MS
 *   (a random name under "invalid." with a forwarder, which answers
 *   NXDOMAIN at once (RFC 6761); a random top-level name when
 *   resolving from the root): a working DNS answers it, so one broken
 *   domain among working ones never looks like DNS down, and a return
 *   is seen within DNS_PROBE_MS without any traffic. dns_health_settle()
 *   lets a message whose lookups failed wait (within its deadline) for
 *   that question to be settled.
 * Ownership: a set belongs to its session; dns_set_free() cancels what is
 *   still pending and frees every query and answer (NULL is accepted).
 *   Query handles and answers are owned by the set and stay valid until
 *   dns_set_free(). Answer data never changes once the status is not
 *   DNS_PENDING.
 * Threads: the context is used by the dispatcher thread only. A set is
 *   used by one session thread; the dispatcher writes its result slots
 *   under one process-wide mutex (held for a few instructions, never
 *   while calling libunbound or any smfi_*) and wakes the owner only
 *   when what it waits for is complete. A query abandoned at its
 *   deadline or by dns_set_free() needs no cancel round trip: its late
 *   answer is dropped by the dispatcher (and still counts for DNS
 *   health). The health state is process-wide: atomics read without a
 *   lock on the answer path and by dns_down(), the rest under its own
 *   mutex, never taken together with the set mutex; any thread may
 *   record a failure (a timeout is seen by the owner's thread).
 * Errors: DNS trouble is a status, never an error return. dns_init()
 *   returns a negative AM_E* code and fills a message buffer.
 * See also: LIBRARIES.md section 1, RFC 1035, RFC 4033.
 */
#ifndef AM_DNS_H
#define AM_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <netinet/in.h>

#include "dns_mode.h"
#include "dns_packet.h"

#define DNS_MAX_QUERIES 512	  /* new queries per message (per MAIL FROM) */
#define DNS_MAX_CONN_QUERIES 4096 /* queries per set (per SMTP session) */
#define DNS_DOWN_AFTER_MS 3000	  /* failures with no success: DNS is down */
#define DNS_PROBE_MS 1000	  /* probe interval while lookups fail */

struct dns_set;	  /* per-session query set */
struct dns_query; /* one query; owned by its set */

struct dns_options {
	enum dns_mode mode;
	const char *forward;	  /* "ADDR[@PORT],..." for FORWARD */
	const char *trust_anchor; /* file or NULL */
};

/*
 * dns_init - create the shared context and start the dispatcher.
 * Returns 0, or a negative AM_E* code with a message in err.
 * In RESOLVCONF and FORWARD modes the default local zones of libunbound
 * (test., the private and documentation reverse zones, ...) are removed,
 * so that every name goes to the configured servers.
 */
int dns_init(const struct dns_options *opt, char *err, size_t errlen);

/* dns_shutdown - stop the dispatcher and delete the context. */
void dns_shutdown(void);

/*
 * dns_set_new - a new, empty query set. tag (e.g. the session id) is
 * copied and prefixes the debug log lines of its queries. NULL on ENOMEM.
 */
struct dns_set *dns_set_new(const char *tag);

/*
 * dns_local_fn - the answer function of a local set: fill *ans for the
 * query (name normalised: lower case, no trailing dot) and set its
 * status, or leave it DNS_PENDING to be asked again later. rr, their
 * strings and canonname must be malloc'd: the set frees them. Nothing
 * may be allocated while the status stays DNS_PENDING.
 */
typedef void dns_local_fn(void *arg, const char *name, enum dns_type type,
			  struct dns_answer *ans);

/*
 * dns_set_new_local - a query set answered by fn (with arg, borrowed)
 * instead of libunbound, for unit tests and fuzz targets; dns_init() is
 * not needed. fn is called when a valid (name, type) is first submitted
 * and again by dns_answer() while the answer is pending; dns_wait()
 * asks once more and then turns what is still pending into DNS_TIMEOUT
 * at once, whatever the deadline. Invalid names and the DNS_MAX_QUERIES
 * cap behave as in any set. NULL on ENOMEM.
 */
struct dns_set *dns_set_new_local(const char *tag, dns_local_fn *fn, void *arg);

/* dns_set_free - cancel pending queries and free everything. */
void dns_set_free(struct dns_set *set);

/*
 * dns_submit - start a query for (name, type), or return the handle of
 * the same query already in the set. name may carry a trailing dot and
 * any case. Never NULL: on a bad name or an engine failure the returned
 * query is already complete (DNS_INVALID or DNS_SERVFAIL).
 */
struct dns_query *dns_submit(struct dns_set *set, const char *name,
			     enum dns_type type);

/*
 * dns_answer - the query's answer so far, without blocking. The pointer
 * stays valid until dns_set_free(); status is DNS_PENDING until the
 * answer arrives or the query times out.
 */
const struct dns_answer *dns_answer(const struct dns_query *q);

/*
 * dns_wait - block until q (or, if q is NULL, every pending query of the
 * set) is complete or the absolute CLOCK_MONOTONIC deadline passes. A
 * query still pending at the deadline is cancelled and completes with
 * DNS_TIMEOUT. Returns 0, or AM_ETIMEOUT if anything timed out. The time
 * spent blocked is added to dns_set_wait_ms().
 */
int dns_wait(struct dns_set *set, struct dns_query *q,
	     const struct timespec *deadline);

/* dns_deadline - now (CLOCK_MONOTONIC) plus ms milliseconds. */
void dns_deadline(struct timespec *out, unsigned int ms);

/* dns_set_wait_ms - total milliseconds this set's owner spent blocked. */
double dns_set_wait_ms(const struct dns_set *set);

/* dns_set_reset_wait - zero the wait counter (dns_set_new_message). */
void dns_set_reset_wait(struct dns_set *set);

/* Which DNS budget a set has reached (dns_set_over_budget). */
enum dns_budget {
	DNS_BUDGET_OK = 0,
	DNS_BUDGET_MESSAGE,    /* DNS_MAX_QUERIES in this message */
	DNS_BUDGET_CONNECTION, /* DNS_MAX_CONN_QUERIES in this session */
};

/*
 * dns_set_new_message - a new message starts (MAIL FROM): the per-
 * message query count, its budget flag and the wait counter start
 * again. The connection budget stays reached once it is.
 */
void dns_set_new_message(struct dns_set *set);

/* dns_set_over_budget - which budget dns_submit() ran into, if any. */
enum dns_budget dns_set_over_budget(const struct dns_set *set);

/* dns_set_timeouts - how many of the set's queries ever timed out. */
unsigned long dns_set_timeouts(const struct dns_set *set);

/* dns_down - whether DNS as a whole is down now (see DNS health). */
bool dns_down(void);

/* What dns_health_settle() found. */
enum dns_health {
	DNS_HEALTH_UP = 0, /* lookups succeed: a failure is the domain's */
	DNS_HEALTH_DOWN,   /* DNS is down */
	DNS_HEALTH_UNSURE, /* deadline passed: nothing succeeded since the
			    * failures, but not yet for DNS_DOWN_AFTER_MS */
};

/*
 * dns_health_settle - for a message whose lookups failed: while
 * failures are counted and DNS is not yet down, ask for a probe and
 * wait (at most until the absolute CLOCK_MONOTONIC deadline) until a
 * lookup succeeds or DNS is down. Returns at once when no failure is
 * counted. The time blocked is added to dns_set_wait_ms(set).
 */
enum dns_health dns_health_settle(struct dns_set *set,
				  const struct timespec *deadline);

/* dns_query_name / dns_query_type - what a query asked. */
const char *dns_query_name(const struct dns_query *q);
enum dns_type dns_query_type(const struct dns_query *q);

/*
 * dns_set_count / dns_set_query - iterate over a set's queries in the
 * order they were first submitted (i from 0 to dns_set_count() - 1);
 * NULL past the end. For tools that show every query (explain). Each
 * call walks the list: O(n) per query, at most DNS_MAX_QUERIES.
 */
size_t dns_set_count(const struct dns_set *set);
const struct dns_query *dns_set_query(const struct dns_set *set, size_t i);

/* dns_status_str - "data", "nodata", "nxdomain", "servfail", ... */
const char *dns_status_str(enum dns_status s);

/* dns_type_str - "A", "AAAA", "MX", "TXT", "PTR". */
const char *dns_type_str(enum dns_type t);

/*
 * dns_reverse_name - the PTR/DNSBL name of an address: IPv4 octets
 * reversed, IPv6 32 nibbles reversed, followed by "." and suffix
 * ("in-addr.arpa", "ip6.arpa" or a DNSBL zone). family is AF_INET or
 * AF_INET6 and addr points to a struct in_addr or in6_addr. An IPv4-
 * mapped IPv6 address is treated as IPv4. Returns 0, or AM_ERANGE if
 * the result does not fit in outlen (out is then "").
 */
int dns_reverse_name(int family, const void *addr, const char *suffix,
		     char *out, size_t outlen);

#endif
