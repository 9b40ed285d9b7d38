/*
 * amerr - the one error-code enum of authmilter
 *
 * Functions that can fail return 0 on success or one negative AM_E* code
 * (or NULL). am_strerror() turns a code into a short English phrase.
 * A check's outcome is never an error: see result.h.
 *
 * Ownership: am_strerror() returns a static string.
 * Threads: safe from any thread.
 * Errors: none; an unknown code gives "unknown error".
 */
#ifndef AM_AMERR_H
#define AM_AMERR_H

enum am_err {
	AM_OK = 0,
	AM_ENOMEM = -1,	  /* out of memory */
	AM_EINVAL = -2,	  /* bad argument or malformed input */
	AM_ERANGE = -3,	  /* a value or size beyond a hard cap */
	AM_ETIMEOUT = -5, /* a deadline passed */
	AM_ELIB = -6,	  /* a library call failed */
	AM_ESYS = -7,	  /* a system call failed; errno tells more */
	AM_ECONF = -8,	  /* the configuration is not valid */
	AM_ESTATE = -9,	  /* an invariant does not hold */
	AM_EIO = -10,	  /* a database or file refused or is unreachable */
};

/* am_strerror - a short phrase for an AM_E* code; never NULL. */
const char *am_strerror(int code);

#endif
