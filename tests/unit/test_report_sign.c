/* SPDX-License-Identifier: BSD-2-Clause */
/* test_report_sign - a signed report verifies with libopendkim's verifier */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dkim.h>

#include "amerr.h"
#include "report_mime.h"
#include "report_sign.h"

static char dir[] = "/tmp/test_report_sign.XXXXXX";
static char keyfile[128], keysfile[128];

/* A 2048-bit RSA key made now, and its key record for DKIM_QUERY_FILE. */
static int
setup(void **state)
{
	char cmd[1024];

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(keyfile, sizeof keyfile, "%s/key.pem", dir);
	snprintf(keysfile, sizeof keysfile, "%s/keys.txt", dir);
	snprintf(cmd, sizeof cmd,
		 "openssl genrsa -out %s 2048 2>/dev/null && "
		 "printf 'rpt._domainkey.receiver.example v=DKIM1; k=rsa; "
		 "p=%%s\\n' \"$(openssl rsa -in %s -pubout -outform DER "
		 "2>/dev/null | base64 -w0)\" > %s",
		 keyfile, keyfile, keysfile);
	return system(cmd) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *
report_message(size_t *len)
{
	static const char xml[] = "<?xml version=\"1.0\"?>\n<feedback/>\n";
	unsigned char *gz;
	size_t gzlen;
	char err[256], *eml;
	struct report_message m = {
	    .from = "DMARC <dmarc@receiver.example>",
	    .to = "rua@reports.example.net",
	    .submitter = "mx.receiver.example",
	    .domain = "example.com",
	    .report_id = "example.com.1733443200@mx.receiver.example",
	    .begin = 1733443200,
	    .end = 1733529599,
	    .date = 1733533000,
	};

	assert_int_equal(report_gzip(xml, strlen(xml), &gz, &gzlen, err,
				     sizeof err),
			 0);
	m.gz = gz;
	m.gzlen = gzlen;
	assert_int_equal(report_mime_build(&m, &eml, len, err, sizeof err), 0);
	free(gz);
	return eml;
}

/*
 * Verify signed (LF line ends) with libopendkim, keys from keysfile,
 * fed with CRLF as the MTA sends it: whether the one signature passes,
 * and its domain and selector.
 */
static bool
verifies(const char *signed_msg, char *domain, char *selector)
{
	DKIM_LIB *lib = dkim_init(NULL, NULL);
	DKIM *d;
	DKIM_STAT st;
	DKIM_SIGINFO **sigs = NULL;
	int nsigs = 0;
	unsigned int qm = DKIM_QUERY_FILE;
	char *crlf = malloc(2 * strlen(signed_msg) + 1), *o = crlf;
	const char *p, *body;
	bool ok;

	assert_non_null(lib);
	assert_non_null(crlf);
	for (p = signed_msg; *p != '\0'; p++) {
		if (*p == '\n')
			*o++ = '\r';
		*o++ = *p;
	}
	*o = '\0';
	body = strstr(crlf, "\r\n\r\n");
	assert_non_null(body);
	assert_int_equal(dkim_options(lib, DKIM_OP_SETOPT,
				      DKIM_OPTS_QUERYMETHOD, &qm, sizeof qm),
			 DKIM_STAT_OK);
	assert_int_equal(dkim_options(lib, DKIM_OP_SETOPT,
				      DKIM_OPTS_QUERYINFO, keysfile,
				      strlen(keysfile)),
			 DKIM_STAT_OK);
	d = dkim_verify(lib, (const unsigned char *)"t", NULL, &st);
	assert_non_null(d);
	for (p = crlf; p < body + 2;) {
		const char *e = p;

		do {
			e = strstr(e, "\r\n") + 2;
		} while (*e == ' ' || *e == '\t');
		assert_int_equal(dkim_header(d, (unsigned char *)p,
					     (size_t)(e - p - 2)),
				 DKIM_STAT_OK);
		p = e;
	}
	st = dkim_eoh(d);
	if (st == DKIM_STAT_OK) {
		dkim_body(d, (unsigned char *)body + 4, strlen(body + 4));
		st = dkim_eom(d, NULL);
	}
	ok = st == DKIM_STAT_OK;
	dkim_getsiglist(d, &sigs, &nsigs);
	assert_int_equal(nsigs, 1);
	ok = ok && DKIM_SIG_CHECK(sigs[0]);
	if (!ok)
		print_message("verify: status %d, signature error %d (%s)\n",
			      st, dkim_sig_geterror(sigs[0]),
			      dkim_sig_geterrorstr(
				  dkim_sig_geterror(sigs[0])));
	strcpy(domain, (const char *)dkim_sig_getdomain(sigs[0]));
	strcpy(selector, (const char *)dkim_sig_getselector(sigs[0]));
	dkim_free(d);
	dkim_close(lib);
	free(crlf);
	return ok;
}

static void
test_sign_verify(void **state)
{
	struct report_signer *s;
	char err[256], *msg, *sig, *signed_msg, domain[256], sel[128];
	size_t len;

	(void)state;
	assert_int_equal(report_sign_open(keyfile, "rpt", "receiver.example",
					  &s, err, sizeof err),
			 0);
	msg = report_message(&len);
	assert_int_equal(report_sign(s, msg, len, &sig, err, sizeof err), 0);
	assert_true(strncmp(sig, "DKIM-Signature: ", 16) == 0);
	assert_null(strchr(sig, '\r'));
	assert_non_null(strstr(sig, "a=rsa-sha256"));
	assert_non_null(strstr(sig, "c=relaxed/relaxed"));
	assert_non_null(strstr(sig, "d=receiver.example"));
	assert_non_null(strstr(sig, "s=rpt"));
	/* folded lines stay within 78 octets, the value fold-continued */
	for (const char *l = sig; *l != '\0';) {
		const char *nl = strchr(l, '\n');

		assert_non_null(nl);
		assert_true(nl - l <= 78);
		l = nl + 1;
		if (*l != '\0')
			assert_true(*l == '\t' || *l == ' ');
	}

	signed_msg = malloc(strlen(sig) + len + 1);
	strcpy(signed_msg, sig);
	strcat(signed_msg, msg);
	assert_true(verifies(signed_msg, domain, sel));
	assert_string_equal(domain, "receiver.example");
	assert_string_equal(sel, "rpt");
	{
		/* h= names every field the report needs signed */
		char *h = strstr(signed_msg, " h=");
		char *end;
		char list[512];

		if (h == NULL)
			h = strstr(signed_msg, "\th=");
		assert_non_null(h);
		end = strchr(h, ';');
		assert_non_null(end);
		snprintf(list, sizeof list, "%.*s", (int)(end - h), h);
		for (const char *f = "from\0to\0subject\0date\0message-id\0"
				     "mime-version\0content-type\0";
		     *f != '\0'; f += strlen(f) + 1) {
			char low[512];

			for (size_t i = 0; i <= strlen(list); i++)
				low[i] = (char)tolower((unsigned char)list[i]);
			if (strstr(low, f) == NULL)
				fail_msg("%s not in %s", f, list);
		}
	}

	/* a changed Subject no longer verifies */
	{
		char *subj = strstr(signed_msg, "Subject: Report");

		assert_non_null(subj);
		subj[9] = 'r';
		assert_false(verifies(signed_msg, domain, sel));
	}
	free(signed_msg);
	free(sig);
	free(msg);
	report_sign_close(s);
}

static void
test_open_errors(void **state)
{
	struct report_signer *s;
	char err[256], path[160];
	FILE *fp;

	(void)state;
	assert_int_equal(report_sign_open("/nonexistent/key.pem", "rpt",
					  "receiver.example", &s, err,
					  sizeof err),
			 AM_ESYS);
	assert_null(s);
	assert_non_null(strstr(err, "/nonexistent/key.pem"));
	assert_int_equal(report_sign_open(keyfile, "", "receiver.example", &s,
					  err, sizeof err),
			 AM_EINVAL);
	/* a key file past REPORT_SIGN_KEY_MAX: refused at open */
	snprintf(path, sizeof path, "%s/big.pem", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (size_t i = 0; i <= REPORT_SIGN_KEY_MAX / 64; i++)
		fputs("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
		      fp);
	fclose(fp);
	assert_int_equal(report_sign_open(path, "rpt", "receiver.example", &s,
					  err, sizeof err),
			 AM_EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, "too large"));
	/* not a key: refused when signing, with libopendkim's reason */
	snprintf(path, sizeof path, "%s/junk.pem", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("not a key\n", fp);
	fclose(fp);
	assert_int_equal(report_sign_open(path, "rpt", "receiver.example", &s,
					  err, sizeof err),
			 0);
	{
		char *msg, *sig;
		size_t len;

		msg = report_message(&len);
		assert_int_equal(report_sign(s, msg, len, &sig, err, sizeof err),
				 AM_ELIB);
		assert_null(sig);
		free(msg);
	}
	report_sign_close(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_verify),
	    cmocka_unit_test(test_open_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
