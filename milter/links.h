/*
 * links - the links of a message, as a mail client shows them
 *
 * A struct links is fed a message's header fields (links_header(), only
 * Content-Type, Content-Transfer-Encoding and MIME-Version are kept) and its
 * body in chunks (links_body()); links_end() parses what was kept with GMime
 * (MIME structure: multipart nesting, message/rfc822 parts, quoted-printable
 * and base64 decoded by GMime, charsets converted to UTF-8) and takes the links
 * of each text part, in every reading a client may make of it (each of its
 * Content-Type and Content-Transfer-Encoding fields; any text subtype as
 * text/plain): in text/plain, http/https URLs and bare "www." hosts (also
 * with format=flowed lines joined); in text/html and XHTML, the href, src,
 * action, formaction, background, poster and srcset attributes (scheme-
 * relative "//host" too) and the URLs in its text, read with libxml2's
 * HTML parser through SAX (no network, entities decoded, no depth limit),
 * the content of Outlook's conditional comments included.
 *
 * Each host is normalised as a browser does (percent-decoding, lower
 * case, trailing dots dropped, userinfo and port dropped, IDN U-labels to
 * A-labels with libidn2, IPv4 literals in the decimal, octal, hex and
 * shortened forms the WHATWG URL standard accepts made dotted quads) and
 * reduced to what URI blocklists index: its registrable domain by the
 * public suffix list (libpsl), or for an IPv4 host its reversed octets
 * ("1.2.0.192" for 192.0.2.1). links_count()/links_get() give the
 * distinct domains in order of first appearance; a domain of the skip
 * list is kept, marked, and does not count towards max_domains.
 *
 * While the body streams, links_body() also scans the raw bytes, line by
 * line, for links that need no decoding (a URL whose host is plain ASCII
 * and is followed by an unambiguous delimiter): links_prefetch_count()/
 * links_prefetch_get() give their domains at once, so that lookups can
 * start before end of message. They are hints only: the final list
 * (links_get) is what links_end() finds, and a hint not in it is not
 * part of the verdict.
 *
 * Caps (each sets a flag in struct links_stats; the message is judged on
 *   what was scanned): lim.max_bytes body octets kept (URIBLMaxBytes);
 *   lim.max_domains distinct domains not skipped (URIBLMaxDomains), at
 *   most LINKS_MAX_SKIPPED skipped ones; LINKS_MAX_DEPTH MIME nesting
 *   levels; LINKS_MAX_PARTS MIME parts (the body is cut before GMime
 *   sees more boundary lines); LINKS_MAX_LINKS links looked at;
 *   LINKS_MAX_HEADER octets of MIME header fields; URLs longer than
 *   LINKS_MAX_URL octets are cut there (their host is taken from the cut
 *   part); a host is at most 253 octets; an HTML start tag of more than
 *   LINKS_MAX_ATTRS attributes is read as text (its URLs still count).
 * Ownership: a struct links owns copies of everything it was fed; the
 *   psl context and the skip list are borrowed and must outlive it.
 * Threads: a struct links is one session's; links_init() (GMime and
 *   libxml2 global set-up) runs once, under pthread_once.
 * Errors: AM_ENOMEM; AM_ELIB when GMime or libxml2 fail on something
 *   other than bad input (bad input is never an error: it has fewer
 *   links).
 * See also: WHATWG URL Standard (host parsing, IPv4 parser), UTS #46,
 *   RFC 3986, RFC 2045-2049.
 */
#ifndef AM_LINKS_H
#define AM_LINKS_H

#include <stdbool.h>
#include <stddef.h>

struct psl_ctx_st;

#define LINKS_NAME_MAX 256    /* a domain or host, with its NUL */
#define LINKS_MAX_DEPTH 20    /* MIME nesting levels descended */
#define LINKS_MAX_PARTS 1000  /* MIME parts looked at */
#define LINKS_MAX_LINKS 10000 /* links normalised per message */
#define LINKS_MAX_SKIPPED 100 /* distinct skipped domains kept */
#define LINKS_MAX_HEADER 65536
#define LINKS_MAX_URL 4096
#define LINKS_LINE_MAX 8192  /* raw line scanned while streaming */
#define LINKS_MAX_ATTRS 1000 /* attributes of one HTML start tag parsed */

struct links_limits {
	size_t max_bytes;   /* body octets kept (URIBLMaxBytes) */
	size_t max_domains; /* distinct domains (URIBLMaxDomains) */
};

struct links_domain {
	char name[LINKS_NAME_MAX]; /* registrable domain or reversed IPv4 */
	char host[LINKS_NAME_MAX]; /* the first host seen with it */
	bool ip;		   /* name is a reversed IPv4 address */
	bool skipped;		   /* in the skip list: not looked up */
	unsigned int links;	   /* links to it */
};

struct links_stats {
	size_t body_bytes;   /* body octets seen */
	size_t parts;	     /* MIME parts looked at */
	size_t links;	     /* links found (normalised or not) */
	size_t bad_hosts;    /* links whose host a browser would refuse or
			      * that has no registrable domain */
	bool over_bytes;     /* body past max_bytes: not scanned */
	bool over_domains;   /* more distinct domains than max_domains */
	bool over_depth;     /* MIME nesting past LINKS_MAX_DEPTH */
	bool over_parts;     /* more than LINKS_MAX_PARTS parts */
	bool over_links;     /* more than LINKS_MAX_LINKS links */
	bool over_header;    /* MIME header fields past LINKS_MAX_HEADER */
	bool over_attrs;     /* an HTML start tag of more than
			      * LINKS_MAX_ATTRS attributes: read as text */
	bool unparsed_parts; /* a part GMime or libxml2 could not read */
};

struct links;

/*
 * links_init - GMime and libxml2 set-up; called by links_new() too (once
 * per process). Call it from main before threads start when possible.
 */
void links_init(void);

/*
 * links_new - an extractor with limits lim. psl: the public suffix list
 * (NULL: libpsl's built-in list). skip/nskip: registrable domains never
 * looked up (lower case, borrowed). NULL on ENOMEM.
 */
struct links *links_new(const struct links_limits *lim,
			const struct psl_ctx_st *psl, const char *const *skip,
			size_t nskip);

/* links_free - free l (NULL ok). */
void links_free(struct links *l);

/*
 * links_header - one header field of the message (hdr_trimmed: value
 * comes without the space after the colon). 0 or AM_ENOMEM.
 */
int links_header(struct links *l, const char *name, const char *value,
		 bool hdr_trimmed);

/*
 * links_body - a chunk of the body (CRLF line ends, as the MTA hands it
 * over): kept up to max_bytes, and scanned for prefetch hints. 0 or
 * AM_ENOMEM.
 */
int links_body(struct links *l, const unsigned char *chunk, size_t len);

/*
 * links_end - parse the message and fill the final list. Idempotent.
 * 0, AM_ENOMEM, or AM_ELIB.
 */
int links_end(struct links *l);

/* links_count/links_get - the final distinct domains, after links_end. */
size_t links_count(const struct links *l);
const struct links_domain *links_get(const struct links *l, size_t i);

/* The prefetch hints found so far while streaming (never skipped). */
size_t links_prefetch_count(const struct links *l);
const struct links_domain *links_prefetch_get(const struct links *l, size_t i);

/* links_stats - counters and the caps reached. */
const struct links_stats *links_stats(const struct links *l);

/*
 * links_host_domain - normalise one URL authority (what follows
 * "scheme://" up to the path: userinfo, host, port; percent-encoded or
 * not) into host (the normalised host) and domain (registrable domain or
 * reversed IPv4, *ip set for the latter). Returns 0, or AM_EINVAL when
 * a browser would refuse the host or it has no registrable domain.
 * Exposed for the tests.
 */
int links_host_domain(const struct psl_ctx_st *psl, const char *auth,
		      size_t len, char *host, char *domain, bool *ip);

/*
 * links_skip_match - whether domain (a registrable domain, lower case) is
 * in the skip list: equal to an entry, ignoring case and a final dot.
 */
bool links_skip_match(const char *const *skip, size_t nskip,
		      const char *domain);

#endif
