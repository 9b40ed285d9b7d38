/*
 * conf - the configuration: keyword table, parser, snapshots
 *
 * Every keyword of SPEC.md is one row of the table in conf.c (name, type,
 * default, bounds, target field, list flag); the parser, -o, -n, the
 * built-in defaults and the documentation check all read that table.
 * conf_load() parses a file plus -o overrides into a fresh struct conf
 * and reports every error as "FILE:LINE: message"; it publishes nothing.
 * conf_publish() makes a loaded snapshot the current one (at startup and
 * after a good SIGHUP reload). Sessions take a reference at negotiate
 * with conf_acquire() and drop it at close with conf_release(), so a
 * reload never changes an open session's configuration.
 *
 * A list keyword also takes "file:PATH" (an absolute path) in place of
 * an entry: the file holds one entry per line, '#' comments and blank
 * lines; it is read by every conf_load() (so again at each SIGHUP) and
 * its errors are named "PATH:LINE".
 *
 * Caps: a line is at most 4096 octets; a list holds at most 256 entries;
 *   a list file is read to at most 4096 lines.
 * Ownership: a struct conf owns all its strings and lists; it is freed
 *   when its last reference goes (conf_release), or with conf_free() if
 *   it was never published.
 * Threads: conf_acquire/conf_release/conf_publish are safe from any
 *   thread (one mutex, conf_lock, guards the current pointer and the
 *   refcounts). A snapshot is immutable once published.
 * Errors: conf_load() returns a negative AM_ECONF with every error
 *   written to the error sink, one line each.
 * See also: SPEC.md "Configuration file", authmilter.conf(5).
 */
#ifndef AM_CONF_H
#define AM_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "blentry.h"
#include "cidr.h"
#include "dns_mode.h"
#include "log.h"
#include "result.h"

#define CONF_DEFAULT_FILE "/etc/authmilter/authmilter.conf"
#define CONF_MAX_LIST 256 /* entries of a list keyword */

_Static_assert(CIDR_MAX_LIST == CONF_MAX_LIST &&
		   BLENTRY_MAX_LIST == CONF_MAX_LIST,
	       "a list keyword's cap is its list type's cap");

enum conf_ondnserror { ONDNS_ACCEPT = 0, ONDNS_TEMPFAIL };

/* A list of strings (ExemptRecipients, DMARCExemptDomains, ...). */
struct conf_strlist {
	char **v; /* owned, each owned */
	size_t n;
};

struct conf {
	int refs;	    /* references, under conf_lock */
	char *file;	    /* the file loaded, or NULL for defaults */
	bool defaults_only; /* no file was found: built-in defaults */

	/* General */
	char *socket;		    /* Socket: owned */
	unsigned int socket_mode;   /* SocketMode */
	char *socket_group;	    /* SocketGroup or NULL: owned */
	char *user_id;		    /* UserID "user[:group]" or NULL: owned */
	char *pid_file;		    /* PidFile or NULL: owned */
	char *authserv_id;	    /* AuthservID (host FQDN by default) */
	enum log_level log_level;   /* LogLevel */
	enum log_format log_format; /* LogFormat */
	bool syslog;		    /* Syslog */
	bool dry_run;		    /* DryRun */
	struct cidr_list internal_hosts;	  /* InternalHosts: owned */
	bool skip_authenticated;		  /* SkipAuthenticated */
	struct cidr_list trusted_relays;	  /* TrustedRelays: owned */
	struct conf_strlist trusted_authserv_ids; /* TrustedAuthservIDs */
	struct conf_strlist exempt_rcpt;  /* ExemptRecipients: "local@" or
					   * "local@domain", lower case */
	struct conf_strlist dmarc_exempt; /* DMARCExemptDomains, lower case */
	enum dns_mode resolver;		  /* Resolver mode */
	char *resolver_forward;	  /* "ADDR[@PORT],..." for forward: owned */
	char *trust_anchor_file;  /* TrustAnchorFile or NULL: owned */
	unsigned int dns_timeout; /* DNSTimeout, seconds */
	enum conf_ondnserror on_dns_error; /* OnDNSError */
	bool delay_reject;		   /* DelayReject */

	/* Connection checks */
	struct blentry_list dnsbl;	      /* DNSBL: owned */
	int dnsbl_threshold;		      /* DNSBLThreshold */
	enum am_action dnsbl_action;	      /* DNSBLAction */
	struct blentry_list rhsbl;	      /* RHSBL: owned */
	enum am_action rhsbl_action;	      /* RHSBLAction */
	struct blentry_list uribl;	      /* URIBL: owned */
	int uribl_threshold;		      /* URIBLThreshold */
	enum am_action uribl_action;	      /* URIBLAction */
	unsigned int uribl_max_domains;	      /* URIBLMaxDomains */
	unsigned int uribl_max_bytes;	      /* URIBLMaxBytes */
	struct conf_strlist uribl_skip;	      /* URIBLSkipDomains */
	enum am_action iprev_action;	      /* IPRevAction */
	enum am_action helo_action;	      /* HeloAction */
	enum am_action sender_domain_action;  /* SenderDomainAction */
	struct conf_strlist dnsbl_reply_name; /* DNSBLReplyName "ZONE NAME",
					       * applied to the blentry
					       * lists' names at load */

	/* SPF */
	enum am_action spf_fail_action;	    /* SPFFailAction */
	enum am_action spf_softfail_action; /* SPFSoftfailAction */
	bool received_spf;		    /* ReceivedSPF */

	/* DKIM */
	unsigned int dkim_min_key_bits;	  /* DKIMMinimumKeyBits */
	unsigned int dkim_max_signatures; /* DKIMMaxSignatures */

	/* DMARC */
	bool dmarc_enforce;			/* DMARCEnforce */
	enum am_action dmarc_reject_action;	/* DMARCRejectAction */
	enum am_action dmarc_quarantine_action; /* DMARCQuarantineAction */
	char *public_suffix_list; /* PublicSuffixList path, NULL = none */

	/* Operations */
	char *metrics_listen; /* MetricsListen "ADDR:PORT" or NULL */

	/* DMARC aggregate reports */
	char *report_database;	      /* ReportDatabase ("none" = off) */
	char *report_org_name;	      /* ReportOrgName or NULL (AuthservID) */
	char *report_contact;	      /* ReportContact or NULL */
	char *report_from;	      /* ReportFrom or NULL */
	char *report_submitter;	      /* ReportSubmitter or NULL (AuthservID) */
	unsigned int report_interval; /* ReportInterval, seconds */
	unsigned int report_retention; /* ReportRetention, days */
	unsigned int report_max_uris;  /* ReportMaxURIs */
	char *report_signing_key;      /* ReportSigningKey path or NULL */
	char *report_signing_selector; /* ReportSigningSelector or NULL */
	char *report_sendmail;	       /* ReportSendmail command */
};

/*
 * One -o KEY=VALUE override, applied after the file in the order given.
 */
struct conf_override {
	const char *key;
	const char *value;
};

/*
 * conf_override_parse - split a -o argument "KEY=VALUE" into ov: ov->key
 * is a malloc'd copy of KEY (the caller frees it), ov->value points into
 * arg. Returns 0, AM_EINVAL (no '=' or an empty KEY) or AM_ENOMEM.
 */
int conf_override_parse(const char *arg, struct conf_override *ov);

/*
 * conf_override_arg - the -o option of a program: parse arg into
 * ov[*n] and count it, or write "PROG: -o ARG: expected KEY=VALUE" to
 * stderr. Returns 0 or the error of conf_override_parse().
 */
int conf_override_arg(const char *prog, const char *arg,
		      struct conf_override *ov, size_t *n);

/*
 * conf_load - parse file (NULL means CONF_DEFAULT_FILE) and the overrides
 * into a fresh snapshot. If file is NULL and the default file does not
 * exist, the built-in defaults apply (defaults_only is set). Each error is
 * written to errs as "FILE:LINE: message\n" (overrides use "-o:N").
 * Returns the snapshot with refs 0 (not yet published), or NULL if there
 * was any error.
 */
struct conf *conf_load(const char *file, const struct conf_override *ov,
		       size_t nov, FILE *errs);

/*
 * conf_load_logged - conf_load() with every error line sent to the log
 * (log_error), for the daemon and authmilter-report.
 */
struct conf *conf_load_logged(const char *file, const struct conf_override *ov,
			      size_t nov);

/* conf_free - free a snapshot that was never published (NULL ok). */
void conf_free(struct conf *c);

/*
 * conf_publish - make c the current snapshot; the previous one is
 * released (and freed once its last session drops it).
 */
void conf_publish(struct conf *c);

/* conf_acquire - the current snapshot with one more reference. */
struct conf *conf_acquire(void);

/* conf_release - drop a reference taken by conf_acquire (NULL ok). */
void conf_release(struct conf *c);

/* conf_shutdown - release the current snapshot at exit. */
void conf_shutdown(void);

/*
 * conf_exempt_rcpt - whether the recipient address addr (with or
 * without <>) matches ExemptRecipients: "local@" matches that local part
 * at any domain, "local@domain" that address; case-insensitive.
 */
bool conf_exempt_rcpt(const struct conf *c, const char *addr);

/* The SQLite file of "ReportDatabase sqlite". */
#define CONF_REPORT_SQLITE "/var/lib/authmilter/history.sqlite"

/* conf_reporting - whether ReportDatabase names a database. */
bool conf_reporting(const struct conf *c);

/*
 * conf_report_db - the store URI of ReportDatabase ("sqlite" expanded to
 * "sqlite:" CONF_REPORT_SQLITE), or NULL when reporting is off.
 */
const char *conf_report_db(const struct conf *c);

/*
 * conf_dmarc_exempt - whether domain or one of its parents is in
 * DMARCExemptDomains (case-insensitive, a trailing dot ignored).
 */
bool conf_dmarc_exempt(const struct conf *c, const char *domain);

/*
 * conf_keyword_restart - whether keyword i takes effect only at a
 * restart (the socket, the user, the resolver...): a SIGHUP that
 * changes it is logged as such. conf_keyword_differs - whether keyword
 * i has different values in a and b.
 */
bool conf_keyword_restart(size_t i);
bool conf_keyword_differs(const struct conf *a, const struct conf *b, size_t i);

/*
 * conf_keyword_count / conf_keyword_name - walk the keyword table (for
 * the documentation check and -n). Names are static strings.
 */
size_t conf_keyword_count(void);
const char *conf_keyword_name(size_t i);

/*
 * conf_id_listed - whether id is in l: case-insensitive, a final dot on
 * either side ignored (as authres_is_ours). NULL l or id: false.
 */
bool conf_id_listed(const struct conf_strlist *l, const char *id);

#endif
