#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmnet.netkit collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: nic_channels
short_description: Set the number of queues (channels) of a NIC
version_added: "0.1.0"
description:
  - Sets the combined, RX-only, TX-only and other channel counts of a network device, like
    C(ethtool -L), and leaves every count that is not given as it is.
  - Before shrinking, checks which RX queues would disappear and refuses the change, naming the
    users, when a queue is still used by a user-configured default RSS table, an RSS context or an
    ntuple rule (the kernel refuses with a terse error; this module says what is in the way).
  - Reads the current counts through the SIOCETHTOOL ioctl (no process) and changes them with the
    C(ethtool) command; reads back afterwards and fails if the NIC does not show the wanted counts.
options:
  combined:
    description:
      - Number of combined (RX+TX) channels. Not changed when omitted.
      - Must not exceed the NIC's maximum (see M(vmnet.netkit.nic_info), C(channels.max)).
    type: int
  rx:
    description: Number of RX-only channels. Not changed when omitted.
    type: int
  tx:
    description: Number of TX-only channels. Not changed when omitted.
    type: int
  other:
    description: Number of other channels (link interrupts, ...). Not changed when omitted.
    type: int
attributes:
  check_mode:
    support: full
    description: Reports the change that would be made, and refuses invalid counts, without changing anything.
  diff_mode:
    support: full
    description: Returns the counts before and after.
  platform:
    support: full
    platforms: linux
    description: Linux network devices whose driver implements get/set_channels.
requirements:
  - Linux with SIOCETHTOOL (any supported kernel, 6.1 or later).
  - The C(ethtool) command on the managed node (6.1 or later).
notes:
  - Growing the channel count regenerates a default RSS table that nobody configured, spreading it over
    all queues, including the ones meant for RSS contexts. Set the channels first, then the tables with
    M(vmnet.netkit.rss_contexts).
  - Shrinking is refused while queues that would disappear are used by a configured default table, an RSS
    context or an ntuple rule. A default table counts as configured when it differs from the driver's even
    spread or when M(vmnet.netkit.rss_contexts) wrote it.
  - Queues leased to a netkit device or bound by AF_XDP also block a shrink; the kernel's refusal is reported then.
seealso:
  - module: vmnet.netkit.rss_contexts
  - module: vmnet.netkit.ntuple_rules
  - module: vmnet.netkit.nic_info
extends_documentation_fragment:
  - vmnet.netkit.attributes
  - vmnet.netkit.nic
author: vmnet.netkit maintainers (@vmnet)
"""

EXAMPLES = r"""
- name: Give eth0 16 combined queues
  vmnet.netkit.nic_channels:
    device: eth0
    combined: 16

- name: A NIC with separate RX and TX channels (veth, some NICs)
  vmnet.netkit.nic_channels:
    device: veth0
    rx: 4
    tx: 2
"""

RETURN = r"""
device:
  description: The device.
  returned: always
  type: str
  sample: eth0
channels:
  description: Channel counts after the task (what they would be in check mode).
  returned: success
  type: dict
  sample: {"combined": 16, "rx": 0, "tx": 0, "other": 0}
max:
  description: The maximum counts the NIC allows.
  returned: success
  type: dict
  sample: {"combined": 16, "rx": 0, "tx": 0, "other": 0}
before:
  description: Channel counts before the task.
  returned: success
  type: dict
  sample: {"combined": 8, "rx": 0, "tx": 0, "other": 0}
after:
  description: Channel counts after the task (same as C(channels)).
  returned: success
  type: dict
  sample: {"combined": 16, "rx": 0, "tx": 0, "other": 0}
actions:
  description: The changes made, or that would be made in check mode, with the command for each.
  returned: always
  type: list
  elements: dict
  sample: [{"op": "channels", "command": "ethtool -L eth0 combined 16", "summary": "set channels of eth0: combined 8 -> 16"}]
"""

from ansible.module_utils.basic import AnsibleModule

# first: it serves the collection's other module_utils from code compiled by an earlier run
from ansible_collections.vmnet.netkit.plugins.module_utils import bytecode_cache  # pylint: disable=unused-import
from ansible_collections.vmnet.netkit.plugins.module_utils import arg_specs
from ansible_collections.vmnet.netkit.plugins.module_utils.nic import service as nic_service


def main():
    module = AnsibleModule(
        argument_spec=dict(
            arg_specs.NIC_DEVICE,
            combined=dict(type="int"),
            rx=dict(type="int"),
            tx=dict(type="int"),
            other=dict(type="int"),
        ),
        supports_check_mode=True,
    )
    nic_service.run_from_module(module, nic_service.run_channels, check_mode=module.check_mode, diff=module._diff)


if __name__ == "__main__":
    main()
