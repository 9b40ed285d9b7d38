# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end: a trusted upstream relay (TrustedRelays, TrustedAuthservIDs).

The set-up: mail for bank.test (p=reject, SPF authorizes only
BANK_IP, no DKIM) enters at the upstream gateway mx1.upstream.test,
which checked SPF and wrote its Authentication-Results; the gateway
(RELAY_IP, in TrustedRelays) passes the message on to us. Our own SPF
check of RELAY_IP would fail, so DMARC can pass only through the
upstream's spf=pass. The relay's IP is listed in the DNSBL zone and has
no PTR: were its checks run, the message would be refused.
"""

import re

import pytest

import harness
from authcommon import World, build_message, one, our_ar, prop, to_wire
from harness import AUTHSERV_ID, send
from test_authentication import authmilter, keys, retired  # noqa: F401

BANK_IP = "198.51.100.1"
RELAY_IP = "203.0.113.25"
OTHER_IP = "203.0.113.99"
PLAIN_IP = "192.0.2.77"
PLAIN_HOST = "mail.plain.test"
UP_ID = "mx1.upstream.test"
BANK_REJECT = "550 5.7.1 Rejected by DMARC policy for bank.test"
CONF = {"TrustedRelays": "203.0.113.0/27",
        "TrustedAuthservIDs": UP_ID,
        "DNSBL": "bl.test", "IPRevAction": "reject",
        "HeloAction": "reject"}


def upstream_ar(spf="pass", domain="bank.test", authserv_id=UP_ID):
    return ("Authentication-Results",
            "%s;\n\tspf=%s (sender IP is %s) smtp.mailfrom=%s"
            % (authserv_id, spf, BANK_IP, domain))


@pytest.fixture
def world(zone, keys):  # noqa: F811
    w = World(zone)
    w.domain("bank.test", spf="v=spf1 ip4:%s -all" % BANK_IP,
             dmarc="v=DMARC1; p=reject")
    # the relay: listed, no PTR, a HELO name that does not resolve
    rev = ".".join(reversed(RELAY_IP.split(".")))
    zone.a(rev + ".bl.test", "127.0.0.2")
    other = ".".join(reversed(OTHER_IP.split(".")))
    zone.a(other + ".bl.test", "127.0.0.2")
    # a client that is not a relay, whose own checks pass
    w.host(PLAIN_IP, PLAIN_HOST)
    return w


def relay_send(mta, headers, client_ip=RELAY_IP):
    msg, _ = build_message("Bank <security@bank.test>", headers=headers)
    helo = "gw.upstream.test" if client_ip == RELAY_IP else PLAIN_HOST
    return send(mta, mail_from="bounce@bank.test", client_ip=client_ip,
                helo=helo, data=to_wire(msg))


@pytest.mark.authmilter_conf(CONF)
def test_trusted_relay_dmarc_pass_via_upstream_spf(mta, world, dnsd,
                                                   authmilter):
    """The relay's upstream A-R says spf=pass for bank.test: DMARC
    passes through that SPF; the relay's own IP is never looked up
    (no DNSBL or PTR query for it), and the upstream header is kept."""
    r = relay_send(mta, [upstream_ar()])
    assert r.code == 250, r.transcript
    d = mta.wait_delivered(r)
    h = our_ar(d)
    spf = one(h, "spf")
    assert spf.result == "pass"
    assert prop(spf, "smtp", "mailfrom") == "bank.test"
    assert "from trusted relay %s" % UP_ID in harness.unfold(
        d.authentication_results()[0])
    assert one(h, "dmarc").result == "pass"
    assert not [m for m in h.results if m.method == "iprev"]
    assert "Received-SPF" not in d.header_names()
    kept = [v for v in d.authentication_results() if v.startswith(UP_ID)]
    assert len(kept) == 1, d.authentication_results()
    rev = ".".join(reversed(RELAY_IP.split(".")))
    asked = {q[1].rstrip(".") for q in dnsd.queries()}
    assert rev + ".bl.test" not in asked, sorted(asked)
    assert rev + ".in-addr.arpa" not in asked, sorted(asked)
    assert "gw.upstream.test" not in asked, sorted(asked)
    authmilter.wait_log(r"spf=pass spf_domain=bank\.test .*"
                        r"trusted_relay=%s" % re.escape(RELAY_IP))


@pytest.mark.authmilter_conf(CONF)
def test_upstream_spf_fail_rejected(mta, world, authmilter):
    """The upstream says spf=fail: DMARC fails, p=reject rejects."""
    r = relay_send(mta, [upstream_ar(spf="fail")])
    assert r.code == 550, r.transcript
    assert r.text == BANK_REJECT


@pytest.mark.authmilter_conf(CONF)
def test_untrusted_authserv_id_ignored(mta, world, authmilter):
    """The same header with an id not in TrustedAuthservIDs: not read,
    DMARC fails, rejected."""
    r = relay_send(mta, [upstream_ar(authserv_id="mx9.elsewhere.test")])
    assert r.code == 550, r.transcript
    assert r.text == BANK_REJECT


@pytest.mark.authmilter_conf(CONF)
def test_only_topmost_trusted_header_read(mta, world, authmilter):
    """Two headers of the trusted id: the topmost (spf=fail) decides,
    the pass below it is not read."""
    r = relay_send(mta, [upstream_ar(spf="fail"), upstream_ar()])
    assert r.code == 550, r.transcript


@pytest.mark.authmilter_conf(CONF)
def test_malformed_trusted_header_not_trusted(mta, world, authmilter):
    """A trusted-id header that does not parse is not trusted."""
    bad = ("Authentication-Results",
           "%s; spf=pass (unterminated smtp.mailfrom=bank.test" % UP_ID)
    r = relay_send(mta, [bad])
    assert r.code == 550, r.transcript


@pytest.mark.authmilter_conf(CONF)
def test_untrusted_client_header_ignored(mta, world, authmilter):
    """The trusted id's header from a client outside TrustedRelays is
    ignored: our own SPF check (fail) stands, rejected."""
    r = relay_send(mta, [upstream_ar()], client_ip=PLAIN_IP)
    assert r.code == 550, r.transcript
    assert r.text == BANK_REJECT


@pytest.mark.authmilter_conf(dict(CONF, TrustedAuthservIDs=AUTHSERV_ID))
def test_our_id_kept_from_relay_removed_from_others(mta, world,
                                                    authmilter):
    """Our own authserv-id in TrustedAuthservIDs (a cluster sharing one
    id): from the relay its header is kept and read."""
    r = relay_send(mta, [upstream_ar(authserv_id=AUTHSERV_ID)])
    assert r.code == 250, r.transcript
    d = mta.wait_delivered(r)
    values = d.authentication_results()
    assert len(values) == 2, values     # ours on top, the relay's kept
    top = harness.parse_authres(values[0])
    assert one(top, "dmarc").result == "pass"
    assert "sender IP is" in values[1]  # the relay's, below ours


@pytest.mark.authmilter_conf(dict(CONF, TrustedAuthservIDs=AUTHSERV_ID,
                                  DMARCEnforce="no"))
def test_our_id_from_untrusted_client_removed(mta, world, authmilter):
    """The same header from a client that is not a trusted relay: a
    forgery of ours, removed (DMARCEnforce off lets the message through
    to show it)."""
    w = relay_send(mta, [upstream_ar(authserv_id=AUTHSERV_ID)],
                   client_ip=PLAIN_IP)
    assert w.code == 250, w.transcript
    d = mta.wait_delivered(w)
    values = d.authentication_results()
    assert len(values) == 1, values
    assert one(harness.parse_authres(values[0]), "dmarc").result == "fail"


@pytest.mark.authmilter_conf(dict(CONF, DMARCEnforce="no"))
def test_forged_x_authmilter_removed(mta, world, authmilter):
    """An incoming X-Authmilter header is a forgery of ours: removed,
    for any client; only ours remains."""
    forged = ("X-Authmilter", "%s; action=accept (forged)" % AUTHSERV_ID)
    for ip in (PLAIN_IP, RELAY_IP):
        r = relay_send(mta, [forged, upstream_ar()], client_ip=ip)
        assert r.code == 250, r.transcript
        d = mta.wait_delivered(r)
        xs = d.headers("X-Authmilter")
        assert len(xs) == 1, xs
        assert "forged" not in xs[0], xs
    authmilter.wait_log(r"removed forged X-Authmilter #1")
