#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""gencorpus - the benchmark's corpus, its DNS zone and expected verdicts.

Usage: gencorpus.py OUTDIR [--count N] [--seed S]

Writes OUTDIR/NNNNN.eml, OUTDIR/index (amload's format: file, client IP,
HELO, MAIL FROM, recipients, expected authmilter action), OUTDIR/index-uribl
(the same with the actions expected when the URIBL zones below are
configured) and OUTDIR/zone.conf (unbound local-data for every name the
corpus needs).

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

Links (from a generator of their own, so that the sizes above are those of
the corpus before links, seed for seed): 15% of the messages have none
(text/plain); 35% are text/plain with links (URLs and bare www. hosts in
the text); 35% are multipart/alternative, text/plain and a
quoted-printable text/html part (an href per link of the text part and an
img src on a shared CDN host; long URLs cross QP soft line breaks); 15%
the same with a base64 text/html part (a raw scan of the body sees only
the text part's links before end of message). A message with links has 1
to 6 link domains; it links to its sender's own domain (www. or news.
dNNNNN.example: a name of its own, so each such message has at least one
URIBL lookup no cache can answer) in four of five cases, and to 1 to 4 of
40 shared domains (siteNN.example, drawn with a skew: the first ones are
the most linked, as big senders' and trackers' are; answered from the
cache after their first lookup); one message in fifty also links to an
IPv4 literal.
URIBL zones (the bench row "authmilter + URIBL"): dbl.bench.example
(listing 127.0.1.2) and uri.bench.example (127.0.0.2) list bad0.example to
bad5.example (bad0, bad1 in the first, bad2, bad3 in the second, bad4,
bad5 in both). Every 50th message (i % 50 == 11, a pass message) links to
one of them, in a text/plain, a QP or a base64 message in turn; so does
every 50th spoofed one (i % 50 == 17, rejected by DMARC anyway). index
expects "accept" for the first kind (no URIBL configured), index-uribl
"reject". No other link domain is listed: the other lookups are NXDOMAIN.
"""

import argparse
import base64
import os
import quopri
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


URIBL_ZONES = ("dbl.bench.example", "uri.bench.example")
BAD = [("bad0.example", (0,)), ("bad1.example", (0,)),
       ("bad2.example", (1,)), ("bad3.example", (1,)),
       ("bad4.example", (0, 1)), ("bad5.example", (0, 1))]
LISTING = ("127.0.1.2", "127.0.0.2")
SHARED = ["site%02d.example" % k for k in range(40)]
SHARED_W = [1.0 / (k + 1) for k in range(40)]
PATHS = ("offer", "news/2024/01/item", "unsubscribe?u=%d", "track/open?id=%d",
         "p/%d", "account/login", "img/logo.png", "c/%d?utm_source=mail"
         "&utm_medium=email&utm_campaign=january")


def crlf(b):
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def link_hosts(lrng, i, d, bad):
    """The hosts a message links to: its own domain (4 in 5), 1 to 4
    shared ones, now and then an IPv4 literal, and bad (if any)."""
    hosts = []
    if lrng.random() < 0.8:
        hosts.append(lrng.choice(("www.", "news.")) + d)
    for h in lrng.choices(SHARED, SHARED_W, k=lrng.randint(1, 4)):
        h = lrng.choice(("www.", "cdn.", "t.", "")) + h
        if h not in hosts:
            hosts.append(h)
    if lrng.random() < 0.02:
        hosts.append("203.0.113.%d" % lrng.randint(1, 254))
    if bad:
        hosts.insert(lrng.randint(0, len(hosts)), bad)
    return hosts


def url(lrng, host):
    path = lrng.choice(PATHS)
    if "%d" in path:
        path = path % lrng.randint(1, 10 ** 9)
    return "https://%s/%s" % (host, path)


def plain_with_links(rng, lrng, size, hosts):
    """body() text with each host's link (an URL, or a bare www. host)
    placed at a random line."""
    lines = body(rng, size).split("\r\n")[:-1]
    for h in hosts:
        if h.startswith("www.") and lrng.random() < 0.3:
            ref = h
        else:
            ref = url(lrng, h)
        k = lrng.randint(0, len(lines))
        lines.insert(k, "see %s for details" % ref)
    return "\r\n".join(lines) + "\r\n"


def html_with_links(lrng, text, hosts):
    """An HTML rendering of text (paragraphs of five lines) with an <a
    href> per host and an <img src> on a shared CDN host."""
    lines = [ln for ln in text.split("\r\n") if ln and
             not ln.startswith("see ")]
    paras = ["<p>%s</p>" % " ".join(lines[k:k + 5])
             for k in range(0, len(lines), 5)] or ["<p>hello</p>"]
    for h in hosts:
        a = '<p>Read <a href="%s">more</a> &amp; reply.</p>' % (
            url(lrng, h).replace("&", "&amp;"))
        paras.insert(lrng.randint(0, len(paras)), a)
    paras.insert(0, '<img src="https://cdn.%s/img/%d.png" alt="logo">' % (
        lrng.choices(SHARED, SHARED_W)[0], lrng.randint(1, 99)))
    return ("<!DOCTYPE html><html><head><meta charset=\"us-ascii\">"
            "<title>news</title></head><body>\r\n" +
            "\r\n".join(paras) + "\r\n</body></html>\r\n")


def mime_body(rng, lrng, i, d, size, bad, shape):
    """(Content-Type and Content-Transfer-Encoding header lines, body) for
    shape "none", "plain", "qp" or "b64"."""
    if shape == "none":
        return ("Content-Type: text/plain; charset=us-ascii\r\n",
                body(rng, size))
    hosts = link_hosts(lrng, i, d, bad)
    if shape == "plain":
        return ("Content-Type: text/plain; charset=us-ascii\r\n",
                plain_with_links(rng, lrng, size, hosts))
    text = plain_with_links(rng, lrng, size // 2, hosts)
    html = html_with_links(lrng, text, hosts).encode()
    if shape == "qp":
        enc, data = "quoted-printable", quopri.encodestring(html)
    else:
        enc, data = "base64", base64.encodebytes(html)
    b = "=_bench_%05d" % i
    return ("Content-Type: multipart/alternative; boundary=\"%s\"\r\n" % b,
            "This is a multi-part message in MIME format.\r\n\r\n"
            "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n"
            "Content-Transfer-Encoding: 7bit\r\n\r\n%s\r\n"
            "--%s\r\nContent-Type: text/html; charset=us-ascii\r\n"
            "Content-Transfer-Encoding: %s\r\n\r\n%s\r\n--%s--\r\n" % (
                b, text, b, enc, crlf(data).decode(), b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=6)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    rng = random.Random(a.seed)
    lrng = random.Random(a.seed * 7919 + 1)

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
    index, index_uribl = [], []
    for b, zs in BAD:
        for z in zs:
            zone.append("local-data: '%s.%s. 300 IN A %s'" % (
                b, URIBL_ZONES[z], LISTING[z]))
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
        bad = BAD[(i // 50) % len(BAD)][0] if i % 50 in (11, 17) else None
        if bad:
            shape = ("plain", "qp", "b64")[(i // 50) % 3]
        else:
            lr = lrng.random()
            shape = "none" if lr < 0.15 else "plain" if lr < 0.5 else \
                "qp" if lr < 0.85 else "b64"
        # A copy of the size generator's state, so that the links do not
        # shift the sizes of the messages after this one.
        brng = random.Random()
        brng.setstate(rng.getstate())
        ctype, text = mime_body(brng, lrng, i, d, size, bad, shape)
        body(rng, size)

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
               "MIME-Version: 1.0\r\n%s\r\n" %
               (frm, i, i, d, ctype)) + text
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
        fields = [name, ip, helo, "bounce@" + d, "rcpt@mx.bench.example"]
        index.append("\t".join(fields + ["reject" if spoof else "accept"]))
        index_uribl.append("\t".join(
            fields + ["reject" if spoof or bad else "accept"]))
        if i % 500 == 499:
            print("gencorpus: %d messages" % (i + 1), file=sys.stderr)
    zone += ["local-data: 'bench.example. 300 IN A 127.0.0.1'"]
    with open(os.path.join(a.outdir, "zone.conf"), "w") as f:
        f.write("\n".join(zone) + "\n")
    with open(os.path.join(a.outdir, "index"), "w") as f:
        f.write("\n".join(index) + "\n")
    with open(os.path.join(a.outdir, "index-uribl"), "w") as f:
        f.write("\n".join(index_uribl) + "\n")


if __name__ == "__main__":
    main()
