# SPDX-License-Identifier: GPL-3.0-or-later
"""The kernel for real hosts (kernel/build --config debian: Debian's own config plus the series) on a node that
boots from its disk through GRUB: playbooks/kernel.yml installs its packages, boots it once, verifies it and keeps
it, as it does with the lab config's kernel (test_netkit_kernel.py).

That build takes 90 minutes on two cores, so the test suite never starts it: this test runs on the result directory
`kernel/build --config debian` printed, named by VMNET_DEBIAN_KERNEL_BUILD (extended tier), and is skipped without it.
The kernel has no lab NIC (the lab's netdevsim patches go into the lab config only), so the role verifies with its
check that needs no NIC (a throw-away netkit device). Debian's config builds the disk driver and ext4 as modules:
the node coming up on it shows that the initrd initramfs-tools made on the node from the package carries them.
Everything is read on the node: uname, GRUB's BOOT_IMAGE and grubenv, the kernel's BTF, the modules, ip.

STORY: an operator builds Debian's config once and rolls it over real hosts with `playbooks/kernel.yml`.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from lab_play import recap_changed, run_playbook
from test_netkit_kernel import STOCK, boot_state, lowerdev_in_btf

BUILD = os.environ.get("VMNET_DEBIAN_KERNEL_BUILD", "")

pytestmark = [
    pytest.mark.extended,
    pytest.mark.skipif(not BUILD, reason="VMNET_DEBIAN_KERNEL_BUILD is not set: it names the directory "
                                         "kernel/build --config debian printed (a 90-minute build on 2 cores)"),
]


@pytest.fixture(scope="module")
def build() -> Path:
    path = Path(BUILD)
    assert (path / "release").is_file(), "%s is not a kernel/build result directory" % path
    return path


@pytest.fixture(scope="module")
def release(build) -> str:
    return (build / "release").read_text().strip()


def kernel_vars(build):
    return {"vmnet_target": "lab", "netkit_kernel_build_dir": str(build), "netkit_kernel_reboot_timeout": 1800}


def test_debians_config_is_what_was_built(build, release):
    config = (build / ("config-" + release)).read_text()
    # the drivers the node needs to reach its root file system are modules here, unlike the lab config
    for option in ("CONFIG_VIRTIO_BLK=m", "CONFIG_EXT4_FS=m", "CONFIG_NETKIT=y", "CONFIG_DEBUG_INFO_BTF=y"):
        assert option in config.splitlines(), option
    assert (build / "features").read_text().split() == ["btf"]


def test_the_role_moves_the_node_onto_debians_config_and_keeps_it(lab_node_disk, build, release):
    node = lab_node_disk
    assert boot_state(node)["running"] == STOCK
    rc, out = run_playbook(node, "kernel.yml", kernel_vars(build))
    assert rc == 0, out[-4000:]
    state = boot_state(node)
    assert state["running"] == release and state["boot_image"] == release, state
    assert re.fullmatch(r"gnulinux-advanced-[0-9a-f-]+>gnulinux-%s-advanced-[0-9a-f-]+" % re.escape(release),
                        state["saved_entry"]) and state["next_entry"] == "", state
    assert lowerdev_in_btf(node).stdout.strip() == "'IFLA_NETKIT_LOWERDEV' val=11"
    # the node runs this build's kernel with this build's modules: the config on /boot is the build's, every
    # module of the package is on the node, and the disk driver and ext4 came up as modules from the initrd
    assert node.sh("cat /boot/config-%s" % release) == (build / ("config-" + release)).read_text()
    listing = subprocess.run(["dpkg-deb", "-c", str(next(build.glob("linux-image-%s_*.deb" % release)))],
                             capture_output=True, text=True, check=True).stdout
    in_package = sum(1 for line in listing.splitlines() if line.endswith((".ko", ".ko.xz")))
    assert in_package > 4000
    assert int(node.sh("find /lib/modules/%s -name '*.ko*' | wc -l" % release)) == in_package
    loaded = node.sh("cut -d' ' -f1 /proc/modules").split()
    assert "virtio_blk" in loaded and "ext4" in loaded, loaded
    assert node.sh("lsinitramfs /boot/initrd.img-%s | grep -c 'virtio_blk.ko' || true" % release).strip() != "0"
    # the role's throw-away device is gone, and netkit works on it by hand
    assert node.ssh("ip link show nk-kverify").returncode != 0
    node.sh("ip link add nk-debian type netkit mode l3 peer name nk-debian-p")
    try:
        assert " netkit " in node.sh("ip -d link show nk-debian")
    finally:
        node.sh("ip link del nk-debian")


def test_a_second_run_changes_nothing(lab_node_disk, build):
    before = boot_state(lab_node_disk)
    rc, out = run_playbook(lab_node_disk, "kernel.yml", kernel_vars(build))
    assert rc == 0 and recap_changed(out) == 0, out[-3000:]
    assert boot_state(lab_node_disk) == before
