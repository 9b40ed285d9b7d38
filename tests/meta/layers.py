#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""layers - the module graph of milter/ has no circle, and the low-level
modules depend on nothing above them (issue 14).

    layers.py SRCROOT

A module is a .c/.h pair (dns.c + dns.h is "dns"); it depends on module
M when its .c or .h includes "M.h". Fails when the graph has a cycle
(each cycle printed), or when a low-level module (LOW) includes a module
outside LOW. Programs (main.c, explain_main.c) are no modules.
"""

import os
import re
import sys

# The bottom of the tree: results, errors, configuration, logging, the
# DNS engine and its parser, address lists, metrics.
LOW = {'amerr', 'result', 'log', 'conf', 'dns_mode', 'cidr', 'blentry',
       'dns', 'dns_packet', 'metrics'}
PROGRAMS = {'main', 'explain_main', 'report_main'}


def graph(milter):
    deps = {}
    for f in sorted(os.listdir(milter)):
        base, ext = os.path.splitext(f)
        if ext not in ('.c', '.h') or base in PROGRAMS:
            continue
        text = open(os.path.join(milter, f), encoding='utf-8').read()
        for inc in re.findall(r'^#include "([a-z_0-9]+)\.h"', text, re.M):
            if inc != base:
                deps.setdefault(base, set()).add(inc)
        deps.setdefault(base, set())
    return deps


def cycles(deps):
    out, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(deps.get(n, ())):
            if state.get(m) == 1:
                out.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2
    for n in sorted(deps):
        if n not in state:
            visit(n)
    return out


def main():
    deps = graph(os.path.join(sys.argv[1], 'milter'))
    bad = []
    for c in cycles(deps):
        bad.append('include circle: ' + ' -> '.join(c))
    for n in sorted(LOW & set(deps)):
        for m in sorted(deps[n] - LOW):
            bad.append('low-level module %s includes %s.h' % (n, m))
    for b in bad:
        print(b)
    print('%d modules, %d include edges, %d problems'
          % (len(deps), sum(len(v) for v in deps.values()), len(bad)))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
