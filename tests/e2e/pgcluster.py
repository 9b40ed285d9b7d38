# SPDX-License-Identifier: BSD-2-Clause
"""pgcluster - a throwaway PostgreSQL cluster for the report tests.

Debian's postgresql package provides the server binaries under
/usr/lib/postgresql/VERSION/bin; the cluster is made with initdb in a
private temporary directory, owned by and run as the postgres user
(runuser), trust authentication, listening on a unix socket in that
directory only (no TCP). The URI the daemon and the report program get:

    postgresql:///postgres?host=DIR&user=postgres

stop() and start() take the same cluster down and up again (the outage
test); close() stops it with -m immediate and removes the directory.

    pg = PgCluster(workdir).start()
    pg.psql("select 1")      -> "1"
    pg.dump()                -> pg_dump's text of the database
    pg.close()
"""

import glob
import os
import shutil
import subprocess
import tempfile

PG_USER = "postgres"


def pg_bindir():
    """The bin directory of the newest installed PostgreSQL server, or
    None when there is no initdb."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: [int(x) if x.isdigit() else 0 for x in
                                  p.split("/")[4].split(".")])
    return os.path.dirname(found[-1]) if found else None


def unavailable():
    """Why a cluster cannot be made here (a skip reason), or None."""
    if pg_bindir() is None:
        return ("PostgreSQL server binaries are not installed "
                "(/usr/lib/postgresql/*/bin/initdb; Debian package "
                "postgresql, tests/packages.txt)")
    if os.geteuid() != 0:
        return "starting a PostgreSQL cluster as the postgres user needs root"
    try:
        import pwd
        pwd.getpwnam(PG_USER)
    except KeyError:
        return "there is no %s user (Debian package postgresql)" % PG_USER
    if not shutil.which("runuser"):
        return "runuser (util-linux) is not installed"
    return None


class PgError(Exception):
    pass


class PgCluster:
    def __init__(self, parent=None):
        self.bindir = pg_bindir()
        self.dir = tempfile.mkdtemp(prefix="pg.", dir=parent)
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, PG_USER, PG_USER)
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "server.log")
        self.initialized = False
        self.running = False

    @property
    def uri(self):
        return "postgresql:///postgres?host=%s&user=%s" % (self.dir, PG_USER)

    def _as_postgres(self, argv, check=True, timeout=120, **kw):
        r = subprocess.run(["runuser", "-u", PG_USER, "--"] + argv,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout, cwd=self.dir, **kw)
        if check and r.returncode != 0:
            raise PgError("%s: exit %d\n%s%s\n%s" % (
                " ".join(argv), r.returncode, r.stdout, r.stderr,
                self.log()[-3000:]))
        return r

    def _bin(self, name):
        return os.path.join(self.bindir, name)

    def start(self):
        """initdb (the first time) and pg_ctl start; returns self once
        the server accepts connections."""
        if not self.initialized:
            self._as_postgres([self._bin("initdb"), "-D", self.data,
                               "-U", PG_USER, "-A", "trust", "-E", "UTF8",
                               "--locale=C", "--no-sync"])
            self.initialized = True
        # -k: the socket directory; -h '': no TCP listener. fsync off: a
        # throwaway cluster (the outage test stops it with -m immediate,
        # which loses nothing committed: the WAL is still written).
        opts = "-k %s -h '' -c fsync=off -c max_connections=40" % self.dir
        self._as_postgres([self._bin("pg_ctl"), "-D", self.data, "-l",
                           self.log_path, "-w", "-t", "60", "-o", opts,
                           "start"])
        self.running = True
        return self

    def stop(self, mode="immediate"):
        if self.running:
            self._as_postgres([self._bin("pg_ctl"), "-D", self.data, "-m",
                               mode, "-w", "stop"], check=False)
            self.running = False

    def close(self):
        self.stop("immediate")
        if os.environ.get("AM_E2E_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, sql):
        """Run sql with psql; its unaligned, tuples-only output."""
        r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                            "-At", "-h", self.dir, "-U", PG_USER, "-d",
                            "postgres", "-c", sql],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise PgError("psql %r: %s" % (sql, r.stderr))
        return r.stdout.strip()

    def accepts(self):
        """Whether the server answers a query now."""
        try:
            return self.psql("select 1") == "1"
        except (PgError, subprocess.TimeoutExpired):
            return False

    def dump(self):
        """pg_dump of the database (schema and data, as SQL text)."""
        r = subprocess.run([self._bin("pg_dump"), "-h", self.dir, "-U",
                            PG_USER, "postgres"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            raise PgError("pg_dump: %s" % r.stderr)
        return r.stdout

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""
