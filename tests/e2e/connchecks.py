# SPDX-License-Identifier: BSD-2-Clause
"""connchecks - helpers of the connection-check end-to-end tests.

World     a per-test set of unique names and addresses (client IP, PTR
          name, HELO name, sender domain) published in dnsd so that
          every check passes; a test then breaks the one it is about.
          Names and addresses never repeat within a run, so libunbound's
          cache (shared by every test of one daemon) cannot leak an
          answer from one test into another.
Milter    one authmilter daemon per test module, reconfigured between
          tests with SIGHUP (the daemon logs "configuration reloaded"
          when the new file is in force), so only authmilter changes
          between configurations and nothing restarts.
xauth()   the X-Authmilter items of a delivered or held message as
          {key: (result, rest)}, plus the action item as text.
logrec()  the per-message log line (SPEC "Logs") as a dict.
"""

import ipaddress
import itertools
import re

import pytest

import harness

ZONE = "conn.test"
_seq = itertools.count(10)


class World:
    """Unique names for one test; everything passes until changed."""

    def __init__(self, zone, v6=False):
        n = next(_seq)
        if n > 250:
            raise RuntimeError("out of unique client addresses")
        self.n = n
        self.zone = zone
        self.ip = ("2001:db8::c:%x" % n) if v6 else ("198.51.100.%d" % n)
        self.ptr_name = "mx%d.%s" % (n, ZONE)
        self.helo = "helo%d.%s" % (n, ZONE)
        self.domain = "s%d.%s" % (n, ZONE)
        self.sender = "user%d@%s" % (n, self.domain)
        zone.ptr(self.ip, self.ptr_name)
        zone.a(self.ptr_name, self.ip)
        zone.a(self.helo, self.ip)
        zone.mx(self.domain, 10, self.ptr_name)

    @property
    def rev(self):
        """The DNSBL query label of the client IP (octets or nibbles)."""
        a = ipaddress.ip_address(self.ip)
        if a.version == 4:
            return ".".join(reversed(self.ip.split(".")))
        return ".".join(reversed(a.exploded.replace(":", "")))

    def list_ip(self, bl_zone, answer="127.0.0.2"):
        self.zone.a("%s.%s" % (self.rev, bl_zone), answer)

    def list_domain(self, rhs_zone, answer="127.0.0.2"):
        self.zone.a("%s.%s" % (self.domain, rhs_zone), answer)

    def send(self, mta, **kw):
        args = dict(client_ip=self.ip, helo=self.helo,
                    mail_from=self.sender)
        args.update(kw)
        return harness.send(mta, **args)


class Milter:
    """One authmilter for a module; use(keys) puts a configuration in
    force with SIGHUP and marks the log."""

    def __init__(self, am):
        self.am = am
        self.mark = 0

    def use(self, keys=()):
        am = self.am
        am.write_conf(keys)
        if not am.running():
            am.start(write=False)
        else:
            before = len(am.log_lines(r"configuration reloaded"))
            failed = len(am.log_lines(r"reload failed"))
            am.reload()
            harness.wait_until(
                lambda: (len(am.log_lines(r"reload failed")) > failed or
                         len(am.log_lines(r"configuration reloaded")) >
                         before), 10, "authmilter to reload")
            assert len(am.log_lines(r"reload failed")) == failed, \
                am.log()[-2000:]
        self.mark = len(am.log_lines())
        return self

    def lines(self):
        """Log lines since the last use()."""
        return self.am.log_lines()[self.mark:]

    def log_since(self):
        return "\n".join(self.lines())

    def records(self):
        """Per-message log records (info lines with action= and dns_ms=)
        since the last use(), parsed."""
        out = []
        for ln in self.lines():
            if " info: " in ln and " action=" in ln and " dns_ms=" in ln:
                out.append(parse_logline(ln))
        return out

    def record(self, ip, timeout=10):
        """The one per-message record of client ip since use()."""
        def find():
            recs = [r for r in self.records() if r.get("ip") == ip]
            return recs or None
        recs = harness.wait_until(find, timeout, "log record of %s" % ip)
        assert len(recs) == 1, recs
        return recs[0]


_FIELD = re.compile(r'([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logline(line):
    """key=value fields of a text log line ("..." values unquoted)."""
    out = {}
    body = line.split(" info: ", 1)[-1]
    for k, v in _FIELD.findall(body):
        if v.startswith('"') and v.endswith('"') and len(v) >= 2:
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        out.setdefault(k, v)
    return out


def _split_items(value):
    """Split at ';' outside quotes and parentheses."""
    items, cur, depth, quoted, esc = [], [], 0, False, False
    for ch in value:
        if esc:
            cur.append(ch)
            esc = False
            continue
        if ch == "\\":
            cur.append(ch)
            esc = True
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth = max(0, depth - 1)
        elif ch == ";" and not quoted and depth == 0:
            items.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if "".join(cur).strip():
        items.append("".join(cur).strip())
    return items


class XAuth:
    """A parsed X-Authmilter value."""

    def __init__(self, raw):
        self.raw = raw
        text = " ".join(harness.unfold(raw).split())
        parts = _split_items(text)
        self.authserv_id = parts[0]
        self.items = {}
        self.action = None
        for it in parts[1:]:
            k, _, v = it.partition("=")
            k = k.strip()
            if k == "action":
                self.action = v.strip()
                continue
            v = v.strip()
            if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
                v = re.sub(r"\\(.)", r"\1", v[1:-1])
            res, _, rest = v.partition(" ")
            self.items[k] = (res, rest)

    def result(self, key):
        return self.items.get(key, (None, ""))[0]

    def __repr__(self):
        return "<XAuth %r>" % self.raw


def xauth(headers):
    """The one X-Authmilter header among raw header values."""
    assert len(headers) == 1, headers
    x = XAuth(headers[0])
    assert x.authserv_id == harness.AUTHSERV_ID, x
    assert x.action is not None, x
    return x


def held_headers(text, name):
    """Raw values of header name in postcat output (folding kept)."""
    out = []
    lines = text.splitlines()
    in_msg = False
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("*** MESSAGE CONTENTS"):
            in_msg = True
        elif in_msg and ln == "":
            break
        elif in_msg and ln.lower().startswith(name.lower() + ":"):
            v = ln.split(":", 1)[1]
            while i + 1 < len(lines) and lines[i + 1][:1] in (" ", "\t"):
                i += 1
                v += "\n" + lines[i]
            out.append(v.lstrip(" "))
        i += 1
    return out


def mta_log(mta, pattern, timeout=10):
    """Postfix log lines matching pattern, waiting for the first: postlogd
    writes the log after the SMTP reply has gone out."""
    try:
        return harness.wait_until(lambda: mta.log_lines(pattern), timeout,
                                  "Postfix log line /%s/" % pattern)
    except harness.HarnessError:
        return []


def error_command(reply):
    """The SMTP command (verb) that got the first error reply, from the
    swaks transcript; None if no command got one."""
    last = None
    for ln in reply.transcript.splitlines():
        m = re.match(r"^\s*(?:->|\*\*>|~>)\s+(\S+)", ln)
        if m:
            last = m.group(1).upper()
            continue
        if re.match(r"^(<\*\*|<~\*)\s+\d{3}", ln):
            return last or "CONNECT"
    return None


# -- fixtures and checks shared by the test modules ------------------------

BL = "bl.conn.test"
BL2 = "bl2.conn.test"
BL3 = "bl3.conn.test"
BL4 = "bl4.conn.test"
RHS = "rhs.conn.test"

# Every check's action off, so a test turns on only the one it is about.
QUIET = {
    "DNSBLAction": "none",
    "RHSBLAction": "none",
    "IPRevAction": "none",
    "HeloAction": "none",
    "SenderDomainAction": "none",
}


@pytest.fixture(scope="module")
def module_milter(workdir, milter_port, dnsd, postfix_instance, request):
    binary = harness.authmilter_path()
    if binary is None:
        pytest.skip("the authmilter daemon is not built yet")
    am = harness.Authmilter(binary, workdir, milter_port, dnsd.addr,
                            name="authmilter-" + request.module.__name__)
    m = Milter(am)
    yield m
    was_running = am.running()
    rc = am.stop()
    assert not was_running or rc == 0, "exit status %r after SIGTERM" % rc
    assert am.sanitizer_reports() == []


@pytest.fixture
def milter(module_milter, request):
    request.node.am_logs = getattr(request.node, "am_logs", {})
    request.node.am_logs["authmilter log (this test)"] = \
        module_milter.log_since
    yield module_milter
    assert module_milter.am.running(), "authmilter died"
    assert module_milter.am.sanitizer_reports() == []


def conf(*dicts, **kw):
    out = dict(QUIET)
    for d in dicts:
        out.update(d)
    out.update(kw)
    return out


def our_ar(headers):
    """Parse every A-R header strictly; return ours (exactly one)."""
    parsed = [harness.parse_authres(v) for v in headers]
    ours = [h for h in parsed if h.authserv_id == harness.AUTHSERV_ID]
    assert len(ours) == 1, headers
    return ours[0]


def ar_method(ar, method):
    rs = [r for r in ar.results if r.method == method]
    return rs[0] if rs else None


def delivered(mta, r):
    """Wait for the message of r at the sink; return (Delivered, XAuth,
    parsed A-R)."""
    assert r.code == 250, r.transcript
    d = mta.wait_delivered(r)
    assert mta.held() == []
    return d, xauth(d.x_authmilter()), our_ar(d.authentication_results())


def check_record(rec, w, qid=None, helo=None, mailfrom=None):
    """The fields SPEC "Logs" asks for are in the log record."""
    assert rec.get("ip") == w.ip, rec
    assert rec.get("helo") == (helo or w.helo), rec
    assert rec.get("mailfrom") == (w.sender if mailfrom is None
                                   else mailfrom), rec
    if qid is not None:
        # delivered: the header block was read, From: is <sender>
        assert rec.get("qid") == qid, rec
        assert rec.get("from_domain") == w.domain, rec
    assert "action" in rec, rec
    assert rec.get("dns_ms", "").isdigit(), rec
