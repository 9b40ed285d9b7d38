/* SPDX-License-Identifier: BSD-2-Clause */
/* explain_main - authmilter-explain: one message through the checks */
/*
 * authmilter-explain runs one message and its envelope through the very
 * same check table (check.c), DNS engine (dns.c), policy and rendering
 * (engine.c, policy.c, authres.c) as the daemon's milter callbacks, in
 * the same phase order and with the same decision points, and prints
 * every DNS query, every check result, the verdict and the headers that
 * would be added. See docs/authmilter-explain.1 for options and exit
 * status (EXPLAIN_EXIT_*).
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "amerr.h"
#include "authres.h"
#include "check.h"
#include "cidr.h"
#include "conf.h"
#include "dkimv.h"
#include "dns.h"
#include "engine.h"
#include "log.h"
#include "policy.h"
#include "session.h"

/* Exit status: the verdict, or sysexits(3) codes for errors. */
#define EXPLAIN_EXIT_ACCEPT 0     /* accept or tag */
#define EXPLAIN_EXIT_REJECT 1
#define EXPLAIN_EXIT_TEMPFAIL 2
#define EXPLAIN_EXIT_QUARANTINE 3
#define EXPLAIN_EXIT_USAGE 64     /* EX_USAGE */
#define EXPLAIN_EXIT_NOINPUT 66   /* EX_NOINPUT: message unreadable */
#define EXPLAIN_EXIT_SOFTWARE 70  /* EX_SOFTWARE: internal error */
#define EXPLAIN_EXIT_CONFIG 78    /* EX_CONFIG: bad configuration */

#define EXPLAIN_MAX_MSG (64UL * 1024 * 1024) /* octets read of a message */
#define EXPLAIN_MAX_RCPT 100
#define EXPLAIN_CHUNK 65535                  /* body chunk, as libmilter */
#define AR_NAME "Authentication-Results"

struct opts {
	const char *file;          /* -c */
	struct conf_override *ov;  /* -o: keys owned */
	size_t nov;
	const char *ip;            /* --ip */
	const char *helo;          /* --helo */
	const char *from;          /* --from */
	const char *rcpt[EXPLAIN_MAX_RCPT]; /* --rcpt */
	size_t nrcpt;
	const char *client_name;   /* --client-name */
	const char *hostname;      /* --hostname: macro j */
	const char *auth;          /* --auth: {auth_authen} */
	const char *msgfile;       /* operand, "-" for stdin */
	bool json;                 /* --json */
	int verbose;               /* -v count */
};

/* What the run found; printed at the end. */
struct run {
	struct conn c;
	struct msg m;
	bool have_msg;
	struct check_outcome out[SESSION_MAX_CHECKS]; /* message outcomes */
	struct check_outcome cout[SESSION_MAX_CHECKS]; /* before MAIL */
	struct policy_verdict v;
	bool decided;
	const char *stage;         /* where the verdict was given */
	const char *skipped;       /* "internal"/"authenticated" or NULL */
	char *from_hdr;            /* first From: value: owned */
	unsigned int nforged;      /* our A-R headers that would be removed */
	struct engine_report rep;  /* report of the finished checks */
	char *ar, *xauth;          /* rendered values: owned */
	const char *error;         /* internal failure, or NULL */
};

static void
usage(FILE *fp)
{
	fputs("usage: authmilter-explain [-c FILE] [-o KEY=VALUE]... --ip ADDR\n"
	      "         [--helo NAME] [--from ADDR] [--rcpt ADDR]...\n"
	      "         [--client-name NAME] [--hostname NAME] [--auth USER]\n"
	      "         [--json] [-v] [MESSAGE|-]\n"
	      "exit: 0 accept, 1 reject, 2 tempfail, 3 quarantine, "
	      ">= 64 error\n",
	      fp);
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"ip", required_argument, NULL, 'I'},
		{"helo", required_argument, NULL, 'H'},
		{"from", required_argument, NULL, 'F'},
		{"rcpt", required_argument, NULL, 'R'},
		{"client-name", required_argument, NULL, 'N'},
		{"hostname", required_argument, NULL, 'j'},
		{"auth", required_argument, NULL, 'A'},
		{"json", no_argument, NULL, 'J'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	o->ov = calloc((size_t)argc, sizeof *o->ov);
	if (o->ov == NULL)
		return -1;
	while ((ch = getopt_long(argc, argv, "c:o:vh", lo, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->file = optarg;
			break;
		case 'o':
			if (conf_override_parse(optarg, &o->ov[o->nov]) != 0) {
				fprintf(stderr, "authmilter-explain: -o %s: "
					"expected KEY=VALUE\n", optarg);
				return -1;
			}
			o->nov++;
			break;
		case 'I':
			o->ip = optarg;
			break;
		case 'H':
			o->helo = optarg;
			break;
		case 'F':
			o->from = optarg;
			break;
		case 'R':
			if (o->nrcpt >= EXPLAIN_MAX_RCPT) {
				fprintf(stderr, "authmilter-explain: at most "
					"%d --rcpt\n", EXPLAIN_MAX_RCPT);
				return -1;
			}
			o->rcpt[o->nrcpt++] = optarg;
			break;
		case 'N':
			o->client_name = optarg;
			break;
		case 'j':
			o->hostname = optarg;
			break;
		case 'A':
			o->auth = optarg;
			break;
		case 'J':
			o->json = true;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind + 1 < argc || o->ip == NULL) {
		usage(stderr);
		return -1;
	}
	o->msgfile = optind < argc ? argv[optind] : "-";
	return 0;
}

/* The whole message file (at most EXPLAIN_MAX_MSG octets). */
static char *
read_message(const char *path, size_t *len)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (fp == NULL)
		return NULL;
	for (;;) {
		size_t got;

		if (n + 65536 + 1 > cap) {
			char *nb;

			if (cap >= EXPLAIN_MAX_MSG)
				break;
			cap = cap ? 2 * cap : 131072;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				buf = NULL;
				goto out;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, 65536, fp);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		free(buf);
		buf = NULL;
		goto out;
	}
	if (buf == NULL && (buf = malloc(1)) == NULL)
		goto out;
	buf[n] = '\0';
	*len = n;
out:
	if (fp != stdin)
		fclose(fp);
	return buf;
}

/* Length of the line at p (without its end) and of its line end. */
static size_t
line_at(const char *p, const char *end, size_t *eol)
{
	const char *q = memchr(p, '\n', (size_t)(end - p));

	if (q == NULL)
		q = end;
	*eol = q < end ? 1 : 0;
	if (q > p && q[-1] == '\r') {
		q--;
		(*eol)++;
	}
	return (size_t)(q - p);
}

/* A finished decision point: record it; true if the session ends. */
static bool
decision(struct run *r, enum check_phase upto, const char *stage)
{
	int rc;

	if (r->c.skip)
		return false;
	rc = engine_decide(&r->c, r->have_msg ? &r->m : NULL,
			   r->have_msg ? r->out : r->cout, upto, false, &r->v);
	if (rc < 0) {
		r->error = am_strerror(rc);
		return true;
	}
	if (r->v.action < AM_ACT_TEMPFAIL)
		return false;
	r->decided = true;
	r->stage = stage;
	return true;
}

/*
 * One header as libmilter with SMFIP_HDR_LEADSPC hands it over (value
 * after the colon with its space, folded lines joined with LF, no CR),
 * with the filter's own bookkeeping (From:, forged A-R).
 */
static int
one_header(struct run *r, const char *name, const char *value)
{
	const char *who = NULL;
	int rc = 0;

	if (strcasecmp(name, AR_NAME) == 0) {
		if (authres_is_ours(value, r->c.conf->authserv_id))
			r->nforged++;
	} else if (strcasecmp(name, "From") == 0 && r->from_hdr == NULL) {
		r->from_hdr = strndup(value, SESSION_MAX_NAME);
		if (r->from_hdr == NULL)
			return AM_ENOMEM;
	}
	if (!r->c.skip)
		rc = engine_header(&r->c, &r->m, name, value, &who);
	return rc;
}

static int
feed_message(struct run *r, const char *p, const char *end)
{
	const char *who = NULL;
	char *value = NULL, *body = NULL;
	size_t n = 0;
	int rc = 0;

	while (p < end) {
		size_t eol, len = line_at(p, end, &eol), vlen, cap;
		const char *colon;
		char name[256];

		if (len == 0) { /* end of headers */
			p += eol;
			break;
		}
		colon = memchr(p, ':', len);
		if (colon == NULL || colon == p ||
		    (size_t)(colon - p) >= sizeof name) {
			/* not a header: the MTA would see the body begin */
			break;
		}
		memcpy(name, p, (size_t)(colon - p));
		name[colon - p] = '\0';
		vlen = len - (size_t)(colon + 1 - p);
		cap = vlen + 1;
		value = malloc(cap);
		if (value == NULL) {
			rc = AM_ENOMEM;
			goto out;
		}
		memcpy(value, colon + 1, vlen);
		p += len + eol;
		while (p < end && (*p == ' ' || *p == '\t')) {
			size_t e2, n2 = line_at(p, end, &e2);
			char *nv = realloc(value, vlen + n2 + 2);

			if (nv == NULL) {
				rc = AM_ENOMEM;
				goto out;
			}
			value = nv;
			value[vlen++] = '\n';
			memcpy(value + vlen, p, n2);
			vlen += n2;
			p += n2 + e2;
		}
		value[vlen] = '\0';
		rc = one_header(r, name, value);
		free(value);
		value = NULL;
		if (rc < 0)
			goto out;
	}
	if (r->c.skip)
		goto out;
	rc = engine_eoh(&r->c, &r->m, &who);
	if (rc < 0 || !engine_has_body_hook())
		goto out;
	/* the MTA hands the body over with CRLF line ends */
	body = malloc(2 * (size_t)(end - p) + 1);
	if (body == NULL) {
		rc = AM_ENOMEM;
		goto out;
	}
	for (; p < end; p++) {
		if (*p == '\n' && (n == 0 || body[n - 1] != '\r'))
			body[n++] = '\r';
		body[n++] = *p;
	}
	for (size_t off = 0; off < n && rc == 0; off += EXPLAIN_CHUNK) {
		size_t clen = n - off < EXPLAIN_CHUNK ? n - off : EXPLAIN_CHUNK;

		rc = engine_body(&r->c, &r->m,
				 (const unsigned char *)body + off, clen, &who);
	}
out:
	free(value);
	free(body);
	return rc;
}

static int
set_client(struct conn *c, const char *ip)
{
	if (inet_pton(AF_INET, ip, &c->addr.v4) == 1) {
		c->family = AF_INET;
	} else if (inet_pton(AF_INET6, ip, &c->addr.v6) == 1) {
		c->family = AF_INET6;
		if (IN6_IS_ADDR_V4MAPPED(&c->addr.v6)) {
			struct in_addr v4;

			memcpy(&v4, &c->addr.v6.s6_addr[12], 4);
			c->addr.v4 = v4;
			c->family = AF_INET;
		}
	} else {
		return AM_EINVAL;
	}
	inet_ntop(c->family, &c->addr, c->ip, sizeof c->ip);
	return 0;
}

/* The session, phase by phase, as filter.c runs it. */
static int
run_session(struct run *r, const struct opts *o, const char *msg,
	    size_t msglen)
{
	struct conn *c = &r->c;
	const char *who = NULL;
	int rc;

	c->internal = cidr_list_match(&c->conf->internal_hosts, c->family,
				      &c->addr);
	c->skip = c->internal;
	if (!c->skip) {
		rc = engine_connect(c, &who);
		if (rc < 0)
			return rc;
		if (!c->conf->delay_reject &&
		    decision(r, CHECK_PH_CONNECT, "connect"))
			return 0;
	}
	if (o->helo != NULL) {
		c->helo = strndup(o->helo, SESSION_MAX_NAME);
		if (c->helo == NULL)
			return AM_ENOMEM;
		if (!c->skip) {
			rc = engine_helo(c, &who);
			if (rc < 0)
				return rc;
			if (!c->conf->delay_reject &&
			    decision(r, CHECK_PH_HELO, "helo"))
				return 0;
		}
	}
	c->msg = &r->m;
	r->have_msg = true;
	c->nmsgs++;
	dns_set_new_message(c->dns);
	rc = engine_set_sender(&r->m, o->from != NULL ? o->from : "");
	if (rc < 0)
		return rc;
	c->authenticated = o->auth != NULL && o->auth[0] != '\0';
	c->skip = c->internal ||
		  (c->authenticated && c->conf->skip_authenticated);
	if (!c->skip) {
		rc = engine_mail(c, &r->m, &who);
		if (rc < 0)
			return rc;
		if (!c->conf->delay_reject && decision(r, CHECK_PH_MAIL, "mail"))
			return 0;
	}
	for (size_t i = 0; i < o->nrcpt; i++) {
		r->m.nrcpt++;
		if (c->skip)
			continue;
		rc = engine_rcpt(c, &r->m, o->rcpt[i], &who);
		if (rc < 0)
			return rc;
		if (r->m.nrcpt == 1 && c->conf->delay_reject &&
		    decision(r, CHECK_PH_MAIL, "rcpt"))
			return 0;
	}
	rc = feed_message(r, msg, msg + msglen);
	if (rc < 0)
		return rc;
	if (c->skip) {
		r->skipped = c->internal ? "internal" : "authenticated";
		return 0;
	}
	rc = engine_decide(c, &r->m, r->out, CHECK_PH_EOM, true, &r->v);
	if (rc < 0)
		return rc;
	r->decided = true;
	r->stage = "eom";
	return 0;
}

/* ---- output ---- */

static void
json_str(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (const unsigned char *p = (const unsigned char *)(s ? s : "");
	     *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(fp, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", fp);
		else if (*p == '\t')
			fputs("\\t", fp);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(fp, "\\u%04x", *p); /* the octet's value */
		else
			fputc(*p, fp);
	}
	fputc('"', fp);
}

/* A network string made safe for a terminal (log_escape). */
static const char *
esc(const char *s, char *buf, size_t len)
{
	return log_escape(s ? s : "", SIZE_MAX, buf, len);
}

/* One record of an answer as text. */
static void
rr_text(enum dns_type t, const struct dns_rr *rr, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN], e[1024];

	switch (t) {
	case DNS_T_A:
		inet_ntop(AF_INET, &rr->a, a, sizeof a);
		snprintf(out, len, "%s", a);
		break;
	case DNS_T_AAAA:
		inet_ntop(AF_INET6, &rr->aaaa, a, sizeof a);
		snprintf(out, len, "%s", a);
		break;
	case DNS_T_MX:
		snprintf(out, len, "%u %s", rr->pref,
			 rr->name[0] ? esc(rr->name, e, sizeof e) : ".");
		break;
	case DNS_T_PTR:
		snprintf(out, len, "%s", esc(rr->name, e, sizeof e));
		break;
	case DNS_T_TXT:
		log_escape(rr->txt, rr->txtlen, out, len);
		break;
	default:
		snprintf(out, len, "?");
	}
}

static const char *
exit_word(int code)
{
	switch (code) {
	case EXPLAIN_EXIT_REJECT:
		return "reject";
	case EXPLAIN_EXIT_TEMPFAIL:
		return "tempfail";
	case EXPLAIN_EXIT_QUARANTINE:
		return "quarantine";
	default:
		return "accept";
	}
}

static void
print_text(FILE *fp, const struct run *r, const struct opts *o, int code)
{
	char e1[2048], e2[2048];

	fprintf(fp, "client   %s [%s]%s\n",
		esc(o->client_name ? o->client_name : "unknown", e1, sizeof e1),
		r->c.ip, r->c.internal ? " (InternalHosts)" : "");
	fprintf(fp, "helo     %s\n", esc(o->helo ? o->helo : "-", e1,
					 sizeof e1));
	fprintf(fp, "mail     <%s>\n", esc(r->m.mail_from, e1, sizeof e1));
	for (size_t i = 0; i < o->nrcpt; i++)
		fprintf(fp, "rcpt     <%s>\n", esc(o->rcpt[i], e1, sizeof e1));
	fprintf(fp, "\nDNS queries (%zu), in the order sent:\n",
		dns_set_count(r->c.dns));
	for (size_t i = 0; i < dns_set_count(r->c.dns); i++) {
		const struct dns_query *q = dns_set_query(r->c.dns, i);
		const struct dns_answer *a = dns_answer(q);

		fprintf(fp, "  %-4s %s -> %s", dns_type_str(dns_query_type(q)),
			esc(dns_query_name(q), e1, sizeof e1),
			dns_status_str(a->status));
		if (a->rcode >= 0)
			fprintf(fp, " rcode=%d", a->rcode);
		fprintf(fp, " %.1f ms%s%s\n", a->ms, a->secure ? " secure" : "",
			a->truncated ? " truncated" : "");
		for (size_t k = 0; k < a->n; k++) {
			rr_text(dns_query_type(q), &a->rr[k], e2, sizeof e2);
			fprintf(fp, "       %s\n", e2);
		}
	}
	fprintf(fp, "\nChecks:\n");
	if (r->skipped != NULL)
		fprintf(fp, "  not checked (%s)\n", r->skipped);
	for (size_t i = 0; i < check_count() && i < SESSION_MAX_CHECKS; i++) {
		const struct check_ops *ops = check_get(i);
		const struct check_outcome *ou =
			r->have_msg ? &r->out[i] : &r->cout[i];

		if (ops == NULL)
			continue;
		if (!ou->done) {
			fprintf(fp, "  %-8s (not finished)\n", ops->name);
			continue;
		}
		fprintf(fp, "  %-8s %-10s action=%-10s %s\n", ops->name,
			am_result_str(ou->result), am_action_str(ou->action),
			esc(ou->why, e1, sizeof e1));
	}
	fprintf(fp, "\nVerdict: %s", exit_word(code));
	if (r->decided) {
		fprintf(fp, " at %s", r->stage);
		if (r->v.check != NULL && r->v.wanted != AM_ACT_NONE)
			fprintf(fp, " (by %s: %s)", r->v.check,
				esc(r->v.why, e1, sizeof e1));
		if (r->v.dry_run)
			fprintf(fp, "; DryRun: would %s",
				am_action_str(r->v.wanted));
		if (r->v.action >= AM_ACT_TEMPFAIL)
			fprintf(fp, "\nReply: %s %s %s", r->v.rcode,
				r->v.xcode, esc(r->v.reply, e1, sizeof e1));
	}
	fputc('\n', fp);
	if (r->nforged > 0)
		fprintf(fp, "Would remove %u forged %s header(s)\n", r->nforged,
			AR_NAME);
	if (r->ar != NULL) {
		fprintf(fp, "\nHeaders that would be added:\n");
		fprintf(fp, "%s: %s\n", AR_NAME, r->ar);
		for (size_t k = 0; k < r->rep.extra.n; k++)
			fprintf(fp, "%s: %s\n", r->rep.extra.v[k].key,
				r->rep.extra.v[k].value);
		fprintf(fp, "X-Authmilter: %s\n", r->xauth);
	} else {
		fprintf(fp, "\nHeaders that would be added: none\n");
	}
}

static void
print_json(FILE *fp, const struct run *r, const struct opts *o, int code)
{
	char buf[2048];

	fputs("{\"client\":{\"ip\":", fp);
	json_str(fp, r->c.ip);
	fputs(",\"name\":", fp);
	json_str(fp, o->client_name ? o->client_name : "unknown");
	fprintf(fp, ",\"internal\":%s},\"helo\":",
		r->c.internal ? "true" : "false");
	if (o->helo)
		json_str(fp, o->helo);
	else
		fputs("null", fp);
	fputs(",\"mail_from\":", fp);
	json_str(fp, r->m.mail_from);
	fputs(",\"rcpt\":[", fp);
	for (size_t i = 0; i < o->nrcpt; i++) {
		fputs(i ? "," : "", fp);
		json_str(fp, o->rcpt[i]);
	}
	fputs("],\"dns\":[", fp);
	for (size_t i = 0; i < dns_set_count(r->c.dns); i++) {
		const struct dns_query *q = dns_set_query(r->c.dns, i);
		const struct dns_answer *a = dns_answer(q);

		fputs(i ? ",{\"name\":" : "{\"name\":", fp);
		json_str(fp, dns_query_name(q));
		fprintf(fp, ",\"type\":\"%s\",\"status\":\"%s\",\"rcode\":%d,"
			"\"ms\":%.3f,\"secure\":%s,\"truncated\":%s,"
			"\"answers\":[",
			dns_type_str(dns_query_type(q)),
			dns_status_str(a->status), a->rcode, a->ms,
			a->secure ? "true" : "false",
			a->truncated ? "true" : "false");
		for (size_t k = 0; k < a->n; k++) {
			fputs(k ? "," : "", fp);
			if (dns_query_type(q) == DNS_T_TXT) {
				/* raw octets, NULs shown as \u0000 */
				fputc('"', fp);
				for (size_t t = 0; t < a->rr[k].txtlen; t++) {
					unsigned char ch =
						(unsigned char)a->rr[k].txt[t];

					if (ch == '"' || ch == '\\')
						fprintf(fp, "\\%c", ch);
					else if (ch < 0x20 || ch >= 0x7f)
						fprintf(fp, "\\u%04x", ch);
					else
						fputc(ch, fp);
				}
				fputc('"', fp);
				continue;
			}
			rr_text(dns_query_type(q), &a->rr[k], buf, sizeof buf);
			json_str(fp, buf);
		}
		fputs("]}", fp);
	}
	fputs("],\"checks\":[", fp);
	for (size_t i = 0, n = 0; i < check_count() && i < SESSION_MAX_CHECKS;
	     i++) {
		const struct check_ops *ops = check_get(i);
		const struct check_outcome *ou =
			r->have_msg ? &r->out[i] : &r->cout[i];

		if (ops == NULL)
			continue;
		fputs(n++ ? ",{\"check\":" : "{\"check\":", fp);
		json_str(fp, ops->name);
		if (!ou->done) {
			fputs(",\"finished\":false}", fp);
			continue;
		}
		fprintf(fp, ",\"finished\":true,\"result\":\"%s\","
			"\"action\":\"%s\",\"why\":",
			am_result_str(ou->result), am_action_str(ou->action));
		json_str(fp, ou->why);
		fputc('}', fp);
	}
	fputs("],\"skipped\":", fp);
	if (r->skipped)
		json_str(fp, r->skipped);
	else
		fputs("null", fp);
	fprintf(fp, ",\"verdict\":{\"action\":\"%s\",\"exit\":%d",
		exit_word(code), code);
	if (r->decided) {
		fputs(",\"stage\":", fp);
		json_str(fp, r->stage);
		fprintf(fp, ",\"wanted\":\"%s\",\"dry_run\":%s,\"check\":",
			policy_action_word(r->v.wanted),
			r->v.dry_run ? "true" : "false");
		if (r->v.check)
			json_str(fp, r->v.check);
		else
			fputs("null", fp);
		fputs(",\"why\":", fp);
		json_str(fp, r->v.why);
		if (r->v.action >= AM_ACT_TEMPFAIL) {
			fprintf(fp, ",\"reply\":{\"code\":\"%s\",\"xcode\":",
				r->v.rcode);
			json_str(fp, r->v.xcode);
			fputs(",\"text\":", fp);
			json_str(fp, r->v.reply);
			fputc('}', fp);
		}
	}
	fprintf(fp, "},\"remove_forged\":%u,\"headers\":[", r->nforged);
	if (r->ar != NULL) {
		fprintf(fp, "{\"name\":\"%s\",\"value\":", AR_NAME);
		json_str(fp, r->ar);
		fputc('}', fp);
		for (size_t k = 0; k < r->rep.extra.n; k++) {
			fputs(",{\"name\":", fp);
			json_str(fp, r->rep.extra.v[k].key);
			fputs(",\"value\":", fp);
			json_str(fp, r->rep.extra.v[k].value);
			fputc('}', fp);
		}
		fputs(",{\"name\":\"X-Authmilter\",\"value\":", fp);
		json_str(fp, r->xauth);
		fputc('}', fp);
	}
	fputs("]}\n", fp);
}

/* The report, headers and log line once the session ended. */
static int
finish_run(struct run *r)
{
	struct msg *m = r->have_msg ? &r->m : NULL;
	const struct check_outcome *out = r->have_msg ? r->out : r->cout;
	int rc;

	if (!r->decided)
		return 0;
	rc = engine_report(&r->c, m, out, &r->rep);
	if (rc < 0)
		return rc;
	engine_log(&r->c, m, r->from_hdr, &r->rep, &r->v);
	/* headers are added only at end of message, unless it is refused */
	if (strcmp(r->stage, "eom") == 0 && r->v.action < AM_ACT_TEMPFAIL)
		rc = engine_render(r->c.conf, &r->rep, &r->v, &r->ar,
				   &r->xauth);
	return rc;
}

static int
verdict_exit(const struct run *r)
{
	if (!r->decided)
		return EXPLAIN_EXIT_ACCEPT;
	switch (r->v.action) {
	case AM_ACT_REJECT:
		return EXPLAIN_EXIT_REJECT;
	case AM_ACT_TEMPFAIL:
		return EXPLAIN_EXIT_TEMPFAIL;
	case AM_ACT_QUARANTINE:
		return EXPLAIN_EXIT_QUARANTINE;
	default:
		return EXPLAIN_EXIT_ACCEPT;
	}
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct run *r = NULL;
	struct conf *c = NULL;
	struct dns_options dopt;
	char err[512], *msg = NULL;
	size_t msglen = 0;
	bool dns_up = false;
	int rc, code = EXPLAIN_EXIT_USAGE;

	memset(&o, 0, sizeof o);
	if (parse_args(argc, argv, &o) != 0)
		goto out;
	code = EXPLAIN_EXIT_CONFIG;
	c = conf_load(o.file, o.ov, o.nov, stderr);
	if (c == NULL)
		goto out;
	/* logs go to stderr: warnings by default, -v info, -vv debug */
	log_open(true, false);
	log_setup(o.verbose >= 2   ? LOG_L_DEBUG
		  : o.verbose == 1 ? LOG_L_INFO
				   : LOG_L_WARNING,
		  c->log_format);
	conf_publish(c);
	c = conf_acquire();
	code = EXPLAIN_EXIT_NOINPUT;
	msg = read_message(o.msgfile, &msglen);
	if (msg == NULL) {
		fprintf(stderr, "authmilter-explain: cannot read %s\n",
			o.msgfile);
		goto out;
	}
	code = EXPLAIN_EXIT_SOFTWARE;
	r = calloc(1, sizeof *r);
	if (r == NULL)
		goto out;
	r->c.conf = c;
	snprintf(r->c.sid, sizeof r->c.sid, "explain");
	if (set_client(&r->c, o.ip) != 0) {
		fprintf(stderr, "authmilter-explain: --ip %s: not an IPv4 or "
			"IPv6 address\n", o.ip);
		code = EXPLAIN_EXIT_USAGE;
		goto out;
	}
	r->c.client_name = o.client_name ? strdup(o.client_name) : NULL;
	r->c.our_name = o.hostname ? strdup(o.hostname) : NULL;
	dopt.mode = c->resolver;
	dopt.forward = c->resolver_forward;
	dopt.trust_anchor = c->trust_anchor_file;
	if (dns_init(&dopt, err, sizeof err) != 0) {
		fprintf(stderr, "authmilter-explain: DNS: %s\n", err);
		goto out;
	}
	dns_up = true;
	if (dkimv_init() != 0) {
		fprintf(stderr, "authmilter-explain: libopendkim init failed\n");
		goto out;
	}
	r->c.dns = dns_set_new(r->c.sid);
	if (r->c.dns == NULL)
		goto out;
	rc = run_session(r, &o, msg, msglen);
	if (rc == 0)
		rc = finish_run(r);
	if (rc < 0 || r->error != NULL) {
		fprintf(stderr, "authmilter-explain: internal error: %s "
			"(the daemon would answer 451 4.3.0)\n",
			r->error ? r->error : am_strerror(rc));
		goto out;
	}
	code = verdict_exit(r);
	if (o.json)
		print_json(stdout, r, &o, code);
	else
		print_text(stdout, r, &o, code);
	if (fflush(stdout) != 0)
		code = EXPLAIN_EXIT_SOFTWARE;
out:
	if (r != NULL) {
		for (size_t i = 0; i < check_count() && i < SESSION_MAX_CHECKS;
		     i++) {
			const struct check_ops *ops = check_get(i);

			if (ops != NULL && ops->msg_free != NULL)
				ops->msg_free(&r->m.slot[i]);
			if (ops != NULL && ops->conn_free != NULL)
				ops->conn_free(&r->c.slot[i]);
		}
		engine_report_free(&r->rep);
		free(r->ar);
		free(r->xauth);
		free(r->from_hdr);
		free(r->m.mail_from);
		free(r->m.mail_domain);
		free(r->c.helo);
		free(r->c.client_name);
		free(r->c.our_name);
		dns_set_free(r->c.dns);
		free(r);
	}
	if (dns_up) {
		dkimv_shutdown();
		dns_shutdown();
	}
	conf_release(c);
	conf_shutdown();
	free(msg);
	for (size_t i = 0; i < o.nov; i++)
		free((char *)o.ov[i].key);
	free(o.ov);
	return code;
}
