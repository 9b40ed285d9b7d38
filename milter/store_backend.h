/*
 * store_backend - what store.c asks of a database backend
 *
 * store.c holds the schema, the SQL and the mapping of a history row to
 * columns; a backend (store_sqlite.c, store_pg.c) only opens a
 * connection and runs one statement with typed parameters, handing each
 * result row to a callback as text. The SQL is written once, with
 * numbered parameters "$1", "$2", ... (libpq's spelling; the SQLite
 * backend binds them by name). A backend also says how to take the
 * schema lock (so that two daemons starting at once do not both create
 * the tables) and how a row id column is declared.
 *
 * Ownership: the connection (void *) belongs to the struct store that
 *   opened it and is freed by ops->close. Column texts handed to the row
 *   callback are borrowed for the duration of the call.
 * Threads: a connection is used by one thread at a time.
 * Errors: 0 or AM_EIO (database failed or unreachable), AM_EINVAL (bad
 *   URI; or the data of a statement refused: a constraint, a value out
 *   of range), AM_ENOMEM; err gets the library's text only (store.c adds
 *   the database name, without a password). A row callback's nonzero
 *   return stops the statement and is returned.
 * See also: store.h.
 */
#ifndef AM_STORE_BACKEND_H
#define AM_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One parameter: an integer or a text (never NULL). */
struct store_val {
	bool is_int;
	int64_t i;
	const char *s; /* borrowed */
};

/* One result row: ncols texts, NULL for SQL NULL. */
typedef int (*store_row_fn)(void *arg, const char *const *cols, size_t ncols);

struct store_ops {
	const char *kind;	     /* "sqlite" or "postgresql" */
	const char *id_decl;	     /* DDL of the row id column */
	const char *begin_write;     /* opens a writing transaction */
	const char *schema_begin[3]; /* statements that open the schema
				      * transaction and lock it; NULL-ended */
	int (*exec)(void *db, const char *sql, const struct store_val *p,
		    size_t np, store_row_fn fn, void *arg, uint64_t *changes,
		    char *err, size_t errlen);
	/* the report program's lock, held until close: *got */
	int (*run_lock)(void *db, bool *got, char *err, size_t errlen);
	void (*close)(void *db);
};

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;

/* store_sqlite_open - open (create) the SQLite file path, WAL mode. */
int store_sqlite_open(const char *path, void **db, char *err, size_t errlen);

/* store_pg_check - whether libpq can parse uri (AM_EINVAL if not). */
int store_pg_check(const char *uri, char *err, size_t errlen);

/* store_pg_open - connect with a libpq connection URI. */
int store_pg_open(const char *uri, void **db, char *err, size_t errlen);

#endif
