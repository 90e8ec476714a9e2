# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles nic_slice, vm_network and slice_persistence, composed in a play as a user who wants the
parts of a host one role at a time would write it: for the lab inventory's six VMs they make the same host
as provision.yml's one host_network call (channels, default table, contexts, rules, netkit devices with
their NIC queues, the XDP program on the NIC, the qemu arguments), read with ethtool, sysfs and
ip, with one module run per role; a second run changes nothing; teardown.yml takes their host apart as it
does provision.yml's, leaving the node as provision.yml's teardown leaves it.

STORY: an operator composes the per-resource roles in a play of their own and gets the same host the
collection's playbooks make, and takes it apart with the collection's teardown."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from lab_play import recap_changed, run_playbook, run_playbook_counted
from test_faults import kernel_view
from test_provision import snapshot

PLAN = ("{{ vmnet_vms | vmnet.netkit.slice_plan(device=vmnet_nic, queues=vmnet_nic_queues, "
        "host_queues=vmnet_host_queues, subnets=vmnet_vm_subnets) }}")
# the play a user writes around the roles: plan, slice the NIC, give each VM its device, re-apply at boot
ROLES_PLAY = [{
    "name": "The lab host, one module call per resource",
    "hosts": "vm_hosts", "gather_facts": False, "become": True,
    "tasks": [
        {"name": "Plan the slices", "ansible.builtin.set_fact": {"roles_plan": PLAN}},
        {"name": "Cut the NIC into slices", "ansible.builtin.include_role": {"name": "vmnet.netkit.nic_slice",
                                                                             "public": True},
         "vars": {"nic_slice_plan": "{{ roles_plan }}"}},
        {"name": "Give each VM its netkit device and qemu arguments",
         "ansible.builtin.include_role": {"name": "vmnet.netkit.vm_network", "public": True},
         "vars": {"vm_network_plan": "{{ roles_plan }}"}},
        {"name": "Re-apply all of it at boot", "ansible.builtin.include_role": {"name": "vmnet.netkit.slice_persistence"},
         "vars": {"slice_persistence_plan": "{{ roles_plan }}",
                  "slice_persistence_after": "{{ vmnet_reapply_after }}"}},
    ]}]


def remove_what_the_roles_made(node):
    """Take the roles' host apart by hand, whatever a failed step left, so the tests after these start from
    a node without slices (a shell script of its own: not the collection's code under test)."""
    nic = node.nic
    node.sh("for d in /sys/class/net/nk-*; do [ -e $d ] && ip link del ${{d##*/}}; done; "
            "for r in $(ethtool -n {nic} | sed -n 's/^Filter: //p'); do ethtool -N {nic} delete $r; done; "
            "for c in $(seq 1 16); do ethtool -x {nic} context $c >/dev/null 2>&1 && ethtool -X {nic} context $c delete; "
            "done; ethtool -X {nic} default; ip link set dev {nic} xdp off; rm -rf /sys/fs/bpf/vmnet-netkit; "
            "systemctl disable -q vmnet-netkit-reapply.service 2>/dev/null; "
            "rm -f /etc/systemd/system/vmnet-netkit-reapply.service; systemctl daemon-reload; "
            "rm -rf /etc/vmnet-netkit/qemu /var/lib/vmnet-netkit/reapply.json; true".format(nic=nic))
    assert kernel_view(node) == NOTHING


@pytest.fixture(scope="module")
def lab(lab_node):
    rc, out = run_playbook(lab_node, "teardown.yml")
    assert rc == 0, out[-4000:]
    yield lab_node
    # the last step proved the node is as teardown.yml leaves it; after a failed step, clean by hand
    if not STORY.get("apart"):
        remove_what_the_roles_made(lab_node)
        run_playbook(lab_node, "teardown.yml")


@pytest.fixture(scope="module")
def roles_play():
    with tempfile.TemporaryDirectory(prefix="lab-roles-") as work:
        book = Path(work) / "roles.yml"
        book.write_text(json.dumps(ROLES_PLAY))
        yield str(book)


def host_view(node):
    """What both paths must agree on, read on the node: the contexts, rules and netkit devices with their
    queues (kernel_view), the channels, the default table and the ntuple feature (ethtool), whether an XDP
    program is on the NIC and in which mode (ip), and every VM's qemu arguments."""
    nic = node.nic
    return {
        "slices": kernel_view(node),
        "nic": node.sh("ethtool -l %s; ethtool -k %s | grep ntuple; ethtool -x %s" % (nic, nic, nic)),
        "xdp": sorted(k for k in json.loads(node.sh("ip -j -d link show dev %s" % nic))[0].get("xdp", {})
                      if k in ("mode", "attached")) or None,
        "qemu": node.sh("for f in /etc/vmnet-netkit/qemu/*; do echo == $f; cat $f; done 2>/dev/null; true"),
    }


STORY = {}
# kernel_view of a host without slices: no context, no rule, no netkit device
NOTHING = ({}, "", "")


def test_provision_yml_makes_the_reference_host(lab):
    rc, out = run_playbook(lab, "provision.yml")
    assert rc == 0, out[-4000:]
    STORY["reference"] = host_view(lab)
    assert len(STORY["reference"]["slices"][0]) == 6, STORY["reference"]
    rc, out = run_playbook(lab, "teardown.yml")
    assert rc == 0, out[-4000:]
    assert kernel_view(lab) == NOTHING
    STORY["torn down"] = snapshot(lab)


def test_the_roles_make_the_same_host(lab, roles_play):
    if "reference" not in STORY:
        pytest.fail("the step before did not finish, so there is nothing to compare with")
    rc, out, modules = run_playbook_counted(lab, roles_play)
    assert rc == 0, out[-4000:]
    assert host_view(lab) == STORY["reference"]
    # one module run per role on the node (the three roles' host_network calls), whatever the number of VMs
    assert modules == 3, (modules, out[-4000:])
    # the boot-time re-apply is in place: its unit enabled, the plan saved, the same plan as the record
    assert lab.sh("systemctl is-enabled vmnet-netkit-reapply.service").strip() == "enabled"
    saved = json.loads(lab.sh("cat /var/lib/vmnet-netkit/reapply.json"))
    assert saved["plan"] == json.loads(lab.sh("cat /var/lib/vmnet-netkit/plan.json")), saved
    assert sorted(saved["plan"]["vms"]) == ["vm%d" % n for n in range(1, 7)]
    STORY["roles"] = True


def test_a_second_roles_run_changes_nothing(lab, roles_play):
    if "roles" not in STORY:
        pytest.fail("the step before did not finish, so there is nothing to re-run")
    before = host_view(lab)
    rc, out = run_playbook(lab, roles_play)
    assert rc == 0, out[-4000:]
    assert recap_changed(out) == 0, out[-4000:]
    assert host_view(lab) == before


def test_teardown_takes_the_roles_host_apart(lab):
    if "roles" not in STORY or "torn down" not in STORY:
        pytest.fail("the steps before did not finish, so there is nothing to take apart")
    rc, out = run_playbook(lab, "teardown.yml")
    assert rc == 0 and recap_changed(out) == 1, out[-4000:]
    assert kernel_view(lab) == NOTHING
    # the whole node, files, pins and unit included, as teardown.yml leaves a host provision.yml made
    assert snapshot(lab) == STORY["torn down"]
    STORY["apart"] = True
