/*
 * store - the DMARC history database behind one interface
 *
 * The daemon's history writer (history.h) and the report program
 * (authmilter-report) reach the database only through this interface.
 * Two backends: "sqlite:PATH" (libsqlite3, WAL journal, busy timeout;
 * one MX) and "postgresql://..." / "postgres://..." (libpq; several MTAs
 * write to one database, one report job reads it). store_open() creates
 * or migrates the schema (a version number in a table of its own; a
 * database of a newer version is refused, never downgraded).
 *
 * Writing: store_insert() writes a batch of rows in one transaction (all
 * or none). Reading: store_domains() lists the policy domains with rows
 * in [begin, end) not yet reported; store_groups() returns, for one of
 * them, the rows grouped by identical content (every field of struct
 * history_row except time) with their count, which is what one RFC 9990
 * <record> holds. store_mark_reported() marks a (domain, period) done
 * with its Report-ID; store_report_state() tells whether a period was
 * already sent (so a rerun never sends twice) and returns the Report-ID
 * kept for a retry. store_purge() deletes rows reported more than a
 * number of days ago, and unreported rows older than twice that.
 *
 * Ownership: a struct store is the caller's, freed by store_close();
 *   arrays returned by store_domains()/store_groups() are the caller's,
 *   freed with free().
 * Threads: one struct store is used by one thread at a time; separate
 *   stores (even on the same database) may be used in parallel.
 * Errors: AM_EINVAL for a bad URI, or from store_insert() for data the
 *   database refuses (a constraint, a value it cannot take: retrying
 *   the same row cannot help); AM_EIO when the database cannot be
 *   reached or fails otherwise (retry later); AM_ENOMEM. The message in
 *   err names the database and the library's text, never a password.
 * See also: history.h, docs/REPORTS.md.
 */
#ifndef AM_STORE_H
#define AM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "history_row.h"

#define STORE_SCHEMA_VERSION 2
#define STORE_REPORT_ID 128 /* a Report-ID and its NUL */

struct store;

/* One group of identical rows: an RFC 9990 <record>. */
struct store_group {
	struct history_row row; /* time is the earliest of the group */
	uint64_t count;
};

/* What became of one (policy domain, period). */
enum store_report_state {
	STORE_REPORT_NEW = 0, /* never tried */
	STORE_REPORT_FAILED,  /* tried, not sent: retry with the same id */
	STORE_REPORT_SENT,    /* sent (or skipped for good): never again */
};

/*
 * store_open - open the database named by uri and bring its schema to
 * STORE_SCHEMA_VERSION (tables authmilter_*; several programs opening
 * an empty database at once create it once). Returns 0 and *out, or
 * AM_E* with err filled: AM_EIO also for a schema of a newer version.
 * A new SQLite file is created with mode 0640 in an existing directory.
 */
int store_open(const char *uri, struct store **out, char *err, size_t errlen);

/* store_close - close and free (NULL ok). */
void store_close(struct store *s);

/* store_kind - "sqlite" or "postgresql", for logs. */
const char *store_kind(const struct store *s);

/*
 * store_check_uri - whether uri names a database store_open() can try
 * ("sqlite:/PATH", or a PostgreSQL URI libpq can parse), without
 * connecting. 0 or AM_EINVAL with err filled (no password in it).
 */
int store_check_uri(const char *uri, char *err, size_t errlen);

/* store_insert - write n rows in one transaction. 0 or AM_E*. */
int store_insert(struct store *s, const struct history_row *rows, size_t n,
		 char *err, size_t errlen);

/*
 * store_domains - the policy domains with rows in [begin, end), as a
 * malloc'd array of HISTORY_DOMAIN-sized strings in *out (n in *n),
 * sorted; a domain whose (domain, begin) is STORE_REPORT_SENT is left
 * out (FAILED and NEW ones are listed).
 */
int store_domains(struct store *s, int64_t begin, int64_t end,
		  char (**out)[HISTORY_DOMAIN], size_t *n, char *err,
		  size_t errlen);

/* The groups of one report at most (4.9 KB each in memory). */
#define STORE_MAX_GROUPS 20000

/*
 * store_groups - the rows of one policy domain in [begin, end), grouped
 * by identical content, in a stable order (count descending, then
 * source address); malloc'd array in *out. The reporter is no part of
 * the identity (a fleet's report sums its MTAs): row.reporter is "".
 * A group's DKIM results come in a canonical order (by domain, then
 * selector), so the same set of signatures is one group whatever the
 * order of the message's signatures. At most STORE_MAX_GROUPS groups,
 * the largest: *truncated says whether there were more.
 */
int store_groups(struct store *s, const char *domain, int64_t begin,
		 int64_t end, struct store_group **out, size_t *n,
		 bool *truncated, char *err, size_t errlen);

/*
 * store_report_state - what became of (domain, begin): *state, and in
 * report_id (STORE_REPORT_ID octets) the Report-ID kept for it, "" for
 * STORE_REPORT_NEW.
 */
int store_report_state(struct store *s, const char *domain, int64_t begin,
		       enum store_report_state *state, char *report_id,
		       char *err, size_t errlen);

/*
 * store_mark_reported - record (domain, begin, end) as state with
 * report_id; a later call replaces an earlier one (FAILED -> SENT).
 */
int store_mark_reported(struct store *s, const char *domain, int64_t begin,
			int64_t end, enum store_report_state state,
			const char *report_id, char *err, size_t errlen);

/*
 * store_run_lock - the report program's lock on the database, held until
 * store_close(): *got false when another run holds it (SQLite: flock of
 * PATH-report.lock; PostgreSQL: a session advisory lock).
 */
int store_run_lock(struct store *s, bool *got, char *err, size_t errlen);

/*
 * store_dest_sent - whether the report of (domain, begin) was sent to
 * dest (an address) by an earlier run: *sent. store_mark_dest records
 * that it was, at once after each send, so that the retry of a report
 * that failed for another destination, or after a crash, does not send
 * it to this one again.
 */
int store_dest_sent(struct store *s, const char *domain, int64_t begin,
		    const char *dest, bool *sent, char *err, size_t errlen);
int store_mark_dest(struct store *s, const char *domain, int64_t begin,
		    const char *dest, char *err, size_t errlen);

/*
 * store_purge - delete rows and report marks of periods reported more
 * than days ago (and unreported rows older than 2 x days). *deleted gets
 * the number of rows deleted.
 */
int store_purge(struct store *s, int64_t now, unsigned int days,
		uint64_t *deleted, char *err, size_t errlen);

/* The report program's counters, kept in the database. */
enum store_counter {
	STORE_CNT_SENT = 0, /* report messages handed to the MTA */
	STORE_CNT_FAILED,   /* report messages the MTA refused (retried) */
	STORE_CNT_SKIPPED,  /* rua destinations not verified (RFC 9990 4) or
			     * malformed or past ReportMaxURIs */
	STORE_CNT_N
};

/*
 * store_count_add - add n to a report counter (the report program, each
 * run). store_counts - read all of them into v[STORE_CNT_N] (the daemon
 * shows them as authmilter_reports_total{outcome}).
 */
int store_count_add(struct store *s, enum store_counter which, uint64_t n,
		    char *err, size_t errlen);
int store_counts(struct store *s, uint64_t v[STORE_CNT_N], char *err,
		 size_t errlen);

#endif
