# SPDX-License-Identifier: GPL-3.0-or-later
"""The main job on the lab node, as one story told in steps (each a test of its own):
provision.yml for inventories/lab (6 VMs), a second run that changes nothing, verify.yml; check mode
for a seventh VM changes nothing, then the seventh VM changes only that VM; removing one VM removes
only its slice; manual changes are reported by verify.yml and repaired by provision.yml; after a
reboot everything is back and a provision run changes nothing; a whole-host teardown leaves nothing;
an address pool's VMs get its range less its exclusions.
The data path is checked along the way: frames sent from the lab's wire to a VM's addresses reach
AF_XDP sockets opened with that VM's qemu arguments (its netkit device and queues, the pinned XSKMAP
slot), spread over the VM's queues, and frames for other VMs and the host do not.
The molecule scenario ``reboot`` (extensions/molecule) checks the reboot too, on its own node."""

from __future__ import annotations

import re

import pytest
from lab_frames import frames_from_vm, frames_to_vm
from lab_play import recap_changed, run_playbook

LAB_VMS = [{"name": "vm%d" % n, "queues": 1} for n in range(1, 7)]
LAB_VMS[0]["addresses"] = ["10.0.0.2"]
LAB_VMS[1]["addresses"] = ["10.0.0.3"]
WITH_VM7 = {"vmnet_vms": LAB_VMS + [{"name": "vm7", "queues": 2, "addresses": ["10.0.0.8", "fd00:10::8"]}]}


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


def systemd_show(node, unit, *props):
    """The properties of a systemd unit on the node, as a dict."""
    out = node.sh("systemctl show %s %s" % (" ".join("-p " + p for p in props), unit))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def ok(result):
    rc, out = result
    assert rc == 0, out[-4000:]
    return out


def snapshot(node):
    """Everything a provision run may change, read the way the kernel and the file system show it:
    channels, the default table, every context, every rule, every link (netkit devices and the NIC's
    XDP attachment), each device's queues, the queue leases, the files and bpffs pins of the
    collection, and the re-apply unit."""
    return node.sh(
        "ethtool -l {nic}; ethtool -k {nic} | grep ntuple; ethtool -x {nic}; "
        "for c in $(seq 1 16); do ethtool -x {nic} context $c 2>/dev/null; done; ethtool -n {nic}; "
        "ip -d link show; for d in /sys/class/net/*; do echo ${{d##*/}}: $(ls $d/queues 2>/dev/null); done; "
        "find /etc/vmnet-netkit /var/lib/vmnet-netkit /usr/lib/vmnet-netkit /sys/fs/bpf/vmnet-netkit "
        "-printf '%p %m %s\\n' 2>/dev/null | sort; "
        "cat /etc/vmnet-netkit/qemu/* /var/lib/vmnet-netkit/*.json 2>/dev/null | sha256sum; "
        "systemctl is-enabled vmnet-netkit-reapply.service 2>&1; ls /etc/systemd/system; true"
        .format(nic=node.nic)).replace("\t", " ")


# The main job as a story in steps that report separately; each step starts from where the one
# before it left the node (STORY), and says so when that step did not finish.
STORY = {}


def after(step):
    if step not in STORY:
        pytest.fail("the step before (%s) did not finish, so this one has nothing to start from" % step)
    return STORY[step]


def test_provision_check_mode_on_a_fresh_node_changes_nothing(lab):
    before = snapshot(lab)
    out = ok(run_playbook(lab, "provision.yml", check=True, diff=True))
    assert recap_changed(out) == 1 and "netkit nk-vm6" in out
    assert snapshot(lab) == before
    STORY["fresh"] = True


def test_provision_then_a_run_that_changes_nothing_then_verify(lab):
    after("fresh")
    # provision, then a second run that changes nothing, and verify
    out = ok(run_playbook(lab, "provision.yml"))
    assert "vm1: NIC queues 8..8" in out and "map-start-index=8" in out
    assert recap_changed(ok(run_playbook(lab, "provision.yml"))) == 0
    verify = ok(run_playbook(lab, "verify.yml"))
    assert "6 VMs as planned, no drift" in verify and "%s: AF_XDP zero-copy" % lab.nic in verify
    # the module runs kept their compiled module_utils: root's own directory, files only root can read
    kept = lab.sh("stat -c '%U %a %F' /run/vmnet-netkit/bytecode /run/vmnet-netkit/bytecode/* | sort | uniq -c")
    assert kept.split("\n")[0].split()[1:] == ["root", "600", "regular", "file"], kept
    assert int(kept.split()[0]) >= 20 and kept.split("\n")[1].split()[1:] == ["root", "700", "directory"], kept
    six = devices(lab)
    assert sorted(six) == ["nk-vm%d" % n for n in range(1, 7)]
    assert "af-xdp,id=net-vm1,ifname=nk-vm1,mode=native,queues=1,start-queue=1,inhibit=on" in \
        lab.sh("cat /etc/vmnet-netkit/qemu/vm1.args")
    # the kernel's view: the host's table over queues 0..7, each VM's context over its one queue
    assert table_queues(lab.sh("ethtool -x %s" % lab.nic)) == set(range(8))
    contexts = lab.sh("ethtool -x %s context 1" % lab.nic)
    assert table_queues(contexts) == {8}
    # the data path: vm1's frames reach the socket in vm1's slot; vm2's and the host's do not. The
    # socket binds as qemu's does by default: zero-copy, the lab NIC writes into the socket's UMEM.
    assert frames_to_vm(lab, "vm1", {"10.0.0.2": 20}, {"10.0.0.3": 10, "10.0.0.250": 10}) == [20]
    # and back: vm1's zero-copy socket sends through its netkit queue's NIC queue onto the wire
    report, received = frames_from_vm(lab, "vm1", "10.0.0.2", 16)
    assert report["tx_completed"] == 16 and received == 16, (report, received)
    STORY["six"] = (six, contexts)


def table_queues(ethtool_x):
    """The queues an `ethtool -x` indirection table names."""
    queues = set()
    for line in ethtool_x.splitlines():
        # "  8:      0     1 ..." rows only: a hash key row like "52:6b:8a:..." is not a table row
        row = re.match(r"^\s*\d+:\s+(\d+(?:\s+\d+)*)\s*$", line)
        if row:
            queues |= set(int(q) for q in row.group(1).split())
    return queues


def test_a_seventh_vm_check_mode_then_only_that_vm_changes(lab):
    six, contexts = after("six")
    before = snapshot(lab)
    assert recap_changed(ok(run_playbook(lab, "provision.yml", WITH_VM7, check=True, diff=True))) == 1
    assert snapshot(lab) == before
    ok(run_playbook(lab, "provision.yml", WITH_VM7))
    seven = devices(lab)
    assert dict((k, v) for k, v in seven.items() if k != "nk-vm7") == six
    assert "map-start-index=14" in lab.sh("cat /etc/vmnet-netkit/qemu/vm7.args")
    assert lab.sh("ethtool -x %s context 1" % lab.nic) == contexts
    # vm7's context spreads its IPv4 and IPv6 flows over both of its queues, to sockets in copy mode
    # too (qemu's force-copy=on)
    per_queue = frames_to_vm(lab, "vm7", {"10.0.0.8": 32, "fd00:10::8": 32}, {"10.0.0.2": 8}, mode="copy")
    assert sum(per_queue) == 64 and min(per_queue) > 0, per_queue
    # a copy-mode socket's frames go to the netkit device's own transmit, which in single mode has no
    # peer to give them to: none reach the wire, so a VM sends only through a zero-copy socket
    report, received = frames_from_vm(lab, "vm7", "10.0.0.8", 8, mode="copy", wait=5)
    assert received == 0 and report["tx_completed"] < 8, (report, received)
    STORY["seven"] = True


def test_removing_one_vm_removes_only_its_slice(lab):
    after("seven")
    six, _contexts = STORY["six"]
    # vm7 is gone from the inventory, vm3 is torn down
    ok(run_playbook(lab, "provision.yml"))
    ok(run_playbook(lab, "teardown.yml", {"vmnet_remove_vms": ["vm3"]}))
    five = devices(lab)
    assert dict((k, v) for k, v in six.items() if k != "nk-vm3") == five
    rules = lab.sh("ethtool -n %s" % lab.nic)
    assert "10.0.0.4" not in rules and "10.0.0.2" in rules
    assert lab.ssh("test -e /etc/vmnet-netkit/qemu/vm3.args").returncode != 0
    STORY["five"] = True


# The hand-made context's table and each hand-made rule (ethtool -n prints one paragraph per rule).
HAND_MADE = "ethtool -x {nic} context {c}; ethtool -n {nic} | awk -v RS= '/10[.]0[.]0[.]25[01]/'"


def test_drift_is_reported_then_repaired(lab):
    after("five")
    # changes behind the collection's back: vm2's rules and then its context, a netkit device, the
    # NIC's XDP program
    loc = lab.sh("ethtool -n %s | grep -B3 '10.0.0.3' | grep Filter" % lab.nic).split()[1]
    ctx = lab.sh("ethtool -n %s | grep -A12 'Filter: %s$' | grep -m1 'RSS Context'" % (lab.nic, loc)).split()[-1]
    lab.sh("for loc in $(ethtool -n %s | awk '/^Filter:/ {l = $2} /RSS Context/ && $NF == %s {print l}'); do "
           "ethtool -N %s delete $loc; done" % (lab.nic, ctx, lab.nic))
    lab.sh("ethtool -X %s context %s delete && ip link del nk-vm5 && ip link set dev %s xdp off"
           % (lab.nic, ctx, lab.nic))
    # someone else's slice, made by hand on a free queue: a context (it takes the id vm2's had) and a
    # rule that steers to it, and a rule to a host queue
    foreign = lab.sh("ethtool -X %s start 15 equal 1 context new" % lab.nic).split()[-1]
    try:
        assert foreign == ctx, "the kernel gave the hand-made context id %s, not vm2's freed %s" % (foreign, ctx)
        lab.sh("ethtool -N {nic} flow-type udp4 dst-ip 10.0.0.251 context {c} && "
               "ethtool -N {nic} flow-type tcp4 dst-ip 10.0.0.250 dst-port 22 action 2".format(nic=lab.nic, c=foreign))
        hand_made = lab.sh(HAND_MADE.format(nic=lab.nic, c=foreign))
        assert hand_made.count("Filter:") == 2, hand_made
        rc, out = run_playbook(lab, "verify.yml")
        assert rc != 0, out[-3000:]
        for drift in ("RSS context vm2", "rule 10.0.0.3", "netkit nk-vm5", "netkit nk-vm3", "XDP program",
                      "RSS context %s" % foreign, "not made by vmnet.netkit", "10.0.0.251", "10.0.0.250"):
            assert drift in out, (drift, out[-3000:])
        # check mode on the drifted node says it would repair and changes nothing, the hand-made
        # slice included (every table, rule, device, lease, file, pin and unit read again)
        drifted = snapshot(lab)
        assert recap_changed(ok(run_playbook(lab, "provision.yml", check=True, diff=True))) == 1
        assert snapshot(lab) == drifted
        # one module call repairs it all: vm2's context again (a new id), and the hand-made context
        # and rules are neither adopted nor removed
        assert recap_changed(ok(run_playbook(lab, "provision.yml"))) == 1
        assert lab.sh(HAND_MADE.format(nic=lab.nic, c=foreign)) == hand_made
        rc, out = run_playbook(lab, "verify.yml")
        assert rc != 0 and "not made by vmnet.netkit" in out and "RSS context vm2" not in out, out[-3000:]
        # removing them is the owner's choice, through an option: with a netkit device named like a VM's
        # that no VM has, and a veth named like one (not netkit: never touched)
        lab.sh("ip link add nk-stray type netkit && ip link add nk-veth0 type veth peer name vethstray0")
        rc, out = run_playbook(lab, "verify.yml")
        assert rc != 0 and "netkit nk-stray" in out and "nk-veth0" not in out, out[-3000:]
        assert recap_changed(ok(run_playbook(lab, "provision.yml", {"vmnet_remove_strays": True}))) == 1
        assert lab.ssh("ethtool -x %s context %s" % (lab.nic, foreign)).returncode != 0
        rules = lab.sh("ethtool -n %s" % lab.nic)
        assert "10.0.0.25" not in rules and rules.count("Filter:") == 12, rules  # the six VMs' IPv4 and IPv6
        assert lab.ssh("ip link show nk-stray").returncode != 0
        assert "veth" in lab.sh("ip -d link show nk-veth0")
    finally:
        lab.sh("for loc in $(ethtool -n {nic} | awk '/^Filter:/ {{l = $2}} /10.0.0.25[01]/ {{print l}}'); do "
               "ethtool -N {nic} delete $loc; done; ethtool -X {nic} context {c} delete 2>/dev/null; "
               "ip link del nk-stray 2>/dev/null; ip link del nk-veth0 2>/dev/null; true".format(nic=lab.nic, c=foreign))
    assert "6 VMs as planned, no drift" in ok(run_playbook(lab, "verify.yml"))
    assert "prog/xdp" in lab.sh("ip -d link show %s" % lab.nic)
    assert lab.sh("ls /sys/class/net/nk-vm5/queues").split() == ["rx-0", "rx-1", "tx-0"]
    assert frames_to_vm(lab, "vm2", {"10.0.0.3": 10}) == [10]
    STORY["repaired"] = True


def test_a_reboot_brings_everything_back(lab):
    after("repaired")
    # the boot-time re-apply brings every slice, rule, lease and the XDP program back before the
    # network (and the VM services) start; a provision run afterwards has nothing to do
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
    STORY["rebooted"] = True


def test_teardown_of_the_whole_host(lab):
    after("rebooted")
    ok(run_playbook(lab, "teardown.yml"))
    assert not devices(lab)
    assert "Total 0 rules" in lab.sh("ethtool -n %s" % lab.nic)
    assert lab.ssh("test -e /etc/systemd/system/vmnet-netkit-reapply.service").returncode != 0
    assert "prog/xdp" not in lab.sh("ip -d link show %s" % lab.nic)


def test_an_address_pool_gives_the_vms_its_range_less_its_exclusions(lab):
    """vmnet_vm_subnets with an address pool: the NIC's rules (``ethtool -n``) steer exactly the given
    address and the pool's first free ones, outside its exclusions; a teardown leaves no rule."""
    pool = {"network": "10.0.0.0/24", "range": "10.0.0.100-10.0.0.120", "exclude": ["10.0.0.101-10.0.0.102"]}
    vms = [{"name": "vm1", "queues": 1, "addresses": ["10.0.0.2"]}, {"name": "vm2", "queues": 1},
           {"name": "vm3", "queues": 2}]
    ok(run_playbook(lab, "provision.yml", {"vmnet_vm_subnets": [pool, "fd00:10::/64"], "vmnet_vms": vms}))
    rules = lab.sh("ethtool -n %s" % lab.nic)
    assert sorted(re.findall(r"Dest IP addr: (\S+) mask", rules)) == [
        "10.0.0.100", "10.0.0.103", "10.0.0.2", "fd00:10::2", "fd00:10::3", "fd00:10::4"], rules
    ok(run_playbook(lab, "teardown.yml"))
    assert "Total 0 rules" in lab.sh("ethtool -n %s" % lab.nic)
