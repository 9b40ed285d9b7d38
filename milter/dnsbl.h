/*
 * dnsbl - DNSBL score of the client IP and RHSBL score of the sender
 *
 * dnsbl_ops (connect) sends one A query per DNSBL zone for the reversed
 * client IP (IPv4: 4 octets; IPv6: 32 nibbles) as soon as the client
 * connects; rhsbl_ops (MAIL FROM) does the same with the MAIL FROM
 * domain prepended to each RHSBL zone. Both score the answers with the
 * same code, in the manner of Postfix postscreen: a zone counts when one
 * of its A answers passes the zone's filter (blentry_match(); default:
 * any 127.0.0.0/8 address), adding the zone's weight once (negative
 * weights allowlist); answers in 127.255.255.0/24 are the list's error
 * codes (logged as errors, never counted) and answers outside
 * 127.0.0.0/8 are ignored with a warning. The result is AM_R_LISTED when
 * the score reaches DNSBLThreshold (RHSBL: the same threshold), else
 * AM_R_PASS. Zones that did not answer (SERVFAIL, timeout) give
 * AM_R_TEMPERROR only when their weights could change the verdict.
 * The reply names the listing zone with the largest weight.
 *
 * Caps: at most BLENTRY_MAX_LIST zones; at most DNS_MAX_RR answers per zone
 *   (the engine's cap); the zone list in reports is cut at
 *   DNSBL_MAX_ZONES_TEXT octets.
 * Ownership: the per-connection (DNSBL) or per-message (RHSBL) state
 *   lives in the check's slot and is freed by the ops' free hooks. Zone
 *   names are borrowed from the config snapshot the connection holds.
 * Threads: one session thread; no locks here.
 * Errors: DNS trouble gives AM_R_TEMPERROR, never an error return; hooks
 *   return AM_ENOMEM when memory runs out.
 * See also: RFC 5782, postconf(5) postscreen_dnsbl_sites,
 *   reject_rbl_client, reject_rhsbl_sender; docs/CHECKS.md.
 */
#ifndef AM_DNSBL_H
#define AM_DNSBL_H

#include "check.h"

#define DNSBL_MAX_ZONES_TEXT 512

/* The DNSBL check (client IP, connect) and the RHSBL check (MAIL FROM). */
extern const struct check_ops dnsbl_ops;
extern const struct check_ops rhsbl_ops;

#endif
