#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""report_period.py AUTHMILTER_REPORT: --period takes real days only.

A date that does not exist (2026-02-31, 2026-11-31) or is not written
as YYYY-MM-DD exactly (a leading space, one-digit day) is refused with
exit status 1 and a line naming it; before, strptime and timegm made
2026-02-31 into 2026-03-03 and that period was reported instead.
A real day (with --dry-run, nothing sent) is taken: status 0.
"""
import os
import subprocess
import sys
import tempfile


def run(prog, conf, period, out):
    return subprocess.run([prog, '-c', conf, '--period', period,
                           '--dry-run', out],
                          capture_output=True, text=True, timeout=60)


def main():
    prog = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, 'a.conf')
        out = os.path.join(d, 'out')
        os.mkdir(out)
        with open(conf, 'w') as f:
            f.write('AuthservID mx.example.net\n'
                    'ReportDatabase sqlite:%s/h.db\n'
                    'ReportContact dmarc@example.net\n'
                    'ReportFrom dmarc@example.net\n' % d)
        bad = []
        for p in ('2026-02-31', '2026-02-29', '2026-11-31', ' 2026-11-1',
                  '2026-13-01', '2026-1-011', '+026-01-01'):
            r = run(prog, conf, p, out)
            if r.returncode != 1 or '--period' not in r.stderr:
                bad.append('%r: status %d, %s' % (p, r.returncode,
                                                  r.stderr.strip()))
        r = run(prog, conf, '2024-02-29', out)
        if r.returncode != 0:
            bad.append('2024-02-29: status %d, %s' % (r.returncode,
                                                     r.stderr.strip()))
        if bad:
            print('\n'.join(bad))
            return 1
    print('ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
