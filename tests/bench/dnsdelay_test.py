#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""dnsdelay_test.py DNSDELAY - the benchmark's DNS relay, against dnsd.

Run through tests/dnsd/with-dnsd.sh (AM_TEST_DNS_PORT names the server).
Starts dnsdelay in front of dnsd, first holding answers for 150 ms, then
for 0 ms, and sends 60 queries at once from 30 sockets (two each, with
colliding query ids across sockets). Every query must get exactly its
own answer (its id, its name, the zone's address), none earlier than
the delay, and the relay must survive a runt datagram.
"""

import os
import socket
import subprocess
import sys
import time

from dnslib import DNSRecord

DELAY_MS = 150
N_SOCK = 30


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_ready(p, port):
    """Probe until the relay answers (at most 10 s)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    q = DNSRecord.question("h0-0.relay.test", "A").pack()
    try:
        for _ in range(20):
            if p.poll() is not None:
                return False
            s.sendto(q, ("127.0.0.1", port))
            try:
                s.recv(4096)
                return True
            except socket.timeout:
                pass
        return False
    finally:
        s.close()


def run(dnsdelay, upstream, delay_ms):
    port = free_udp_port()
    p = subprocess.Popen([dnsdelay, "-l", "127.0.0.1:%d" % port,
                          "-u", "127.0.0.1:%d" % upstream,
                          "-d", str(delay_ms)])
    fails = []
    try:
        if not wait_ready(p, port):
            return ["%d ms: dnsdelay did not start relaying" % delay_ms]
        runt = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        runt.sendto(b"\x01\x02\x03", ("127.0.0.1", port))
        socks, sent = [], {}
        t0 = time.monotonic()
        for i in range(N_SOCK):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for j in range(2):
                qid = 1000 + j  # the same two ids on every socket
                name = "h%d-%d.relay.test" % (i, j)
                q = DNSRecord.question(name, "A")
                q.header.id = qid
                s.sendto(q.pack(), ("127.0.0.1", port))
                sent[(i, qid)] = name
            socks.append(s)
        deadline = t0 + 3.0  # for all answers together
        for i, s in enumerate(socks):
            for _ in range(2):
                s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    data = s.recv(4096)
                except socket.timeout:
                    fails.append("socket %d: an answer is missing" % i)
                    continue
                ms = (time.monotonic() - t0) * 1e3
                r = DNSRecord.parse(data)
                name = sent.pop((i, r.header.id), None)
                if name is None:
                    fails.append("socket %d: unexpected id %d" %
                                 (i, r.header.id))
                    continue
                if str(r.q.qname).rstrip(".") != name:
                    fails.append("%s: answer is for %s" % (name, r.q.qname))
                want = "192.0.2.%d" % (i + 1)
                got = [str(rr.rdata) for rr in r.rr]
                if got != [want]:
                    fails.append("%s: %s, not [%s]" % (name, got, want))
                if ms < delay_ms:
                    fails.append("%s: answered after %.1f ms, before the "
                                 "%d ms delay" % (name, ms, delay_ms))
            s.close()
        if sent:
            fails.append("%d queries without an answer" % len(sent))
        if p.poll() is not None:
            fails.append("dnsdelay died: %d" % p.returncode)
    finally:
        p.kill()
        p.wait()
    return ["%d ms: %s" % (delay_ms, f) for f in fails]


def main():
    dnsdelay = sys.argv[1]
    upstream = int(os.environ["AM_TEST_DNS_PORT"])
    fails = run(dnsdelay, upstream, DELAY_MS) + run(dnsdelay, upstream, 0)
    for f in fails:
        print("FAIL", f)
    if not fails:
        print("dnsdelay: 2 x %d queries relayed, ids and answers right, "
              "none early" % (2 * N_SOCK))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
