#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmnet.netkit collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ntuple_rules
short_description: Manage ntuple flow steering rules of a NIC
version_added: "0.1.0"
description:
  - Adds and deletes ntuple (RX classification) rules that steer matching flows to an RSS context, to a queue,
    or drop them, like C(ethtool -N).
  - A rule's identity is its match (flow type, addresses, ports), not its location; a rule with the same
    match and another action is replaced.
  - I(context) may name a context managed by M(vmnet.netkit.rss_contexts). The name is resolved through the
    host's record, checked against the NIC, so rules follow a context that was recreated under another id.
  - Turns the C(ntuple-filters) feature on when rules need it.
  - Reads and writes every rule through the SIOCETHTOOL ioctl, the call C(ethtool -N) makes, with the flow
    spec it builds (no process per rule).
options:
  rules:
    description:
      - The rules. Each needs exactly one of I(context), I(queue) or I(drop=true), except with I(state=deleted),
        where only the match counts.
    type: list
    elements: dict
    suboptions:
      flow_type:
        description: What kind of packets the rule matches.
        type: str
        required: true
        choices: [ip4, ip6, tcp4, udp4, sctp4, tcp6, udp6, sctp6]
      src_ip:
        description: Source address (C(10.0.0.2)) or prefix (C(10.0.0.0/24)); any when omitted.
        type: str
      dst_ip:
        description: Destination address or prefix; any when omitted.
        type: str
      src_port:
        description: Source port (tcp, udp and sctp flow types only).
        type: int
      dst_port:
        description: Destination port (tcp, udp and sctp flow types only).
        type: int
      context:
        description: RSS context to steer to, by name (from M(vmnet.netkit.rss_contexts)) or by numeric id.
        type: str
      queue:
        description: RX queue to steer to.
        type: int
      drop:
        description: Drop matching packets.
        type: bool
      loc:
        description:
          - Location in the NIC's rule table, which is also the priority (the lower location wins when rules overlap).
          - When omitted, ethtool picks one (the highest free slot) or the driver does.
        type: int
  state:
    description:
      - C(merged) adds the listed rules and replaces rules with the same match but another action;
        other rules stay.
      - C(replaced) is the same as C(merged) for this resource, since a rule is given in full by its match
        and action.
      - C(overridden) makes the listed rules the only ones, deleting every other rule on the device.
      - C(deleted) deletes the rules with the listed matches (all rules when none are listed).
      - C(gathered) returns the current rules; C(rendered) returns the ethtool commands without reading the NIC.
    type: str
    choices: [merged, replaced, overridden, deleted, gathered, rendered]
    default: merged
attributes:
  check_mode:
    support: full
    description: Validates and reports which rules would be added or deleted without changing anything.
  diff_mode:
    support: full
    description: Returns the rules before and after.
  platform:
    support: full
    platforms: linux
    description: NICs whose driver implements ntuple rules (get/set_rxnfc).
requirements:
  - Linux 6.1 or later.
  - The C(ethtool) command on the managed node (6.1 or later).
notes:
  - Steering to a context needs a driver with RSS contexts. Kernels 6.15 and later refuse a rule pointing at a
    context that does not exist; this module refuses it on every kernel.
  - Drivers treat duplicate matches differently (replace, refuse, or keep both); this module always deletes
    the old rule before adding the new one, then reads back.
  - Turning C(ntuple-filters) off (not done by this module) flushes the rules on several drivers.
seealso:
  - module: vmnet.netkit.rss_contexts
  - module: vmnet.netkit.nic_info
extends_documentation_fragment:
  - vmnet.netkit.attributes
  - vmnet.netkit.nic
author: vmnet.netkit maintainers (@vmnet)
"""

EXAMPLES = r"""
- name: Steer the VM's address to its slice
  vmnet.netkit.ntuple_rules:
    device: eth0
    rules:
      - flow_type: ip4
        dst_ip: 10.0.0.2
        context: vm1

- name: Web traffic of a prefix to queue 3, drop one UDP port
  vmnet.netkit.ntuple_rules:
    device: eth0
    rules:
      - flow_type: tcp4
        dst_ip: 10.0.1.0/24
        dst_port: 80
        queue: 3
      - flow_type: udp4
        dst_port: 9999
        drop: true

- name: Remove the VM's rule
  vmnet.netkit.ntuple_rules:
    device: eth0
    state: deleted
    rules:
      - flow_type: ip4
        dst_ip: 10.0.0.2
"""

RETURN = r"""
device:
  description: The device.
  returned: always
  type: str
  sample: eth0
rules:
  description: Every rule on the device after the task (as they would be, in check mode), with the context's name.
  returned: success
  type: list
  elements: dict
  sample: [{"loc": 1023, "flow_type": "ip4", "dst_ip": "10.0.0.2", "src_ip": null, "src_port": null,
            "dst_port": null, "context": 1, "context_name": "vm1", "queue": null, "drop": false, "extra": null}]
ntuple:
  description: State of the ntuple-filters feature after the task.
  returned: when state is merged, replaced, overridden or deleted
  type: dict
  sample: {"active": true, "fixed": false}
before:
  description: Rules before the task.
  returned: when state is not rendered
  type: list
  elements: dict
after:
  description: Rules after the task.
  returned: when state is not rendered
  type: list
  elements: dict
gathered:
  description: The current rules (I(state=gathered)).
  returned: when state is gathered
  type: list
  elements: dict
rendered:
  description: The ethtool commands for the listed rules (I(state=rendered)).
  returned: when state is rendered
  type: list
  elements: str
  sample: ["ethtool -N eth0 flow-type ip4 dst-ip 10.0.0.2 context 1"]
actions:
  description: Changes made, or that would be made in check mode, in order, each with its command.
  returned: always
  type: list
  elements: dict
notes:
  description:
    - What the task could not know. In check mode, a rule naming a context that is not recorded yet
      (one that M(vmnet.netkit.rss_contexts) creates on the real run, but not in check mode) is reported
      with the placeholder C(<id of NAME>) as its context, and a note says so; a real run refuses it.
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
    rule_options = dict(
        flow_type=arg_specs.FLOW_TYPE,
        src_ip=dict(type="str"),
        dst_ip=dict(type="str"),
        src_port=dict(type="int"),
        dst_port=dict(type="int"),
        context=dict(type="str"),
        queue=dict(type="int"),
        drop=dict(type="bool"),
        loc=dict(type="int"),
    )
    module = AnsibleModule(
        argument_spec=dict(
            arg_specs.NIC_DEVICE,
            rules=dict(type="list", elements="dict", options=rule_options,
                       mutually_exclusive=[["context", "queue", "drop"]]),
            state=arg_specs.RESOURCE_STATE,
        ),
        supports_check_mode=True,
    )
    nic_service.run_from_module(module, nic_service.run_rules, check_mode=module.check_mode, diff=module._diff)


if __name__ == "__main__":
    main()
