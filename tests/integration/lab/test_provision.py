# SPDX-License-Identifier: GPL-3.0-or-later
"""The main job on the lab node, as one story (each playbook run costs about a minute under TCG):
provision.yml for inventories/lab (6 VMs), a second run that changes nothing, verify.yml; check mode
for a seventh VM changes nothing, then the seventh VM changes only that VM; removing one VM removes
only its slice; manual changes are reported by verify.yml and repaired by provision.yml; after a
reboot everything is back and a provision run changes nothing; a whole-host teardown leaves nothing.
The data path is checked along the way: frames sent from the lab's wire to a VM's addresses reach
AF_XDP sockets opened with that VM's qemu arguments (its netkit device and queues, the pinned XSKMAP
slot), spread over the VM's queues, and frames for other VMs and the host do not.
The molecule scenario ``reboot`` (extensions/molecule) checks the reboot too, on its own node."""

from __future__ import annotations

import json
import shlex

import pytest
from lab_play import recap_changed, run_playbook

LAB_VMS = [{"name": "vm%d" % n, "queues": 1} for n in range(1, 7)]
LAB_VMS[0]["addresses"] = ["10.0.0.2"]
LAB_VMS[1]["addresses"] = ["10.0.0.3"]
WITH_VM7 = {"vmnet_vms": LAB_VMS + [{"name": "vm7", "queues": 2, "addresses": ["10.0.0.8", "fd00:10::8"]}]}
# The longest an AF_XDP socket may wait for its frames. The wait ends as soon as the expected frames
# are in (plus a short settle for any that should not come), so this only bounds a failing case.
RX_LIMIT = 300
RX_SETTLE = 0.5


@pytest.fixture(scope="module")
def lab(lab_node):
    rc, out = run_playbook(lab_node, "teardown.yml")
    assert rc == 0, out[-4000:]
    yield lab_node
    run_playbook(lab_node, "teardown.yml")


def devices(node):
    """{netkit device: ifindex} on the node."""
    out = node.sh("for d in /sys/class/net/nk-*; do [ -e $d ] && echo ${d##*/} $(cat $d/ifindex); done; true")
    return dict(line.split() for line in out.splitlines() if line.strip())


def netdev_options(node, vm):
    """The options of VM's qemu -netdev af-xdp argument, from the file provision.yml wrote."""
    args = node.sh("cat /etc/vmnet-netkit/qemu/%s.args" % vm).splitlines()
    netdev = args[args.index("-netdev") + 1]
    assert netdev.startswith("af-xdp,"), netdev
    return dict(opt.split("=", 1) for opt in netdev.split(",")[1:])


def frames_to_vm(node, vm, own, others=None):
    """Open one AF_XDP socket per queue of VM as qemu does with its arguments (ifname, start-queue,
    map-path, map-start-index), send from the wire into the lab NIC first the frames of OTHERS and then
    those of OWN ({address: number of UDP flows, one frame each}), and wait until the sockets counted as
    many frames as OWN holds (then RX_SETTLE more, for frames that should not come); -> the frames each
    socket received, in queue order."""
    opt = netdev_options(node, vm)
    queues, start, slot = int(opt["queues"]), int(opt["start-queue"]), int(opt["map-start-index"])
    mac = node.sh("cat /sys/class/net/%s/address" % node.nic).strip()
    wire = "ip netns exec %s " % node.wire_netns
    flows = list((others or {}).items()) + list(own.items())
    expect = sum(own.values())
    sockets = ["vmnet-xsk-bind --map %s --key %d --wait-rx %d --progress /tmp/xsk%d.count %s %d "
               ">/tmp/xsk%d.json 2>/tmp/xsk%d.err & pids=\"$pids $!\""
               % (opt["map-path"], slot + q, RX_LIMIT, q, opt["ifname"], start + q, q, q) for q in range(queues)]
    neigh = ["%sip neigh replace %s lladdr %s dev %s nud permanent" % (wire, addr, mac, node.wire)
             for addr, _n in flows]
    send = ("import socket, sys\n"
            "for addr, n in zip(sys.argv[1::2], sys.argv[2::2]):\n"
            "    s = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET, socket.SOCK_DGRAM)\n"
            "    for port in range(int(n)):\n"
            "        s.sendto(b'vmnet', (addr, 5000 + port))\n")
    deadline = "end=$(( $(date +%%s) + %d ))" % RX_LIMIT
    script = "\n".join(
        ["rm -f /tmp/xsk*.json /tmp/xsk*.err /tmp/xsk*.count", "pids="] + sockets + neigh +
        [deadline,
         # every socket bound and in the map before the first frame is sent
         "until [ $(cat /tmp/xsk*.err | grep -c 'counting frames') = %d ]; do" % queues,
         "  [ $(date +%s) -lt $end ] || { echo 'sockets not bound' >&2; cat /tmp/xsk*.err >&2; kill $pids; exit 1; }",
         "  sleep 0.1; done",
         "%spython3 -c %s %s" % (wire, shlex.quote(send), " ".join("%s %d" % (addr, n) for addr, n in flows)),
         "until [ $(cat /tmp/xsk*.count | awk '{s += $1} END {print s + 0}') -ge %d ]; do" % expect,
         "  [ $(date +%s) -lt $end ] || break; sleep 0.1; done",
         "sleep %s" % RX_SETTLE, "kill -TERM $pids", "wait",
         "cat /tmp/xsk*.err >&2", "cat /tmp/xsk*.json"])
    out = node.sh(script)
    reports = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(reports) == queues and all(r["bound"] for r in reports), out
    return [r["rx_frames"] for r in reports]


def systemd_show(node, unit, *props):
    """The properties of a systemd unit on the node, as a dict."""
    out = node.sh("systemctl show %s %s" % (" ".join("-p " + p for p in props), unit))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def ok(result):
    rc, out = result
    assert rc == 0, out[-4000:]
    return out


def test_main_job(lab):
    # provision, then a second run that changes nothing, and verify
    out = ok(run_playbook(lab, "provision.yml"))
    assert "vm1: NIC queues 8..8" in out and "map-start-index=8" in out
    assert recap_changed(ok(run_playbook(lab, "provision.yml"))) == 0
    assert "6 VMs as planned, no drift" in ok(run_playbook(lab, "verify.yml"))
    six = devices(lab)
    assert sorted(six) == ["nk-vm%d" % n for n in range(1, 7)]
    assert "af-xdp,id=net-vm1,ifname=nk-vm1,mode=native,queues=1,start-queue=1,inhibit=on" in \
        lab.sh("cat /etc/vmnet-netkit/qemu/vm1.args")
    contexts = lab.sh("ethtool -x %s context 1 | head -4" % lab.nic)
    # the data path: vm1's frames reach the socket in vm1's slot; vm2's and the host's do not
    assert frames_to_vm(lab, "vm1", {"10.0.0.2": 20}, {"10.0.0.3": 10, "10.0.0.250": 10}) == [20]

    # a seventh VM: check mode changes nothing, the real run changes only that VM
    assert recap_changed(ok(run_playbook(lab, "provision.yml", WITH_VM7, check=True, diff=True))) >= 1
    assert devices(lab) == six
    ok(run_playbook(lab, "provision.yml", WITH_VM7))
    seven = devices(lab)
    assert dict((k, v) for k, v in seven.items() if k != "nk-vm7") == six
    assert "map-start-index=14" in lab.sh("cat /etc/vmnet-netkit/qemu/vm7.args")
    assert lab.sh("ethtool -x %s context 1 | head -4" % lab.nic) == contexts
    # vm7's context spreads its IPv4 and IPv6 flows over both of its queues
    per_queue = frames_to_vm(lab, "vm7", {"10.0.0.8": 32, "fd00:10::8": 32}, {"10.0.0.2": 8})
    assert sum(per_queue) == 64 and min(per_queue) > 0, per_queue

    # removing one VM removes only its slice (vm7 is gone from the inventory, vm3 is torn down)
    ok(run_playbook(lab, "provision.yml"))
    ok(run_playbook(lab, "teardown.yml", {"vmnet_remove_vms": ["vm3"]}))
    five = devices(lab)
    assert dict((k, v) for k, v in six.items() if k != "nk-vm3") == five
    rules = lab.sh("ethtool -n %s" % lab.nic)
    assert "10.0.0.4" not in rules and "10.0.0.2" in rules
    assert lab.ssh("test -e /etc/vmnet-netkit/qemu/vm3.args").returncode != 0

    # changes behind the collection's back: vm2's rules and then its context, a netkit device, the
    # NIC's XDP program
    loc = lab.sh("ethtool -n %s | grep -B3 '10.0.0.3' | grep Filter" % lab.nic).split()[1]
    ctx = lab.sh("ethtool -n %s | grep -A12 'Filter: %s$' | grep -m1 'RSS Context'" % (lab.nic, loc)).split()[-1]
    lab.sh("for loc in $(ethtool -n %s | awk '/^Filter:/ {l = $2} /RSS Context/ && $NF == %s {print l}'); do "
           "ethtool -N %s delete $loc; done" % (lab.nic, ctx, lab.nic))
    lab.sh("ethtool -X %s context %s delete && ip link del nk-vm5 && ip link set dev %s xdp off"
           % (lab.nic, ctx, lab.nic))
    rc, out = run_playbook(lab, "verify.yml")
    assert rc != 0, out[-3000:]
    for drift in ("RSS context vm2", "rule 10.0.0.3", "netkit nk-vm5", "netkit nk-vm3", "XDP program"):
        assert drift in out, (drift, out[-3000:])
    assert recap_changed(ok(run_playbook(lab, "provision.yml"))) >= 3
    assert "6 VMs as planned, no drift" in ok(run_playbook(lab, "verify.yml"))
    assert frames_to_vm(lab, "vm2", {"10.0.0.3": 10}) == [10]

    # a reboot: the boot-time re-apply brings every slice, rule, lease and the XDP program back
    # before the network (and the VM services) start; a provision run afterwards has nothing to do
    lab.reboot()
    lab.ssh("systemctl is-system-running --wait")  # SSH comes up early; wait for the boot to finish
    unit = systemd_show(lab, "vmnet-netkit-reapply.service", "ActiveState", "Result", "Before",
                        "ActiveEnterTimestampMonotonic")
    assert unit["ActiveState"] == "active" and unit["Result"] == "success", unit
    assert "network.target" in unit["Before"].split() and "libvirtd.service" in unit["Before"].split(), unit
    # it was done before the boot reached multi-user.target (the node pulls in no network.target)
    booted = systemd_show(lab, "multi-user.target", "ActiveEnterTimestampMonotonic")
    assert 0 < int(unit["ActiveEnterTimestampMonotonic"]) <= int(booted["ActiveEnterTimestampMonotonic"]), \
        (unit, booted)
    assert "6 VMs as planned, no drift" in ok(run_playbook(lab, "verify.yml"))
    assert frames_to_vm(lab, "vm1", {"10.0.0.2": 10}, {"10.0.0.3": 10}) == [10]
    assert recap_changed(ok(run_playbook(lab, "provision.yml"))) == 0

    # the whole host
    ok(run_playbook(lab, "teardown.yml"))
    assert not devices(lab)
    assert "Total 0 rules" in lab.sh("ethtool -n %s" % lab.nic)
    assert lab.ssh("test -e /etc/systemd/system/vmnet-netkit-reapply.service").returncode != 0
    assert "prog/xdp" not in lab.sh("ip -d link show %s" % lab.nic)
