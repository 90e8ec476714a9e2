#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmnet.netkit collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: netkit_link
short_description: Manage netkit devices, optionally bound to a NIC's receive queues
version_added: "0.1.0"
description:
  - Creates, changes and removes netkit devices (pairs or single devices) over rtnetlink, including what
    C(ip link) cannot set (single mode, head- and tailroom).
  - With O(lower), the device owns receive queues of a physical NIC, so qemu can open it with
    C(-netdev af-xdp). On kernels with upstream queue leasing (Linux 7.1+) the device is created with enough
    receive queues and each NIC queue is leased to it with the netdev generic netlink command C(queue-create).
    On a kernel that has the netkit C(IFLA_NETKIT_LOWERDEV) attribute instead, that attribute is used.
    On any other kernel the module fails before creating anything and names the missing feature.
  - The kernel silently ignores netkit attributes it does not know, so the module sends an attribute only when
    the kernel has shown it understands it (its BTF enumeration, or a netkit device reporting it), reads every
    attribute back after a change and, when one was not applied, removes the half-made device and fails.
  - Only the policies (and the generic link settings O(up), O(mtu), O(address), O(netns)) change on a live
    device. Any other difference is refused with a message naming the attribute, unless O(recreate=true).
  - Options left unset are not managed; at creation the kernel's defaults apply (mode l3, pairing pair,
    policy pass, scrub default).
options:
  name:
    description:
      - Name of the netkit device (the primary of a pair). At most 15 characters.
      - The module creates, changes and deletes only netkit devices. A device of that name that is not netkit
        (a NIC, a veth, a bridge, a bond, a VLAN) or that is the peer of a pair is refused and left untouched,
        whatever O(state) and O(recreate) say.
    type: str
    required: true
  state:
    description: V(present) creates or changes the device, V(absent) deletes it (a pair's peer and all leases go with it).
    type: str
    choices: [present, absent]
    default: present
  mode:
    description: Layer the device works at. V(l2) devices have MAC addresses.
    type: str
    choices: [l2, l3]
  pairing:
    description:
      - V(pair) creates a primary and its peer; V(single) creates one device without peer (Linux 7.1+), the kind
        that can own leased NIC queues and serve AF_XDP.
      - Unset with O(lower) means V(single) on kernels that have single mode (the pairing the binding needs);
        unset otherwise leaves the kernel's default (V(pair)) at creation.
    type: str
    choices: [pair, single]
  policy:
    description: Default action of the primary when no BPF program decides. A single device allows only V(pass).
    type: str
    choices: [pass, drop]
  scrub:
    description: Whether packets leaving the primary get their skb metadata scrubbed (Linux 6.13+).
    type: str
    choices: [none, default]
  headroom:
    description: Extra headroom the device asks of the stack, in bytes (Linux 6.14+).
    type: int
  tailroom:
    description: Extra tailroom the device asks of the stack, in bytes (Linux 6.14+).
    type: int
  mtu:
    description: MTU of the primary.
    type: int
  address:
    description:
      - MAC address of the primary (O(mode=l2) only).
      - Set it explicitly, because an L2 netkit device otherwise gets a random address that udev's
        C(MACAddressPolicy=persistent) may rewrite.
    type: str
  numrxqueues:
    description:
      - Number of receive queues the device is created with. With O(lower) and queue leasing it defaults to one
        more than the number of leased queues (netkit keeps queue 0 for itself).
    type: int
  netns:
    description: Name of the network namespace (C(/run/netns/NAME)) the device lives in; unset means the module's.
    type: str
  up:
    description: Bring the device up (V(true)) or down (V(false)); unset leaves it as it is.
    type: bool
  peer:
    description: The peer of a pair (not allowed with O(pairing=single)).
    type: dict
    suboptions:
      name:
        description: Name of the peer (the kernel picks C(nkN) when unset).
        type: str
      netns:
        description: Network namespace the peer is created in.
        type: str
      policy:
        description: Default action of the peer.
        type: str
        choices: [pass, drop]
      scrub:
        description: Scrubbing of packets leaving the peer (Linux 6.13+).
        type: str
        choices: [none, default]
      address:
        description: MAC address of the peer (O(mode=l2) only).
        type: str
  lower:
    description:
      - The NIC queues this device owns. Needs O(pairing=single) on kernels with upstream queue leasing (the
        default when O(pairing) is unset).
      - The NIC's queues C(from..to) become the device's queues C(1..n) (returned as RV(queues) and RV(queue_map)).
        A lease ends only when the device is deleted, and the NIC cannot drop a leased queue (C(ethtool -L) is refused).
    type: dict
    suboptions:
      device:
        description: The physical NIC lending the queues.
        type: str
        required: true
      queues:
        description:
          - First and last NIC receive queue, inclusive. Queue 0 stays with the host (it takes the NIC's
            unsteered traffic), so the range starts at 1 or later.
        type: list
        elements: int
        required: true
      binding:
        description:
          - How the queues are bound. V(lowerdev) creates the device and binds the whole range in one request
            with C(IFLA_NETKIT_LOWERDEV) (a kernel built with C(kernel/build)), so it gets all queues or no device is left.
            V(lease) leases each queue with the netdev C(queue-create) command after creating the device
            (upstream Linux 7.1+). V(auto) uses V(lowerdev) where the kernel has shown it has it (its BTF),
            else V(lease).
          - Either way the NIC queues become the device's queues C(1..n) and read back the same way; an existing
            device is not recreated because it was bound the other way.
          - A binding the kernel lacks is an error naming what is missing.
        type: str
        choices: [auto, lease, lowerdev]
        default: auto
  recreate:
    description:
      - Delete and recreate the device (leases included) when an attribute that cannot change on a live device
        differs. Traffic through the device stops meanwhile and a VM using it must reopen it.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports the actions it would take; the netkit queue ids of leases not yet made are the ones the kernel will assign (1..n).
  diff_mode:
    support: full
    description: Shows the device before and after.
  platform:
    support: full
    platforms: linux
    description: Linux hosts with netkit.
requirements:
  - Linux 6.7 or later with netkit (C(CONFIG_NETKIT)); single mode and queue leasing need Linux 7.1.
  - Neither pyroute2 nor iproute2 (the module speaks rtnetlink and netdev generic netlink itself).
notes:
  - Runs as root (CAP_NET_ADMIN).
  - Capabilities come from C(/sys/kernel/btf/vmlinux); without BTF only the attributes every netkit kernel knows are
    sent, unless a netkit device on the host shows more.
seealso:
  - module: vmnet.netkit.netkit_info
  - module: vmnet.netkit.rss_contexts
  - module: vmnet.netkit.ntuple_rules
extends_documentation_fragment:
  - vmnet.netkit.attributes
author: vmnet.netkit maintainers (@vmnet)
"""

EXAMPLES = r"""
- name: A VM's netkit device owning NIC queues 14 and 15 (the VM's RSS context)
  vmnet.netkit.netkit_link:
    name: nk-vm1
    pairing: single
    mode: l2
    address: "52:54:00:12:34:56"
    lower:
      device: eth0
      queues: [14, 15]
    up: true
  register: nk

- name: Hand qemu the netkit queue ids
  ansible.builtin.debug:
    msg: "-netdev af-xdp,id=net0,ifname=nk-vm1,queues={{ nk.queues | length }},start-queue={{ nk.queues[0] }}"

- name: An L3 pair, the peer in a namespace
  vmnet.netkit.netkit_link:
    name: nk0
    mode: l3
    peer:
      name: nk0-peer
      netns: blue
    up: true

- name: Drop by default on the primary (changes in place)
  vmnet.netkit.netkit_link:
    name: nk0
    policy: drop

- name: Remove a device and its leases
  vmnet.netkit.netkit_link:
    name: nk-vm1
    state: absent
"""

RETURN = r"""
actions:
  description: What was done, in order (or would be done in check mode).
  returned: always
  type: list
  elements: str
  sample: ["create netkit device nk-vm1 (mode l2, pairing single)", "lease eth0 rx queue 14 to nk-vm1 (netkit queue 1)"]
device:
  description:
    - The device after the task (empty when absent), with C(name), C(ifindex), C(netns), C(mode), C(pairing), C(policy),
      C(scrub), C(headroom), C(tailroom), C(mtu), C(address), C(numrxqueues), C(up), C(peer_name), C(peer_policy),
      C(peer_scrub), and C(leased) (C(nic_queues) and the device's C(queues)).
  returned: always
  type: dict
queues:
  description: The device's queue ids that own the NIC queues, in NIC queue order (qemu's C(start-queue) is the first).
  returned: always
  type: list
  elements: int
  sample: [1, 2]
queue_map:
  description: Each device queue with the NIC queue it owns.
  returned: always
  type: list
  elements: dict
  sample: [{"queue": 1, "lower_queue": 14}, {"queue": 2, "lower_queue": 15}]
binding:
  description: How the NIC queues were bound (V(lease) or V(lowerdev)); null without O(lower).
  returned: always
  type: str
  sample: lowerdev
capabilities:
  description: What the kernel can do (see M(vmnet.netkit.netkit_info)).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

# first: it serves the collection's other module_utils from code compiled by an earlier run
from ansible_collections.vmnet.netkit.plugins.module_utils import bytecode_cache  # pylint: disable=unused-import
from ansible_collections.vmnet.netkit.plugins.module_utils import arg_specs
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import ValidationError
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import service as netkit_service


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            mode=dict(type="str", choices=["l2", "l3"]),
            pairing=dict(type="str", choices=["pair", "single"]),
            policy=arg_specs.POLICY,
            scrub=arg_specs.SCRUB,
            headroom=dict(type="int"),
            tailroom=dict(type="int"),
            mtu=dict(type="int"),
            address=dict(type="str"),
            numrxqueues=dict(type="int"),
            netns=dict(type="str"),
            up=dict(type="bool"),
            peer=dict(type="dict", options=dict(
                name=dict(type="str"),
                netns=dict(type="str"),
                policy=arg_specs.POLICY,
                scrub=arg_specs.SCRUB,
                address=dict(type="str"),
            )),
            lower=arg_specs.NETKIT_LOWER,
            recreate=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    _check_input(module)
    netkit_service.run_from_module(module, netkit_service.run_link, check_mode=module.check_mode,
                                   diff=module._diff)


def _check_input(module):
    p = module.params
    try:
        netkit_service.check_lower_queues(p.get("lower"))
    except ValidationError as err:
        module.fail_json(msg=str(err))
    for opt in ("headroom", "tailroom"):
        if p.get(opt) is not None and not 0 <= p[opt] <= 65535:
            module.fail_json(msg="%s: must be 0..65535 bytes (got %s)" % (opt, p[opt]))
    if p.get("mtu") is not None and not 68 <= p["mtu"] <= 65535:
        module.fail_json(msg="mtu: must be 68..65535 (got %s)" % p["mtu"])
    if p.get("numrxqueues") is not None and not 1 <= p["numrxqueues"] <= 1024:
        module.fail_json(msg="numrxqueues: must be 1..1024 (got %s)" % p["numrxqueues"])
    for opt, value in (("address", p.get("address")), ("peer.address", (p.get("peer") or {}).get("address"))):
        if value is not None and not _is_unicast_mac(value):
            module.fail_json(msg="%s: %r is not a unicast MAC address like 52:54:00:12:34:56" % (opt, value))


def _is_unicast_mac(text):
    parts = text.split(":")
    if len(parts) != 6 or not all(len(x) == 2 for x in parts):
        return False
    try:
        first = int(parts[0], 16)
        [int(x, 16) for x in parts]
    except ValueError:
        return False
    return not first & 1 and text.lower() != "00:00:00:00:00:00"


if __name__ == "__main__":
    main()
