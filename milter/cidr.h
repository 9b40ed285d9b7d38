/*
 * cidr - IPv4/IPv6 networks and address matching
 *
 * cidr_parse() reads "ADDR" or "ADDR/LEN" (IPv4 or IPv6). cidr_match()
 * tells whether an address lies in a network; an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) matches IPv4 networks. cidr_list_* keeps a
 * list of networks (InternalHosts).
 *
 * Caps: a list holds at most CIDR_MAX_LIST (256) networks.
 * Ownership: a cidr_list owns its array; free it with cidr_list_free().
 * Threads: no shared state.
 * Errors: cidr_parse returns AM_EINVAL with a reason in err.
 * See also: RFC 4291, RFC 4632.
 */
#ifndef AM_CIDR_H
#define AM_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>

#define CIDR_MAX_LIST 256 /* networks in a cidr_list */

struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network address, 4 or 16 octets */
	unsigned int len;	/* prefix length */
};

struct cidr_list {
	struct cidr *v; /* owned */
	size_t n;
};

/* cidr_parse - parse text into out; 0, or AM_EINVAL with err set. */
int cidr_parse(const char *text, struct cidr *out, char *err, size_t errlen);

/*
 * cidr_match - whether the address (family AF_INET with a struct in_addr,
 * or AF_INET6 with a struct in6_addr) lies in net.
 */
bool cidr_match(const struct cidr *net, int family, const void *addr);

/* cidr_list_match - whether the address lies in any network of l. */
bool cidr_list_match(const struct cidr_list *l, int family, const void *addr);

/* cidr_list_add - append; 0, AM_ENOMEM or AM_ERANGE. */
int cidr_list_add(struct cidr_list *l, const struct cidr *c);

/* cidr_list_free - free the array and zero the list (NULL ok). */
void cidr_list_free(struct cidr_list *l);

#endif
