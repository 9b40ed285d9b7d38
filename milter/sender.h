/*
 * sender - can the MAIL FROM domain receive mail (bounces)?
 *
 * sender_ops asks for the MX, A and AAAA records of the MAIL FROM domain
 * together, as soon as MAIL FROM arrives. In the order of Postfix's
 * reject_unknown_sender_domain:
 *   nullmx     the only MX record is "0 ." (RFC 7505), whatever else the
 *              domain has;
 *   pass       an MX record with a host name, or else (implicit MX,
 *              RFC 5321 section 5.1) an A or AAAA record;
 *   fail       NXDOMAIN, no MX/A/AAAA at all, an MX set made only of
 *              "." with a non-zero preference, or a name that is not a
 *              valid domain;
 *   temperror  no answer above and some lookup gave SERVFAIL, timed out
 *              or was DNSSEC-bogus.
 * The null sender and addresses without a domain or with an address
 * literal are not checked (result none). SenderDomainAction applies to
 * fail ("550 5.1.8 Sender address rejected: domain DOMAIN not found")
 * and nullmx ("550 5.7.27 Sender address has null MX").
 *
 * Caps: the domain is cut at 255 octets (a longer one is invalid); the
 *   reply quotes at most 200 octets of it, with unsafe octets replaced.
 * Ownership: the state lives in the check's msg slot, freed by msg_free.
 * Threads: one session thread; no locks here.
 * Errors: hooks return AM_ENOMEM when memory runs out; DNS trouble is the
 *   temperror result.
 * See also: RFC 5321 section 5.1, RFC 7505, Postfix
 *   reject_unknown_sender_domain; docs/CHECKS.md.
 */
#ifndef AM_SENDER_H
#define AM_SENDER_H

#include "check.h"

/* The sender-domain check. */
extern const struct check_ops sender_ops;

#endif
