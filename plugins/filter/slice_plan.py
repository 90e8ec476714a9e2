# -*- coding: utf-8 -*-
# Copyright: contributors to the vmnet.netkit collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``slice_plan`` filter: plan a host's NIC slices from its VMs."""

from __future__ import annotations

DOCUMENTATION = r"""
name: slice_plan
short_description: Plan a host's NIC slices, RSS contexts, ntuple rules and netkit devices from its VMs
version_added: "0.1.0"
description:
  - Takes the VMs of one host and returns the plan the roles apply, see C(docs/planning.md).
  - Stable, given O(previous) (the plan the host was last provisioned with) - a VM keeps its queues, MAC and
    allocated addresses, so adding or removing a VM never moves another one.
  - Queues C(0..host_queues-1) stay with the host (default RSS table); VMs get contiguous ranges above, first fit.
  - VMs without an address of a subnet's family get the lowest free one (never the network address or the
    first host, the gateway).
options:
  _input:
    description: The VMs, each C({name, queues, addresses, mac}); C(queues) (how many NIC queues the VM gets) is required.
    type: list
    elements: dict
    required: true
  device:
    description: The NIC's name.
    type: str
    required: true
  queues:
    description: The NIC's channel count in the plan.
    type: int
    required: true
  host_queues:
    description: Queues kept for the host.
    type: int
    required: true
  subnets:
    description:
      - The host's VM subnets; addresses must lie inside, and VMs without one get one.
      - Each is a network in CIDR form (addresses from its third one up), or an address pool C({network, range,
        exclude}) (C(range) the addresses VMs get, C(exclude) a list of addresses VMs never get; each an address,
        a range C(FIRST-LAST) or a network in CIDR form inside C(network)).
    type: list
    elements: raw
  previous:
    description: The plan from the last run (for stability).
    type: dict
author: vmnet.netkit maintainers (@vmnet)
"""

EXAMPLES = r"""
- name: Plan 2 VMs on a 16-queue NIC, queues 0..13 for the host
  ansible.builtin.set_fact:
    plan: "{{ [{'name': 'vm1', 'queues': 1}, {'name': 'vm2', 'queues': 1, 'addresses': ['10.0.0.9']}]
              | vmnet.netkit.slice_plan(device='eth0', queues=16, host_queues=14,
                                        subnets=['10.0.0.0/24', 'fd00:10::/64']) }}"
"""

RETURN = r"""
_value:
  description:
    - C(device), C(channels), C(host_queues), C(default_table), C(vms) (per name - C(queues) [first, last],
      C(queue_count), C(context), C(rss_context), C(addresses), C(rules), C(mac), C(netkit), C(qemu)), C(contexts),
      C(rules), C(free_queues).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import ValidationError
from ansible_collections.vmnet.netkit.plugins.module_utils.plan.slices import plan


def slice_plan(vms, device, queues, host_queues, subnets=None, previous=None):
    try:
        return plan(vms, device, queues, host_queues, subnets=subnets, previous=previous)
    except ValidationError as err:
        raise AnsibleFilterError("slice_plan: %s" % err)


class FilterModule(object):
    def filters(self):
        return {"slice_plan": slice_plan}
