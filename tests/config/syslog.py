#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""syslog.py AUTHMILTER: without -f (in the background) and with Syslog
yes (the default), the daemon logs to syslog: facility mail, ident "authmilter[PID]", one
datagram per line, severities matching the levels, and a SIGHUP reload and
the SIGTERM exit are logged there (nothing on stderr).

It listens on /dev/log itself, so it runs only where no system logger owns
that socket (a CI machine or container); elsewhere it skips (exit 77)
rather than disturb the host's logger.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

DEVLOG = "/dev/log"
LOG_MAIL = 2
SEV = {"error": 3, "warning": 4, "info": 6, "debug": 7}


class Daemon:
    """The background daemon, known by its PID (not our child)."""

    def __init__(self, pid):
        self.pid = pid

    def send_signal(self, sig):
        os.kill(self.pid, sig)

    def poll(self):
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            return 0 if state == "Z" else None
        except FileNotFoundError:
            return 0

    def wait(self, timeout):
        end = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > end:
                raise AssertionError("daemon %d did not exit" % self.pid)
            time.sleep(0.05)


def main():
    if os.path.exists(DEVLOG) or os.path.islink(DEVLOG):
        print("SKIP: %s exists (a system logger owns it)" % DEVLOG)
        return 77
    if os.geteuid() != 0:
        print("SKIP: creating %s needs root" % DEVLOG)
        return 77
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        lsock.bind(DEVLOG)
    except OSError as e:
        print("SKIP: cannot bind %s: %s" % (DEVLOG, e))
        return 77
    lsock.settimeout(0.2)
    got = []
    tmp = tempfile.mkdtemp(prefix="am-syslog.")
    sockpath = os.path.join(tmp, "milter.sock")
    proc = None
    try:
        pidfile = os.path.join(tmp, "am.pid")
        # Without -f the daemon goes to the background: the starting
        # process exits 0 once the socket listens; the PidFile names the
        # daemon.
        start = subprocess.Popen(
            [sys.argv[1], "-o", "Socket=unix:" + sockpath,
             "-o", "LogLevel=info", "-o", "PidFile=" + pidfile],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, err = start.communicate(timeout=30)
        if start.returncode != 0:
            raise AssertionError("start exited %d: %r"
                                 % (start.returncode, err))
        if err.strip():
            raise AssertionError("stderr not empty with syslog: %r" % err)
        with open(pidfile, encoding="ascii") as f:
            proc = Daemon(int(f.read().strip()))

        def collect(pred, what, timeout=10.0):
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                try:
                    got.append(lsock.recv(65536).decode("ascii"))
                except socket.timeout:
                    pass
                if any(pred(m) for m in got):
                    return
            raise AssertionError("no syslog line for %s; got %r"
                                 % (what, got))

        collect(lambda m: "built-in defaults" in m, "the startup")
        proc.send_signal(signal.SIGHUP)
        collect(lambda m: "reload" in m, "the reload")
        proc.send_signal(signal.SIGTERM)
        collect(lambda m: "exiting with status 0" in m, "the exit")
        proc.wait(timeout=20)
        ours = 0
        for m in got:
            mm = re.match(r"<(\d+)>.*?authmilter\[(\d+)\]: "
                          r"(error|warning|info|debug): ", m)
            if not mm:
                # libmilter logs through the same openlog() ident (e.g.
                # its worker pool's "TASKMGR_LOCK error" while it shuts
                # down); those lines are not ours to format.
                print("libmilter: " + m.rstrip("\n"))
                continue
            ours += 1
            pri, pid, level = int(mm.group(1)), int(mm.group(2)), \
                mm.group(3)
            if pri >> 3 != LOG_MAIL:
                raise AssertionError("facility %d, not mail: %r"
                                     % (pri >> 3, m))
            # the lines before the fork carry the starting process's PID
            if pid not in (proc.pid, start.pid):
                raise AssertionError("pid %d, neither %d nor %d"
                                     % (pid, proc.pid, start.pid))
            if level in SEV and pri & 7 != SEV[level]:
                raise AssertionError("severity %d for %s: %r"
                                     % (pri & 7, level, m))
            if "\n" in m.rstrip("\n") or any(ord(c) < 32 and c != "\n"
                                             for c in m):
                raise AssertionError("control octet in %r" % m)
        for m in got:
            print(m.rstrip("\n"))
        print("%d syslog lines of ours, facility mail, ident "
              "authmilter[%d]" % (ours, proc.pid))
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        lsock.close()
        try:
            os.unlink(DEVLOG)
        except OSError:
            pass
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)


if __name__ == "__main__":
    sys.exit(main())
