# SPDX-License-Identifier: GPL-3.0-or-later
"""What the roles nic_slice, vm_network and slice_persistence cost on a lab node, beside provision.yml, for
1, 6 and 14 VMs: the first converge and a run that changes nothing, each with its seconds, the processes
started on the node (the kernel's fork counter) and the module runs on the node (host_network.py's
measures, the same callback).

usage: .venv/bin/python benchmarks/roles.py [--vms 1,6,14] [--repeat 3] [--out DIR]
Boots (or reuses) the lab node named "bench"; prints a table and writes DIR/results-roles.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import host_network as bench

# the play test_roles.py runs: plan on the controller, then the three roles
ROLES_PLAY = [{
    "name": "The host, one role per part", "hosts": "vm_hosts", "gather_facts": False, "become": True,
    "tasks": [
        {"name": "Plan", "ansible.builtin.set_fact": {"roles_plan": (
            "{{ vmnet_vms | vmnet.netkit.slice_plan(device=vmnet_nic, queues=vmnet_nic_queues, "
            "host_queues=vmnet_host_queues, subnets=vmnet_vm_subnets) }}")}},
        {"name": "NIC", "ansible.builtin.include_role": {"name": "vmnet.netkit.nic_slice"},
         "vars": {"nic_slice_plan": "{{ roles_plan }}"}},
        {"name": "VMs", "ansible.builtin.include_role": {"name": "vmnet.netkit.vm_network"},
         "vars": {"vm_network_plan": "{{ roles_plan }}"}},
        {"name": "Boot", "ansible.builtin.include_role": {"name": "vmnet.netkit.slice_persistence"},
         "vars": {"slice_persistence_plan": "{{ roles_plan }}", "slice_persistence_after": "{{ vmnet_reapply_after }}"}},
    ]}]
COLUMNS = ["provision.yml first", "provision.yml no-op", "roles first", "roles no-op"]


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--vms", default="1,6,14")
    parser.add_argument("--out", default=str(bench.ROOT / "benchmarks/results"))
    parser.add_argument("--node", default="bench")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    node = bench.Node(args.node)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        book = Path(tmp) / "roles.yml"
        book.write_text(json.dumps(ROLES_PLAY))
        prov = bench.ROOT / "playbooks/provision.yml"
        for count in [int(x) for x in args.vms.split(",")]:
            inv, _group = bench.inventory(tmp, node, count)
            row = {"vms": count, "samples": {}}
            bench.clean(node, inv)
            row["provision.yml first"] = bench.measured(node, lambda: bench.playbook(node, prov, inv))
            row["provision.yml no-op"] = bench.repeated(node, lambda: bench.playbook(node, prov, inv), args.repeat,
                                                        row["samples"].setdefault("provision.yml no-op", []))
            bench.clean(node, inv)
            row["roles first"] = bench.measured(node, lambda: bench.playbook(node, book, inv))
            row["roles no-op"] = bench.repeated(node, lambda: bench.playbook(node, book, inv), args.repeat,
                                                row["samples"].setdefault("roles no-op", []))
            bench.clean(node, inv)
            bench.report([row], header=not rows, columns=COLUMNS)
            rows.append(row)
    bench.save_results(args.out, "results-roles.json", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
