/* SPDX-License-Identifier: BSD-2-Clause */
/* fuzz_xauth - libFuzzer target: X-Authmilter renderer, header copies */
/*
 * Input: NUL-separated fields: the authserv-id; the verdict's why; a
 * field whose first octet picks the failed checks (names from the check
 * table, as policy_decide() writes them); a control field whose first
 * octet picks the action, dry-run (8) and 64 copies of the first item
 * (16); then key/value pairs for the item list. Items carry network
 * text (HELO names, addresses, header values), the why too. The
 * rendered value must hold only printable ASCII with "\n\t" folds,
 * closed quoted-strings and balanced comments, stay within the cap and
 * always end with the action item. Every value is also stored with
 * policy_list_add_header(), which must keep only printable ASCII and
 * folds (LF before SP or TAB).
 */
#include <stdio.h>

#include "policy.h"

#include "fuzz_util.h"

#define NF 4 + 2 * 24

static void
header_copy_ok(const char *v)
{
	for (const char *p = v; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '\n' ? (p[1] != ' ' && p[1] != '\t')
			      : (c != '\t' && (c < 0x20 || c > 0x7e)))
			abort();
	}
	if (strlen(v) > POLICY_MAX_HEADER)
		abort();
}

/* the item after the last ';' outside quotes is "action=<word>" */
static void
last_item_is_action(const char *x, const char *word)
{
	const char *last = NULL;
	bool quoted = false;
	int depth = 0;

	for (const char *p = x; *p != '\0'; p++) {
		if (*p == '\\' && (quoted || depth > 0) && p[1] != '\0')
			p++;
		else if (*p == '"' && depth == 0)
			quoted = !quoted;
		else if (!quoted && *p == '(')
			depth++;
		else if (!quoted && *p == ')')
			depth--;
		else if (!quoted && depth == 0 && *p == ';')
			last = p;
	}
	if (last == NULL)
		abort();
	last++;
	if (strncmp(last, "\n\t", 2) == 0)
		last += 2;
	else if (*last == ' ')
		last++;
	if (strncmp(last, "action=", 7) != 0 ||
	    strncmp(last + 7, word, strlen(word)) != 0)
		abort(); /* the action item is never lost */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum am_action acts[] = {
		AM_ACT_NONE, AM_ACT_TAG, AM_ACT_QUARANTINE,
		AM_ACT_TEMPFAIL, AM_ACT_REJECT,
	};
	struct policy_list l, hl;
	struct policy_verdict v;
	char *f[NF], *x = NULL;
	unsigned char ctl;

	fuzz_fields(data, size, f, NF);
	if (f[0] == NULL)
		return 0;
	memset(&l, 0, sizeof l);
	memset(&hl, 0, sizeof hl);
	memset(&v, 0, sizeof v);
	ctl = (unsigned char)f[3][0];
	v.wanted = acts[ctl % 5];
	v.dry_run = (ctl & 8) != 0;
	v.action = v.dry_run ? AM_ACT_NONE : v.wanted;
	v.check = "dnsbl";
	snprintf(v.why, sizeof v.why, "%s", f[1]);
	/* failed holds check names from the check table, never input */
	for (size_t k = 0; k < 8; k++) {
		static const char *names[] = {
			"dnsbl", "rhsbl", "iprev", "helo",
			"sender", "spf", "dkim", "dmarc",
		};
		size_t fl = strlen(v.failed);

		if ((unsigned char)f[2][0] & (1u << k))
			snprintf(v.failed + fl, sizeof v.failed - fl, "%s%s",
				 fl ? "," : "", names[k]);
	}
	for (size_t i = 4; i + 1 < NF; i += 2) {
		if (f[i][0] == '\0' && f[i + 1][0] == '\0')
			break;
		(void)policy_list_add(&l, f[i], f[i + 1]);
		if (policy_list_add_header(&hl, "H", f[i + 1]) == 0)
			header_copy_ok(hl.v[hl.n - 1].value);
	}
	/* many copies of the last item: the length cap */
	for (size_t k = 0; (ctl & 16) && k < POLICY_MAX_ITEMS; k++)
		(void)policy_list_add(&l, f[4][0] ? f[4] : "k", f[5]);
	x = policy_xauth_render(f[0], &l, &v);
	if (x != NULL) {
		if (strlen(x) > 4096)
			abort();
		fuzz_header_ok(x);
		last_item_is_action(x, policy_action_word(v.dry_run ? v.wanted
								  : v.action));
	}
	free(x);
	policy_list_free(&l);
	policy_list_free(&hl);
	free(f[0]);
	return 0;
}
