/* SPDX-License-Identifier: BSD-2-Clause */
/* log - leveled text/JSON logging to syslog or stderr, one write a line */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* The sink and rendering: set at startup and on reload, read by all. */
static atomic_int log_level = LOG_L_INFO;
static atomic_int log_format = LOG_F_TEXT;
static atomic_bool log_to_stderr = true;
static atomic_bool log_to_syslog = false;

static const char *const log_level_names[] = {
    [LOG_L_ERROR] = "error",
    [LOG_L_WARNING] = "warning",
    [LOG_L_INFO] = "info",
    [LOG_L_DEBUG] = "debug",
};

static const int log_prio[] = {
    [LOG_L_ERROR] = LOG_ERR,
    [LOG_L_WARNING] = LOG_WARNING,
    [LOG_L_INFO] = LOG_INFO,
    [LOG_L_DEBUG] = LOG_DEBUG,
};

#define LOG_ELLIPSIS "..."
/* Room kept at the end of a line for "...", the closing quote, a
 * ",\"truncated\":true" marker, "}" and the newline. */
#define LOG_RESERVE 32

/* A bounded line buffer: len never passes LOG_MAX_LINE - LOG_RESERVE
 * except for the closing text written by lb_close. */
struct linebuf {
	char b[LOG_MAX_LINE + 1];
	size_t len;
	bool cut; /* something did not fit */
};

static void
lb_put(struct linebuf *lb, const char *s, size_t n)
{
	size_t room = LOG_MAX_LINE - LOG_RESERVE - lb->len;

	if (lb->cut)
		return;
	if (n > room) {
		n = room;
		lb->cut = true;
	}
	memcpy(lb->b + lb->len, s, n);
	lb->len += n;
}

static void
lb_puts(struct linebuf *lb, const char *s)
{
	lb_put(lb, s, strlen(s));
}

/* Append one escape unit whole or not at all. */
static void
lb_unit(struct linebuf *lb, const char *s, size_t n)
{
	if (lb->cut)
		return;
	if (n > LOG_MAX_LINE - LOG_RESERVE - lb->len) {
		lb->cut = true;
		return;
	}
	memcpy(lb->b + lb->len, s, n);
	lb->len += n;
}

/* The JSON string body of s (not the quotes), RFC 8259 escaping; every
 * octet outside printable ASCII becomes \u00XX of that octet. */
static void
lb_json_str(struct linebuf *lb, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	char u[7];

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0';
	     p++) {
		if (*p == '"' || *p == '\\') {
			u[0] = '\\';
			u[1] = (char)*p;
			lb_unit(lb, u, 2);
		} else if (*p < 0x20 || *p > 0x7e) {
			u[0] = '\\';
			u[1] = 'u';
			u[2] = '0';
			u[3] = '0';
			u[4] = hex[*p >> 4];
			u[5] = hex[*p & 0xf];
			lb_unit(lb, u, 6);
		} else {
			lb_unit(lb, (const char *)p, 1);
		}
		if (lb->cut)
			break;
	}
}

/* Text rendering of s: control and non-ASCII octets become \xHH so a
 * line stays one line whatever the caller passed. */
static void
lb_text_str(struct linebuf *lb, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	char u[4];

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0';
	     p++) {
		if (*p < 0x20 || *p > 0x7e) {
			u[0] = '\\';
			u[1] = 'x';
			u[2] = hex[*p >> 4];
			u[3] = hex[*p & 0xf];
			lb_unit(lb, u, 4);
		} else {
			lb_unit(lb, (const char *)p, 1);
		}
		if (lb->cut)
			break;
	}
}

static void
lb_timestamp(struct linebuf *lb)
{
	struct timespec ts;
	struct tm tm;
	char buf[40];
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1000000);
	lb_puts(lb, buf);
}

static void
lb_emit(struct linebuf *lb, enum log_level level)
{
	if (atomic_load(&log_to_stderr)) {
		lb->b[lb->len++] = '\n';
		/* One write per line; a short write is not retried. */
		if (write(STDERR_FILENO, lb->b, lb->len) < 0)
			(void)0;
		lb->len--;
	}
	if (atomic_load(&log_to_syslog)) {
		lb->b[lb->len] = '\0';
		syslog(log_prio[level], "%s", lb->b);
	}
}

/* The JSON prologue: {"ts":"...","level":"...","sid":"..." */
static void
lb_json_head(struct linebuf *lb, enum log_level level, const char *sid)
{
	lb_puts(lb, "{\"ts\":\"");
	lb_timestamp(lb);
	lb_puts(lb, "\",\"level\":\"");
	lb_puts(lb, log_level_names[level]);
	lb_puts(lb, "\"");
	if (sid != NULL) {
		lb_puts(lb, ",\"sid\":\"");
		lb_json_str(lb, sid);
		lb_unit(lb, "\"", 1);
	}
}

/* Text prologue; the timestamp only on stderr (syslog has its own). */
static void
lb_text_head(struct linebuf *lb, enum log_level level, const char *sid)
{
	if (atomic_load(&log_to_stderr)) {
		lb_timestamp(lb);
		lb_puts(lb, " ");
	}
	lb_puts(lb, log_level_names[level]);
	lb_puts(lb, ": ");
	if (sid != NULL) {
		lb_text_str(lb, sid);
		lb_puts(lb, ": ");
	}
}

/* Close a JSON string that may have been cut, then the object. */
static void
lb_json_close_str(struct linebuf *lb)
{
	if (lb->cut) {
		memcpy(lb->b + lb->len, LOG_ELLIPSIS "\"", 4);
		lb->len += 4;
	} else {
		lb->b[lb->len++] = '"';
	}
}

static void
log_line(enum log_level level, const char *sid, const char *msg)
{
	struct linebuf lb;

	lb.len = 0;
	lb.cut = false;
	if (atomic_load(&log_format) == LOG_F_JSON) {
		lb_json_head(&lb, level, sid);
		lb_puts(&lb, ",\"msg\":\"");
		lb_json_str(&lb, msg);
		lb_json_close_str(&lb);
		lb.b[lb.len++] = '}';
	} else {
		lb_text_head(&lb, level, sid);
		lb_text_str(&lb, msg);
		if (lb.cut) {
			memcpy(lb.b + lb.len, LOG_ELLIPSIS, 3);
			lb.len += 3;
		}
	}
	lb_emit(&lb, level);
}

static void log_v(enum log_level level, const char *sid, int errnum,
		  const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void
log_v(enum log_level level, const char *sid, int errnum, const char *fmt,
      va_list ap)
{
	char msg[LOG_MAX_LINE];
	char ebuf[128];
	size_t n;
	int r;

	if (!log_enabled(level))
		return;
	r = vsnprintf(msg, sizeof msg, fmt, ap);
	if (r < 0) {
		msg[0] = '\0';
		r = 0;
	}
	n = (size_t)r < sizeof msg ? (size_t)r : sizeof msg - 1;
	if (errnum != 0 && n < sizeof msg - 1)
		snprintf(msg + n, sizeof msg - n, ": %s",
			 strerror_r(errnum, ebuf, sizeof ebuf));
	log_line(level, sid, msg);
}

void
log_open(bool to_stderr, bool to_syslog)
{
	if (to_syslog)
		openlog("authmilter", LOG_PID | LOG_NDELAY, LOG_MAIL);
	atomic_store(&log_to_stderr, to_stderr);
	atomic_store(&log_to_syslog, to_syslog);
}

void
log_setup(enum log_level level, enum log_format format)
{
	if ((int)level < LOG_L_ERROR || level > LOG_L_DEBUG)
		level = LOG_L_INFO;
	atomic_store(&log_level, level);
	atomic_store(&log_format,
		     format == LOG_F_JSON ? LOG_F_JSON : LOG_F_TEXT);
}

bool
log_enabled(enum log_level level)
{
	return (int)level <= atomic_load(&log_level);
}

#define LOG_FN(name, level)                                                    \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_v(level, NULL, 0, fmt, ap);                                \
		va_end(ap);                                                    \
	}
#define LOG_SFN(name, level)                                                   \
	void name(const char *sid, const char *fmt, ...)                       \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_v(level, sid, 0, fmt, ap);                                 \
		va_end(ap);                                                    \
	}

LOG_FN(log_error, LOG_L_ERROR)
LOG_FN(log_warn, LOG_L_WARNING)
LOG_FN(log_info, LOG_L_INFO)
LOG_FN(log_debug, LOG_L_DEBUG)
LOG_SFN(log_serror, LOG_L_ERROR)
LOG_SFN(log_swarn, LOG_L_WARNING)
LOG_SFN(log_sinfo, LOG_L_INFO)
LOG_SFN(log_sdebug, LOG_L_DEBUG)

void
log_errno(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_v(LOG_L_ERROR, NULL, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

char *
log_escape(const char *in, size_t inlen, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (out == NULL || outlen == 0)
		return out;
	for (size_t i = 0; in != NULL && i < inlen && in[i] != '\0'; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x20 || c > 0x7e || c == '\\' || c == '"') {
			if (o + 4 >= outlen)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		} else {
			if (o + 1 >= outlen)
				break;
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return out;
}

/* A JSON number: -?digits[.digits]; anything else is written quoted. */
static bool
log_is_number(const char *s)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0' && p - s < 32;
}

/* One ,"key":value member; a member that does not fit whole is dropped,
 * except a string value, which is cut and closed with "...". */
static void
log_json_field(struct linebuf *lb, const struct log_field *f)
{
	size_t mark = lb->len;

	lb_puts(lb, ",\"");
	lb_json_str(lb, f->key);
	lb_puts(lb, "\":");
	if (lb->cut) {
		lb->len = mark;
		return;
	}
	if (f->number && log_is_number(f->value)) {
		lb_puts(lb, f->value);
		if (lb->cut)
			lb->len = mark;
		return;
	}
	lb_puts(lb, "\"");
	lb_json_str(lb, f->value);
	lb_json_close_str(lb);
}

/* One key=value pair (value escaped, quoted if empty or with a space). */
static void
log_text_field(struct linebuf *lb, const struct log_field *f, bool first,
	       char *esc, size_t esclen)
{
	bool quote;

	log_escape(f->value, strlen(f->value), esc, esclen);
	quote = esc[0] == '\0' || strchr(esc, ' ') != NULL;
	if (!first)
		lb_puts(lb, " ");
	lb_text_str(lb, f->key);
	lb_puts(lb, quote ? "=\"" : "=");
	lb_puts(lb, esc);
	if (quote && !lb->cut)
		lb_puts(lb, "\"");
}

void
log_record(enum log_level level, const char *sid, const struct log_field *f,
	   size_t n)
{
	struct linebuf lb;
	char esc[LOG_MAX_LINE];
	bool json = atomic_load(&log_format) == LOG_F_JSON;
	bool first = true;

	if (!log_enabled(level))
		return;
	lb.len = 0;
	lb.cut = false;
	if (json)
		lb_json_head(&lb, level, sid);
	else
		lb_text_head(&lb, level, sid);
	for (size_t i = 0; i < n && !lb.cut; i++) {
		if (f[i].key == NULL || f[i].value == NULL)
			continue;
		if (json)
			log_json_field(&lb, &f[i]);
		else
			log_text_field(&lb, &f[i], first, esc, sizeof esc);
		first = false;
	}
	if (json) {
		if (lb.cut) {
			memcpy(lb.b + lb.len, ",\"truncated\":true", 17);
			lb.len += 17;
		}
		lb.b[lb.len++] = '}';
	} else if (lb.cut) {
		memcpy(lb.b + lb.len, LOG_ELLIPSIS, 3);
		lb.len += 3;
	}
	lb_emit(&lb, level);
}
