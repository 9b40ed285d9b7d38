/* SPDX-License-Identifier: BSD-2-Clause */
/* orgdom - RFC 9989 DNS tree walk, organizational domain, PSL check */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpsl.h>

#include "amerr.h"
#include "log.h"
#include "metrics.h"
#include "orgdom.h"

#define PSL_CACHE 4

/* psl_lock guards psl_cache; a loaded list is never freed before exit. */
static pthread_mutex_t psl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char *path;	/* owned */
	psl_ctx_t *ctx; /* owned; NULL when the file failed to load */
} psl_cache[PSL_CACHE];

unsigned int
orgdom_labels(const char *domain)
{
	unsigned int n = 0;
	const char *p;

	if (domain == NULL || *domain == '\0')
		return 0;
	n = 1;
	for (p = domain; *p != '\0'; p++)
		if (*p == '.')
			n++;
	return n;
}

const char *
orgdom_suffix(const char *domain, unsigned int nlabels)
{
	unsigned int have = orgdom_labels(domain);
	const char *p = domain;

	while (have > nlabels && nlabels > 0) {
		p = strchr(p, '.');
		if (p == NULL)
			break;
		p++;
		have--;
	}
	return p;
}

static bool
valid_octet(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_';
}

int
orgdom_walk_init(struct orgdom_walk *w, const char *domain)
{
	size_t len, i, k;
	unsigned int labels, next;
	int rc = 0;

	memset(w, 0, sizeof *w);
	if (domain == NULL) {
		rc = AM_EINVAL;
		goto out;
	}
	len = strlen(domain);
	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0 || len > ORGDOM_MAX_NAME - 1) {
		rc = AM_EINVAL;
		goto out;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)domain[i];

		if (c == '.') {
			if (i == 0 || domain[i - 1] == '.' || i + 1 == len) {
				rc = AM_EINVAL;
				goto out;
			}
		} else if (!valid_octet(c)) {
			rc = AM_EINVAL;
			goto out;
		}
		w->domain[i] = (char)tolower(c);
	}
	w->domain[len] = '\0';
	labels = orgdom_labels(w->domain);
	w->labels = labels;

	/*
	 * RFC 9989 4.10: query the domain; then, if it has 8 labels or
	 * more, jump to its last 7; then drop one label at a time down to
	 * the single top-level label. At most 8 names.
	 */
	k = 0;
	next = labels;
	while (next >= 1 && k < ORGDOM_MAX_QUERIES) {
		const char *s = orgdom_suffix(w->domain, next);

		snprintf(w->step[k].name, sizeof w->step[k].name, "%s", s);
		w->step[k].labels = next;
		w->step[k].status = ORGDOM_S_PENDING;
		k++;
		if (k == 1 && next >= 8)
			next = 7;
		else
			next--;
	}
	w->n = k;
out:
	if (rc != 0)
		memset(w, 0, sizeof *w);
	return rc;
}

int
orgdom_walk_start(struct orgdom_walk *w, struct dns_set *set,
		  const char *domain)
{
	char qname[ORGDOM_MAX_NAME + 8];
	size_t i;
	int rc;

	rc = orgdom_walk_init(w, domain);
	if (rc != 0)
		goto out;
	for (i = 0; i < w->n; i++) {
		snprintf(qname, sizeof qname, "_dmarc.%s", w->step[i].name);
		w->q[i] = dns_submit(set, qname, DNS_T_TXT);
	}
	w->started = true;
out:
	return rc;
}

void
orgdom_walk_feed(struct orgdom_walk *w, size_t i, enum dns_status status,
		 const char *const *txt, const size_t *txtlen, size_t n)
{
	struct orgdom_step *st;
	struct dmarc_record rec;
	size_t j, ndmarc = 0, nvalid = 0;

	if (i >= w->n)
		return;
	st = &w->step[i];
	switch (status) {
	case DNS_DATA:
		break;
	case DNS_NODATA:
	case DNS_NXDOMAIN:
	case DNS_INVALID:
		st->status = ORGDOM_S_NONE;
		return;
	case DNS_PENDING:
	case DNS_SERVFAIL:
	case DNS_TIMEOUT:
	case DNS_BOGUS:
	default:
		st->status = ORGDOM_S_TEMPERROR;
		return;
	}

	/* Keep only records that start with v=DMARC1 (RFC 9989 4.10). */
	for (j = 0; j < n; j++) {
		int s = dmarc_record_parse(txt[j], txtlen[j], &rec);

		if (s == DMARC_REC_NOT_DMARC)
			continue;
		ndmarc++;
		if (s == DMARC_REC_OK) {
			nvalid++;
			st->rec = rec;
		}
	}
	if (ndmarc > 1)
		st->status = ORGDOM_S_MULTIPLE;
	else if (nvalid == 1)
		st->status = ORGDOM_S_RECORD;
	else if (ndmarc == 1)
		st->status = ORGDOM_S_INVALID;
	else
		st->status = ORGDOM_S_NONE;
	if (st->status != ORGDOM_S_RECORD)
		memset(&st->rec, 0, sizeof st->rec);
}

void
orgdom_walk_wait(struct orgdom_walk *w, struct dns_set *set,
		 const struct timespec *deadline)
{
	const char *txt[DNS_MAX_RR];
	size_t len[DNS_MAX_RR];
	size_t i, j;

	if (!w->started)
		return;
	for (i = 0; i < w->n; i++) {
		const struct dns_answer *a;
		size_t n = 0;

		if (w->step[i].status != ORGDOM_S_PENDING)
			continue;
		(void)dns_wait(set, w->q[i], deadline);
		a = dns_answer(w->q[i]);
		if (a->status == DNS_DATA) {
			for (j = 0; j < a->n && j < DNS_MAX_RR; j++) {
				txt[n] = a->rr[j].txt;
				len[n] = a->rr[j].txtlen;
				n++;
			}
		}
		orgdom_walk_feed(w, i, a->status, txt, len, n);
	}
}

/* The step of name, if the walk queried it. */
static size_t
step_of(const struct orgdom_walk *w, unsigned int labels)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->step[i].labels == labels)
			return i;
	return SIZE_MAX;
}

/*
 * RFC 9989 4.10.1: the record of the Author Domain, else that of its
 * Organizational Domain (4.10.2), else that of its Public Suffix Domain
 * (the psd=y record that ended the walk). A record at a name between
 * them is neither and is not used.
 */
enum orgdom_res
orgdom_policy(const struct orgdom_walk *w, size_t *idx)
{
	size_t i, org = SIZE_MAX, k;

	for (i = 0; i < w->n; i++) {
		const struct orgdom_step *st = &w->step[i];

		if (st->status == ORGDOM_S_TEMPERROR ||
		    st->status == ORGDOM_S_PENDING)
			return ORGDOM_TEMPERROR;
		if (st->status != ORGDOM_S_RECORD)
			continue;
		if (i == 0 || st->rec.psd == DMARC_PSD_N) {
			*idx = i;
			return ORGDOM_OK;
		}
		if (st->rec.psd == DMARC_PSD_Y) {
			/* The org domain is one label below the PSD. */
			k = step_of(w, st->labels + 1);
			*idx = k != SIZE_MAX &&
				       w->step[k].status == ORGDOM_S_RECORD
				   ? k
				   : i;
			return ORGDOM_OK;
		}
		org = i; /* fewest labels so far */
	}
	if (org == SIZE_MAX)
		return ORGDOM_NONE;
	*idx = org;
	return ORGDOM_OK;
}

enum orgdom_res
orgdom_org(const struct orgdom_walk *w, char *out, size_t outlen)
{
	const char *org = NULL;
	size_t i;
	enum orgdom_res res = ORGDOM_OK;

	if (outlen > 0)
		out[0] = '\0';
	if (w->n == 0) {
		res = ORGDOM_TEMPERROR;
		goto out;
	}
	/* From the longest name to the shortest (RFC 9989 4.10.2). */
	for (i = 0; i < w->n; i++) {
		const struct orgdom_step *st = &w->step[i];

		if (st->status == ORGDOM_S_TEMPERROR ||
		    st->status == ORGDOM_S_PENDING) {
			res = ORGDOM_TEMPERROR;
			goto out;
		}
		if (st->status != ORGDOM_S_RECORD)
			continue;
		if (st->rec.psd == DMARC_PSD_N) {
			org = st->name;
			goto found;
		}
		/*
		 * psd=y ends the walk (4.10 step 2); at the walk's own
		 * domain it is not decisive (4.10.2 rule 2), so the domain
		 * is its own organizational domain (rule 3).
		 */
		if (st->rec.psd == DMARC_PSD_Y) {
			org = i > 0 ? orgdom_suffix(w->domain, st->labels + 1)
				    : st->name;
			goto found;
		}
		org = st->name; /* fewest labels so far */
	}
	if (org == NULL)
		org = w->domain; /* no record anywhere: the domain itself */
found:
	snprintf(out, outlen, "%s", org);
out:
	return res;
}

/* The list for path, loaded on first use; NULL if it cannot be read. */
static psl_ctx_t *
psl_get(const char *path)
{
	psl_ctx_t *ctx = NULL;
	size_t i;

	pthread_mutex_lock(&psl_lock);
	for (i = 0; i < PSL_CACHE; i++) {
		if (psl_cache[i].path != NULL &&
		    strcmp(psl_cache[i].path, path) == 0) {
			ctx = psl_cache[i].ctx;
			goto out;
		}
	}
	for (i = 0; i < PSL_CACHE; i++) {
		if (psl_cache[i].path == NULL) {
			psl_cache[i].path = strdup(path);
			if (psl_cache[i].path == NULL)
				goto out;
			psl_cache[i].ctx = psl_load_file(path);
			ctx = psl_cache[i].ctx;
			if (ctx == NULL)
				log_warn("orgdom: cannot load public suffix "
					 "list %s",
					 path);
			goto out;
		}
	}
	/* Cache full (many reloads with new paths): load, never share. */
	log_warn("orgdom: too many public suffix list files; %s not used",
		 path);
out:
	pthread_mutex_unlock(&psl_lock);
	return ctx;
}

int
orgdom_psl_load(const char *psl_path)
{
	if (psl_path == NULL || strcmp(psl_path, "none") == 0)
		return 0;
	return psl_get(psl_path) != NULL ? 0 : AM_ELIB;
}

const struct psl_ctx_st *
orgdom_psl_ctx(const char *psl_path)
{
	if (psl_path == NULL || strcmp(psl_path, "none") == 0)
		return NULL;
	return psl_get(psl_path);
}

int
orgdom_psl_check(const char *sid, const char *psl_path, const char *domain,
		 const char *org)
{
	const psl_ctx_t *ctx;
	const char *reg;
	char e1[ORGDOM_MAX_NAME * 4], e2[ORGDOM_MAX_NAME * 4];
	char e3[ORGDOM_MAX_NAME * 4];
	int rc = 0;

	if (psl_path == NULL || strcmp(psl_path, "none") == 0 ||
	    domain == NULL || org == NULL)
		goto out;
	ctx = psl_get(psl_path);
	if (ctx == NULL) {
		rc = AM_ELIB;
		goto out;
	}
	/* libpsl lookups on a loaded list are read-only and thread-safe. */
	reg = psl_registrable_domain(ctx, domain);
	if (reg != NULL && strcasecmp(reg, org) == 0)
		goto out;
	metrics_psl_mismatch();
	log_swarn(sid != NULL ? sid : "-",
		  "dmarc: organizational domain of %s: tree walk %s, "
		  "public suffix list %s",
		  log_escape(domain, strlen(domain), e1, sizeof e1),
		  log_escape(org, strlen(org), e2, sizeof e2),
		  reg != NULL ? log_escape(reg, strlen(reg), e3, sizeof e3)
			      : "(none)");
	rc = 1;
out:
	return rc;
}

void
orgdom_shutdown(void)
{
	size_t i;

	pthread_mutex_lock(&psl_lock);
	for (i = 0; i < PSL_CACHE; i++) {
		free(psl_cache[i].path);
		psl_free(psl_cache[i].ctx);
		psl_cache[i].path = NULL;
		psl_cache[i].ctx = NULL;
	}
	pthread_mutex_unlock(&psl_lock);
}
