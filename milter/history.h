/*
 * history - the daemon's DMARC history writer: a bounded queue and a
 * writer thread
 *
 * history_start() opens the store named by ReportDatabase (store.h) on a
 * thread of its own; history_record() copies one row into a bounded
 * in-memory queue and returns at once: the SMTP session never waits on
 * the database. The writer thread takes rows off the queue and writes
 * them in batches (store_insert(): up to HISTORY_BATCH rows or what came
 * within HISTORY_FLUSH_MS). While the database is down (open or insert
 * fails) rows stay queued and the writer retries with back-off; it logs
 * the outage once when it starts and once when it ends. Only when the
 * queue is full (HISTORY_QUEUE_MAX rows or HISTORY_QUEUE_BYTES) is a
 * row dropped: every drop is counted, and logged (the first, then one
 * summary line a minute). history_stop() writes what is queued (for at
 * most a few seconds when the database is reachable) and joins the
 * thread; what cannot be written then is logged as lost with its count.
 *
 * Metrics: authmilter_history_rows_total{outcome="recorded"|"written"|
 * "dropped"}, authmilter_history_queue (gauge), authmilter_history_db_up
 * (gauge).
 *
 * Caps: HISTORY_QUEUE_MAX rows and HISTORY_QUEUE_BYTES octets queued,
 *   whichever comes first; a queued row is packed (its zero padding left
 *   out): a few hundred octets for a usual row, at most about 5 KB for
 *   one with every field at its longest.
 * Ownership: the queue and thread are process-wide; rows are copied.
 * Threads: history_record() from any session thread; history_start()
 *   and history_stop() from main only.
 * Errors: history_start() returns AM_EINVAL for a bad ReportDatabase
 *   (a database that is merely down is not an error: the writer
 *   retries); history_record() returns nothing (drops are counted).
 * See also: store.h, history_row.h, docs/REPORTS.md.
 */
#ifndef AM_HISTORY_H
#define AM_HISTORY_H

#include <stdbool.h>
#include <stddef.h>

#include "history_row.h"

#define HISTORY_QUEUE_MAX 65536
#define HISTORY_QUEUE_BYTES (32 << 20)
#define HISTORY_BATCH 256
#define HISTORY_FLUSH_MS 1000

/*
 * history_start - start the writer for the store uri ("none" or NULL:
 * history is off and history_record() does nothing). 0 or AM_E*.
 */
int history_start(const char *uri, char *err, size_t errlen);

/* history_enabled - whether rows are being recorded. */
bool history_enabled(void);

/* history_record - queue a copy of row (never blocks). */
void history_record(const struct history_row *row);

/* history_stop - flush (bounded wait) and stop the writer. */
void history_stop(void);

/*
 * history_queue_limit - lower the queue bound to max rows (at most
 * HISTORY_QUEUE_MAX), so that tests reach it; main never calls it.
 */
void history_queue_limit(size_t max);

#endif
