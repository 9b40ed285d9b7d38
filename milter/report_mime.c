/* SPDX-License-Identifier: BSD-2-Clause */
/* report_mime - the e-mail message of one aggregate report (GMime, zlib) */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gmime/gmime.h>
#include <zlib.h>

#include "amerr.h"
#include "report_mime.h"

int
report_gzip(const void *in, size_t len, unsigned char **out, size_t *outlen,
	    char *err, size_t errlen)
{
	z_stream z;
	uLong bound;
	int zrc;

	*out = NULL;
	*outlen = 0;
	memset(&z, 0, sizeof z);
	/* windowBits 15 + 16: the gzip wrapper (RFC 1952), not zlib's */
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		snprintf(err, errlen, "gzip: deflateInit2 failed");
		return AM_ELIB;
	}
	if (len > UINT32_MAX) {
		deflateEnd(&z);
		snprintf(err, errlen, "gzip: report of %zu octets is too big",
			 len);
		return AM_ERANGE;
	}
	bound = deflateBound(&z, (uLong)len);
	*out = malloc(bound);
	if (*out == NULL) {
		deflateEnd(&z);
		snprintf(err, errlen, "gzip: out of memory");
		return AM_ENOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = *out;
	z.avail_out = (uInt)bound;
	zrc = deflate(&z, Z_FINISH);
	*outlen = (size_t)z.total_out;
	deflateEnd(&z);
	if (zrc != Z_STREAM_END) {
		free(*out);
		*out = NULL;
		*outlen = 0;
		snprintf(err, errlen, "gzip: deflate failed (%d)", zrc);
		return AM_ELIB;
	}
	return 0;
}

/*
 * A domain name as the filename and Subject ABNF want it (letters,
 * digits, hyphens; underscores let through), and never a path: no '/',
 * no empty label, so no ".." either.
 */
static bool
domain_name_ok(const char *s)
{
	size_t label = 0, len = strlen(s);

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '-' || c == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

int
report_mime_filename(const char *submitter, const char *domain, int64_t begin,
		     int64_t end, char *out, size_t outlen)
{
	int n;

	if (!domain_name_ok(submitter) || !domain_name_ok(domain) ||
	    begin < 0 || end < begin) {
		if (outlen > 0)
			out[0] = '\0';
		return AM_EINVAL;
	}
	n = snprintf(out, outlen, "%s!%s!%" PRId64 "!%" PRId64 ".xml.gz",
		     submitter, domain, begin, end);

	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return AM_ERANGE;
	}
	return 0;
}

/* A name that may stand in a dot-atom-text (RFC 5322 3.2.3) as is. */
static bool
dot_atom_safe(const char *s)
{
	bool dot = true; /* no leading dot, no two dots */

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '.') {
			if (dot)
				return false;
			dot = true;
			continue;
		}
		dot = false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return !dot;
}

/* FNV-1a, 64 bits: stable across runs and hosts. */
static uint64_t
fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

int
report_mime_id(const char *submitter, const char *domain, int64_t begin,
	       char *out, size_t outlen)
{
	int n = -1;

	if (!dot_atom_safe(submitter)) {
		if (outlen > 0)
			out[0] = '\0';
		return AM_ERANGE;
	}
	if (dot_atom_safe(domain))
		n = snprintf(out, outlen, "%s.%" PRId64 "@%s", domain, begin,
			     submitter);
	if (n < 0 || (size_t)n >= outlen)
		n = snprintf(out, outlen, "h%016" PRIx64 ".%" PRId64 "@%s",
			     fnv1a(domain), begin, submitter);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return AM_ERANGE;
	}
	return 0;
}

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void
gmime_start(void)
{
	g_mime_init();
}

int
report_mime_from_domain(const char *from, char *out, size_t outlen)
{
	InternetAddressList *list;
	InternetAddress *ia;
	const char *addr, *at;
	int rc = AM_EINVAL;

	pthread_once(&gmime_once, gmime_start);
	out[0] = '\0';
	list = internet_address_list_parse(NULL, from);
	if (list == NULL)
		return AM_EINVAL;
	if (internet_address_list_length(list) == 1 &&
	    INTERNET_ADDRESS_IS_MAILBOX(
		ia = internet_address_list_get_address(list, 0))) {
		addr = internet_address_mailbox_get_addr(
		    INTERNET_ADDRESS_MAILBOX(ia));
		at = addr != NULL ? strrchr(addr, '@') : NULL;
		if (at != NULL && at[1] != '\0' && strlen(at + 1) < outlen) {
			for (size_t i = 0; at[1 + i] != '\0'; i++)
				out[i] = (char)g_ascii_tolower(at[1 + i]);
			out[strlen(at + 1)] = '\0';
			rc = 0;
		}
	}
	g_object_unref(list);
	return rc;
}

static bool
one_line(const char *s)
{
	return s != NULL && strpbrk(s, "\r\n") == NULL;
}

static char *
text_body(const struct report_message *m)
{
	char b[32], e[32];
	struct tm tb, te;
	time_t tbeg = (time_t)m->begin, tend = (time_t)m->end;

	gmtime_r(&tbeg, &tb);
	gmtime_r(&tend, &te);
	strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S", &tb);
	strftime(e, sizeof e, "%Y-%m-%d %H:%M:%S", &te);
	return g_strdup_printf(
	    "This is a DMARC aggregate report (RFC 9990), attached as\n"
	    "gzip-compressed XML.\n"
	    "\n"
	    "Submitter: %s\n"
	    "Policy domain: %s\n"
	    "Period: %s to %s UTC\n"
	    "Report-ID: %s\n",
	    m->submitter, m->domain, b, e, m->report_id);
}

int
report_mime_build(const struct report_message *m, char **out, size_t *outlen,
		  char *err, size_t errlen)
{
	char fname[REPORT_FILENAME_MAX], *subject = NULL, *body = NULL;
	char *msgid = NULL;
	GMimeMessage *msg = NULL;
	GMimeMultipart *mixed = NULL;
	GMimeTextPart *text = NULL;
	GMimePart *gz = NULL;
	GMimeStream *mem = NULL, *sink = NULL;
	GMimeDataWrapper *dw = NULL;
	GMimeFormatOptions *fo = NULL;
	InternetAddressList *from = NULL, *to = NULL;
	GDateTime *date = NULL;
	GByteArray *bytes;
	int rc = AM_ELIB;

	*out = NULL;
	*outlen = 0;
	if (errlen > 0)
		err[0] = '\0';
	if (!one_line(m->from) || !one_line(m->to) || !one_line(m->submitter) ||
	    !one_line(m->domain) || !one_line(m->report_id) || m->gz == NULL) {
		snprintf(err, errlen,
			 "report message: a field is missing or "
			 "holds a line break");
		return AM_EINVAL;
	}
	rc = report_mime_filename(m->submitter, m->domain, m->begin, m->end,
				  fname, sizeof fname);
	if (rc != 0) {
		snprintf(err, errlen, "report message: %s",
			 rc == AM_EINVAL ? "the domain or submitter is not a "
					   "domain name"
					 : "file name too long");
		return rc;
	}
	rc = AM_ELIB;
	pthread_once(&gmime_once, gmime_start);

	from = internet_address_list_parse(NULL, m->from);
	to = internet_address_list_parse(NULL, m->to);
	if (from == NULL || internet_address_list_length(from) != 1 ||
	    to == NULL || internet_address_list_length(to) != 1) {
		snprintf(err, errlen, "report message: bad %s address \"%s\"",
			 from == NULL || internet_address_list_length(from) != 1
			     ? "From"
			     : "To",
			 from == NULL || internet_address_list_length(from) != 1
			     ? m->from
			     : m->to);
		rc = AM_EINVAL;
		goto out;
	}

	msg = g_mime_message_new(TRUE);
	internet_address_list_append(
	    g_mime_message_get_addresses(msg, GMIME_ADDRESS_TYPE_FROM), from);
	internet_address_list_append(
	    g_mime_message_get_addresses(msg, GMIME_ADDRESS_TYPE_TO), to);
	date = g_date_time_new_from_unix_utc(m->date);
	if (date == NULL)
		goto out;
	g_mime_message_set_date(msg, date);
	msgid = g_mime_utils_generate_message_id(m->submitter);
	g_mime_message_set_message_id(msg, msgid);
	subject = g_strdup_printf("Report Domain: %s Submitter: %s "
				  "Report-ID: <%s>",
				  m->domain, m->submitter, m->report_id);
	g_mime_message_set_subject(msg, subject, NULL);
	g_mime_object_set_header(GMIME_OBJECT(msg), "MIME-Version", "1.0",
				 NULL);

	mixed = g_mime_multipart_new_with_subtype("mixed");
	text = g_mime_text_part_new_with_subtype("plain");
	body = text_body(m);
	g_mime_text_part_set_text(text, body);
	/* quoted-printable keeps every line within 76 octets, whatever the
	 * length of the names in it; plain ASCII text stays readable */
	g_mime_part_set_content_encoding(
	    GMIME_PART(text), GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
	g_mime_multipart_add(mixed, GMIME_OBJECT(text));

	gz = g_mime_part_new_with_type("application", "gzip");
	mem = g_mime_stream_mem_new_with_buffer((const char *)m->gz, m->gzlen);
	dw = g_mime_data_wrapper_new_with_stream(
	    mem, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(gz, dw);
	g_mime_part_set_content_encoding(gz, GMIME_CONTENT_ENCODING_BASE64);
	g_mime_part_set_filename(gz, fname);
	g_mime_multipart_add(mixed, GMIME_OBJECT(gz));
	g_mime_message_set_mime_part(msg, GMIME_OBJECT(mixed));

	fo = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_UNIX);
	sink = g_mime_stream_mem_new();
	if (g_mime_object_write_to_stream(GMIME_OBJECT(msg), fo, sink) < 0) {
		snprintf(err, errlen, "report message: GMime could not write");
		goto out;
	}
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(sink));
	*out = malloc(bytes->len + 1);
	if (*out == NULL) {
		rc = AM_ENOMEM;
		snprintf(err, errlen, "report message: out of memory");
		goto out;
	}
	memcpy(*out, bytes->data, bytes->len);
	(*out)[bytes->len] = '\0';
	*outlen = bytes->len;
	rc = 0;
out:
	if (fo != NULL)
		g_mime_format_options_free(fo);
	if (sink != NULL)
		g_object_unref(sink);
	if (dw != NULL)
		g_object_unref(dw);
	if (mem != NULL)
		g_object_unref(mem);
	if (gz != NULL)
		g_object_unref(gz);
	if (text != NULL)
		g_object_unref(text);
	if (mixed != NULL)
		g_object_unref(mixed);
	if (msg != NULL)
		g_object_unref(msg);
	if (from != NULL)
		g_object_unref(from);
	if (to != NULL)
		g_object_unref(to);
	if (date != NULL)
		g_date_time_unref(date);
	g_free(msgid);
	g_free(subject);
	g_free(body);
	if (rc == AM_ELIB && err[0] == '\0')
		snprintf(err, errlen, "report message: GMime failed");
	return rc;
}
