# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end tests of DMARC aggregate reports (issue 17, point 6).

A known mix of mail goes through the private Postfix into authmilter
with ReportDatabase set; authmilter-report (same configuration file)
then writes (--dry-run) or sends (through the same Postfix, to
smtp-sink) one RFC 9990 report per policy domain, and every report is
unpacked and checked (tests/e2e/reports.py: RFC 9990 s. 3.5.2 message
structure, Subject and filename ABNF, xmllint --schema) and its records
compared with the mix: every count, disposition, aligned and underlying
DKIM/SPF result, identifier and the policy as published.

- test_sqlite_one_mx: SQLite; the dry run of today's unfinished period,
  a failed send (the Report-ID and filename kept), the send through
  Postfix (DKIM-signed with a key made here, verified with dkimpy against
  the key published in dnsd), a rerun that sends nothing; no local part
  in the reports or the database.
- test_postgresql_fleet: a throwaway PostgreSQL cluster
  (tests/e2e/pgcluster.py), two daemons with different AuthservIDs
  writing to it, one report carrying the sum of both.
- test_external_destinations: RFC 9990 s. 4 (authorized, not authorized,
  override to the same host, override to another host).
- test_postgresql_outage: the database stopped for 30 s under a steady
  stream of mail: nothing lost, the outage logged once at start and end,
  authmilter_history_db_up 1 -> 0 -> 1.

A day that is over is needed for a real send (only --dry-run may look at
the current period): the report program runs under faketime one day
ahead ("tomorrow"), and reports today's period, which is then complete.

The daemons run behind a MilterRelay on the milter port (as in
test_authentication.py): each test starts its own daemons on their own
ports, and the fleet test points the relay at one daemon, then the other.

What these tests take as the contract where SPEC.md and RFC 9990 leave
a choice (written before the report program existed; one place each):
- policy_evaluated/disposition of a DMARC pass is "pass" under p=reject
  or p=quarantine (the schema's ActionDispositionType: "no action,
  passing DMARC w/enforcing policy") and "none" under p=none
  (pass_disposition()); policy_published has discovery_method treewalk
  and p; sp, np, adkim, aspf, testing are left out or the value in effect
  (check_policy()); envelope_to is left out or the RCPT domain.
- date_range end is begin + 86400 or begin + 86399, and the filename's
  end is the XML's (reports.py).
- Only --dry-run is given today's period; sending needs a period that
  is over (faketime +1d).
- A run in which a send failed tries every report and exits non-zero;
  authmilter_reports_total counts per message handed to ReportSendmail
  (sent, failed) and per rua destination left out (skipped: not
  verified, or past ReportMaxURIs); a dry run counts nothing.
- A skipped destination is logged on the report program's stdout or
  stderr with the policy domain and the destination host.
- The history outage is logged in exactly two lines (info, warning or
  error, naming the database, PostgreSQL, history or the store, and
  saying it is unavailable, down, back...): one as it begins, one as it
  ends (outage_lines()).
- authmilter_reports_total shows the database's counters within 90 s.
"""

import datetime
import os
import re
import stat
import subprocess
import threading
import time
import unittest.mock
import urllib.request
import uuid

import dkim
import pytest

import harness
import pgcluster
import reports
from authcommon import Key, MilterRelay, World, build_message, sign, to_wire
from harness import AUTHSERV_ID, send

# Senders.
IP_ESP = "192.0.2.10"        # an ESP sending for a.test (DKIM d=a.test)
HOST_ESP = "out.esp.test"
IP_OWN = "192.0.2.20"        # the domains' own outbound host (SPF)
HOST_OWN = "out.own.test"
IP_BAD = "203.0.113.66"      # a spoofer
HOST_BAD = "host.spammer.test"
IP_LIST = "198.51.100.7"     # a mailing list
HOST_LIST = "mail.lists.test"
RCPT_DOMAIN = "dest.test"

# The reporter.
ORG_NAME = "E2E Receiver"
CONTACT = "dmarc-contact@reporter.test"
REPORT_FROM = "dmarc-reports@reporter.test"
SELECTOR = "rpt"
DAY = 86400


# -- the programs -------------------------------------------------------------


def report_path():
    """$AUTHMILTER_REPORT, else authmilter-report beside the daemon."""
    p = os.environ.get("AUTHMILTER_REPORT")
    if not p:
        daemon = harness.authmilter_path()
        if daemon is None:
            return None
        p = os.path.join(os.path.dirname(daemon), "authmilter-report")
    return os.path.abspath(p)


@pytest.fixture
def report_bin(authmilter_bin):
    p = report_path()
    if not os.access(p, os.X_OK):
        pytest.fail("authmilter-report is not built (%s), though the daemon is"
                    % p)
    return p


@pytest.fixture(scope="module")
def relay(postfix_instance, milter_port):
    r = MilterRelay(milter_port)
    yield r
    r.close()


@pytest.fixture
def daemons(authmilter_bin, workdir, dnsd, relay, mta, request):
    """daemon(keys, name=..., authserv_id=...) -> Authmilter on a port of
    its own with MetricsListen on another (am.metrics_port); the relay
    sends Postfix's milter sessions to the last one started (or
    relay.target = am.port). Stopped at the end of the test: exit 0, no
    sanitizer report."""
    started = []
    request.node.am_logs = getattr(request.node, "am_logs", {})

    def start(keys, name="mx", authserv_id=AUTHSERV_ID):
        am = harness.Authmilter(
            authmilter_bin, workdir, harness.free_port(), dnsd.addr,
            name="reports-%s-%s-%s" % (request.node.name[:40], name,
                                        uuid.uuid4().hex[:6]))
        am.metrics_port = harness.free_port()
        k = {"AuthservID": authserv_id,
             "MetricsListen": "127.0.0.1:%d" % am.metrics_port}
        k.update(keys)
        request.node.am_logs["authmilter log " + name] = am.log
        started.append(am)
        am.start(k)
        relay.target = am.port
        return am

    yield start
    relay.target = None
    problems = []
    for am in started:
        was_running = am.running()
        rc = am.stop()
        if was_running and rc != 0:
            problems.append("%s: exit status %r after SIGTERM"
                            % (am.dir, rc))
        problems += ["%s: %s" % (am.dir, ln)
                     for ln in am.sanitizer_reports()]
    assert not problems, "\n".join(problems)


@pytest.fixture
def pg(workdir):
    why = pgcluster.unavailable()
    if why:
        pytest.skip(why)
    cluster = pgcluster.PgCluster(workdir)
    try:
        cluster.start()
    except Exception:
        cluster.close()
        raise
    yield cluster
    cluster.close()


def run_report(binary, conf, *args, overrides=None, tomorrow=False,
               timeout=180):
    """authmilter-report -c conf [-o K=V]... args; with tomorrow, under
    faketime one day ahead. Returns the CompletedProcess."""
    argv = [binary, "-c", conf]
    for k, v in (overrides or {}).items():
        argv += ["-o", "%s=%s" % (k, v)]
    argv += list(args)
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    if tomorrow:
        assert os.access("/usr/bin/faketime", os.X_OK), \
            "faketime is not installed (tests/packages.txt)"
        argv = ["/usr/bin/faketime", "-f", "+1d"] + argv
        # libfaketime is preloaded before the sanitizer runtime.
        env["ASAN_OPTIONS"] += ":verify_asan_link_order=0"
    return subprocess.run(argv, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, errors="replace",
                          timeout=timeout, env=env)


def ran_ok(r):
    assert r.returncode == 0, "authmilter-report exit %d\n%s%s" % (
        r.returncode, r.stdout, r.stderr)


def today():
    """Today's date (UTC) as YYYY-MM-DD and its midnight in seconds."""
    d = datetime.datetime.now(datetime.timezone.utc).date()
    midnight = int(datetime.datetime(d.year, d.month, d.day,
                                     tzinfo=datetime.timezone.utc)
                   .timestamp())
    return d.isoformat(), midnight


def same_day(day):
    """The messages of a test must fall in one report period."""
    if today()[0] != day:
        pytest.skip("the test crossed midnight UTC: its messages fall in "
                    "two report periods")


# -- metrics ------------------------------------------------------------------


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=5) as f:
        return f.read().decode()


def metric(port, name, **labels):
    """The value of one series (labels exactly), or None if absent."""
    want = sorted('%s="%s"' % kv for kv in labels.items())
    for ln in scrape(port).splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$", ln)
        if not m or m.group(1) != name:
            continue
        got = sorted(x for x in (m.group(2) or "").split(",") if x)
        if got == want:
            return float(m.group(3))
    return None


def wait_metric(am, name, want, timeout=30, **labels):
    """Wait until the series has the value want; return it."""
    last = [None]

    def ok():
        try:
            last[0] = metric(am.metrics_port, name, **labels)
        except OSError:
            return False
        return last[0] == want
    try:
        harness.wait_until(ok, timeout, "%s%r == %r" % (name, labels, want),
                           interval=0.2)
    except harness.HarnessError:
        raise AssertionError("%s%r is %r, want %r (after %ds)"
                             % (name, labels, last[0], want, timeout))
    return want


# The daemon shows the report program's counters, which are kept in the
# database, as read about once a minute.
REPORTS_REFRESH = 90


def wait_reports(am, want, outcome):
    """Wait until authmilter_reports_total{outcome} is want."""
    return wait_metric(am, "authmilter_reports_total", want,
                       REPORTS_REFRESH, outcome=outcome)


def rows(am, outcome):
    return metric(am.metrics_port, "authmilter_history_rows_total",
                  outcome=outcome)


def wait_written(am, n, timeout=30):
    """Every one of n rows recorded and written, none dropped."""
    wait_metric(am, "authmilter_history_rows_total", n, timeout,
                outcome="recorded")
    wait_metric(am, "authmilter_history_rows_total", n, timeout,
                outcome="written")
    assert rows(am, "dropped") == 0
    assert metric(am.metrics_port, "authmilter_history_queue") == 0


# -- the world and the mail ---------------------------------------------------


@pytest.fixture(scope="module")
def keys():
    return {d: Key("rsa", 1024) for d in
            ("a.test", "b.test", "l.test", "n.test", "lists.test",
             "spammer.test", "e.test")}


def base_world(zone, keys):
    """Hosts and domains every test uses; returns the World."""
    w = World(zone)
    w.host(IP_ESP, HOST_ESP).host(IP_OWN, HOST_OWN)
    w.host(IP_BAD, HOST_BAD).host(IP_LIST, HOST_LIST)
    w.domain("esp.test", spf="v=spf1 ip4:%s -all" % IP_ESP)
    w.domain("spammer.test", spf="v=spf1 ip4:%s -all" % IP_BAD,
             keys={"s1": keys["spammer.test"]})
    w.domain("lists.test", spf="v=spf1 ip4:%s -all" % IP_LIST,
             keys={"s1": keys["lists.test"]})
    w.domain(RCPT_DOMAIN)
    return w


def pass_disposition(p):
    """RFC 9990's schema (ActionDispositionType): "pass" is "no action,
    passing DMARC w/enforcing policy"; under p=none nothing is enforced
    and the disposition of a passing message is "none"."""
    return "pass" if p in ("quarantine", "reject") else "none"


def rec(ip, disposition, dkim, spf, header_from, envelope_from,
        auth_dkim=(), auth_spf=None, reasons=()):
    return reports.Record(ip, disposition, dkim, spf, tuple(sorted(reasons)),
                          header_from, envelope_from,
                          tuple(sorted(auth_dkim)), auth_spf)


class Traffic:
    """Sends messages through the private Postfix and remembers every
    local part it used (each one unique: the privacy checks look for
    them)."""

    def __init__(self, mta, keys):
        self.mta = mta
        self.keys = keys
        self.locals = []
        self.lock = threading.Lock()

    def local(self):
        x = "lp%s" % uuid.uuid4().hex[:12]
        with self.lock:
            self.locals.append(x)
        return x

    def message(self, from_domain, signers=(), headers=(), footer=None):
        """A message From: a fresh local part at from_domain, signed by
        each (domain, selector) of signers in turn; footer (a list's)
        is appended to the body after the signatures so far."""
        rcpt = "%s@%s" % (self.local(), RCPT_DOMAIN)
        msg, _ = build_message("<%s@%s>" % (self.local(), from_domain),
                               rcpt=rcpt, headers=list(headers))
        for d in signers:
            if d == "footer":
                msg += footer
                continue
            msg = sign(msg, self.keys[d], d, "s1")
        return msg, rcpt

    def send(self, from_domain, mail_domain, ip, helo, signers=(),
             headers=(), footer=None, expect=250, held=False):
        msg, rcpt = self.message(from_domain, signers, headers, footer)
        r = send(self.mta, mail_from="%s@%s" % (self.local(), mail_domain),
                 rcpt=rcpt, client_ip=ip, helo=helo, client_name=helo,
                 data=to_wire(msg))
        assert r.code == expect, r.transcript
        if held:
            harness.wait_until(
                lambda: [q for q in self.mta.held()
                         if q.get("queue_id") == r.queue_id],
                15, "message %s in the hold queue" % r.queue_id)
        return r


A_REC = "v=DMARC1; p=reject; rua=mailto:dmarc@a.test"
B_REC = "v=DMARC1; p=none; rua=mailto:agg@b.test"


def mix_world(w):
    w.domain("a.test", spf="v=spf1 ip4:%s -all" % IP_OWN, dmarc=A_REC,
             keys={"s1": w.keys["a.test"]})
    w.domain("q.test", spf="v=spf1 -all",
             dmarc="v=DMARC1; p=quarantine; rua=mailto:dmarc@q.test")
    w.domain("t.test", spf="v=spf1 -all",
             dmarc="v=DMARC1; p=reject; t=y; rua=mailto:dmarc@t.test")
    w.domain("l.test", spf="v=spf1 -all",
             dmarc="v=DMARC1; p=reject; rua=mailto:dmarc@l.test",
             keys={"s1": w.keys["l.test"]})
    w.domain("n.test", spf="v=spf1 ip4:%s -all" % IP_ESP,
             keys={"s1": w.keys["n.test"]})
    w.domain("b.test", spf="v=spf1 ip4:%s -all" % IP_OWN, dmarc=B_REC,
             keys={"s1": w.keys["b.test"]})


def send_a_mix(t, n_dkim=3, n_spf=2, n_spoof=2):
    """a.test (p=reject): DKIM-aligned passes from the ESP, SPF-only
    passes from the own host, spoofs failing both (rejected)."""
    for _ in range(n_dkim):
        t.send("a.test", "esp.test", IP_ESP, HOST_ESP, signers=["a.test"])
    for _ in range(n_spf):
        t.send("a.test", "a.test", IP_OWN, HOST_OWN)
    for _ in range(n_spoof):
        r = t.send("a.test", "a.test", IP_BAD, HOST_BAD, expect=550)
        assert r.text == "550 5.7.1 Rejected by DMARC policy for a.test"


def a_records(n_dkim=3, n_spf=2, n_spoof=2):
    out = {}
    if n_dkim:
        out[rec(IP_ESP, pass_disposition("reject"), "pass", "fail",
                "a.test", "esp.test", [("a.test", "s1", "pass")],
                ("esp.test", "mfrom", "pass"))] = n_dkim
    if n_spf:
        out[rec(IP_OWN, pass_disposition("reject"), "fail", "pass",
                "a.test", "a.test", [], ("a.test", "mfrom", "pass"))] = n_spf
    if n_spoof:
        out[rec(IP_BAD, "reject", "fail", "fail", "a.test", "a.test", [],
                ("a.test", "mfrom", "fail"))] = n_spoof
    return out


def send_mix(t):
    """The whole mix of test_sqlite_one_mx; returns {policy domain:
    {Record: count}} (what the reports must say) and the row count."""
    send_a_mix(t)
    # p=quarantine: held.
    t.send("q.test", "spammer.test", IP_BAD, HOST_BAD, held=True)
    # p=reject; t=y: quarantine instead, reason policy_test_mode.
    t.send("t.test", "spammer.test", IP_BAD, HOST_BAD, held=True)
    # A mailing list: the author's signature broken by the footer, the
    # list's own passes, List-Id: reject lowered to quarantine.
    t.send("l.test", "lists.test", IP_LIST, HOST_LIST,
           signers=["l.test", "footer", "lists.test"],
           headers=[("List-Id", "News <news.lists.test>")],
           footer=b"--\r\nnews mailing list\r\n", held=True)
    # No DMARC record: no row.
    t.send("n.test", "n.test", IP_ESP, HOST_ESP, signers=["n.test"])
    # b.test (p=none): aligned passes, and a spoof signed by spammer.test.
    for _ in range(2):
        t.send("b.test", "b.test", IP_OWN, HOST_OWN, signers=["b.test"])
    t.send("b.test", "spammer.test", IP_BAD, HOST_BAD,
           signers=["spammer.test"])
    return mix_expected(), 13


def mix_expected():
    """{policy domain: {Record: count}}: what the reports of send_mix()
    must say."""
    spoof = ("spammer.test", "mfrom", "pass")
    return {
        "a.test": a_records(),
        "q.test": {rec(IP_BAD, "quarantine", "fail", "fail", "q.test",
                       "spammer.test", [], spoof): 1},
        "t.test": {rec(IP_BAD, "quarantine", "fail", "fail", "t.test",
                       "spammer.test", [], spoof,
                       reasons=["policy_test_mode"]): 1},
        "l.test": {rec(IP_LIST, "quarantine", "fail", "fail", "l.test",
                       "lists.test", [("l.test", "s1", "fail"),
                                      ("lists.test", "s1", "pass")],
                       ("lists.test", "mfrom", "pass"),
                       reasons=["mailing_list"]): 1},
        "b.test": {
            rec(IP_OWN, pass_disposition("none"), "pass", "pass", "b.test",
                "b.test", [("b.test", "s1", "pass")],
                ("b.test", "mfrom", "pass")): 2,
            rec(IP_BAD, "none", "fail", "fail", "b.test", "spammer.test",
                [("spammer.test", "s1", "pass")], spoof): 1},
    }


# The policy as published, per policy domain: (p, sp, np, testing).
POLICIES = {
    "a.test": ("reject", None, None, "n"),
    "q.test": ("quarantine", None, None, "n"),
    "t.test": ("reject", None, None, "y"),
    "l.test": ("reject", None, None, "n"),
    "b.test": ("none", None, None, "n"),
}


def check_policy(rep, p, sp=None, np=None, testing="n"):
    """policy_published: p and discovery_method exactly; sp, np, adkim,
    aspf, testing omitted or the value in effect (the schema: unspecified
    tags have their default values)."""
    pol = rep.policy
    assert pol["p"] == p, pol
    assert pol["discovery_method"] == "treewalk", pol
    for k, v in (("sp", sp or p), ("np", np or sp or p), ("adkim", "r"),
                 ("aspf", "r")):
        assert pol[k] in (None, v), (k, pol)
    if testing == "y":
        assert pol["testing"] == "y", pol
    else:
        assert pol["testing"] in (None, "n"), pol


def check_report(rep, want_records, midnight, submitter=AUTHSERV_ID):
    """The metadata and the records of one report (a Report of
    reports.py, already structurally checked)."""
    assert rep.receiver == submitter, rep.filename
    assert rep.meta["org_name"] == ORG_NAME, rep.meta
    assert rep.meta["email"] == CONTACT, rep.meta
    assert rep.meta["begin"] == midnight, rep.meta
    assert rep.meta["end"] in (midnight + DAY, midnight + DAY - 1), rep.meta
    assert rep.meta["errors"] == [], rep.meta
    assert rep.header("From") and \
        reports._addr_spec(rep.header("From")) == REPORT_FROM
    assert rep.totals() == want_records, (rep.domain, rep.records)
    for r in rep.records:
        assert r.envelope_to in (None, RCPT_DOMAIN), r


def check_private(texts, locals_):
    """No local part the traffic used appears in any of texts."""
    for name, text in texts.items():
        low = text.lower()
        found = [x for x in locals_ if x.lower() in low]
        assert not found, "%s holds local parts %r" % (name, found)


# -- reports delivered by Postfix ---------------------------------------------


def failing_sendmail(directory):
    """A ReportSendmail that keeps each message it is given and fails
    (exit 75, EX_TEMPFAIL)."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "failing-sendmail.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\ncat > \"%s/attempt.$$.eml\"\nexit 75\n"
                % directory)
    os.chmod(path, stat.S_IRWXU)
    return path


def captured(directory):
    out = []
    for n in sorted(os.listdir(directory)):
        if n.startswith("attempt.") and n.endswith(".eml"):
            with open(os.path.join(directory, n), "rb") as f:
                out.append(f.read())
    return out


# -- 1. SQLite, one MX --------------------------------------------------------


def test_sqlite_one_mx(mta, zone, dnsd, keys, daemons, report_bin, workdir):
    day, midnight = today()
    base = harness.make_workdir(prefix="reports-sqlite.")
    db = os.path.join(base, "h.sqlite")
    signing = Key("rsa", 2048)
    keyfile = os.path.join(base, "report.key")
    with open(keyfile, "wb") as f:
        f.write(signing.private)
    os.chmod(keyfile, 0o600)

    w = base_world(zone, keys)
    w.keys = keys
    mix_world(w)
    w.domain("reporter.test", spf="v=spf1 -all",
             dmarc="v=DMARC1; p=reject")
    zone.txt("%s._domainkey.reporter.test" % SELECTOR, signing.record)

    am = daemons({
        "ReportDatabase": "sqlite:" + db,
        "ReportOrgName": ORG_NAME,
        "ReportContact": CONTACT,
        "ReportFrom": REPORT_FROM,
        "ReportSigningKey": keyfile,
        "ReportSigningSelector": SELECTOR,
        "ReportSendmail": "/usr/sbin/sendmail -C %s -i -t" % mta.conf_dir,
    })
    t = Traffic(mta, keys)
    want, nrows = send_mix(t)
    wait_written(am, nrows)
    same_day(day)
    assert metric(am.metrics_port, "authmilter_history_db_up") == 1

    # (a) the dry run of today's, unfinished, period.
    out = os.path.join(base, "dry")
    os.makedirs(out)
    r = run_report(report_bin, am.conf_path, "--period", day,
                   "--dry-run", out)
    ran_ok(r)
    got = reports.read_dry_run(out, report_from=REPORT_FROM,
                               submitter=AUTHSERV_ID)
    assert sorted(got) == sorted(want), (sorted(got), r.stderr)
    for d, rep in got.items():
        check_report(rep, want[d], midnight)
        check_policy(rep, *POLICIES[d])
        assert rep.header("To") and \
            reports._addr_spec(rep.header("To")) == \
            ("agg@b.test" if d == "b.test" else "dmarc@" + d)
    ids = [rep.report_id for rep in got.values()]
    assert len(set(ids)) == len(ids), ids
    # A dry run sends nothing and marks nothing.
    assert metric(am.metrics_port, "authmilter_reports_total",
                  outcome="sent") in (None, 0)

    # (d) a send that fails: each message reached the command, which
    # failed; counted as failed, nothing marked sent.
    keep = os.path.join(base, "failed")
    before = reports.sink_snapshot(mta)
    r = run_report(report_bin, am.conf_path, "--period", day,
                   overrides={"ReportSendmail": failing_sendmail(keep)},
                   tomorrow=True)
    assert r.returncode != 0, "a failed send must not exit 0\n" + r.stderr
    tried = [reports.parse_message(raw.replace(b"\r\n", b"\n")
                                   .replace(b"\n", b"\r\n"),
                                   report_from=REPORT_FROM)
             for raw in captured(keep)]
    assert sorted(x.domain for x in tried) == sorted(want), tried
    first_try = {x.domain: (x.report_id, x.filename) for x in tried}
    wait_reports(am, len(want), outcome="failed")

    # (b) the retry, through Postfix to smtp-sink: the same Report-ID
    # and filename as the failed attempt, DKIM-signed by reporter.test.
    r = run_report(report_bin, am.conf_path, "--period", day,
                   tomorrow=True)
    ran_ok(r)
    delivered = reports.new_reports(mta, before, len(want))
    assert len(delivered) == len(want), len(delivered)
    sent = {}
    for raw in delivered:
        msg = reports.strip_sink_lines(raw)
        rep = reports.parse_message(msg, report_from=REPORT_FROM,
                                    submitter=AUTHSERV_ID)
        assert rep.domain not in sent, rep.domain
        sent[rep.domain] = rep
        check_report(rep, want[rep.domain], midnight)
        check_policy(rep, *POLICIES[rep.domain])
        assert (rep.report_id, rep.filename) == first_try[rep.domain]
        _, rcpts = reports.sink_envelope(raw)
        rua = "agg@b.test" if rep.domain == "b.test" else \
            "dmarc@" + rep.domain
        assert [x.split()[0].strip("<>") for x in rcpts] == [rua], rcpts
        # dkimpy checks t= against its clock: run it "tomorrow" too.
        with unittest.mock.patch("dkim.time.time",
                                 return_value=time.time() + DAY):
            assert dkim.verify(msg, dnsfunc=reports.dnsd_txt(dnsd)), \
                "the report's DKIM signature does not verify"
        sigs = [v for k, v in rep.msg.items()
                if k.lower() == "dkim-signature"]
        assert len(sigs) == 1, sigs
        tags = dict((x.split("=", 1) + [""])[:2] for x in (
            re.sub(r"\s+", "", t) for t in
            reports.unfold(sigs[0]).split(";")) if x)
        assert (tags.get("d"), tags.get("s")) == ("reporter.test",
                                                  SELECTOR), sigs
        assert "from" in tags.get("h", "").lower().split(":"), sigs
    assert sorted(sent) == sorted(want)
    wait_reports(am, len(want), outcome="sent")

    # (c) a rerun, for the same period and for the default one (the
    # last complete period: today, seen from tomorrow): nothing again.
    before = reports.sink_snapshot(mta)
    ran_ok(run_report(report_bin, am.conf_path, "--period", day,
                      tomorrow=True))
    ran_ok(run_report(report_bin, am.conf_path, tomorrow=True))
    assert reports.new_reports(mta, before, 0, settle=5) == []
    assert mta.queue() == [q for q in mta.queue()
                           if q.get("queue_name") == "hold"]
    wait_reports(am, len(want), outcome="sent")
    assert metric(am.metrics_port, "authmilter_reports_total",
                  outcome="failed") == len(want)
    # The report messages (local submissions) added no row.
    assert rows(am, "recorded") == nrows

    # (5) privacy: no local part in the reports or the database.
    dump = subprocess.run(["sqlite3", db, ".dump"], capture_output=True,
                          text=True, errors="replace", check=True,
                          timeout=60).stdout
    assert "a.test" in dump, "the dump is not the data"
    texts = {"sqlite3 .dump": dump}
    for d, rep in list(got.items()) + list(sent.items()):
        texts["XML of " + rep.filename] = rep.xml.decode()
        texts["message of " + rep.filename] = rep.raw.decode(
            errors="replace")
    check_private(texts, t.locals)


# -- 2. PostgreSQL, a fleet ---------------------------------------------------


def test_postgresql_fleet(mta, zone, keys, pg, daemons, relay,
                          report_bin):
    # (pg before daemons: the daemons are stopped before the cluster)
    day, midnight = today()
    w = base_world(zone, keys)
    w.keys = keys
    mix_world(w)
    common = {
        "ReportDatabase": pg.uri,
        "ReportOrgName": ORG_NAME,
        "ReportContact": CONTACT,
        "ReportFrom": REPORT_FROM,
        "ReportSubmitter": "fleet.test",
    }
    mx1 = daemons(common, name="mx1", authserv_id="mx1.fleet.test")
    mx2 = daemons(common, name="mx2", authserv_id="mx2.fleet.test")
    t = Traffic(mta, keys)
    # Postfix's milter sessions go to mx1, then to mx2 (each SMTP
    # session opens its own milter connection, to the relay's current
    # target). mx1: 2 DKIM passes, 1 SPF pass, 1 spoof; mx2: 1, 1, 1 and
    # one b.test message.
    relay.target = mx1.port
    send_a_mix(t, n_dkim=2, n_spf=1, n_spoof=1)
    relay.target = mx2.port
    send_a_mix(t, n_dkim=1, n_spf=1, n_spoof=1)
    t.send("b.test", "b.test", IP_OWN, HOST_OWN, signers=["b.test"])
    wait_written(mx1, 4)
    wait_written(mx2, 4)
    for am in (mx1, mx2):
        assert metric(am.metrics_port, "authmilter_history_db_up") == 1
    same_day(day)

    out = os.path.join(pg.dir, "dry")
    os.makedirs(out)
    r = run_report(report_bin, mx1.conf_path, "--period", day,
                   "--dry-run", out)
    ran_ok(r)
    got = reports.read_dry_run(out, report_from=REPORT_FROM,
                               submitter="fleet.test")
    assert sorted(got) == ["a.test", "b.test"], sorted(got)
    check_report(got["a.test"], a_records(3, 2, 2), midnight,
                 submitter="fleet.test")
    check_policy(got["a.test"], "reject")
    check_report(got["b.test"], {
        rec(IP_OWN, pass_disposition("none"), "pass", "pass", "b.test",
            "b.test", [("b.test", "s1", "pass")],
            ("b.test", "mfrom", "pass")): 1}, midnight,
        submitter="fleet.test")
    # The same from the other MX's configuration: one database.
    out2 = os.path.join(pg.dir, "dry2")
    os.makedirs(out2)
    ran_ok(run_report(report_bin, mx2.conf_path, "--period", day,
                      "--dry-run", out2))
    got2 = reports.read_dry_run(out2)
    assert {d: x.totals() for d, x in got2.items()} == \
        {d: x.totals() for d, x in got.items()}

    # Privacy: no local part in the database or the reports.
    dump = pg.dump()
    assert "a.test" in dump, "the dump is not the data"
    texts = {"pg_dump": dump}
    texts.update({x.filename: x.xml.decode() for x in got.values()})
    check_private(texts, t.locals)


# -- 3. external destinations (RFC 9990 s. 4) ---------------------------------


EXT = "reports.other.test"


def test_external_destinations(mta, zone, dnsd, keys, daemons, report_bin):
    day, midnight = today()
    base = harness.make_workdir(prefix="reports-ext.")
    w = base_world(zone, keys)
    w.domain(EXT)
    w.domain("elsewhere.test")
    ext = "mailto:agg@" + EXT
    # policy domain: (rua, the TXT at D._report._dmarc.reports.other.test)
    cases = {
        # (i) authorized
        "e1.test": (ext, "v=DMARC1"),
        # (ii) not authorized: no record at all ...
        "e2.test": (ext, None),
        # ... or only records that do not start with v=DMARC1 (and one
        # at another host, which does not count)
        "e6.test": (ext, "p=none; v=DMARC1"),
        # (iii) override to the same host
        "e3.test": (ext, "v=DMARC1; rua=mailto:override@%s" % EXT),
        # (iv) override to another host: no report to either
        "e4.test": (ext, "v=DMARC1; rua=mailto:x@elsewhere.test"),
        # the domain's own addresses need no verification; at most
        # ReportMaxURIs (2) of them are served
        "e5.test": ("mailto:a@e5.test,mailto:b@e5.test,mailto:c@e5.test",
                    None),
    }
    for d, (rua, auth) in cases.items():
        w.domain(d, spf="v=spf1 ip4:%s -all" % IP_OWN,
                 dmarc="v=DMARC1; p=none; rua=%s" % rua,
                 keys={"s1": keys["e.test"]})
        if auth is not None:
            zone.txt("%s._report._dmarc.%s" % (d, EXT), auth)
    zone.txt("e6.test._report._dmarc.elsewhere.test", "v=DMARC1")

    am = daemons({
        "ReportDatabase": "sqlite:" + os.path.join(base, "h.sqlite"),
        "ReportOrgName": ORG_NAME,
        "ReportContact": CONTACT,
        "ReportFrom": REPORT_FROM,
        "ReportSendmail": "/usr/sbin/sendmail -C %s -i -t" % mta.conf_dir,
    })
    t = Traffic(mta, keys)
    t.keys = dict(keys)
    for d in cases:
        t.keys[d] = keys["e.test"]
        t.send(d, d, IP_OWN, HOST_OWN, signers=[d])
    wait_written(am, len(cases))
    same_day(day)

    before = reports.sink_snapshot(mta)
    dnsd.mark()
    r = run_report(report_bin, am.conf_path, "--period", day,
                   tomorrow=True)
    ran_ok(r)
    # e1, e3 and e5 (one message to a and b, or one each).
    delivered = reports.new_reports(mta, before, 3, settle=5)
    to = {}
    mids = set()
    for raw in delivered:
        rep = reports.parse_message(reports.strip_sink_lines(raw),
                                    report_from=REPORT_FROM)
        mids.add(rep.header("Message-ID"))
        _, rcpts = reports.sink_envelope(raw)
        to.setdefault(rep.domain, set()).update(
            x.split()[0].strip("<>") for x in rcpts)
        check_report(rep, {
            rec(IP_OWN, pass_disposition("none"), "pass", "pass",
                rep.domain, rep.domain,
                [(rep.domain, "s1", "pass")],
                (rep.domain, "mfrom", "pass")): 1}, midnight)
    assert to == {"e1.test": {"agg@" + EXT},
                  "e3.test": {"override@" + EXT},
                  "e5.test": {"a@e5.test", "b@e5.test"}}, to
    # Every external destination was looked up where RFC 9990 s. 4
    # says; the domain's own one was not.
    asked = {q[1].rstrip(".").lower() for q in dnsd.queries()
             if q[2] == "TXT"}
    for d in cases:
        name = "%s._report._dmarc.%s" % (d, EXT)
        assert (name in asked) == (d != "e5.test"), (name, sorted(asked))
    assert not [q for q in asked if "._report._dmarc.e5.test" in q], asked
    # (ii) and (iv) are logged and counted as skipped, as is c@e5.test.
    err = r.stdout + r.stderr
    for d in ("e2.test", "e6.test", "e4.test"):
        assert [ln for ln in err.splitlines() if d in ln and
                (EXT in ln or "elsewhere.test" in ln)], \
            "no log line about %s's destination:\n%s" % (d, err)
    wait_reports(am, 4, outcome="skipped")
    wait_reports(am, len(mids), outcome="sent")
    assert metric(am.metrics_port, "authmilter_reports_total",
                  outcome="failed") in (None, 0)
    # Skipped for good: a rerun sends nothing and skips nothing again.
    before = reports.sink_snapshot(mta)
    ran_ok(run_report(report_bin, am.conf_path, "--period", day,
                      tomorrow=True))
    assert reports.new_reports(mta, before, 0, settle=5) == []
    wait_reports(am, 4, outcome="skipped")
    wait_reports(am, len(mids), outcome="sent")


# -- 4. the database down for 30 s under load ---------------------------------


OUTAGE = 30


def outage_lines(am):
    """Log lines at error, warning or info that say the history database
    went away or came back, leaving out the one line per message (which
    carries qid= and from_domain=, and names the message's results)."""
    about = re.compile(r"\b(error|warning|info): .*"
                       r"(database|postgres|history|store)", re.I)
    outage = re.compile(r"unavailable|unreachable|\bdown\b|\bback\b|"
                        r"restored|recovered|reconnected", re.I)
    return [ln for ln in am.log_lines() if about.search(ln) and
            outage.search(ln) and "qid=" not in ln and
            "from_domain=" not in ln]


def test_postgresql_outage(mta, zone, keys, pg, daemons, report_bin):
    day, midnight = today()
    w = base_world(zone, keys)
    w.keys = keys
    mix_world(w)
    am = daemons({
        "ReportDatabase": pg.uri,
        "ReportOrgName": ORG_NAME,
        "ReportContact": CONTACT,
        "ReportFrom": REPORT_FROM,
    })
    wait_metric(am, "authmilter_history_db_up", 1)
    t = Traffic(mta, keys)
    counts = {"pass": 0, "spoof": 0}
    errors = []
    stop = threading.Event()

    def stream():
        # A steady stream: a DKIM-aligned pass, then a spoof (rejected);
        # every reply must be the usual one, the database down or not.
        i = 0
        while not stop.is_set():
            try:
                if i % 2 == 0:
                    t.send("a.test", "esp.test", IP_ESP, HOST_ESP,
                           signers=["a.test"])
                    counts["pass"] += 1
                else:
                    t.send("a.test", "a.test", IP_BAD, HOST_BAD,
                           expect=550)
                    counts["spoof"] += 1
            except AssertionError as e:
                errors.append(str(e)[-2000:])
                return
            i += 1

    sender = threading.Thread(target=stream, daemon=True)
    sender.start()
    try:
        time.sleep(5)
        before_outage = len(outage_lines(am))
        pg.stop("immediate")
        down_at = time.monotonic()
        wait_metric(am, "authmilter_history_db_up", 0, timeout=OUTAGE - 5)
        sent_before = counts["pass"] + counts["spoof"]
        written_down = rows(am, "written")
        time.sleep(max(0, OUTAGE - (time.monotonic() - down_at)))
        during = outage_lines(am)[before_outage:]
        sent_during = counts["pass"] + counts["spoof"] - sent_before
        # Nothing written while the database was down; the rows wait.
        assert rows(am, "written") == written_down
        assert (metric(am.metrics_port, "authmilter_history_queue") or 0) > 0
        assert rows(am, "dropped") == 0
        pg.start()
        wait_metric(am, "authmilter_history_db_up", 1, timeout=60)
        time.sleep(5)
    finally:
        stop.set()
        sender.join(120)
    assert not errors, errors[0]
    assert sent_during >= 10, "the stream stalled: %d messages in %ds" % (
        sent_during, OUTAGE)
    n = counts["pass"] + counts["spoof"]
    wait_written(am, n, timeout=60)
    same_day(day)
    assert metric(am.metrics_port, "authmilter_history_db_up") == 1
    # The outage logged once as it began, once as it ended.
    assert len(during) == 1, during
    after = outage_lines(am)[before_outage:]
    assert len(after) == 2, after

    out = os.path.join(pg.dir, "dry")
    os.makedirs(out)
    ran_ok(run_report(report_bin, am.conf_path, "--period", day,
                      "--dry-run", out))
    got = reports.read_dry_run(out, report_from=REPORT_FROM)
    assert sorted(got) == ["a.test"], sorted(got)
    check_report(got["a.test"], a_records(counts["pass"], 0,
                                          counts["spoof"]), midnight)
