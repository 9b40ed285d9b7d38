#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""run_dkim - the dkim suite: published vectors and messages signed now.

Keys are generated at test time with openssl, messages are signed with
dkimpy (Debian python3-dkim), all key records (plus those of the RFC
6376 / RFC 8463 / dkimpy vectors in tests/dkim/vectors/keys.txt)
are served by tests/dnsd/dnsd.py on a loopback port, and the C driver
dkimv_run runs the dkim check on each message exactly as the milter
feeds it. Every case asserts each signature's result and reason, the
msg->auth results DMARC reads, and that the Authentication-Results value
parses with python3-authres and says the same thing.

Usage: run_dkim.py --driver PATH --dnsd PATH --vectors DIR [-v] [-k NAME]
"""

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time

import authres
import dkim

FAILED = []
VERBOSE = False


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, check=True,
                          capture_output=True).stdout


class Key:
    """A key pair: PEM private key for dkimpy and the DNS record."""

    def __init__(self, tmp, kind, bits=2048):
        self.kind = kind
        if kind == "rsa":
            pem = openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                          "rsa_keygen_bits:%d" % bits)
            der = openssl("pkey", "-pubout", "-outform", "DER", data=pem)
            self.private = pem
            self.p = base64.b64encode(der).decode()
            self.record = "v=DKIM1; k=rsa; p=" + self.p
        else:
            pem = openssl("genpkey", "-algorithm", "ed25519")
            der = openssl("pkey", "-outform", "DER", data=pem)
            pub = openssl("pkey", "-pubout", "-outform", "DER", data=pem)
            # dkimpy wants the base64 32-octet seed; DNS the raw key
            self.private = base64.b64encode(der[-32:])
            self.p = base64.b64encode(pub[-32:]).decode()
            self.record = "v=DKIM1; k=ed25519; p=" + self.p
        self.alg = b"rsa-sha256" if kind == "rsa" else b"ed25519-sha256"


BASE_HEADERS = [
    b"From: Joe SixPack <joe@%(d)s>",
    b"To: Suzie Q <suzie@shopping.example.net>",
    b"Subject: Is dinner ready?",
    b"Date: Fri, 11 Jul 2003 21:00:37 -0700",
    b"Message-ID: <20030712040037.46341.5F8J@%(d)s>",
]
BASE_BODY = (b"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\n"
             b"Joe.\r\n")


def message(domain, headers=None, body=BASE_BODY):
    hs = headers if headers is not None else BASE_HEADERS
    text = b"\r\n".join(h % {b"d": domain.encode()} if b"%(d)s" in h
                        else h for h in hs)
    return text + b"\r\n\r\n" + body


def sign(msg, key, domain, selector, canon=(b"relaxed", b"relaxed"),
         include=None):
    """Prepend a DKIM-Signature made by dkimpy."""
    sig = dkim.sign(msg, selector.encode(), domain.encode(), key.private,
                    canonicalize=canon, signature_algorithm=key.alg,
                    include_headers=include)
    if not sig:
        raise RuntimeError("dkimpy did not sign")
    return sig + msg


class Suite:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.records = []
        self.behaviour = {}
        self.cases = []

    def txt(self, name, data):
        self.records.append({"name": name, "type": "TXT", "data": data})

    def cname(self, name, target):
        self.records.append({"name": name, "type": "CNAME",
                             "data": target})

    def case(self, name, msg, want, opts=(), check=None, lf=False):
        """want: list of (result, domain, selector, why substring)."""
        self.cases.append((name, msg, want, list(opts), check, lf))


def parse_driver(out):
    res = {"sigs": [], "auth": None}
    for line in out.splitlines():
        f = line.split("\t")
        if f[0] == "SIG":
            res["sigs"].append({"result": f[1], "d": f[2], "s": f[3],
                                "a": f[4], "b": f[5], "why": f[6],
                                "bits": int(f[7])})
        elif f[0] == "TIME":
            res["t_hdr"], res["t_fin"] = float(f[1]), float(f[2])
        elif f[0] == "AUTH":
            res["auth"] = (f[1], int(f[2]), f[3:])
        elif f[0] == "OUTCOME":
            res["outcome"] = f[1:]
        elif f[0] == "AR":
            res["ar"] = line[3:]
        elif f[0] == "LOG":
            res["log"] = line[4:]
    return res


def check_case(name, res, want):
    errs = []
    sigs = res["sigs"]
    if len(sigs) != len(want):
        errs.append("%d results, want %d: %r" % (len(sigs), len(want),
                                                 sigs))
    for i, (w, g) in enumerate(zip(want, sigs)):
        wr, wd, ws, why = w
        if g["result"] != wr or g["d"] != wd or g["s"] != ws:
            errs.append("sig %d: %s d=%s s=%s (%s), want %s d=%s s=%s" % (
                i, g["result"], g["d"], g["s"], g["why"], wr, wd, ws))
        if why is not None and why not in g["why"]:
            errs.append("sig %d: reason %r lacks %r" % (i, g["why"], why))
        if why is None and wr == "pass" and g["why"]:
            errs.append("sig %d: pass with a reason %r" % (i, g["why"]))
    # msg->auth (what DMARC reads) agrees with the per-signature results
    done, n, items = res["auth"]
    if done != "1" or n != len(sigs):
        errs.append("auth: done=%s n=%d, want 1 and %d" % (done, n,
                                                          len(sigs)))
    for i, (it, g) in enumerate(zip(items, sigs)):
        if it != "%s:%s:%s" % (g["result"], g["d"], g["s"]):
            errs.append("auth %d: %s vs %r" % (i, it, g))
    if res["outcome"][1] != "none":
        errs.append("action %s, DKIM never acts by itself" %
                    res["outcome"][1])
    # the header parses strictly and carries the same results
    try:
        hdr = authres.AuthenticationResultsHeader.parse(
            "Authentication-Results: " + res["ar"])
    except Exception as e:  # noqa: BLE001 - any parse error fails
        errs.append("A-R does not parse: %s: %r" % (e, res["ar"]))
        hdr = None
    if hdr is not None:
        got = [(r.result, {p.type + "." + p.name: p.value
                           for p in r.properties})
               for r in hdr.results if r.method == "dkim"]
        if not sigs:
            if [g[0] for g in got] != ["none"]:
                errs.append("A-R %r, want dkim=none" % res["ar"])
        else:
            if [g[0] for g in got] != [s["result"] for s in sigs]:
                errs.append("A-R results %r vs %r" % (got, sigs))
            for (r, props), s in zip(got, sigs):
                if (s["d"] and "\\x" not in s["d"] and
                        props.get("header.d") != s["d"]):
                    errs.append("A-R header.d %r" % props)
                if s["b"] and props.get("header.b") != s["b"]:
                    errs.append("A-R header.b %r vs %r" % (props, s["b"]))
                if s["a"] and props.get("header.a") != s["a"]:
                    errs.append("A-R header.a %r" % props)
    return errs


def build(suite, vec):
    tmp = suite.tmp
    rsa = Key(tmp, "rsa", 2048)
    rsa2 = Key(tmp, "rsa", 2048)
    rsa512 = Key(tmp, "rsa", 512)
    rsa4096 = Key(tmp, "rsa", 4096)
    ed = Key(tmp, "ed25519")
    ed2 = Key(tmp, "ed25519")

    # --- published vectors (keys from keys.txt) ---
    for line in open(os.path.join(vec, "keys.txt"), encoding="ascii"):
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.rstrip("\n").split("\t", 1)
        suite.txt(name, value)
    rd = lambda f: open(os.path.join(vec, f), "rb").read()  # noqa: E731
    suite.case("rfc6376-appendix-a", rd("rfc6376-appendix-a.eml"),
               [("pass", "example.com", "brisbane", None)])
    suite.case("rfc8463-appendix-a", rd("rfc8463-appendix-a.eml"),
               [("pass", "football.example.com", "brisbane", None),
                ("pass", "football.example.com", "test", None)])
    suite.case("dkimpy-rfc6376.signed", rd("dkimpy/rfc6376.signed.msg"),
               [("pass", "football.example.com", "brisbane", None),
                ("pass", "football.example.com", "test", None)])
    suite.case("dkimpy-ed25519test2-exim", rd("dkimpy/ed25519test2.msg"),
               [("pass", "test.ex", "sed", None)])
    # the unsigned dkimpy example: no signature at all
    suite.case("no-signature", rd("dkimpy/rfc6376.msg"), [])

    # --- signed now ---
    def key_at(sel, dom, key):
        suite.txt("%s._domainkey.%s" % (sel, dom), key.record)

    key_at("r1", "rsa.test", rsa)
    key_at("e1", "ed.test", ed)
    for canon in ((b"relaxed", b"relaxed"), (b"simple", b"simple"),
                  (b"relaxed", b"simple"), (b"simple", b"relaxed")):
        tag = "%s-%s" % (canon[0].decode(), canon[1].decode())
        m = message("rsa.test")
        suite.case("rsa-sha256-" + tag, sign(m, rsa, "rsa.test", "r1",
                                              canon),
                   [("pass", "rsa.test", "r1", None)])
        m = message("ed.test")
        suite.case("ed25519-sha256-" + tag, sign(m, ed, "ed.test", "e1",
                                                  canon),
                   [("pass", "ed.test", "e1", None)])

    folded = [
        b"From: Joe SixPack\r\n <joe@%(d)s>",
        b"To: Suzie Q <suzie@shopping.example.net>,\r\n\tAnne\r\n"
        b"   <anne@shopping.example.net>",
        b"Subject: a subject that is long enough\r\n to be folded\r\n"
        b"\tover three lines",
        b"Date: Fri, 11 Jul 2003 21:00:37 -0700",
        b"Message-ID: <1@%(d)s>",
    ]
    for canon in ((b"simple", b"simple"), (b"relaxed", b"relaxed")):
        tag = canon[0].decode()
        m = message("rsa.test", folded)
        suite.case("folded-headers-" + tag,
                   sign(m, rsa, "rsa.test", "r1", canon),
                   [("pass", "rsa.test", "r1", None)])
        m = message("ed.test", folded)
        suite.case("folded-headers-ed25519-" + tag,
                   sign(m, ed, "ed.test", "e1", canon),
                   [("pass", "ed.test", "e1", None)])

    # an MTA without SMFIP_HDR_LEADSPC: values lose their leading space
    # and the check puts it back
    m = sign(message("rsa.test", folded), rsa, "rsa.test", "r1",
             (b"simple", b"simple"))
    suite.case("no-leadspc-simple", m, [("pass", "rsa.test", "r1", None)],
               opts=["-s"])

    for canon in ((b"simple", b"simple"), (b"relaxed", b"relaxed")):
        tag = canon[0].decode()
        m = message("rsa.test", body=b"Hello\r\n\r\nno line end at the end")
        suite.case("no-final-crlf-" + tag,
                   sign(m, rsa, "rsa.test", "r1", canon),
                   [("pass", "rsa.test", "r1", None)])
    # an empty body
    m = message("rsa.test", body=b"")
    suite.case("empty-body", sign(m, rsa, "rsa.test", "r1",
                                  (b"simple", b"simple")),
               [("pass", "rsa.test", "r1", None)])
    # the body fed in 7-octet chunks, as a milter might
    m = sign(message("rsa.test", body=BASE_BODY * 50), rsa, "rsa.test",
             "r1")
    suite.case("body-in-small-chunks", m,
               [("pass", "rsa.test", "r1", None)], opts=["-c", "7"])
    # a message file with LF line ends: the driver hands CRLF to the
    # check as the MTA does
    m = sign(message("rsa.test"), rsa, "rsa.test", "r1",
             (b"simple", b"simple"))
    suite.case("lf-file", m.replace(b"\r\n", b"\n"),
               [("pass", "rsa.test", "r1", None)])

    # two signatures, both pass (RSA and Ed25519, two domains)
    key_at("r1", "two.test", rsa)
    key_at("e1", "two.test", ed)
    m = message("two.test")
    m = sign(m, ed, "two.test", "e1")
    m = sign(m, rsa, "rsa.test", "r1")
    suite.case("two-signatures-pass", m,
               [("pass", "rsa.test", "r1", None),
                ("pass", "two.test", "e1", None)])
    # one good, one bad: the "bad" selector publishes another key
    key_at("bad", "two.test", rsa2)
    m = message("two.test")
    m = sign(m, rsa, "two.test", "bad")
    m = sign(m, ed, "two.test", "e1")
    suite.case("one-good-one-bad", m,
               [("pass", "two.test", "e1", None),
                ("fail", "two.test", "bad", "signature mismatch")])

    # tampering
    m = sign(message("rsa.test"), rsa, "rsa.test", "r1")
    suite.case("tampered-body", m.replace(b"hungry", b"thirsty"),
               [("fail", "rsa.test", "r1", "body hash mismatch")])
    suite.case("tampered-signed-header",
               m.replace(b"Subject: Is dinner", b"Subject: Is lunch"),
               [("fail", "rsa.test", "r1", "signature mismatch")])
    m = sign(message("ed.test"), ed, "ed.test", "e1")
    suite.case("tampered-body-ed25519", m.replace(b"Joe.", b"Jim."),
               [("fail", "ed.test", "e1", "body hash mismatch")])
    suite.case("tampered-header-ed25519",
               m.replace(b"suzie@", b"susie@"),
               [("fail", "ed.test", "e1", "signature mismatch")])
    # an unsigned header added: still passes
    suite.case("unsigned-header-added",
               b"X-Added: by a list\r\n" + sign(message("rsa.test"), rsa,
                                                "rsa.test", "r1"),
               [("pass", "rsa.test", "r1", None)])

    # rsa-sha1: RFC 8301 forbids accepting it
    sha1 = Key(tmp, "rsa", 2048)
    sha1.alg = b"rsa-sha1"
    key_at("sha1", "rsa.test", sha1)
    m = sign(message("rsa.test"), sha1, "rsa.test", "sha1")
    suite.case("rsa-sha1-policy", m,
               [("policy", "rsa.test", "sha1", "rsa-sha1")])

    # key size policy: 512 < DKIMMinimumKeyBits 1024
    key_at("small", "rsa.test", rsa512)
    m = sign(message("rsa.test"), rsa512, "rsa.test", "small")
    suite.case("rsa-512-policy", m,
               [("policy", "rsa.test", "small", "key too small")])
    suite.case("rsa-512-allowed-at-512", m,
               [("pass", "rsa.test", "small", None)], opts=["-k", "512"])
    m2 = sign(message("rsa.test"), rsa, "rsa.test", "r1")
    suite.case("rsa-2048-policy-at-4096", m2,
               [("policy", "rsa.test", "r1", "key too small (2048 bits)")],
               opts=["-k", "4096"])

    # key problems
    m = sign(message("nokey.test"), rsa, "nokey.test", "gone")
    suite.case("key-nxdomain", m,
               [("permerror", "nokey.test", "gone", "no key")])
    suite.txt("other._domainkey.nodata.test", "v=DKIM1; p=" + rsa.p)
    m = sign(message("nodata.test"), rsa, "nodata.test", "none")
    suite.case("key-nxdomain-sibling", m,
               [("permerror", "nodata.test", "none", "no key")])
    suite.txt("rev._domainkey.rsa.test", "v=DKIM1; k=rsa; p=")
    m = sign(message("rsa.test"), rsa, "rsa.test", "rev")
    suite.case("key-revoked", m,
               [("permerror", "rsa.test", "rev", "key revoked")])
    suite.txt("junk._domainkey.rsa.test", "v=DKIM1; k=rsa; p=!!not*base64")
    m = sign(message("rsa.test"), rsa, "rsa.test", "junk")
    suite.case("key-malformed", m,
               [("permerror", "rsa.test", "junk", "bad key")])
    suite.txt("badp._domainkey.rsa.test",
              "v=DKIM1; k=rsa; p=" + base64.b64encode(b"x" * 64).decode())
    m = sign(message("rsa.test"), rsa, "rsa.test", "badp")
    suite.case("key-not-a-key", m,
               [("permerror", "rsa.test", "badp", "bad key")])
    suite.txt("twice._domainkey.rsa.test", rsa.record)
    suite.txt("twice._domainkey.rsa.test", rsa2.record)
    m = sign(message("rsa.test"), rsa, "rsa.test", "twice")
    suite.case("key-two-txt-records", m,
               [("permerror", "rsa.test", "twice", "multiple key records")])
    suite.txt("long._domainkey.rsa.test",
              rsa.record + "; n=" + "x" * 1000)
    m = sign(message("rsa.test"), rsa, "rsa.test", "long")
    suite.case("key-record-over-1024", m,
               [("permerror", "rsa.test", "long", "key record too long")])

    # key record forms that must work
    suite.cname("alias._domainkey.rsa.test", "r1._domainkey.rsa.test")
    m = sign(message("rsa.test"), rsa, "rsa.test", "alias")
    suite.case("key-behind-cname", m, [("pass", "rsa.test", "alias", None)])
    rec = rsa.record
    suite.txt("split._domainkey.rsa.test",
              [rec[:20], rec[20:200], rec[200:]])
    m = sign(message("rsa.test"), rsa, "rsa.test", "split")
    suite.case("key-split-txt-strings", m,
               [("pass", "rsa.test", "split", None)])
    key_at("big", "rsa.test", rsa4096)
    m = sign(message("rsa.test"), rsa4096, "rsa.test", "big")
    suite.case("rsa-4096-key-split-by-dns", m,
               [("pass", "rsa.test", "big", None)])

    # DNS trouble: temperror; the good signature still passes, because
    # both key queries went out at header time
    suite.behaviour["slow._domainkey.dead.test"] = "timeout"
    key_at("ok", "dead.test", rsa)
    m = message("dead.test")
    m = sign(m, rsa, "dead.test", "ok")
    m = sign(m, ed, "dead.test", "slow")
    suite.case("key-timeout-and-good", m,
               [("temperror", "dead.test", "slow", "timed out"),
                ("pass", "dead.test", "ok", None)],
               opts=["-t", "2", "-p", "300"], check=check_parallel)
    suite.behaviour["sf._domainkey.broken.test"] = "servfail"
    m = sign(message("broken.test"), rsa, "broken.test", "sf")
    suite.case("key-servfail", m,
               [("temperror", "broken.test", "sf", "key query failed")])

    # DKIMMaxSignatures: the extras are neither verified nor queried
    for i in range(4):
        key_at("m%d" % i, "many.test", rsa)
    m = message("many.test")
    for i in range(4):
        m = sign(m, rsa, "many.test", "m%d" % i)
    suite.case("more-than-max-signatures", m,
               [("pass", "many.test", "m3", None),
                ("pass", "many.test", "m2", None)],
               opts=["-m", "2"], check=check_max)

    # malformed signatures: neutral; a good one beside it still passes
    good = sign(message("rsa.test"), rsa, "rsa.test", "r1")
    bad = [
        ("no-b", b"DKIM-Signature: v=1; a=rsa-sha256; d=rsa.test; s=r1;"
                 b" h=from; bh=AAAA\r\n", "signature data missing"),
        ("bad-version", b"DKIM-Signature: v=9; a=rsa-sha256; d=rsa.test;"
                        b" s=r1; h=from; bh=AAAA; b=AAAA\r\n",
         "unsupported signature version"),
        ("bad-alg", b"DKIM-Signature: v=1; a=rsa-md5; d=rsa.test; s=r1;"
                    b" h=from; bh=AAAA; b=AAAA\r\n",
         "signature algorithm invalid"),
        ("no-from-in-h", b"DKIM-Signature: v=1; a=rsa-sha256; d=rsa.test;"
                         b" s=r1; h=subject; bh=AAAA; b=AAAA\r\n",
         "header list missing required entries"),
    ]
    for tag, hdr, why in bad:
        suite.case("malformed-" + tag, hdr + good,
                   [("neutral", "rsa.test", "r1", why),
                    ("pass", "rsa.test", "r1", None)])
    suite.case("malformed-no-tags",
               b"DKIM-Signature: garbage without tags\r\n" + good,
               [("neutral", "", "", "domain tag missing"),
                ("pass", "rsa.test", "r1", None)])
    # only a malformed signature: neutral, not none
    suite.case("malformed-only",
               b"DKIM-Signature: v=1; a=rsa-sha256; d=rsa.test; s=r1\r\n"
               + message("rsa.test"),
               [("neutral", "rsa.test", "r1", "missing")])
    # hostile d=: the header still parses, nothing is injected
    suite.case("hostile-domain",
               b"DKIM-Signature: v=1; a=rsa-sha256; d=ex\"a(m)ple\\.test;"
               b" s=r1; h=from; bh=AAAA; b=AAAA\r\n" + good,
               [("neutral", "ex\\x22a(m)ple\\x5c.test", "r1",
                 "not a domain name"),
                ("pass", "rsa.test", "r1", None)])


def check_parallel(res, qlog, name):
    """Both key queries were asked before the body ended; finish waited
    no longer than the deadline."""
    errs = []
    asked = {}
    for line in qlog:
        f = line.split()
        if len(f) >= 3 and f[2] == "TXT":
            asked.setdefault(f[1], float(f[0]))
    for q in ("slow._domainkey.dead.test", "ok._domainkey.dead.test"):
        if q not in asked:
            errs.append("%s never asked" % q)
        elif asked[q] > res["t_fin"]:
            errs.append("%s asked after the headers (%.3f > %.3f)" % (
                q, asked[q], res["t_fin"]))
    if res["elapsed"] > 3.5:
        errs.append("took %.1f s with a 2 s deadline" % res["elapsed"])
    return errs


def check_max(res, qlog, name):
    errs = []
    for sel in ("m0", "m1"):
        q = "%s._domainkey.many.test" % sel
        if any((" %s TXT" % q) in line for line in qlog):
            errs.append("%s was queried beyond DKIMMaxSignatures" % q)
    if "2 not verified" not in res.get("log", ""):
        errs.append("log %r does not count the extras" % res.get("log"))
    return errs


def start_dnsd(args, zone, qlog, tmp):
    portf = os.path.join(tmp, "port")
    p = subprocess.Popen(["/usr/bin/python3", args.dnsd, "--zones", zone,
                          "--port", "0", "--port-file", portf,
                          "--query-log", qlog])
    for _ in range(200):
        if os.path.exists(portf) and os.path.getsize(portf) > 0:
            return p, open(portf).read().strip()
        if p.poll() is not None:
            break
        time.sleep(0.05)
    p.kill()
    raise RuntimeError("dnsd did not start")


def main():
    global VERBOSE
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--dnsd", required=True)
    ap.add_argument("--vectors", required=True)
    ap.add_argument("-k", dest="only")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.v
    with tempfile.TemporaryDirectory() as tmp:
        suite = Suite(args, tmp)
        build(suite, args.vectors)
        zone = os.path.join(tmp, "zone.json")
        with open(zone, "w", encoding="utf-8") as f:
            json.dump({"records": suite.records,
                       "behaviour": suite.behaviour}, f)
        qlog = os.path.join(tmp, "queries.log")
        dnsd, port = start_dnsd(args, zone, qlog, tmp)
        try:
            run(args, suite, tmp, port, qlog)
        finally:
            dnsd.terminate()
            dnsd.wait()
    total = len(suite.cases) if not args.only else 1
    print("dkim suite: %d cases, %d failed" % (total, len(FAILED)))
    for f in FAILED:
        print("FAILED:", f)
    return 1 if FAILED else 0


def run(args, suite, tmp, port, qlog):
    env = dict(os.environ, AM_TEST_DNS="127.0.0.1@" + port)
    # under -Db_sanitize, a UBSan report must fail the case too
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    for name, msg, want, opts, check, lf in suite.cases:
        if args.only and name != args.only:
            continue
        path = os.path.join(tmp, name + ".eml")
        with open(path, "wb") as f:
            f.write(msg)
        open(qlog, "w").close()
        t0 = time.monotonic()
        p = subprocess.run([args.driver, *opts, path], env=env,
                           capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - t0
        if p.returncode != 0:
            FAILED.append("%s: driver exit %d: %s" % (name, p.returncode,
                                                      p.stderr.strip()))
            continue
        if "runtime error" in p.stderr or "Sanitizer" in p.stderr:
            FAILED.append("%s: sanitizer: %s" % (name, p.stderr.strip()))
            continue
        res = parse_driver(p.stdout)
        res["elapsed"] = elapsed
        errs = check_case(name, res, want)
        if check is not None:
            errs += check(res, open(qlog).read().splitlines(), name)
        if VERBOSE or errs:
            sys.stdout.write("--- %s (%.2f s)\n%s" % (name, elapsed,
                                                      p.stdout))
        for e in errs:
            FAILED.append("%s: %s" % (name, e))
        if not errs:
            print("ok   %s" % name)


if __name__ == "__main__":
    sys.exit(main())
