"""pytest plugin for running numba-cuda's own test suites from the installed package
(e2e/gpu/third_party.sh loads it with -p avec_numba_plugin):
  - numba-cuda 0.30 still uses np.row_stack (deprecated, then removed, in numpy 2): np.row_stack = np.vstack
    before numba is imported (as python/numba_suite.py does);
  - numba-cuda's CUDATestCase uses the class fixture `initialize_from_pytest_config` and the option
    --dump-failed-filechecks, both defined in the conftest of numba-cuda's repository, which the wheel does
    not ship: define them here (a conftest that does define them wins);
  - a per-test watchdog for xdist workers (AVEC_TEST_TIMEOUT seconds, default 300; 0 = off): a test that
    hangs (a lost reply, a wait that never ends) ends its worker, which xdist reports as a failure of that
    test and replaces, so one hang cannot eat the whole run or its junit report. The message goes to
    AVEC_WATCHDOG_LOG when set (the worker's stderr is captured by pytest);
  - AVEC_RESULTS_JSONL=PATH: the controller appends one JSON line per test phase report as it arrives
    ({"id", "when", "outcome", "msg", "warns"}) and per failed collection, so a run that is cut short still
    leaves every result it got (compare_runs.py reads these, not the junit file).
"""
import faulthandler
import json
import os
import re
import sys
import threading

import numpy as np

np.row_stack = np.vstack

import pytest  # noqa: E402


def pytest_addoption(parser):
    try:
        parser.addoption("--dump-failed-filechecks", action="store_true", default=False,
                         help="numba-cuda: dump reproducers for FileCheck tests that fail")
    except ValueError:  # already defined by a numba-cuda conftest
        pass


@pytest.fixture(scope="class")
def initialize_from_pytest_config(request):
    if request.cls is not None:
        request.cls._dump_failed_filechecks = bool(request.config.getoption("--dump-failed-filechecks", False))


def _timeout():
    try:
        return float(os.environ.get("AVEC_TEST_TIMEOUT", "300"))
    except ValueError:
        return 300.0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    limit = _timeout()
    timer = None
    if limit > 0 and os.environ.get("PYTEST_XDIST_WORKER"):
        def expire():
            msg = f"avec watchdog: {item.nodeid} still running after {limit:g} s; ending worker {os.environ['PYTEST_XDIST_WORKER']}\n"
            path = os.environ.get("AVEC_WATCHDOG_LOG")
            if path:
                with open(path, "a") as f:
                    f.write(msg)
                    faulthandler.dump_traceback(file=f, all_threads=True)
            sys.__stderr__.write(msg)
            sys.__stderr__.flush()
            os._exit(70)

        timer = threading.Timer(limit, expire)
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()


_WARN = re.compile(r"^avec\[\d+\] ((?:warn|error): .*)$", re.M)


def _first_line(rep):
    lr = rep.longrepr
    if lr is None:
        return ""
    if isinstance(lr, tuple) and len(lr) == 3:  # skip: (path, lineno, reason)
        text = str(lr[2])
    else:
        crash = getattr(lr, "reprcrash", None)
        text = crash.message if crash is not None and crash.message else str(lr)
    for ln in text.splitlines():
        if ln.strip():
            return ln.strip()[:300]
    return ""


def _record(entry):
    path = os.environ.get("AVEC_RESULTS_JSONL")
    if not path or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")


def pytest_runtest_logreport(report):
    text = getattr(report, "capstderr", "") + getattr(report, "capstdout", "")
    _record({"id": report.nodeid, "when": report.when, "outcome": report.outcome,
             "msg": "" if report.passed else _first_line(report), "warns": sorted(set(_WARN.findall(text)))})


def pytest_collectreport(report):
    if report.failed:
        _record({"id": report.nodeid, "when": "collect", "outcome": "failed",
                 "msg": "collection error: " + _first_line(report), "warns": []})
