/*
 * filter - the libmilter callbacks
 *
 * filter_register() registers the callbacks with libmilter. The callbacks
 * unpack each milter step into struct conn / struct msg (session.h), run
 * the check table's hooks (check.h), ask the policy module for the
 * verdict at the decision points, and map it to SMFIS_* with the SPEC's
 * replies. filter_sessions() counts open sessions, so that main can wait
 * for them to finish at SIGTERM; filter_drain() turns new connections
 * away meanwhile. Steps that never give a verdict are negotiated to need
 * no reply when the MTA offers it: headers and end of headers always,
 * connect, HELO and MAIL with DelayReject (not while draining); a failure
 * there is answered at the next step with a reply (the first RCPT, the
 * body or end of message).
 *
 * Ownership: struct conn is allocated at negotiate/connect and freed at
 *   close (smfi_setpriv).
 * Threads: libmilter runs each connection on its own thread; the session
 *   counter and the draining flag are atomics.
 * Errors: an internal failure in a callback is logged with the session
 *   and queue id and answered with 451 4.3.0 (SMFIS_TEMPFAIL), at once or
 *   at the next step with a reply; a connect refused by a drain after an
 *   unanswered connect gets 421 4.3.2 at the first RCPT; a callback never
 *   exits the process.
 */
#ifndef AM_FILTER_H
#define AM_FILTER_H

/* filter_register - smfi_register() with our callbacks; 0 or AM_ELIB. */
int filter_register(void);

/* filter_sessions - connections open right now. */
unsigned int filter_sessions(void);

/*
 * filter_drain - from now on answer every new connection at connect
 * with 421 4.3.2 (SMFIS_TEMPFAIL), so that main can wait for the open
 * sessions at SIGTERM while libmilter keeps serving them. One way.
 */
void filter_drain(void);

#endif
