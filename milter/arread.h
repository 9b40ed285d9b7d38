/*
 * arread - read the SPF result out of an upstream Authentication-Results
 *
 * arread_spf() parses one Authentication-Results header value (RFC 8601
 * section 2.2: authserv-id [version] then "; none" or resinfos of
 * method=result, an optional reason and properties, CFWS anywhere the
 * grammar allows it) and returns its authserv-id and, when the header
 * holds exactly one spf resinfo with an smtp.mailfrom property, that
 * result and the domain of the property (after the last '@', lower
 * case, no final dot). It is used only for a header a trusted relay
 * (TrustedRelays) passed on with a TrustedAuthservIDs id; the value is
 * still hostile input, so the parse is strict: anything it does not
 * understand makes the header unusable, never partly read.
 *
 * Results read: pass, fail, softfail, neutral, none, temperror,
 * permerror (RFC 8601 2.7.2); any other spf result is unusable.
 *
 * Caps (each fails closed: the header is not trusted, ARREAD_EINVAL):
 *   ARREAD_MAX_INPUT octets of value, ARREAD_MAX_RESINFO resinfos,
 *   ARREAD_MAX_PROPS properties per resinfo, comments nested at most
 *   ARREAD_MAX_DEPTH deep, a token or value of at most 255 octets.
 * Ownership: the caller owns out; nothing is allocated.
 * Threads: pure; safe from any thread.
 * Errors: the return value (see below); never reads past the NUL.
 * See also: RFC 8601 sections 2.2, 2.3, 2.7.2; RFC 5322 3.2 (CFWS).
 */
#ifndef AM_ARREAD_H
#define AM_ARREAD_H

#include <stdbool.h>
#include <stddef.h>

#include "result.h"

#define ARREAD_MAX_INPUT 8192
#define ARREAD_MAX_RESINFO 32
#define ARREAD_MAX_PROPS 16
#define ARREAD_MAX_DEPTH 8

enum arread_status {
	ARREAD_OK = 0, /* id and spf result read */
	ARREAD_NOSPF,  /* well-formed, id read, but no usable spf result
			* (none, several, or without smtp.mailfrom) */
	ARREAD_EINVAL, /* malformed or over a cap: id may be "" */
};

struct arread_spf {
	char id[256];	       /* authserv-id, unquoted */
	enum am_result result; /* spf result (ARREAD_OK) */
	char domain[256];      /* smtp.mailfrom domain (ARREAD_OK) */
};

/*
 * arread_spf - parse the header value (NUL-terminated) into out (always
 * reset). Returns an arread_status.
 */
int arread_spf(const char *value, struct arread_spf *out);

#endif
