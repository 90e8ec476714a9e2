# SPDX-License-Identifier: GPL-3.0-or-later
"""What a run costs on a lab node, side by side, for 1, 6 and 14 VMs.

For each VM count it measures, on a clean node:
  raw floor      the same kernel writes (first converge) and reads (no-op) issued by one shell
                 script over one SSH connection: ethtool for the NIC, one python3 process speaking
                 rtnetlink/netdev genl for the netkit devices and their leases (iproute2 cannot
                 create single devices or leases), no planning, no checks
  hand-written   a playbook as a user would write it without the collection: one command task per
                 channel change, table, context, rule and netkit device, with changed_when guards
                 (netkit pairs with `ip link add`, no leases: iproute2 has no way to make them)
  collection     playbooks/provision.yml first run, a no-op re-run, --check, and verify.yml
Every row also gives the processes started on the node during the run (the kernel's fork counter,
`processes` in /proc/stat, read before and after over SSH; the two reads are subtracted out) and
the module invocations on the node (tasks that ran a module there). The rows that change nothing
(raw read, no-op, --check, verify) run --repeat times (default 3) and report the median; every
time is kept in results.json ("samples").

usage: .venv/bin/python benchmarks/host_network.py [--vms 1,6,14] [--repeat 3] [--out DIR]
Boots (or reuses) the lab node named "bench"; prints a table and writes DIR/results.json and
DIR/host_network.png (default DIR: benchmarks/results).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "tests/lab/lab"
VENV = Path(os.environ.get("VMNET_VENV", ROOT / ".venv"))
# the collection under test: this checkout, or another one (first_converge.py --against)
COLLECTION = ROOT
COLLECTIONS_PATH = ROOT / ".build/collections"


def use_collection(checkout, collections_path):
    """Run the playbooks and modules of ``checkout`` (found by Ansible under ``collections_path``)."""
    global COLLECTION, COLLECTIONS_PATH
    COLLECTION, COLLECTIONS_PATH = Path(checkout), Path(collections_path)


class Node:
    def __init__(self, name):
        out = subprocess.run([str(LAB), "up", "--name", name], capture_output=True, text=True, check=True)
        self.inventory = out.stdout.strip().splitlines()[-1]
        info = json.loads(subprocess.run([str(LAB), "info", "--name", name], capture_output=True, text=True,
                                         check=True).stdout)
        self.name = name
        self.nic = info["nics"]["lab_nic"]
        self.ssh_argv = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
                         "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-i", info["identity_file"],
                         "-p", str(info["port"]), "root@127.0.0.1"]
        # the node's shared SSH connection, which ansible-playbook keeps open between runs (the lab
        # inventory names it)
        self.control_path = info["ssh_control"]

    def close_shared_connection(self):
        """End the connection Ansible kept open, so the next playbook run opens its own, as the raw
        script does: a new connection costs the guest a key exchange (about 0.5 s under TCG)."""
        subprocess.run(["ssh", "-o", "ControlPath=" + self.control_path, "-O", "exit", "root@127.0.0.1"],
                       capture_output=True, check=False)

    def sh(self, script, stdin=None):
        """Run a bash script on the node (sent on stdin, or as an argument when ``stdin`` carries data)."""
        if stdin is None:
            argv, data = self.ssh_argv + ["bash", "-s"], script
        else:
            argv, data = self.ssh_argv + [script], stdin
        p = subprocess.run(argv, input=data, capture_output=True, text=True, check=False)
        if p.returncode != 0:
            raise RuntimeError("node script failed: %s%s" % (p.stderr, p.stdout))
        return p.stdout

    def forks(self):
        return int(self.sh("awk '/^processes/ {print $2}' /proc/stat").strip())


def env():
    e = dict(os.environ)
    e.update({"PATH": "%s/bin:%s" % (VENV, e.get("PATH", "")),
              "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
              "ANSIBLE_HOST_KEY_CHECKING": "False"})
    return e


def measured(node, fn):
    """(seconds, processes started on the node, module invocations) of fn(). Every run starts without an
    open SSH connection: the raw scripts open one, and so does ansible-playbook."""
    node.close_shared_connection()
    base = node.forks()
    empty = node.forks() - base  # what one counter read itself costs
    started = time.monotonic()
    modules = fn()
    seconds = time.monotonic() - started
    return seconds, node.forks() - base - 2 * empty, modules


def repeated(node, fn, times, samples):
    """``measured`` ``times`` times (runs that change nothing): the median run; every time in ``samples``."""
    runs = sorted((measured(node, fn) for _run in range(times)), key=lambda r: r[0])
    samples.extend(round(r[0], 2) for r in runs)
    return runs[len(runs) // 2]


def playbook(node, book, inventory_dir, extra=None, check=False):
    """Run a playbook; -> the module runs it started on the node (benchmarks/callback_plugins)."""
    argv = [str(VENV / "bin/ansible-playbook"), "-i", node.inventory, "-i", str(inventory_dir), str(book)]
    if extra:
        argv += ["-e", json.dumps(extra)]
    if check:
        argv.append("--check")
    with tempfile.NamedTemporaryFile("r") as counted:
        e = env()
        e.update({"ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "benchmarks/callback_plugins"),
                  "ANSIBLE_CALLBACKS_ENABLED": "count_modules", "VMNET_COUNT_MODULES": counted.name})
        p = subprocess.run(argv, capture_output=True, text=True, env=e, check=False)
        if p.returncode != 0 and not (p.returncode == 2 and book.name == "verify.yml"):
            raise RuntimeError("%s failed (rc %d): %s" % (book, p.returncode, p.stdout[-3000:]))
        return int(counted.read().strip() or 0)


def inventory(tmp, node, count):
    """An inventory of `count` VMs of one queue each; the host keeps 16 - count queues (at least 2)."""
    host_queues = max(2, 16 - count) if count < 14 else 2
    vms = [{"name": "vm%d" % n, "queues": 1} for n in range(1, count + 1)]
    vms[0]["addresses"] = ["10.0.0.2"]
    group = {"vmnet_nic": node.nic, "vmnet_nic_queues": 16, "vmnet_host_queues": host_queues,
             "vmnet_vm_subnets": ["10.0.0.0/24", "fd00:10::/64"], "vmnet_vms": vms,
             "vmnet_reapply_after": ["vmnet-lab-nic.service"]}
    d = Path(tmp) / ("inv%d" % count)
    (d / "group_vars").mkdir(parents=True)
    (d / "hosts.yml").write_text(json.dumps({"all": {"children": {"vm_hosts": {"hosts": {"lab-node": {}}}}}}))
    (d / "group_vars" / "vm_hosts.yml").write_text(json.dumps(group))
    return d, group


RAW_NETKIT = r'''
import socket, struct, sys
sys.path.insert(0, "/usr/lib/vmnet-netkit/bench.zip")
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import rtnl as rt
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import netdev as netdev_genl
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import caps as netkit_caps
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import btf
attrs = netkit_caps.capabilities(btf.read_enum_constants(("IFLA_NETKIT_",)), [], True, "")["attributes"]
rtnl, genl = rt.Rtnl(), netdev_genl.NetdevGenl()
nic = socket.if_nametoindex(sys.argv[1])
for arg in sys.argv[2:]:
    name, mac, queue = arg.split(",")
    rtnl.create(rt.build_newlink({"name": name, "pairing": "single", "mode": "l2", "address": mac,
                                  "numrxqueues": 2}, attrs))
    genl.queue_create(socket.if_nametoindex(name), nic, int(queue))
    rtnl.setlink(rt.build_setlink(socket.if_nametoindex(name), up=True))
'''


def prepare_raw(node):
    """The raw floor's netkit writer uses the collection's netlink codec and its XDP object, copied once."""
    subprocess.run([sys.executable, str(ROOT / "benchmarks/pack_module_utils.py"),
                    str(ROOT / "plugins/module_utils"), "/tmp/vmnet-bench.zip"], check=True)
    node.sh("mkdir -p /usr/lib/vmnet-netkit /var/lib/vmnet-netkit && base64 -d > /usr/lib/vmnet-netkit/bench.zip",
            stdin=base64.b64encode(Path("/tmp/vmnet-bench.zip").read_bytes()).decode())
    node.sh("python3 -c 'import sys; sys.path.insert(0, \"/usr/lib/vmnet-netkit/bench.zip\"); "
            "from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import xdp_program; "
            "open(\"/usr/lib/vmnet-netkit/bench-xdp.o\", \"wb\").write(xdp_program.object_bytes())'")


def raw_write(node, plan):
    nic = plan["device"]
    lines = ["set -e", "ethtool -L %s combined %d" % (nic, plan["channels"]),
             "ethtool -X %s start 0 equal %d" % (nic, plan["host_queues"]), "ethtool -K %s ntuple on" % nic]
    for vm in sorted(plan["vms"].values(), key=lambda v: v["queues"]):
        lines.append("ctx=$(ethtool -X %s start %d equal %d context new | awk '/New RSS context/ {print $NF}')"
                     % (nic, vm["queues"][0], vm["queue_count"]))
        for rule in vm["rules"]:
            lines.append("ethtool -N %s flow-type %s dst-ip %s context $ctx" % (nic, rule["flow_type"], rule["dst_ip"]))
    devices = " ".join("%s,%s,%d" % (vm["netkit"]["name"], vm["mac"], vm["queues"][0]) for vm in plan["vms"].values())
    lines.append("python3 - %s %s <<'PY'\n%sPY" % (nic, devices, RAW_NETKIT))
    pin = "/sys/fs/bpf/vmnet-netkit/%s" % nic
    lines += ["mkdir -p -m 0700 %s" % pin,
              "bpftool prog load /usr/lib/vmnet-netkit/bench-xdp.o %s/prog type xdp pinmaps %s" % (pin, pin),
              "ip link set dev %s xdp pinned %s/prog" % (nic, pin), "mkdir -p /etc/vmnet-netkit/qemu"]
    for name, vm in plan["vms"].items():
        args = ["-netdev", "af-xdp,id=%s,ifname=%s,queues=1,start-queue=1,inhibit=on,map-path=%s/xsks" % (
            vm["qemu"]["netdev_id"], vm["netkit"]["name"], pin)]
        lines.append("printf '%%s\\n' %s > /etc/vmnet-netkit/qemu/%s.args" % (" ".join(args), name))
    lines.append("cat > /var/lib/vmnet-netkit/plan.json <<'JSON'\n%s\nJSON" % json.dumps(plan))
    return "\n".join(lines) + "\n"


def raw_read(node, plan):
    nic = plan["device"]
    lines = ["ethtool -l %s >/dev/null" % nic, "ethtool -x %s >/dev/null" % nic, "ethtool -n %s >/dev/null" % nic,
             "ethtool -k %s >/dev/null" % nic, "ip -d link show dev %s >/dev/null" % nic]
    for n, vm in enumerate(sorted(plan["vms"].values(), key=lambda v: v["queues"]), start=1):
        lines += ["ethtool -x %s context %d >/dev/null" % (nic, n),
                  "ip -d link show dev %s >/dev/null" % vm["netkit"]["name"],
                  "ls /sys/class/net/%s/queues >/dev/null" % vm["netkit"]["name"]]
    lines += ["ls /sys/fs/bpf/vmnet-netkit/%s >/dev/null" % nic,
              "for f in /etc/vmnet-netkit/qemu/*.args /var/lib/vmnet-netkit/plan.json; do cat $f >/dev/null; done"]
    return "\n".join(lines) + "\n"


def handwritten(tmp, plan, count):
    nic = plan["device"]
    tasks = [
        {"name": "channels", "ansible.builtin.shell": "ethtool -l %s | tail -n 2 | grep -q 'Combined:\\s*%d$' && "
         "echo same || ethtool -L %s combined %d" % (nic, plan["channels"], nic, plan["channels"]),
         "register": "r", "changed_when": "r.stdout != 'same'"},
        {"name": "ntuple", "ansible.builtin.shell": "ethtool -k %s | grep -q 'ntuple-filters: on' && echo same || "
         "ethtool -K %s ntuple on" % (nic, nic), "register": "r", "changed_when": "r.stdout != 'same'"},
        {"name": "default table", "ansible.builtin.shell": "ethtool -X %s start 0 equal %d" % (nic, plan["host_queues"]),
         "changed_when": False},
    ]
    for n, vm in enumerate(sorted(plan["vms"].values(), key=lambda v: v["queues"]), start=1):
        tasks.append({"name": "context %s" % vm["name"], "ansible.builtin.shell":
                      "ethtool -x %s context %d >/dev/null 2>&1 && echo same || ethtool -X %s start %d equal %d context new"
                      % (nic, n, nic, vm["queues"][0], vm["queue_count"]), "register": "r",
                      "changed_when": "r.stdout != 'same'"})
        for rule in vm["rules"]:
            tasks.append({"name": "rule %s" % rule["dst_ip"], "ansible.builtin.shell":
                          "ethtool -n %s | grep -q '%s' && echo same || ethtool -N %s flow-type %s dst-ip %s context %d"
                          % (nic, rule["dst_ip"], nic, rule["flow_type"], rule["dst_ip"], n), "register": "r",
                          "changed_when": "r.stdout != 'same'"})
        tasks.append({"name": "netkit %s" % vm["name"], "ansible.builtin.shell":
                      "ip link show %s >/dev/null 2>&1 && echo same || ip link add %s type netkit mode l2"
                      % (vm["netkit"]["name"], vm["netkit"]["name"]), "register": "r",
                      "changed_when": "r.stdout != 'same'"})
        tasks.append({"name": "up %s" % vm["name"], "ansible.builtin.command": "ip link set %s up" % vm["netkit"]["name"],
                      "changed_when": False})
    book = Path(tmp) / ("handwritten%d.yml" % count)
    book.write_text(json.dumps([{"hosts": "vm_hosts", "gather_facts": False, "become": True, "tasks": tasks}]))
    return book


def save_results(out_dir, name, rows):
    """Write ``rows`` as OUT_DIR/NAME (JSON, every sample); -> OUT_DIR as a Path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(json.dumps(rows, indent=1) + "\n")
    return out


def clean(node, inv):
    playbook(node, COLLECTION / "playbooks/teardown.yml", inv)
    node.sh("for d in /sys/class/net/nk-*; do [ -e $d ] && ip link del ${d##*/}; done; "
            "ethtool -N %s delete 0 2>/dev/null; for l in $(ethtool -n %s | awk '/^Filter:/ {print $2}'); do "
            "ethtool -N %s delete $l; done; for c in $(seq 1 16); do ethtool -X %s context $c delete 2>/dev/null; done; "
            "ethtool -X %s default; ip link set dev %s xdp off; rm -rf /sys/fs/bpf/vmnet-netkit/%s "
            "/etc/vmnet-netkit/qemu /var/lib/vmnet-netkit/plan.json; true" % ((node.nic,) * 7))


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--vms", default="1,6,14")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results"))
    parser.add_argument("--node", default="bench")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each row that changes nothing (raw read, no-op, --check, verify): the median "
                             "is reported (this machine's speed varies from minute to minute)")
    args = parser.parse_args(argv)
    node = Node(args.node)
    prepare_raw(node)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in [int(x) for x in args.vms.split(",")]:
            inv, group = inventory(tmp, node, count)
            plan = plan_for(group, node)
            row = {"vms": count}
            clean(node, inv)
            row["raw write"] = measured(node, lambda: node.sh(raw_write(node, plan)) and 0)
            row["samples"] = samples = {}
            row["raw read"] = repeated(node, lambda: node.sh(raw_read(node, plan)) and 0, args.repeat,
                                       samples.setdefault("raw read", []))
            clean(node, inv)
            hand = handwritten(tmp, plan, count)
            row["hand-written first"] = measured(node, lambda: playbook(node, hand, inv))
            row["hand-written no-op"] = measured(node, lambda: playbook(node, hand, inv))
            clean(node, inv)
            prov = ROOT / "playbooks/provision.yml"
            row["collection first"] = measured(node, lambda: playbook(node, prov, inv))
            row["collection no-op"] = repeated(node, lambda: playbook(node, prov, inv), args.repeat,
                                               samples.setdefault("collection no-op", []))
            row["collection --check"] = repeated(node, lambda: playbook(node, prov, inv, check=True), args.repeat,
                                                 samples.setdefault("collection --check", []))
            row["collection verify"] = repeated(node, lambda: playbook(node, ROOT / "playbooks/verify.yml", inv),
                                                args.repeat, samples.setdefault("collection verify", []))
            clean(node, inv)
            rows.append(row)
            report(rows[-1:], header=len(rows) == 1)
    out = save_results(args.out, "results.json", rows)
    print()
    ratios(rows)
    plot(rows, out / "host_network.png")
    return 0


def plan_for(group, node):
    """The plan the collection will make, from the same filter (for the raw and hand-written runs)."""
    sys.path.insert(0, str(ROOT / ".build/collections"))
    from ansible_collections.vmnet.netkit.plugins.module_utils.plan import slices as slice_plan
    return slice_plan.plan(group["vmnet_vms"], node.nic, group["vmnet_nic_queues"], group["vmnet_host_queues"],
                           subnets=group["vmnet_vm_subnets"])


COLUMNS = ["raw write", "raw read", "hand-written first", "hand-written no-op", "collection first",
           "collection no-op", "collection --check", "collection verify"]


def report(rows, header=True, columns=None):
    """Print ROWS' (seconds, processes, modules) per column (COLUMNS unless given), a line each."""
    if header:
        print("%-4s %-20s %9s %10s %8s" % ("VMs", "run", "seconds", "processes", "modules"))
    for row in rows:
        for col in columns or COLUMNS:
            s, p, m = row[col]
            print("%-4d %-20s %9.1f %10d %8s" % (row["vms"], col, s, p, m if m else "-"))
        sys.stdout.flush()


def ratios(rows):
    print("%-4s %28s %28s %30s" % ("VMs", "no-op: collection/raw read", "first: collection/raw write",
                                   "no-op: hand-written/collection"))
    for row in rows:
        print("%-4d %28.2f %28.2f %30.2f" % (
            row["vms"], row["collection no-op"][0] / row["raw read"][0],
            row["collection first"][0] / row["raw write"][0],
            row["hand-written no-op"][0] / row["collection no-op"][0]))


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no plot: matplotlib is not installed (pip install matplotlib)")
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = [r["vms"] for r in rows]
    for col, style in (("raw read", "k--"), ("collection no-op", "b-o"), ("hand-written no-op", "r-s"),
                       ("collection verify", "g-^")):
        left.plot(xs, [r[col][0] for r in rows], style, label=col)
    left.set_title("a run that changes nothing")
    for col, style in (("raw write", "k--"), ("collection first", "b-o"), ("hand-written first", "r-s")):
        right.plot(xs, [r[col][0] for r in rows], style, label=col)
    right.set_title("first converge")
    for ax in (left, right):
        ax.set_xlabel("VMs on the host")
        ax.set_ylabel("seconds (lab node, qemu TCG)")
        ax.set_xticks(xs)
        ax.set_ylim(bottom=0)
        ax.legend()
    fig.tight_layout()
    fig.savefig(str(path), dpi=110)
    print("plot: %s" % path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
