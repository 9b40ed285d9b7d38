# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end: the DMARC history rows the daemon writes (issue 17).

Messages go through Postfix into a daemon with ReportDatabase set to a
SQLite file; each test reads the rows back with Python's sqlite3 and
checks what a report will say of the message: the policy as published,
the result, the disposition actually applied and its override reason,
the SPF and DKIM results with alignment, and that no local part is
stored anywhere (RFC 9990 section 7.2). A passing message, a message
rejected by DMARC, and one delivered although DMARC asked for reject
(DMARCEnforce no: local_policy) each give one row.
"""

import os
import shutil
import sqlite3
import tempfile

import pytest

import harness
from authcommon import World, build_message, sign, to_wire
from harness import send
from test_authentication import authmilter, keys, retired  # noqa: F401

ATK_IP = "203.0.113.77"
ATK_HOST = "mail.atk.test"
DB_DIR = tempfile.mkdtemp(prefix="am-history.")
DB = os.path.join(DB_DIR, "history.sqlite")
REPORT_KEYS = {"ReportDatabase": "sqlite:" + DB,
               "ReportContact": "dmarc@example.test",
               "ReportFrom": "dmarc@example.test"}
HIST = {"spf": {1: "pass", 2: "fail", 3: "softfail", 0: "none"}}


def teardown_module():
    shutil.rmtree(DB_DIR, ignore_errors=True)


@pytest.fixture
def world(zone, keys):  # noqa: F811
    w = World(zone)
    w.host(ATK_IP, ATK_HOST)
    w.domain("bank.test", spf="v=spf1 ip4:198.51.100.1 -all",
             dmarc="v=DMARC1; p=reject; sp=quarantine; adkim=s")
    w.domain("atk.test", spf="v=spf1 ip4:%s -all" % ATK_IP,
             dmarc="v=DMARC1; p=none; t=y", keys={"s1": keys["rsa2"]})
    w.domain("trial.test", dmarc="v=DMARC1; p=reject; t=y")
    return w


def rows(where, want=1, timeout=10):
    """The rows of the history matching the SQL condition where, once
    there are want of them (the writer flushes within a second)."""
    def get():
        if not os.path.exists(DB):
            return None
        db = sqlite3.connect(DB)
        db.row_factory = sqlite3.Row
        try:
            r = db.execute("SELECT * FROM authmilter_history WHERE "
                           + where).fetchall()
        except sqlite3.OperationalError:
            r = []
        db.close()
        return r if len(r) >= want else None
    return harness.wait_until(get, timeout, "history rows: " + where)


def mail(mta, keys, from_, mail_from, rcpt, expect,  # noqa: F811
         headers=()):
    msg, _ = build_message(None, from_headers=[from_], headers=headers)
    msg = sign(msg, keys["rsa2"], "atk.test", "s1")
    r = send(mta, mail_from=mail_from, rcpt=rcpt, client_ip=ATK_IP,
             helo=ATK_HOST, client_name=ATK_HOST, data=to_wire(msg))
    assert r.code == expect, r.transcript[-3000:]
    return r


@pytest.mark.authmilter_conf(REPORT_KEYS)
def test_pass_row(mta, world, keys, authmilter):  # noqa: F811
    mail(mta, keys, "A <alice.secret@atk.test>", "bob.secret@atk.test",
         "carol.secret@dest.test", 250)
    (r,) = rows("policy_domain = 'atk.test' AND envelope_to = 'dest.test'")
    assert r["header_from"] == "atk.test"
    assert r["envelope_from"] == "atk.test"
    assert r["source_ip"] == ATK_IP
    assert r["reporter"] == harness.AUTHSERV_ID
    assert (r["p"], r["sp"], r["np"]) == (1, 0, 0)  # none, unset, unset
    assert r["testing"] == 1
    assert r["dmarc"] == 1  # pass
    assert (r["dkim_aligned"], r["spf_aligned"]) == (1, 1)
    assert r["disposition"] == 1  # none
    assert r["overrides"] == 0
    assert (r["spf_domain"], r["spf_helo"], r["spf"]) == ("atk.test", 0, 1)
    assert r["dkim"] == "atk.test/s1/1/1"
    # no local part anywhere in the database (RFC 9990 7.2)
    with open(DB, "rb") as f:
        raw = f.read()
    for w in (DB + "-wal",):
        if os.path.exists(w):
            raw += open(w, "rb").read()
    assert b".secret" not in raw


@pytest.mark.authmilter_conf(REPORT_KEYS)
def test_rejected_row(mta, world, keys, authmilter):  # noqa: F811
    mail(mta, keys, "Bank <security@bank.test>", "x@atk.test",
         "rejected@dest.test", 550)
    (r,) = rows("policy_domain = 'bank.test' AND disposition = 3")
    assert r["header_from"] == "bank.test"
    assert (r["p"], r["sp"], r["adkim"]) == (3, 2, 1)
    assert r["dmarc"] == 2  # fail
    assert (r["dkim_aligned"], r["spf_aligned"]) == (0, 0)
    assert r["overrides"] == 0
    # the atk.test signature passes, not aligned with bank.test
    assert r["dkim"] == "atk.test/s1/1/0"


@pytest.mark.authmilter_conf(dict(REPORT_KEYS, DMARCEnforce="no"))
def test_not_enforced_row(mta, world, keys, authmilter):  # noqa: F811
    mail(mta, keys, "Bank <security@bank.test>", "x@atk.test",
         "notenforced@dest.test", 250)
    (r,) = rows("policy_domain = 'bank.test' AND "
                "envelope_to = 'dest.test' AND disposition = 1")
    assert r["dmarc"] == 2
    assert r["overrides"] == 1  # local_policy
    assert r["override_comment"] == "DMARCEnforce no"


@pytest.mark.authmilter_conf(dict(REPORT_KEYS, DryRun="yes"))
def test_dry_run_row(mta, world, keys, authmilter):  # noqa: F811
    mail(mta, keys, "Bank <security@bank.test>", "x@atk.test",
         "dry@dry.test", 250)
    (r,) = rows("policy_domain = 'bank.test' AND envelope_to = 'dry.test'")
    assert (r["dmarc"], r["disposition"]) == (2, 1)  # fail, none
    assert r["overrides"] == 1
    assert r["override_comment"] == "DryRun"


@pytest.mark.authmilter_conf(REPORT_KEYS)
def test_mailing_list_row(mta, world, keys, authmilter):  # noqa: F811
    """p=reject lowered to quarantine for List-Id with a DKIM pass."""
    mail(mta, keys, "Bank <security@bank.test>", "x@atk.test",
         "list@list.test", 250, headers=[("List-Id", "<l.atk.test>")])
    (r,) = rows("policy_domain = 'bank.test' AND envelope_to = 'list.test'")
    assert (r["dmarc"], r["disposition"]) == (2, 2)  # fail, quarantine
    assert r["overrides"] == 2  # mailing_list
    assert "reject lowered" in r["override_comment"]


@pytest.mark.authmilter_conf(REPORT_KEYS)
def test_test_mode_row(mta, world, keys, authmilter):  # noqa: F811
    """t=y: a failure under p=reject is quarantined."""
    mail(mta, keys, "T <t@trial.test>", "x@atk.test", "t@trial-rcpt.test",
         250)
    (r,) = rows("policy_domain = 'trial.test'")
    assert (r["p"], r["testing"]) == (3, 1)
    assert (r["dmarc"], r["disposition"]) == (2, 2)
    assert r["overrides"] == 4  # policy_test_mode


@pytest.mark.authmilter_conf(dict(REPORT_KEYS, SPFFailAction="quarantine"))
def test_other_check_row(mta, world, keys, authmilter):  # noqa: F811
    """DMARC passes (aligned DKIM), SPF of the envelope fails and its
    action quarantines: the row says another check decided. (A reject
    by SPF comes at RCPT, before DMARC: no row, the message was not
    received.)"""
    mail(mta, keys, "A <a@atk.test>", "x@bank.test", "o@other.test", 250)
    (r,) = rows("policy_domain = 'atk.test' AND envelope_to = 'other.test'")
    assert (r["dmarc"], r["disposition"]) == (1, 2)  # pass, quarantine
    assert r["overrides"] == 16  # other
    assert r["override_comment"] == "quarantined by the spf check"
    assert (r["envelope_from"], r["spf_domain"], r["spf"]) == (
        "bank.test", "bank.test", 2)  # fail
    assert r["spf_aligned"] == 0
