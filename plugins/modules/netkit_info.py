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
  links:
    description:
      - netkit devices to check against what this kernel offers, as M(vmnet.netkit.netkit_link) takes them. Each one
        the kernel cannot make is returned in RV(unsupported), with what it lacks and what provides it, the same
        refusal M(vmnet.netkit.netkit_link) and M(vmnet.netkit.host_network) give.
      - Only the kernel is asked (netkit itself, O(vmnet.netkit.netkit_link#module:pairing=single), a way to bind
        NIC queues). The NIC's queues are checked when the device is made, as the NIC may still be about to change.
      - The role C(vmnet.netkit.vm_network)'s entry point C(kernel_check) checks a plan's devices this way, for
        plays that compose the per-resource modules.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The device's name (returned in RV(unsupported)).
        type: str
        required: true
      pairing:
        description:
          - As O(vmnet.netkit.netkit_link#module:pairing). Unset with O(links[].lower) means V(single) where the
            kernel has single mode.
        type: str
        choices: [pair, single]
      lower:
        description: As O(vmnet.netkit.netkit_link#module:lower).
        type: dict
        suboptions:
          device:
            description: The physical NIC lending the queues.
            type: str
            required: true
          queues:
            description: First and last NIC receive queue, inclusive.
            type: list
            elements: int
            required: true
          binding:
            description: As O(vmnet.netkit.netkit_link#module:lower.binding).
            type: str
            choices: [auto, lease, lowerdev]
            default: auto
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

- name: Check that this kernel can make two VMs' devices, each owning two queues of eth0
  vmnet.netkit.netkit_info:
    links:
      - {name: nk-vm1, pairing: single, lower: {device: eth0, queues: [14, 15]}}
      - {name: nk-vm2, pairing: single, lower: {device: eth0, queues: [16, 17]}}
  register: kernel_check

- name: Stop before anything changes if it cannot
  ansible.builtin.assert:
    that: kernel_check.unsupported | length == 0
    fail_msg: "{{ kernel_check.unsupported | map(attribute='message') | join('; ') }}"

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
unsupported:
  description:
    - Each device of O(links) this kernel cannot make, in the order given, with C(name), C(feature) (what is missing,
      for example C(netkit), C(single), C(lower)) and C(message) (what is missing and what provides it). Empty when
      every one can be made, or O(links) is empty.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "nk-vm1", "feature": "single",
            "message": "pairing: single needs Linux 7.1 (IFLA_NETKIT_PAIRING, netkit single mode)"}]
"""

from ansible.module_utils.basic import AnsibleModule
# first: it serves the collection's other module_utils from code compiled by an earlier run
from ansible_collections.vmnet.netkit.plugins.module_utils import bytecode_cache  # pylint: disable=unused-import
from ansible_collections.vmnet.netkit.plugins.module_utils import arg_specs
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import service as netkit_service


def main():
    module = AnsibleModule(
        argument_spec=dict(
            netns=dict(type="list", elements="str", default=[]),
            nics=dict(type="list", elements="str", default=[]),
            links=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                pairing=dict(type="str", choices=["pair", "single"]),
                lower=arg_specs.NETKIT_LOWER,
            )),
        ),
        supports_check_mode=True,
    )
    netkit_service.run_from_module(module, netkit_service.run_info)


if __name__ == "__main__":
    main()
