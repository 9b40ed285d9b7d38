/*
 * result - check outcomes in RFC 8601's words, and policy actions
 *
 * Every check reports an enum am_result plus a short "why" text. The
 * strings are the RFC 8601 result keywords (plus "nullmx" and "listed",
 * which only appear in X-Authmilter). Actions are the SPEC's action
 * keywords, ordered by severity so that the strongest one wins with a
 * plain comparison.
 *
 * Ownership: the string functions return static strings.
 * Threads: safe from any thread.
 * Errors: none; an out-of-range value gives "unknown".
 * See also: RFC 8601 section 2.7, SPEC.md "Actions".
 */
#ifndef AM_RESULT_H
#define AM_RESULT_H

enum am_result {
	AM_R_NONE = 0,
	AM_R_PASS,
	AM_R_FAIL,
	AM_R_SOFTFAIL,
	AM_R_NEUTRAL,
	AM_R_POLICY,
	AM_R_TEMPERROR,
	AM_R_PERMERROR,
	AM_R_NULLMX,  /* sender domain publishes a null MX (RFC 7505) */
	AM_R_LISTED,  /* DNSBL/RHSBL score reached the threshold */
	AM_R_SKIPPED, /* check not run (disabled, internal, authenticated) */
};

/* Ordered by severity: a larger value is stronger. */
enum am_action {
	AM_ACT_NONE = 0,
	AM_ACT_TAG,
	AM_ACT_QUARANTINE,
	AM_ACT_TEMPFAIL,
	AM_ACT_REJECT,
};

/* am_result_str - "pass", "fail", ...; never NULL. */
const char *am_result_str(enum am_result r);

/* am_action_str - "none", "tag", "quarantine", "tempfail", "reject". */
const char *am_action_str(enum am_action a);

/* am_action_parse - keyword (case-insensitive) to action; -1 if unknown. */
int am_action_parse(const char *s);

#endif
