/*
 * log - one logger, four levels, text or JSON, syslog or stderr
 *
 * log_open() chooses the sink (syslog facility mail, or stderr with -f)
 * and log_setup() the level and format from the configuration. Each line
 * is built in a local buffer and written with one call, so lines from
 * different threads never mix. log_error/log_warn/log_info/log_debug
 * take printf formats; log_errno appends ": strerror(errno)" and keeps
 * errno. Session lines start with the session id (and the queue id once
 * known): pass them as the "sid" argument of the log_s* variants.
 *
 * Network data must go through log_escape() (or be a value of
 * log_record) before it reaches a format: it turns every octet outside
 * printable ASCII, and the backslash and double quote, into \xHH.
 *
 * log_record() writes the per-message line: a list of key/value fields,
 * rendered as "key=value ..." (values escaped, quoted when they hold a
 * space) in text format or as one JSON object in json format.
 *
 * Caps: a line is cut at LOG_MAX_LINE octets (marked with "...").
 * Ownership: nothing is kept; log_escape writes into the caller's buffer.
 * Threads: safe from any thread; the level and format are atomics.
 * Errors: none reported; a line that cannot be written is lost.
 * See also: syslog(3), SPEC.md "Logs".
 */
#ifndef AM_LOG_H
#define AM_LOG_H

#include <stdbool.h>
#include <stddef.h>

#define LOG_MAX_LINE 4096

/* Levels (LogLevel) and line formats (LogFormat), lowest level first. */
enum log_level { LOG_L_ERROR = 0, LOG_L_WARNING, LOG_L_INFO, LOG_L_DEBUG };
enum log_format { LOG_F_TEXT = 0, LOG_F_JSON };

/* log_open - stderr (foreground) or syslog as ident "authmilter". */
void log_open(bool to_stderr, bool to_syslog);

/* log_setup - set level and format (at start and after each reload). */
void log_setup(enum log_level level, enum log_format format);

/* log_enabled - whether messages at level are written. */
bool log_enabled(enum log_level level);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_errno - log_error plus ": " and strerror(errno); errno is kept. */
void log_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Session variants: the line starts with "sid: ". */
void log_serror(const char *sid, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_swarn(const char *sid, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_sinfo(const char *sid, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_sdebug(const char *sid, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * log_escape - copy at most inlen octets of in (stopping at NUL) into out
 * with every octet outside 0x20..0x7e, and '\\' and '"', written as \xHH.
 * Always NUL-terminates (outlen > 0). Returns out, for use in a format.
 */
char *log_escape(const char *in, size_t inlen, char *out, size_t outlen);

struct log_field {
	const char *key;   /* static key name */
	const char *value; /* raw value, may come from the network; NULL
			    * omits the field */
	bool number;	   /* render unquoted in JSON */
};

/*
 * log_record - write one line at level with the given fields, escaped,
 * as text or JSON according to the format.
 */
void log_record(enum log_level level, const char *sid,
		const struct log_field *f, size_t n);

#endif
