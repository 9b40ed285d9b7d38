/* SPDX-License-Identifier: BSD-2-Clause */
/* store_pg - the PostgreSQL backend of the history store (a fleet) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "amerr.h"
#include "store_backend.h"

#define PG_MAXPARAM 32 /* parameters of one statement */
#define PG_MAXCOL 32   /* columns of a result row */

/* pg_text - libpq's message on one line, without its newline. */
static void
pg_text(const char *what, const char *msg, char *err, size_t errlen)
{
	size_t n;

	snprintf(err, errlen, "%s%s", what, msg != NULL ? msg : "");
	n = strlen(err);
	while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (err[i] == '\n' || err[i] == '\t')
			err[i] = ' ';
}

/* Notices ("relation exists, skipping") are not for stderr. */
static void
pg_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

int
store_pg_check(const char *uri, char *err, size_t errlen)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(uri, &perr);

	int rc = 0;

	if (opts == NULL) {
		pg_text("", perr != NULL ? perr : "out of memory", err, errlen);
		rc = perr != NULL ? AM_EINVAL : AM_ENOMEM;
		PQfreemem(perr);
	}
	PQconninfoFree(opts);
	return rc;
}

int
store_pg_open(const char *uri, void **db, char *err, size_t errlen)
{
	/*
	 * The URI comes last: its own parameters win over these defaults
	 * (libpq's expand_dbname).
	 */
	const char *const keys[] = {"connect_timeout",	"application_name",
				    "keepalives_idle",	"keepalives_interval",
				    "keepalives_count", "tcp_user_timeout",
				    "dbname",		NULL};
	const char *const vals[] = {"10", "authmilter", "30", "10",
				    "3",  "60000",	uri,  NULL};
	PGconn *c;
	int rc;

	*db = NULL;
	rc = store_pg_check(uri, err, errlen);
	if (rc != 0)
		return rc;
	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return AM_ENOMEM;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		pg_text("", PQerrorMessage(c), err, errlen);
		PQfinish(c);
		return AM_EIO;
	}
	PQsetNoticeProcessor(c, pg_notice, NULL);
	*db = c;
	return 0;
}

static int
pg_exec(void *p, const char *sql, const struct store_val *v, size_t nv,
	store_row_fn fn, void *arg, uint64_t *changes, char *err, size_t errlen)
{
	PGconn *c = p;
	char num[PG_MAXPARAM][24];
	const char *vals[PG_MAXPARAM];
	const char *cols[PG_MAXCOL];
	PGresult *res;
	ExecStatusType st;
	int rc = 0;

	if (nv > PG_MAXPARAM) {
		snprintf(err, errlen, "too many parameters");
		return AM_ESTATE;
	}
	for (size_t i = 0; i < nv; i++) {
		if (v[i].is_int) {
			snprintf(num[i], sizeof num[i], "%" PRId64, v[i].i);
			vals[i] = num[i];
		} else {
			vals[i] = v[i].s;
		}
	}
	res = PQexecParams(c, sql, (int)nv, NULL, vals, NULL, NULL, 0);
	st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		const char *state =
		    res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
				: NULL;

		pg_text("",
			res != NULL ? PQresultErrorMessage(res)
				    : PQerrorMessage(c),
			err, errlen);
		/*
		 * Classes 22 (data exception), 23 (integrity) and 54
		 * (program limit): the row, not the database.
		 */
		rc = state != NULL && PQstatus(c) == CONNECTION_OK &&
			     (strncmp(state, "22", 2) == 0 ||
			      strncmp(state, "23", 2) == 0 ||
			      strncmp(state, "54", 2) == 0)
			 ? AM_EINVAL
			 : AM_EIO;
		goto out;
	}
	if (fn != NULL && st == PGRES_TUPLES_OK) {
		int nt = PQntuples(res), nf = PQnfields(res);

		if (nf > PG_MAXCOL)
			nf = PG_MAXCOL;
		for (int t = 0; t < nt && rc == 0; t++) {
			for (int f = 0; f < nf; f++)
				cols[f] = PQgetisnull(res, t, f)
					      ? NULL
					      : PQgetvalue(res, t, f);
			rc = fn(arg, cols, (size_t)nf);
		}
	}
	if (changes != NULL)
		*changes = strtoull(PQcmdTuples(res), NULL, 10);
out:
	PQclear(res);
	return rc;
}

static void
pg_close(void *p)
{
	PQfinish(p);
}

static int
pg_lock_row(void *arg, const char *const *c, size_t ncols)
{
	*(bool *)arg = ncols > 0 && c[0] != NULL && c[0][0] == 't';
	return 0;
}

/* pg_run_lock - a session advisory lock: released when the session ends */
static int
pg_run_lock(void *p, bool *got, char *err, size_t errlen)
{
	*got = false;
	return pg_exec(p, "SELECT pg_try_advisory_lock(7469838)", NULL, 0,
		       pg_lock_row, got, NULL, err, errlen);
}

const struct store_ops store_pg_ops = {
    .kind = "postgresql",
    .id_decl = "BIGSERIAL PRIMARY KEY",
    .begin_write = "BEGIN",
    /* two daemons starting at once: one creates, the other waits */
    .schema_begin = {"BEGIN", "SELECT pg_advisory_xact_lock(7469837)", NULL},
    .exec = pg_exec,
    .run_lock = pg_run_lock,
    .close = pg_close,
};
