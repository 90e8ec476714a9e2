# SPDX-License-Identifier: GPL-3.0-or-later
"""What every tier shares: a closing table of the time each tier took (unit, quality, and each
integration tier), so a slow run can be told from a broken one, and the order the files are handed out
in when pytest-xdist runs them on several workers (`VMNET_TEST_WORKERS`, see `scripts/test`)."""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path

import pytest

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


# The lab tier's files, longest first (measured: the extended tier's tens of minutes, then the default
# tier's minutes). Under pytest-xdist (--dist loadfile) a worker gets the next file when it is almost done
# with its own; xdist would hand them out by their number of tests, which starts short files with many
# cases (the unit tier) first and can leave a long file to start last, on one worker, while the other
# idles. Handing out the long files first lets the short ones fill the end. test_lowerdev.py comes early
# in the default tier because on a machine without the patched kernel cached its first test builds it.
_LONGEST_FIRST = (
    "tests/integration/lab/test_faults.py",
    "tests/integration/lab/test_netkit_kernel.py",
    "tests/integration/lab/test_kernel_selftests.py",
    "tests/integration/lab/test_systemd_boot.py",
    "tests/integration/lab/test_kernel_rollout.py",
    "tests/integration/lab/test_qemu.py",
    "tests/integration/lab/test_netkit.py",      # with the other files on the 6.12 node: _ONE_WORKER
    "tests/integration/lab/test_lowerdev.py",
    "tests/integration/lab/test_provision.py",
    "tests/integration/lab/test_roles.py",
    "tests/integration/lab/test_bad_input.py",
    "tests/integration/lab/test_lab_cli.py",
    "tests/integration/lab/test_molecule.py",
    "tests/quality/",
    "tests/integration/host/",
)

# Files that share a node no other file uses go to one worker as one unit, named by the first: the node
# (the 6.12 one, a session fixture of the lab tier) is then booted once, not once per worker.
_ONE_WORKER = (
    "tests/integration/lab/test_netkit.py",
    "tests/integration/lab/test_nic_slicing.py",
    "tests/integration/lab/test_rss_hash.py",
)


def pytest_configure(config):
    config.addinivalue_line("markers", "extended: a lab test of several minutes under TCG, run by "
                                       "scripts/test only with VMNET_TEST_EXTENDED=1")


def _rank(scope: str) -> int:
    for rank, prefix in enumerate(_LONGEST_FIRST):
        if scope.startswith(prefix):
            return rank
    return len(_LONGEST_FIRST)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LongestFirst(LoadFileScheduling):
        def _split_scope(self, nodeid):
            scope = super()._split_scope(nodeid)
            return _ONE_WORKER[0] if scope in _ONE_WORKER else scope

        def _assign_work_unit(self, node):
            # the first of the files left in _LONGEST_FIRST's order goes out next (min keeps xdist's
            # order among the files it does not name)
            first = min(self.workqueue, key=_rank)
            self.workqueue.move_to_end(first, last=False)
            super()._assign_work_unit(node)

    return LongestFirst(config, log)


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
