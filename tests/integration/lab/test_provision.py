# SPDX-License-Identifier: GPL-3.0-or-later
"""The main job on the lab node: provision.yml for inventories/lab (6 VMs), idempotence, verify.yml,
a seventh VM, removing one VM, drift reported and repaired, check mode, and a whole-host teardown.
The reboot and the full teardown are also molecule scenarios (extensions/molecule)."""

from __future__ import annotations

import pytest
from lab_play import recap_changed, run_playbook

LAB_VMS = [{"name": "vm%d" % n, "queues": 1} for n in range(1, 7)]
LAB_VMS[0]["addresses"] = ["10.0.0.2"]
LAB_VMS[1]["addresses"] = ["10.0.0.3"]


@pytest.fixture(scope="module")
def lab(lab_node):
    run_playbook(lab_node, "teardown.yml")
    rc, out = run_playbook(lab_node, "provision.yml")
    assert rc == 0, out[-4000:]
    yield lab_node
    run_playbook(lab_node, "teardown.yml")


def devices(node):
    """{netkit device: ifindex} on the node."""
    out = node.sh("for d in /sys/class/net/nk-*; do [ -e $d ] && echo ${d##*/} $(cat $d/ifindex); done; true")
    return dict(line.split() for line in out.splitlines() if line.strip())


def test_second_run_changes_nothing_and_verify_passes(lab):
    rc, out = run_playbook(lab, "provision.yml")
    assert rc == 0 and recap_changed(out) == 0, out[-3000:]
    rc, out = run_playbook(lab, "verify.yml")
    assert rc == 0 and "6 VMs as planned, no drift" in out, out[-3000:]
    assert sorted(devices(lab)) == ["nk-vm%d" % n for n in range(1, 7)]
    args = lab.sh("cat /etc/vmnet-netkit/qemu/vm1.args")
    assert "af-xdp,id=net-vm1,ifname=nk-vm1,mode=native,queues=1,start-queue=1,inhibit=on" in args
    assert "map-start-index=8" in args


def test_check_mode_reports_and_changes_nothing(lab):
    lab.sh("ip link del nk-vm4")
    rc, out = run_playbook(lab, "provision.yml", check=True, diff=True)
    assert rc == 0 and recap_changed(out) >= 1, out[-3000:]
    assert "nk-vm4" not in devices(lab)
    rc, out = run_playbook(lab, "provision.yml")
    assert rc == 0 and "nk-vm4" in devices(lab)


def test_seventh_vm_changes_only_that_vm(lab):
    before = devices(lab)
    ctx_before = lab.sh("ethtool -x %s context 1 | head -3" % lab.nic)
    rc, out = run_playbook(lab, "provision.yml", {"vmnet_vms": LAB_VMS + [{"name": "vm7", "queues": 2}]})
    assert rc == 0, out[-4000:]
    after = devices(lab)
    assert dict((k, v) for k, v in after.items() if k != "nk-vm7") == before
    assert "nk-vm7" in after and "map-start-index=14" in lab.sh("cat /etc/vmnet-netkit/qemu/vm7.args")
    assert lab.sh("ethtool -x %s context 1 | head -3" % lab.nic) == ctx_before
    rc, out = run_playbook(lab, "verify.yml", {"vmnet_vms": LAB_VMS + [{"name": "vm7", "queues": 2}]})
    assert rc == 0 and "7 VMs as planned" in out, out[-3000:]
    # back to the inventory: vm7 goes, the others stay
    rc, out = run_playbook(lab, "provision.yml")
    assert rc == 0 and devices(lab) == before, out[-3000:]


def test_removing_one_vm_removes_only_its_slice(lab):
    before = devices(lab)
    rc, out = run_playbook(lab, "teardown.yml", {"vmnet_remove_vms": ["vm3"]})
    assert rc == 0, out[-4000:]
    after = devices(lab)
    assert "nk-vm3" not in after and dict((k, v) for k, v in before.items() if k != "nk-vm3") == after
    rules = lab.sh("ethtool -n %s" % lab.nic)
    assert "10.0.0.4" not in rules and "10.0.0.2" in rules
    rc, out = run_playbook(lab, "provision.yml")
    assert rc == 0 and "nk-vm3" in devices(lab)


def test_manual_change_is_reported_and_repaired(lab):
    # a rule deleted, its context deleted, a netkit device deleted behind the collection's back
    rule = lab.sh("ethtool -n %s | grep -B1 -A8 'Filter' | grep -m1 -B6 '10.0.0.3' | grep Filter" % lab.nic)
    loc = rule.split()[1]
    ctx = lab.sh("ethtool -n %s | grep -A12 'Filter: %s$' | grep -m1 'RSS Context'" % (lab.nic, loc)).split()[-1]
    lab.sh("ethtool -N %s delete %s && ethtool -X %s context %s delete && ip link del nk-vm5"
           % (lab.nic, loc, lab.nic, ctx))
    rc, out = run_playbook(lab, "verify.yml")
    assert rc != 0 and "RSS context vm2" in out and "netkit nk-vm5" in out and "rule 10.0.0.3" in out, out[-3000:]
    rc, out = run_playbook(lab, "provision.yml")
    assert rc == 0 and recap_changed(out) >= 2, out[-3000:]
    rc, out = run_playbook(lab, "verify.yml")
    assert rc == 0 and "no drift" in out, out[-3000:]


def test_whole_host_teardown_leaves_nothing(lab):
    rc, out = run_playbook(lab, "teardown.yml")
    assert rc == 0, out[-4000:]
    assert not devices(lab)
    assert "Total 0 rules" in lab.sh("ethtool -n %s" % lab.nic)
    assert lab.ssh("test -e /etc/systemd/system/vmnet-netkit-reapply.service").returncode != 0
    assert "xdp" not in lab.sh("ip -d link show %s" % lab.nic).split("\n")[0]
    rc, out = run_playbook(lab, "provision.yml")
    assert rc == 0, out[-3000:]
