#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""mkseeds_dkimv.py - seed corpus for fuzz_dkimv_headers.

Usage: mkseeds_dkimv.py [--check REPLAY] DKIM_DIR CORPUS_DIR

DKIM_DIR is tests/dkim/vectors: its signed vectors (RFC 6376
appendix A, RFC 8463 appendix A, dkimpy's) with the key records of
keys.txt as the seed's DNS world (fuzz_world.h lines, then "--", then
the message). Variants: the key absent, SERVFAIL, TIMEOUT, two key
records, a key over 1024 octets, a key with a NUL, the signature
repeated 40 times (DKIMV_MAX_SIGHDRS, DKIMMaxSignatures 0, 5 and 39),
folded and huge headers, 1100 headers, a Subject appended after 1000
junk headers, CRLF line ends, values without their leading space, a
cut body.

With --check, each vector and variant is run through REPLAY (the
replay build of the target, AM_FUZZ_STATS=1) and its dkim result
compared: pass unmodified; permerror without a key, with two, with one
over 1024 octets or with a NUL; temperror for SERVFAIL, timeout and
bogus; policy past the header cap, for a key under DKIMMinimumKeyBits
and for rsa-sha1; neutral for a d= that is no host name: the local
query set gives what the
loopback DNS server gives in test_dkimv.
"""
import argparse
import hashlib
import os
import subprocess
import sys

VECTORS = ["rfc6376-appendix-a.eml", "rfc8463-appendix-a.eml",
           "dkimpy/rfc6376.signed.msg", "dkimpy/ed25519test2.msg"]


def keys(d):
    out = []
    with open(os.path.join(d, "keys.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, txt = line.split("\t", 1)
            out.append((name, txt))
    return out


def seed(world, msg, **kw):
    head = ["%s %s" % (k, v) for k, v in kw.items()]
    w = "\n".join(head + world) + "\n--\n"
    return w.encode("utf-8", "surrogateescape") + msg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check")
    ap.add_argument("dkim")
    ap.add_argument("out")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    ks = keys(args.dkim)
    world = ["%s TXT %s" % (n, t) for n, t in ks]
    seeds = []
    checks = []  # (what, seed, the message's dkim result)
    for v in VECTORS:
        with open(os.path.join(args.dkim, v), "rb") as f:
            msg = f.read()
        lf = msg.replace(b"\r\n", b"\n")
        s = seed(world, lf)
        seeds.append(s)
        checks.append((v, s, "pass"))
        crlf = lf.replace(b"\n", b"\r\n")
        seeds.append(seed(world, crlf, split=7))
        seeds.append(seed(world, lf, trimmed=1))
        # every key absent, failing, timing out, doubled, too long
        for status, want in (("NXDOMAIN", "permerror"),
                             ("SERVFAIL TXT", "temperror"),
                             ("TIMEOUT", "temperror"),
                             ("BOGUS", "temperror")):
            wl = ["%s %s" % (n, status) for n, _ in ks]
            s = seed(wl, lf)
            seeds.append(s)
            checks.append((v + " " + status, s, want))
        for what, wl in (
                ("two keys", world + world),
                ("empty world", []),
                ("key over 1024", ["%s TXT %s; n=%s" % (n, t, "x" * 1100)
                                   for n, t in ks]),
                ("NUL in key", ["%s TXT v=DKIM1;\0 %s" % (n, t)
                                for n, t in ks])):
            s = seed(wl, lf)
            seeds.append(s)
            checks.append((v + " " + what, s, "permerror"))
        seeds.append(seed(["*._domainkey.example.com TXT v=DKIM1; p="],
                          lf))
        # the signature header repeated, with the caps around it
        hdrs, _, body = lf.partition(b"\n\n")
        lines = hdrs.split(b"\n")
        sig = []
        rest = []
        for ln in lines:
            if ln[:1] in (b" ", b"\t") and sig and rest == []:
                sig.append(ln)
            elif ln.lower().startswith(b"dkim-signature:") and not sig:
                sig.append(ln)
            else:
                rest.append(ln)
        sigh = b"\n".join(sig)
        reps = ((40, 5), (40, 0), (40, 39), (3, 1))
        for n, ms in reps if v == VECTORS[0] else reps[3:]:
            m = b"\n".join([sigh] * n + rest) + b"\n\n" + body
            seeds.append(seed(world, m, maxsigs=ms))
        seeds.append(seed(world, lf.replace(b"\n\n", b"\n", 1)))
        if v != VECTORS[0]:
            continue
        # huge and many headers, folding (one vector: they are big)
        big = b"X-Big: " + b"a" * 60000 + b"\n"
        many = b"".join(b"X-H%d: v\n\t folded\n" % i for i in range(1100))
        seeds.append(seed(world, big + lf))
        seeds.append(seed(world, many + lf))
        # a signed header appended past SESSION_MAX_HEADERS (1000)
        junk = b"".join(b"X-J%d: x\n" % i for i in range(1000))
        s = seed(world, hdrs + b"\n" + junk + b"Subject: forged\n\n" +
                 body)
        seeds.append(s)
        checks.append((v + " header cap", s, "policy"))
        # key too small for DKIMMinimumKeyBits, rsa-sha1, a bad d=
        s = seed(world, lf, minbits=2048)
        seeds.append(s)
        checks.append((v + " minbits 2048", s, "policy"))
        s = seed(world, lf.replace(b"a=rsa-sha256", b"a=rsa-sha1", 1))
        seeds.append(s)
        checks.append((v + " rsa-sha1", s, "policy"))
        s = seed(world, lf.replace(b"d=example.com", b"d=exa!mple.com", 1))
        seeds.append(s)
        checks.append((v + " bad d=", s, "neutral"))
    for s in seeds:
        name = hashlib.sha1(s).hexdigest()[:16]
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(s)
    if not args.check:
        return 0
    bad = 0
    env = dict(os.environ, AM_FUZZ_STATS="1")
    for what, s, want in checks:
        path = os.path.join(args.out, hashlib.sha1(s).hexdigest()[:16])
        p = subprocess.run([args.check, path], capture_output=True,
                           text=True, env=env)
        line = [x for x in p.stderr.splitlines()
                if x.startswith("dkimv_headers: ")]
        got = line[0].split()[1] if line else "(no output)"
        ok = got == want and p.returncode == 0
        if not ok:
            bad += 1
            print("MISS %s: got %s, want %s %s" % (what, got, want, line))
    print("%d dkim seeds checked, %d differ" % (len(checks), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
