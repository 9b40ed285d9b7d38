/*
 * conntest - shared scaffolding for the connection-check unit tests
 *
 * Builds a config snapshot from "Key=Value" strings (conf_load() on an
 * empty file plus overrides), a struct conn for a client IP and HELO, a
 * struct msg for a MAIL FROM address, and report sinks that collect the
 * X-Authmilter items and log fields into strings. ct_capture_start()/
 * ct_capture_end() redirect stderr (where log.c writes) into a buffer so
 * that log lines can be asserted. The DNS engine is started in forward
 * mode to AM_TEST_DNS (tests/dnsd/with-dnsd.sh sets it).
 *
 * Ownership: ct_conn_free() frees what ct_conn() and ct_msg() made.
 * Threads: single-threaded tests.
 */
#ifndef AM_CONNTEST_H
#define AM_CONNTEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "authres.h"
#include "check.h"
#include "conf.h"
#include "dns.h"
#include "dnstest.h"
#include "log.h"
#include "session.h"

static bool ct_have_dns;

#define CT_NEED_DNS()                                                       \
	do {                                                                \
		if (!ct_have_dns) {                                         \
			print_message("AM_TEST_DNS not set: run through "   \
				      "tests/dnsd/with-dnsd.sh\n");         \
			skip();                                             \
		}                                                           \
	} while (0)

static inline int
ct_setup(void **state)
{
	int rc;

	(void)state;
	log_open(true, false);
	log_setup(LOG_L_INFO, LOG_F_TEXT);
	rc = dnstest_init();
	ct_have_dns = rc == 1;
	return rc < 0 ? -1 : 0;
}

static inline int
ct_teardown(void **state)
{
	(void)state;
	if (ct_have_dns)
		dns_shutdown();
	return 0;
}

/* A snapshot from NULL-terminated "Key=Value" strings; fails the test
 * if the configuration does not load. */
static inline struct conf *
ct_conf(const char *const *kv)
{
	struct conf_override ov[32] = {{0}};
	char keys[32][64] = {{0}};
	size_t n = 0;
	struct conf *cf;

	for (; kv != NULL && kv[n] != NULL; n++) {
		const char *eq = strchr(kv[n], '=');

		assert_true(n < 32);
		assert_non_null(eq);
		assert_true((size_t)(eq - kv[n]) < sizeof keys[n]);
		memcpy(keys[n], kv[n], (size_t)(eq - kv[n]));
		keys[n][eq - kv[n]] = '\0';
		ov[n].key = keys[n];
		ov[n].value = eq + 1;
	}
	cf = conf_load("/dev/null", ov, n, stderr);
	assert_non_null(cf);
	return cf;
}

/* A connection from ip (v4 or v6 text) that said helo (or NULL). */
static inline void
ct_conn(struct conn *c, struct conf *cf, const char *ip, const char *helo)
{
	memset(c, 0, sizeof *c);
	c->conf = cf;
	snprintf(c->sid, sizeof c->sid, "test");
	c->dns = dns_set_new("test");
	assert_non_null(c->dns);
	if (ip != NULL && inet_pton(AF_INET, ip, &c->addr.v4) == 1)
		c->family = AF_INET;
	else if (ip != NULL && inet_pton(AF_INET6, ip, &c->addr.v6) == 1)
		c->family = AF_INET6;
	snprintf(c->ip, sizeof c->ip, "%s", ip != NULL ? ip : "");
	c->helo = helo != NULL ? strdup(helo) : NULL;
	c->our_name = strdup("smtp.ours.test");
}

/* A message from the envelope sender from ("" for the null sender). */
static inline void
ct_msg(struct msg *m, const char *from)
{
	const char *at = strrchr(from, '@');

	memset(m, 0, sizeof *m);
	m->mail_from = strdup(from);
	m->null_sender = from[0] == '\0';
	if (at != NULL) {
		m->mail_domain = strdup(at + 1);
		for (char *p = m->mail_domain; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	}
}

static inline void
ct_msg_free(struct msg *m)
{
	free(m->mail_from);
	free(m->mail_domain);
	memset(m, 0, sizeof *m);
}

static inline void
ct_conn_free(struct conn *c)
{
	dns_set_free(c->dns);
	free(c->helo);
	free(c->our_name);
	memset(c, 0, sizeof *c);
}

/* Report sinks: "key=value;" items appended to strings. */
struct ct_report {
	struct check_report r; /* first: the sinks get &r */
	char xauth[2048];
	char logs[2048];
};

static inline void
ct_append(char *buf, size_t size, const char *key, const char *value)
{
	size_t len = strlen(buf);

	snprintf(buf + len, size - len, "%s=%s;", key, value);
}

static inline void
ct_sink_xauth(struct check_report *r, const char *key, const char *value)
{
	struct ct_report *cr = (struct ct_report *)r;

	ct_append(cr->xauth, sizeof cr->xauth, key, value);
}

static inline void
ct_sink_log(struct check_report *r, const char *key, const char *value)
{
	struct ct_report *cr = (struct ct_report *)r;

	ct_append(cr->logs, sizeof cr->logs, key, value);
}

static inline void
ct_report_init(struct ct_report *cr, struct authres *ar)
{
	memset(cr, 0, sizeof *cr);
	cr->r.ar = ar;
	cr->r.xauth = ct_sink_xauth;
	cr->r.logf = ct_sink_log;
}

/* Capture stderr (log lines) into a temporary file. */
struct ct_capture {
	int saved;
	FILE *tmp;
};

static inline void
ct_capture_start(struct ct_capture *cap)
{
	fflush(stderr);
	cap->tmp = tmpfile();
	assert_non_null(cap->tmp);
	cap->saved = dup(STDERR_FILENO);
	assert_true(cap->saved >= 0);
	assert_true(dup2(fileno(cap->tmp), STDERR_FILENO) >= 0);
}

/* Stop capturing; what was written, in out. */
static inline void
ct_capture_end(struct ct_capture *cap, char *out, size_t outlen)
{
	size_t n;

	fflush(stderr);
	dup2(cap->saved, STDERR_FILENO);
	close(cap->saved);
	rewind(cap->tmp);
	n = fread(out, 1, outlen - 1, cap->tmp);
	out[n] = '\0';
	fclose(cap->tmp);
}

/* Whether the dnsd query log (AM_TEST_DNS_QLOG) shows a query for
 * name (lower case) of type. */
static inline bool
ct_queried(const char *name, const char *type)
{
	const char *path = getenv("AM_TEST_DNS_QLOG");
	char line[1024], want[600];
	bool seen = false;
	FILE *fp;

	if (path == NULL || (fp = fopen(path, "r")) == NULL)
		return false;
	snprintf(want, sizeof want, " %s %s ", name, type);
	while (fgets(line, sizeof line, fp) != NULL)
		if (strstr(line, want) != NULL)
			seen = true;
	fclose(fp);
	return seen;
}

/* ct_queried, polling for up to ms milliseconds (dnsd logs a query
 * when it answers, which may be a moment after our side moved on). */
static inline bool
ct_wait_queried(const char *name, const char *type, unsigned int ms)
{
	struct timespec nap = {0, 20 * 1000000L};

	for (unsigned int t = 0; t <= ms; t += 20) {
		if (ct_queried(name, type))
			return true;
		nanosleep(&nap, NULL);
	}
	return false;
}

#endif
