#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""mkseeds.py - (re)build a seed corpus from a unit test's string literals.

Usage: mkseeds.py CORPUS_DIR [--prefix HEX] [--join N] TEST.c...

Every C string literal (adjacent literals joined, escapes decoded) in
the given unit test files becomes one seed file named by the first 16
hex digits of its SHA-1. --prefix prepends octets (a control octet);
--join N also writes seeds of N consecutive literals joined by NUL
(for targets that take NUL-separated fields).
"""
import hashlib
import os
import re
import sys

LIT = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def c_unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c != '\\':
            out += c.encode()
            i += 1
            continue
        n = s[i + 1]
        simple = {'n': 10, 't': 9, 'r': 13, '0': 0, '\\': 92, '"': 34,
                  "'": 39, 'a': 7, 'b': 8, 'f': 12, 'v': 11, '?': 63}
        if n == 'x':
            m = re.match(r'[0-9a-fA-F]+', s[i + 2:])
            out.append(int(m.group(0), 16) & 0xff)
            i += 2 + len(m.group(0))
        elif n in '01234567':
            m = re.match(r'[0-7]{1,3}', s[i + 1:])
            out.append(int(m.group(0), 8) & 0xff)
            i += 1 + len(m.group(0))
        else:
            out.append(simple[n])
            i += 2
    return bytes(out)


def literals(text):
    text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
    text = re.sub(r'^\s*#.*$', '', text, flags=re.M)
    res, cur, last_end = [], None, None
    for m in LIT.finditer(text):
        if cur is not None and text[last_end:m.start()].strip() == '':
            cur += c_unescape(m.group(1))
        else:
            if cur is not None:
                res.append(cur)
            cur = c_unescape(m.group(1))
        last_end = m.end()
    if cur is not None:
        res.append(cur)
    return res


def main():
    args = sys.argv[1:]
    out, prefix, join = args.pop(0), b'', 0
    while args and args[0].startswith('--'):
        opt = args.pop(0)
        if opt == '--prefix':
            prefix = bytes.fromhex(args.pop(0))
        elif opt == '--join':
            join = int(args.pop(0))
    os.makedirs(out, exist_ok=True)
    seeds = set()
    for path in args:
        with open(path, encoding='latin-1') as f:
            lits = literals(f.read())
        seeds.update(lits)
        if join:
            for i in range(len(lits) - join + 1):
                seeds.add(b'\0'.join(lits[i:i + join]))
    for s in seeds:
        s = prefix + s
        name = hashlib.sha1(s).hexdigest()[:16]
        with open(os.path.join(out, name), 'wb') as f:
            f.write(s)
    print('%s: %d seeds' % (out, len(seeds)))


main()
