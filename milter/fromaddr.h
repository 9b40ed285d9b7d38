/*
 * fromaddr - the addresses of an RFC 5322 From: header field, for DMARC
 *
 * fromaddr_parse() reads a From: field body (mailbox-list, RFC 5322
 * section 3.6.2; groups and obsolete routes are tolerated) and returns
 * the domain of each address: display names, comments (nested, with
 * quoted-pairs), quoted local parts (which may hold '@', ',' or '<')
 * and folding are handled. Only the domain matters to DMARC, so the
 * local part is not kept. A domain that is not an ASCII host name
 * (domain literal, 8-bit octets of an unconverted IDN, empty) is
 * reported with domain_ok false; the caller decides (DMARC: permerror).
 *
 * A group's display name holds no '@' and groups do not nest: a field
 * like "ceo@bank.test x:a@atk.test;" is AM_EINVAL, not read as the group
 * alone (CVE-2020-12272), and so is a ';' outside a group.
 *
 * fromaddr_harvest() is the fail-closed reading for DMARC when the
 * strict parse fails or finds several domains (RFC 9989 permerror):
 * every host name that follows an '@' anywhere in the field (in quotes,
 * comments and broken syntax too: what some mail client might show as
 * an address), added to a set of distinct domains, so that the
 * strictest policy among them can be applied.
 *
 * Caps: at most FROMADDR_MAX_INPUT octets are read (more: AM_ERANGE);
 *   at most FROMADDR_MAX addresses are kept (total counts them all).
 *   fromaddr_harvest() reads the whole value (no cap: it is one linear
 *   pass, called once per From: field) and keeps at most
 *   FROMADDR_MAX_DOMAINS distinct domains; past that it sets overflow,
 *   which the caller must treat as the strictest outcome.
 * Ownership: the caller owns the list; nothing is allocated.
 * Threads: pure; safe from any thread.
 * Errors: AM_EINVAL for an unbalanced quote, comment or angle bracket;
 *   AM_ERANGE past the input cap. Never reads past len.
 * See also: RFC 5322 sections 3.2, 3.4 and 3.6.2; RFC 9989 section 4.4.
 */
#ifndef AM_FROMADDR_H
#define AM_FROMADDR_H

#include <stdbool.h>
#include <stddef.h>

#define FROMADDR_MAX 8
#define FROMADDR_MAX_INPUT 16384
#define FROMADDR_MAX_DOMAIN 254

struct fromaddr {
	char domain[FROMADDR_MAX_DOMAIN]; /* lower case, no final dot;
					   * "" if the address has none */
	bool domain_ok;			  /* a usable ASCII host name */
};

struct fromaddr_list {
	size_t n;     /* addresses kept in addr */
	size_t total; /* addresses seen (may exceed FROMADDR_MAX) */
	struct fromaddr addr[FROMADDR_MAX];
};

#define FROMADDR_MAX_DOMAINS 8

/* Distinct domains read from From: fields, for the fail-closed path. */
struct fromaddr_set {
	size_t n;      /* domains in domain */
	bool overflow; /* more distinct domains than FROMADDR_MAX_DOMAINS */
	char domain[FROMADDR_MAX_DOMAINS]
		   [FROMADDR_MAX_DOMAIN]; /* lower
					   * case, no final dot, valid host
					   * names */
};

/*
 * fromaddr_harvest - add to set every distinct host name that follows an
 * '@' in len octets of value (see above). set must be zeroed before the
 * first call; call it once per From: field. Never fails.
 */
void fromaddr_harvest(const char *value, size_t len, struct fromaddr_set *set);

/*
 * fromaddr_set_add - add domain (lower case, no final dot) to set unless
 * it is there already; sets overflow when the set is full.
 */
void fromaddr_set_add(struct fromaddr_set *set, const char *domain);

/*
 * fromaddr_parse - parse len octets of value into out (always reset).
 * Returns 0, AM_EINVAL or AM_ERANGE (out then holds what was read).
 */
int fromaddr_parse(const char *value, size_t len, struct fromaddr_list *out);

#endif
