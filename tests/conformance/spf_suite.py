#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""spf_suite - run the RFC 7208 SPF test suite through authmilter's engine.

For each scenario of the YAML suite (pyspf's rfc7208-tests.yml) this
converts the zonedata into a tests/dnsd zone file, starts dnsd on a free
loopback port (with-dnsd.sh) and feeds every test of the scenario to the
C driver spf_run, then compares the result (any of the allowed ones when
the suite lists several) and the explanation when the suite gives one
("DEFAULT" means our default explanation, i.e. no exp= text was used).
It prints every miss and the count, and exits 1 on any miss.

Zone conversion follows the suite's own driver (pyspf test/testspf.py):
SPF-type records are served as TXT unless the name has a TXT entry of
its own; "NONE" entries are dropped; a list of strings is one TXT record
of several character-strings; "TIMEOUT" makes every query type that has
no record listed before it time out (a dnsd "timeout" behaviour per
name and type; names below it that own records are exempted, because
dnsd behaviours also apply to subdomains).

Usage: spf_suite.py --yaml FILE --driver SPF_RUN --with-dnsd SCRIPT
                    [--timeout-ms N] [-k TEST]... [-v]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import yaml

TYPES = ("A", "AAAA", "MX", "TXT", "PTR", "CNAME")

# Tests whose expected result our stack cannot give, each with the reason.
# They are printed as KNOWN and not counted as passes; the run fails if
# one of them starts to pass (so that this list stays true).
KNOWN = {}

# How the suite's zone data is put on the wire, where it cannot be taken
# literally: a TXT record with no character-string at all ("SPF: [ ]",
# test null-text) is not valid DNS (RFC 1035 3.3.14: one or more
# character-strings), and libunbound drops the whole answer as malformed.
# It is served as one empty character-string, the nearest record a real
# zone can hold; the test's point ("SPF should not crash, and the other
# record still counts") is kept.


def convert(zonedata):
    """The dnsd JSON document for one scenario's zonedata."""
    records = []
    behaviour = {}
    timeout_names = []
    for name, entries in zonedata.items():
        lname = name.lower().rstrip(".")
        has_txt = any(isinstance(e, dict) and "TXT" in e for e in entries)
        answered = set()
        seen_timeout = False
        for e in entries:
            if e == "TIMEOUT":
                if not seen_timeout:
                    seen_timeout = True
                    timeout_names.append(lname)
                    for t in TYPES:
                        if t not in answered:
                            behaviour["%s/%s" % (lname, t)] = "timeout"
                continue
            (t, v), = e.items()
            if t == "SPF":
                if has_txt:
                    continue
                t = "TXT"
            if v == "NONE":
                continue
            if not seen_timeout:
                answered.add(t)
            if t == "TXT":
                data = v if isinstance(v, list) else [v]
                if not data:
                    data = [""]
            elif t == "MX":
                data = [int(v[0]), v[1] if v[1] else "."]
            else:
                data = str(v)
            records.append({"name": lname, "type": t, "data": data})
    # dnsd behaviours cover subdomains too: exempt the names below a
    # TIMEOUT name that have records of their own.
    owners = {r["name"] for r in records}
    for tn in timeout_names:
        for o in owners:
            if o != tn and o.endswith("." + tn):
                behaviour[o] = {"delay_ms": 0}
    return {"records": records, "behaviour": behaviour}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--yaml", required=True)
    ap.add_argument("--driver", required=True)
    ap.add_argument("--with-dnsd", required=True)
    ap.add_argument("--timeout-ms", type=int, default=1000)
    ap.add_argument("-k", action="append", default=[])
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()

    with open(args.yaml, encoding="utf-8") as f:
        scenarios = list(yaml.safe_load_all(f))

    total = passed = 0
    misses = []
    known = []
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, sc in enumerate(scenarios):
            tests = sc["tests"]
            if args.k:
                tests = {k: v for k, v in tests.items() if k in args.k}
            if not tests:
                continue
            zone = os.path.join(tmp, "zone%d.json" % n)
            with open(zone, "w", encoding="utf-8") as f:
                json.dump(convert(sc.get("zonedata") or {}), f)
            lines = []
            for tid, t in tests.items():
                fields = [tid, str(t["host"]), str(t.get("helo", "")),
                          str(t.get("mailfrom", ""))]
                if any("\t" in x or "\n" in x for x in fields):
                    sys.exit("spf_suite: tab or newline in test " + tid)
                lines.append("\t".join(fields))
            proc = subprocess.run(
                [args.with_dnsd, zone, args.driver, str(args.timeout_ms)],
                input="\n".join(lines) + "\n", capture_output=True,
                text=True, encoding="utf-8", errors="replace")
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr)
                sys.exit("spf_suite: driver failed (%d) in scenario %r" %
                         (proc.returncode, sc.get("description")))
            got = {}
            for line in proc.stdout.splitlines():
                parts = line.split("\t")
                got[parts[0]] = parts
            for tid, t in tests.items():
                total += 1
                want = t["result"]
                want = want if isinstance(want, list) else [want]
                g = got.get(tid)
                if g is None:
                    misses.append("%s: no output" % tid)
                    continue
                _, res, src, exp, why, lookups, ms = g
                ok = res in want
                note = ""
                wexp = t.get("explanation")
                if ok and wexp is not None:
                    if wexp == "DEFAULT":
                        ok = src == "D"
                    else:
                        ok = src == "E" and exp == wexp
                        if (not ok and src == "E" and
                                exp.lower() == wexp.lower()):
                            # The suite writes IPv6 nibbles in upper
                            # case; RFC 7208 s. 7.4 writes them in lower
                            # case, as we do. Accept, and say so.
                            ok = True
                            notes.append("%s: explanation differs only in"
                                         " case: %r" % (tid, exp))
                    if not ok:
                        note = " explanation %r (%s), want %r" % (
                            exp, src, wexp)
                if tid in KNOWN:
                    if ok:
                        misses.append("%s: listed as a known deviation but"
                                      " passes; update KNOWN" % tid)
                    else:
                        known.append("%s: got %s, want %s: %s" % (
                            tid, res, "/".join(want), KNOWN[tid]))
                elif ok:
                    passed += 1
                else:
                    misses.append("%s (%s, spec %s): got %s%s, want %s"
                                  " [%s]" % (tid, sc.get("description"),
                                             t.get("spec"), res, note,
                                             "/".join(want), why))
                if args.v:
                    print("%-36s %-9s %5sms %s" % (tid, res, ms, why))
    for m in notes:
        print("NOTE " + m)
    for m in known:
        print("KNOWN " + m)
    for m in misses:
        print("MISS " + m)
    print("rfc7208 suite: %d of %d tests pass, %d known deviations, "
          "%d misses" % (passed, total, len(known), len(misses)))
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
