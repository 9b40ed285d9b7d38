# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end tests of issue 16's administrator features through the
private Postfix: ExemptRecipients at RCPT time and at end of message,
the NOQUEUE log record that joins a RCPT-time reject to Postfix's
"NOQUEUE: milter-reject" line, the recipients in the message's log
line, and DNSBLReplyName (the zone never in a reply, header or log).
"""

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from connchecks import (BL, World, conf, delivered, milter,  # noqa: E402
                        module_milter, mta_log, parse_logline,
                        xauth)  # noqa: F401


def noqueue_records(milter):
    return [parse_logline(ln) for ln in milter.lines()
            if " noqueue=" in ln]


@pytest.mark.parametrize("order", ["exempt-first", "exempt-last"])
def test_exempt_recipient_accepted_others_rejected(mta, zone, milter,
                                                   order):
    """DelayReject: the verdict comes at the first RCPT. An exempt
    recipient is accepted whatever its place; the others get the reject;
    the message then reaches end of message with exempt recipients only
    and is tagged, not rejected."""
    w = World(zone)
    w.list_ip(BL)
    milter.use(conf({"DNSBL": BL, "DNSBLAction": "reject",
                     "ExemptRecipients": "postmaster@, abuse@dest.test"}))
    rcpts = ["postmaster@dest.test", "b@dest.test"]
    if order == "exempt-last":
        rcpts.reverse()
    r = w.send(mta, rcpt=",".join(rcpts))
    want = "Service unavailable; client [%s] blocked using %s" % (w.ip, BL)
    errs = [(c, t) for c, t, err in r.replies if err]
    assert errs == [(554, "5.7.1 " + want)], r.transcript
    assert r.queue_id, r.transcript
    d = mta.wait_delivered(r)
    x = xauth(d.x_authmilter())
    assert x.action.startswith(
        "tag (exempt recipients: reject not applied)"), x
    assert "failed=dnsbl" in x.action, x
    assert re.search(r"reject by dnsbl not applied to exempt recipient "
                     r"<?postmaster@dest\.test", milter.log_since())
    # the refused recipient: a record that joins Postfix's NOQUEUE line
    nq = noqueue_records(milter)
    assert len(nq) == 1, nq
    assert nq[0]["noqueue"] == "reject" and nq[0]["stage"] == "rcpt", nq
    assert nq[0]["rcpt"] == "b@dest.test", nq
    assert nq[0]["mailfrom"] == w.sender, nq
    assert nq[0]["client"] == "unknown[%s]" % w.ip, nq
    assert nq[0]["reply"] == "554 5.7.1 " + want, nq
    # NOQUEUE when b comes first; once postmaster was accepted Postfix
    # has a queue id already (the milter learns it only at DATA)
    assert mta_log(mta, r"(NOQUEUE|[0-9A-F]+): milter-reject: RCPT from "
                   r".*\[%s\]: "
                   r"554 5\.7\.1 %s; from=<%s> to=<b@dest\.test>"
                   % (re.escape(w.ip), re.escape(want), re.escape(w.sender)))
    # the message's line: tag, what was exempted, the recipient it went to
    recs = [rec for rec in milter.records() if rec.get("qid") == r.queue_id]
    assert len(recs) == 1, milter.lines()
    assert recs[0]["action"] == "tag" and recs[0]["exempt"] == "reject", recs
    assert recs[0]["rcpt"] == "postmaster@dest.test", recs
    assert recs[0]["nrcpt"] == "1", recs


def test_not_every_recipient_exempt_still_rejected(mta, zone, milter):
    w = World(zone)
    w.list_ip(BL)
    milter.use(conf({"DNSBL": BL, "DNSBLAction": "reject",
                     "ExemptRecipients": "postmaster@"}))
    r = w.send(mta, rcpt="a@dest.test,b@dest.test")
    assert [c for c, _, err in r.replies if err] == [554, 554], r.transcript
    nq = noqueue_records(milter)
    assert [n["rcpt"] for n in nq] == ["a@dest.test", "b@dest.test"], nq


def test_exempt_quarantine_becomes_tag(mta, zone, milter):
    """A quarantine (decided at end of message) of a message to exempt
    recipients only is a tag: delivered, not held."""
    w = World(zone)
    w.list_ip(BL)
    milter.use(conf({"DNSBL": BL, "DNSBLAction": "quarantine",
                     "ExemptRecipients": "postmaster@"}))
    r = w.send(mta, rcpt="postmaster@dest.test")
    d, x, _ = delivered(mta, r)
    assert x.action.startswith(
        "tag (exempt recipients: quarantine not applied)"), x


def test_message_line_names_recipients_and_counts_past_the_limit(
        mta, zone, milter):
    w = World(zone)
    milter.use(conf())
    rcpts = ["r%d@dest.test" % i for i in range(12)]
    r = w.send(mta, rcpt=",".join(rcpts))
    assert r.code == 250, r.transcript
    rec = milter.record(w.ip)
    assert rec["nrcpt"] == "12", rec
    assert rec["rcpt"] == ",".join(rcpts[:10]) + ",+2 more", rec


def test_reply_name_hides_the_zone(mta, zone, milter):
    """DNSBLReplyName: the public name in the reply, the X-Authmilter
    header of a tagged message and every log line; the zone (which may
    carry a key) nowhere."""
    secret = "k3y5ecret." + BL
    w = World(zone)
    w.list_ip(secret)
    # at LogLevel debug (the harness's) too: the DNS trace shows the
    # query under the public name
    milter.use(conf({"DNSBL": secret, "DNSBLAction": "reject",
                     "DNSBLReplyName": secret + " public-bl"}))
    r = w.send(mta)
    assert r.text == ("554 5.7.1 Service unavailable; client [%s] blocked "
                      "using public-bl" % w.ip), r.transcript
    milter.record(w.ip)
    w2 = World(zone)
    w2.list_ip(secret)
    milter.use(conf({"DNSBL": secret, "DNSBLAction": "tag",
                     "DNSBLReplyName": secret + " public-bl"}))
    r2 = w2.send(mta)
    d, x, _ = delivered(mta, r2)
    assert "public-bl" in d.x_authmilter()[0], d.x_authmilter()
    assert "k3y5ecret" not in str(d.x_authmilter()), d.x_authmilter()
    rec = milter.record(w2.ip)
    assert rec["dnsbl_zones"] == "public-bl", rec
    # the log of both messages
    rec1 = milter.am.log()
    assert "public-bl" in rec1
    assert "k3y5ecret" not in rec1, \
        [ln for ln in rec1.splitlines() if "k3y5ecret" in ln]
