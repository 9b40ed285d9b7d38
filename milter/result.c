/* SPDX-License-Identifier: BSD-2-Clause */
/* result - names of check results and actions */
#include <stddef.h>
#include <strings.h>

#include "result.h"

static const char *const result_names[] = {
    [AM_R_NONE] = "none",	    [AM_R_PASS] = "pass",
    [AM_R_FAIL] = "fail",	    [AM_R_SOFTFAIL] = "softfail",
    [AM_R_NEUTRAL] = "neutral",	    [AM_R_POLICY] = "policy",
    [AM_R_TEMPERROR] = "temperror", [AM_R_PERMERROR] = "permerror",
    [AM_R_NULLMX] = "nullmx",	    [AM_R_LISTED] = "listed",
    [AM_R_SKIPPED] = "skipped",
};

static const char *const action_names[] = {
    [AM_ACT_NONE] = "none",
    [AM_ACT_TAG] = "tag",
    [AM_ACT_QUARANTINE] = "quarantine",
    [AM_ACT_TEMPFAIL] = "tempfail",
    [AM_ACT_REJECT] = "reject",
};

const char *
am_result_str(enum am_result r)
{
	if ((unsigned)r < sizeof result_names / sizeof result_names[0] &&
	    result_names[r] != NULL)
		return result_names[r];
	return "unknown";
}

const char *
am_action_str(enum am_action a)
{
	if ((unsigned)a < sizeof action_names / sizeof action_names[0])
		return action_names[a];
	return "unknown";
}

int
am_action_parse(const char *s)
{
	for (unsigned i = 0; i < sizeof action_names / sizeof action_names[0];
	     i++)
		if (strcasecmp(s, action_names[i]) == 0)
			return (int)i;
	return -1;
}
