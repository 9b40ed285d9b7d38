/*
 * report_sign - DKIM signature of the report messages
 *
 * RFC 9990 section 3.5.2: report mail must pass DMARC itself. With
 * ReportSigningKey and ReportSigningSelector set, report_sign_open()
 * reads the PEM private key once and report_sign() signs one message
 * with libopendkim's signing API: d= is ReportFrom's domain (so the
 * signature is aligned with the From header), s= the selector,
 * rsa-sha256 (an RSA key), relaxed/relaxed,
 * over From, To, Subject, Date, Message-ID, MIME-Version and
 * Content-Type. The message is given as report_mime_build() wrote it
 * (LF line ends); it is fed to libopendkim with CRLF, which is what the
 * MTA will send. The result is the complete "DKIM-Signature:" header
 * field, folded, with LF line ends, to put in front of the message.
 *
 * Ownership: a struct report_signer is the caller's (report_sign_close,
 *   NULL ok); *sighdr is malloc'd, the caller's.
 * Threads: one signer, one thread.
 * Errors: AM_ESYS (the key file cannot be read), AM_EINVAL (not a
 *   message, empty selector or domain), AM_ELIB (libopendkim refused the
 *   key or the message; err has its text), AM_ENOMEM.
 * See also: RFC 6376, RFC 9990 section 3.5.2, LIBRARIES.md section 3,
 *   report_mime.h.
 */
#ifndef AM_REPORT_SIGN_H
#define AM_REPORT_SIGN_H

#include <stddef.h>

#define REPORT_SIGN_KEY_MAX 65536 /* octets of a PEM key file */

struct report_signer;

/* report_sign_open - read keyfile; sign as selector and domain. */
int report_sign_open(const char *keyfile, const char *selector,
		     const char *domain, struct report_signer **out, char *err,
		     size_t errlen);

/* report_sign_close - free (NULL ok). */
void report_sign_close(struct report_signer *s);

/* report_sign - the DKIM-Signature header field of msg into *sighdr. */
int report_sign(struct report_signer *s, const char *msg, size_t len,
		char **sighdr, char *err, size_t errlen);

#endif
