# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/kernel.yml over a fleet of two nodes that boot from their disks through GRUB, one batch at a time.

lab-node-a gets the patched kernel and keeps it; lab-node-b gets a kernel that panics, comes back on its
previous kernel through GRUB's default, loses the broken package and fails; the rollout stops there, so
lab-node-c (lab-node-a once more, under another name) is never started. Each node's state is read on the
node itself: uname, grubenv, grub.cfg and dpkg.

STORY: an operator rolls the patched kernel over a fleet; the hosts before a failure keep the new kernel,
the failed host runs its old kernel again, the hosts after it are not touched, and the run says which
host failed and why.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from conftest import LAB, _boot
from lab_play import host_line, run_playbook
from test_netkit_kernel import BROKEN, STOCK, boot_state, broken_package, kernel_vars

# two nodes, three reboots under TCG: the extended tier (VMNET_TEST_EXTENDED=1)
pytestmark = pytest.mark.extended


@pytest.fixture(scope="module")
def node_b():
    yield from _boot("pytest-disk-b", "disk")


def test_a_rollout_keeps_the_hosts_before_a_failure_and_stops_at_it(lab_node_disk, node_b, kernel_build, kernel_release):
    node_a = lab_node_disk
    build, release = kernel_build, kernel_release
    assert boot_state(node_a)["running"] == STOCK and boot_state(node_b)["running"] == STOCK
    before_b = boot_state(node_b)
    with tempfile.TemporaryDirectory() as tmp:
        deb = broken_package(LAB.image_dir() / ("vmlinuz-" + STOCK), Path(tmp))
        fleet = Path(tmp) / "fleet.ini"
        fleet.write_text("[lab]\n%s\n%s\n%s\n" % (
            host_line(node_a, "lab-node-a", netkit_kernel_build_dir=str(build)),
            host_line(node_b, "lab-node-b", netkit_kernel_packages=[str(deb)]),
            host_line(node_a, "lab-node-c", netkit_kernel_build_dir=str(build))))
        rc, out = run_playbook(type("Fleet", (), {"inventory": str(fleet)}), "kernel.yml", kernel_vars(node_a))
    assert rc != 0
    flat = " ".join(out.split())
    # the first batch: lab-node-a runs the patched kernel and GRUB boots it by default
    a = boot_state(node_a)
    assert a["running"] == release and a["boot_image"] == release, a
    assert re.search(r">gnulinux-%s-advanced-" % re.escape(release), a["saved_entry"]) and a["next_entry"] == "", a
    assert re.search(r"^lab-node-a\s+:.*\bchanged=[1-9]\d*.*\bfailed=0\b", out, re.M), out[-3000:]
    # the second batch: lab-node-b's kernel panicked; it runs its previous kernel, which GRUB still boots by
    # default, and the broken package is gone
    assert ("kernel %s failed on this host: the host came back on %s, not on %s" % (BROKEN, STOCK, BROKEN)) in flat
    b = boot_state(node_b)
    assert b["running"] == STOCK and b["boot_image"] == STOCK and b["next_entry"] == "", b
    assert re.search(r">gnulinux-%s-advanced-" % re.escape(STOCK), b["saved_entry"]), b
    assert BROKEN not in b["kernels"] and "linux-image-%s" % BROKEN not in b["packages"], b
    assert b["packages"] == before_b["packages"], (before_b, b)
    assert re.search(r"^lab-node-b\s+:.*\bfailed=1\b", out, re.M), out[-3000:]
    # max_fail_percentage 0: the failed batch ends the rollout; lab-node-c is never started
    assert "[lab-node-c]" not in out and not re.search(r"^lab-node-c\s+:", out, re.M), out[-3000:]
