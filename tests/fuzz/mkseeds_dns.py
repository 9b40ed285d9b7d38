#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""mkseeds_dns.py - seed corpus for fuzz_dns_answer: DNS messages.

Usage: mkseeds_dns.py CORPUS_DIR

Writes one seed per answer shape (built with dnslib, as the test DNS
server builds its replies): data for each type, CNAME chains, NODATA,
NXDOMAIN, SERVFAIL, compressed MX/PTR names, split and empty TXT
strings, and a few truncated or self-pointing messages. Each seed is
the fuzz target's two control octets followed by the message.
"""
import hashlib
import os
import sys

from dnslib import A, AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT, \
    DNSRecord

TYPES = {"A": 0, "PTR": 1, "MX": 2, "TXT": 3, "AAAA": 4}


def msg(qname, qtype, answers=(), rcode=0):
    q = DNSRecord.question(qname, qtype)
    r = q.reply()
    r.header.rcode = rcode
    for a in answers:
        r.add_answer(a)
    return r.pack()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = []

    def add(qtype, wire, sec=0, rcode=None):
        c0 = TYPES[qtype] | (sec << 3) | (32 if rcode else 0)
        seeds.append(bytes([c0, rcode or 0]) + wire)

    n = "example.com"
    add("A", msg(n, "A", [RR(n, QTYPE.A, rdata=A("192.0.2.1"), ttl=60),
                          RR(n, QTYPE.A, rdata=A("192.0.2.2"), ttl=30)]))
    add("A", msg(n, "A", [RR(n, QTYPE.A, rdata=A("192.0.2.1"))]), sec=2)
    add("A", msg(n, "A", [RR(n, QTYPE.A, rdata=A("192.0.2.1"))]), sec=1)
    add("AAAA", msg(n, "AAAA", [RR(n, QTYPE.AAAA,
                                   rdata=AAAA("2001:db8::1"))]))
    add("MX", msg(n, "MX", [RR(n, QTYPE.MX, rdata=MX("mx1." + n, 10)),
                            RR(n, QTYPE.MX, rdata=MX(".", 0))]))
    add("PTR", msg("1.2.0.192.in-addr.arpa", "PTR",
                   [RR("1.2.0.192.in-addr.arpa", QTYPE.PTR,
                       rdata=PTR("mail.example.com"))]))
    add("TXT", msg(n, "TXT", [RR(n, QTYPE.TXT,
                                 rdata=TXT(["v=spf1 ", "-all"]))]))
    add("TXT", msg(n, "TXT", [RR(n, QTYPE.TXT, rdata=TXT([""]))]))
    add("TXT", msg(n, "TXT", [RR(n, QTYPE.TXT, rdata=TXT(["x" * 255] * 40))]))
    add("A", msg("www." + n, "A",
                 [RR("www." + n, QTYPE.CNAME, rdata=CNAME("a." + n)),
                  RR("a." + n, QTYPE.CNAME, rdata=CNAME("b." + n)),
                  RR("b." + n, QTYPE.A, rdata=A("192.0.2.9"))]))
    add("A", msg("loop." + n, "A",
                 [RR("loop." + n, QTYPE.CNAME, rdata=CNAME("loop." + n))]))
    add("TXT", msg(n, "TXT"))
    add("A", msg("nx." + n, "A", rcode=RCODE.NXDOMAIN))
    add("A", msg(n, "A", rcode=RCODE.SERVFAIL))
    add("A", b"", rcode=2)
    add("A", b"", rcode=3)
    w = msg(n, "A", [RR(n, QTYPE.A, rdata=A("192.0.2.1"))])
    add("A", w[:len(w) - 3])
    # a compression pointer to itself in the answer's owner name
    add("A", w[:12 + 17] + b"\xc0" + bytes([12 + 17]) + w[12 + 19:])
    for s in seeds:
        name = hashlib.sha1(s).hexdigest()[:16]
        with open(os.path.join(out, name), "wb") as f:
            f.write(s)


if __name__ == "__main__":
    main()
