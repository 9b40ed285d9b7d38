/* SPDX-License-Identifier: BSD-2-Clause */
/* test_report_mime - the report message, parsed back with GMime and zlib */
#include <regex.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>

#include <gmime/gmime.h>
#include <zlib.h>

#include "amerr.h"
#include "report_mime.h"

static const char xml[] =
    "<?xml version=\"1.0\"?>\n<feedback "
    "xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\"><version>1.0</version>"
    "</feedback>\n";

/* gunzip in (gzip format only: windowBits 15 + 16) into out. */
static size_t
gunzip(const unsigned char *in, size_t len, char *out, size_t outlen)
{
	z_stream z;

	memset(&z, 0, sizeof z);
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)outlen;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	inflateEnd(&z);
	return z.total_out;
}

static void
test_gzip(void **state)
{
	unsigned char *gz;
	size_t gzlen, n;
	char err[128], back[4096];

	(void)state;
	assert_int_equal(report_gzip(xml, strlen(xml), &gz, &gzlen, err,
				     sizeof err),
			 0);
	/* RFC 1952: ID1 ID2 CM=8 */
	assert_true(gzlen > 18);
	assert_int_equal(gz[0], 0x1f);
	assert_int_equal(gz[1], 0x8b);
	assert_int_equal(gz[2], 8);
	n = gunzip(gz, gzlen, back, sizeof back);
	assert_int_equal(n, strlen(xml));
	assert_memory_equal(back, xml, n);
	free(gz);
}

static void
test_filename_and_id(void **state)
{
	char buf[REPORT_FILENAME_MAX], id[128], id2[128], longdom[300];

	(void)state;
	assert_int_equal(report_mime_filename("mx.receiver.example",
					      "example.com", 1733443200,
					      1733529599, buf, sizeof buf),
			 0);
	assert_string_equal(
	    buf, "mx.receiver.example!example.com!1733443200!1733529599.xml.gz");
	assert_int_equal(report_mime_filename("a", "b", 1, 2, buf, 8),
			 AM_ERANGE);
	/* never a path, never outside the filename ABNF */
	assert_int_equal(report_mime_filename("mx.example", "../../etc", 1, 2,
					      buf, sizeof buf),
			 AM_EINVAL);
	assert_int_equal(report_mime_filename("mx.example", "a/b.example", 1,
					      2, buf, sizeof buf),
			 AM_EINVAL);
	assert_int_equal(report_mime_filename("mx.example", "a!b.example", 1,
					      2, buf, sizeof buf),
			 AM_EINVAL);
	assert_int_equal(report_mime_filename("", "example.com", 1, 2, buf,
					      sizeof buf),
			 AM_EINVAL);
	assert_string_equal(buf, "");

	assert_int_equal(report_mime_id("mx.receiver.example", "example.com",
					1733443200, id, sizeof id),
			 0);
	assert_string_equal(id, "example.com.1733443200@mx.receiver.example");
	/* the same inputs, the same id (a re-send); another period, not */
	assert_int_equal(report_mime_id("mx.receiver.example", "example.com",
					1733443200, id2, sizeof id2),
			 0);
	assert_string_equal(id, id2);
	assert_int_equal(report_mime_id("mx.receiver.example", "example.com",
					1733529600, id2, sizeof id2),
			 0);
	assert_string_not_equal(id, id2);
	/* a domain too long for the id is hashed, still deterministic */
	memset(longdom, 'a', 200);
	strcpy(longdom + 200, ".example");
	assert_int_equal(report_mime_id("mx.receiver.example", longdom, 1, id,
					sizeof id),
			 0);
	assert_true(strlen(id) < sizeof id);
	assert_int_equal(id[0], 'h');
	assert_int_equal(report_mime_id("mx.receiver.example", longdom, 1, id2,
					sizeof id2),
			 0);
	assert_string_equal(id, id2);
	assert_int_equal(report_mime_id("bad submitter", "example.com", 1, id,
					sizeof id),
			 AM_ERANGE);
}

static void
test_from_domain(void **state)
{
	char d[256];

	(void)state;
	assert_int_equal(report_mime_from_domain("dmarc@Receiver.Example", d,
						 sizeof d),
			 0);
	assert_string_equal(d, "receiver.example");
	assert_int_equal(report_mime_from_domain(
			     "\"DMARC reports\" <noreply@mx.receiver.example>",
			     d, sizeof d),
			 0);
	assert_string_equal(d, "mx.receiver.example");
	assert_int_equal(report_mime_from_domain("no address here", d,
						 sizeof d),
			 AM_EINVAL);
}

/* The message, parsed back: headers, Subject ABNF, lines, attachment. */
static void
test_message(void **state)
{
	unsigned char *gz;
	size_t gzlen, len, n;
	char err[256], *eml, back[4096], *subject;
	const char *fname, *line;
	struct report_message m = {
	    .from = "DMARC reports <dmarc-noreply@receiver.example>",
	    .to = "rua@reports.example.net",
	    .submitter = "mx.receiver.example",
	    .domain = "example.com",
	    .report_id = "example.com.1733443200@mx.receiver.example",
	    .begin = 1733443200,
	    .end = 1733529599,
	    .date = 1733533000,
	};
	GMimeStream *st;
	GMimeParser *p;
	GMimeMessage *msg;
	GMimeObject *top, *part;
	GMimeContentType *ct;
	GMimeStream *dec;
	GByteArray *ba;
	regex_t re;
	char *unfolded;

	(void)state;
	assert_int_equal(report_gzip(xml, strlen(xml), &gz, &gzlen, err,
				     sizeof err),
			 0);
	m.gz = gz;
	m.gzlen = gzlen;
	assert_int_equal(report_mime_build(&m, &eml, &len, err, sizeof err),
			 0);
	assert_int_equal(strlen(eml), len);

	/* LF only, no line over 78 octets */
	assert_null(strchr(eml, '\r'));
	for (line = eml; *line != '\0';) {
		const char *nl = strchr(line, '\n');

		n = nl != NULL ? (size_t)(nl - line) : strlen(line);
		if (n > 78)
			fail_msg("line of %zu octets: %.*s", n, (int)n, line);
		line += n + (nl != NULL);
	}

	st = g_mime_stream_mem_new_with_buffer(eml, len);
	p = g_mime_parser_new_with_stream(st);
	msg = g_mime_parser_construct_message(p, NULL);
	assert_non_null(msg);

	assert_non_null(strstr(eml, "\nMIME-Version: 1.0\n"));
	assert_non_null(g_mime_message_get_message_id(msg));
	assert_non_null(g_mime_message_get_date(msg));
	assert_int_equal(
	    g_date_time_to_unix(g_mime_message_get_date(msg)), 1733533000);
	subject = internet_address_list_to_string(
	    g_mime_message_get_from(msg), NULL, FALSE);
	assert_string_equal(subject,
			    "DMARC reports <dmarc-noreply@receiver.example>");
	g_free(subject);
	subject = internet_address_list_to_string(g_mime_message_get_to(msg),
						  NULL, FALSE);
	assert_string_equal(subject, "rua@reports.example.net");
	g_free(subject);

	/* the Subject as written (unfolded), against RFC 9990's ABNF */
	unfolded = g_strdup(g_mime_object_get_header(GMIME_OBJECT(msg),
						     "Subject"));
	assert_non_null(unfolded);
	assert_int_equal(
	    regcomp(&re,
		    "^Report[ \t\n]+Domain:[ \t\n]+example\\.com[ \t\n]+"
		    "Submitter:[ \t\n]+mx\\.receiver\\.example[ \t\n]+"
		    "Report-ID:[ \t\n]+<example\\.com\\.1733443200@mx\\."
		    "receiver\\.example>$",
		    REG_EXTENDED | REG_NOSUB),
	    0);
	if (regexec(&re, unfolded, 0, NULL, 0) != 0)
		fail_msg("Subject does not match: %s", unfolded);
	regfree(&re);
	g_free(unfolded);

	top = g_mime_message_get_mime_part(msg);
	assert_true(GMIME_IS_MULTIPART(top));
	ct = g_mime_object_get_content_type(top);
	assert_string_equal(g_mime_content_type_get_media_subtype(ct), "mixed");
	assert_int_equal(g_mime_multipart_get_count(GMIME_MULTIPART(top)), 2);
	part = g_mime_multipart_get_part(GMIME_MULTIPART(top), 0);
	assert_true(g_mime_content_type_is_type(
	    g_mime_object_get_content_type(part), "text", "plain"));
	part = g_mime_multipart_get_part(GMIME_MULTIPART(top), 1);
	assert_true(g_mime_content_type_is_type(
	    g_mime_object_get_content_type(part), "application", "gzip"));
	assert_int_equal(g_mime_part_get_content_encoding(GMIME_PART(part)),
			 GMIME_CONTENT_ENCODING_BASE64);
	assert_string_equal(g_mime_object_get_disposition(part), "attachment");
	fname = g_mime_part_get_filename(GMIME_PART(part));
	assert_string_equal(
	    fname,
	    "mx.receiver.example!example.com!1733443200!1733529599.xml.gz");

	dec = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(
	    g_mime_part_get_content(GMIME_PART(part)), dec);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(dec));
	assert_int_equal(ba->len, gzlen);
	assert_memory_equal(ba->data, gz, gzlen);
	n = gunzip(ba->data, ba->len, back, sizeof back);
	assert_int_equal(n, strlen(xml));
	assert_memory_equal(back, xml, n);

	g_object_unref(dec);
	g_object_unref(msg);
	g_object_unref(p);
	g_object_unref(st);
	free(eml);
	free(gz);
}

static void
test_refuses(void **state)
{
	char err[256], *eml;
	size_t len;
	unsigned char gz[4] = {0};
	struct report_message m = {
	    .from = "dmarc@receiver.example",
	    .to = "rua@x.example\nBcc: victim@example.org",
	    .submitter = "mx.receiver.example",
	    .domain = "example.com",
	    .report_id = "x@y",
	    .gz = gz,
	    .gzlen = sizeof gz,
	};

	(void)state;
	assert_int_equal(report_mime_build(&m, &eml, &len, err, sizeof err),
			 AM_EINVAL);
	assert_null(eml);
	m.to = "rua@x.example";
	m.from = "not an address";
	assert_int_equal(report_mime_build(&m, &eml, &len, err, sizeof err),
			 AM_EINVAL);
	assert_null(eml);
	assert_non_null(strstr(err, "From"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gzip),
	    cmocka_unit_test(test_filename_and_id),
	    cmocka_unit_test(test_from_domain),
	    cmocka_unit_test(test_message),
	    cmocka_unit_test(test_refuses),
	};
	g_mime_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
