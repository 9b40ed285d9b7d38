/*
 * spf_received - the Received-SPF header field (RFC 7208 section 9.1)
 *
 * spf_received_build() writes the value of a Received-SPF header:
 *
 *   pass (mx.example.org: domain of user@example.com designates
 *   	192.0.2.1 as permitted sender)
 *   	receiver=mx.example.org; client-ip=192.0.2.1;
 *   	envelope-from="user@example.com"; helo=mail.example.com;
 *   	identity=mailfrom; mechanism="ip4:192.0.2.0/24"
 *
 * with the keys of section 9.1 (problem= for temperror and permerror).
 * Every value is written as a dot-atom when it is one, otherwise as a
 * quoted-string with '"' and '\\' escaped; octets outside printable
 * ASCII are dropped, so CR and LF never reach the output. The comment
 * keeps printable ASCII only, with '(' ')' '\\' escaped. Lines are
 * folded with "\n\t" (libmilter adds the CR).
 *
 * Caps: each value and the comment's network parts are cut at
 *   SPF_RECEIVED_MAX_VALUE octets.
 * Ownership: the result is malloc'd; the caller frees it. Inputs are
 *   borrowed.
 * Threads: pure function, safe from any thread.
 * Errors: NULL on ENOMEM.
 * See also: RFC 7208 section 9.1, RFC 5322 section 3.2.3.
 */
#ifndef AM_SPF_RECEIVED_H
#define AM_SPF_RECEIVED_H

#include "result.h"

#define SPF_RECEIVED_MAX_VALUE 256

struct spf_received {
	enum am_result result;	   /* SPF result (none ... permerror) */
	const char *receiver;	   /* AuthservID, or NULL */
	const char *client_ip;	   /* client address as text */
	const char *envelope_from; /* MAIL FROM as given ("" for <>) */
	const char *helo;	   /* HELO/EHLO argument, or NULL */
	const char *identity;	   /* "mailfrom" or "helo" */
	const char *sender;	   /* identity checked (comment) */
	const char *mechanism;	   /* deciding term, or NULL */
	const char *problem;	   /* reason of an error, or NULL */
};

/*
 * spf_received_build - the header value (without "Received-SPF:"),
 * malloc'd, or NULL on ENOMEM.
 */
char *spf_received_build(const struct spf_received *in);

#endif
