#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""oracle - a property test of authmilter's DMARC verdict.

    oracle.py DAEMON [--seed N] [--sessions N] [--seconds S] [--jobs N]
                     [--only I] [--replay FILE]... [--regress DIR]
                     [--save DIR] [--no-shrink] [-v]

Starts dnsd (tests/dnsd/dnsd.py) with one fixed DNS world and DAEMON
(the real engine, libunbound forwarding to dnsd) on a unix socket, both
in a temporary directory, then plays SMTP sessions to the daemon as an
MTA would, through the milter protocol (milterproto.py): first the fixed
regression sessions of --regress (default: regress/ next to this file),
then generated ones, each from random.Random("SEED/INDEX"), so that
--seed S --only I plays session I again.

The world: bank.test publishes "v=DMARC1; p=reject", an SPF record that
authorizes 203.0.113.250 only, and no DKIM key the attacker has;
atk.test and evil.test authorize every client address of the sessions
in SPF, publish the keys the messages are signed with, and p=none.

Invariants, checked for every message that gets a verdict:
  1. A message whose From: fields name bank.test or a subdomain of it
     under any reading of fromview.py is never accepted: the daemon's
     answer at MAIL, RCPT, a header, end of headers, the body or end of
     message must refuse it (reject, tempfail, 4xx/5xx reply code).
     Quarantine counts as accepted, except for a message with a List-Id
     field (SPEC: a mailing list's reject becomes quarantine).
  2. A control message (one plain From: of atk.test, signed by atk.test,
     from an authorized address; "expect pass") is accepted with one
     Authentication-Results header that python3-authres parses and
     that says dmarc=pass -- so the test cannot pass by refusing all.
  3. Every Authentication-Results header inserted parses strictly, and
     the daemon never breaks the protocol or closes a session.

Each failure is printed with its seed and index, the session as text
(the format --replay reads), and a smaller session that fails the same
way (--no-shrink turns the shrinking off); every session is played, and
the exit status is 1 if any failed. --save DIR writes the shrunk
failures there as .session files.
"""

import argparse
import base64
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import authres
import dkim

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import fromview  # noqa: E402
import milterproto as mp  # noqa: E402

DNSD = os.path.join(ROOT, 'tests', 'dnsd', 'dnsd.py')
# The DKIM key: made per run (1024 bits, the smallest DKIMMinimumKeyBits
# accepts by default: dkimpy signs in Python, and 2048 bits costs 5 ms).
KEYFILE = None
AUTHSERV_ID = 'mx.oracle.test'
PROTECTED = 'bank.test'
BANK_IP = '203.0.113.250'
CLIENTS = ['192.0.2.%d' % i for i in range(10, 26)] + \
    ['2001:db8::%x' % i for i in (0x10, 0x11)]
SELECTORS = {'atk.test': 's1', 'evil.test': 's2', 'mail.atk.test': 's3'}


# ---------------------------------------------------------------------------
# The DNS world

def client_name(ip):
    return 'client-%s.atk.test' % ip.replace('.', '-').replace(':', '-')


def public_key_b64():
    der = subprocess.run(['openssl', 'pkey', '-in', KEYFILE, '-pubout',
                          '-outform', 'DER'], check=True,
                         capture_output=True).stdout
    return base64.b64encode(der).decode()


def make_key(tmp):
    global KEYFILE
    KEYFILE = os.path.join(tmp, 'dkim.key')
    subprocess.run(['openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt',
                    'rsa_keygen_bits:1024', '-out', KEYFILE], check=True,
                   capture_output=True)


def world_zone():
    import ipaddress
    recs = []

    def add(name, rtype, data):
        recs.append({'name': name, 'type': rtype, 'data': data})
    attacker_spf = 'v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all'
    for d in ('atk.test', 'evil.test', 'mail.atk.test', 'bank.test',
              'dest.test'):
        add(d, 'MX', [10, 'mx.' + d])
        add('mx.' + d, 'A', '192.0.2.250')
        add(d, 'A', '192.0.2.251')
    for d in ('atk.test', 'evil.test', 'mail.atk.test'):
        add(d, 'TXT', attacker_spf)
        add('_dmarc.' + d, 'TXT', 'v=DMARC1; p=none')
    pub = public_key_b64()
    for d, sel in SELECTORS.items():
        add('%s._domainkey.%s' % (sel, d), 'TXT',
            'v=DKIM1; k=rsa; p=' + pub)
    add('bank.test', 'TXT', 'v=spf1 ip4:%s -all' % BANK_IP)
    add('_dmarc.bank.test', 'TXT', 'v=DMARC1; p=reject')
    add('mail.bank.test', 'A', BANK_IP)
    add('mail.bank.test', 'TXT', 'v=spf1 ip4:%s -all' % BANK_IP)
    add('www.bank.test', 'A', BANK_IP)
    for ip in CLIENTS:
        name = client_name(ip)
        add(ipaddress.ip_address(ip).reverse_pointer, 'PTR', name)
        add(name, 'AAAA' if ':' in ip else 'A', ip)
    return {'records': recs, 'behaviour': {}, 'delay_ms': 0}


class Servers:
    """dnsd and the daemon, in a temporary directory."""

    def __init__(self, daemon, extra_conf=()):
        self.tmp = tempfile.mkdtemp(prefix='am-oracle.')
        self.daemon = daemon
        self.extra = list(extra_conf)
        self.dnsd = None
        self.proc = None
        self.sock = os.path.join(self.tmp, 'sock')
        self.log = os.path.join(self.tmp, 'authmilter.log')

    def start(self):
        make_key(self.tmp)
        zones = os.path.join(self.tmp, 'zones.json')
        with open(zones, 'w') as f:
            json.dump(world_zone(), f)
        portf = os.path.join(self.tmp, 'dns.port')
        err = open(os.path.join(self.tmp, 'dnsd.err'), 'w')
        self.dnsd = subprocess.Popen(
            [sys.executable, DNSD, '--zones', zones, '--port-file', portf],
            stdout=err, stderr=err, stdin=subprocess.DEVNULL)
        err.close()
        for _ in range(200):
            if os.path.exists(portf):
                break
            if self.dnsd.poll() is not None:
                raise RuntimeError('dnsd exited')
            time.sleep(0.05)
        with open(portf) as f:
            port = int(f.read())
        args = [self.daemon, '-f', '-c', '/dev/null',
                '-o', 'Socket=unix:' + self.sock,
                '-o', 'AuthservID=' + AUTHSERV_ID,
                '-o', 'Resolver=forward 127.0.0.1@%d' % port,
                '-o', 'LogLevel=info']
        for kv in self.extra:
            args += ['-o', kv]
        log = open(self.log, 'w')
        self.proc = subprocess.Popen(args, stdout=log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        for _ in range(400):
            if os.path.exists(self.sock) and \
                    'listening on' in open(self.log).read():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError('the daemon did not start:\n' +
                           open(self.log).read()[-3000:])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            rc = self.proc.returncode
        if self.dnsd is not None and self.dnsd.poll() is None:
            self.dnsd.terminate()
            self.dnsd.wait(10)
        return rc


# ---------------------------------------------------------------------------
# Sessions: data, text form

class Txn:
    """One transaction: MAIL ... end of message, or an abort."""

    def __init__(self):
        self.mail = '<>'
        self.rcpts = []
        self.items = []     # ('h', name, value) | ('fill', n, width)
                            # | ('sign', domain)
        self.body = 'Hello.\r\n'
        self.end = 'eom'    # eom | abort@mail | abort@rcpt |
                            # abort@hdr:K | abort@body
        self.expect = None  # 'pass' for a control message


class Session:
    def __init__(self):
        self.offer = 'postfix'
        self.ip = CLIENTS[0]
        self.host = client_name(self.ip)
        self.helo = self.host
        self.txns = []
        self.origin = ''    # "seed S index I" or a file name


def q(s):
    return json.dumps(s, ensure_ascii=True)


def render(s):
    out = ['# authmilter oracle session: %s' % s.origin,
           'negotiate %s' % s.offer,
           'connect %s %s' % (s.ip, q(s.host)),
           'helo %s' % q(s.helo)]
    for t in s.txns:
        out.append('mail %s' % q(t.mail))
        if t.end == 'abort@mail':
            out.append('abort')
            continue
        for r in t.rcpts:
            out.append('rcpt %s' % q(r))
        if t.end == 'abort@rcpt':
            out.append('abort')
            continue
        stop = None
        if t.end.startswith('abort@hdr:'):
            stop = int(t.end.split(':')[1])
        for k, it in enumerate(t.items):
            if k == stop:
                break
            if it[0] == 'h':
                out.append('header %s %s' % (q(it[1]), q(it[2])))
            elif it[0] == 'fill':
                out.append('fill %d %d' % (it[1], it[2]))
            else:
                out.append('sign %s' % it[1])
        if stop is not None:
            out.append('abort')
            continue
        out.append('body %s' % render_body(t.body))
        if t.expect:
            out.append('expect %s' % t.expect)
        out.append('abort' if t.end == 'abort@body' else 'eom')
    out.append('quit')
    return '\n'.join(out) + '\n'


def render_body(b):
    """'"text"', or 'N "line"' for N copies of one line."""
    line = b[:b.find('\r\n') + 2] if '\r\n' in b else b
    if len(b) > 200 and line and b == line * (len(b) // len(line)):
        return '%d %s' % (len(b) // len(line), q(line))
    return q(b)


def parse_body(rest):
    if rest[:1].isdigit():
        n, _, line = rest.partition(' ')
        return json.loads(line) * int(n)
    return json.loads(rest)


def parse(text, origin=''):
    s = Session()
    s.origin = origin
    t = None
    stage = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        word, _, rest = line.partition(' ')
        if word == 'negotiate':
            s.offer = rest
        elif word == 'connect':
            ip, _, host = rest.partition(' ')
            s.ip, s.host = ip, json.loads(host)
        elif word == 'helo':
            s.helo = json.loads(rest)
        elif word == 'mail':
            t = Txn()
            t.mail = json.loads(rest)
            s.txns.append(t)
            stage = 'mail'
        elif word == 'rcpt':
            t.rcpts.append(json.loads(rest))
            stage = 'rcpt'
        elif word == 'header':
            dec = json.JSONDecoder()
            name, i = dec.raw_decode(rest)
            value, _ = dec.raw_decode(rest[i:].lstrip())
            t.items.append(('h', name, value))
            stage = 'hdr'
        elif word == 'fill':
            n, w = rest.split()
            t.items.append(('fill', int(n), int(w)))
            stage = 'hdr'
        elif word == 'sign':
            t.items.append(('sign', rest))
            stage = 'hdr'
        elif word == 'body':
            t.body = parse_body(rest)
            stage = 'body'
        elif word == 'expect':
            t.expect = rest
        elif word == 'abort':
            t.end = {'mail': 'abort@mail', 'rcpt': 'abort@rcpt',
                     'body': 'abort@body'}.get(
                         stage, 'abort@hdr:%d' % len(t.items))
        elif word == 'eom':
            t.end = 'eom'
        elif word == 'quit':
            break
        else:
            raise ValueError('%s: unknown line %r' % (origin, line))
    return s


# ---------------------------------------------------------------------------
# Messages

_KEY = None


def key():
    global _KEY
    if _KEY is None:
        with open(KEYFILE, 'rb') as f:
            _KEY = f.read()
    return _KEY


def filler(k, width):
    v = ('filler %d ' % k) + 'x' * max(0, width - 12)
    return ('X-Filler-%d' % k, ' ' + v)


def expand(t):
    """The header fields of t in order (fills expanded, the DKIM
    signature computed and put where its 'sign' item is), and the raw
    message (bytes) they make with the body."""
    plain = []
    for it in t.items:
        if it[0] == 'h':
            plain.append((it[1], it[2]))
        elif it[0] == 'fill':
            plain += [filler(k, it[2]) for k in range(it[1])]
    body = t.body

    def raw_of(hs):
        return ('\r\n'.join('%s:%s' % h for h in hs) + '\r\n\r\n' +
                body).encode('utf-8', 'surrogateescape')
    raw = raw_of(plain)
    out = []
    for it in t.items:
        if it[0] == 'h':
            out.append((it[1], it[2]))
        elif it[0] == 'fill':
            out += [filler(k, it[2]) for k in range(it[1])]
        else:
            sig = sign(raw, it[1])
            if sig is not None:
                out.append(sig)
    return out, raw_of(out)


def sign(raw, domain):
    try:
        sig = dkim.sign(raw, SELECTORS[domain].encode(), domain.encode(),
                        key(), canonicalize=(b'relaxed', b'relaxed'),
                        include_headers=[b'from', b'to', b'subject',
                                         b'date', b'message-id'])
    except Exception:  # dkimpy refuses some messages: sent unsigned
        return None
    text = sig.decode('ascii').rstrip('\r\n')
    name, _, value = text.partition(':')
    return (name, value)


# ---------------------------------------------------------------------------
# Playing a session

class Result:
    """What happened to one transaction."""

    def __init__(self, txn):
        self.txn = txn
        self.outcome = None     # accept | quarantine | refused |
                                # aborted | error | not-run
        self.stage = None       # where it was decided
        self.reply = None       # the deciding Reply
        self.raw = b''
        self.error = None
        self._hits = None

    def hits(self):
        """fromview.names() of the message, computed once."""
        if self._hits is None:
            self._hits = fromview.names(self.raw, PROTECTED)
        return self._hits

    def ar(self):
        if self.reply is None:
            return []
        return self.reply.inserted('Authentication-Results')


def play(sock, s):
    """Play session s; return a Result per transaction."""
    results = [Result(t) for t in s.txns]
    m = None
    try:
        m = mp.Milter(sock)
        m.negotiate(mp.OFFERS[s.offer])
        m.macro(mp.SMFIC_CONNECT, [('j', 'mx.oracle.test'),
                                   ('{daemon_name}', 'smtpd'),
                                   ('{client_addr}', s.ip),
                                   ('{client_name}', s.host)])
        conn_refused = m.connect(s.host, s.ip)
        if not conn_refused.refuses:
            conn_refused = m.helo(s.helo)
        conn_refused = conn_refused if conn_refused.refuses else None
        for n, (t, res) in enumerate(zip(s.txns, results)):
            headers, res.raw = expand(t)
            play_txn(m, t, res, headers, conn_refused, n)
        m.quit()
    except (mp.ProtocolError, OSError) as e:
        for res in results:
            if res.outcome is None:
                res.outcome = 'error'
                res.error = str(e)
                break
        if m is not None:
            m.close()
    for res in results:
        if res.outcome is None:
            res.outcome = 'not-run'
    return results


def decided(res, stage, r, outcome=None):
    res.stage = stage
    res.reply = r
    if outcome is None:
        if r.refuses:
            outcome = 'refused'
        elif r.quarantined():
            outcome = 'quarantine'
        else:
            outcome = 'accept'
    res.outcome = outcome


def play_txn(m, t, res, headers, conn_refused, n):
    qid = 'Q%05X' % n
    if conn_refused is not None:
        # The MTA refuses every command of the session itself.
        decided(res, 'connect', conn_refused)
        return
    r = m.mail(t.mail)
    if r.refuses:
        m.abort()
        return decided(res, 'mail', r)
    if r.code == mp.SMFIR_ACCEPT:
        return decided(res, 'mail', r)
    if t.end == 'abort@mail':
        m.abort()
        res.outcome = 'aborted'
        return
    ok = 0
    last = None
    for rc in t.rcpts:
        m.macro(mp.SMFIC_RCPT, [('{rcpt_addr}', rc.strip('<>'))])
        r = m.rcpt(rc)
        if r.refuses:
            last = r
        else:
            ok += 1
    if ok == 0:
        m.abort()
        return decided(res, 'rcpt', last or mp.NOREPLY, 'refused')
    if t.end == 'abort@rcpt':
        m.abort()
        res.outcome = 'aborted'
        return
    m.macro(mp.SMFIC_DATA, [('i', qid)])
    r = m.data()
    if r.refuses:
        m.abort()
        return decided(res, 'data', r)
    stop = None
    if t.end.startswith('abort@hdr:'):
        # the abort comes after the items before K (a fill or a
        # signature counts as one item)
        k = int(t.end.split(':')[1])
        pre = Txn()
        pre.items = t.items[:k]
        pre.body = t.body
        stop = len(expand(pre)[0])
    for i, (name, value) in enumerate(headers):
        if i == stop:
            m.abort()
            res.outcome = 'aborted'
            return
        if len(name) + len(value) + 2 > mp.MAX_DATA:
            # Postfix cannot hand the milter a longer header either
            value = value[:mp.MAX_DATA - len(name) - 2]
        r = m.header(name, value)
        if r.refuses:
            m.abort()
            return decided(res, 'header', r)
    if stop is not None:
        m.abort()
        res.outcome = 'aborted'
        return
    m.macro(mp.SMFIC_EOH, [('i', qid)])
    r = m.eoh()
    if r.refuses:
        m.abort()
        return decided(res, 'eoh', r)
    body = t.body.encode('utf-8', 'surrogateescape')
    for off in range(0, len(body), 65535):
        r = m.body(body[off:off + 65535])
        if r.refuses:
            m.abort()
            return decided(res, 'body', r)
        if r.code == mp.SMFIR_SKIP:
            break
    if t.end == 'abort@body':
        m.abort()
        res.outcome = 'aborted'
        return
    m.macro(mp.SMFIC_BODYEOB, [('i', qid)])
    decided(res, 'eom', m.eom())


# ---------------------------------------------------------------------------
# Invariants

def dmarc_of(ar_values):
    """'dmarc=RESULT (comment) header.from=D' of our A-R, '' if none."""
    for v in ar_values:
        u = ' '.join(v.split())
        mm = re.search(r'dmarc=(\w+)( \((?:[^()\\]|\\.)*\))?'
                       r'( header\.from=\S+)?', u)
        if mm:
            return mm.group(0).rstrip(';')
    return ''


def has_list_id(raw):
    return any(n.rstrip(' \t').lower() == 'list-id'
               for n, _ in fromview.split_fields(raw))


def check(res):
    """(kind, detail) for each invariant res breaks."""
    out = []
    if res.outcome in ('aborted', 'not-run'):
        return out
    if res.outcome == 'error':
        return [('protocol', 'session broken: %s' % res.error)]
    for v in res.ar():
        try:
            authres.AuthenticationResultsHeader.parse(
                'Authentication-Results: ' + v.strip())
        except Exception as e:
            out.append(('authres', 'A-R does not parse (%s): %r' % (e, v)))
    hits = res.hits()
    if hits and res.outcome in ('accept', 'quarantine'):
        if not (res.outcome == 'quarantine' and has_list_id(res.raw)):
            out.append(('accepted', '%s at %s; %s; From: read as %s' % (
                res.outcome, res.stage, dmarc_of(res.ar()) or 'no A-R',
                ', '.join('%s=%s' % kv for kv in sorted(hits.items())))))
    if res.txn.expect == 'pass':
        d = dmarc_of(res.ar())
        if res.outcome != 'accept' or not d.startswith('dmarc=pass'):
            out.append(('control', 'control message: %s at %s (%r), %s'
                        % (res.outcome, res.stage, res.reply,
                           d or 'no A-R')))
    return out


def failure_class(kind, res):
    """A short name of what went wrong, to count failures by."""
    if kind == 'accepted':
        d = dmarc_of(res.ar()) or 'no A-R'
        d = re.sub(r' header\.from=\S+', '', d)
        return 'accepted: %s' % d
    if kind == 'control':
        return 'control: %s %s' % (res.outcome,
                                   re.sub(r' header\.from=\S+', '',
                                          dmarc_of(res.ar())))
    return kind


def features(res):
    """What the message's From: fields look like (for the report)."""
    raw = res.raw
    fields = fromview.split_fields(raw)
    names = [n for n, _ in fields if n.rstrip(' \t').lower() == 'from']
    vals = fromview.from_values(raw)
    f = ['from-fields=%d' % len(vals)]
    if any(n != n.rstrip(' \t') for n in names):
        f.append('obs-name("From :")')
    if any(len(v) > 16384 for v in vals):
        f.append('from>16K')
    naddr = max([len(fromview.lenient_domains(v)) for v in vals] or [0])
    if naddr > 8:
        f.append('addresses=%d' % naddr)
    idx = [i for i, (n, _) in enumerate(fields)
           if n.rstrip(' \t').lower() == 'from']
    if idx and idx[0] >= 1000:
        f.append('%d-fields-before-from' % idx[0])
    joined = ' '.join(vals)
    stripped = fromview.strip_comments(joined)
    if re.search(r'<\s*>', stripped):
        f.append('empty-angle')
    if ':' in re.sub(r'"(?:[^"\\]|\\.)*"', '', stripped):
        f.append('group-or-route')
    if '=?' in joined:
        f.append('encoded-word')
    if '(' in joined:
        f.append('comment')
    return f


def issue13_tags(res):
    """Which of the From: problems issue 13 lists the message has
    ('other' if none): to tell known failures from new ones."""
    raw = res.raw
    fields = fromview.split_fields(raw)
    vals = fromview.from_values(raw)
    tags = []
    if len(vals) >= 2:
        tags.append('two-from-fields')
    if len(vals) == 1:
        doms = set(fromview.field_readings(vals[0])['default'])
        if len(doms) >= 2:
            tags.append('mixed-domains')
    if any(len(fromview.lenient_domains(v)) > 8 for v in vals):
        tags.append('>8-addresses')
    idx = [i for i, (n, _) in enumerate(fields)
           if n.rstrip(' \t').lower() == 'from']
    if idx and idx[0] >= 1000:
        tags.append('1000-fields-before-from')
    for v in vals:
        tags += [t for t in fromview.shapes(v) if t not in tags]
    return tags or ['other']


# ---------------------------------------------------------------------------
# The generator

ATTACK = ['atk.test', 'evil.test', 'mail.atk.test']
BANKISH = ['bank.test', 'BANK.TEST', 'Bank.Test', 'bank.test.',
           'mail.bank.test', 'x.y.bank.test', 'bank . test',
           'bank.(c)test', 'www.BANK.test']
LOOKALIKE = ['bank.test.atk.test', 'bank-test.atk.test', 'xbank.test',
             'bank.testx']
LOCALS = ['ceo', 'a', 'info', 'j.doe', 'x+tag', '"ceo@bank.test"',
          '"a,b"', '"<x>"', '"a\\"b@bank.test"', '"a b"', '"@"',
          '"x@atk.test, y"', '"<>"', '"a>b<c@atk.test>"', '"("',
          'j\u00f6rg', '=?utf-8?q?ceo?=']
NAMES = ['CEO', 'Bank CEO', '"Bank, CEO"', '"ceo@bank.test"',
         '=?utf-8?q?Bank_CEO?=', '=?utf-8?b?QmFuayBDRU8=?=',
         'J\u00f6rg M\u00fcller', '"x <y@atk.test>"', '"a \\" b"',
         'Support (team)', '"" ', 'A.B. Example', '"x,y:z;"',
         '=?utf-8?q?x=3Cceo=40bank=2Etest=3E?=']
COMMENT_BITS = ['ceo@bank.test', '<a@atk.test>', ',', '"', '\\)', 'x',
                '(nested (deep))', ':;', 'bank.test', '<>', '@']


def rcomment(rng, big=0):
    if big:
        return '(' + ''.join(rng.choice(['x', 'y ', 'bank ', '@'])
                             for _ in range(big)) + ')'
    return '(' + ' '.join(rng.choice(COMMENT_BITS)
                          for _ in range(rng.randint(1, 3))) + ')'


def rdomain(rng, pbank):
    r = rng.random()
    if r < pbank:
        return rng.choice(BANKISH)
    if r < pbank + 0.08:
        return rng.choice(LOOKALIKE)
    return rng.choice(ATTACK)


def raddrspec(rng, dom):
    local = rng.choice(LOCALS) if rng.random() < 0.4 else \
        rng.choice(LOCALS[:5])
    sp = ' ' if rng.random() < 0.1 else ''
    return '%s%s@%s%s' % (local, sp, sp, dom)


def rmailbox(rng, dom):
    spec = raddrspec(rng, dom)
    r = rng.random()
    if r < 0.35:
        mb = spec
    elif r < 0.75:
        mb = '%s <%s>' % (rng.choice(NAMES), spec)
    elif r < 0.82:
        mb = '<%s>' % spec
    elif r < 0.88:
        route = ','.join('@' + rng.choice(ATTACK + BANKISH[:2])
                         for _ in range(rng.randint(1, 2)))
        mb = '%s <%s:%s>' % (rng.choice(NAMES), route, spec)
    elif r < 0.94:
        mb = '%s %s' % (spec, rcomment(rng))
    else:
        mb = '%s %s <%s>' % (rcomment(rng), rng.choice(NAMES), spec)
    return mb


def rfrom_value(rng, pbank):
    """One From: field body (with its leading space)."""
    r = rng.random()
    if r < 0.55:
        k = 1
    elif r < 0.8:
        k = rng.randint(2, 3)
    elif r < 0.92:
        k = rng.randint(4, 8)
    else:
        k = rng.randint(9, 14)
    boxes = [rmailbox(rng, rdomain(rng, pbank)) for _ in range(k)]
    seps = [', ', ',', ' , ', ',\r\n ', ' ', '; ']
    wsep = [0.45, 0.15, 0.1, 0.15, 0.08, 0.07]
    parts = [boxes[0]]
    for b in boxes[1:]:
        parts.append(rng.choices(seps, wsep)[0])
        parts.append(b)
    v = ''.join(parts)
    r = rng.random()
    if r < 0.12:
        v = '%s: %s;' % (rng.choice(['x', 'Team', '"a@b"', 'g']), v)
    elif r < 0.18:
        v = '%s, undisclosed-recipients:;' % v
    elif r < 0.22:
        v = 'undisclosed-recipients:;' if rng.random() < 0.5 else \
            'x:%s@%s;' % (rng.choice(LOCALS[:3]), rdomain(rng, pbank))
    elif r < 0.3:
        # a second address glued on without a comma
        tail = rng.choice(['<>', '<%s@%s>', 'x:%s@%s;', '<%s@%s> x',
                           '(%s@%s)', ':;'])
        if '%s' in tail:
            tail = tail % (rng.choice(LOCALS[:3]), rdomain(rng, pbank))
        v = '%s %s' % (v, tail)
    elif r < 0.34:
        v = v + rng.choice([',', ', ,', ';', ' (', ' "', ' <', '>',
                            ' \\', ',,'])
    elif r < 0.38:
        v = rng.choice(['(', '"', '<', ',', ':']) + v
    r = rng.random()
    if r < 0.012:
        # past the parser's 16 KB input cap (Python's parser takes half
        # a second on such a comment: keep these rare)
        v = '%s %s' % (v, rcomment(rng, big=rng.choice([16400, 20000])))
    elif r < 0.06:
        v = '%s %s' % (v, rcomment(rng, big=rng.choice([200, 1500])))
    if rng.random() < 0.15:
        # fold at random white space
        out = []
        for ch in v:
            if ch == ' ' and rng.random() < 0.3:
                out.append('\r\n' + rng.choice([' ', '\t']))
            else:
                out.append(ch)
        v = ''.join(out)
    lead = rng.choices([' ', '', '  ', '\t', '\r\n '],
                       [0.85, 0.05, 0.04, 0.03, 0.03])[0]
    return lead + v


FROM_NAMES = ['From', 'From', 'From', 'From', 'FROM', 'from', 'From ',
              'From\t', 'fRoM']


def rheaders(rng, pbank):
    hs = []
    nfrom = rng.choices([0, 1, 2, 3], [0.03, 0.8, 0.12, 0.05])[0]
    froms = [('h', rng.choice(FROM_NAMES) if rng.random() < 0.2
              else 'From', rfrom_value(rng, pbank))
             for _ in range(nfrom)]
    base = [('h', 'To', ' <u@dest.test>'),
            ('h', 'Subject', rng.choice([' hello', ' =?utf-8?q?h=C3=A9?=',
                                         ' Invoice ' + 'x' * 200])),
            ('h', 'Date', ' Thu, 1 Jan 2026 00:00:00 +0000'),
            ('h', 'Message-ID', ' <%d@atk.test>' % rng.randint(1, 1 << 30)),
            ('h', 'MIME-Version', ' 1.0')]
    for _ in range(rng.randint(0, 3)):
        base.insert(0, ('h', 'Received', ' from x by y; Thu, 1 Jan 2026'))
    if rng.random() < 0.03:
        base.append(('h', 'List-Id', ' <talk.atk.test>'))
    if rng.random() < 0.05:
        base.append(('h', 'Sender', ' <ceo@bank.test>'))
    if rng.random() < 0.04:
        base.append(('h', 'Reply-To', ' ceo@bank.test'))
    hs = base + froms
    rng.shuffle(hs)
    r = rng.random()
    if r < 0.08:
        # many fields, then the From:
        hs = [('fill', rng.randint(1000, 1300), rng.choice([20, 60]))] + hs
    elif r < 0.25:
        hs.insert(rng.randint(0, len(hs)),
                  ('fill', rng.randint(1, 120), rng.choice([20, 200])))
    r = rng.random()
    if r < 0.5:
        hs.insert(rng.randint(0, len(hs)), ('sign', 'atk.test'))
    elif r < 0.65:
        hs.insert(rng.randint(0, len(hs)), ('sign', 'evil.test'))
    return hs


def control_txn(rng):
    t = Txn()
    t.mail = rng.choice(['<a@atk.test>', '<>', '<b@evil.test>',
                         '<ceo@bank.test>'])
    t.rcpts = ['<u@dest.test>']
    frm = rng.choice([' a@atk.test', ' Alice <alice@atk.test>',
                      ' "Alice A." <alice@atk.test>'])
    t.items = [('sign', 'atk.test'), ('h', 'From', frm),
               ('h', 'To', ' <u@dest.test>'), ('h', 'Subject', ' control'),
               ('h', 'Date', ' Thu, 1 Jan 2026 00:00:00 +0000'),
               ('h', 'Message-ID', ' <c%d@atk.test>' % rng.randint(1, 1 << 30))]
    t.body = 'Control message.\r\n'
    t.expect = 'pass'
    return t


MAILS = ['<a@atk.test>', '<bounce@evil.test>', '<>', '<ceo@bank.test>',
         '<x@mail.bank.test>', '<x@mail.atk.test>', '<A@ATK.TEST>',
         '<ceo@nx.nowhere.test>']
MAILW = [0.3, 0.15, 0.15, 0.15, 0.08, 0.08, 0.05, 0.04]


def generate(seed, index):
    rng = random.Random('%d/%d' % (seed, index))
    s = Session()
    s.origin = 'seed %d index %d' % (seed, index)
    s.offer = rng.choices(['postfix', 'plain', 'leadspc'],
                          [0.7, 0.15, 0.15])[0]
    s.ip = rng.choice(CLIENTS)
    s.host = client_name(s.ip)
    s.helo = rng.choice([s.host, s.host, 'bank.test', 'mail.atk.test',
                         '[%s]' % s.ip])
    ntx = rng.choices([1, 2, 3, 5], [0.7, 0.15, 0.1, 0.05])[0]
    pbank = rng.choice([0.15, 0.3, 0.5])
    for _ in range(ntx):
        if rng.random() < 0.12:
            t = control_txn(rng)
        else:
            t = Txn()
            t.mail = rng.choices(MAILS, MAILW)[0]
            t.rcpts = ['<u%d@dest.test>' % k
                       for k in range(rng.choice([1, 1, 1, 2, 3]))]
            t.items = rheaders(rng, pbank)
            if rng.random() < 0.1:
                t.body = ('line of body text\r\n' * rng.randint(1, 5000))
        r = rng.random()
        if r < 0.04:
            t.end = 'abort@mail'
        elif r < 0.08:
            t.end = 'abort@rcpt'
        elif r < 0.12:
            t.end = 'abort@hdr:%d' % rng.randint(0, len(t.items))
        elif r < 0.15:
            t.end = 'abort@body'
        s.txns.append(t)
    return s


# ---------------------------------------------------------------------------
# Shrinking

def copy_session(s):
    return parse(render(s), s.origin)


def shrink(sock, s, ti, cls, budget=300):
    """A smaller session whose transaction (the last one) still fails
    in class cls; s's transaction ti did."""
    tries = [0]

    def fails(c):
        if tries[0] >= budget:
            return False
        tries[0] += 1
        res = play(sock, c)
        return any(failure_class(k, res[-1]) == cls
                   for k, _ in check(res[-1]))
    best = copy_session(s)
    best.txns = best.txns[:ti + 1]
    one = copy_session(best)
    one.txns = one.txns[-1:]
    if fails(one):
        best = one
    # drop earlier transactions one by one
    i = 0
    while i < len(best.txns) - 1:
        c = copy_session(best)
        del c.txns[i]
        if fails(c):
            best = c
        else:
            i += 1
    for offer in ('postfix',):
        if best.offer != offer:
            c = copy_session(best)
            c.offer = offer
            if fails(c):
                best = c
    t = best.txns[-1]
    for attr, val in (('body', 'x\r\n'), ('rcpts', ['<u@dest.test>'])):
        c = copy_session(best)
        setattr(c.txns[-1], attr, val)
        if fails(c):
            best = c
    # drop items, last first
    i = len(best.txns[-1].items) - 1
    while i >= 0:
        c = copy_session(best)
        del c.txns[-1].items[i]
        if fails(c):
            best = c
        i -= 1
    # halve fills while it still fails
    for k, it in enumerate(list(best.txns[-1].items)):
        if it[0] != 'fill':
            continue
        lo, hi = 0, it[1]
        while lo + 1 < hi and tries[0] < budget:
            mid = (lo + hi) // 2
            c = copy_session(best)
            c.txns[-1].items[k] = ('fill', mid, it[2])
            if fails(c):
                hi = mid
            else:
                lo = mid
        c = copy_session(best)
        c.txns[-1].items[k] = ('fill', hi, it[2])
        best = c
    # shorten each header value: drop pieces (ddmin over tokens)
    for k, it in enumerate(list(best.txns[-1].items)):
        if it[0] != 'h':
            continue
        toks = re.findall(r'\r\n[ \t]|[ \t]+|[^\s,;:<>()]+|.', it[2],
                          re.S)
        n = 2
        while len(toks) >= 2 and tries[0] < budget:
            size = max(1, len(toks) // n)
            cut = False
            for start in range(0, len(toks), size):
                cand = toks[:start] + toks[start + size:]
                c = copy_session(best)
                c.txns[-1].items[k] = ('h', it[1], ''.join(cand))
                if fails(c):
                    toks = cand
                    best = c
                    n = max(n - 1, 2)
                    cut = True
                    break
            if not cut:
                if size == 1:
                    break
                n = min(len(toks), n * 2)
    del t
    best.origin = s.origin + ' (shrunk)'
    return best


# ---------------------------------------------------------------------------
# The run

class Run:
    def __init__(self, args, servers):
        self.args = args
        self.servers = servers
        self.lock = threading.Lock()
        self.sessions = 0
        self.messages = 0
        self.verdicts = {}
        self.named = 0
        self.controls = 0
        self.failures = 0
        self.classes = {}      # class -> [count, first (s, ti, kind, res)]
        self.first_hit = {}    # class -> (seconds, sessions)
        self.tags = {}         # issue-13 tag -> [count, seconds,
                               #   sessions, example session, index]
        self.t0 = time.monotonic()

    def record(self, s, results):
        with self.lock:
            self.sessions += 1
            for ti, res in enumerate(results):
                if res.outcome in ('aborted', 'not-run'):
                    continue
                self.messages += 1
                self.verdicts[res.outcome] = \
                    self.verdicts.get(res.outcome, 0) + 1
                if res.hits():
                    self.named += 1
                if res.txn.expect == 'pass':
                    self.controls += 1
                for kind, detail in check(res):
                    self.failures += 1
                    cls = failure_class(kind, res)
                    ent = self.classes.setdefault(cls, [0, None])
                    ent[0] += 1
                    if ent[1] is None:
                        ent[1] = (s, ti, kind, res, detail)
                        self.first_hit[cls] = (
                            time.monotonic() - self.t0, self.sessions)
                    if kind == 'accepted':
                        for tag in issue13_tags(res):
                            e = self.tags.setdefault(tag, [
                                0, time.monotonic() - self.t0,
                                self.sessions, s, ti])
                            e[0] += 1
                    if self.args.verbose or ent[0] <= 1 or \
                            s.origin.endswith('.session'):
                        print('FAIL [%s] %s, message %d: %s' % (
                            cls, s.origin, ti + 1, detail), flush=True)

    def worker(self, counter, limit, deadline):
        while True:
            with self.lock:
                i = counter[0]
                counter[0] += 1
            if i >= limit or time.monotonic() > deadline:
                return
            s = generate(self.args.seed, i)
            self.record(s, play(self.servers.sock, s))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('daemon')
    ap.add_argument('--seed', type=int,
                    default=int(os.environ.get('ORACLE_SEED', '1')))
    ap.add_argument('--sessions', type=int,
                    default=int(os.environ.get('ORACLE_SESSIONS', '2000')))
    ap.add_argument('--seconds', type=float,
                    default=float(os.environ.get('ORACLE_SECONDS', '75')),
                    help='stop generating after this long (0: no limit)')
    ap.add_argument('--jobs', type=int, default=3)
    ap.add_argument('--only', type=int, action='append',
                    help='play only generated session I (repeatable)')
    ap.add_argument('--replay', action='append', default=[],
                    help='a .session file to play (repeatable)')
    ap.add_argument('--regress', default=os.path.join(HERE, 'regress'))
    ap.add_argument('--save', help='write the shrunk failures here')
    ap.add_argument('--no-shrink', action='store_true')
    ap.add_argument('--shrink-seconds', type=float, default=60,
                    help='time for shrinking, all classes together')
    ap.add_argument('--print', action='store_true',
                    help='print the sessions (with --only) and exit')
    ap.add_argument('-v', '--verbose', action='store_true')
    ap.add_argument('-o', action='append', default=[], dest='conf',
                    help='KEY=VALUE for the daemon (repeatable)')
    args = ap.parse_args()

    if args.print:
        for i in args.only or [0]:
            sys.stdout.write(render(generate(args.seed, i)))
        return 0
    servers = Servers(args.daemon, args.conf).start()
    run = Run(args, servers)
    rc = 0
    try:
        fixed = list(args.replay)
        if args.regress and os.path.isdir(args.regress) and not args.only \
                and not args.replay:
            fixed += sorted(os.path.join(args.regress, f)
                            for f in os.listdir(args.regress)
                            if f.endswith('.session'))
        for path in fixed:
            with open(path) as f:
                s = parse(f.read(), os.path.relpath(path, HERE))
            run.record(s, play(servers.sock, s))
        nfixed = run.sessions
        if args.only:
            for i in args.only:
                s = generate(args.seed, i)
                if args.verbose:
                    sys.stdout.write(render(s))
                run.record(s, play(servers.sock, s))
        elif not args.replay:
            deadline = time.monotonic() + (args.seconds or 1e9)
            counter = [0]
            threads = [threading.Thread(target=run.worker,
                                        args=(counter, args.sessions,
                                              deadline))
                       for _ in range(max(1, args.jobs))]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        elapsed = time.monotonic() - run.t0
        if not servers.alive():
            print('FAIL: the daemon died (exit %r)' % servers.proc.returncode)
            rc = 1
        print('\n%d sessions (%d fixed) in %.1f s (%.0f/s), seed %d: %d '
              'messages with a verdict %s, %d naming %s, %d controls' % (
                  run.sessions, nfixed, elapsed, run.sessions / elapsed,
                  args.seed, run.messages,
                  json.dumps(run.verdicts, sort_keys=True), run.named,
                  PROTECTED, run.controls))
        if run.controls == 0 and not args.only and not args.replay:
            print('FAIL: no control message was played')
            rc = 1
        if run.tags:
            print('accepted messages naming %s, by the From: problems '
                  'of issue 13 (a message may have several):' % PROTECTED)
            for tag, (n, t, k, s, ti) in sorted(run.tags.items(),
                                                key=lambda kv: kv[1][1]):
                print('  %-26s %5d  first after %5.1f s / %5d sessions '
                      '(%s message %d)' % (tag, n, t, k, s.origin, ti + 1))
        if run.classes:
            rc = 1
            print('%d failures in %d classes:' % (run.failures,
                                                  len(run.classes)))
            shrink_until = time.monotonic() + args.shrink_seconds
            for cls, (n, first) in sorted(run.classes.items(),
                                          key=lambda kv: -kv[1][0]):
                s, ti, kind, res, detail = first
                t, k = run.first_hit[cls]
                print('\n== %d x %s\n   first: %s message %d, after %.1f s '
                      '/ %d sessions\n   %s\n   features: %s' % (
                          n, cls, s.origin, ti + 1, t, k, detail,
                          ' '.join(features(res))))
                small = s
                if not args.no_shrink and \
                        time.monotonic() < shrink_until:
                    small = shrink(servers.sock, s, ti, cls)
                text = render(small)
                if len(text) > 6000:
                    text = text[:3000] + '\n[... %d octets ...]\n' % (
                        len(text) - 6000) + text[-3000:]
                print('   reproducer:\n' + ''.join(
                    '     ' + ln + '\n' for ln in text.splitlines()))
                if args.save:
                    os.makedirs(args.save, exist_ok=True)
                    name = re.sub(r'[^a-z0-9]+', '-', cls.lower())[:60]
                    with open(os.path.join(args.save, name + '.session'),
                              'w') as f:
                        f.write('# ' + cls + '\n' + render(small))
        else:
            print('no invariant broken')
    finally:
        drc = servers.stop()
        if drc not in (0, None):
            print('FAIL: daemon exit status %r after SIGTERM' % drc)
            rc = 1
        with open(servers.log) as f:
            bad = [ln for ln in f if 'Sanitizer' in ln or
                   'runtime error:' in ln]
        if bad:
            print('FAIL: sanitizer reports:\n' + ''.join(bad[:20]))
            rc = 1
        if os.environ.get('ORACLE_KEEP') != '1':
            import shutil
            shutil.rmtree(servers.tmp, ignore_errors=True)
        else:
            print('kept', servers.tmp)
    return rc


if __name__ == '__main__':
    sys.exit(main())
