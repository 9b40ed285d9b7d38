/* SPDX-License-Identifier: BSD-2-Clause */
/* test_dmarc_record - RFC 9989 record parsing, named cases */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dmarc_record.h"

struct rcase {
	const char *name;
	const char *txt;
	int status;
	bool usable;
	enum dmarc_policy p, sp, np;
	enum dmarc_psd psd;
	bool testing;
	enum dmarc_align adkim, aspf;
	bool p_implied;
};

#define U DMARC_P_UNSET
#define N DMARC_P_NONE
#define Q DMARC_P_QUARANTINE
#define R DMARC_P_REJECT
#define RL DMARC_ALIGN_RELAXED
#define ST DMARC_ALIGN_STRICT

static const struct rcase cases[] = {
	{ "minimal", "v=DMARC1; p=reject", DMARC_REC_OK, true,
	  R, U, U, DMARC_PSD_U, false, RL, RL, false },
	{ "all tags", "v=DMARC1; p=quarantine; sp=reject; np=none; psd=n; "
	  "t=n; adkim=s; aspf=s; rua=mailto:a@example.com; "
	  "ruf=mailto:f@example.com; fo=1", DMARC_REC_OK, true,
	  Q, R, N, DMARC_PSD_N, false, ST, ST, false },
	{ "psd=y", "v=DMARC1;p=none;psd=y", DMARC_REC_OK, true,
	  N, U, U, DMARC_PSD_Y, false, RL, RL, false },
	{ "psd=u", "v=DMARC1;p=none;psd=u", DMARC_REC_OK, true,
	  N, U, U, DMARC_PSD_U, false, RL, RL, false },
	{ "t=y", "v=DMARC1; p=reject; t=y", DMARC_REC_OK, true,
	  R, U, U, DMARC_PSD_U, true, RL, RL, false },
	{ "case-insensitive names and values", "v=DMARC1; P=Reject; "
	  "ADKIM=S; Sp=QUARANTINE", DMARC_REC_OK, true,
	  R, Q, U, DMARC_PSD_U, false, ST, RL, false },
	{ "whitespace everywhere", " v = DMARC1 ;\tp = reject ;  aspf\t=s ; ",
	  DMARC_REC_OK, true, R, U, U, DMARC_PSD_U, false, RL, ST,
	  false },
	{ "folded whitespace", "v=DMARC1;\r\n p=quarantine", DMARC_REC_OK,
	  true, Q, U, U, DMARC_PSD_U, false, RL, RL, false },
	{ "unknown tags ignored (rf, ri, foo)", "v=DMARC1; p=reject; rf=afrf; "
	  "ri=86400; foo=bar", DMARC_REC_OK, true,
	  R, U, U, DMARC_PSD_U, false, RL, RL, false },
	{ "bad adkim ignored, default r", "v=DMARC1; p=reject; adkim=x",
	  DMARC_REC_OK, true, R, U, U, DMARC_PSD_U, false, RL, RL,
	  false },
	{ "bad psd ignored", "v=DMARC1; p=reject; psd=maybe", DMARC_REC_OK,
	  true, R, U, U, DMARC_PSD_U, false, RL, RL, false },
	{ "bad t ignored", "v=DMARC1; p=reject; t=yes", DMARC_REC_OK, true,
	  R, U, U, DMARC_PSD_U, false, RL, RL, false },
	{ "pct=0 ignored (removed tag): a full reject",
	  "v=DMARC1; p=reject; pct=0", DMARC_REC_OK, true,
	  R, U, U, DMARC_PSD_U, false, RL, RL, false },
	{ "pct=50 ignored", "v=DMARC1; p=quarantine; pct=50", DMARC_REC_OK,
	  true, Q, U, U, DMARC_PSD_U, false, RL, RL, false },
	{ "pct=0 with t=y: testing from t", "v=DMARC1; p=reject; pct=0; t=y",
	  DMARC_REC_OK, true, R, U, U, DMARC_PSD_U, true, RL, RL, false },
	{ "pct=100 with t=n", "v=DMARC1; p=reject; pct=100; t=n",
	  DMARC_REC_OK, true, R, U, U, DMARC_PSD_U, false, RL, RL, false },
	{ "pct out of range still just ignored", "v=DMARC1; p=reject; pct=101",
	  DMARC_REC_OK, true, R, U, U, DMARC_PSD_U, false, RL, RL, false },
	{ "no p, valid rua: p=none", "v=DMARC1; rua=mailto:r@example.com",
	  DMARC_REC_OK, true, N, U, U, DMARC_PSD_U, false, RL, RL, true },
	{ "bad p, valid rua: p=none", "v=DMARC1; p=rejct; "
	  "rua=mailto:r@example.com", DMARC_REC_OK, true,
	  N, U, U, DMARC_PSD_U, false, RL, RL, true },
	{ "bad sp, valid rua: p=none", "v=DMARC1; p=reject; sp=bogus; "
	  "rua=mailto:r@example.com", DMARC_REC_OK, true,
	  N, U, U, DMARC_PSD_U, false, RL, RL, true },
	{ "no p, no rua: unusable", "v=DMARC1; adkim=s", DMARC_REC_OK, false,
	  U, U, U, DMARC_PSD_U, false, ST, RL, false },
	{ "bad p, bad rua: unusable", "v=DMARC1; p=bogus; rua=nourl",
	  DMARC_REC_OK, false, U, U, U, DMARC_PSD_U, false, RL, RL,
	  false },
	{ "v= not first: not DMARC", "p=reject; v=DMARC1", DMARC_REC_NOT_DMARC,
	  false, U, U, U, DMARC_PSD_U, false, RL, RL, false },
	{ "wrong version", "v=DMARC2; p=reject", DMARC_REC_NOT_DMARC, false,
	  U, U, U, DMARC_PSD_U, false, RL, RL, false },
	{ "version is case-sensitive", "v=dmarc1; p=reject",
	  DMARC_REC_NOT_DMARC, false, U, U, U, DMARC_PSD_U, false, RL, RL,
	  false },
	{ "SPF record", "v=spf1 -all", DMARC_REC_NOT_DMARC, false,
	  U, U, U, DMARC_PSD_U, false, RL, RL, false },
	{ "empty", "", DMARC_REC_NOT_DMARC, false,
	  U, U, U, DMARC_PSD_U, false, RL, RL, false },
	{ "duplicate tag: invalid", "v=DMARC1; p=none; p=reject",
	  DMARC_REC_INVALID, false, U, U, U, DMARC_PSD_U, false, RL, RL,
	  false },
	{ "duplicate unknown tag: invalid", "v=DMARC1; p=none; x=1; X=2",
	  DMARC_REC_INVALID, false, U, U, U, DMARC_PSD_U, false, RL, RL,
	  false },
	{ "tag without = ignored", "v=DMARC1; p=reject; garbage",
	  DMARC_REC_OK, true, R, U, U, DMARC_PSD_U, false, RL, RL, false },
	{ "empty tag-specs tolerated", "v=DMARC1;; p=reject;;",
	  DMARC_REC_OK, true, R, U, U, DMARC_PSD_U, false, RL, RL, false },
};

static void
test_cases(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct rcase *c = &cases[i];
		struct dmarc_record rec;
		int s = dmarc_record_parse(c->txt, strlen(c->txt), &rec);

		print_message("case: %s\n", c->name);
		assert_int_equal(s, c->status);
		assert_int_equal(rec.usable, c->usable);
		if (s != DMARC_REC_OK)
			continue;
		assert_int_equal(rec.p, c->p);
		assert_int_equal(rec.sp, c->sp);
		assert_int_equal(rec.np, c->np);
		assert_int_equal(rec.psd, c->psd);
		assert_int_equal(rec.testing, c->testing);
		assert_int_equal(rec.adkim, c->adkim);
		assert_int_equal(rec.aspf, c->aspf);
		assert_int_equal(rec.p_implied, c->p_implied);
	}
}

static void
test_nul_and_length(void **state)
{
	static const char nul[] = "v=DMARC1; p=reject\0; sp=none";
	char big[DMARC_RECORD_MAX + 64];
	struct dmarc_record rec;
	size_t n;

	(void)state;
	assert_int_equal(dmarc_record_parse(nul, sizeof nul - 1, &rec),
			 DMARC_REC_INVALID);
	n = (size_t)snprintf(big, sizeof big, "v=DMARC1; p=reject; x=");
	memset(big + n, 'a', sizeof big - n - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(dmarc_record_parse(big, strlen(big), &rec),
			 DMARC_REC_INVALID);
	/* not NUL-terminated at len: the parser stops at len */
	assert_int_equal(dmarc_record_parse("v=DMARC1; p=rejectXYZ", 18,
					    &rec), DMARC_REC_OK);
	assert_int_equal(rec.p, DMARC_P_REJECT);
}

/* Hostile input: random octets after a valid prefix, under ASan/UBSan. */
static void
test_random(void **state)
{
	static const char alphabet[] = "v=DMARC1;p =rejctsnoqua\t\r\n,:@\0"
				       "\x80\xff";
	char buf[600];
	struct dmarc_record rec;
	uint32_t x = 2463534242u;
	int i, ok = 0;

	(void)state;
	for (i = 0; i < 20000; i++) {
		size_t len, j, start = 0;
		int s;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		len = x % sizeof buf;
		if (i % 2 == 0 && len >= 9) {
			memcpy(buf, "v=DMARC1;", 9);
			start = 9;
		}
		for (j = start; j < len; j++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			buf[j] = alphabet[x % (sizeof alphabet - 1)];
		}
		s = dmarc_record_parse(buf, len, &rec);
		assert_true(s == DMARC_REC_OK || s == DMARC_REC_NOT_DMARC ||
			    s == DMARC_REC_INVALID);
		if (s != DMARC_REC_OK)
			assert_false(rec.usable);
		ok += s == DMARC_REC_OK;
	}
	assert_true(ok > 0); /* the prefix made some records parse */
}

static void
test_relax(void **state)
{
	(void)state;
	assert_int_equal(dmarc_policy_relax(R), Q);
	assert_int_equal(dmarc_policy_relax(Q), N);
	assert_int_equal(dmarc_policy_relax(N), N);
	assert_string_equal(dmarc_policy_str(Q), "quarantine");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_nul_and_length),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_relax),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
