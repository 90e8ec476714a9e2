# -*- coding: utf-8 -*-
# Copyright: contributors to the vmnet.netkit collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``qemu_netdev`` filter: a planned VM -> qemu's AF_XDP arguments."""

from __future__ import annotations

DOCUMENTATION = r"""
name: qemu_netdev
short_description: Render a planned VM's qemu -netdev af-xdp and -device arguments
version_added: "0.1.0"
description:
  - From one VM of M(vmnet.netkit.slice_plan)'s result, the qemu arguments that open its netkit device with AF_XDP.
options:
  _input:
    description: One VM of the plan (C(plan.vms.NAME)).
    type: dict
    required: true
  map_path:
    description:
      - Pinned XSKMAP of the NIC's XDP program; adds C(inhibit=on,map-path=...,map-start-index=FIRST_NIC_QUEUE)
        (qemu 10.1+).
    type: str
  mode:
    description: AF_XDP mode.
    type: str
    choices: [native, skb]
    default: native
  force_copy:
    description: Add C(force-copy=on).
    type: bool
    default: false
  device_model:
    description: The guest NIC model.
    type: str
    default: virtio-net-pci
  output:
    description: V(argv) a list, V(string) one shell-quoted line, V(libvirt) a C(qemu:commandline) XML snippet.
    type: str
    choices: [argv, string, libvirt]
    default: argv
author: vmnet.netkit maintainers (@vmnet)
"""

EXAMPLES = r"""
- name: qemu arguments of vm1
  ansible.builtin.debug:
    msg: "{{ plan.vms.vm1 | vmnet.netkit.qemu_netdev(map_path='/sys/fs/bpf/vmnet-netkit/eth0/xsks') }}"
"""

RETURN = r"""
_value:
  description: The arguments, as chosen by O(output).
  type: raw
  sample: ["-netdev", "af-xdp,id=net-vm1,ifname=nk-vm1,mode=native,queues=1,start-queue=1", "-device",
           "virtio-net-pci,netdev=net-vm1,mac=52:54:00:8a:1c:02"]
"""

import shlex

from ansible.errors import AnsibleFilterError
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import ValidationError
from ansible_collections.vmnet.netkit.plugins.module_utils.plan.slices import qemu_libvirt
from ansible_collections.vmnet.netkit.plugins.module_utils.plan.slices import qemu_netdev as render


def qemu_netdev(vm, map_path=None, mode="native", force_copy=False, device_model="virtio-net-pci", output="argv"):
    try:
        argv = render(vm, map_path=map_path, mode=mode, force_copy=force_copy, device_model=device_model)
    except ValidationError as err:
        raise AnsibleFilterError("qemu_netdev: %s" % err)
    if output == "argv":
        return argv
    if output == "string":
        return " ".join(shlex.quote(a) for a in argv)
    if output == "libvirt":
        return qemu_libvirt(argv)
    raise AnsibleFilterError("qemu_netdev: output must be argv, string or libvirt, not %r" % (output,))


class FilterModule(object):
    def filters(self):
        return {"qemu_netdev": qemu_netdev}
