# SPDX-License-Identifier: BSD-2-Clause
"""End-to-end: SPF records built to blow up macro expansion and lookups,
through the private Postfix (issue 13, point 4).

The sender domain bomb.test publishes records whose macros expand long
local parts many times over, include names built from the client
address that recurse through a wildcard, or lookups that all come back
void. Each must end in permerror (RFC 7208 s. 4.6.4, and our
SPF_MACRO_MAX cap: spf.h), never pass, with the reply in well under the
DNS timeout, a bounded number of DNS queries, and the daemon's memory
bounded; and a message with such an envelope that spoofs a p=reject
From: domain is still rejected by DMARC.
"""

import time

import pytest

from authcommon import (World, build_message, check_received_spf, one,
                        our_ar, to_wire)
from harness import send

BAD_IP = "203.0.113.66"
BAD_HOST = "host.bomb.test"
LOCAL = "x" * 64  # the longest local part RFC 5321 allows

# 200 times %{l}: 12800 octets with a 64-octet local part, past
# SPF_MACRO_MAX (8192); split into TXT character-strings.
L200 = "%{l}" * 200
BOMBS = {
    # A "-exists" term with a macro bomb used to be skipped (no match),
    # so the "+all" after it passed: now permerror.
    "exists-l200": ["v=spf1 -exists:", L200[:200], L200[200:400],
                    L200[400:600], L200[600:], ".%{d} +all"],
    # include names from the client address, recursing through a
    # wildcard until the 10-lookup limit.
    "include-ir-v-d": ["v=spf1 include:%{ir}.%{v}.%{d} +all"],
    # every term a void lookup: permerror at the third.
    "exists-void": ["v=spf1 " + " ".join(
        "exists:%%{l}.%%{l}.v%d.%%{d}" % i for i in range(11)) + " +all"],
    # mx names made from the sender, 11 terms: the lookup limit.
    "mx-d10r": ["v=spf1 " + " ".join(
        "mx:%%{d10r}.%%{l1r-}.m%d.%%{o}" % i for i in range(11)) +
        " +all"],
}
# The most distinct queries one check may send (spf.h SPF_MAX_QUERIES).
SPF_MAX_QUERIES = 123 + 64


def vm_kb(pid, field):
    with open("/proc/%d/status" % pid, encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


@pytest.mark.authmilter_conf({"DNSTimeout": "10"})
@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_spf_macro_bomb(mta, zone, dnsd, authmilter, bomb):
    w = World(zone)
    w.host(BAD_IP, BAD_HOST)
    w.domain("bomb.test", spf=BOMBS[bomb])
    # Every name below bomb.test has an SPF record that recurses, and no
    # address: exists and a terms are void, include goes on.
    zone.txt("*.bomb.test", "v=spf1 include:%{ir}.%{v}.%{d} +all")
    zone.mx("*.bomb.test", 10, "mx.bomb.test")
    w.domain("bank.test", spf="v=spf1 ip4:198.51.100.1 -all",
             dmarc="v=DMARC1; p=reject")
    pid = authmilter.proc.pid
    hwm0 = vm_kb(pid, "VmHWM")

    # 1. The sender's own From: the message goes through, SPF permerror.
    msg, _ = build_message("Bomb <%s@bomb.test>" % LOCAL)
    dnsd.mark()
    t0 = time.monotonic()
    r = send(mta, mail_from="%s@bomb.test" % LOCAL, client_ip=BAD_IP,
             helo=BAD_HOST, client_name=BAD_HOST, data=to_wire(msg))
    took = time.monotonic() - t0
    assert r.code == 250, r.transcript
    d = mta.wait_delivered(r)
    h = our_ar(d)
    spf = one(h, "spf")
    assert spf.result in ("permerror", "temperror"), h.raw
    assert spf.result == "permerror", h.raw  # no query times out here
    check_received_spf(d, h, BAD_IP)
    # The whole SMTP transaction, Postfix included, in well under the
    # 10 s DNSTimeout: the limits stop the check, not a deadline.
    assert took < 5, "took %.1f s" % took
    queries = [q for q in dnsd.queries() if q[1].rstrip(".").endswith(
        "bomb.test")]
    assert len(queries) <= SPF_MAX_QUERIES, len(queries)
    authmilter.wait_log(r"spf=permerror")

    # 2. The same envelope spoofing a p=reject domain: still 550 5.7.1.
    spoof, _ = build_message("Bank <security@bank.test>")
    r = send(mta, mail_from="%s@bomb.test" % LOCAL, client_ip=BAD_IP,
             helo=BAD_HOST, client_name=BAD_HOST, data=to_wire(spoof))
    assert r.code == 550, r.transcript
    assert r.text == "550 5.7.1 Rejected by DMARC policy for bank.test"

    # Memory: the peak RSS grew by less than 16 MB over both messages.
    assert authmilter.running()
    grew = vm_kb(pid, "VmHWM") - hwm0
    assert grew < 16 * 1024, "VmHWM grew by %d kB" % grew
