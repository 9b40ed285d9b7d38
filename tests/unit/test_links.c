/* SPDX-License-Identifier: BSD-2-Clause */
/* test_links - the link extractor on the corpus and on hostile messages */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/resource.h>

#include "links.h"
#include "orgdom.h"

/* An AddressSanitizer build (GCC defines the first, clang answers the
 * second): memory figures do not mean there what they mean in a
 * release build. */
#if defined(__SANITIZE_ADDRESS__)
#define TL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TL_ASAN 1
#endif
#endif
#ifndef TL_ASAN
#define TL_ASAN 0
#endif

#ifndef AM_TESTS_DIR
#error "AM_TESTS_DIR must name the tests directory"
#endif
#define CORPUS AM_TESTS_DIR "/data/links"
#define PSL_FILE "/usr/share/publicsuffix/public_suffix_list.dat"

static const struct psl_ctx_st *psl;

static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

/*
 * Feed a whole message as the MTA would: header fields one by one (the
 * value as received after the colon, folds kept), then the body in
 * chunks of chunk octets.
 */
static void
feed(struct links *l, const char *msg, size_t len, size_t chunk)
{
	const char *p = msg, *end = msg + len;

	while (p < end && !(p[0] == '\r' && p + 1 < end && p[1] == '\n') &&
	       p[0] != '\n') {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		const char *e = p;
		char name[256], *value;

		assert_non_null(colon);
		/* the field ends at a line end not followed by WSP */
		for (;;) {
			e = memchr(e, '\n', (size_t)(end - e));
			assert_non_null(e);
			e++;
			if (e >= end || (*e != ' ' && *e != '\t'))
				break;
		}
		assert_true((size_t)(colon - p) < sizeof name);
		memcpy(name, p, (size_t)(colon - p));
		name[colon - p] = '\0';
		value = strndup(colon + 1, (size_t)(e - colon - 1));
		assert_non_null(value);
		/* without the final line end */
		for (size_t n = strlen(value);
		     n > 0 && (value[n - 1] == '\n' || value[n - 1] == '\r');)
			value[--n] = '\0';
		assert_int_equal(links_header(l, name, value, false), 0);
		free(value);
		p = e;
	}
	p += (p < end && p[0] == '\r') ? 2 : 1;
	while (p < end) {
		size_t n = (size_t)(end - p) < chunk ? (size_t)(end - p) : chunk;

		assert_int_equal(links_body(l, (const unsigned char *)p, n),
				 0);
		p += n;
	}
	assert_int_equal(links_end(l), 0);
}

static struct links *
run(const char *msg, size_t len, size_t chunk, size_t max_bytes,
    size_t max_domains)
{
	struct links_limits lim = {max_bytes, max_domains};
	struct links *l = links_new(&lim, psl, NULL, 0);

	assert_non_null(l);
	feed(l, msg, len, chunk);
	return l;
}

static bool
stat_flag(const struct links_stats *s, const char *flag)
{
	if (strcmp(flag, "over_bytes") == 0)
		return s->over_bytes;
	if (strcmp(flag, "over_domains") == 0)
		return s->over_domains;
	if (strcmp(flag, "over_depth") == 0)
		return s->over_depth;
	if (strcmp(flag, "over_links") == 0)
		return s->over_links;
	if (strcmp(flag, "over_parts") == 0)
		return s->over_parts;
	fail_msg("unknown flag %s", flag);
	return false;
}

/*
 * NAME.expect: the domains in order, one a line; "# ..." comments;
 * "hint DOMAIN": the prefetch hints in order; "!FLAG": a cap reached.
 */
static void
check_corpus(const char *name)
{
	char path[512], *msg, *exp, *line, *save = NULL;
	size_t len, elen, ndom = 0, nhint = 0;
	const size_t chunks[] = {65535, 7, 1};

	snprintf(path, sizeof path, "%s/%s.eml", CORPUS, name);
	msg = slurp(path, &len);
	snprintf(path, sizeof path, "%s/%s.expect", CORPUS, name);
	exp = slurp(path, &elen);
	for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
		struct links *l = run(msg, len, chunks[k], 1048576, 20);
		char *copy = strdup(exp);
		bool flags_seen[8] = {false};

		(void)flags_seen;
		assert_non_null(copy);
		ndom = nhint = 0;
		print_message("%s (chunks of %zu):", name, chunks[k]);
		for (size_t i = 0; i < links_count(l); i++)
			print_message(" %s", links_get(l, i)->name);
		print_message(" | hints:");
		for (size_t i = 0; i < links_prefetch_count(l); i++)
			print_message(" %s", links_prefetch_get(l, i)->name);
		print_message("\n");
		if (getenv("LINKS_PRINT") != NULL) { /* to write .expect */
			free(copy);
			links_free(l);
			continue;
		}
		for (line = strtok_r(copy, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			if (line[0] == '#' || line[0] == '\0')
				continue;
			if (line[0] == '!') {
				assert_true(stat_flag(links_stats(l), line + 1));
			} else if (strncmp(line, "hint ", 5) == 0) {
				assert_true(nhint < links_prefetch_count(l));
				assert_string_equal(
				    links_prefetch_get(l, nhint)->name,
				    line + 5);
				nhint++;
			} else {
				assert_true(ndom < links_count(l));
				assert_string_equal(links_get(l, ndom)->name,
						    line);
				ndom++;
			}
		}
		assert_int_equal(ndom, links_count(l));
		assert_int_equal(nhint, links_prefetch_count(l));
		free(copy);
		links_free(l);
	}
	free(msg);
	free(exp);
}

static void
test_corpus(void **state)
{
	DIR *d = opendir(CORPUS);
	struct dirent *de;
	size_t n = 0;

	(void)state;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		char name[256];

		if (len < 5 || strcmp(de->d_name + len - 4, ".eml") != 0)
			continue;
		snprintf(name, sizeof name, "%.*s", (int)(len - 4), de->d_name);
		check_corpus(name);
		n++;
	}
	closedir(d);
	assert_true(n >= 6);
}

/* ---- hosts, one by one ---- */

static const struct {
	const char *auth; /* what follows scheme:// */
	const char *host; /* NULL: refused */
	const char *domain;
} hosts[] = {
    {"www.example.test", "www.example.test", "example.test"},
    {"WWW.Example.TEST...", "www.example.test", "example.test"},
    {"a%2Eb%2eexample.test", "a.b.example.test", "example.test"},
    {"bank.test@evil.test", "evil.test", "evil.test"},
    {"u:p@x@evil.test:443", "evil.test", "evil.test"},
    {"3232235777", "192.168.1.1", "1.1.168.192"},
    {"0300.0250.1.1", "192.168.1.1", "1.1.168.192"},
    {"0xC0.0xA8.1.1", "192.168.1.1", "1.1.168.192"},
    {"0xc0.0xa8.0x101", "192.168.1.1", "1.1.168.192"},
    {"192.168.257", "192.168.1.1", "1.1.168.192"},
    {"192.11010305", "192.168.1.1", "1.1.168.192"},
    {"0xC0A80101", "192.168.1.1", "1.1.168.192"},
    {"030052000401", "192.168.1.1", "1.1.168.192"},
    {"0x", "0.0.0.0", "0.0.0.0"},
    {"4294967296", NULL, NULL},
    {"256.0.0.1", NULL, NULL},
    {"1.2.3.4.5", NULL, NULL},
    {"08.1.1.1", NULL, NULL},
    {"1.2.3.0x", "1.2.3.0", "0.3.2.1"},
    {"example.0x1g", "example.0x1g", "example.0x1g"}, /* not a number */
    {"[2001:db8::1]", NULL, NULL},
    {"b\xc3\xbc" "cher.example", "xn--bcher-kva.example", "xn--bcher-kva.example"},
    {"B\xc3\x9c" "CHER.example", "xn--bcher-kva.example", "xn--bcher-kva.example"},
    {"%62%c3%bc%63her.example", "xn--bcher-kva.example",
     "xn--bcher-kva.example"},
    {"a\xe3\x80\x82" "evil.test", "a.evil.test", "evil.test"},
    {"a..evil.test", NULL, NULL},
    {"ev il.test", NULL, NULL},
    {"evil.test%00.good.test", NULL, NULL},
    {"\xff\xfe.test", NULL, NULL},
    {"localhost", NULL, NULL},
    {"co.uk", NULL, NULL},
    {"x.y.example.co.uk", "x.y.example.co.uk", "example.co.uk"},
    {"", NULL, NULL},
    {"@", NULL, NULL},
    {"evil.test:8080", "evil.test", "evil.test"},
};

static void
test_hosts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
		char host[LINKS_NAME_MAX], dom[LINKS_NAME_MAX];
		bool ip;
		int rc = links_host_domain(psl, hosts[i].auth,
					   strlen(hosts[i].auth), host, dom,
					   &ip);

		print_message("host %s -> %s %s\n", hosts[i].auth,
			      rc == 0 ? host : "(refused)", rc == 0 ? dom : "");
		if (hosts[i].host == NULL) {
			assert_int_not_equal(rc, 0);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(host, hosts[i].host);
		assert_string_equal(dom, hosts[i].domain);
	}
}

/* ---- skip list ---- */

static void
test_skip(void **state)
{
	static const char *const skip[] = {"Gmail.COM.", "skip.test"};
	static const char msg[] =
	    "Content-Type: text/plain\r\n\r\n"
	    "http://mail.gmail.com/ http://a.skip.test/ http://b.test/\r\n";
	struct links_limits lim = {1 << 20, 1};
	struct links *l = links_new(&lim, psl, skip, 2);

	(void)state;
	assert_non_null(l);
	feed(l, msg, sizeof msg - 1, 65535);
	/* skipped domains are kept, marked, and leave the budget alone */
	assert_int_equal(links_count(l), 3);
	assert_true(links_get(l, 0)->skipped);
	assert_true(links_get(l, 1)->skipped);
	assert_false(links_get(l, 2)->skipped);
	assert_string_equal(links_get(l, 2)->name, "b.test");
	assert_false(links_stats(l)->over_domains);
	/* hints never include a skipped domain */
	assert_int_equal(links_prefetch_count(l), 1);
	assert_string_equal(links_prefetch_get(l, 0)->name, "b.test");
	links_free(l);
	assert_true(links_skip_match(skip, 2, "gmail.com"));
	assert_false(links_skip_match(skip, 2, "xgmail.com"));
}

/* ---- hostile messages, built here ---- */

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct buf {
	char *p;
	size_t len, cap;
};

static void bput(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
bput(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->p == NULL) {
		b->cap = 4096;
		b->p = malloc(b->cap);
		assert_non_null(b->p);
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if ((size_t)n < b->cap - b->len)
			break;
		b->cap = b->cap * 2 + (size_t)n + 1;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	b->len += (size_t)n;
}

/* 10,000 distinct links (12,000 with html): the caps hold. */
static void
test_many_links(void **state)
{
	struct buf b = {0};
	struct links *l;
	double t0;

	(void)state;
	bput(&b, "Content-Type: text/plain\r\n\r\n");
	for (int i = 0; i < 10000; i++)
		bput(&b, "http://d%d.many.test/ http://www.host%d.test/\r\n",
		     i, i);
	t0 = now_ms();
	l = run(b.p, b.len, 65535, 1048576, 20);
	print_message("10,000 lines of links, %zu octets: %.1f ms\n", b.len,
		      now_ms() - t0);
	/* d0..: many.test; then host0.test ... host18.test */
	assert_int_equal(links_count(l), 20);
	assert_string_equal(links_get(l, 0)->name, "many.test");
	assert_int_equal(links_get(l, 0)->links, 10000 / 2);
	assert_string_equal(links_get(l, 1)->name, "host0.test");
	assert_string_equal(links_get(l, 19)->name, "host18.test");
	assert_true(links_stats(l)->over_domains);
	assert_true(links_stats(l)->over_links);
	assert_int_equal(links_stats(l)->links, LINKS_MAX_LINKS);
	assert_true(links_prefetch_count(l) <= 20);
	links_free(l);

	/* the same as HTML anchors */
	b.len = 0;
	bput(&b, "Content-Type: text/html\r\n\r\n<html><body>");
	for (int i = 0; i < 10000; i++)
		bput(&b, "<a href=\"http://h%d.anchor.test/\">x</a>\r\n", i);
	t0 = now_ms();
	l = run(b.p, b.len, 65535, 1048576, 20);
	print_message("10,000 HTML anchors, %zu octets: %.1f ms\n", b.len,
		      now_ms() - t0);
	assert_int_equal(links_count(l), 1);
	assert_int_equal(links_get(l, 0)->links, 10000);
	assert_false(links_stats(l)->over_links);
	links_free(l);
	free(b.p);
}

/* depth nested multiparts: depth cap, links above it still found. */
static void
nest(int depth)
{
	struct buf b = {0};
	struct links *l;
	double t0;

	bput(&b, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
		 "boundary=\"b0\"\r\n\r\n");
	for (int i = 0; i < depth; i++) {
		bput(&b, "--b%d\r\nContent-Type: text/plain\r\n\r\n"
			 "level %d http://level%d.deep.test/ "
			 "http://l%d.test/\r\n",
		     i, i, i, i);
		bput(&b, "--b%d\r\nContent-Type: multipart/mixed; "
			 "boundary=\"b%d\"\r\n\r\n",
		     i, i + 1);
	}
	bput(&b, "--b%d\r\nContent-Type: text/plain\r\n\r\n"
		 "innermost http://innermost.test/\r\n--b%d--\r\n",
	     depth, depth);
	for (int i = depth - 1; i >= 0; i--)
		bput(&b, "--b%d--\r\n", i);
	t0 = now_ms();
	l = run(b.p, b.len, 65535, 1048576, 100);
	print_message("%d nested multiparts, %zu octets: %.1f ms\n", depth,
		      b.len, now_ms() - t0);
	assert_true(links_stats(l)->over_depth);
	/* deep.test, then l0.test ... l19.test: the parts above the cap */
	assert_string_equal(links_get(l, 0)->name, "deep.test");
	assert_string_equal(links_get(l, 1)->name, "l0.test");
	assert_int_equal(links_count(l), 1 + LINKS_MAX_DEPTH / 1);
	for (size_t i = 0; i < links_count(l); i++)
		assert_string_not_equal(links_get(l, i)->name, "innermost.test");
	links_free(l);
	free(b.p);
}

static void
test_deep_nesting(void **state)
{
	(void)state;
	nest(100);
	nest(10000); /* what fits in about 1 MB */
}

/* whether the extractor found domain name */
static bool
found(const struct links *l, const char *name)
{
	for (size_t i = 0; i < links_count(l); i++)
		if (strcmp(links_get(l, i)->name, name) == 0)
			return true;
	return false;
}

/*
 * HTML elements nested deeper than libxml2's tree depth limit (256; the
 * parser stopped there, silently: every link after it was lost, while a
 * client shows them) and a start tag of 170,000 attributes (libxml2
 * compares each attribute name with all before it: a minute of CPU for
 * 1 MB): the links after them are found, in bounded time.
 */
static void
test_html_bombs(void **state)
{
	static const char *const tags[] = {"b", "div", "table", "font"};
	struct buf b = {0};
	struct links *l;
	double t0, ms;

	(void)state;
	for (size_t k = 0; k < sizeof tags / sizeof tags[0]; k++) {
		for (int depth = 257; depth < 200000; depth *= 20) {
			b.len = 0;
			bput(&b, "Content-Type: text/html\r\n\r\n");
			for (int i = 0; i < depth; i++)
				bput(&b, "<%s>", tags[k]);
			bput(&b, "<a href=\"http&#58;//after-deep.test/\">x</a>"
				 " http://text-after-deep.test/\r\n");
			t0 = now_ms();
			l = run(b.p, b.len, 65535, 1048576, 20);
			print_message("%d nested <%s>, %zu octets: %.1f ms\n",
				      depth, tags[k], b.len, now_ms() - t0);
			assert_true(found(l, "after-deep.test"));
			assert_true(found(l, "text-after-deep.test"));
			links_free(l);
		}
	}

	b.len = 0;
	bput(&b, "Content-Type: text/html\r\n\r\n<p><a ");
	while (b.len < 1048576 - 200)
		bput(&b, "a%zu ", b.len);
	bput(&b, "href=\"http&#58;//in-big-tag.test/\">x</a>"
		 "<a href=\"//after-big-tag.test/\">y</a></p>\r\n");
	t0 = now_ms();
	l = run(b.p, b.len, 65535, 1048576, 20);
	ms = now_ms() - t0;
	print_message("a start tag of 1 MB of attributes: %.1f ms\n", ms);
	assert_true(ms < 3000);
	assert_true(found(l, "in-big-tag.test"));
	assert_true(found(l, "after-big-tag.test"));
	assert_true(links_stats(l)->over_attrs);
	links_free(l);

	/* 1 MB of processing instructions: no memory per instruction (a
	 * node each made 1 MB into 40 MB, per session) */
	{
		struct rusage ru0, ru1;

		b.len = 0;
		bput(&b, "Content-Type: text/html\r\n\r\n");
		while (b.len < 1048576 - 100)
			bput(&b, "<?a?>");
		bput(&b, "<a href=\"http://after-pi.test/\">x</a>\r\n");
		getrusage(RUSAGE_SELF, &ru0);
		l = run(b.p, b.len, 65535, 1048576, 20);
		getrusage(RUSAGE_SELF, &ru1);
		print_message("1 MB of processing instructions: peak RSS "
			      "+%ld kB\n",
			      ru1.ru_maxrss - ru0.ru_maxrss);
		assert_true(found(l, "after-pi.test"));
#if TL_ASAN
		/* ASan's quarantine keeps freed blocks and its redzones
		 * grow every block: peak RSS says nothing there (the
		 * release build checks it) */
		print_message("ASan build: peak RSS not checked\n");
#else
		assert_true(ru1.ru_maxrss - ru0.ru_maxrss < 10000);
#endif
		links_free(l);
	}

	/* at the cap, the tag is read as usual */
	b.len = 0;
	bput(&b, "Content-Type: text/html\r\n\r\n<p><a ");
	for (int i = 1; i < LINKS_MAX_ATTRS; i++)
		bput(&b, "a%d=\"x > y\" ", i);
	bput(&b, "href=\"//at-cap.test/\">x</a></p>\r\n");
	l = run(b.p, b.len, 65535, 1048576, 20);
	assert_true(found(l, "at-cap.test"));
	assert_false(links_stats(l)->over_attrs);
	links_free(l);
	free(b.p);
}

/*
 * Each reading of a part is scanned once: a base64 part read by GMime's
 * own decoding is not read again for its one Content-Transfer-Encoding
 * field (links counted twice), a second field is.
 */
static void
test_readings_once(void **state)
{
	static const char one[] =
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/html\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"
	    "PGEgaHJlZj0iaHR0cDovL29uY2UudGVzdC8iPng8L2E+\r\n";
	static const char two[] =
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
	    "--b\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n"
	    "http://twice.test/\r\n--b--\r\n";
	struct links *l;

	(void)state;
	l = run(one, sizeof one - 1, 65535, 1048576, 20);
	assert_int_equal(links_count(l), 1);
	assert_string_equal(links_get(l, 0)->name, "once.test");
	assert_int_equal(links_get(l, 0)->links, 1);
	links_free(l);
	l = run(two, sizeof two - 1, 65535, 1048576, 20);
	assert_int_equal(links_count(l), 1);
	assert_int_equal(links_get(l, 0)->links, 2);
	links_free(l);
}

/* A 50 MB body: only URIBLMaxBytes of it is kept and scanned. */
static void
test_large_body(void **state)
{
	static const char head[] = "Content-Type: text/plain\r\n";
	struct links_limits lim = {1048576, 20};
	struct links *l;
	char chunk[65536];
	size_t total = 50u * 1024 * 1024, sent = 0;
	double t0;

	(void)state;
	memset(chunk, 'a', sizeof chunk);
	for (size_t i = 79; i < sizeof chunk; i += 80) {
		chunk[i - 1] = '\r';
		chunk[i] = '\n';
	}
	l = links_new(&lim, psl, NULL, 0);
	assert_non_null(l);
	t0 = now_ms();
	assert_int_equal(links_header(l, "Content-Type", " text/plain", false),
			 0);
	(void)head;
	{
		static const char first[] = "see http://early.test/\r\n";

		assert_int_equal(links_body(l, (const unsigned char *)first,
					    sizeof first - 1),
				 0);
		sent += sizeof first - 1;
	}
	while (sent < total - 100) {
		assert_int_equal(
		    links_body(l, (const unsigned char *)chunk, sizeof chunk),
		    0);
		sent += sizeof chunk;
	}
	{
		static const char last[] = "\r\nsee http://late.test/\r\n";

		assert_int_equal(links_body(l, (const unsigned char *)last,
					    sizeof last - 1),
				 0);
	}
	assert_int_equal(links_end(l), 0);
	print_message("50 MB body: %.1f ms\n", now_ms() - t0);
	assert_true(links_stats(l)->over_bytes);
	assert_true(links_stats(l)->body_bytes >= total - 100);
	assert_int_equal(links_count(l), 1);
	assert_string_equal(links_get(l, 0)->name, "early.test");
	links_free(l);
}

/* Many parts in one flat multipart: the parts cap. */
static void
test_many_parts(void **state)
{
	struct buf b = {0};
	struct links *l;
	double t0;

	(void)state;
	bput(&b, "Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n");
	for (int i = 0; i < 20000; i++)
		bput(&b, "--p\r\n\r\nhttp://p%d.test/\r\n", i);
	bput(&b, "--p--\r\n");
	t0 = now_ms();
	l = run(b.p, b.len, 65535, 1048576, 100);
	print_message("20,000 parts, %zu octets: %.1f ms\n", b.len,
		      now_ms() - t0);
	assert_true(links_stats(l)->over_parts);
	assert_int_equal(links_count(l), 100);
	links_free(l);

	/* the smallest parts there are: 8 octets each */
	b.len = 0;
	bput(&b, "Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n");
	while (b.len < 1048576 - 64)
		bput(&b, "--p\r\n\r\n");
	bput(&b, "--p\r\n\r\nhttp://last.test/\r\n--p--\r\n");
	t0 = now_ms();
	l = run(b.p, b.len, 65535, 1048576, 100);
	print_message("%zu empty parts, %zu octets: %.1f ms\n",
		      (b.len - 50) / 9, b.len, now_ms() - t0);
	assert_true(links_stats(l)->over_parts);
	assert_int_equal(links_count(l), 0);
	links_free(l);
	free(b.p);
}

/* What the memory measurement in docs/SECURITY.md runs. */
static void
peak_rss(const char *what)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	print_message("after %s: peak RSS %ld kB\n", what, ru.ru_maxrss);
}

static int
setup(void **state)
{
	(void)state;
	psl = orgdom_psl_ctx(PSL_FILE);
	return psl == NULL ? -1 : 0;
}

static void
test_rss(void **state)
{
	(void)state;
	peak_rss("all cases");
}

int
main(void)
{
	const char *only = getenv("LINKS_ONLY"); /* for measurements */
	const struct CMUnitTest all[] = {
	    cmocka_unit_test(test_hosts),	  cmocka_unit_test(test_corpus),
	    cmocka_unit_test(test_skip),	  cmocka_unit_test(test_many_links),
	    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_html_bombs),
	    cmocka_unit_test(test_readings_once),
	    cmocka_unit_test(test_large_body),	  cmocka_unit_test(test_many_parts),
	    cmocka_unit_test(test_rss),
	};

	if (only != NULL) {
		for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
			if (strcmp(all[i].name, only) == 0) {
				const struct CMUnitTest one[] = {all[i],
								 all[7]};

				return cmocka_run_group_tests(one, setup, NULL);
			}
		}
		return 2;
	}
	return cmocka_run_group_tests(all, setup, NULL);
}
