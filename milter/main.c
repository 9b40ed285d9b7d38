/* SPDX-License-Identifier: BSD-2-Clause */
/* main - placeholder until the daemon lands */
#include <stdio.h>

int
main(void)
{
	fputs("authmilter: not built yet\n", stderr);
	return 1;
}
