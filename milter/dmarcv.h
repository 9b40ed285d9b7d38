/*
 * dmarcv - DMARC verification (RFC 9989): the check_ops "dmarc"
 *
 * The phase hooks only start DNS queries, as early as each domain is
 * known, each domain's whole tree walk at once (orgdom.h): the MAIL FROM
 * domain at on_mail, the d= domain of each DKIM-Signature at on_header
 * (a bounded tag scan, at most DKIMMaxSignatures), and the From: domain
 * at on_eoh, with its A, AAAA and MX queries, which tell whether the
 * domain exists (for np=). on_header also notes From: fields (count and
 * first value) and List-Id.
 *
 * finish() runs at end of message, after SPF and DKIM have filled
 * msg->auth. It parses From: (fromaddr.h), waits for the walks it needs
 * and calls dmarcv_evaluate(): policy discovery (first record on the
 * From domain's walk), the policy that applies (p for the domain itself;
 * sp, or np for a non-existent subdomain, for a subdomain; t=y relaxes it
 * one step), identifier alignment (strict: the same domain; relaxed: the
 * same organizational domain, by tree walk) and the result: pass when an
 * SPF or DKIM pass is aligned; temperror when no aligned pass is known
 * and a DNS failure (walk, or an aligned SPF/DKIM temperror) might hide
 * one; fail otherwise; none without a policy record; permerror for a
 * bad From: (none, several fields, several domains, no usable domain,
 * unparseable, over a cap) or a record that gives no policy.
 *
 * A bad From: fails closed (SPEC "Checks"): on_header collects every
 * domain of every From: field (fromaddr_harvest(), also past the header
 * cap: engine.c passes From: fields on), on_eoh starts their walks, and
 * finish() applies the strictest of their policies as a DMARC failure
 * (result permerror, header.from the domain whose policy applied); more
 * than FROMADDR_MAX_DOMAINS domains count as p=reject.
 *
 * Actions (DMARCEnforce yes): a failure under reject gives
 * DMARCRejectAction with "550 5.7.1 Rejected by DMARC policy for
 * DOMAIN"; under quarantine, DMARCQuarantineAction. A reject for a
 * message with List-Id and a passing DKIM signature of another domain is
 * lowered to quarantine (the log and header comment say so). A temperror
 * that could hide a reject gives tempfail when OnDNSError is tempfail.
 *
 * Caps: From: values beyond FROMADDR_MAX_INPUT are a permerror; at most
 *   DMARCV_MAX_WALKS walks per message; the DKIM-Signature scan reads at
 *   most 4096 octets of a header.
 * Ownership: the message state lives in the check's msg slot and is
 *   freed by msg_free; the walks' queries belong to conn->dns.
 * Threads: session thread only.
 * Errors: AM_ENOMEM from hooks; DNS trouble is temperror.
 * See also: RFC 9989, RFC 8601 section 2.7.7, docs/CONFORMANCE.md.
 */
#ifndef AM_DMARCV_H
#define AM_DMARCV_H

#include <stdbool.h>
#include <stddef.h>

#include "check.h"
#include "dmarc_record.h"
#include "fromaddr.h"
#include "history_row.h"
#include "orgdom.h"
#include "session.h"

#define DMARCV_MAX_WALKS (2 + SESSION_MAX_SIGS + FROMADDR_MAX_DOMAINS)

extern const struct check_ops dmarcv_ops;

/* Whether the From domain exists (RFC 9989 non-existent domain). */
enum dmarcv_exists {
	DMARCV_EXISTS = 0, /* some answer for the name (data or nodata) */
	DMARCV_NXDOMAIN,   /* NXDOMAIN and no answer saying it exists */
	DMARCV_UNKNOWN,	   /* no decisive answer (DNS failure) */
};

struct dmarcv_input {
	const char *from_domain;		/* lower case */
	const struct orgdom_walk *from_walk;	/* its walk, answers fed */
	enum dmarcv_exists exists;		/* From domain existence */
	const struct auth_results *auth;	/* SPF and DKIM results */
	const struct orgdom_walk *const *walks; /* walks of other domains */
	size_t nwalks;
};

struct dmarcv_eval {
	enum am_result result;	       /* pass fail none temperror permerror */
	bool have_policy;	       /* a record applies */
	enum dmarc_policy policy;      /* p, sp or np as published */
	enum dmarc_policy disposition; /* what to do (t=y relaxed; none on
					* pass) */
	bool testing;		       /* t=y */
	char policy_domain[ORGDOM_MAX_NAME]; /* where the record was */
	char org_domain[ORGDOM_MAX_NAME];    /* From's org domain or "" */
	bool spf_aligned;		     /* SPF pass, aligned */
	bool dkim_aligned;		     /* a DKIM pass, aligned */
	char dkim_domain[ORGDOM_MAX_NAME];   /* the aligned d= or "" */
	char why[160];			     /* reason, plain ASCII */
};

/*
 * dmarcv_evaluate - decide DMARC for one From domain from fed walks and
 * SPF/DKIM results (pure: no DNS, no log). A walk needed for relaxed
 * alignment that is missing from in->walks counts as a DNS failure.
 * Returns 0.
 */
int dmarcv_evaluate(const struct dmarcv_input *in, struct dmarcv_eval *out);

/*
 * dmarcv_history - after finish(), the DMARC part of a history row from
 * the dmarc check's message slot ms: the policy record that applied as
 * published (policy domain, p, sp, np, adkim, aspf, t, psd), the result
 * and its aligned identifiers, the disposition DMARC asked for (after
 * t=y, and quarantine for a reject lowered for a mailing list) in
 * row->disposition with the mailing_list and policy_test_mode
 * overrides, local_policy for DMARCEnforce no and DMARCExemptDomains,
 * the header From domain, the SPF result (domain, HELO or MAIL FROM
 * scope) and each DKIM result with its alignment. Returns false, row
 * untouched, when no policy record was evaluated (no row is due); the
 * caller fills the rest (time, addresses, reporter, final disposition).
 */
bool dmarcv_history(const struct check_slot *ms, const struct msg *m,
		    const struct conf *cf, struct history_row *row);

#endif
