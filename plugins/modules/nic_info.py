#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmnet.netkit collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: nic_info
short_description: Read a NIC's channels, RSS tables, RSS contexts, ntuple rules and capabilities
version_added: "0.1.0"
description:
  - Returns, without changing anything, the channel counts (current and maximum), the C(ntuple-filters) feature,
    the default RSS table, every RSS context with its table (and its name when M(vmnet.netkit.rss_contexts)
    manages it), every ntuple rule, and what the NIC, the kernel and ethtool can do.
  - Reads through the SIOCETHTOOL ioctl and the ethtool netlink family (no process per context or rule);
    runs C(ethtool --version) once for the version.
attributes:
  platform:
    support: full
    platforms: linux
    description: Any Linux network device; parts the driver lacks are returned as C(null) or C(false).
requirements:
  - Linux 6.1 or later.
  - The C(ethtool) command on the managed node for C(capabilities.ethtool_version).
notes:
  - On kernels before 6.12, which cannot dump RSS contexts, context ids 1-64 and the ids in the host's record
    are probed one ioctl each.
  - The kernel does not report how many contexts a NIC allows; C(capabilities.max_contexts) is known only after
    the NIC refused one (M(vmnet.netkit.rss_contexts) records it), otherwise C(null).
seealso:
  - module: vmnet.netkit.nic_channels
  - module: vmnet.netkit.rss_contexts
  - module: vmnet.netkit.ntuple_rules
extends_documentation_fragment:
  - vmnet.netkit.attributes
  - vmnet.netkit.attributes.info_module
  - vmnet.netkit.nic
author: vmnet.netkit maintainers (@vmnet)
"""

EXAMPLES = r"""
- name: Read eth0
  vmnet.netkit.nic_info:
    device: eth0
  register: nic

- name: Fail early on a NIC without RSS contexts
  ansible.builtin.assert:
    that: nic.capabilities.contexts_supported
    fail_msg: "{{ nic.device }} ({{ nic.driver }}) cannot be sliced"
"""

RETURN = r"""
device:
  description: The device.
  returned: always
  type: str
  sample: eth0
driver:
  description: Driver name.
  returned: success
  type: str
  sample: mlx5_core
ifindex:
  description: Interface index (changes when the device is re-created).
  returned: success
  type: int
  sample: 3
channels:
  description: Channel counts, C(current) and C(max), each with C(combined), C(rx), C(tx), C(other); null if not supported.
  returned: success
  type: dict
  sample: {"current": {"combined": 16, "rx": 0, "tx": 0, "other": 0}, "max": {"combined": 16, "rx": 0, "tx": 0, "other": 0}}
rx_queues:
  description: Number of RX queues tables and rules can point at.
  returned: success
  type: int
  sample: 16
ntuple:
  description: The ntuple-filters feature, C(active) and C(fixed) (cannot be changed); null if unknown.
  returned: success
  type: dict
  sample: {"active": true, "fixed": false}
default:
  description: The default RSS table (C(table), C(queues), C(configured), C(hfunc), C(key), C(indir_size)); null without RSS.
  returned: success
  type: dict
  sample: {"queues": "0-13", "configured": true, "hfunc": "toeplitz", "indir_size": 128}
contexts:
  description: Every additional RSS context, with C(id), C(name) (null when not managed by name), C(queues), C(table),
    C(hfunc), C(key).
  returned: success
  type: list
  elements: dict
  sample: [{"id": 1, "name": "vm1", "queues": "14-15", "hfunc": "toeplitz"}]
context_names:
  description: Name to id of the managed contexts that the NIC confirms.
  returned: success
  type: dict
  sample: {"vm1": 1}
rules:
  description: Every ntuple rule, with C(loc), C(flow_type), C(src_ip), C(dst_ip), C(src_port), C(dst_port), C(context),
    C(context_name), C(queue), C(drop), and C(extra) describing match parts this collection does not manage.
  returned: success
  type: list
  elements: dict
capabilities:
  description:
    - C(rss), C(contexts_supported), C(max_contexts) (null if unknown), C(rules_supported), C(rule_table_size),
      C(driver_picks_location), C(ntuple_fixed), C(indir_size), C(key_size), C(ethtool_version), C(kernel_version),
      C(rss_netlink_dump) (RSS_GET dump, kernel 6.12+), C(read_with) (which interface each part was read with).
  returned: success
  type: dict
  sample: {"contexts_supported": true, "max_contexts": null, "rule_table_size": 1024, "driver_picks_location": false,
           "ethtool_version": "6.14.2", "kernel_version": "7.3.4+deb13-amd64", "rss_netlink_dump": true}
"""

from ansible.module_utils.basic import AnsibleModule

# first: it serves the collection's other module_utils from code compiled by an earlier run
from ansible_collections.vmnet.netkit.plugins.module_utils import bytecode_cache  # pylint: disable=unused-import
from ansible_collections.vmnet.netkit.plugins.module_utils import arg_specs
from ansible_collections.vmnet.netkit.plugins.module_utils.nic import service as nic_service


def main():
    module = AnsibleModule(
        argument_spec=dict(arg_specs.NIC_DEVICE),
        supports_check_mode=True,
    )
    nic_service.run_from_module(module, nic_service.run_info)


if __name__ == "__main__":
    main()
