// SPDX-License-Identifier: BSD-2-Clause
/* dnsdelay - a UDP DNS relay that delays every answer by a fixed time. */

/*
 * dnsdelay - add a fixed latency to every DNS answer
 *
 * dnsdelay -l ADDR:PORT -u ADDR:PORT -d MS
 *
 * Receives DNS queries on the loopback address -l, forwards each at once
 * to the server -u (with a query id of its own, so clients' ids never
 * collide), and sends the answer back to its client MS milliseconds after
 * it arrived. Each query therefore takes the server's time plus MS,
 * whatever the number of queries in flight: the round trip of a remote
 * authoritative server, made without tc netem (not in this kernel).
 * UDP only; at most 65536 queries in flight (older ones are forgotten).
 * Both addresses must be IPv4 loopback. Runs until killed.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QMAX 65536
#define PKTMAX 4096

struct pending {
	struct sockaddr_in from; /* the client */
	uint16_t id;             /* the client's query id */
	int used;
};

struct out {
	double due; /* when to send */
	struct sockaddr_in to;
	size_t len;
	unsigned char pkt[PKTMAX];
};

static struct pending pend[QMAX];
static struct out *ring; /* FIFO: a fixed delay keeps due times in order */
static size_t rhead, rlen;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
parse_addr(const char *s, struct sockaddr_in *sin)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (colon == NULL || (size_t)(colon - s) >= sizeof host)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1 ||
	    (ntohl(sin->sin_addr.s_addr) >> 24) != 127)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in la, ua;
	double delay = -1;
	int opt, ls, us, have_l = 0, have_u = 0;
	uint16_t nextid = 1;

	while ((opt = getopt(argc, argv, "l:u:d:")) != -1) {
		if (opt == 'l')
			have_l = parse_addr(optarg, &la) == 0;
		else if (opt == 'u')
			have_u = parse_addr(optarg, &ua) == 0;
		else if (opt == 'd')
			delay = atof(optarg) / 1e3;
	}
	if (!have_l || !have_u || delay < 0) {
		fprintf(stderr, "usage: dnsdelay -l 127.0.0.1:PORT "
				"-u 127.0.0.1:PORT -d MS\n");
		return 1;
	}
	ring = calloc(QMAX, sizeof *ring);
	ls = socket(AF_INET, SOCK_DGRAM, 0);
	us = socket(AF_INET, SOCK_DGRAM, 0);
	if (ring == NULL || ls < 0 || us < 0 ||
	    bind(ls, (struct sockaddr *)&la, sizeof la) < 0 ||
	    connect(us, (struct sockaddr *)&ua, sizeof ua) < 0) {
		perror("dnsdelay");
		return 1;
	}
	{
		int sz = 4 << 20;

		setsockopt(ls, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
		setsockopt(us, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	}
	for (;;) {
		struct pollfd pfd[2] = {{.fd = ls, .events = POLLIN},
					{.fd = us, .events = POLLIN}};
		unsigned char pkt[PKTMAX];
		int tmo = -1;
		double t = now();

		while (rlen > 0 && ring[rhead].due <= t) {
			struct out *o = &ring[rhead];

			(void)sendto(ls, o->pkt, o->len, 0,
				     (struct sockaddr *)&o->to, sizeof o->to);
			rhead = (rhead + 1) % QMAX;
			rlen--;
		}
		if (rlen > 0)
			tmo = (int)((ring[rhead].due - t) * 1e3) + 1;
		if (poll(pfd, 2, tmo) < 0 && errno != EINTR) {
			perror("dnsdelay: poll");
			return 1;
		}
		if (pfd[0].revents & POLLIN) {
			struct sockaddr_in from;
			socklen_t fl = sizeof from;
			ssize_t n = recvfrom(ls, pkt, sizeof pkt, MSG_DONTWAIT,
					     (struct sockaddr *)&from, &fl);

			if (n >= 12) {
				uint16_t id = nextid++, cid;

				memcpy(&cid, pkt, 2);
				pend[id].from = from;
				pend[id].id = cid;
				pend[id].used = 1;
				memcpy(pkt, &id, 2);
				(void)send(us, pkt, (size_t)n, 0);
			}
		}
		if (pfd[1].revents & POLLIN) {
			ssize_t n = recv(us, pkt, sizeof pkt, MSG_DONTWAIT);
			uint16_t id;

			if (n < 12)
				continue;
			memcpy(&id, pkt, 2);
			if (!pend[id].used)
				continue;
			pend[id].used = 0;
			memcpy(pkt, &pend[id].id, 2);
			if (delay == 0) {
				(void)sendto(ls, pkt, (size_t)n, 0,
					     (struct sockaddr *)&pend[id].from,
					     sizeof pend[id].from);
			} else if (rlen < QMAX) {
				struct out *o = &ring[(rhead + rlen) % QMAX];

				o->due = now() + delay;
				o->to = pend[id].from;
				o->len = (size_t)n;
				memcpy(o->pkt, pkt, (size_t)n);
				rlen++;
			}
		}
	}
}
