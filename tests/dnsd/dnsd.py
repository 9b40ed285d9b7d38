#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""dnsd - a small authoritative DNS server for authmilter's tests.

It serves the records of one JSON file on a loopback address (UDP and
TCP), re-reading the file whenever its modification time changes, so a
test can change its zone between two messages. It can delay, drop
(time out) or SERVFAIL chosen names, and log every query it answers.

Zone file (JSON):

    {
      "records": [
        {"name": "example.test", "type": "A", "data": "192.0.2.1"},
        {"name": "example.test", "type": "MX", "data": [10, "mx.example.test"]},
        {"name": "example.test", "type": "TXT", "data": ["v=spf1 ", "-all"]},
        {"name": "www.example.test", "type": "CNAME", "data": "example.test"},
        {"name": "1.2.0.192.in-addr.arpa", "type": "PTR", "data": "mx.example.test"},
        {"name": "*.wild.test", "type": "A", "data": "192.0.2.9", "ttl": 60}
      ],
      "behaviour": {
        "dead.test": "timeout",
        "broken.test": "servfail",
        "refused.test": "refused",
        "slow.test": {"delay_ms": 500},
        "key._domainkey.example.test/TXT": "timeout"
      },
      "delay_ms": 0
    }

TXT data is a string or a list of strings (one character-string each;
strings longer than 255 octets are split). A string whose characters
all fit in one octet is sent as those octets (so "\\u0096" is the octet
0x96); others are sent as UTF-8. A behaviour key matches the query name
or any parent of it, optionally restricted to one type with "/TYPE";
"delay_ms" at the top level delays every answer. Names that own no
record but have descendants answer NODATA; unknown names NXDOMAIN.

Usage: dnsd.py --zones FILE [--addr 127.0.0.1] [--port 0]
               [--port-file FILE] [--query-log FILE] [--delay-ms N]
With --port 0 a free port is chosen and written to --port-file (the
file appears once the server answers).
"""

import argparse
import json
import os
import socket
import socketserver
import sys
import threading
import time

from dnslib import (AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT, A,
                    DNSLabel, DNSRecord)
from dnslib.server import BaseResolver, DNSError, DNSHandler, DNSLogger


def _octets(s):
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8")


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _norm(name):
    """Lower-case ASCII letters only: DNS names compare case-insensitively
    in ASCII alone (RFC 4343), and other octets must come back as sent."""
    return name.rstrip(".").translate(_ASCII_LOWER)


def _qname(label):
    """The query name as text: each label's octets as Latin-1 (so any
    octet, a space included, survives), ASCII lower-cased."""
    return _norm(".".join(l.decode("latin-1") for l in label.label))


class Zone:
    """The records of the JSON file, reloaded when it changes."""

    def __init__(self, path):
        self.path = path
        self.mtime = None
        self.lock = threading.Lock()
        self.records = {}
        self.names = set()
        self.behaviour = {}
        self.delay_ms = 0
        self.reload()

    def reload(self):
        with self.lock:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                return
            key = (st.st_mtime_ns, st.st_size)
            if key == self.mtime:
                return
            with open(self.path, encoding="utf-8") as f:
                doc = json.load(f)
            records = {}
            names = set()
            for r in doc.get("records", []):
                name = _norm(r["name"])
                rtype = r["type"].upper()
                records.setdefault(name, []).append(
                    (rtype, r.get("data"), int(r.get("ttl", 300))))
                labels = name.split(".")
                for i in range(len(labels)):
                    names.add(".".join(labels[i:]))
            self.records = records
            self.names = names
            self.behaviour = {_norm(k): v for k, v in
                              doc.get("behaviour", {}).items()}
            self.delay_ms = int(doc.get("delay_ms", 0))
            self.mtime = key

    def lookup_behaviour(self, qname, qtype):
        labels = qname.split(".")
        for i in range(len(labels)):
            parent = ".".join(labels[i:])
            for key in (parent + "/" + qtype.lower(), parent):
                if key in self.behaviour:
                    return self.behaviour[key]
        return None

    def owner(self, qname):
        """The records for qname, with wildcard matching."""
        if qname in self.records:
            return self.records[qname]
        if qname in self.names:
            return []
        labels = qname.split(".")
        for i in range(1, len(labels)):
            wild = "*." + ".".join(labels[i:])
            if wild in self.records:
                return self.records[wild]
            if ".".join(labels[i:]) in self.names:
                break
        return None


def _label(name):
    return DNSLabel([l.encode("latin-1") for l in name.split(".")])


def _rdata(rtype, data):
    if rtype == "A":
        return A(data)
    if rtype == "AAAA":
        return AAAA(data)
    if rtype == "MX":
        return MX(data[1], data[0])
    if rtype == "CNAME":
        return CNAME(data)
    if rtype == "PTR":
        return PTR(data)
    if rtype == "TXT":
        parts = data if isinstance(data, list) else [data]
        chunks = []
        for p in parts:
            b = _octets(p)
            if not b:
                chunks.append(b"")
            while b:
                chunks.append(b[:255])
                b = b[255:]
        return TXT(chunks)
    raise ValueError("unsupported type " + rtype)


class Resolver(BaseResolver):
    def __init__(self, zone, extra_delay_ms, qlog):
        self.zone = zone
        self.extra_delay_ms = extra_delay_ms
        self.qlog = qlog
        self.qlog_lock = threading.Lock()

    def log(self, qname, qtype, what):
        if not self.qlog:
            return
        with self.qlog_lock:
            with open(self.qlog, "a", encoding="utf-8") as f:
                f.write("%.6f %s %s %s\n" % (time.time(), qname, qtype, what))

    def resolve(self, request, handler):
        self.zone.reload()
        reply = request.reply()
        reply.header.aa = 1
        q = request.q
        qname = _qname(q.qname)
        qtype = QTYPE[q.qtype]
        beh = self.zone.lookup_behaviour(qname, qtype)
        delay = self.zone.delay_ms + self.extra_delay_ms
        if isinstance(beh, dict):
            delay += int(beh.get("delay_ms", 0))
            beh = beh.get("action")
        if delay:
            time.sleep(delay / 1000.0)
        if beh == "timeout":
            self.log(qname, qtype, "dropped")
            raise DNSError("dropped on purpose")
        if beh == "servfail":
            reply.header.rcode = RCODE.SERVFAIL
            self.log(qname, qtype, "servfail")
            return reply
        if beh == "refused":
            reply.header.rcode = RCODE.REFUSED
            self.log(qname, qtype, "refused")
            return reply

        name = qname
        for _ in range(8):  # follow at most 8 CNAMEs
            recs = self.zone.owner(name)
            if recs is None:
                if name == qname:
                    reply.header.rcode = RCODE.NXDOMAIN
                    self.log(qname, qtype, "nxdomain")
                    return reply
                break
            cname = [r for r in recs if r[0] == "CNAME"]
            if cname and qtype != "CNAME":
                _, data, ttl = cname[0]
                reply.add_answer(RR(_label(name), QTYPE.CNAME, ttl=ttl,
                                    rdata=_rdata("CNAME", data)))
                name = _norm(data)
                continue
            for rtype, data, ttl in recs:
                if rtype == qtype or qtype == "ANY":
                    reply.add_answer(RR(_label(name), getattr(QTYPE, rtype),
                                        ttl=ttl, rdata=_rdata(rtype, data)))
            break
        self.log(qname, qtype, "answered %d" % len(reply.rr))
        return reply


class QuietLogger(DNSLogger):
    def __init__(self):
        super().__init__(log="-request,-reply,-truncated,-recv,-send,-data,-error")


class UDPServer(socketserver.ThreadingMixIn, socketserver.UDPServer):
    allow_reuse_address = True
    daemon_threads = True


class TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser(description="authmilter test DNS server")
    ap.add_argument("--zones", required=True)
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--query-log")
    ap.add_argument("--delay-ms", type=int, default=0)
    args = ap.parse_args()

    zone = Zone(args.zones)
    resolver = Resolver(zone, args.delay_ms, args.query_log)
    logger = QuietLogger()
    family = socket.AF_INET6 if ":" in args.addr else socket.AF_INET

    UDPServer.address_family = family
    TCPServer.address_family = family
    # One port for both: bind UDP first, then TCP on the same number.
    for _ in range(50):
        udp = UDPServer((args.addr, args.port), DNSHandler)
        port = udp.server_address[1]
        try:
            tcp = TCPServer((args.addr, port), DNSHandler)
            break
        except OSError:
            udp.server_close()
            if args.port:
                raise
    else:
        sys.exit("dnsd: no free port")
    for srv in (udp, tcp):
        srv.resolver = resolver
        srv.logger = logger
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
