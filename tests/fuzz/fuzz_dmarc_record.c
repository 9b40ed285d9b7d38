/* SPDX-License-Identifier: BSD-2-Clause */
/* fuzz_dmarc_record - libFuzzer target: DMARC record (TXT) parser */
/*
 * Input: the TXT record's joined text (it may hold NUL octets, as a TXT
 * answer can). The parsed record must be self-consistent: enums in
 * range, testing only from t=, fo NUL-terminated, a usable record has a
 * policy.
 */
#include "dmarc_record.h"

#include "fuzz_util.h"

static void
check_policy(enum dmarc_policy p)
{
	if (p < DMARC_P_UNSET || p > DMARC_P_REJECT)
		abort();
	if (dmarc_policy_str(p) == NULL)
		abort();
	(void)dmarc_policy_relax(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmarc_record rec;
	int rc;

	memset(&rec, 0xa5, sizeof rec);
	rc = dmarc_record_parse((const char *)data, size, &rec);
	if (rc != DMARC_REC_OK && rc != DMARC_REC_NOT_DMARC &&
	    rc != DMARC_REC_INVALID)
		abort();
	if (rc != DMARC_REC_OK)
		return 0;
	check_policy(rec.p);
	check_policy(rec.sp);
	check_policy(rec.np);
	if (rec.psd < DMARC_PSD_U || rec.psd > DMARC_PSD_N)
		abort();
	if (rec.adkim > DMARC_ALIGN_STRICT || rec.aspf > DMARC_ALIGN_STRICT)
		abort();
	if (rec.testing && !rec.t_set)
		abort(); /* only t=y means testing (pct is a removed tag) */
	if (strnlen(rec.fo, sizeof rec.fo) == sizeof rec.fo)
		abort();
	if (rec.usable && rec.p == DMARC_P_UNSET)
		abort();
	if (rec.p_implied && (!rec.usable || rec.p != DMARC_P_NONE))
		abort();
	if (rec.rua_valid && !rec.has_rua)
		abort();
	return 0;
}
