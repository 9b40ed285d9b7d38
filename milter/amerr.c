/* SPDX-License-Identifier: BSD-2-Clause */
/* amerr - phrases for the AM_E* error codes */
#include "amerr.h"

const char *
am_strerror(int code)
{
	switch (code) {
	case AM_OK:
		return "success";
	case AM_ENOMEM:
		return "out of memory";
	case AM_EINVAL:
		return "invalid argument";
	case AM_ERANGE:
		return "value out of range";
	case AM_ETIMEOUT:
		return "timed out";
	case AM_ELIB:
		return "library failure";
	case AM_ESYS:
		return "system call failed";
	case AM_ECONF:
		return "invalid configuration";
	case AM_ESTATE:
		return "internal state error";
	case AM_EIO:
		return "input/output error";
	}
	return "unknown error";
}
