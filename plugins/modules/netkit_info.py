#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmnet.netkit collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: netkit_info
short_description: Read netkit capabilities, devices, peers and leased queues
version_added: "0.1.0"
description:
  - Returns, without changing anything, what the running kernel's netkit can do (netkit present, scrub,
    head/tailroom, single mode, queue leasing, C(IFLA_NETKIT_LOWERDEV)), every netkit device with its attributes
    and peer, and the NIC queues leased to each device (from the netdev C(queue-get) command).
options:
  netns:
    description: Network namespaces (C(/run/netns/NAME)) to look into besides the module's own.
    type: list
    elements: str
    default: []
  nics:
    description:
      - NICs whose leased queues to report. The kernel reports queues of devices that are up only; a NIC that is
        down shows C(null).
    type: list
    elements: str
    default: []
attributes:
  platform:
    support: full
    platforms: linux
    description: Any Linux host; without netkit the capabilities say so and no devices are listed.
requirements:
  - Linux.
seealso:
  - module: vmnet.netkit.netkit_link
  - module: vmnet.netkit.nic_info
extends_documentation_fragment:
  - vmnet.netkit.attributes
  - vmnet.netkit.attributes.info_module
author: vmnet.netkit maintainers (@vmnet)
"""

EXAMPLES = r"""
- name: Read netkit state and the leases of eth0
  vmnet.netkit.netkit_info:
    nics: [eth0]
  register: netkit

- name: Refuse to go on without queue leasing
  ansible.builtin.assert:
    that: netkit.capabilities.leasing or netkit.capabilities.lowerdev
    fail_msg: "kernel {{ netkit.capabilities.kernel }} cannot bind netkit devices to NIC queues"
"""

RETURN = r"""
capabilities:
  description:
    - C(kernel) release, C(netkit) (true, false, or null when unknown), C(scrub), C(headroom), C(single), C(leasing),
      C(lowerdev), C(attributes) (attribute name to number as this kernel defines them) and C(source) (where the attribute
      list came from, C(btf), C(devices) or C(baseline)).
  returned: always
  type: dict
  sample: {"kernel": "7.3.4+deb13-amd64", "netkit": true, "single": true, "leasing": true, "lowerdev": false,
           "scrub": true, "headroom": true, "source": "btf"}
devices:
  description:
    - Every netkit device by name (C(name@netns) outside the module's namespace), with C(ifindex), C(netns), C(mode),
      C(pairing), C(primary), C(policy), C(scrub), C(headroom), C(tailroom), C(mtu), C(address), C(up), C(operstate),
      C(numrxqueues), C(peer) (its name, or its ifindex and netns id when it lives elsewhere), C(lowerdev)
      (C(ifindex), C(from), C(to) of an C(IFLA_NETKIT_LOWERDEV) binding, only where the kernel has one) and
      C(leases) (C(queue) on the device, C(device) and C(device_queue) it owns; from the NICs in O(nics)),
      C(binding) (C(lowerdev), C(lease) or absent) and C(users), the processes (C(pid), C(command)) whose command
      line names the device as a C(-netdev) C(ifname), that is the VMs running on it (devices in the module's own
      namespace).
  returned: always
  type: dict
nic_leases:
  description: Per NIC in O(nics), its leased queues with the C(ifindex), C(queue) and C(netns_id) of the holder.
  returned: always
  type: dict
  sample: {"eth0": {"14": {"ifindex": 7, "queue": 1, "netns_id": null}}}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import service as netkit_service


def main():
    module = AnsibleModule(
        argument_spec=dict(
            netns=dict(type="list", elements="str", default=[]),
            nics=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    netkit_service.run_from_module(module, netkit_service.run_info)


if __name__ == "__main__":
    main()
