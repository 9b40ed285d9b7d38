#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""packages.py SRCROOT: the build package list is complete and in step.

contrib/build-packages.txt is what contrib/run-daemon.sh installs. This
checks that every library meson.build asks for (dependency() and
find_library()) comes from a package on that list (found through
pkg-config or the linker's library path, then dpkg -S), and that every
package on it is also in tests/packages.txt and in the README's quick
start apt-get line; that the Debian package builds from the same list
(debian/control's Build-Depends hold every package on it but gcc, which
build-essential brings); and that debian/changelog's version is
meson.build's project version (the package is native).
"""
import os
import re
import subprocess
import sys

root = sys.argv[1]


def read_list(path):
    with open(os.path.join(root, path), encoding="utf-8") as f:
        return [ln.strip() for ln in f
                if ln.strip() and not ln.startswith("#")]


def owner(path):
    # the -dev package owns the unversioned .so link itself
    out = subprocess.run(["dpkg", "-S", path], capture_output=True,
                         text=True)
    if out.returncode != 0:
        out = subprocess.run(["dpkg", "-S", os.path.realpath(path)],
                             capture_output=True, text=True)
    if out.returncode != 0:
        return None
    return out.stdout.split(":", 1)[0].strip()


build = set(read_list("contrib/build-packages.txt"))
errors = []
with open(os.path.join(root, "meson.build"), encoding="utf-8") as f:
    meson = f.read()
deps = [d for d in re.findall(r"dependency\('([^']+)'", meson)
        if d != "threads"]
libs = re.findall(r"find_library\('([^']+)'", meson)
with open(os.path.join(root, "tests", "meson.build"), encoding="utf-8") as f:
    deps += re.findall(r"dependency\('([^']+)'", f.read())
for d in sorted(set(deps)):
    pc = subprocess.run(["pkg-config", "--path", d], capture_output=True,
                        text=True)
    if pc.returncode != 0:
        errors.append("pkg-config does not find %s" % d)
        continue
    pkg = owner(pc.stdout.strip())
    if pkg is None or pkg not in build:
        errors.append("%s comes from %s, not on contrib/build-packages.txt"
                      % (d, pkg))
for lib in sorted(set(libs)):
    path = "/usr/lib/x86_64-linux-gnu/lib%s.so" % lib
    pkg = owner(path) if os.path.exists(path) else None
    if pkg is None or pkg not in build:
        if not any(lib in d for d in deps):
            errors.append("lib%s comes from %s, not on "
                          "contrib/build-packages.txt" % (lib, pkg))
tests = set(read_list("tests/packages.txt"))
for p in sorted(build - tests):
    errors.append("%s is a build package but not in tests/packages.txt" % p)
with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
    readme = f.read()
m = re.search(r"<!-- quickstart:begin -->(.*?)<!-- quickstart:end -->",
              readme, re.S)
apt = re.search(r"apt-get install -y (.*?)\n(?!    )", m.group(1), re.S) \
    if m else None
words = set(apt.group(1).replace("\\", " ").split()) if apt else set()
for p in sorted(build - words):
    errors.append("%s is missing from the README quick start's apt-get "
                  "line" % p)
with open(os.path.join(root, "debian", "control"), encoding="utf-8") as f:
    control = f.read()
bd = re.search(r"^Build-Depends:(.*?)\n(?=\S)", control, re.M | re.S)
bdeps = set()
for item in (bd.group(1) if bd else "").split(","):
    name = item.split("|")[0].strip().split(" ")[0].split("(")[0]
    if name:
        bdeps.add(name)
for p in sorted(build - bdeps - {"gcc"}):
    errors.append("%s is a build package but not in debian/control's "
                  "Build-Depends" % p)
with open(os.path.join(root, "debian", "changelog"), encoding="utf-8") as f:
    deb_ver = re.match(r"\S+ \(([^)]+)\)", f.readline())
meson_ver = re.search(r"version\s*:\s*'([^']+)'", meson)
if not deb_ver or not meson_ver or deb_ver.group(1) != meson_ver.group(1):
    errors.append("debian/changelog's version %s is not meson.build's %s"
                  % (deb_ver and deb_ver.group(1),
                     meson_ver and meson_ver.group(1)))
for e in errors:
    print("packages: " + e)
print("%d meson dependencies, %d libraries, %d build packages checked"
      % (len(set(deps)), len(set(libs)), len(build)))
sys.exit(1 if errors else 0)
