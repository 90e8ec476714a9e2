# SPDX-License-Identifier: GPL-3.0-or-later
"""What happens when things go wrong, on the lab node: two runs at once are serialized by the
host's lock (a run that cannot get it in time gives up, names the holder and changes nothing), a
full disk under the state directory fails the run with the file named while the records stay whole,
a run killed (SIGKILL) right after any one of its changes leaves a host that the next run converges
from, and a node that reboots in the middle of a run comes up with its recorded VMs (the boot-time
re-apply) and converges on the next run; the next run converges in each case."""

from __future__ import annotations

import json
import shlex
import threading

import pytest
from lab_frames import frames_to_vm
from lab_play import recap_changed, run, run_playbook
from test_provision import LAB_VMS, WITH_VM7, snapshot, table_queues

STATE = "/var/lib/vmnet-netkit"


@pytest.fixture(scope="module")
def lab(lab_node):
    rc, out = run_playbook(lab_node, "teardown.yml")
    assert rc == 0, out[-4000:]
    rc, out = run_playbook(lab_node, "provision.yml")
    assert rc == 0, out[-4000:]
    yield lab_node
    lab_node.ssh("umount %s 2>/dev/null; pkill -f '^flock -o %s/loc[k]' ; true" % (STATE, STATE))
    run_playbook(lab_node, "teardown.yml")


def test_a_run_that_cannot_get_the_lock_gives_up_and_changes_nothing(lab):
    # another run holds the lock (here: flock holding it while a command runs; -o keeps the lock in
    # flock itself, so killing flock releases it)
    lab.sh("nohup flock -o %s/lock sleep 600 >/dev/null 2>&1 & sleep 1" % STATE)
    try:
        before = snapshot(lab)
        rc, out = run_playbook(lab, "provision.yml", dict(WITH_VM7, vmnet_lock_timeout=3))
        out = " ".join(out.split())  # the callback folds long messages
        assert rc != 0
        assert "another vmnet.netkit run on this host" in out and "%s/lock for 3 s" % STATE in out, out[-3000:]
        assert "nothing was changed" in out
        assert snapshot(lab) == before
    finally:
        lab.sh("pkill -f '^flock -o %s/loc[k]'; true" % STATE)


def contexts(node):
    """The RSS context ids the NIC has, as ethtool shows them."""
    return [c for c in range(1, 17) if node.ssh("ethtool -x %s context %d" % (node.nic, c)).returncode == 0]


def test_two_runs_at_once_are_serialized(lab):
    results = []

    def play():
        results.append(run_playbook(lab, "provision.yml", WITH_VM7))
    threads = [threading.Thread(target=play) for _n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [rc for rc, _out in results] == [0, 0], [out[-2000:] for _rc, out in results]
    # one of them made the change, the other found nothing left to do
    assert sorted(recap_changed(out) for _rc, out in results) == [0, 1]
    assert len(contexts(lab)) == 7
    rc, out = run_playbook(lab, "verify.yml", WITH_VM7)
    assert rc == 0 and "7 VMs as planned, no drift" in out, out[-3000:]
    assert len(contexts(lab)) == 7


def test_a_full_disk_names_the_file_and_leaves_the_records_whole(lab):
    ok_rc, _out = run_playbook(lab, "provision.yml")  # back to six VMs
    assert ok_rc == 0
    records = lab.sh("sha256sum %s/*.json" % STATE)
    # the state directory on a file system with no room left
    lab.sh("mkdir -p /run/full && cp -a %s/. /run/full/ && mount -t tmpfs -o size=256k tmpfs %s && "
           "cp -a /run/full/. %s/ && (dd if=/dev/zero of=%s/filler bs=4k 2>/dev/null; true)"
           % (STATE, STATE, STATE, STATE))
    try:
        rc, out = run_playbook(lab, "provision.yml", WITH_VM7)
        out = " ".join(out.split())  # the callback folds long messages
        assert rc != 0
        assert "No space left on device" in out and "cannot write %s/" % STATE in out, out[-3000:]
        assert "(the old file, if any, is unchanged)" in out
        assert lab.sh("sha256sum %s/*.json" % STATE) == records
        # the context made for vm7 before the record failed is gone again: nothing unnamed is left
        assert len(contexts(lab)) == 6
    finally:
        lab.sh("umount %s" % STATE)
    # room again: the next run converges
    rc, out = run_playbook(lab, "provision.yml", WITH_VM7)
    assert rc == 0, out[-3000:]
    rc, out = run_playbook(lab, "verify.yml", WITH_VM7)
    assert rc == 0 and "7 VMs as planned, no drift" in out, out[-3000:]
    assert len(contexts(lab)) == 7


TWO_VMS = {"vmnet_vms": [{"name": "vm1", "queues": 1, "addresses": ["10.0.0.2"]},
                         {"name": "vm7", "queues": 2, "addresses": ["10.0.0.8", "fd00:10::8"]}]}


def kernel_view(node):
    """What the slices are made of, the way the kernel shows it: contexts (their tables), rules (their
    match and action), netkit devices with their queues, the NIC queues leased (queue-get through the
    NIC's sysfs: a leased queue cannot be bound by AF_XDP, so it is read from the devices' queues)."""
    contexts = {}
    for c in range(1, 17):
        out = node.ssh("ethtool -x %s context %d" % (node.nic, c))
        if out.returncode == 0:
            contexts[c] = sorted(table_queues(out.stdout))
    rules = node.sh("ethtool -n %s | grep -E 'Filter|Dest|Action|Context' || true" % node.nic)
    devices = node.sh("for d in /sys/class/net/nk-*; do [ -e $d ] && echo ${d##*/} $(ls $d/queues); done; true")
    return contexts, rules, devices


@pytest.mark.extended   # 4 to 10 minutes each under TCG: VMNET_TEST_EXTENDED=1
def test_a_run_killed_after_any_change_leaves_a_host_the_next_run_converges_from(lab):
    """Each run gets VMNET_NETKIT_KILL_AFTER=1: it kills itself (SIGKILL) right after its first change
    of the host. Starting from a bare host, run after run, every state a killed run can leave (after
    1, 2, ... changes of a full provision) is the start of the next run, until a run makes no change:
    the host has converged from every one of them."""
    ok_rc, out = run_playbook(lab, "provision.yml", TWO_VMS)
    assert ok_rc == 0, out[-3000:]
    plan = json.loads(lab.sh("cat %s/plan.json" % STATE))
    reference = kernel_view(lab)
    assert len(reference[0]) == 2, reference
    ok_rc, out = run_playbook(lab, "teardown.yml")
    assert ok_rc == 0, out[-3000:]
    assert kernel_view(lab) == ({}, "", "")
    kills = []
    for _attempt in range(120):
        result = run(lab, "host_network", {"plan": plan}, environment={"VMNET_NETKIT_KILL_AFTER": "1"})
        if not result.get("failed"):
            break
        trace = result.get("module_stderr") or ""
        assert "VMNET_NETKIT_KILL_AFTER=1: killed after change 1: " in trace, result.get("msg")
        kills.append(trace.split("killed after change 1: ")[1].splitlines()[0])
    else:
        pytest.fail("still changing after 120 runs: %s" % kills[-10:])
    # a run that was not killed made no change: the host had converged
    assert not result["changed"], result["actions"]
    # every kind of change was a kill point, the gap between a device and its leases among them
    for what in ("context_create", "rule_add", "create nk-vm7", "lease %s queue" % lab.nic, "write ",
                 "attaching the XDP program"):
        assert [k for k in kills if what in k], (what, kills)
    # what the killed runs left behind was taken up, not made again: same contexts, rules, devices
    # and leases as one clean run (context ids may differ), and verify.yml finds no drift
    view = kernel_view(lab)
    assert sorted(view[0].values()) == sorted(reference[0].values()), (view, reference)
    assert len(view[1].splitlines()) == len(reference[1].splitlines()) and view[2] == reference[2], (view, reference)
    rc, out = run_playbook(lab, "verify.yml", TWO_VMS)
    assert rc == 0 and "2 VMs as planned, no drift" in out, out[-3000:]


@pytest.mark.extended   # 4 to 10 minutes each under TCG: VMNET_TEST_EXTENDED=1
def test_a_reboot_in_the_middle_of_a_run_comes_back_recorded_and_the_next_run_converges(lab):
    """Six VMs are provisioned and recorded; a run that adds vm7 is killed right after it created vm7's
    netkit device (vm7's context and rules made, the device's leases and the records not), and the node
    reboots before anyone runs again."""
    ok_rc, out = run_playbook(lab, "provision.yml", WITH_VM7)
    assert ok_rc == 0, out[-3000:]
    plan7 = json.loads(lab.sh("cat %s/plan.json" % STATE))
    ok_rc, out = run_playbook(lab, "provision.yml")  # vm7 leaves again: six VMs recorded
    assert ok_rc == 0, out[-3000:]
    recorded = lab.sh("sha256sum %s/plan.json" % STATE)
    result = run(lab, "host_network", {"plan": plan7}, environment={"VMNET_NETKIT_KILL_AFTER": "create nk-vm7"})
    assert result.get("failed") and ": create nk-vm7" in (result.get("module_stderr") or ""), result
    assert lab.ssh("ip link show nk-vm7").returncode == 0  # half-made: the device is there ...
    assert lab.sh("ls /sys/class/net/nk-vm7/queues").split() == ["rx-0", "tx-0"]  # ... without its leases
    assert lab.sh("sha256sum %s/plan.json" % STATE) == recorded
    lab.reboot()
    lab.ssh("systemctl is-system-running --wait")
    unit = lab.sh("systemctl show -p Result -p ActiveState vmnet-netkit-reapply.service")
    assert "ActiveState=active" in unit and "Result=success" in unit, unit
    # the re-apply brought back what the record names: six VMs, no drift
    rc, out = run_playbook(lab, "verify.yml")
    assert rc == 0 and "6 VMs as planned, no drift" in out, out[-3000:]
    # and the run that was cut short, run again, converges
    ok_rc, out = run_playbook(lab, "provision.yml", WITH_VM7)
    assert ok_rc == 0 and recap_changed(out) == 1, out[-3000:]
    rc, out = run_playbook(lab, "verify.yml", WITH_VM7)
    assert rc == 0 and "7 VMs as planned, no drift" in out, out[-3000:]
    assert len(contexts(lab)) == 7


@pytest.mark.extended   # 4 to 10 minutes each under TCG: VMNET_TEST_EXTENDED=1
def test_a_nic_driver_reload_is_reported_then_repaired(lab):
    """The NIC's driver is reloaded under seven provisioned VMs (rmmod, then the script that brings the lab's
    NICs up at boot, as the driver and udev would): the NIC comes back with a new ifindex and without its
    contexts, rules and XDP program, and the kernel deletes the netkit devices that leased its queues.
    verify.yml reports it, one provision run repairs it (contexts under ids the kernel gives now, the
    rules pointing at them), and a VM's frames reach it again."""
    rc, out = run_playbook(lab, "provision.yml", WITH_VM7)
    assert rc == 0, out[-3000:]
    rc, out = run_playbook(lab, "verify.yml", WITH_VM7)
    assert rc == 0 and "7 VMs as planned, no drift" in out, out[-3000:]
    ifindex = lab.sh("cat /sys/class/net/%s/ifindex" % lab.nic)
    lab.sh("rmmod netdevsim && vmnet-lab-nic")
    assert lab.sh("cat /sys/class/net/%s/ifindex" % lab.nic) != ifindex
    assert contexts(lab) == [] and "Total 0 rules" in lab.sh("ethtool -n %s" % lab.nic)
    assert lab.ssh("ip link show nk-vm1").returncode != 0
    rc, out = run_playbook(lab, "verify.yml", WITH_VM7)
    assert rc != 0, out[-3000:]
    for drift in ("RSS context vm1", "RSS context vm7", "rule 10.0.0.2", "netkit nk-vm1", "XDP program"):
        assert drift in out, (drift, out[-3000:])
    rc, out = run_playbook(lab, "provision.yml", WITH_VM7)
    assert rc == 0 and recap_changed(out) == 1, out[-3000:]
    rc, out = run_playbook(lab, "verify.yml", WITH_VM7)
    assert rc == 0 and "7 VMs as planned, no drift" in out, out[-3000:]
    assert len(contexts(lab)) == 7
    assert lab.sh("ls /sys/class/net/nk-vm1/queues").split() == ["rx-0", "rx-1", "tx-0"]
    assert frames_to_vm(lab, "vm1", {"10.0.0.2": 10}, {"10.0.0.3": 5}) == [10]


WITH_VM7_VM8 = {"vmnet_vms": LAB_VMS + [{"name": "vm7", "queues": 1, "addresses": ["10.0.0.8"]},
                                        {"name": "vm8", "queues": 1, "addresses": ["10.0.0.9"]}]}


def test_the_nic_refusing_a_context_mid_run_leaves_a_host_the_next_run_converges_from(lab):
    """Contexts made by hand leave the NIC (15 context ids) room for one more, and a run adds two VMs:
    the plan has nothing against it, the NIC makes vm7's context and refuses vm8's. The run fails naming
    vm8, the NIC's words and the hand-made contexts; nothing else moved; the next run refuses before its
    first write while they are there; once their owner deleted them, a run converges, taking up the
    context the refused run made for vm7 instead of making a second one."""
    rc, out = run_playbook(lab, "provision.yml")  # six VMs
    assert rc == 0, out[-3000:]
    # a limit learned from an earlier refusal is kept as a fact of the NIC (teardown too keeps it), and
    # with it the run would refuse before its first write: this test is about the NIC's own refusal
    lab.sh("python3 -c %s %s/nic-slices.json" % (shlex.quote(
        "import json, sys\nrecord = json.load(open(sys.argv[1]))\n"
        "for device in record['devices'].values():\n    device.pop('max_contexts', None)\n"
        "json.dump(record, open(sys.argv[1], 'w'))"), STATE))
    six = kernel_view(lab)
    assert len(six[0]) == 6, six
    made = [int(lab.sh("ethtool -X %s context new start 0 equal 1" % lab.nic).split()[-1]) for _n in range(8)]
    assert sorted(list(six[0]) + made) == list(range(1, 15))
    try:
        rc, out = run_playbook(lab, "provision.yml", WITH_VM7_VM8)
        out = " ".join(out.split())  # the callback folds long messages
        assert rc != 0
        assert "create RSS context 'vm8' on %s: start 15 equal 1 failed" % lab.nic in out, out[-3000:]
        assert "(Device or resource busy); %s has no room for another RSS context: it held 15 when this one was " \
               "refused (6 recorded by vmnet.netkit, 1 created by this run, 8 not made by vmnet.netkit: ids %d-%d); " \
               "delete the contexts no longer needed (ethtool -X %s context N delete) and run again" \
               % (lab.nic, min(made), max(made), lab.nic) in out, out[-3000:]
        view = kernel_view(lab)
        vm7 = [c for c in view[0] if c not in six[0] and c not in made]
        assert len(view[0]) == 15 and len(vm7) == 1 and view[0][vm7[0]] == [14], view[0]
        # the six VMs' contexts, and every rule and device, as before
        assert {c: view[0][c] for c in six[0]} == six[0] and view[1:] == six[1:]

        before = snapshot(lab)
        rc, out = run_playbook(lab, "provision.yml", WITH_VM7_VM8)
        out = " ".join(out.split())
        assert rc != 0 and "16 RSS contexts would exist on %s but the NIC allows at most 15; 8 of them not made by " \
            "vmnet.netkit: ids %d-%d" % (lab.nic, min(made), max(made)) in out, out[-3000:]
        assert snapshot(lab) == before
    finally:
        # their owner deletes them (also when an assertion above failed: later tests need the ids)
        lab.ssh("; ".join("ethtool -X %s context %d delete" % (lab.nic, c) for c in made))
    rc, out = run_playbook(lab, "provision.yml", WITH_VM7_VM8)
    assert rc == 0, out[-3000:]
    rc, out = run_playbook(lab, "verify.yml", WITH_VM7_VM8)
    assert rc == 0 and "8 VMs as planned, no drift" in out, out[-3000:]
    view = kernel_view(lab)
    assert len(view[0]) == 8 and view[0][vm7[0]] == [14] and sorted(view[0].values()) == [[q] for q in range(8, 16)]
