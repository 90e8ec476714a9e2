# SPDX-License-Identifier: GPL-3.0-or-later
"""host_network through its argument spec: bad input is refused with the option named and what is
allowed, nothing on the (fake) host changes, and a good plan converges then changes nothing."""

from __future__ import annotations

import copy
import os

import pytest
from module_runner import run_module
from netkit_fake import FakeKernel
from nic_fake import FakeNic, use_fake

from ansible_collections.vmnet.netkit.plugins.module_utils.host import engine as host_engine
from ansible_collections.vmnet.netkit.plugins.module_utils.plan import slices as slice_plan
from ansible_collections.vmnet.netkit.plugins.modules import host_network

VMS = [{"name": "vm1", "queues": 1, "addresses": ["10.0.0.2"]}, {"name": "vm2", "queues": 2}]


INVENTORY = {"device": "eth0", "queues": 16, "host_queues": 8, "subnets": ["10.0.0.0/24"], "vms": VMS}


def good_plan():
    return slice_plan.plan(copy.deepcopy(VMS), "eth0", 16, 8, subnets=["10.0.0.0/24"])


@pytest.fixture()
def host(monkeypatch, tmp_path):
    nic = use_fake(monkeypatch, tmp_path / "state", FakeNic(device="eth0", combined=16))
    kernel = FakeKernel()
    commands = []
    attached = {}

    dirs = dict((k, str(tmp_path / k)) for k in ("state_dir", "qemu_dir", "lib_dir", "bpf_dir", "unit_dir"))

    def effects(argv):
        commands.append(argv)
        if argv[1:3] == ["prog", "load"]:
            for name in ("prog", "xsks"):
                open(os.path.join(argv[-1], name), "w").close()
        if argv[0] == "systemctl" and argv[-2] == "enable":
            wants = os.path.join(dirs["unit_dir"], "multi-user.target.wants")
            os.makedirs(wants, exist_ok=True)
            os.symlink(os.path.join(dirs["unit_dir"], argv[-1]), os.path.join(wants, argv[-1]))
        return 0, "", ""

    base = host_engine.HostIO

    class IO(base):
        def __init__(self, run=None):
            base.__init__(self, nic=nic, netkit=kernel, run=effects, which=lambda tool: "/usr/sbin/" + tool)

        def xdp(self, device):
            return attached.get(device)

        def xdp_attach(self, device, prog_pin, what):
            # rtnetlink, no process: kept beside the commands, so a run that attaches changes the snapshot
            commands.append(["(rtnetlink) xdp", device, prog_pin or "off"])
            if prog_pin:
                assert os.path.exists(prog_pin)
                attached[device] = {"mode": "driver", "prog_id": 1}
            else:
                attached.pop(device, None)

        def xdp_features(self, device):
            return ["basic", "redirect", "ndo-xmit", "xsk-zerocopy"]

    monkeypatch.setattr(host_engine, "HostIO", IO)
    return {"nic": nic, "kernel": kernel, "commands": commands, "dirs": dirs, "root": tmp_path}


def snapshot(host):
    files = sorted(os.path.join(b, n) for b, _d, names in os.walk(str(host["root"])) for n in names)
    return (copy.deepcopy(host["nic"].contexts), copy.deepcopy(host["nic"].rules),
            copy.deepcopy(host["nic"].channels), sorted(host["kernel"].links), dict(host["kernel"].leases),
            list(host["commands"]), files)


def test_a_good_plan_converges_then_changes_nothing(host):
    args = dict(host["dirs"], plan=good_plan())
    first = run_module(host_network, args)
    assert first["changed"] and first["vms"]["vm2"]["queues"] == [1, 2] and first["vms"]["vm2"]["binding"] == "lease"
    again = run_module(host_network, args)
    assert not again["changed"], again["actions"]
    assert again["commands"] == [] and again["actions"] == []


def _plan(**change):
    p = good_plan()
    for path, value in change.items():
        target = p
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[k]
        if value is DELETE:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return p


DELETE = object()

BAD = [
    # (module arguments besides the directories, option named in the message, text)
    ({}, "state=present needs the host's inventory or its plan", None),
    ({"plan": good_plan(), "inventory": dict(INVENTORY)}, "parameters are mutually exclusive: inventory|plan", None),
    ({"inventory": dict(INVENTORY, device=None)}, "inventory.device", "the NIC's name is required"),
    ({"inventory": {"device": "eth0", "queues": 16, "host_queues": 8}}, "missing required arguments: vms found in "
     "inventory", None),
    ({"inventory": dict(INVENTORY, queues="many")}, "queues", "int"),
    ({"inventory": dict(INVENTORY, vms=[{"name": "vm1"}])}, "inventory.vms[0].queues", "VM vm1 has no queues"),
    ({"inventory": dict(INVENTORY, vms=[{"name": "../x", "queues": 1}])}, "inventory.vms[0].name", None),
    ({"inventory": dict(INVENTORY, host_queues=16)}, "inventory.host_queues", "allowed: 1..15"),
    ({"inventory": dict(INVENTORY, subnets=["10.0.0.0/33"])}, "inventory.subnets", None),
    ({"inventory": dict(INVENTORY, subnets=[{"network": "10.0.0.0/24", "range": "10.0.0.20-10.0.0.10"}])},
     "inventory.subnets[0].range", "starts after it ends"),
    ({"inventory": dict(INVENTORY, subnets=[{"network": "10.0.0.0/24", "exclude": ["10.0.0.2"]}])},
     "inventory.vms[0].addresses", "10.0.0.2 is excluded from 10.0.0.0/24 (inventory.subnets[0].exclude: 10.0.0.2)"),
    # the other inputs a message names are under inventory too
    ({"inventory": dict(INVENTORY, subnets=["10.0.0.0/24", "10.0.0.0/25"])}, "inventory.subnets[1]",
     "overlaps inventory.subnets[0] (10.0.0.0/24)"),
    ({"inventory": dict(INVENTORY, vms=[{"name": "vm1", "queues": 1}, {"name": "vm1", "queues": 1}])},
     "inventory.vms[1].name", "(inventory.vms[0] and inventory.vms[1])"),
    ({"inventory": dict(INVENTORY, subnets=["10.0.0.0/24", 24])}, "inventory.subnets[1]", "CIDR"),
    ({"inventory": dict(INVENTORY, vms=[{"name": "vm1", "queues": 1, "colour": "red"}])}, "inventory.vms[0]",
     "colour"),
    ({"plan": {}}, "plan", "slice_plan"),
    ({"plan": {"device": "eth0"}}, "plan", "lacks channels"),
    ({"plan": _plan(device="eth0 x")}, "plan.device", "not a valid interface name"),
    ({"plan": _plan(device="a-very-long-nic-name")}, "plan.device", "1 to 15 characters"),
    ({"plan": _plan(vms=["vm1"])}, "plan.vms", "map VM names"),
    ({"plan": _plan(vms__vm1__netkit=DELETE)}, "plan.vms.vm1", "no netkit"),
    ({"plan": _plan(vms__vm1__netkit__name="nk/vm1")}, "plan.vms.vm1.netkit.name", "not a valid interface name"),
    ({"plan": good_plan(), "state": "running"}, "state", "present, absent, gathered"),
    ({"plan": good_plan(), "binding": "fast"}, "binding", "auto, lease, lowerdev"),
    ({"plan": good_plan(), "xdp_mode": "turbo"}, "xdp_mode", "native, skb"),
    ({"plan": good_plan(), "lock_timeout": -1}, "lock_timeout", "0 or more"),
    ({"plan": good_plan(), "device_timeout": -5}, "device_timeout", "0 or more"),
    ({"plan": good_plan(), "persistent": "maybe"}, "persistent", "bool"),
    ({"plan": good_plan(), "parts": ["nic", "disks"]}, "parts", "nic, vms, reapply"),
    ({"plan": good_plan(), "parts": []}, "parts", "give at least one of nic, vms, reapply"),
    ({"parts": ["reapply"]}, "plan", "persistent: false"),
    ({"plan": good_plan(), "remove_strays": "all"}, "remove_strays", "bool"),
]


@pytest.mark.parametrize("args, option, text", BAD)
def test_bad_input_is_refused_before_anything_changes(host, args, option, text):
    before = snapshot(host)
    r = run_module(host_network, dict(host["dirs"], **args), expect_failure=True)
    assert r["failed"] and not r.get("changed")
    assert option in r["msg"], r["msg"]
    assert text is None or text in r["msg"], r["msg"]
    assert snapshot(host) == before


def test_a_plan_that_needs_more_queues_than_the_nic_has_is_refused_by_the_nic_step(host):
    host["nic"].channels["max"]["combined"] = 8
    before = snapshot(host)
    r = run_module(host_network, dict(host["dirs"], plan=good_plan()), expect_failure=True)
    assert r["msg"].startswith("NIC eth0 (channels): ") and r["actions"] == []
    assert snapshot(host)[:5] == before[:5]


def test_an_inventory_is_planned_on_the_node_against_the_recorded_plan(host):
    """One call plans and converges; the plan is the filter's, and the next plan starts from the one the
    host recorded: a VM that stays keeps its queues when another leaves or joins."""
    args = dict(host["dirs"], inventory=copy.deepcopy(INVENTORY))
    first = run_module(host_network, args)
    assert first["changed"] and first["plan"] == good_plan()
    assert not run_module(host_network, args)["changed"]
    vm2 = first["plan"]["vms"]["vm2"]
    assert vm2["queues"] == [9, 10]
    # vm1 leaves: vm2 stays on 9..10 (planned without the record, it would move to 8..9)
    alone = run_module(host_network, dict(args, inventory=dict(INVENTORY, vms=[VMS[1]])))
    assert alone["plan"]["vms"]["vm2"] == vm2 and sorted(alone["plan"]["vms"]) == ["vm2"]
    assert slice_plan.plan([VMS[1]], "eth0", 16, 8, subnets=["10.0.0.0/24"])["vms"]["vm2"]["queues"] == [8, 9]
    # vm3 joins: first fit below vm2, vm2 unmoved; the gathered read returns the same plan
    three = dict(INVENTORY, vms=[VMS[1], {"name": "vm3", "queues": 1}])
    joined = run_module(host_network, dict(args, inventory=three))
    assert joined["plan"]["vms"]["vm3"]["queues"] == [8, 8] and joined["plan"]["vms"]["vm2"] == vm2
    gathered = run_module(host_network, dict(args, inventory=three, state="gathered"))
    assert gathered["plan"] == joined["plan"] and not gathered["changed"]


def test_an_inventory_address_pool_is_planned_on_the_node(host):
    """A pool ({network, range, exclude}) reaches the planner on the node as the filter takes it."""
    pool = {"network": "10.0.0.0/24", "range": "10.0.0.100-10.0.0.110", "exclude": ["10.0.0.100"]}
    r = run_module(host_network, dict(host["dirs"], inventory=dict(INVENTORY, subnets=[pool])))
    assert [r["plan"]["vms"][n]["addresses"] for n in ("vm1", "vm2")] == [["10.0.0.2"], ["10.0.0.101"]]
    assert r["plan"] == slice_plan.plan(copy.deepcopy(VMS), "eth0", 16, 8, subnets=[pool])


def test_an_inventory_in_check_mode_plans_against_the_record_and_changes_nothing(host):
    args = dict(host["dirs"], inventory=copy.deepcopy(INVENTORY))
    run_module(host_network, args)
    before = snapshot(host)
    r = run_module(host_network, dict(args, inventory=dict(INVENTORY, vms=[VMS[1]])), check_mode=True)
    assert r["changed"] and r["plan"]["vms"]["vm2"]["queues"] == [9, 10]
    assert snapshot(host) == before
