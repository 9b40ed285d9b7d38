# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end tests of every result of the connection checks through
Postfix: DNSBL filters, weights, thresholds, allowlists, error codes and
stray answers; RHSBL filters; iprev pass/fail/permerror with several PTR
names and IPv6; HELO address literals, non-FQDN names, our own name;
sender domain MX, implicit MX, NXDOMAIN, no data, null MX. Each message
is delivered with action tag (so every result shows in X-Authmilter, the
Authentication-Results header and the log line) unless the case is about
the reply.
"""

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from connchecks import (BL, BL2, RHS, World, ar_method,  # noqa: E402
                        check_record, conf, delivered, milter,
                        module_milter)  # noqa: F401

WL = "wl.conn.test"
TAG_ALL = {"DNSBLAction": "tag", "RHSBLAction": "tag", "IPRevAction": "tag",
           "HeloAction": "tag", "SenderDomainAction": "tag"}


def score(x, key):
    m = re.search(r"score=(-?\d+)", x.items.get(key, ("", ""))[1])
    return int(m.group(1)) if m else None


def zones(x, key):
    m = re.search(r"zones=([^\s)]+)", x.items.get(key, ("", ""))[1])
    return m.group(1).split(",") if m else []


# -- DNSBL --------------------------------------------------------------------

# (id, DNSBL entries, DNSBLThreshold, {zone: answer}, result, score, zones)
DNSBL_CASES = [
    ("range-in", [BL + "=127.0.0.[2..4]"], None, {BL: "127.0.0.3"},
     "listed", 1, [BL]),
    ("range-out", [BL + "=127.0.0.[2..4]"], None, {BL: "127.0.0.5"},
     "pass", 0, []),
    ("alternatives-in", [BL + "=127.0.0.[2;9]"], None, {BL: "127.0.0.9"},
     "listed", 1, [BL]),
    ("alternatives-out", [BL + "=127.0.0.[2;9]"], None, {BL: "127.0.0.3"},
     "pass", 0, []),
    ("range-and-alternative-in-octet-2", [BL + "=127.[0..1;5].0.2"], None,
     {BL: "127.5.0.2"}, "listed", 1, [BL]),
    ("weights-below-threshold", [BL + "*2", BL2 + "*1"], 3,
     {BL: "127.0.0.2"}, "pass", 2, [BL]),
    ("weights-reach-threshold", [BL + "*2", BL2 + "*1"], 3,
     {BL: "127.0.0.2", BL2: "127.0.0.2"}, "listed", 3, [BL, BL2]),
    ("allowlist", [BL, WL + "*-5"], None,
     {BL: "127.0.0.2", WL: "127.0.0.2"}, "pass", -4, [BL, WL]),
    ("error-code-not-counted", [BL], None, {BL: "127.255.255.254"},
     "pass", 0, []),
    ("outside-127-ignored", [BL], None, {BL: "192.0.2.7"}, "pass", 0, []),
    ("outside-127-ignored-despite-filter", [BL + "=192.0.2.7"], None,
     {BL: "192.0.2.7"}, "pass", 0, []),
]


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize(
    "case", DNSBL_CASES, ids=[c[0] for c in DNSBL_CASES])
def test_dnsbl_result(mta, zone, milter, case, v6):
    _, entries, threshold, answers, result, sc, zs = case
    w = World(zone, v6=v6)
    for z, a in answers.items():
        w.list_ip(z, a)
    keys = conf(TAG_ALL, DNSBL=entries)
    if threshold is not None:
        keys["DNSBLThreshold"] = str(threshold)
    milter.use(keys)
    r = w.send(mta)
    _, x, _ = delivered(mta, r)
    assert x.result("dnsbl") == result, x
    assert score(x, "dnsbl") == sc, x
    assert zones(x, "dnsbl") == zs, x
    assert x.action == ("tag failed=dnsbl" if result == "listed"
                        else "accept"), x
    rec = milter.record(w.ip)
    check_record(rec, w, qid=r.queue_id)
    assert rec["dnsbl"] == result and int(rec["dnsbl_score"]) == sc, rec
    lines = milter.lines()
    if case[0] == "error-code-not-counted":
        assert [ln for ln in lines if " error: " in ln and BL in ln and
                "127.255.255.254" in ln], lines
    if case[0].startswith("outside-127"):
        assert [ln for ln in lines if " warning: " in ln and BL in ln and
                "192.0.2.7" in ln], lines


def test_dnsbl_reply_names_the_heaviest_zone(mta, zone, milter):
    w = World(zone)
    w.list_ip(BL)
    w.list_ip(BL2)
    milter.use(conf(DNSBL=[BL + "*1", BL2 + "*3"], DNSBLAction="reject"))
    r = w.send(mta)
    assert r.text == ("554 5.7.1 Service unavailable; client [%s] blocked "
                      "using %s" % (w.ip, BL2)), r.transcript
    rec = milter.record(w.ip)
    assert rec["dnsbl_score"] == "4", rec


@pytest.mark.parametrize("answer,result", [("127.0.0.2", "listed"),
                                           ("127.0.0.3", "pass")])
def test_rhsbl_filter(mta, zone, milter, answer, result):
    w = World(zone)
    w.list_domain(RHS, answer)
    milter.use(conf(TAG_ALL, RHSBL=RHS + "=127.0.0.2"))
    r = w.send(mta)
    _, x, _ = delivered(mta, r)
    assert x.result("rhsbl") == result, x
    rec = milter.record(w.ip)
    assert rec["rhsbl"] == result, rec


# -- iprev --------------------------------------------------------------------


def _rev(w):
    return harness.ipaddress.ip_address(w.ip).reverse_pointer


def iprev_maps_elsewhere(w):
    w.zone.remove(w.ptr_name)
    w.zone.a(w.ptr_name, "2001:db8::ff" if ":" in w.ip else "192.0.2.98")


def iprev_name_missing(w):
    w.zone.remove(w.ptr_name)


def iprev_second_name(w):
    """Two PTR names; only the second maps back."""
    w.zone.remove(_rev(w))
    w.zone.add(_rev(w), "PTR", "other%d.conn.test" % w.n)
    w.zone.a("other%d.conn.test" % w.n,
             "2001:db8::fe" if ":" in w.ip else "192.0.2.97")
    w.zone.add(_rev(w), "PTR", w.ptr_name)


def iprev_no_ptr(w):
    w.zone.remove(_rev(w))


IPREV_CASES = [
    ("pass", None, "pass", True),
    ("second-ptr-name-passes", iprev_second_name, "pass", True),
    ("name-maps-elsewhere", iprev_maps_elsewhere, "fail", False),
    ("name-does-not-exist", iprev_name_missing, "fail", False),
    # RFC 8601 s. 2.7.3: no PTR is permerror (SPEC.md says fail; see
    # docs/CHECKS.md)
    ("no-ptr", iprev_no_ptr, "permerror", False),
]


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("case", IPREV_CASES,
                         ids=[c[0] for c in IPREV_CASES])
def test_iprev_result(mta, zone, milter, case, v6):
    _, setup, result, has_name = case
    w = World(zone, v6=v6)
    if setup:
        setup(w)
    milter.use(conf(TAG_ALL))
    r = w.send(mta)
    _, x, ar = delivered(mta, r)
    res = ar_method(ar, "iprev")
    assert res is not None and res.result == result, ar
    props = {(p.type, p.name): p.value for p in res.properties}
    assert props[("smtp", "remote-ip")] == w.ip, props
    if has_name:
        assert props[("policy", "iprev")] == w.ptr_name, props
    else:
        assert ("policy", "iprev") not in props, props
    assert x.action == ("accept" if result == "pass"
                        else "tag failed=iprev"), x
    rec = milter.record(w.ip)
    assert rec["iprev"] == result, rec


# -- HELO ---------------------------------------------------------------------


def lit(w):
    return ("[IPv6:%s]" % w.ip) if ":" in w.ip else ("[%s]" % w.ip)


# (id, v6, HELO name from the world, setup, result)
HELO_CASES = [
    ("name-pass", False, lambda w: w.helo, None, "pass"),
    ("name-pass-v6", True, lambda w: w.helo, None, "pass"),
    ("literal-equal", False, lit, None, "pass"),
    ("literal-equal-v6", True, lit, None, "pass"),
    ("literal-other", False, lambda w: "[192.0.2.66]", None, "fail"),
    ("literal-malformed", False, lambda w: "[300.1.2.3]", None, "fail"),
    ("not-fqdn", False, lambda w: "mailhost", None, "fail"),
    ("bare-ip", False, lambda w: w.ip, None, "fail"),
    ("nxdomain", False, lambda w: "nx%d.conn.test" % w.n, None, "fail"),
    # our own name fails even when it resolves to the client
    ("our-name", False, lambda w: harness.AUTHSERV_ID,
     lambda w: w.zone.a(harness.AUTHSERV_ID, w.ip), "fail"),
    ("our-name-case-and-dot", False,
     lambda w: harness.AUTHSERV_ID.upper() + ".", None, "fail"),
]


@pytest.mark.parametrize("case", HELO_CASES, ids=[c[0] for c in HELO_CASES])
def test_helo_result(mta, zone, milter, case):
    _, v6, name, setup, result = case
    w = World(zone, v6=v6)
    helo = name(w)
    if setup:
        setup(w)
    milter.use(conf(TAG_ALL))
    r = w.send(mta, helo=helo)
    _, x, _ = delivered(mta, r)
    assert x.result("helo") == result, x
    rec = milter.record(w.ip)
    check_record(rec, w, qid=r.queue_id, helo=helo)
    assert rec["helo_result"] == result, rec


def test_helo_reject_reply_names_the_helo(mta, zone, milter):
    w = World(zone)
    milter.use(conf(HeloAction="reject"))
    r = w.send(mta, helo="mailhost")
    assert r.text == ("550 5.7.1 HELO name mailhost does not match client "
                      "[%s]" % w.ip), r.transcript


# -- sender domain ------------------------------------------------------------


def sd_implicit_a(w):
    w.zone.remove(w.domain)
    w.zone.a(w.domain, "192.0.2.77")


def sd_implicit_aaaa(w):
    w.zone.remove(w.domain)
    w.zone.a(w.domain, "2001:db8::77")


def sd_no_data(w):
    w.zone.remove(w.domain)
    w.zone.txt(w.domain, "just text")


def sd_nxdomain(w):
    w.zone.remove(w.domain)


def sd_null_mx(w):
    w.zone.remove(w.domain)
    w.zone.mx(w.domain, 0, ".")


SENDER_CASES = [
    ("mx", None, "pass"),
    ("implicit-mx-a", sd_implicit_a, "pass"),
    ("implicit-mx-aaaa", sd_implicit_aaaa, "pass"),
    ("no-data", sd_no_data, "fail"),
    ("nxdomain", sd_nxdomain, "fail"),
    ("null-mx", sd_null_mx, "nullmx"),
]


@pytest.mark.parametrize("case", SENDER_CASES,
                         ids=[c[0] for c in SENDER_CASES])
def test_sender_domain_result(mta, zone, milter, case):
    _, setup, result = case
    w = World(zone)
    if setup:
        setup(w)
    milter.use(conf(TAG_ALL))
    r = w.send(mta)
    _, x, _ = delivered(mta, r)
    assert x.result("sender-domain") == result, x
    rec = milter.record(w.ip)
    assert rec["sender_domain"] == result, rec


@pytest.mark.parametrize("setup,reply", [
    (sd_no_data, "550 5.1.8 Sender address rejected: domain %s not found"),
    (sd_null_mx, "550 5.7.27 Sender address has null MX"),
])
def test_sender_domain_replies(mta, zone, milter, setup, reply):
    w = World(zone)
    setup(w)
    milter.use(conf(SenderDomainAction="reject"))
    r = w.send(mta)
    assert r.text == (reply % w.domain if "%s" in reply else reply), \
        r.transcript


# -- hostile names ------------------------------------------------------------


def test_hostile_helo_is_safe_in_reply_header_and_log(mta, zone, milter):
    """A HELO name with '%' (a format character for libmilter's reply),
    quotes, a semicolon and parentheses: the reply replaces '%', the
    headers still parse strictly, and the log line is one line with the
    name escaped."""
    w = World(zone)
    helo = 'evil%n%s";x=(y).conn.test'
    milter.use(conf(TAG_ALL))
    r = w.send(mta, helo=helo)
    _, x, _ = delivered(mta, r)
    assert x.result("helo") == "fail", x
    rec = milter.record(w.ip)
    assert rec["helo_result"] == "fail", rec
    milter.use(conf(HeloAction="reject"))
    r = w.send(mta, helo=helo)
    assert r.code == 550, r.transcript
    assert "%" not in r.text and r.text.startswith(
        "550 5.7.1 HELO name evil?n?s"), r.transcript


def test_address_literal_sender_is_not_checked(mta, zone, dnsd, milter):
    """MAIL FROM user@[IP]: no domain for the sender-domain check or
    RHSBL (reject_unknown_sender_domain and reject_rhsbl_sender look up
    domains only)."""
    w = World(zone)
    milter.use(conf(RHSBL=RHS, RHSBLAction="reject",
                    SenderDomainAction="reject"))
    r = w.send(mta, mail_from="user@[%s]" % w.ip,
               from_header="<%s>" % w.sender)
    _, x, _ = delivered(mta, r)
    assert x.result("sender-domain") in (None, "none"), x
    assert x.result("rhsbl") in (None, "none"), x
    assert not [q for q in dnsd.queries() if q[1].endswith("." + RHS)]
    rec = milter.record(w.ip)
    assert rec.get("sender_domain") in (None, "none"), rec


def test_sender_domain_case_does_not_matter(mta, zone, milter):
    w = World(zone)
    w.list_domain(RHS)
    milter.use(conf(TAG_ALL, RHSBL=RHS))
    r = w.send(mta, mail_from=w.sender.upper())
    _, x, _ = delivered(mta, r)
    assert x.result("sender-domain") == "pass", x
    assert x.result("rhsbl") == "listed", x
