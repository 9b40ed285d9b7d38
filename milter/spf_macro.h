/*
 * spf_macro - SPF macro-string syntax check and expansion (RFC 7208 s. 7)
 *
 * spf_macro_check() validates a macro-string: "%{" letter *DIGIT ["r"]
 * *delimiter "}", "%%", "%_", "%-", and visible ASCII other than '%'.
 * The letters s l o d i p h v are allowed everywhere, c r t only in
 * explanation text (SPF_MACRO_EXP) and in unknown modifiers
 * (SPF_MACRO_ANY); explanation text may also hold spaces. An upper-case
 * letter expands like its lower-case form and is then URL-escaped
 * (everything but ALPHA DIGIT "-" "." "_" "~" becomes %XX).
 *
 * spf_macro_expand() expands a checked macro-string with the values of
 * a struct spf_macro_env: split on the delimiters (default "."),
 * optionally reversed, keep the given number of right-hand parts, joined
 * with ".". spf_macro_domain() then turns an expanded domain-spec into a
 * target name: the trailing dot goes, and a name over 253 octets loses
 * labels on the left until it fits (RFC 7208 s. 7.3).
 *
 * Caps: the expansion is cut at SPF_MACRO_MAX octets (AM_ERANGE); a
 *   transformer count over 128 means "all parts".
 * Ownership: the caller owns every buffer; nothing is kept.
 * Threads: pure functions, safe from any thread.
 * Errors: AM_EINVAL for a syntax error, AM_ERANGE past the cap.
 * See also: RFC 7208 sections 7.1-7.4, RFC 3986 section 2.3.
 */
#ifndef AM_SPF_MACRO_H
#define AM_SPF_MACRO_H

#include <stdbool.h>
#include <stddef.h>

#define SPF_MACRO_MAX 8192 /* octets of one expansion */

/* Flags for spf_macro_check / spf_macro_expand. */
#define SPF_MACRO_EXP 0x1 /* explanation text: c r t and spaces allowed */
#define SPF_MACRO_ANY 0x2 /* unknown modifier: every letter allowed */

/* The values the macro letters expand to; all borrowed, none NULL. */
struct spf_macro_env {
	const char *sender;    /* s: local-part@domain */
	const char *local;     /* l: local-part of the sender */
	const char *odomain;   /* o: domain of the sender */
	const char *domain;    /* d: the current domain */
	const char *ip;	       /* i: dotted quad, or 32 dotted nibbles */
	const char *client;    /* c: the address in its usual text form */
	const char *ptr;       /* p: validated name of the client, "unknown" */
	const char *version;   /* v: "in-addr" or "ip6" */
	const char *helo;      /* h: HELO/EHLO argument */
	const char *receiver;  /* r: receiving host (AuthservID) */
	const char *timestamp; /* t: seconds since the epoch, decimal */
};

/*
 * spf_macro_check - 0 if s[0..len) is a valid macro-string under flags,
 * AM_EINVAL otherwise.
 */
int spf_macro_check(const char *s, size_t len, unsigned int flags);

/*
 * spf_macro_uses - whether the macro-string s[0..len) contains a macro
 * with the given letter (either case). The string need not be valid.
 */
bool spf_macro_uses(const char *s, size_t len, char letter);

/*
 * spf_macro_expand - expand s[0..len) into out (NUL-terminated, outlen
 * > 0). Returns the length written, AM_EINVAL on a syntax error (also
 * checked here) or AM_ERANGE when the result exceeds outlen - 1 or
 * SPF_MACRO_MAX.
 */
int spf_macro_expand(const char *s, size_t len, const struct spf_macro_env *env,
		     unsigned int flags, char *out, size_t outlen);

/*
 * spf_macro_domain - in place: drop one trailing dot, then drop labels
 * from the left while the name is longer than 253 octets.
 */
void spf_macro_domain(char *name);

#endif
