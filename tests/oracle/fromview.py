# SPDX-License-Identifier: BSD-2-Clause
"""fromview - the address domains a mail client could show from From:.

DMARC protects the domain of the From: addresses a reader sees. A
receiver that reads From: differently from the reader's client can be
made to check one domain while the client shows another. This module
gives, for a message or one field body, every address domain that some
reasonable reading yields (a deliberate over-approximation):

  default   Python's email package, policy=email.policy.default (the
            header registry's RFC 5322 parser, groups included);
  compat32  email.utils.getaddresses() (the old, forgiving parser);
  lenient   our own tokenizer: comments removed (nested, with
            quoted-pairs), quoted strings opaque, then the domain after
            every '@' outside a quoted string and outside a route
            ("@a,@b:" before an address), with white space and comments
            inside the domain dropped (obs-domain), lower case, no final
            dot.

Display names and comments are not addresses: what they say (even
"ceo@bank.test") is display-name spoofing, which DMARC does not cover,
and none of the readings takes a domain from them. The readings are
applied to every field whose name is "From" in any case, with or without
white space before the colon (obs-fields; Postfix hands such a field to
a milter as "From").
"""

import email
import email.errors
import email.policy
import email.utils
import re

_WSP = ' \t'


def norm_domain(d):
    """Lower case, white space and comments already gone, no final dot."""
    d = ''.join(d.split()).lower()
    while d.endswith('.'):
        d = d[:-1]
    return d


def split_fields(raw):
    """(name, value) of each header field of raw (bytes or str, CRLF or
    LF), value unfolded (the line breaks removed, RFC 5322 2.2.3), up to
    the first empty line. A line that is not a field and not a
    continuation ends nothing: it is skipped."""
    if isinstance(raw, bytes):
        raw = raw.decode('utf-8', 'surrogateescape')
    head = re.split(r'\r?\n\r?\n', raw, maxsplit=1)[0]
    fields = []
    for line in re.split(r'\r?\n', head):
        if line[:1] in (' ', '\t') and fields:
            fields[-1][1] += line
            continue
        name, colon, value = line.partition(':')
        if colon:
            fields.append([name, value])
    return [(n, v) for n, v in fields]


def from_values(raw):
    """The unfolded bodies of the From: fields of raw, in order."""
    return [v for n, v in split_fields(raw)
            if n.rstrip(_WSP).lower() == 'from']


def strip_comments(v):
    """v without comments (each becomes a space); quoted strings kept;
    an unclosed comment runs to the end, an unclosed quote too."""
    out = []
    depth = 0
    quoted = False
    i = 0
    while i < len(v):
        c = v[i]
        if depth:
            if c == '\\':
                i += 1
            elif c == '(':
                depth += 1
            elif c == ')':
                depth -= 1
                if depth == 0:
                    out.append(' ')
        elif quoted:
            out.append(c)
            if c == '\\' and i + 1 < len(v):
                out.append(v[i + 1])
                i += 1
            elif c == '"':
                quoted = False
        elif c == '(':
            depth = 1
        else:
            if c == '"':
                quoted = True
            out.append(c)
        i += 1
    return ''.join(out)


_DOMCHARS = re.compile(r'[^\s<>,;:@"()\[\]\\]')


def lenient_domains(v):
    """The domain after each '@' outside quotes and routes in v."""
    s = strip_comments(v)
    out = []
    quoted = False
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if quoted:
            if c == '\\':
                i += 1
            elif c == '"':
                quoted = False
            i += 1
            continue
        if c == '"':
            quoted = True
            i += 1
            continue
        if c != '@':
            i += 1
            continue
        # A route: '@' right after '<' or ',' inside an angle address,
        # i.e. "<@a,@b:" -- skip to its ':'.
        j = i - 1
        while j >= 0 and s[j] in _WSP:
            j -= 1
        k = i + 1
        while k < n and s[k] in _WSP:
            k += 1
        dom = []
        while k < n:
            if s[k] in _WSP:
                # obs-domain: CFWS between labels ("bank . test")
                m = k
                while m < n and s[m] in _WSP:
                    m += 1
                if m < n and (s[m] == '.' or (dom and dom[-1] == '.')):
                    k = m
                    continue
                break
            if not _DOMCHARS.match(s[k]):
                break
            dom.append(s[k])
            k += 1
        if j >= 0 and s[j] in '<,' and k < n and s[k] in ',:' and \
                _in_angle(s, i):
            i = k + 1  # a route domain: not an address
            continue
        if j >= 0 and s[j] == ',' and _in_route(s, i):
            i = k + 1
            continue
        d = norm_domain(''.join(dom))
        if d:
            out.append(d)
        i = k
    return out


def _in_angle(s, i):
    """Is position i inside an unclosed '<' (quotes ignored)?"""
    return s.rfind('<', 0, i) > s.rfind('>', 0, i)


def _in_route(s, i):
    if not _in_angle(s, i):
        return False
    lt = s.rfind('<', 0, i)
    seg = s[lt + 1:i]
    return seg.strip().startswith('@')


def default_domains(raw):
    """Domains of the From: addresses as Python's default policy reads
    the message; (domains, error text or None)."""
    out = []
    err = None
    try:
        msg = email.message_from_bytes(
            raw if isinstance(raw, bytes) else raw.encode(
                'utf-8', 'surrogateescape'), policy=email.policy.default)
        for h in msg.get_all('From') or []:
            for a in h.addresses:
                if a.domain:
                    out.append(norm_domain(a.domain))
    except Exception as e:  # the parser gives up: noted, not fatal
        err = '%s: %s' % (type(e).__name__, e)
    return out, err


def default_field_domains(value):
    """Python's default policy on one field body: (domains, defects,
    error)."""
    try:
        h = email.policy.default.header_factory('From', value)
        doms = [norm_domain(a.domain) for a in h.addresses if a.domain]
        return doms, [type(d).__name__ for d in h.defects], None
    except Exception as e:
        return [], [], '%s: %s' % (type(e).__name__, e)


def compat32_domains(values):
    """getaddresses() in its strict form (the default since the 2023
    security fix) and its old lax form; an "address" with an empty local
    part is a piece of an obs-route that the lax form split off, not an
    address, and is left out."""
    out = []
    for strict in (True, False):
        try:
            pairs = email.utils.getaddresses(list(values), strict=strict)
        except TypeError:  # a Python without the strict argument
            if not strict:
                break
            pairs = email.utils.getaddresses(list(values))
        except Exception:
            continue
        for _, addr in pairs:
            local, at, dom = addr.rpartition('@')
            if at and local.strip() and dom.strip():
                d = norm_domain(dom)
                if d not in out:
                    out.append(d)
    return out


def readings(raw):
    """{reading: [domains]} for the From: fields of message raw."""
    values = from_values(raw)
    d, _ = default_domains(raw)
    lenient = []
    for v in values:
        lenient += lenient_domains(v)
    return {'default': d, 'compat32': compat32_domains(values),
            'lenient': lenient}


def field_readings(value):
    """{reading: [domains]} for one From: field body."""
    d, _, _ = default_field_domains(value)
    return {'default': d, 'compat32': compat32_domains([value]),
            'lenient': lenient_domains(value)}


def under(domain, protected):
    return domain == protected or domain.endswith('.' + protected)


def names(raw, protected):
    """The readings (name: domain) under which raw's From: names the
    protected domain or a subdomain of it; empty if none does."""
    hits = {}
    for r, doms in readings(raw).items():
        for d in doms:
            if under(d, protected):
                hits[r] = d
                break
    return hits


def shapes(value):
    """The problem shapes of one From: field body, by name: those of
    issue 13's list, and (prefix "new:") those the oracle found later.
    For reports only: a shape says what the field looks like, not how
    any parser reads it."""
    s = strip_comments(value)
    unq = re.sub(r'"(?:[^"\\]|\\.)*"?', '""', s)
    out = []
    if re.search(r'@[^<>]*<\s*>', s):
        out.append('addr-then-empty-angle')
    if len(value) > 16384:
        out.append('from>16K')
    if re.search(r'(?<![<,\s])@[^,;<>]*:', unq):
        out.append('addr-then-group')
    if re.search(r'<[^<>"]*"[^"]*[<>][^"]*"', s):
        out.append('new:quoted-"<>"-in-angle')
    if re.search(r'>[^,;<]*@', unq):
        out.append('new:addr-after-angle')
    if re.search(r'@[^,;:<>]*<[^>]*[^\s>][^>]*>', unq):
        out.append('new:addr-then-angle')
    if re.search(r'@\s*[^,;:<>\s]+\s+[^,;:<>@\s]+\s*@', unq):
        out.append('new:addr-space-addr')
    if re.search(r'<[^>]*<', unq) or re.search(r'^[^<]*>', unq):
        out.append('new:stray-angle')
    return out
