# SPDX-License-Identifier: GPL-3.0-or-later
"""What every tier shares: a closing table of the time each tier took (unit, quality, and each
integration tier), so a slow run can be told from a broken one, and the order the files are handed out
in when pytest-xdist runs them on several workers (`scripts/test` runs two)."""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path

_TESTS = Path(__file__).resolve().parent
_TIERS: "OrderedDict[str, list]" = OrderedDict()   # tier -> [seconds, tests, failed]
_STARTED = time.monotonic()


def _tier(nodeid: str) -> str:
    parts = Path(nodeid.split("::", 1)[0]).parts
    try:
        parts = parts[parts.index("tests") + 1:]
    except ValueError:
        pass
    if parts and parts[0] == "integration" and len(parts) > 2:
        return "integration/" + parts[1]
    return parts[0] if parts else "?"


# The lab tier's files, longest first (measured: tens of minutes down to a few). pytest-xdist's
# --dist loadfile hands a worker the next file when it is almost done with its own, in collection
# order, so the long files start first and the short ones (and the other tiers) fill the end.
_LONGEST_FIRST = (
    "integration/lab/test_faults.py",
    "integration/lab/test_provision.py",
    "integration/lab/test_netkit_kernel.py",
    "integration/lab/test_kernel_selftests.py",
    "integration/lab/test_netkit.py",
    "integration/lab/test_molecule.py",
    "integration/lab/test_bad_input.py",
    "integration/lab/test_lowerdev.py",
    "integration/lab/test_nic_slicing.py",
    "integration/lab/test_lab_cli.py",
    "integration/host/",
    "quality/",
)


def _rank(item) -> int:
    path = Path(str(item.fspath)).resolve().relative_to(_TESTS).as_posix()
    for rank, prefix in enumerate(_LONGEST_FIRST):
        if path.startswith(prefix):
            return rank
    return len(_LONGEST_FIRST)


def pytest_collection_modifyitems(config, items):
    if getattr(config.option, "numprocesses", None):
        items.sort(key=_rank)   # stable: a file's tests keep their order


def pytest_runtest_logreport(report):
    entry = _TIERS.setdefault(_tier(report.nodeid), [0.0, 0, 0])
    entry[0] += report.duration
    if report.when == "call":
        entry[1] += 1
    if report.failed:
        entry[2] += 1


def pytest_terminal_summary(terminalreporter):
    if not _TIERS:
        return
    terminalreporter.section("time per tier")
    for tier, (seconds, count, failed) in _TIERS.items():
        terminalreporter.write_line("%-26s %4d tests %3d failed %8.1f s (%s)" % (
            tier, count, failed, seconds, time.strftime("%H:%M:%S", time.gmtime(seconds))))
    total = time.monotonic() - _STARTED
    # with several workers the tiers' times (each test's own) add up to more than the wall clock
    terminalreporter.write_line("%-26s %35.1f s (%s)" % (
        "whole session (wall clock)", total, time.strftime("%H:%M:%S", time.gmtime(total))))
