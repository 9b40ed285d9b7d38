/*
 * blentry - DNSBL/RHSBL entries in Postfix postscreen syntax
 *
 * blentry_parse() reads one "zone[=filter][*weight]" entry, as in
 * postscreen_dnsbl_sites: the filter is an IPv4 address pattern whose
 * octets are a number, a range "[a..b]", or alternatives "[a;b;c..d]"
 * mixing both, e.g. "zen.spamhaus.org=127.0.0.[2..11]*3"; the weight is a
 * signed integer (negative: an allowlist), default 1. With no filter,
 * any address in 127.0.0.0/8 matches. blentry_match() tests one answer
 * address against an entry's filter.
 *
 * Caps: a zone is a valid domain name of at most 200 octets; a weight
 *   lies in -1000..1000; an octet alternative list has at most 32 items;
 *   a list holds at most BLENTRY_MAX_LIST (256) entries.
 * Ownership: a blentry_list owns its entries and their strings.
 * Threads: no shared state.
 * Errors: blentry_parse returns AM_EINVAL with a reason in err.
 * See also: postconf(5) postscreen_dnsbl_sites, RFC 5782.
 */
#ifndef AM_BLENTRY_H
#define AM_BLENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>

#define BLENTRY_MAX_ALT 32
#define BLENTRY_MAX_LIST 256 /* entries in a blentry_list */

/* One octet of a filter: a set of ranges [lo, hi]. */
struct blentry_octet {
	unsigned char lo[BLENTRY_MAX_ALT];
	unsigned char hi[BLENTRY_MAX_ALT];
	unsigned int n; /* ranges in use */
};

struct blentry {
	char *zone; /* lower case, no trailing dot: owned */
	char *text; /* the entry as written (for logs): owned */
	bool has_filter;
	struct blentry_octet octet[4]; /* filter, when has_filter */
	int weight;
};

struct blentry_list {
	struct blentry *v; /* owned */
	size_t n;
};

/* blentry_parse - parse one entry into out; 0 or AM_EINVAL (err set). */
int blentry_parse(const char *text, struct blentry *out, char *err,
		  size_t errlen);

/*
 * blentry_match - whether answer (an A record) passes the entry's filter
 * (with no filter: any 127.0.0.0/8 address).
 */
bool blentry_match(const struct blentry *e, struct in_addr answer);

/* blentry_free - free one entry's strings (NULL ok). */
void blentry_free(struct blentry *e);

/* blentry_list_add - append (takes ownership of e's strings). */
int blentry_list_add(struct blentry_list *l, struct blentry *e);

/* blentry_list_free - free all entries and zero the list (NULL ok). */
void blentry_list_free(struct blentry_list *l);

#endif
