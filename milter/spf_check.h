/*
 * spf_check - the SPF check of a message, spf.c's evaluator as a check
 *
 * spf_ops is the check table's entry (check.h) for RFC 7208: at MAIL
 * FROM, on_mail() starts an evaluation (spf_check_new(), spf_eval())
 * of the client address with the MAIL FROM identity, or postmaster@HELO
 * for the null sender, and sends its first lookups; progress() evaluates
 * again once the answer it stopped at is in, so an include or redirect
 * chain moves on while the message arrives; finish() runs it to the end
 * (spf_run(), bounded by the phase deadline) and maps the result to an
 * action: fail to SPFFailAction, softfail to SPFSoftfailAction (reply
 * 550 5.7.23), temperror through check_outcome_temperror() with the
 * stronger of the two. report() writes spf= (with smtp.mailfrom or
 * smtp.helo) into Authentication-Results, the Received-SPF header when
 * ReceivedSPF is on, and the spf, spf_domain and spf_why log fields.
 *
 * Caps: those of spf.h (lookups, void lookups, queries per check).
 * Ownership: the evaluation belongs to the message's check slot and is
 *   freed by msg_free(); finish() is idempotent (its outcome is kept).
 * Threads: one session thread per slot; no shared state.
 * Errors: only out of memory is an error (AM_ENOMEM); DNS trouble is
 *   the temperror result.
 * See also: spf.h, check.h, spf_received.h, RFC 7208, RFC 8601.
 */
#ifndef AM_SPF_CHECK_H
#define AM_SPF_CHECK_H

#include "check.h"

/* The check table entry (check.h). */
extern const struct check_ops spf_ops;

#endif
