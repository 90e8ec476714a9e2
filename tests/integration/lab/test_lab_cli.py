# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab CLI itself (tests/lab/lab): bad arguments, a boot that times out (the console is shown
and no qemu is left behind), a kernel that panics while booting (booted again, then reported), a boot
whose console stops (the same), and a whole up/status/ssh/info/down cycle that leaves nothing running,
with a reboot whose kernel dies (reset, the disk kept).
These boot a node of their own, named pytest-cli, beside the session's nodes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import LAB, REPO, _why_lab_cannot_run

CLI = str(REPO / "tests/lab/lab")
NAME = "pytest-cli"


def lab(*args, env=None):
    # every boot `up` may try, each with the boot timeout this machine's measured boots give
    timeout = LAB.BOOT_ATTEMPTS * 2 * LAB.boot_timeout() + 120
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout, check=False,
                          env=dict(os.environ, **(env or {})))


def qemu_processes(name):
    """PIDs of processes whose command line names the lab node ``name`` (qemu's -name vmnet-lab-NAME)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if ("vmnet-lab-%s" % name).encode() in argv:
            found.append(int(proc.name))
    return found


@pytest.fixture(scope="module")
def cli_lab():
    reason = _why_lab_cannot_run()
    if reason:
        pytest.skip("lab tier skipped: %s" % reason)
    LAB.build_image()  # built once for the session; the tests below time the boot, not the build
    yield
    lab("down", "--name", NAME)


def test_bad_kernel_is_refused_and_starts_nothing(cli_lab):
    r = lab("up", "--name", NAME, "--kernel", "5.10")
    assert r.returncode == 1
    assert "--kernel must be one of 7, 6.12, netkit, without-netkit, disk, disk-systemd-boot, got '5.10'" in r.stderr
    assert qemu_processes(NAME) == []
    r = lab("up", "--name", "bad name")
    assert r.returncode == 1 and "--name must be letters, digits" in r.stderr


def test_boot_timeout_shows_the_console_and_leaves_no_qemu(cli_lab):
    r = lab("up", "--name", NAME, env={"VMNET_LAB_BOOT_TIMEOUT": "3"})
    assert r.returncode == 1, r.stderr
    assert "no SSH on the lab node after 3 s (VMNET_LAB_BOOT_TIMEOUT)" in r.stderr
    assert "last console lines of lab 'pytest-cli'" in r.stderr
    assert qemu_processes(NAME) == []
    assert lab("status", "--name", NAME).returncode == 3


def test_kernel_panic_is_booted_again_then_reported(cli_lab):
    # rdinit= names no file, so the kernel mounts the root itself and cannot (virtio_blk is a
    # module): a real panic on every boot. Each is shown, booted again, and the last one fails.
    r = lab("up", "--name", NAME, env={"VMNET_LAB_KERNEL_ARGS": "rdinit=/nonexistent",
                                       "VMNET_LAB_BOOT_ATTEMPTS": "2"})
    assert r.returncode == 1, r.stderr
    # what the CLI guarantees: each boot's panic reported (its message is the kernel's, and on a
    # busy host an emulator hiccup may even oops first), the console shown, no qemu left
    died = "the guest kernel of lab 'pytest-cli' died while booting: "
    assert r.stderr.count(died) == 2, r.stderr[-3000:]
    assert "Kernel panic - not syncing" in r.stderr
    assert "booting again (attempt 2 of 2)" in r.stderr
    assert "(on each of 2 boots, VMNET_LAB_BOOT_ATTEMPTS)" in r.stderr
    assert r.stderr.count("last console lines of lab 'pytest-cli'") == 2
    assert qemu_processes(NAME) == []
    r = lab("up", "--name", NAME, env={"VMNET_LAB_BOOT_ATTEMPTS": "0"})
    assert r.returncode == 1 and "VMNET_LAB_BOOT_ATTEMPTS must be 1 or more, got 0" in r.stderr


@pytest.mark.extended  # two boots to a silent console, about a minute under TCG
def test_boot_whose_console_stops_is_booted_again_then_reported(cli_lab):
    # init=/usr/bin/cat: after the initramfs, the node's init waits on the console for input and prints
    # nothing, as a guest the emulator stopped early in boot would. Each boot is taken as dead once its
    # console has been silent for VMNET_LAB_STALL_SECONDS, shown, booted again, and the last one fails.
    r = lab("up", "--name", NAME, env={"VMNET_LAB_KERNEL_ARGS": "init=/usr/bin/cat",
                                       "VMNET_LAB_STALL_SECONDS": "15", "VMNET_LAB_BOOT_ATTEMPTS": "2"})
    assert r.returncode == 1, r.stderr[-3000:]
    assert r.stderr.count("the guest of lab 'pytest-cli' stopped while booting: its console printed nothing "
                          "for ") == 2, r.stderr[-3000:]
    assert "booting again (attempt 2 of 2)" in r.stderr
    assert "(VMNET_LAB_STALL_SECONDS) (on each of 2 boots, VMNET_LAB_BOOT_ATTEMPTS)" in r.stderr
    assert r.stderr.count("last console lines of lab 'pytest-cli'") == 2
    assert qemu_processes(NAME) == []


def test_up_status_ssh_info_down(cli_lab, capsys):
    r = lab("up", "--name", NAME, "--kernel", "6.12")
    assert r.returncode == 0, r.stderr[-3000:]
    inventory = Path(r.stdout.strip().splitlines()[-1])
    assert "lab-node ansible_host=127.0.0.1" in inventory.read_text()
    assert len(qemu_processes(NAME)) == 1
    st = lab("status", "--name", NAME)
    assert st.returncode == 0 and st.stdout.strip() == "running"
    # the same kernel again is the running node; another kernel is refused while it runs
    assert lab("up", "--name", NAME, "--kernel", "6.12").stdout.strip() == str(inventory)
    other = lab("up", "--name", NAME, "--kernel", "7")
    assert other.returncode == 1 and "already runs kernel 6.12" in other.stderr
    info = json.loads(lab("info", "--name", NAME).stdout)
    assert info["kernel"].startswith("6.12.") and info["nics"]["lab_nic"] and info["nics"]["lab_wire"] == "wire0"
    # the inventory's shared SSH connection is the one `info` names
    assert "ControlPath=%s" % info["ssh_control"] in inventory.read_text()
    uname = lab("ssh", "--name", NAME, "--", "uname", "-r")
    assert uname.returncode == 0 and uname.stdout.strip() == info["kernel"]
    # the NIC is cabled to the wire in its namespace
    wire = lab("ssh", "--name", NAME, "--", "ip", "-n", info["nics"]["lab_wire_netns"], "-br", "link", "show", "wire0")
    assert wire.returncode == 0 and "UP" in wire.stdout
    # a kernel that dies while the node reboots (sysrq crash: a real panic) is reset through qemu's
    # monitor, and the node comes back with what its disk held before: the overlay is the same
    node = LAB.Lab(NAME)
    assert node.ssh(["echo kept > /root/before-reboot && sync"]).returncode == 0
    node.reboot(("echo 1 > /proc/sys/kernel/sysrq; "
                 "setsid -f sh -c 'sleep 1; echo c > /proc/sysrq-trigger' </dev/null >/dev/null 2>&1",))
    said = capsys.readouterr().err
    assert "died while booting: Kernel panic - not syncing: sysrq triggered crash; resetting it " \
        "(boot 2 of %d, same disk)" % LAB.BOOT_ATTEMPTS in said, said[-3000:]
    assert "lab 'pytest-cli' rebooted in" in said
    assert node.ssh(["cat", "/root/before-reboot"]).stdout == "kept\n"
    assert lab("down", "--name", NAME).returncode == 0
    assert qemu_processes(NAME) == []
    st = lab("status", "--name", NAME)
    assert st.returncode == 3 and st.stdout.strip() == "stopped"
    gone = lab("ssh", "--name", NAME, "--", "true")
    assert gone.returncode == 1 and "is not up" in gone.stderr
