# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end tests of the connection checks (DNSBL, RHSBL, iprev, HELO,
sender domain) and the policy (actions, DelayReject, OnDNSError, DryRun,
X-Authmilter, the per-message log line), through the private Postfix
with XCLIENT client addresses and HELO names and zones served by dnsd.

One authmilter serves the whole module; each test puts its
configuration in force with SIGHUP (connchecks.Milter). Every test uses
names and addresses of its own (connchecks.World), so the daemon's DNS
cache carries nothing from one test to the next.
"""

import json
import os
import re
import smtplib
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from connchecks import (BL, BL2, BL3, BL4, RHS, World,  # noqa: E402
                        ar_method, check_record, conf, delivered,
                        error_command, held_headers, milter, mta_log,
                        module_milter, our_ar, xauth)  # noqa: F401

# -- causes: one per reply of SPEC "Replies" ----------------------------------


class Cause:
    """A failure of one check: how to configure it, how to break the
    world, what reply, X-Authmilter item and log field it gives."""

    def __init__(self, name, action_key, extra, breaker, reply, xkey,
                 xresult, logkey, v6=False):
        self.name = name
        self.action_key = action_key
        self.extra = extra
        self.breaker = breaker
        self.reply = reply
        self.xkey = xkey
        self.xresult = xresult
        self.logkey = logkey
        self.v6 = v6

    def keys(self, action, **more):
        return conf(self.extra, {self.action_key: action}, more)


def _nomx(w):
    w.zone.remove(w.domain)


def _nullmx(w):
    w.zone.remove(w.domain)
    w.zone.mx(w.domain, 0, ".")
    w.zone.a(w.domain, "192.0.2.80")   # a web-only domain


def _no_ptr(w):
    w.zone.remove(harness.ipaddress.ip_address(w.ip).reverse_pointer)


def _helo_elsewhere(w):
    w.zone.remove(w.helo)
    w.zone.a(w.helo, "192.0.2.99")


CAUSES = [
    Cause("dnsbl", "DNSBLAction", {"DNSBL": BL},
          lambda w: w.list_ip(BL),
          lambda w: ("554", "5.7.1", "Service unavailable; client [%s] "
                     "blocked using %s" % (w.ip, BL)),
          "dnsbl", "listed", "dnsbl"),
    Cause("dnsbl6", "DNSBLAction", {"DNSBL": BL},
          lambda w: w.list_ip(BL),
          lambda w: ("554", "5.7.1", "Service unavailable; client [%s] "
                     "blocked using %s" % (w.ip, BL)),
          "dnsbl", "listed", "dnsbl", v6=True),
    Cause("rhsbl", "RHSBLAction", {"RHSBL": RHS},
          lambda w: w.list_domain(RHS),
          lambda w: ("554", "5.7.1", "Service unavailable; sender domain "
                     "%s blocked using %s" % (w.domain, RHS)),
          "rhsbl", "listed", "rhsbl"),
    Cause("iprev", "IPRevAction", {}, _no_ptr,
          lambda w: ("550", "5.7.25", "Reverse DNS validation failed for "
                     "[%s]" % w.ip),
          None, "permerror", "iprev"),
    Cause("helo", "HeloAction", {}, _helo_elsewhere,
          lambda w: ("550", "5.7.1", "HELO name %s does not match client "
                     "[%s]" % (w.helo, w.ip)),
          "helo", "fail", "helo_result"),
    Cause("sender", "SenderDomainAction", {}, _nomx,
          lambda w: ("550", "5.1.8", "Sender address rejected: domain %s "
                     "not found" % w.domain),
          "sender-domain", "fail", "sender_domain"),
    Cause("nullmx", "SenderDomainAction", {}, _nullmx,
          lambda w: ("550", "5.7.27", "Sender address has null MX"),
          "sender-domain", "nullmx", "sender_domain"),
]
CAUSE_IDS = [c.name for c in CAUSES]


def soft(code, xcode):
    """A reply made temporary, as Postfix's soft_bounce does."""
    return "4" + code[1:], "4" + xcode[1:]


def assert_result_reported(c, x, ar, rec):
    """The check's failing result is in the headers and the log."""
    if c.xkey is not None:
        assert x.result(c.xkey) == c.xresult, x
    else:
        res = ar_method(ar, "iprev")
        assert res is not None and res.result == c.xresult, ar
    assert rec.get(c.logkey) == c.xresult, rec


@pytest.mark.parametrize("c", CAUSES, ids=CAUSE_IDS)
def test_reject_with_the_spec_reply_at_first_rcpt(mta, zone, milter, c):
    w = World(zone, v6=c.v6)
    c.breaker(w)
    milter.use(c.keys("reject"))
    r = w.send(mta)
    code, xcode, text = c.reply(w)
    assert r.text == "%s %s %s" % (code, xcode, text), r.transcript
    assert error_command(r) == "RCPT", r.transcript
    rec = milter.record(w.ip)
    check_record(rec, w)
    assert rec["action"] == "reject", rec
    assert rec.get(c.logkey) == c.xresult, rec
    assert mta_log(mta, r"milter-reject: RCPT from .*\[%s\]: %s %s"
                         % (w.ip.replace(".", r"\."), code,
                            xcode.replace(".", r"\.")))


def test_every_rcpt_gets_the_delayed_reply(mta, zone, milter):
    w = World(zone)
    w.list_ip(BL)
    milter.use(conf({"DNSBL": BL, "DNSBLAction": "reject"}))
    r = w.send(mta, rcpt="a@dest.test,b@dest.test")
    want = "Service unavailable; client [%s] blocked using %s" % (w.ip, BL)
    rcpt_replies = [(c, t) for c, t, err in r.replies if err]
    assert rcpt_replies == [(554, "5.7.1 " + want)] * 2, r.transcript
    assert len(milter.records()) == 1, milter.lines()


@pytest.mark.parametrize("c", CAUSES, ids=CAUSE_IDS)
def test_tempfail_sends_the_reply_as_4xx(mta, zone, milter, c):
    w = World(zone, v6=c.v6)
    c.breaker(w)
    milter.use(c.keys("tempfail"))
    r = w.send(mta)
    code, xcode, text = c.reply(w)
    code, xcode = soft(code, xcode)
    assert r.text == "%s %s %s" % (code, xcode, text), r.transcript
    assert error_command(r) == "RCPT", r.transcript
    rec = milter.record(w.ip)
    check_record(rec, w)
    assert rec["action"] == "tempfail", rec


@pytest.mark.parametrize("c", CAUSES, ids=CAUSE_IDS)
def test_quarantine_puts_the_message_on_hold(mta, zone, milter, c):
    w = World(zone, v6=c.v6)
    c.breaker(w)
    milter.use(c.keys("quarantine"))
    r = w.send(mta)
    assert r.code == 250 and r.queue_id, r.transcript
    held = harness.wait_until(
        lambda: [q for q in mta.held() if q["queue_id"] == r.queue_id],
        10, "message %s on hold" % r.queue_id)
    assert len(held) == 1
    text = mta.postcat(r.queue_id)
    x = xauth(held_headers(text, "X-Authmilter"))
    assert x.action.startswith("quarantine"), x
    assert "reason=" in x.action, x
    ar = our_ar(held_headers(text, "Authentication-Results"))
    rec = milter.record(w.ip)
    check_record(rec, w, qid=r.queue_id)
    assert rec["action"] == "quarantine", rec
    assert_result_reported(c, x, ar, rec)
    # Postfix logs the hold, not the milter's reason.
    assert mta_log(mta, r"%s: milter-hold: END-OF-MESSAGE from .*\[%s\]"
                         % (r.queue_id, w.ip.replace(".", r"\.")))


@pytest.mark.parametrize("c", CAUSES, ids=CAUSE_IDS)
def test_tag_delivers_and_names_the_failure(mta, zone, milter, c):
    w = World(zone, v6=c.v6)
    c.breaker(w)
    milter.use(c.keys("tag"))
    r = w.send(mta)
    d, x, ar = delivered(mta, r)
    check_name = "sender-domain" if c.name in ("sender", "nullmx") else \
        "dnsbl" if c.name == "dnsbl6" else c.name
    assert x.action.split() == ["tag", "failed=" + check_name], x
    rec = milter.record(w.ip)
    check_record(rec, w, qid=r.queue_id)
    assert rec["action"] == "tag", rec
    assert_result_reported(c, x, ar, rec)


@pytest.mark.parametrize("c", CAUSES, ids=CAUSE_IDS)
def test_none_delivers_and_still_reports(mta, zone, milter, c):
    w = World(zone, v6=c.v6)
    c.breaker(w)
    milter.use(c.keys("none"))
    r = w.send(mta)
    d, x, ar = delivered(mta, r)
    assert x.action == "accept", x
    rec = milter.record(w.ip)
    check_record(rec, w, qid=r.queue_id)
    assert rec["action"] == "accept", rec
    assert_result_reported(c, x, ar, rec)


def test_everything_passes(mta, zone, milter):
    """The default actions with every check on and a clean client."""
    w = World(zone)
    milter.use({"DNSBL": BL, "RHSBL": RHS, "IPRevAction": "reject",
                "HeloAction": "reject"})
    r = w.send(mta)
    d, x, ar = delivered(mta, r)
    assert x.action == "accept", x
    for k in ("dnsbl", "rhsbl", "helo", "sender-domain"):
        assert x.result(k) == "pass", x
    iprev = ar_method(ar, "iprev")
    assert iprev.result == "pass"
    props = {(p.type, p.name): p.value for p in iprev.properties}
    assert props[("smtp", "remote-ip")] == w.ip
    assert props[("policy", "iprev")] == w.ptr_name
    rec = milter.record(w.ip)
    check_record(rec, w, qid=r.queue_id)
    assert rec["from_domain"] == w.domain
    for k, v in (("dnsbl", "pass"), ("rhsbl", "pass"), ("iprev", "pass"),
                 ("helo_result", "pass"), ("sender_domain", "pass")):
        assert rec.get(k) == v, (k, rec)
    assert rec["action"] == "accept"
    # Received-SPF (RFC 7208 s. 9.1): result, comment, then FWS and the
    # key-value list, whole (the check's folds kept, nothing cut).
    rspf = d.headers("Received-SPF")
    assert len(rspf) == 1, rspf
    m = re.match(r"^none \((.*)\)[ \t]*\r?\n[ \t]+(.*)$",
                 rspf[0].strip(), re.S)
    assert m, rspf
    pairs = dict(kv.strip().split("=", 1)
                 for kv in harness.unfold(m.group(2)).split(";"))
    assert pairs == {"receiver": harness.AUTHSERV_ID, "client-ip": w.ip,
                     "envelope-from": '"%s"' % w.sender, "helo": w.helo,
                     "identity": "mailfrom"}, pairs


# -- DelayReject no: the verdict in the check's own phase ---------------------

# The phase whose callback gives the verdict with DelayReject no.
PHASE_OF = {"dnsbl": "connect", "dnsbl6": "connect", "iprev": "connect",
            "helo": "helo", "rhsbl": "mail", "sender": "mail",
            "nullmx": "mail"}


@pytest.mark.parametrize("c", CAUSES, ids=CAUSE_IDS)
def test_delay_reject_no_rejects_in_the_phase(mta, zone, milter, c):
    """What Postfix shows for a milter reject in each phase (recorded in
    docs/CHECKS.md): at connect (here: at XCLIENT, where the milter
    session for the XCLIENT address opens) the client gets Postfix's own
    "554 HOST ESMTP not accepting connections" and the milter's reply is
    only logged; a HELO reject is remembered by Postfix and given at MAIL
    FROM; a MAIL reject answers MAIL FROM."""
    w = World(zone, v6=c.v6)
    c.breaker(w)
    milter.use(c.keys("reject", DelayReject="no"))
    r = w.send(mta)
    code, xcode, text = c.reply(w)
    spec = "%s %s %s" % (code, xcode, text)
    ip = w.ip.replace(".", r"\.")
    phase = PHASE_OF[c.name]
    if phase == "connect":
        assert error_command(r) == "XCLIENT", r.transcript
        assert r.text == "554 %s ESMTP not accepting connections" \
            % harness.AUTHSERV_ID, r.transcript
        assert mta_log(mta, r"milter-reject: XCLIENT from .*\[%s\]: %s;"
                             % (ip, re.escape(spec)))
    elif phase == "helo":
        assert error_command(r) == "MAIL", r.transcript
        assert r.text == spec, r.transcript
        assert mta_log(mta, r"milter-reject: EHLO from .*\[%s\]: %s;"
                             % (ip, re.escape(spec)))
    else:
        assert error_command(r) == "MAIL", r.transcript
        assert r.text == spec, r.transcript
        assert mta_log(mta, r"milter-reject: MAIL from .*\[%s\]: %s;"
                             % (ip, re.escape(spec)))
    rec = milter.record(w.ip)
    assert rec["action"] == "reject", rec
    assert rec.get(c.logkey) == c.xresult, rec
    if phase != "mail":
        assert "mailfrom" not in rec, rec
    else:
        assert rec["mailfrom"] == w.sender, rec


# -- temperror: dnsd drops the check's query ----------------------------------


class Drop:
    """Which query to drop for a check, and where its temperror shows."""

    def __init__(self, name, action_key, extra, target, xkey, logkey):
        self.name = name
        self.action_key = action_key
        self.extra = extra
        self.target = target
        self.xkey = xkey
        self.logkey = logkey


DROPS = [
    Drop("dnsbl", "DNSBLAction", {"DNSBL": BL},
         lambda w: "%s.%s" % (w.rev, BL), "dnsbl", "dnsbl"),
    Drop("rhsbl", "RHSBLAction", {"RHSBL": RHS},
         lambda w: "%s.%s" % (w.domain, RHS), "rhsbl", "rhsbl"),
    Drop("iprev", "IPRevAction", {},
         lambda w: harness.ipaddress.ip_address(w.ip).reverse_pointer,
         None, "iprev"),
    # the PTR answer is in, the PTR name's address is not
    Drop("iprev-forward", "IPRevAction", {},
         lambda w: w.ptr_name + "/A", None, "iprev"),
    Drop("helo", "HeloAction", {}, lambda w: w.helo + "/A", "helo",
         "helo_result"),
    Drop("sender", "SenderDomainAction", {}, lambda w: w.domain + "/MX",
         "sender-domain", "sender_domain"),
]
DROP_IDS = [d.name for d in DROPS]


def dropped(dnsd, name):
    """dnsd's query log shows the query for name (or under it) dropped."""
    n = name.split("/")[0]
    return [q for q in dnsd.queries()
            if (q[1] == n or q[1].endswith("." + n)) and q[3] == "dropped"]


@pytest.mark.parametrize("d", DROPS, ids=DROP_IDS)
def test_temperror_with_on_dns_error_accept(mta, zone, dnsd, milter, d):
    w = World(zone)
    zone.behave(d.target(w), "timeout")
    milter.use(conf(d.extra, {d.action_key: "reject",
                              "OnDNSError": "accept", "DNSTimeout": "1"}))
    r = w.send(mta)
    _, x, ar = delivered(mta, r)
    assert dropped(dnsd, d.target(w)), dnsd.queries()
    assert x.action == "accept", x
    if d.xkey is not None:
        assert x.result(d.xkey) == "temperror", x
    else:
        assert ar_method(ar, "iprev").result == "temperror", ar
    rec = milter.record(w.ip)
    check_record(rec, w, qid=r.queue_id)
    assert rec.get(d.logkey) == "temperror", rec
    assert rec["action"] == "accept", rec


@pytest.mark.parametrize("d", DROPS, ids=DROP_IDS)
def test_temperror_with_on_dns_error_tempfail(mta, zone, dnsd, milter, d):
    w = World(zone)
    zone.behave(d.target(w), "timeout")
    milter.use(conf(d.extra, {d.action_key: "reject",
                              "OnDNSError": "tempfail", "DNSTimeout": "1"}))
    r = w.send(mta)
    assert r.text == "451 4.4.3 Temporary DNS failure, try again later", \
        r.transcript
    assert error_command(r) == "RCPT", r.transcript
    assert dropped(dnsd, d.target(w)), dnsd.queries()
    rec = milter.record(w.ip)
    check_record(rec, w)
    assert rec.get(d.logkey) == "temperror", rec
    assert rec["action"] == "tempfail", rec


def test_on_dns_error_tempfail_spares_a_check_that_only_tags(mta, zone,
                                                             dnsd, milter):
    """OnDNSError applies to checks that could reject (docs/CHECKS.md)."""
    w = World(zone)
    zone.behave("%s.%s" % (w.rev, BL), "timeout")
    milter.use(conf({"DNSBL": BL, "DNSBLAction": "tag",
                     "OnDNSError": "tempfail", "DNSTimeout": "1"}))
    r = w.send(mta)
    _, x, _ = delivered(mta, r)
    assert x.result("dnsbl") == "temperror", x
    assert x.action == "accept", x


# -- DryRun -------------------------------------------------------------------


@pytest.mark.parametrize("action", ["reject", "tempfail", "quarantine"])
def test_dry_run_accepts_and_says_what_it_would_do(mta, zone, milter,
                                                   action):
    w = World(zone)
    w.list_ip(BL)
    milter.use(conf({"DNSBL": BL, "DNSBLAction": action, "DryRun": "yes"}))
    r = w.send(mta)
    _, x, _ = delivered(mta, r)
    words = x.action.split(None, 2)
    assert words[:2] == [action, "(dry-run)"], x
    assert "reason=" in x.action and BL in x.action, x
    assert "failed=dnsbl" in x.action, x
    assert x.result("dnsbl") == "listed", x
    rec = milter.record(w.ip)
    check_record(rec, w, qid=r.queue_id)
    assert rec["action"] == "would " + action, rec
    assert rec["dnsbl"] == "listed", rec


def test_dry_run_with_on_dns_error_tempfail(mta, zone, dnsd, milter):
    w = World(zone)
    zone.behave(w.domain + "/MX", "timeout")
    milter.use(conf({"SenderDomainAction": "reject", "DryRun": "yes",
                     "OnDNSError": "tempfail", "DNSTimeout": "1"}))
    r = w.send(mta)
    _, x, _ = delivered(mta, r)
    assert x.action.split()[:2] == ["tempfail", "(dry-run)"], x
    assert x.result("sender-domain") == "temperror", x
    rec = milter.record(w.ip)
    assert rec["action"] == "would tempfail", rec


def test_dry_run_with_delay_reject_no(mta, zone, milter):
    """DryRun holds back a connect-time reject too."""
    w = World(zone)
    w.list_ip(BL)
    milter.use(conf({"DNSBL": BL, "DNSBLAction": "reject", "DryRun": "yes",
                     "DelayReject": "no"}))
    r = w.send(mta)
    _, x, _ = delivered(mta, r)
    assert x.action.split()[:2] == ["reject", "(dry-run)"], x


# -- the null sender ----------------------------------------------------------


def test_null_sender_gets_no_sender_domain_or_rhsbl_check(mta, zone, dnsd,
                                                          milter):
    w = World(zone)
    _nomx(w)                 # would fail the sender-domain check
    w.list_domain(RHS)       # would be listed
    milter.use(conf({"RHSBL": RHS, "RHSBLAction": "reject",
                     "SenderDomainAction": "reject"}))
    r = w.send(mta, mail_from="<>", from_header="<%s>" % w.sender)
    _, x, _ = delivered(mta, r)
    assert x.action == "accept", x
    assert x.result("rhsbl") in (None, "none"), x
    assert x.result("sender-domain") in (None, "none"), x
    qs = dnsd.queries()
    assert not [q for q in qs if q[1].endswith("." + RHS)], qs
    # (MX/A/AAAA of the From: domain may be asked by DMARC, for np=)
    rec = milter.record(w.ip)
    check_record(rec, w, qid=r.queue_id, mailfrom="")
    assert rec.get("rhsbl") in (None, "none"), rec
    assert rec.get("sender_domain") in (None, "none"), rec
    # the same world with a real sender is rejected: the setup bites
    r = w.send(mta)
    assert r.code == 550 and "5.1.8" in r.text, r.transcript


# -- parallelism --------------------------------------------------------------


def test_dns_time_is_the_longest_chain_not_the_sum(mta, zone, milter):
    """Every answer 200 ms late; four DNSBL zones, iprev, HELO, sender
    domain (and SPF, DMARC). The longest chain is PTR then the PTR name's
    address: about 400 ms. The sum would be well over 2 s."""
    w = World(zone)
    zone.delay_ms = 200
    zone.write()
    milter.use({"DNSBL": [BL, BL2, BL3, BL4], "DNSBLAction": "reject",
                "IPRevAction": "reject", "HeloAction": "reject",
                "SenderDomainAction": "reject", "DNSTimeout": "5"})
    r = w.send(mta)
    _, x, ar = delivered(mta, r)
    assert x.result("dnsbl") == "pass" and x.result("helo") == "pass", x
    assert ar_method(ar, "iprev").result == "pass", ar
    rec = milter.record(w.ip)
    ms = int(rec["dns_ms"])
    # at least one delayed answer was waited for, and far less than 3
    assert 200 <= ms < 3 * 200, rec


# -- several messages in one session ------------------------------------------


def smtp_session(mta, w):
    """An smtplib session with the XCLIENT address and HELO of w."""
    s = smtplib.SMTP("127.0.0.1", mta.port, timeout=30)
    s.ehlo(w.helo)
    code, msg = s.docmd("XCLIENT", "ADDR=%s NAME=[UNAVAILABLE] HELO=%s"
                        % (harness.xclient_addr(w.ip), w.helo))
    assert code == 220, msg
    s.ehlo(w.helo)
    return s


@pytest.mark.parametrize("action", ["reject", "tag"])
def test_connection_verdict_applies_to_every_message(mta, zone, milter,
                                                     action):
    """A client sends two messages in one session (RSET between): the
    connect and HELO results hold for both, and each gets its log line
    and (when delivered) its X-Authmilter header."""
    w = World(zone)
    w.list_ip(BL)
    _helo_elsewhere(w)
    milter.use(conf({"DNSBL": BL, "DNSBLAction": action,
                     "HeloAction": "tag"}))
    s = smtp_session(mta, w)
    mids = []
    try:
        for k in range(2):
            assert s.mail(w.sender)[0] == 250
            code, msg = s.rcpt("rcpt%d@dest.test" % k)
            if action == "reject":
                assert (code, msg.decode()) == (
                    554, "5.7.1 Service unavailable; client [%s] blocked "
                    "using %s" % (w.ip, BL)), msg
                s.rset()
                continue
            assert code == 250, msg
            text, mid = harness.make_message(w.sender, "rcpt@dest.test")
            code, msg = s.data(text.encode())
            assert code == 250, msg
            mids.append(mid)
        s.quit()
    finally:
        s.close()
    for mid in mids:
        d = mta.wait_delivered(mid)
        our_ar(d.authentication_results())
        x = xauth(d.x_authmilter())
        assert x.result("dnsbl") == "listed", x
        assert x.result("helo") == "fail", x
        assert x.action.split() == ["tag", "failed=dnsbl,helo"], x
    recs = harness.wait_until(
        lambda: len(milter.records()) >= 2 and milter.records(), 10,
        "two log records")
    assert len(recs) == 2, recs
    for rec in recs:
        assert rec["dnsbl"] == "listed", rec
        assert rec["action"] == action, rec
        # A reject at RCPT TO logs the checks finished by then: those
        # that can reject (here DNSBL; HELO only tags).
        if action == "tag":
            assert rec["helo_result"] == "fail", rec


@pytest.mark.parametrize("mode", ["tempfail-action", "on-dns-error"])
def test_delay_reject_no_tempfail_at_connect(mta, zone, dnsd, milter, mode):
    """A 4xx milter reply at connect: unlike a 5xx, Postfix goes on with
    the session, logs it at XCLIENT and EHLO, and answers MAIL FROM with
    our reply (docs/CHECKS.md)."""
    w = World(zone)
    if mode == "tempfail-action":
        w.list_ip(BL)
        milter.use(conf(DNSBL=BL, DNSBLAction="tempfail", DelayReject="no"))
        want = ("454 4.7.1 Service unavailable; client [%s] blocked using "
                "%s" % (w.ip, BL))
    else:
        zone.behave("%s.%s" % (w.rev, BL), "timeout")
        milter.use(conf(DNSBL=BL, DNSBLAction="reject", DelayReject="no",
                        OnDNSError="tempfail", DNSTimeout="1"))
        want = "451 4.4.3 Temporary DNS failure, try again later"
    r = w.send(mta)
    assert r.text == want, r.transcript
    assert error_command(r) == "MAIL", r.transcript
    assert mta_log(mta, r"milter-reject: XCLIENT from .*: %s;"
                         % re.escape(want))
    rec = milter.record(w.ip)
    assert rec["action"] == "tempfail", rec
    assert rec["dnsbl"] == ("listed" if mode == "tempfail-action"
                            else "temperror"), rec


# -- the log line as JSON -----------------------------------------------------


def test_log_record_as_json(mta, zone, milter):
    """LogFormat json: the per-message record is one JSON object with the
    same fields."""
    w = World(zone)
    w.list_ip(BL)
    milter.use(conf(DNSBL=BL, DNSBLAction="tag", LogFormat="json"))
    r = w.send(mta)
    delivered(mta, r)

    def found():
        out = []
        for ln in milter.lines():
            if not ln.startswith("{"):
                continue
            obj = json.loads(ln)
            if obj.get("ip") == w.ip and "action" in obj:
                out.append(obj)
        return out
    recs = harness.wait_until(found, 10, "a JSON record")
    assert len(recs) == 1, recs
    rec = recs[0]
    assert rec["qid"] == r.queue_id and rec["helo"] == w.helo, rec
    assert rec["mailfrom"] == w.sender, rec
    assert rec["from_domain"] == w.domain, rec
    assert rec["dnsbl"] == "listed" and rec["action"] == "tag", rec
    assert str(rec["dns_ms"]).isdigit(), rec
