/* SPDX-License-Identifier: BSD-2-Clause */
/* dns - one shared libunbound context, a dispatcher thread, query sets */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <arpa/nameser.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <event2/event.h>

#include <unbound.h>
#include <unbound-event.h>

#include "amerr.h"
#include "dns.h"
#include "dns_packet.h"
#include "log.h"
#include "metrics.h"

#define DNS_NAME_MAX 253 /* presentation octets without the final dot */
/*
 * libunbound's caches, 512 KB of messages and 1 MB of RRsets (unbound's
 * own defaults are 4 MB each): they account for the daemon's growth in
 * RSS (docs/BENCHMARKS.md has the measurements). That still holds the
 * answers of the last thousand or so lookups, so hot ones (big senders'
 * SPF includes, DNSBL zones' NS, popular DKIM keys) stay cached (LRU);
 * the resolver forwarded to keeps its own, larger cache behind this one.
 */
#define DNS_MSG_CACHE "512k"
#define DNS_RRSET_CACHE "1m"
#define DNS_MIN_RTT "1000" /* ms: infra-cache-min-rtt with a forwarder */
#define DNS_HOST_TTL "1"   /* s: infra-host-ttl (recovery time) */
#define DNS_TICK_MS 250	   /* the dispatcher's probe timer */
/* a query this old, with no success since it was sent, asks for a probe */
#define DNS_PROBE_AFTER_MS 500

/*
 * What the dispatcher knows of one query in flight: handed over through
 * the submission queue, passed to libunbound as its callback argument,
 * freed by the dispatcher when the answer comes (or when it finds the
 * query abandoned before sending it). q is cleared, under dns_mu, when
 * the owner stops waiting (deadline, dns_set_free): the answer is then
 * dropped. Tickets live on dns_live so that dns_shutdown() frees those
 * whose answer never came.
 */
struct dns_ticket {
	struct dns_query *q;	 /* guarded by dns_mu; NULL: abandoned */
	bool probe;		 /* a health probe: no query, never abandoned */
	long long sent_ms;	 /* submitted (mono_ms) */
	struct dns_ticket *next; /* submission queue (dns_mu) */
	struct dns_ticket *lprev; /* dns_live list (dns_mu) */
	struct dns_ticket *lnext;
	enum dns_type type;
	char name[DNS_NAME_MAX + 2]; /* normalised query name */
};

struct dns_query {
	struct dns_set *set;	/* borrowed: the owning set */
	struct dns_query *next; /* owned by the set: list link */
	char *name;		/* owned: lower case, no final dot */
	enum dns_type type;
	bool invalid;	       /* name not valid: DNS_INVALID, not sent */
	struct timespec start; /* when submitted (CLOCK_MONOTONIC) */
	/* The fields below are guarded by dns_mu. */
	bool inflight;		   /* an answer may still come */
	struct dns_ticket *ticket; /* while inflight */
	bool cb_done;		   /* cb_ans is filled in */
	struct dns_answer cb_ans;  /* owned: written by the dispatcher */
	/* Owner thread only: what dns_answer() shows. */
	struct dns_answer ans; /* shares cb_ans's memory once copied */
};

struct dns_set {
	pthread_cond_t cv; /* CLOCK_MONOTONIC, with dns_mu */
	/* guarded by dns_mu: */
	size_t inflight;	   /* queries still in flight */
	bool waiting;		   /* the owner sleeps on cv */
	struct dns_query *waitq;   /* ... for this query, or NULL: all */
	char *tag;		   /* owned: log prefix */
	struct dns_query *head;	   /* owned: the queries, newest first */
	size_t nq;		   /* queries in the list */
	struct dns_query overflow; /* returned past a budget */
	double wait_ms;		   /* owner thread only */
	size_t msg_nq;		   /* owner: queries added in this message */
	unsigned long ntimeouts;   /* dns_mu: queries timed out, ever */
	enum dns_budget over;	   /* owner: the budget reached, if any */
	dns_local_fn *local;	   /* answers without libunbound, or NULL */
	void *local_arg;	   /* borrowed: local's argument */
};

/*
 * Process-wide state. dns_ctx and dns_base are written only by
 * dns_init() and dns_shutdown(), which run while no session exists, and
 * used only by the dispatcher thread in between; dns_stop is atomic;
 * dns_mu guards the submission queue, the live tickets and every set's
 * in-flight state (one lock, held for a few instructions at a time).
 */
static struct ub_ctx *dns_ctx;
static struct event_base *dns_base;
static struct event *dns_wake_ev;
static int dns_efd = -1;
static pthread_t dns_thread;
static bool dns_thread_running;
static atomic_bool dns_stop;
static pthread_mutex_t dns_mu = PTHREAD_MUTEX_INITIALIZER;
static struct dns_ticket *dns_queue; /* dns_mu */
static struct dns_ticket **dns_queue_tail = &dns_queue;
static struct dns_ticket *dns_live; /* dns_mu */
static struct event *dns_timer_ev;  /* the probe timer (dispatcher) */
static bool dns_in_resolve;	    /* dispatcher thread only: inside
				     * ub_resolve_event, where an answer
				     * comes from libunbound's cache */
static enum dns_mode dns_mode_cur;  /* written by dns_init only */

/*
 * DNS health (dns.h). h_last_ok is written by the dispatcher at every
 * answer from the network and read by whoever records a failure; the
 * rest is guarded by h_mu, with h_failing and h_down mirrored in
 * atomics so that the answer path and dns_down() take no lock while
 * all is well. Lock order: dns_mu is never held while taking h_mu, and
 * h_mu never while taking dns_mu. h_cv (CLOCK_MONOTONIC, with h_mu)
 * wakes the threads in dns_health_settle().
 */
static atomic_llong h_last_ok;	 /* mono_ms of the last network answer */
static atomic_bool h_failing;	 /* failures are counted (h_mu) */
static atomic_bool h_down;	 /* DNS is down (h_mu) */
static atomic_bool h_probe_want; /* a settling thread asks for a probe */
static pthread_mutex_t h_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t h_cv; /* settle waiters, with h_mu */
static pthread_once_t h_once = PTHREAD_ONCE_INIT;
static long long h_fail_since; /* h_mu: earliest send time counted */
static long long h_down_since; /* h_mu: when DNS went down */
static long long h_probe_at;   /* h_mu: when the last probe went out */
static char h_last_err[DNS_NAME_MAX + 64]; /* h_mu: the last failure */
static char h_resolver[256]; /* dns_init: "forward ADDR,..." etc. */

/*
 * The default local zones of libunbound 1.17 (as printed by
 * ub_ctx_print_local_zones), except the 172.16/12 and 100.64/10 reverse
 * zones, which are generated below. resolver.arpa., service.arpa. and
 * local. are not defaults in 1.17; removing them is a no-op there and
 * covers libraries that add them.
 */
static const char *const dns_local_zones[] = {
    "localhost.",
    "test.",
    "invalid.",
    "onion.",
    "home.arpa.",
    "resolver.arpa.",
    "service.arpa.",
    "local.",
    "0.in-addr.arpa.",
    "10.in-addr.arpa.",
    "127.in-addr.arpa.",
    "254.169.in-addr.arpa.",
    "168.192.in-addr.arpa.",
    "2.0.192.in-addr.arpa.",
    "100.51.198.in-addr.arpa.",
    "113.0.203.in-addr.arpa.",
    "255.255.255.255.in-addr.arpa.",
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
    "ip6.arpa.",
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
    "ip6.arpa.",
    "d.f.ip6.arpa.",
    "8.e.f.ip6.arpa.",
    "9.e.f.ip6.arpa.",
    "a.e.f.ip6.arpa.",
    "b.e.f.ip6.arpa.",
    "8.b.d.0.1.0.0.2.ip6.arpa.",
};

static double
ts_ms(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 +
	       (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static long long
mono_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void
dns_deadline(struct timespec *out, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, out);
	out->tv_sec += ms / 1000;
	out->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (out->tv_nsec >= 1000000000L) {
		out->tv_sec++;
		out->tv_nsec -= 1000000000L;
	}
}

const char *
dns_status_str(enum dns_status s)
{
	switch (s) {
	case DNS_PENDING:
		return "pending";
	case DNS_DATA:
		return "data";
	case DNS_NODATA:
		return "nodata";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_SERVFAIL:
		return "servfail";
	case DNS_TIMEOUT:
		return "timeout";
	case DNS_BOGUS:
		return "bogus";
	case DNS_INVALID:
		return "invalid";
	}
	return "unknown";
}

const char *
dns_type_str(enum dns_type t)
{
	switch (t) {
	case DNS_T_A:
		return "A";
	case DNS_T_PTR:
		return "PTR";
	case DNS_T_MX:
		return "MX";
	case DNS_T_TXT:
		return "TXT";
	case DNS_T_AAAA:
		return "AAAA";
	}
	return "?";
}

/* Count a finished query in the metrics (DNS_PENDING is not counted). */
static void
count_answer(enum dns_type type, enum dns_status s, double ms)
{
	enum metrics_dns_outcome o;

	switch (s) {
	case DNS_PENDING:
		return;
	case DNS_DATA:
	case DNS_NODATA:
		o = METRICS_DNS_NOERROR;
		break;
	case DNS_NXDOMAIN:
		o = METRICS_DNS_NXDOMAIN;
		break;
	case DNS_SERVFAIL:
		o = METRICS_DNS_SERVFAIL;
		break;
	case DNS_TIMEOUT:
		o = METRICS_DNS_TIMEOUT;
		break;
	case DNS_BOGUS:
		o = METRICS_DNS_BOGUS;
		break;
	default:
		o = METRICS_DNS_INVALID;
		break;
	}
	metrics_dns(dns_type_str(type), o, ms);
}

/*
 * Normalise a query name into out (DNS_NAME_MAX + 1 octets): drop one
 * final dot, lower-case ASCII letters. Returns false when the name is
 * not valid: empty, empty labels, a label over 63 octets, or over 253
 * octets. Any other octet may stand in a label (RFC 2181 section 11;
 * SPF macros expand to spaces and '%'): name_present() escapes it for
 * libunbound.
 */
static bool
name_norm(const char *in, char *out, size_t outlen)
{
	size_t len = strnlen(in, DNS_NAME_MAX + 2);
	size_t label = 0;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX || len >= outlen)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else {
			if (++label > 63)
				return false;
		}
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
	}
	out[len] = '\0';
	return label > 0;
}

/*
 * The presentation form of a normalised name for ub_resolve_async():
 * every octet other than a letter, digit, '-', '_' or the label dots is
 * written as \DDD, so no octet of the name can act as an escape or end
 * it early. out holds at least DNS_NAME_MAX * 4 + 1 octets.
 */
static void
name_present(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p != '\0';
	     p++) {
		if (o + 5 > outlen)
			break;
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '.')
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\%03u",
					      (unsigned)*p);
	}
	out[o] = '\0';
}

static void
log_answer(const char *tag, const struct dns_query *q,
	   const struct dns_answer *a)
{
	char esc[DNS_NAME_MAX * 4 + 8];

	if (!log_enabled(LOG_L_DEBUG))
		return;
	log_sdebug(tag, "dns %s/%s: %s rcode=%d records=%zu%s%s %.1f ms",
		   log_escape(q->name, DNS_NAME_MAX + 1, esc, sizeof esc),
		   dns_type_str(q->type), dns_status_str(a->status), a->rcode,
		   a->n, a->secure ? " secure" : "",
		   a->truncated ? " truncated" : "", a->ms);
}

static void deliver(struct dns_ticket *t, struct dns_answer *a);
static void event_cb(void *arg, int rcode, void *pkt, int len, int sec,
		     char *why_bogus, int was_ratelimited);

static void
h_cv_init(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h_cv, &ca);
	pthread_condattr_destroy(&ca);
}

/* Forget every health observation (dns_init). */
static void
health_reset(void)
{
	pthread_once(&h_once, h_cv_init);
	pthread_mutex_lock(&h_mu);
	atomic_store(&h_last_ok, 0);
	atomic_store(&h_failing, false);
	atomic_store(&h_down, false);
	atomic_store(&h_probe_want, false);
	h_fail_since = 0;
	h_down_since = 0;
	h_probe_at = 0;
	h_last_err[0] = '\0';
	pthread_mutex_unlock(&h_mu);
}

/*
 * Counted failures since h_fail_since and no success: DNS is down once
 * that lasts DNS_DOWN_AFTER_MS. h_mu held.
 */
static void
health_eval(long long now)
{
	if (atomic_load(&h_down) || !atomic_load(&h_failing) ||
	    now - h_fail_since < DNS_DOWN_AFTER_MS)
		return;
	atomic_store(&h_down, true);
	h_down_since = now;
	log_warn("DNS is down: no lookup has succeeded for %.1f s (last "
		 "error: %s; resolver: %s); every message is tempfailed "
		 "(451 4.4.3) until lookups succeed again",
		 (double)(now - h_fail_since) / 1e3,
		 h_last_err[0] ? h_last_err : "-", h_resolver);
	metrics_dns_down(true);
	pthread_cond_broadcast(&h_cv);
}

/*
 * An answer came from the network (any thread; the dispatcher): DNS
 * works. Ends the failures counted before now, and a down state.
 */
static void
health_ok(long long now)
{
	atomic_store(&h_last_ok, now);
	if (!atomic_load(&h_failing) && !atomic_load(&h_down))
		return;
	pthread_mutex_lock(&h_mu);
	/* a failure of a query sent after this answer stays counted */
	if (atomic_load(&h_failing) && h_fail_since <= now) {
		atomic_store(&h_failing, false);
		h_fail_since = 0;
	}
	if (atomic_load(&h_down) && !atomic_load(&h_failing)) {
		atomic_store(&h_down, false);
		log_warn("DNS is back: lookups succeed again after %.1f s "
			 "down (resolver: %s)",
			 (double)(now - h_down_since) / 1e3, h_resolver);
		metrics_dns_down(false);
	}
	pthread_cond_broadcast(&h_cv);
	pthread_mutex_unlock(&h_mu);
}

/*
 * A query sent at sent failed at now (SERVFAIL, engine error, or the
 * owner's deadline): counted unless something succeeded since it was
 * sent (then it is that domain's failure, not DNS's).
 */
static void
health_fail(long long sent, long long now, enum dns_status st,
	    enum dns_type type, const char *name)
{
	char esc[DNS_NAME_MAX * 4 + 8];

	if (sent < atomic_load(&h_last_ok))
		return;
	pthread_mutex_lock(&h_mu);
	if (!atomic_load(&h_failing) || sent < h_fail_since)
		h_fail_since = sent;
	atomic_store(&h_failing, true);
	snprintf(h_last_err, sizeof h_last_err, "%s for %s/%s",
		 dns_status_str(st),
		 log_escape(name, DNS_NAME_MAX + 1, esc, sizeof esc),
		 dns_type_str(type));
	health_eval(now);
	pthread_mutex_unlock(&h_mu);
}

bool
dns_down(void)
{
	return atomic_load(&h_down);
}

static void dispatcher_wake(void);

enum dns_health
dns_health_settle(struct dns_set *set, const struct timespec *deadline)
{
	enum dns_health h;
	struct timespec t0, t1;
	bool asked = false;

	if (!atomic_load(&h_failing) && !atomic_load(&h_down))
		return DNS_HEALTH_UP;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_mutex_lock(&h_mu);
	for (;;) {
		long long now = mono_ms(), until;
		struct timespec at;

		health_eval(now);
		if (atomic_load(&h_down) || !atomic_load(&h_failing))
			break;
		if (!asked && dns_thread_running) {
			/* a working DNS answers the probe at once */
			atomic_store(&h_probe_want, true);
			dispatcher_wake();
			asked = true;
		}
		until = h_fail_since + DNS_DOWN_AFTER_MS;
		at.tv_sec = (time_t)(until / 1000);
		at.tv_nsec = (long)(until % 1000) * 1000000L;
		if (deadline->tv_sec < at.tv_sec ||
		    (deadline->tv_sec == at.tv_sec &&
		     deadline->tv_nsec < at.tv_nsec))
			at = *deadline;
		if (pthread_cond_timedwait(&h_cv, &h_mu, &at) == ETIMEDOUT &&
		    at.tv_sec == deadline->tv_sec &&
		    at.tv_nsec == deadline->tv_nsec) {
			health_eval(mono_ms());
			break;
		}
	}
	h = atomic_load(&h_down)      ? DNS_HEALTH_DOWN
	    : atomic_load(&h_failing) ? DNS_HEALTH_UNSURE
				      : DNS_HEALTH_UP;
	pthread_mutex_unlock(&h_mu);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	set->wait_ms += ts_ms(&t0, &t1);
	return h;
}

/*
 * Send a probe when failures are counted, DNS is down, or (stale) a
 * query has waited DNS_PROBE_AFTER_MS with no success since it was
 * sent, at most every DNS_PROBE_MS (dispatcher thread): a random name,
 * so that the answer must come from the network.
 */
static void
probe_maybe(bool stale)
{
	struct dns_ticket *t;
	long long now = mono_ms();
	unsigned long long r;
	int id = 0, rc;

	pthread_mutex_lock(&h_mu);
	if ((!stale && !atomic_load(&h_failing) && !atomic_load(&h_down)) ||
	    (h_probe_at != 0 && now - h_probe_at < DNS_PROBE_MS)) {
		pthread_mutex_unlock(&h_mu);
		return;
	}
	h_probe_at = now;
	pthread_mutex_unlock(&h_mu);
	t = calloc(1, sizeof *t);
	if (t == NULL)
		return;
	r = ((unsigned long long)(unsigned)random() << 32) ^
	    (unsigned long long)random() ^ (unsigned long long)now;
	if (dns_mode_cur == DNS_MODE_RECURSIVE)
		snprintf(t->name, sizeof t->name, "authmilter-probe-%016llx.",
			 r);
	else
		snprintf(t->name, sizeof t->name,
			 "authmilter-probe-%016llx.invalid.", r);
	t->probe = true;
	t->type = DNS_T_A;
	t->sent_ms = now;
	pthread_mutex_lock(&dns_mu);
	t->lnext = dns_live;
	if (dns_live != NULL)
		dns_live->lprev = t;
	dns_live = t;
	pthread_mutex_unlock(&dns_mu);
	if (log_enabled(LOG_L_DEBUG))
		log_debug("dns %s/A: health probe sent", t->name);
	dns_in_resolve = true;
	rc = ub_resolve_event(dns_ctx, t->name, DNS_T_A, 1, t, event_cb, &id);
	dns_in_resolve = false;
	if (rc != 0) {
		struct dns_answer a = {.status = DNS_SERVFAIL, .rcode = -1};

		deliver(t, &a);
	}
}

/*
 * The probe timer (every DNS_TICK_MS). While all is well it only
 * looks further when nothing succeeded for DNS_PROBE_AFTER_MS: then a
 * query in flight that long, sent after the last success, asks for a
 * probe, so that by its deadline the question "that domain, or DNS?"
 * is answered.
 */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	long long now = mono_ms(), ok = atomic_load(&h_last_ok);
	bool stale = false;

	(void)fd;
	(void)what;
	(void)arg;
	if (!atomic_load(&h_failing) && !atomic_load(&h_down) &&
	    now - ok >= DNS_PROBE_AFTER_MS) {
		pthread_mutex_lock(&dns_mu);
		for (struct dns_ticket *t = dns_live; t != NULL; t = t->lnext)
			if (!t->probe && t->sent_ms >= ok &&
			    now - t->sent_ms >= DNS_PROBE_AFTER_MS) {
				stale = true;
				break;
			}
		pthread_mutex_unlock(&dns_mu);
	}
	probe_maybe(stale);
}

static void
live_unlink(struct dns_ticket *t)
{
	if (t->lprev != NULL)
		t->lprev->lnext = t->lnext;
	else
		dns_live = t->lnext;
	if (t->lnext != NULL)
		t->lnext->lprev = t->lprev;
}

/*
 * Hand an answer to the query of ticket t (dispatcher thread), or drop
 * it if the owner stopped waiting; frees t. Wakes the owner only when
 * what it waits for is complete: one wake-up per batch, not per answer.
 */
static void
deliver(struct dns_ticket *t, struct dns_answer *a)
{
	struct dns_query *q;
	struct timespec now;
	enum dns_type type = t->type;
	enum dns_status st = a->status;
	bool cached = dns_in_resolve;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&dns_mu);
	live_unlink(t);
	q = t->q;
	if (q != NULL) {
		struct dns_set *set = q->set;

		a->ms = ts_ms(&q->start, &now);
		log_answer(set->tag, q, a);
		q->cb_ans = *a;
		q->cb_done = true;
		q->inflight = false;
		q->ticket = NULL;
		set->inflight--;
		if (set->waiting &&
		    (set->waitq != NULL ? set->waitq == q : set->inflight == 0))
			pthread_cond_signal(&set->cv);
		/* From here on the owner may free q and set. */
	}
	pthread_mutex_unlock(&dns_mu);
	if (q != NULL)
		count_answer(type, a->status, a->ms);
	else
		dns_packet_clear(a);
	/*
	 * DNS health: an answer from the network is a success; one from
	 * libunbound's cache (given inside ub_resolve_event) says nothing
	 * about the servers. A SERVFAIL is a failure either way.
	 */
	if (st == DNS_DATA || st == DNS_NODATA || st == DNS_NXDOMAIN) {
		if (!cached)
			health_ok((long long)now.tv_sec * 1000 +
				  now.tv_nsec / 1000000);
	} else if (st == DNS_SERVFAIL) {
		health_fail(t->sent_ms,
			    (long long)now.tv_sec * 1000 +
				now.tv_nsec / 1000000,
			    st, type, t->name);
	}
	if (t->probe && log_enabled(LOG_L_DEBUG))
		log_debug("dns %s/A: health probe: %s%s", t->name,
			  dns_status_str(st), cached ? " (cached)" : "");
	free(t);
}

/* libunbound's answer callback; runs in the dispatcher thread. */
static void
event_cb(void *arg, int rcode, void *pkt, int len, int sec, char *why_bogus,
	 int was_ratelimited)
{
	struct dns_ticket *t = arg;
	struct dns_answer a = {.status = DNS_PENDING};

	(void)why_bogus;
	(void)was_ratelimited;
	dns_packet_parse(&a, t->type, rcode, pkt, len > 0 ? (size_t)len : 0,
			 sec);
	deliver(t, &a);
}

/* Publish a finished answer to the owner. Call with dns_mu. */
static void
query_sync(struct dns_query *q)
{
	if (q->ans.status == DNS_PENDING && q->cb_done)
		q->ans = q->cb_ans;
}

/*
 * The eventfd fired: take the whole submission queue and start every
 * query in it (dispatcher thread). libunbound may answer from its cache
 * inside ub_resolve_event, so t is not touched after that call.
 */
static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_ticket *t, *next;
	uint64_t v;

	(void)what;
	(void)arg;
	if (read(fd, &v, sizeof v) < 0 && errno != EAGAIN)
		log_errno("dns: reading the wake-up eventfd");
	if (atomic_load(&dns_stop)) {
		event_base_loopbreak(dns_base);
		return;
	}
	pthread_mutex_lock(&dns_mu);
	t = dns_queue;
	dns_queue = NULL;
	dns_queue_tail = &dns_queue;
	pthread_mutex_unlock(&dns_mu);
	for (; t != NULL; t = next) {
		char present[DNS_NAME_MAX * 4 + 8];
		bool abandoned;
		int id = 0, rc;

		next = t->next;
		pthread_mutex_lock(&dns_mu);
		abandoned = t->q == NULL;
		if (abandoned)
			live_unlink(t);
		pthread_mutex_unlock(&dns_mu);
		if (abandoned) {
			free(t);
			continue;
		}
		name_present(t->name, present, sizeof present);
		dns_in_resolve = true;
		rc = ub_resolve_event(dns_ctx, present, (int)t->type, 1, t,
				      event_cb, &id);
		dns_in_resolve = false;
		if (rc != 0) {
			struct dns_answer a = {.status = DNS_SERVFAIL,
					       .rcode = -1};
			char esc[DNS_NAME_MAX * 4 + 8];

			log_error("dns %s/%s: ub_resolve_event: %s",
				  log_escape(t->name, sizeof t->name, esc,
					     sizeof esc),
				  dns_type_str(t->type), ub_strerror(rc));
			deliver(t, &a);
		}
	}
	if (atomic_exchange(&h_probe_want, false))
		probe_maybe(false);
}

static void *
dispatcher(void *arg)
{
	(void)arg;
	/* "top -H" and ps -L show it by this name */
	(void)pthread_setname_np(pthread_self(), "authmilter-dns");
	if (event_base_dispatch(dns_base) < 0)
		log_error("dns: the event loop failed");
	return NULL;
}

static int
set_opt(struct ub_ctx *ctx, const char *opt, const char *val, char *err,
	size_t errlen)
{
	int rc = ub_ctx_set_option(ctx, opt, val);

	if (rc != 0) {
		snprintf(err, errlen, "libunbound option %s %s: %s", opt, val,
			 ub_strerror(rc));
		return AM_ELIB;
	}
	return 0;
}

/* Call ub_ctx_set_fwd for each "ADDR[@PORT]" of a comma list. */
static int
set_forwarders(struct ub_ctx *ctx, const char *list, char *err, size_t errlen)
{
	const char *p = list;
	int count = 0;

	if (list == NULL)
		goto none;
	while (*p != '\0') {
		char addr[128];
		size_t len;
		int rc;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		len = strcspn(p, ", \t");
		if (len == 0)
			break;
		if (len >= sizeof addr) {
			snprintf(err, errlen, "forward address too long");
			return AM_ECONF;
		}
		memcpy(addr, p, len);
		addr[len] = '\0';
		p += len;
		rc = ub_ctx_set_fwd(ctx, addr);
		if (rc != 0) {
			snprintf(err, errlen, "forward address %s: %s", addr,
				 ub_strerror(rc));
			return AM_ECONF;
		}
		count++;
	}
none:
	if (count == 0) {
		snprintf(err, errlen, "forward mode needs an address");
		return AM_ECONF;
	}
	return 0;
}

/* Remove every default local zone (LIBRARIES.md 1.1); finalizes ctx. */
static int
remove_local_zones(struct ub_ctx *ctx, char *err, size_t errlen)
{
	char zone[64];
	int rc = 0;

	for (size_t i = 0;
	     i < sizeof dns_local_zones / sizeof dns_local_zones[0]; i++) {
		rc = ub_ctx_zone_remove(ctx, dns_local_zones[i]);
		if (rc != 0) {
			snprintf(err, errlen, "removing local zone %s: %s",
				 dns_local_zones[i], ub_strerror(rc));
			return AM_ELIB;
		}
	}
	/* 172.16/12 and 100.64/10 */
	for (int i = 16; i <= 31 && rc == 0; i++) {
		snprintf(zone, sizeof zone, "%d.172.in-addr.arpa.", i);
		rc = ub_ctx_zone_remove(ctx, zone);
	}
	for (int i = 64; i <= 127 && rc == 0; i++) {
		snprintf(zone, sizeof zone, "%d.100.in-addr.arpa.", i);
		rc = ub_ctx_zone_remove(ctx, zone);
	}
	if (rc != 0) {
		snprintf(err, errlen, "removing local zone %s: %s", zone,
			 ub_strerror(rc));
		return AM_ELIB;
	}
	return 0;
}

int
dns_init(const struct dns_options *opt, char *err, size_t errlen)
{
	struct ub_ctx *ctx = NULL;
	struct event_base *base = NULL;
	struct event *ev = NULL, *tev = NULL;
	struct timeval tick = {0, DNS_TICK_MS * 1000};
	int efd = -1;
	sigset_t all, old;
	int rc;

	if (dns_ctx != NULL) {
		snprintf(err, errlen, "DNS engine already running");
		return AM_ESTATE;
	}
	/*
	 * Event mode: libunbound's resolver runs inside our dispatcher
	 * thread's libevent loop (ub_ctx_create_event), so a query costs
	 * its UDP exchange and nothing else. The threaded async mode
	 * (ub_ctx_async) passes every query and every answer through
	 * pipes between three threads (docs/BENCHMARKS.md has the system
	 * calls it cost).
	 */
	base = event_base_new();
	if (base == NULL) {
		snprintf(err, errlen, "event_base_new failed");
		rc = AM_ELIB;
		goto out;
	}
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		rc = AM_ESYS;
		goto out;
	}
	ev = event_new(base, efd, EV_READ | EV_PERSIST, wake_cb, NULL);
	if (ev == NULL || event_add(ev, NULL) != 0) {
		snprintf(err, errlen, "libevent: cannot watch the eventfd");
		rc = AM_ELIB;
		goto out;
	}
	ctx = ub_ctx_create_event(base);
	if (ctx == NULL) {
		snprintf(err, errlen, "ub_ctx_create_event failed");
		rc = AM_ELIB;
		goto out;
	}
	if ((rc = set_opt(ctx, "outgoing-range:", "256", err, errlen)) ||
	    (rc =
		 set_opt(ctx, "msg-cache-size:", DNS_MSG_CACHE, err, errlen)) ||
	    (rc = set_opt(ctx, "rrset-cache-size:", DNS_RRSET_CACHE, err,
			  errlen)))
		goto out;
	/*
	 * A forwarder resolves cache misses itself, which takes far longer
	 * than its cached answers: without a floor, libunbound learns a
	 * round trip of a few ms and resends every 50 ms (unbound.conf(5)
	 * advises raising this for forwarders).
	 */
	if (opt->mode != DNS_MODE_RECURSIVE &&
	    (rc = set_opt(ctx, "infra-cache-min-rtt:", DNS_MIN_RTT, err,
			  errlen)))
		goto out;
	/*
	 * Recovery (SPEC: lookups succeed again within 2 seconds of DNS
	 * coming back). By default libunbound backs off from a server that
	 * stopped answering: its retransmit timeout doubles up to
	 * infra-cache-max-rtt (120 s), and past 12 s it only sends a probe
	 * now and then, so no query reached a returned forwarder for many
	 * seconds, and a lookup of a name asked during the outage joined
	 * the query still backing off (a spoof was delivered as temperror).
	 * infra-keep-probing keeps queries going to a server thought down,
	 * and a 1 s infra-host-ttl forgets the backed-off timeout within a
	 * second, so every lookup reaches a returned server within about
	 * 1 s (docs/SECURITY.md has the measurements). Lowering
	 * infra-cache-max-rtt instead marked a forwarder unusable after a
	 * few dropped queries for one dead domain: every lookup failed.
	 */
	if ((rc = set_opt(ctx, "infra-keep-probing:", "yes", err, errlen)) ||
	    (rc = set_opt(ctx, "infra-host-ttl:", DNS_HOST_TTL, err, errlen)))
		goto out;
	/*
	 * Without a trust anchor nothing can validate: every answer is
	 * insecure. Leave libunbound's validator module out of the chain
	 * then (its default is "validator iterator"), which spares each
	 * answer a pass through it (docs/BENCHMARKS.md).
	 */
	if ((opt->trust_anchor == NULL || opt->trust_anchor[0] == '\0') &&
	    (rc = set_opt(ctx, "module-config:", "iterator", err, errlen)))
		goto out;
	switch (opt->mode) {
	case DNS_MODE_RECURSIVE:
		break;
	case DNS_MODE_RESOLVCONF:
		rc = ub_ctx_resolvconf(ctx, NULL);
		if (rc != 0) {
			snprintf(err, errlen, "reading resolv.conf: %s",
				 ub_strerror(rc));
			rc = AM_ECONF;
			goto out;
		}
		break;
	case DNS_MODE_FORWARD:
		rc = set_forwarders(ctx, opt->forward, err, errlen);
		if (rc != 0)
			goto out;
		break;
	default:
		snprintf(err, errlen, "unknown resolver mode");
		rc = AM_EINVAL;
		goto out;
	}
	if (opt->trust_anchor != NULL && opt->trust_anchor[0] != '\0') {
		rc = ub_ctx_add_ta_file(ctx, opt->trust_anchor);
		if (rc != 0) {
			snprintf(err, errlen, "trust anchor %s: %s",
				 opt->trust_anchor, ub_strerror(rc));
			rc = AM_ECONF;
			goto out;
		}
	}
	/*
	 * Finalize now, so that a bad trust anchor file fails here and not
	 * at the first query (ub_ctx_add_ta_file only records the name):
	 * removing a zone that does not exist finalizes and does nothing.
	 */
	rc = ub_ctx_zone_remove(ctx, "authmilter-finalize.invalid.");
	if (rc != 0) {
		if (opt->trust_anchor != NULL && opt->trust_anchor[0] != '\0')
			snprintf(err, errlen,
				 "libunbound setup failed (trust "
				 "anchor file %s?): %s",
				 opt->trust_anchor, ub_strerror(rc));
		else
			snprintf(err, errlen, "libunbound setup failed: %s",
				 ub_strerror(rc));
		rc = AM_ECONF;
		goto out;
	}
	if (opt->mode != DNS_MODE_RECURSIVE) {
		rc = remove_local_zones(ctx, err, errlen);
		if (rc != 0)
			goto out;
	}
	tev = event_new(base, -1, EV_PERSIST, timer_cb, NULL);
	if (tev == NULL || event_add(tev, &tick) != 0) {
		snprintf(err, errlen, "libevent: cannot start the probe timer");
		rc = AM_ELIB;
		goto out;
	}
	switch (opt->mode) {
	case DNS_MODE_FORWARD:
		snprintf(h_resolver, sizeof h_resolver, "forward %s",
			 opt->forward);
		break;
	case DNS_MODE_RESOLVCONF:
		snprintf(h_resolver, sizeof h_resolver,
			 "resolvconf (the servers of /etc/resolv.conf)");
		break;
	default:
		snprintf(h_resolver, sizeof h_resolver,
			 "recursive from the root servers");
		break;
	}
	health_reset();
	dns_mode_cur = opt->mode;
	atomic_store(&dns_stop, false);
	dns_ctx = ctx;
	dns_base = base;
	dns_wake_ev = ev;
	dns_timer_ev = tev;
	dns_efd = efd;
	/* The dispatcher takes no signals. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&dns_thread, NULL, dispatcher, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		char ebuf[128];

		snprintf(err, errlen, "starting the DNS thread: %s",
			 strerror_r(rc, ebuf, sizeof ebuf));
		dns_ctx = NULL;
		dns_base = NULL;
		dns_wake_ev = NULL;
		dns_timer_ev = NULL;
		dns_efd = -1;
		rc = AM_ESYS;
		goto out;
	}
	dns_thread_running = true;
	return 0;
out:
	if (ctx != NULL)
		ub_ctx_delete(ctx);
	if (tev != NULL)
		event_free(tev);
	if (ev != NULL)
		event_free(ev);
	if (efd >= 0)
		close(efd);
	if (base != NULL)
		event_base_free(base);
	return rc;
}

/* Wake the dispatcher (any thread). */
static void
dispatcher_wake(void)
{
	uint64_t one = 1;

	if (write(dns_efd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_errno("dns: waking the dispatcher");
}

void
dns_shutdown(void)
{
	struct dns_ticket *t, *next;

	if (dns_thread_running) {
		atomic_store(&dns_stop, true);
		dispatcher_wake();
		pthread_join(dns_thread, NULL);
		dns_thread_running = false;
	}
	if (dns_ctx != NULL) {
		/* No callback runs from here on (event mode, loop stopped). */
		ub_ctx_delete(dns_ctx);
		dns_ctx = NULL;
	}
	if (dns_wake_ev != NULL) {
		event_free(dns_wake_ev);
		dns_wake_ev = NULL;
	}
	if (dns_timer_ev != NULL) {
		event_free(dns_timer_ev);
		dns_timer_ev = NULL;
	}
	if (dns_base != NULL) {
		event_base_free(dns_base);
		dns_base = NULL;
	}
	if (dns_efd >= 0) {
		close(dns_efd);
		dns_efd = -1;
	}
	/* Tickets whose answer never came (sessions are gone by now). */
	pthread_mutex_lock(&dns_mu);
	for (t = dns_live; t != NULL; t = next) {
		next = t->lnext;
		if (t->q != NULL) {
			t->q->ticket = NULL;
			t->q->inflight = false;
			t->q->set->inflight--;
		}
		free(t);
	}
	dns_live = NULL;
	dns_queue = NULL;
	dns_queue_tail = &dns_queue;
	pthread_mutex_unlock(&dns_mu);
}

struct dns_set *
dns_set_new(const char *tag)
{
	struct dns_set *set = calloc(1, sizeof *set);
	pthread_condattr_t ca;

	if (set == NULL)
		return NULL;
	set->tag = strdup(tag != NULL ? tag : "-");
	set->overflow.name = strdup("");
	if (set->tag == NULL || set->overflow.name == NULL)
		goto bad;
	if (pthread_condattr_init(&ca) != 0)
		goto bad;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&set->cv, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		goto bad;
	}
	pthread_condattr_destroy(&ca);
	set->overflow.set = set;
	set->overflow.type = DNS_T_A;
	set->overflow.ans.status = DNS_SERVFAIL;
	set->overflow.ans.rcode = -1;
	return set;
bad:
	free(set->overflow.name);
	free(set->tag);
	free(set);
	return NULL;
}

struct dns_set *
dns_set_new_local(const char *tag, dns_local_fn *fn, void *arg)
{
	struct dns_set *set = dns_set_new(tag);

	if (set != NULL) {
		set->local = fn;
		set->local_arg = arg;
	}
	return set;
}

/* Ask a local set's answer function for q's answer (owner thread). */
static void
local_answer(struct dns_set *set, struct dns_query *q)
{
	if (q->ans.status != DNS_PENDING)
		return;
	set->local(set->local_arg, q->name, q->type, &q->ans);
	if (q->ans.status != DNS_PENDING)
		log_answer(set->tag, q, &q->ans);
}

/*
 * Stop waiting for q (dns_mu held): its ticket is abandoned, and the
 * dispatcher drops the answer if one still comes. Nothing to wait for.
 */
static void
query_abandon(struct dns_set *set, struct dns_query *q)
{
	if (!q->inflight)
		return;
	if (q->ticket != NULL)
		q->ticket->q = NULL;
	q->ticket = NULL;
	q->inflight = false;
	set->inflight--;
}

void
dns_set_free(struct dns_set *set)
{
	struct dns_query *q, *next;

	if (set == NULL)
		return;
	pthread_mutex_lock(&dns_mu);
	for (q = set->head; q != NULL && set->inflight > 0; q = q->next)
		query_abandon(set, q);
	pthread_mutex_unlock(&dns_mu);
	for (q = set->head; q != NULL; q = next) {
		next = q->next;
		if (q->ans.status != DNS_PENDING)
			dns_packet_clear(&q->ans);
		else if (q->cb_done)
			dns_packet_clear(&q->cb_ans);
		free(q->name);
		free(q);
	}
	free(set->overflow.name);
	pthread_cond_destroy(&set->cv);
	free(set->tag);
	free(set);
}

static struct dns_query *
query_new(struct dns_set *set, const char *name, enum dns_type type)
{
	struct dns_query *q = calloc(1, sizeof *q);

	if (q == NULL)
		return NULL;
	q->name = strdup(name);
	if (q->name == NULL) {
		free(q);
		return NULL;
	}
	q->set = set;
	q->type = type;
	q->ans.rcode = -1;
	q->next = set->head;
	set->head = q;
	set->nq++;
	clock_gettime(CLOCK_MONOTONIC, &q->start);
	return q;
}

struct dns_query *
dns_submit(struct dns_set *set, const char *name, enum dns_type type)
{
	char norm[DNS_NAME_MAX + 2];
	char esc[DNS_NAME_MAX * 4 + 8];
	struct dns_ticket *t;
	struct dns_query *q;
	bool valid, wake;

	valid = name_norm(name != NULL ? name : "", norm, sizeof norm);
	if (!valid) {
		/* Keep a bounded copy so dns_query_name() shows something. */
		size_t len = strnlen(name != NULL ? name : "", DNS_NAME_MAX);

		memcpy(norm, name != NULL ? name : "", len);
		norm[len] = '\0';
	}
	for (q = set->head; q != NULL; q = q->next)
		if (q->type == type && q->invalid == !valid &&
		    strcmp(q->name, norm) == 0)
			return q;
	if (set->over != DNS_BUDGET_OK)
		return &set->overflow;
	if (set->nq >= DNS_MAX_CONN_QUERIES || set->msg_nq >= DNS_MAX_QUERIES) {
		bool conn = set->nq >= DNS_MAX_CONN_QUERIES;

		set->over = conn ? DNS_BUDGET_CONNECTION : DNS_BUDGET_MESSAGE;
		log_swarn(set->tag,
			  "dns: DNS query budget reached: %d queries %s "
			  "(%s); nothing more is sent and the message is "
			  "tempfailed",
			  conn ? DNS_MAX_CONN_QUERIES : DNS_MAX_QUERIES,
			  conn ? "in one session" : "for one message",
			  conn ? "DNS_MAX_CONN_QUERIES" : "DNS_MAX_QUERIES");
		metrics_dns_budget(conn);
		return &set->overflow;
	}
	q = query_new(set, norm, type);
	if (q == NULL)
		return &set->overflow;
	set->msg_nq++;
	if (!valid) {
		q->invalid = true;
		q->ans.status = DNS_INVALID;
		if (log_enabled(LOG_L_DEBUG))
			log_sdebug(
			    set->tag,
			    "dns %s/%s: invalid name, not "
			    "sent",
			    log_escape(norm, sizeof norm, esc, sizeof esc),
			    dns_type_str(type));
		return q;
	}
	if (set->local != NULL) {
		local_answer(set, q);
		return q;
	}
	if (dns_ctx == NULL || !dns_thread_running ||
	    (t = calloc(1, sizeof *t)) == NULL) {
		q->ans.status = DNS_SERVFAIL;
		log_serror(set->tag, dns_ctx == NULL ? "dns: engine not running"
						     : "dns: out of memory");
		return q;
	}
	t->q = q;
	t->type = type;
	t->sent_ms =
	    (long long)q->start.tv_sec * 1000 + q->start.tv_nsec / 1000000;
	memcpy(t->name, norm, strlen(norm) + 1);
	pthread_mutex_lock(&dns_mu);
	q->ticket = t;
	q->inflight = true;
	set->inflight++;
	t->lnext = dns_live;
	if (dns_live != NULL)
		dns_live->lprev = t;
	dns_live = t;
	/* One wake-up per batch: the dispatcher takes the whole queue. */
	wake = dns_queue == NULL;
	*dns_queue_tail = t;
	dns_queue_tail = &t->next;
	pthread_mutex_unlock(&dns_mu);
	if (wake)
		dispatcher_wake();
	if (log_enabled(LOG_L_DEBUG))
		log_sdebug(set->tag, "dns %s/%s: sent",
			   log_escape(q->name, sizeof norm, esc, sizeof esc),
			   dns_type_str(type));
	return q;
}

const struct dns_answer *
dns_answer(const struct dns_query *cq)
{
	/* The object is never const; only the handle is. */
	struct dns_query *q = (struct dns_query *)cq;

	if (q->ans.status == DNS_PENDING && q->set->local != NULL) {
		local_answer(q->set, q);
	} else if (q->ans.status == DNS_PENDING) {
		pthread_mutex_lock(&dns_mu);
		query_sync(q);
		pthread_mutex_unlock(&dns_mu);
	}
	return &q->ans;
}

/*
 * Time out what is still pending of q (or all); dns_mu held. *first is
 * set to the earliest timed-out query (for the health count).
 */
static bool
cancel_pending(struct dns_set *set, struct dns_query *only,
	       struct dns_query **first)
{
	struct timespec now;
	bool timedout = false;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (struct dns_query *q = only != NULL ? only : set->head; q != NULL;
	     q = only != NULL ? NULL : q->next) {
		if (!q->inflight)
			continue;
		query_abandon(set, q);
		q->ans.status = DNS_TIMEOUT;
		q->ans.ms = ts_ms(&q->start, &now);
		log_answer(set->tag, q, &q->ans);
		count_answer(q->type, DNS_TIMEOUT, q->ans.ms);
		set->ntimeouts++;
		if (*first == NULL ||
		    (q->start.tv_sec < (*first)->start.tv_sec ||
		     (q->start.tv_sec == (*first)->start.tv_sec &&
		      q->start.tv_nsec < (*first)->start.tv_nsec)))
			*first = q;
		timedout = true;
	}
	return timedout;
}

int
dns_wait(struct dns_set *set, struct dns_query *q,
	 const struct timespec *deadline)
{
	struct timespec t0, t1;
	struct dns_query *first = NULL;
	bool timedout = false;
	int rc = 0;

	if (q == &set->overflow)
		return 0;
	if (set->local != NULL) {
		/* one more chance for each answer, then it has timed out */
		for (struct dns_query *p = q != NULL ? q : set->head; p != NULL;
		     p = q != NULL ? NULL : p->next) {
			local_answer(set, p);
			if (p->ans.status == DNS_PENDING) {
				p->ans.status = DNS_TIMEOUT;
				log_answer(set->tag, p, &p->ans);
				timedout = true;
			}
		}
		return timedout ? AM_ETIMEOUT : 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_mutex_lock(&dns_mu);
	set->waiting = true;
	set->waitq = q;
	while (q != NULL ? q->inflight : set->inflight > 0) {
		rc = pthread_cond_timedwait(&set->cv, &dns_mu, deadline);
		if (rc == ETIMEDOUT)
			break;
	}
	set->waiting = false;
	set->waitq = NULL;
	if (q != NULL ? q->inflight : set->inflight > 0)
		timedout = cancel_pending(set, q, &first);
	for (struct dns_query *p = q != NULL ? q : set->head; p != NULL;
	     p = q != NULL ? NULL : p->next)
		query_sync(p);
	pthread_mutex_unlock(&dns_mu);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/*
	 * The query stays in the set: its name and start are stable. One
	 * given up after less than DNS_PROBE_AFTER_MS (a deadline already
	 * spent) says nothing about the servers.
	 */
	if (first != NULL && ts_ms(&first->start, &t1) >= DNS_PROBE_AFTER_MS)
		health_fail((long long)first->start.tv_sec * 1000 +
				first->start.tv_nsec / 1000000,
			    (long long)t1.tv_sec * 1000 + t1.tv_nsec / 1000000,
			    DNS_TIMEOUT, first->type, first->name);
	set->wait_ms += ts_ms(&t0, &t1);
	return timedout ? AM_ETIMEOUT : 0;
}

double
dns_set_wait_ms(const struct dns_set *set)
{
	return set->wait_ms;
}

void
dns_set_reset_wait(struct dns_set *set)
{
	set->wait_ms = 0;
}

void
dns_set_new_message(struct dns_set *set)
{
	set->wait_ms = 0;
	set->msg_nq = 0;
	if (set->over == DNS_BUDGET_MESSAGE)
		set->over = DNS_BUDGET_OK;
}

enum dns_budget
dns_set_over_budget(const struct dns_set *set)
{
	return set->over;
}

unsigned long
dns_set_timeouts(const struct dns_set *set)
{
	return set->ntimeouts; /* written by the owner's thread only */
}

const char *
dns_query_name(const struct dns_query *q)
{
	return q->name;
}

enum dns_type
dns_query_type(const struct dns_query *q)
{
	return q->type;
}

int
dns_reverse_name(int family, const void *addr, const char *suffix, char *out,
		 size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *b = addr;
	size_t o = 0;
	int n;

	if (outlen == 0)
		return AM_ERANGE;
	out[0] = '\0';
	if (suffix == NULL)
		suffix = "";
	if (family == AF_INET6) {
		const struct in6_addr *a6 = addr;

		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			family = AF_INET;
			b = a6->s6_addr + 12;
		}
	}
	if (family == AF_INET) {
		n = snprintf(out, outlen, "%u.%u.%u.%u.%s", b[3], b[2], b[1],
			     b[0], suffix);
		if (n < 0 || (size_t)n >= outlen)
			goto range;
		return 0;
	}
	if (family != AF_INET6)
		return AM_EINVAL;
	if (outlen < 64 + 1)
		goto range;
	for (int i = 15; i >= 0; i--) {
		out[o++] = hex[b[i] & 0x0f];
		out[o++] = '.';
		out[o++] = hex[b[i] >> 4];
		out[o++] = '.';
	}
	n = snprintf(out + o, outlen - o, "%s", suffix);
	if (n < 0 || (size_t)n >= outlen - o)
		goto range;
	return 0;
range:
	out[0] = '\0';
	return AM_ERANGE;
}

size_t
dns_set_count(const struct dns_set *set)
{
	return set != NULL ? set->nq : 0;
}

const struct dns_query *
dns_set_query(const struct dns_set *set, size_t i)
{
	const struct dns_query *q;
	size_t k;

	if (set == NULL || i >= set->nq)
		return NULL;
	/* the list is newest first: the i-th submitted is nq - 1 - i in */
	k = set->nq - 1 - i;
	for (q = set->head; q != NULL && k > 0; q = q->next)
		k--;
	return q;
}
