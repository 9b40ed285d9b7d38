/* SPDX-License-Identifier: BSD-2-Clause */
/* test_conf - keyword table, parser, errors, -o overrides, snapshots */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

/* Write text to a fresh temporary file; the caller unlinks it. */
static char *
tmpconf(const char *text)
{
	char *path = strdup("/tmp/test_conf.XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* Load text (+ overrides); errors come back with the path replaced by
 * "F", so that cases can spell the exact "F:LINE: message" text. */
static struct conf *
load_text(const char *text, const struct conf_override *ov, size_t nov,
	  char **errs_out)
{
	char *path = tmpconf(text), *buf = NULL, *out;
	size_t len = 0, plen = strlen(path), o = 0;
	FILE *errs = open_memstream(&buf, &len);
	struct conf *c;

	assert_non_null(errs);
	c = conf_load(path, ov, nov, errs);
	fclose(errs);
	out = calloc(1, len + 1);
	assert_non_null(out);
	for (size_t i = 0; i < len;) {
		if (len - i >= plen && memcmp(buf + i, path, plen) == 0) {
			out[o++] = 'F';
			i += plen;
		} else {
			out[o++] = buf[i++];
		}
	}
	free(buf);
	unlink(path);
	free(path);
	*errs_out = out;
	return c;
}

static const struct {
	const char *name;
	const char *text; /* the file */
	const char *want; /* the exact error output */
} bad_cases[] = {
	{"unknown keyword", "Bogus 1\n", "F:1: unknown keyword \"Bogus\"\n"},
	{"bad trusted authserv-id", "TrustedAuthservIDs mx1.example;x\n",
	 "F:1: TrustedAuthservIDs: \"mx1.example;x\": not a valid "
	 "authserv-id token (RFC 8601): \"mx1.example;x\"\n"},
	{"no value", "\n# c\nDryRun\n", "F:3: DryRun: needs a value\n"},
	{"repeated", "DryRun yes\n\nDryRun no\n",
	 "F:3: DryRun repeated (first set at line 1)\n"},
	{"repeated case", "dnstimeout 3\nDNSTIMEOUT 4\n",
	 "F:2: DNSTimeout repeated (first set at line 1)\n"},
	{"bool", "Syslog maybe\n",
	 "F:1: Syslog: expected yes, no, true, false, 1 or 0, not "
	 "\"maybe\"\n"},
	{"uint low", "DNSTimeout 0\n",
	 "F:1: DNSTimeout: expected a number 1..60, not \"0\"\n"},
	{"uint high", "DNSTimeout 61\n",
	 "F:1: DNSTimeout: expected a number 1..60, not \"61\"\n"},
	{"uint junk", "DNSTimeout 5s\n",
	 "F:1: DNSTimeout: expected a number 1..60, not \"5s\"\n"},
	{"uint sign", "DKIMMaxSignatures +3\n",
	 "F:1: DKIMMaxSignatures: expected a number 1..16, not \"+3\"\n"},
	{"key bits", "DKIMMinimumKeyBits 256\n",
	 "F:1: DKIMMinimumKeyBits: expected a number 512..8192, not "
	 "\"256\"\n"},
	{"int", "DNSBLThreshold -1\n",
	 "F:1: DNSBLThreshold: expected a number 1..256000, not \"-1\"\n"},
	{"octal digit", "SocketMode 0689\n",
	 "F:1: SocketMode: expected an octal mode 0..0777, not \"0689\"\n"},
	{"octal range", "SocketMode 01777\n",
	 "F:1: SocketMode: expected an octal mode 0..0777, not \"01777\"\n"},
	{"action", "DNSBLAction discard\n",
	 "F:1: DNSBLAction: expected reject, tempfail, quarantine, tag or "
	 "none, not \"discard\"\n"},
	{"loglevel", "LogLevel notice\n",
	 "F:1: LogLevel: expected error, warning, info or debug, not "
	 "\"notice\"\n"},
	{"logformat", "LogFormat xml\n",
	 "F:1: LogFormat: expected text, json, not \"xml\"\n"},
	{"ondnserror", "OnDNSError reject\n",
	 "F:1: OnDNSError: expected accept, tempfail, not \"reject\"\n"},
	{"socket scheme", "Socket tcp:25\n",
	 "F:1: Socket: expected unix:/PATH, local:/PATH, inet:PORT@HOST or "
	 "inet6:PORT@HOST, not \"tcp:25\"\n"},
	{"socket relative", "Socket unix:run/a.sock\n",
	 "F:1: Socket: a unix socket needs an absolute path: "
	 "\"unix:run/a.sock\"\n"},
	{"socket port", "Socket inet:70000@127.0.0.1\n",
	 "F:1: Socket: bad port in \"inet:70000@127.0.0.1\" (1..65535)\n"},
	{"socket v4 host", "Socket inet:25@1.2.3.4.5\n",
	 "F:1: Socket: bad IPv4 host in \"inet:25@1.2.3.4.5\"\n"},
	{"socket v6 host", "Socket inet6:25@::1::2\n",
	 "F:1: Socket: bad IPv6 host in \"inet6:25@::1::2\"\n"},
	{"user", "UserID no-such-user-here\n",
	 "F:1: UserID: no such user \"no-such-user-here\"\n"},
	{"group", "UserID root:no-such-group-here\n",
	 "F:1: UserID: no such group \"no-such-group-here\"\n"},
	{"pidfile", "PidFile run/a.pid\n",
	 "F:1: PidFile: expected an absolute path, not \"run/a.pid\"\n"},
	{"authserv", "AuthservID mx;evil\n",
	 "F:1: AuthservID: not a valid authserv-id token (RFC 8601): "
	 "\"mx;evil\"\n"},
	{"resolver word", "Resolver stub\n",
	 "F:1: Resolver: expected recursive, resolvconf or forward "
	 "ADDR[@PORT][,...], not \"stub\"\n"},
	{"resolver empty forward", "Resolver forward\n",
	 "F:1: Resolver: forward needs at least one ADDR[@PORT]\n"},
	{"resolver bad addr", "Resolver forward 127.0.0.1, 300.1.1.1\n",
	 "F:1: Resolver: forward: \"300.1.1.1\" is not an IPv4 or IPv6 "
	 "address\n"},
	{"resolver bad port", "Resolver forward ::1@0\n",
	 "F:1: Resolver: forward: bad port \"0\" (1..65535)\n"},
	{"trust anchor", "TrustAnchorFile /nonexistent/root.key\n",
	 "F:1: TrustAnchorFile: cannot read \"/nonexistent/root.key\": No "
	 "such file or directory\n"},
	{"cidr", "InternalHosts 10.0.0.0/33\n",
	 "F:1: InternalHosts: \"10.0.0.0/33\": bad prefix length\n"},
	{"cidr addr", "InternalHosts 10.0.0/8\n",
	 "F:1: InternalHosts: \"10.0.0/8\": bad address\n"},
	{"dnsbl", "DNSBL zen.spamhaus.org=127.0.0.[2..]\n",
	 "F:1: DNSBL: \"zen.spamhaus.org=127.0.0.[2..]\": range end must be "
	 "a number 0..255\n"},
	{"rhsbl weight", "RHSBL dbl.example.org*x\n",
	 "F:1: RHSBL: \"dbl.example.org*x\": weight must be an integer\n"},
	{"psl relative", "PublicSuffixList psl.dat\n",
	 "F:1: PublicSuffixList: expected an absolute path, not "
	 "\"psl.dat\"\n"},
	{"metrics no port", "MetricsListen 127.0.0.1\n",
	 "F:1: MetricsListen: expected ADDR:PORT, not \"127.0.0.1\"\n"},
	{"metrics bare v6", "MetricsListen ::1:9100\n",
	 "F:1: MetricsListen: bad IPv4 address in \"::1:9100\" (write IPv6 "
	 "as [ADDR]:PORT)\n"},
	{"metrics v6 port", "MetricsListen [::1]:x\n",
	 "F:1: MetricsListen: bad port in \"[::1]:x\" (1..65535)\n"},
	{"all errors collected",
	 "Bogus 1\nDNSTimeout 99\nDryRun yes\nDryRun no\nSyslog 2\n",
	 "F:1: unknown keyword \"Bogus\"\n"
	 "F:2: DNSTimeout: expected a number 1..60, not \"99\"\n"
	 "F:4: DryRun repeated (first set at line 3)\n"
	 "F:5: Syslog: expected yes, no, true, false, 1 or 0, not \"2\"\n"},
	{"hostile keyword", "Bo\x01gus\xff 1\n",
	 "F:1: unknown keyword \"Bo\\x01gus\\xff\"\n"},
};

static void
test_bad(void **state)
{
	int failed = 0;

	(void)state;
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		char *errs = NULL;
		struct conf *c = load_text(bad_cases[i].text, NULL, 0, &errs);

		if (c != NULL || strcmp(errs, bad_cases[i].want) != 0) {
			print_error("case \"%s\": got %s\n%s",
				    bad_cases[i].name,
				    c != NULL ? "a config" : "NULL", errs);
			failed++;
		}
		conf_free(c);
		free(errs);
	}
	assert_int_equal(failed, 0);
}

static void
test_long_line(void **state)
{
	char *text = malloc(5000), *errs = NULL;
	struct conf *c;

	(void)state;
	assert_non_null(text);
	memcpy(text, "AuthservID ", 11);
	memset(text + 11, 'a', 4200);
	memcpy(text + 4211, "\n", 2);
	c = load_text(text, NULL, 0, &errs);
	assert_null(c);
	assert_string_equal(errs, "F:1: line longer than 4096 octets\n");
	free(errs);
	free(text);
}

static void
test_missing_file(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *errs = open_memstream(&buf, &len);

	(void)state;
	assert_null(conf_load("/nonexistent/authmilter.conf", NULL, 0, errs));
	fclose(errs);
	assert_string_equal(buf, "/nonexistent/authmilter.conf: cannot open: "
			    "No such file or directory\n");
	free(buf);
}

static void
test_defaults(void **state)
{
	char *errs = NULL;
	struct conf *c = load_text("# only a comment\n\n", NULL, 0, &errs);
	unsigned char lo[4] = {127, 1, 2, 3}, v6[16] = {0};

	(void)state;
	assert_non_null(c);
	assert_string_equal(errs, "");
	assert_false(c->defaults_only);
	assert_non_null(c->file);
	assert_string_equal(c->socket, "inet:8895@127.0.0.1");
	assert_int_equal(c->socket_mode, 0660);
	assert_null(c->user_id);
	assert_null(c->pid_file);
	assert_non_null(c->authserv_id);
	assert_true(c->authserv_id[0] != '\0');
	assert_int_equal(c->log_level, LOG_L_INFO);
	assert_int_equal(c->log_format, LOG_F_TEXT);
	assert_true(c->syslog);
	assert_false(c->dry_run);
	assert_int_equal(c->internal_hosts.n, 2);
	assert_true(cidr_list_match(&c->internal_hosts, AF_INET, lo));
	v6[15] = 1;
	assert_true(cidr_list_match(&c->internal_hosts, AF_INET6, v6));
	assert_true(c->skip_authenticated);
	assert_int_equal(c->trusted_relays.n, 0);
	assert_int_equal(c->trusted_authserv_ids.n, 0);
	assert_int_equal(c->resolver, DNS_MODE_RECURSIVE);
	assert_null(c->resolver_forward);
	assert_null(c->trust_anchor_file);
	assert_int_equal(c->dns_timeout, 5);
	assert_int_equal(c->on_dns_error, ONDNS_ACCEPT);
	assert_true(c->delay_reject);
	assert_int_equal(c->dnsbl.n, 0);
	assert_int_equal(c->dnsbl_threshold, 1);
	assert_int_equal(c->dnsbl_action, AM_ACT_REJECT);
	assert_int_equal(c->rhsbl.n, 0);
	assert_int_equal(c->rhsbl_action, AM_ACT_REJECT);
	assert_int_equal(c->iprev_action, AM_ACT_NONE);
	assert_int_equal(c->helo_action, AM_ACT_NONE);
	assert_int_equal(c->sender_domain_action, AM_ACT_REJECT);
	assert_int_equal(c->spf_fail_action, AM_ACT_NONE);
	assert_int_equal(c->spf_softfail_action, AM_ACT_NONE);
	assert_true(c->received_spf);
	assert_int_equal(c->dkim_min_key_bits, 1024);
	assert_int_equal(c->dkim_max_signatures, 5);
	assert_true(c->dmarc_enforce);
	assert_int_equal(c->dmarc_reject_action, AM_ACT_REJECT);
	assert_int_equal(c->dmarc_quarantine_action, AM_ACT_QUARANTINE);
	assert_string_equal(c->public_suffix_list,
			    "/usr/share/publicsuffix/public_suffix_list.dat");
	assert_null(c->metrics_listen);
	conf_free(c);
	free(errs);
}

static void
test_defaults_only(void **state)
{
	struct conf *c;

	(void)state;
	if (access(CONF_DEFAULT_FILE, F_OK) == 0)
		skip(); /* the host has a real config: nothing to test */
	c = conf_load(NULL, NULL, 0, stderr);
	assert_non_null(c);
	assert_true(c->defaults_only);
	assert_null(c->file);
	assert_string_equal(c->socket, "inet:8895@127.0.0.1");
	conf_free(c);
}

static void
test_every_key(void **state)
{
	static const char text[] =
		"# every keyword, odd case, comments, blank lines\n"
		"\n"
		"  socket   unix:/run/authmilter/a.sock   # trailing\n"
		"SocketMode 0600\n"
		"UserID root:root\n"
		"PidFile /run/authmilter/a#1.pid\n"
		"AuthservID mx.example.org\n"
		"LOGLEVEL Debug\n"
		"LogFormat JSON\n"
		"Syslog no\n"
		"DryRun true\n"
		"InternalHosts 10.0.0.0/8, 192.168.0.0/16\n"
		"InternalHosts 2001:db8::/32\n"
		"SkipAuthenticated 0\n"
		"TrustedRelays 192.0.2.25, 2001:db8:25::/48\n"
		"TrustedRelays 198.51.100.0/24\n"
		"TrustedAuthservIDs mx1.example.org, MX2.example.org.\n"
		"TrustedAuthservIDs mx1.example.org\n"
		"Resolver forward 127.0.0.1@5353, ::1 ,192.0.2.1\n"
		"TrustAnchorFile /dev/null\n"
		"DNSTimeout 60\n"
		"OnDNSError TempFail\n"
		"DelayReject false\n"
		"DNSBL zen.spamhaus.org=127.0.0.[2..11]*3\n"
		"DNSBL list.dnswl.org=127.0.[0..255].[1;2..3]*-2\n"
		"DNSBLThreshold 3\n"
		"DNSBLAction tempfail\n"
		"RHSBL dbl.example.org\n"
		"RHSBLAction tag\n"
		"IPRevAction quarantine\n"
		"HeloAction tag\n"
		"SenderDomainAction none\n"
		"SPFFailAction reject\n"
		"SPFSoftfailAction tag\n"
		"ReceivedSPF no\n"
		"DKIMMinimumKeyBits 2048\n"
		"DKIMMaxSignatures 16\n"
		"DMARCEnforce no\n"
		"DMARCRejectAction quarantine\n"
		"DMARCQuarantineAction tag\n"
		"PublicSuffixList none\n"
		"MetricsListen [::1]:9100\n";
	char *errs = NULL;
	struct conf *c = load_text(text, NULL, 0, &errs);

	(void)state;
	assert_string_equal(errs, "");
	assert_non_null(c);
	assert_string_equal(c->socket, "unix:/run/authmilter/a.sock");
	assert_int_equal(c->socket_mode, 0600);
	assert_string_equal(c->user_id, "root:root");
	assert_string_equal(c->pid_file, "/run/authmilter/a#1.pid");
	assert_string_equal(c->authserv_id, "mx.example.org");
	assert_int_equal(c->log_level, LOG_L_DEBUG);
	assert_int_equal(c->log_format, LOG_F_JSON);
	assert_false(c->syslog);
	assert_true(c->dry_run);
	assert_int_equal(c->internal_hosts.n, 3); /* default replaced */
	assert_int_equal(c->internal_hosts.v[2].family, AF_INET6);
	assert_false(c->skip_authenticated);
	assert_int_equal(c->trusted_relays.n, 3);
	assert_int_equal(c->trusted_authserv_ids.n, 2); /* a repeat: once */
	assert_true(conf_id_listed(&c->trusted_authserv_ids,
				   "MX1.example.org."));
	assert_true(conf_id_listed(&c->trusted_authserv_ids,
				   "mx2.example.org"));
	assert_false(conf_id_listed(&c->trusted_authserv_ids, "mx1.example"));
	assert_false(conf_id_listed(&c->trusted_authserv_ids, ""));
	assert_int_equal(c->resolver, DNS_MODE_FORWARD);
	assert_string_equal(c->resolver_forward,
			    "127.0.0.1@5353,::1,192.0.2.1");
	assert_string_equal(c->trust_anchor_file, "/dev/null");
	assert_int_equal(c->dns_timeout, 60);
	assert_int_equal(c->on_dns_error, ONDNS_TEMPFAIL);
	assert_false(c->delay_reject);
	assert_int_equal(c->dnsbl.n, 2);
	assert_string_equal(c->dnsbl.v[0].zone, "zen.spamhaus.org");
	assert_int_equal(c->dnsbl.v[0].weight, 3);
	assert_int_equal(c->dnsbl.v[1].weight, -2);
	assert_int_equal(c->dnsbl_threshold, 3);
	assert_int_equal(c->dnsbl_action, AM_ACT_TEMPFAIL);
	assert_int_equal(c->rhsbl.n, 1);
	assert_int_equal(c->rhsbl_action, AM_ACT_TAG);
	assert_int_equal(c->iprev_action, AM_ACT_QUARANTINE);
	assert_int_equal(c->helo_action, AM_ACT_TAG);
	assert_int_equal(c->sender_domain_action, AM_ACT_NONE);
	assert_int_equal(c->spf_fail_action, AM_ACT_REJECT);
	assert_int_equal(c->spf_softfail_action, AM_ACT_TAG);
	assert_false(c->received_spf);
	assert_int_equal(c->dkim_min_key_bits, 2048);
	assert_int_equal(c->dkim_max_signatures, 16);
	assert_false(c->dmarc_enforce);
	assert_int_equal(c->dmarc_reject_action, AM_ACT_QUARANTINE);
	assert_int_equal(c->dmarc_quarantine_action, AM_ACT_TAG);
	assert_null(c->public_suffix_list);
	assert_string_equal(c->metrics_listen, "[::1]:9100");
	conf_free(c);
	free(errs);
}

static void
test_overrides(void **state)
{
	const struct conf_override ov[] = {
		{"dnstimeout", "9"},          /* overrides the file */
		{"InternalHosts", "10.1.0.0/16"}, /* replaces the file's */
		{"InternalHosts", "10.2.0.0/16"}, /* then adds */
		{"Resolver", "resolvconf"},
		{"Socket", "inet6:8895@::1"},
	};
	char *errs = NULL;
	struct conf *c = load_text("DNSTimeout 3\nInternalHosts 10.0.0.0/8\n"
				   "Resolver forward 127.0.0.1\n",
				   ov, sizeof ov / sizeof ov[0], &errs);

	(void)state;
	assert_string_equal(errs, "");
	assert_non_null(c);
	assert_int_equal(c->dns_timeout, 9);
	assert_int_equal(c->internal_hosts.n, 2);
	assert_int_equal(c->internal_hosts.v[0].addr[1], 1);
	assert_int_equal(c->internal_hosts.v[1].addr[1], 2);
	assert_int_equal(c->resolver, DNS_MODE_RESOLVCONF);
	assert_null(c->resolver_forward);
	assert_string_equal(c->socket, "inet6:8895@::1");
	conf_free(c);
	free(errs);
}

static void
test_override_errors(void **state)
{
	const struct conf_override ov[] = {
		{"DNSTimeout", "4"},
		{"NoSuchKey", "1"},
		{"DryRun", ""},
		{"LogLevel", "loud"},
	};
	char *errs = NULL;
	struct conf *c = load_text("Bogus\n", ov, sizeof ov / sizeof ov[0],
				   &errs);

	(void)state;
	assert_null(c);
	assert_string_equal(errs,
			    "F:1: unknown keyword \"Bogus\"\n"
			    "-o:2: unknown keyword \"NoSuchKey\"\n"
			    "-o:3: DryRun: needs a value\n"
			    "-o:4: LogLevel: expected error, warning, info or "
			    "debug, not \"loud\"\n");
	free(errs);
}

static void
test_keywords(void **state)
{
	static const char *const spec[] = {
		"Socket", "SocketMode", "SocketGroup", "UserID", "PidFile",
		"AuthservID", "LogLevel", "LogFormat", "Syslog", "DryRun",
		"InternalHosts", "SkipAuthenticated", "TrustedRelays",
		"TrustedAuthservIDs", "ExemptRecipients",
		"DMARCExemptDomains", "Resolver", "TrustAnchorFile",
		"DNSTimeout", "OnDNSError", "DelayReject", "DNSBL",
		"DNSBLThreshold", "DNSBLAction", "RHSBL", "RHSBLAction",
		"DNSBLReplyName", "IPRevAction", "HeloAction", "SenderDomainAction",
		"SPFFailAction", "SPFSoftfailAction", "ReceivedSPF",
		"DKIMMinimumKeyBits", "DKIMMaxSignatures", "DMARCEnforce",
		"DMARCRejectAction", "DMARCQuarantineAction",
		"PublicSuffixList", "MetricsListen", "ReportDatabase",
		"ReportOrgName", "ReportContact", "ReportFrom", "ReportSubmitter",
		"ReportInterval", "ReportRetention", "ReportMaxURIs",
		"ReportSigningKey", "ReportSigningSelector", "ReportSendmail",
	};
	size_t n = sizeof spec / sizeof spec[0];

	(void)state;
	assert_int_equal(conf_keyword_count(), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(conf_keyword_name(i), spec[i]);
	assert_null(conf_keyword_name(n));
}

static void
test_snapshots(void **state)
{
	char *errs = NULL;
	struct conf *a = load_text("DNSTimeout 2\n", NULL, 0, &errs);
	struct conf *b, *s1, *s2;

	(void)state;
	free(errs);
	b = load_text("DNSTimeout 3\n", NULL, 0, &errs);
	free(errs);
	assert_non_null(a);
	assert_non_null(b);
	assert_null(conf_acquire());
	conf_publish(a);
	s1 = conf_acquire();
	assert_ptr_equal(s1, a);
	conf_publish(b); /* a lives on: s1 still holds it */
	assert_int_equal(s1->dns_timeout, 2);
	s2 = conf_acquire();
	assert_ptr_equal(s2, b);
	conf_release(s1); /* frees a (ASan checks the accounting) */
	assert_int_equal(s2->dns_timeout, 3);
	conf_release(s2);
	conf_shutdown(); /* frees b */
	assert_null(conf_acquire());
	conf_release(NULL);
	conf_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_defaults_only),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_override_errors),
		cmocka_unit_test(test_keywords),
		cmocka_unit_test(test_snapshots),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
