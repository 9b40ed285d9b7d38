/* SPDX-License-Identifier: BSD-2-Clause */
/* history - DMARC history rows: bounded queue, one writer thread */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amerr.h"
#include "history.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

#define H_RETRY_MIN_MS 1000  /* first back-off after a failure */
#define H_RETRY_MAX_MS 60000 /* longest back-off */
#define H_COUNTS_S 10	     /* report counters read this often */
#define H_DROP_LOG_S 60	     /* drop summary at most this often */
#define H_STOP_MS 5000	     /* history_stop() writes for so long */
#define H_JOIN_EXTRA_S 10    /* then waits so much longer for a call */

/*
 * A queued row, packed: the row's octets with every run of H_ZRUN or
 * more zero octets left out. A row is mostly the NUL padding of its
 * fixed-size strings, so a packed row is a few hundred octets where
 * struct history_row is several KB: the queue bound in octets
 * (HISTORY_QUEUE_BYTES) then holds tens of thousands of rows. The
 * encoding is exact for any content (no assumption that the padding is
 * zero): pairs of uint16 (literal length, zero-run length), each pair
 * followed by its literal octets.
 */
#define H_ZRUN 8
_Static_assert(sizeof(struct history_row) < 65536,
	       "history_row must fit the uint16 run lengths");

struct h_blob {
	size_t len;	      /* octets in data */
	unsigned char data[]; /* the runs */
};

/* h_runs - the next literal [i, *lit_end) and zero run after it. */
static size_t
h_runs(const unsigned char *p, size_t n, size_t i, size_t *lit_end)
{
	size_t j = i, z;

	while (j < n) {
		if (p[j] != 0) {
			j++;
			continue;
		}
		for (z = j; z < n && p[z] == 0 && z - j < H_ZRUN; z++)
			;
		if (z - j >= H_ZRUN || z == n)
			break;
		j = z;
	}
	*lit_end = j;
	for (z = j; z < n && p[z] == 0; z++)
		;
	return z - j;
}

static struct h_blob *
h_pack(const struct history_row *row)
{
	const unsigned char *p = (const unsigned char *)row;
	size_t n = sizeof *row, len = 0, i, end, zr;
	struct h_blob *b;
	unsigned char *o;

	for (i = 0; i < n; i = end + zr) {
		zr = h_runs(p, n, i, &end);
		len += 4 + (end - i);
	}
	b = malloc(sizeof *b + len);
	if (b == NULL)
		return NULL;
	b->len = len;
	o = b->data;
	for (i = 0; i < n; i = end + zr) {
		uint16_t l, z;

		zr = h_runs(p, n, i, &end);
		l = (uint16_t)(end - i);
		z = (uint16_t)zr;
		memcpy(o, &l, 2);
		memcpy(o + 2, &z, 2);
		memcpy(o + 4, p + i, l);
		o += 4 + l;
	}
	return b;
}

static void
h_unpack(const struct h_blob *b, struct history_row *row)
{
	unsigned char *p = (unsigned char *)row;
	const unsigned char *in = b->data, *e = b->data + b->len;
	size_t at = 0, n = sizeof *row;

	while (in + 4 <= e) {
		uint16_t l, z;

		memcpy(&l, in, 2);
		memcpy(&z, in + 2, 2);
		in += 4;
		if ((size_t)(e - in) < l || at + l + z > n)
			break; /* cannot happen: h_pack wrote it */
		memcpy(p + at, in, l);
		memset(p + at + l, 0, z);
		in += l;
		at += (size_t)l + z;
	}
	if (at < n)
		memset(p + at, 0, n - at);
}

/* h_cost - what a queued row counts against HISTORY_QUEUE_BYTES. */
static size_t
h_cost(const struct h_blob *b)
{
	return sizeof *b + b->len + sizeof(void *);
}

/*
 * The queue: a ring of pointers to packed rows. h_lock guards h_ring,
 * h_head, h_count and h_stopping; h_cond wakes the writer. Lock order:
 * h_lock only (the store is the writer's alone and used unlocked).
 */
static pthread_mutex_t h_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t h_cond = PTHREAD_COND_INITIALIZER;
static struct h_blob **h_ring;		 /* HISTORY_QUEUE_MAX slots */
static size_t h_bytes;			 /* h_cost() of the rows queued */
static size_t h_head;			 /* oldest row */
static size_t h_count;			 /* rows queued */
static bool h_stopping;			 /* history_stop() was called */
static size_t h_max = HISTORY_QUEUE_MAX; /* the bound */

static atomic_bool h_on;       /* history_record() queues */
static atomic_ulong h_dropped; /* rows dropped since start */
static pthread_t h_thread;     /* the writer */
static char *h_uri;	       /* the store's URI; writer's */

/* now_ms - CLOCK_MONOTONIC in milliseconds. */
static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
history_enabled(void)
{
	return atomic_load(&h_on);
}

void
history_record(const struct history_row *row)
{
	struct h_blob *r;
	bool queued = false, wake = false;

	if (!atomic_load(&h_on))
		return;
	r = h_pack(row);
	if (r != NULL) {
		pthread_mutex_lock(&h_lock);
		if (h_count < h_max &&
		    h_bytes + h_cost(r) <= HISTORY_QUEUE_BYTES && !h_stopping) {
			h_ring[(h_head + h_count) % HISTORY_QUEUE_MAX] = r;
			h_count++;
			h_bytes += h_cost(r);
			queued = true;
			wake = h_count == HISTORY_BATCH;
			metrics_history_queue((long)h_count);
		}
		pthread_mutex_unlock(&h_lock);
	}
	metrics_history_rows(METRICS_HIST_RECORDED, 1);
	if (wake)
		pthread_cond_signal(&h_cond);
	if (queued)
		return;
	free(r);
	metrics_history_rows(METRICS_HIST_DROPPED, 1);
	if (atomic_fetch_add(&h_dropped, 1) == 0)
		log_error("DMARC history: queue full (%d rows or %d MB) or "
			  "out of memory: a row was dropped; further drops "
			  "are summed up once a minute",
			  (int)h_max, HISTORY_QUEUE_BYTES >> 20);
}

/* The writer's own state. */
struct writer {
	struct store *s;	  /* NULL while the database is down */
	bool down;		  /* the outage was logged */
	int64_t down_since;	  /* now_ms() of the outage's start */
	int64_t retry_at;	  /* next open attempt (now_ms) */
	int64_t backoff;	  /* current back-off, ms */
	int64_t counts_at;	  /* next store_counts() */
	int64_t drops_at;	  /* next drop summary */
	unsigned long drops_seen; /* h_dropped at the last summary */
	char err[512];
};

static void
w_down(struct writer *w, const char *why)
{
	int64_t t = now_ms();

	if (w->s != NULL) {
		store_close(w->s);
		w->s = NULL;
	}
	if (!w->down) {
		w->down = true;
		w->down_since = t;
		metrics_history_db_up(false);
		log_error("DMARC history: database unavailable: %s; rows are "
			  "kept in memory (at most %d) and written when it "
			  "is back",
			  why, HISTORY_QUEUE_MAX);
		w->backoff = H_RETRY_MIN_MS;
	} else if (w->backoff < H_RETRY_MAX_MS) {
		w->backoff *= 2;
		if (w->backoff > H_RETRY_MAX_MS)
			w->backoff = H_RETRY_MAX_MS;
	}
	w->retry_at = t + w->backoff;
}

static void
w_counts(struct writer *w)
{
	uint64_t v[STORE_CNT_N];
	char err[512];

	w->counts_at = now_ms() + H_COUNTS_S * 1000;
	if (w->s == NULL || w->down)
		return;
	/* a database that just went away is the writer's outage to log
	 * (once, at the next batch): a failed read here is only a detail */
	if (store_counts(w->s, v, err, sizeof err) == 0)
		metrics_reports(v[STORE_CNT_SENT], v[STORE_CNT_FAILED],
				v[STORE_CNT_SKIPPED]);
	else
		log_debug("DMARC history: reading the report counters: %s",
			  err);
}

/*
 * w_up - the database works: after an outage, only once a batch was
 * written (or nothing waits), so that a database that opens but
 * refuses every write is one outage, not a line a second.
 */
static void
w_up(struct writer *w, size_t queued)
{
	metrics_history_db_up(true);
	if (!w->down)
		return;
	log_info("DMARC history: database %s is back after %lld s; "
		 "writing %zu queued rows",
		 store_kind(w->s), (long long)(now_ms() - w->down_since) / 1000,
		 queued);
	w->down = false;
}

/* w_open - (re)open the store when it is time; true when open. */
static bool
w_open(struct writer *w, bool now)
{
	size_t queued;

	if (w->s != NULL)
		return true;
	if (!now && now_ms() < w->retry_at)
		return false;
	if (store_open(h_uri, &w->s, w->err, sizeof w->err) != 0) {
		w->s = NULL;
		w_down(w, w->err);
		return false;
	}
	pthread_mutex_lock(&h_lock);
	queued = h_count;
	pthread_mutex_unlock(&h_lock);
	if (queued == 0)
		w_up(w, 0);
	w_counts(w);
	return true;
}

/* w_pop - drop the n oldest rows (written, or refused). */
static void
w_pop(size_t n)
{
	pthread_mutex_lock(&h_lock);
	for (size_t i = 0; i < n && h_count > 0; i++) {
		h_bytes -= h_cost(h_ring[h_head]);
		free(h_ring[h_head]);
		h_head = (h_head + 1) % HISTORY_QUEUE_MAX;
		h_count--;
	}
	metrics_history_queue((long)h_count);
	pthread_mutex_unlock(&h_lock);
}

/*
 * w_one_by_one - the database refused the data of a batch (AM_EINVAL):
 * write its rows one at a time and drop (count, log) those refused.
 * False when the database fails otherwise meanwhile.
 */
static bool
w_one_by_one(struct writer *w, const struct history_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = store_insert(w->s, &rows[i], 1, w->err, sizeof w->err);

		if (rc == 0) {
			metrics_history_rows(METRICS_HIST_WRITTEN, 1);
		} else if (rc == AM_EINVAL) {
			metrics_history_rows(METRICS_HIST_DROPPED, 1);
			log_error("DMARC history: the database refuses a row "
				  "(policy domain %s, source %s): dropped: %s",
				  rows[i].policy_domain, rows[i].source_ip,
				  w->err);
		} else {
			w_pop(i);
			w_down(w, w->err);
			return false;
		}
	}
	w_pop(n);
	return true;
}

/* w_batch - write up to HISTORY_BATCH queued rows; false on failure. */
static bool
w_batch(struct writer *w)
{
	struct h_blob *rows[HISTORY_BATCH];
	struct history_row *buf;
	size_t n, queued;
	bool ok;
	int rc;

	pthread_mutex_lock(&h_lock);
	queued = h_count;
	n = h_count < HISTORY_BATCH ? h_count : HISTORY_BATCH;
	for (size_t i = 0; i < n; i++)
		rows[i] = h_ring[(h_head + i) % HISTORY_QUEUE_MAX];
	pthread_mutex_unlock(&h_lock);
	if (n == 0)
		return true;
	/*
	 * The rows stay queued until written: only this thread removes
	 * them, so the pointers stay valid unlocked.
	 */
	buf = malloc(n * sizeof *buf);
	if (buf == NULL) {
		w_down(w, "out of memory");
		return false;
	}
	for (size_t i = 0; i < n; i++)
		h_unpack(rows[i], &buf[i]);
	rc = store_insert(w->s, buf, n, w->err, sizeof w->err);
	if (rc == 0) {
		free(buf);
		metrics_history_rows(METRICS_HIST_WRITTEN, n);
		w_up(w, queued);
		w_pop(n);
		return true;
	}
	if (rc == AM_EINVAL) {
		ok = w_one_by_one(w, buf, n);
		free(buf);
		return ok;
	}
	free(buf);
	w_down(w, w->err);
	return false;
}

static void
w_drop_summary(struct writer *w, bool force)
{
	unsigned long d = atomic_load(&h_dropped);

	if (!force && now_ms() < w->drops_at)
		return;
	w->drops_at = now_ms() + H_DROP_LOG_S * 1000;
	if (d > w->drops_seen)
		log_error("DMARC history: %lu rows dropped (queue full) "
			  "since the last summary, %lu since start",
			  d - w->drops_seen, d);
	w->drops_seen = d;
}

static void
w_final(struct writer *w)
{
	int64_t deadline = now_ms() + H_STOP_MS;
	size_t lost;

	w_open(w, true);
	while (w->s != NULL && now_ms() < deadline) {
		pthread_mutex_lock(&h_lock);
		lost = h_count;
		pthread_mutex_unlock(&h_lock);
		if (lost == 0 || !w_batch(w))
			break;
	}
	pthread_mutex_lock(&h_lock);
	lost = h_count;
	while (h_count > 0) {
		h_bytes -= h_cost(h_ring[h_head]);
		free(h_ring[h_head]);
		h_head = (h_head + 1) % HISTORY_QUEUE_MAX;
		h_count--;
	}
	metrics_history_queue(0);
	pthread_mutex_unlock(&h_lock);
	if (lost > 0) {
		metrics_history_rows(METRICS_HIST_DROPPED, lost);
		log_error("DMARC history: %zu rows not written at shutdown "
			  "(database %s): lost",
			  lost, w->s != NULL ? "too slow" : "unavailable");
	}
	w_drop_summary(w, true);
}

static void *
w_main(void *arg)
{
	struct writer w;
	bool stop;

	(void)arg;
	memset(&w, 0, sizeof w);
	w.drops_at = now_ms() + H_DROP_LOG_S * 1000;
	w_open(&w, true);
	for (;;) {
		struct timespec ts;
		int64_t wait = HISTORY_FLUSH_MS;

		/*
		 * Up: wait for a full batch or HISTORY_FLUSH_MS. Down: wait
		 * for the next attempt, however much is queued.
		 */
		if (w.s == NULL)
			wait = w.retry_at - now_ms();
		if (wait < 1)
			wait = 1;
		pthread_mutex_lock(&h_lock);
		if (!h_stopping && (w.s == NULL || h_count < HISTORY_BATCH)) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&h_cond, &h_lock, &ts);
		}
		stop = h_stopping;
		pthread_mutex_unlock(&h_lock);
		if (stop)
			break;
		w_drop_summary(&w, false);
		if (!w_open(&w, false))
			continue;
		if (now_ms() >= w.counts_at)
			w_counts(&w);
		/* what is queued now, in batches; new rows wait a round */
		for (int i = 0; i < HISTORY_QUEUE_MAX / HISTORY_BATCH; i++) {
			size_t q;

			pthread_mutex_lock(&h_lock);
			q = h_count;
			stop = h_stopping;
			pthread_mutex_unlock(&h_lock);
			if (q == 0 || stop || !w_batch(&w))
				break;
		}
	}
	w_final(&w);
	store_close(w.s);
	return NULL;
}

/* h_condattr - h_cond on CLOCK_MONOTONIC (the waits above). */
static int
h_cond_init(void)
{
	pthread_condattr_t a;
	int rc;

	if (pthread_condattr_init(&a) != 0)
		return -1;
	rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (rc == 0) {
		pthread_cond_destroy(&h_cond);
		rc = pthread_cond_init(&h_cond, &a);
	}
	pthread_condattr_destroy(&a);
	return rc;
}

int
history_start(const char *uri, char *err, size_t errlen)
{
	int rc;

	if (uri == NULL || strcmp(uri, "none") == 0)
		return 0;
	if (atomic_load(&h_on)) {
		snprintf(err, errlen, "DMARC history already started");
		return AM_ESTATE;
	}
	rc = store_check_uri(uri, err, errlen);
	if (rc != 0)
		return rc;
	h_uri = strdup(uri);
	h_ring = calloc(HISTORY_QUEUE_MAX, sizeof *h_ring);
	if (h_uri == NULL || h_ring == NULL || h_cond_init() != 0) {
		snprintf(err, errlen, "DMARC history: out of memory");
		rc = AM_ENOMEM;
		goto fail;
	}
	h_head = h_count = h_bytes = 0;
	h_stopping = false;
	h_max = HISTORY_QUEUE_MAX;
	atomic_store(&h_dropped, 0);
	metrics_history_on();
	metrics_history_db_up(false);
	metrics_history_queue(0);
	rc = pthread_create(&h_thread, NULL, w_main, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "DMARC history: thread: %s",
			 strerror(rc));
		rc = AM_ESYS;
		goto fail;
	}
	atomic_store(&h_on, true);
	return 0;
fail:
	free(h_uri);
	free(h_ring);
	h_uri = NULL;
	h_ring = NULL;
	return rc;
}

void
history_queue_limit(size_t max)
{
	pthread_mutex_lock(&h_lock);
	h_max = max < HISTORY_QUEUE_MAX ? max : HISTORY_QUEUE_MAX;
	pthread_mutex_unlock(&h_lock);
}

void
history_stop(void)
{
	struct timespec ts;
	size_t left;

	if (!atomic_load(&h_on))
		return;
	atomic_store(&h_on, false);
	pthread_mutex_lock(&h_lock);
	h_stopping = true;
	pthread_cond_signal(&h_cond);
	pthread_mutex_unlock(&h_lock);
	/*
	 * The writer gives up after H_STOP_MS; a database call that hangs
	 * (a server that stopped answering) must not hold the exit.
	 */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += H_STOP_MS / 1000 + H_JOIN_EXTRA_S;
	if (pthread_timedjoin_np(h_thread, NULL, &ts) != 0) {
		pthread_mutex_lock(&h_lock);
		left = h_count;
		pthread_mutex_unlock(&h_lock);
		log_error("DMARC history: the writer is stuck in a database "
			  "call; %zu rows lost at exit",
			  left);
		pthread_detach(h_thread);
		return; /* the ring stays: the writer may still use it */
	}
	free(h_ring);
	free(h_uri);
	h_ring = NULL;
	h_uri = NULL;
}
