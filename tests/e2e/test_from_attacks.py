# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end attacks on DMARC through the From: field (issue 13).

The set-up of every test: bank.test publishes p=reject and nothing that
the attacker holds; the attacker's own domain atk.test passes SPF (its
record authorizes the client) and DKIM (the message is signed with its
key). A message whose From: shows security@bank.test in some way that a
mail client displays must not be delivered: RFC 9989 permerror fails
closed (SPEC "Checks", DMARC), so each of these is refused with the
DMARC reply for bank.test. Each test is named after the pattern, and the
CVE of another DMARC implementation that it repeats where there is one.
"""

import re

import pytest

import harness
from authcommon import World, build_message, one, our_ar, sign, to_wire
from harness import send
# The relay fixture of the DMARC tests: one fresh daemon per test on its
# own port, old ones stopped in the background (see its docstring).
from test_authentication import authmilter, keys, retired  # noqa: F401

ATK_IP = "203.0.113.77"
ATK_HOST = "mail.atk.test"
BANK_REJECT = "550 5.7.1 Rejected by DMARC policy for bank.test"


@pytest.fixture
def world(zone, keys):  # noqa: F811
    """bank.test p=reject; atk.test's SPF and DKIM pass for ATK_IP."""
    w = World(zone)
    w.host(ATK_IP, ATK_HOST)
    w.domain("bank.test", spf="v=spf1 ip4:198.51.100.1 -all",
             dmarc="v=DMARC1; p=reject")
    w.domain("atk.test", spf="v=spf1 ip4:%s -all" % ATK_IP,
             dmarc="v=DMARC1; p=none", keys={"s1": keys["rsa2"]})
    return w


def attack(mta, keys, froms, headers=(), expect=550, **kw):
    """Send a message with the From: fields froms (a list of raw
    values), signed by atk.test, from atk.test's authorized host with
    MAIL FROM at atk.test. Returns (reply, delivered or None)."""
    msg, _ = build_message(None, from_headers=froms, headers=headers, **kw)
    msg = sign(msg, keys["rsa2"], "atk.test", "s1")
    r = send(mta, mail_from="bounce@atk.test", client_ip=ATK_IP,
             helo=ATK_HOST, client_name=ATK_HOST, data=to_wire(msg))
    assert r.code == expect, r.transcript[-3000:]
    if expect != 250:
        return r, None
    return r, mta.wait_delivered(r)


def test_control_attacker_own_domain_passes(mta, world, keys, authmilter):
    """The set-up is right: the attacker's own From: passes DMARC, so
    what the tests below refuse is refused for the From: alone."""
    r, d = attack(mta, keys, ["Atk <a@atk.test>"], expect=250)
    h = our_ar(d)
    assert one(h, "spf").result == "pass"
    assert one(h, "dkim").result == "pass"
    assert one(h, "dmarc").result == "pass"


def test_plain_spoof_rejected(mta, world, keys, authmilter):
    r, _ = attack(mta, keys, ["Bank <security@bank.test>"])
    assert r.text == BANK_REJECT


def test_two_from_fields_cve_2019_16378(mta, world, keys, authmilter):
    r, _ = attack(mta, keys, ["<a@atk.test>", "Bank <security@bank.test>"])
    assert r.text == BANK_REJECT
    authmilter.wait_log(r"dmarc=permerror")
    authmilter.wait_log(r"several From: fields; strictest policy "
                        r"applied: reject of bank\.test")


def test_two_from_fields_spoof_first_cve_2019_16378(mta, world, keys,
                                                    authmilter):
    r, _ = attack(mta, keys, ["Bank <security@bank.test>", "<a@atk.test>"])
    assert r.text == BANK_REJECT


def test_address_list_cve_2019_16378(mta, world, keys, authmilter):
    r, _ = attack(mta, keys, ["a@atk.test, ceo@bank.test"])
    assert r.text == BANK_REJECT
    authmilter.wait_log(r"From: addresses of different domains")


def test_empty_angle_addr_after_address(mta, world, keys, authmilter):
    r, _ = attack(mta, keys, ["ceo@bank.test <>"])
    assert r.text == BANK_REJECT


def test_from_over_16k_long_comment(mta, world, keys, authmilter):
    """A From: past the parser's 16 KB input cap (a long comment) is
    permerror, and its domains are still read."""
    comment = "(" + "x" * 17000 + ")"
    r, _ = attack(mta, keys, ["Bank %s <security@bank.test>" % comment])
    assert r.text == BANK_REJECT
    authmilter.wait_log(r"From: field cannot be parsed")


def test_more_than_8_addresses(mta, world, keys, authmilter):
    """Nine addresses: the ninth is the spoof."""
    addrs = ["u%d@atk.test" % i for i in range(8)] + ["ceo@bank.test"]
    r, _ = attack(mta, keys, [", ".join(addrs)])
    assert r.text == BANK_REJECT


def test_more_than_8_domains_fail_closed(mta, world, keys, authmilter):
    """More distinct domains than are looked up: treated as p=reject,
    whatever the domains publish (here: nothing at all)."""
    addrs = ["u@d%d.atk.test" % i for i in range(12)]
    r, _ = attack(mta, keys, [", ".join(addrs)])
    assert r.text.startswith("550 5.7.1 Rejected by DMARC policy for "), \
        r.text
    authmilter.wait_log(r"more than 8 domains in From:")


def test_group_syntax_cve_2020_12272(mta, world, keys, authmilter):
    """Python's email package, and mail clients, show ceo@bank.test as
    the first address; the group after it must not hide it."""
    r, _ = attack(mta, keys, ["ceo@bank.test x:a@atk.test;"])
    assert r.text == BANK_REJECT
    authmilter.wait_log(r"From: field cannot be parsed")


def test_valid_group_of_attacker_passes(mta, world, keys, authmilter):
    """A well-formed group is read as before (no false refusal)."""
    r, d = attack(mta, keys, ["Team: a@atk.test, b@atk.test;"],
                  expect=250)
    assert one(our_ar(d), "dmarc").result == "pass"


def test_header_flood_hides_from(mta, world, keys, authmilter):
    """1,000 filler headers, then the forged From: (past the header
    cap): DMARC still sees it."""
    filler = [("X-Filler-%d" % i, "x") for i in range(1000)]
    r, _ = attack(mta, keys, [], headers=filler + [
        ("From", "Bank <security@bank.test>")])
    assert r.text == BANK_REJECT
    authmilter.wait_log(r"more than 1000 headers")


def test_header_flood_second_from_after_cap(mta, world, keys, authmilter):
    """A legitimate-looking From: first, 1,000 fillers, then a second
    From: with the spoof: two From: fields, fail closed."""
    filler = [("X-Filler-%d" % i, "x") for i in range(1000)]
    r, _ = attack(mta, keys, ["<a@atk.test>"], headers=filler + [
        ("From", "Bank <security@bank.test>")])
    assert r.text == BANK_REJECT


@pytest.mark.parametrize("froms", [
    None,
    ["undisclosed-recipients:;"],
])
def test_no_from_address_permerror_delivered(mta, world, keys, authmilter,
                                             froms):
    """With no address at all there is no domain to protect: permerror
    is recorded and the message is delivered (no policy applies)."""
    r, d = attack(mta, keys, froms or [], expect=250)
    assert one(our_ar(d), "dmarc").result == "permerror"


def test_unknown_client_address_never_unchecked(mta, world, keys,
                                               authmilter):
    """A connection whose client address is unknown (XCLIENT
    ADDR=[UNAVAILABLE]) must not be let through unchecked. Postfix 3.7
    hands it to the milter as an IPv4 connect with the address
    "unknown", which libmilter refuses by closing the session (before
    any callback of ours runs), so Postfix's milter_default_action
    (tempfail) answers: 451, never an unchecked delivery. (The daemon
    no longer treats an unknown address as internal: a client of an
    unknown family, as other MTAs send it, is checked; tests/milter
    internal.lua.)"""
    msg, _ = build_message("Bank <security@bank.test>")
    msg = sign(msg, keys["rsa2"], "atk.test", "s1")
    r = send(mta, mail_from="bounce@atk.test", client_ip="[UNAVAILABLE]",
             helo=ATK_HOST, client_name=ATK_HOST, data=to_wire(msg))
    assert r.code == 451, r.transcript[-3000:]
    assert r.queue_id is None
    assert not authmilter.log_lines(r"not checked \(internal\)")


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmHWM:"):
                return int(ln.split()[1])
    return 0


def test_header_bytes_flood_libopendkim_memory(mta, world, keys,
                                                authmilter):
    """Eight sessions at once, each a signed message with 100 headers of
    60 KB (6 MB of header block). libopendkim copies every header it is
    given plus a scratch buffer twice the largest: before the cap this
    took the daemon from 17 to over 90 MB. Now at most 256 KB of header
    block per message reaches the library, the signature is permerror
    (never a pass), and the daemon's peak RSS stays small."""
    import concurrent.futures
    line = "y" * 999
    value = "\r\n ".join([line] * 60)  # 60 KB, folded as Postfix wants
    filler = [("X-Big-%d" % i, value) for i in range(100)]
    base = vm_hwm_kb(authmilter.proc.pid)

    def one_attack(_):
        msg, _ = build_message("Atk <a@atk.test>", headers=filler)
        msg = sign(msg, keys["rsa2"], "atk.test", "s1")
        return send(mta, mail_from="bounce@atk.test", client_ip=ATK_IP,
                    helo=ATK_HOST, client_name=ATK_HOST,
                    data=to_wire(msg), timeout=120)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(one_attack, range(8)))
    peak = vm_hwm_kb(authmilter.proc.pid)
    print("daemon peak RSS: %d KB before, %d KB after" % (base, peak))
    for r in replies:
        assert r.code == 250, r.transcript[-2000:]
    h = our_ar(mta.wait_delivered(replies[0]))
    dk = one(h, "dkim")
    assert dk.result == "permerror", h.raw
    assert "header block over 256 KB" in h.raw, h.raw
    # Under ASan freed memory waits in its quarantine: RSS says nothing
    # there, so the figure is asserted for the release build only.
    with open(harness.authmilter_path(), "rb") as f:
        asan = b"__asan_init" in f.read()
    if not asan:
        assert peak - base < 8 * 1024, (base, peak)
    authmilter.wait_log(r"header block over 262144 octets")
