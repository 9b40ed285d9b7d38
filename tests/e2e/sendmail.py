# SPDX-License-Identifier: BSD-2-Clause
"""sendmail - a private Sendmail for the end-to-end tests.

Debian's sendmail-bin cannot be installed next to Postfix (both are a
mail-transport-agent), so tests/e2e/fetch-sendmail.sh unpacks the
sendmail-bin and sendmail-cf packages into a directory (AM_SENDMAIL_ROOT,
default /var/cache/authmilter-e2e/sendmail) and Sendmail runs from there:

  - its sendmail.cf is built with m4 from a .mc written here, with
    sendmail-cf's own macros (OSTYPE, FEATURE, DAEMON_OPTIONS,
    INPUT_MAIL_FILTER, SMART_HOST): the same lines an administrator
    writes; the INPUT_MAIL_FILTER line is read from
    contrib/sendmail/authmilter.mc;
  - its queue, pid file and statistics file are in the private work
    directory; a service switch file that says `hosts files` keeps its
    own host lookups off the DNS (the hosts file is private too);
  - it listens on SERVER4 and SERVER6, documentation addresses on the
    loopback of the private network namespace made by sendmail-netns.sh,
    and relays every message (promiscuous_relay: this Sendmail is
    reachable only from inside that namespace) to smtp-sink on
    127.0.0.1, which writes each message to a file;
  - it authenticates SASL PLAIN against a private sasldb: its Cyrus SASL
    configuration (Sendmail.conf) goes into a private copy of the SASL
    plugin directory, bind-mounted over the real one in the private mount
    namespace.

Sendmail has no XCLIENT: the client address the milter sees is the one
the SMTP client binds to (send(..., client_ip=...) adds it to the
loopback first). Nothing here works outside sendmail-netns.sh.
"""

import glob
import os
import re
import shutil
import subprocess
import tempfile

import harness
from harness import AUTHSERV_ID, HarnessError, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
FETCH = os.path.join(HERE, "fetch-sendmail.sh")
DEFAULT_ROOT = "/var/cache/authmilter-e2e/sendmail"
SERVER4 = "198.51.100.25"
SERVER6 = "2001:db8:25::25"
SASL_USER = "sm-user"
SASL_PASSWORD = "sm-secret"


def in_netns():
    return os.environ.get("AM_E2E_NETNS") == "1"


def sendmail_root():
    """The unpacked packages; fetched (apt-get download) if missing.
    Returns (root, None) or (None, why)."""
    root = os.environ.get("AM_SENDMAIL_ROOT") or DEFAULT_ROOT
    r = subprocess.run([FETCH, root], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return None, "cannot unpack Sendmail into %s: %s" % (
            root, r.stderr.strip()[-300:])
    return root, None


def add_address(ip):
    """Put ip on the namespace's loopback (idempotent)."""
    plen = 128 if ":" in ip else 32
    r = subprocess.run(["ip", "addr", "add", "%s/%d" % (ip, plen),
                        "dev", "lo"] + (["nodad"] if ":" in ip else []),
                       capture_output=True, text=True)
    if r.returncode != 0 and "File exists" not in r.stderr and \
            "already assigned" not in r.stderr:
        raise HarnessError("ip addr add %s: %s" % (ip, r.stderr))


MC = """\
divert(-1)
# written by tests/e2e/sendmail.py (see contrib/sendmail/authmilter.mc)
divert(0)dnl
include(`{cf}/m4/cf.m4')dnl
VERSIONID(`authmilter e2e')dnl
OSTYPE(`linux')dnl
define(`confDOMAIN_NAME', `{hostname}')dnl
define(`QUEUE_DIR', `{queue}')dnl
define(`confPID_FILE', `{pidfile}')dnl
define(`STATUS_FILE', `{dir}/statistics')dnl
define(`confSERVICE_SWITCH_FILE', `{dir}/service.switch')dnl
define(`confHOSTS_FILE', `{dir}/hosts')dnl
define(`ALIAS_FILE', `')dnl
define(`confFORWARD_PATH', `')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confTO_IDENT', `0s')dnl
define(`confDELIVERY_MODE', `background')dnl
define(`confLOG_LEVEL', `9')dnl
define(`confAUTH_MECHANISMS', `PLAIN LOGIN')dnl
TRUST_AUTH_MECH(`PLAIN LOGIN')dnl
define(`SMART_HOST', `esmtp:[127.0.0.1]')dnl
define(`ESMTP_MAILER_ARGS', `TCP $h {sink_port}')dnl
FEATURE(`promiscuous_relay')dnl
FEATURE(`accept_unresolvable_domains')dnl
FEATURE(`accept_unqualified_senders')dnl
FEATURE(`nocanonify')dnl
FEATURE(`no_default_msa')dnl
DAEMON_OPTIONS(`Family=inet, Addr={server4}, Port={port}, Name=MTA-v4')dnl
DAEMON_OPTIONS(`Family=inet6, Addr={server6}, Port={port}, Name=MTA-v6')dnl
dnl authmilter: the line of contrib/sendmail/authmilter.mc
{filter_line}
MAILER(`smtp')dnl
"""
CONTRIB_MC = os.path.join(harness.ROOT, "contrib", "sendmail",
                          "authmilter.mc")


def contrib_filter_line(milter_port):
    """The INPUT_MAIL_FILTER line of contrib/sendmail/authmilter.mc, with
    the test's milter port in place of 8895."""
    with open(CONTRIB_MC, encoding="utf-8") as f:
        lines = [ln.rstrip("\n") for ln in f
                 if ln.startswith("INPUT_MAIL_FILTER(")]
    if len(lines) != 1 or "S=inet:8895@127.0.0.1" not in lines[0]:
        raise HarnessError("%s: expected one INPUT_MAIL_FILTER line with "
                           "S=inet:8895@127.0.0.1" % CONTRIB_MC)
    return lines[0].replace("S=inet:8895@", "S=inet:%d@" % milter_port)


class Sendmail:
    """A private Sendmail (see the module comment) and its smtp-sink."""

    def __init__(self, workdir, milter_port, root, hostname=AUTHSERV_ID):
        self.root = root
        self.cf_dir = os.path.join(root, "usr", "share", "sendmail", "cf")
        self.binary = os.path.join(root, "usr", "libexec", "sendmail",
                                   "sendmail")
        self.dir = os.path.join(workdir, "sendmail")
        self.queue = os.path.join(self.dir, "queue")
        self.sink_dir = os.path.join(self.dir, "sink")
        self.pidfile = os.path.join(self.dir, "sendmail.pid")
        self.mc_path = os.path.join(self.dir, "sendmail.mc")
        self.cf_path = os.path.join(self.dir, "sendmail.cf")
        self.hostname = hostname
        self.milter_port = milter_port
        self.port = harness.free_port()
        self.sink_port = harness.free_port()
        self.sink = None
        self.seen = set()
        self.sasl = False
        self._sasl_mount = None

    # -- configuration ------------------------------------------------------

    def mc(self):
        return MC.format(cf=self.cf_dir, hostname=self.hostname,
                         queue=self.queue, pidfile=self.pidfile,
                         dir=self.dir, sink_port=self.sink_port,
                         server4=SERVER4, server6=SERVER6, port=self.port,
                         filter_line=contrib_filter_line(self.milter_port))

    def build_cf(self):
        with open(self.mc_path, "w", encoding="utf-8") as f:
            f.write(self.mc())
        r = subprocess.run(["m4", self.mc_path], capture_output=True,
                           text=True, timeout=60)
        # promiscuous_relay warns on stderr; only the status counts.
        if r.returncode != 0 or "InputMailFilters=authmilter" not in \
                r.stdout:
            raise HarnessError("m4 %s: exit %d\n%s" % (
                self.mc_path, r.returncode, r.stderr))
        with open(self.cf_path, "w", encoding="utf-8") as f:
            f.write(r.stdout)

    def _setup_sasl(self):
        """A private sasldb with SASL_USER and a Sendmail.conf, visible to
        Cyrus SASL through a bind mount in this mount namespace only.
        Returns False (SASL stays off) if that cannot be done."""
        saslpasswd2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
        plugdirs = [d for d in glob.glob("/usr/lib/*/sasl2")
                    if glob.glob(os.path.join(d, "libplain.so*"))]
        if not os.access(saslpasswd2, os.X_OK) or not plugdirs:
            return False
        plugdir = plugdirs[0]
        sdir = os.path.join(self.dir, "sasl")
        priv = os.path.join(sdir, "plugins")
        os.makedirs(priv, exist_ok=True)
        for p in glob.glob(os.path.join(plugdir, "*")):
            shutil.copy2(p, priv, follow_symlinks=False)
        db = os.path.join(sdir, "sasldb2")
        with open(os.path.join(priv, "Sendmail.conf"), "w") as f:
            f.write("pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                    "sasldb_path: %s\nmech_list: PLAIN LOGIN\n" % db)
        r = subprocess.run([saslpasswd2, "-f", db, "-c", "-p",
                            "-u", self.hostname, SASL_USER],
                           input=SASL_PASSWORD + "\n", text=True,
                           capture_output=True, timeout=30)
        if r.returncode != 0:
            return False
        os.chmod(db, 0o600)
        r = subprocess.run(["mount", "--bind", priv, plugdir],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return False
        self._sasl_mount = plugdir
        return True

    # -- start and stop -------------------------------------------------------

    def start(self):
        if not in_netns():
            raise HarnessError("the private Sendmail needs the namespace "
                               "of tests/e2e/sendmail-netns.sh")
        for d in (self.dir, self.sink_dir):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        os.makedirs(self.queue, exist_ok=True)
        os.chmod(self.queue, 0o700)
        shutil.chown(self.sink_dir, "postfix", "postfix")
        with open(os.path.join(self.dir, "service.switch"), "w") as f:
            f.write("hosts files\naliases files\n")
        with open(os.path.join(self.dir, "hosts"), "w") as f:
            f.write("127.0.0.1 localhost\n%s %s\n"
                    % (SERVER4, self.hostname))
        add_address(SERVER4)
        add_address(SERVER6)
        self.sasl = self._setup_sasl()
        self.build_cf()
        sink_log = open(os.path.join(self.dir, "smtp-sink.log"), "wb")
        self.sink = subprocess.Popen(
            ["smtp-sink", "-u", "postfix",
             "-d", os.path.join(self.sink_dir, "msg."),
             "127.0.0.1:%d" % self.sink_port, "100"],
            stdin=subprocess.DEVNULL, stdout=sink_log, stderr=sink_log)
        sink_log.close()
        wait_until(lambda: harness.port_open(self.sink_port), 10,
                   "smtp-sink")
        out = os.path.join(self.dir, "sendmail.out")
        with open(out, "wb") as f:
            r = subprocess.run([self.binary, "-C", self.cf_path, "-bd",
                                "-q1m"], stdin=subprocess.DEVNULL,
                               stdout=f, stderr=f, timeout=60)
        if r.returncode != 0:
            raise HarnessError("sendmail -bd: exit %d\n%s" % (
                r.returncode, harness.read_text(out)))
        wait_until(lambda: harness.port_open(self.port, SERVER4), 20,
                   "sendmail to listen on %s:%d" % (SERVER4, self.port))
        return self

    def master_pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        pid = self.master_pid()
        if pid:
            try:
                os.kill(pid, 15)
                wait_until(lambda: not os.path.exists("/proc/%d" % pid),
                           20, "sendmail to exit")
            except (ProcessLookupError, HarnessError):
                pass
        if self.sink and self.sink.poll() is None:
            self.sink.terminate()
            self.sink.wait(5)
        if self._sasl_mount:
            subprocess.run(["umount", self._sasl_mount],
                           capture_output=True)
            self._sasl_mount = None

    # -- what happened --------------------------------------------------------

    def wait_delivered(self, message_id, timeout=30):
        """The Delivered message (smtp-sink's file) that holds
        message_id, once the file has stopped growing."""
        needle = message_id.encode()
        sizes = {}

        def find():
            for n in sorted(os.listdir(self.sink_dir)):
                p = os.path.join(self.sink_dir, n)
                if p in self.seen:
                    continue
                try:
                    with open(p, "rb") as f:
                        raw = f.read()
                except OSError:
                    continue
                if needle not in raw:
                    continue
                if sizes.get(p) != len(raw):
                    sizes[p] = len(raw)
                    continue
                self.seen.add(p)
                return harness.Delivered(p, raw)
            return None
        return wait_until(find, timeout, "delivery of %s" % message_id,
                          interval=0.1)

    def delivered_any(self, message_id):
        """True if some delivered file holds message_id now."""
        needle = message_id.encode()
        for n in os.listdir(self.sink_dir):
            with open(os.path.join(self.sink_dir, n), "rb") as f:
                if needle in f.read():
                    return True
        return False


def milter_connections(port):
    """How many established TCP connections have port at one end (read
    from /proc/net/tcp*: Sendmail keeps one milter connection per SMTP
    session, and closes it after the session's QUIT)."""
    n = 0
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        for ln in harness.read_text(f).splitlines()[1:]:
            parts = ln.split()
            if len(parts) < 4 or parts[3] != "01":
                continue
            ports = [int(a.rsplit(":", 1)[1], 16) for a in parts[1:3]]
            if port in ports:
                n += 1
    return n


def queue_id(reply):
    """Sendmail's queue id from its reply to DATA ("250 2.0.0 <id>
    Message accepted for delivery"), or None."""
    for code, text, _ in reply.replies:
        m = re.match(r"2\.0\.0 (\S+) Message accepted", text)
        if code == 250 and m:
            return m.group(1)
    return None


def send(mta, client_ip="192.0.2.1", mail_from="sender@example.test",
         rcpt="rcpt@dest.test", helo="mail.example.test", headers=None,
         body=None, auth=None, timeout=30, **msg_kw):
    """One transaction with swaks from client_ip (added to the loopback
    and bound to) to the private Sendmail. Returns a harness.Reply."""
    add_address(client_ip)
    data, message_id = harness.make_message(mail_from, rcpt, headers,
                                            body, **msg_kw)
    fd, path = tempfile.mkstemp(prefix="msg.", suffix=".eml", dir=mta.dir)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data)
    server = SERVER6 if ":" in client_ip else SERVER4
    argv = ["swaks", "--server", server, "--port", str(mta.port),
            "--local-interface", client_ip,
            "--from", mail_from, "--to", rcpt, "--helo", helo,
            "--data", "@" + path, "--timeout", str(timeout)]
    if ":" in client_ip:
        argv.append("-6")
    if auth:
        argv += ["--auth", "PLAIN", "--auth-user", auth[0],
                 "--auth-password", auth[1]]
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True,
                           errors="replace", timeout=timeout + 30)
    finally:
        os.unlink(path)
    return harness.Reply(r.stdout + r.stderr, r.returncode, message_id)
