# SPDX-License-Identifier: GPL-3.0-or-later
"""The first converge and the no-op run of provision.yml against the raw floor, and, with --against, the
same for another checkout of the collection (an older commit in a git worktree), the two taking turns
so both see the machine at the same speed.

Each repetition, per checkout: a clean NIC, the raw write, the raw read, Ansible's floor, a clean NIC,
provision.yml's first run and its no-op re-run (host_network.py's rows, the same node and inventory).
Ansible's floor is what any Ansible run of one module costs here, whatever the module does: a play of
one ansible.builtin.ping task, run the way provision.yml is (become, no facts, its own SSH connection).
Prints every sample, the medians, and the ratios to the raw floor; writes DIR/results-first-converge.json.

usage: .venv/bin/python benchmarks/first_converge.py [--vms 6,14] [--repeat 3] [--against CHECKOUT] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import host_network as bench

ROWS = ["raw write", "raw read", "ansible floor", "collection first", "collection no-op"]


def collections_path(checkout, tmp, name):
    """An Ansible collections path holding ``checkout`` as vmnet.netkit."""
    base = Path(tmp) / ("collections-" + name)
    link = base / "ansible_collections" / "vmnet" / "netkit"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(Path(checkout).resolve())
    return base


def floor_playbook(tmp):
    """A play of one ansible.builtin.ping task, run as provision.yml is."""
    book = Path(tmp) / "ansible-floor.yml"
    book.write_text(json.dumps([{"name": "Ansible's floor", "hosts": "vm_hosts", "gather_facts": False,
                                 "become": True, "tasks": [{"name": "One module run", "ansible.builtin.ping": {}}]}]))
    return book


def one_round(node, inv, plan, samples, floor):
    bench.clean(node, inv)
    samples["raw write"].append(bench.measured(node, lambda: node.sh(bench.raw_write(node, plan)) and 0)[0])
    samples["raw read"].append(bench.measured(node, lambda: node.sh(bench.raw_read(node, plan)) and 0)[0])
    samples["ansible floor"].append(bench.measured(node, lambda: bench.playbook(node, floor, inv))[0])
    bench.clean(node, inv)
    prov = bench.COLLECTION / "playbooks/provision.yml"
    samples["collection first"].append(bench.measured(node, lambda: bench.playbook(node, prov, inv))[0])
    samples["collection no-op"].append(bench.measured(node, lambda: bench.playbook(node, prov, inv))[0])


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--vms", default="6,14")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--against", help="another checkout of the collection, measured in turns with this one")
    parser.add_argument("--node", default="bench")
    parser.add_argument("--out", default=str(bench.ROOT / "benchmarks/results"))
    args = parser.parse_args(argv)
    node = bench.Node(args.node)
    bench.prepare_raw(node)
    checkouts = [("this", bench.ROOT)] + ([("against", Path(args.against))] if args.against else [])
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        floor = floor_playbook(tmp)
        for count in [int(x) for x in args.vms.split(",")]:
            inv, group = bench.inventory(tmp, node, count)
            plan = bench.plan_for(group, node)
            per = dict((name, dict((row, []) for row in ROWS)) for name, _path in checkouts)
            for _round in range(args.repeat):
                for name, path in checkouts:
                    bench.use_collection(path, collections_path(path, tmp, name))
                    one_round(node, inv, plan, per[name], floor)
            bench.use_collection(bench.ROOT, bench.ROOT / ".build/collections")
            bench.clean(node, inv)
            for name, path in checkouts:
                med = dict((row, statistics.median(values)) for row, values in per[name].items())
                entry = {"vms": count, "checkout": str(path), "samples": per[name], "median": med,
                         "first / raw write": med["collection first"] / med["raw write"],
                         "no-op / raw read": med["collection no-op"] / med["raw read"],
                         "ansible floor / raw write": med["ansible floor"] / med["raw write"]}
                results.append(entry)
                print("%2d VMs  %-7s " % (count, name) + "  ".join(
                    "%s %s (median %.2f)" % (row, ", ".join("%.2f" % v for v in per[name][row]), med[row])
                    for row in ROWS))
                print("%2d VMs  %-7s first / raw write %.2f   no-op / raw read %.2f   ansible floor / raw write %.2f"
                      % (count, name, entry["first / raw write"], entry["no-op / raw read"],
                         entry["ansible floor / raw write"]))
                sys.stdout.flush()
    bench.save_results(args.out, "results-first-converge.json", results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
