#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""gencorpus - the benchmark's corpus, its DNS zone and expected verdicts.

Usage: gencorpus.py OUTDIR [--count N] [--seed S]

Writes OUTDIR/NNNNN.eml, OUTDIR/index (amload's format: file, client IP,
HELO, MAIL FROM, recipients, expected authmilter action) and
OUTDIR/zone.conf (unbound local-data for every name the corpus needs).

Every message has names of its own, so no resolver cache can answer a
message's lookups from an earlier message's:
  - sender domain dNNNNN.example: A, MX, SPF with a two-level include chain
    (the record of dNNNNN.example includes _s1.dNNNNN.example, whose record
    lists the client IP: two dependent TXT lookups, the shape that gives
    the OpenDKIM -> OpenDMARC chain the 88 ms at 20 ms DNS that issue 6
    quotes), _dmarc TXT "p=reject", DKIM key TXT at sel._domainkey;
  - client IP 198.18.x.y (RFC 2544 benchmarking range): PTR to
    mail.dNNNNN.example, whose A is the client IP (iprev and HELO pass);
  - DNSBL bl.example and RHSBL rhsbl.example: no listing (NXDOMAIN), still a
    query per message.
Mix (by message number; sizes drawn from a seeded generator):
  70% pass: From at the sender domain, DKIM-signed by it (every 4th of
      them Ed25519, the rest RSA-2048), SPF pass: expected "accept";
  20% spoofed From: From at victim domain vNNNNN.example (_dmarc p=reject),
      signed by and sent from the sender domain (nothing aligned):
      expected "reject";
  10% unsigned: From at the sender domain, no signature, SPF pass and
      aligned, so DMARC passes: expected "accept".
Body sizes: 60% about 2 KB, 30% about 10 KB, 10% about 100 KB.
"""

import argparse
import base64
import os
import random
import subprocess
import sys

import dkim
import nacl.signing


def ip_of(i):
    n = 1 + i
    return "198.%d.%d.%d" % (18 + (n >> 16), (n >> 8) & 255, n & 255)


def rev(ip):
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"


def txt(name, s):
    parts = [s[k:k + 250] for k in range(0, len(s), 250)] or [""]
    return "local-data: '%s. 300 IN TXT %s'" % (
        name, " ".join('"%s"' % p for p in parts))


WORDS = ("invoice meeting report quarter budget schedule review "
         "project update attached please regards thanks team").split()


def body(rng, size):
    lines, n = [], 0
    while n < size:
        line = " ".join(rng.choice(WORDS) for _ in range(10))
        lines.append(line)
        n += len(line) + 2
    return "\r\n".join(lines) + "\r\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=6)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    rng = random.Random(a.seed)

    rsa_pem = subprocess.run(
        ["openssl", "genrsa", "2048"], check=True,
        capture_output=True).stdout
    rsa_pub = subprocess.run(
        ["openssl", "rsa", "-pubout", "-outform", "DER"], input=rsa_pem,
        check=True, capture_output=True).stdout
    rsa_rec = "v=DKIM1; k=rsa; p=" + base64.b64encode(rsa_pub).decode()
    sk = nacl.signing.SigningKey(bytes(rng.getrandbits(8)
                                       for _ in range(32)))
    ed_priv = base64.b64encode(bytes(sk))
    ed_rec = "v=DKIM1; k=ed25519; p=" + base64.b64encode(
        bytes(sk.verify_key)).decode()

    zone = [
        "server:",
        "local-zone: 'example.' static",
        "local-zone: '18.198.in-addr.arpa.' static",
        "local-zone: '19.198.in-addr.arpa.' static",
    ]
    index = []
    for i in range(a.count):
        d = "d%05d.example" % i
        v = "v%05d.example" % i
        ip = ip_of(i)
        helo = "mail." + d
        kind = i % 10
        spoof = kind in (7, 8)
        unsigned = kind == 9
        ed = not unsigned and i % 4 == 3
        r = rng.random()
        size = 2000 if r < 0.6 else (10000 if r < 0.9 else 100000)

        zone += [
            "local-data: '%s. 300 IN A %s'" % (d, ip),
            "local-data: '%s. 300 IN MX 10 %s.'" % (d, helo),
            "local-data: '%s. 300 IN A %s'" % (helo, ip),
            "local-data: '%s. 300 IN PTR %s.'" % (rev(ip), helo),
            txt(d, "v=spf1 include:_s1.%s -all" % d),
            txt("_s1." + d, "v=spf1 ip4:%s -all" % ip),
            txt("_dmarc." + d, "v=DMARC1; p=reject"),
            txt("sel._domainkey." + d, ed_rec if ed else rsa_rec),
        ]
        frm = "user%d@%s" % (i, d)
        if spoof:
            zone += [
                "local-data: '%s. 300 IN A 192.0.2.1'" % v,
                "local-data: '%s. 300 IN MX 10 mx.%s.'" % (v, v),
                txt(v, "v=spf1 -all"),
                txt("_dmarc." + v, "v=DMARC1; p=reject"),
            ]
            frm = "ceo@" + v
        msg = ("From: <%s>\r\nTo: <rcpt@mx.bench.example>\r\n"
               "Subject: bench message %d\r\n"
               "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
               "Message-ID: <%d.bench@%s>\r\n"
               "MIME-Version: 1.0\r\n"
               "Content-Type: text/plain; charset=us-ascii\r\n\r\n" %
               (frm, i, i, d)) + body(rng, size)
        raw = msg.encode()
        if not unsigned:
            if ed:
                sig = dkim.sign(raw, b"sel", d.encode(), ed_priv,
                                canonicalize=(b"relaxed", b"relaxed"),
                                signature_algorithm=b"ed25519-sha256")
            else:
                sig = dkim.sign(raw, b"sel", d.encode(), rsa_pem,
                                canonicalize=(b"relaxed", b"relaxed"))
            raw = sig.replace(b"\r\n", b"\n").replace(
                b"\n", b"\r\n") + raw
        name = "%05d.eml" % i
        with open(os.path.join(a.outdir, name), "wb") as f:
            f.write(raw)
        index.append("\t".join([name, ip, helo, "bounce@" + d,
                                "rcpt@mx.bench.example",
                                "reject" if spoof else "accept"]))
        if i % 500 == 499:
            print("gencorpus: %d messages" % (i + 1), file=sys.stderr)
    zone += ["local-data: 'bench.example. 300 IN A 127.0.0.1'"]
    with open(os.path.join(a.outdir, "zone.conf"), "w") as f:
        f.write("\n".join(zone) + "\n")
    with open(os.path.join(a.outdir, "index"), "w") as f:
        f.write("\n".join(index) + "\n")


if __name__ == "__main__":
    main()
