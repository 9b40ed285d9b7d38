#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""run.py AUTHMILTER CONF [-o KEY=VALUE]...: check one config with -n.

A bad config lists what -n must print, one "# expect: LINE: TEXT" comment
per error: stderr must hold exactly those lines, "CONF:LINE: TEXT" each
(in that order), and the exit status must be 1. A config without expect
comments must pass: exit 0 and nothing on stderr.
"""
import re
import subprocess
import sys


def main():
    daemon, conf, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    want = []
    with open(conf, encoding='latin-1') as f:
        for line in f:
            m = re.match(r'#\s*expect:\s*(\S+):\s*(.*?)\s*$', line)
            if m:
                want.append(f'{conf}:{m.group(1)}: {m.group(2)}')
    p = subprocess.run([daemon, '-n', '-c', conf] + extra,
                       capture_output=True, timeout=30)
    err = p.stderr.decode('latin-1').splitlines()
    ok = True
    if want:
        if p.returncode != 1:
            print(f'exit status {p.returncode}, wanted 1')
            ok = False
        if err != want:
            print('stderr was:', *err, 'wanted:', *want, sep='\n  ')
            ok = False
    else:
        if p.returncode != 0 or err:
            print(f'exit status {p.returncode}, stderr:', *err,
                  sep='\n  ')
            ok = False
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
