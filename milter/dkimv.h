/*
 * dkimv - DKIM signature verification (libopendkim over our DNS engine)
 *
 * dkimv_init() creates the one DKIM_LIB of the process with
 * DKIM_LIBFLAGS_DELAYSIGPROC, no library cache, our key-lookup callback,
 * and DNS hooks that refuse to work, so that no part of libopendkim's own
 * resolver ever runs (LIBRARIES.md 3.3 path B), and
 * DKIM_LIBFLAGS_FIXCRLF (a body without its final CRLF, or with bare
 * LFs, is canonicalized as RFC 6376 says).
 *
 * Per message (dkimv_ops, the check_ops of the "dkim" check):
 * on_header feeds every header to libopendkim in order as "Name:value"
 * (the value exactly as libmilter passes it: with SMFIP_HDR_LEADSPC it
 * keeps its leading space; without it, conn->hdr_trimmed, one space is
 * put back after the colon as OpenDKIM does; folded lines arrive joined
 * with a bare LF, which becomes CRLF). For each of the first DKIMMaxSignatures
 * DKIM-Signature headers a minimal, bounded scan of d= and s= starts the
 * TXT query for s._domainkey.d at once on conn->dns, so every key query
 * of the message runs in parallel from header time. on_eoh and on_body
 * feed libopendkim; keys are only needed at end of message. finish()
 * runs dkim_eom(): the key-lookup callback finds the prefetched query
 * and waits for it against the deadline. Each signature gets its own
 * result: pass; fail (body hash or signature mismatch); policy (RSA key
 * smaller than DKIMMinimumKeyBits, rsa-sha1, or the header cap below);
 * neutral (malformed or expired signature); permerror (no key, revoked
 * key, malformed key, several key records, key record over 1024
 * octets); temperror (key query timed out, SERVFAIL, DNSSEC bogus).
 * Signatures past DKIMMaxSignatures are ignored (dkim_sig_ignore at
 * prescreen) and not reported. report() adds one
 * "dkim=" resinfo per signature (header.d, header.s, header.a, header.b
 * and a comment with the reason) or "dkim=none", and finish() fills
 * msg->auth.dkim[] for DMARC. DKIM never rejects by itself: its action
 * is always none.
 *
 * Caps: at most min(DKIMMaxSignatures, SESSION_MAX_SIGS) signatures are
 *   verified; at most DKIMV_MAX_SIGHDRS DKIM-Signature headers are handed
 *   to libopendkim at all (the ones below are dropped, which bounds the
 *   body hashing a hostile message can ask for); a message with more,
 *   or that reached SESSION_MAX_HEADERS headers (the engine passes no
 *   more), has no passing signature: a pass becomes policy, since the
 *   headers past the cap, which h= may select, were never verified
 *   ("too many headers" or "too many signature headers: not all
 *   verified"); a key record is
 *   at most 1024 octets (libopendkim's buffer); the d=/s= scan reads at
 *   most the header value and copies at most 253 octets of key name.
 * Ownership: the per-message state lives in the check's msg slot and is
 *   freed by msg_free (dkim_free included); DNS answers belong to
 *   conn->dns. The DKIM_LIB belongs to the module (dkimv_shutdown).
 * Threads: the DKIM_LIB is created once (pthread_once) before sessions
 *   start and is only read afterwards; libopendkim allows one DKIM_LIB
 *   to be shared by all threads. Per-message state is used by its
 *   session thread only.
 * Errors: DNS trouble is a temperror result, never an error return. A
 *   hook returns AM_ENOMEM when libopendkim runs out of memory and
 *   AM_ELIB if the library could not be initialized.
 * See also: RFC 6376, RFC 8463, RFC 8301, RFC 8601 section 2.7.1,
 *   LIBRARIES.md section 3.
 */
#ifndef AM_DKIMV_H
#define AM_DKIMV_H

#include <stdbool.h>
#include <stddef.h>

#include "check.h"
#include "result.h"

/* DKIM-Signature headers handed to libopendkim per message, at most. */
#define DKIMV_MAX_SIGHDRS 32
/* Longest key record libopendkim's key-lookup buffer can take. */
#define DKIMV_MAX_KEYREC 1024
/* libopendkim's own key-size floor; DKIMMinimumKeyBits is applied here. */
#define DKIMV_LIB_MINKEYBITS 512

/* One verified signature, as reported. */
struct dkimv_result {
	enum am_result result; /* pass, fail, policy, neutral, ... */
	char domain[256];      /* d= (lower case), "" if missing */
	char selector[128];    /* s=, "" if missing */
	char alg[32];	       /* a= ("rsa-sha256"), "" if unknown */
	char b[16];	       /* header.b: leading part of b=, "" if none */
	char why[96];	       /* short reason, "" for pass */
	unsigned int keybits;  /* RSA key size, 0 if unknown or Ed25519 */
};

/* The check_ops of the "dkim" check (listed in check.c). */
extern const struct check_ops dkimv_ops;

/*
 * dkimv_init - create the process-wide DKIM_LIB (idempotent). Call from
 * main before the milter starts. Returns 0 or AM_ELIB. The hooks create
 * it on first use if main did not.
 */
int dkimv_init(void);

/* dkimv_shutdown - close the DKIM_LIB at exit, after every session. */
void dkimv_shutdown(void);

/*
 * dkimv_result_count / dkimv_result_get - the per-signature results of
 * a finished message (ms is the check's msg slot); NULL past the end.
 * The pointer is valid until msg_free.
 */
size_t dkimv_result_count(const struct check_slot *ms);
const struct dkimv_result *dkimv_result_get(const struct check_slot *ms,
					    size_t i);

/*
 * dkimv_keyname - the key query name "s._domainkey.d" of a DKIM-Signature
 * header value, from a minimal tag scan (used only to prefetch; the
 * library does the real parsing). Lower case, no trailing dot. Returns
 * 0, or -1 (out is "") when d= or s= is missing, empty, holds characters
 * that cannot be in a domain name, the name would have an empty label
 * (d= may end in one dot), or it would exceed 253 octets or outlen.
 */
int dkimv_keyname(const char *value, char *out, size_t outlen);

/*
 * dkimv_sig_domain - the d= value of a DKIM-Signature header value,
 * lower case and trimmed, by the same minimal tag scan (for prefetch,
 * e.g. DMARC's tree walk of the signing domain; the library does the
 * real parsing). Returns 0, or -1 (out is "") when d= is missing or
 * empty, holds a character that cannot be in a domain name, or does
 * not fit in outlen.
 */
int dkimv_sig_domain(const char *value, char *out, size_t outlen);

#endif
