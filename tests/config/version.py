#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""version.py AUTHMILTER: `authmilter -V` names authmilter and every
library it is built with, each with a version, and exits 0. libopendmarc
is not among them: authmilter does not link it."""
import re
import subprocess
import sys

out = subprocess.run([sys.argv[1], "-V"], capture_output=True, text=True,
                     timeout=10)
if out.returncode != 0:
    sys.exit("-V exited %d: %s" % (out.returncode, out.stderr))
lines = out.stdout.splitlines()
want = ["authmilter", "libmilter", "libunbound", "libopendkim",
        "libpsl", "libmicrohttpd", "libevent"]
missing = []
for name in want:
    if not any(re.match(r"%s \d+\.\d+" % re.escape(name), ln)
               for ln in lines):
        missing.append(name)
if any(ln.startswith("libopendmarc") for ln in lines):
    sys.exit("-V names libopendmarc, which is not linked\n%s" % out.stdout)
if missing:
    sys.exit("-V lacks a versioned line for: %s\n%s"
             % (", ".join(missing), out.stdout))
print(out.stdout, end="")
