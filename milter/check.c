/* SPDX-License-Identifier: BSD-2-Clause */
/* check - the table of check modules, in report order */
#include <stddef.h>

#include "check.h"
#include "dmarcv.h"

/*
 * One line per check module, in the order of the Authentication-Results
 * methods (iprev, spf, dkim, dmarc), then the X-Authmilter-only checks.
 * Each module declares its ops in its own header.
 */
static const struct check_ops *const check_table[] = {
	/* iprev, spf and dkim come here, in that order, before dmarc */
	&dmarcv_ops,
};

size_t
check_count(void)
{
	return sizeof check_table / sizeof check_table[0];
}

const struct check_ops *
check_get(size_t i)
{
	if (i >= check_count())
		return NULL;
	return check_table[i];
}
