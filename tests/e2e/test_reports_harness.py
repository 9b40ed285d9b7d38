# SPDX-License-Identifier: BSD-2-Clause
"""Tests of the report tests' own parts (test_reports.py), which can run
before the report program exists: the report unpacker (reports.py)
against a report built by hand from RFC 9990's sample and against broken
ones, the throwaway PostgreSQL cluster (pgcluster.py), and a report
message's way through the private Postfix (sendmail -C ... -i -t, as
ReportSendmail is configured there) to smtp-sink, DKIM-signed with a key
published in dnsd and verified through dnsd."""

import gzip
import os
import subprocess

import dkim
import pytest

import pgcluster
import reports
from authcommon import Key
from reports import dnsd_txt, new_reports, sink_snapshot, \
    strip_sink_lines

BEGIN = 1764979200          # 2025-12-06 00:00:00 UTC
END = BEGIN + 86399
RID = "1764979200.example.com@mx.test.example"


def sample(**kw):
    args = dict(xml_bytes=reports.sample_xml(RID, BEGIN, END),
                domain="example.com", submitter="mx.test.example",
                report_id=RID, begin=BEGIN, end=END)
    args.update(kw)
    return reports.build_message(**args)


def test_unpack_hand_built_report():
    rep = reports.parse_message(sample(), submitter="mx.test.example",
                                report_from="dmarc-reports@mx.test.example")
    assert rep.filename == "mx.test.example!example.com!%d!%d.xml.gz" % (
        BEGIN, END)
    assert (rep.receiver, rep.domain, rep.begin, rep.end) == (
        "mx.test.example", "example.com", BEGIN, END)
    assert rep.report_id == RID
    assert rep.meta["org_name"] == "Sample Reporter"
    assert rep.policy["p"] == "quarantine"
    assert rep.policy["discovery_method"] == "treewalk"
    assert rep.totals() == {reports.Record(
        source_ip="192.0.2.123", disposition="pass", dkim="pass",
        spf="fail", reasons=(), header_from="example.com",
        envelope_from="example.com",
        auth_dkim=(("example.com", "abc123", "pass"),),
        auth_spf=("example.com", "mfrom", "fail")): 123}
    # A unique-id in the filename, and a Subject folded as RFC 9990's
    # example is.
    raw = sample(unique_id="a1B2").replace(
        b"Submitter:", b"\r\n    Submitter:")
    rep = reports.parse_message(raw)
    assert rep.unique_id == "a1B2"


@pytest.mark.parametrize("what,kw", [
    ("no Report-ID", {"subject": "Report Domain: example.com "
                      "Submitter: mx.test.example"}),
    ("wrong Report-ID", {"subject": "Report Domain: example.com "
                         "Submitter: mx.test.example Report-ID: <x@y>"}),
    ("other domain in Subject", {"subject": "Report Domain: example.org "
                                 "Submitter: mx.test.example "
                                 "Report-ID: <%s>" % RID}),
    ("filename without .gz", {"filename": "mx.test.example!example.com!"
                              "%d!%d.xml" % (BEGIN, END)}),
    ("filename with a bad unique-id", {"filename": "mx.test.example!"
                                       "example.com!%d!%d!a-b.xml.gz"
                                       % (BEGIN, END)}),
    ("period differs from the XML", {"end": END + 1}),
    ("invalid XML", {"xml_bytes": reports.sample_xml(RID, BEGIN, END)
                     .replace(b"<disposition>pass", b"<disposition>ok")}),
    ("XML element out of order", {"xml_bytes": reports.sample_xml(
        RID, BEGIN, END).replace(b"<version>1.0</version>", b"")
        .replace(b"</report_metadata>",
                 b"</report_metadata><version>1.0</version>")}),
])
def test_unpack_refuses(what, kw):
    with pytest.raises(reports.ReportError):
        reports.parse_message(sample(**kw))


def test_unpack_refuses_wrong_from_and_plain_xml():
    with pytest.raises(reports.ReportError):
        reports.parse_message(sample(), report_from="other@example.net")
    raw = sample().replace(b"application/gzip", b"application/octet-stream")
    with pytest.raises(reports.ReportError):
        reports.parse_message(raw)


def test_read_dry_run(tmp_path):
    raw = sample()
    rep = reports.parse_message(raw)
    base = rep.filename[:-len(".xml.gz")]
    (tmp_path / (base + ".eml")).write_bytes(raw)
    (tmp_path / rep.filename).write_bytes(gzip.compress(rep.xml))
    got = reports.read_dry_run(str(tmp_path))
    assert list(got) == ["example.com"]
    # The .xml.gz must hold what the message carries.
    (tmp_path / rep.filename).write_bytes(gzip.compress(b"<x/>"))
    with pytest.raises(reports.ReportError):
        reports.read_dry_run(str(tmp_path))
    os.unlink(tmp_path / rep.filename)
    with pytest.raises(reports.ReportError):
        reports.read_dry_run(str(tmp_path))


def test_pg_cluster(workdir):
    why = pgcluster.unavailable()
    if why:
        pytest.skip(why)
    pg = pgcluster.PgCluster(workdir).start()
    try:
        # libpq takes the URI the daemon will be given.
        r = subprocess.run(["psql", "-X", "-q", "-At", pg.uri, "-c",
                            "create table t (v int); insert into t "
                            "values (7); select sum(v) from t"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout.strip() == "7", r.stderr
        assert os.path.exists(os.path.join(pg.dir, ".s.PGSQL.5432"))
        pg.stop("immediate")
        assert not pg.accepts()
        pg.start()
        assert pg.psql("select v from t") == "7"
        assert "CREATE TABLE public.t" in pg.dump()
        # Unix socket only: no TCP listener.
        assert pg.psql("show listen_addresses") == ""
    finally:
        d = pg.dir
        pg.close()
    assert not os.path.exists(d) or os.environ.get("AM_E2E_KEEP") == "1"


def test_report_message_through_postfix(mta, zone, dnsd, start_authmilter):
    """The way test_reports.py's reports go: submitted with Postfix's
    sendmail -i -t (pickup, cleanup, the non-SMTP milter: the daemon must
    be up), relayed to smtp-sink, unpacked there, and a DKIM signature
    made for reporter.test verifies against the key in dnsd."""
    start_authmilter()
    key = Key("rsa", 2048)
    zone.txt("rpt._domainkey.reporter.test", key.record)
    raw = sample(report_from="dmarc-reports@reporter.test",
                 to="dmarc@example.com")
    sig = dkim.sign(raw, b"rpt", b"reporter.test", key.private,
                    include_headers=[b"from", b"to", b"subject", b"date",
                                     b"message-id", b"mime-version"])
    before = sink_snapshot(mta)
    r = subprocess.run(["/usr/sbin/sendmail", "-C", mta.conf_dir, "-i",
                        "-t"], input=sig + raw, capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    got = new_reports(mta, before, 1, settle=1)
    assert len(got) == 1
    msg = strip_sink_lines(got[0])
    rep = reports.parse_message(msg,
                                report_from="dmarc-reports@reporter.test")
    assert rep.report_id == RID
    _, rcpts = reports.sink_envelope(got[0])
    assert [x.split()[0].strip("<>") for x in rcpts] == \
        ["dmarc@example.com"], rcpts
    assert dkim.verify(msg, dnsfunc=dnsd_txt(dnsd))
    # And a broken one does not (the check can fail).
    forged = msg.replace(b"To: dmarc@example.com", b"To: dmarc@example.net")
    assert forged != msg
    assert not dkim.verify(forged, dnsfunc=dnsd_txt(dnsd))


def test_expectations_round_trip():
    """The records test_reports.py expects, written as a report and read
    back by reports.py, compare equal: the tests' expectations and the
    unpacker agree on the form of every field (sorting, the SPF scope,
    reasons), and check_report()/check_policy() accept a right report and
    refuse a wrong count."""
    from test_reports import (AUTHSERV_ID, CONTACT, DAY, ORG_NAME, POLICIES,
                              REPORT_FROM, check_policy, check_report,
                              mix_expected)
    meta = {"org_name": ORG_NAME, "email": CONTACT, "report_id": RID,
            "begin": BEGIN, "end": BEGIN + DAY}
    for d, want in mix_expected().items():
        p = POLICIES[d]
        policy = {"domain": d, "p": p[0], "sp": p[1], "np": p[2],
                  "adkim": "r", "discovery_method": "treewalk",
                  "testing": p[3]}
        xml = reports.feedback_xml(meta, policy, want)
        reports.validate_xml(xml)
        raw = reports.build_message(xml, d, AUTHSERV_ID, RID, BEGIN,
                                    BEGIN + DAY, report_from=REPORT_FROM)
        rep = reports.parse_message(raw, report_from=REPORT_FROM,
                                    submitter=AUTHSERV_ID)
        check_report(rep, want, BEGIN)
        check_policy(rep, *p)
    wrong = dict(want)
    k = next(iter(wrong))
    wrong[k] += 1
    with pytest.raises(AssertionError):
        check_report(rep, wrong, BEGIN)
    with pytest.raises(AssertionError):
        check_policy(rep, "quarantine")
