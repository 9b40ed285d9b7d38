/* SPDX-License-Identifier: BSD-2-Clause */
/* checks - the table of check modules, in report order */
#include <stddef.h>

#include "checks.h"
#include "dkimv.h"
#include "dmarcv.h"
#include "dnsbl.h"
#include "helo.h"
#include "iprev.h"
#include "sender.h"
#include "spf_check.h"
#include "uribl.h"

/*
 * One line per check module, in the order of the Authentication-Results
 * methods (iprev, spf, dkim, dmarc), then the X-Authmilter-only checks.
 * Each module declares its ops in its own header.
 */
static const struct check_ops *const check_table[] = {
    &iprev_ops, &spf_ops,    &dkimv_ops, &dmarcv_ops, &dnsbl_ops,
    &helo_ops,	&sender_ops, &rhsbl_ops, &uribl_ops,
};

size_t
checks_count(void)
{
	return sizeof check_table / sizeof check_table[0];
}

const struct check_ops *
checks_get(size_t i)
{
	if (i >= checks_count())
		return NULL;
	return check_table[i];
}
