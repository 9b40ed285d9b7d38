/*
 * orgdom - the RFC 9989 DNS tree walk: policy discovery and the
 *          organizational domain
 *
 * orgdom_walk_init() computes the names a domain's walk queries
 * (RFC 9989 section 4.10): the domain itself, then its parents one label
 * at a time up to the top-level label; a domain of more than 8 labels is
 * shortened to its last 7 labels after the first query, so a walk makes
 * at most ORGDOM_MAX_QUERIES (8) queries. orgdom_walk_start() submits
 * the TXT queries for all of "_dmarc.<name>" at once on the session's
 * DNS set; orgdom_walk_wait() waits for them (up to a deadline) and
 * feeds each answer into the walk with orgdom_walk_feed(), which keeps
 * only TXT records starting with v=DMARC1; more than one such record at
 * a name counts as no record there.
 *
 * orgdom_policy() answers policy discovery (RFC 9989 4.10.1): the
 * domain's own record, else the record of its organizational domain,
 * else that of its public suffix domain (the psd=y record); a record at
 * a name between them is not used. orgdom_org() answers "which is
 * the organizational domain", reading the whole walk from the longest
 * name to the shortest: a record with psd=n marks the organizational
 * domain; a record with psd=y (not at the domain itself) makes the
 * domain one label below it the organizational domain (psd=y at the
 * domain itself ends the walk there: the domain is its own
 * organizational domain); otherwise it is
 * the name with the fewest labels that has a record, or the domain
 * itself when no name has one. A DNS failure (SERVFAIL, timeout, bogus)
 * at a name the answer depends on gives ORGDOM_TEMPERROR.
 *
 * orgdom_psl_check() is a cross-check only: it asks libpsl for the
 * domain's registrable domain and, when that differs from the walk's
 * organizational domain, logs a warning with both and counts it with
 * metrics_psl_mismatch() (authmilter_psl_mismatches_total).
 *
 * Caps: domain names of at most 253 octets (ORGDOM_MAX_NAME); 8 queries
 *   per walk; TXT records past DNS_MAX_RR are not seen (dns.h).
 * Ownership: a struct orgdom_walk is the caller's (in the check's
 *   message state); query handles in it belong to the DNS set, which
 *   must outlive the walk's use. Loaded PSL files are kept until
 *   orgdom_shutdown().
 * Threads: a walk is used by one session thread. The PSL cache is
 *   guarded by one mutex (psl_lock), held only while looking up or
 *   loading a list; the mismatch counter is metrics' (an atomic).
 * Errors: orgdom_walk_init returns AM_EINVAL for a name that is not a
 *   domain; DNS trouble is ORGDOM_TEMPERROR, never an error return.
 * See also: RFC 9989 sections 4.8 and 4.10, RFC 8020, libpsl.
 */
#ifndef AM_ORGDOM_H
#define AM_ORGDOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dmarc_record.h"
#include "dns.h"

struct psl_ctx_st;

#define ORGDOM_MAX_QUERIES 8
#define ORGDOM_MAX_NAME 254 /* 253 octets + NUL */

/* What one name of the walk gave. */
enum orgdom_step_status {
	ORGDOM_S_PENDING = 0, /* not fed yet */
	ORGDOM_S_NONE,	      /* no (single, valid) DMARC record */
	ORGDOM_S_RECORD,      /* one valid DMARC record: rec */
	ORGDOM_S_INVALID,     /* DMARC record(s) that are not valid: none */
	ORGDOM_S_MULTIPLE,    /* more than one DMARC record: none */
	ORGDOM_S_TEMPERROR,   /* SERVFAIL, timeout, bogus */
};

struct orgdom_step {
	enum orgdom_step_status status;
	struct dmarc_record rec;    /* valid when status is RECORD */
	unsigned int labels;	    /* labels of this name */
	char name[ORGDOM_MAX_NAME]; /* the domain queried (no _dmarc.) */
};

struct orgdom_walk {
	char domain[ORGDOM_MAX_NAME]; /* the walk's domain, lower case */
	unsigned int labels;	      /* its label count */
	size_t n;		      /* names in step */
	struct orgdom_step step[ORGDOM_MAX_QUERIES];
	struct dns_query *q[ORGDOM_MAX_QUERIES]; /* borrowed from the set */
	bool started;				 /* queries submitted */
};

enum orgdom_res {
	ORGDOM_OK = 0,	  /* found */
	ORGDOM_NONE,	  /* no record on the walk (policy discovery) */
	ORGDOM_TEMPERROR, /* a DNS failure stops the decision */
};

/*
 * orgdom_walk_init - reset w for domain (a trailing dot is dropped, the
 * name is lower-cased) and compute the names to query. Sends nothing.
 * Returns 0, or AM_EINVAL if domain is empty, too long, or has an empty
 * label or an octet that cannot be in a DNS name we query (space,
 * control, '@', 8-bit).
 */
int orgdom_walk_init(struct orgdom_walk *w, const char *domain);

/*
 * orgdom_walk_start - orgdom_walk_init() plus the submission of every
 * "_dmarc.<name>" TXT query of the walk, all at once. Never blocks.
 */
int orgdom_walk_start(struct orgdom_walk *w, struct dns_set *set,
		      const char *domain);

/*
 * orgdom_walk_wait - wait until every query of the walk is answered or
 * deadline (CLOCK_MONOTONIC) passes, then feed the answers (a query
 * still pending becomes a timeout: temperror). Idempotent.
 */
void orgdom_walk_wait(struct orgdom_walk *w, struct dns_set *set,
		      const struct timespec *deadline);

/*
 * orgdom_walk_feed - set step i from a DNS outcome: status is the DNS
 * status; txt/txtlen the n TXT records of the answer (DNS_DATA). Used
 * by orgdom_walk_wait and by tests.
 */
void orgdom_walk_feed(struct orgdom_walk *w, size_t i, enum dns_status status,
		      const char *const *txt, const size_t *txtlen, size_t n);

/*
 * orgdom_policy - policy discovery: *idx is the step whose record
 * applies (0 = the domain itself). ORGDOM_OK, ORGDOM_NONE, or
 * ORGDOM_TEMPERROR when a DNS failure comes before any record.
 */
enum orgdom_res orgdom_policy(const struct orgdom_walk *w, size_t *idx);

/*
 * orgdom_org - the organizational domain of the walk's domain, copied
 * into out (outlen >= ORGDOM_MAX_NAME). ORGDOM_OK or ORGDOM_TEMPERROR
 * (out is then "").
 */
enum orgdom_res orgdom_org(const struct orgdom_walk *w, char *out,
			   size_t outlen);

/*
 * orgdom_suffix - the last nlabels labels of domain (a pointer into
 * domain), or domain itself when it has no more labels than that.
 */
const char *orgdom_suffix(const char *domain, unsigned int nlabels);

/* orgdom_labels - the number of labels of a domain without a final dot. */
unsigned int orgdom_labels(const char *domain);

/*
 * orgdom_psl_check - compare the PSL's registrable domain of domain with
 * org (the walk's answer). psl_path is the PublicSuffixList file (NULL or
 * "none": no check). On a difference, log a warning (with sid) naming
 * both values and count it. Returns 1 on a mismatch, 0 if they agree,
 * or a negative AM_E* code if the list cannot be loaded.
 */
int orgdom_psl_check(const char *sid, const char *psl_path, const char *domain,
		     const char *org);

/*
 * orgdom_psl_load - load the list at psl_path now (NULL or "none":
 * nothing), so that the first message does not wait for it (parsing the
 * list takes about 10 ms, under the cache's lock). Returns 0, or AM_ELIB
 * if it cannot be read (logged; orgdom_psl_check then fails the same).
 */
int orgdom_psl_load(const char *psl_path);

/*
 * orgdom_psl_ctx - the loaded list at psl_path (loaded now if need be),
 * for lookups by another module (links.c: registrable domains of links);
 * NULL when psl_path is NULL or "none" or the list cannot be read (the
 * caller then uses libpsl's built-in list). Valid until
 * orgdom_shutdown(); lookups on it are read-only and thread-safe.
 */
const struct psl_ctx_st *orgdom_psl_ctx(const char *psl_path);

/* orgdom_shutdown - free the loaded public suffix lists (at exit). */
void orgdom_shutdown(void);

#endif
