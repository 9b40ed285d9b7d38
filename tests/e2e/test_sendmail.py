# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end tests with a real Sendmail (Debian's sendmail-bin, unpacked)
whose INPUT_MAIL_FILTER points at authmilter: a passing message delivered
with the Authentication-Results header, a DMARC rejection, a DNSBL
rejection, forged Authentication-Results headers removed, and the macros
in which Sendmail differs from Postfix (j, i, {auth_authen}, the client
address). Run by tests/e2e/sendmail-netns.sh (meson test e2e-sendmail),
which gives them a private network namespace; see sendmail.py."""

import os
import re
import shutil
import signal
import smtplib
import subprocess
import time

import pytest

import harness
import sendmail as sm
from harness import AUTHSERV_ID

if not sm.in_netns():
    pytest.skip("needs the private network namespace of "
                "tests/e2e/sendmail-netns.sh (meson test e2e-sendmail)",
                allow_module_level=True)

CLIENT = "192.0.2.1"
CLIENT6 = "2001:db8::1"
LISTED = "192.0.2.66"


@pytest.fixture(scope="module")
def sendmail_mta(workdir, milter_port):
    if os.geteuid() != 0:
        pytest.skip("a private Sendmail needs root")
    for tool in ("m4", "smtp-sink", "swaks", "ip"):
        if not shutil.which(tool):
            pytest.skip("%s is not installed (tests/packages.txt)" % tool)
    root, why = sm.sendmail_root()
    if root is None:
        pytest.skip(why)
    mta = sm.Sendmail(workdir, milter_port, root)
    try:
        mta.start()
    except Exception:
        mta.stop()
        raise
    yield mta
    mta.stop()


@pytest.fixture
def mta(sendmail_mta, request):
    request.node.am_logs = getattr(request.node, "am_logs", {})
    request.node.am_logs["sendmail.mc"] = sendmail_mta.mc
    return sendmail_mta


@pytest.fixture(autouse=True)
def settled(sendmail_mta, start_authmilter, milter_port):
    """After each test, wait until Sendmail has closed its milter
    connections (its SMTP session children end a little after the client
    quits), so that the daemon is stopped with no session open."""
    yield
    try:
        harness.wait_until(lambda: sm.milter_connections(milter_port) == 0,
                           15, "Sendmail to close its milter connections")
    except harness.HarnessError:
        pass


@pytest.fixture
def benign(zone):
    """sender@example.test sending from CLIENT or CLIENT6 as
    mail.example.test passes iprev, HELO, sender domain, SPF; DMARC
    p=reject (so a pass is a real pass)."""
    zone.mx("example.test", 10, "mail.example.test")
    zone.a("mail.example.test", CLIENT)
    zone.a("mail.example.test", CLIENT6)
    zone.ptr(CLIENT, "mail.example.test")
    zone.ptr(CLIENT6, "mail.example.test")
    zone.txt("example.test", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all")
    zone.txt("_dmarc.example.test", "v=DMARC1; p=reject")
    return zone


def ours(delivered, authserv_id=AUTHSERV_ID):
    for v in delivered.authentication_results():
        harness.parse_authres(v)    # every A-R header must parse
    return delivered.ours(authserv_id)


def results(header):
    return {m: [r.result for r in rs]
            for m, rs in harness.results_by_method(header).items()}


def summary_line(am, qid):
    return am.wait_log(r"qid=%s .*action=" % re.escape(qid))


# -- a passing message -----------------------------------------------------


@pytest.mark.parametrize("client_ip", [CLIENT, CLIENT6])
def test_pass_delivered_with_header(mta, benign, authmilter, client_ip):
    r = sm.send(mta, client_ip=client_ip)
    assert r.code == 250, r.transcript
    d = mta.wait_delivered(r.message_id)
    hs = ours(d)
    assert len(hs) == 1, d.authentication_results()
    res = results(hs[0])
    assert res["iprev"] == ["pass"]
    assert res["spf"] == ["pass"]
    assert res["dmarc"] == ["pass"]
    # The client address came from Sendmail's connect (its sockaddr, not
    # a {client_addr} macro, which Sendmail does not send by default).
    iprev = harness.results_by_method(hs[0])["iprev"][0]
    remote = [p.value for p in iprev.properties
              if p.type == "smtp" and p.name == "remote-ip"]
    assert remote == [client_ip]
    assert any("action=accept" in x for x in d.x_authmilter())
    # Ours is the top header of what Sendmail received (above its
    # Received: line for this hop).
    names = [n.lower() for n in d.header_names()]
    assert names.index("authentication-results") < \
        max(i for i, n in enumerate(names) if n == "received")


def test_queue_id_from_mail_phase(mta, benign, authmilter):
    """Sendmail gives the queue id (macro i) from MAIL FROM on (Postfix
    only from DATA on): the summary line carries Sendmail's id."""
    r = sm.send(mta)
    assert r.code == 250, r.transcript
    qid = sm.queue_id(r)
    assert qid, r.transcript
    line = summary_line(authmilter, qid)
    assert "ip=%s" % CLIENT in line
    d = mta.wait_delivered(r.message_id)
    assert qid in "".join(d.headers("Received"))


# -- rejections ----------------------------------------------------------------


def test_dmarc_reject(mta, zone, authmilter):
    zone.mx("reject.test", 10, "mx.reject.test")
    zone.a("mx.reject.test", "203.0.113.5")
    zone.txt("reject.test", "v=spf1 -all")
    zone.txt("_dmarc.reject.test", "v=DMARC1; p=reject")
    zone.ptr(CLIENT, "mail.example.test")
    zone.a("mail.example.test", CLIENT)
    r = sm.send(mta, mail_from="ceo@reject.test")
    assert r.code == 550, r.transcript
    assert "5.7.1 Rejected by DMARC policy for reject.test" in r.text
    authmilter.wait_log(r"dmarc=fail .*action=reject")
    assert not mta.delivered_any(r.message_id)


@pytest.mark.authmilter_conf({"DNSBL": "bl.test"})
def test_dnsbl_reject(mta, benign, authmilter):
    benign.a("66.2.0.192.bl.test", "127.0.0.2")
    r = sm.send(mta, client_ip=LISTED)
    assert r.code == 554, r.transcript
    assert ("5.7.1 Service unavailable; client [%s] blocked using bl.test"
            % LISTED) in r.text
    # DelayReject: the verdict is the reply to RCPT TO, not to connect.
    lines = r.transcript.splitlines()
    err = next(i for i, ln in enumerate(lines) if ln.startswith("<** "))
    sent = [ln for ln in lines[:err] if ln.startswith(" -> ")]
    assert sent and sent[-1].startswith(" -> RCPT TO:"), lines[:err + 1]
    # Sendmail assigns the queue id (macro i) at MAIL FROM, Postfix only
    # after the first accepted RCPT: with Sendmail the RCPT-time verdict
    # line already names the message ("qid=-" with Postfix).
    line = authmilter.wait_log(r"reject by dnsbl")
    assert re.search(r"qid=[0-9A-Za-z]{8,}: reject by dnsbl: 554 5\.7\.1",
                     line), line
    # A client that is not listed is not affected.
    ok = sm.send(mta, client_ip=CLIENT)
    assert ok.code == 250, ok.transcript


# -- forged headers --------------------------------------------------------------

FORGED = [
    "MX.Test.Example; spf=pass smtp.mailfrom=forged.test",
    "(forged) mx.test.example;\n\tdkim=pass header.d=forged.test",
]
FOREIGN = [
    "other.example; spf=fail smtp.mailfrom=foreign1.test",
    "mx.test.example.evil; dkim=pass header.d=foreign2.test",
]


def test_forged_authentication_results_removed(mta, benign, authmilter):
    hdrs = []
    for f, x in zip(FORGED, FOREIGN):
        hdrs += [("Authentication-Results", f),
                 ("Authentication-Results", x)]
    r = sm.send(mta, headers=hdrs)
    assert r.code == 250, r.transcript
    d = mta.wait_delivered(r.message_id)
    values = d.authentication_results()
    assert not [v for v in values if "forged.test" in v], values
    kept = [" ".join(harness.unfold(v).split())
            for v in values if "foreign" in v]
    assert kept == [" ".join(x.split()) for x in FOREIGN]
    hs = ours(d)
    assert len(hs) == 1, values
    assert "foreign" not in values[0]


# -- macros --------------------------------------------------------------------


@pytest.mark.authmilter_conf({"AuthservID": "auth.test.example"})
def test_j_macro_is_our_name(mta, benign, authmilter):
    """Sendmail sends j (its own name, mx.test.example here) at connect.
    With an AuthservID that differs from it, only j can tell authmilter
    that a HELO of mx.test.example claims the server's own name."""
    benign.a(AUTHSERV_ID, CLIENT)     # the name resolves to the client
    r = sm.send(mta, helo=AUTHSERV_ID)
    assert r.code == 250, r.transcript
    d = mta.wait_delivered(r.message_id)
    xa = " ".join(harness.unfold(" ".join(d.x_authmilter())).split())
    assert xa.startswith("auth.test.example;"), xa
    # (the value is quoted or not depending on the X-Authmilter format)
    assert re.search(r'helo="?fail \(claims our own name\)', xa), xa
    # Control: the same HELO check passes for a name that is not ours.
    r2 = sm.send(mta, helo="mail.example.test")
    d2 = mta.wait_delivered(r2.message_id)
    assert "claims our own name" not in " ".join(d2.x_authmilter())


@pytest.mark.authmilter_conf({"DNSBL": "bl.test"})
def test_auth_authen_skips_checks(mta, benign, authmilter):
    """{auth_authen} comes with MAIL FROM in Sendmail's default macro
    list: a SASL client is not checked (SkipAuthenticated yes), even from
    a listed address that is rejected without AUTH."""
    if not mta.sasl:
        pytest.skip("no SASL for the private Sendmail (sasl2-bin)")
    benign.a("66.2.0.192.bl.test", "127.0.0.2")
    r = sm.send(mta, client_ip=LISTED,
                auth=(sm.SASL_USER, sm.SASL_PASSWORD))
    assert r.code == 250, r.transcript
    assert re.search(r"<- +235 ", r.transcript), r.transcript
    qid = sm.queue_id(r)
    authmilter.wait_log(r"qid=%s: not checked \(authenticated\)"
                        % re.escape(qid))
    d = mta.wait_delivered(r.message_id)
    assert ours(d) == []
    r2 = sm.send(mta, client_ip=LISTED)
    assert r2.code == 554, r2.transcript


def test_sigterm_while_sendmail_session_open(mta, benign, start_authmilter):
    """Sendmail holds one milter connection per SMTP session. SIGTERM
    while a session is open: authmilter waits for it, the session ends
    normally (QUIT), and authmilter then exits 0."""
    am = start_authmilter()
    sm.add_address(CLIENT)
    s = smtplib.SMTP(sm.SERVER4, mta.port, local_hostname="mail.example.test",
                     source_address=(CLIENT, 0), timeout=30)
    s.ehlo("mail.example.test")
    am.wait_log(r"connect from .*192\.0\.2\.1")
    am.signal(signal.SIGTERM)
    am.wait_log(r"waiting for 1 open session")
    time.sleep(1)
    assert am.running()
    s.quit()
    try:
        am.proc.wait(20)
    except subprocess.TimeoutExpired:
        am.proc.kill()
        am.proc.wait()
        pytest.fail("authmilter still running 20 s after the last "
                    "session ended (SIGTERM drain)")
    assert am.proc.returncode == 0, am.log()
