# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end tests of the URIBL check (issue 18): the links of a message
looked up in URI blocklists served by dnsd, through the private Postfix.

Each test uses link domains of its own (from its connchecks.World
number), so the daemon's DNS cache carries nothing between tests. The
link domains are under .test, outside conn.test, so that each is its own
registrable domain by the public suffix list's default rule.
"""

import base64
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from connchecks import (World, conf, delivered, milter,  # noqa: E402,F401
                        module_milter)

URI = "uri.conn.test"
URI_NAME = "Test-URIBL"


def uconf(**kw):
    keys = {"URIBL": URI + "=127.0.0.[2..99]",
            "DNSBLReplyName": URI + " " + URI_NAME}
    keys.update(kw)
    return conf(keys)


def html_b64(links):
    """A multipart/alternative body: a plain part without the links and a
    base64 text/html part with them (what a client shows as links)."""
    html = "<html><body>%s</body></html>\n" % "".join(
        '<a href="%s">offer</a>' % u for u in links)
    b64 = base64.encodebytes(html.encode()).decode()
    return ("This is a multi-part message.\n"
            "--B\n"
            "Content-Type: text/plain; charset=us-ascii\n\n"
            "Plain part, no links.\n"
            "--B\n"
            "Content-Type: text/html; charset=utf-8\n"
            "Content-Transfer-Encoding: base64\n\n" + b64 +
            "--B--\n")


MIME = [("MIME-Version", "1.0"),
        ("Content-Type", 'multipart/alternative; boundary="B"')]


def test_listed_link_is_rejected_with_the_public_name(mta, zone, milter):
    w = World(zone)
    bad = "bad%d-uribl.test" % w.n
    zone.a("%s.%s" % (bad, URI), "127.0.0.2")
    milter.use(uconf())
    r = w.send(mta, headers=MIME,
               body=html_b64(["http://good%d-uribl.test/" % w.n,
                              "http://WWW.%s./landing" % bad.upper()]))
    assert r.text == ("554 5.7.1 Message rejected: link to %s listed by %s"
                      % (bad, URI_NAME)), r.transcript
    rec = milter.record(w.ip)
    assert rec["uribl"] == "listed", rec
    assert rec["action"] == "reject", rec
    assert bad in rec["uribl_links"], rec
    assert URI_NAME in rec["uribl_links"], rec
    assert URI not in milter.log_since()  # the zone by its public name only


def test_dry_run_delivers_and_says_what_it_would_do(mta, zone, milter):
    w = World(zone)
    bad = "dry%d-uribl.test" % w.n
    zone.a("%s.%s" % (bad, URI), "127.0.0.3")
    milter.use(uconf(DryRun="yes"))
    r = w.send(mta, body="Visit http://%s/now\n" % bad)
    _, x, _ = delivered(mta, r)
    assert x.action.split()[:2] == ["reject", "(dry-run)"], x
    assert "failed=uribl" in x.action and bad in x.action, x
    assert x.result("uribl") == "listed", x
    assert "zones=" + URI_NAME in x.items["uribl"][1], x
    rec = milter.record(w.ip)
    assert rec["action"] == "would reject", rec
    assert rec["uribl"] == "listed", rec


def test_error_answers_are_never_counted(mta, zone, milter):
    w = World(zone)
    dom = "err%d-uribl.test" % w.n
    ip = "192.0.2.%d" % w.n
    rev = ".".join(reversed(ip.split(".")))
    zone.a("%s.%s" % (dom, URI), "127.255.255.254")
    zone.a("%s.%s" % (rev, URI), "127.0.1.255")
    # no filter: any 127/8 answer would count, were it not an error code
    milter.use(uconf(URIBL=URI))
    r = w.send(mta, body="http://%s/ and http://%s/\n" % (dom, ip))
    _, x, _ = delivered(mta, r)
    assert x.result("uribl") == "pass", x
    assert x.action == "accept", x
    log = milter.log_since()
    assert ("%s answered error code 127.255.255.254 for %s; not counted"
            % (URI_NAME, dom)) in log, log
    assert ("%s answered error code 127.0.1.255 for %s; not counted"
            % (URI_NAME, rev)) in log, log


def test_skip_domains_are_never_looked_up(mta, zone, dnsd, milter):
    w = World(zone)
    skip = "skip%d-uribl.test" % w.n
    other = "other%d-uribl.test" % w.n
    zone.a("%s.%s" % (skip, URI), "127.0.0.2")   # would reject
    milter.use(uconf(URIBLSkipDomains=skip))
    dnsd.mark()
    r = w.send(mta, body="http://www.%s/ http://%s/\n" % (skip, other))
    _, x, _ = delivered(mta, r)
    assert x.result("uribl") == "pass", x
    names = [q[1].rstrip(".").lower() for q in dnsd.queries()]
    assert "%s.%s" % (other, URI) in names, names   # the check did run
    assert not [n for n in names if skip in n], names
    rec = milter.record(w.ip)
    assert "%s skipped" % skip in rec["uribl_links"], rec


def test_tag_action_delivers_with_the_failure_named(mta, zone, milter):
    w = World(zone)
    bad = "tag%d-uribl.test" % w.n
    zone.a("%s.%s" % (bad, URI), "127.0.0.2")
    milter.use(uconf(URIBLAction="tag"))
    r = w.send(mta, body="http://%s@%s/ (userinfo trick)\n"
               % ("bank.example", bad))
    _, x, _ = delivered(mta, r)
    assert x.result("uribl") == "listed", x
    assert x.action.split()[0] == "tag" and "uribl" in x.action, x


def test_explain_lists_each_link_like_the_daemon_decides(mta, zone, milter):
    """authmilter-explain, on the daemon's configuration and the same
    message, gives the daemon's verdict and lists each link domain, its
    host and every zone's answer."""
    exe = os.path.join(os.path.dirname(harness.authmilter_path()),
                       "authmilter-explain")
    if not os.access(exe, os.X_OK):
        pytest.skip("authmilter-explain is not built")
    w = World(zone)
    bad = "exp%d-uribl.test" % w.n
    skip = "expskip%d-uribl.test" % w.n
    ip = "192.0.2.%d" % w.n
    zone.a("%s.%s" % (bad, URI), "127.0.0.2")
    milter.use(uconf(URIBLSkipDomains=skip))
    data, _ = harness.make_message(
        w.sender, "rcpt@dest.test", headers=MIME,
        body=html_b64(["http://%s/" % skip, "http://%d/" % (
            int.from_bytes(bytes(map(int, ip.split("."))), "big")),
            "https://Www.%s/x" % bad]))
    r = w.send(mta, data=data)
    assert r.code == 554, r.transcript
    path = os.path.join(milter.am.dir, "explain-uribl.eml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(data)
    argv = [exe, "-c", milter.am.conf_path, "--ip", w.ip, "--helo", w.helo,
            "--from", w.sender, "--rcpt", "rcpt@dest.test"]
    p = subprocess.run(argv + ["--json", path], capture_output=True)
    assert p.returncode == 1, p.stdout.decode() + p.stderr.decode()
    doc = json.loads(p.stdout)
    assert doc["verdict"]["reply"]["text"] == (
        "Message rejected: link to %s listed by %s" % (bad, URI_NAME)), doc
    links = doc["links"]["domains"]
    rev = ".".join(reversed(ip.split(".")))
    assert [d["domain"] for d in links] == [skip, rev, bad], links
    assert links[0]["skipped"] and links[0]["answers"] == {}, links
    assert links[1]["host"] == ip, links
    assert links[1]["answers"] == {URI_NAME: "nxdomain"}, links
    assert links[2]["host"] == "www." + bad, links
    assert links[2]["answers"] == {URI_NAME: "127.0.0.2"}, links
    text = subprocess.run(argv + [path], capture_output=True).stdout.decode()
    assert "Links (3 domains, 3 links" in text, text
    assert "  %s host=www.%s links=1 %s=127.0.0.2" % (bad, bad, URI_NAME) \
        in text, text


def test_past_uribl_max_bytes_judged_on_what_was_scanned(mta, zone, milter):
    """A listed link past URIBLMaxBytes is not scanned: the message is
    judged on the links before it, and the log says a limit was reached;
    the same link before the cap rejects."""
    w = World(zone)
    bad = "late%d-uribl.test" % w.n
    zone.a("%s.%s" % (bad, URI), "127.0.0.2")
    milter.use(uconf(URIBLMaxBytes="1024"))
    filler = ("x" * 70 + "\n") * 40          # about 2.8 KB
    r = w.send(mta, body=filler + "http://%s/\n" % bad)
    _, x, _ = delivered(mta, r)
    assert x.result("uribl") == "pass", x
    rec = milter.record(w.ip)
    assert rec.get("uribl_capped") == "bytes", rec
    assert "uribl: limits reached (bytes): checked on what was scanned" \
        in milter.log_since()
    w2 = World(zone)
    r = w2.send(mta, body="http://%s/\n" % bad + filler)
    assert r.code == 554, r.transcript
