#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""fromaddr_diff - milter/fromaddr.c against Python's email package.

    fromaddr_diff.py DUMP [--corpus DIR]... [--generated N] [--seed S]
                          [--show N] [-v]

DUMP is the fromaddr_dump driver (fromaddr_parse() on each input). The
inputs: every file of the corpus directories (default:
tests/fuzz/corpus/fromaddr), each a From: field body, cut at its first
NUL as dmarcv.c sees it; then N field bodies from the oracle's From:
generator (oracle.rfrom_value, seeded).

For each input our parser either
  - fails closed: an error return, no address, an address without a
    usable domain, addresses of several distinct domains, or more
    addresses than it keeps -- all of which DMARC turns into permerror
    with the fail-closed policy; nothing more to compare; or
  - reads one domain D (every address it keeps has domain D, usable).
Then Python's email package (policy=email.policy.default, the header
registry) must read the same field as addresses of D alone. Anything
else is a disagreement, reported by class with examples:

  misses-domains   Python reads D and other domains (our parser lost
                   addresses a client shows: the dangerous kind)
  other-domain     Python reads domains, none of them D
  python-none      Python reads no address at all

A disagreement on the ALLOW list below (a difference where Python's
reading is wrong by RFC 5322, with the reason) is counted, not failed.
The exit status is 1 if any other disagreement is found. The readings
of fromview.py's compat32 and lenient parsers that see a domain other
than D are reported too, for information (the oracle test fails on
them, through the whole daemon).
"""

import argparse
import os
import random
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import fromview  # noqa: E402
import oracle  # noqa: E402

FROMADDR_MAX = 8

# Known, justified differences: (name, predicate, reason). A predicate
# sees the value, our domain D, Python's list and Python's exception.
ALLOW = [
    ('trailing-dot',
     lambda v, d, py, err: not py and _only_domain_with_final_dot(v, d),
     'RFC 5322 3.4.1: a dot-atom has no final dot, so "a@bank.test." is '
     'not an addr-spec and Python drops the address; the domain is the '
     'DNS name bank.test all the same (RFC 1034 3.1: the final dot is the '
     'root), and reading it as D checks the policy a client would show. '
     'Ours is the safe reading.'),
    ('python-raises',
     lambda v, d, py, err: err is not None and
     set(fromview.lenient_domains(v)) == {d},
     'the header registry raised an exception (e.g. AttributeError: '
     '\'Group\' object has no attribute \'local_part\' on "a@x.test, '
     'undisclosed-recipients:; (comment)", IndexError on an empty group '
     'name): a bug of Python\'s parser, not a reading; RFC 5322 3.4 '
     'allows a mailbox and a group in one address-list, and our '
     'RFC 5322 tokenizer (fromview.lenient_domains) reads D alone, as '
     'ours does.'),
]


def _only_domain_with_final_dot(v, d):
    doms = fromview.lenient_domains(v)
    return bool(doms) and all(x == d for x in doms) and \
        re.search(r'@[^,;<>]*\.\s*(>|,|;|$|\()', fromview.strip_comments(v))


def run_dump(dump, values):
    data = ''.join(v.hex() + '\n' for v in values).encode('ascii')
    out = subprocess.run([dump], input=data, capture_output=True,
                         check=True).stdout.decode('ascii')
    res = []
    for line in out.splitlines():
        f = line.split()
        rc, total, n = int(f[0]), int(f[1]), int(f[2])
        addrs = []
        for a in f[3:]:
            ok, _, h = a.partition(':')
            addrs.append((ok == '1', bytes.fromhex(h).decode('latin-1')))
        res.append((rc, total, n, addrs))
    if len(res) != len(values):
        raise SystemExit('fromaddr_dump: %d answers for %d inputs'
                         % (len(res), len(values)))
    return res


def alabel(d):
    """Python returns a U-label domain as written; DMARC looks up its
    A-label (RFC 9989 5.3.1), which is what milter/fromaddr.c returns
    (UTS #46 with libidn2): compare in that form. A name that is no
    valid IDN stays as written (ours then fails closed)."""
    if d.isascii():
        return d
    try:
        import idna
    except ImportError:
        try:
            return d.encode('idna').decode('ascii').lower()
        except UnicodeError:
            return d
    try:
        return idna.encode(d, uts46=True).decode('ascii')
    except idna.IDNAError:
        return d


def ours_domain(r):
    """D if our parser reads exactly one usable domain, else None (it
    fails closed) and the reason."""
    rc, total, n, addrs = r
    if rc != 0:
        return None, 'error %d' % rc
    if total == 0:
        return None, 'no address'
    if total > n:
        return None, 'over the cap'
    if not all(ok for ok, _ in addrs):
        return None, 'unusable domain'
    doms = {d for _, d in addrs}
    if len(doms) > 1:
        return None, 'several domains'
    return doms.pop(), None


def classify(d, py):
    if not py:
        return 'python-none'
    if d in py:
        return 'misses-domains'
    return 'other-domain'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('dump')
    ap.add_argument('--corpus', action='append')
    ap.add_argument('--generated', type=int,
                    default=int(os.environ.get('FROMDIFF_N', '4000')))
    ap.add_argument('--seed', type=int,
                    default=int(os.environ.get('FROMDIFF_SEED', '1')))
    ap.add_argument('--show', type=int, default=3,
                    help='examples printed per class')
    ap.add_argument('-v', '--verbose', action='store_true')
    args = ap.parse_args()
    corpora = args.corpus or [os.path.join(ROOT, 'tests', 'fuzz', 'corpus',
                                           'fromaddr')]
    inputs = []   # (origin, value)
    for c in corpora:
        for name in sorted(os.listdir(c)):
            with open(os.path.join(c, name), 'rb') as f:
                b = f.read().split(b'\0')[0]
            inputs.append((os.path.join(os.path.basename(c), name),
                           b.decode('utf-8', 'surrogateescape')))
    for i in range(args.generated):
        rng = random.Random('diff/%d/%d' % (args.seed, i))
        v = oracle.rfrom_value(rng, rng.choice([0.2, 0.5]))
        inputs.append(('generated %d/%d' % (args.seed, i), v.strip(' ')))

    values = [v.encode('utf-8', 'surrogateescape') for _, v in inputs]
    ours = run_dump(args.dump, values)
    stats = {'fail-closed': 0, 'agree': 0}
    classes = {}
    allowed = {}
    info = {}
    for (origin, v), r in zip(inputs, ours):
        d, why = ours_domain(r)
        if d is None:
            stats['fail-closed'] += 1
            continue
        # Python sees the value as Postfix hands it: folds are "\n"
        # followed by white space; unfold (RFC 5322 2.2.3).
        unfolded = re.sub(r'\r?\n(?=[ \t])', '', v)
        py, defects, err = fromview.default_field_domains(unfolded)
        py = [alabel(x) for x in py]
        pyset = set(py)
        if pyset == {d}:
            stats['agree'] += 1
        else:
            for name, pred, _ in ALLOW:
                if pred(unfolded, d, py, err):
                    allowed.setdefault(name, []).append((origin, v, d, py))
                    break
            else:
                cls = '%s, shape %s' % (classify(d, pyset), ' '.join(
                    fromview.shapes(unfolded)) or 'other')
                classes.setdefault(cls, []).append((origin, v, d, py,
                                                    defects or err))
        # generous readings, for information
        for rd in ('compat32', 'lenient'):
            other = fromview.field_readings(unfolded)[rd] \
                if rd == 'lenient' else \
                fromview.compat32_domains([unfolded])
            extra = sorted(set(other) - {d})
            if extra:
                info.setdefault(rd, []).append((origin, v, d, extra))
                break

    n = len(inputs)
    print('%d inputs (%d corpus, %d generated, seed %d): %d fail closed, '
          '%d read one domain that Python agrees with' % (
              n, n - args.generated, args.generated, args.seed,
              stats['fail-closed'], stats['agree']))

    def show(v):
        return repr(v if len(v) < 300 else v[:150] + '...' + v[-100:])
    for name, lst in sorted(allowed.items()):
        reason = [r for nm, _, r in ALLOW if nm == name][0]
        print('\nallowed %s: %d (%s)' % (name, len(lst), reason))
        for origin, v, d, py in lst[:args.show]:
            print('   %s: %s ours=%s python=%s' % (origin, show(v), d, py))
    for rd, lst in sorted(info.items()):
        print('\ninfo: %d inputs where %s also reads other domains than '
              'ours:' % (len(lst), rd))
        for origin, v, d, extra in lst[:args.show]:
            print('   %s: %s ours=%s %s=%s' % (origin, show(v), d, rd,
                                             extra))
    rc = 0
    for cls, lst in sorted(classes.items()):
        rc = 1
        print('\nDISAGREE %s: %d' % (cls, len(lst)))
        for origin, v, d, py, why in lst[:(None if args.verbose
                                            else args.show)]:
            print('   %s: %s\n      ours=%s python=%s (%s)' % (
                origin, show(v), d, sorted(set(py)), why))
    if rc == 0:
        print('\nno disagreement outside the allowlist')
    return rc


if __name__ == '__main__':
    sys.exit(main())
