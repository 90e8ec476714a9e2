# SPDX-License-Identifier: GPL-3.0-or-later
"""The kill switch of the fault tests: SIGKILL right after the Nth change, or after a named one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils import fault_point

# three changes in a row, each announced on stdout before it is reported
SCRIPT = """
import runpy, sys
fp = runpy.run_path(sys.argv[1])
for what in ("write /var/lib/vmnet-netkit/nic-slices.json", "create nk-vm7", "lease eth0 queue 14 to nk-vm7"):
    print(what, flush=True)
    fp["changed"](what)
print("finished", flush=True)
"""


def run(value):
    env = dict(os.environ)
    env.pop(fault_point.KILL_AFTER_ENV, None)
    if value is not None:
        env[fault_point.KILL_AFTER_ENV] = value
    return subprocess.run([sys.executable, "-c", SCRIPT, fault_point.__file__], env=env, capture_output=True,
                          text=True, check=False)


@pytest.mark.parametrize("value, last, trace", [
    ("1", "write /var/lib/vmnet-netkit/nic-slices.json", "killed after change 1: write"),
    ("2", "create nk-vm7", "killed after change 2: create nk-vm7"),
    ("create nk-vm7", "create nk-vm7", "killed after change 2: create nk-vm7"),
    ("lease eth0", "lease eth0 queue 14 to nk-vm7", "killed after change 3: lease eth0"),
])
def test_the_process_is_killed_right_after_that_change(value, last, trace):
    p = run(value)
    assert p.returncode == -signal.SIGKILL
    assert p.stdout.splitlines()[-1] == last
    assert trace in p.stderr


@pytest.mark.parametrize("value", [None, "", "9", "no such change"])
def test_without_a_matching_setting_nothing_happens(value):
    p = run(value)
    assert p.returncode == 0 and p.stdout.splitlines()[-1] == "finished" and p.stderr == ""
