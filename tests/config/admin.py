#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""admin.py AUTHMILTER: what an administrator maintains (issue 16).

- file:PATH lists: -n names an error in the list file as PATH:LINE, a
  missing file at the line of the keyword; a good file passes.
- SocketGroup: the unix socket gets the group asked for.
- A running daemon re-reads a list file on SIGHUP: a bad line is logged
  as PATH:LINE and the old configuration stays; the reload log line
  names the keys that changed, and a restart-only key (SocketMode) is
  logged at warning as taking effect at the next restart.
- With JOURNAL_STREAM naming stderr (as systemd sets it), every line
  starts with its sd-daemon priority: <6> info, <4> warning, <3> error,
  so `journalctl -p warning` shows warnings and errors only. Without it
  (stderr redirected elsewhere) there is no prefix.
"""
import grp
import os
import re
import signal
import subprocess
import sys
import tempfile


# The daemon-lifecycle test's helpers (same directory).
from lifecycle import connects, wait_for  # noqa: E402


def check_n(daemon, conf):
    p = subprocess.run([daemon, '-n', '-c', conf], capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stderr.splitlines()


def test_n(daemon, d):
    hosts = os.path.join(d, 'internal-hosts')
    exempt = os.path.join(d, 'exempt')
    names = os.path.join(d, 'names')
    with open(hosts, 'w') as f:
        f.write('# the office\n10.1.0.0/16\n\n192.0.2.7  # printer\n'
                '10.2.0.0/33\n')
    with open(exempt, 'w') as f:
        f.write('postmaster@\nabuse@example.org\nno-at-sign\n')
    with open(names, 'w') as f:
        f.write('secret-key.bl.test public-bl\nsecret-key.bl.test\n')
    conf = os.path.join(d, 'bad.conf')
    with open(conf, 'w') as f:
        f.write(f'InternalHosts ::1, file:{hosts}\n'
                f'ExemptRecipients file:{exempt}\n'
                f'DMARCExemptDomains file:{d}/missing\n'
                'DNSBL secret-key.bl.test\n'
                f'DNSBLReplyName file:{names}\n'
                'ExemptRecipients file:relative/path\n')
    rc, err = check_n(daemon, conf)
    want = [
        f'{hosts}:5: InternalHosts: "10.2.0.0/33": '
        'bad prefix length',
        f'{exempt}:3: ExemptRecipients: "no-at-sign": expected local@ or '
        'local@domain',
        f'{conf}:3: DMARCExemptDomains: cannot open {d}/missing: '
        'No such file or directory',
        f'{names}:2: DNSBLReplyName: expected ZONE NAME',
        f'{conf}:6: ExemptRecipients: file:relative/path: expected an '
        'absolute path',
    ]
    assert rc == 1, f'-n exit {rc}'
    assert err == want, 'stderr:\n  ' + '\n  '.join(err)
    assert not any('secret-key' in line for line in err), \
        'a DNSBLReplyName error shows the zone'

    with open(hosts, 'w') as f:
        f.write('10.1.0.0/16\n')
    with open(exempt, 'w') as f:
        f.write('postmaster@\n')
    with open(names, 'w') as f:
        f.write('secret-key.bl.test public-bl\n')
    good = os.path.join(d, 'good.conf')
    with open(good, 'w') as f:
        f.write(f'InternalHosts file:{hosts}\n'
                f'ExemptRecipients file:{exempt}\n'
                f'DNSBLReplyName file:{names}\n')
    rc, err = check_n(daemon, good)
    assert rc == 0 and err == [], f'good config: {rc} {err}'


def test_daemon(daemon, d):
    conf = os.path.join(d, 'authmilter.conf')
    sock = os.path.join(d, 'am.sock')
    exempt = os.path.join(d, 'exempt-run')
    logf = os.path.join(d, 'log')
    group = grp.getgrgid(os.getgid()).gr_name
    other = [g for g in os.getgroups() if g != os.getgid()]
    if os.geteuid() == 0:
        # root may give the socket any group
        want_gid = grp.getgrnam('nogroup').gr_gid if 'nogroup' in \
            [g.gr_name for g in grp.getgrall()] else os.getgid()
    elif other:
        want_gid = other[0]
    else:
        want_gid = os.getgid()
    group = grp.getgrgid(want_gid).gr_name
    with open(exempt, 'w') as f:
        f.write('postmaster@\n')
    base = (f'Socket unix:{sock}\nSocketMode 0660\nSocketGroup {group}\n'
            'Resolver forward 127.0.0.1@9\nAuthservID mx.test\n'
            f'ExemptRecipients file:{exempt}\n')
    with open(conf, 'w') as f:
        f.write(base)
    log = open(logf, 'w')
    # stderr is the log file: a JOURNAL_STREAM that names it, as systemd
    # names the journal's stream
    st = os.fstat(log.fileno())
    env = dict(os.environ, JOURNAL_STREAM=f'{st.st_dev}:{st.st_ino}')
    p = subprocess.Popen([daemon, '-f', '-c', conf], stderr=log, env=env)

    def logtext():
        with open(logf) as f:
            return f.read()
    try:
        wait_for(lambda: connects(sock), 'the milter socket', p)
        assert os.stat(sock).st_gid == want_gid, 'SocketGroup not applied'

        with open(exempt, 'w') as f:
            f.write('postmaster@\nbad entry here\n')
        os.kill(p.pid, signal.SIGHUP)
        wait_for(lambda: 'reload failed' in logtext(), 'a failed reload', p)
        assert re.search(r'^<3>\S+ error: ' + re.escape(
            f'{exempt}:2: ExemptRecipients: "bad": expected local@'),
            logtext(), re.M), 'PATH:LINE of the list file at error priority'

        with open(exempt, 'w') as f:
            f.write('postmaster@\nabuse@\n')
        with open(conf, 'w') as f:
            f.write(base.replace('SocketMode 0660', 'SocketMode 0600'))
        os.kill(p.pid, signal.SIGHUP)
        wait_for(lambda: 'configuration reloaded' in logtext(),
                 'a good reload', p)
        text = logtext()
        assert re.search(r'^<4>\S+ warning: reload: SocketMode changed: '
                         r'takes effect at the next restart', text, re.M), \
            'restart-only key not logged at warning'
        assert re.search(r'^<6>\S+ info: reload: ExemptRecipients$', text,
                         re.M), 'changed keys not named'
        lines = [line for line in text.splitlines() if line]
        assert all(re.match(r'<[3467]>', line) for line in lines), \
            'a line without its priority: ' + \
            next(line for line in lines if not re.match(r'<\d>', line))
        for line in lines:
            prio = int(line[1])
            level = line.split(' ', 2)[1].rstrip(':')
            assert {'error': 3, 'warning': 4, 'info': 6,
                    'debug': 7}[level] == prio, line
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
        log.close()

    # stderr elsewhere than the stream JOURNAL_STREAM names: no prefix
    with open(logf, 'w') as log2:
        env = dict(os.environ, JOURNAL_STREAM='1:1')
        out = subprocess.run([daemon, '-f', '-c', conf, '-o',
                              'Socket=inet:1@256.0.0.1'],
                             stderr=log2, env=env, timeout=30)
    text = logtext()
    assert out.returncode != 0
    assert text and not re.search(r'^<\d>', text, re.M), text


def main():
    daemon = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        test_n(daemon, d)
        test_daemon(daemon, d)
    print("ok")


if __name__ == '__main__':
    main()
