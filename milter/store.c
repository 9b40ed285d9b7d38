/* SPDX-License-Identifier: BSD-2-Clause */
/* store - the DMARC history schema and its SQL, over two backends */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "amerr.h"
#include "store.h"
#include "store_backend.h"

#define STORE_NAME 512	 /* the database's name in messages */
#define STORE_DKIM 12288 /* the canonical DKIM list of one row */
#define STORE_LIBERR 384 /* a backend's message */
#define STORE_NCOL 26	 /* columns of a row, id aside */

struct store {
	const struct store_ops *ops; /* the backend */
	void *db;		     /* its connection; owned */
	char name[STORE_NAME];	     /* URI without a password */
};

/* The columns of authmilter_history, in the order of row_vals(). */
#define COLS                                                                   \
	"time, reporter, source_ip, header_from, envelope_from, "              \
	"envelope_to, policy_domain, p, sp, np, adkim, aspf, testing, psd, "   \
	"discovery_walk, dmarc, dkim_aligned, spf_aligned, disposition, "      \
	"overrides, override_comment, spf_domain, spf_helo, spf, "             \
	"dkim_omitted, dkim"

/*
 * What makes two rows the same <record>: every column but id, time and
 * reporter (a fleet's report sums its MTAs).
 */
#define GROUP_COLS                                                             \
	"source_ip, header_from, envelope_from, envelope_to, policy_domain, "  \
	"p, sp, np, adkim, aspf, testing, psd, discovery_walk, dmarc, "        \
	"dkim_aligned, spf_aligned, disposition, overrides, "                  \
	"override_comment, spf_domain, spf_helo, spf, dkim_omitted, dkim"

static const char sql_insert[] =
    "INSERT INTO authmilter_history (" COLS ") VALUES ($1, $2, $3, $4, $5, "
    "$6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, "
    "$21, $22, $23, $24, $25, $26)";

static const char sql_groups[] =
    "SELECT MIN(time), " GROUP_COLS ", COUNT(*) FROM authmilter_history "
    "WHERE policy_domain = $1 AND time >= $2 AND time < $3 GROUP BY " GROUP_COLS
    " ORDER BY COUNT(*) DESC, source_ip, header_from, envelope_from, "
    "envelope_to, dkim, spf_domain, spf, spf_helo, disposition, overrides, "
    "override_comment, p, sp, np, adkim, aspf, testing, psd, dmarc, "
    "dkim_aligned, spf_aligned, dkim_omitted, discovery_walk LIMIT $4";

static const char sql_domains[] =
    "SELECT DISTINCT policy_domain FROM authmilter_history h "
    "WHERE time >= $1 AND time < $2 AND NOT EXISTS (SELECT 1 FROM "
    "authmilter_reports r WHERE r.domain = h.policy_domain AND "
    "r.period_begin = $1 AND r.state = 2) ORDER BY policy_domain";

static const char sql_state[] =
    "SELECT state, report_id FROM authmilter_reports "
    "WHERE domain = $1 AND period_begin = $2";

static const char sql_mark[] =
    "INSERT INTO authmilter_reports (domain, period_begin, period_end, "
    "state, report_id, updated) VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT (domain, period_begin) DO UPDATE SET "
    "period_end = excluded.period_end, state = excluded.state, "
    "report_id = excluded.report_id, updated = excluded.updated";

static const char sql_purge_old[] =
    "DELETE FROM authmilter_history WHERE time < $1";

static const char sql_purge_sent[] =
    "DELETE FROM authmilter_history WHERE EXISTS (SELECT 1 FROM "
    "authmilter_reports r WHERE r.domain = authmilter_history.policy_domain "
    "AND authmilter_history.time >= r.period_begin AND "
    "authmilter_history.time < r.period_end AND r.state = 2 AND "
    "r.updated < $1)";

static const char sql_purge_marks[] =
    "DELETE FROM authmilter_reports WHERE period_end <= $1";

static const char sql_purge_dests[] =
    "DELETE FROM authmilter_report_dests WHERE period_begin < $1";

static const char sql_dest_sent[] =
    "SELECT 1 FROM authmilter_report_dests WHERE domain = $1 AND "
    "period_begin = $2 AND dest = $3";

static const char sql_mark_dest[] =
    "INSERT INTO authmilter_report_dests (domain, period_begin, dest, "
    "sent) VALUES ($1, $2, $3, $4) ON CONFLICT (domain, period_begin, "
    "dest) DO NOTHING";

static const char sql_count_add[] =
    "INSERT INTO authmilter_counters (counter, value) VALUES ($1, $2) "
    "ON CONFLICT (counter) DO UPDATE SET "
    "value = authmilter_counters.value + excluded.value";

static const char sql_counts[] = "SELECT counter, value FROM "
				 "authmilter_counters";

/* Schema version 1; "%s" stands for the backend's row id declaration. */
static const char *const schema_v1[] = {
    "CREATE TABLE IF NOT EXISTS authmilter_history ("
    "id %s, time BIGINT NOT NULL, reporter TEXT NOT NULL, "
    "source_ip TEXT NOT NULL, header_from TEXT NOT NULL, "
    "envelope_from TEXT NOT NULL, envelope_to TEXT NOT NULL, "
    "policy_domain TEXT NOT NULL, p INTEGER NOT NULL, sp INTEGER NOT NULL, "
    "np INTEGER NOT NULL, adkim INTEGER NOT NULL, aspf INTEGER NOT NULL, "
    "testing INTEGER NOT NULL, psd INTEGER NOT NULL, "
    "discovery_walk INTEGER NOT NULL, dmarc INTEGER NOT NULL, "
    "dkim_aligned INTEGER NOT NULL, spf_aligned INTEGER NOT NULL, "
    "disposition INTEGER NOT NULL, overrides INTEGER NOT NULL, "
    "override_comment TEXT NOT NULL, spf_domain TEXT NOT NULL, "
    "spf_helo INTEGER NOT NULL, spf INTEGER NOT NULL, "
    "dkim_omitted INTEGER NOT NULL, dkim TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS authmilter_history_domain_time ON "
    "authmilter_history (policy_domain, time)",
    "CREATE INDEX IF NOT EXISTS authmilter_history_time ON "
    "authmilter_history (time)",
    "CREATE TABLE IF NOT EXISTS authmilter_reports ("
    "domain TEXT NOT NULL, period_begin BIGINT NOT NULL, "
    "period_end BIGINT NOT NULL, state INTEGER NOT NULL, "
    "report_id TEXT NOT NULL, updated BIGINT NOT NULL, "
    "PRIMARY KEY (domain, period_begin))",
    "CREATE TABLE IF NOT EXISTS authmilter_counters ("
    "counter INTEGER PRIMARY KEY, value BIGINT NOT NULL)",
    NULL,
};

/* Version 2: the destinations each report was sent to. */
static const char *const schema_v2[] = {
    "CREATE TABLE IF NOT EXISTS authmilter_report_dests ("
    "domain TEXT NOT NULL, period_begin BIGINT NOT NULL, "
    "dest TEXT NOT NULL, sent BIGINT NOT NULL, "
    "PRIMARY KEY (domain, period_begin, dest))",
    NULL,
};

/* Migrations: migrations[v - 1] brings version v - 1 to v. */
static const char *const *const migrations[STORE_SCHEMA_VERSION] = {
    schema_v1,
    schema_v2,
};

static struct store_val
vi(int64_t i)
{
	struct store_val v = {.is_int = true, .i = i, .s = NULL};
	return v;
}

static struct store_val
vs(const char *s)
{
	struct store_val v = {.is_int = false, .i = 0, .s = s};
	return v;
}

/*
 * safe_name - the URI for messages: a PostgreSQL URI loses the password
 * of its user-info and any password= parameter.
 */
static void
safe_name(const char *uri, char *out, size_t outlen)
{
	const char *p = strstr(uri, "://");
	const char *q, *at, *colon, *end;
	size_t o = 0;

	if (strncmp(uri, "sqlite:", 7) == 0 || p == NULL) {
		snprintf(out, outlen, "%s", uri);
		return;
	}
	p += 3;
	q = strchr(p, '?');
	end = q != NULL ? q : p + strlen(p);
	at = NULL;
	for (const char *c = p; c < end; c++)
		if (*c == '@')
			at = c;
	colon = at != NULL ? memchr(p, ':', (size_t)(at - p)) : NULL;
	/* scheme and user name */
	o = (size_t)snprintf(
	    out, outlen, "%.*s",
	    (int)((colon != NULL ? colon : (at != NULL ? at : p)) - uri), uri);
	if (colon != NULL && o < outlen)
		o += (size_t)snprintf(out + o, outlen - o, ":xxx");
	if (o < outlen)
		o += (size_t)snprintf(out + o, outlen - o, "%.*s",
				      (int)(end - (at != NULL ? at : p)),
				      at != NULL ? at : p);
	if (q == NULL)
		return;
	/* the parameters, password= aside */
	char sep = '?';
	for (const char *k = q + 1; *k != '\0' && o < outlen;) {
		const char *amp = strchr(k, '&');
		size_t len = amp != NULL ? (size_t)(amp - k) : strlen(k);

		if (strncasecmp(k, "password=", 9) != 0 && len > 0) {
			o += (size_t)snprintf(out + o, outlen - o, "%c%.*s",
					      sep, (int)len, k);
			sep = '&';
		}
		k += len + (amp != NULL);
	}
}

/* replace - every needle in buf (of size) becomes with, bounded. */
static void
replace(char *buf, size_t size, const char *needle, size_t nlen,
	const char *with)
{
	char out[STORE_LIBERR * 2];
	size_t o = 0;
	const char *p = buf, *hit;

	if (nlen == 0)
		return;
	while ((hit = strstr(p, needle)) != NULL && o < sizeof out) {
		o += (size_t)snprintf(out + o, sizeof out - o, "%.*s%s",
				      (int)(hit - p), p, with);
		p = hit + nlen;
	}
	if (p == buf)
		return;
	if (o < sizeof out)
		snprintf(out + o, sizeof out - o, "%s", p);
	o = strnlen(out, sizeof out - 1);
	if (o >= size)
		o = size - 1;
	memcpy(buf, out, o);
	buf[o] = '\0';
}

/*
 * scrub - a library's message about uri without its password: libpq
 * quotes a URI it cannot parse whole.
 */
static void
scrub(char *buf, size_t size, const char *uri, const char *name)
{
	const char *p = strstr(uri, "://");
	const char *end, *at = NULL, *colon, *k;

	replace(buf, size, uri, strlen(uri), name);
	if (p == NULL)
		return;
	p += 3;
	end = p + strcspn(p, "?");
	for (const char *c = p; c < end; c++)
		if (*c == '@')
			at = c;
	colon = at != NULL ? memchr(p, ':', (size_t)(at - p)) : NULL;
	if (colon != NULL) {
		char pw[STORE_NAME];

		snprintf(pw, sizeof pw, "%.*s", (int)(at - colon - 1),
			 colon + 1);
		replace(buf, size, pw, strlen(pw), "xxx");
	}
	for (k = end; (k = strcasestr(k, "password=")) != NULL;) {
		char pw[STORE_NAME];

		k += 9;
		snprintf(pw, sizeof pw, "%.*s", (int)strcspn(k, "&"), k);
		replace(buf, size, pw, strlen(pw), "xxx");
	}
}

static int
fail(const struct store *s, int rc, const char *what, const char *lib,
     char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s: %s", s->name, what, lib);
	return rc;
}

static int
run(struct store *s, const char *what, const char *sql,
    const struct store_val *p, size_t np, store_row_fn fn, void *arg,
    uint64_t *changes, char *err, size_t errlen)
{
	char lib[STORE_LIBERR] = "";
	int rc =
	    s->ops->exec(s->db, sql, p, np, fn, arg, changes, lib, sizeof lib);

	if (rc != 0 && lib[0] != '\0')
		return fail(s, rc, what, lib, err, errlen);
	if (rc != 0)
		return fail(s, rc, what, am_strerror(rc), err, errlen);
	return 0;
}

static void
rollback(struct store *s)
{
	char lib[STORE_LIBERR];

	(void)s->ops->exec(s->db, "ROLLBACK", NULL, 0, NULL, NULL, NULL, lib,
			   sizeof lib);
}

static int
version_row(void *arg, const char *const *cols, size_t ncols)
{
	long *v = arg;

	if (ncols >= 1 && cols[0] != NULL)
		*v = strtol(cols[0], NULL, 10);
	return 0;
}

/* migrate - under the schema lock, bring the schema to our version. */
static int
migrate(struct store *s, char *err, size_t errlen)
{
	char ddl[2048];
	long v = 0;
	int rc = 0;

	for (size_t i = 0; s->ops->schema_begin[i] != NULL && rc == 0; i++)
		rc = run(s, "schema lock", s->ops->schema_begin[i], NULL, 0,
			 NULL, NULL, NULL, err, errlen);
	if (rc != 0)
		goto out;
	rc = run(s, "schema",
		 "CREATE TABLE IF NOT EXISTS authmilter_schema "
		 "(version INTEGER NOT NULL)",
		 NULL, 0, NULL, NULL, NULL, err, errlen);
	if (rc == 0)
		rc = run(s, "schema",
			 "SELECT MAX(version) FROM authmilter_schema", NULL, 0,
			 version_row, &v, NULL, err, errlen);
	if (rc != 0)
		goto out;
	if (v > STORE_SCHEMA_VERSION || v < 0) {
		snprintf(err, errlen,
			 "%s: schema version %ld is newer than this program's "
			 "(%d): refusing to use it (upgrade authmilter)",
			 s->name, v, STORE_SCHEMA_VERSION);
		rc = AM_EIO;
		goto out;
	}
	for (long to = v + 1; to <= STORE_SCHEMA_VERSION && rc == 0; to++)
		for (const char *const *st = migrations[to - 1];
		     *st != NULL && rc == 0; st++) {
			const char *id = strstr(*st, "%s");

			if (id != NULL)
				snprintf(ddl, sizeof ddl, "%.*s%s%s",
					 (int)(id - *st), *st, s->ops->id_decl,
					 id + 2);
			else
				snprintf(ddl, sizeof ddl, "%s", *st);
			rc = run(s, "schema", ddl, NULL, 0, NULL, NULL, NULL,
				 err, errlen);
		}
	if (rc == 0 && v == 0) {
		struct store_val p[] = {vi(STORE_SCHEMA_VERSION)};
		rc = run(s, "schema",
			 "INSERT INTO authmilter_schema (version) VALUES ($1)",
			 p, 1, NULL, NULL, NULL, err, errlen);
	} else if (rc == 0 && v < STORE_SCHEMA_VERSION) {
		struct store_val p[] = {vi(STORE_SCHEMA_VERSION)};
		rc = run(s, "schema",
			 "UPDATE authmilter_schema SET version = $1", p, 1,
			 NULL, NULL, NULL, err, errlen);
	}
	if (rc == 0)
		rc = run(s, "schema", "COMMIT", NULL, 0, NULL, NULL, NULL, err,
			 errlen);
out:
	if (rc != 0)
		rollback(s);
	return rc;
}

int
store_open(const char *uri, struct store **out, char *err, size_t errlen)
{
	struct store *s;
	char lib[STORE_LIBERR] = "";
	int rc;

	*out = NULL;
	if (uri == NULL) {
		snprintf(err, errlen, "no database");
		return AM_EINVAL;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return AM_ENOMEM;
	}
	safe_name(uri, s->name, sizeof s->name);
	if (strncmp(uri, "sqlite:", 7) == 0 && uri[7] == '/') {
		s->ops = &store_sqlite_ops;
		rc = store_sqlite_open(uri + 7, &s->db, lib, sizeof lib);
	} else if (strncmp(uri, "postgresql://", 13) == 0 ||
		   strncmp(uri, "postgres://", 11) == 0) {
		s->ops = &store_pg_ops;
		rc = store_pg_open(uri, &s->db, lib, sizeof lib);
	} else {
		snprintf(
		    err, errlen,
		    "%s: not a database (sqlite:/PATH or postgresql://...)",
		    s->name);
		free(s);
		return AM_EINVAL;
	}
	if (rc != 0) {
		scrub(lib, sizeof lib, uri, s->name);
		fail(s, rc, rc == AM_EINVAL ? "bad URI" : "cannot open", lib,
		     err, errlen);
		free(s);
		return rc;
	}
	rc = migrate(s, err, errlen);
	if (rc != 0) {
		store_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->db != NULL)
		s->ops->close(s->db);
	free(s);
}

int
store_run_lock(struct store *s, bool *got, char *err, size_t errlen)
{
	char e[512] = "";
	int rc = s->ops->run_lock(s->db, got, e, sizeof e);

	if (rc != 0)
		snprintf(err, errlen, "%s: report lock: %s", s->name, e);
	return rc;
}

const char *
store_kind(const struct store *s)
{
	return s->ops->kind;
}

int
store_check_uri(const char *uri, char *err, size_t errlen)
{
	char lib[STORE_LIBERR] = "", name[STORE_NAME];
	int rc = 0;

	if (uri == NULL) {
		snprintf(err, errlen, "no database");
		return AM_EINVAL;
	}
	safe_name(uri, name, sizeof name);
	if (strncmp(uri, "sqlite:", 7) == 0) {
		if (uri[7] != '/') {
			snprintf(err, errlen, "%s: not an absolute path", name);
			rc = AM_EINVAL;
		}
	} else if (strncmp(uri, "postgresql://", 13) == 0 ||
		   strncmp(uri, "postgres://", 11) == 0) {
		rc = store_pg_check(uri, lib, sizeof lib);
		if (rc != 0) {
			scrub(lib, sizeof lib, uri, name);
			snprintf(err, errlen, "%s: bad URI: %s", name, lib);
		}
	} else {
		snprintf(
		    err, errlen,
		    "%s: not a database (sqlite:/PATH or postgresql://...)",
		    name);
		rc = AM_EINVAL;
	}
	return rc;
}

/* utf8_ok - whether s is well-formed UTF-8 (RFC 3629). */
static bool
utf8_ok(const unsigned char *s)
{
	while (*s != '\0') {
		size_t n;
		unsigned int c = *s;

		if (c < 0x80)
			n = 0;
		else if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3;
		else
			return false;
		s++;
		for (size_t i = 0; i < n; i++, s++)
			if ((*s & 0xc0) != 0x80)
				return false;
	}
	return true;
}

/*
 * clean - a copy of in fit for a TEXT column: control octets become
 * '?', and so does every octet past ASCII unless the text is UTF-8 (a
 * PostgreSQL database refuses malformed UTF-8, and one refused row would
 * hold up its whole batch).
 */
static const char *
clean(const char *in, char *out, size_t outlen)
{
	bool utf8;
	size_t i;

	snprintf(out, outlen, "%s", in);
	utf8 = utf8_ok((const unsigned char *)out);
	for (i = 0; out[i] != '\0'; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
			out[i] = '?';
	}
	return out;
}

/* enc - append s percent-encoded (all but [A-Za-z0-9._-]). */
static size_t
enc(char *out, size_t o, size_t outlen, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0' && o + 4 < outlen; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return o;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * dkim_text - the canonical text of a row's DKIM results:
 * "DOMAIN/SELECTOR/RESULT/ALIGNED" entries, percent-encoded, sorted, and
 * joined by ",", so that the same set of results is the same text.
 */
static void
dkim_text(const struct history_row *r, char *out, size_t outlen)
{
	char e[HISTORY_MAX_DKIM]
	      [HISTORY_DOMAIN * 3 + HISTORY_SELECTOR * 3 + 32];
	unsigned int n =
	    r->ndkim < HISTORY_MAX_DKIM ? r->ndkim : HISTORY_MAX_DKIM;
	size_t o = 0;

	for (unsigned int i = 0; i < n; i++) {
		const struct history_dkim *d = &r->dkim[i];
		size_t k = enc(e[i], 0, sizeof e[i], d->domain);

		e[i][k++] = '/';
		k = enc(e[i], k, sizeof e[i], d->selector);
		snprintf(e[i] + k, sizeof e[i] - k, "/%d/%d", (int)d->result,
			 d->aligned ? 1 : 0);
	}
	qsort(e, n, sizeof e[0], cmp_str);
	out[0] = '\0';
	for (unsigned int i = 0; i < n && o < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%s",
				      i > 0 ? "," : "", e[i]);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* dec - percent-decode [s, end) into out (bounded). */
static void
dec(const char *s, const char *end, char *out, size_t outlen)
{
	size_t o = 0;

	while (s < end && o + 1 < outlen) {
		if (*s == '%' && end - s >= 3 && hexval(s[1]) >= 0 &&
		    hexval(s[2]) >= 0) {
			out[o++] = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 3;
		} else {
			out[o++] = *s++;
		}
	}
	out[o] = '\0';
}

/* dkim_parse - dkim_text() back into r->dkim[] and r->ndkim. */
static void
dkim_parse(const char *t, struct history_row *r)
{
	r->ndkim = 0;
	while (*t != '\0' && r->ndkim < HISTORY_MAX_DKIM) {
		struct history_dkim *d = &r->dkim[r->ndkim];
		const char *end = strchr(t, ',');
		const char *s1, *s2;

		if (end == NULL)
			end = t + strlen(t);
		s1 = memchr(t, '/', (size_t)(end - t));
		s2 = s1 != NULL ? memchr(s1 + 1, '/', (size_t)(end - s1 - 1))
				: NULL;
		if (s2 != NULL) {
			dec(t, s1, d->domain, sizeof d->domain);
			dec(s1 + 1, s2, d->selector, sizeof d->selector);
			d->result = (enum am_result)strtol(s2 + 1, NULL, 10);
			const char *s3 =
			    memchr(s2 + 1, '/', (size_t)(end - s2 - 1));
			d->aligned = s3 != NULL && s3[1] == '1';
			r->ndkim++;
		}
		t = *end == ',' ? end + 1 : end;
	}
}

/* Buffers for one row's cleaned texts. */
struct row_text {
	char reporter[HISTORY_DOMAIN];
	char source_ip[HISTORY_IP];
	char header_from[HISTORY_DOMAIN];
	char envelope_from[HISTORY_DOMAIN];
	char envelope_to[HISTORY_DOMAIN];
	char policy_domain[HISTORY_DOMAIN];
	char comment[sizeof((struct history_row *)0)->override_comment];
	char spf_domain[HISTORY_DOMAIN];
	char dkim[STORE_DKIM];
};

static void
row_vals(const struct history_row *r, struct row_text *t,
	 struct store_val v[STORE_NCOL])
{
	size_t i = 0;

	dkim_text(r, t->dkim, sizeof t->dkim);
	v[i++] = vi(r->time);
	v[i++] = vs(clean(r->reporter, t->reporter, sizeof t->reporter));
	v[i++] = vs(clean(r->source_ip, t->source_ip, sizeof t->source_ip));
	v[i++] =
	    vs(clean(r->header_from, t->header_from, sizeof t->header_from));
	v[i++] = vs(
	    clean(r->envelope_from, t->envelope_from, sizeof t->envelope_from));
	v[i++] =
	    vs(clean(r->envelope_to, t->envelope_to, sizeof t->envelope_to));
	v[i++] = vs(
	    clean(r->policy_domain, t->policy_domain, sizeof t->policy_domain));
	v[i++] = vi(r->p);
	v[i++] = vi(r->sp);
	v[i++] = vi(r->np);
	v[i++] = vi(r->adkim);
	v[i++] = vi(r->aspf);
	v[i++] = vi(r->testing);
	v[i++] = vi(r->psd);
	v[i++] = vi(r->discovery_walk);
	v[i++] = vi(r->dmarc);
	v[i++] = vi(r->dkim_aligned);
	v[i++] = vi(r->spf_aligned);
	v[i++] = vi(r->disposition);
	v[i++] = vi(r->overrides);
	v[i++] = vs(clean(r->override_comment, t->comment, sizeof t->comment));
	v[i++] = vs(clean(r->spf_domain, t->spf_domain, sizeof t->spf_domain));
	v[i++] = vi(r->spf_helo);
	v[i++] = vi(r->spf);
	v[i++] = vi(r->dkim_omitted);
	v[i++] = vs(t->dkim);
}

int
store_insert(struct store *s, const struct history_row *rows, size_t n,
	     char *err, size_t errlen)
{
	struct row_text *t;
	struct store_val v[STORE_NCOL];
	int rc;

	if (n == 0)
		return 0;
	t = malloc(sizeof *t);
	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return AM_ENOMEM;
	}
	rc = run(s, "insert", s->ops->begin_write, NULL, 0, NULL, NULL, NULL,
		 err, errlen);
	for (size_t i = 0; i < n && rc == 0; i++) {
		row_vals(&rows[i], t, v);
		rc = run(s, "insert", sql_insert, v, STORE_NCOL, NULL, NULL,
			 NULL, err, errlen);
	}
	if (rc == 0)
		rc = run(s, "insert", "COMMIT", NULL, 0, NULL, NULL, NULL, err,
			 errlen);
	if (rc != 0)
		rollback(s);
	free(t);
	return rc;
}

/* A growing array for the row callbacks. */
struct grow {
	void *v;     /* malloc'd */
	size_t n;    /* used */
	size_t cap;  /* allocated */
	size_t size; /* of one element */
};

static void *
grow_next(struct grow *g)
{
	if (g->n == g->cap) {
		size_t cap = g->cap == 0 ? 16 : g->cap * 2;
		void *nv = realloc(g->v, cap * g->size);

		if (nv == NULL)
			return NULL;
		g->v = nv;
		g->cap = cap;
	}
	return (char *)g->v + g->size * g->n++;
}

static int
domain_row(void *arg, const char *const *cols, size_t ncols)
{
	char *d;

	if (ncols < 1 || cols[0] == NULL)
		return 0;
	d = grow_next(arg);
	if (d == NULL)
		return AM_ENOMEM;
	snprintf(d, HISTORY_DOMAIN, "%s", cols[0]);
	return 0;
}

int
store_domains(struct store *s, int64_t begin, int64_t end,
	      char (**out)[HISTORY_DOMAIN], size_t *n, char *err, size_t errlen)
{
	struct grow g = {.size = HISTORY_DOMAIN};
	struct store_val p[] = {vi(begin), vi(end)};
	int rc = run(s, "domains", sql_domains, p, 2, domain_row, &g, NULL, err,
		     errlen);

	if (rc != 0) {
		free(g.v);
		g.v = NULL;
		g.n = 0;
	}
	*out = g.v;
	*n = g.n;
	return rc;
}

static int64_t
num(const char *s)
{
	return s != NULL ? strtoll(s, NULL, 10) : 0;
}

static const char *
txt(const char *s)
{
	return s != NULL ? s : "";
}

static int
group_row(void *arg, const char *const *c, size_t ncols)
{
	struct store_group *g;
	struct history_row *r;
	size_t i = 0;

	if (ncols != 26)
		return AM_ESTATE;
	g = grow_next(arg);
	if (g == NULL)
		return AM_ENOMEM;
	memset(g, 0, sizeof *g);
	r = &g->row;
	r->time = num(c[i++]);
	snprintf(r->source_ip, sizeof r->source_ip, "%s", txt(c[i++]));
	snprintf(r->header_from, sizeof r->header_from, "%s", txt(c[i++]));
	snprintf(r->envelope_from, sizeof r->envelope_from, "%s", txt(c[i++]));
	snprintf(r->envelope_to, sizeof r->envelope_to, "%s", txt(c[i++]));
	snprintf(r->policy_domain, sizeof r->policy_domain, "%s", txt(c[i++]));
	r->p = (enum dmarc_policy)num(c[i++]);
	r->sp = (enum dmarc_policy)num(c[i++]);
	r->np = (enum dmarc_policy)num(c[i++]);
	r->adkim = (enum dmarc_align)num(c[i++]);
	r->aspf = (enum dmarc_align)num(c[i++]);
	r->testing = num(c[i++]) != 0;
	r->psd = (enum dmarc_psd)num(c[i++]);
	r->discovery_walk = num(c[i++]) != 0;
	r->dmarc = (enum am_result)num(c[i++]);
	r->dkim_aligned = num(c[i++]) != 0;
	r->spf_aligned = num(c[i++]) != 0;
	r->disposition = (enum dmarc_policy)num(c[i++]);
	r->overrides = (unsigned int)num(c[i++]);
	snprintf(r->override_comment, sizeof r->override_comment, "%s",
		 txt(c[i++]));
	snprintf(r->spf_domain, sizeof r->spf_domain, "%s", txt(c[i++]));
	r->spf_helo = num(c[i++]) != 0;
	r->spf = (enum am_result)num(c[i++]);
	r->dkim_omitted = (unsigned int)num(c[i++]);
	dkim_parse(txt(c[i++]), r);
	g->count = (uint64_t)num(c[i++]);
	return 0;
}

int
store_groups(struct store *s, const char *domain, int64_t begin, int64_t end,
	     struct store_group **out, size_t *n, bool *truncated, char *err,
	     size_t errlen)
{
	struct grow g = {.size = sizeof(struct store_group)};
	/* one more than kept: whether there were more */
	struct store_val p[] = {vs(domain), vi(begin), vi(end),
				vi(STORE_MAX_GROUPS + 1)};
	int rc = run(s, "groups", sql_groups, p, 4, group_row, &g, NULL, err,
		     errlen);

	*truncated = false;
	if (rc != 0) {
		free(g.v);
		g.v = NULL;
		g.n = 0;
	} else if (g.n > STORE_MAX_GROUPS) {
		g.n = STORE_MAX_GROUPS;
		*truncated = true;
	}
	*out = g.v;
	*n = g.n;
	return rc;
}

struct state_arg {
	enum store_report_state *state;
	char *report_id;
};

static int
state_row(void *arg, const char *const *c, size_t ncols)
{
	struct state_arg *a = arg;
	int64_t st;

	if (ncols < 2)
		return AM_ESTATE;
	st = num(c[0]);
	*a->state = st == STORE_REPORT_SENT	? STORE_REPORT_SENT
		    : st == STORE_REPORT_FAILED ? STORE_REPORT_FAILED
						: STORE_REPORT_NEW;
	snprintf(a->report_id, STORE_REPORT_ID, "%s", txt(c[1]));
	return 0;
}

int
store_report_state(struct store *s, const char *domain, int64_t begin,
		   enum store_report_state *state, char *report_id, char *err,
		   size_t errlen)
{
	struct state_arg a = {state, report_id};
	struct store_val p[] = {vs(domain), vi(begin)};

	*state = STORE_REPORT_NEW;
	report_id[0] = '\0';
	return run(s, "report state", sql_state, p, 2, state_row, &a, NULL, err,
		   errlen);
}

int
store_mark_reported(struct store *s, const char *domain, int64_t begin,
		    int64_t end, enum store_report_state state,
		    const char *report_id, char *err, size_t errlen)
{
	struct store_val p[] = {vs(domain),    vi(begin),
				vi(end),       vi(state),
				vs(report_id), vi((int64_t)time(NULL))};

	return run(s, "mark reported", sql_mark, p, 6, NULL, NULL, NULL, err,
		   errlen);
}

static int
dest_row(void *arg, const char *const *c, size_t ncols)
{
	(void)c;
	(void)ncols;
	*(bool *)arg = true;
	return 0;
}

int
store_dest_sent(struct store *s, const char *domain, int64_t begin,
		const char *dest, bool *sent, char *err, size_t errlen)
{
	struct store_val p[] = {vs(domain), vi(begin), vs(dest)};

	*sent = false;
	return run(s, "destination", sql_dest_sent, p, 3, dest_row, sent, NULL,
		   err, errlen);
}

int
store_mark_dest(struct store *s, const char *domain, int64_t begin,
		const char *dest, char *err, size_t errlen)
{
	struct store_val p[] = {vs(domain), vi(begin), vs(dest),
				vi((int64_t)time(NULL))};

	return run(s, "mark destination", sql_mark_dest, p, 4, NULL, NULL, NULL,
		   err, errlen);
}

int
store_purge(struct store *s, int64_t now, unsigned int days, uint64_t *deleted,
	    char *err, size_t errlen)
{
	struct store_val sent[] = {vi(now - (int64_t)days * 86400)};
	struct store_val old[] = {vi(now - 2 * (int64_t)days * 86400)};
	uint64_t a = 0, b = 0;
	int rc;

	*deleted = 0;
	rc = run(s, "purge", s->ops->begin_write, NULL, 0, NULL, NULL, NULL,
		 err, errlen);
	if (rc == 0)
		rc = run(s, "purge", sql_purge_old, old, 1, NULL, NULL, &a, err,
			 errlen);
	if (rc == 0)
		rc = run(s, "purge", sql_purge_sent, sent, 1, NULL, NULL, &b,
			 err, errlen);
	if (rc == 0)
		rc = run(s, "purge", sql_purge_marks, old, 1, NULL, NULL, NULL,
			 err, errlen);
	if (rc == 0)
		rc = run(s, "purge", sql_purge_dests, old, 1, NULL, NULL, NULL,
			 err, errlen);
	if (rc == 0)
		rc = run(s, "purge", "COMMIT", NULL, 0, NULL, NULL, NULL, err,
			 errlen);
	if (rc != 0)
		rollback(s);
	else
		*deleted = a + b;
	return rc;
}

int
store_count_add(struct store *s, enum store_counter which, uint64_t n,
		char *err, size_t errlen)
{
	struct store_val p[] = {vi(which), vi((int64_t)n)};

	if ((unsigned int)which >= STORE_CNT_N) {
		snprintf(err, errlen, "%s: no counter %d", s->name, (int)which);
		return AM_EINVAL;
	}
	return run(s, "counters", sql_count_add, p, 2, NULL, NULL, NULL, err,
		   errlen);
}

static int
count_row(void *arg, const char *const *c, size_t ncols)
{
	uint64_t *v = arg;
	int64_t which;

	if (ncols < 2)
		return AM_ESTATE;
	which = num(c[0]);
	if (which >= 0 && which < STORE_CNT_N)
		v[which] = (uint64_t)num(c[1]);
	return 0;
}

int
store_counts(struct store *s, uint64_t v[STORE_CNT_N], char *err, size_t errlen)
{
	for (int i = 0; i < STORE_CNT_N; i++)
		v[i] = 0;
	return run(s, "counters", sql_counts, NULL, 0, count_row, v, NULL, err,
		   errlen);
}
