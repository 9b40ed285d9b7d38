/* SPDX-License-Identifier: BSD-2-Clause */
/* fuzz_spf_host - libFuzzer target: SPF check_host on a fuzzed DNS world */
/*
 * Input: a DNS world (fuzz_world.h) plus the keywords "ip" (client
 * address, default 192.0.2.3), "from" (MAIL FROM, empty for the null
 * sender; default postmaster@example.com), "helo" (default
 * mail.example.com) and "order" (a number: the delivery seed, default 1).
 * Every answer spf.c asks for comes from the world through a local query
 * set (dns_set_new_local): no network, no libunbound.
 *
 * The check runs twice, as spf_run() would with the answers arriving at
 * once, and again with each answer arriving 0-3 rounds after it was
 * asked (order), or as a DELAY line says: between rounds the evaluation
 * starts over from what is in, as spf_progress() makes it. Invariants:
 *  - it terminates: at most (distinct queries + 1) rounds;
 *  - the result is one of the 7 of RFC 7208, and both runs agree on it,
 *    on the deciding term, the lookup and void counts and exp;
 *  - at most SPF_MAX_LOOKUPS DNS-querying terms (include, a, mx, ptr,
 *    exists, redirect) and SPF_MAX_VOID void lookups, except that the
 *    one past the limit is counted when it gives permerror;
 *  - at most SPF_MAX_QUERIES distinct queries per check (spf.h: 123 for
 *    evaluation, SPF_MAX_PREFETCH ahead of it), in either run;
 *  - every name asked is a valid DNS name (the world never sees
 *    another), every macro expansion is within SPF_MACRO_MAX and its
 *    buffer (spf_macro_expand is wrapped: -Wl,--wrap), reason and
 *    mechanism are printable, exp within SPF_EXP_MAX.
 * AM_FUZZ_STATS=1 in the environment prints the counts of each input.
 */
#include <stdio.h>
#include <time.h>

#include "amerr.h"
#include "spf.h"
#include "spf_macro.h"

#include "fuzz_util.h"
#include "fuzz_world.h"

/*
 * Distinct queries of one check, at most: SPF_MAX_QUERIES (spf.h), 123
 * for evaluation itself plus SPF_MAX_PREFETCH sent ahead of it.
 */
#define SPF_HOST_MAX_QUERIES SPF_MAX_QUERIES

int __real_spf_macro_expand(const char *s, size_t len,
			    const struct spf_macro_env *env,
			    unsigned int flags, char *out, size_t outlen);
int __wrap_spf_macro_expand(const char *s, size_t len,
			    const struct spf_macro_env *env,
			    unsigned int flags, char *out, size_t outlen);

static size_t n_expand, max_expand, sum_expand;

int
__wrap_spf_macro_expand(const char *s, size_t len,
			const struct spf_macro_env *env, unsigned int flags,
			char *out, size_t outlen)
{
	int n = __real_spf_macro_expand(s, len, env, flags, out, outlen);

	n_expand++;
	if (n >= 0) {
		if ((size_t)n > SPF_MACRO_MAX || (size_t)n >= outlen ||
		    strlen(out) != (size_t)n)
			abort();
		if ((size_t)n > max_expand)
			max_expand = (size_t)n;
		sum_expand += (size_t)n;
	} else if (n != AM_EINVAL && n != AM_ERANGE) {
		abort();
	}
	return n;
}

static void
check_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			abort();
}

static char *
keydup(const struct fuzz_world *w, const char *key, const char *dflt)
{
	size_t len = 0;
	const char *v = fuzz_world_key(w, key, &len);
	char *s;

	if (v == NULL) {
		v = dflt;
		len = strlen(dflt);
	}
	if (len > 2048)
		len = 2048;
	if ((s = malloc(len + 1)) == NULL)
		abort();
	memcpy(s, v, len);
	s[len] = '\0';
	return s;
}

/* One whole check; the outcome is copied to *o. */
static void
run(struct fuzz_world *w, const struct spf_request *rq, uint32_t seed,
    struct spf_outcome *o)
{
	struct dns_set *set;
	struct spf_check *c;
	struct dns_query *q;
	struct timespec dl = {0, 0};
	unsigned int rounds = 0;
	int rc;

	w->delay_seed = seed;
	w->round = 0;
	set = dns_set_new_local("fuzz", fuzz_world_answer, w);
	if (set == NULL || (c = spf_check_new(set, rq)) == NULL)
		abort();
	for (;;) {
		rc = spf_eval(c, &q);
		if (rc == SPF_DONE)
			break;
		if (rc != SPF_PENDING || q == NULL)
			abort(); /* ENOMEM is not expected here */
		if (++rounds > w->nasked + 1)
			abort(); /* no progress */
		/* time passes until q is in, or it never comes */
		for (int i = 0;
		     i <= FW_MAX_DELAY && dns_answer(q)->status == DNS_PENDING;
		     i++)
			w->round++;
		if (dns_answer(q)->status == DNS_PENDING)
			(void)dns_wait(set, q, &dl);
		if (dns_answer(q)->status == DNS_PENDING)
			abort();
	}
	if (spf_eval(c, NULL) != SPF_DONE)
		abort(); /* done stays done */
	*o = *spf_outcome(c);
	spf_check_free(c);
	dns_set_free(set);
}

static void
check_outcome(const struct spf_outcome *o)
{
	switch (o->result) {
	case AM_R_NONE:
	case AM_R_NEUTRAL:
	case AM_R_PASS:
	case AM_R_FAIL:
	case AM_R_SOFTFAIL:
	case AM_R_TEMPERROR:
	case AM_R_PERMERROR:
		break;
	default:
		abort();
	}
	if (o->lookups > SPF_MAX_LOOKUPS + 1 || o->voids > SPF_MAX_VOID + 1)
		abort();
	if ((o->lookups > SPF_MAX_LOOKUPS || o->voids > SPF_MAX_VOID) &&
	    o->result != AM_R_PERMERROR)
		abort();
	check_printable(o->why);
	check_printable(o->mechanism);
	if (strnlen(o->exp, sizeof o->exp) >= sizeof o->exp)
		abort();
	if (o->result != AM_R_FAIL && o->exp[0] != '\0')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_world *w;
	struct spf_request rq;
	struct spf_outcome o1, o2;
	char *ip, *from, *helo, *order;
	size_t nq1;
	uint32_t seed;

	if (size > 64 * 1024)
		return 0;
	if ((w = calloc(1, sizeof *w)) == NULL)
		abort();
	fuzz_world_parse(w, (const char *)data, size);
	ip = keydup(w, "ip", "192.0.2.3");
	from = keydup(w, "from", "postmaster@example.com");
	helo = keydup(w, "helo", "mail.example.com");
	order = keydup(w, "order", "1");
	seed = (uint32_t)strtoul(order, NULL, 10) | 1;

	memset(&rq, 0, sizeof rq);
	if (inet_pton(AF_INET, ip, &rq.addr.v4) == 1)
		rq.family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &rq.addr.v6) == 1)
		rq.family = AF_INET6;
	else
		goto out;
	rq.sender = from;
	rq.helo = helo;
	rq.receiver = "receiver.example.net";
	rq.now = 1700000000;

	n_expand = max_expand = sum_expand = 0;
	run(w, &rq, 0, &o1);
	nq1 = w->nasked;
	if (w->maxname > 253 || nq1 > SPF_HOST_MAX_QUERIES)
		abort();
	check_outcome(&o1);
	fuzz_world_free(w);
	w->asks = w->nanswered = w->maxname = 0;

	run(w, &rq, seed, &o2);
	if (w->maxname > 253 || w->nasked > SPF_HOST_MAX_QUERIES)
		abort();
	check_outcome(&o2);
	if (o1.result != o2.result || o1.lookups != o2.lookups ||
	    o1.voids != o2.voids || strcmp(o1.mechanism, o2.mechanism) != 0 ||
	    strcmp(o1.exp, o2.exp) != 0 || o1.exp_default != o2.exp_default)
		abort(); /* the answers' timing changed the outcome */
	if (getenv("AM_FUZZ_STATS") != NULL)
		fprintf(stderr,
			"spf_host: %s lookups=%u voids=%u queries=%zu/%zu "
			"asks=%zu expansions=%zu max=%zu sum=%zu why=%s\n",
			am_result_str(o1.result), o1.lookups, o1.voids, nq1,
			w->nasked, w->asks, n_expand, max_expand, sum_expand,
			o1.why);
out:
	fuzz_world_close(w);
	free(ip);
	free(from);
	free(helo);
	free(order);
	free(w);
	return 0;
}
