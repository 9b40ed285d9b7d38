/* SPDX-License-Identifier: BSD-2-Clause */
/* check - helpers every check module uses for its outcome and report */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"

void
check_outcome_reply(struct check_outcome *out, const char *rcode,
		    const char *xcode, const char *fmt, ...)
{
	va_list ap;
	int n;

	snprintf(out->rcode, sizeof out->rcode, "%s", rcode);
	snprintf(out->xcode, sizeof out->xcode, "%s", xcode);
	va_start(ap, fmt);
	n = vsnprintf(out->reply, sizeof out->reply, fmt, ap);
	va_end(ap);
	if (n < 0)
		out->reply[0] = '\0';
	/* A tempfail action turns 5xx into 4xx, as Postfix's soft_bounce. */
	if (out->action == AM_ACT_TEMPFAIL) {
		if (out->rcode[0] == '5')
			out->rcode[0] = '4';
		if (out->xcode[0] == '5')
			out->xcode[0] = '4';
	}
}

void
check_outcome_temperror(struct check_outcome *out, enum am_action at_stake)
{
	out->result = AM_R_TEMPERROR;
	out->action = AM_ACT_NONE;
	out->rcode[0] = out->xcode[0] = out->reply[0] = '\0';
	out->dns_failed = true;
	out->at_stake = at_stake;
}

void
check_outcome_dns_tempfail(struct check_outcome *out)
{
	out->action = AM_ACT_TEMPFAIL;
	check_outcome_reply(out, "451", "4.4.3",
			    "Temporary DNS failure, try again later");
}

void
check_report_result(struct check_report *r, const struct check_outcome *o,
		    const char *xkey, const char *logkey)
{
	char val[200];
	const char *res = am_result_str(o->result);

	if (o->result == AM_R_SKIPPED)
		return;
	if (o->result == AM_R_PASS || o->why[0] == '\0')
		snprintf(val, sizeof val, "%s", res);
	else if (snprintf(val, sizeof val, "%s (%s)", res, o->why) < 0)
		val[0] = '\0';
	if (r->xauth != NULL)
		r->xauth(r, xkey, val);
	if (r->logf != NULL)
		r->logf(r, logkey, res);
}

void
check_slot_free(struct check_slot *slot)
{
	if (slot == NULL)
		return;
	free(slot->state);
	slot->state = NULL;
}

void
check_text_safe(const char *in, char *out, size_t outlen, bool words)
{
	size_t j = 0;

	if (outlen == 0)
		return;
	for (const char *p = in; p != NULL && *p != '\0' && j + 1 < outlen;
	     p++) {
		unsigned char ch = (unsigned char)*p;

		if (words && (ch < 0x20 || ch > 0x7e))
			continue;
		if (ch == '%' || (!words && (ch < 0x21 || ch > 0x7e)))
			ch = '?';
		out[j++] = (char)ch;
	}
	out[j] = '\0';
}

char *
check_reply_safe(const char *in, char *out, size_t outlen)
{
	check_text_safe(in, out, outlen, false);
	return out;
}
