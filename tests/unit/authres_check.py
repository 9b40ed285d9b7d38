#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""Check Authentication-Results values written by authres_render().

Reads one case per line on stdin, space-separated hex fields:

    VALUE ID NMETHODS [PROPNAME RAWVALUE]...

VALUE is the rendered header value, ID the authserv-id it must carry,
NMETHODS the number of resinfos (-N: at most N, at least one, for
values that reach the 8192-octet cap), and each PROPNAME ("smtp.mailfrom") /
RAWVALUE pair is a property as it was handed to authres_prop(): the
checker expects its value, cleaned as authres.h promises (cut at 256
octets, octets outside printable ASCII dropped), in the parsed header, or
no such property when nothing is left of it.

Each value must (1) hold only printable ASCII, folded with "\\n\\t" only,
no line over 998 octets; (2) parse with python3-authres with the right
authserv-id and resinfo count; (3) parse with the strict RFC 8601 grammar
below, which also yields the property values (python-authres silently
drops some quoted values, so it cannot be used for that).
Exit status 0 when every case passes; failures are printed.
"""
import re
import sys

import authres

TSPECIALS = set('()<>@,;:\\"/[]?=')
ATEXT = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
            "0123456789!#$%&'*+-/=?^_`{|}~")


class Strict:
    """RFC 8601 section 2.2 grammar, RFC 5322 CFWS, no obsolete forms."""

    def __init__(self, s):
        self.s = s
        self.i = 0

    def err(self, what):
        raise ValueError('%s at %d: %r' % (what, self.i, self.s[self.i:][:40]))

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ''

    def fws(self):
        start = self.i
        while self.peek() in (' ', '\t'):
            self.i += 1
        if self.s.startswith('\r\n', self.i) or self.peek() == '\n':
            self.i += 2 if self.peek() == '\r' else 1
            if self.peek() not in (' ', '\t'):
                self.err('bad folding')
            while self.peek() in (' ', '\t'):
                self.i += 1
        return self.i > start

    def comment(self):
        if self.peek() != '(':
            return False
        self.i += 1
        while True:
            self.fws()
            c = self.peek()
            if c == '':
                self.err('unterminated comment')
            if c == ')':
                self.i += 1
                return True
            if c == '(':
                self.comment()
            elif c == '\\':
                if self.i + 1 >= len(self.s) or not \
                        (' ' <= self.s[self.i + 1] <= '~' or
                         self.s[self.i + 1] == '\t'):
                    self.err('bad quoted-pair')
                self.i += 2
            elif '!' <= c <= '~':
                self.i += 1
            else:
                self.err('bad ctext')

    def cfws(self):
        while self.fws() or self.comment():
            pass

    def token(self):
        start = self.i
        while self.peek() and '!' <= self.peek() <= '~' and \
                self.peek() not in TSPECIALS:
            self.i += 1
        return self.s[start:self.i]

    def keyword(self):
        m = re.compile(r'[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?').match(
            self.s, self.i)
        if not m:
            self.err('keyword expected')
        self.i = m.end()
        return m.group()

    def quoted(self):
        if self.peek() != '"':
            return None
        self.i += 1
        out = ''
        while True:
            start = self.i
            if self.fws():
                # the CRLF of a fold is invisible, the WSP stays
                out += re.sub(r'\r?\n', '', self.s[start:self.i])
            c = self.peek()
            if c == '':
                self.err('unterminated quoted-string')
            if c == '"':
                self.i += 1
                return out
            if c == '\\':
                if self.i + 1 >= len(self.s) or not \
                        ' ' <= self.s[self.i + 1] <= '~':
                    self.err('bad quoted-pair')
                out += self.s[self.i + 1]
                self.i += 2
            elif '!' <= c <= '~':
                out += c
                self.i += 1
            else:
                self.err('bad qtext')

    def value(self):
        q = self.quoted()
        if q is not None:
            return q
        t = self.token()
        if not t:
            self.err('value expected')
        return t

    def pvalue(self):
        self.cfws()
        q = self.quoted()
        if q is not None:
            return q
        # [ [ local-part ] "@" ] domain-name, or token
        m = re.compile(
            r"(?:(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
            r"(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)?@)"
            r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
            r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+").match(
                self.s, self.i)
        t_end = self.i
        while t_end < len(self.s) and '!' <= self.s[t_end] <= '~' and \
                self.s[t_end] not in TSPECIALS:
            t_end += 1
        end = max(m.end() if m else self.i, t_end)
        if end == self.i:
            self.err('pvalue expected')
        v = self.s[self.i:end]
        self.i = end
        return v

    def parse(self):
        self.cfws()
        authserv_id = self.value()
        self.cfws()
        if re.match(r'[0-9]', self.peek()):
            while self.peek().isdigit():
                self.i += 1
            self.cfws()
        if self.peek() != ';':
            self.err('";" expected')
        self.i += 1
        self.cfws()
        results = []
        if self.s.startswith('none', self.i):
            self.i += 4
            self.cfws()
        else:
            while True:
                results.append(self.resinfo())
                self.cfws()
                if self.peek() != ';':
                    break
                self.i += 1
                self.cfws()
        if self.i != len(self.s):
            self.err('trailing text')
        return authserv_id, results

    def resinfo(self):
        method = self.keyword()
        self.cfws()
        if self.peek() == '/':
            self.err('no method versions are written')
        if self.peek() != '=':
            self.err('"=" expected')
        self.i += 1
        self.cfws()
        result = self.keyword()
        props = []
        while True:
            save = self.i
            self.cfws()
            if self.peek() in ('', ';'):
                break
            if self.i == save:
                self.err('CFWS expected before a property')
            ptype = self.keyword()
            if ptype not in ('smtp', 'header', 'body', 'policy'):
                self.err('unregistered ptype')
            self.cfws()
            if self.peek() != '.':
                self.err('"." expected')
            self.i += 1
            self.cfws()
            prop = self.keyword()
            self.cfws()
            if self.peek() != '=':
                self.err('"=" expected')
            self.i += 1
            props.append((ptype + '.' + prop, self.pvalue()))
        return method, result, props


def clean(raw):
    return ''.join(chr(b) for b in raw[:256] if 0x20 <= b < 0x7f)


def check(fields):
    value = bytes.fromhex(fields[0]).decode('ascii', 'replace')
    want_id = bytes.fromhex(fields[1]).decode('ascii', 'replace')
    nmethods = int(fields[2])
    capped = nmethods < 0
    nmethods = abs(nmethods)
    props = [(bytes.fromhex(fields[k]).decode('ascii'),
              bytes.fromhex(fields[k + 1]))
             for k in range(3, len(fields) - 1, 2)]
    problems = []
    if re.search(r'[^\x20-\x7e\n\t]', value):
        problems.append('octet outside printable ASCII')
    if re.search(r'\n(?!\t)|(?<!\n)\t|\r', value):
        problems.append('bad folding')
    if any(len(line) > 998 for line in value.split('\n')):
        problems.append('line over 998 octets')
    try:
        h = authres.AuthenticationResultsHeader.parse(
            'Authentication-Results: ' + value)
        if h.authserv_id != want_id:
            problems.append('python-authres authserv-id %r' % h.authserv_id)
        if len(h.results) != nmethods and not \
                (capped and 0 < len(h.results) < nmethods):
            problems.append('python-authres: %d resinfos' % len(h.results))
    except Exception as e:  # any failure of the parser is a finding
        problems.append('python-authres: %s: %s' % (type(e).__name__, e))
    try:
        sid, results = Strict(value).parse()
        if sid != want_id:
            problems.append('strict authserv-id %r' % sid)
        if len(results) != nmethods and not \
                (capped and 0 < len(results) < nmethods):
            problems.append('strict: %d resinfos' % len(results))
        if len(value) > 8192:
            problems.append('longer than 8192 octets')
        got = [p for r in results for p in r[2]]
        for name, raw in props:
            want = clean(raw)
            have = [v for n, v in got if n == name]
            if want == '':
                if have:
                    problems.append('%s: empty value written' % name)
            elif want not in have:
                problems.append('%s: want %r, have %r' % (name, want, have))
    except ValueError as e:
        problems.append('strict: %s' % e)
    return value, problems


def main():
    failed = 0
    n = 0
    for line in sys.stdin:
        fields = line.split()
        if not fields:
            continue
        n += 1
        value, problems = check(fields)
        if problems:
            failed += 1
            print('FAIL %r' % value)
            for p in problems:
                print('  ' + p)
    print('%d cases, %d failed' % (n, failed))
    return 1 if failed or n == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
