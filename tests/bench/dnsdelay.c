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
 * UDP only; at most 65536 queries in flight (older ones are forgotten)
 * and 8192 answers held back (more are dropped, as a full link would).
 * It takes datagrams in batches (recvmmsg/sendmmsg) and sleeps until the
 * next answer is due to the nanosecond (ppoll), so that as little as
 * possible of the shared CPUs, and of each answer's time, is the relay's.
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
#include <sys/uio.h>
#include <unistd.h>

#define QMAX 65536 /* query ids: one slot each */
#define RMAX 8192  /* answers held back at once (400,000/s at 20 ms) */
#define PKTMAX 4096
#define BATCH 64 /* datagrams per recvmmsg/sendmmsg */

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

/* A batch of datagrams for sendmmsg, each with its own buffer. */
struct batch {
	struct mmsghdr mh[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in addr[BATCH];
	unsigned char pkt[BATCH][PKTMAX];
	unsigned n;
};

static void
batch_reset(struct batch *b, int with_addr)
{
	memset(b->mh, 0, sizeof b->mh);
	for (unsigned i = 0; i < BATCH; i++) {
		b->iov[i].iov_base = b->pkt[i];
		b->iov[i].iov_len = PKTMAX;
		b->mh[i].msg_hdr.msg_iov = &b->iov[i];
		b->mh[i].msg_hdr.msg_iovlen = 1;
		if (with_addr) {
			b->mh[i].msg_hdr.msg_name = &b->addr[i];
			b->mh[i].msg_hdr.msg_namelen = sizeof b->addr[i];
		}
	}
	b->n = 0;
}

/* Sends the first b->n datagrams of the batch (lengths in iov_len). */
static void
batch_send(int fd, struct batch *b)
{
	unsigned off = 0;

	while (off < b->n) {
		int r = sendmmsg(fd, b->mh + off, b->n - off, 0);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			break; /* a full buffer loses the rest, as UDP would */
		}
		off += (unsigned)r;
	}
	b->n = 0;
}

/* Receives what is waiting on fd into b (with sender addresses if the
 * batch has them); returns how many datagrams. */
static unsigned
batch_recv(int fd, struct batch *b, int with_addr)
{
	int r;

	batch_reset(b, with_addr);
	r = recvmmsg(fd, b->mh, BATCH, MSG_DONTWAIT, NULL);
	return r > 0 ? (unsigned)r : 0;
}

/* Puts one datagram into out for sending (to the address to, if given). */
static void
batch_add(struct batch *out, int fd, const unsigned char *pkt, size_t len,
	  const struct sockaddr_in *to)
{
	unsigned i;

	if (out->n == BATCH)
		batch_send(fd, out);
	i = out->n++;
	memcpy(out->pkt[i], pkt, len);
	out->iov[i].iov_base = out->pkt[i];
	out->iov[i].iov_len = len;
	out->mh[i].msg_hdr.msg_iov = &out->iov[i];
	out->mh[i].msg_hdr.msg_iovlen = 1;
	if (to != NULL) {
		out->addr[i] = *to;
		out->mh[i].msg_hdr.msg_name = &out->addr[i];
		out->mh[i].msg_hdr.msg_namelen = sizeof out->addr[i];
	} else {
		out->mh[i].msg_hdr.msg_name = NULL;
		out->mh[i].msg_hdr.msg_namelen = 0;
	}
}

int
main(int argc, char **argv)
{
	static struct batch in, up, down;
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
	ring = calloc(RMAX, sizeof *ring);
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
	batch_reset(&up, 0);
	batch_reset(&down, 1);
	for (;;) {
		struct pollfd pfd[2] = {{.fd = ls, .events = POLLIN},
					{.fd = us, .events = POLLIN}};
		struct timespec tmo, *tp = NULL;
		double t = now();
		unsigned n;

		while (rlen > 0 && ring[rhead].due <= t) {
			struct out *o = &ring[rhead];

			batch_add(&down, ls, o->pkt, o->len, &o->to);
			rhead = (rhead + 1) % RMAX;
			rlen--;
		}
		batch_send(ls, &down);
		if (rlen > 0) {
			double w = ring[rhead].due - t;

			tmo.tv_sec = (time_t)w;
			tmo.tv_nsec = (long)((w - (double)tmo.tv_sec) * 1e9);
			tp = &tmo;
		}
		if (ppoll(pfd, 2, tp, NULL) < 0 && errno != EINTR) {
			perror("dnsdelay: ppoll");
			return 1;
		}
		/* queries: a query id of our own, then on to the server */
		while ((pfd[0].revents & POLLIN) &&
		       (n = batch_recv(ls, &in, 1)) > 0) {
			for (unsigned i = 0; i < n; i++) {
				unsigned char *pkt = in.pkt[i];
				uint16_t id = nextid++, cid;

				if (in.mh[i].msg_len < 12)
					continue;
				memcpy(&cid, pkt, 2);
				pend[id].from = in.addr[i];
				pend[id].id = cid;
				pend[id].used = 1;
				memcpy(pkt, &id, 2);
				batch_add(&up, us, pkt, in.mh[i].msg_len,
					  NULL);
			}
			batch_send(us, &up);
			if (n < BATCH)
				break;
		}
		/* answers: the client's id back, then out now or when due */
		t = now();
		while ((pfd[1].revents & POLLIN) &&
		       (n = batch_recv(us, &in, 0)) > 0) {
			for (unsigned i = 0; i < n; i++) {
				unsigned char *pkt = in.pkt[i];
				size_t len = in.mh[i].msg_len;
				uint16_t id;

				if (len < 12)
					continue;
				memcpy(&id, pkt, 2);
				if (!pend[id].used)
					continue;
				pend[id].used = 0;
				memcpy(pkt, &pend[id].id, 2);
				if (delay == 0) {
					batch_add(&down, ls, pkt, len,
						  &pend[id].from);
				} else if (rlen < RMAX) {
					struct out *o =
					    &ring[(rhead + rlen) % RMAX];

					o->due = t + delay;
					o->to = pend[id].from;
					o->len = len;
					memcpy(o->pkt, pkt, len);
					rlen++;
				}
			}
			batch_send(ls, &down);
			if (n < BATCH)
				break;
		}
	}
}
