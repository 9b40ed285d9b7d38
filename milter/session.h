/*
 * session - per-connection and per-message state
 *
 * struct conn lives from negotiate (or connect) to close and is kept with
 * smfi_setpriv(); struct msg lives from MAIL FROM to end of message or
 * abort. Both are filled by filter.c from the milter callbacks and read
 * by the check modules (check.h); a check keeps its own state in its slot
 * (conn->slot[i], msg->slot[i], i = the check's index in the check table)
 * and writes the shared results that later checks read (msg->auth: SPF
 * and DKIM results for DMARC).
 *
 * Caps: a HELO name or envelope address is cut at SESSION_MAX_NAME
 *   octets; at most SESSION_MAX_HEADERS headers of a message are passed
 *   to the checks, and past them only From: fields (DMARC must see every
 *   one); at most SESSION_MAX_SIGS DKIM results are kept.
 * Ownership: conn owns its dns set, helo, strings and every check's conn
 *   state; msg owns its strings and every check's msg state; conn->conf
 *   is one reference on a config snapshot, released at close.
 * Threads: a conn and its msg are touched only by their session's thread.
 * Errors: none here (definitions only).
 */
#ifndef AM_SESSION_H
#define AM_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "conf.h"
#include "dns.h"
#include "result.h"

#define SESSION_MAX_NAME 512
#define SESSION_MAX_HEADERS 1000
#define SESSION_MAX_SIGS 16
#define SESSION_MAX_CHECKS 16
#define SESSION_LOG_RCPTS 10   /* recipients named in the log line */
#define SESSION_RCPT_TEXT 1200 /* room for their list */

/* What a check keeps for one session or message. */
struct check_slot {
	void *state; /* owned by the check; freed by its free hook */
};

/* Results that later checks read (DMARC reads SPF and DKIM). */
struct auth_dkim {
	enum am_result result; /* pass, fail, policy, neutral, temperror, ... */
	char domain[256];      /* d=, lower case */
	char selector[128];    /* s= */
};

/*
 * From a trusted relay: the SPF result of the topmost Authentication-
 * Results header whose authserv-id is in TrustedAuthservIDs (arread.h).
 */
struct upstream_spf {
	bool seen;	       /* such a header was there (the topmost one) */
	bool usable;	       /* it parsed, within the caps, and had one spf
				* result with an smtp.mailfrom domain */
	enum am_result result; /* that result */
	char domain[256];      /* its smtp.mailfrom domain, lower case */
	char id[256];	       /* the header's authserv-id */
};

struct auth_results {
	bool spf_done;
	enum am_result spf;   /* SPF result for spf_domain */
	char spf_domain[256]; /* the domain SPF checked (MAIL FROM or HELO) */
	bool spf_helo;	      /* spf_domain is the HELO identity */
	bool dkim_done;
	size_t ndkim;
	struct auth_dkim dkim[SESSION_MAX_SIGS];
};

struct msg {
	char qid[64];		/* queue id (macro i), "" until known */
	char *mail_from;	/* envelope sender without <>, "" for the
				 * null sender: owned */
	char *mail_domain;	/* its domain, lower case, or NULL: owned */
	bool null_sender;	/* MAIL FROM:<> */
	unsigned int nrcpt;	/* RCPT TO seen */
	unsigned int naccepted; /* RCPTs let through by the milter */
	unsigned int nexempt;	/* of those, ExemptRecipients */
	char rcpts[SESSION_RCPT_TEXT]; /* the first SESSION_LOG_RCPTS of
					* them, escaped, "a,b" */
	char rcpt_domain[256];	       /* the first one's domain, lower
					* case, or "" (DMARC history) */
	unsigned int nheaders;	       /* headers passed to the checks */
	bool headers_capped;	       /* SESSION_MAX_HEADERS was passed */
	struct auth_results auth;      /* shared results */
	struct upstream_spf upstream;  /* trusted relay: the topmost A-R of
					* a TrustedAuthservIDs id */
	struct check_slot slot[SESSION_MAX_CHECKS]; /* per-check state */
};

struct conn {
	struct conf *conf;   /* snapshot reference, released at close */
	char sid[24];	     /* session id for log lines */
	struct dns_set *dns; /* the session's query set: owned */
	int family;	     /* AF_INET, AF_INET6, or 0 if unknown */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;			   /* client address (IPv4-mapped unwrapped) */
	char ip[INET6_ADDRSTRLEN]; /* client address as text */
	char *client_name;	   /* host name the MTA gave, or NULL: owned */
	char *helo;		   /* HELO/EHLO argument or NULL: owned */
	char *our_name;		   /* macro j (our host name), or NULL: owned */
	bool internal;		   /* client in InternalHosts */
	bool relay;		   /* client in TrustedRelays, not internal:
				    * its own checks are not run, SPF comes
				    * from the upstream A-R (msg.upstream) */
	bool authenticated;	   /* {auth_authen} set */
	bool skip;		   /* no checks for this session */
	bool hdr_trimmed;	   /* SMFIP_HDR_LEADSPC was not negotiated:
				    * header values reach on_header without
				    * the space after the colon (filter.c sets
				    * it; false, the default, means values are
				    * passed exactly as received) */
	struct msg *msg;	   /* current message, or NULL: owned */
	struct check_slot slot[SESSION_MAX_CHECKS]; /* per-check state */
};

#endif
