# SPDX-License-Identifier: GPL-3.0-or-later
"""Which processes name a netkit device as a qemu -netdev ifname."""

from __future__ import annotations

from ansible_collections.vmnet.netkit.plugins.module_utils.netkit.vm_processes import users

QEMU_ARGS = ["/usr/bin/qemu-system-x86_64", "-m", "1024", "-netdev",
             "af-xdp,id=net0,ifname=nk-vm1,queues=2,start-queue=1,mode=native", "-device", "virtio-net-pci,netdev=net0"]
LIBVIRT = ["/usr/bin/qemu-system-x86_64", "-netdev",
           '{"type":"af-xdp","ifname":"nk-vm2","id":"hostnet0","queues":1,"start-queue":1}']


def test_key_value_and_json_netdevs_name_their_devices():
    found = users({10: QEMU_ARGS, 11: LIBVIRT, 12: ["/bin/sleep", "60"]}, ["nk-vm1", "nk-vm2", "nk-vm3"])
    assert found == {"nk-vm1": [{"pid": 10, "command": "/usr/bin/qemu-system-x86_64"}],
                     "nk-vm2": [{"pid": 11, "command": "/usr/bin/qemu-system-x86_64"}]}


def test_a_name_that_is_only_a_prefix_or_not_a_netdev_is_no_user():
    cmdlines = {20: ["qemu", "-netdev", "af-xdp,id=n,ifname=nk-vm10"],      # another device
                21: ["grep", "ifname=nk-vm1"],                                # not a -netdev
                22: ["qemu", "-netdev", "{not json"],                         # garbage
                23: ["qemu", "-netdev"]}                                      # no value
    assert users(cmdlines, ["nk-vm1"]) == {}


def test_only_the_asked_devices_are_reported():
    assert users({10: QEMU_ARGS}, ["nk-other"]) == {}
