# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end: a From: domain in U-labels (SMTPUTF8 mail, RFC 6532).

RFC 9989 5.3.1: a U-label Author Domain MUST be converted to an A-label
before the policy is looked up. b\u00e4nk.test (xn--bnk-qla.test in DNS)
publishes p=reject; messages come with SMTPUTF8 through the private
Postfix (smtputf8_enable on for this module) and their From: is written
in UTF-8. swaks (20201014) cannot ask for SMTPUTF8, so the tests speak
SMTP with smtplib, XCLIENT included.
"""

import smtplib

import pytest

import harness
from authcommon import World, build_message, sign
# The relay fixture of the DMARC tests: one fresh daemon per test.
from test_authentication import authmilter, keys, retired  # noqa: F401

ATK_IP = "203.0.113.77"
ATK_HOST = "mail.atk.test"
BANK_IP = "198.51.100.1"
BANK_HOST = "mail.xn--bnk-qla.test"
ULABEL = "b\u00e4nk.test"
ALABEL = "xn--bnk-qla.test"
BANK_REJECT = "550 5.7.1 Rejected by DMARC policy for " + ALABEL


@pytest.fixture(scope="module")
def utf8_mta(postfix_instance):
    """The private Postfix with SMTPUTF8 on for this module."""
    old = postfix_instance.postconf(smtputf8_enable="yes")
    yield postfix_instance
    postfix_instance.postconf(**old)


@pytest.fixture
def world(zone, keys):  # noqa: F811
    w = World(zone)
    w.host(ATK_IP, ATK_HOST)
    w.host(BANK_IP, BANK_HOST)
    w.domain(ALABEL, spf="v=spf1 ip4:%s -all" % BANK_IP,
             dmarc="v=DMARC1; p=reject", keys={"s1": keys["rsa2"]})
    w.domain("atk.test", spf="v=spf1 ip4:%s -all" % ATK_IP,
             dmarc="v=DMARC1; p=none", keys={"s1": keys["rsa2"]})
    return w


def send_smtputf8(mta, msg, mail_from, client_ip, helo,
                  rcpt="rcpt@dest.test"):
    """One SMTPUTF8 transaction (XCLIENT first); a harness.Reply built
    from what the server said, in swaks's transcript form."""
    lines = []
    s = smtplib.SMTP("127.0.0.1", mta.port, timeout=60)
    try:
        s.ehlo("client.test")
        code, text = s.docmd("XCLIENT", "ADDR=%s NAME=%s HELO=%s" % (
            client_ip, helo, helo))
        assert code == 220, (code, text)
        s.ehlo(helo)
        assert s.has_extn("smtputf8"), "Postfix does not offer SMTPUTF8"
        try:
            s.sendmail(mail_from, [rcpt], msg,
                       mail_options=["SMTPUTF8", "BODY=8BITMIME"])
            code, text = 250, s.noop()[1]
            lines.append("<-  250 queued")
        except smtplib.SMTPDataError as e:
            code, text = e.smtp_code, e.smtp_error
            lines.append("<** %d %s" % (code, text.decode()))
        except smtplib.SMTPRecipientsRefused as e:
            code, text = list(e.recipients.values())[0]
            lines.append("<** %d %s" % (code, text.decode()))
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            pass
    mid = [ln for ln in msg.split(b"\r\n")
           if ln.lower().startswith(b"message-id:")][0]
    return harness.Reply("\n".join(lines), 0,
                         mid.split(b":", 1)[1].strip().decode())


def test_ulabel_spoof_rejected(utf8_mta, world, keys, authmilter):
    """The attacker's own SPF and DKIM pass; From: names the U-label
    domain, whose A-label publishes p=reject: rejected for it."""
    msg, _ = build_message("Bank <security@%s>" % ULABEL)
    msg = sign(msg, keys["rsa2"], "atk.test", "s1")
    r = send_smtputf8(utf8_mta, msg, "bounce@atk.test", ATK_IP, ATK_HOST)
    assert r.code == 550, r.transcript
    assert r.text == BANK_REJECT
    authmilter.wait_log(r"dmarc=fail")
    authmilter.wait_log(ALABEL)


def test_ulabel_aligned_dkim_passes(utf8_mta, world, keys, authmilter):
    """The bank's own mail, signed by d=xn--bnk-qla.test, From: in
    U-labels: aligned, dmarc=pass, accepted. (smtp-sink, the harness's
    next hop, does not offer SMTPUTF8, so Postfix cannot relay the
    message on: the verdict is read from the reply and the log line.)"""
    msg, _ = build_message("Bank <security@%s>" % ULABEL)
    msg = sign(msg, keys["rsa2"], ALABEL, "s1")
    r = send_smtputf8(utf8_mta, msg, "bounce@" + ALABEL, BANK_IP,
                      BANK_HOST)
    assert r.code == 250, r.transcript
    authmilter.wait_log(r"from_domain=xn--bnk-qla\.test .*"
                        r"dkim=pass:xn--bnk-qla\.test/s1 dmarc=pass .*"
                        r"action=accept")


def test_invalid_idn_fails_closed(utf8_mta, world, keys, authmilter):
    """A From: domain that is no valid IDN (a disallowed code point
    beside the bank's U-label in the same field) is permerror and fails
    closed: the U-label domain it names is read as its A-label, whose
    p=reject applies."""
    msg, _ = build_message("\"security@%s\" <x@\u2603.test>" % ULABEL)
    msg = sign(msg, keys["rsa2"], "atk.test", "s1")
    r = send_smtputf8(utf8_mta, msg, "bounce@atk.test", ATK_IP, ATK_HOST)
    assert r.code == 550, r.transcript
    assert r.text == BANK_REJECT
    authmilter.wait_log(r"dmarc=permerror")
