# SPDX-License-Identifier: BSD-2-Clause
"""A chrooted Postfix smtpd reaches authmilter over a unix socket
(issue 16 point 4).

Debian runs smtpd chrooted in its queue directory, so the milter socket
must live below it and be reachable by the postfix user. The recipe of
authmilter.conf(5) (SocketGroup) and contrib/postfix/main.cf, as an
administrator follows it: the socket in <queue>/authmilter/, the
directory and the socket of a group the postfix user is in. Here the daemon runs as
root and SocketGroup names the group the postfix user is in (postfix
itself: no system group or user is created by the test), and smtpd's
master.cf line says chroot y with smtpd_milters =
unix:authmilter/authmilter.sock, a path inside the chroot.
"""

import grp
import os
import shutil

import pytest

import harness
from harness import send


class ChrootPostfix(harness.Postfix):
    """The private instance, with smtpd chrooted in its queue directory
    and the milter on a unix socket inside it."""

    def main_cf(self):
        p = super().main_cf()
        p["smtpd_milters"] = "unix:authmilter/authmilter.sock"
        p["non_smtpd_milters"] = \
            "unix:%s/authmilter/authmilter.sock" % self.queue_dir
        return p

    def write_config(self):
        super().write_config()
        path = os.path.join(self.conf_dir, "master.cf")
        text = open(path).read()
        first, rest = text.split("\n", 2)[1], text.split("\n", 2)[2]
        fields = first.split()
        assert fields[-1] == "smtpd" and fields[4] == "n"
        fields[4] = "y"          # the chroot column
        with open(path, "w") as f:
            f.write("# chroot: smtpd only\n" + " ".join(fields) + "\n" +
                    rest)

    def start(self):
        # What Debian's postfix start copies into the chroot.
        for name in ("etc/services", "etc/hosts", "etc/resolv.conf",
                     "etc/nsswitch.conf", "etc/localtime"):
            src = "/" + name
            if os.path.exists(src):
                dst = os.path.join(self.queue_dir, name)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copy(src, dst)
        sock_dir = os.path.join(self.queue_dir, "authmilter")
        os.makedirs(sock_dir, exist_ok=True)
        shutil.chown(sock_dir, "root", "postfix")
        os.chmod(sock_dir, 0o750)
        return super().start()


@pytest.fixture
def chroot_mta(workdir, dnsd):
    if os.geteuid() != 0:
        pytest.skip("a private Postfix instance needs root")
    d = os.path.join(workdir, "chroot")
    os.makedirs(d, exist_ok=True)
    pf = ChrootPostfix(d, 0)
    try:
        pf.start()
    except Exception:
        pf.stop()
        raise
    yield pf
    pf.stop()


def test_chrooted_smtpd_reaches_unix_socket(chroot_mta, zone,
                                            start_authmilter):
    sock = os.path.join(chroot_mta.queue_dir, "authmilter",
                        "authmilter.sock")
    am = start_authmilter({"Socket": "unix:" + sock,
                           "SocketMode": "0660",
                           "SocketGroup": "postfix"}, wait=False)
    harness.wait_until(lambda: os.path.exists(sock) and
                       "listening on" in am.log(), 20,
                       "authmilter to listen on " + sock)
    st = os.stat(sock)
    assert grp.getgrgid(st.st_gid).gr_name == "postfix"
    assert st.st_mode & 0o777 == 0o660
    # the smtpd of this instance runs chrooted: check master.cf says so
    master = open(os.path.join(chroot_mta.conf_dir, "master.cf")).read()
    assert " inet n - y " in master, master
    zone.a("mail.example.test", "192.0.2.1")
    zone.ptr("192.0.2.1", "mail.example.test")
    zone.mx("example.test", 10, "mail.example.test")
    r = send(chroot_mta, mail_from="sender@example.test",
             client_ip="192.0.2.1", helo="mail.example.test",
             client_name="mail.example.test")
    assert r.code == 250, r.transcript[-2000:]
    d = chroot_mta.wait_delivered(r)
    ours = d.ours()
    assert len(ours) == 1, d.authentication_results()
    am.wait_log(r"qid=\S+ ip=192\.0\.2\.1 ")
    assert not [ln for ln in chroot_mta.log()
                if "milter" in ln and "warning" in ln], \
        "\n".join(chroot_mta.log()[-20:])
