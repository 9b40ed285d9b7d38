#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""report_lock.py AUTHMILTER_REPORT: one sending run per database.

While another run holds the report lock (here: the test, by flock of
PATH-report.lock beside the SQLite file, as authmilter-report takes it),
a run sends nothing, says so and exits 0; once the lock is free, it runs
(and leaves the lock file, mode 0640). Before, two runs at once (the
timer enabled on two hosts of a fleet, as the Debian package does by
default, or a manual run during the timer's) both sent every report.
A --dry-run does not take the lock.
"""
import fcntl
import os
import subprocess
import sys
import tempfile


def run(prog, conf, *args):
    return subprocess.run([prog, '-c', conf] + list(args),
                          capture_output=True, text=True, timeout=60)


def main():
    prog = sys.argv[1]
    bad = []
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, 'a.conf')
        db = os.path.join(d, 'h.db')
        with open(conf, 'w') as f:
            f.write('AuthservID mx.example.net\n'
                    'ReportDatabase sqlite:%s\n'
                    'ReportContact dmarc@example.net\n'
                    'ReportFrom dmarc@example.net\n'
                    'ReportSendmail /bin/false\n' % db)
        out = os.path.join(d, 'out')
        os.mkdir(out)
        lock = db + '-report.lock'
        with open(lock, 'w') as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            r = run(prog, conf, '--period', '2024-02-29')
            if r.returncode != 0 or 'holds the report lock' not in r.stderr:
                bad.append('locked: status %d, %s' % (r.returncode,
                                                      r.stderr.strip()))
            r = run(prog, conf, '--period', '2024-02-29', '--dry-run', out)
            if r.returncode != 0 or 'report lock' in r.stderr:
                bad.append('dry run: status %d, %s' % (r.returncode,
                                                       r.stderr.strip()))
        r = run(prog, conf, '--period', '2024-02-29')
        if r.returncode != 0 or 'report lock' in r.stderr:
            bad.append('free: status %d, %s' % (r.returncode,
                                                r.stderr.strip()))
    if bad:
        print('\n'.join(bad))
        return 1
    print('ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
