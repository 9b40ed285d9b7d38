/*
 * iprev - forward-confirmed reverse DNS of the client IP (RFC 8601 iprev)
 *
 * iprev_ops asks for the PTR records of the client IP at connect. Once
 * the PTR answer is in (looked at without blocking at HELO, and again,
 * waiting, in finish()), it asks for the address records of each PTR
 * name, at most IPREV_MAX_NAMES of them, all at once: A for an IPv4
 * client, AAAA for an IPv6 client (an address of the other family can
 * never equal the client's). Results, in RFC 8601 section 2.7.3 terms:
 *   pass       some PTR name has an address record equal to the client IP
 *              (that name is reported as policy.iprev);
 *   fail       PTR names were found but none maps back to the IP (every
 *              forward lookup completed: NXDOMAIN, no data, other IPs);
 *   permerror  no PTR data is published (NXDOMAIN or no PTR records);
 *   temperror  the PTR lookup, or a forward lookup that could still have
 *              passed, gave SERVFAIL, timed out or was DNSSEC-bogus.
 * IPRevAction applies to fail and permerror; reply "550 5.7.25 Reverse
 * DNS validation failed for [IP]". temperror follows OnDNSError.
 *
 * Caps: at most IPREV_MAX_NAMES PTR names are followed (the first ones
 *   of the answer, duplicates and the root name skipped); names come
 *   from the DNS engine, which caps records per answer and name lengths.
 * Ownership: the state lives in the check's conn slot, freed by
 *   conn_free; PTR names are borrowed from the session's DNS set.
 * Threads: one session thread; no locks here.
 * Errors: hooks return AM_ENOMEM when memory runs out; DNS trouble is the
 *   temperror result.
 * See also: RFC 8601 sections 2.7.3 and 3, RFC 7372 (5.7.25), Postfix
 *   reject_unknown_client_hostname; docs/CHECKS.md.
 */
#ifndef AM_IPREV_H
#define AM_IPREV_H

#include "check.h"

#define IPREV_MAX_NAMES 10

/* The iprev check (PTR at connect, forward lookups from HELO on). */
extern const struct check_ops iprev_ops;

#endif
