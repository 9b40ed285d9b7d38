#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""parity - the daemon and authmilter-explain give the same verdict.

    parity.py DAEMON EXPLAIN

Both drive one engine (milter/engine_session.c): the daemon through
libmilter's callbacks (filter.c), the explain tool from a message file
(explain_main.c). For each case below, the message goes to the daemon
through the milter protocol as Postfix hands it over (milterproto.py)
and to authmilter-explain with the same envelope and configuration,
against the same DNS world (oracle.py's, served by dnsd), and the two
must agree on: the verdict (accept, quarantine, reject, tempfail), the
reply of a refusal, how many forged Authentication-Results headers go,
and every header added, name and value. Exit status 1 on any
difference, with both sides printed.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import milterproto as mp  # noqa: E402
import oracle  # noqa: E402

ATK_IP = '192.0.2.10'
LISTED_IP = '192.0.2.11'
ATK_HOST = oracle.client_name(ATK_IP)


def message(froms, extra=(), sign_as=None):
    """A message (CRLF) with the From: fields froms, as raw lines."""
    lines = ['%s: %s' % hv for hv in extra]
    lines += [f for f in froms]
    lines += ['To: <rcpt@dest.test>', 'Subject: parity',
              'Date: Sun, 06 Dec 2026 00:00:00 +0000',
              'Message-ID: <parity@atk.test>']
    raw = ('\r\n'.join(lines) + '\r\n\r\nHello.\r\n').encode()
    if sign_as is not None:
        sig = oracle.sign(raw, sign_as)
        assert sig is not None, 'dkimpy did not sign'
        raw = ('%s:%s\r\n' % sig).encode() + raw
    return raw


# name, -o keys, client ip, MAIL FROM, SASL login, message
CASES = [
    ('pass', (), ATK_IP, 'b@atk.test', None,
     lambda: message(['From: <a@atk.test>'], sign_as='atk.test')),
    ('dmarc-reject', (), ATK_IP, 'b@atk.test', None,
     lambda: message(['From: Bank <ceo@bank.test>'], sign_as='atk.test')),
    ('dnsbl-reject', ('DNSBL=bl.test',), LISTED_IP, 'b@atk.test', None,
     lambda: message(['From: <a@atk.test>'])),
    ('quarantine', (), ATK_IP, 'b@atk.test', None,
     lambda: message(['From: <a@q.test>'])),
    ('internal-host', (), '127.0.0.1', 'b@atk.test', None,
     lambda: message(['From: Bank <ceo@bank.test>'], extra=[
         ('Authentication-Results', 'mx.oracle.test; dmarc=pass')])),
    ('authenticated', (), ATK_IP, 'b@atk.test', 'user@atk.test',
     lambda: message(['From: Bank <ceo@bank.test>'])),
    ('forged-ar', (), ATK_IP, 'b@atk.test', None,
     lambda: message(['From: <a@atk.test>'], extra=[
         ('Authentication-Results', 'other.test; spf=pass'),
         ('Authentication-Results', 'MX.Oracle.Test; dmarc=pass'),
         ('Authentication-Results', '"mx.oracle.test"; dkim=pass')],
         sign_as='atk.test')),
    ('dry-run', ('DryRun=yes',), ATK_IP, 'b@atk.test', None,
     lambda: message(['From: Bank <ceo@bank.test>'])),
    ('obsolete-from-space', (), ATK_IP, 'b@atk.test', None,
     lambda: message(['From: <a@atk.test>', 'From : <ceo@bank.test>'],
                     sign_as='atk.test')),
    ('spf-fail-reject', ('SPFFailAction=reject',), ATK_IP,
     'x@bank.test', None, lambda: message(['From: <a@atk.test>'])),
]


def extra_zone(z):
    """The records these cases need beyond oracle.py's world."""
    recs = z['records']
    recs.append({'name': '11.2.0.192.bl.test', 'type': 'A',
                 'data': '127.0.0.2'})
    recs.append({'name': '_dmarc.q.test', 'type': 'TXT',
                 'data': 'v=DMARC1; p=quarantine'})
    recs.append({'name': 'q.test', 'type': 'A', 'data': '192.0.2.252'})
    return z


def split_headers(raw):
    """(name, value) of each header, value after the colon with CRLF
    folds, as milterproto.header() wants them; and the body."""
    head, _, body = raw.partition(b'\r\n\r\n')
    out = []
    for line in head.decode().split('\r\n'):
        if line[:1] in (' ', '\t') and out:
            out[-1][1] += '\r\n' + line
        else:
            name, _, value = line.partition(':')
            out.append([name, value])
    return [tuple(h) for h in out], body


def via_daemon(sock, ip, mail, auth, raw):
    m = mp.Milter(sock)
    m.negotiate()
    m.macro(mp.SMFIC_CONNECT, [('j', oracle.AUTHSERV_ID),
                               ('{client_addr}', ip)])
    host = 'localhost' if ip.startswith('127.') else oracle.client_name(ip)
    seen = {'verdict': None, 'reply': None, 'removed': 0, 'headers': []}

    def refused(r):
        if not r.refuses:
            return False
        seen['verdict'] = 'reject' if r.kind() == 'reject' else 'tempfail'
        seen['reply'] = r.smtp or None
        return True

    if refused(m.connect(host, ip)) or refused(m.helo(host)):
        return seen
    if auth is not None:
        m.macro(mp.SMFIC_MAIL, [('{auth_authen}', auth)])
    if refused(m.mail('<%s>' % mail)):
        return seen
    if refused(m.rcpt('<rcpt@dest.test>')):
        return seen
    m.macro(mp.SMFIC_DATA, [('i', 'PARITY1')])
    m.data()
    headers, body = split_headers(raw)
    for name, value in headers:
        if refused(m.header(name, value)):
            return seen
    if refused(m.eoh()) or refused(m.body(body)):
        return seen
    r = m.eom()
    m.quit()
    if refused(r):
        return seen
    seen['verdict'] = 'quarantine' if r.quarantined() else 'accept'
    seen['removed'] = sum(1 for c, d in r.mods
                          if c == mp.SMFIR_CHGHEADER)
    for c, d in r.mods:
        if c == mp.SMFIR_INSHEADER:
            name, value = d[4:].split(b'\0')[:2]
            # inserted at index 0 from the bottom up: prepend
            seen['headers'].insert(0, (name.decode(),
                                       value.decode().lstrip(' ')))
    return seen


def via_explain(explain, dnsport, keys, ip, mail, auth, raw, tmp):
    path = os.path.join(tmp, 'parity.eml')
    with open(path, 'wb') as f:
        f.write(raw.replace(b'\r\n', b'\n'))
    args = [explain, '-c', '/dev/null', '-o',
            'AuthservID=' + oracle.AUTHSERV_ID,
            '-o', 'Resolver=forward 127.0.0.1@%d' % dnsport,
            '--json', '--ip', ip, '--helo',
            'localhost' if ip.startswith('127.') else oracle.client_name(ip),
            '--from', mail, '--rcpt', 'rcpt@dest.test',
            '--hostname', oracle.AUTHSERV_ID]
    for kv in keys:
        args += ['-o', kv]
    if auth is not None:
        args += ['--auth', auth]
    p = subprocess.run(args + [path], capture_output=True, text=True,
                       timeout=60)
    if p.returncode >= 64:
        raise RuntimeError('explain failed (%d): %s' % (p.returncode,
                                                        p.stderr))
    j = json.loads(p.stdout)
    v = j['verdict']
    seen = {'verdict': v['action'], 'reply': None,
            'removed': j['remove_forged'], 'headers': []}
    if 'reply' in v:
        seen['reply'] = '%s %s %s' % (v['reply']['code'],
                                      v['reply']['xcode'],
                                      v['reply']['text'])
    if v['action'] in ('reject', 'tempfail'):
        seen['removed'] = 0
    for h in j['headers']:
        seen['headers'].append((h['name'], h['value']))
    return seen


def main():
    daemon, explain = sys.argv[1], sys.argv[2]
    failures = 0
    orig_zone = oracle.world_zone
    oracle.world_zone = lambda: extra_zone(orig_zone())
    for name, keys, ip, mail, auth, build in CASES:
        srv = oracle.Servers(daemon, extra_conf=keys)
        try:
            srv.start()
            dnsport = int(open(os.path.join(srv.tmp, 'dns.port')).read())
            raw = build()
            d = via_daemon(srv.sock, ip, mail, auth, raw)
            e = via_explain(explain, dnsport, keys, ip, mail, auth, raw,
                            srv.tmp)
        finally:
            rc = srv.stop()
        same = d == e and rc == 0
        print('%-22s %s: daemon %s%s, explain %s%s, %d header(s) added, '
              '%d forged removed'
              % (name, 'same' if same else 'DIFFERENT', d['verdict'],
                 ' (%s)' % d['reply'] if d['reply'] else '',
                 e['verdict'], ' (%s)' % e['reply'] if e['reply'] else '',
                 len(d['headers']), d['removed']))
        if not same:
            failures += 1
            print('  daemon:  %r\n  explain: %r\n  daemon exit %r'
                  % (d, e, rc))
    print('%d of %d cases differ' % (failures, len(CASES)))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
