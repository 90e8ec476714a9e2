# SPDX-License-Identifier: GPL-3.0-or-later
"""What every tier shares: a closing table of the time each tier took (unit, quality, and each
integration tier), so a slow run can be told from a broken one."""

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
        terminalreporter.write_line("%-24s %4d tests %3d failed %8.1f s (%s)" % (
            tier, count, failed, seconds, time.strftime("%M:%S", time.gmtime(seconds))))
    total = time.monotonic() - _STARTED
    terminalreporter.write_line("%-24s %35.1f s (%s)" % (
        "whole session", total, time.strftime("%H:%M:%S", time.gmtime(total))))
