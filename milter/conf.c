/* SPDX-License-Identifier: BSD-2-Clause */
/* conf - the keyword table, the configuration parser and snapshots */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#include "amerr.h"
#include "conf.h"
#include "log.h"

#define CONF_MAX_LINE 4096
#define CONF_ERRLEN 512

enum conf_type {
	CT_STR,	     /* char *, checked by the row's check function */
	CT_BOOL,     /* bool */
	CT_UINT,     /* unsigned int within min..max */
	CT_INT,	     /* int within min..max */
	CT_OCTAL,    /* unsigned int, octal, within min..max */
	CT_ACTION,   /* enum am_action */
	CT_ENUM,     /* an int from the row's names list */
	CT_CIDRS,    /* struct cidr_list */
	CT_BLS,	     /* struct blentry_list */
	CT_STRS,     /* struct conf_strlist, items checked by check */
	CT_PAIRS,    /* struct conf_strlist of "A B" items (comma-split) */
	CT_RESOLVER, /* enum dns_mode + resolver_forward */
};

typedef int (*conf_check_fn)(const char *val, char *err, size_t errlen);

struct conf_kw {
	const char *name; /* keyword as documented */
	enum conf_type type;
	const char *def;	  /* default text, or NULL for none */
	long min, max;		  /* bounds of CT_UINT / CT_INT / CT_OCTAL */
	size_t off;		  /* offset of the field in struct conf */
	bool list;		  /* may repeat: each line adds entries */
	conf_check_fn check;	  /* CT_STR: validator, or NULL */
	const char *const *names; /* CT_ENUM: the accepted words, in order */
	bool none_ok;		  /* CT_STR: "none" stores NULL */
};

static int check_socket(const char *v, char *err, size_t errlen);
static int check_user(const char *v, char *err, size_t errlen);
static int check_abspath(const char *v, char *err, size_t errlen);
static int check_file(const char *v, char *err, size_t errlen);
static int check_authserv(const char *v, char *err, size_t errlen);
static int check_metrics(const char *v, char *err, size_t errlen);
static int check_group(const char *v, char *err, size_t errlen);
static int check_exempt_rcpt(const char *v, char *err, size_t errlen);
static int check_domain(const char *v, char *err, size_t errlen);
static int check_reply_name(const char *v, char *err, size_t errlen);
static int check_report_db(const char *v, char *err, size_t errlen);
static int check_mailbox(const char *v, char *err, size_t errlen);
static int check_selector(const char *v, char *err, size_t errlen);

static const char *const loglevel_names[] = {"error", "warning", "info",
					     "debug", NULL};
static const char *const logformat_names[] = {"text", "json", NULL};
static const char *const ondns_names[] = {"accept", "tempfail", NULL};

#define OFF(f) offsetof(struct conf, f)

/* The one table: every keyword of SPEC.md, in the SPEC's order. */
static const struct conf_kw conf_table[] = {
    {"Socket", CT_STR, "inet:8895@127.0.0.1", 0, 0, OFF(socket), false,
     check_socket, NULL, false},
    {"SocketMode", CT_OCTAL, "0660", 0, 0777, OFF(socket_mode), false, NULL,
     NULL, false},
    {"SocketGroup", CT_STR, NULL, 0, 0, OFF(socket_group), false, check_group,
     NULL, false},
    {"UserID", CT_STR, NULL, 0, 0, OFF(user_id), false, check_user, NULL,
     false},
    {"PidFile", CT_STR, NULL, 0, 0, OFF(pid_file), false, check_abspath, NULL,
     false},
    {"AuthservID", CT_STR, NULL, 0, 0, OFF(authserv_id), false, check_authserv,
     NULL, false},
    {"LogLevel", CT_ENUM, "info", 0, 0, OFF(log_level), false, NULL,
     loglevel_names, false},
    {"LogFormat", CT_ENUM, "text", 0, 0, OFF(log_format), false, NULL,
     logformat_names, false},
    {"Syslog", CT_BOOL, "yes", 0, 0, OFF(syslog), false, NULL, NULL, false},
    {"DryRun", CT_BOOL, "no", 0, 0, OFF(dry_run), false, NULL, NULL, false},
    {"InternalHosts", CT_CIDRS, "127.0.0.0/8, ::1", 0, 0, OFF(internal_hosts),
     true, NULL, NULL, false},
    {"SkipAuthenticated", CT_BOOL, "yes", 0, 0, OFF(skip_authenticated), false,
     NULL, NULL, false},
    {"TrustedRelays", CT_CIDRS, NULL, 0, 0, OFF(trusted_relays), true, NULL,
     NULL, false},
    {"TrustedAuthservIDs", CT_STRS, NULL, 0, 0, OFF(trusted_authserv_ids), true,
     check_authserv, NULL, false},
    {"ExemptRecipients", CT_STRS, NULL, 0, 0, OFF(exempt_rcpt), true,
     check_exempt_rcpt, NULL, false},
    {"DMARCExemptDomains", CT_STRS, NULL, 0, 0, OFF(dmarc_exempt), true,
     check_domain, NULL, false},
    {"Resolver", CT_RESOLVER, "recursive", 0, 0, OFF(resolver), false, NULL,
     NULL, false},
    {"TrustAnchorFile", CT_STR, NULL, 0, 0, OFF(trust_anchor_file), false,
     check_file, NULL, false},
    {"DNSTimeout", CT_UINT, "5", 1, 60, OFF(dns_timeout), false, NULL, NULL,
     false},
    {"OnDNSError", CT_ENUM, "accept", 0, 0, OFF(on_dns_error), false, NULL,
     ondns_names, false},
    {"DelayReject", CT_BOOL, "yes", 0, 0, OFF(delay_reject), false, NULL, NULL,
     false},
    {"DNSBL", CT_BLS, NULL, 0, 0, OFF(dnsbl), true, NULL, NULL, false},
    {"DNSBLThreshold", CT_INT, "1", 1, 256000, OFF(dnsbl_threshold), false,
     NULL, NULL, false},
    {"DNSBLAction", CT_ACTION, "reject", 0, 0, OFF(dnsbl_action), false, NULL,
     NULL, false},
    {"RHSBL", CT_BLS, NULL, 0, 0, OFF(rhsbl), true, NULL, NULL, false},
    {"RHSBLAction", CT_ACTION, "reject", 0, 0, OFF(rhsbl_action), false, NULL,
     NULL, false},
    {"URIBL", CT_BLS, NULL, 0, 0, OFF(uribl), true, NULL, NULL, false},
    {"URIBLThreshold", CT_INT, "1", 1, 256000, OFF(uribl_threshold), false,
     NULL, NULL, false},
    {"URIBLAction", CT_ACTION, "reject", 0, 0, OFF(uribl_action), false, NULL,
     NULL, false},
    {"URIBLMaxDomains", CT_UINT, "20", 1, 100, OFF(uribl_max_domains), false,
     NULL, NULL, false},
    {"URIBLMaxBytes", CT_UINT, "1048576", 1024, 16777216, OFF(uribl_max_bytes),
     false, NULL, NULL, false},
    {"URIBLSkipDomains", CT_STRS, NULL, 0, 0, OFF(uribl_skip), true,
     check_domain, NULL, false},
    {"DNSBLReplyName", CT_PAIRS, NULL, 0, 0, OFF(dnsbl_reply_name), true,
     check_reply_name, NULL, false},
    {"IPRevAction", CT_ACTION, "none", 0, 0, OFF(iprev_action), false, NULL,
     NULL, false},
    {"HeloAction", CT_ACTION, "none", 0, 0, OFF(helo_action), false, NULL, NULL,
     false},
    {"SenderDomainAction", CT_ACTION, "reject", 0, 0, OFF(sender_domain_action),
     false, NULL, NULL, false},
    {"SPFFailAction", CT_ACTION, "none", 0, 0, OFF(spf_fail_action), false,
     NULL, NULL, false},
    {"SPFSoftfailAction", CT_ACTION, "none", 0, 0, OFF(spf_softfail_action),
     false, NULL, NULL, false},
    {"ReceivedSPF", CT_BOOL, "yes", 0, 0, OFF(received_spf), false, NULL, NULL,
     false},
    {"DKIMMinimumKeyBits", CT_UINT, "1024", 512, 8192, OFF(dkim_min_key_bits),
     false, NULL, NULL, false},
    {"DKIMMaxSignatures", CT_UINT, "5", 1, 16, OFF(dkim_max_signatures), false,
     NULL, NULL, false},
    {"DMARCEnforce", CT_BOOL, "yes", 0, 0, OFF(dmarc_enforce), false, NULL,
     NULL, false},
    {"DMARCRejectAction", CT_ACTION, "reject", 0, 0, OFF(dmarc_reject_action),
     false, NULL, NULL, false},
    {"DMARCQuarantineAction", CT_ACTION, "quarantine", 0, 0,
     OFF(dmarc_quarantine_action), false, NULL, NULL, false},
    {"PublicSuffixList", CT_STR,
     "/usr/share/publicsuffix/public_suffix_list.dat", 0, 0,
     OFF(public_suffix_list), false, check_abspath, NULL, true},
    {"MetricsListen", CT_STR, NULL, 0, 0, OFF(metrics_listen), false,
     check_metrics, NULL, false},
    {"ReportDatabase", CT_STR, "none", 0, 0, OFF(report_database), false,
     check_report_db, NULL, false},
    {"ReportOrgName", CT_STR, NULL, 0, 0, OFF(report_org_name), false, NULL,
     NULL, false},
    {"ReportContact", CT_STR, NULL, 0, 0, OFF(report_contact), false,
     check_mailbox, NULL, false},
    {"ReportFrom", CT_STR, NULL, 0, 0, OFF(report_from), false, check_mailbox,
     NULL, false},
    {"ReportSubmitter", CT_STR, NULL, 0, 0, OFF(report_submitter), false,
     check_domain, NULL, false},
    {"ReportInterval", CT_UINT, "86400", 3600, 604800, OFF(report_interval),
     false, NULL, NULL, false},
    {"ReportRetention", CT_UINT, "30", 1, 3650, OFF(report_retention), false,
     NULL, NULL, false},
    {"ReportMaxURIs", CT_UINT, "2", 1, 10, OFF(report_max_uris), false, NULL,
     NULL, false},
    {"ReportSigningKey", CT_STR, NULL, 0, 0, OFF(report_signing_key), false,
     check_file, NULL, false},
    {"ReportSigningSelector", CT_STR, NULL, 0, 0, OFF(report_signing_selector),
     false, check_selector, NULL, false},
    {"ReportSendmail", CT_STR, "/usr/sbin/sendmail -i -t", 0, 0,
     OFF(report_sendmail), false, NULL, NULL, false},
};

#define CONF_NKW (sizeof conf_table / sizeof conf_table[0])

/*
 * The keywords read once at startup (the socket, the user and the
 * resolver are set up before the privileges go): a SIGHUP that changes
 * one logs that it takes effect at the next restart.
 */
static const char *const conf_restart_keys[] = {
    "Socket",	     "SocketMode",     "SocketGroup", "UserID",
    "PidFile",	     "Syslog",	       "Resolver",    "TrustAnchorFile",
    "MetricsListen", "ReportDatabase",
};

#define CONF_MAX_FILE_LINES 4096 /* lines of a file:PATH list */

/* The published snapshot; conf_lock guards it and every refs field. */
static pthread_mutex_t conf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conf *conf_current;

/* Parser state for one conf_load(). */
struct conf_ctx {
	struct conf *c;
	FILE *errs;
	int nerr;
	int file_line[CONF_NKW]; /* line of the keyword in the file, 0 */
	bool replaced[CONF_NKW]; /* list emptied by the file or by -o */
	bool ov_list[CONF_NKW];	 /* list emptied by an -o */
};

static void conf_err(struct conf_ctx *x, const char *src, long line,
		     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
conf_err(struct conf_ctx *x, const char *src, long line, const char *fmt, ...)
{
	va_list ap;

	x->nerr++;
	if (x->errs == NULL)
		return;
	if (line >= 0)
		fprintf(x->errs, "%s:%ld: ", src, line);
	else
		fprintf(x->errs, "%s: ", src);
	va_start(ap, fmt);
	vfprintf(x->errs, fmt, ap);
	va_end(ap);
	fputc('\n', x->errs);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return AM_EINVAL;
}

static const char *
conf_strerror(int e, char *buf, size_t len)
{
	return strerror_r(e, buf, len);
}

/* --- value checks -------------------------------------------------- */

/* A decimal number made of digits only, within min..max. */
static bool
parse_long(const char *s, int base, long min, long max, long *out)
{
	const char *p = s;
	char *end;
	long v;

	if (*p == '-' || *p == '+')
		p++;
	if (*p == '\0' || !isdigit((unsigned char)*p))
		return false;
	if (base == 8 && (*p == '8' || *p == '9'))
		return false;
	errno = 0;
	v = strtol(s, &end, base);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool
valid_port(const char *s, size_t len)
{
	char buf[8];
	long v;

	if (len == 0 || len >= sizeof buf)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[0] == '+' || buf[0] == '-')
		return false;
	return parse_long(buf, 10, 1, 65535, &v);
}

/* A host name: LDH labels of 1..63 octets, at most 253 octets. */
static bool
valid_hostname(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (isalnum(ch) || (ch == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	if (label == 0 && s[len - 1] != '.')
		return false;
	/* The last label is a TLD, never all digits: "1.2.3.4.5" is a
	 * mistyped address, not a name. */
	if (s[len - 1] == '.')
		len--;
	for (size_t i = len; i > 0 && s[i - 1] != '.'; i--)
		if (isalpha((unsigned char)s[i - 1]))
			return true;
	return false;
}

static bool
valid_ip(int af, const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(af, s, buf) == 1;
}

static int
check_socket(const char *v, char *err, size_t errlen)
{
	const char *p, *at;
	int af;

	if (strncasecmp(v, "unix:", 5) == 0 ||
	    strncasecmp(v, "local:", 6) == 0) {
		p = strchr(v, ':') + 1;
		if (*p != '/')
			return fail(err, errlen,
				    "a unix socket needs an "
				    "absolute path: \"%s\"",
				    v);
		if (strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return fail(
			    err, errlen,
			    "unix socket path longer "
			    "than %zu octets",
			    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return 0;
	}
	if (strncasecmp(v, "inet:", 5) == 0) {
		p = v + 5;
		af = AF_INET;
	} else if (strncasecmp(v, "inet6:", 6) == 0) {
		p = v + 6;
		af = AF_INET6;
	} else {
		return fail(err, errlen,
			    "expected unix:/PATH, local:/PATH, "
			    "inet:PORT@HOST or inet6:PORT@HOST, not \"%s\"",
			    v);
	}
	at = strchr(p, '@');
	if (!valid_port(p, at != NULL ? (size_t)(at - p) : strlen(p)))
		return fail(err, errlen, "bad port in \"%s\" (1..65535)", v);
	if (at != NULL && !valid_ip(af, at + 1) && !valid_hostname(at + 1))
		return fail(err, errlen, "bad %s host in \"%s\"",
			    af == AF_INET ? "IPv4" : "IPv6", v);
	return 0;
}

/* UserID is checked here, so that -n catches a user that does not
 * exist on this host (the daemon would fail at startup anyway). */
static int
check_user(const char *v, char *err, size_t errlen)
{
	char user[256], buf[4096];
	const char *colon = strchr(v, ':');
	size_t ulen = colon != NULL ? (size_t)(colon - v) : strlen(v);
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;

	if (ulen == 0 || ulen >= sizeof user)
		return fail(err, errlen, "expected user[:group]");
	memcpy(user, v, ulen);
	user[ulen] = '\0';
	if (getpwnam_r(user, &pw, buf, sizeof buf, &pwp) != 0 || pwp == NULL)
		return fail(err, errlen, "no such user \"%s\"", user);
	if (colon != NULL) {
		if (colon[1] == '\0')
			return fail(err, errlen, "empty group after ':'");
		if (getgrnam_r(colon + 1, &gr, buf, sizeof buf, &grp) != 0 ||
		    grp == NULL)
			return fail(err, errlen, "no such group \"%s\"",
				    colon + 1);
	}
	return 0;
}

static int
check_abspath(const char *v, char *err, size_t errlen)
{
	if (v[0] != '/')
		return fail(err, errlen,
			    "expected an absolute path, not "
			    "\"%s\"",
			    v);
	if (strlen(v) >= PATH_MAX)
		return fail(err, errlen, "path too long");
	return 0;
}

static int
check_file(const char *v, char *err, size_t errlen)
{
	char ebuf[128];

	if (check_abspath(v, err, errlen) != 0)
		return AM_EINVAL;
	if (access(v, R_OK) != 0)
		return fail(err, errlen, "cannot read \"%s\": %s", v,
			    conf_strerror(errno, ebuf, sizeof ebuf));
	return 0;
}

/* RFC 8601 authserv-id: an RFC 2045 token (no quoted-string here). */
static int
check_authserv(const char *v, char *err, size_t errlen)
{
	static const char tspecials[] = "()<>@,;:\\\"/[]?=";

	if (strlen(v) > 255)
		return fail(err, errlen, "longer than 255 octets");
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || strchr(tspecials, *p))
			return fail(err, errlen,
				    "not a valid authserv-id "
				    "token (RFC 8601): \"%s\"",
				    v);
	return 0;
}

static int
check_metrics(const char *v, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *colon;
	size_t alen;
	int af = AF_INET;

	if (v[0] == '[') {
		const char *rb = strchr(v, ']');

		if (rb == NULL || rb[1] != ':')
			return fail(err, errlen,
				    "expected [ADDR]:PORT for "
				    "IPv6, not \"%s\"",
				    v);
		alen = (size_t)(rb - v - 1);
		if (alen >= sizeof addr)
			return fail(err, errlen, "bad address in \"%s\"", v);
		memcpy(addr, v + 1, alen);
		colon = rb + 1;
		af = AF_INET6;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL)
			return fail(err, errlen,
				    "expected ADDR:PORT, not "
				    "\"%s\"",
				    v);
		alen = (size_t)(colon - v);
		if (alen >= sizeof addr)
			return fail(err, errlen, "bad address in \"%s\"", v);
		memcpy(addr, v, alen);
	}
	addr[alen] = '\0';
	if (!valid_ip(af, addr))
		return fail(err, errlen, "bad %s address in \"%s\"%s",
			    af == AF_INET ? "IPv4" : "IPv6", v,
			    af == AF_INET && strchr(addr, ':') != NULL
				? " (write IPv6 as [ADDR]:PORT)"
				: "");
	if (!valid_port(colon + 1, strlen(colon + 1)))
		return fail(err, errlen, "bad port in \"%s\" (1..65535)", v);
	return 0;
}

static int
check_group(const char *v, char *err, size_t errlen)
{
	char buf[4096];
	struct group gr, *grp = NULL;

	if (getgrnam_r(v, &gr, buf, sizeof buf, &grp) != 0 || grp == NULL)
		return fail(err, errlen, "no such group \"%s\"", v);
	return 0;
}

/* An atom of a local part or a domain: printable ASCII, no specials. */
static bool
addr_chars(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch <= 0x20 || ch >= 0x7f || strchr("<>()[]\\,;:\"@", ch))
			return false;
	}
	return len > 0;
}

/* "local@" (any domain) or "local@domain". */
static int
check_exempt_rcpt(const char *v, char *err, size_t errlen)
{
	const char *at = strchr(v, '@');

	if (at == NULL || !addr_chars(v, (size_t)(at - v)) || strlen(v) > 254 ||
	    (at[1] != '\0' && !valid_hostname(at + 1)))
		return fail(err, errlen, "expected local@ or local@domain");
	return 0;
}

static int
check_domain(const char *v, char *err, size_t errlen)
{
	if (!valid_hostname(v))
		return fail(err, errlen, "not a domain name: \"%s\"", v);
	return 0;
}

/*
 * ReportDatabase: "none", "sqlite" (CONF_REPORT_SQLITE), "sqlite:PATH"
 * with an absolute path, or a libpq URI (libpq checks the rest when it
 * connects).
 */
static int
check_report_db(const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "none") == 0 || strcmp(v, "sqlite") == 0)
		return 0;
	if (strncmp(v, "sqlite:", 7) == 0)
		return check_abspath(v + 7, err, errlen);
	if (strncmp(v, "postgresql://", 13) == 0 ||
	    strncmp(v, "postgres://", 11) == 0)
		return strlen(v) < 1024 ? 0 : fail(err, errlen, "URI too long");
	return fail(err, errlen,
		    "expected none, sqlite, sqlite:PATH or "
		    "postgresql://...");
}

/* A plain addr-spec "local@domain" (no display name, no comments). */
static int
check_mailbox(const char *v, char *err, size_t errlen)
{
	const char *at = strrchr(v, '@');

	if (at == NULL || at == v || !addr_chars(v, (size_t)(at - v)) ||
	    strlen(v) > 254 || !valid_hostname(at + 1))
		return fail(err, errlen, "expected local@domain, not \"%s\"",
			    v);
	return 0;
}

/* A DKIM selector: one or more DNS labels. */
static int
check_selector(const char *v, char *err, size_t errlen)
{
	if (!valid_hostname(v) || strlen(v) > 63 * 2)
		return fail(err, errlen, "not a selector: \"%s\"", v);
	return 0;
}

/* "ZONE NAME": NAME is what replies, headers and logs show. */
static int
check_reply_name(const char *v, char *err, size_t errlen)
{
	const char *sp = v;
	char zone[256];
	size_t zlen;

	while (*sp != '\0' && !isspace((unsigned char)*sp))
		sp++;
	zlen = (size_t)(sp - v);
	while (isspace((unsigned char)*sp))
		sp++;
	if (zlen == 0 || zlen >= sizeof zone || *sp == '\0')
		return fail(err, errlen, "expected ZONE NAME");
	memcpy(zone, v, zlen);
	zone[zlen] = '\0';
	if (!valid_hostname(zone))
		return fail(err, errlen, "not a zone name");
	if (strlen(sp) > 64)
		return fail(err, errlen, "NAME longer than 64 octets");
	for (const char *p = sp; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("-._", *p) == NULL)
			return fail(err, errlen,
				    "NAME: letters, digits, '-', '.' and "
				    "'_' only");
	return 0;
}

/* "forward ADDR[@PORT][,ADDR[@PORT]...]": normalized into *out. */
static int
parse_forward(const char *list, char **out, char *err, size_t errlen)
{
	char *copy = strdup(list), *norm = NULL, *save = NULL, *item;
	size_t nlen = 0, cap = strlen(list) + 1;
	int n = 0, rc = AM_ENOMEM;

	if (copy == NULL)
		goto out;
	norm = malloc(cap);
	if (norm == NULL)
		goto out;
	norm[0] = '\0';
	for (item = strtok_r(copy, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		char *at, *end;
		size_t len;

		while (isspace((unsigned char)*item))
			item++;
		end = item + strlen(item);
		while (end > item && isspace((unsigned char)end[-1]))
			*--end = '\0';
		at = strchr(item, '@');
		if (at != NULL)
			*at = '\0';
		if (!valid_ip(AF_INET, item) && !valid_ip(AF_INET6, item)) {
			rc = fail(err, errlen,
				  "forward: \"%s\" is not an "
				  "IPv4 or IPv6 address",
				  item);
			goto out;
		}
		if (at != NULL && !valid_port(at + 1, strlen(at + 1))) {
			rc = fail(err, errlen,
				  "forward: bad port \"%s\" "
				  "(1..65535)",
				  at + 1);
			goto out;
		}
		if (at != NULL)
			*at = '@';
		len = strlen(item);
		if (nlen + len + 2 > cap) {
			rc = fail(err, errlen, "forward: malformed list");
			goto out;
		}
		if (n > 0)
			norm[nlen++] = ',';
		memcpy(norm + nlen, item, len + 1);
		nlen += len;
		n++;
	}
	if (n == 0) {
		rc = fail(err, errlen,
			  "forward needs at least one "
			  "ADDR[@PORT]");
		goto out;
	}
	*out = norm;
	norm = NULL;
	rc = 0;
out:
	if (rc == AM_ENOMEM && err[0] == '\0')
		fail(err, errlen, "out of memory");
	free(copy);
	free(norm);
	return rc;
}

/* --- setting one value --------------------------------------------- */

static int
parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"yes", "true", "1"};
	static const char *const no[] = {"no", "false", "0"};

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return AM_EINVAL;
}

static int
strlist_add(struct conf_strlist *l, const char *item)
{
	char **v, *dup;

	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i], item) == 0)
			return 0; /* a repeat counts once */
	if (l->n >= CONF_MAX_LIST)
		return AM_ERANGE;
	dup = strdup(item);
	if (dup == NULL)
		return AM_ENOMEM;
	v = realloc(l->v, (l->n + 1) * sizeof *v);
	if (v == NULL) {
		free(dup);
		return AM_ENOMEM;
	}
	v[l->n++] = dup;
	l->v = v;
	return 0;
}

static void
strlist_free(struct conf_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

bool
conf_id_listed(const struct conf_strlist *l, const char *id)
{
	size_t a = id != NULL ? strlen(id) : 0;

	if (a > 0 && id[a - 1] == '.')
		a--;
	for (size_t i = 0; l != NULL && a > 0 && i < l->n; i++) {
		size_t b = strlen(l->v[i]);

		if (b > 0 && l->v[i][b - 1] == '.')
			b--;
		if (a == b && strncasecmp(id, l->v[i], a) == 0)
			return true;
	}
	return false;
}

/* One entry of a list keyword; the reason of a failure in err. */
static int
list_add_item(struct conf *c, const struct conf_kw *kw, const char *item,
	      char *err, size_t errlen)
{
	void *field = (char *)c + kw->off;
	char why[256];
	int rc;

	why[0] = '\0';
	if (kw->type == CT_CIDRS) {
		struct cidr net;

		rc = cidr_parse(item, &net, why, sizeof why);
		if (rc == 0)
			rc = cidr_list_add(field, &net);
	} else if (kw->type == CT_BLS) {
		struct blentry e;

		rc = blentry_parse(item, &e, why, sizeof why);
		if (rc == 0) {
			rc = blentry_list_add(field, &e);
			blentry_free(&e);
		}
	} else {
		rc = kw->check != NULL ? kw->check(item, why, sizeof why) : 0;
		if (rc == 0)
			rc = strlist_add(field, item);
	}
	if (rc == AM_ERANGE)
		fail(err, errlen, "more than %d entries", CONF_MAX_LIST);
	else if (rc == AM_ENOMEM)
		fail(err, errlen, "out of memory");
	else if (rc != 0 && kw->type == CT_PAIRS) /* may hold a key */
		fail(err, errlen, "%s", why);
	else if (rc != 0)
		fail(err, errlen, "\"%.200s\": %s", item, why);
	return rc;
}

/* The separators of a list value's entries. */
static const char *
list_seps(const struct conf_kw *kw)
{
	return kw->type == CT_PAIRS ? "," : ", \t";
}

/* Trim white space at both ends, in place. */
static char *
trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Add the comma- or space-separated items of a list value (defaults). */
static int
set_list(struct conf *c, const struct conf_kw *kw, const char *v, char *err,
	 size_t errlen)
{
	char *copy = strdup(v), *save = NULL, *item;
	int rc = 0;

	if (copy == NULL)
		return fail(err, errlen, "out of memory");
	for (item = strtok_r(copy, list_seps(kw), &save);
	     item != NULL && rc == 0;
	     item = strtok_r(NULL, list_seps(kw), &save))
		rc = list_add_item(c, kw, trim(item), err, errlen);
	free(copy);
	return rc;
}

static void
clear_list(struct conf *c, const struct conf_kw *kw)
{
	if (kw->type == CT_CIDRS)
		cidr_list_free((struct cidr_list *)((char *)c + kw->off));
	else if (kw->type == CT_BLS)
		blentry_list_free((struct blentry_list *)((char *)c + kw->off));
	else if (kw->type == CT_STRS || kw->type == CT_PAIRS)
		strlist_free((struct conf_strlist *)((char *)c + kw->off));
}

/*
 * conf_set - parse v for keyword kw into c. Returns 0, or AM_EINVAL with
 * the reason (without the keyword) in err.
 */
static int
conf_set(struct conf *c, const struct conf_kw *kw, const char *v, char *err,
	 size_t errlen)
{
	void *field = (char *)c + kw->off;
	long n;
	bool b;
	int a;

	err[0] = '\0';
	switch (kw->type) {
	case CT_STR: {
		char **sp = field, *dup = NULL;

		if (kw->none_ok && strcasecmp(v, "none") == 0) {
			free(*sp);
			*sp = NULL;
			return 0;
		}
		if (kw->check != NULL && kw->check(v, err, errlen) != 0)
			return AM_EINVAL;
		dup = strdup(v);
		if (dup == NULL)
			return fail(err, errlen, "out of memory");
		free(*sp);
		*sp = dup;
		return 0;
	}
	case CT_BOOL:
		if (parse_bool(v, &b) != 0)
			return fail(err, errlen,
				    "expected yes, no, true, "
				    "false, 1 or 0, not \"%s\"",
				    v);
		*(bool *)field = b;
		return 0;
	case CT_UINT:
	case CT_INT:
	case CT_OCTAL:
		if (!parse_long(v, kw->type == CT_OCTAL ? 8 : 10, kw->min,
				kw->max, &n) ||
		    (kw->type != CT_INT && (v[0] == '-' || v[0] == '+'))) {
			if (kw->type == CT_OCTAL)
				return fail(err, errlen,
					    "expected an octal "
					    "mode 0..0%lo, not \"%s\"",
					    (unsigned long)kw->max, v);
			return fail(err, errlen,
				    "expected a number "
				    "%ld..%ld, not \"%s\"",
				    kw->min, kw->max, v);
		}
		if (kw->type == CT_INT)
			*(int *)field = (int)n;
		else
			*(unsigned int *)field = (unsigned int)n;
		return 0;
	case CT_ACTION:
		a = am_action_parse(v);
		if (a < 0)
			return fail(err, errlen,
				    "expected reject, tempfail, "
				    "quarantine, tag or none, not \"%s\"",
				    v);
		*(enum am_action *)field = (enum am_action)a;
		return 0;
	case CT_ENUM:
		for (int i = 0; kw->names[i] != NULL; i++) {
			if (strcasecmp(v, kw->names[i]) == 0) {
				*(int *)field = i;
				return 0;
			}
		}
		return fail(
		    err, errlen, "expected %s%s%s%s%s%s%s, not \"%s\"",
		    kw->names[0], kw->names[1] ? ", " : "",
		    kw->names[1] ? kw->names[1] : "",
		    kw->names[1] && kw->names[2] ? ", " : "",
		    kw->names[1] && kw->names[2] ? kw->names[2] : "",
		    kw->names[1] && kw->names[2] && kw->names[3] ? " or " : "",
		    kw->names[1] && kw->names[2] && kw->names[3] ? kw->names[3]
								 : "",
		    v);
	case CT_CIDRS:
	case CT_BLS:
	case CT_STRS:
	case CT_PAIRS:
		return set_list(c, kw, v, err, errlen);
	case CT_RESOLVER: {
		char *fwd = NULL;

		if (strcasecmp(v, "recursive") == 0) {
			c->resolver = DNS_MODE_RECURSIVE;
		} else if (strcasecmp(v, "resolvconf") == 0) {
			c->resolver = DNS_MODE_RESOLVCONF;
		} else if (strncasecmp(v, "forward", 7) == 0 &&
			   (v[7] == '\0' || isspace((unsigned char)v[7]))) {
			if (parse_forward(v + 7, &fwd, err, errlen) != 0)
				return AM_EINVAL;
			c->resolver = DNS_MODE_FORWARD;
		} else {
			return fail(err, errlen,
				    "expected recursive, "
				    "resolvconf or forward ADDR[@PORT][,...], "
				    "not \"%s\"",
				    v);
		}
		free(c->resolver_forward);
		c->resolver_forward = fwd;
		return 0;
	}
	}
	return fail(err, errlen, "internal error: bad keyword type");
}

static const struct conf_kw *
conf_lookup(const char *name, size_t *idx)
{
	for (size_t i = 0; i < CONF_NKW; i++) {
		if (strcasecmp(name, conf_table[i].name) == 0) {
			*idx = i;
			return &conf_table[i];
		}
	}
	return NULL;
}

/* The host's FQDN: gethostname, then its canonical name if any. */
static char *
conf_fqdn(void)
{
	char host[256];
	struct addrinfo hints, *res = NULL;
	char *out = NULL;

	if (gethostname(host, sizeof host) != 0)
		return strdup("localhost");
	host[sizeof host - 1] = '\0';
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(host, NULL, &hints, &res) == 0 && res != NULL &&
	    res->ai_canonname != NULL && res->ai_canonname[0] != '\0' &&
	    check_authserv(res->ai_canonname, host, 0) == 0)
		out = strdup(res->ai_canonname);
	if (res != NULL)
		freeaddrinfo(res);
	if (out == NULL)
		out = strdup(host);
	return out;
}

static struct conf *
conf_defaults(void)
{
	struct conf *c = calloc(1, sizeof *c);
	char err[CONF_ERRLEN];

	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < CONF_NKW; i++) {
		const struct conf_kw *kw = &conf_table[i];

		if (kw->def == NULL)
			continue;
		/* PublicSuffixList's default is not checked for existence;
		 * the defaults always pass their own checks. */
		if (conf_set(c, kw, kw->def, err, sizeof err) != 0)
			abort(); /* a broken table is a programming error */
	}
	return c;
}

/* Split "Keyword value" (already stripped of comments); NUL-terminates
 * the keyword in place. Returns the value or NULL when there is none. */
static char *
conf_split(char *line)
{
	char *v = line;

	while (*v != '\0' && !isspace((unsigned char)*v))
		v++;
	if (*v == '\0')
		return NULL;
	*v++ = '\0';
	while (isspace((unsigned char)*v))
		v++;
	return *v != '\0' ? v : NULL;
}

/* Sanitize a keyword from the file for an error message. */
static const char *
conf_safe(const char *s, char *buf, size_t len)
{
	return log_escape(s, strlen(s), buf, len);
}

/*
 * '#' starts a comment at the start of a line or after white space (so
 * a path may contain '#'); the comment and the white space around the
 * rest go. Returns the rest, in place.
 */
static char *
strip_comment(char *buf)
{
	char *p;

	for (p = buf; *p != '\0'; p++) {
		if (*p == '#' && (p == buf || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			break;
		}
	}
	return trim(buf);
}

static void list_apply(struct conf_ctx *x, const struct conf_kw *kw,
		       const char *src, long line, const char *v, bool in_file);

/* file:PATH of a list keyword: one entry per line, errors PATH:LINE. */
static void
list_read_file(struct conf_ctx *x, const struct conf_kw *kw, const char *src,
	       long line, const char *path)
{
	char *buf = NULL, ebuf[128];
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	FILE *fp;

	if (path[0] != '/') {
		conf_err(x, src, line, "%s: file:%s: expected an absolute path",
			 kw->name, path);
		return;
	}
	fp = fopen(path, "r");
	if (fp == NULL) {
		conf_err(x, src, line, "%s: cannot open %s: %s", kw->name, path,
			 conf_strerror(errno, ebuf, sizeof ebuf));
		return;
	}
	while ((len = getline(&buf, &cap, fp)) >= 0) {
		char *p;

		if (++lineno > CONF_MAX_FILE_LINES) {
			conf_err(x, path, lineno, "more than %d lines",
				 CONF_MAX_FILE_LINES);
			break;
		}
		if ((size_t)len > CONF_MAX_LINE ||
		    memchr(buf, '\0', (size_t)len) != NULL) {
			conf_err(x, path, lineno,
				 "line longer than %d octets or with a NUL",
				 CONF_MAX_LINE);
			continue;
		}
		p = strip_comment(buf);
		if (*p != '\0')
			list_apply(x, kw, path, lineno, p, true);
	}
	if (ferror(fp))
		conf_err(x, path, -1, "read error: %s",
			 conf_strerror(errno, ebuf, sizeof ebuf));
	free(buf);
	fclose(fp);
}

/* The entries of a list value, file:PATH among them, into x->c. */
static void
list_apply(struct conf_ctx *x, const struct conf_kw *kw, const char *src,
	   long line, const char *v, bool in_file)
{
	char *copy = strdup(v), *save = NULL, *item;
	char err[CONF_ERRLEN];

	if (copy == NULL) {
		conf_err(x, src, line, "out of memory");
		return;
	}
	for (item = strtok_r(copy, list_seps(kw), &save); item != NULL;
	     item = strtok_r(NULL, list_seps(kw), &save)) {
		item = trim(item);
		if (*item == '\0')
			continue;
		if (strncasecmp(item, "file:", 5) == 0) {
			if (in_file)
				conf_err(x, src, line,
					 "%s: file: inside a list file",
					 kw->name);
			else
				list_read_file(x, kw, src, line, item + 5);
			continue;
		}
		if (list_add_item(x->c, kw, item, err, sizeof err) != 0) {
			conf_err(x, src, line, "%s: %s", kw->name, err);
			break;
		}
	}
	free(copy);
}

static void
conf_apply(struct conf_ctx *x, const char *src, long line, const char *key,
	   const char *val, bool is_override)
{
	const struct conf_kw *kw;
	char err[CONF_ERRLEN], safe[128];
	size_t idx;

	kw = conf_lookup(key, &idx);
	if (kw == NULL) {
		conf_err(x, src, line, "unknown keyword \"%s\"",
			 conf_safe(key, safe, sizeof safe));
		return;
	}
	if (val == NULL) {
		conf_err(x, src, line, "%s: needs a value", kw->name);
		return;
	}
	if (!is_override) {
		if (!kw->list && x->file_line[idx] != 0) {
			conf_err(x, src, line,
				 "%s repeated (first set at "
				 "line %d)",
				 kw->name, x->file_line[idx]);
			return;
		}
		if (x->file_line[idx] == 0)
			x->file_line[idx] = (int)line;
	}
	/* A list given in the file replaces the default; one given with
	 * -o replaces what the file and the defaults had. */
	if (kw->list) {
		bool *done = is_override ? &x->ov_list[idx] : &x->replaced[idx];

		if (!*done) {
			clear_list(x->c, kw);
			*done = true;
		}
	}
	if (kw->list)
		list_apply(x, kw, src, line, val, false);
	else if (conf_set(x->c, kw, val, err, sizeof err) != 0)
		conf_err(x, src, line, "%s: %s", kw->name, err);
}

static void
conf_parse_file(struct conf_ctx *x, FILE *fp, const char *src)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	char ebuf[128];

	while ((len = getline(&buf, &cap, fp)) >= 0) {
		char *p, *val;

		lineno++;
		if ((size_t)len > CONF_MAX_LINE) {
			conf_err(x, src, lineno, "line longer than %d octets",
				 CONF_MAX_LINE);
			continue;
		}
		if (memchr(buf, '\0', (size_t)len) != NULL) {
			conf_err(x, src, lineno, "NUL octet in line");
			continue;
		}
		p = strip_comment(buf);
		if (*p == '\0')
			continue;
		val = conf_split(p);
		conf_apply(x, src, lineno, p, val, false);
	}
	if (ferror(fp))
		conf_err(x, src, -1, "read error: %s",
			 conf_strerror(errno, ebuf, sizeof ebuf));
	free(buf);
}

/* Trailing-dot-insensitive, case-insensitive equality of two names. */
static bool
name_eq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen > 0 && a[alen - 1] == '.')
		alen--;
	if (blen > 0 && b[blen - 1] == '.')
		blen--;
	return alen == blen && strncasecmp(a, b, alen) == 0;
}

/* DNSBLReplyName: give every DNSBL/RHSBL/URIBL entry of a named zone its
 * name. */
static int
apply_reply_names(struct conf *c)
{
	struct blentry_list *lists[] = {&c->dnsbl, &c->rhsbl, &c->uribl};

	for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++) {
		for (size_t i = 0; i < lists[k]->n; i++) {
			struct blentry *e = &lists[k]->v[i];

			for (size_t j = 0; j < c->dnsbl_reply_name.n; j++) {
				const char *p = c->dnsbl_reply_name.v[j];
				size_t zlen = strcspn(p, " \t");

				if (!name_eq(p, zlen, e->zone))
					continue;
				p += zlen;
				while (isspace((unsigned char)*p))
					p++;
				free(e->name);
				e->name = strdup(p);
				if (e->name == NULL)
					return AM_ENOMEM;
			}
		}
	}
	return 0;
}

bool
conf_exempt_rcpt(const struct conf *c, const char *addr)
{
	const char *at;
	size_t len;

	if (c == NULL || addr == NULL)
		return false;
	while (*addr == '<' || isspace((unsigned char)*addr))
		addr++;
	len = strcspn(addr, ">");
	at = memchr(addr, '@', len);
	if (at == NULL)
		return false;
	for (size_t i = 0; i < c->exempt_rcpt.n; i++) {
		const char *e = c->exempt_rcpt.v[i];
		size_t elen = strlen(e);

		if (e[elen - 1] == '@') {
			if ((size_t)(at - addr) + 1 == elen &&
			    strncasecmp(addr, e, elen) == 0)
				return true;
		} else if (len == elen && strncasecmp(addr, e, len) == 0) {
			return true;
		}
	}
	return false;
}

bool
conf_dmarc_exempt(const struct conf *c, const char *domain)
{
	if (c == NULL || domain == NULL)
		return false;
	for (const char *d = domain; d != NULL && *d != '\0';) {
		for (size_t i = 0; i < c->dmarc_exempt.n; i++)
			if (name_eq(d, strlen(d), c->dmarc_exempt.v[i]))
				return true;
		d = strchr(d, '.');
		if (d != NULL)
			d++;
	}
	return false;
}

bool
conf_keyword_restart(size_t i)
{
	if (i >= CONF_NKW)
		return false;
	for (size_t k = 0; k < sizeof conf_restart_keys / sizeof(char *); k++)
		if (strcmp(conf_restart_keys[k], conf_table[i].name) == 0)
			return true;
	return false;
}

static bool
str_differ(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

bool
conf_keyword_differs(const struct conf *a, const struct conf *b, size_t i)
{
	const struct conf_kw *kw = &conf_table[i];
	const void *fa, *fb;

	if (i >= CONF_NKW)
		return false;
	fa = (const char *)a + kw->off;
	fb = (const char *)b + kw->off;
	switch (kw->type) {
	case CT_STR:
		return str_differ(*(char *const *)fa, *(char *const *)fb);
	case CT_BOOL:
		return *(const bool *)fa != *(const bool *)fb;
	case CT_UINT:
	case CT_OCTAL:
		return *(const unsigned int *)fa != *(const unsigned int *)fb;
	case CT_INT:
	case CT_ACTION:
	case CT_ENUM:
		return *(const int *)fa != *(const int *)fb;
	case CT_CIDRS: {
		const struct cidr_list *la = fa, *lb = fb;

		return la->n != lb->n ||
		       (la->n > 0 &&
			memcmp(la->v, lb->v, la->n * sizeof *la->v) != 0);
	}
	case CT_BLS: {
		const struct blentry_list *la = fa, *lb = fb;

		if (la->n != lb->n)
			return true;
		for (size_t k = 0; k < la->n; k++)
			if (strcmp(la->v[k].text, lb->v[k].text) != 0)
				return true;
		return false;
	}
	case CT_STRS:
	case CT_PAIRS: {
		const struct conf_strlist *la = fa, *lb = fb;

		if (la->n != lb->n)
			return true;
		for (size_t k = 0; k < la->n; k++)
			if (strcmp(la->v[k], lb->v[k]) != 0)
				return true;
		return false;
	}
	case CT_RESOLVER:
		return a->resolver != b->resolver ||
		       str_differ(a->resolver_forward, b->resolver_forward);
	}
	return false;
}

/*
 * The Report* keys that only make sense together: a database needs the
 * contact and From address the reports will carry; a signing key needs
 * its selector and the other way round.
 */
static void
conf_check_report(struct conf_ctx *x, const char *path)
{
	struct conf *c = x->c;

	if (conf_reporting(c) &&
	    (c->report_contact == NULL || c->report_from == NULL))
		conf_err(x, path, -1,
			 "ReportDatabase is set: ReportContact and ReportFrom "
			 "are required (the reports carry them)");
	if ((c->report_signing_key == NULL) !=
	    (c->report_signing_selector == NULL))
		conf_err(x, path, -1,
			 "ReportSigningKey and ReportSigningSelector go "
			 "together");
	if (c->report_interval % 86400 != 0 && 86400 % c->report_interval != 0)
		conf_err(x, path, -1,
			 "ReportInterval %u: periods are aligned to UTC "
			 "midnight, so it must divide a day or be whole days",
			 c->report_interval);
}

bool
conf_reporting(const struct conf *c)
{
	return c->report_database != NULL &&
	       strcmp(c->report_database, "none") != 0;
}

const char *
conf_report_db(const struct conf *c)
{
	if (!conf_reporting(c))
		return NULL;
	if (strcmp(c->report_database, "sqlite") == 0)
		return "sqlite:" CONF_REPORT_SQLITE;
	return c->report_database;
}

struct conf *
conf_load(const char *file, const struct conf_override *ov, size_t nov,
	  FILE *errs)
{
	struct conf_ctx x;
	const char *path = file != NULL ? file : CONF_DEFAULT_FILE;
	char ebuf[128];
	FILE *fp;

	memset(&x, 0, sizeof x);
	x.errs = errs;
	x.c = conf_defaults();
	if (x.c == NULL) {
		conf_err(&x, path, -1, "out of memory");
		return NULL;
	}
	fp = fopen(path, "r");
	if (fp == NULL && file == NULL && errno == ENOENT) {
		x.c->defaults_only = true;
	} else if (fp == NULL) {
		conf_err(&x, path, -1, "cannot open: %s",
			 conf_strerror(errno, ebuf, sizeof ebuf));
	} else {
		x.c->file = strdup(path);
		if (x.c->file == NULL)
			conf_err(&x, path, -1, "out of memory");
		conf_parse_file(&x, fp, path);
		fclose(fp);
	}
	for (size_t i = 0; i < nov; i++) {
		const char *v = ov[i].value;

		if (v != NULL && *v == '\0')
			v = NULL;
		conf_apply(&x, "-o", (long)i + 1,
			   ov[i].key != NULL ? ov[i].key : "", v, true);
	}
	if (x.nerr == 0 && apply_reply_names(x.c) != 0)
		conf_err(&x, path, -1, "out of memory");
	if (x.nerr == 0 && x.c->authserv_id == NULL) {
		x.c->authserv_id = conf_fqdn();
		if (x.c->authserv_id == NULL)
			conf_err(&x, path, -1, "out of memory");
	}
	if (x.nerr == 0)
		conf_check_report(&x, path);
	if (x.nerr != 0) {
		conf_free(x.c);
		return NULL;
	}
	return x.c;
}

struct conf *
conf_load_logged(const char *file, const struct conf_override *ov, size_t nov)
{
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	struct conf *c;
	FILE *errs = open_memstream(&buf, &len);

	c = conf_load(file, ov, nov, errs != NULL ? errs : stderr);
	if (errs != NULL) {
		fclose(errs);
		for (line = strtok_r(buf, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save))
			log_error("%s", line);
	}
	free(buf);
	return c;
}

void
conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	free(c->file);
	for (size_t i = 0; i < CONF_NKW; i++) {
		const struct conf_kw *kw = &conf_table[i];

		if (kw->type == CT_STR)
			free(*(char **)((char *)c + kw->off));
		else if (kw->list)
			clear_list(c, kw);
	}
	free(c->resolver_forward);
	free(c);
}

void
conf_publish(struct conf *c)
{
	struct conf *old;

	pthread_mutex_lock(&conf_lock);
	old = conf_current;
	conf_current = c;
	if (c != NULL)
		c->refs++;
	pthread_mutex_unlock(&conf_lock);
	conf_release(old);
}

struct conf *
conf_acquire(void)
{
	struct conf *c;

	pthread_mutex_lock(&conf_lock);
	c = conf_current;
	if (c != NULL)
		c->refs++;
	pthread_mutex_unlock(&conf_lock);
	return c;
}

void
conf_release(struct conf *c)
{
	bool last;

	if (c == NULL)
		return;
	pthread_mutex_lock(&conf_lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&conf_lock);
	if (last)
		conf_free(c);
}

void
conf_shutdown(void)
{
	conf_publish(NULL);
}

size_t
conf_keyword_count(void)
{
	return CONF_NKW;
}

const char *
conf_keyword_name(size_t i)
{
	return i < CONF_NKW ? conf_table[i].name : NULL;
}

int
conf_override_parse(const char *arg, struct conf_override *ov)
{
	const char *eq = strchr(arg, '=');
	char *key;

	if (eq == NULL || eq == arg)
		return AM_EINVAL;
	key = strndup(arg, (size_t)(eq - arg));
	if (key == NULL)
		return AM_ENOMEM;
	ov->key = key;
	ov->value = eq + 1;
	return 0;
}

int
conf_override_arg(const char *prog, const char *arg, struct conf_override *ov,
		  size_t *n)
{
	int rc = conf_override_parse(arg, &ov[*n]);

	if (rc != 0)
		fprintf(stderr, "%s: -o %s: expected KEY=VALUE\n", prog, arg);
	else
		(*n)++;
	return rc;
}
