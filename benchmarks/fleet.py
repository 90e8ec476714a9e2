# SPDX-License-Identifier: GPL-3.0-or-later
"""How a run scales with hosts: a simulated fleet on one lab node, run with different forks.

Each simulated host is its own inventory host, and on the node it has
  - its own network namespace (fleetN) holding its own netdevsim NIC (fnicN, 8 queues),
  - its own state and qemu directories (bind mounts over /var/lib/vmnet-netkit and /etc/vmnet-netkit
    in a private mount namespace), so the records and the lock of one host are not another's,
  - its own Python interpreter path (a wrapper that enters both namespaces and starts python3), which
    Ansible uses for every module run on that host.
All of them reach the node over the same SSH port. For each forks value, from clean hosts, it measures
provision.yml (first run), a run that changes nothing, and verify.yml, over the whole fleet.

usage: .venv/bin/python benchmarks/fleet.py [--hosts 8] [--forks 1,4,8] [--vms 2] [--out DIR]
Boots (or reuses) the lab node named "bench"; prints a table and writes DIR/fleet.json (default DIR:
benchmarks/results).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host_network import ROOT, VENV, Node, env, save_results  # noqa: E402  pylint: disable=wrong-import-position

# Runs in a private mount namespace: the host's own state directories, then its network namespace.
ENTER = r'''#!/bin/sh
n=$1
shift
mount --bind /var/lib/vmnet-fleet/h$n/state /var/lib/vmnet-netkit
mount --bind /var/lib/vmnet-fleet/h$n/etc /etc/vmnet-netkit
exec ip netns exec fleet$n /usr/local/sbin/vmnet-fleet-python "$@"
'''
# ip netns exec mounts the namespace's own sysfs over /sys: the node's bpffs goes back in its place.
PYTHON = r'''#!/bin/sh
mount --bind /run/vmnet-fleet-bpf /sys/fs/bpf
exec /usr/bin/python3 "$@"
'''
HOST = '''#!/bin/sh
exec unshare --mount --propagation private /usr/local/sbin/vmnet-fleet-enter {n} "$@"
'''
FIRST_DEVICE_ID = 20


def set_up(node, hosts, queues):
    script = ["set -e", "mkdir -p /var/lib/vmnet-netkit /etc/vmnet-netkit /run/vmnet-fleet-bpf",
              "mountpoint -q /run/vmnet-fleet-bpf || mount --bind /sys/fs/bpf /run/vmnet-fleet-bpf",
              "cat > /usr/local/sbin/vmnet-fleet-enter <<'EOF'\n%sEOF" % ENTER,
              "cat > /usr/local/sbin/vmnet-fleet-python <<'EOF'\n%sEOF" % PYTHON]
    for n in range(1, hosts + 1):
        dev = FIRST_DEVICE_ID + n
        script += [
            "cat > /usr/local/sbin/vmnet-fleet-host%d <<'EOF'\n%sEOF" % (n, HOST.format(n=n)),
            "chmod 755 /usr/local/sbin/vmnet-fleet-*",
            "mkdir -p /var/lib/vmnet-fleet/h%d/state /var/lib/vmnet-fleet/h%d/etc" % (n, n),
            "ip netns add fleet%d" % n,
            # a netdevsim device is created in the network namespace of the process that asks for it
            "ip netns exec fleet%d sh -c 'echo \"%d 1 %d\" > /sys/bus/netdevsim/new_device'" % (n, dev, queues),
            "for i in $(seq 100); do port=$(ip -n fleet%d -o link show | awk -F': ' '$2 != \"lo\" {print $2}'); "
            "[ -n \"$port\" ] && break; sleep 0.1; done" % n,
            "ip -n fleet%d link set \"$port\" name fnic%d" % (n, n),
            "ip -n fleet%d link set fnic%d up" % (n, n),
        ]
    node.sh("\n".join(script) + "\n")


def tear_down(node, hosts):
    script = []
    for n in range(1, hosts + 1):
        script += ["echo %d > /sys/bus/netdevsim/del_device 2>/dev/null" % (FIRST_DEVICE_ID + n),
                   "ip netns del fleet%d 2>/dev/null" % n, "rm -rf /sys/fs/bpf/vmnet-netkit/fnic%d" % n]
    script += ["umount /run/vmnet-fleet-bpf 2>/dev/null", "rm -rf /var/lib/vmnet-fleet /usr/local/sbin/vmnet-fleet-*",
               "true"]
    node.sh("\n".join(script) + "\n")


def inventory(tmp, node, hosts, vms):
    fields = {}
    for line in Path(node.inventory).read_text().splitlines():
        if line.startswith("lab-node "):
            fields = dict(part.split("=", 1) for part in shlex.split(line)[1:] if "=" in part)
    connection = dict((k, v) for k, v in fields.items()
                      if k.startswith("ansible_") and k != "ansible_python_interpreter")
    members = {}
    for n in range(1, hosts + 1):
        members["fleet%d" % n] = dict(
            connection, ansible_python_interpreter="/usr/local/sbin/vmnet-fleet-host%d" % n,
            vmnet_nic="fnic%d" % n, vmnet_nic_queues=8, vmnet_host_queues=8 - vms,
            vmnet_vm_subnets=["10.%d.0.0/24" % n], vmnet_persistent=False,
            vmnet_vms=[{"name": "h%dvm%d" % (n, v), "queues": 1} for v in range(1, vms + 1)])
    path = Path(tmp) / "fleet.json"
    path.write_text(json.dumps({"all": {"children": {"vm_hosts": {"hosts": members}}}}))
    return path


def playbook(book, inventory_path, forks):
    argv = [str(VENV / "bin/ansible-playbook"), "-i", str(inventory_path), "--forks", str(forks),
            str(ROOT / "playbooks" / book)]
    started = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, env=env(), check=False)
    seconds = time.monotonic() - started
    if p.returncode != 0:
        raise RuntimeError("%s with forks %d failed (rc %d): %s" % (book, forks, p.returncode, p.stdout[-3000:]))
    return seconds


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--forks", default="1,4,8")
    parser.add_argument("--vms", type=int, default=2, help="VMs per host (one queue each)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results"))
    parser.add_argument("--node", default="bench")
    args = parser.parse_args(argv)
    node = Node(args.node)
    tear_down(node, args.hosts)
    set_up(node, args.hosts, 8)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            inv = inventory(tmp, node, args.hosts, args.vms)
            print("%-6s %-6s %12s %12s %12s" % ("hosts", "forks", "first (s)", "no-op (s)", "verify (s)"))
            for forks in [int(f) for f in args.forks.split(",")]:
                playbook("teardown.yml", inv, args.hosts)
                row = {"hosts": args.hosts, "vms_per_host": args.vms, "forks": forks,
                       "first": playbook("provision.yml", inv, forks),
                       "no-op": playbook("provision.yml", inv, forks),
                       "verify": playbook("verify.yml", inv, forks)}
                rows.append(row)
                print("%-6d %-6d %12.1f %12.1f %12.1f" % (row["hosts"], forks, row["first"], row["no-op"],
                                                          row["verify"]))
                sys.stdout.flush()
            playbook("teardown.yml", inv, args.hosts)
    finally:
        tear_down(node, args.hosts)
    save_results(args.out, "fleet.json", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
