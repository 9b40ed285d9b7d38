# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end tests of issue 7 (operations): the Prometheus endpoint
scraped with curl during a run through Postfix and checked with promtool;
authmilter-explain's verdicts against the daemon's for the same messages;
the per-message log line in json (every line parsed) and the escaping of
network bytes in it."""

import json
import os
import re
import shutil
import smtplib
import subprocess
import time

import pytest

import harness
from harness import send

CLIENT = "192.0.2.1"
LISTED = "192.0.2.99"
HELO = "mail.example.test"


@pytest.fixture
def world(zone):
    """example.test passes; bad.test publishes p=reject, q.test
    p=quarantine; 192.0.2.99 is listed on bl.test."""
    zone.mx("example.test", 10, HELO)
    zone.a(HELO, CLIENT)
    zone.ptr(CLIENT, HELO)
    zone.txt("example.test", "v=spf1 ip4:192.0.2.1 -all")
    zone.a("listed.example.test", LISTED)
    zone.ptr(LISTED, "listed.example.test")
    zone.a("99.2.0.192.bl.test", "127.0.0.2")
    for dom, p in (("bad.test", "reject"), ("q.test", "quarantine")):
        zone.mx(dom, 10, "mx." + dom)
        zone.a("mx." + dom, "198.51.100.1")
        zone.txt(dom, "v=spf1 ip4:198.51.100.1 -all")
        zone.txt("_dmarc." + dom, "v=DMARC1; p=%s" % p)
    return zone


def explain_bin():
    daemon = harness.authmilter_path()
    if daemon is None:
        return None
    path = os.path.join(os.path.dirname(daemon), "authmilter-explain")
    return path if os.access(path, os.X_OK) else None


def scrape(port):
    out = subprocess.run(["curl", "-sf", "http://127.0.0.1:%d/metrics"
                          % port], capture_output=True, check=True)
    return out.stdout.decode()


def value(text, name, **labels):
    """The value of one series (labels must match exactly), or 0."""
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for ln in text.splitlines():
        if ln.startswith("#"):
            continue
        m = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", ln)
        if not m or m.group(1) != name:
            continue
        got = ",".join(sorted((m.group(2) or "").split(","))) \
            if m.group(2) else ""
        if got == want:
            return float(m.group(3))
    return 0.0


# -- metrics -------------------------------------------------------------------

def test_metrics_move_with_the_mail(mta, world, start_authmilter):
    port = harness.free_port()
    am = start_authmilter({"MetricsListen": "127.0.0.1:%d" % port,
                           "DNSBL": "bl.test"})
    before = scrape(port)
    assert re.search(r'^authmilter_build_info\{version="[^"]+",libmilter=',
                     before, re.M), before
    assert value(before, "authmilter_messages_total") == 0
    r = send(mta, client_ip=CLIENT, helo=HELO)
    assert r.code == 250, r.transcript
    mta.wait_delivered(r)
    r = send(mta, client_ip=LISTED, helo="listed.example.test")
    assert r.code == 554, r.transcript
    r = send(mta, mail_from="x@bad.test", client_ip=CLIENT, helo=HELO)
    assert r.code == 550, r.transcript
    after = scrape(port)
    # three checked messages: accept, DNSBL reject at RCPT, DMARC reject
    assert value(after, "authmilter_messages_total") == 3, after
    assert value(after, "authmilter_actions_total", action="accept",
                 dry_run="false") == 1
    assert value(after, "authmilter_actions_total", action="reject",
                 dry_run="false") == 2
    assert value(after, "authmilter_check_results_total", check="dnsbl",
                 result="listed") == 1
    assert value(after, "authmilter_check_results_total", check="dmarc",
                 result="fail") == 1
    assert value(after, "authmilter_check_results_total", check="spf",
                 result="pass") >= 1
    # each send() is two milter sessions (127.0.0.1, then XCLIENT's)
    assert value(after, "authmilter_sessions_total") >= 6
    assert value(after, "authmilter_dns_queries_total", type="PTR",
                 outcome="NOERROR") >= 2
    assert value(after, "authmilter_dns_queries_total", type="TXT",
                 outcome="NXDOMAIN") >= 1
    n = value(after, "authmilter_dns_query_duration_seconds_count")
    assert n > 0
    assert value(after, "authmilter_dns_query_duration_seconds_bucket",
                 le="+Inf") == n
    assert value(after, "authmilter_config_last_reload_successful") == 1
    # a good reload, then a bad one
    am.reload()
    am.wait_log(r"configuration reloaded")
    with open(am.conf_path, "a", encoding="utf-8") as f:
        f.write("NoSuchKeyword yes\n")
    am.reload()
    am.wait_log(r"reload failed")
    m = scrape(port)
    assert value(m, "authmilter_config_reloads_total",
                 result="success") == 1
    assert value(m, "authmilter_config_reloads_total",
                 result="failure") == 1
    assert value(m, "authmilter_config_last_reload_successful") == 0
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool missing: install the prometheus package "
                    "(tests/packages.txt)")
    p = subprocess.run([promtool, "check", "metrics"], input=m.encode(),
                       capture_output=True)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()


def test_metrics_dry_run_actions_apart(mta, world, start_authmilter):
    port = harness.free_port()
    start_authmilter({"MetricsListen": "127.0.0.1:%d" % port,
                      "DNSBL": "bl.test", "DryRun": "yes"})
    r = send(mta, client_ip=LISTED, helo="listed.example.test")
    assert r.code == 250, r.transcript
    m = scrape(port)
    assert value(m, "authmilter_actions_total", action="reject",
                 dry_run="true") == 1
    assert value(m, "authmilter_actions_total", action="reject",
                 dry_run="false") == 0
    assert subprocess.run(["curl", "-s", "-o", "/dev/null", "-w",
                           "%{http_code}", "http://127.0.0.1:%d/nope"
                           % port], capture_output=True
                          ).stdout.decode() == "404"


# -- explain against the daemon ------------------------------------------------

SCENARIOS = [
    # name, client, helo, mail from, daemon's SMTP code, explain exit
    ("accept", CLIENT, HELO, "sender@example.test", 250, 0),
    ("dnsbl-reject", LISTED, "listed.example.test", "sender@example.test",
     554, 1),
    ("dmarc-reject", CLIENT, HELO, "x@bad.test", 550, 1),
    ("dmarc-quarantine", CLIENT, HELO, "x@q.test", 250, 3),
]


@pytest.mark.parametrize("name,ip,helo,mfrom,code,want", SCENARIOS,
                         ids=[s[0] for s in SCENARIOS])
def test_explain_agrees_with_the_daemon(mta, world, start_authmilter, name,
                                        ip, helo, mfrom, code, want):
    exe = explain_bin()
    if exe is None:
        pytest.skip("authmilter-explain is not built")
    am = start_authmilter({"DNSBL": "bl.test"})
    data, mid = harness.make_message(mfrom, "rcpt@dest.test")
    r = send(mta, mail_from=mfrom, client_ip=ip, helo=helo, data=data)
    assert r.code == code, r.transcript
    d = None
    if name == "dmarc-quarantine":
        harness.wait_until(lambda: mta.held(), 15, "a held message")
    elif code == 250:
        d = mta.wait_delivered(r)
    path = os.path.join(am.dir, "explain-%s.eml" % name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(data)
    argv = [exe, "-c", am.conf_path, "--ip", ip, "--helo", helo,
            "--from", mfrom, "--rcpt", "rcpt@dest.test"]
    p = subprocess.run(argv + [path], capture_output=True)
    assert p.returncode == want, p.stdout.decode() + p.stderr.decode()
    out = p.stdout.decode()
    assert "DNS queries" in out and "Verdict: " in out
    pj = subprocess.run(argv + ["--json", path], capture_output=True)
    assert pj.returncode == want
    doc = json.loads(pj.stdout)
    assert doc["verdict"]["exit"] == want
    assert doc["dns"], "no DNS query shown"
    for q in doc["dns"]:
        assert q["type"] in ("A", "AAAA", "MX", "TXT", "PTR")
        assert isinstance(q["ms"], float)
    checks = {c["check"]: c for c in doc["checks"]}
    if name == "accept":
        names = [h["name"] for h in doc["headers"]]
        assert names[0] == "Authentication-Results"
        assert "X-Authmilter" in names
        harness.parse_authres(doc["headers"][0]["value"])
        # the daemon's header and the explained one say the same
        def summary(h):
            return {m: sorted(str(r.result) for r in v)
                    for m, v in harness.results_by_method(h).items()}
        ours = summary(d.ours()[0])
        mine = summary(harness.parse_authres(doc["headers"][0]["value"]))
        assert ours == mine, (ours, mine)
    elif name == "dnsbl-reject":
        assert checks["dnsbl"]["result"] == "listed"
        assert doc["verdict"]["stage"] == "rcpt"
        assert doc["verdict"]["reply"]["code"] == "554"
        assert doc["headers"] == []
    elif name == "dmarc-reject":
        assert checks["dmarc"]["result"] == "fail"
        assert doc["verdict"]["check"] == "dmarc"
    else:
        assert checks["dmarc"]["action"] == "quarantine"


# -- logs ----------------------------------------------------------------------

def test_json_log_lines_parse_and_network_bytes_are_escaped(
        mta, world, start_authmilter):
    am = start_authmilter({"LogFormat": "json", "LogLevel": "info"})
    # CR and LF end an SMTP command line, so HELO and MAIL FROM carry the
    # other control octets, DEL and 8-bit ones; a header value carries a
    # bare CR too (Postfix keeps it inside the line)
    s = smtplib.SMTP("127.0.0.1", mta.port, timeout=30)
    try:
        s.ehlo("client.test")
        code, msg = s.docmd("XCLIENT", "ADDR=%s NAME=[UNAVAILABLE]"
                            % CLIENT)
        assert code == 220, msg
        s.send(b"EHLO ev\x01il\x1b\x7f\xe9.example\r\n")
        code, msg = s.getreply()
        assert code == 250, msg
        s.send(b"MAIL FROM:<a\x01b\x7f\xe9@example.test>\r\n")
        mcode, mmsg = s.getreply()
        assert mcode == 250, mmsg
        assert s.rcpt("rcpt@dest.test")[0] == 250
        body = (b"From: <a@ex\x01\xe9\rample.test>\r\n"
                b"Subject: x\x01y\x1bz \xc3\xa9 \xff\r\n"
                b"To: <rcpt@dest.test>\r\n\r\nhi\r\n")
        code, msg = s.data(body)
        assert code == 250, msg
        s.quit()
    finally:
        s.close()
    am.wait_log(r'"action"')
    raw = open(am.log_path, "rb").read()
    # nothing but printable ASCII and line ends reaches the log
    bad = sorted({b for b in raw if (b < 0x20 and b != 0x0a) or b >= 0x7f})
    assert not bad, "raw octets %r in the log" % bad
    records = []
    for ln in raw.decode("ascii").splitlines():
        if ln.startswith("{"):
            records.append(json.loads(ln))  # every json line parses
    msgs = [r for r in records if "action" in r]
    assert msgs, records
    rec = msgs[-1]
    assert rec["ip"] == CLIENT
    # ^A, ESC, DEL, 8-bit octets and the bare CR are JSON escapes in the
    # line (\u00HH, the octet's value), so the parsed value gives back
    # each octet as one code point
    assert rec["helo"] == "ev\x01il\x1b\x7f\xe9.example", rec
    assert rec["mailfrom"] == "a\x01b\x7f\xe9@example.test", rec
    assert b"\\u0001" in raw and b"\\u00e9" in raw
