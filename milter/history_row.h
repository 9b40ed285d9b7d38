/*
 * history_row - what a DMARC aggregate report needs of one message
 *
 * One struct history_row is filled at end of message for every message
 * that got a DMARC evaluation against a policy record (RFC 9990 section
 * 3.1: every message received, rejected and quarantined ones too). It
 * holds domains, results and the source address, never a local part
 * (RFC 9990 section 7.2). The daemon queues it (history.h), a store
 * (store.h) keeps it, the report program (authmilter-report) reads it
 * back grouped by identical content.
 *
 * The row is flat and fixed-size so that it can be queued, spooled and
 * compared without allocation; DKIM results are at most
 * HISTORY_MAX_DKIM (further signatures are left out of the report, as
 * RFC 9990 lets a reporter do; the count left out is kept).
 *
 * Ownership: plain data, no pointers.
 * Threads: any.
 * Errors: none (declarations only).
 * See also: RFC 9990 section 3 and appendix A (the XML schema).
 */
#ifndef AM_HISTORY_ROW_H
#define AM_HISTORY_ROW_H

#include <stdbool.h>
#include <stdint.h>

#include "dmarc_record.h"
#include "result.h"

#define HISTORY_MAX_DKIM 8
#define HISTORY_DOMAIN 256 /* a domain name and its NUL */
#define HISTORY_SELECTOR 128
#define HISTORY_IP 46 /* INET6_ADDRSTRLEN */

/* RFC 9990 PolicyOverrideType, as bits: several may apply. */
enum history_override {
	HISTORY_OV_LOCAL_POLICY = 1 << 0,      /* DMARCEnforce no, DryRun,
						* ExemptRecipients, an exempt
						* domain */
	HISTORY_OV_MAILING_LIST = 1 << 1,      /* reject lowered for List-Id */
	HISTORY_OV_POLICY_TEST_MODE = 1 << 2,  /* t=y relaxed the policy */
	HISTORY_OV_TRUSTED_FORWARDER = 1 << 3, /* SPF from a trusted relay */
	HISTORY_OV_OTHER = 1 << 4,	       /* another check decided */
};

struct history_dkim {
	char domain[HISTORY_DOMAIN];	 /* d=, lower case */
	char selector[HISTORY_SELECTOR]; /* s= */
	enum am_result result;		 /* pass fail neutral temperror
					  * permerror policy none */
	bool aligned;			 /* aligned with header From */
};

struct history_row {
	int64_t time; /* seconds since the epoch, UTC */
	char source_ip[HISTORY_IP];
	char reporter[HISTORY_DOMAIN]; /* AuthservID of the MTA that wrote
					* the row (fleets: one per MX) */

	char header_from[HISTORY_DOMAIN];   /* From: domain, lower case */
	char envelope_from[HISTORY_DOMAIN]; /* MAIL FROM domain or "" */
	char envelope_to[HISTORY_DOMAIN];   /* first RCPT domain or "" */

	/* the policy record as published */
	char policy_domain[HISTORY_DOMAIN]; /* where the record was found */
	enum dmarc_policy p, sp, np;	    /* UNSET when absent */
	enum dmarc_align adkim, aspf;
	bool testing;	     /* t=y */
	enum dmarc_psd psd;  /* psd= */
	bool discovery_walk; /* found by the DNS tree walk (always, now;
			      * kept for the schema's discovery_method) */

	/* the evaluation */
	enum am_result dmarc; /* pass fail temperror permerror */
	bool dkim_aligned;    /* an aligned DKIM pass (policy_evaluated) */
	bool spf_aligned;     /* an aligned SPF pass */
	enum dmarc_policy disposition; /* what was done: NONE, QUARANTINE,
					* REJECT (never UNSET) */
	unsigned int overrides;	       /* enum history_override bits */
	char override_comment[128];    /* free text for the reason, or "" */

	/* the underlying results */
	char spf_domain[HISTORY_DOMAIN]; /* the domain SPF checked or "" */
	bool spf_helo;			 /* scope: HELO rather than MAIL FROM */
	enum am_result spf;		 /* AM_R_NONE when not run */
	unsigned int ndkim;		 /* entries used in dkim[] */
	unsigned int dkim_omitted; /* signatures beyond HISTORY_MAX_DKIM */
	struct history_dkim dkim[HISTORY_MAX_DKIM];
};

#endif
