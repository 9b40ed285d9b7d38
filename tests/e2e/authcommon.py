# SPDX-License-Identifier: BSD-2-Clause
"""authcommon - helpers of the SPF/DKIM/DMARC end-to-end tests.

Keys made at test time with openssl (RSA and Ed25519), messages signed
with dkimpy (python3-dkim), a World that writes the zone of a sending
domain (client address, PTR, MX, SPF, DMARC, DKIM keys), and the checks
every test makes on what Postfix delivered: exactly one
Authentication-Results header of ours, strictly parsed by python3-authres,
methods in the order iprev, spf, dkim..., dmarc, and a Received-SPF header
of the RFC 7208 s. 9.1 form that agrees with it.
"""

import base64
import email.utils
import re
import subprocess
import uuid

import dkim

import harness
from harness import AUTHSERV_ID

METHOD_ORDER = ["iprev", "spf", "dkim", "dmarc"]
SPF_RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror",
               "permerror")


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, check=True,
                          capture_output=True).stdout


class Key:
    """A key pair: the private key for dkimpy, the p= value for DNS."""

    def __init__(self, kind="rsa", bits=2048):
        self.kind = kind
        self.bits = bits
        if kind == "rsa":
            pem = openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                          "rsa_keygen_bits:%d" % bits)
            der = openssl("pkey", "-pubout", "-outform", "DER", data=pem)
            self.private = pem
            self.p = base64.b64encode(der).decode()
            self.alg = b"rsa-sha256"
        else:
            pem = openssl("genpkey", "-algorithm", "ed25519")
            der = openssl("pkey", "-outform", "DER", data=pem)
            pub = openssl("pkey", "-pubout", "-outform", "DER", data=pem)
            # dkimpy wants the base64 32-octet seed, DNS the raw key.
            self.private = base64.b64encode(der[-32:])
            self.p = base64.b64encode(pub[-32:]).decode()
            self.alg = b"ed25519-sha256"

    @property
    def record(self):
        return "v=DKIM1; k=%s; p=%s" % (
            "rsa" if self.kind == "rsa" else "ed25519", self.p)

    @property
    def a(self):
        return self.alg.decode()


def build_message(from_header, rcpt="rcpt@dest.test", headers=(),
                  body="Hello.\r\n\r\nThis is a test message.\r\n",
                  subject="authmilter e2e auth", from_headers=None):
    """A message in CRLF form (bytes). from_header None leaves From: out;
    from_headers (a list) writes several From: fields."""
    mid = "<%s@e2e.test>" % uuid.uuid4().hex
    lines = ["%s: %s" % hv for hv in headers]
    froms = from_headers if from_headers is not None else (
        [] if from_header is None else [from_header])
    lines += ["From: %s" % f for f in froms]
    lines += ["To: <%s>" % rcpt, "Subject: %s" % subject,
              "Date: %s" % email.utils.formatdate(localtime=False),
              "Message-ID: %s" % mid]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode(), mid


def sign(msg, key, domain, selector, canon=(b"relaxed", b"relaxed")):
    """The message with a DKIM-Signature of dkimpy prepended."""
    sig = dkim.sign(msg, selector.encode(), domain.encode(), key.private,
                    canonicalize=canon, signature_algorithm=key.alg,
                    include_headers=[b"from", b"to", b"subject", b"date",
                                     b"message-id", b"list-id"])
    assert sig, "dkimpy did not sign"
    return sig + msg


def b_tag(signed):
    """The b= value of the first DKIM-Signature of a signed message."""
    m = re.search(rb"\bb=([A-Za-z0-9+/=\s]+)", signed.split(b"\r\n\r\n")[0]
                  .replace(b"\r\n", b""))
    return re.sub(rb"\s", b"", m.group(1)).decode()


def to_wire(signed):
    """swaks sends the data file's lines with CRLF: hand it LF lines."""
    return signed.decode().replace("\r\n", "\n")


class World:
    """Writes a zone for domains that send mail.

    host(ip, name): the client's PTR and A (FCrDNS passes);
    domain(d, spf=..., dmarc=..., keys={selector: Key}): MX and A of the
    domain, its SPF TXT, _dmarc TXT and DKIM keys.
    """

    def __init__(self, zone):
        self.zone = zone

    def host(self, ip, name):
        self.zone.ptr(ip, name)
        self.zone.a(name, ip)
        return self

    def domain(self, d, spf=None, dmarc=None, keys=None, mx=True):
        if mx:
            self.zone.mx(d, 10, "mx." + d)
            self.zone.a("mx." + d, "192.0.2.250")
        if spf is not None:
            self.zone.txt(d, spf)
        if dmarc is not None:
            self.zone.txt("_dmarc." + d, dmarc)
        for sel, key in (keys or {}).items():
            self.key(d, sel, key)
        return self

    def key(self, d, sel, key, split=False):
        rec = key.record
        if split:
            # Several character-strings, split mid-key.
            rec = [rec[i:i + 60] for i in range(0, len(rec), 60)]
        self.zone.txt("%s._domainkey.%s" % (sel, d), rec)
        return self


# -- the checks every test makes ---------------------------------------------


def unfold(v):
    return harness.unfold(v)


def our_ar(delivered):
    """Our one A-R header (strictly parsed); checks there is exactly one,
    that every A-R header parses, and the order of its methods."""
    values = delivered.authentication_results()
    for v in values:
        harness.parse_authres(v)
    ours = delivered.ours(AUTHSERV_ID)
    assert len(ours) == 1, values
    h = ours[0]
    methods = [r.method for r in h.results]
    assert methods, values
    for m in methods:
        assert m in METHOD_ORDER, (m, values)
    idx = [METHOD_ORDER.index(m) for m in methods]
    assert idx == sorted(idx), ("method order", methods)
    # One iprev, one spf, one dmarc at most; dkim may repeat.
    for m in ("iprev", "spf", "dmarc"):
        assert methods.count(m) <= 1, methods
    raw = [v for v in values
           if harness.parse_authres(v).authserv_id == AUTHSERV_ID][0]
    h.raw = unfold(raw)
    return h


def results(h, method):
    return [r for r in h.results if r.method == method]


def one(h, method):
    rs = results(h, method)
    assert len(rs) == 1, (method, h.raw)
    return rs[0]


def prop(r, ptype, name):
    for p in r.properties:
        if p.type == ptype and p.name == name:
            return p.value
    return None


_RSPF_KEY = re.compile(
    r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*'
    r'("(?:[^"\\]|\\.)*"|[A-Za-z0-9!#$%&\'*+/=?^_`{|}~.:@-]+)\s*(;|$)')


def parse_received_spf(value):
    """RFC 7208 s. 9.1: result [comment] [key-value-list]. Returns
    (result, comment, {key: value}); raises AssertionError if the value
    does not have that form."""
    v = " ".join(unfold(value).split())
    m = re.match(r"^(%s)( |$)" % "|".join(SPF_RESULTS), v)
    assert m, "Received-SPF result and FWS: %r" % value
    result = m.group(1)
    rest = v[m.end():]
    comment = None
    if rest.startswith("("):
        depth = 0
        for i, ch in enumerate(rest):
            if ch == "\\":
                continue
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    comment = rest[1:i]
                    rest = rest[i + 1:]
                    break
        assert comment is not None, "unbalanced comment: %r" % value
        # result FWS [comment FWS] [key-value-list]
        assert rest == "" or rest.startswith(" "), \
            "no FWS after the comment: %r" % value
    kv = {}
    rest = rest.strip()
    while rest:
        m = _RSPF_KEY.match(rest)
        assert m, "Received-SPF key-value list: %r at %r" % (value, rest)
        kv[m.group(1).lower()] = m.group(2).strip('"')
        rest = rest[m.end():].strip()
    return result, comment, kv


def check_received_spf(delivered, h, client_ip, identity="mailfrom"):
    """One Received-SPF header of RFC 7208 s. 9.1 form, agreeing with
    the A-R spf result."""
    rs = delivered.headers("Received-SPF")
    assert len(rs) == 1, rs
    result, _, kv = parse_received_spf(rs[0])
    spf = one(h, "spf")
    assert result == spf.result, (rs[0], h.raw)
    assert kv.get("client-ip") == client_ip, rs[0]
    assert kv.get("identity") == identity, rs[0]
    assert kv.get("receiver"), rs[0]
    if identity == "mailfrom":
        assert "envelope-from" in kv, rs[0]
    assert "helo" in kv, rs[0]
    return result, kv


class MilterRelay:
    """A TCP relay on the milter port that Postfix's smtpd_milters
    names, to whichever daemon is current: each test gets a fresh daemon
    on its own port without reloading Postfix (each milter session is a
    new connection, so it reaches the daemon current at its start)."""

    def __init__(self, port):
        import socket
        import threading
        self._socket = socket
        self._threading = threading
        self.target = None
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(64)
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            target = self.target
            try:
                u = self._socket.create_connection(("127.0.0.1", target), 5)
                u.settimeout(None)
            except (OSError, TypeError):
                c.close()
                continue
            for a, b in ((c, u), (u, c)):
                self._threading.Thread(target=self._pump, args=(a, b),
                                       daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(2)
            except OSError:
                pass

    def close(self):
        """Stop listening: shutdown() wakes the thread blocked in
        accept() (close() alone would leave the port listening)."""
        self.closed = True
        try:
            self.lsock.shutdown(self._socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
