/*
 * checks - the table of check modules
 *
 * The one list of the checks authmilter runs, in the order of the
 * Authentication-Results methods (iprev, spf, dkim, dmarc), then the
 * checks that only appear in X-Authmilter (dnsbl, helo, sender,
 * rhsbl). The engine walks it for every phase hook, decision and
 * report; metrics names its counters after it. A new check is one
 * line here and its module's check_ops (check.h).
 *
 * Ownership: the table and the ops are static.
 * Threads: read-only; safe from any thread.
 * Errors: none.
 */
#ifndef AM_CHECKS_H
#define AM_CHECKS_H

#include <stddef.h>

#include "check.h"

/* checks_count - how many checks the table has. */
size_t checks_count(void);

/* checks_get - the i-th check's ops, or NULL past the end. */
const struct check_ops *checks_get(size_t i);

#endif
