/* SPDX-License-Identifier: BSD-2-Clause */
/* dkimv - DKIM verification with libopendkim, keys prefetched via dns_ */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <opendkim/dkim.h>

#include "amerr.h"
#include "authres.h"
#include "check.h"
#include "dkimv.h"
#include "dns.h"
#include "log.h"
#include "session.h"

#define DKIMV_SIGHDR "DKIM-Signature"
#define DKIMV_MAX_NAME 253
/*
 * Octets of header block handed to libopendkim per message. The library
 * keeps a copy of every header and a scratch buffer twice the largest,
 * so without a cap a message's memory grows with the MTA's size limit
 * (160 headers of 60 KB: 76 MB at 8 sessions). Past it no header goes
 * to the library and every signature is permerror: never a pass.
 */
#define DKIMV_MAX_HEADER_BYTES_K 256
#define DKIMV_MAX_HEADER_BYTES (DKIMV_MAX_HEADER_BYTES_K * 1024)
#define AM_STR_(x) #x
#define AM_STR(x) AM_STR_(x)

/* A key name whose outcome the library cannot express (temperror, ...). */
struct dkimv_key {
	char name[DKIMV_MAX_NAME + 1]; /* s._domainkey.d, lower case */
	enum am_result result;	       /* temperror or permerror */
	char why[96];		       /* reason for the comment */
};

/* What the tag scan found in one DKIM-Signature header. */
struct dkimv_seen {
	char domain[256];   /* d= as scanned, lower case, or "" */
	char selector[128]; /* s= as scanned, or "" */
};

struct dkimv_msg {
	DKIM *dkim;		  /* libopendkim handle: owned */
	struct dns_set *dns;	  /* the session's set: borrowed */
	const char *sid;	  /* session id: borrowed from conn */
	struct timespec deadline; /* for key waits in dkim_eom */
	unsigned int maxsigs;	  /* DKIMMaxSignatures, capped */
	unsigned int minbits;	  /* DKIMMinimumKeyBits */
	unsigned int nsighdrs;	  /* DKIM-Signature headers seen */
	unsigned int nignored;	  /* signatures not verified (cap) */
	bool eoh_done;		  /* dkim_eoh has run */
	bool nosig;		  /* libopendkim found no signature */
	int libfail;		  /* DKIM_STAT of a failed eoh/eom, or 0 */
	size_t hbytes;		  /* header octets given to the library */
	bool toolarge;		  /* DKIMV_MAX_HEADER_BYTES was passed */
	bool done;		  /* finish() has run */
	char *hbuf;		  /* "Name:value" scratch: owned */
	size_t hbufsz;		  /* its size */
	size_t nseen;		  /* entries in seen */
	struct dkimv_seen seen[SESSION_MAX_SIGS];  /* scanned signatures */
	size_t nkeys;				   /* entries in keys */
	struct dkimv_key keys[DKIMV_MAX_SIGHDRS];  /* outcomes by key name */
	size_t nres;				   /* entries in res */
	struct dkimv_result res[SESSION_MAX_SIGS]; /* results, header order */
};

static DKIM_LIB *dkimv_lib; /* written once under dkimv_once */
static int dkimv_initerr;   /* ditto */
static pthread_once_t dkimv_once = PTHREAD_ONCE_INIT;

/*
 * DNS hooks that refuse every query: libopendkim's own resolver must
 * never run (the key-lookup callback never returns DKIM_CBSTAT_DEFAULT,
 * so these are a safety net). close and init are set to NULL: the
 * defaults would run libresolv code on our handle (LIBRARIES.md 3.3).
 */
static int
dns_refuse_start(void *srv, int type, unsigned char *qname, unsigned char *buf,
		 size_t buflen, void **qh)
{
	(void)srv;
	(void)type;
	(void)qname;
	(void)buf;
	(void)buflen;
	*qh = NULL;
	return DKIM_DNS_ERROR;
}

static int
dns_refuse_cancel(void *srv, void *qh)
{
	(void)srv;
	(void)qh;
	return DKIM_DNS_SUCCESS;
}

static int
dns_refuse_wait(void *srv, void *qh, struct timeval *to, size_t *bytes,
		int *error, int *dnssec)
{
	(void)srv;
	(void)qh;
	(void)to;
	if (bytes != NULL)
		*bytes = 0;
	if (error != NULL)
		*error = 0;
	if (dnssec != NULL)
		*dnssec = DKIM_DNSSEC_UNKNOWN;
	return DKIM_DNS_ERROR;
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static struct dkimv_key *
key_find(struct dkimv_msg *st, const char *name)
{
	for (size_t i = 0; i < st->nkeys; i++)
		if (strcmp(st->keys[i].name, name) == 0)
			return &st->keys[i];
	return NULL;
}

/* Remember that every signature using key name gets result r. */
static void
key_mark(struct dkimv_msg *st, const char *name, enum am_result r,
	 const char *why)
{
	struct dkimv_key *k = key_find(st, name);

	if (k == NULL) {
		if (st->nkeys >= DKIMV_MAX_SIGHDRS)
			return;
		k = &st->keys[st->nkeys++];
		snprintf(k->name, sizeof k->name, "%s", name);
	}
	k->result = r;
	snprintf(k->why, sizeof k->why, "%s", why);
}

/* Letters, digits, '-', '_' and '.': what d= and s= may hold. */
static bool
name_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

/*
 * Build the key name of a signature: 0, -1 if d= or s= is missing or
 * the name too long, -2 if d= or s= holds a character that cannot be
 * in a host name (out then holds the name anyway).
 */
static int
sig_keyname(DKIM_SIGINFO *sig, char *out, size_t outlen)
{
	const char *d = (const char *)dkim_sig_getdomain(sig);
	const char *s = (const char *)dkim_sig_getselector(sig);
	int n;

	out[0] = '\0';
	if (d == NULL || s == NULL || *d == '\0' || *s == '\0')
		return -1;
	n = snprintf(out, outlen, "%s._domainkey.%s", s, d);
	if (n < 0 || (size_t)n >= outlen || n > DKIMV_MAX_NAME) {
		out[0] = '\0';
		return -1;
	}
	lower(out);
	for (int i = 0; i < n; i++)
		if (!name_char(out[i]))
			return -2;
	/* a trailing dot on d= names the same key */
	if (n > 0 && out[n - 1] == '.')
		out[n - 1] = '\0';
	return 0;
}

/*
 * The key-lookup callback: find the query started at header time (or
 * start it now), wait for it until the deadline, hand the record text
 * to the library. Never TRYAGAIN or ERROR (they abort every signature of
 * the message, LIBRARIES.md 3.3): DNS trouble is NOTFOUND plus a mark
 * that report() turns into temperror.
 */
static DKIM_CBSTAT
dkimv_keycb(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	struct dkimv_msg *st = dkim_get_user_context(dkim);
	char name[DKIMV_MAX_NAME + 1];
	struct dns_query *q;
	const struct dns_answer *a;
	DKIM_CBSTAT ret = DKIM_CBSTAT_NOTFOUND;
	size_t cap;

	if (st == NULL || st->dns == NULL || buflen == 0)
		goto out;
	switch (sig_keyname(sig, name, sizeof name)) {
	case 0:
		break;
	case -2:
		key_mark(st, name, AM_R_NEUTRAL,
			 "bad signature: d= or s= is not a domain name");
		goto out;
	default:
		goto out;
	}
	q = dns_submit(st->dns, name, DNS_T_TXT);
	(void)dns_wait(st->dns, q, &st->deadline);
	a = dns_answer(q);
	switch (a->status) {
	case DNS_DATA:
		break;
	case DNS_NODATA:
	case DNS_NXDOMAIN:
		goto out; /* the library says "no key": permerror */
	case DNS_INVALID:
		key_mark(st, name, AM_R_NEUTRAL,
			 "bad signature: d= or s= is not a domain name");
		goto out;
	case DNS_SERVFAIL:
		key_mark(st, name, AM_R_TEMPERROR, "key query failed");
		goto out;
	case DNS_BOGUS:
		key_mark(st, name, AM_R_TEMPERROR,
			 "key DNSSEC validation failed");
		goto out;
	case DNS_TIMEOUT:
	case DNS_PENDING:
	default:
		key_mark(st, name, AM_R_TEMPERROR, "key query timed out");
		goto out;
	}
	if (a->n != 1) {
		key_mark(st, name, AM_R_PERMERROR, "multiple key records");
		goto out;
	}
	cap = buflen - 1 < DKIMV_MAX_KEYREC ? buflen - 1 : DKIMV_MAX_KEYREC;
	if (a->truncated || a->rr[0].txtlen > cap) {
		key_mark(st, name, AM_R_PERMERROR, "key record too long");
		goto out;
	}
	if (memchr(a->rr[0].txt, '\0', a->rr[0].txtlen) != NULL) {
		key_mark(st, name, AM_R_PERMERROR, "malformed key record");
		goto out;
	}
	memcpy(buf, a->rr[0].txt, a->rr[0].txtlen);
	buf[a->rr[0].txtlen] = '\0';
	dkim_sig_setdnssec(sig, a->secure ? DKIM_DNSSEC_SECURE
					  : DKIM_DNSSEC_INSECURE);
	ret = DKIM_CBSTAT_CONTINUE;
out:
	return ret;
}

/* Prescreen: verify only the first maxsigs signatures. */
static DKIM_CBSTAT
dkimv_prescreen(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs)
{
	struct dkimv_msg *st = dkim_get_user_context(dkim);
	unsigned int max = st != NULL ? st->maxsigs : SESSION_MAX_SIGS;

	for (int i = 0; i < nsigs; i++) {
		if ((unsigned int)i < max)
			continue;
		dkim_sig_ignore(sigs[i]);
		if (st != NULL)
			st->nignored++;
	}
	return DKIM_CBSTAT_CONTINUE;
}

static void
dkimv_init_once(void)
{
	DKIM_LIB *lib;
	unsigned int flags = DKIM_LIBFLAGS_FIXCRLF |
			     DKIM_LIBFLAGS_DELAYSIGPROC |
			     DKIM_LIBFLAGS_BADSIGHANDLES;
	unsigned int bits = DKIMV_LIB_MINKEYBITS;

	lib = dkim_init(NULL, NULL);
	if (lib == NULL) {
		dkimv_initerr = AM_ELIB;
		return;
	}
	if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags,
			 sizeof flags) != DKIM_STAT_OK ||
	    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS, &bits,
			 sizeof bits) != DKIM_STAT_OK ||
	    dkim_set_key_lookup(lib, dkimv_keycb) != DKIM_STAT_OK ||
	    dkim_set_prescreen(lib, dkimv_prescreen) != DKIM_STAT_OK) {
		dkim_close(lib);
		dkimv_initerr = AM_ELIB;
		return;
	}
	dkim_dns_set_init(lib, NULL);
	dkim_dns_set_close(lib, NULL);
	(void)dkim_dns_set_query_service(lib, NULL);
	dkim_dns_set_query_start(lib, dns_refuse_start);
	dkim_dns_set_query_cancel(lib, dns_refuse_cancel);
	dkim_dns_set_query_waitreply(lib, dns_refuse_wait);
	dkimv_lib = lib;
}

int
dkimv_init(void)
{
	(void)pthread_once(&dkimv_once, dkimv_init_once);
	return dkimv_lib != NULL ? 0
				 : (dkimv_initerr ? dkimv_initerr : AM_ELIB);
}

void
dkimv_shutdown(void)
{
	if (dkimv_lib != NULL)
		dkim_close(dkimv_lib);
	dkimv_lib = NULL;
}

/*
 * The minimal tag scan. A tag-spec is WSP* name WSP* "=" WSP* value
 * WSP*, separated by ";" (RFC 6376 3.2; FWS includes CR and LF).
 * Finds the first tag called tag (case-sensitive, as DKIM tags are)
 * and returns its value trimmed, or NULL.
 */
static const char *
scan_tag(const char *v, const char *tag, size_t *len)
{
	size_t taglen = strlen(tag);
	const char *p = v;

	while (*p != '\0') {
		const char *ns, *vs, *ve;

		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		ns = p;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if ((size_t)(p - ns) == taglen &&
		    strncmp(ns, tag, taglen) == 0) {
			while (*p == ' ' || *p == '\t' || *p == '\r' ||
			       *p == '\n')
				p++;
			if (*p == '=') {
				vs = ++p;
				while (*p != '\0' && *p != ';')
					p++;
				ve = p;
				while (vs < ve && strchr(" \t\r\n", *vs))
					vs++;
				while (ve > vs && strchr(" \t\r\n", ve[-1]))
					ve--;
				*len = (size_t)(ve - vs);
				return vs;
			}
		}
		while (*p != '\0' && *p != ';')
			p++;
		if (*p == ';')
			p++;
	}
	return NULL;
}

/* Copy a scanned d=/s= value if it can be part of a domain name. */
static int
copy_label_chars(const char *s, size_t n, char *out, size_t outlen)
{
	if (n == 0 || n >= outlen)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!name_char(s[i]))
			return -1;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[n] = '\0';
	return 0;
}

int
dkimv_sig_domain(const char *value, char *out, size_t outlen)
{
	const char *dv;
	size_t dn = 0;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (value == NULL || (dv = scan_tag(value, "d", &dn)) == NULL ||
	    copy_label_chars(dv, dn, out, outlen) < 0) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

static int
scan_ds(const char *value, char *d, size_t dlen, char *s, size_t slen)
{
	const char *sv;
	size_t sn = 0;

	s[0] = '\0';
	if (dkimv_sig_domain(value, d, dlen) < 0 ||
	    (sv = scan_tag(value, "s", &sn)) == NULL ||
	    copy_label_chars(sv, sn, s, slen) < 0) {
		d[0] = s[0] = '\0';
		return -1;
	}
	return 0;
}

int
dkimv_keyname(const char *value, char *out, size_t outlen)
{
	char d[256], s[128];
	int n;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (value == NULL || scan_ds(value, d, sizeof d, s, sizeof s) < 0)
		return -1;
	n = snprintf(out, outlen, "%s._domainkey.%s", s, d);
	if (n < 0 || (size_t)n >= outlen || n > DKIMV_MAX_NAME) {
		out[0] = '\0';
		return -1;
	}
	if (out[n - 1] == '.')
		out[--n] = '\0';
	/* an empty label ("..", a leading or a second final dot) */
	if (out[0] == '.' || out[n - 1] == '.' || strstr(out, "..") != NULL) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

static struct dkimv_msg *
msg_state(struct conn *c, struct check_slot *ms, int *err)
{
	struct dkimv_msg *st = ms->state;
	DKIM_STAT stat = DKIM_STAT_OK;
	unsigned int max;

	*err = 0;
	if (st != NULL)
		return st;
	*err = dkimv_init();
	if (*err < 0)
		return NULL;
	st = calloc(1, sizeof *st);
	if (st == NULL) {
		*err = AM_ENOMEM;
		return NULL;
	}
	st->dns = c->dns;
	st->sid = c->sid;
	max = c->conf != NULL ? c->conf->dkim_max_signatures : 5;
	if (max > SESSION_MAX_SIGS)
		max = SESSION_MAX_SIGS;
	st->maxsigs = max;
	st->minbits = c->conf != NULL ? c->conf->dkim_min_key_bits : 1024;
	st->dkim =
	    dkim_verify(dkimv_lib, (const unsigned char *)c->sid, NULL, &stat);
	if (st->dkim == NULL) {
		free(st);
		*err = stat == DKIM_STAT_NORESOURCE ? AM_ENOMEM : AM_ELIB;
		return NULL;
	}
	dkim_set_user_context(st->dkim, st);
	ms->state = st;
	return st;
}

static int
dkimv_on_header(struct conn *c, struct msg *m, struct check_slot *ms,
		const char *name, const char *value)
{
	struct dkimv_msg *st;
	size_t nl, vl, hl, need;
	DKIM_STAT stat;
	int err;

	(void)m;
	st = msg_state(c, ms, &err);
	if (st == NULL)
		return err;
	if (st->eoh_done || name == NULL || value == NULL)
		return 0;
	if (strcasecmp(name, DKIMV_SIGHDR) == 0) {
		if (st->nsighdrs >= DKIMV_MAX_SIGHDRS) {
			st->nsighdrs++;
			return 0; /* not even handed to the library */
		}
		if (st->nsighdrs < st->maxsigs &&
		    st->nseen < SESSION_MAX_SIGS) {
			struct dkimv_seen *sn = &st->seen[st->nseen++];
			char qname[DKIMV_MAX_NAME + 1];

			if (dkimv_keyname(value, qname, sizeof qname) == 0)
				(void)dns_submit(st->dns, qname, DNS_T_TXT);
			(void)scan_ds(value, sn->domain, sizeof sn->domain,
				      sn->selector, sizeof sn->selector);
		}
		st->nsighdrs++;
	}
	/*
	 * "Name:value": the value keeps its leading space (LEADSPC). Folded
	 * lines arrive joined with a bare LF; libopendkim's FIXCRLF fixes
	 * only the body, so turn each bare LF into CRLF here, as OpenDKIM
	 * does, or simple header canonicalization would never match.
	 */
	nl = strlen(name);
	vl = strlen(value);
	if (st->toolarge)
		return 0;
	if (nl + vl + 3 > DKIMV_MAX_HEADER_BYTES - st->hbytes) {
		st->toolarge = true;
		log_sinfo(st->sid,
			  "dkim: header block over %d octets: no "
			  "signature is verified",
			  DKIMV_MAX_HEADER_BYTES);
		free(st->hbuf);
		st->hbuf = NULL;
		st->hbufsz = 0;
		return 0;
	}
	st->hbytes += nl + vl + 3;
	need = nl + 2 + 2 * vl + 1;
	if (need > st->hbufsz) {
		char *nb = realloc(st->hbuf, need);

		if (nb == NULL)
			return AM_ENOMEM;
		st->hbuf = nb;
		st->hbufsz = need;
	}
	memcpy(st->hbuf, name, nl);
	st->hbuf[nl] = ':';
	hl = nl + 1;
	if (c->hdr_trimmed) /* without LEADSPC, restore "Name: value" */
		st->hbuf[hl++] = ' ';
	for (size_t i = 0; i < vl; i++) {
		if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r'))
			st->hbuf[hl++] = '\r';
		st->hbuf[hl++] = value[i];
	}
	st->hbuf[hl] = '\0';
	stat = dkim_header(st->dkim, (u_char *)st->hbuf, hl);
	if (stat == DKIM_STAT_NORESOURCE)
		return AM_ENOMEM;
	if (stat != DKIM_STAT_OK && log_enabled(LOG_L_DEBUG)) {
		char esc[64];

		log_sdebug(st->sid, "dkim: header %s not accepted: %s",
			   log_escape(name, nl, esc, sizeof esc),
			   dkim_geterror(st->dkim) != NULL
			       ? dkim_geterror(st->dkim)
			       : "?");
	}
	return 0;
}

static int
do_eoh(struct dkimv_msg *st)
{
	DKIM_STAT stat;

	if (st->eoh_done)
		return 0;
	st->eoh_done = true;
	if (st->toolarge)
		return 0;
	stat = dkim_eoh(st->dkim);
	switch (stat) {
	case DKIM_STAT_OK:
		return 0;
	case DKIM_STAT_NOSIG:
		st->nosig = true;
		return 0;
	case DKIM_STAT_NORESOURCE:
		return AM_ENOMEM;
	default:
		st->libfail = stat;
		return 0;
	}
}

static int
dkimv_on_eoh(struct conn *c, struct msg *m, struct check_slot *ms)
{
	struct dkimv_msg *st;
	int err;

	(void)m;
	st = msg_state(c, ms, &err);
	if (st == NULL)
		return err;
	return do_eoh(st);
}

static int
dkimv_on_body(struct conn *c, struct msg *m, struct check_slot *ms,
	      const unsigned char *chunk, size_t len)
{
	struct dkimv_msg *st;
	DKIM_STAT stat;
	int err;

	(void)m;
	st = msg_state(c, ms, &err);
	if (st == NULL)
		return err;
	if ((err = do_eoh(st)) < 0)
		return err;
	if (st->nosig || st->libfail != 0 || st->toolarge || len == 0)
		return 0;
	stat = dkim_body(st->dkim, (u_char *)(uintptr_t)chunk, len);
	if (stat == DKIM_STAT_NORESOURCE)
		return AM_ENOMEM;
	if (stat != DKIM_STAT_OK)
		st->libfail = stat;
	return 0;
}

/* Library signature errors to results; why NULL: "bad key: <error>". */
static const struct {
	DKIM_SIGERROR err;
	enum am_result result;
	const char *why;
} sigerr_map[] = {
    {DKIM_SIGERROR_TOOLARGE_L, AM_R_FAIL, "l= exceeds body length"},
    {DKIM_SIGERROR_KEYTOOSMALL, AM_R_POLICY, "key too small"},
    {DKIM_SIGERROR_NOKEY, AM_R_PERMERROR, "no key"},
    {DKIM_SIGERROR_KEYREVOKED, AM_R_PERMERROR, "key revoked"},
    {DKIM_SIGERROR_MULTIREPLY, AM_R_PERMERROR, "multiple key records"},
    {DKIM_SIGERROR_KEYFAIL, AM_R_TEMPERROR, "key query failed"},
    {DKIM_SIGERROR_DNSSYNTAX, AM_R_PERMERROR, NULL},
    {DKIM_SIGERROR_KEYVERSION, AM_R_PERMERROR, NULL},
    {DKIM_SIGERROR_KEYUNKNOWNHASH, AM_R_PERMERROR, NULL},
    {DKIM_SIGERROR_KEYHASHMISMATCH, AM_R_PERMERROR, NULL},
    {DKIM_SIGERROR_NOTEMAILKEY, AM_R_PERMERROR, NULL},
    {DKIM_SIGERROR_KEYTYPEMISSING, AM_R_PERMERROR, NULL},
    {DKIM_SIGERROR_KEYTYPEUNKNOWN, AM_R_PERMERROR, NULL},
    {DKIM_SIGERROR_KEYDECODE, AM_R_PERMERROR, NULL},
};

/* The RFC 8601 result of one processed signature. */
static void
classify(struct dkimv_msg *st, DKIM_SIGINFO *sig, struct dkimv_result *r)
{
	int err = dkim_sig_geterror(sig);
	int bh = dkim_sig_getbh(sig);
	unsigned int bits = 0;
	const char *es;
	const u_char *atag;
	char name[DKIMV_MAX_NAME + 1];
	struct dkimv_key *k = NULL;

	if (dkim_sig_getkeysize(sig, &bits) != DKIM_STAT_OK)
		bits = 0;
	r->keybits = bits;
	if (sig_keyname(sig, name, sizeof name) != -1)
		k = key_find(st, name);

	if (err == DKIM_SIGERROR_NOKEY && k != NULL) {
		r->result = k->result;
		snprintf(r->why, sizeof r->why, "%s", k->why);
		return;
	}
	atag = dkim_sig_gettagvalue(sig, false, (u_char *)"a");
	if ((err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_BADSIG) &&
	    atag != NULL && strcasecmp((const char *)atag, "rsa-sha1") == 0) {
		/* RFC 8301 3.1: verifiers must not accept rsa-sha1 */
		r->result = AM_R_POLICY;
		snprintf(r->why, sizeof r->why,
			 "rsa-sha1 not accepted (RFC 8301)");
		return;
	}
	if ((err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_BADSIG) &&
	    bits > 0 && bits < st->minbits) {
		r->result = AM_R_POLICY;
		snprintf(r->why, sizeof r->why, "key too small (%u bits)",
			 bits);
		return;
	}
	if (DKIM_SIG_CHECK(sig) && err == DKIM_SIGERROR_OK) {
		r->result = AM_R_PASS;
		return;
	}
	es = dkim_sig_geterrorstr(err);
	if (es == NULL)
		es = "unknown error";
	if (err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_BADSIG) {
		r->result = AM_R_FAIL;
		snprintf(r->why, sizeof r->why, "%s",
			 bh == DKIM_SIGBH_MISMATCH ? "body hash mismatch"
						   : "signature mismatch");
		return;
	}
	for (size_t i = 0; i < sizeof sigerr_map / sizeof sigerr_map[0]; i++) {
		if (sigerr_map[i].err != err)
			continue;
		r->result = sigerr_map[i].result;
		if (sigerr_map[i].why != NULL)
			snprintf(r->why, sizeof r->why, "%s",
				 sigerr_map[i].why);
		else
			snprintf(r->why, sizeof r->why, "bad key: %s", es);
		return;
	}
	/* syntax, version, expiry, timestamps, unknown a=/c=, ... */
	r->result = AM_R_NEUTRAL;
	snprintf(r->why, sizeof r->why, "bad signature: %s", es);
}

static void
copy_lc(char *out, size_t outlen, const unsigned char *in)
{
	snprintf(out, outlen, "%s", in != NULL ? (const char *)in : "");
	lower(out);
}

/* Results for the signatures of the library's list. */
static void
collect(struct dkimv_msg *st)
{
	DKIM_SIGINFO **sigs = NULL;
	int n = 0;

	if (dkim_getsiglist(st->dkim, &sigs, &n) != DKIM_STAT_OK ||
	    sigs == NULL)
		n = 0;
	for (int i = 0; i < n && st->nres < SESSION_MAX_SIGS; i++) {
		DKIM_SIGINFO *sig = sigs[i];
		struct dkimv_result *r;
		const unsigned char *alg;
		size_t blen;

		if ((dkim_sig_getflags(sig) & DKIM_SIGFLAG_IGNORE) != 0)
			continue;
		r = &st->res[st->nres++];
		memset(r, 0, sizeof *r);
		copy_lc(r->domain, sizeof r->domain, dkim_sig_getdomain(sig));
		snprintf(r->selector, sizeof r->selector, "%s",
			 dkim_sig_getselector(sig) != NULL
			     ? (const char *)dkim_sig_getselector(sig)
			     : "");
		/* a= as written: getalgorithm says rsa-sha1 if unparsed */
		alg = dkim_sig_gettagvalue(sig, false, (u_char *)"a");
		copy_lc(r->alg, sizeof r->alg, alg);
		blen = sizeof r->b;
		if (dkim_get_sigsubstring(st->dkim, sig, r->b, &blen) !=
		    DKIM_STAT_OK)
			r->b[0] = '\0';
		else
			r->b[blen < sizeof r->b ? blen : sizeof r->b - 1] =
			    '\0';
		if (st->libfail != 0 &&
		    (dkim_sig_getflags(sig) & DKIM_SIGFLAG_PROCESSED) == 0) {
			const char *rs = dkim_getresultstr(st->libfail);

			r->result = AM_R_NEUTRAL;
			snprintf(r->why, sizeof r->why, "not verified: %s",
				 rs != NULL ? rs : "library error");
			continue;
		}
		classify(st, sig, r);
	}
}

/* Without a signature list (library failure): one result per header. */
static void
collect_seen(struct dkimv_msg *st)
{
	const char *rs = st->libfail != 0 ? dkim_getresultstr(st->libfail)
					  : "signature not parsed";
	enum am_result res = AM_R_NEUTRAL;

	if (st->toolarge) {
		res = AM_R_PERMERROR;
		rs =
		    "header block over " AM_STR(DKIMV_MAX_HEADER_BYTES_K) " KB";
	}

	for (size_t i = 0; i < st->nseen && st->nres < SESSION_MAX_SIGS; i++) {
		struct dkimv_result *r = &st->res[st->nres++];

		memset(r, 0, sizeof *r);
		snprintf(r->domain, sizeof r->domain, "%s", st->seen[i].domain);
		snprintf(r->selector, sizeof r->selector, "%s",
			 st->seen[i].selector);
		r->result = res;
		snprintf(r->why, sizeof r->why, "not verified: %s",
			 rs != NULL ? rs : "library error");
	}
}

/*
 * The engine hands over at most SESSION_MAX_HEADERS headers, and
 * on_header gives libopendkim at most DKIMV_MAX_SIGHDRS DKIM-Signature
 * headers. Past either cap the library verified a header block the
 * recipient does not see: a copy of a signed header appended after the
 * cap ("Subject:" below 1000 junk headers) is the instance h= selects
 * (RFC 6376 5.4.2), yet it never reached dkim_header(), so the old one
 * was verified. No signature of such a message may pass: policy
 * (msg->headers_capped: a header was held back, so a message of exactly
 * SESSION_MAX_HEADERS headers is verified as usual). what names the cap
 * for the reason.
 */
static void
refuse_capped(struct dkimv_msg *st, const char *what)
{
	for (size_t i = 0; i < st->nres; i++) {
		if (st->res[i].result != AM_R_PASS)
			continue;
		st->res[i].result = AM_R_POLICY;
		snprintf(st->res[i].why, sizeof st->res[i].why,
			 "too many %s: not all verified", what);
	}
}

static void
outcome(struct dkimv_msg *st, struct check_outcome *out)
{
	size_t npass = 0;

	out->done = true;
	out->action = AM_ACT_NONE;
	out->rcode[0] = out->xcode[0] = out->reply[0] = '\0';
	out->why[0] = '\0';
	if (st == NULL || st->nres == 0) {
		out->result = AM_R_NONE;
		snprintf(out->why, sizeof out->why, "no signature");
		return;
	}
	for (size_t i = 0; i < st->nres; i++)
		if (st->res[i].result == AM_R_PASS)
			npass++;
	if (npass > 0) {
		out->result = AM_R_PASS;
		if (npass < st->nres)
			snprintf(out->why, sizeof out->why,
				 "%zu of %zu signatures passed", npass,
				 st->nres);
		return;
	}
	out->result = st->res[0].result;
	snprintf(out->why, sizeof out->why, "%s", st->res[0].why);
}

static int
dkimv_finish(struct conn *c, struct msg *m, struct check_slot *cs,
	     struct check_slot *ms, const struct timespec *deadline,
	     struct check_outcome *out)
{
	struct dkimv_msg *st = ms->state;
	DKIM_STAT stat;
	int err = 0;

	(void)c;
	(void)cs;
	if (st == NULL || st->done)
		goto done;
	st->done = true;
	if ((err = do_eoh(st)) < 0)
		goto done;
	if (st->nosig && st->nsighdrs == 0)
		goto done;
	if (deadline != NULL)
		st->deadline = *deadline;
	else
		dns_deadline(&st->deadline,
			     1000U *
				 (c->conf != NULL ? c->conf->dns_timeout : 5));
	if (!st->nosig && st->libfail == 0 && !st->toolarge) {
		stat = dkim_eom(st->dkim, NULL);
		if (stat == DKIM_STAT_NORESOURCE) {
			err = AM_ENOMEM;
			goto done;
		}
		if (stat != DKIM_STAT_OK && stat != DKIM_STAT_BADSIG &&
		    stat != DKIM_STAT_NOKEY && stat != DKIM_STAT_CANTVRFY &&
		    stat != DKIM_STAT_REVOKED && stat != DKIM_STAT_NOSIG &&
		    log_enabled(LOG_L_DEBUG))
			log_sdebug(st->sid, "dkim: eom: %s",
				   dkim_getresultstr(stat) != NULL
				       ? dkim_getresultstr(stat)
				       : "?");
	}
	collect(st);
	if (st->nres == 0 && st->nsighdrs > 0 &&
	    (st->libfail != 0 || st->nosig || st->toolarge))
		collect_seen(st);
	if (m != NULL && m->headers_capped)
		refuse_capped(st, "headers");
	else if (st->nsighdrs > DKIMV_MAX_SIGHDRS)
		refuse_capped(st, "signature headers");
	if (st->nsighdrs > DKIMV_MAX_SIGHDRS)
		st->nignored += st->nsighdrs - DKIMV_MAX_SIGHDRS;
done:
	if (m != NULL && err == 0) {
		size_t n = st != NULL ? st->nres : 0;

		m->auth.dkim_done = true;
		m->auth.ndkim = n;
		for (size_t i = 0; i < n; i++) {
			struct auth_dkim *a = &m->auth.dkim[i];

			a->result = st->res[i].result;
			snprintf(a->domain, sizeof a->domain, "%s",
				 st->res[i].domain);
			snprintf(a->selector, sizeof a->selector, "%s",
				 st->res[i].selector);
		}
	}
	if (err == 0)
		outcome(st, out);
	return err;
}

static void
dkimv_report(struct conn *c, struct msg *m, struct check_slot *cs,
	     struct check_slot *ms, const struct check_outcome *o,
	     struct check_report *r)
{
	struct dkimv_msg *st = ms->state;
	char logv[512];
	size_t off = 0;

	(void)c;
	(void)m;
	(void)cs;
	(void)o;
	logv[0] = '\0';
	if (st == NULL || st->nres == 0) {
		if (r->ar != NULL)
			(void)authres_method(r->ar, "dkim", "none");
		if (r->logf != NULL)
			r->logf(r, "dkim", "none");
		return;
	}
	for (size_t i = 0; i < st->nres; i++) {
		const struct dkimv_result *res = &st->res[i];
		int n;

		if (r->ar != NULL &&
		    authres_method(r->ar, "dkim", am_result_str(res->result)) ==
			0) {
			if (res->why[0] != '\0')
				authres_comment(r->ar, res->why);
			if (res->domain[0] != '\0')
				authres_prop(r->ar, "header", "d", res->domain);
			if (res->selector[0] != '\0')
				authres_prop(r->ar, "header", "s",
					     res->selector);
			if (res->alg[0] != '\0')
				authres_prop(r->ar, "header", "a", res->alg);
			if (res->b[0] != '\0')
				authres_prop(r->ar, "header", "b", res->b);
		}
		n = snprintf(logv + off, sizeof logv - off, "%s%s:%s/%s",
			     i > 0 ? "," : "", am_result_str(res->result),
			     res->domain, res->selector);
		if (n > 0 && (size_t)n < sizeof logv - off)
			off += (size_t)n;
	}
	if (st->nignored > 0) {
		int n = snprintf(logv + off, sizeof logv - off,
				 ",%u not verified", st->nignored);

		if (n > 0 && (size_t)n < sizeof logv - off)
			off += (size_t)n;
	}
	if (r->logf != NULL)
		r->logf(r, "dkim", logv);
}

static void
dkimv_msg_free(struct check_slot *ms)
{
	struct dkimv_msg *st;

	if (ms == NULL || ms->state == NULL)
		return;
	st = ms->state;
	if (st->dkim != NULL)
		(void)dkim_free(st->dkim);
	free(st->hbuf);
	free(st);
	ms->state = NULL;
}

size_t
dkimv_result_count(const struct check_slot *ms)
{
	const struct dkimv_msg *st = ms != NULL ? ms->state : NULL;

	return st != NULL ? st->nres : 0;
}

const struct dkimv_result *
dkimv_result_get(const struct check_slot *ms, size_t i)
{
	const struct dkimv_msg *st = ms != NULL ? ms->state : NULL;

	if (st == NULL || i >= st->nres)
		return NULL;
	return &st->res[i];
}

const struct check_ops dkimv_ops = {
    .name = "dkim",
    .ready = CHECK_PH_EOM,
    .on_header = dkimv_on_header,
    .on_eoh = dkimv_on_eoh,
    .on_body = dkimv_on_body,
    .finish = dkimv_finish,
    .report = dkimv_report,
    .msg_free = dkimv_msg_free,
};
