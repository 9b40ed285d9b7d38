# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end tests of the daemon: one Authentication-Results header,
forged ones removed, Postfix's default action when authmilter is down,
configuration errors, SIGHUP and SIGTERM."""

import os
import re
import smtplib
import subprocess
import time

import pytest

import harness
from harness import AUTHSERV_ID, send

CLIENT = "192.0.2.1"
CLIENT_NAME = "mail.example.test"


@pytest.fixture
def benign(zone):
    """A zone in which a plain message from sender@example.test via
    192.0.2.1 (HELO mail.example.test) passes what can pass."""
    zone.mx("example.test", 10, "mail.example.test")
    zone.a("mail.example.test", CLIENT)
    zone.ptr(CLIENT, "mail.example.test")
    zone.a("mail.example.test", "2001:db8::1")
    zone.ptr("2001:db8::1", "mail.example.test")
    return zone


def our_headers(delivered, authserv_id=AUTHSERV_ID):
    """Our A-R headers; every A-R header of the message must parse."""
    for v in delivered.authentication_results():
        harness.parse_authres(v)
    return delivered.ours(authserv_id)


def norm(value):
    return " ".join(harness.unfold(value).split())


# -- one header --------------------------------------------------------------

@pytest.mark.parametrize("client_ip", [CLIENT, "2001:db8::1"])
def test_one_authentication_results_header(mta, benign, authmilter,
                                           client_ip):
    r = send(mta, client_ip=client_ip, client_name=CLIENT_NAME)
    assert r.code == 250, r.transcript
    d = mta.wait_delivered(r)
    ours = our_headers(d)
    assert len(ours) == 1, d.authentication_results()
    assert ours[0].authserv_id == AUTHSERV_ID


# -- forged headers ------------------------------------------------------------

# Forgeries carry our authserv-id: in another case, behind comments and
# folding whitespace, with a version. Foreign headers only look alike.
FORGED = [
    "MX.Test.Example; spf=pass smtp.mailfrom=forged.test",
    "(forged) mx.test.example (really);\n\tdkim=pass header.d=forged.test",
    "  mx.test.example\n\t1; dmarc=pass header.from=forged.test",
    '"mx.test.example"; dmarc=pass header.from=forged.test',
    "mx.test.example.; dmarc=pass header.from=forged.test",
]
FOREIGN = [
    "other.example; spf=fail smtp.mailfrom=foreign1.test",
    "mx.test.example.evil; dkim=pass header.d=foreign2.test",
    "sub.mx.test.example; dmarc=none header.from=foreign3.test",
    "xmx.test.example; dmarc=none header.from=foreign4.test",
]


def interleaved():
    out = []
    for f, x in zip(FORGED, FOREIGN):
        out.append(("Authentication-Results", f))
        out.append(("Authentication-Results", x))
    return out


@pytest.mark.parametrize("who", ["external", "internal", "authenticated"])
def test_forged_headers_removed_foreign_kept(mta, benign, start_authmilter,
                                             who):
    keys = {}
    kw = {"client_ip": CLIENT, "client_name": CLIENT_NAME}
    if who == "internal":
        keys = {"InternalHosts": ["127.0.0.0/8", "198.51.100.0/24"]}
        kw = {"client_ip": "198.51.100.7", "client_name": "[UNAVAILABLE]",
              "helo": "internal.example.test"}
    elif who == "authenticated":
        if not mta.sasl:
            pytest.skip("no SASL in the private Postfix (sasl2-bin)")
        kw["auth"] = (harness.SASL_USER, harness.SASL_PASSWORD)
    start_authmilter(keys)
    r = send(mta, headers=interleaved(), **kw)
    assert r.code == 250, r.transcript
    d = mta.wait_delivered(r)
    values = d.authentication_results()
    assert not [v for v in values if "forged.test" in v], values
    kept = [norm(v) for v in values if "foreign" in v]
    assert kept == [norm(x) for x in FOREIGN]
    ours = our_headers(d)
    if who == "external":
        assert len(ours) == 1, values
        # Ours is above every header that came with the message.
        first_foreign = min(i for i, v in enumerate(values)
                            if "foreign" in v)
        assert harness.parse_authres(values[0]).authserv_id == AUTHSERV_ID
        assert first_foreign > 0
    else:
        assert len(ours) <= 1, values


def test_forged_headers_removed_on_local_submission(mta, benign,
                                                   authmilter):
    # sendmail -> pickup -> cleanup: the non_smtpd_milters path.
    text, mid = harness.make_message("root@mx.test.example",
                                     "rcpt@dest.test",
                                     headers=interleaved())
    r = mta.sendmail(text)
    assert r.returncode == 0, r.stderr
    d = mta.wait_delivered(mid)
    values = d.authentication_results()
    assert not [v for v in values if "forged.test" in v], values
    kept = [norm(v) for v in values if "foreign" in v]
    assert kept == [norm(x) for x in FOREIGN]
    assert len(our_headers(d)) <= 1


# -- authmilter down -------------------------------------------------------------

def test_authmilter_stopped_means_postfix_tempfails(mta, benign,
                                                    start_authmilter):
    am = start_authmilter()
    r = send(mta, client_ip=CLIENT, client_name=CLIENT_NAME)
    assert r.code == 250, r.transcript
    assert am.stop() == 0
    r = send(mta, client_ip=CLIENT, client_name=CLIENT_NAME)
    assert r.code == 451, r.transcript
    assert mta.log_lines(r"milter-reject: .*451 4\.7\.1")


# -- configuration errors --------------------------------------------------------

BAD_LINES = [
    ("NoSuchKeyword yes", "unknown keyword"),
    ("DNSTimeout banana", "bad number"),
    ("DryRun perhaps", "bad boolean"),
]


def write_bad_conf(am):
    """A configuration with three bad lines among good ones; returns the
    path and the line numbers of the bad lines."""
    path = os.path.join(am.dir, "bad.conf")
    am.write_conf(path=path)
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    bad = []
    for text, _ in BAD_LINES:
        lines.append("# a comment")
        lines.append(text)
        bad.append(len(lines))
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path, bad


@pytest.fixture
def idle_milter(authmilter_bin, workdir, milter_port, dnsd):
    """An Authmilter object that is not started (for -n and failed
    starts)."""
    return harness.Authmilter(authmilter_bin, workdir, milter_port,
                              dnsd.addr, name="authmilter-idle-%d"
                              % time.monotonic_ns())


def test_check_mode_accepts_a_good_configuration(idle_milter):
    idle_milter.write_conf()
    r = idle_milter.check()
    assert r.returncode == 0, r.stdout


def test_check_mode_names_every_bad_line(idle_milter):
    path, bad = write_bad_conf(idle_milter)
    r = idle_milter.check(path)
    assert r.returncode == 1, r.stdout
    for n in bad:
        assert re.search(r"(?m)^%s:%d: \S" % (re.escape(path), n),
                         r.stdout), (n, r.stdout)


def test_daemon_refuses_to_start_with_a_bad_configuration(idle_milter):
    path, bad = write_bad_conf(idle_milter)
    r = subprocess.run([idle_milter.binary, "-f", "-c", path],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, errors="replace", timeout=30,
                       env=idle_milter.env())
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "%s:%d:" % (path, bad[0]) in out
    assert not harness.port_open(idle_milter.port)


# -- signals -------------------------------------------------------------------------

def test_sighup_with_a_bad_file_keeps_the_old_configuration(mta, benign,
                                                             authmilter):
    r = send(mta, client_ip=CLIENT, client_name=CLIENT_NAME)
    assert r.code == 250, r.transcript
    assert len(our_headers(mta.wait_delivered(r))) == 1
    # The new file would change the authserv-id, but has a bad line.
    authmilter.write_conf({"AuthservID": "changed.test.example"},
                          extra_lines=["NoSuchKeyword yes"])
    bad_line = len(harness.read_text(authmilter.conf_path).splitlines())
    authmilter.reload()
    authmilter.wait_log(r"%s:%d" % (re.escape(authmilter.conf_path),
                                     bad_line))
    assert authmilter.running()
    r = send(mta, client_ip=CLIENT, client_name=CLIENT_NAME)
    assert r.code == 250, r.transcript
    d = mta.wait_delivered(r)
    assert len(our_headers(d)) == 1
    assert our_headers(d, "changed.test.example") == []


def test_sighup_with_a_good_file_applies_it(mta, benign, authmilter):
    authmilter.write_conf({"AuthservID": "mx2.test.example"})
    authmilter.reload()
    deadline = time.monotonic() + 10
    while True:
        r = send(mta, client_ip=CLIENT, client_name=CLIENT_NAME)
        assert r.code == 250, r.transcript
        d = mta.wait_delivered(r)
        if our_headers(d, "mx2.test.example"):
            break
        assert time.monotonic() < deadline, "reload never took effect"
        time.sleep(0.5)
    assert authmilter.running()


def test_sigterm_finishes_the_open_session_and_exits_0(mta, benign,
                                                       start_authmilter):
    am = start_authmilter()
    s = smtplib.SMTP("127.0.0.1", mta.port, timeout=30)
    try:
        s.ehlo("mail.example.test")
        code, msg = s.docmd("XCLIENT", "ADDR=%s NAME=%s"
                            % (CLIENT, CLIENT_NAME))
        assert code == 220, msg
        s.ehlo("mail.example.test")
        assert s.mail("sender@example.test")[0] == 250
        assert s.rcpt("rcpt@dest.test")[0] == 250
        text, mid = harness.make_message("sender@example.test",
                                         "rcpt@dest.test")
        am.signal(15)  # SIGTERM while the session is open
        time.sleep(0.5)
        code, msg = s.data(text.encode())
        assert code == 250, msg
        s.quit()
    finally:
        s.close()
    d = mta.wait_delivered(mid)
    assert len(our_headers(d)) == 1
    assert am.stop() == 0
    assert am.sanitizer_reports() == []
