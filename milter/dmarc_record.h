/*
 * dmarc_record - parse one DMARC policy record (RFC 9989 section 4.7)
 *
 * dmarc_record_parse() reads the text of one TXT record (its strings
 * joined) into a struct dmarc_record. The record is a DKIM-style
 * tag-list: "tag=value" separated by ';', whitespace allowed around
 * tags, values and separators, an optional final ';'. It is a DMARC
 * record only when its first tag is v with the value "DMARC1"
 * (case-sensitive); anything else is DMARC_REC_NOT_DMARC and must be
 * discarded (a TXT RRset may hold records of other kinds).
 *
 * Tags read: v, p, sp, np, psd, t, adkim, aspf, rua, ruf, fo and, for
 * records written for RFC 7489, pct. Tag names and keyword values are
 * case-insensitive. Unknown tags are ignored (rf and ri, removed by
 * RFC 9989, are unknown tags now). A tag with a bad value is ignored
 * and its default applies. A tag named twice makes the whole tag-list
 * invalid (DMARC_REC_INVALID), as for DKIM's tag-list (RFC 6376 3.2).
 *
 * Policy: when p is missing or bad, or sp or np is bad, the record still
 * applies with p=none if rua holds at least one syntactically valid URI;
 * otherwise it is usable == false (no DMARC policy to apply).
 * Testing: t=y sets testing. A record with pct and no t is read per
 * RFC 9989: pct=0 means t=y, any other valid pct means t=n.
 *
 * Caps: a record longer than DMARC_RECORD_MAX octets, or holding a NUL,
 *   is DMARC_REC_INVALID; at most 64 tags are read.
 * Ownership: the caller owns the struct; nothing is allocated.
 * Threads: pure; safe from any thread.
 * Errors: none; the status is the result.
 * See also: RFC 9989 sections 4.7, 4.8 and appendix on RFC 7489
 *   records; RFC 6376 section 3.2.
 */
#ifndef AM_DMARC_RECORD_H
#define AM_DMARC_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#define DMARC_RECORD_MAX 4096

enum dmarc_policy {
	DMARC_P_UNSET = 0, /* tag absent or bad */
	DMARC_P_NONE,
	DMARC_P_QUARANTINE,
	DMARC_P_REJECT,
};

enum dmarc_psd {
	DMARC_PSD_U = 0, /* absent or psd=u */
	DMARC_PSD_Y,
	DMARC_PSD_N,
};

enum dmarc_align {
	DMARC_ALIGN_RELAXED = 0,
	DMARC_ALIGN_STRICT,
};

enum dmarc_record_status {
	DMARC_REC_OK = 0,    /* a DMARC record (see usable) */
	DMARC_REC_NOT_DMARC, /* not a DMARC record: discard */
	DMARC_REC_INVALID,   /* starts with v=DMARC1 but the tag-list is
			      * broken (duplicate tag, NUL, too long) */
};

struct dmarc_record {
	bool usable;		/* a policy applies (p valid, or implied) */
	bool p_implied;		/* p missing/bad, rua valid: p=none */
	enum dmarc_policy p;	/* p=, or NONE when implied */
	enum dmarc_policy sp;	/* sp=, UNSET when absent */
	enum dmarc_policy np;	/* np=, UNSET when absent */
	enum dmarc_psd psd;	/* psd= */
	bool testing;		/* t=y, or pct=0 without t */
	bool t_set;		/* t= present with a valid value */
	bool pct_set;		/* pct= present with a valid value */
	int pct;		/* its value (0..100), -1 if none */
	enum dmarc_align adkim; /* adkim=, relaxed by default */
	enum dmarc_align aspf;	/* aspf=, relaxed by default */
	bool has_rua;		/* rua= present */
	bool rua_valid;		/* rua= holds a syntactically valid URI */
	bool has_ruf;		/* ruf= present */
	char fo[16];		/* fo= as written (cut), "" if absent */
	unsigned int unknown;	/* unknown tags ignored */
	unsigned int bad;	/* tags ignored for a bad value */
};

/*
 * dmarc_record_parse - parse len octets of txt into rec (always filled,
 * defaults first). Returns a dmarc_record_status.
 */
int dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *rec);

/* dmarc_policy_str - "none", "quarantine", "reject", or "unset". */
const char *dmarc_policy_str(enum dmarc_policy p);

/*
 * dmarc_policy_relax - the policy one step less strict (t=y):
 * reject -> quarantine, quarantine -> none, others unchanged.
 */
enum dmarc_policy dmarc_policy_relax(enum dmarc_policy p);

#endif
