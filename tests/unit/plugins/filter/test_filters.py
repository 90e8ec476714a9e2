# SPDX-License-Identifier: GPL-3.0-or-later
"""The filter plugins through their FilterModule classes."""

from __future__ import annotations

import re

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vmnet.netkit.plugins.filter import json_query, kernel_packages, qemu_netdev, slice_plan


def test_slice_plan_filter_wraps_errors():
    f = slice_plan.FilterModule().filters()["slice_plan"]
    p = f([{"name": "vm1", "queues": 1}], device="eth0", queues=16, host_queues=14)
    assert p["vms"]["vm1"]["queues"] == [14, 14]
    with pytest.raises(AnsibleFilterError) as err:
        f([{"name": "vm1", "queues": 5}], device="eth0", queues=16, host_queues=14)
    assert "slice_plan: vms:" in str(err.value)


def test_qemu_netdev_outputs():
    p = slice_plan.slice_plan([{"name": "vm1", "queues": 1}], "eth0", 16, 14)
    f = qemu_netdev.FilterModule().filters()["qemu_netdev"]
    assert f(p["vms"]["vm1"])[0] == "-netdev"
    assert f(p["vms"]["vm1"], output="string").startswith("-netdev af-xdp,id=net-vm1,")
    xml = f(p["vms"]["vm1"], map_path="/sys/fs/bpf/x&y", output="libvirt")
    assert xml.startswith("<qemu:commandline>") and "x&amp;y" in xml and xml.count("<qemu:arg ") == 4
    with pytest.raises(AnsibleFilterError):
        f(p["vms"]["vm1"], output="yaml")


def test_json_query():
    q = json_query.FilterModule().filters()["json_query"]
    facts = {"contexts": [{"name": "vm1", "queues": "14-15"}, {"name": None, "queues": "3"}]}
    assert q(facts, "contexts[?name=='vm1'].queues | [0]") == "14-15"
    with pytest.raises(AnsibleFilterError):
        q(facts, "contexts[?")


# --- kernel_packages -------------------------------------------------------------------------------

def test_kernel_packages_reads_bindeb_pkg_file_names():
    out = kernel_packages.kernel_packages(["/b/linux-image-7.3.4-vmnet-netkit_7.3.4-1vmnet_amd64.deb",
                                           "/b/linux-headers-7.3.4-vmnet-netkit_7.3.4-1vmnet_amd64.deb"])
    assert out["release"] == "7.3.4-vmnet-netkit"
    assert out["packages"][0] == {"name": "linux-image-7.3.4-vmnet-netkit", "version": "7.3.4-1vmnet",
                                  "file": "linux-image-7.3.4-vmnet-netkit_7.3.4-1vmnet_amd64.deb",
                                  "path": "/b/linux-image-7.3.4-vmnet-netkit_7.3.4-1vmnet_amd64.deb",
                                  "key": "linux-image-7.3.4-vmnet-netkit 7.3.4-1vmnet"}


def test_kernel_packages_takes_package_names():
    out = kernel_packages.kernel_packages(["linux-image-7.3.4-vmnet-netkit", "linux-headers-7.3.4-vmnet-netkit"])
    assert out["release"] == "7.3.4-vmnet-netkit" and out["packages"][1]["version"] is None


@pytest.mark.parametrize("items, text", [
    ([], "exactly one linux-image-RELEASE package, got none"),
    (["/b/linux-headers-7.3_1_amd64.deb"], "got linux-headers-7.3"),
    (["/b/linux-image-a_1_amd64.deb", "/b/linux-image-b_1_amd64.deb"], "exactly one"),
    (["/b/kernel.deb"], "'/b/kernel.deb' is not a Debian package file name (NAME_VERSION_ARCH.deb)"),
    (["Linux Image"], "neither a .deb file nor a package name"),
])
def test_kernel_packages_refuses_what_it_cannot_read(items, text):
    with pytest.raises(AnsibleFilterError, match=re.escape(text)):
        kernel_packages.kernel_packages(items)
