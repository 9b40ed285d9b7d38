#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""mkseeds_spf_host.py - seed corpus for fuzz_spf_host: DNS worlds.

Usage: mkseeds_spf_host.py [--check REPLAY] YAML CORPUS_DIR

Writes one seed per test of the RFC 7208 suite (YAML, pyspf's
rfc7208-tests.yml): the scenario's zone as fuzz_world.h lines plus the
test's ip, from and helo; then the hand-made macro bombs and limit
probes of BOMBS. Zone conversion follows tests/conformance/spf_suite.py
(SPF-type records served as TXT unless the name has a TXT of its own,
"NONE" dropped, strings of one record joined, TIMEOUT for the types not
listed before it); CNAME entries are dropped (the world has none), so
the few tests that need them are seeds but not checks.

With --check, each suite seed is run through REPLAY (the replay build
of fuzz_spf_host) with AM_FUZZ_STATS=1, and its result compared with
the suite's: the local query set must give what the loopback DNS server
gives in the conformance suite. Exits 1 on a difference.
"""
import argparse
import hashlib
import os
import subprocess
import sys

import yaml

TYPES = ("A", "AAAA", "MX", "TXT", "PTR")


def owner(name):
    """An owner name for fuzz_world.h: spaces and backslashes as \\DDD."""
    return "".join("\\%03d" % ord(c) if c in " \\" or ord(c) < 33 else c
                   for c in name)


def zone_lines(zonedata):
    out = []
    cname = set()
    for name, entries in (zonedata or {}).items():
        has_txt = any(isinstance(e, dict) and "TXT" in e for e in entries)
        answered = set()
        for e in entries:
            if e == "TIMEOUT":
                for t in TYPES:
                    if t not in answered:
                        out.append("%s TIMEOUT %s" % (owner(name), t))
                break
            (t, v), = e.items()
            if t == "CNAME":
                cname.add(name)
                continue
            if t == "SPF":
                if has_txt:
                    continue
                t = "TXT"
            if v == "NONE":
                continue
            answered.add(t)
            if t == "TXT":
                v = "".join(v) if isinstance(v, list) else str(v)
                first, *more = v.split("\n")
                out.append("%s TXT %s" % (owner(name), first))
                out += ["%s TXT+ %s" % (owner(name), m) for m in more]
            elif t == "MX":
                out.append("%s MX %d %s" % (owner(name), int(v[0]),
                                            v[1] or "."))
            else:
                out.append("%s %s %s" % (owner(name), t, v))
        if not answered and not any(e == "TIMEOUT" for e in entries):
            # a name that exists with no records of these types
            out.append("%s NODATA" % owner(name))
    return out, cname


def world(lines, ip, sender, helo, order=1):
    head = ["ip %s" % ip, "from %s" % sender, "helo %s" % helo,
            "order %d" % order]
    return ("\n".join(head + lines) + "\n").encode("utf-8", "replace")


L64 = "x" * 64
DOTS = ".".join("p%d" % i for i in range(200))

# (name, lines, ip, from, helo): macro bombs and limit probes.
BOMBS = [
    ("exists-l-bomb", ["bomb.example TXT v=spf1 exists:" +
                       "%{l}" * 200 + ".bomb.example -all",
                       "*.bomb.example A 127.0.0.2"],
     "192.0.2.3", L64 + "@bomb.example", "h.example"),
    ("exists-L-escape-bomb", ["bomb.example TXT v=spf1 exists:" +
                              "%{L}" * 100 + ".bomb.example ?all",
                              "*.bomb.example A 127.0.0.2"],
     "192.0.2.3", "%%%%%%%%%%%%%%%%%%%%@bomb.example", "h.example"),
    ("include-ir-v-d", ["bomb.example TXT v=spf1 include:%{ir}.%{v}."
                        "%{d}.%{d}.%{d}.%{d}.%{d}.%{d}.%{d}.%{d}.%{d}"
                        ".%{d}.%{d}.%{d}.%{d}.%{d}.%{d}.%{d}.bomb.example"
                        " -all",
                        "*.bomb.example TXT v=spf1 include:%{ir}.%{v}."
                        "%{d}.bomb.example"],
     "2001:db8::1", "u@bomb.example", "h.example"),
    ("d10r-parts", ["bomb.example TXT v=spf1 a:%{d10r}.%{s128r-.}."
                    "%{l1r+}.%{o9}.bomb.example -all",
                    "*.bomb.example A 192.0.2.3"],
     "192.0.2.3", DOTS + "@bomb.example", "h.example"),
    ("many-parts-s", ["bomb.example TXT v=spf1 exists:%{s999999r}"
                      "%{s0000000001}.bomb.example -all"],
     "192.0.2.3", DOTS + "@bomb.example", "h.example"),
    ("redirect-self", ["loop.example TXT v=spf1 redirect=%{d}"],
     "192.0.2.3", "u@loop.example", "h.example"),
    ("redirect-macro-chain", ["loop.example TXT v=spf1 redirect=a.%{d}",
                              "*.loop.example TXT v=spf1 redirect=a.%{d}"],
     "192.0.2.3", "u@loop.example", "h.example"),
    ("include-11", ["i0.example TXT v=spf1 include:i1.example -all"] +
     ["i%d.example TXT v=spf1 include:i%d.example" % (i, i + 1)
      for i in range(1, 12)] + ["i12.example TXT v=spf1 +all"],
     "192.0.2.3", "u@i0.example", "h.example"),
    ("include-fanout", ["fan.example TXT v=spf1 " +
                        " ".join("include:f%d.fan.example" % i
                                 for i in range(12)) + " -all",
                        "*.fan.example TXT v=spf1 mx a ptr exists:%{i}."
                        "fan.example ?all",
                        "*.fan.example MX 1 m1.fan.example"],
     "192.0.2.3", "u@fan.example", "h.example"),
    ("mx-11-names", ["mx.example TXT v=spf1 mx -all"] +
     ["mx.example MX %d m%d.mx.example" % (i, i) for i in range(11)] +
     ["*.mx.example A 192.0.2.3"],
     "192.0.2.3", "u@mx.example", "h.example"),
    ("mx-10-names-a", ["mx.example TXT v=spf1 mx/24 mx:%{d}//64 -all"] +
     ["mx.example MX %d m%d.mx.example" % (i, i) for i in range(10)] +
     ["m9.mx.example A 192.0.2.200"],
     "192.0.2.3", "u@mx.example", "h.example"),
    ("ptr-20-names", ["p.example TXT v=spf1 ptr:p.example "
                      "exists:%{p}.p.example -all"] +
     ["3.2.0.192.in-addr.arpa PTR n%d.p.example" % i for i in range(20)] +
     ["n19.p.example A 192.0.2.3", "*.p.example A 192.0.2.9"],
     "192.0.2.3", "u@p.example", "h.example"),
    ("void-3", ["v.example TXT v=spf1 a:n1.v.example mx:n2.v.example "
                "exists:n3.v.example +all"],
     "192.0.2.3", "u@v.example", "h.example"),
    ("lookups-10-then-11", ["l.example TXT v=spf1 " +
                            " ".join("a:a%d.l.example" % i
                                     for i in range(11)) + " +all",
                            "*.l.example A 198.51.100.1"],
     "192.0.2.3", "u@l.example", "h.example"),
    ("exp-bomb", ["e.example TXT v=spf1 -all exp=x.%{d}",
                  "x.e.example TXT " + "%{s}%{l}%{c}%{r}%{t}%{L}" * 60],
     "2001:db8::cb01", L64 + "@e.example", "h.example"),
    ("exp-ptr", ["e.example TXT v=spf1 -all exp=%{p}.e.example",
                 "3.2.0.192.in-addr.arpa PTR x.e.example",
                 "x.e.example A 192.0.2.3",
                 "x.e.example TXT you are %{p} %{i} %{h}"],
     "192.0.2.3", "u@e.example", "h.example"),
    ("timeouts-staged", ["t.example TXT v=spf1 include:t1.t.example "
                         "a:t2.t.example mx -all",
                         "t1.t.example TIMEOUT",
                         "t.example SERVFAIL MX",
                         "t2.t.example A 192.0.2.3"],
     "192.0.2.3", "u@t.example", "h.example"),
    ("helo-identity", ["helo.example TXT v=spf1 a:%{h} -all",
                       "helo.example A 192.0.2.3"],
     "192.0.2.3", "", "helo.example"),
    ("two-records", ["two.example TXT v=spf1 +all",
                     "two.example TXT v=spf1 -all"],
     "192.0.2.3", "u@two.example", "h.example"),
    ("nul-in-record", ["nul.example TXT v=spf1 \0-all"],
     "192.0.2.3", "u@nul.example", "h.example"),
    ("long-labels", ["ll.example TXT v=spf1 a:%{l}.ll.example "
                     "a:%{o}%{o}%{o}%{o}%{o}.ll.example ~all"],
     "192.0.2.3", "y" * 300 + "@ll.example", "h.example"),
    ("v4mapped", ["m.example TXT v=spf1 ip4:192.0.2.0/24 -all"],
     "::ffff:192.0.2.3", "u@m.example", "h.example"),
]



def over_prefetch():
    """Slow includes, fast mx answers: prefetch's cap (spf.h)."""
    lines = ["q.example TXT v=spf1 include:a1.q.example " +
             " ".join("mx:x%d.q.example" % i for i in range(1, 10)) +
             " -all"]
    names = ["x%d" % i for i in range(1, 10)]
    for k in range(1, 10):
        ys = ["y%d-%d" % (k, i) for i in range(1, 10 - k)]
        names += ys
        lines.append("a%d.q.example TXT v=spf1 include:a%d.q.example %s"
                     " ?all" % (k, k + 1,
                                " ".join("mx:%s.q.example" % y
                                         for y in ys)))
        lines.append("a%d.q.example DELAY 9" % k)
    lines.append("a10.q.example TXT v=spf1 ?all")
    for n in names:
        lines += ["%s.q.example MX %d h%d.%s.h.example" % (n, i, i, n)
                  for i in range(10)]
    lines += ["*.h.example A 198.51.100.2", "*.q.example DELAY 0",
              "*.h.example DELAY 0"]
    return ("over-prefetch", lines, "192.0.2.3", "u@q.example",
            "h.example")


def eval_max():
    """The most evaluation itself asks for: 123 queries."""
    lines = ["m.example TXT v=spf1 " +
             " ".join("mx:%%{p}.m%d.m.example" % i for i in range(10)) +
             " -all exp=e.m.example", "e.m.example TXT %{p} %{i}"]
    lines += ["3.2.0.192.in-addr.arpa PTR p%d.m.example" % i
              for i in range(10)]
    for t in range(10):
        lines += ["unknown.m%d.m.example MX %d h%d-%d.m.example" %
                  (t, i, t, i) for i in range(10)]
    lines += ["*.m.example A 198.51.100.1"]
    return ("eval-max", lines, "192.0.2.3", "u@m.example", "h.example")


BOMBS += [over_prefetch(), eval_max(),
          ("a-65-addresses", ["big.example TXT v=spf1 -a:big.example +all"] +
           ["big.example A 198.51.100.%d" % i for i in range(65)],
           "192.0.2.3", "u@big.example", "h.example"),
          ("redirect-bomb", ["rb.example TXT v=spf1 redirect=" +
                             "%{l}" * 200 + ".rb.example"],
           "192.0.2.3", L64 + "@rb.example", "h.example")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check")
    ap.add_argument("yaml")
    ap.add_argument("out")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with open(args.yaml, encoding="utf-8") as f:
        scenarios = list(yaml.safe_load_all(f))
    seeds = []
    checks = []
    for sc in scenarios:
        lines, cname = zone_lines(sc.get("zonedata"))
        for tid, t in sc["tests"].items():
            s = world(lines, t["host"], t.get("mailfrom", ""),
                      t.get("helo", ""))
            seeds.append(s)
            want = t["result"]
            want = want if isinstance(want, list) else [want]
            checks.append((tid, s, want, bool(cname)))
    for i, (_, lines, ip, sender, helo) in enumerate(BOMBS):
        seeds.append(world(lines, ip, sender, helo, order=7 + i))
    for s in seeds:
        name = hashlib.sha1(s).hexdigest()[:16]
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(s)
    if not args.check:
        return 0
    bad = 0
    env = dict(os.environ, AM_FUZZ_STATS="1")
    for tid, s, want, has_cname in checks:
        path = os.path.join(args.out, hashlib.sha1(s).hexdigest()[:16])
        p = subprocess.run([args.check, path], capture_output=True,
                           text=True, env=env)
        line = [x for x in p.stderr.splitlines()
                if x.startswith("spf_host: ")]
        got = line[0].split()[1] if line else "(no output)"
        if got not in want and not has_cname:
            bad += 1
            print("MISS %s: got %s, want %s: %s" % (tid, got,
                                                   "/".join(want), line))
    print("%d suite seeds checked, %d differ" % (len(checks), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
