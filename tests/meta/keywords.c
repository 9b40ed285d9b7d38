/* SPDX-License-Identifier: BSD-2-Clause */
/* keywords - print every keyword of conf.c's table, one a line */
#include <stdio.h>

#include "conf.h"

int
main(void)
{
	for (size_t i = 0; i < conf_keyword_count(); i++)
		if (printf("%s\n", conf_keyword_name(i)) < 0)
			return 1;
	return fflush(stdout) == 0 ? 0 : 1;
}
