#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""Run authmilter and drive one milter-level test against it.

    run_milter.py DAEMON TEST [-o KEY=VALUE]...

Starts DAEMON in the foreground on a unix socket in a fresh temporary
directory (no TCP port to collide with), resolving through the loopback
test DNS server named by AM_TEST_DNS (tests/dnsd/with-dnsd.sh) when set,
then runs TEST:

  - NAME.lua: a miltertest(8) script, given the socket as the global
    SOCK. A line it prints as "HDRHEX Authentication-Results HEX" is
    the value of the header the filter inserted, hex-encoded; it must
    start with a space (HDR_LEADSPC is negotiated) and parse with
    python3-authres and carry the authserv-id "mx.test". Lines
    "LOG regex" in the script's leading comment block are regular
    expressions that must each match a line of the daemon's log.
  - NAME (one of the scenarios in this file, "py:NAME"): a raw milter
    protocol client written here, for what miltertest cannot observe
    (the index of each header change, the order of changes).

The daemon is stopped with SIGTERM (by its process id) and must exit 0.
Exit status 0 if everything held, 1 otherwise; the reasons are printed.
"""
import os
import re
import signal
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import authres
import dkim

HERE = os.path.dirname(os.path.abspath(__file__))
# Set by main() for the scenarios that signal the daemon or read its log.
DAEMON = {'proc': None, 'log': None}

AUTHSERV_ID = 'mx.test'


def start_daemon(daemon, tmp, extra):
    sock = os.path.join(tmp, 'sock')
    dns = os.environ.get('AM_TEST_DNS', '127.0.0.1@9')
    args = [daemon, '-f', '-c', '/dev/null',
            '-o', 'Socket=unix:' + sock,
            '-o', 'AuthservID=' + AUTHSERV_ID,
            '-o', 'Resolver=forward ' + dns,
            '-o', 'DNSTimeout=2',
            '-o', 'LogLevel=debug']
    for kv in extra:
        args += ['-o', kv]
    logpath = os.path.join(tmp, 'log')
    log = open(logpath, 'w')
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    # The socket file appears at bind(), a moment before listen(): wait
    # for the daemon's own word that it listens (a connect in between
    # is refused).
    for _ in range(200):
        if os.path.exists(sock):
            with open(logpath) as f:
                if 'listening on' in f.read():
                    return proc, sock
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError('daemon did not open its socket')


def stop_daemon(proc):
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return -1


def check_ar(value, problems):
    try:
        h = authres.AuthenticationResultsHeader.parse(
            'Authentication-Results: ' + value)
        if h.authserv_id != AUTHSERV_ID:
            problems.append('A-R authserv-id %r' % h.authserv_id)
    except Exception as e:  # any parser failure is a finding
        problems.append('A-R does not parse: %r: %s' % (value, e))


def run_lua(script, sock, logtext, problems):
    out = subprocess.run(['miltertest', '-s', script, '-D', 'SOCK=unix:' +
                          sock], capture_output=True, text=True,
                         timeout=60)
    sys.stdout.write(out.stdout)
    sys.stdout.write(out.stderr)
    if out.returncode != 0:
        problems.append('miltertest exit %d' % out.returncode)
    for line in out.stdout.splitlines():
        f = line.split()
        if len(f) == 3 and f[:2] == ['HDRHEX', 'Authentication-Results']:
            value = bytes.fromhex(f[2]).decode('ascii', 'replace')
            if not value.startswith(' '):
                problems.append('A-R value lacks its leading space')
            check_ar(value[1:], problems)


def lua_log_expectations(script):
    want = []
    with open(script) as f:
        for line in f:
            m = re.match(r'--\s*LOG\s+(.*\S)', line)
            if m:
                want.append(m.group(1))
            elif not line.startswith('--'):
                break
    return want


# ---- a raw milter client (libmilter protocol version 6) ----

SMFIF_ADDHDRS, SMFIF_CHGHDRS, SMFIF_QUARANTINE = 0x01, 0x10, 0x20
SMFIF_SETSYMLIST = 0x100
SMFIP_SKIP, SMFIP_HDR_LEADSPC = 0x400, 0x100000
ALL_ACTIONS = 0x1ff
# no reply to connect, HELO, MAIL (libmilter's mfdef.h)
SMFIP_NR_EARLY = 0x1000 | 0x2000 | 0x4000
# header add/insert/change, quarantine, rcpt add/del, body, progress...
MODIFICATIONS = (b'h', b'i', b'm', b'q', b'+', b'-', b'2', b'b', b'e',
                 b'p')


class Milter:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(path)

    def send(self, cmd, data=b''):
        self.s.sendall(struct.pack('!I', len(data) + 1) + cmd + data)

    def recv(self):
        hdr = self._read(4)
        (n,) = struct.unpack('!I', hdr)
        body = self._read(n)
        return body[:1], body[1:]

    def _read(self, n):
        buf = b''
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError('filter closed the connection')
            buf += chunk
        return buf

    def call(self, cmd, data=b''):
        """Send a command; return (reply code, its data, [modifications
        that came before it])."""
        self.send(cmd, data)
        mods = []
        while True:
            code, body = self.recv()
            if code in MODIFICATIONS:
                mods.append((code, body))
                continue
            return code, body, mods

    def negotiate(self, steps=SMFIP_SKIP | SMFIP_HDR_LEADSPC):
        self.send(b'O', struct.pack('!III', 6, ALL_ACTIONS, steps))
        code, body = self.recv()
        assert code == b'O', code
        return struct.unpack('!III', body[:12])

    def macro(self, cmd, pairs):
        data = cmd
        for k, v in pairs:
            data += k.encode() + b'\0' + v.encode() + b'\0'
        self.send(b'D', data)

    def connect(self, host, ip):
        fam = b'6' if ':' in ip else b'4'
        return self.call(b'C', host.encode() + b'\0' + fam +
                         struct.pack('!H', 25) + ip.encode() + b'\0')

    def z(self, cmd, *args):
        return self.call(cmd, b''.join(a.encode() + b'\0' for a in args))


def header_changes(mods):
    """(kind, index, name, value) of the i and m modifications."""
    out = []
    for code, body in mods:
        if code in (b'i', b'm'):
            (idx,) = struct.unpack('!I', body[:4])
            name, value = body[4:].split(b'\0')[:2]
            out.append((code.decode(), idx, name.decode(), value.decode()))
    return out


def py_forged(sock, problems):
    """Three forged A-R interleaved with foreign ones: the three go,
    highest index first; the foreign stay; one new A-R goes on top."""
    m = Milter(sock)
    actions, steps = m.negotiate()[1:]
    for flag, name in ((SMFIF_ADDHDRS, 'ADDHDRS'), (SMFIF_CHGHDRS,
                       'CHGHDRS'), (SMFIF_QUARANTINE, 'QUARANTINE')):
        if not actions & flag:
            problems.append('negotiate: %s not requested' % name)
    if not steps & SMFIP_HDR_LEADSPC:
        problems.append('negotiate: HDR_LEADSPC not requested')
    m.macro(b'C', [('j', 'mx.test')])
    m.connect('client.example', '192.0.2.10')
    m.z(b'H', 'client.example')
    m.z(b'M', '<a@example.org>')
    m.z(b'R', '<b@example.net>')
    headers = [
        ('Authentication-Results', ' mx.test; spf=pass'),          # 1 ours
        ('Authentication-Results', ' other.example; spf=fail'),    # 2
        ('Received', ' from x by y'),
        ('Authentication-Results', ' (forged)\r\n\t MX.Test; dkim=pass'),
        ('Authentication-Results', ' mx.test.example; none'),      # 4
        ('Authentication-Results', ' "mx.test"; dmarc=pass'),      # 5 ours
        ('Authentication-Results', ' mx.testing; none'),           # 6
        ('From', ' a@example.org'),
    ]
    for name, value in headers:
        m.z(b'L', name, value)
    m.call(b'N')
    m.call(b'B', b'hello\r\n')
    code, _, mods = m.call(b'E')
    if code != b'c':
        problems.append('eom reply %r' % code)
    ch = header_changes(mods)
    deletes = [(k, i, n, v) for k, i, n, v in ch if k == 'm']
    want = [('m', i, 'Authentication-Results', '') for i in (5, 3, 1)]
    if deletes != want:
        problems.append('deletes %r, want %r' % (deletes, want))
    inserts = [(i, n, v) for k, i, n, v in ch if k == 'i']
    names = [n for _, n, _ in inserts]
    if names.count('Authentication-Results') != 1:
        problems.append('inserted A-R: %r' % inserts)
    for i, n, v in inserts:
        if i != 0:
            problems.append('%s inserted at %d' % (n, i))
        if n == 'Authentication-Results':
            check_ar(v.lstrip(' '), problems)
            if not v.startswith(' '):
                problems.append('A-R value lacks its leading space')
    # The A-R is inserted last, so that it ends up on top.
    if names and names[-1] != 'Authentication-Results':
        problems.append('A-R is not the top header: %r' % names)
    # A second message on the same connection: its own forgery only.
    m.z(b'M', '<c@example.org>')
    m.z(b'R', '<d@example.net>')
    m.z(b'L', 'Authentication-Results', ' other.example; none')
    m.z(b'L', 'Authentication-Results', ' mx.test; none')
    m.call(b'N')
    code, _, mods = m.call(b'E')
    deletes = [(k, i) for k, i, n, v in header_changes(mods) if k == 'm']
    if deletes != [('m', 2)]:
        problems.append('second message deletes %r' % deletes)
    m.send(b'Q')


def reply_of(code, body):
    """The SMTP reply a 'y' answer carries, or the plain code letter."""
    if code == b'y':
        return body.rstrip(b'\0').decode('ascii', 'replace')
    return code.decode()


def session(sock, ip, helo='client.example'):
    m = Milter(sock)
    m.negotiate()
    m.macro(b'C', [('j', 'mx.test')])
    replies = [reply_of(*m.connect(helo, ip)[:2])]
    replies.append(reply_of(*m.z(b'H', helo)[:2]))
    replies.append(reply_of(*m.z(b'M', '<a@example.org>')[:2]))
    return m, replies


def message_end(m, problems):
    """Headers, body and EOM of a message; returns (code, mods)."""
    m.z(b'L', 'From', ' a@example.org')
    m.call(b'N')
    code, _, mods = m.call(b'E')
    return code, mods


LISTED = '192.0.2.99'
DNSBL_REPLY = ('554 5.7.1 Service unavailable; client [192.0.2.99] '
               'blocked using bl.test')


def py_dnsbl_delay(sock, problems):
    """DelayReject=yes: a listed client is rejected at the first RCPT TO
    (not before), and every later RCPT gets the same reply."""
    m, replies = session(sock, LISTED, 'listed.example')
    if replies != ['c', 'c', 'c']:
        problems.append('before RCPT: %r' % replies)
    for rcpt in ('<b@example.net>', '<c@example.net>'):
        r = reply_of(*m.z(b'R', rcpt)[:2])
        if r != DNSBL_REPLY:
            problems.append('RCPT %s: %r' % (rcpt, r))
    m.send(b'Q')


def py_dnsbl_nodelay(sock, problems):
    """DelayReject=no: the verdict comes at connect (so an MTA offering
    no reply at connect, HELO and MAIL is not granted it)."""
    m = Milter(sock)
    _, _, pflags = m.negotiate(SMFIP_SKIP | SMFIP_HDR_LEADSPC |
                               SMFIP_NR_EARLY)
    if pflags & SMFIP_NR_EARLY:
        problems.append('no-reply steps granted: %#x' % pflags)
    r = reply_of(*m.connect('listed.example', LISTED)[:2])
    if r != DNSBL_REPLY:
        problems.append('connect: %r' % r)
    m.send(b'Q')


def xauth_of(mods):
    for k, i, n, v in header_changes(mods):
        if k == 'i' and n == 'X-Authmilter':
            return v
    return None


def py_dnsbl_dryrun(sock, problems):
    """DryRun: the listed client is accepted; X-Authmilter says what
    would have happened and why; the log says "would reject"."""
    m, replies = session(sock, LISTED, 'listed.example')
    r = reply_of(*m.z(b'R', '<b@example.net>')[:2])
    if replies + [r] != ['c'] * 4:
        problems.append('replies %r' % (replies + [r]))
    code, mods = message_end(m, problems)
    xa = xauth_of(mods)
    if code != b'c' or xa is None or \
            'action=reject (dry-run) reason=' not in xa or \
            not xa.endswith('failed=dnsbl'):
        problems.append('eom %r, X-Authmilter %r' % (code, xa))
    if any(c == b'q' for c, _ in mods):
        problems.append('quarantined in DryRun')
    m.send(b'Q')


def py_dnsbl_tag(sock, problems):
    """DNSBLAction=tag: accepted, X-Authmilter names the failed check."""
    m, replies = session(sock, LISTED, 'listed.example')
    m.z(b'R', '<b@example.net>')
    code, mods = message_end(m, problems)
    xa = xauth_of(mods)
    if code != b'c' or xa is None or \
            not xa.endswith('action=tag failed=dnsbl') or \
            not re.search(r'; dnsbl=[a-z]+ \(score=\d+ zones=bl\.test\);',
                          xa):
        problems.append('eom %r, X-Authmilter %r' % (code, xa))
    m.send(b'Q')


def py_dnsbl_quarantine(sock, problems):
    """DNSBLAction=quarantine: not at RCPT, but at EOM with a reason."""
    m, replies = session(sock, LISTED, 'listed.example')
    r = reply_of(*m.z(b'R', '<b@example.net>')[:2])
    if r != 'c':
        problems.append('RCPT %r' % r)
    code, mods = message_end(m, problems)
    q = [b for c, b in mods if c == b'q']
    xa = xauth_of(mods)
    if code != b'c' or len(q) != 1 or not q[0].startswith(b'authmilter'):
        problems.append('eom %r, quarantine %r' % (code, q))
    if xa is None or 'action=quarantine reason=' not in xa:
        problems.append('X-Authmilter %r' % xa)
    m.send(b'Q')


def py_dns_tempfail(sock, problems):
    """OnDNSError=tempfail: a DNSBL zone that SERVFAILs gives 451 4.4.3
    at RCPT instead of letting the client through unchecked."""
    m, replies = session(sock, '192.0.2.1')
    r = reply_of(*m.z(b'R', '<b@example.net>')[:2])
    if r != '451 4.4.3 Temporary DNS failure, try again later':
        problems.append('RCPT %r' % r)
    m.send(b'Q')


def log_has(text):
    with open(DAEMON['log']) as f:
        return text in f.read()


def wait_log(text, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if log_has(text):
            return True
        time.sleep(0.02)
    return False


def ar_of(mods):
    for k, i, n, v in header_changes(mods):
        if k == 'i' and n == 'Authentication-Results':
            return v
    return None


def no_reply_pending(m, what, problems):
    """Nothing more to read from the filter within 0.3 s."""
    m.s.settimeout(0.3)
    try:
        data = m.s.recv(64)
        problems.append('%s: unexpected data %r' % (what, data))
    except socket.timeout:
        pass
    finally:
        m.s.settimeout(30)


def early_session(sock, ip, helo='client.example'):
    """A session negotiating no reply at connect, HELO and MAIL: those
    three are sent and nothing is read."""
    m = Milter(sock)
    _, _, pflags = m.negotiate(SMFIP_SKIP | SMFIP_HDR_LEADSPC |
                               SMFIP_NR_EARLY)
    m.macro(b'C', [('j', 'mx.test')])
    fam = b'6' if ':' in ip else b'4'
    m.send(b'C', helo.encode() + b'\0' + fam + struct.pack('!H', 25) +
           ip.encode() + b'\0')
    m.send(b'H', helo.encode() + b'\0')
    m.send(b'M', b'<a@example.org>\0')
    return m, pflags


def py_nr_early(sock, problems):
    """DelayReject=yes: connect, HELO and MAIL give no verdict, so their
    replies are negotiated away; the listed client's verdict and a clean
    client's acceptance both come at RCPT, with no stray replies."""
    m, pflags = early_session(sock, LISTED, 'listed.example')
    if pflags & SMFIP_NR_EARLY != SMFIP_NR_EARLY:
        problems.append('no-reply steps not granted: %#x' % pflags)
        return
    no_reply_pending(m, 'after connect/HELO/MAIL', problems)
    r = reply_of(*m.z(b'R', '<b@example.net>')[:2])
    if r != DNSBL_REPLY:
        problems.append('listed, RCPT: %r' % r)
    m.send(b'Q')
    m, _ = early_session(sock, '192.0.2.1')
    r = reply_of(*m.z(b'R', '<b@example.net>')[:2])
    if r != 'c':
        problems.append('clean, RCPT: %r' % r)
    code, mods = message_end(m, problems)
    if code != b'c' or ar_of(mods) is None:
        problems.append('clean, eom %r, A-R %r' % (code, ar_of(mods)))
    no_reply_pending(m, 'after eom', problems)
    # a second message on the connection: MAIL unanswered again
    m.send(b'M', b'<a@example.org>\0')
    r = reply_of(*m.z(b'R', '<c@example.net>')[:2])
    if r != 'c':
        problems.append('clean, second message RCPT: %r' % r)
    m.send(b'Q')


def py_drain(sock, problems):
    """SIGTERM with a session mid-message: a new connection gets 421 at
    connect, the open message completes with its header, the daemon
    then exits 0 at once."""
    proc = DAEMON['proc']
    m, replies = session(sock, '192.0.2.1')
    m.z(b'R', '<b@example.net>')
    m.z(b'L', 'From', ' a@example.org')
    # negotiated (no reply at connect) before SIGTERM, connects after
    e = Milter(sock)
    _, _, pflags = e.negotiate(SMFIP_SKIP | SMFIP_HDR_LEADSPC |
                               SMFIP_NR_EARLY)
    proc.send_signal(signal.SIGTERM)
    if not wait_log('open sessions finish'):
        problems.append('no "stopping" log line after SIGTERM')
    n = Milter(sock)
    _, _, npflags = n.negotiate(SMFIP_SKIP | SMFIP_HDR_LEADSPC |
                                SMFIP_NR_EARLY)
    if npflags & SMFIP_NR_EARLY:
        problems.append('no reply at connect granted while draining')
    r = reply_of(*n.connect('late.example', '192.0.2.2')[:2])
    if r != '421 4.3.2 Service shutting down, try again later':
        problems.append('new connection during the drain: %r' % r)
    n.send(b'Q')
    n.s.close()
    if pflags & SMFIP_NR_EARLY != SMFIP_NR_EARLY:
        problems.append('no-reply steps not granted: %#x' % pflags)
    else:
        e.macro(b'C', [('j', 'mx.test')])
        e.send(b'C', b'early.example\0' + b'4' + struct.pack('!H', 25) +
               b'192.0.2.3\0')
        e.send(b'H', b'early.example\0')
        e.send(b'M', b'<a@example.org>\0')
        r = reply_of(*e.z(b'R', '<b@example.net>')[:2])
        if r != '421 4.3.2 Service shutting down, try again later':
            problems.append('negotiated before the drain, RCPT: %r' % r)
    e.send(b'Q')
    e.s.close()
    time.sleep(0.3)
    if proc.poll() is not None:
        problems.append('exited (%d) with a session open' % proc.returncode)
    m.call(b'N')
    m.call(b'B', b'hello\r\n')
    code, _, mods = m.call(b'E')
    ar = ar_of(mods)
    if code != b'c' or ar is None:
        problems.append('open session after SIGTERM: eom %r, A-R %r' %
                        (code, ar))
    else:
        check_ar(ar.lstrip(' '), problems)
    m.send(b'Q')
    m.s.close()
    t0 = time.monotonic()
    try:
        rc = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        problems.append('still running 10 s after the last session')
        return
    if rc != 0:
        problems.append('exit status %d after the drain' % rc)
    if time.monotonic() - t0 > 2:
        problems.append('took %.1f s to exit after the last session' %
                        (time.monotonic() - t0))


def one_message(sock, i):
    m, replies = session(sock, '192.0.2.1')
    m.z(b'R', '<b@example.net>')
    code, mods = message_end(m, [])
    m.send(b'Q')
    m.s.close()
    if replies != ['c', 'c', 'c'] or code != b'c' or ar_of(mods) is None:
        return 'session %d: %r %r' % (i, replies, code)
    return None


def py_sighup_flood(sock, problems):
    """Hundreds of SIGHUPs while sessions run: none stops the milter
    (libmilter's own signal thread is parked, LIBRARIES.md 5.3), every
    session completes, and the daemon reloads."""
    proc = DAEMON['proc']
    if not wait_log("libmilter's signal thread parked"):
        problems.append("libmilter's signal thread was not parked")
    errors = []
    stop = threading.Event()

    def client(k):
        i = 0
        while not stop.is_set():
            try:
                e = one_message(sock, k * 100000 + i)
            except Exception as ex:  # a dropped session is a finding
                e = '%s: %s' % (type(ex).__name__, ex)
            if e:
                errors.append(e)
            i += 1
    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for _ in range(500):
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.002)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    if proc.poll() is not None:
        problems.append('the daemon exited (%d) under SIGHUPs' %
                        proc.returncode)
    problems.extend(errors[:5])
    if not log_has('configuration reloaded'):
        problems.append('no reload logged')
    e = one_message(sock, -1)
    if e:
        problems.append('after the SIGHUPs: ' + e)
    if log_has('stopped unasked'):
        problems.append('the milter loop stopped on a SIGHUP')


def py_dkim_trimmed(sock, problems):
    """An MTA that does not offer HDR_LEADSPC (header values arrive
    without the space after the colon): DKIM still verifies, because
    filter.c sets conn->hdr_trimmed and the space is put back."""
    with open(os.path.join(HERE, 'dkim-test.key'), 'rb') as f:
        key = f.read()
    msg = (b'From: a@example.org\r\nTo: b@example.net\r\n'
           b'Subject:  two  spaces\r\n\r\nhello\r\n')
    for canon in ((b'simple', b'simple'), (b'relaxed', b'relaxed')):
        sig = dkim.sign(msg, b't1', b'example.org', key, canonicalize=canon,
                        include_headers=[b'from', b'to', b'subject'])
        name, value = sig.decode().rstrip('\r\n').split(':', 1)
        m = Milter(sock)
        steps = m.negotiate(SMFIP_SKIP)[2]
        if steps & SMFIP_HDR_LEADSPC:
            problems.append('HDR_LEADSPC negotiated though not offered')
        m.macro(b'C', [('j', 'mx.test')])
        m.connect('client.example', '192.0.2.1')
        m.z(b'H', 'client.example')
        m.z(b'M', '<a@example.org>')
        m.z(b'R', '<b@example.net>')
        hdrs = [(name, value.lstrip(' ')), ('From', 'a@example.org'),
                ('To', 'b@example.net'), ('Subject', ' two  spaces')]
        for n, v in hdrs:
            m.z(b'L', n, v)
        m.call(b'N')
        m.call(b'B', b'hello\r\n')
        code, _, mods = m.call(b'E')
        ar = ar_of(mods)
        if code != b'c' or ar is None or 'dkim=pass' not in ar:
            problems.append('%s: eom %r, A-R %r' % (canon[0].decode(), code,
                                                    ar))
        m.send(b'Q')
        m.s.close()


INTERNAL_REPLY = '451 4.3.0 Temporary local problem, try again later'
SMFIP_NR_HDR, SMFIP_NR_EOH = 0x80, 0x40000


def py_internal_error(sock, problems):
    """SPEC "Replies": a failure inside authmilter tempfails with
    451 4.3.0, never accepts or discards. The trigger: more forged
    A-R headers than the filter can track (FILTER_MAX_AR, 100000), which
    it must not deliver with a forgery left in. Headers go without
    replies (NR_HDR, NR_EOH) so the 100001 of them take a moment only.
    A later message on the same connection is checked as usual."""
    m = Milter(sock)
    steps = m.negotiate(SMFIP_SKIP | SMFIP_HDR_LEADSPC | SMFIP_NR_HDR |
                        SMFIP_NR_EOH)[2]
    if steps & (SMFIP_NR_HDR | SMFIP_NR_EOH) != (SMFIP_NR_HDR |
                                                  SMFIP_NR_EOH):
        problems.append('negotiate: NR_HDR/NR_EOH not taken: %#x' % steps)
        return
    m.macro(b'C', [('j', 'mx.test')])
    m.connect('client.example', '192.0.2.10')
    m.z(b'H', 'client.example')
    m.z(b'M', '<a@example.org>')
    m.z(b'R', '<b@example.net>')
    hdr = b'Authentication-Results\0 mx.test; none\0'
    one = struct.pack('!I', 1 + len(hdr)) + b'L' + hdr
    m.s.sendall(one * 100001)
    m.send(b'L', b'From\0 a@example.org\0')
    m.send(b'N')
    code, body, mods = m.call(b'E')
    if reply_of(code, body) != INTERNAL_REPLY:
        problems.append('eom with 100001 forgeries: %r, want %r' %
                        (reply_of(code, body), INTERNAL_REPLY))
    changed = sorted({c for c, _ in mods if c in (b'i', b'h', b'm', b'q')})
    if changed:
        problems.append('tempfailed message was modified: %d changes '
                        '(%r)' % (len(mods), changed))
    # the next message of the session is not affected
    m.z(b'M', '<c@example.org>')
    m.z(b'R', '<d@example.net>')
    m.send(b'L', b'From\0 c@example.org\0')
    m.send(b'N')
    code, body, mods = m.call(b'E')
    if code != b'c' or ar_of(mods) is None:
        problems.append('next message: %r, A-R %r' %
                        (reply_of(code, body), ar_of(mods)))
    m.send(b'Q')


SMFIP_NR_BODY = 0x80000


def py_nr_body(sock, problems):
    """NR_BODY offered: taken, and SKIP given up for it (SKIP is a reply).
    Body chunks then get no reply at all: nothing is waiting on the
    socket after three chunks, and end of message answers as usual with
    the A-R header. A second message goes the same way."""
    m = Milter(sock)
    steps = m.negotiate(SMFIP_SKIP | SMFIP_HDR_LEADSPC | SMFIP_NR_BODY)[2]
    if not steps & SMFIP_NR_BODY or steps & SMFIP_SKIP:
        problems.append('negotiate: want NR_BODY without SKIP, got %#x' %
                        steps)
        return
    m.macro(b'C', [('j', 'mx.test')])
    m.connect('client.example', '192.0.2.10')
    m.z(b'H', 'client.example')
    for n in range(2):
        m.z(b'M', '<a@example.org>')
        m.z(b'R', '<b@example.net>')
        m.z(b'L', 'From', ' a@example.org')
        m.call(b'N')
        for _ in range(3):
            m.send(b'B', b'x' * 1000 + b'\r\n')
        m.s.settimeout(0.3)
        try:
            stray = m.s.recv(64)
        except socket.timeout:
            stray = None
        m.s.settimeout(30)
        if stray is not None:
            problems.append('message %d: reply to a body chunk: %r' %
                            (n, stray))
            return
        code, body, mods = m.call(b'E')
        if code != b'c' or ar_of(mods) is None:
            problems.append('message %d: eom %r, A-R %r' %
                            (n, reply_of(code, body), ar_of(mods)))
    m.send(b'Q')


def qlog_has(text, timeout):
    """Whether the test DNS server's query log shows text (waits)."""
    path = os.environ.get('AM_TEST_DNS_QLOG')
    end = time.monotonic() + timeout
    while path:
        if os.path.exists(path):
            with open(path) as f:
                if text in f.read():
                    return True
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return False


def py_spf_progress(sock, problems):
    """An SPF include goes out as soon as the record naming it is in,
    not at end of message: spfchain.test's record (answered after
    300 ms) includes _s1.inc.test; with SPFFailAction none nothing waits
    for SPF before end of message, yet the include's record must have
    been asked (by the RCPT hook, 500 ms after MAIL) before EOM is
    sent. The verdict is then spf=pass."""
    m = Milter(sock)
    m.negotiate()
    m.macro(b'C', [('j', 'mx.test')])
    m.connect('client.example', '192.0.2.1')
    m.z(b'H', 'client.example')
    m.z(b'M', '<a@spfchain.test>')
    time.sleep(0.5)
    m.z(b'R', '<b@example.net>')
    if not qlog_has('_s1.inc.test TXT answered', 3.0):
        problems.append('the include _s1.inc.test was not asked before '
                        'end of message')
    m.z(b'L', 'From', ' a@spfchain.test')
    m.call(b'N')
    code, body, mods = m.call(b'E')
    ar = ar_of(mods) or ''
    if 'spf=pass' not in ar:
        problems.append('eom %r, A-R %r' % (reply_of(code, body), ar))
    m.send(b'Q')


def task_nices(pid):
    """{thread id: (name, nice)} of a process, from /proc."""
    out = {}
    for tid in os.listdir('/proc/%d/task' % pid):
        with open('/proc/%d/task/%s/stat' % (pid, tid)) as f:
            st = f.read()
        name = st[st.index('(') + 1:st.rindex(')')]
        fields = st[st.rindex(')') + 2:].split()
        out[int(tid)] = (name, int(fields[16]))  # field 19: nice
    return out


def py_session_nice(sock, problems):
    """Session threads run 5 nice steps below the process; the main
    thread and the DNS dispatcher (authmilter-dns) keep its priority."""
    m, replies = session(sock, '192.0.2.1')
    m.z(b'R', '<b@example.net>')
    message_end(m, problems)
    pid = DAEMON['proc'].pid
    nices = task_nices(pid)
    base = nices[pid][1]
    dispatcher = [n for name, n in nices.values() if name == 'authmilter-dns']
    if dispatcher != [base]:
        problems.append('dispatcher nice %r, process %d' % (dispatcher, base))
    want = min(base + 5, 19)
    if not any(n == want for tid, (name, n) in nices.items()
               if tid != pid and name != 'authmilter-dns'):
        problems.append('no session thread at nice %d: %r' % (want, nices))
    m.send(b'Q')


# Log lines the scenarios must leave (regular expressions).
SCENARIO_LOG = {
    'dnsbl-delay': [r'reject by dnsbl: 554 5\.7\.1 ',
                    r'ip=192\.0\.2\.99 .*dnsbl=listed .*action=reject '],
    'dnsbl-nodelay': [r'ip=192\.0\.2\.99 .*action=reject '],
    'dnsbl-dryrun': [r'ip=192\.0\.2\.99 .*action="would reject" '],
    'dnsbl-quarantine': [r'action=quarantine '],
    'dns-tempfail': [r'tempfail by dnsbl: 451 4\.4\.3 '],
    'internal-error': [r'internal error in forged headers'],
}

SCENARIOS = {
    'forged': py_forged,
    'dnsbl-delay': py_dnsbl_delay,
    'dnsbl-nodelay': py_dnsbl_nodelay,
    'dnsbl-dryrun': py_dnsbl_dryrun,
    'dnsbl-tag': py_dnsbl_tag,
    'dnsbl-quarantine': py_dnsbl_quarantine,
    'dns-tempfail': py_dns_tempfail,
    'drain': py_drain,
    'nr-early': py_nr_early,
    'nr-body': py_nr_body,
    'spf-progress': py_spf_progress,
    'session-nice': py_session_nice,
    'sighup-flood': py_sighup_flood,
    'dkim-trimmed': py_dkim_trimmed,
    'internal-error': py_internal_error,
}


def main():
    daemon, test = sys.argv[1], sys.argv[2]
    if test.endswith('.lua') and shutil.which('miltertest') is None:
        print('SKIP: miltertest(8) is not installed (Debian package '
              'miltertest, listed in tests/packages.txt)')
        sys.exit(77)
    extra = []
    args = sys.argv[3:]
    while args:
        if args[0] == '-o':
            extra.append(args[1])
            args = args[2:]
        else:
            raise SystemExit('usage: run_milter.py DAEMON TEST [-o K=V]')
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, sock = start_daemon(daemon, tmp, extra)
        DAEMON['proc'] = proc
        DAEMON['log'] = os.path.join(tmp, 'log')
        try:
            if test.endswith('.lua'):
                run_lua(test, sock, None, problems)
            else:
                SCENARIOS[test](sock, problems)
        except Exception as e:  # a protocol failure is a test failure
            problems.append('%s: %s' % (type(e).__name__, e))
        finally:
            rc = stop_daemon(proc)
        if rc != 0:
            problems.append('daemon exit status %d' % rc)
        with open(os.path.join(tmp, 'log')) as f:
            logtext = f.read()
    sys.stdout.write(logtext)
    want = lua_log_expectations(test) if test.endswith('.lua') else \
        SCENARIO_LOG.get(test, [])
    for rx in want:
        if not re.search(rx, logtext, re.M):
            problems.append('no log line matches %r' % rx)
    for p in problems:
        print('FAIL: ' + p)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
