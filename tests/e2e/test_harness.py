# SPDX-License-Identifier: BSD-2-Clause
"""Tests of the test bed itself: dnsd, the private Postfix, smtp-sink, the
strict A-R parser, and the hooks a milter relies on, proven with
stubmilter.py (a python3-milter stub, not authmilter)."""

import json
import os
import socket
import subprocess
import time

import pytest
from dnslib import DNSRecord, RCODE

import harness

HERE = os.path.dirname(os.path.abspath(__file__))


def dns_query(port, name, qtype="A", timeout=1.0):
    q = DNSRecord.question(name, qtype)
    return DNSRecord.parse(q.send("127.0.0.1", port, timeout=timeout))


class Stub:
    def __init__(self, workdir, port):
        self.events_path = os.path.join(workdir, "stub-events-%d.jsonl"
                                        % time.monotonic_ns())
        self.proc = subprocess.Popen(
            [harness.PYTHON, os.path.join(HERE, "stubmilter.py"),
             str(port), self.events_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)

        def ready():
            if self.proc.poll() is not None:
                raise harness.HarnessError("stubmilter exited")
            return harness.port_open(port)
        harness.wait_until(ready, 10, "stubmilter")

    def events(self, kind=None):
        out = []
        for ln in harness.read_text(self.events_path).splitlines():
            e = json.loads(ln)
            if kind is None or e["event"] == kind:
                out.append(e)
        return out

    def stop(self):
        # A stub: its exit status is not under test, and libmilter takes
        # seconds to notice SIGTERM.
        self.proc.kill()
        return self.proc.wait()


@pytest.fixture
def stub(workdir, milter_port):
    try:
        import Milter  # noqa: F401
    except ImportError:
        pytest.skip("python3-milter is not installed (tests/packages.txt)")
    s = Stub(workdir, milter_port)
    yield s
    s.stop()


# -- dnsd -------------------------------------------------------------------

def test_dnsd_serves_the_zone_and_reloads(dnsd, zone):
    zone.a("host.e2e.test", "192.0.2.5")
    r = dns_query(dnsd.port, "host.e2e.test")
    assert [str(rr.rdata) for rr in r.rr] == ["192.0.2.5"]
    zone.remove("host.e2e.test").a("host.e2e.test", "192.0.2.6")
    r = dns_query(dnsd.port, "host.e2e.test")
    assert [str(rr.rdata) for rr in r.rr] == ["192.0.2.6"]
    r = dns_query(dnsd.port, "missing.e2e.test")
    assert r.header.rcode == RCODE.NXDOMAIN
    names = [(q[1], q[2], q[3]) for q in dnsd.queries()]
    assert names == [("host.e2e.test", "A", "answered 1"),
                     ("host.e2e.test", "A", "answered 1"),
                     ("missing.e2e.test", "A", "nxdomain")]


def test_dnsd_behaviours(dnsd, zone):
    zone.a("x.broken.e2e.test", "192.0.2.7")
    zone.behave("broken.e2e.test", "servfail")
    zone.behave("dead.e2e.test/TXT", "timeout")
    zone.ptr("192.0.2.7", "x.broken.e2e.test")
    r = dns_query(dnsd.port, "x.broken.e2e.test")
    assert r.header.rcode == RCODE.SERVFAIL
    with pytest.raises(socket.timeout):
        dns_query(dnsd.port, "dead.e2e.test", "TXT", timeout=0.5)
    r = dns_query(dnsd.port, "7.2.0.192.in-addr.arpa", "PTR")
    assert [str(rr.rdata) for rr in r.rr] == ["x.broken.e2e.test."]
    outcomes = [q[3] for q in dnsd.queries()]
    assert outcomes == ["servfail", "dropped", "answered 1"]


# -- the strict parser ----------------------------------------------------

def test_parse_authres_is_strict():
    h = harness.parse_authres(
        "mx.test.example;\n\tspf=pass smtp.mailfrom=example.test;\n"
        "\tdkim=pass header.d=example.test header.s=s1")
    assert h.authserv_id == "mx.test.example"
    assert [r.method for r in h.results] == ["spf", "dkim"]
    # A bad ptype is skipped by the lenient parser, refused by ours.
    with pytest.raises(Exception):
        harness.parse_authres("mx.test.example; spf=pass bogus.x=y")
    with pytest.raises(Exception):
        harness.parse_authres("mx.test.example spf=pass")


# -- Postfix, smtp-sink and the milter hooks -----------------------------

def test_milter_sees_xclient_data_and_message_is_delivered(mta, stub):
    r = harness.send(mta, client_ip="192.0.2.44", helo="h44.example.test",
                     client_name="h44.example.test")
    assert r.code == 250, r.transcript
    assert r.queue_id
    d = mta.wait_delivered(r)
    assert d.headers("X-Stub-Milter") == ["seen qid=%s" % r.queue_id]
    assert d.headers("Message-ID") == [r.message_id]
    conn = stub.events("connect")[-1]
    assert conn["addr"] == "192.0.2.44"
    assert conn["hostname"] == "h44.example.test"
    assert conn["macros"]["j"] == harness.AUTHSERV_ID
    assert conn["macros"]["{client_addr}"] == "192.0.2.44"
    assert stub.events("helo")[-1]["helo"] == "h44.example.test"
    mail = stub.events("mail")[-1]
    assert mail["mail_from"] == "<sender@example.test>"
    assert not mail["macros"]["{auth_authen}"]
    assert stub.events("eom")[-1]["qid"] == r.queue_id
    assert mta.log_lines(r"%s: .*status=sent" % r.queue_id)


def test_milter_sees_ipv6_client(mta, stub):
    r = harness.send(mta, client_ip="2001:db8::25")
    assert r.code == 250, r.transcript
    assert stub.events("connect")[-1]["addr"] == "2001:db8::25"
    mta.wait_delivered(r)


def test_sasl_login_reaches_milter(mta, stub):
    if not mta.sasl:
        pytest.skip("sasl2-bin is missing: no SASL in the private Postfix")
    r = harness.send(mta, auth=(harness.SASL_USER, harness.SASL_PASSWORD))
    assert r.code == 250, r.transcript
    assert "235" in r.transcript
    mail = stub.events("mail")[-1]
    assert mail["macros"]["{auth_authen}"] == harness.SASL_AUTHEN
    mta.wait_delivered(r)


def test_quarantine_goes_to_the_hold_queue(mta, stub):
    r = harness.send(mta, subject="please stub:hold this")
    assert r.code == 250, r.transcript
    held = harness.wait_until(
        lambda: [q for q in mta.held() if q["queue_id"] == r.queue_id],
        10, "message on hold")
    assert held[0]["queue_name"] == "hold"
    text = mta.postcat(r.queue_id)
    assert "please stub:hold this" in text
    assert "X-Stub-Milter: seen" in text


def test_milter_reject_reaches_the_client(mta, stub):
    r = harness.send(mta, subject="stub:reject")
    assert r.code == 550, r.transcript
    assert "5.7.1 stub rejects" in r.text


def test_local_submission_goes_through_non_smtpd_milters(mta, stub):
    text, mid = harness.make_message("root@mx.test.example",
                                     "rcpt@dest.test")
    r = mta.sendmail(text)
    assert r.returncode == 0, r.stderr
    d = mta.wait_delivered(mid)
    assert d.headers("X-Stub-Milter")
    conn = stub.events("connect")[-1]
    assert conn["addr"] == "127.0.0.1"
    assert stub.events("mail")[-1]["mail_from"] == "root@mx.test.example"


def test_no_milter_listening_means_tempfail(mta):
    # Nothing listens on the milter port: milter_default_action applies.
    assert not harness.port_open(mta.milter_port)
    r = harness.send(mta)
    assert r.code == 451, r.transcript
    assert "4.7.1" in r.text
    assert mta.log_lines(r"connect to Milter service inet:127\.0\.0\.1:%d: "
                         r"Connection refused" % mta.milter_port)
