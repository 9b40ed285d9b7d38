/* SPDX-License-Identifier: BSD-2-Clause */
/* links - the links of a message (GMime, libxml2) and their domains */
#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>
#include <idn2.h>
#include <libpsl.h>
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>

#include "amerr.h"
#include "links.h"

struct links {
	struct links_limits lim;
	const psl_ctx_t *psl;	   /* borrowed */
	const char *const *skip;   /* borrowed */
	size_t nskip;		   /* entries in skip */
	GByteArray *hdr;	   /* the MIME header fields kept: owned */
	GByteArray *hdr_first;	   /* the same, only the first of each
				    * name: owned */
	unsigned int seen;	   /* bits: which names hdr_first has */
	bool dup;		   /* a name came more than once */
	GByteArray *body;	   /* the body kept: owned */
	bool in_body;		   /* the body began */
	char line[LINKS_LINE_MAX]; /* raw body line being collected */
	size_t line_len;	   /* octets in line */
	bool line_long;		   /* the line passed LINKS_LINE_MAX */
	struct links_domain *dom;  /* final list: owned */
	size_t ndom, domcap;	   /* used, allocated */
	size_t nlooked;		   /* of them, not skipped */
	size_t nskipped;	   /* of them, skipped */
	struct links_domain *pre;  /* prefetch hints: owned */
	size_t npre, precap;	   /* used, allocated */
	struct links_stats st;	   /* counters and caps reached */
	bool ended;		   /* links_end() ran */
	int end_rc;		   /* and what it returned */
};

static pthread_once_t links_once = PTHREAD_ONCE_INIT;

static void
links_init_once(void)
{
	g_mime_init();
	xmlInitParser();
}

void
links_init(void)
{
	pthread_once(&links_once, links_init_once);
}

struct links *
links_new(const struct links_limits *lim, const struct psl_ctx_st *psl,
	  const char *const *skip, size_t nskip)
{
	struct links *l;

	links_init();
	l = calloc(1, sizeof *l);
	if (l == NULL)
		return NULL;
	l->lim = *lim;
	if (l->lim.max_domains == 0)
		l->lim.max_domains = 1;
	l->psl = psl != NULL ? psl : psl_builtin();
	l->skip = skip;
	l->nskip = nskip;
	l->hdr = g_byte_array_new();
	l->hdr_first = g_byte_array_new();
	l->body = g_byte_array_new();
	return l;
}

void
links_free(struct links *l)
{
	if (l == NULL)
		return;
	g_byte_array_free(l->hdr, TRUE);
	g_byte_array_free(l->hdr_first, TRUE);
	g_byte_array_free(l->body, TRUE);
	free(l->dom);
	free(l->pre);
	free(l);
}

/* ---- hosts ---- */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * One IPv4 part as the WHATWG IPv4 number parser reads it: "0x" hex
 * (digits may be empty), a leading 0 octal, else decimal. false if it is
 * not a number; values past 2^32 are clamped (they fail later).
 */
static bool
ipv4_number(const char *p, size_t len, uint64_t *out)
{
	unsigned int base = 10;
	uint64_t v = 0;

	if (len >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
		len -= 2;
	} else if (len >= 2 && p[0] == '0') {
		base = 8;
		p++;
		len--;
	}
	if (len == 0 && base != 16)
		return false;
	for (size_t i = 0; i < len; i++) {
		int d = hexval((unsigned char)p[i]);

		if (d < 0 || (unsigned int)d >= base)
			return false;
		v = v * base + (unsigned int)d;
		if (v > 0xffffffffULL)
			v = 0x100000000ULL;
	}
	*out = v;
	return true;
}

/* Whether the host's last label is a number (WHATWG "ends in a number"). */
static bool
ends_in_number(const char *h)
{
	const char *last = strrchr(h, '.');
	uint64_t v;

	last = last != NULL ? last + 1 : h;
	if (*last == '\0')
		return false;
	if (strspn(last, "0123456789") == strlen(last))
		return true;
	return ipv4_number(last, strlen(last), &v) && last[0] == '0' &&
	       (last[1] == 'x' || last[1] == 'X');
}

/*
 * The WHATWG IPv4 parser: 1 to 4 parts; all but the last at most 255,
 * the last below 256^(5 - parts). 0 with *addr set, or AM_EINVAL.
 */
static int
ipv4_parse(const char *h, uint32_t *addr)
{
	uint64_t part[4], v;
	size_t n = 0;
	const char *p = h;

	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot != NULL ? (size_t)(dot - p) : strlen(p);

		if (n == 4 || !ipv4_number(p, len, &part[n]))
			return AM_EINVAL;
		n++;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	for (size_t i = 0; i + 1 < n; i++)
		if (part[i] > 255)
			return AM_EINVAL;
	if (part[n - 1] >= (1ULL << (8 * (5 - n))))
		return AM_EINVAL;
	v = part[n - 1];
	for (size_t i = 0; i + 1 < n; i++)
		v += part[i] << (8 * (3 - i));
	*addr = (uint32_t)v;
	return 0;
}

/* LDH (and '_') labels of 1..63 octets, at most 253 in all. */
static bool
host_valid(const char *h)
{
	size_t label = 0, len = strlen(h);

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)h[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!(isalnum(c) || c == '-' || c == '_') || ++label > 63)
			return false;
	}
	return label > 0;
}

int
links_host_domain(const struct psl_ctx_st *psl, const char *auth, size_t len,
		  char *host, char *domain, bool *ip)
{
	char raw[LINKS_NAME_MAX * 3], dec[LINKS_NAME_MAX * 3];
	const char *at, *p, *end = auth + len;
	size_t rlen = 0, dlen = 0;
	bool ascii = true;
	uint32_t a;
	const char *reg;

	*ip = false;
	host[0] = domain[0] = '\0';
	if (psl == NULL)
		psl = psl_builtin();
	/* userinfo: up to the last '@' */
	for (at = NULL, p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	p = at != NULL ? at + 1 : auth;
	if (p < end && *p == '[')
		return AM_EINVAL; /* IPv6 literal: not looked up */
	while (p < end && *p != ':') {
		if (rlen + 1 >= sizeof raw)
			return AM_EINVAL;
		raw[rlen++] = *p++;
	}
	raw[rlen] = '\0';
	/* percent-decoding, then ASCII lower case */
	for (size_t i = 0; i < rlen; i++) {
		unsigned char c = (unsigned char)raw[i];

		if (c == '%' && i + 2 < rlen && hexval(raw[i + 1]) >= 0 &&
		    hexval(raw[i + 2]) >= 0) {
			c = (unsigned char)(hexval(raw[i + 1]) * 16 +
					    hexval(raw[i + 2]));
			i += 2;
		}
		if (c == '\0')
			return AM_EINVAL;
		if (c >= 0x80)
			ascii = false;
		dec[dlen++] = (char)tolower(c);
	}
	dec[dlen] = '\0';
	if (!ascii) {
		char *out = NULL;

		if (idn2_to_ascii_8z(dec, &out,
				     IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) !=
			IDN2_OK &&
		    idn2_to_ascii_8z(dec, &out,
				     IDN2_NFC_INPUT | IDN2_TRANSITIONAL) !=
			IDN2_OK)
			return AM_EINVAL;
		if (strlen(out) >= sizeof dec) {
			idn2_free(out);
			return AM_EINVAL;
		}
		dlen = strlen(out);
		memcpy(dec, out, dlen + 1);
		idn2_free(out);
		for (size_t i = 0; i < dlen; i++)
			dec[i] = (char)tolower((unsigned char)dec[i]);
	}
	while (dlen > 0 && dec[dlen - 1] == '.')
		dec[--dlen] = '\0';
	if (dlen == 0 || dlen >= LINKS_NAME_MAX)
		return AM_EINVAL;
	if (ends_in_number(dec)) {
		if (ipv4_parse(dec, &a) != 0)
			return AM_EINVAL;
		snprintf(host, LINKS_NAME_MAX, "%u.%u.%u.%u", a >> 24,
			 (a >> 16) & 255, (a >> 8) & 255, a & 255);
		snprintf(domain, LINKS_NAME_MAX, "%u.%u.%u.%u", a & 255,
			 (a >> 8) & 255, (a >> 16) & 255, a >> 24);
		*ip = true;
		return 0;
	}
	if (!host_valid(dec))
		return AM_EINVAL;
	reg = psl != NULL ? psl_registrable_domain(psl, dec) : NULL;
	if (reg == NULL)
		return AM_EINVAL;
	memcpy(host, dec, dlen + 1);
	snprintf(domain, LINKS_NAME_MAX, "%s", reg);
	return 0;
}

bool
links_skip_match(const char *const *skip, size_t nskip, const char *domain)
{
	size_t dlen = strlen(domain);

	for (size_t i = 0; i < nskip; i++) {
		size_t slen = strlen(skip[i]);

		if (slen > 0 && skip[i][slen - 1] == '.')
			slen--;
		if (slen == dlen && strncasecmp(skip[i], domain, dlen) == 0)
			return true;
	}
	return false;
}

/* Append d to a list (v, n, cap). 0 or AM_ENOMEM. */
static int
list_push(struct links_domain **v, size_t *n, size_t *cap,
	  const struct links_domain *d)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct links_domain *nv = realloc(*v, ncap * sizeof *nv);

		if (nv == NULL)
			return AM_ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = *d;
	return 0;
}

static struct links_domain *
list_find(struct links_domain *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

/*
 * One link's authority (userinfo, host, port) into the final list
 * (prefetch false) or the hints. 0 or AM_ENOMEM.
 */
static int
add_link(struct links *l, const char *auth, size_t len, bool prefetch)
{
	struct links_domain d, *old;

	memset(&d, 0, sizeof d);
	if (!prefetch && ++l->st.links > LINKS_MAX_LINKS) {
		l->st.over_links = true;
		l->st.links = LINKS_MAX_LINKS;
		return 0;
	}
	if (links_host_domain(l->psl, auth, len, d.host, d.name, &d.ip) != 0) {
		if (!prefetch)
			l->st.bad_hosts++;
		return 0;
	}
	d.links = 1;
	d.skipped = links_skip_match(l->skip, l->nskip, d.name);
	if (prefetch) {
		if (d.skipped || l->npre >= l->lim.max_domains ||
		    list_find(l->pre, l->npre, d.name) != NULL)
			return 0;
		return list_push(&l->pre, &l->npre, &l->precap, &d);
	}
	old = list_find(l->dom, l->ndom, d.name);
	if (old != NULL) {
		old->links++;
		return 0;
	}
	if (d.skipped) {
		if (l->nskipped >= LINKS_MAX_SKIPPED)
			return 0;
		l->nskipped++;
	} else {
		if (l->nlooked >= l->lim.max_domains) {
			l->st.over_domains = true;
			return 0;
		}
		l->nlooked++;
	}
	return list_push(&l->dom, &l->ndom, &l->domcap, &d);
}

/* ---- finding links in text ---- */

static bool
prefix_ci(const char *p, const char *end, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(end - p) >= n && strncasecmp(p, word, n) == 0;
}

/* An octet that may be part of a host in running text (UTF-8 kept). */
static bool
text_host_char(unsigned char c)
{
	return isalnum(c) || c >= 0x80 ||
	       (c != '\0' && strchr("-._%@:~", c) != NULL);
}

/* In raw (undecoded) body text: plain ASCII only. */
static bool
raw_host_char(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("-._@:", c) != NULL);
}

/* What may follow a host in raw text for it to be certainly whole. */
static bool
raw_delim(unsigned char c)
{
	return c != '\0' && strchr("/?#<>\"') \t,;", c) != NULL;
}

/*
 * Scan running text for http/https URLs and bare "www." hosts. raw: the
 * undecoded body (prefetch hints, strict) rather than decoded text.
 */
static int
scan_text(struct links *l, const char *s, size_t len, bool raw)
{
	const char *p = s, *end;
	int rc = 0;

	if (s == NULL || len == 0)
		return 0;
	end = s + len;
	while (p < end && rc == 0 && !l->st.over_links) {
		const char *h = NULL, *q;
		unsigned char prev = p > s ? (unsigned char)p[-1] : ' ';

		if ((*p == 'h' || *p == 'H') && !isalnum(prev)) {
			if (prefix_ci(p, end, "http://"))
				h = p + 7;
			else if (prefix_ci(p, end, "https://"))
				h = p + 8;
			while (h != NULL && h < end &&
			       (*h == '/' || *h == '\\'))
				h++;
		} else if ((*p == 'w' || *p == 'W') && !isalnum(prev) &&
			   prev != '.' && prev != '/' && prev != '@' &&
			   prev != '-' && prefix_ci(p, end, "www.")) {
			h = p;
		}
		if (h == NULL) {
			p++;
			continue;
		}
		q = h;
		while (q < end && (size_t)(q - h) < LINKS_MAX_URL &&
		       (raw ? raw_host_char((unsigned char)*q)
			    : text_host_char((unsigned char)*q)))
			q++;
		if (q > h && (!raw || q == end || raw_delim((unsigned char)*q)))
			rc = add_link(l, h, (size_t)(q - h), raw);
		p = q > p ? q : p + 1;
	}
	return rc;
}

/*
 * One URL from an attribute (href, src): http and https only, as a
 * browser reads it: spaces and C0 controls around it dropped, tabs and
 * newlines inside removed, any number of '/' or '\' after the scheme.
 * A scheme-relative URL ("//host", "\\host") is one too: a webmail
 * shows the message in an https page, and <base href> may name http.
 */
static int
scan_url(struct links *l, const char *u)
{
	char buf[LINKS_MAX_URL];
	size_t n = 0;
	const char *p, *h, *end;

	while (*u != '\0' && (unsigned char)*u <= ' ')
		u++;
	for (; *u != '\0' && n + 1 < sizeof buf; u++)
		if (*u != '\t' && *u != '\n' && *u != '\r')
			buf[n++] = *u;
	while (n > 0 && (unsigned char)buf[n - 1] <= ' ')
		n--;
	buf[n] = '\0';
	end = buf + n;
	if (prefix_ci(buf, end, "http:"))
		p = buf + 5;
	else if (prefix_ci(buf, end, "https:"))
		p = buf + 6;
	else if (n >= 2 && (buf[0] == '/' || buf[0] == '\\') &&
		 (buf[1] == '/' || buf[1] == '\\'))
		p = buf;
	else
		return 0;
	while (p < end && (*p == '/' || *p == '\\'))
		p++;
	h = p;
	while (p < end && strchr("/\\?#", *p) == NULL)
		p++;
	if (p == h)
		return 0;
	return add_link(l, h, (size_t)(p - h), false);
}

/*
 * The attributes whose URL a client follows or fetches: links and
 * images (href, src), where a form posts (action, formaction), and
 * images by other names (background, poster); 2 for a srcset, a list of
 * URLs (each scanned as text); 0 for any other.
 */
static int
attr_is_link(const xmlChar *name)
{
	static const char *const one[] = {"href",	"src",	      "action",
					  "formaction", "background", "poster"};
	const xmlChar *colon = xmlStrchr(name, ':');

	if (colon != NULL)
		name = colon + 1; /* xlink:href in inline SVG */
	for (size_t i = 0; i < sizeof one / sizeof one[0]; i++)
		if (xmlStrcasecmp(name, (const xmlChar *)one[i]) == 0)
			return 1;
	return xmlStrcasecmp(name, (const xmlChar *)"srcset") == 0 ? 2 : 0;
}

static bool
html_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/*
 * libxml2's HTML parser compares each attribute name of a start tag with
 * every one before it: n attributes cost n*n/2 compares (170,000 in one
 * tag of a 1 MB body: about a minute). Count the attributes of each start
 * tag as that parser reads them (a name, then optionally '=' and a value,
 * quoted or not; a quoted value may hold '>'), never fewer; a tag with
 * more than LINKS_MAX_ATTRS loses its '<', so that the parser reads it as
 * text, whose URLs (entities decoded) are still found. Whether one did.
 */
static bool
cap_attrs(char *s, size_t len)
{
	bool capped = false;
	size_t i = 0;

	while (i + 1 < len) {
		size_t start = i, n = 0;

		if (s[i] != '<' || !isalpha((unsigned char)s[i + 1])) {
			i++;
			continue;
		}
		i++;
		while (i < len && !html_blank(s[i]) && s[i] != '>')
			i++; /* the element name */
		for (;;) {
			while (i < len && (html_blank(s[i]) || s[i] == '/'))
				i++;
			if (i >= len || s[i] == '>')
				break;
			n++;
			while (i < len && !html_blank(s[i]) && s[i] != '=' &&
			       s[i] != '>')
				i++;
			while (i < len && html_blank(s[i]))
				i++;
			if (i >= len || s[i] != '=')
				continue;
			i++;
			while (i < len && html_blank(s[i]))
				i++;
			if (i < len && (s[i] == '"' || s[i] == '\'')) {
				char q = s[i++];

				while (i < len && s[i] != q)
					i++;
				if (i < len)
					i++;
			} else {
				while (i < len && !html_blank(s[i]) &&
				       s[i] != '>')
					i++;
			}
		}
		if (n > LINKS_MAX_ATTRS) {
			s[start] = ' ';
			capped = true;
		}
	}
	return capped;
}

/* The state of one HTML part's SAX parse (the parser's _private). */
struct html_sax {
	struct links *l;
	GByteArray *text; /* text since the last tag: owned */
	bool nested;	  /* inside a conditional comment */
	int rc;		  /* first error */
};

static int scan_html_in(struct links *l, char *s, size_t len, bool utf8,
			bool nested);

static struct html_sax *
html_state(void *ctx)
{
	return ((htmlParserCtxtPtr)ctx)->_private;
}

static void
html_flush(void *ctx)
{
	struct html_sax *h = html_state(ctx);

	if (h->text->len > 0 && h->rc == 0 && !h->l->st.over_links)
		h->rc = scan_text(h->l, (const char *)h->text->data,
				  h->text->len, false);
	g_byte_array_set_size(h->text, 0);
	if (h->rc != 0)
		xmlStopParser(ctx);
}

static void
html_start(void *ctx, const xmlChar *name, const xmlChar **atts)
{
	struct html_sax *h = html_state(ctx);

	(void)name;
	html_flush(ctx);
	for (size_t i = 0; atts != NULL && atts[i] != NULL && h->rc == 0;
	     i += 2) {
		const char *v = (const char *)atts[i + 1];
		int kind = attr_is_link(atts[i]);

		if (kind == 0 || v == NULL || h->l->st.over_links)
			continue;
		h->rc = kind == 1 ? scan_url(h->l, v)
				  : scan_text(h->l, v, strlen(v), false);
	}
	if (h->rc != 0)
		xmlStopParser(ctx);
}

static void
html_end(void *ctx, const xmlChar *name)
{
	(void)name;
	html_flush(ctx);
}

static void
html_chars(void *ctx, const xmlChar *s, int len)
{
	if (len > 0)
		g_byte_array_append(html_state(ctx)->text, s, (guint)len);
}

/*
 * A comment: not shown, except a conditional one, "<!--[if mso]>...
 * <![endif]-->", whose content Outlook (Word's HTML engine) renders:
 * read as HTML, once (comment openers inside it are dropped).
 */
static void
html_comment(void *ctx, const xmlChar *value)
{
	struct html_sax *h = html_state(ctx);
	const char *v = (const char *)value, *gt;
	char *copy;

	if (v == NULL || h->nested || h->rc != 0)
		return;
	while (html_blank(*v))
		v++;
	if (g_ascii_strncasecmp(v, "[if", 3) != 0 ||
	    (gt = strchr(v, '>')) == NULL)
		return;
	html_flush(ctx);
	copy = g_strdup(gt + 1);
	/* a comment cannot end inside one: an opener here is only text to
	 * a browser, and another conditional to Outlook; drop the opener,
	 * so that what follows it is read either way */
	for (char *c = strstr(copy, "<!--"); c != NULL; c = strstr(c, "<!--"))
		memset(c, ' ', 4);
	h->rc = scan_html_in(h->l, copy, strlen(copy), true, true);
	g_free(copy);
	if (h->rc != 0)
		xmlStopParser(ctx);
}

/* script and style content: not shown */
static void
html_raw(void *ctx, const xmlChar *s, int len)
{
	(void)ctx;
	(void)s;
	(void)len;
}

/*
 * An HTML part: the link attributes and the URLs of its text, read with
 * libxml2's HTML parser through SAX: no element tree is built, so there
 * is no depth limit (the tree builder stops at 256 levels: every link
 * after <b> nested 257 times was lost) and no memory per element. The
 * other callbacks stay libxml2's (a document node, comments).
 */
static int
scan_html(struct links *l, char *s, size_t len, bool utf8)
{
	return scan_html_in(l, s, len, utf8, false);
}

static int
scan_html_in(struct links *l, char *s, size_t len, bool utf8, bool nested)
{
	struct html_sax h = {.l = l, .nested = nested};
	htmlParserCtxtPtr ctxt;

	if (s == NULL || len == 0)
		return 0;
	if (len > INT_MAX)
		len = INT_MAX;
	if (cap_attrs(s, len))
		l->st.over_attrs = true;
	ctxt = htmlCreateMemoryParserCtxt(s, (int)len);
	if (ctxt == NULL)
		return AM_ENOMEM;
	h.text = g_byte_array_new();
	ctxt->_private = &h;
	ctxt->sax->startElement = html_start;
	ctxt->sax->endElement = html_end;
	ctxt->sax->characters = html_chars;
	ctxt->sax->ignorableWhitespace = html_chars;
	ctxt->sax->cdataBlock = html_raw;
	ctxt->sax->comment = html_comment;
	/* no node per processing instruction: 1 MB of "<?a?>" was 40 MB */
	ctxt->sax->processingInstruction = NULL;
	/* as htmlReadMemory has it: UTF-8 unless the input says or shows
	 * otherwise (invalid UTF-8 is then read as ISO-8859-1) */
	ctxt->charset = XML_CHAR_ENCODING_UTF8;
	htmlCtxtUseOptions(ctxt, HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
				     HTML_PARSE_NONET | HTML_PARSE_RECOVER);
	if (utf8) {
		xmlCharEncodingHandlerPtr enc =
		    xmlFindCharEncodingHandler("UTF-8");

		if (enc != NULL) {
			xmlSwitchToEncoding(ctxt, enc);
			xmlFree((xmlChar *)ctxt->input->encoding);
			ctxt->input->encoding = xmlStrdup(BAD_CAST "UTF-8");
		}
	}
	htmlParseDocument(ctxt);
	html_flush(ctxt);
	g_byte_array_free(h.text, TRUE);
	if (ctxt->myDoc != NULL)
		xmlFreeDoc(ctxt->myDoc);
	ctxt->myDoc = NULL;
	htmlFreeParserCtxt(ctxt);
	return h.rc;
}

/* ---- MIME ---- */

/*
 * A leaf part's content, transfer encoding decoded and (when a charset
 * is named) converted to UTF-8, into a new byte array. *utf8 tells
 * whether it was converted or named UTF-8 / US-ASCII.
 */
static GByteArray *
part_decode(GMimePart *part, GMimeContentEncoding enc, bool *utf8)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part), *alt = NULL;
	const char *cs = g_mime_object_get_content_type_parameter(
	    GMIME_OBJECT(part), "charset");
	GMimeStream *mem, *filt;
	GMimeFilter *f;
	GByteArray *ba, *raw;

	*utf8 = false;
	if (w == NULL)
		return NULL;
	if (enc != GMIME_CONTENT_ENCODING_DEFAULT &&
	    enc != g_mime_data_wrapper_get_encoding(w)) {
		/* another reading of the same octets */
		alt = g_mime_data_wrapper_new_with_stream(
		    g_mime_data_wrapper_get_stream(w), enc);
		w = alt;
	}
	ba = g_byte_array_new();
	mem = g_mime_stream_mem_new_with_byte_array(ba);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	/* transfer decoding only, then the charset (from a byte order mark
	 * first, as a browser reads it: WHATWG encoding sniffing) */
	g_mime_data_wrapper_write_to_stream(w, mem);
	g_object_unref(mem);
	if (alt != NULL)
		g_object_unref(alt);
	if (ba->len >= 2 && ((ba->data[0] == 0xff && ba->data[1] == 0xfe) ||
			     (ba->data[0] == 0xfe && ba->data[1] == 0xff)))
		cs = "UTF-16";
	else if (ba->len >= 3 && ba->data[0] == 0xef && ba->data[1] == 0xbb &&
		 ba->data[2] == 0xbf)
		cs = "UTF-8";
	if (cs == NULL)
		return ba;
	if (g_ascii_strcasecmp(cs, "utf-8") == 0 ||
	    g_ascii_strcasecmp(cs, "us-ascii") == 0) {
		*utf8 = true;
		return ba;
	}
	f = g_mime_filter_charset_new(cs, "UTF-8");
	if (f == NULL)
		return ba; /* a charset iconv does not know: libxml2 guesses */
	raw = ba;
	ba = g_byte_array_new();
	mem = g_mime_stream_mem_new_with_byte_array(ba);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	filt = g_mime_stream_filter_new(mem);
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(filt), f);
	g_object_unref(f);
	*utf8 = true;
	g_mime_stream_write(filt, (const char *)raw->data, raw->len);
	g_mime_stream_flush(filt);
	g_object_unref(filt);
	g_object_unref(mem);
	g_byte_array_free(raw, TRUE);
	return ba;
}

/*
 * A text/plain part with format=flowed (RFC 3676) as a client shows it:
 * a line ending in a space goes on with the next (the space deleted with
 * delsp=yes), a leading space is stuffing; "-- " stays a line. Then the
 * lines as they are (a client without format=flowed).
 */
static int
scan_plain(struct links *l, GMimeObject *o, const GByteArray *ba)
{
	const char *fmt = g_mime_object_get_content_type_parameter(o, "format");
	const char *dsp = g_mime_object_get_content_type_parameter(o, "delsp");
	const char *p = (const char *)ba->data, *end;
	bool delsp = dsp != NULL && g_ascii_strcasecmp(dsp, "yes") == 0;
	GByteArray *u;
	int rc;

	if (ba->len == 0)
		return 0; /* an empty part (data may be NULL: no arithmetic) */
	end = p + ba->len;
	if (fmt == NULL || g_ascii_strcasecmp(fmt, "flowed") != 0)
		return scan_text(l, p, ba->len, false);
	u = g_byte_array_sized_new(ba->len);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl != NULL ? nl : end;
		size_t n;

		if (e > p && e[-1] == '\r')
			e--;
		if (p < e && *p == ' ')
			p++; /* stuffing */
		n = (size_t)(e - p);
		if (n > 0 && p[n - 1] == ' ' &&
		    !(n == 3 && memcmp(p, "-- ", 3) == 0)) {
			g_byte_array_append(u, (const guint8 *)p,
					    (guint)(delsp ? n - 1 : n));
		} else {
			g_byte_array_append(u, (const guint8 *)p, (guint)n);
			g_byte_array_append(u, (const guint8 *)"\n", 1);
		}
		p = nl != NULL ? nl + 1 : end;
	}
	rc = scan_text(l, (const char *)u->data, u->len, false);
	g_byte_array_free(u, TRUE);
	if (rc == 0)
		rc = scan_text(l, (const char *)ba->data, ba->len, false);
	return rc;
}

#define PART_READINGS 4 /* transfer encodings tried per part, at most */

/*
 * How clients may read a leaf part: as HTML and/or as plain text by any
 * of its Content-Type fields (GMime keeps one, a client may take
 * another; a text subtype no client knows is shown as text/plain,
 * RFC 2046 4.1.4; no field at all is text/plain), and the transfer
 * encodings of its Content-Transfer-Encoding fields (GMime's own first).
 * The number of encodings in enc.
 */
static size_t
part_readings(GMimeObject *o, bool *plain, bool *html,
	      GMimeContentEncoding enc[PART_READINGS])
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(o);
	int n = hl != NULL ? g_mime_header_list_get_count(hl) : 0;
	size_t nenc = 1;
	bool typed = false;

	GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(o));

	*plain = *html = false;
	enc[0] = w != NULL ? g_mime_data_wrapper_get_encoding(w)
			   : GMIME_CONTENT_ENCODING_DEFAULT;
	for (int i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *name = g_mime_header_get_name(h);
		const char *value = g_mime_header_get_value(h);

		if (name == NULL || value == NULL)
			continue;
		if (g_ascii_strcasecmp(name, "Content-Type") == 0) {
			GMimeContentType *ct =
			    g_mime_content_type_parse(NULL, value);

			typed = true;
			if (ct == NULL) {
				*plain = true; /* unreadable: the default */
				continue;
			}
			if (g_mime_content_type_is_type(ct, "text", "html") ||
			    g_mime_content_type_is_type(ct, "application",
							"xhtml+xml"))
				*html = true;
			else if (g_mime_content_type_is_type(ct, "text", "*"))
				*plain = true;
			g_object_unref(ct);
		} else if (g_ascii_strcasecmp(
			       name, "Content-Transfer-Encoding") == 0 &&
			   nenc < PART_READINGS) {
			GMimeContentEncoding e =
			    g_mime_content_encoding_from_string(value);
			bool have = false;

			for (size_t k = 0; k < nenc; k++)
				have = have || enc[k] == e;
			if (!have)
				enc[nenc++] = e;
		}
	}
	if (!typed)
		*plain = true;
	return nenc;
}

static int
walk(struct links *l, GMimeObject *o, unsigned int depth)
{
	int rc = 0;

	if (o == NULL || l->st.over_links)
		return 0;
	if (depth > LINKS_MAX_DEPTH) {
		l->st.over_depth = true;
		return 0;
	}
	if (l->st.parts >= LINKS_MAX_PARTS) {
		l->st.over_parts = true;
		return 0;
	}
	l->st.parts++;
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		int n = g_mime_multipart_get_count(mp);

		for (int i = 0; i < n && rc == 0; i++)
			rc = walk(l, g_mime_multipart_get_part(mp, i),
				  depth + 1);
	} else if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *m =
		    g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));

		if (m != NULL)
			rc =
			    walk(l, g_mime_message_get_mime_part(m), depth + 1);
	} else if (GMIME_IS_PART(o)) {
		GMimeContentEncoding enc[PART_READINGS];
		bool plain, html;
		size_t nenc = part_readings(o, &plain, &html, enc);

		for (size_t i = 0; i < nenc && rc == 0 && (plain || html);
		     i++) {
			bool utf8;
			GByteArray *ba =
			    part_decode(GMIME_PART(o), enc[i], &utf8);

			if (ba == NULL)
				break;
			if (html)
				rc = scan_html(l, (char *)ba->data, ba->len,
					       utf8);
			if (plain && rc == 0)
				rc = scan_plain(l, o, ba);
			g_byte_array_free(ba, TRUE);
		}
	}
	return rc;
}

/* ---- feeding ---- */

/*
 * The fields that decide how GMime reads the body (bit of each, 0: not
 * kept); the others are not kept, so that filler fields cannot use
 * LINKS_MAX_HEADER up.
 */
static unsigned int
mime_field(const char *name)
{
	if (strcasecmp(name, "Content-Type") == 0)
		return 1;
	if (strcasecmp(name, "Content-Transfer-Encoding") == 0)
		return 2;
	if (strcasecmp(name, "MIME-Version") == 0)
		return 4;
	return 0;
}

static void
field_append(GByteArray *a, const char *name, const char *value,
	     bool hdr_trimmed)
{
	g_byte_array_append(a, (const guint8 *)name, (guint)strlen(name));
	g_byte_array_append(a, (const guint8 *)(hdr_trimmed ? ": " : ":"),
			    hdr_trimmed ? 2 : 1);
	g_byte_array_append(a, (const guint8 *)value, (guint)strlen(value));
	g_byte_array_append(a, (const guint8 *)"\r\n", 2);
}

int
links_header(struct links *l, const char *name, const char *value,
	     bool hdr_trimmed)
{
	unsigned int bit;

	if (l->in_body || name == NULL || value == NULL)
		return 0;
	bit = mime_field(name);
	if (bit == 0)
		return 0;
	if (l->hdr->len + strlen(name) + strlen(value) + 4 > LINKS_MAX_HEADER) {
		l->st.over_header = true;
		return 0;
	}
	field_append(l->hdr, name, value, hdr_trimmed);
	if (l->seen & bit) {
		l->dup = true;
	} else {
		l->seen |= bit;
		field_append(l->hdr_first, name, value, hdr_trimmed);
	}
	return 0;
}

/* Collect raw lines and scan each whole one for prefetch hints. */
static int
stream_scan(struct links *l, const unsigned char *p, size_t len)
{
	int rc = 0;

	for (size_t i = 0; i < len && rc == 0; i++) {
		if (p[i] == '\n') {
			size_t n = l->line_len;

			if (n > 0 && l->line[n - 1] == '\r')
				n--;
			if (!l->line_long)
				rc = scan_text(l, l->line, n, true);
			l->line_len = 0;
			l->line_long = false;
		} else if (l->line_len < sizeof l->line) {
			l->line[l->line_len++] = (char)p[i];
		} else {
			l->line_long = true;
		}
	}
	return rc;
}

int
links_body(struct links *l, const unsigned char *chunk, size_t len)
{
	size_t room, keep;

	if (l->ended || len == 0)
		return 0;
	l->in_body = true;
	room = l->lim.max_bytes > l->st.body_bytes
		   ? l->lim.max_bytes - l->st.body_bytes
		   : 0;
	keep = len < room ? len : room;
	if (keep < len)
		l->st.over_bytes = true;
	l->st.body_bytes += len;
	if (keep == 0)
		return 0;
	g_byte_array_append(l->body, chunk, (guint)keep);
	return stream_scan(l, chunk, keep);
}

/* One reading of the message: hdr, a blank line, the body kept. */
static int
parse(struct links *l, GByteArray *hdr)
{
	GMimeStream *cat, *h, *b;
	GByteArray *hb;
	GMimeParser *p;
	GMimeMessage *m;
	int rc = 0;

	hb = g_byte_array_sized_new(hdr->len + 2);
	g_byte_array_append(hb, hdr->data, hdr->len);
	g_byte_array_append(hb, (const guint8 *)"\r\n", 2);
	h = g_mime_stream_mem_new_with_byte_array(hb); /* owns hb */
	b = g_mime_stream_mem_new_with_byte_array(l->body);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(b), FALSE);
	cat = g_mime_stream_cat_new();
	g_mime_stream_cat_add_source(GMIME_STREAM_CAT(cat), h);
	g_mime_stream_cat_add_source(GMIME_STREAM_CAT(cat), b);
	p = g_mime_parser_new_with_stream(cat);
	g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
	m = g_mime_parser_construct_message(p, NULL);
	if (m == NULL) {
		l->st.unparsed_parts = true;
	} else {
		rc = walk(l, g_mime_message_get_mime_part(m), 0);
		g_object_unref(m);
	}
	g_object_unref(p);
	g_object_unref(cat);
	g_object_unref(b);
	g_object_unref(h);
	return rc;
}

/*
 * GMime reads the last of two Content-Type (or transfer encoding) fields,
 * some clients the first: with such a message both readings count, the
 * last first.
 */
/*
 * GMime builds an object for every part before we walk any: keep only
 * the body before the (LINKS_MAX_PARTS + 1)th line that could be a
 * boundary ("--..."), so that a body of tiny parts cannot make it build
 * hundreds of thousands (its memory is about 1.4 KB a part).
 */
static void
cut_parts(struct links *l)
{
	const guint8 *d = l->body->data;
	size_t len = l->body->len, n = 0;

	for (size_t i = 0; i + 1 < len; i++) {
		if ((i == 0 || d[i - 1] == '\n') && d[i] == '-' &&
		    d[i + 1] == '-' && ++n > LINKS_MAX_PARTS) {
			g_byte_array_set_size(l->body, (guint)i);
			l->st.over_parts = true;
			return;
		}
	}
}

int
links_end(struct links *l)
{
	if (l->ended)
		return l->end_rc;
	l->ended = true;
	cut_parts(l);
	l->end_rc = parse(l, l->hdr);
	if (l->end_rc == 0 && l->dup) {
		size_t parts = l->st.parts;

		l->st.parts = 0; /* the cap applies to each reading */
		l->end_rc = parse(l, l->hdr_first);
		if (parts > l->st.parts)
			l->st.parts = parts;
	}
	/* what was kept is not needed any more */
	g_byte_array_set_size(l->hdr, 0);
	g_byte_array_set_size(l->hdr_first, 0);
	g_byte_array_free(l->body, TRUE);
	l->body = g_byte_array_new();
	return l->end_rc;
}

size_t
links_count(const struct links *l)
{
	return l->ndom;
}

const struct links_domain *
links_get(const struct links *l, size_t i)
{
	return i < l->ndom ? &l->dom[i] : NULL;
}

size_t
links_prefetch_count(const struct links *l)
{
	return l->npre;
}

const struct links_domain *
links_prefetch_get(const struct links *l, size_t i)
{
	return i < l->npre ? &l->pre[i] : NULL;
}

const struct links_stats *
links_stats(const struct links *l)
{
	return &l->st;
}
