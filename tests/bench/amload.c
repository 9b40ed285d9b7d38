// SPDX-License-Identifier: BSD-2-Clause
/* amload - milter load generator: the MTA side of milter protocol 6. */

/*
 * amload - replay a corpus of messages through one milter or a chain
 *
 * amload -i INDEX [-m SOCKET]... [-c SESSIONS] [-n COUNT] [-d SECONDS]
 *        [-T TIMEOUT_MS] [-x] [-j JSONFILE] [-q] [-H N]
 *
 * INDEX is a text file, one message per line, fields separated by tabs:
 * file (relative to the index's directory), client IP, HELO name,
 * MAIL FROM address, recipient(s) separated by commas, and the expected
 * final action (accept, reject, tempfail, quarantine, discard or "-").
 * SOCKET is inet:PORT@127.0.0.1, inet6:PORT@::1 or unix:/path (only
 * loopback addresses are accepted). Several -m options form a chain: each
 * envelope step goes to each milter in turn, then the whole content goes
 * to the first milter, then (with the first one's header changes applied)
 * to the next, as Postfix does.
 *
 * SESSIONS threads each take the next message, open one connection per
 * milter, negotiate, send connect, HELO, MAIL, RCPT, DATA, the headers,
 * end of headers, the body and end of message, honouring the steps and
 * replies each milter negotiated away (SMFIP_NO*, SMFIP_NR_*), then QUIT.
 * The latency of a message runs from the first connect() to the final
 * reply to end of message (or to the reply that ended it early). It is
 * also split in two for the messages that get past RCPT TO: the
 * envelope (connect() to the reply to the last RCPT TO, where a milter
 * gives its connect, HELO and MAIL FROM verdicts) and the content (from
 * there to the reply to end of message), so a run shows which of the
 * two a milter's waits fall in.
 * Replay stops after COUNT messages (default: the corpus once) or after
 * SECONDS, whichever comes first. Each read waits at most TIMEOUT_MS
 * (default 10000); a timeout, a refused connection or a protocol error
 * ends that message with action "error" and is counted, never fatal.
 *
 * Output: messages/s, latency p50/p90/p99/max, the envelope/content
 * split (p50, p99), the count of each final
 * action and of errors; with -x the count of messages whose final action
 * differs from the expected one; with -j the same as one JSON object.
 * -H N prints the headers the milters added to the first N messages
 * (to stderr), to see what they concluded.
 * Exit status: 0 when the run completed (even with errors), 1 on bad
 * usage or corpus, 2 when -x found mismatches.
 *
 * Caps: a reply packet is at most 1 MiB; a message at most 64 MiB.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libmilter/mfdef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_MILTERS 8
#define MAX_REPLY (1024 * 1024)
#define MAX_MSG (64 * 1024 * 1024)
#define MAX_HDRS 4096

enum act {
	ACT_ACCEPT,
	ACT_REJECT,
	ACT_TEMPFAIL,
	ACT_QUARANTINE,
	ACT_DISCARD,
	ACT_ERROR,
	ACT_N
};
static const char *const act_name[ACT_N] = {
	"accept", "reject", "tempfail", "quarantine", "discard", "error",
};

struct hdr {
	char *name;  /* owned */
	char *value; /* owned; folded lines joined by "\n" */
};

struct message {
	char *file;      /* owned */
	char *ip;        /* owned */
	char *helo;      /* owned */
	char *from;      /* owned */
	char *rcpts;     /* owned, comma-separated */
	int expect;      /* enum act, or -1 */
	struct hdr *hdr; /* owned array */
	size_t nhdr;
	char *body; /* owned, CRLF line ends */
	size_t bodylen;
};

struct milter {
	int family; /* AF_INET, AF_INET6, AF_UNIX */
	struct sockaddr_storage ss;
	socklen_t sslen;
	char spec[256];
};

/* One milter connection of one message. */
struct mconn {
	int fd;
	uint32_t prot; /* protocol flags the milter asked for */
	bool done;     /* accepted: no further steps for this message */
	bool skipbody; /* replied SKIP to a body chunk */
};

struct stats {
	double *lat; /* owned, seconds, one per message done */
	size_t nlat;
	double *env;  /* owned, seconds: connect to the last RCPT reply */
	double *cont; /* owned, seconds: from there to the EOM reply */
	size_t nsplit;
	uint64_t act[ACT_N];
	uint64_t mismatch;
	uint64_t hdradd;
	char firsterr[160];
};

static struct milter milters[MAX_MILTERS];
static int nmilters;
static struct message *msgs;
static size_t nmsgs;
static size_t want;
static double deadline;
static int timeout_ms = 10000;
static bool check_expect;
static size_t show_hdrs; /* -H N: print added headers of N messages */
static atomic_size_t next_msg;
static atomic_uint_fast64_t qid_seq;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
act_from_name(const char *s)
{
	for (int i = 0; i < ACT_N; i++)
		if (strcmp(s, act_name[i]) == 0)
			return i;
	return -1;
}

/* Parse "inet:PORT@HOST", "inet6:PORT@HOST" or "unix:PATH"; loopback only. */
static int
parse_socket(const char *spec, struct milter *m)
{
	char host[128];
	const char *at;
	long port;
	char *end;

	memset(m, 0, sizeof *m);
	snprintf(m->spec, sizeof m->spec, "%s", spec);
	if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
		struct sockaddr_un *sun = (void *)&m->ss;
		const char *p = strchr(spec, ':') + 1;

		if (strlen(p) >= sizeof sun->sun_path)
			return -1;
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, p, strlen(p) + 1);
		m->family = AF_UNIX;
		m->sslen = sizeof *sun;
		return 0;
	}
	if (strncmp(spec, "inet:", 5) == 0)
		m->family = AF_INET;
	else if (strncmp(spec, "inet6:", 6) == 0)
		m->family = AF_INET6;
	else
		return -1;
	port = strtol(strchr(spec, ':') + 1, &end, 10);
	if (port <= 0 || port > 65535 || *end != '@')
		return -1;
	at = end + 1;
	snprintf(host, sizeof host, "%s", at);
	if (m->family == AF_INET) {
		struct sockaddr_in *sin = (void *)&m->ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1 ||
		    (ntohl(sin->sin_addr.s_addr) >> 24) != 127)
			return -1;
		m->sslen = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (void *)&m->ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1 ||
		    !IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return -1;
		m->sslen = sizeof *sin6;
	}
	return 0;
}

static char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL) {
		perror("amload");
		exit(1);
	}
	return p;
}

/* Split the .eml text into headers and a CRLF body. */
static int
parse_message(struct message *m, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	size_t cap = 0;
	int rc = -1;

	m->nhdr = 0;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t ll = eol ? (size_t)(eol - p) : (size_t)(end - p);
		size_t l2 = ll;

		if (l2 > 0 && p[l2 - 1] == '\r')
			l2--;
		if (l2 == 0) { /* end of headers */
			p = eol ? eol + 1 : end;
			break;
		}
		if ((*p == ' ' || *p == '\t') && m->nhdr > 0) {
			struct hdr *h = &m->hdr[m->nhdr - 1];
			size_t ol = strlen(h->value);
			char *v = realloc(h->value, ol + l2 + 2);

			if (v == NULL)
				goto out;
			v[ol] = '\n';
			memcpy(v + ol + 1, p, l2);
			v[ol + 1 + l2] = '\0';
			h->value = v;
		} else {
			const char *colon = memchr(p, ':', l2);

			if (colon == NULL || m->nhdr >= MAX_HDRS)
				goto out;
			if (m->nhdr == cap) {
				struct hdr *nh;

				cap = cap ? cap * 2 : 16;
				nh = realloc(m->hdr, cap * sizeof *nh);
				if (nh == NULL)
					goto out;
				m->hdr = nh;
			}
			m->hdr[m->nhdr].name = xstrndup(p, (size_t)(colon - p));
			m->hdr[m->nhdr].value = xstrndup(
				colon + 1, (size_t)(p + l2 - colon - 1));
			m->nhdr++;
		}
		p = eol ? eol + 1 : end;
	}
	/* Body with CRLF line ends, as an MTA sends it. */
	m->body = malloc(2 * (size_t)(end - p) + 1);
	if (m->body == NULL)
		goto out;
	m->bodylen = 0;
	while (p < end) {
		if (*p == '\n' &&
		    (m->bodylen == 0 || m->body[m->bodylen - 1] != '\r'))
			m->body[m->bodylen++] = '\r';
		m->body[m->bodylen++] = *p++;
	}
	rc = 0;
out:
	return rc;
}

static int
load_index(const char *path)
{
	FILE *f = fopen(path, "r");
	char dir[4096], line[8192];
	const char *slash = strrchr(path, '/');
	size_t cap = 0;
	int rc = -1;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	snprintf(dir, sizeof dir, "%.*s",
		 slash ? (int)(slash - path) : 1, slash ? path : ".");
	while (fgets(line, sizeof line, f) != NULL) {
		char *fld[6], *save = NULL, *s = line;
		char fpath[8192];
		struct message *m;
		struct stat st;
		char *text;
		int n = 0, fd;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		while (n < 6 && (fld[n] = strtok_r(s, "\t", &save)) != NULL) {
			s = NULL;
			n++;
		}
		if (n < 5) {
			fprintf(stderr, "%s: bad line: %s\n", path, line);
			goto out;
		}
		if (nmsgs == cap) {
			struct message *nm;

			cap = cap ? cap * 2 : 256;
			nm = realloc(msgs, cap * sizeof *nm);
			if (nm == NULL)
				goto out;
			msgs = nm;
		}
		m = &msgs[nmsgs];
		memset(m, 0, sizeof *m);
		m->file = xstrndup(fld[0], strlen(fld[0]));
		m->ip = xstrndup(fld[1], strlen(fld[1]));
		m->helo = xstrndup(fld[2], strlen(fld[2]));
		m->from = xstrndup(fld[3], strlen(fld[3]));
		m->rcpts = xstrndup(fld[4], strlen(fld[4]));
		m->expect = n > 5 ? act_from_name(fld[5]) : -1;
		snprintf(fpath, sizeof fpath, "%s/%s", dir, m->file);
		fd = open(fpath, O_RDONLY);
		if (fd < 0 || fstat(fd, &st) < 0 || st.st_size > MAX_MSG) {
			fprintf(stderr, "%s: cannot read or too big\n", fpath);
			if (fd >= 0)
				close(fd);
			goto out;
		}
		text = malloc((size_t)st.st_size + 1);
		if (text == NULL ||
		    read(fd, text, (size_t)st.st_size) != st.st_size ||
		    parse_message(m, text, (size_t)st.st_size) < 0) {
			fprintf(stderr, "%s: cannot parse\n", fpath);
			free(text);
			close(fd);
			goto out;
		}
		free(text);
		close(fd);
		nmsgs++;
	}
	rc = nmsgs > 0 ? 0 : -1;
	if (rc < 0)
		fprintf(stderr, "%s: no messages\n", path);
out:
	fclose(f);
	return rc;
}

/* ---- wire I/O ---------------------------------------------------- */

static int
wait_fd(int fd, short ev)
{
	struct pollfd pfd = {.fd = fd, .events = ev};
	int r;

	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r == 1 ? 0 : -1;
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT) < 0)
				return -1;
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int
read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	int one = 1;

	/*
	 * A milter that writes a reply in two segments (libmilter at end of
	 * message: the header change, then the verdict) would otherwise
	 * wait for our delayed ACK (40 ms) under Nagle. Ask for quick ACKs
	 * before each read (the kernel drops the flag by itself); on a unix
	 * socket this fails harmlessly.
	 */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
	while (len > 0) {
		ssize_t r = recv(fd, p, len, 0);

		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLIN) < 0)
				return -1;
			continue;
		}
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Send one packet: length, command, then the parts concatenated. */
static int
send_pkt(int fd, char cmd, const void *data, size_t len)
{
	char hdr[5];
	uint32_t n = htonl((uint32_t)len + 1);

	memcpy(hdr, &n, 4);
	hdr[4] = cmd;
	if (len + 5 <= 8192) {
		char buf[8192];

		memcpy(buf, hdr, 5);
		if (len > 0)
			memcpy(buf + 5, data, len);
		return write_all(fd, buf, len + 5);
	}
	if (write_all(fd, hdr, 5) < 0)
		return -1;
	return write_all(fd, data, len);
}

/* Receive one packet into *buf (grown as needed); -1 on error. */
static int
recv_pkt(int fd, char *cmd, char **buf, size_t *cap, size_t *len)
{
	uint32_t n;

	if (read_all(fd, &n, 4) < 0)
		return -1;
	n = ntohl(n);
	if (n < 1 || n > MAX_REPLY)
		return -1;
	if (read_all(fd, cmd, 1) < 0)
		return -1;
	*len = n - 1;
	if (*len + 1 > *cap) {
		char *nb = realloc(*buf, *len + 1);

		if (nb == NULL)
			return -1;
		*buf = nb;
		*cap = *len + 1;
	}
	if (*len > 0 && read_all(fd, *buf, *len) < 0)
		return -1;
	(*buf)[*len] = '\0';
	return 0;
}

/* A growable byte string for building packets. */
struct sb {
	char *p;
	size_t len, cap;
};

static int
sb_add(struct sb *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		char *np;

		while (nc < b->len + n)
			nc *= 2;
		np = realloc(b->p, nc);
		if (np == NULL)
			return -1;
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	return 0;
}

static int
sb_str(struct sb *b, const char *s)
{
	return sb_add(b, s, strlen(s) + 1);
}

/* ---- one message ------------------------------------------------- */

/* The headers of one delivery: the corpus's, then milters' changes. */
struct hlist {
	struct hdr *h; /* names/values borrowed or owned per flag */
	bool *owned;
	size_t n, cap;
};

static int
hl_insert(struct hlist *l, size_t at, char *name, char *value, bool own)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 32;
		struct hdr *nh = realloc(l->h, nc * sizeof *nh);
		bool *no;

		if (nh == NULL)
			return -1;
		l->h = nh;
		no = realloc(l->owned, nc * sizeof *no);
		if (no == NULL)
			return -1;
		l->owned = no;
		l->cap = nc;
	}
	if (at > l->n)
		at = l->n;
	memmove(&l->h[at + 1], &l->h[at], (l->n - at) * sizeof *l->h);
	memmove(&l->owned[at + 1], &l->owned[at],
		(l->n - at) * sizeof *l->owned);
	l->h[at].name = name;
	l->h[at].value = value;
	l->owned[at] = own;
	l->n++;
	return 0;
}

static void
hl_free(struct hlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->owned[i]) {
			free(l->h[i].name);
			free(l->h[i].value);
		}
	free(l->h);
	free(l->owned);
}

struct run {
	struct mconn mc[MAX_MILTERS];
	char *rbuf; /* owned reply buffer */
	size_t rcap;
	struct hlist hl;
	bool quarantine;
	int final; /* enum act, or -1 while continuing */
	char err[160];
	uint64_t hdradd;
	double t_env; /* when the last RCPT reply came; 0 if none did */
};

/* Apply a header-change reply from milter k to the delivery's headers. */
static int
apply_mod(struct run *r, char cmd, const char *d, size_t len)
{
	const char *name, *value;
	uint32_t idx = 0;

	if (cmd == SMFIR_QUARANTINE) {
		r->quarantine = true;
		return 0;
	}
	if (cmd == SMFIR_INSHEADER || cmd == SMFIR_CHGHEADER) {
		if (len < 4)
			return -1;
		memcpy(&idx, d, 4);
		idx = ntohl(idx);
		d += 4;
		len -= 4;
	}
	name = d;
	if (memchr(d, '\0', len) == NULL)
		return -1;
	value = d + strlen(d) + 1;
	if (value >= d + len || memchr(value, '\0', (size_t)(d + len - value))
				== NULL)
		return -1;
	if (cmd == SMFIR_CHGHEADER) {
		uint32_t seen = 0;

		for (size_t i = 0; i < r->hl.n; i++) {
			if (strcasecmp(r->hl.h[i].name, name) != 0 ||
			    ++seen != idx)
				continue;
			if (r->hl.owned[i]) {
				free(r->hl.h[i].name);
				free(r->hl.h[i].value);
			}
			if (*value == '\0') {
				memmove(&r->hl.h[i], &r->hl.h[i + 1],
					(r->hl.n - i - 1) * sizeof *r->hl.h);
				memmove(&r->hl.owned[i], &r->hl.owned[i + 1],
					(r->hl.n - i - 1) *
						sizeof *r->hl.owned);
				r->hl.n--;
			} else {
				r->hl.h[i].name = xstrndup(name, strlen(name));
				r->hl.h[i].value =
					xstrndup(value, strlen(value));
				r->hl.owned[i] = true;
			}
			break;
		}
		return 0;
	}
	r->hdradd++;
	return hl_insert(&r->hl, cmd == SMFIR_ADDHEADER ? r->hl.n : idx,
			 xstrndup(name, strlen(name)),
			 xstrndup(value, strlen(value)), true);
}

/*
 * Read replies of milter k to one step until a final one. Returns 0 to go
 * on, 1 when the message is decided (r->final set), -1 on error.
 */
static int
read_reply(struct run *r, int k, bool eom)
{
	struct mconn *c = &r->mc[k];
	char cmd = '?';

	for (;;) {
		size_t len;

		if (recv_pkt(c->fd, &cmd, &r->rbuf, &r->rcap, &len) < 0) {
			snprintf(r->err, sizeof r->err,
				 "%s: read failed or timed out",
				 milters[k].spec);
			return -1;
		}
		switch (cmd) {
		case SMFIR_CONTINUE:
			return 0;
		case SMFIR_SKIP:
			c->skipbody = true;
			return 0;
		case SMFIR_ACCEPT:
			c->done = true;
			return 0;
		case SMFIR_REJECT:
			r->final = ACT_REJECT;
			return 1;
		case SMFIR_TEMPFAIL:
		case SMFIR_CONN_FAIL:
		case SMFIR_SHUTDOWN:
			r->final = ACT_TEMPFAIL;
			return 1;
		case SMFIR_DISCARD:
			r->final = ACT_DISCARD;
			return 1;
		case SMFIR_REPLYCODE:
			r->final = len > 0 && r->rbuf[0] == '4' ? ACT_TEMPFAIL
								: ACT_REJECT;
			return 1;
		case SMFIR_PROGRESS:
			continue;
		case SMFIR_ADDHEADER:
		case SMFIR_INSHEADER:
		case SMFIR_CHGHEADER:
		case SMFIR_QUARANTINE:
			if (!eom || apply_mod(r, cmd, r->rbuf, len) < 0)
				goto bad;
			continue;
		case SMFIR_ADDRCPT:
		case SMFIR_DELRCPT:
		case SMFIR_ADDRCPT_PAR:
		case SMFIR_CHGFROM:
		case SMFIR_REPLBODY:
			if (!eom)
				goto bad;
			continue;
		default:
			goto bad;
		}
	}
bad:
	snprintf(r->err, sizeof r->err, "%s: unexpected reply '%c'",
		 milters[k].spec, cmd);
	return -1;
}

/*
 * Send one step (with its macros) to milter k unless it negotiated the
 * step away, then read the reply unless it negotiated the reply away.
 */
static int
step(struct run *r, int k, char cmd, uint32_t nostep, uint32_t noreply,
     const struct sb *macros, const void *data, size_t len, bool eom)
{
	struct mconn *c = &r->mc[k];

	if (c->done || (nostep != 0 && (c->prot & nostep)))
		return 0;
	if (macros != NULL && macros->len > 1 &&
	    send_pkt(c->fd, SMFIC_MACRO, macros->p, macros->len) < 0)
		goto err;
	if (send_pkt(c->fd, cmd, data, len) < 0)
		goto err;
	if (noreply != 0 && (c->prot & noreply))
		return 0;
	return read_reply(r, k, eom);
err:
	snprintf(r->err, sizeof r->err, "%s: write failed", milters[k].spec);
	return -1;
}

static int
macro_set(struct sb *b, char cmd, const char *const *kv)
{
	b->len = 0;
	if (sb_add(b, &cmd, 1) < 0)
		return -1;
	for (; kv[0] != NULL; kv += 2)
		if (sb_str(b, kv[0]) < 0 || sb_str(b, kv[1]) < 0)
			return -1;
	return 0;
}

static int
open_milter(struct run *r, int k)
{
	struct mconn *c = &r->mc[k];
	uint32_t opt[3];
	char cmd;
	size_t len;
	int one = 1;

	c->fd = socket(milters[k].family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		goto err;
	if (milters[k].family != AF_UNIX)
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&milters[k].ss,
		    milters[k].sslen) < 0)
		goto err;
	opt[0] = htonl(SMFI_PROT_VERSION);
	opt[1] = htonl(SMFI_CURR_ACTS);
	opt[2] = htonl(SMFI_CURR_PROT);
	if (send_pkt(c->fd, SMFIC_OPTNEG, opt, sizeof opt) < 0 ||
	    recv_pkt(c->fd, &cmd, &r->rbuf, &r->rcap, &len) < 0 ||
	    cmd != SMFIC_OPTNEG || len < MILTER_OPTLEN)
		goto err;
	memcpy(opt, r->rbuf, sizeof opt);
	c->prot = ntohl(opt[2]) & SMFI_CURR_PROT;
	return 0;
err:
	snprintf(r->err, sizeof r->err, "%s: connect/negotiate: %s",
		 milters[k].spec, strerror(errno));
	return -1;
}

/* Run one message through the chain; returns the final action. */
static int
run_message(struct run *r, const struct message *m)
{
	struct sb mac = {0}, d = {0};
	char qid[32], fam;
	const char *rp;
	int k, rc = 0;
	uint16_t port = htons(25000);
	uint64_t q = atomic_fetch_add(&qid_seq, 1);

	snprintf(qid, sizeof qid, "B%010" PRIX64, q);
	r->final = -1;
	r->quarantine = false;
	r->err[0] = '\0';
	r->hl.n = 0;
	for (k = 0; k < nmilters; k++) {
		r->mc[k].fd = -1;
		r->mc[k].done = false;
		r->mc[k].skipbody = false;
	}
	for (k = 0; k < nmilters && rc == 0; k++)
		rc = open_milter(r, k);

	/* connect */
	fam = strchr(m->ip, ':') ? SMFIA_INET6 : SMFIA_INET;
	{
		const char *kv[] = {"j", "mx.bench.test", "{daemon_name}",
				    "bench", "{client_addr}", m->ip,
				    "{client_name}", m->helo, NULL};
		d.len = 0;
		if (macro_set(&mac, SMFIC_CONNECT, kv) < 0 ||
		    sb_str(&d, m->helo) < 0 || sb_add(&d, &fam, 1) < 0 ||
		    sb_add(&d, &port, 2) < 0 || sb_str(&d, m->ip) < 0)
			rc = -1;
	}
	for (k = 0; k < nmilters && rc == 0; k++)
		rc = step(r, k, SMFIC_CONNECT, SMFIP_NOCONNECT, SMFIP_NR_CONN,
			  &mac, d.p, d.len, false);
	/* HELO */
	if (rc == 0) {
		const char *kv[] = {NULL};
		macro_set(&mac, SMFIC_HELO, kv);
		d.len = 0;
		rc = sb_str(&d, m->helo);
	}
	for (k = 0; k < nmilters && rc == 0; k++)
		rc = step(r, k, SMFIC_HELO, SMFIP_NOHELO, SMFIP_NR_HELO, &mac,
			  d.p, d.len, false);
	/* MAIL FROM */
	if (rc == 0) {
		char addr[1024];
		const char *kv[] = {"{mail_addr}", m->from, NULL};

		snprintf(addr, sizeof addr, "<%s>", m->from);
		d.len = 0;
		if (macro_set(&mac, SMFIC_MAIL, kv) < 0 ||
		    sb_str(&d, addr) < 0)
			rc = -1;
	}
	for (k = 0; k < nmilters && rc == 0; k++)
		rc = step(r, k, SMFIC_MAIL, SMFIP_NOMAIL, SMFIP_NR_MAIL, &mac,
			  d.p, d.len, false);
	/* RCPT TO, each recipient */
	for (rp = m->rcpts; rc == 0 && *rp != '\0';) {
		size_t l = strcspn(rp, ",");
		char addr[1040], raw[1024];
		const char *kv[] = {"{rcpt_addr}", raw, "i", qid, NULL};

		snprintf(raw, sizeof raw, "%.*s", (int)l, rp);
		snprintf(addr, sizeof addr, "<%s>", raw);
		d.len = 0;
		if (macro_set(&mac, SMFIC_RCPT, kv) < 0 ||
		    sb_str(&d, addr) < 0)
			rc = -1;
		for (k = 0; k < nmilters && rc == 0; k++)
			rc = step(r, k, SMFIC_RCPT, SMFIP_NORCPT,
				  SMFIP_NR_RCPT, &mac, d.p, d.len, false);
		rp += l;
		if (*rp == ',')
			rp++;
	}
	if (rc == 0 && r->final < 0)
		r->t_env = now();
	/* DATA */
	if (rc == 0) {
		const char *kv[] = {"i", qid, NULL};
		if (macro_set(&mac, SMFIC_DATA, kv) < 0)
			rc = -1;
	}
	for (k = 0; k < nmilters && rc == 0; k++)
		rc = step(r, k, SMFIC_DATA, SMFIP_NODATA, SMFIP_NR_DATA, &mac,
			  NULL, 0, false);
	/* Content: the whole message to each milter in turn. */
	for (size_t i = 0; i < m->nhdr && rc == 0; i++)
		rc = hl_insert(&r->hl, r->hl.n, m->hdr[i].name,
			       m->hdr[i].value, false);
	for (k = 0; k < nmilters && rc == 0; k++) {
		struct mconn *c = &r->mc[k];
		const char *kv[] = {"i", qid, NULL};

		if (c->done)
			continue;
		for (size_t i = 0; i < r->hl.n && rc == 0; i++) {
			const char *v = r->hl.h[i].value;

			if (!(c->prot & SMFIP_HDR_LEADSPC))
				while (*v == ' ' || *v == '\t')
					v++;
			d.len = 0;
			if (sb_str(&d, r->hl.h[i].name) < 0 ||
			    sb_str(&d, v) < 0) {
				rc = -1;
				break;
			}
			rc = step(r, k, SMFIC_HEADER, SMFIP_NOHDRS,
				  SMFIP_NR_HDR, NULL, d.p, d.len, false);
		}
		if (rc == 0 && macro_set(&mac, SMFIC_EOH, kv) < 0)
			rc = -1;
		if (rc == 0)
			rc = step(r, k, SMFIC_EOH, SMFIP_NOEOH, SMFIP_NR_EOH,
				  &mac, NULL, 0, false);
		for (size_t off = 0; rc == 0 && off < m->bodylen &&
				     !c->skipbody && !c->done;) {
			size_t l = m->bodylen - off;

			if (l > MILTER_CHUNK_SIZE)
				l = MILTER_CHUNK_SIZE;
			rc = step(r, k, SMFIC_BODY, SMFIP_NOBODY,
				  SMFIP_NR_BODY, NULL, m->body + off, l,
				  false);
			off += l;
		}
		if (rc == 0 && macro_set(&mac, SMFIC_BODYEOB, kv) < 0)
			rc = -1;
		if (rc == 0)
			rc = step(r, k, SMFIC_BODYEOB, 0, 0, &mac, NULL, 0,
				  true);
	}
	free(mac.p);
	free(d.p);
	if (rc < 0)
		return ACT_ERROR;
	if (r->final >= 0)
		return r->final;
	return r->quarantine ? ACT_QUARANTINE : ACT_ACCEPT;
}

static void
close_all(struct run *r)
{
	for (int k = 0; k < nmilters; k++) {
		if (r->mc[k].fd < 0)
			continue;
		/* Best effort: a milter that already hung up is fine. */
		(void)send_pkt(r->mc[k].fd, SMFIC_QUIT, NULL, 0);
		close(r->mc[k].fd);
		r->mc[k].fd = -1;
	}
}

static void *
worker(void *arg)
{
	struct stats *st = arg;
	struct run r;

	memset(&r, 0, sizeof r);
	for (;;) {
		size_t i = atomic_fetch_add(&next_msg, 1);
		const struct message *m;
		double t0, t1;
		int a;

		if (i >= want || (deadline > 0 && now() >= deadline))
			break;
		m = &msgs[i % nmsgs];
		t0 = now();
		r.hdradd = 0;
		r.t_env = 0;
		a = run_message(&r, m);
		t1 = now();
		st->lat[st->nlat++] = t1 - t0;
		if (r.t_env > 0 && a != ACT_ERROR) {
			st->env[st->nsplit] = r.t_env - t0;
			st->cont[st->nsplit++] = t1 - r.t_env;
		}
		for (size_t h = 0; i < show_hdrs && h < r.hl.n; h++)
			if (r.hl.owned[h])
				fprintf(stderr, "%s: %s: %s:%s\n", m->file,
					act_name[a], r.hl.h[h].name,
					r.hl.h[h].value);
		close_all(&r);
		hl_free(&r.hl);
		memset(&r.hl, 0, sizeof r.hl);
		st->act[a]++;
		st->hdradd += r.hdradd;
		if (a == ACT_ERROR && st->firsterr[0] == '\0')
			snprintf(st->firsterr, sizeof st->firsterr, "%s",
				 r.err);
		if (check_expect && m->expect >= 0 && a != m->expect) {
			st->mismatch++;
			if (st->mismatch <= 5)
				fprintf(stderr,
					"amload: %s: expected %s, got %s\n",
					m->file, act_name[m->expect],
					act_name[a]);
		}
	}
	free(r.rbuf);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i];
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: amload -i INDEX [-m SOCKET]... [-c SESSIONS] "
		"[-n COUNT] [-d SECONDS]\n"
		"              [-T TIMEOUT_MS] [-x] [-j JSONFILE] [-q] "
		"[-H N]\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	const char *index = NULL, *json = NULL;
	int conc = 1, opt;
	double secs = 0, t0, el;
	bool quiet = false;
	struct stats *st, tot = {0};
	pthread_t *th;
	size_t n = 0;

	while ((opt = getopt(argc, argv, "i:m:c:n:d:T:xj:qH:")) != -1) {
		switch (opt) {
		case 'i':
			index = optarg;
			break;
		case 'm':
			if (nmilters == MAX_MILTERS ||
			    parse_socket(optarg, &milters[nmilters]) < 0) {
				fprintf(stderr, "amload: bad or non-loopback "
						"socket %s\n",
					optarg);
				return 1;
			}
			nmilters++;
			break;
		case 'c':
			conc = atoi(optarg);
			break;
		case 'n':
			n = strtoul(optarg, NULL, 10);
			break;
		case 'd':
			secs = atof(optarg);
			break;
		case 'T':
			timeout_ms = atoi(optarg);
			break;
		case 'x':
			check_expect = true;
			break;
		case 'j':
			json = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'H':
			show_hdrs = strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (index == NULL || nmilters == 0 || conc < 1 || conc > 4096 ||
	    timeout_ms < 1)
		usage();
	if (load_index(index) < 0)
		return 1;
	want = n ? n : nmsgs;
	st = calloc((size_t)conc, sizeof *st);
	th = calloc((size_t)conc, sizeof *th);
	if (st == NULL || th == NULL)
		return 1;
	for (int i = 0; i < conc; i++) {
		st[i].lat = calloc(want, sizeof(double));
		st[i].env = calloc(want, sizeof(double));
		st[i].cont = calloc(want, sizeof(double));
		if (st[i].lat == NULL || st[i].env == NULL ||
		    st[i].cont == NULL)
			return 1;
	}
	t0 = now();
	deadline = secs > 0 ? t0 + secs : 0;
	for (int i = 0; i < conc; i++)
		if (pthread_create(&th[i], NULL, worker, &st[i]) != 0) {
			perror("amload: pthread_create");
			return 1;
		}
	for (int i = 0; i < conc; i++)
		pthread_join(th[i], NULL);
	el = now() - t0;

	tot.lat = malloc((want + 1) * sizeof(double));
	tot.env = malloc((want + 1) * sizeof(double));
	tot.cont = malloc((want + 1) * sizeof(double));
	if (tot.lat == NULL || tot.env == NULL || tot.cont == NULL)
		return 1;
	for (int i = 0; i < conc; i++) {
		memcpy(tot.lat + tot.nlat, st[i].lat,
		       st[i].nlat * sizeof(double));
		tot.nlat += st[i].nlat;
		memcpy(tot.env + tot.nsplit, st[i].env,
		       st[i].nsplit * sizeof(double));
		memcpy(tot.cont + tot.nsplit, st[i].cont,
		       st[i].nsplit * sizeof(double));
		tot.nsplit += st[i].nsplit;
		for (int a = 0; a < ACT_N; a++)
			tot.act[a] += st[i].act[a];
		tot.mismatch += st[i].mismatch;
		tot.hdradd += st[i].hdradd;
		if (tot.firsterr[0] == '\0' && st[i].firsterr[0] != '\0')
			memcpy(tot.firsterr, st[i].firsterr,
			       sizeof tot.firsterr);
	}
	qsort(tot.lat, tot.nlat, sizeof(double), cmp_double);
	qsort(tot.env, tot.nsplit, sizeof(double), cmp_double);
	qsort(tot.cont, tot.nsplit, sizeof(double), cmp_double);
	{
		double rate = el > 0 ? tot.nlat / el : 0;
		double p50 = pct(tot.lat, tot.nlat, 0.50) * 1e3;
		double p90 = pct(tot.lat, tot.nlat, 0.90) * 1e3;
		double p99 = pct(tot.lat, tot.nlat, 0.99) * 1e3;
		double mx = tot.nlat ? tot.lat[tot.nlat - 1] * 1e3 : 0;
		double e50 = pct(tot.env, tot.nsplit, 0.50) * 1e3;
		double e99 = pct(tot.env, tot.nsplit, 0.99) * 1e3;
		double c50 = pct(tot.cont, tot.nsplit, 0.50) * 1e3;
		double c99 = pct(tot.cont, tot.nsplit, 0.99) * 1e3;

		if (!quiet) {
			printf("messages %zu in %.3f s: %.1f msg/s, "
			       "sessions %d, milters %d\n",
			       tot.nlat, el, rate, conc, nmilters);
			printf("latency ms: p50 %.3f p90 %.3f p99 %.3f "
			       "max %.3f\n",
			       p50, p90, p99, mx);
			printf("split ms (%zu messages): envelope p50 %.3f "
			       "p99 %.3f, content p50 %.3f p99 %.3f\n",
			       tot.nsplit, e50, e99, c50, c99);
			printf("actions:");
			for (int a = 0; a < ACT_N; a++)
				printf(" %s %" PRIu64, act_name[a],
				       tot.act[a]);
			printf("\nheaders added %" PRIu64 "\n", tot.hdradd);
			if (check_expect)
				printf("verdict mismatches %" PRIu64 "\n",
				       tot.mismatch);
			if (tot.firsterr[0] != '\0')
				printf("first error: %s\n", tot.firsterr);
		}
		if (json != NULL) {
			FILE *f = fopen(json, "w");

			if (f == NULL) {
				perror(json);
				return 1;
			}
			fprintf(f,
				"{\"messages\": %zu, \"seconds\": %.6f, "
				"\"rate\": %.3f, \"sessions\": %d, "
				"\"p50_ms\": %.3f, \"p90_ms\": %.3f, "
				"\"p99_ms\": %.3f, \"max_ms\": %.3f, "
				"\"split_messages\": %zu, "
				"\"env_p50_ms\": %.3f, \"env_p99_ms\": %.3f, "
				"\"content_p50_ms\": %.3f, "
				"\"content_p99_ms\": %.3f, "
				"\"headers_added\": %" PRIu64 ", "
				"\"mismatches\": %" PRIu64 ", "
				"\"checked\": %s, \"actions\": {",
				tot.nlat, el, rate, conc, p50, p90, p99, mx,
				tot.nsplit, e50, e99, c50, c99, tot.hdradd,
				tot.mismatch,
				check_expect ? "true" : "false");
			for (int a = 0; a < ACT_N; a++)
				fprintf(f, "%s\"%s\": %" PRIu64,
					a ? ", " : "", act_name[a],
					tot.act[a]);
			fprintf(f, "}}\n");
			fclose(f);
		}
	}
	for (int i = 0; i < conc; i++) {
		free(st[i].lat);
		free(st[i].env);
		free(st[i].cont);
	}
	free(st);
	free(th);
	free(tot.lat);
	free(tot.env);
	free(tot.cont);
	return check_expect && tot.mismatch > 0 ? 2 : 0;
}
