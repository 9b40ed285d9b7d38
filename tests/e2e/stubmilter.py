#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""stubmilter - a tiny milter (python3-milter) that tests the test bed.

It is NOT authmilter: test_harness.py uses it to prove that the private
Postfix hands a milter what authmilter relies on (the XCLIENT address and
HELO, the macros, SASL login, the queue id), that a header a milter adds
reaches smtp-sink, and that a quarantined message shows up in the hold
queue. Each callback appends one JSON line to the event file.

A message whose Subject contains "stub:hold" is quarantined; one whose
Subject contains "stub:reject" is rejected with 550 5.7.1 at end of data.

Usage: stubmilter.py PORT EVENTFILE
"""

import json
import sys
import threading

import Milter

EVENTS = None
LOCK = threading.Lock()


def record(kind, **kw):
    kw["event"] = kind
    with LOCK:
        with open(EVENTS, "a", encoding="utf-8") as f:
            f.write(json.dumps(kw) + "\n")


class Stub(Milter.Base):
    def __init__(self):
        self.subject = ""

    def macros(self, *names):
        return {n: self.getsymval(n) for n in names}

    @Milter.noreply
    def connect(self, hostname, family, hostaddr):
        record("connect", hostname=hostname,
               addr=hostaddr[0] if hostaddr else None,
               macros=self.macros("j", "{daemon_name}", "{client_addr}",
                                  "{client_name}"))
        return Milter.CONTINUE

    @Milter.noreply
    def hello(self, name):
        record("helo", helo=name)
        return Milter.CONTINUE

    @Milter.noreply
    def envfrom(self, mailfrom, *args):
        record("mail", mail_from=mailfrom,
               macros=self.macros("{auth_authen}", "{auth_type}", "i"))
        return Milter.CONTINUE

    @Milter.noreply
    def header(self, name, value):
        if name.lower() == "subject":
            self.subject = value
        return Milter.CONTINUE

    def eom(self):
        qid = self.getsymval("i")
        record("eom", qid=qid, subject=self.subject)
        self.addheader("X-Stub-Milter", "seen qid=%s" % qid)
        if "stub:hold" in self.subject:
            self.quarantine("stub quarantine")
        if "stub:reject" in self.subject:
            self.setreply("550", "5.7.1", "stub rejects")
            return Milter.REJECT
        return Milter.ACCEPT


def main():
    global EVENTS
    port, EVENTS = int(sys.argv[1]), sys.argv[2]
    Milter.factory = Stub
    Milter.set_flags(Milter.ADDHDRS | Milter.QUARANTINE)
    Milter.runmilter("stubmilter", "inet:%d@127.0.0.1" % port, 60)


if __name__ == "__main__":
    main()
