/* SPDX-License-Identifier: BSD-2-Clause */
/* store_sqlite - the SQLite backend of the history store (one MX) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "amerr.h"
#include "store_backend.h"

#define SQ_CACHE 24	 /* prepared statements kept */
#define SQ_MAXCOL 32	 /* columns of a result row */
#define SQ_BUSY_MS 10000 /* wait for another writer */

struct sq {
	sqlite3 *db; /* owned */
	int lock_fd; /* PATH-report.lock, flock'd, or -1 */
	struct {
		char *sql;	  /* owned copy, the key */
		sqlite3_stmt *st; /* owned */
	} cache[SQ_CACHE];
};

static void
sq_err(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	int sys = db != NULL ? sqlite3_system_errno(db) : 0;
	char ebuf[128];

	/* strerror_r: the GNU one (_GNU_SOURCE) */
	snprintf(err, errlen, "%s%s%s%s", what,
		 db != NULL ? sqlite3_errmsg(db) : "out of memory",
		 sys != 0 ? ": " : "",
		 sys != 0 ? strerror_r(sys, ebuf, sizeof ebuf) : "");
}

/*
 * sq_open_err - why path cannot be opened: SQLite says "unable to open
 * database file"; the directory tells the cause (missing, or not
 * writable by the user the daemon runs as).
 */
static void
sq_open_err(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	char dir[1024], ebuf[128];
	const char *slash = strrchr(path, '/');
	struct stat st;

	snprintf(dir, sizeof dir, "%.*s",
		 slash != NULL && slash != path ? (int)(slash - path) : 1,
		 slash != NULL ? path : "/");
	if (stat(dir, &st) != 0 || access(dir, W_OK | X_OK) != 0) {
		snprintf(err, errlen, "%s: directory %s: %s",
			 db != NULL ? sqlite3_errmsg(db) : "out of memory", dir,
			 strerror_r(errno, ebuf, sizeof ebuf));
		return;
	}
	sq_err(db, "", err, errlen);
}

static void
sq_close(void *p)
{
	struct sq *q = p;

	if (q == NULL)
		return;
	if (q->lock_fd >= 0)
		close(q->lock_fd);
	for (size_t i = 0; i < SQ_CACHE; i++) {
		sqlite3_finalize(q->cache[i].st);
		free(q->cache[i].sql);
	}
	sqlite3_close_v2(q->db);
	free(q);
}

int
store_sqlite_open(const char *path, void **db, char *err, size_t errlen)
{
	struct sq *q = calloc(1, sizeof *q);
	char *msg = NULL;
	int rc, fd;

	*db = NULL;
	if (q == NULL) {
		snprintf(err, errlen, "out of memory");
		return AM_ENOMEM;
	}
	q->lock_fd = -1;
	/*
	 * A new file is not for everyone: addresses and domains of the
	 * mail received (SQLite gives its -wal and -shm the same mode).
	 */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd >= 0)
		close(fd);
	rc = sqlite3_open_v2(path, &q->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				 SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		sq_open_err(q->db, path, err, errlen);
		goto fail;
	}
	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_timeout(q->db, SQ_BUSY_MS);
	/* WAL: the report program reads while the daemon writes */
	rc = sqlite3_exec(q->db,
			  "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
			  NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "journal mode: %s",
			 msg != NULL ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		goto fail;
	}
	*db = q;
	return 0;
fail:
	sq_close(q);
	return AM_EIO;
}

/* sq_stmt - the prepared statement for sql, from the cache if there. */
static sqlite3_stmt *
sq_stmt(struct sq *q, const char *sql, bool *cached, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	size_t i;

	for (i = 0; i < SQ_CACHE && q->cache[i].sql != NULL; i++)
		if (strcmp(q->cache[i].sql, sql) == 0) {
			*cached = true;
			return q->cache[i].st;
		}
	if (sqlite3_prepare_v3(q->db, sql, -1,
			       i < SQ_CACHE ? SQLITE_PREPARE_PERSISTENT : 0,
			       &st, NULL) != SQLITE_OK) {
		sq_err(q->db, "", err, errlen);
		return NULL;
	}
	*cached = false;
	if (i < SQ_CACHE && (q->cache[i].sql = strdup(sql)) != NULL) {
		q->cache[i].st = st;
		*cached = true;
	}
	return st;
}

static int
sq_exec(void *p, const char *sql, const struct store_val *v, size_t nv,
	store_row_fn fn, void *arg, uint64_t *changes, char *err, size_t errlen)
{
	struct sq *q = p;
	bool cached;
	sqlite3_stmt *st = sq_stmt(q, sql, &cached, err, errlen);
	const char *cols[SQ_MAXCOL];
	int rc = 0, s;

	if (st == NULL)
		return AM_EIO;
	for (size_t i = 0; i < nv; i++) {
		char name[24];
		int idx;

		snprintf(name, sizeof name, "$%zu", i + 1);
		idx = sqlite3_bind_parameter_index(st, name);
		if (idx == 0)
			continue;
		s = v[i].is_int
			? sqlite3_bind_int64(st, idx, v[i].i)
			: sqlite3_bind_text(st, idx, v[i].s, -1, SQLITE_STATIC);
		if (s != SQLITE_OK) {
			sq_err(q->db, "bind: ", err, errlen);
			rc = AM_EIO;
			goto out;
		}
	}
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		int n = sqlite3_column_count(st);

		if (fn == NULL)
			continue;
		if (n > SQ_MAXCOL)
			n = SQ_MAXCOL;
		for (int c = 0; c < n; c++)
			cols[c] = (const char *)sqlite3_column_text(st, c);
		rc = fn(arg, cols, (size_t)n);
		if (rc != 0)
			goto out;
	}
	if (s != SQLITE_DONE) {
		int prim = s & 0xff;

		sq_err(q->db, "", err, errlen);
		/* the data, not the file: retrying cannot help */
		rc = prim == SQLITE_CONSTRAINT || prim == SQLITE_TOOBIG ||
			     prim == SQLITE_MISMATCH
			 ? AM_EINVAL
			 : AM_EIO;
		goto out;
	}
	if (changes != NULL)
		*changes = (uint64_t)sqlite3_changes64(q->db);
out:
	if (cached) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	} else {
		sqlite3_finalize(st);
	}
	return rc;
}

/*
 * sq_run_lock - flock of a file of its own beside the database (never
 * the database file: closing any descriptor of it would drop SQLite's
 * POSIX locks), kept open until sq_close.
 */
static int
sq_run_lock(void *p, bool *got, char *err, size_t errlen)
{
	struct sq *q = p;
	const char *db = sqlite3_db_filename(q->db, "main");
	char path[4096], ebuf[128];

	*got = false;
	if (q->lock_fd >= 0) {
		*got = true;
		return 0;
	}
	snprintf(path, sizeof path, "%s-report.lock", db != NULL ? db : "");
	q->lock_fd =
	    open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (q->lock_fd < 0) {
		snprintf(err, errlen, "%s: %s", path,
			 strerror_r(errno, ebuf, sizeof ebuf));
		return AM_EIO;
	}
	if (flock(q->lock_fd, LOCK_EX | LOCK_NB) == 0) {
		*got = true;
		return 0;
	}
	close(q->lock_fd);
	q->lock_fd = -1;
	if (errno == EWOULDBLOCK)
		return 0;
	snprintf(err, errlen, "%s: %s", path,
		 strerror_r(errno, ebuf, sizeof ebuf));
	return AM_EIO;
}

const struct store_ops store_sqlite_ops = {
    .kind = "sqlite",
    .id_decl = "INTEGER PRIMARY KEY",
    .begin_write = "BEGIN IMMEDIATE",
    .schema_begin = {"BEGIN IMMEDIATE", NULL},
    .exec = sq_exec,
    .run_lock = sq_run_lock,
    .close = sq_close,
};
