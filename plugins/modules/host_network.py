#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmnet.netkit collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_network
short_description: Converge a whole VM host's NIC slices, netkit devices and qemu arguments in one call
version_added: "0.2.0"
description:
  - Takes one host's inventory (O(inventory), planned on the node) or its plan (O(plan), the output of the
    P(vmnet.netkit.slice_plan#filter) filter) and brings the host to it in one process on the node, in this
    order. The netkit devices of VMs that the recorded plan has and this plan has not are removed first.
    Then the NIC's channel count, default RSS table, the VMs' RSS contexts, the ntuple rules that steer each
    VM's addresses to its context, and the removal of contexts no VM uses.
    Then each VM's netkit device with its NIC queues (queue leasing or C(IFLA_NETKIT_LOWERDEV), whichever the
    kernel has). Then the XDP program on the NIC whose map qemu puts its AF_XDP sockets in. Then each VM's qemu
    arguments (C(VM.args), C(VM.xml)), the plan record, and the boot-time re-apply.
  - Each resource goes through the same code as its own module (M(vmnet.netkit.nic_channels),
    M(vmnet.netkit.rss_contexts), M(vmnet.netkit.ntuple_rules), M(vmnet.netkit.netkit_link)), so the checks,
    refusals and read-backs are the same.
  - A run that changes nothing starts no process on the node. Commands are started only to change something
    and are returned in RV(commands).
  - One run at a time per host; a second one waits for the first (O(lock_timeout)).
options:
  inventory:
    description:
      - The host's NIC and VMs, as the P(vmnet.netkit.slice_plan#filter) filter takes them. The module plans them on
        the node, against the plan the host was last converged to (read under the run's lock), with the same
        planner as the filter, so a VM keeps its queues, MAC and allocated addresses; the plan is returned in
        RV(plan). Errors name the option under C(inventory), for example C(inventory.vms[1].queues).
      - One of O(inventory) and O(plan) is required with O(state=present) (but see O(parts)); with O(state=gathered) either names
        the plan whose device is read (the recorded plan when both are unset).
    type: dict
    suboptions:
      device:
        description: The NIC to slice.
        type: str
        required: true
      queues:
        description: The NIC's combined channel count in the plan.
        type: int
        required: true
      host_queues:
        description: Queues C(0..host_queues-1) stay with the host (the default RSS table).
        type: int
        required: true
      subnets:
        description:
          - The host's VM subnets; VMs without an address of a family get one from them, and given addresses must
            lie inside them.
          - Each is a network in CIDR form (C(10.0.0.0/24), addresses from its third one up), or an address pool
            C({network, range, exclude}) (C(range) the addresses VMs get, C(exclude) a list of addresses VMs
            never get; each an address, a range C(FIRST-LAST) or a network in CIDR form inside C(network)), as in
            C(docs/planning.md).
        type: list
        elements: raw
        default: []
      vms:
        description: The VMs, each C({name, queues, addresses, mac}), as in C(docs/planning.md).
        type: list
        elements: dict
        required: true
  plan:
    description:
      - The host's plan, from the P(vmnet.netkit.slice_plan#filter) filter (for plays that plan on the controller).
      - With O(state=gathered), the plan whose device is read.
    type: dict
  state:
    description:
      - V(present) converges the host to O(inventory) or O(plan).
      - V(absent) tears down everything the recorded plan names, in reverse order, the boot-time re-apply first.
        Without a plan record it takes what to remove from the boot-time re-apply's record, that is from the
        plan saved there or, on a host that older versions of the roles C(vmnet.netkit.nic_slice),
        C(vmnet.netkit.vm_network) and C(vmnet.netkit.slice_persistence) set up, from the module calls they saved.
      - V(gathered) only reads the NIC, the netkit devices and the XDP attachment (for drift reports).
    type: str
    choices: [present, absent, gathered]
    default: present
  binding:
    description:
      - How each VM's netkit device binds its NIC queues, as O(vmnet.netkit.netkit_link#module:lower.binding) of
        M(vmnet.netkit.netkit_link). V(auto) uses C(IFLA_NETKIT_LOWERDEV) where the kernel has it, else queue leasing.
    type: str
    choices: [auto, lease, lowerdev]
    default: auto
  xdp:
    description: Load the XDP program that feeds the VMs' AF_XDP sockets on the NIC and name its map in the qemu arguments.
    type: bool
    default: true
  xdp_mode:
    description: AF_XDP bind mode qemu is told to use.
    type: str
    choices: [native, skb]
    default: native
  install_tools:
    description:
      - Install C(bpftool) with C(apt-get) when the XDP program has to be loaded and the host has none.
        Nothing is installed on a run that finds the program loaded.
    type: bool
    default: true
  persistent:
    description:
      - Install the boot-time re-apply (a systemd unit that runs this module's code on the saved plan before
        VM services start); V(false) removes it.
    type: bool
    default: true
  reapply_after:
    description: Units the boot-time re-apply runs after (for example the unit that creates the NIC).
    type: list
    elements: str
    default: []
  reapply_before:
    description: Units the boot-time re-apply runs before (the VM services).
    type: list
    elements: str
    default: [libvirtd.service, virtqemud.service]
  device_timeout:
    description: Seconds the re-apply waits at boot for the NIC to appear.
    type: int
    default: 60
  lock_timeout:
    description: Seconds to wait for another run on the same host to finish before giving up.
    type: int
    default: 300
  state_dir:
    description: Where the plan record, the slice record and the re-apply record are kept.
    type: path
    default: /var/lib/vmnet-netkit
  qemu_dir:
    description: Where each VM's qemu arguments are written (C(VM.args) one argument per line, C(VM.xml) libvirt).
    type: path
    default: /etc/vmnet-netkit/qemu
  lib_dir:
    description: Where the XDP program object and the re-apply's code are kept.
    type: path
    default: /usr/lib/vmnet-netkit
  bpf_dir:
    description: bpffs directory of the pinned XDP program and map (one subdirectory per NIC).
    type: path
    default: /sys/fs/bpf/vmnet-netkit
  unit_dir:
    description: systemd unit directory of the re-apply unit.
    type: path
    default: /etc/systemd/system
  remove_strays:
    description:
      - Also remove what C(verify.yml) reports as not made by the collection, before anything is made that could
        overlap it. With V(nic) in O(parts), the RSS contexts on the NIC that no record of the collection names
        and the ntuple rules that do not steer to one of the collection's contexts (rules to a queue, drop rules,
        rules to someone else's contexts). With V(vms), the netkit devices in the host's namespace named like a
        VM's (C(nk-...)) that no VM of the plan has; one that a process (a VM's qemu) uses stays, with a warning.
      - V(false) leaves all of them alone (they are someone else's), as every run does unless told otherwise.
        Devices of other kinds are never touched.
    type: bool
    default: false
  parts:
    description:
      - What of the host a run with O(state=present) converges. V(nic) is the NIC's channel count, default RSS
        table, the VMs' RSS contexts and ntuple rules. V(vms) is each VM's netkit device with its NIC queues, the
        XDP program and the qemu argument files. V(reapply) is the boot-time re-apply (installed with
        O(persistent=true), removed with O(persistent=false)); left out, the re-apply is left as it is.
      - A VM that the recorded plan has and this plan has not is removed whole (its netkit device, rules,
        context and qemu files) by any run with V(nic) or V(vms); a VM is on the host or it is not. The plan
        record is written by such runs.
      - The roles C(vmnet.netkit.nic_slice) (V(nic)), C(vmnet.netkit.vm_network) (V(vms)) and
        C(vmnet.netkit.slice_persistence) (V(reapply)) each converge one part. The boot-time re-apply converges
        V(nic) and V(vms).
      - With only V(reapply) and O(persistent=false), neither O(inventory) nor O(plan) is needed.
    type: list
    elements: str
    choices: [nic, vms, reapply]
    default: [nic, vms, reapply]
attributes:
  check_mode:
    support: full
    description: Reports every action it would take; contexts it would create have no kernel id yet.
  diff_mode:
    support: full
    description: One before/after for the whole host, keyed by resource.
  platform:
    support: full
    platforms: linux
    description: Linux VM hosts with netkit (Linux 6.7+); NIC queue bindings need queue leasing or LOWERDEV.
requirements:
  - C(ethtool) for channel, ntuple feature and (before Linux 6.17) RSS changes; C(bpftool) to load the XDP program
    (only when it is not loaded yet; the module attaches it over rtnetlink); C(systemctl) for the boot-time re-apply.
notes:
  - Runs as root (CAP_NET_ADMIN, bpffs).
seealso:
  - module: vmnet.netkit.nic_channels
  - module: vmnet.netkit.rss_contexts
  - module: vmnet.netkit.ntuple_rules
  - module: vmnet.netkit.netkit_link
extends_documentation_fragment:
  - vmnet.netkit.attributes
author: vmnet.netkit maintainers (@vmnet)
"""

EXAMPLES = r"""
- name: Plan the host's slices from its inventory and converge the whole host, in one call
  vmnet.netkit.host_network:
    inventory:
      device: eth0
      queues: 16
      host_queues: 8
      subnets:
        - fd00:10::/64
        # VMs without an IPv4 address get one of .100 to .199, never .150
        - {network: 10.0.0.0/24, range: 10.0.0.100-10.0.0.199, exclude: [10.0.0.150]}
      vms:
        - {name: vm1, queues: 1, addresses: [10.0.0.2]}
        - {name: vm2, queues: 2}
  register: host

- name: Each VM's queues and qemu arguments
  ansible.builtin.debug:
    msg: "{{ item.key }}: NIC queues {{ host.plan.vms[item.key].queues | join('..') }}, {{ item.value | join(' ') }}"
  loop: "{{ host.qemu_args | dict2items }}"

- name: Or plan on the controller (the same planner) and converge that plan
  vmnet.netkit.host_network:
    plan: "{{ [{'name': 'vm1', 'queues': 1}] | vmnet.netkit.slice_plan(device='eth0', queues=16, host_queues=8) }}"

- name: Or one part at a time, as the roles do - the NIC's slices first (VMs that left go whole)
  vmnet.netkit.host_network:
    plan: "{{ [{'name': 'vm1', 'queues': 1}] | vmnet.netkit.slice_plan(device='eth0', queues=16, host_queues=8) }}"
    parts: [nic]

- name: Remove the boot-time re-apply only (no plan needed)
  vmnet.netkit.host_network:
    parts: [reapply]
    persistent: false

- name: Read what verify.yml compares with the plan
  vmnet.netkit.host_network:
    inventory:
      device: eth0
      queues: 16
      host_queues: 8
      vms: [{name: vm1, queues: 1}]
    state: gathered
  register: gathered

- name: Tear the host down (everything the recorded plan names)
  vmnet.netkit.host_network:
    state: absent
"""

RETURN = r"""
plan:
  description: The plan the host was converged to (or read against), as the P(vmnet.netkit.slice_plan#filter) filter returns it.
  returned: state is present or gathered
  type: dict
actions:
  description: What was done (or would be in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["set eni1np1 combined channels 16", "create netkit device nk-vm1 (mode l2, pairing single, numrxqueues 2)"]
commands:
  description: The commands started on the node, in order (none on a run that changes nothing).
  returned: always
  type: list
  elements: str
vms:
  description:
    - Per VM, its netkit device, the device's queue ids (from the kernel), the NIC queue each owns, the binding used
      (V(lease) or V(lowerdev)), and its qemu arguments.
  returned: state is present
  type: dict
qemu_args:
  description: Each VM's qemu arguments (C(-netdev af-xdp,...) and C(-device ...)); empty when O(parts) leaves out V(vms).
  returned: state is present
  type: dict
libvirt:
  description: Each VM's libvirt domain XML snippet (the content of C(VM.xml)); empty when O(parts) leaves out V(vms).
  returned: state is present
  type: dict
notes:
  description:
    - Things worth knowing that are not changes (also given as warnings), among them a NIC without AF_XDP zero-copy
      and a qemu on the host without C(-netdev af-xdp) or without its C(map-path) options (see RV(qemu)).
  returned: always
  type: list
  elements: str
qemu:
  description:
    - The host's qemu system emulator for its architecture, read when the VMs' arguments name the pinned map (O(xdp)
      and O(parts) with V(vms)); null when the host has none or it was not read. C(af_xdp) and C(map_path) say
      whether the binary has C(-netdev af-xdp) and its C(map-path)/C(map-start-index) options (names of its QAPI
      schema, read from the binary); a qemu without them is named in RV(notes). Read once per qemu binary (kept in
      C(/run/vmnet-netkit/qemu.json)).
  returned: state is present
  type: dict
  sample: {"binary": "/usr/bin/qemu-system-x86_64", "version": "10.1.0", "af_xdp": true, "map_path": true}
nic:
  description: The NIC as M(vmnet.netkit.nic_info) returns it.
  returned: state is gathered
  type: dict
netkit:
  description: The netkit devices as M(vmnet.netkit.netkit_info) returns them.
  returned: state is gathered
  type: dict
xdp:
  description: The NIC's XDP attachment (C(mode), C(prog_id)), or null.
  returned: state is gathered
  type: dict
xdp_features:
  description:
    - The NIC's XDP features as the kernel reports them (netdev C(dev-get)), for example C(basic),
      C(redirect), C(ndo-xmit), C(xsk-zerocopy); null where the kernel cannot tell (before Linux 6.3).
    - Without C(xsk-zerocopy) the VMs' AF_XDP sockets bind in copy mode, which receives but cannot send
      through a single-mode netkit device.
  returned: state is gathered
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

# first: it serves the collection's other module_utils from code compiled by an earlier run
from ansible_collections.vmnet.netkit.plugins.module_utils import bytecode_cache  # pylint: disable=unused-import
from ansible_collections.vmnet.netkit.plugins.module_utils import arg_specs
from ansible_collections.vmnet.netkit.plugins.module_utils.host import engine as host_engine
# imported so that the code packed for the boot-time re-apply (host.engine.own_code) holds it
from ansible_collections.vmnet.netkit.plugins.module_utils.host import reapply  # pylint: disable=unused-import
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import NetkitError

ARGUMENT_SPEC = dict(
    inventory=dict(type="dict", options=dict(
        device=dict(type="str", required=True),
        queues=dict(type="int", required=True),
        host_queues=dict(type="int", required=True),
        subnets=dict(type="list", elements="raw", default=[]),
        vms=dict(type="list", elements="dict", required=True),
    )),
    plan=dict(type="dict"),
    state=dict(type="str", choices=["present", "absent", "gathered"], default="present"),
    binding=arg_specs.BINDING,
    xdp=dict(type="bool", default=True),
    xdp_mode=dict(type="str", choices=["native", "skb"], default="native"),
    install_tools=dict(type="bool", default=True),
    persistent=dict(type="bool", default=True),
    reapply_after=dict(type="list", elements="str", default=[]),
    reapply_before=dict(type="list", elements="str", default=["libvirtd.service", "virtqemud.service"]),
    device_timeout=dict(type="int", default=60),
    lock_timeout=dict(type="int", default=300),
    state_dir=dict(type="path", default="/var/lib/vmnet-netkit"),
    qemu_dir=dict(type="path", default="/etc/vmnet-netkit/qemu"),
    lib_dir=dict(type="path", default="/usr/lib/vmnet-netkit"),
    bpf_dir=dict(type="path", default="/sys/fs/bpf/vmnet-netkit"),
    unit_dir=dict(type="path", default="/etc/systemd/system"),
    parts=dict(type="list", elements="str", choices=list(host_engine.PARTS), default=list(host_engine.PARTS)),
    remove_strays=dict(type="bool", default=False),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=[("inventory", "plan")],
                           supports_check_mode=True)
    for option in ("device_timeout", "lock_timeout"):
        if module.params[option] < 0:
            module.fail_json(msg="%s: must be 0 or more seconds (got %d)" % (option, module.params[option]))
    io = host_engine.HostIO(run=lambda argv: module.run_command(argv, environ_update={"LC_ALL": "C"}))
    try:
        result = host_engine.converge(module.params, io, check_mode=module.check_mode)
    except NetkitError as err:
        details = dict(err.details)
        details.setdefault("actions", [])
        module.fail_json(msg=str(err), commands=[" ".join(c) for c in io.all_commands()], **details)
    finally:
        io.close()
    if not module._diff:
        result.pop("diff", None)
    for note in result.get("notes") or []:
        module.warn(note)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
