/*
 * helo - does the HELO/EHLO name belong to the client?
 *
 * helo_ops looks at each HELO/EHLO argument as it arrives. An address
 * literal ("[192.0.2.1]", "[IPv6:2001:db8::1]") passes when it equals
 * the client IP and fails otherwise, with no DNS. A name fails at once
 * when it is not a syntactically valid fully qualified host name (one
 * dot at least, letters, digits, '-' and '_' in labels of 1..63 octets,
 * not all-numeric at the top) or when it claims this server's own name
 * (macro j or AuthservID, case-insensitively). Otherwise its address
 * records are asked for (A for an IPv4 client, AAAA for IPv6): pass if
 * they contain the client IP; fail on NXDOMAIN, no records, or only
 * other addresses; temperror on SERVFAIL, timeout or DNSSEC-bogus.
 * No HELO at all gives the result none. HeloAction applies to fail;
 * reply "550 5.7.1 HELO name NAME does not match client [IP]".
 *
 * Caps: the name is cut at SESSION_MAX_NAME by the filter; names over
 *   253 octets fail as invalid; the reply quotes at most 200 octets of
 *   the name, with unsafe octets replaced (check_reply_safe()).
 * Ownership: the state lives in the check's conn slot, freed by
 *   conn_free; a new HELO/EHLO replaces it.
 * Threads: one session thread; no locks here.
 * Errors: hooks return AM_ENOMEM when memory runs out; DNS trouble is the
 *   temperror result.
 * See also: RFC 5321 sections 4.1.1.1 and 4.1.3, Postfix
 *   reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname,
 *   reject_unknown_helo_hostname; docs/CHECKS.md.
 */
#ifndef AM_HELO_H
#define AM_HELO_H

#include <stdbool.h>

#include "check.h"

/* The HELO check. */
extern const struct check_ops helo_ops;

/*
 * helo_is_fqdn - whether name (no trailing dot) is a syntactically valid
 * fully qualified host name in the sense above.
 */
bool helo_is_fqdn(const char *name);

#endif
