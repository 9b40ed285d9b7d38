#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""run.py - the benchmark, side by side, in one run (started by run.sh).

Inside a private network namespace (run.sh): brings lo up, generates the
corpus (gencorpus.py; kept in BUILD/bench-corpus and reused unless
--regen), starts unbound serving the corpus's zone on 127.0.0.1:53 (0 ms
of delay), then on 127.0.0.1:5300 with dnsdelay on 127.0.0.1:53 in front
of it (20 ms per query),
and for each delay, --repeat times (3), each row and each concurrency (1,
8, 32) starts the milter(s) afresh (an empty cache), replays the corpus
with amload for at most --seconds, and records messages/s, p50/p90/p99,
the milters' CPU seconds per message (utime+stime from /proc), their peak
RSS (VmHWM, the sum for a chain) and, for authmilter, the verdicts
against the corpus's (BUILD/bench-corpus/index, or index-uribl for the
row with the URIBL zones) and, for the row with the DMARC history, the
rows its SQLite database got. The repeats are interleaved (all rows, then all
rows again) and combined into medians (combine()). Writes
WORK/results-raw.json (every measurement), WORK/results.json, the table into docs/BENCHMARKS.md (between its
bench:table markers) and the plot docs/benchmarks.png.
"""

import argparse
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROWS = [
    # name, milters [(kind, port)], the corpus index whose expected
    # actions the verdicts are checked against (None: not checked)
    ("null filter, every step", [("null", 9001)], None),
    ("null filter, end of message only", [("nulleom", 9002)], None),
    ("authmilter, every check", [("authmilter", 9003)], "index"),
    # The cost of the URIBL check (MIME parse, link extraction, lookups)
    # and of the DMARC history writes: each row is the one above plus
    # that, so its CPU per message minus the above is what it adds.
    ("authmilter + URIBL (2 zones)", [("authmilter-uribl", 9006)],
     "index-uribl"),
    ("authmilter + DMARC history (SQLite)", [("authmilter-history", 9007)],
     "index"),
    ("OpenDKIM (verify)", [("opendkim", 9004)], None),
    ("OpenDMARC (SPFSelfValidate)", [("opendmarc", 9005)], None),
    ("OpenDKIM -> OpenDMARC", [("opendkim", 9004), ("opendmarc", 9005)],
     None),
]
CONC = [1, 8, 32]
DELAYS = [0, 20]

AUTHMILTER_CONF = """Socket inet:{port}@127.0.0.1
AuthservID mx.bench.example
Syslog no
LogLevel info
Resolver forward 127.0.0.1@53
DNSBL bl.example
RHSBL rhsbl.example
IPRevAction tag
HeloAction tag
SPFFailAction none
DMARCRejectAction reject
"""

# The URIBL row: the two zones of gencorpus.py, with filters of the kind
# the common lists need (the DBL's codes, a multi list's bits), and two
# of the corpus's most linked domains skipped (as an MX skips the big
# webmail and CDN domains).
AUTHMILTER_URIBL = """URIBL dbl.bench.example=127.0.1.[2..99]
URIBL uri.bench.example=127.0.0.[2..255]
URIBLSkipDomains site00.example, site01.example
"""

# The history row: every message with a DMARC evaluation adds a row.
AUTHMILTER_HISTORY = """ReportDatabase sqlite:{db}
ReportContact dmarc-reports@bench.example
ReportFrom dmarc-reports@bench.example
"""
HISTORY_DB = "h.sqlite"

OPENDKIM_CONF = """Mode v
Socket inet:{port}@127.0.0.1
AuthservID mx.bench.example
Syslog no
Background no
Nameservers 127.0.0.1
"""

OPENDMARC_CONF = """Socket inet:{port}@127.0.0.1
AuthservID mx.bench.example
TrustedAuthservIDs mx.bench.example
SPFSelfValidate true
SPFIgnoreResults true
RejectFailures true
Syslog false
Background false
PublicSuffixList /usr/share/publicsuffix/public_suffix_list.dat
"""

UNBOUND_CONF = """server:
  interface: 127.0.0.1@5300
{direct}  port: 5300
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{work}"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: 1
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  msg-cache-size: 64m
  rrset-cache-size: 64m
remote-control:
  control-enable: no
include: "{zone}"
"""


def log(*a):
    print("run:", *a, file=sys.stderr, flush=True)


def wait_port(port, proc, secs=15):
    t = time.time() + secs
    while time.time() < t:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %d" % (proc.args[0],
                                                      proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d not open" % port)


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fld = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    # fields after ")": state is [0]; utime is field 14 -> [11], stime [12]
    return (int(fld[11]) + int(fld[12])) / tick


def proc_hwm(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


class Bench:
    def __init__(self, a):
        self.a = a
        self.bt = a.build
        self.work = tempfile.mkdtemp(prefix="ambench.")
        self.procs = []

    def start(self, argv, logname):
        f = open(os.path.join(self.work, logname), "ab")
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT,
                             cwd=self.work)
        self.procs.append(p)
        return p

    def stop(self, p, grace=2):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.remove(p)

    def milter(self, kind, port):
        w = self.work
        if kind in ("null", "nulleom"):
            argv = [os.path.join(self.bt, "tests/bench/nullfilter"),
                    "-p", "inet:%d@127.0.0.1" % port]
            if kind == "nulleom":
                argv.append("-e")
        elif kind.startswith("authmilter"):
            conf = os.path.join(w, "authmilter.conf")
            text = AUTHMILTER_CONF.format(port=port)
            if kind == "authmilter-uribl":
                text += AUTHMILTER_URIBL
            elif kind == "authmilter-history":
                db = os.path.join(w, HISTORY_DB)
                for sfx in ("", "-wal", "-shm", "-journal"):
                    if os.path.exists(db + sfx):
                        os.unlink(db + sfx)
                text += AUTHMILTER_HISTORY.format(db=db)
            with open(conf, "w") as f:
                f.write(text)
            argv = [os.path.join(self.bt, "milter/authmilter"), "-f",
                    "-c", conf]
            # For profiling: e.g. AM_BENCH_WRAP="perf record -g -o F --"
            wrap = os.environ.get("AM_BENCH_WRAP")
            if wrap:
                argv = wrap.split() + argv
        elif kind == "opendkim":
            conf = os.path.join(w, "opendkim.conf")
            with open(conf, "w") as f:
                f.write(OPENDKIM_CONF.format(port=port, work=w))
            argv = ["/usr/sbin/opendkim", "-f", "-x", conf]
        elif kind == "opendmarc":
            conf = os.path.join(w, "opendmarc.conf")
            with open(conf, "w") as f:
                f.write(OPENDMARC_CONF.format(port=port))
            argv = ["/usr/sbin/opendmarc", "-f", "-c", conf]
        p = self.start(argv, kind + ".log")
        wait_port(port, p)
        return p

    def setup(self):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        rc = os.path.join(self.work, "resolv.conf")
        with open(rc, "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:5 attempts:2\n")
        subprocess.run(["mount", "--bind", rc, "/etc/resolv.conf"],
                       check=True)
        self.corpus = os.path.join(self.bt, "bench-corpus")
        idx = os.path.join(self.corpus, "index")
        gen = os.path.join(self.a.top, "tests/bench/gencorpus.py")
        with open(gen, "rb") as f:
            gen_sha = hashlib.sha1(f.read()).hexdigest()
        stamp = os.path.join(self.corpus, "generator.sha1")
        old_sha = open(stamp).read().strip() if os.path.exists(stamp) \
            else ""
        # a corpus made by another version of gencorpus.py is made anew
        if self.a.regen or not os.path.exists(idx) or \
                sum(1 for _ in open(idx)) != self.a.count or \
                old_sha != gen_sha:
            shutil.rmtree(self.corpus, ignore_errors=True)
            log("generating %d messages" % self.a.count)
            subprocess.run(["/usr/bin/python3",
                            os.path.join(self.a.top, "tests/bench/"
                                         "gencorpus.py"),
                            self.corpus, "--count", str(self.a.count)],
                           check=True)
            with open(stamp, "w") as f:
                f.write(gen_sha + "\n")

    def start_dns(self, delay):
        """The DNS server the milters ask on 127.0.0.1:53: unbound itself
        at 0 ms, or dnsdelay in front of it (on :5300) holding every
        answer back for delay ms. Returns the processes to stop."""
        uc = os.path.join(self.work, "unbound.conf")
        with open(uc, "w") as f:
            f.write(UNBOUND_CONF.format(
                work=self.work, zone=os.path.join(self.corpus,
                                                  "zone.conf"),
                direct="  interface: 127.0.0.1@53\n" if delay == 0
                else ""))
        unbound = self.start(["unbound", "-d", "-c", uc], "unbound.log")
        wait_port(5300, unbound)
        if delay == 0:
            wait_port(53, unbound)
            return [unbound]
        dd = self.start([os.path.join(self.bt, "tests/bench/dnsdelay"),
                         "-l", "127.0.0.1:53", "-u", "127.0.0.1:5300",
                         "-d", str(delay)], "dnsdelay.log")
        time.sleep(0.2)
        if dd.poll() is not None:
            raise RuntimeError("dnsdelay did not start (see dnsdelay.log)")
        return [unbound, dd]

    def one(self, row, conc, delay, dns):
        name, milters, check = row
        ps = [self.milter(k, port) for k, port in milters]
        cpu0 = sum(proc_cpu(p.pid) for p in ps)
        # The rest of the 2 cores' budget: the DNS server (unbound, and
        # the relay at 20 ms) over the run, and the load generator (the
        # only child reaped while it runs).
        dns0 = sum(proc_cpu(p.pid) for p in dns)
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = os.path.join(self.work, "amload.json")
        argv = [os.path.join(self.bt, "tests/bench/amload"),
                "-i", os.path.join(self.corpus, check or "index"),
                "-c", str(conc), "-d", str(self.a.seconds), "-q",
                "-j", out, "-T", "10000"]
        for _, port in milters:
            argv += ["-m", "inet:%d@127.0.0.1" % port]
        if check:
            argv.append("-x")
        if conc == 1:
            argv += ["-H", "10"]
        r = subprocess.run(argv, stderr=subprocess.PIPE, text=True)
        if any(k.startswith("authmilter") for k, _ in milters):
            # The history writer writes a batch a second (HISTORY_FLUSH_MS):
            # its last one before the CPU is read; every authmilter row
            # waits the same.
            time.sleep(1.2)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        dns_s = sum(proc_cpu(p.pid) for p in dns) - dns0
        load_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime +
                                                  ru0.ru_stime)
        tag = "".join(c if c.isalnum() else "_" for c in name)
        with open(os.path.join(self.work, "amload-%s-c%d-%dms.err" % (
                tag, conc, delay)), "w") as f:
            f.write(r.stderr)
        with open(out) as f:
            res = json.load(f)
        res["cpu_s"] = sum(proc_cpu(p.pid) for p in ps) - cpu0
        res["rss_mb"] = sum(proc_hwm(p.pid) for p in ps)
        n = res["messages"] or 1
        res["cpu_ms_per_msg"] = 1e3 * res["cpu_s"] / n
        res["dns_cpu_ms_per_msg"] = 1e3 * dns_s / n
        res["load_cpu_ms_per_msg"] = 1e3 * load_s / n
        res.update(row=name, conc=conc, delay=delay, exit=r.returncode,
                   stderr=r.stderr[-2000:])
        for p in ps:
            # SIGTERM: authmilter writes the history rows still queued
            self.stop(p, grace=15)
        if any(k == "authmilter-history" for k, _ in milters):
            res["history_rows"] = history_rows(
                os.path.join(self.work, HISTORY_DB))
        log("%-36s c=%-2d %2d ms: %8.1f msg/s p50 %7.2f p99 %7.2f ms "
            "(envelope %.2f, content %.2f) "
            "cpu %.3f ms/msg (dns %.3f, load %.3f) rss %.1f MB "
            "actions %s%s" % (
                name, conc, delay, res["rate"], res["p50_ms"],
                res["p99_ms"], res.get("env_p50_ms", 0),
                res.get("content_p50_ms", 0), res["cpu_ms_per_msg"],
                res["dns_cpu_ms_per_msg"], res["load_cpu_ms_per_msg"],
                res["rss_mb"],
                res["actions"],
                " mismatches %d" % res["mismatches"] if check else "") +
            (" history rows %d" % res["history_rows"]
             if "history_rows" in res else ""))
        return res

    def run(self):
        results = []
        try:
            self.setup()
            for delay in self.a.delays:
                dns = self.start_dns(delay)
                # Repeats interleaved (every row, then every row again),
                # so that a drift of the machine's speed reaches all rows.
                for rep in range(self.a.repeat):
                    for row in ROWS:
                        if self.a.only and self.a.only not in row[0]:
                            continue
                        for conc in self.a.conc:
                            r = self.one(row, conc, delay, dns)
                            r["rep"] = rep
                            results.append(r)
                for p in dns:
                    self.stop(p)
        finally:
            for p in list(self.procs):
                self.stop(p)
        with open(os.path.join(self.work, "results-raw.json"), "w") as f:
            json.dump(results, f, indent=1)
        results = combine(results)
        with open(os.path.join(self.work, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
        return results


def history_rows(path):
    """Rows in the DMARC history database (-1: none could be read)."""
    import sqlite3
    try:
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        n = db.execute("SELECT count(*) FROM authmilter_history").fetchone()
        db.close()
        return n[0]
    except sqlite3.Error as e:
        log("history database %s: %s" % (path, e))
        return -1


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def combine(raw):
    """One result per (row, sessions, delay) from its repeats: medians of
    msg/s, latencies and CPU per message; the highest peak RSS; messages,
    actions and mismatches added up; each repeat's msg/s and p50 kept
    (rates, p50s) for the ratios of report.py."""
    out, keys = [], []
    for r in raw:
        k = (r["row"], r["conc"], r["delay"])
        if k not in keys:
            keys.append(k)
    for k in keys:
        rs = [r for r in raw if (r["row"], r["conc"], r["delay"]) == k]
        c = dict(rs[0])
        for f in ("rate", "p50_ms", "p90_ms", "p99_ms", "max_ms",
                  "cpu_ms_per_msg", "dns_cpu_ms_per_msg",
                  "load_cpu_ms_per_msg", "seconds", "env_p50_ms",
                  "env_p99_ms",
                  "content_p50_ms", "content_p99_ms"):
            c[f] = median([r.get(f, 0) for r in rs])
        c["rss_mb"] = max(r["rss_mb"] for r in rs)
        for f in ("messages", "mismatches", "headers_added"):
            c[f] = sum(r[f] for r in rs)
        if "history_rows" in rs[0]:
            c["history_rows"] = sum(r.get("history_rows", 0) for r in rs)
        c["actions"] = {a: sum(r["actions"].get(a, 0) for r in rs)
                        for a in rs[0]["actions"]}
        c["rates"] = [r["rate"] for r in rs]
        c["p50s"] = [r["p50_ms"] for r in rs]
        c["cpus"] = [r["cpu_ms_per_msg"] for r in rs]
        c["repeats"] = len(rs)
        c["exit"] = max(r["exit"] for r in rs)
        c.pop("rep", None)
        c.pop("stderr", None)
        out.append(c)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--top", required=True)
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--regen", action="store_true")
    ap.add_argument("--repeat", type=int, default=3,
                    help="measurements of each row, interleaved; the "
                    "table gives their medians")
    ap.add_argument("--only", help="run only rows whose name has this")
    ap.add_argument("--conc", default=",".join(map(str, CONC)),
                    help="comma list of concurrencies (quick runs)")
    ap.add_argument("--delays", default=",".join(map(str, DELAYS)),
                    help="comma list of DNS delays in ms (quick runs)")
    ap.add_argument("--no-doc", action="store_true",
                    help="do not rewrite docs/BENCHMARKS.md and the plot")
    ap.add_argument("--doc-section", metavar="NAME",
                    help="write the table between the bench:NAME:begin "
                    "and bench:NAME:end markers of docs/BENCHMARKS.md "
                    "instead (no plot): for a run of some rows (--only)")
    a = ap.parse_args()
    a.conc = [int(x) for x in a.conc.split(",")]
    a.delays = [int(x) for x in a.delays.split(",")]
    if (a.conc != CONC or a.delays != DELAYS) and not a.no_doc:
        ap.error("--conc/--delays are for quick runs: add --no-doc")
    if a.only and not a.no_doc and not a.doc_section:
        ap.error("--only: the main table is the whole run's; add --no-doc "
                 "or --doc-section NAME")
    b = Bench(a)
    results = b.run()
    log("work directory (logs, results.json): " + b.work)
    if not a.no_doc:
        rp = ["/usr/bin/python3",
              os.path.join(a.top, "tests/bench/report.py"),
              os.path.join(b.work, "results.json"),
              os.path.join(a.top, "docs/BENCHMARKS.md")]
        if a.doc_section:
            rp += ["--section", a.doc_section]
        else:
            rp.append(os.path.join(a.top, "docs/benchmarks.png"))
        subprocess.run(rp, check=True)


if __name__ == "__main__":
    main()
