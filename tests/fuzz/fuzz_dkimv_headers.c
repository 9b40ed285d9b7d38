/* SPDX-License-Identifier: BSD-2-Clause */
/* fuzz_dkimv_headers - libFuzzer target: dkimv's header path and keys */
/*
 * Input: a DNS world (fuzz_world.h: the key TXT records, statuses) and
 * the keywords "maxsigs" (DKIMMaxSignatures, default 5), "minbits"
 * (DKIMMinimumKeyBits, default 1024), "trimmed" (1: values without the
 * leading space, as without SMFIP_HDR_LEADSPC) and "split" (where the
 * body is cut in two chunks); then a line "--" and the message (LF or
 * CRLF line ends). Without the "--" line the whole input is the message
 * and the world is empty.
 *
 * The message goes through dkimv_ops as filter.c hands it over: each
 * header (at most SESSION_MAX_HEADERS) as name and value, the value
 * cut at a NUL, folded lines joined with LF; on_eoh; the body with CRLF
 * line ends in two chunks; finish() on a local query set answered from
 * the world; report() into an Authentication-Results builder. Invariants
 * beyond "no crash, no leak, no UB":
 *  - at most min(DKIMMaxSignatures, SESSION_MAX_SIGS) results, and the
 *    rest counted as not verified, never reported;
 *  - each result is pass, fail, neutral, policy, permerror, temperror or
 *    none; d= and s= printable;
 *  - a signature passes only if the world has a TXT record at its key
 *    name s._domainkey.d (an absent, failed or timed-out key never
 *    passes), and only with one record there; never when the message
 *    reached SESSION_MAX_HEADERS headers or had more than
 *    DKIMV_MAX_SIGHDRS DKIM-Signature headers (the rest were not seen);
 *  - at most 2 * maxsigs distinct key queries (header-time prefetch of
 *    the first maxsigs, and the key callback's own);
 *  - the Authentication-Results value passes fuzz_header_ok().
 * AM_FUZZ_STATS=1 prints the header octets and the heap in use after
 * the headers and after finish (mallinfo2, replay build only).
 */
#include <malloc.h>
#include <strings.h>
#include <stdio.h>
#include <time.h>

#include "amerr.h"
#include "authres.h"
#include "check.h"
#include "conf.h"
#include "dkimv.h"
#include "session.h"

#include "fuzz_util.h"
#include "fuzz_world.h"

static unsigned long
keynum(const struct fuzz_world *w, const char *key, unsigned long dflt)
{
	size_t len = 0;
	const char *v = fuzz_world_key(w, key, &len);
	char tmp[16];

	if (v == NULL || len == 0 || len >= sizeof tmp)
		return dflt;
	memcpy(tmp, v, len);
	tmp[len] = '\0';
	return strtoul(tmp, NULL, 10);
}

static size_t
heap_in_use(void)
{
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
#else
	return 0;
#endif
}

/* One header: name and value as libmilter passes them. */
static unsigned int nsighdrs; /* DKIM-Signature headers fed */

static int
feed_header(struct conn *c, struct msg *m, const char *h, size_t len,
	    size_t *octets)
{
	const char *colon = memchr(h, ':', len);
	char *name, *value;
	size_t vl = 0;
	int rc;

	if (colon == NULL)
		return 0;
	name = strndup(h, (size_t)(colon - h));
	value = malloc(len + 1);
	if (name == NULL || value == NULL)
		abort();
	for (const char *p = colon + 1; p < h + len; p++) {
		if (*p == '\r' && p + 1 < h + len && p[1] == '\n')
			continue; /* folds reach the milter as a bare LF */
		value[vl++] = *p;
	}
	value[vl] = '\0';
	if (c->hdr_trimmed) {
		size_t k = strspn(value, " \t");
		memmove(value, value + k, strlen(value + k) + 1);
	}
	*octets += strlen(name) + strlen(value);
	if (strcasecmp(name, "DKIM-Signature") == 0)
		nsighdrs++;
	rc = dkimv_ops.on_header(c, m, &m->slot[0], name, value);
	free(name);
	free(value);
	return rc;
}

static void
check_text(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *msg = in, *p, *end;
	struct fuzz_world *w;
	struct conf cf;
	struct conn cn;
	struct msg m;
	struct check_outcome out;
	struct check_report rep;
	struct timespec dl;
	unsigned int maxsigs, eff;
	size_t nh = 0, octets = 0, heap0, heap_hdr, heap_end, split, blen = 0;
	unsigned char *body;
	char *arv;
	int rc;

	if (size > 128 * 1024 * 1024)
		return 0; /* replayed files only: libFuzzer's max_len is less */
	if ((w = calloc(1, sizeof *w)) == NULL)
		abort();
	/* the world ends at a line "--" */
	for (p = in; p < in + size;) {
		const char *eol = memchr(p, '\n', (size_t)(in + size - p));
		size_t ll = (size_t)((eol != NULL ? eol : in + size) - p);

		if (ll == 2 && p[0] == '-' && p[1] == '-') {
			fuzz_world_parse(w, in, (size_t)(p - in));
			msg = eol != NULL ? eol + 1 : in + size;
			break;
		}
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	if (msg == in)
		fuzz_world_parse(w, "", 0);
	end = in + size;

	memset(&cf, 0, sizeof cf);
	memset(&cn, 0, sizeof cn);
	memset(&m, 0, sizeof m);
	maxsigs = (unsigned int)keynum(w, "maxsigs", 5) % 40;
	eff = maxsigs < SESSION_MAX_SIGS ? maxsigs : SESSION_MAX_SIGS;
	cf.dkim_max_signatures = maxsigs;
	cf.dkim_min_key_bits = (unsigned int)keynum(w, "minbits", 1024);
	cf.dns_timeout = 5;
	cn.conf = &cf;
	cn.hdr_trimmed = keynum(w, "trimmed", 0) != 0;
	snprintf(cn.sid, sizeof cn.sid, "fuzz");
	cn.dns = dns_set_new_local("fuzz", fuzz_world_answer, w);
	if (cn.dns == NULL)
		abort();
	heap0 = heap_in_use();
	nsighdrs = 0;

	/* headers: up to an empty line, or a line that is no header */
	p = msg;
	while (p < end && *p != '\n' && !(*p == '\r' && p + 1 < end &&
					  p[1] == '\n')) {
		const char *e = p;

		for (;;) {
			e = memchr(e, '\n', (size_t)(end - e));
			if (e == NULL || e + 1 >= end ||
			    (e[1] != ' ' && e[1] != '\t'))
				break;
			e++;
		}
		if (e == NULL)
			e = end;
		size_t hl = (size_t)(e - p);
		if (hl > 0 && p[hl - 1] == '\r')
			hl--;
		if (memchr(p, ':', hl) == NULL)
			break;
		/*
		 * engine.c: at most SESSION_MAX_HEADERS, counted in m; past
		 * them only From: fields, and the message marked
		 */
		nh++;
		if (m.nheaders < SESSION_MAX_HEADERS)
			m.nheaders++;
		else
			m.headers_capped = true;
		if (!m.headers_capped ||
		    (hl > 5 && strncasecmp(p, "From:", 5) == 0)) {
			if ((rc = feed_header(&cn, &m, p, hl, &octets)) != 0)
				abort(); /* only ENOMEM could */
		}
		p = e < end ? e + 1 : end;
	}
	if (p < end && *p == '\r')
		p++;
	if (p < end && *p == '\n')
		p++;
	if (dkimv_ops.on_eoh(&cn, &m, &m.slot[0]) != 0)
		abort();
	heap_hdr = heap_in_use();

	/* body: CRLF line ends, in two chunks */
	body = malloc(2 * (size_t)(end - p) + 1);
	if (body == NULL)
		abort();
	for (const char *q = p; q < end; q++) {
		if (*q == '\n' && (q == p || q[-1] != '\r'))
			body[blen++] = '\r';
		body[blen++] = (unsigned char)*q;
	}
	split = keynum(w, "split", blen / 2);
	if (split > blen)
		split = blen;
	if (dkimv_ops.on_body(&cn, &m, &m.slot[0], body, split) != 0 ||
	    dkimv_ops.on_body(&cn, &m, &m.slot[0], body + split,
			      blen - split) != 0)
		abort();
	free(body);

	dns_deadline(&dl, 1000);
	memset(&out, 0, sizeof out);
	if (dkimv_ops.finish(&cn, &m, NULL, &m.slot[0], &dl, &out) != 0)
		abort();
	heap_end = heap_in_use();

	/* invariants */
	size_t n = dkimv_result_count(&m.slot[0]), nq = w->nasked;
	if (w->nasked > 2 * (size_t)eff)
		abort(); /* more key queries than signatures verified */

	if (n > eff)
		abort();
	if (!m.auth.dkim_done || m.auth.ndkim != n)
		abort();
	for (size_t i = 0; i < n; i++) {
		const struct dkimv_result *r = dkimv_result_get(&m.slot[0], i);
		char key[600];
		struct dns_answer a;

		if (r == NULL)
			abort();
		switch (r->result) {
		case AM_R_PASS:
		case AM_R_FAIL:
		case AM_R_NEUTRAL:
		case AM_R_POLICY:
		case AM_R_PERMERROR:
		case AM_R_TEMPERROR:
		case AM_R_NONE:
			break;
		default:
			abort();
		}
		check_text(r->why);
		if (r->result != AM_R_PASS)
			continue;
		if (m.headers_capped || nsighdrs > DKIMV_MAX_SIGHDRS)
			abort(); /* headers past a cap were not verified */
		/* a pass needs the key record in the world, and only one */
		snprintf(key, sizeof key, "%s._domainkey.%s", r->selector,
			 r->domain);
		for (char *k = key; *k != '\0'; k++)
			*k = (char)tolower((unsigned char)*k);
		if (key[0] != '\0' && key[strlen(key) - 1] == '.')
			key[strlen(key) - 1] = '\0';
		memset(&a, 0, sizeof a);
		w->delay_seed = 0;
		fuzz_world_answer(w, key, DNS_T_TXT, &a);
		if (a.status != DNS_DATA || a.n != 1)
			abort(); /* passed without its key */
		dns_packet_clear(&a);
	}
	if (out.result == AM_R_PASS) {
		bool any = false;
		for (size_t i = 0; i < n; i++)
			if (dkimv_result_get(&m.slot[0], i)->result ==
			    AM_R_PASS)
				any = true;
		if (!any)
			abort();
	}

	memset(&rep, 0, sizeof rep);
	rep.ar = authres_new("mx.example.net");
	if (rep.ar == NULL)
		abort();
	dkimv_ops.report(&cn, &m, NULL, &m.slot[0], &out, &rep);
	if ((arv = authres_render(rep.ar)) == NULL)
		abort();
	fuzz_header_ok(arv);
	free(arv);
	authres_free(rep.ar);

	if (getenv("AM_FUZZ_STATS") != NULL)
		fprintf(stderr,
			"dkimv_headers: %s results=%zu headers=%zu "
			"octets=%zu keyqueries=%zu heap_after_headers=%zu "
			"heap_after_finish=%zu\n",
			am_result_str(out.result), n, nh, octets, nq,
			heap_hdr - heap0, heap_end - heap0);
	dkimv_ops.msg_free(&m.slot[0]);
	dns_set_free(cn.dns);
	fuzz_world_close(w);
	free(w);
	return 0;
}
