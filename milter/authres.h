/*
 * authres - an RFC 8601 Authentication-Results header builder
 *
 * authres_new() starts a header for one authserv-id; each check appends
 * its results with authres_method() followed by authres_comment() and
 * authres_prop() for that method; authres_render() writes the header
 * value, one resinfo per line, folded with "\n\t" (libmilter adds the
 * CRLF), ready for smfi_insheader(). With no method at all the value is
 * "authserv-id; none" (RFC 8601 section 2.2).
 *
 * Every value is made safe: a property value that is not a valid
 * RFC 8601 token (or, for smtp.mailfrom and header.from style values, a
 * valid dot-atom or local-part@domain) is written as a quoted-string with
 * '"' and '\\' escaped; octets outside printable ASCII are dropped (a
 * header must not carry them) and CR/LF never reach the output; comment
 * text keeps only printable ASCII, with '(' ')' '\\' escaped. The output
 * parses with python3-authres.
 *
 * Caps: at most AUTHRES_MAX_METHODS resinfos; a property value or
 *   comment is cut at 256 octets; the rendered header at 8192 octets.
 * Ownership: the builder copies every string it is given; free it with
 *   authres_free() (NULL ok). authres_render() returns a malloc'd string
 *   the caller frees.
 * Threads: one builder, one thread.
 * Errors: authres_new() and authres_render() return NULL when out of
 *   memory; authres_method() returns AM_ERANGE past the method cap;
 *   authres_authserv_id() returns -1 for a value without an id.
 * See also: RFC 8601, RFC 5322 section 3.2, RFC 2045 section 5.1 (token).
 */
#ifndef AM_AUTHRES_H
#define AM_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#define AUTHRES_MAX_METHODS 32

struct authres;

/* authres_new - a builder for authserv_id; NULL on ENOMEM. */
struct authres *authres_new(const char *authserv_id);

/* authres_free - free the builder (NULL ok). */
void authres_free(struct authres *ar);

/*
 * authres_method - start a resinfo "method=result", e.g. ("spf", "pass").
 * Returns 0, or AM_ERANGE past AUTHRES_MAX_METHODS (then the following
 * comment and property calls are ignored until the next method).
 */
int authres_method(struct authres *ar, const char *method, const char *result);

/* authres_comment - a "(comment)" after the result of the last method. */
void authres_comment(struct authres *ar, const char *text);

/*
 * authres_prop - a property "ptype.property=value" of the last method,
 * e.g. ("smtp", "mailfrom", "user@example.com"); value is quoted when it
 * is not a token or an address.
 */
void authres_prop(struct authres *ar, const char *ptype, const char *property,
		  const char *value);

/* authres_count - methods added so far. */
size_t authres_count(const struct authres *ar);

/*
 * authres_render - the header value (without the "Authentication-Results:"
 * name): malloc'd, or NULL on ENOMEM.
 */
char *authres_render(const struct authres *ar);

/*
 * authres_authserv_id - the authserv-id of an existing header value, for
 * forged-header removal: skips leading CFWS (whitespace and comments),
 * returns the id (token or quoted-string, unquoted) in out, or -1 if the
 * value does not start with one. The caller compares case-insensitively.
 */
int authres_authserv_id(const char *value, char *out, size_t outlen);

/*
 * authres_is_ours - whether an existing header value carries ours as its
 * authserv-id: case-insensitive, a final dot on either side ignored
 * ("mx.example." is the same host). Such a header is a forgery.
 */
bool authres_is_ours(const char *value, const char *ours);

#endif
