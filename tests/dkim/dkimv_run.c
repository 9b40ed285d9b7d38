/* SPDX-License-Identifier: BSD-2-Clause */
/* dkimv_run - run the dkim check on one message file, as the milter does */
/*
 * Usage: dkimv_run [-m MAXSIGS] [-k MINBITS] [-t TIMEOUT_S] [-c CHUNK]
 *                  [-p PAUSE_MS] [-s] [-l] MESSAGE
 *
 * Resolves through AM_TEST_DNS (forward mode). The message is split into
 * headers and body; each header goes to on_header as libmilter with
 * SMFIP_HDR_LEADSPC passes it (name; value after the colon with its
 * leading space, folded lines joined with LF, no CR), the body goes to
 * on_body in CRLF form in chunks of CHUNK octets (default 65535, the
 * milter maximum); -l leaves the body's line ends as they are in the
 * file; -s passes header values without their leading space and sets
 * conn.hdr_trimmed (no SMFIP_HDR_LEADSPC); -p sleeps PAUSE_MS after the
 * headers, as a slow DATA transfer would. Then finish() and report()
 * run and the driver prints:
 *
 *   TIME\t<epoch s after the headers>\t<epoch s when finish starts>
 *   SIG\t<result>\t<d>\t<s>\t<a>\t<b>\t<why>\t<keybits>   (per signature)
 *   AUTH\t<done>\t<n>\t<result>:<domain>:<selector>...     (msg->auth)
 *   OUTCOME\t<result>\t<action>\t<why>
 *   AR\t<Authentication-Results value, unfolded>
 *   LOG\t<the dkim log field>
 *
 * Every network value is escaped with log_escape. Exit 0, or 2 on a
 * usage or internal error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "amerr.h"
#include "authres.h"
#include "check.h"
#include "conf.h"
#include "dkimv.h"
#include "dns.h"
#include "log.h"
#include "session.h"

static char logfield[1024];
static int trim_values; /* -s */

static double
epoch(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void
sink_logf(struct check_report *r, const char *key, const char *value)
{
	(void)r;
	if (strcmp(key, "dkim") == 0)
		snprintf(logfield, sizeof logfield, "%s", value);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *nb;

			cap = (n + 4096 + 1) * 2;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, 4096, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Length of the line at p (without its end) and of its line end. */
static size_t
line_at(const char *p, const char *end, size_t *eol)
{
	const char *q = p;

	while (q < end && *q != '\n')
		q++;
	*eol = q < end ? 1 : 0;
	if (q > p && q[-1] == '\r') {
		q--;
		(*eol)++;
	}
	return (size_t)(q - p);
}

static int
feed_headers(struct conn *c, struct msg *m, struct check_slot *ms,
	     const char **pp, const char *end)
{
	const char *p = *pp;
	int rc = 0;

	while (p < end) {
		size_t eol, n = line_at(p, end, &eol);
		char name[256];
		char *value;
		size_t vlen, cap;
		const char *colon;

		if (n == 0) { /* end of headers */
			p += eol;
			break;
		}
		colon = memchr(p, ':', n);
		if (colon == NULL || (size_t)(colon - p) >= sizeof name) {
			fprintf(stderr, "dkimv_run: bad header line\n");
			return 2;
		}
		memcpy(name, p, (size_t)(colon - p));
		name[colon - p] = '\0';
		cap = 1024;
		value = malloc(cap);
		if (value == NULL)
			return 2;
		vlen = n - (size_t)(colon + 1 - p);
		if (vlen + 1 > cap) {
			cap = vlen + 1024;
			value = realloc(value, cap);
			if (value == NULL)
				return 2;
		}
		memcpy(value, colon + 1, vlen);
		if (trim_values && vlen > 0 && value[0] == ' ')
			memmove(value, value + 1, --vlen);
		p += n + eol;
		/* continuation lines: joined with LF, as libmilter passes */
		while (p < end && (*p == ' ' || *p == '\t')) {
			size_t e2, n2 = line_at(p, end, &e2);

			if (vlen + 1 + n2 + 1 > cap) {
				cap = vlen + n2 + 1024;
				value = realloc(value, cap);
				if (value == NULL)
					return 2;
			}
			value[vlen++] = '\n';
			memcpy(value + vlen, p, n2);
			vlen += n2;
			p += n2 + e2;
		}
		value[vlen] = '\0';
		m->nheaders++;
		rc = dkimv_ops.on_header(c, m, ms, name, value);
		free(value);
		if (rc < 0) {
			fprintf(stderr, "dkimv_run: on_header: %s\n",
				am_strerror(rc));
			return 2;
		}
	}
	*pp = p;
	return 0;
}

static int
feed_body(struct conn *c, struct msg *m, struct check_slot *ms,
	  const char *p, const char *end, size_t chunk, int raw)
{
	char *body;
	size_t n = 0;
	int rc;

	/* the MTA hands the body over with CRLF line ends */
	body = malloc(2 * (size_t)(end - p) + 1);
	if (body == NULL)
		return 2;
	for (; p < end; p++) {
		if (!raw && *p == '\n' && (n == 0 || body[n - 1] != '\r'))
			body[n++] = '\r';
		body[n++] = *p;
	}
	for (size_t off = 0; off < n; off += chunk) {
		size_t len = n - off < chunk ? n - off : chunk;

		rc = dkimv_ops.on_body(c, m, ms,
				       (const unsigned char *)body + off, len);
		if (rc < 0) {
			fprintf(stderr, "dkimv_run: on_body: %s\n",
				am_strerror(rc));
			free(body);
			return 2;
		}
	}
	free(body);
	return 0;
}

int
main(int argc, char **argv)
{
	struct conf conf;
	struct conn conn;
	struct msg msg;
	struct check_slot *ms;
	struct check_outcome out;
	struct check_report rep;
	struct dns_options dopt;
	struct timespec deadline;
	char err[256], esc[6][1024];
	const char *dns = getenv("AM_TEST_DNS");
	unsigned int maxsigs = 5, minbits = 1024, timeout = 5, pause_ms = 0;
	size_t chunk = 65535, len = 0;
	int raw = 0, trimmed = 0, opt, rc = 2;
	char *text = NULL, *arv = NULL;
	const char *p, *end;
	double t_hdr, t_fin;

	while ((opt = getopt(argc, argv, "m:k:t:c:p:sl")) != -1) {
		switch (opt) {
		case 'm': maxsigs = (unsigned int)atoi(optarg); break;
		case 'k': minbits = (unsigned int)atoi(optarg); break;
		case 't': timeout = (unsigned int)atoi(optarg); break;
		case 'c': chunk = (size_t)atol(optarg); break;
		case 'p': pause_ms = (unsigned int)atoi(optarg); break;
		case 's': trimmed = 1; break;
		case 'l': raw = 1; break;
		default: return 2;
		}
	}
	if (optind + 1 != argc || dns == NULL || chunk == 0) {
		fprintf(stderr, "usage: AM_TEST_DNS=ADDR@PORT dkimv_run "
			"[-m max] [-k bits] [-t s] [-c chunk] [-p ms] [-s] [-l] FILE\n");
		return 2;
	}
	memset(&conn, 0, sizeof conn);
	memset(&msg, 0, sizeof msg);
	log_open(true, false);
	log_setup(LOG_L_WARNING, LOG_F_TEXT);
	memset(&dopt, 0, sizeof dopt);
	dopt.mode = DNS_MODE_FORWARD;
	dopt.forward = dns;
	if (dns_init(&dopt, err, sizeof err) < 0) {
		fprintf(stderr, "dkimv_run: dns_init: %s\n", err);
		return 2;
	}
	if (dkimv_init() < 0) {
		fprintf(stderr, "dkimv_run: dkimv_init failed\n");
		goto out;
	}
	text = slurp(argv[optind], &len);
	if (text == NULL) {
		perror(argv[optind]);
		goto out;
	}
	memset(&conf, 0, sizeof conf);
	conf.dkim_max_signatures = maxsigs;
	conf.dkim_min_key_bits = minbits;
	conf.dns_timeout = timeout;
	conf.authserv_id = "mx.example.org";
	conn.conf = &conf;
	conn.hdr_trimmed = trimmed;
	trim_values = trimmed;
	snprintf(conn.sid, sizeof conn.sid, "test");
	conn.dns = dns_set_new(conn.sid);
	if (conn.dns == NULL)
		goto out;
	conn.msg = &msg;
	ms = &msg.slot[0];

	p = text;
	end = text + len;
	if (feed_headers(&conn, &msg, ms, &p, end) != 0)
		goto out;
	t_hdr = epoch();
	if (dkimv_ops.on_eoh(&conn, &msg, ms) < 0)
		goto out;
	if (pause_ms > 0) {
		struct timespec ts = {pause_ms / 1000,
				      (long)(pause_ms % 1000) * 1000000L};

		nanosleep(&ts, NULL);
	}
	if (feed_body(&conn, &msg, ms, p, end, chunk, raw) != 0)
		goto out;
	t_fin = epoch();
	dns_deadline(&deadline, timeout * 1000U);
	memset(&out, 0, sizeof out);
	if (dkimv_ops.finish(&conn, &msg, NULL, ms, &deadline, &out) < 0) {
		fprintf(stderr, "dkimv_run: finish failed\n");
		goto out;
	}
	/* idempotent: a second call gives the same outcome */
	{
		struct check_outcome again;

		memset(&again, 0, sizeof again);
		if (dkimv_ops.finish(&conn, &msg, NULL, ms, &deadline,
				     &again) < 0 ||
		    again.result != out.result) {
			fprintf(stderr, "dkimv_run: finish not idempotent\n");
			goto out;
		}
	}
	printf("TIME\t%.6f\t%.6f\n", t_hdr, t_fin);
	for (size_t i = 0; i < dkimv_result_count(ms); i++) {
		const struct dkimv_result *r = dkimv_result_get(ms, i);

		printf("SIG\t%s\t%s\t%s\t%s\t%s\t%s\t%u\n",
		       am_result_str(r->result),
		       log_escape(r->domain, sizeof r->domain, esc[0], 1024),
		       log_escape(r->selector, sizeof r->selector, esc[1],
				  1024),
		       log_escape(r->alg, sizeof r->alg, esc[2], 1024),
		       log_escape(r->b, sizeof r->b, esc[3], 1024),
		       log_escape(r->why, sizeof r->why, esc[4], 1024),
		       r->keybits);
	}
	printf("AUTH\t%d\t%zu", msg.auth.dkim_done, msg.auth.ndkim);
	for (size_t i = 0; i < msg.auth.ndkim; i++)
		printf("\t%s:%s:%s", am_result_str(msg.auth.dkim[i].result),
		       log_escape(msg.auth.dkim[i].domain, 256, esc[0], 1024),
		       log_escape(msg.auth.dkim[i].selector, 128, esc[1],
				  1024));
	printf("\n");
	printf("OUTCOME\t%s\t%s\t%s\n", am_result_str(out.result),
	       am_action_str(out.action),
	       log_escape(out.why, sizeof out.why, esc[0], 1024));
	memset(&rep, 0, sizeof rep);
	rep.ar = authres_new(conf.authserv_id);
	rep.logf = sink_logf;
	if (rep.ar == NULL)
		goto out;
	dkimv_ops.report(&conn, &msg, NULL, ms, &out, &rep);
	arv = authres_render(rep.ar);
	authres_free(rep.ar);
	if (arv == NULL)
		goto out;
	/* unfold: drop the LF of each "\n\t" */
	printf("AR\t");
	for (const char *s = arv; *s != '\0'; s++)
		if (*s != '\n')
			putchar(*s);
	printf("\n");
	printf("LOG\t%s\n", log_escape(logfield, sizeof logfield, esc[0],
				       1024));
	rc = 0;
out:
	fflush(stdout);
	free(arv);
	free(text);
	if (dkimv_ops.msg_free != NULL)
		dkimv_ops.msg_free(&msg.slot[0]);
	dns_set_free(conn.dns);
	dkimv_shutdown();
	dns_shutdown();
	return rc;
}
