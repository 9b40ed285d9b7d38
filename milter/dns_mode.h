/*
 * dns_mode - the resolver modes of the Resolver keyword
 *
 * One enum shared by conf (which parses Resolver into it) and dns
 * (whose dns_init() sets libunbound up for it), so that the
 * configuration needs no part of the DNS engine.
 *
 * Ownership: nothing; an enum only.
 * Threads: nothing shared.
 * Errors: none.
 * See also: SPEC.md "Resolver", dns.h, conf.h.
 */
#ifndef AM_DNS_MODE_H
#define AM_DNS_MODE_H

enum dns_mode {
	DNS_MODE_RECURSIVE = 0, /* from the root (recursive) */
	DNS_MODE_RESOLVCONF,	/* the servers of /etc/resolv.conf */
	DNS_MODE_FORWARD,	/* the configured forwarders */
};

#endif
