# SPDX-License-Identifier: GPL-3.0-or-later
"""The main job on the lab node, as one story (each playbook run costs about a minute under TCG):
provision.yml for inventories/lab (6 VMs), a second run that changes nothing, verify.yml; check mode
for a seventh VM changes nothing, then the seventh VM changes only that VM; removing one VM removes
only its slice; manual changes are reported by verify.yml and repaired by provision.yml; a whole-host
teardown leaves nothing.  The reboot is the molecule scenario ``reboot`` (extensions/molecule)."""

from __future__ import annotations

import pytest
from lab_play import recap_changed, run_playbook

LAB_VMS = [{"name": "vm%d" % n, "queues": 1} for n in range(1, 7)]
LAB_VMS[0]["addresses"] = ["10.0.0.2"]
LAB_VMS[1]["addresses"] = ["10.0.0.3"]
WITH_VM7 = {"vmnet_vms": LAB_VMS + [{"name": "vm7", "queues": 2}]}


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

    # a seventh VM: check mode changes nothing, the real run changes only that VM
    assert recap_changed(ok(run_playbook(lab, "provision.yml", WITH_VM7, check=True, diff=True))) >= 1
    assert devices(lab) == six
    ok(run_playbook(lab, "provision.yml", WITH_VM7))
    seven = devices(lab)
    assert dict((k, v) for k, v in seven.items() if k != "nk-vm7") == six
    assert "map-start-index=14" in lab.sh("cat /etc/vmnet-netkit/qemu/vm7.args")
    assert lab.sh("ethtool -x %s context 1 | head -4" % lab.nic) == contexts

    # removing one VM removes only its slice (vm7 is gone from the inventory, vm3 is torn down)
    ok(run_playbook(lab, "provision.yml"))
    ok(run_playbook(lab, "teardown.yml", {"vmnet_remove_vms": ["vm3"]}))
    five = devices(lab)
    assert dict((k, v) for k, v in six.items() if k != "nk-vm3") == five
    rules = lab.sh("ethtool -n %s" % lab.nic)
    assert "10.0.0.4" not in rules and "10.0.0.2" in rules
    assert lab.ssh("test -e /etc/vmnet-netkit/qemu/vm3.args").returncode != 0

    # changes behind the collection's back: vm2's rules and then its context, a netkit device
    loc = lab.sh("ethtool -n %s | grep -B3 '10.0.0.3' | grep Filter" % lab.nic).split()[1]
    ctx = lab.sh("ethtool -n %s | grep -A12 'Filter: %s$' | grep -m1 'RSS Context'" % (lab.nic, loc)).split()[-1]
    lab.sh("for loc in $(ethtool -n %s | awk '/^Filter:/ {l = $2} /RSS Context/ && $NF == %s {print l}'); do "
           "ethtool -N %s delete $loc; done" % (lab.nic, ctx, lab.nic))
    lab.sh("ethtool -X %s context %s delete && ip link del nk-vm5" % (lab.nic, ctx))
    rc, out = run_playbook(lab, "verify.yml")
    assert rc != 0, out[-3000:]
    for drift in ("RSS context vm2", "rule 10.0.0.3", "netkit nk-vm5", "netkit nk-vm3"):
        assert drift in out, (drift, out[-3000:])
    assert recap_changed(ok(run_playbook(lab, "provision.yml"))) >= 3
    assert "6 VMs as planned, no drift" in ok(run_playbook(lab, "verify.yml"))

    # the whole host
    ok(run_playbook(lab, "teardown.yml"))
    assert not devices(lab)
    assert "Total 0 rules" in lab.sh("ethtool -n %s" % lab.nic)
    assert lab.ssh("test -e /etc/systemd/system/vmnet-netkit-reapply.service").returncode != 0
    assert "prog/xdp" not in lab.sh("ip -d link show %s" % lab.nic)
