/* SPDX-License-Identifier: BSD-2-Clause */
/* test_log - escaping, text and JSON rendering, levels, line caps */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const struct {
	const char *name;
	const char *in;
	size_t inlen;
	size_t outlen;
	const char *want;
} esc_cases[] = {
	{"plain", "mx.example.org", 99, 64, "mx.example.org"},
	{"quote and backslash", "a\"b\\c", 99, 64, "a\\x22b\\x5cc"},
	{"controls", "a\r\n\tb\x7f", 99, 64, "a\\x0d\\x0a\\x09b\\x7f"},
	{"high octets", "\xc3\xa9\xff", 99, 64, "\\xc3\\xa9\\xff"},
	{"inlen limit", "abcdef", 3, 64, "abc"},
	{"stops at NUL", "ab\0cd", 5, 64, "ab"},
	{"cut, no half escape", "ab\n", 99, 6, "ab"},
	{"cut exact", "abcdef", 99, 4, "abc"},
	{"outlen 1", "abc", 99, 1, ""},
};

static void
test_escape(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof esc_cases / sizeof esc_cases[0]; i++) {
		char out[64];
		char *r = log_escape(esc_cases[i].in, esc_cases[i].inlen, out,
				     esc_cases[i].outlen);

		assert_ptr_equal(r, out);
		if (strcmp(out, esc_cases[i].want) != 0)
			fail_msg("case %s: got \"%s\"", esc_cases[i].name, out);
	}
}

/* Capture what the logger writes to stderr while fn runs. */
static char *
capture(void (*fn)(void))
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	long len;
	char *buf;

	assert_non_null(tmp);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	fn();
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	len = ftell(tmp) >= 0 ? lseek(fileno(tmp), 0, SEEK_END) : 0;
	buf = calloc(1, (size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fileno(tmp), buf, (size_t)len, 0), len);
	fclose(tmp);
	return buf;
}

/* --- a strict little JSON checker: one object of string keys whose
 * values are strings, numbers or true, all in printable ASCII. --- */
static const char *
json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c > 0x7e)
			return NULL;
		if (c == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (strchr("0123456789abcdefABCDEF",
						   p[i]) == NULL || p[i] == 0)
						return NULL;
				p += 5;
				continue;
			}
			if (*p == '\0' || strchr("\"\\/bfnrt", *p) == NULL)
				return NULL;
		}
		p++;
	}
	return p + 1;
}

static const char *
json_value(const char *p)
{
	if (*p == '"')
		return json_string(p);
	if (strncmp(p, "true", 4) == 0)
		return p + 4;
	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return NULL;
	while ((*p >= '0' && *p <= '9') || *p == '.')
		p++;
	return p;
}

static bool
json_object_line(const char *line, size_t len)
{
	const char *p = line;

	if (len == 0 || line[len - 1] != '}' || *p++ != '{')
		return false;
	for (;;) {
		p = json_string(p);
		if (p == NULL || *p++ != ':')
			return false;
		p = json_value(p);
		if (p == NULL)
			return false;
		if (*p == '}')
			return p == line + len - 1;
		if (*p++ != ',')
			return false;
	}
}

static void
check_json_lines(const char *out, size_t want_lines)
{
	size_t lines = 0;

	for (const char *p = out; *p != '\0';) {
		const char *nl = strchr(p, '\n');

		assert_non_null(nl);
		assert_true((size_t)(nl - p) <= LOG_MAX_LINE);
		if (!json_object_line(p, (size_t)(nl - p)))
			fail_msg("invalid JSON: %.*s", (int)(nl - p), p);
		lines++;
		p = nl + 1;
	}
	assert_int_equal(lines, want_lines);
}

static void
emit_all_bytes(void)
{
	char msg[256];

	for (int i = 1; i < 256; i++)
		msg[i - 1] = (char)i;
	msg[255] = '\0';
	log_sinfo("s\"1\n", "%s", msg);
	log_info("plain");
}

static void
test_json_bytes(void **state)
{
	char *out;

	(void)state;
	log_open(true, false);
	log_setup(LOG_L_INFO, LOG_F_JSON);
	out = capture(emit_all_bytes);
	check_json_lines(out, 2);
	assert_non_null(strstr(out, "\"sid\":\"s\\\"1\\u000a\""));
	assert_non_null(strstr(out, "\\u0001\\u0002"));
	assert_non_null(strstr(out, "\\u00ff\""));
	assert_non_null(strstr(out, "\"level\":\"info\",\"msg\":\"plain\"}"));
	free(out);
}

static void
emit_long(void)
{
	char *big = malloc(3 * LOG_MAX_LINE);
	struct log_field f[3];

	assert_non_null(big);
	memset(big, '\x01', 3 * LOG_MAX_LINE - 1);
	big[3 * LOG_MAX_LINE - 1] = '\0';
	log_info("%s", big);
	f[0] = (struct log_field){"a", "short", false};
	f[1] = (struct log_field){"b", big, false};
	f[2] = (struct log_field){"c", "after", false};
	log_record(LOG_L_INFO, "sid", f, 3);
	big[LOG_MAX_LINE / 6 - 20] = '\0';
	for (size_t i = 0; i < 3; i++)
		f[i] = (struct log_field){"k", big, false};
	log_record(LOG_L_INFO, "sid", f, 3);
	free(big);
}

static void
test_json_cut(void **state)
{
	char *out;

	(void)state;
	log_open(true, false);
	log_setup(LOG_L_INFO, LOG_F_JSON);
	out = capture(emit_long);
	check_json_lines(out, 3);
	assert_non_null(strstr(out, "...\"}\n"));
	assert_non_null(strstr(out, "...\",\"truncated\":true}\n"));
	free(out);
	log_setup(LOG_L_INFO, LOG_F_TEXT);
	out = capture(emit_long);
	for (char *p = out, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		assert_true((size_t)(nl - p) <= LOG_MAX_LINE);
		assert_memory_equal(nl - 3, "...", 3);
	}
	free(out);
}

static void
emit_levels(void)
{
	log_debug("dbg");
	log_info("inf %d", 1);
	log_warn("wrn");
	log_error("err");
	log_sinfo("S1", "with sid");
	errno = ENOENT;
	log_errno("open %s", "x");
	assert_int_equal(errno, ENOENT);
}

static void
test_text_levels(void **state)
{
	char *out;

	(void)state;
	log_open(true, false);
	log_setup(LOG_L_INFO, LOG_F_TEXT);
	assert_false(log_enabled(LOG_L_DEBUG));
	assert_true(log_enabled(LOG_L_INFO));
	out = capture(emit_levels);
	assert_null(strstr(out, "dbg"));
	assert_non_null(strstr(out, " info: inf 1\n"));
	assert_non_null(strstr(out, " warning: wrn\n"));
	assert_non_null(strstr(out, " error: err\n"));
	assert_non_null(strstr(out, " info: S1: with sid\n"));
	assert_non_null(strstr(out, " error: open x: No such file or "
			       "directory\n"));
	free(out);
	log_setup(LOG_L_ERROR, LOG_F_TEXT);
	out = capture(emit_levels);
	assert_null(strstr(out, "inf 1"));
	assert_null(strstr(out, "wrn"));
	assert_non_null(strstr(out, " error: err\n"));
	free(out);
}

static void
emit_record(void)
{
	const struct log_field f[] = {
		{"ip", "192.0.2.1", false},
		{"helo", "evil\r\nX: y", false},
		{"from", NULL, false},
		{"subject", "two words", false},
		{"empty", "", false},
		{"dns_ms", "12.5", true},
		{"bad_number", "12; rm", true},
	};

	log_record(LOG_L_INFO, "q1", f, sizeof f / sizeof f[0]);
	log_record(LOG_L_DEBUG, "q1", f, 1); /* below the level */
}

static void
test_record(void **state)
{
	char *out;

	(void)state;
	log_open(true, false);
	log_setup(LOG_L_INFO, LOG_F_TEXT);
	out = capture(emit_record);
	assert_non_null(strstr(out, " info: q1: ip=192.0.2.1 "
			       "helo=\"evil\\x0d\\x0aX: y\" "
			       "subject=\"two words\" empty=\"\" "
			       "dns_ms=12.5 bad_number=\"12; rm\"\n"));
	assert_null(strstr(out, "from="));
	assert_int_equal(strchr(out, '\n')[1], '\0'); /* one line */
	free(out);
	log_setup(LOG_L_INFO, LOG_F_JSON);
	out = capture(emit_record);
	check_json_lines(out, 1);
	assert_non_null(strstr(out, "\"sid\":\"q1\",\"ip\":\"192.0.2.1\","
			       "\"helo\":\"evil\\u000d\\u000aX: y\","
			       "\"subject\":\"two words\",\"empty\":\"\","
			       "\"dns_ms\":12.5,\"bad_number\":\"12; rm\"}"));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_json_bytes),
		cmocka_unit_test(test_json_cut),
		cmocka_unit_test(test_text_levels),
		cmocka_unit_test(test_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
