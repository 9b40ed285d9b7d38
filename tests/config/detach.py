#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""Without -f the daemon goes to the background (SPEC "Command line":
-f is what keeps it in the foreground): the starting process exits 0 once
the socket listens, the daemon runs on in its own session with the PID
of the PidFile; a start failure still gives exit status 1."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


def gone(pid):
    """Ended: no such process, or a zombie waiting for init."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except FileNotFoundError:
        return True


def main():
    daemon = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        sock = os.path.join(d, 'am.sock')
        pidf = os.path.join(d, 'am.pid')
        logf = os.path.join(d, 'log')
        keys = ['-o', f'Socket=unix:{sock}', '-o', f'PidFile={pidf}',
                '-o', 'Syslog=no', '-o', 'Resolver=forward 127.0.0.1@9']
        with open(logf, 'w') as log:
            p = subprocess.Popen([daemon, '-c', '/dev/null'] + keys,
                                 stderr=log, stdin=subprocess.DEVNULL)
            try:
                rc = p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.terminate()
                p.wait()
                raise AssertionError('still in the foreground after 20 s '
                                     'without -f')
        assert rc == 0, f'starting process exit status {rc}'
        # it exits only once the daemon listens: no wait needed
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        s.close()
        with open(pidf) as f:
            pid = int(f.read())
        try:
            assert pid != p.pid, 'the daemon is the starting process'
            assert not gone(pid), 'the daemon is not running'
            assert os.getsid(pid) == pid, 'not in a session of its own'
        finally:
            os.kill(pid, signal.SIGTERM)
        t0 = time.monotonic()
        while not gone(pid) and time.monotonic() - t0 < 20:
            time.sleep(0.05)
        assert gone(pid), 'the daemon did not stop on SIGTERM'
        with open(logf) as f:
            text = f.read()
        # Syslog no: the log stays on the stderr it was started with
        assert 'listening on unix:' in text, text
        assert 'exiting with status 0' in text, text
        assert 'Sanitizer' not in text, text

        # a start failure reaches the starting process
        bad = ['-o', f'Socket=unix:{d}/no/such/dir/s', '-o', 'Syslog=no',
               '-o', 'Resolver=forward 127.0.0.1@9']
        r = subprocess.run([daemon, '-c', '/dev/null'] + bad,
                           stderr=subprocess.PIPE, timeout=20,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 1, f'bad socket: exit status {r.returncode}'
        assert b'cannot open milter socket' in r.stderr, r.stderr
    print('ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
