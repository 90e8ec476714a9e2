#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmnet.netkit collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: rss_contexts
short_description: Manage a NIC's default RSS table and its named RSS contexts
version_added: "0.1.0"
description:
  - Sets the default (main) RSS indirection table of a NIC and creates, changes and deletes additional
    RSS contexts, each a separate indirection table over its own queues - one per VM slice.
  - The kernel gives contexts no names, chooses their ids itself (lowest free id, reused) and forgets them
    on reboot or driver reload. This module gives each context a I(name), records name and id on the
    host (C(/var/lib/vmnet-netkit/nic-slices.json)) and checks the record against the NIC on every run;
    a context that vanished (reboot, driver reload, device re-created) or whose table was changed behind
    its back is detected and created again; the new id is returned in C(contexts).
  - Reads every context in one netlink RSS_GET dump on kernel 6.12 and later, or one ioctl per candidate
    id on older kernels (no process either way); writes with C(ethtool -X).
options:
  default:
    description:
      - The default (main) indirection table, used by traffic no rule steers elsewhere.
      - Give C(equal) (with C(start)), or C(weights), or C(reset=true) for the driver's even spread.
        Not touched when omitted (except with I(state=overridden), which resets it, and I(state=deleted)).
    type: dict
    suboptions:
      start:
        description: First queue of the table.
        type: int
        default: 0
      equal:
        description: Spread evenly over this many queues, C(start) to C(start + equal - 1).
        type: int
      weights:
        description: Relative weight of each queue from C(start) on, like C(ethtool -X weight).
        type: list
        elements: int
      reset:
        description: Go back to the driver's default spread over all RX queues (C(ethtool -X DEV default)).
        type: bool
      hfunc:
        description: Hash function.
        type: str
        choices: [toeplitz, xor, crc32]
      key:
        description: Hash key as colon-separated hex bytes; must have the NIC's key size.
        type: str
  contexts:
    description:
      - The named RSS contexts.
      - Queues of different contexts must not overlap, and must not overlap the default table when
        I(default) gives one.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the slice; used by M(vmnet.netkit.ntuple_rules) to point rules at the context.
        type: str
        required: true
      start:
        description: First queue of the context.
        type: int
        default: 0
      equal:
        description: Spread evenly over this many queues from C(start) on.
        type: int
      weights:
        description: Relative weight of each queue from C(start) on.
        type: list
        elements: int
      hfunc:
        description: Hash function of the context (needs a driver with per-context keys).
        type: str
        choices: [toeplitz, xor, crc32]
      key:
        description: Hash key of the context, colon-separated hex bytes (needs a driver with per-context keys).
        type: str
  state:
    description:
      - C(merged) creates or updates the listed contexts (and the default table if given); other contexts stay.
      - C(replaced) is the same as C(merged) for this resource, since every listed context is given in full.
      - C(overridden) makes the listed contexts the only ones, deleting every other context on the device,
        and resets the default table unless I(default) is given.
      - C(deleted) deletes the listed contexts (all contexts and the default table when none are listed);
        I(default) given with any value resets the default table.
      - C(gathered) returns the current configuration without changing anything.
      - C(rendered) returns the ethtool commands for the listed configuration without reading the NIC.
    type: str
    choices: [merged, replaced, overridden, deleted, gathered, rendered]
    default: merged
attributes:
  check_mode:
    support: full
    description: Validates and reports what would change; a context that would be created has id C(null) then.
  diff_mode:
    support: full
    description: Returns the default table and the contexts before and after.
  platform:
    support: full
    platforms: linux
    description: NICs whose driver implements RSS contexts (mlx5, bnxt, sfc, fbnic, mvpp2, octeontx2).
requirements:
  - Linux 6.1 or later (6.12 or later reads all contexts in one netlink dump).
  - The C(ethtool) command on the managed node (6.1 or later).
notes:
  - Set the channel count first (M(vmnet.netkit.nic_channels)), since table entries must be below the number of RX queues.
  - A context used by an ntuple rule cannot be deleted; delete the rule first (M(vmnet.netkit.ntuple_rules)).
  - When a context had to be recreated under a new id, run M(vmnet.netkit.ntuple_rules) afterwards; it points
    the rules at the new id by name.
  - The record file's directory can be changed with the environment variable C(VMNET_NETKIT_STATE_DIR).
seealso:
  - module: vmnet.netkit.nic_channels
  - module: vmnet.netkit.ntuple_rules
  - module: vmnet.netkit.nic_info
extends_documentation_fragment:
  - vmnet.netkit.attributes
  - vmnet.netkit.nic
author: vmnet.netkit maintainers (@vmnet)
"""

EXAMPLES = r"""
- name: Host traffic on queues 0-13, the VM's slice on 14-15
  vmnet.netkit.rss_contexts:
    device: eth0
    default:
      start: 0
      equal: 14
    contexts:
      - name: vm1
        start: 14
        equal: 2
  register: rss

- name: Show the id the kernel gave the slice
  ansible.builtin.debug:
    msg: "vm1 is RSS context {{ rss.contexts.vm1 }}"

- name: Keep only vm1, delete any other context, reset the default table
  vmnet.netkit.rss_contexts:
    device: eth0
    state: overridden
    contexts:
      - name: vm1
        start: 14
        equal: 2

- name: Remove the slice
  vmnet.netkit.rss_contexts:
    device: eth0
    state: deleted
    contexts:
      - name: vm1
"""

RETURN = r"""
device:
  description: The device.
  returned: always
  type: str
  sample: eth0
contexts:
  description: Context id of every listed name after the task (C(null) for one that check mode would create,
    or that was deleted).
  returned: success
  type: dict
  sample: {"vm1": 1}
before:
  description: Default table and contexts before the task.
  returned: when state is not rendered
  type: dict
  sample: {"default": {"queues": "0-15", "configured": false}, "contexts": []}
after:
  description: Default table and contexts after the task (as they would be, in check mode).
  returned: when state is not rendered
  type: dict
  sample: {"default": {"queues": "0-13", "configured": true}, "contexts": [{"id": 1, "name": "vm1", "queues": "14-15"}]}
gathered:
  description: The current configuration (I(state=gathered)).
  returned: when state is gathered
  type: dict
rendered:
  description: The ethtool commands for the listed configuration (I(state=rendered)).
  returned: when state is rendered
  type: list
  elements: str
  sample: ["ethtool -X eth0 equal 14", "ethtool -X eth0 context new equal 2 start 14"]
actions:
  description: Changes made, or that would be made in check mode, in order, each with its command.
  returned: always
  type: list
  elements: dict
notes:
  description: What the module found out on the way, such as a recorded context that vanished and is recreated,
    or that an id is unknown in check mode.
  returned: when state is merged, replaced, overridden or deleted
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

# first: it serves the collection's other module_utils from code compiled by an earlier run
from ansible_collections.vmnet.netkit.plugins.module_utils import bytecode_cache  # pylint: disable=unused-import
from ansible_collections.vmnet.netkit.plugins.module_utils import arg_specs
from ansible_collections.vmnet.netkit.plugins.module_utils.nic import service as nic_service


def main():
    default_options = dict(arg_specs.RSS_TABLE, reset=dict(type="bool"))
    context_options = dict(arg_specs.RSS_TABLE, name=dict(type="str", required=True))
    module = AnsibleModule(
        argument_spec=dict(
            arg_specs.NIC_DEVICE,
            default=dict(type="dict", options=default_options,
                         mutually_exclusive=[["equal", "weights", "reset"]]),
            contexts=dict(type="list", elements="dict", options=context_options,
                          mutually_exclusive=[["equal", "weights"]]),
            state=arg_specs.RESOURCE_STATE,
        ),
        supports_check_mode=True,
    )
    nic_service.run_from_module(module, nic_service.run_contexts, check_mode=module.check_mode, diff=module._diff)


if __name__ == "__main__":
    main()
