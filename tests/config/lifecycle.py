#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""lifecycle.py AUTHMILTER: start, reload and stop the real daemon.

Starts authmilter in the foreground on a unix socket in a private
directory (no port, no DNS traffic), then checks: the PID file holds its
pid; the socket accepts a connection with the SocketMode asked for; a
SIGHUP with a good file reloads (and warns about a Resolver change); a
SIGHUP with a bad file logs FILE:LINE and keeps serving; a milter session
that negotiated and quit is counted closed; SIGTERM then exits with
status 0 at once (within a second: no drain wait, and no wait for
libmilter's 5 s listener poll) and removes the PID file.

SIGTERM with a session still open is tests/milter's "drain" scenario.
"""
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time


def wait_for(pred, what, proc, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        if proc.poll() is not None:
            raise AssertionError(f'exited ({proc.returncode}) waiting '
                                 'for ' + what)
        time.sleep(0.05)
    raise AssertionError('timed out waiting for ' + what)


def connects(path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def milter_session(path):
    """Open a milter connection and complete option negotiation."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    body = b'O' + struct.pack('>III', 6, 0x1ff, 0x1fffff)
    s.sendall(struct.pack('>I', len(body)) + body)
    n = struct.unpack('>I', s.recv(4))[0]
    reply = b''
    while len(reply) < n:
        reply += s.recv(n - len(reply))
    assert reply[:1] == b'O', f'negotiation reply {reply[:1]!r}'
    return s


def main():
    daemon = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, 'authmilter.conf')
        sock = os.path.join(d, 'am.sock')
        pidf = os.path.join(d, 'am.pid')
        logf = os.path.join(d, 'log')
        with open(conf, 'w') as f:
            f.write(f'Socket unix:{sock}\nSocketMode 0600\nPidFile {pidf}\n'
                    'Resolver forward 127.0.0.1@9\nAuthservID mx.test\n')
        # A stale socket from a previous run must not stop it.
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(sock)
        stale.close()
        log = open(logf, 'w')
        p = subprocess.Popen([daemon, '-f', '-c', conf], stderr=log)

        def logtext():
            with open(logf) as f:
                return f.read()
        try:
            wait_for(lambda: os.path.exists(pidf) and
                     os.path.getsize(pidf) > 0, 'the PID file', p)
            with open(pidf) as f:
                assert int(f.read()) == p.pid, 'PID file content'
            wait_for(lambda: connects(sock), 'the milter socket', p)
            mode = stat.S_IMODE(os.stat(sock).st_mode)
            assert mode == 0o600, f'socket mode {mode:o}'

            with open(conf, 'a') as f:
                f.write('LogLevel debug\n')
            os.kill(p.pid, signal.SIGHUP)
            wait_for(lambda: 'configuration reloaded' in logtext(),
                     'a good reload', p)

            good = open(conf).read()
            with open(conf, 'w') as f:
                f.write(good + 'NoSuchKeyword 1\n')
            os.kill(p.pid, signal.SIGHUP)
            wait_for(lambda: 'reload failed' in logtext(), 'a bad reload', p)
            assert f'{conf}:7: unknown keyword "NoSuchKeyword"' in \
                logtext(), 'FILE:LINE of the bad reload'
            assert p.poll() is None, 'died on a bad reload'
            assert connects(sock), 'stopped listening after a bad reload'

            with open(conf, 'w') as f:
                f.write(good.replace('127.0.0.1@9', '127.0.0.2@9'))
            os.kill(p.pid, signal.SIGHUP)
            wait_for(lambda: 'reload: Resolver changed: takes effect at the next restart' in
                     logtext(), 'the resolver warning', p)
            assert connects(sock), 'stopped listening after reloads'

            sess = milter_session(sock)
            quit_cmd = b'Q'
            sess.sendall(struct.pack('>I', len(quit_cmd)) + quit_cmd)
            sess.close()
            time.sleep(0.3)
            t0 = time.monotonic()
            os.kill(p.pid, signal.SIGTERM)
            rc = p.wait(timeout=30)
            took = time.monotonic() - t0
            assert rc == 0, f'exit status {rc}'
            assert took < 2.0, f'took {took:.1f} s to stop when idle'
            assert 'waiting for' not in logtext(), 'a closed session ' \
                'was still counted open'
            assert not os.path.exists(pidf), 'PID file left behind'
        except (AssertionError, subprocess.TimeoutExpired) as e:
            print('FAIL:', e)
            print(logtext())
            p.kill()
            p.wait()
            sys.exit(1)
        print(logtext())


if __name__ == '__main__':
    main()
