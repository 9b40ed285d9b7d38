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
#include "checks.h"
#include "cidr.h"
#include "conf.h"
#include "dkimv.h"
#include "dns.h"
#include "engine.h"
#include "log.h"
#include "policy.h"
#include "session.h"
#include "uribl.h"

/* Exit status: the verdict, or sysexits(3) codes for errors. */
#define EXPLAIN_EXIT_ACCEPT 0 /* accept or tag */
#define EXPLAIN_EXIT_REJECT 1
#define EXPLAIN_EXIT_TEMPFAIL 2
#define EXPLAIN_EXIT_QUARANTINE 3
#define EXPLAIN_EXIT_USAGE 64	 /* EX_USAGE */
#define EXPLAIN_EXIT_NOINPUT 66	 /* EX_NOINPUT: message unreadable */
#define EXPLAIN_EXIT_SOFTWARE 70 /* EX_SOFTWARE: internal error */
#define EXPLAIN_EXIT_CONFIG 78	 /* EX_CONFIG: bad configuration */

#define EXPLAIN_MAX_MSG (64UL * 1024 * 1024) /* octets read of a message */
#define EXPLAIN_MAX_RCPT 100
#define EXPLAIN_CHUNK 65535 /* body chunk, as libmilter */
#define AR_NAME "Authentication-Results"

struct opts {
	const char *file;	  /* -c */
	struct conf_override *ov; /* -o: keys owned */
	size_t nov;
	const char *ip;			    /* --ip */
	const char *helo;		    /* --helo */
	const char *from;		    /* --from */
	const char *rcpt[EXPLAIN_MAX_RCPT]; /* --rcpt */
	size_t nrcpt;
	const char *client_name; /* --client-name */
	const char *hostname;	 /* --hostname: macro j */
	const char *auth;	 /* --auth: {auth_authen} */
	const char *msgfile;	 /* operand, "-" for stdin */
	bool json;		 /* --json */
	int verbose;		 /* -v count */
};

/* What the run found; printed at the end. */
struct run {
	struct engine_session *s; /* the session: owned */
	struct engine_eom e;	  /* end of message, when it was reached */
	bool eom;		  /* e is meaningful */
	const char *error;	  /* internal failure, or NULL */
};

static void
usage(FILE *fp)
{
	fputs(
	    "usage: authmilter-explain [-c FILE] [-o KEY=VALUE]... --ip ADDR\n"
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
			if (conf_override_arg("authmilter-explain", optarg,
					      o->ov, &o->nov) != 0)
				return -1;
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
				fprintf(stderr,
					"authmilter-explain: at most "
					"%d --rcpt\n",
					EXPLAIN_MAX_RCPT);
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

/* A step's answer: true if the session ends there. */
static bool
ended(struct run *r, enum engine_answer a, const struct engine_reply *rep)
{
	if (a == ENGINE_CONTINUE)
		return false;
	if (!r->s->decided)
		r->error = rep->text; /* 451 4.3.0: an internal failure */
	return true;
}

/*
 * The header block and body as the MTA hands them to a milter: each
 * header's name without the white space an obsolete "From :" puts before
 * the colon (RFC 5322 4.5; Postfix drops it), its value after the colon
 * with its space (SMFIP_HDR_LEADSPC), folded lines joined with LF, no
 * CR; then end of headers and the body with CRLF line ends.
 */
static bool
feed_message(struct run *r, const char *p, const char *end)
{
	struct engine_reply rep;
	char *value = NULL, *body = NULL;
	size_t n = 0;
	bool stop = false;

	while (p < end && !stop) {
		size_t eol, len = line_at(p, end, &eol), vlen, nlen;
		const char *colon;
		char name[256];

		if (len == 0) { /* end of headers */
			p += eol;
			break;
		}
		colon = memchr(p, ':', len);
		nlen = colon != NULL ? (size_t)(colon - p) : 0;
		while (nlen > 0 && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t'))
			nlen--;
		if (colon == NULL || nlen == 0 || nlen >= sizeof name) {
			/* not a header: the MTA would see the body begin */
			break;
		}
		memcpy(name, p, nlen);
		name[nlen] = '\0';
		vlen = len - (size_t)(colon + 1 - p);
		value = malloc(vlen + 1);
		if (value == NULL) {
			r->error = am_strerror(AM_ENOMEM);
			goto out;
		}
		memcpy(value, colon + 1, vlen);
		p += len + eol;
		while (p < end && (*p == ' ' || *p == '\t')) {
			size_t e2, n2 = line_at(p, end, &e2);
			char *nv = realloc(value, vlen + n2 + 2);

			if (nv == NULL) {
				r->error = am_strerror(AM_ENOMEM);
				goto out;
			}
			value = nv;
			value[vlen++] = '\n';
			memcpy(value + vlen, p, n2);
			vlen += n2;
			p += n2 + e2;
		}
		value[vlen] = '\0';
		stop = ended(r, engine_session_header(r->s, name, value, &rep),
			     &rep);
		free(value);
		value = NULL;
	}
	if (stop || ended(r, engine_session_eoh(r->s, &rep), &rep))
		goto out;
	if (!engine_session_wants_body(r->s))
		return false;
	/* the MTA hands the body over with CRLF line ends */
	body = malloc(2 * (size_t)(end - p) + 1);
	if (body == NULL) {
		r->error = am_strerror(AM_ENOMEM);
		goto out;
	}
	for (; p < end; p++) {
		if (*p == '\n' && (n == 0 || body[n - 1] != '\r'))
			body[n++] = '\r';
		body[n++] = *p;
	}
	for (size_t off = 0; off < n && !stop; off += EXPLAIN_CHUNK) {
		size_t clen = n - off < EXPLAIN_CHUNK ? n - off : EXPLAIN_CHUNK;

		stop = ended(
		    r,
		    engine_session_body(r->s, (const unsigned char *)body + off,
					clen, &rep),
		    &rep);
	}
	free(body);
	return stop;
out:
	free(value);
	free(body);
	return true;
}

/* The client address as the MTA would give it to the milter. */
static int
client_sockaddr(const char *ip, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	return AM_EINVAL;
}

/* The session, step by step, as the MTA would drive the daemon's. */
static void
run_session(struct run *r, const struct opts *o,
	    const struct sockaddr_storage *sa, const char *msg, size_t msglen)
{
	struct engine_reply rep;

	if (ended(r,
		  engine_session_connect(r->s, (const struct sockaddr *)sa,
					 o->client_name, o->hostname, &rep),
		  &rep))
		return;
	if (o->helo != NULL &&
	    ended(r, engine_session_helo(r->s, o->helo, &rep), &rep))
		return;
	if (ended(r,
		  engine_session_mail(r->s, o->from != NULL ? o->from : "",
				      o->auth, &rep),
		  &rep))
		return;
	for (size_t i = 0; i < o->nrcpt; i++)
		if (ended(r, engine_session_rcpt(r->s, o->rcpt[i], &rep), &rep))
			return;
	if (feed_message(r, msg, msg + msglen))
		return;
	r->eom = true;
	(void)ended(r, engine_session_eom(r->s, &r->e), &r->e.reply);
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
	const struct engine_session *s = r->s;
	const struct check_outcome *outs = s->m != NULL ? s->m->out : s->cout;
	unsigned int nforged = s->m != NULL ? s->m->nforged : 0;
	size_t nadd =
	    r->eom && r->e.reply.answer == ENGINE_CONTINUE ? r->e.nadd : 0;
	char e1[2048], e2[2048];

	fprintf(fp, "client   %s [%s]%s\n",
		esc(o->client_name ? o->client_name : "unknown", e1, sizeof e1),
		s->c.ip,
		s->c.internal ? " (InternalHosts)"
		: s->c.relay  ? " (TrustedRelays)"
			      : "");
	fprintf(fp, "helo     %s\n",
		esc(o->helo ? o->helo : "-", e1, sizeof e1));
	fprintf(fp, "mail     <%s>\n",
		esc(s->m != NULL ? s->m->m.mail_from : "", e1, sizeof e1));
	for (size_t i = 0; i < o->nrcpt; i++)
		fprintf(fp, "rcpt     <%s>\n", esc(o->rcpt[i], e1, sizeof e1));
	fprintf(fp, "\nDNS queries (%zu), in the order sent:\n",
		dns_set_count(s->c.dns));
	for (size_t i = 0; i < dns_set_count(s->c.dns); i++) {
		const struct dns_query *q = dns_set_query(s->c.dns, i);
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
	if (s->skipped != NULL)
		fprintf(fp, "  not checked (%s)\n", s->skipped);
	for (size_t i = 0; i < checks_count() && i < SESSION_MAX_CHECKS; i++) {
		const struct check_ops *ops = checks_get(i);
		const struct check_outcome *ou = &outs[i];

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
	/* the links of the message, their domains and answers (URIBL) */
	for (size_t i = 0;
	     s->m != NULL && i < checks_count() && i < SESSION_MAX_CHECKS; i++)
		if (checks_get(i) == &uribl_ops)
			uribl_describe(&s->m->m.slot[i], fp, false);
	fprintf(fp, "\nVerdict: %s", exit_word(code));
	if (s->decided) {
		fprintf(fp, " at %s", s->stage);
		if (s->v.check != NULL && s->v.wanted != AM_ACT_NONE)
			fprintf(fp, " (by %s: %s)", s->v.check,
				esc(s->v.why, e1, sizeof e1));
		if (s->v.dry_run)
			fprintf(fp, "; DryRun: would %s",
				am_action_str(s->v.wanted));
		if (s->v.action >= AM_ACT_TEMPFAIL)
			fprintf(fp, "\nReply: %s %s %s", s->v.rcode, s->v.xcode,
				esc(s->v.reply, e1, sizeof e1));
	}
	fputc('\n', fp);
	if (nforged > 0)
		fprintf(fp, "Would remove %u forged %s header(s)\n", nforged,
			AR_NAME);
	if (s->m != NULL && s->m->nxforged > 0)
		fprintf(fp, "Would remove %u forged X-Authmilter header(s)\n",
			s->m->nxforged);
	if (s->m != NULL && s->m->nupstream > 0)
		fprintf(fp,
			"Would keep %u %s header(s) of the trusted relay's "
			"TrustedAuthservIDs\n",
			s->m->nupstream, AR_NAME);
	if (nadd > 0) {
		fprintf(fp, "\nHeaders that would be added:\n");
		for (size_t k = 0; k < nadd; k++)
			fprintf(fp, "%s: %s\n", r->e.add[k].name,
				r->e.add[k].value);
	} else {
		fprintf(fp, "\nHeaders that would be added: none\n");
	}
}

static void
print_json(FILE *fp, const struct run *r, const struct opts *o, int code)
{
	const struct engine_session *s = r->s;
	const struct check_outcome *outs = s->m != NULL ? s->m->out : s->cout;
	unsigned int nforged = s->m != NULL ? s->m->nforged : 0;
	size_t nadd =
	    r->eom && r->e.reply.answer == ENGINE_CONTINUE ? r->e.nadd : 0;
	char buf[2048];

	fputs("{\"client\":{\"ip\":", fp);
	json_str(fp, s->c.ip);
	fputs(",\"name\":", fp);
	json_str(fp, o->client_name ? o->client_name : "unknown");
	fprintf(fp, ",\"internal\":%s},\"helo\":",
		s->c.internal ? "true" : "false");
	if (o->helo)
		json_str(fp, o->helo);
	else
		fputs("null", fp);
	fputs(",\"mail_from\":", fp);
	json_str(fp, s->m != NULL ? s->m->m.mail_from : "");
	fputs(",\"rcpt\":[", fp);
	for (size_t i = 0; i < o->nrcpt; i++) {
		fputs(i ? "," : "", fp);
		json_str(fp, o->rcpt[i]);
	}
	fputs("],\"dns\":[", fp);
	for (size_t i = 0; i < dns_set_count(s->c.dns); i++) {
		const struct dns_query *q = dns_set_query(s->c.dns, i);
		const struct dns_answer *a = dns_answer(q);

		fputs(i ? ",{\"name\":" : "{\"name\":", fp);
		json_str(fp, dns_query_name(q));
		fprintf(fp,
			",\"type\":\"%s\",\"status\":\"%s\",\"rcode\":%d,"
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
	for (size_t i = 0, n = 0; i < checks_count() && i < SESSION_MAX_CHECKS;
	     i++) {
		const struct check_ops *ops = checks_get(i);
		const struct check_outcome *ou = &outs[i];

		if (ops == NULL)
			continue;
		fputs(n++ ? ",{\"check\":" : "{\"check\":", fp);
		json_str(fp, ops->name);
		if (!ou->done) {
			fputs(",\"finished\":false}", fp);
			continue;
		}
		fprintf(fp,
			",\"finished\":true,\"result\":\"%s\","
			"\"action\":\"%s\",\"why\":",
			am_result_str(ou->result), am_action_str(ou->action));
		json_str(fp, ou->why);
		fputc('}', fp);
	}
	fputc(']', fp);
	for (size_t i = 0;
	     s->m != NULL && i < checks_count() && i < SESSION_MAX_CHECKS; i++)
		if (checks_get(i) == &uribl_ops)
			uribl_describe(&s->m->m.slot[i], fp, true);
	fputs(",\"skipped\":", fp);
	if (s->skipped)
		json_str(fp, s->skipped);
	else
		fputs("null", fp);
	fprintf(fp, ",\"verdict\":{\"action\":\"%s\",\"exit\":%d",
		exit_word(code), code);
	if (s->decided) {
		fputs(",\"stage\":", fp);
		json_str(fp, s->stage);
		fprintf(fp, ",\"wanted\":\"%s\",\"dry_run\":%s,\"check\":",
			policy_action_word(s->v.wanted),
			s->v.dry_run ? "true" : "false");
		if (s->v.check)
			json_str(fp, s->v.check);
		else
			fputs("null", fp);
		fputs(",\"why\":", fp);
		json_str(fp, s->v.why);
		if (s->v.action >= AM_ACT_TEMPFAIL) {
			fprintf(fp, ",\"reply\":{\"code\":\"%s\",\"xcode\":",
				s->v.rcode);
			json_str(fp, s->v.xcode);
			fputs(",\"text\":", fp);
			json_str(fp, s->v.reply);
			fputc('}', fp);
		}
	}
	fprintf(fp,
		"},\"remove_forged\":%u,\"remove_forged_xauth\":%u,"
		"\"keep_upstream\":%u,\"headers\":[",
		nforged, s->m != NULL ? s->m->nxforged : 0,
		s->m != NULL ? s->m->nupstream : 0);
	for (size_t k = 0; k < nadd; k++) {
		fputs(k ? ",{\"name\":" : "{\"name\":", fp);
		json_str(fp, r->e.add[k].name);
		fputs(",\"value\":", fp);
		json_str(fp, r->e.add[k].value);
		fputc('}', fp);
	}
	fputs("]}\n", fp);
}

static int
verdict_exit(const struct run *r)
{
	if (!r->s->decided)
		return EXPLAIN_EXIT_ACCEPT;
	switch (r->s->v.action) {
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
	struct sockaddr_storage sa;
	char err[512], *msg = NULL;
	size_t msglen = 0;
	bool dns_up = false;
	int code = EXPLAIN_EXIT_USAGE;

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
	code = EXPLAIN_EXIT_USAGE;
	if (client_sockaddr(o.ip, &sa) != 0) {
		fprintf(stderr,
			"authmilter-explain: --ip %s: not an IPv4 or "
			"IPv6 address\n",
			o.ip);
		goto out;
	}
	code = EXPLAIN_EXIT_SOFTWARE;
	dopt.mode = c->resolver;
	dopt.forward = c->resolver_forward;
	dopt.trust_anchor = c->trust_anchor_file;
	if (dns_init(&dopt, err, sizeof err) != 0) {
		fprintf(stderr, "authmilter-explain: DNS: %s\n", err);
		goto out;
	}
	dns_up = true;
	if (dkimv_init() != 0) {
		fprintf(stderr,
			"authmilter-explain: libopendkim init failed\n");
		goto out;
	}
	r = calloc(1, sizeof *r);
	if (r == NULL || (r->s = engine_session_new(c, "explain")) == NULL)
		goto out;
	run_session(r, &o, &sa, msg, msglen);
	if (r->error != NULL) {
		fprintf(stderr,
			"authmilter-explain: internal error: %s "
			"(the daemon would answer 451 4.3.0)\n",
			r->error);
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
		engine_session_free(r->s);
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
