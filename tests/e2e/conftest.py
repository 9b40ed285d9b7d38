# SPDX-License-Identifier: BSD-2-Clause
"""pytest fixtures of the end-to-end suite (see harness.py).

Session-wide (started once, fast): a private work directory, dnsd, the
milter port, a private Postfix (root only) with its smtp-sink.
Per test: `zone` (emptied, query log marked), `mta` (the Postfix, its log
marked, its queue emptied afterwards), `authmilter` (a daemon started with
the harness's base configuration plus the keys of an
@pytest.mark.authmilter_conf({...}) marker, stopped with SIGTERM at the end
of the test, where its exit status must be 0 and its log free of sanitizer
reports), `start_authmilter(keys)` for tests that start it themselves.

Environment: AUTHMILTER (daemon path; empty means not built), AM_E2E_TMP
(parent of the work directory), AM_E2E_KEEP=1 (keep the work directory).
"""

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "authmilter_conf(keys): configuration keys (a dict or "
        "(key, value) pairs) for the authmilter fixture")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed:
        for title, obj in getattr(item, "am_logs", {}).items():
            text = obj()
            if text:
                rep.sections.append((title, text[-6000:]))


@pytest.fixture(scope="session")
def workdir():
    d = harness.make_workdir()
    yield d
    if os.environ.get("AM_E2E_KEEP") != "1":
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def dnsd(workdir):
    server = harness.Dnsd(workdir).start()
    yield server
    server.stop()


@pytest.fixture
def zone(dnsd):
    dnsd.zone.clear()
    dnsd.mark()
    return dnsd.zone


@pytest.fixture(scope="session")
def milter_port():
    return harness.free_port()


@pytest.fixture(scope="session")
def postfix_instance(workdir, milter_port):
    if os.geteuid() != 0:
        pytest.skip("a private Postfix instance needs root")
    for tool in ("postfix", "smtp-sink", "swaks"):
        if not shutil.which(tool):
            pytest.skip("%s is not installed (tests/packages.txt)" % tool)
    pf = harness.Postfix(workdir, milter_port)
    try:
        pf.start()
    except Exception:
        pf.stop()
        raise
    yield pf
    pf.stop()


@pytest.fixture
def mta(postfix_instance, request):
    pf = postfix_instance
    mark = len(pf.log())
    pf.log_since_test = lambda: pf.log()[mark:]
    request.node.am_logs = getattr(request.node, "am_logs", {})
    request.node.am_logs["postfix maillog (this test)"] = pf.log_since_test
    yield pf
    pf.flush_queue()


@pytest.fixture
def authmilter_bin():
    path = harness.authmilter_path()
    if path is None:
        pytest.skip("the authmilter daemon is not built yet (AUTHMILTER=%r)"
                    % os.environ.get("AUTHMILTER",
                                     "build/milter/authmilter"))
    return path


@pytest.fixture
def start_authmilter(authmilter_bin, workdir, milter_port, dnsd, request):
    """start_authmilter(keys=(), extra_lines=(), args=()) -> Authmilter.
    Every daemon started is stopped at the end of the test; one that was
    still running must exit 0 on SIGTERM."""
    started = []
    request.node.am_logs = getattr(request.node, "am_logs", {})

    def start(keys=(), extra_lines=(), args=(), wait=True):
        name = "authmilter-%s-%d" % (
            request.node.name.replace("/", "_")[:60], len(started))
        am = harness.Authmilter(authmilter_bin, workdir, milter_port,
                                dnsd.addr, name=name)
        started.append(am)
        request.node.am_logs["authmilter log " + name] = am.log
        return am.start(keys, extra_lines, args, wait=wait)

    yield start
    problems = []
    for am in started:
        was_running = am.running()
        rc = am.stop()
        if was_running and rc != 0:
            problems.append("%s: exit status %r after SIGTERM"
                            % (am.dir, rc))
        for ln in am.sanitizer_reports():
            problems.append("%s: %s" % (am.dir, ln))
    assert not problems, "\n".join(problems)


@pytest.fixture
def authmilter(start_authmilter, request):
    m = request.node.get_closest_marker("authmilter_conf")
    keys = m.args[0] if m and m.args else ()
    return start_authmilter(keys)
