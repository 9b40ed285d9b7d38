/*
 * uribl - the links of a message looked up in URI blocklists
 *
 * uribl_ops reads the message (its MIME header fields and body, links.h)
 * from MAIL FROM on. While the body streams, each domain that the raw
 * scan of links.c makes known (a prefetch hint) is submitted at once to
 * every URIBL zone ("<domain>.<zone>" A, or "<reversed IPv4>.<zone>").
 * At end of message, before any check waits (on_eom), links.c parses the
 * MIME structure and the first URIBLMaxDomains distinct registrable
 * domains not in URIBLSkipDomains that the hints did not already submit
 * are submitted, so that they share the end-of-message wait with DKIM
 * and DMARC; finish() then waits (deadline) and scores: a zone counts once,
 * with its weight, when one A answer for one of the domains passes its filter
 * (blentry_match(), default any 127.0.0.0/8 address). Error answers are logged
 * and never counted: 127.255.255.0/24 (every list), 127.0.1.255 (Spamhaus DBL:
 * an IP queried) and 127.0.0.1 (SURBL and URIBL: query refused or
 * blocked); answers outside 127.0.0.0/8 are ignored with a warning.
 * The result is AM_R_LISTED when the score reaches URIBLThreshold (the
 * action is URIBLAction), AM_R_PASS below it, AM_R_TEMPERROR when zones
 * that did not answer could change the verdict (at_stake: URIBLAction).
 * The reply names the listed domain and the public name of the listing
 * zone with the largest weight: "554 5.7.1 Message rejected: link to
 * DOMAIN listed by NAME". A hint not among the final domains is not
 * scored.
 *
 * Caps: those of links.h (URIBLMaxBytes, URIBLMaxDomains, MIME depth,
 *   parts, links); a cap reached is logged (uribl_capped) and the message
 *   is judged on what was scanned. Queries: at most 2 x URIBLMaxDomains x
 *   zones per message (hints and final domains), within the DNS set's
 *   per-message budget. Report texts are cut at URIBL_MAX_TEXT octets.
 * Ownership: the state is per message (its check slot), freed by the
 *   msg_free hook; zones are borrowed from the connection's snapshot.
 * Threads: one session thread; metrics are atomics.
 * Errors: hooks return AM_ENOMEM, or AM_ELIB when GMime fails; DNS
 *   trouble is AM_R_TEMPERROR.
 * See also: links.h, dnsbl.h, blentry.h, docs/CHECKS.md; SURBL and
 *   Spamhaus DBL usage notes on return codes.
 */
#ifndef AM_URIBL_H
#define AM_URIBL_H

#include <stdbool.h>
#include <stdio.h>

#include "check.h"

#define URIBL_MAX_TEXT 1024

extern const struct check_ops uribl_ops;

/*
 * uribl_error_answer - whether an answer address (network order octets
 * o[0..3]) is a list's error code rather than a listing.
 */
bool uribl_error_answer(const unsigned char *o);

/*
 * uribl_describe - after finish(): each link domain of the message with
 * the host it was first seen as, its number of links and each zone's
 * answer, for the explain tool: text lines, or (json) a member
 * ',"links":{...}' of an enclosing object. Nothing when the check did
 * not run.
 */
void uribl_describe(const struct check_slot *ms, FILE *fp, bool json);

#endif
