# SPDX-License-Identifier: GPL-3.0-or-later
"""The netkit_kernel role (playbooks/kernel.yml) on a node that boots from its disk through GRUB.

The node starts on Debian's 7.x kernel. The role moves it onto the patched kernel (kernel/build's
.debs), with GRUB's one-shot entry, verifies it and keeps it; a second run changes nothing; the
main job provisions on it and survives a plain reboot (which stays on it). Then the failures: a node with a running VM is not rebooted; a kernel that panics
(Debian's kernel packaged without the initrd it needs) ends with the node back on the patched kernel
and the broken package gone; a kernel that boots but fails the verification (Debian's 6.12, booted
with kexec, no LOWERDEV) is rebooted out of. Every state is read on the node itself: uname, /proc/cmdline (GRUB's
BOOT_IMAGE), grubenv, grub.cfg, dpkg, the kernel's BTF, the console.

STORY: an operator rolls the patched kernel over a host with `playbooks/kernel.yml`; whatever goes
wrong, the host ends up on a kernel that works and the run says why it failed.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import LAB
from lab_play import host_line, recap_changed, run_playbook

STOCK = "7.3.4+deb13-amd64"
BROKEN = "7.3.4-vmnet-broken"

# six reboots, three of them into kernels that fail on purpose: the extended tier (VMNET_TEST_EXTENDED=1)
pytestmark = pytest.mark.extended


@pytest.fixture(scope="module")
def node(lab_node_disk):
    return lab_node_disk


def kernel_vars(node, **extra):
    base = {"vmnet_target": "lab", "netkit_kernel_verify_nic": node.nic, "netkit_kernel_verify_queues": [15, 15],
            "netkit_kernel_reboot_timeout": 1200}
    base.update(extra)
    return base


def boot_state(node):
    """What the node runs and what GRUB will boot, read on the node."""
    env = dict(line.split("=", 1) for line in node.sh("grub-editenv /boot/grub/grubenv list").splitlines()
               if "=" in line)
    cmdline = node.sh("cat /proc/cmdline")
    image = re.search(r"BOOT_IMAGE=\S*vmlinuz-(\S+)", cmdline)
    return {"running": node.sh("uname -r").strip(), "boot_image": image.group(1) if image else None,
            "saved_entry": env.get("saved_entry", ""), "next_entry": env.get("next_entry", ""),
            "kernels": sorted(set(re.findall(r"vmlinuz-(\S+)", node.sh("grep -h '^\\s*linux\\s' /boot/grub/grub.cfg")))),
            "packages": sorted(node.sh("dpkg-query -W -f '${db:Status-Abbrev}${Package}\\n' 'linux-image-*'"
                                       " | sed -n 's/^ii *//p'").split())}


def snapshot(node):
    """Everything a kernel run may touch, for check mode's no-change proof."""
    return node.sh("uname -r; md5sum /boot/grub/grub.cfg /boot/grub/grubenv; ls -l --time-style=+%s /boot "
                   "/etc/default/grub.d /var/cache/vmnet-netkit 2>&1; dpkg-query -W 'linux-*'; ip -br link")


def lowerdev_in_btf(node):
    return node.ssh("bpftool btf dump file /sys/kernel/btf/vmlinux | grep -o \"'IFLA_NETKIT_LOWERDEV' val=[0-9]*\"")


def test_the_disk_node_boots_debians_kernel_through_grub(node):
    state = boot_state(node)
    assert state["running"] == STOCK and state["boot_image"] == STOCK, state
    assert STOCK in state["kernels"] and any(k.startswith("6.12.") for k in state["kernels"]), state
    assert state["next_entry"] == ""


def test_check_mode_says_what_it_would_do_and_changes_nothing(node, kernel_build, kernel_release):
    before = snapshot(node)
    rc, out = run_playbook(node, "kernel.yml", kernel_vars(node, netkit_kernel_build_dir=str(kernel_build)),
                           check=True, diff=True)
    assert rc == 0, out[-3000:]
    assert "would install linux-image-%s_" % kernel_release in out and "linux-headers-%s_" % kernel_release in out
    assert "would boot %s once (reboot) instead of %s" % (kernel_release, STOCK) in out
    assert snapshot(node) == before


def fleet_of_two(node, directory):
    """An inventory with the node twice (lab-node, then lab-node-b): a fleet whose first host fails."""
    path = Path(directory) / "fleet.ini"
    path.write_text("[lab]\n%s\n%s\n" % (host_line(node, "lab-node"), host_line(node, "lab-node-b")))
    return SimpleNamespace(inventory=str(path))


def test_a_host_with_a_running_vm_is_not_rebooted_and_the_rollout_stops(node, kernel_build, kernel_release):
    """kernel.yml over two hosts, one at a time: the first has a VM and is refused; the second never starts."""
    node.sh("ip link add nk-vm1 type netkit mode l2 peer name nk-vm1p")
    # a process that looks to /proc like a VM's qemu on nk-vm1 (the guard reads command lines)
    node.sh("setsid bash -c 'exec -a qemu-system-x86_64 python3 -c \"import time; time.sleep(900)\" "
            "-netdev af-xdp,id=net0,ifname=nk-vm1,queues=1,start-queue=1' >/dev/null 2>&1 < /dev/null &")
    pid = node.sh("sleep 1; pgrep -f 'ifname=nk-vm1'").split()[0]
    before = snapshot(node)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rc, out = run_playbook(fleet_of_two(node, tmp), "kernel.yml",
                                   kernel_vars(node, netkit_kernel_build_dir=str(kernel_build)))
        after = snapshot(node)
    finally:
        node.sh("kill %s; ip link del nk-vm1" % pid)
    assert rc != 0
    assert ("not rebooting this host into %s: VMs run on its netkit devices (nk-vm1: pid %s qemu-system-x86_64)"
            % (kernel_release, pid)) in " ".join(out.split()), out[-3000:]
    assert after == before
    # serial 1, max_fail_percentage 0: the failed first batch ends the play before lab-node-b's batch
    assert "[lab-node-b]" not in out and not re.search(r"^lab-node-b\s+:", out, re.M), out[-3000:]
    assert re.search(r"^lab-node\s+:.*failed=1", out, re.M)


def test_the_role_moves_the_node_onto_the_patched_kernel_and_keeps_it(node, kernel_build, kernel_release):
    rc, out = run_playbook(node, "kernel.yml", kernel_vars(node, netkit_kernel_build_dir=str(kernel_build)))
    assert rc == 0, out[-4000:]
    state = boot_state(node)
    assert state["running"] == kernel_release and state["boot_image"] == kernel_release, state
    # GRUB's default is the patched kernel's own entry (its id, inside Debian's "Advanced options" submenu)
    assert re.fullmatch(r"gnulinux-advanced-[0-9a-f-]+>gnulinux-%s-advanced-[0-9a-f-]+" % re.escape(kernel_release),
                        state["saved_entry"]), state
    assert state["next_entry"] == "", state
    assert "linux-image-%s" % kernel_release in state["packages"]
    assert node.sh("dpkg-query -W -f '${Version}' linux-headers-%s" % kernel_release).strip()
    assert lowerdev_in_btf(node).stdout.strip() == "'IFLA_NETKIT_LOWERDEV' val=11"
    # the throw-away device is gone and its NIC queue is free again (an AF_XDP bind on a leased queue is refused)
    assert node.ssh("ip link show nk-kverify").returncode != 0
    assert node.ssh("vmnet-xsk-bind %s 15" % node.nic).returncode == 0


def test_a_second_run_changes_nothing(node, kernel_build, kernel_release):
    before = boot_state(node)
    rc, out = run_playbook(node, "kernel.yml", kernel_vars(node, netkit_kernel_build_dir=str(kernel_build)))
    assert rc == 0 and recap_changed(out) == 0, out[-3000:]
    assert boot_state(node) == before


def test_the_main_job_on_the_installed_kernel_survives_a_reboot(node, kernel_release):
    """provision.yml binds with LOWERDEV on the kernel the role installed; after a plain reboot (GRUB's
    default) the node runs that kernel again, and the boot-time re-apply restored every VM's device."""
    rc, out = run_playbook(node, "provision.yml")
    assert rc == 0, out[-3000:]
    node.reboot()
    state = boot_state(node)
    assert state["running"] == kernel_release and state["boot_image"] == kernel_release, state
    rc, verify = run_playbook(node, "verify.yml")
    assert rc == 0 and "6 VMs as planned, no drift" in verify and "nk-vm1: lowerdev" in verify, verify[-3000:]
    # independently of the collection: nk-vm3 has its NIC queue as rx-1, and that NIC queue is taken
    assert node.sh("ls /sys/class/net/nk-vm3/queues").split() == ["rx-0", "rx-1", "tx-0"]
    assert node.ssh("vmnet-xsk-bind %s 10" % node.nic).returncode != 0
    rc, out = run_playbook(node, "teardown.yml")
    assert rc == 0, out[-3000:]


class Console:
    """The node's serial console (qemu writes it to the lab's console.log) from now on."""

    def __init__(self, node):
        self.path = LAB.CACHE / "run" / Path(node.inventory).parent.name / "console.log"
        self.start = self.path.stat().st_size

    def since_start(self) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(self.start)
            return f.read()


def broken_package(stock_vmlinuz: Path, out_dir: Path) -> Path:
    """Debian's kernel packaged without the initrd it needs (its disk driver is a module): it panics
    at boot ("VFS: Unable to mount root fs") and, with panic=10, the node reboots. The maintainer
    scripts are the ones make bindeb-pkg writes: they run the kernel hooks (update-grub), no initrd."""
    root = out_dir / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "boot").mkdir()
    (root / "boot" / ("vmlinuz-" + BROKEN)).write_bytes(stock_vmlinuz.read_bytes())
    (root / "DEBIAN" / "control").write_text(
        "Package: linux-image-%s\nVersion: 7.3.4-1vmnet\nArchitecture: amd64\nMaintainer: vmnet.netkit tests "
        "<root@localhost>\nDescription: a kernel that cannot mount its root file system\n" % BROKEN)
    for script in ("postinst", "postrm"):
        path = root / "DEBIAN" / script
        path.write_text("#!/bin/sh\nset -e\nexport DEB_MAINT_PARAMS=\"$*\"\nexport INITRD=No\n"
                        "test -d /etc/kernel/%s.d && run-parts --arg=%s --arg=/boot/vmlinuz-%s /etc/kernel/%s.d\n"
                        "exit 0\n" % (script, BROKEN, BROKEN, script))
        path.chmod(0o755)
    deb = out_dir / ("linux-image-%s_7.3.4-1vmnet_amd64.deb" % BROKEN)
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(deb)], check=True,
                   capture_output=True)
    return deb


def roll_out_broken_kernel(node):
    """playbooks/kernel.yml on node with the package of a kernel that panics: (rc, its output on one line)."""
    with tempfile.TemporaryDirectory() as tmp:
        deb = broken_package(LAB.image_dir() / ("vmlinuz-" + STOCK), Path(tmp))
        rc, out = run_playbook(node, "kernel.yml", kernel_vars(node, netkit_kernel_packages=[str(deb)]))
    return rc, " ".join(out.split())


def test_a_kernel_that_panics_leaves_the_node_on_the_previous_kernel(node, kernel_release):
    console = Console(node)
    saved_before = boot_state(node)["saved_entry"]
    rc, flat = roll_out_broken_kernel(node)
    assert rc != 0
    assert ("kernel %s failed on this host: the host came back on %s, not on %s" % (BROKEN, kernel_release, BROKEN)) in flat
    assert "the packages linux-image-%s were removed" % BROKEN in flat, flat[-3000:]
    text = console.since_start()
    # the console: GRUB boots the one-shot entry, that kernel panics, GRUB boots its default
    once = text.find(b"Booting `Debian GNU/Linux, with Linux %s'" % BROKEN.encode())
    panic = text.find(b"Kernel panic - not syncing: VFS: Unable to mount root fs", once)
    assert 0 <= once < panic < text.find(b"Booting `Debian GNU/Linux, with Linux %s'" % kernel_release.encode(), panic)
    state = boot_state(node)
    assert state["running"] == kernel_release and state["saved_entry"] == saved_before and state["next_entry"] == ""
    assert BROKEN not in state["kernels"] and "linux-image-%s" % BROKEN not in state["packages"], state


def test_a_kernel_that_fails_verification_is_rebooted_out_of(node, kernel_release):
    """Debian's 6.12 kernel, booted with kexec, comes up but has no LOWERDEV: the role reboots, and GRUB (whose
    default kexec never touched) boots the patched kernel again. The 6.12 package stays
    (netkit_kernel_remove_failed: false): it is the image's own."""
    console = Console(node)
    old = next(k for k in boot_state(node)["kernels"] if k.startswith("6.12."))
    saved_before = boot_state(node)["saved_entry"]
    rc, out = run_playbook(node, "kernel.yml", kernel_vars(node, netkit_kernel_apt_packages=["linux-image-" + old],
                                                           netkit_kernel_remove_failed=False,
                                                           netkit_kernel_boot_method="kexec"))
    assert rc != 0
    text = console.since_start()
    # the console: systemd's kexec, then 6.12 starting with no firmware and GRUB in between; after the
    # verification failed, a reboot through GRUB into its default, the patched kernel
    kexec = text.find(b"Reached target \x1b[0;1;39mkexec.target")
    started = text.find(b"Linux version " + old.encode(), kexec)
    assert kexec >= 0 and started > kexec and b"GNU GRUB" not in text[kexec:started]
    assert text.find(b"Booting `Debian GNU/Linux, with Linux %s'" % kernel_release.encode(), started) > started
    flat = " ".join(out.split())
    assert "kernel %s failed on this host: kernel %s does not offer IFLA_NETKIT_LOWERDEV" % (old, old) in flat, \
        flat[-3000:]
    assert "The host runs %s again (GRUB's default: %s)" % (kernel_release, kernel_release) in flat
    state = boot_state(node)
    assert state["running"] == kernel_release and state["saved_entry"] == saved_before, state
    assert "linux-image-" + old in state["packages"]
