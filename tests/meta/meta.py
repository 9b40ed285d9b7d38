#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""meta.py CHECK SRCDIR [KEYWORDS-PROGRAM]: checks on the tree itself.

  headers   every milter/*.h opens with its man-page-like comment:
            " * NAME - summary" (NAME = the file name) and the
            Ownership:, Threads: and Errors: lines, before any code;
            every milter/*.c, tests/**/*.c and tests/**/*.py opens with
            the SPDX line (after a #! line for scripts) and every
            milter/*.c has the "/* NAME - summary */" line after it.
  conf      every keyword of conf.c's table (printed by the keywords
            program, not grepped from C) has a line of its own,
            commented out or not, in conf/authmilter.conf.
  manconf   every keyword appears in docs/authmilter.conf.5 (a missing
            page is a finding).
  mandoc    every man page docs/*.[1-8] passes "mandoc -Tlint" without
            a warning (skipped, exit 77, without mandoc; no page at
            all is a finding).

Exit 0 if the check holds, 1 with every finding printed, 77 if skipped.
"""
import glob
import os
import re
import shutil
import subprocess
import sys

SKIP = 77


def head_comment(text):
    """The lines of the leading /* ... */ comment, or None."""
    if not text.startswith('/*\n'):
        return None
    end = text.find('*/')
    return text[:end].splitlines() if end > 0 else None


def check_headers(src):
    bad = []
    for h in sorted(glob.glob(os.path.join(src, 'milter', '*.h'))):
        name = os.path.basename(h)[:-2]
        lines = head_comment(open(h).read())
        if lines is None:
            bad.append('%s: does not open with a /* comment' % h)
            continue
        if len(lines) < 2 or not re.match(r' \* %s - \S' % re.escape(name),
                                          lines[1]):
            bad.append('%s: second line is not " * %s - summary"' %
                       (h, name))
        for tag in ('Ownership:', 'Threads:', 'Errors:'):
            if not any(line.startswith(' * ' + tag) for line in lines):
                bad.append('%s: no " * %s" line in the header comment' %
                           (h, tag))
    spdx = '/* SPDX-License-Identifier: '
    for c in sorted(glob.glob(os.path.join(src, 'milter', '*.c'))):
        lines = open(c).read().splitlines()
        name = os.path.basename(c)[:-2]
        if not lines or not lines[0].startswith(spdx):
            bad.append('%s: first line is not the SPDX line' % c)
        if len(lines) < 2 or not re.match(
                r'/\* %s - \S.*\*/$' % re.escape(name), lines[1]):
            bad.append('%s: second line is not "/* %s - summary */"' %
                       (c, name))
    for f in sorted(glob.glob(os.path.join(src, 'tests', '**', '*.c'),
                              recursive=True) +
                    glob.glob(os.path.join(src, 'tests', '**', '*.py'),
                              recursive=True)):
        lines = open(f).read().splitlines()[:2]
        if lines and lines[0].startswith('#!'):
            lines = lines[1:]
        if not lines or 'SPDX-License-Identifier:' not in lines[0]:
            bad.append('%s: does not open with the SPDX line' % f)
    return bad


def keywords(prog):
    out = subprocess.run([prog], capture_output=True, text=True, check=True)
    kws = out.stdout.split()
    if len(kws) < 10:
        raise SystemExit('%s printed only %d keywords' % (prog, len(kws)))
    return kws


def check_conf(src, prog):
    path = os.path.join(src, 'conf', 'authmilter.conf')
    text = open(path).read()
    bad = []
    for kw in keywords(prog):
        if not re.search(r'^#?[ \t]*%s([ \t]|$)' % re.escape(kw), text,
                         re.M | re.I):
            bad.append('%s: no line for keyword %s' % (path, kw))
    return bad


def check_manconf(src, prog):
    path = os.path.join(src, 'docs', 'authmilter.conf.5')
    if not os.path.exists(path):
        return ['%s: missing' % path]
    text = open(path).read()
    bad = []
    for kw in keywords(prog):
        if not re.search(r'(?<![A-Za-z0-9])%s(?![A-Za-z0-9])' %
                         re.escape(kw), text, re.I):
            bad.append('%s: keyword %s is not documented' % (path, kw))
    return bad


def check_mandoc(src):
    pages = sorted(glob.glob(os.path.join(src, 'docs', '*.[1-8]')))
    if not pages:
        return ['%s: no man page' % os.path.join(src, 'docs')]
    if shutil.which('mandoc') is None:
        print('SKIP: mandoc is not installed')
        sys.exit(SKIP)
    bad = []
    for p in pages:
        r = subprocess.run(['mandoc', '-Tlint', '-Wwarning', p],
                           capture_output=True, text=True)
        msgs = (r.stdout + r.stderr).strip()
        if r.returncode != 0 or msgs:
            bad.append('%s: mandoc -Tlint (exit %d):\n%s' %
                       (p, r.returncode, msgs))
    return bad


def main():
    check, src = sys.argv[1], sys.argv[2]
    prog = sys.argv[3] if len(sys.argv) > 3 else None
    if check == 'headers':
        bad = check_headers(src)
    elif check == 'conf':
        bad = check_conf(src, prog)
    elif check == 'manconf':
        bad = check_manconf(src, prog)
    elif check == 'mandoc':
        bad = check_mandoc(src)
    else:
        raise SystemExit('unknown check ' + check)
    for b in bad:
        print('FAIL: ' + b)
    print('%s: %d finding(s)' % (check, len(bad)))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
