/*
 * spf_record - strict parser of one SPF record (RFC 7208 s. 4.5, 12)
 *
 * spf_record_is_spf() tells whether a TXT string is an SPF record at
 * all ("v=spf1", any case, then a space or the end: RFC 7208 s. 4.5).
 * spf_record_parse() parses the whole record before anything is
 * evaluated, so a syntax error anywhere gives permerror (s. 4.6): terms
 * are separated by spaces only; mechanisms are all, include, a, mx,
 * ptr, ip4, ip6, exists with an optional qualifier; modifiers are
 * redirect=, exp= (each at most once) and unknown name=macro-string
 * modifiers, which are checked and ignored. Names are case-insensitive.
 * A domain-spec must be a valid macro-string that ends in a macro or in
 * "." toplabel (s. 7.1); c, r and t macros are refused there. CIDR
 * lengths have no leading zeros and stay within 32 and 128; ip4
 * networks are strict dotted quads. Any octet outside printable ASCII
 * (NUL, controls, 8-bit) is a syntax error.
 *
 * Caps: a record over SPF_RECORD_MAX octets or with more than
 *   SPF_RECORD_MAX_TERMS terms is refused (permerror).
 * Ownership: spf_record_parse() returns a record the caller frees with
 *   spf_record_free() (NULL ok); its strings belong to the record.
 * Threads: pure functions, safe from any thread.
 * Errors: AM_EINVAL for a syntax error (the why text names the term),
 *   AM_ENOMEM.
 * See also: RFC 7208 sections 4.5, 4.6, 5, 6, 7.1 and 12.
 */
#ifndef AM_SPF_RECORD_H
#define AM_SPF_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>

#define SPF_RECORD_MAX 8192	 /* octets of one record */
#define SPF_RECORD_MAX_TERMS 512 /* terms of one record */

enum spf_qualifier {
	SPF_QUAL_PASS = 0, /* "+" or none */
	SPF_QUAL_FAIL,	   /* "-" */
	SPF_QUAL_SOFTFAIL, /* "~" */
	SPF_QUAL_NEUTRAL,  /* "?" */
};

enum spf_mech_type {
	SPF_MECH_ALL = 0,
	SPF_MECH_INCLUDE,
	SPF_MECH_A,
	SPF_MECH_MX,
	SPF_MECH_PTR,
	SPF_MECH_IP4,
	SPF_MECH_IP6,
	SPF_MECH_EXISTS,
};

struct spf_mech {
	enum spf_mech_type type;
	enum spf_qualifier qual;
	char *domain;	     /* domain-spec (macro-string), or NULL for the
			      * current domain: owned by the record */
	unsigned int cidr4;  /* IPv4 prefix length (32 when absent) */
	unsigned int cidr6;  /* IPv6 prefix length (128 when absent) */
	struct in_addr ip4;  /* ip4: the network */
	struct in6_addr ip6; /* ip6: the network */
	char *text;	     /* the term as written, for logs: owned */
};

struct spf_record {
	size_t nmech;	       /* mechanisms in mech */
	struct spf_mech *mech; /* in record order: owned */
	char *redirect;	       /* redirect= domain-spec or NULL: owned */
	char *exp;	       /* exp= domain-spec or NULL: owned */
};

/*
 * spf_record_is_spf - whether txt[0..len) starts with "v=spf1" (any
 * case) followed by a space or the end.
 */
bool spf_record_is_spf(const char *txt, size_t len);

/*
 * spf_record_parse - parse txt[0..len) (which may hold NUL octets) into
 * *out. Returns 0, AM_EINVAL with a short reason in why (syntax error:
 * permerror), or AM_ENOMEM. why may be NULL.
 */
int spf_record_parse(const char *txt, size_t len, struct spf_record **out,
		     char *why, size_t whylen);

/* spf_record_free - free a parsed record (NULL ok). */
void spf_record_free(struct spf_record *r);

/*
 * spf_domain_spec_valid - whether s[0..len) is a valid domain-spec:
 * macro-string (letters s l o d i p h v) ending in a macro-expand or in
 * "." toplabel ["."].
 */
bool spf_domain_spec_valid(const char *s, size_t len);

#endif
