# SPDX-License-Identifier: BSD-2-Clause
"""harness - the end-to-end test bed of authmilter.

Three servers, all on loopback with ports the OS chose, all in one private
temporary directory (AM_E2E_TMP or the system's temporary directory):

  Dnsd       tests/dnsd/dnsd.py serving a zone that a test edits through
             a Zone object (records and behaviours; dnsd re-reads the file
             when it changes) and whose query log a test can read.
  Authmilter the daemon ($AUTHMILTER, default build/milter/authmilter) in
             the foreground (-f) with a configuration written per test;
             its stderr goes to a log file the test reads.
  Postfix    a private Postfix instance (own config, queue and data
             directories; the system instance is never touched): smtpd on
             a loopback port, XCLIENT allowed from loopback, SASL (Cyrus
             sasldb) for one test user, smtpd_milters pointing at the
             milter port, relaying everything to smtp-sink, which writes
             each delivered message to a file; its log goes to a file
             (maillog_file, postlogd).

send() drives a transaction with swaks (client address and HELO set with
XCLIENT) and returns a Reply; Postfix.wait_delivered() returns the
Delivered message as smtp-sink received it, with its
Authentication-Results headers parsed by python3-authres in strict mode.

Worth knowing when writing a test: Postfix opens a milter session for
the real client (127.0.0.1, in the default InternalHosts) when swaks
connects, closes it at XCLIENT and opens a new one for the XCLIENT address
and name, so the milter sees two connects per send(). The milter sees the
HELO of the EHLO after XCLIENT (send() uses the same name for both).
SASL logins reach the milter as {auth_authen} = SASL_AUTHEN (user@realm).

Only root can run a private Postfix; tests that need one skip otherwise.
"""

import email
import email.policy
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import authres

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DNSD = os.path.join(ROOT, "tests", "dnsd", "dnsd.py")
PYTHON = "/usr/bin/python3"
AUTHSERV_ID = "mx.test.example"
SASL_USER = "e2e-user"
SASL_PASSWORD = "e2e-secret"
# What Postfix reports as the SASL login ({auth_authen}): user@realm.
SASL_AUTHEN = SASL_USER + "@" + AUTHSERV_ID
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "WARNING: ThreadSanitizer")


class HarnessError(Exception):
    """A server of the test bed did not start or stop as it should."""


def free_port():
    """A TCP port on 127.0.0.1 that the OS just handed out (now free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(pred, timeout, what, interval=0.05):
    """Poll pred() until it returns a true value; raise after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise HarnessError("timed out after %.1fs waiting for %s"
                               % (timeout, what))
        time.sleep(interval)


def make_workdir(prefix="am-e2e."):
    """A private directory that Postfix's unprivileged processes can
    traverse (mkdtemp makes it 0700; the postfix user needs x)."""
    base = os.environ.get("AM_E2E_TMP") or None
    d = tempfile.mkdtemp(prefix=prefix, dir=base)
    os.chmod(d, 0o755)
    return d


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


# ---------------------------------------------------------------------------
# DNS


class Zone:
    """The records and behaviours dnsd serves; every change is written
    to the zone file at once (atomically, with a strictly newer mtime, so
    dnsd's reload never misses it).

        zone.add("example.test", "MX", [10, "mx.example.test"])
        zone.a("mx.example.test", "192.0.2.1")
        zone.ptr("192.0.2.1", "mx.example.test")
        zone.txt("example.test", "v=spf1 -all")
        zone.behave("dead.test", "timeout")     # or servfail, refused,
        zone.behave("slow.test", {"delay_ms": 300})
    """

    def __init__(self, path):
        self.path = path
        self.records = []
        self.behaviour = {}
        self.delay_ms = 0
        self._last_ns = 0
        self.write()

    def write(self):
        doc = {"records": self.records, "behaviour": self.behaviour,
               "delay_ms": self.delay_ms}
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
        ns = max(time.time_ns(), self._last_ns + 1000000)
        os.utime(tmp, ns=(ns, ns))
        self._last_ns = ns
        os.rename(tmp, self.path)

    def clear(self):
        self.records = []
        self.behaviour = {}
        self.delay_ms = 0
        self.write()

    def add(self, name, rtype, data, ttl=None):
        r = {"name": name, "type": rtype.upper(), "data": data}
        if ttl is not None:
            r["ttl"] = ttl
        self.records.append(r)
        self.write()
        return self

    def remove(self, name, rtype=None):
        n = name.rstrip(".").lower()
        self.records = [r for r in self.records
                        if not (r["name"].rstrip(".").lower() == n and
                                (rtype is None or
                                 r["type"] == rtype.upper()))]
        self.write()
        return self

    def a(self, name, addr, ttl=None):
        rtype = "AAAA" if ":" in addr else "A"
        return self.add(name, rtype, addr, ttl)

    def mx(self, name, pref, host, ttl=None):
        return self.add(name, "MX", [pref, host], ttl)

    def txt(self, name, text, ttl=None):
        return self.add(name, "TXT", text, ttl)

    def ptr(self, ip, host, ttl=None):
        rev = ipaddress.ip_address(ip).reverse_pointer
        return self.add(rev, "PTR", host, ttl)

    def behave(self, name, what):
        """what: "timeout", "servfail", "refused" or {"delay_ms": N}.
        name may end in /TYPE to affect one type only."""
        self.behaviour[name] = what
        self.write()
        return self


class Dnsd:
    """tests/dnsd/dnsd.py on 127.0.0.1, a port the OS chose."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "dnsd")
        os.makedirs(self.dir, exist_ok=True)
        self.zone = Zone(os.path.join(self.dir, "zone.json"))
        self.qlog = os.path.join(self.dir, "queries.log")
        self.port_file = os.path.join(self.dir, "port")
        self.proc = None
        self.port = None
        self._qmark = 0

    def start(self):
        errlog = open(os.path.join(self.dir, "dnsd.err"), "wb")
        self.proc = subprocess.Popen(
            [PYTHON, DNSD, "--zones", self.zone.path,
             "--port-file", self.port_file, "--query-log", self.qlog],
            stdin=subprocess.DEVNULL, stdout=errlog, stderr=errlog)
        errlog.close()

        def ready():
            if self.proc.poll() is not None:
                raise HarnessError("dnsd exited: " + read_text(
                    os.path.join(self.dir, "dnsd.err")))
            return os.path.exists(self.port_file)
        wait_until(ready, 10, "dnsd to start")
        with open(self.port_file, encoding="ascii") as f:
            self.port = int(f.read())
        return self

    @property
    def addr(self):
        """The forwarder address in authmilter's Resolver syntax."""
        return "127.0.0.1@%d" % self.port

    def mark(self):
        """Forget the queries so far: queries() returns later ones."""
        self._qmark = len(self._lines())

    def _lines(self):
        return read_text(self.qlog).splitlines()

    def queries(self):
        """Queries answered since the last mark(), as (time, name, type,
        outcome) tuples; outcome is e.g. "answered 1", "nxdomain",
        "servfail", "dropped"."""
        out = []
        for line in self._lines()[self._qmark:]:
            parts = line.split(" ", 3)
            if len(parts) == 4:
                out.append((float(parts[0]), parts[1], parts[2], parts[3]))
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------
# authmilter


def authmilter_path():
    """$AUTHMILTER, else build/milter/authmilter; None if not built."""
    p = os.environ.get("AUTHMILTER")
    if p is None:
        p = os.path.join(ROOT, "build", "milter", "authmilter")
    if p and os.access(p, os.X_OK):
        return os.path.abspath(p)
    return None


class Authmilter:
    """One authmilter daemon in the foreground.

    The configuration is the harness's base (socket, resolver, authserv-id,
    a short DNSTimeout, debug logging to stderr) plus the test's keys;
    a key given by the test replaces the base one.
    """

    def __init__(self, binary, workdir, port, dns_addr, name="authmilter"):
        self.binary = binary
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port
        self.dns_addr = dns_addr
        self.conf_path = os.path.join(self.dir, "authmilter.conf")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.returncode = None

    def base_conf(self):
        return [
            ("Socket", "inet:%d@127.0.0.1" % self.port),
            ("Resolver", "forward " + self.dns_addr),
            ("AuthservID", AUTHSERV_ID),
            ("DNSTimeout", "2"),
            ("LogLevel", "debug"),
            ("Syslog", "no"),
        ]

    def write_conf(self, keys=(), extra_lines=(), path=None):
        """Write the base configuration plus keys (a dict or (key, value)
        pairs; a list value repeats the key) and raw extra_lines."""
        path = path or self.conf_path
        items = list(keys.items()) if isinstance(keys, dict) else list(keys)
        given = {k.lower() for k, _ in items}
        lines = ["# written by tests/e2e/harness.py"]
        for k, v in self.base_conf():
            if k.lower() not in given:
                lines.append("%s %s" % (k, v))
        for k, v in items:
            for one in (v if isinstance(v, (list, tuple)) else [v]):
                lines.append("%s %s" % (k, one))
        lines.extend(extra_lines)
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def env(self):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        return env

    def check(self, path=None):
        """authmilter -n -c path: the CompletedProcess (stdout+stderr in
        .stdout)."""
        return subprocess.run(
            [self.binary, "-n", "-c", path or self.conf_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env=self.env(), timeout=30,
            text=True, errors="replace")

    def start(self, keys=(), extra_lines=(), args=(), write=True,
              wait=True):
        """Write the configuration and start the daemon; with wait, return
        once the milter socket accepts connections."""
        if write:
            self.write_conf(keys, extra_lines)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "-f", "-c", self.conf_path] + list(args),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            env=self.env())
        log.close()
        self.returncode = None
        if wait:
            def ready():
                if self.proc.poll() is not None:
                    raise HarnessError(
                        "authmilter exited with %d before listening:\n%s"
                        % (self.proc.returncode, self.log()))
                return port_open(self.port)
            wait_until(ready, 20, "authmilter to listen on %d" % self.port)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self):
        self.signal(signal.SIGHUP)

    def stop(self, timeout=30):
        """SIGTERM, wait, and return the exit status (None if it had to be
        killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.returncode = None
                return None
        self.returncode = self.proc.returncode
        return self.returncode

    def log(self):
        return read_text(self.log_path)

    def log_lines(self, pattern=None):
        lines = self.log().splitlines()
        if pattern is None:
            return lines
        rx = re.compile(pattern)
        return [ln for ln in lines if rx.search(ln)]

    def wait_log(self, pattern, timeout=10):
        """Wait for a log line matching pattern (a regex); return it."""
        rx = re.compile(pattern)

        def found():
            for ln in self.log().splitlines():
                if rx.search(ln):
                    return ln
            return None
        return wait_until(found, timeout, "log line /%s/" % pattern)

    def sanitizer_reports(self):
        return [ln for ln in self.log_lines()
                if any(m in ln for m in SANITIZER_MARKS)]


# ---------------------------------------------------------------------------
# Postfix and smtp-sink

MILTER_MACROS = {
    # What authmilter reads (LIBRARIES.md 5.1): j = our host name (HELO
    # check), {client_addr}/{client_name}, {daemon_name}; the SASL macros
    # from MAIL on; i (queue id) from DATA on (Postfix creates the queue
    # file after the first good RCPT, so i is empty before DATA).
    "milter_connect_macros":
        "j {daemon_name} {daemon_addr} {client_addr} {client_name} "
        "{client_ptr} v _",
    "milter_helo_macros":
        "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}",
    "milter_mail_macros":
        "i {auth_type} {auth_authen} {auth_author} {mail_addr} "
        "{mail_host} {mail_mailer}",
    "milter_rcpt_macros": "i {rcpt_addr} {rcpt_host} {rcpt_mailer}",
    "milter_data_macros": "i",
    "milter_end_of_header_macros": "i",
    "milter_end_of_data_macros": "i",
}

MASTER_CF = """\
# written by tests/e2e/harness.py: a private instance, nothing chrooted
{smtpd_addr} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Delivered:
    """A message as smtp-sink received it."""

    def __init__(self, path, raw):
        self.path = path
        self.raw = raw
        # smtp-sink -d writes its own X-Client-*/X-*-Args lines, then the
        # message as received.
        self.msg = email.message_from_bytes(
            raw, policy=email.policy.compat32)

    def headers(self, name):
        """Raw values of every header called name, in order (folding
        kept)."""
        return [str(v) for v in (self.msg.get_all(name) or [])]

    def header_names(self):
        return list(self.msg.keys())

    def authentication_results(self):
        """The raw Authentication-Results values, top first."""
        return self.headers("Authentication-Results")

    def ours(self, authserv_id=AUTHSERV_ID):
        """Our Authentication-Results headers, strictly parsed."""
        out = []
        for v in self.authentication_results():
            h = parse_authres(v)
            if h.authserv_id == authserv_id.lower():
                out.append(h)
        return out

    def x_authmilter(self):
        return self.headers("X-Authmilter")

    @property
    def body(self):
        return self.msg.get_payload()


def unfold(value):
    return re.sub(r"\r?\n(?=[ \t])", "", value)


def parse_authres(value):
    """Parse one Authentication-Results value with python3-authres in
    strict mode (a bad property raises instead of being skipped)."""
    fc = authres.all_features()
    h = fc.header_class(fc, strict=True)
    h._parse_text = unfold(value).strip("\r\n\t ")
    h._parse()
    return h


def results_by_method(header):
    """{method: [result, ...]} of one parsed header."""
    out = {}
    for r in header.results:
        out.setdefault(r.method, []).append(r)
    return out


class Postfix:
    """A private Postfix instance plus its smtp-sink."""

    def __init__(self, workdir, milter_port):
        self.dir = os.path.join(workdir, "postfix")
        self.conf_dir = os.path.join(self.dir, "etc")
        self.queue_dir = os.path.join(self.dir, "spool")
        self.data_dir = os.path.join(self.dir, "lib")
        self.sink_dir = os.path.join(self.dir, "sink")
        self.maillog = os.path.join(self.dir, "maillog")
        self.milter_port = milter_port
        self.port = free_port()
        self.sink_port = free_port()
        while self.sink_port == self.port:
            self.sink_port = free_port()
        self.sink = None
        self.seen = set()
        self.sasl = False

    # -- configuration ----------------------------------------------------

    def main_cf(self):
        p = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": AUTHSERV_ID,
            "mydomain": "test.example",
            "myorigin": "$myhostname",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "relay_domains": "",
            "mynetworks": "127.0.0.0/8",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "all",  # XCLIENT ADDR=IPV6:... needs ipv6
            "relayhost": "[127.0.0.1]:%d" % self.sink_port,
            "smtp_dns_support_level": "disabled",
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            "smtpd_peername_lookup": "no",
            "smtpd_authorized_xclient_hosts": "127.0.0.0/8",
            # Relay for everyone (loopback only); Postfix insists that a
            # reject_unauth_destination be present, static:OK comes first.
            "smtpd_relay_restrictions":
                "check_client_access static:OK, reject_unauth_destination",
            "smtpd_recipient_restrictions": "permit",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
            "smtpd_error_sleep_time": "0",
            "smtpd_banner": "$myhostname ESMTP authmilter-e2e",
            "smtpd_milters": "inet:127.0.0.1:%d" % self.milter_port,
            "non_smtpd_milters": "$smtpd_milters",
            "milter_default_action": "tempfail",
            "milter_protocol": "6",
            "milter_connect_timeout": "10s",
            "milter_command_timeout": "30s",
            "milter_content_timeout": "60s",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": self.dir,
            "biff": "no",
            "delay_warning_time": "0",
            "queue_run_delay": "5s",
            "minimal_backoff_time": "5s",
            "maximal_backoff_time": "10s",
            "in_flow_delay": "0",
            "smtputf8_enable": "no",
        }
        p.update(MILTER_MACROS)
        if self.sasl:
            p.update({
                "smtpd_sasl_auth_enable": "yes",
                "smtpd_sasl_type": "cyrus",
                "smtpd_sasl_path": "smtpd",
                "smtpd_sasl_local_domain": AUTHSERV_ID,
                "smtpd_sasl_security_options": "noanonymous",
            })
        return p

    def _setup_sasl(self):
        """Cyrus SASL with a private sasldb holding SASL_USER; returns
        False (and SASL stays off) if sasl2-bin is missing."""
        saslpasswd2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
        if not os.access(saslpasswd2, os.X_OK):
            return False
        # smtpd.conf goes where Debian's Postfix looks by default
        # ($config_directory/sasl; cyrus_sasl_config_path did not take
        # effect), the password database beside it.
        sdir = os.path.join(self.dir, "sasl")
        os.makedirs(sdir, exist_ok=True)
        cdir = os.path.join(self.conf_dir, "sasl")
        os.makedirs(cdir, exist_ok=True)
        db = os.path.join(sdir, "sasldb2")
        with open(os.path.join(cdir, "smtpd.conf"), "w") as f:
            f.write("pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                    "sasldb_path: %s\nmech_list: PLAIN LOGIN\n" % db)
        r = subprocess.run([saslpasswd2, "-f", db, "-c", "-p",
                            "-u", AUTHSERV_ID, SASL_USER],
                           input=SASL_PASSWORD + "\n", text=True,
                           capture_output=True, timeout=30)
        if r.returncode != 0:
            return False
        shutil.chown(db, "postfix", "postfix")
        os.chmod(db, 0o640)
        return True

    def write_config(self):
        os.makedirs(self.conf_dir, exist_ok=True)
        with open(os.path.join(self.conf_dir, "main.cf"), "w") as f:
            f.write("# written by tests/e2e/harness.py\n")
            for k, v in self.main_cf().items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.conf_dir, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(
                smtpd_addr="127.0.0.1:%d" % self.port))

    def postconf(self, **params):
        """Change main.cf parameters and reload; returns the old values
        (pass them back to restore)."""
        old = {}
        for k in params:
            r = self._run(["postconf", "-c", self.conf_dir, "-h", k])
            old[k] = r.stdout.strip()
        self._run(["postconf", "-c", self.conf_dir, "-e"] +
                  ["%s=%s" % kv for kv in params.items()], check=True)
        self.reload()
        return old

    def reload(self):
        self._run(["postfix", "-c", self.conf_dir, "reload"], check=True)
        # smtpd processes that served earlier sessions exit after the
        # reload; a new connection gets a fresh one with the new config.
        time.sleep(0.5)

    # -- start and stop ---------------------------------------------------

    def _run(self, argv, check=False, **kw):
        r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120,
                           **kw)
        if check and r.returncode != 0:
            raise HarnessError("%s: exit %d\n%s%s" % (
                " ".join(argv), r.returncode, r.stdout, r.stderr))
        return r

    def start(self):
        if os.geteuid() != 0:
            raise HarnessError("a private Postfix needs root")
        for d in (self.dir, self.sink_dir, self.queue_dir, self.data_dir):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        # Postfix creates the queue's subdirectories itself at start.
        shutil.chown(self.sink_dir, "postfix", "postfix")
        shutil.chown(self.data_dir, "postfix", "postfix")
        os.makedirs(self.conf_dir, exist_ok=True)
        self.sasl = self._setup_sasl()
        self.write_config()
        open(self.maillog, "a").close()
        # smtp-sink: -d writes one file per message, in sink_dir; it
        # drops to the postfix user after opening its socket.
        sink_log = open(os.path.join(self.dir, "smtp-sink.log"), "wb")
        self.sink = subprocess.Popen(
            ["smtp-sink", "-u", "postfix",
             "-d", os.path.join(self.sink_dir, "msg."),
             "127.0.0.1:%d" % self.sink_port, "100"],
            stdin=subprocess.DEVNULL, stdout=sink_log, stderr=sink_log)
        sink_log.close()
        wait_until(lambda: port_open(self.sink_port), 10, "smtp-sink")
        self._run(["postfix", "-c", self.conf_dir, "start"], check=True)
        wait_until(lambda: port_open(self.port), 20, "postfix smtpd")
        banner = self.banner()
        if not banner.startswith("220 "):
            raise HarnessError("postfix smtpd greeting %r; log:\n%s"
                               % (banner, self.log()[-3000:]))
        return self

    def banner(self, timeout=15):
        """The SMTP greeting of the private smtpd ("" if none came)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=timeout) as s:
                s.settimeout(timeout)
                data = s.recv(512).decode("ascii", "replace")
                s.sendall(b"QUIT\r\n")
                return data
        except OSError:
            return ""

    def master_pid(self):
        try:
            with open(os.path.join(self.queue_dir, "pid",
                                   "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        pid = self.master_pid()
        self._run(["postfix", "-c", self.conf_dir, "stop"])
        if pid:
            def gone():
                try:
                    os.kill(pid, 0)
                    return False
                except ProcessLookupError:
                    return True
            try:
                wait_until(gone, 20, "postfix master to exit")
            except HarnessError:
                os.kill(pid, signal.SIGKILL)
        if self.sink and self.sink.poll() is None:
            self.sink.terminate()
            try:
                self.sink.wait(5)
            except subprocess.TimeoutExpired:
                self.sink.kill()
                self.sink.wait()

    # -- what happened ----------------------------------------------------

    def log(self):
        return read_text(self.maillog)

    def log_lines(self, pattern=None):
        lines = self.log().splitlines()
        if pattern is None:
            return lines
        rx = re.compile(pattern)
        return [ln for ln in lines if rx.search(ln)]

    def _sink_files(self):
        try:
            names = os.listdir(self.sink_dir)
        except FileNotFoundError:
            return []
        return sorted(os.path.join(self.sink_dir, n) for n in names)

    def wait_delivered(self, marker, timeout=30):
        """The Delivered message whose text contains marker: a Reply (its
        Message-ID is used, and its queue id must be logged as sent, so
        the sink's file is complete), or a unique string/bytes such as a
        Message-ID (send() puts a fresh one in every message)."""
        qid = None
        if isinstance(marker, Reply):
            qid = marker.queue_id
            marker = marker.message_id
        needle = marker.encode() if isinstance(marker, str) else marker
        if qid:
            wait_until(lambda: self.log_lines(
                r" %s: to=.*status=(sent|deferred|bounced)" % qid),
                timeout, "Postfix to deliver %s" % qid, interval=0.1)
        sizes = {}

        def find():
            for p in self._sink_files():
                if p in self.seen:
                    continue
                try:
                    with open(p, "rb") as f:
                        raw = f.read()
                except OSError:
                    continue
                if needle not in raw:
                    continue
                # Without a queue id to wait for, wait until the file
                # stops growing.
                if qid is None and sizes.get(p) != len(raw):
                    sizes[p] = len(raw)
                    continue
                self.seen.add(p)
                return Delivered(p, raw)
            return None
        return wait_until(find, timeout, "delivery of %r" % marker,
                          interval=0.1)

    def queue(self):
        """Every queued message (postqueue -j), as dicts with queue_name
        ("hold", "deferred", "active", "incoming") and queue_id."""
        r = self._run(["postqueue", "-c", self.conf_dir, "-j"])
        return [json.loads(ln) for ln in r.stdout.splitlines()
                if ln.strip()]

    def held(self):
        return [q for q in self.queue() if q.get("queue_name") == "hold"]

    def postcat(self, queue_id):
        """postcat -q of one queued message (envelope, headers, body)."""
        r = self._run(["postcat", "-c", self.conf_dir, "-q", queue_id])
        return r.stdout

    def sendmail(self, text, mail_from="root@" + AUTHSERV_ID,
                 rcpt="rcpt@dest.test"):
        """Submit a message locally with Postfix's sendmail (pickup and
        cleanup: the non_smtpd_milters path). Returns the
        CompletedProcess."""
        return subprocess.run(
            ["/usr/sbin/sendmail", "-C", self.conf_dir, "-f", mail_from,
             "-i", rcpt], input=text, text=True, capture_output=True,
            timeout=60)

    def flush_queue(self):
        """Delete every queued message (postsuper -d ALL)."""
        self._run(["postsuper", "-c", self.conf_dir, "-d", "ALL"])


# ---------------------------------------------------------------------------
# SMTP client


class Reply:
    """What one swaks transaction got back."""

    def __init__(self, transcript, exit_code, message_id):
        self.transcript = transcript
        self.exit_code = exit_code
        self.message_id = message_id
        self.replies = []   # (code, text, is_error) of every reply line
        for ln in transcript.splitlines():
            m = re.match(r"^(<-|<\*\*)\s+(\d{3})[ -](.*)$", ln)
            if m:
                self.replies.append((int(m.group(2)), m.group(3),
                                     m.group(1) == "<**"))
        self.queue_id = None
        m = re.search(r"queued as ([0-9A-Za-z]+)", transcript)
        if m:
            self.queue_id = m.group(1)

    @property
    def code(self):
        """The final reply: the first error reply if there was one, else
        the reply to the end of DATA (the last reply before QUIT)."""
        for code, _, err in self.replies:
            if err:
                return code
        ends = [c for c, _, _ in self.replies if c != 221]
        return ends[-1] if ends else None

    @property
    def text(self):
        for code, text, err in self.replies:
            if err:
                return "%d %s" % (code, text)
        ends = [(c, t) for c, t, _ in self.replies if c != 221]
        return "%d %s" % ends[-1] if ends else ""

    def __repr__(self):
        return "<Reply %s %r>" % (self.code, self.text)


def xclient_addr(ip):
    return ("IPV6:" + ip) if ":" in ip else ip


def make_message(mail_from, rcpt, headers=None, body=None,
                 subject="authmilter e2e", from_header=None,
                 message_id=None):
    """A message text (LF line ends; swaks makes them CRLF). headers is a
    list of (name, value) put above From/To/Subject/Date/Message-ID;
    pass from_header=False to leave From: out."""
    message_id = message_id or "<%s@e2e.test>" % uuid.uuid4().hex
    lines = []
    for k, v in headers or []:
        lines.append("%s: %s" % (k, v))
    if from_header is not False:
        lines.append("From: %s" % (from_header or "<%s>" % mail_from))
    lines.append("To: <%s>" % rcpt)
    lines.append("Subject: %s" % subject)
    lines.append("Date: %s" % email.utils.formatdate(localtime=False))
    lines.append("Message-ID: %s" % message_id)
    text = "\n".join(lines) + "\n\n" + (body or "Test message.\n")
    return text, message_id


def send(postfix, mail_from="sender@example.test",
         rcpt="rcpt@dest.test", client_ip="192.0.2.1",
         helo="mail.example.test", client_name="[UNAVAILABLE]",
         headers=None, body=None, data=None, auth=None, timeout=30,
         extra_args=(), **msg_kw):
    """Send one message through the private Postfix with swaks.

    The client address, name and HELO are set with XCLIENT (client_ip is
    data, never contacted); auth=(user, password) authenticates with SASL
    PLAIN first. data is a complete message text; otherwise one is built
    from headers/body (make_message). Returns a Reply.
    """
    if data is None:
        data, message_id = make_message(mail_from, rcpt, headers, body,
                                        **msg_kw)
    else:
        m = re.search(r"(?im)^Message-ID:\s*(\S+)", data)
        message_id = m.group(1) if m else None
    workdir = postfix.dir
    fd, path = tempfile.mkstemp(prefix="msg.", suffix=".eml",
                                dir=workdir)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data)
    argv = ["swaks", "--server", "127.0.0.1", "--port", str(postfix.port),
            "--from", mail_from, "--to", rcpt, "--helo", helo,
            "--xclient-addr", xclient_addr(client_ip),
            "--xclient-name", client_name,
            "--xclient-helo", helo,
            "--data", "@" + path, "--timeout", str(timeout)]
    if auth:
        argv += ["--auth", "PLAIN", "--auth-user", auth[0],
                 "--auth-password", auth[1]]
    argv += list(extra_args)
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True,
                           errors="replace", timeout=timeout + 30)
    finally:
        os.unlink(path)
    return Reply(r.stdout + r.stderr, r.returncode, message_id)
