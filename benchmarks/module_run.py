# SPDX-License-Identifier: GPL-3.0-or-later
"""host_network's first converge on the node alone, for this checkout and another one, in turns.

The end-to-end rows of first_converge.py add the controller's start and the SSH session, whose time
moves by tenths of a second from run to run on this machine. This one takes the AnsiballZ file each
checkout's provision.yml sends (kept on the node with ANSIBLE_KEEP_REMOTE_FILES), and runs it on the
node from a clean NIC, timed there with ``date``; the processes it starts are counted by the node's
kernel (``processes`` in /proc/stat, before and after). Prints every sample and the medians; writes
DIR/results-module-run.json.

usage: .venv/bin/python benchmarks/module_run.py --against CHECKOUT [--vms 6,14] [--rounds 8] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import first_converge
import host_network as bench

ANSIBALLZ = re.compile(r"/root/\.ansible/tmp/ansible-tmp-[^ /']*/AnsiballZ_host_network\.py")
# one run of the kept module file on the node: milliseconds, then processes started
TIMED = ("cd {dir}; p0=$(awk '/^processes/ {{print $2}}' /proc/stat); s=$(date +%s%N); "
         "python3 {file} >/dev/null 2>&1 </dev/null; e=$(date +%s%N); "
         "p1=$(awk '/^processes/ {{print $2}}' /proc/stat); echo $(( (e - s) / 1000000 )) $(( p1 - p0 ))")


def kept_module(node, inv):
    """Run provision.yml once from a clean NIC, keeping the module file on the node; -> its path."""
    bench.clean(node, inv)
    argv = [str(bench.VENV / "bin/ansible-playbook"), "-vvv", "-i", node.inventory, "-i", str(inv),
            str(bench.COLLECTION / "playbooks/provision.yml")]
    env = bench.env()
    env.update({"ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_PIPELINING": "False"})
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout
    return sorted(set(ANSIBALLZ.findall(out)))[0]


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--against", required=True, help="another checkout of the collection")
    parser.add_argument("--vms", default="6,14")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--node", default="bench")
    parser.add_argument("--out", default=str(bench.ROOT / "benchmarks/results"))
    args = parser.parse_args(argv)
    node = bench.Node(args.node)
    checkouts = [("this", bench.ROOT), ("against", Path(args.against))]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in [int(x) for x in args.vms.split(",")]:
            inv, _group = bench.inventory(tmp, node, count)
            files = {}
            for name, path in checkouts:
                bench.use_collection(path, first_converge.collections_path(path, tmp, name))
                files[name] = kept_module(node, inv)
            bench.use_collection(bench.ROOT, bench.ROOT / ".build/collections")
            seconds = dict((name, []) for name in files)
            processes = dict((name, []) for name in files)
            for _round in range(args.rounds):
                for name, path in files.items():
                    bench.clean(node, inv)
                    ms, started = node.sh(TIMED.format(dir=os.path.dirname(path), file=path)).split()
                    seconds[name].append(int(ms) / 1000.0)
                    processes[name].append(int(started))
            bench.clean(node, inv)
            for name, path in checkouts:
                entry = {"vms": count, "checkout": str(path), "seconds": seconds[name],
                         "processes": processes[name], "median seconds": statistics.median(seconds[name]),
                         "median processes": statistics.median(processes[name])}
                results.append(entry)
                print("%2d VMs  %-7s module run %s (median %.2f s)  processes %s (median %d)" % (
                    count, name, " ".join("%.2f" % s for s in seconds[name]), entry["median seconds"],
                    " ".join(str(p) for p in processes[name]), entry["median processes"]))
                sys.stdout.flush()
    bench.save_results(args.out, "results-module-run.json", results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
