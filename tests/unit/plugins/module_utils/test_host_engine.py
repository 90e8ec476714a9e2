# SPDX-License-Identifier: GPL-3.0-or-later
"""host.engine: a whole host's plan converged in one call, on a fake NIC, a fake netkit kernel and
fake commands (bpftool, ip, systemctl) whose effects land in temporary directories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from netkit_fake import K612, K73, FakeKernel
from nic_fake import FakeNic, use_fake

from ansible_collections.vmnet.netkit.plugins.module_utils.host import engine as host_engine
from ansible_collections.vmnet.netkit.plugins.module_utils.host import reapply
from ansible_collections.vmnet.netkit.plugins.module_utils.plan import slices as slice_plan
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import caps as netkit_caps
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import service as netkit_service
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import xdp_program
from ansible_collections.vmnet.netkit.plugins.module_utils.nic import service as nic_service
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import (KernelError, NetkitError, UnsupportedError,
                                                                          ValidationError)
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink.core import NetlinkError

REAPPLY = "ansible_collections.vmnet.netkit.plugins.module_utils.host.reapply"  # the unit's module, spelled out
HOST_IO = host_engine.HostIO  # the tests of the boot re-apply replace it in host_engine
VMS = [{"name": "vm1", "queues": 1, "addresses": ["10.0.0.2"]}, {"name": "vm2", "queues": 2},
       {"name": "vm3", "queues": 1}]


def plan_of(vms, previous=None):
    return slice_plan.plan(vms, "eth0", 16, 8, subnets=["10.0.0.0/24"], previous=previous)


class Host(object):
    """The fakes, one event log across them (to check the order of changes), and the engine's options."""

    def __init__(self, tmp_path, monkeypatch):
        self.root = tmp_path
        self.log = []
        self.nic = FakeNic(device="eth0", combined=8, max_combined=16)
        use_fake(monkeypatch, tmp_path / "state", self.nic)
        self.kernel = FakeKernel()
        self.attached = None
        self.xdp_features = ["basic", "redirect", "ndo-xmit", "xsk-zerocopy"]
        self.qemu = {"binary": "/usr/bin/qemu-system-x86_64", "version": "10.1.0", "af_xdp": True, "map_path": True}
        self.opts = dict((k, str(tmp_path / k)) for k in ("state_dir", "qemu_dir", "lib_dir", "bpf_dir", "unit_dir"))
        nic_apply, kernel_create, kernel_delete = self.nic.apply, self.kernel.create, self.kernel.delete

        def logged(name, call):
            def wrapper(*args):
                self.log.append((name, args[-1] if name == "nic" else args[0]))
                return call(*args)
            return wrapper
        self.nic.apply = logged("nic", nic_apply)
        self.kernel.create = logged("create", kernel_create)
        self.kernel.delete = logged("delete", kernel_delete)

    def xdp_attach(self, device, prog_pin, what):
        """HostIO.xdp_attach: the program pinned at ``prog_pin`` on the device's XDP hook, or none."""
        self.log.append(("xdp", (device, prog_pin)))
        if prog_pin is not None:
            assert os.path.exists(prog_pin), "nothing pinned at %s" % prog_pin
            self.attached = {"mode": "driver", "prog_id": 7}
        else:
            self.attached = None

    def run(self, argv):
        """bpftool and systemctl as the engine uses them (and ip as older roles did), with their effects
        on the fake host."""
        self.log.append(("command", argv))
        if argv[1:3] == ["prog", "load"]:
            pin_dir = argv[-1]
            for name in ("prog", "xsks"):
                open(os.path.join(pin_dir, name), "w").close()
        elif argv[1:3] == ["link", "set"] and argv[-2:-1] == ["pinned"]:
            self.attached = {"mode": "driver", "prog_id": 7}
        elif argv[1:3] == ["link", "set"] and argv[-1] == "off":
            self.attached = None
        elif argv[0] == "systemctl" and argv[-2] in ("enable", "disable"):
            wants = os.path.join(self.opts["unit_dir"], "multi-user.target.wants", argv[-1])
            if argv[-2] == "enable":
                os.makedirs(os.path.dirname(wants), exist_ok=True)
                os.symlink(os.path.join(self.opts["unit_dir"], argv[-1]), wants)
            else:
                os.unlink(wants)
        return 0, "", ""

    def io(self):
        io = HOST_IO(nic=self.nic, netkit=self.kernel, run=self.run, which=lambda t: "/usr/sbin/" + t)
        io.xdp = lambda device: self.attached
        io.xdp_attach = self.xdp_attach
        io.xdp_features = lambda device: self.xdp_features
        io.qemu = lambda: self.qemu
        return io

    def converge(self, plan=None, check=False, **kw):
        params = dict(self.opts, plan=plan, **kw)
        return host_engine.converge(params, self.io(), check_mode=check)

    def files(self):
        out = {}
        for base, _dirs, names in os.walk(str(self.root)):
            for name in names:
                path = os.path.join(base, name)
                out[os.path.relpath(path, str(self.root))] = open(path, "rb").read() if not os.path.islink(path) \
                    else "-> " + os.readlink(path)
        return out

    def kernel_view(self):
        return ({"contexts": dict(self.nic.contexts), "rules": dict(self.nic.rules),
                 "channels": dict(self.nic.channels["current"]), "table": list(self.nic.table)},
                dict((k, dict(v)) for k, v in self.kernel.links.items()), dict(self.kernel.leases), self.attached)


@pytest.fixture()
def host(tmp_path, monkeypatch):
    return Host(tmp_path, monkeypatch)


def test_first_run_converges_everything_and_a_second_run_starts_nothing(host):
    plan = plan_of(VMS)
    first = host.converge(plan)
    assert first["changed"]
    # the NIC: channels, the host's table over 0..7, one context per VM over its queues, the rule
    assert host.nic.channels["current"]["combined"] == 16 and sorted(set(host.nic.table)) == list(range(8))
    tables = sorted(sorted(set(c["table"])) for c in host.nic.contexts.values())
    assert tables == [[8], [9, 10], [11]]
    assert [r["dst_ip"] for r in host.nic.rules.values()].count("10.0.0.2") == 1
    # netkit devices own their NIC queues; qemu's arguments name the ids the kernel gave
    assert dict((q, l["ifindex"]) for q, l in host.kernel.leases.items()).keys() == {8, 9, 10, 11}
    assert first["vms"]["vm2"]["queues"] == [1, 2]
    for vm in plan["vms"].values():
        link = host.kernel.links[(None, vm["netkit"]["name"])]
        assert (link["address"], link["netkit"]["pairing"], link["netkit"]["mode"], link["up"]) == \
            (vm["mac"], "single", "l2", True)
    args = open(os.path.join(host.opts["qemu_dir"], "vm2.args")).read().splitlines()
    assert args[1] == ("af-xdp,id=net-vm2,ifname=nk-vm2,mode=native,queues=2,start-queue=1,inhibit=on,"
                       "map-path=%s/eth0/xsks,map-start-index=9" % host.opts["bpf_dir"])
    assert '<qemu:arg value="-netdev"/>' in open(os.path.join(host.opts["qemu_dir"], "vm2.xml")).read()
    # the XDP program: shipped object written, loaded, attached
    obj = os.path.join(host.opts["lib_dir"], "xdp", xdp_program.OBJECT_NAME)
    assert open(obj, "rb").read() == xdp_program.object_bytes()
    assert [c[:3] for c in host.io().commands] == []
    assert [" ".join(c[1:3]) for n, c in host.log if n == "command"] == ["prog load", "--no-reload enable"]
    assert [a for n, a in host.log if n == "xdp"] == [("eth0", os.path.join(host.opts["bpf_dir"], "eth0", "prog"))]
    assert host.attached and os.stat(os.path.join(host.opts["bpf_dir"], "eth0")).st_mode & 0o777 == 0o700
    # records: the plan, and the re-apply (version 2: the plan itself) with its unit and code
    assert json.load(open(os.path.join(host.opts["state_dir"], "plan.json"))) == plan
    record = json.load(open(os.path.join(host.opts["state_dir"], "reapply.json")))
    assert record["version"] == 2 and record["plan"] == plan and record["devices"] == ["eth0"]
    unit = open(os.path.join(host.opts["unit_dir"], "vmnet-netkit-reapply.service")).read()
    assert "ExecStart=/usr/bin/python3 -m %s %s/reapply.json" % (REAPPLY, host.opts["state_dir"]) in unit
    assert "Before=network.target libvirtd.service virtqemud.service" in unit
    # the second run: nothing to do, no command, no change on any fake
    files, view, log = host.files(), host.kernel_view(), list(host.log)
    again = host.converge(plan)
    assert not again["changed"] and again["actions"] == [] and again["commands"] == []
    assert host.log == log and host.files() == files and host.kernel_view() == view
    assert again["qemu_args"] == first["qemu_args"]


def test_check_mode_on_a_fresh_host_changes_nothing_and_says_what_it_would_do(host):
    files, view = host.files(), host.kernel_view()
    r = host.converge(plan_of(VMS), check=True)
    assert r["changed"] and host.files() == files and host.kernel_view() == view and host.log == []
    text = "\n".join(r["actions"])
    for what in ("create netkit device nk-vm1", "load the XDP program", "attach the XDP program to eth0",
                 "write qemu arguments", "write the plan record", "enable vmnet-netkit-reapply.service"):
        assert what in text, (what, text)
    assert r["vms"]["vm2"]["queues"] == [1, 2]  # the ids the kernel will give
    assert r["diff"]["before"]["file %s/vm1.args" % host.opts["qemu_dir"]] is None


def test_a_vm_that_left_loses_its_device_before_its_rules_and_context(host):
    plan = plan_of(VMS)
    host.converge(plan)
    host.log = []
    smaller = plan_of([VMS[0], VMS[2]], previous=plan)
    r = host.converge(smaller)
    assert r["changed"] and (None, "nk-vm2") not in host.kernel.links and (None, "nk-vm1") in host.kernel.links
    order = [(n, what if n != "nic" else what["op"]) for n, what in host.log]
    assert order.index(("delete", "nk-vm2")) < order.index(("nic", "context_delete"))
    assert not os.path.exists(os.path.join(host.opts["qemu_dir"], "vm2.args"))
    assert sorted(os.listdir(host.opts["qemu_dir"])) == ["vm1.args", "vm1.xml", "vm3.args", "vm3.xml"]
    assert sorted(sorted(set(c["table"])) for c in host.nic.contexts.values()) == [[8], [11]]
    assert not host.converge(smaller)["changed"]


def test_a_vm_that_left_frees_its_queues_for_a_new_vm_in_the_same_run(host):
    plan = plan_of(VMS)
    host.converge(plan)
    host.log = []
    # vm2 leaves and vm4 comes: vm4 gets vm2's queues 9..10, so vm2's rule and context must be gone
    # before vm4's context is made (contexts may not overlap)
    swapped = plan_of([VMS[0], VMS[2], {"name": "vm4", "queues": 2, "addresses": ["10.0.0.9"]}], previous=plan)
    assert swapped["vms"]["vm4"]["queues"] == [9, 10]
    r = host.converge(swapped)
    assert r["changed"]
    order = [(n, what if n != "nic" else what["op"]) for n, what in host.log]
    nic_ops = [what for n, what in order if n == "nic"]
    assert nic_ops.index("context_delete") < nic_ops.index("context_create")
    assert sorted(sorted(set(c["table"])) for c in host.nic.contexts.values()) == [[8], [9, 10], [11]]
    assert sorted(r["dst_ip"] for r in host.nic.rules.values()) == sorted(r["dst_ip"] for r in swapped["rules"])
    assert plan["vms"]["vm2"]["addresses"][0] not in [r["dst_ip"] for r in host.nic.rules.values()]
    assert not host.converge(swapped)["changed"]


def test_contexts_and_rules_of_someone_else_are_left_alone(host):
    plan = plan_of(VMS)
    host.converge(plan)
    # made by hand (ethtool -X eth0 start 15 equal 1 context new; ethtool -N eth0 flow-type tcp4 ...)
    host.nic.contexts[9] = {"id": 9, "table": [15] * len(host.nic.table), "hfunc": "toeplitz", "key": host.nic.key}
    host.nic.rules[100] = {"flow_type": "tcp4", "dst_ip": "192.0.2.9", "dst_port": 22, "queue": 2, "loc": 100}
    host.nic.rules[101] = {"flow_type": "udp4", "dst_ip": "192.0.2.10", "context": 9, "loc": 101}
    before = host.kernel_view()
    r = host.converge(plan)
    assert not r["changed"], r["actions"]
    assert host.kernel_view() == before
    # a VM that leaves still takes its own rule and context with it, and only those
    smaller = plan_of([VMS[0], VMS[2]], previous=plan)
    host.converge(smaller)
    assert 9 in host.nic.contexts and 100 in host.nic.rules and 101 in host.nic.rules
    assert sorted(sorted(set(c["table"])) for c in host.nic.contexts.values()) == [[8], [11], [15]]


def test_remove_strays_removes_what_no_record_names_and_nothing_else(host):
    plan = plan_of(VMS)
    host.converge(plan)
    # someone else's: a context taking queue 9 of vm2 (an overlap a run would otherwise refuse once vm2 is
    # made again), a rule to it, a queue rule, a netkit device named like a VM's, one a VM's qemu uses, and a
    # veth named like a VM's device
    host.kernel.delete("nk-vm2")
    host.nic.rules = dict((k, v) for k, v in host.nic.rules.items() if v.get("dst_ip") != plan["vms"]["vm2"]["addresses"][0])
    vm2_context = [cid for cid, c in host.nic.contexts.items() if set(c["table"]) == {9, 10}][0]
    del host.nic.contexts[vm2_context]
    host.nic.contexts[9] = {"id": 9, "table": [9] * len(host.nic.table), "hfunc": "toeplitz", "key": host.nic.key}
    host.nic.rules[100] = {"flow_type": "udp4", "dst_ip": "192.0.2.10", "context": 9, "loc": 100}
    host.nic.rules[101] = {"flow_type": "tcp4", "dst_ip": "192.0.2.9", "dst_port": 22, "queue": 2, "loc": 101}
    host.kernel.create({"name": "nk-old", "pairing": "single", "mode": "l2"})
    host.kernel.create({"name": "nk-busy", "pairing": "single", "mode": "l2"})
    host.kernel.processes[4242] = ["qemu-system-x86_64", "-netdev", "af-xdp,id=n,ifname=nk-busy,queues=1"]
    host.kernel.links[(None, "nk-veth")] = {"ifindex": 90, "name": "nk-veth", "kind": "veth", "up": True, "netns": None}
    # without the option a run refuses the overlap and leaves all of it
    with pytest.raises(ValidationError) as err:
        host.converge(plan)
    assert "overlaps existing context 9" in str(err.value)
    assert str(err.value).endswith("remove_strays (provision.yml: -e vmnet_remove_strays=true) removes the contexts "
                                   "vmnet.netkit did not make"), str(err.value)
    assert 9 in host.nic.contexts and (None, "nk-old") in host.kernel.links
    # check mode says what would go and changes nothing
    view = host.kernel_view()
    r = host.converge(plan, check=True, remove_strays=True)
    assert host.kernel_view() == view and r["changed"]
    host.log = []
    r = host.converge(plan, remove_strays=True)
    assert r["changed"] and 100 not in host.nic.rules and 101 not in host.nic.rules
    assert sorted(sorted(set(c["table"])) for c in host.nic.contexts.values()) == [[8], [9, 10], [11]]
    assert (None, "nk-old") not in host.kernel.links and (None, "nk-vm2") in host.kernel.links
    assert (None, "nk-busy") in host.kernel.links and (None, "nk-veth") in host.kernel.links
    assert any("nk-busy" in n and "4242" in n for n in r["notes"]), r["notes"]
    order = [(n, what if n != "nic" else what["op"]) for n, what in host.log]
    assert order.index(("nic", "context_delete")) < order.index(("nic", "context_create"))
    again = host.converge(plan, remove_strays=True)
    assert not again["changed"], again["actions"]


def test_remove_strays_touches_only_the_parts_a_run_converges(host):
    plan = plan_of(VMS)
    host.converge(plan)
    host.nic.rules[101] = {"flow_type": "tcp4", "dst_ip": "192.0.2.9", "dst_port": 22, "queue": 2, "loc": 101}
    host.kernel.create({"name": "nk-old", "pairing": "single", "mode": "l2"})
    host.converge(plan, parts=["nic"], remove_strays=True)
    assert 101 not in host.nic.rules and (None, "nk-old") in host.kernel.links
    host.nic.rules[101] = {"flow_type": "tcp4", "dst_ip": "192.0.2.9", "dst_port": 22, "queue": 2, "loc": 101}
    host.converge(plan, parts=["vms"], remove_strays=True)
    assert 101 in host.nic.rules and (None, "nk-old") not in host.kernel.links


def test_drift_is_repaired_by_the_next_run(host):
    plan = plan_of(VMS)
    host.converge(plan)
    host.kernel.delete("nk-vm3")
    host.attached = None
    os.unlink(os.path.join(host.opts["qemu_dir"], "vm1.args"))
    r = host.converge(plan)
    text = "\n".join(r["actions"])
    assert "create netkit device nk-vm3" in text and "attach the XDP program to eth0" in text
    assert "load the XDP program" not in text  # still pinned: only attached again
    assert os.path.exists(os.path.join(host.opts["qemu_dir"], "vm1.args"))
    assert not host.converge(plan)["changed"]


def test_teardown_removes_everything_the_record_names_reapply_first(host):
    host.converge(plan_of(VMS))
    r = host.converge(state="absent")
    assert r["changed"] and not host.nic.contexts and not host.nic.rules and not host.nic.configured
    assert not [k for k, v in host.kernel.links.items() if v["kind"] == "netkit"] and not host.kernel.leases
    assert host.attached is None
    # records, unit, code, XDP object, qemu files, pins: gone; the lock and an empty slice record stay
    left = host.files()
    assert sorted(left) == ["state_dir/lock", "state_dir/nic-slices.json"], sorted(left)
    assert json.loads(left["state_dir/nic-slices.json"])["devices"]["eth0"]["contexts"] == {}
    assert r["actions"][0].startswith("disable vmnet-netkit-reapply.service")
    assert not host.converge(state="absent")["changed"]


def roles_made_host(host, plan):
    """The host the roles nic_slice, vm_network and slice_persistence make: their module calls through the
    same services, the XDP commands, the qemu files, and a re-apply record of the steps (version 1)."""
    module = {nic_service.run_channels: "nic_channels", nic_service.run_contexts: "rss_contexts",
              nic_service.run_rules: "ntuple_rules"}
    steps = [{"name": name, "module": module[service],
              "params": dict((k, v) for k, v in params.items() if k != "owned_only")}
             for name, service, params in host_engine._nic_steps(plan)]
    # the roles' modules keep their record where host_network keeps its own (as converge sets it)
    os.makedirs(host.opts["state_dir"])
    os.environ["VMNET_NETKIT_STATE_DIR"] = host.opts["state_dir"]
    for _name, service, params in host_engine._nic_steps(plan):
        service(params, host.nic)
    for vm in plan["vms"].values():
        params = host_engine._link_params(vm)
        netkit_service.run_link(params, host.kernel)
        steps.append({"module": "netkit_link", "params": params})
    lib, pins = os.path.join(host.opts["lib_dir"], "xdp"), os.path.join(host.opts["bpf_dir"], "eth0")
    os.makedirs(lib)
    os.makedirs(pins)
    for name in ("xsk_redirect.bpf.c", "xsk_redirect.bpf.o"):
        open(os.path.join(lib, name), "w").close()
    xdp = [["bpftool", "prog", "load", os.path.join(lib, "xsk_redirect.bpf.o"), pins + "/prog", "type", "xdp",
            "pinmaps", pins], ["ip", "link", "set", "dev", "eth0", "xdp", "pinned", pins + "/prog"]]
    for argv in xdp:
        host.run(argv)
        steps.append({"module": "command", "argv": argv})
    os.makedirs(host.opts["qemu_dir"])
    for name in plan["vms"]:
        open(os.path.join(host.opts["qemu_dir"], name + ".args"), "w").close()
    os.makedirs(host.opts["unit_dir"])
    open(os.path.join(host.opts["unit_dir"], host_engine.UNIT), "w").close()
    host.run(["systemctl", "enable", host_engine.UNIT])
    with open(os.path.join(host.opts["state_dir"], "reapply.json"), "w") as f:
        json.dump({"devices": ["eth0"], "device_timeout": 60, "steps": steps}, f)
    return steps


def test_plan_of_steps_reads_what_the_roles_saved():
    steps = [{"module": "nic_channels", "params": {"device": "eth0", "combined": 16}},
             {"module": "rss_contexts", "params": {"device": "eth0", "contexts": [{"name": "vm1"}]}},
             {"module": "ntuple_rules", "params": {"device": "eth0", "rules": [{"dst_ip": "10.0.0.2"}]}},
             {"module": "netkit_link", "params": {"name": "nk-vm1"}},
             {"module": "netkit_link", "params": {"name": "nk-vm2"}},
             {"module": "command", "argv": ["mkdir", "-p", "/sys/fs/bpf/x/eth0"]},
             {"module": "command", "argv": ["bpftool", "prog", "load", "/lib/x/p.bpf.o", "/sys/fs/bpf/x/eth0/prog"]},
             {"module": "command", "argv": ["ip", "link", "set", "dev", "eth0", "xdp", "pinned",
                                            "/sys/fs/bpf/x/eth0/prog"]}]
    assert host_engine.plan_of_steps(steps) == {
        "device": "eth0", "contexts": [{"name": "vm1"}], "rules": [{"dst_ip": "10.0.0.2"}],
        "vms": {"nk-vm1": {"netkit": {"name": "nk-vm1"}, "queues": [0]},
                "nk-vm2": {"netkit": {"name": "nk-vm2"}, "queues": [1]}},
        "pin_dir": "/sys/fs/bpf/x/eth0", "xdp_files": ["/lib/x/p.bpf.o", "/lib/x/p.bpf.c"]}
    assert host_engine.plan_of_steps([]) == {"vms": {}}


def test_teardown_takes_apart_a_host_the_roles_set_up(host):
    plan = plan_of(VMS)
    roles_made_host(host, plan)
    assert len(host.nic.contexts) == 3 and host.kernel.leases and host.attached
    host.log[:] = []
    r = host.converge(state="absent")
    assert r["changed"] and not host.nic.contexts and not host.nic.rules and not host.nic.configured
    assert not [k for k, v in host.kernel.links.items() if v["kind"] == "netkit"] and not host.kernel.leases
    assert host.attached is None
    # the devices go in the reverse order the role made them, after the re-apply is disabled
    deleted = [args for name, args in host.log if name == "delete"]
    assert deleted == ["nk-vm3", "nk-vm2", "nk-vm1"], host.log
    assert host.log[0] == ("command", ["systemctl", "--no-reload", "disable", host_engine.UNIT])
    # one reload, after the unit file is gone
    assert [a for n, a in host.log if n == "command" and a[0] == "systemctl"][1:] == [["systemctl", "daemon-reload"]]
    left = host.files()
    assert sorted(left) == ["state_dir/lock", "state_dir/nic-slices.json"], sorted(left)
    assert not host.converge(state="absent")["changed"]


def test_teardown_without_the_plan_record_takes_the_plan_the_reapply_saved(host):
    host.converge(plan_of(VMS))
    os.unlink(os.path.join(host.opts["state_dir"], "plan.json"))
    r = host.converge(state="absent")
    assert r["changed"] and not host.nic.contexts and not host.nic.rules and host.attached is None
    assert not [k for k, v in host.kernel.links.items() if v["kind"] == "netkit"]
    assert sorted(host.files()) == ["state_dir/lock", "state_dir/nic-slices.json"]


def test_not_persistent_removes_the_reapply(host):
    plan = plan_of(VMS)
    host.converge(plan)
    r = host.converge(plan, persistent=False)
    assert r["changed"] and not os.path.exists(os.path.join(host.opts["unit_dir"], "vmnet-netkit-reapply.service"))
    assert not os.path.exists(os.path.join(host.opts["state_dir"], "reapply.json"))
    assert os.path.exists(os.path.join(host.opts["state_dir"], "plan.json"))


def test_systemd_is_reloaded_once_per_change_of_the_reapply_unit(host):
    plan = plan_of(VMS)
    host.converge(plan)

    def systemctl():
        return [a[1:] for n, a in host.log if n == "command" and a[0] == "systemctl"]
    # a new unit: enabled without reloading the manager (a boot loads it from disk), no daemon-reload
    assert systemctl() == [["--no-reload", "enable", host_engine.UNIT]]
    # a changed unit that is already enabled: one daemon-reload, no enable
    host.log[:] = []
    host.converge(plan, reapply_after=["vmnet-lab-nic.service"])
    assert systemctl() == [["daemon-reload"]]
    unit = open(os.path.join(host.opts["unit_dir"], host_engine.UNIT)).read()
    assert "vmnet-lab-nic.service" in unit
    host.log[:] = []
    assert not host.converge(plan, reapply_after=["vmnet-lab-nic.service"])["changed"] and systemctl() == []
    # removed: disabled without a reload, one reload after the unit file is gone
    host.converge(plan, persistent=False)
    assert systemctl() == [["--no-reload", "disable", host_engine.UNIT], ["daemon-reload"]]
    # installed again: the unit file is new to the manager, so no reload
    host.log[:] = []
    host.converge(plan)
    assert systemctl() == [["--no-reload", "enable", host_engine.UNIT]]
    # disabled by hand, then a run with other options: enabled again, and reloaded, since the manager
    # may hold the unit's old text
    os.unlink(os.path.join(host.opts["unit_dir"], "multi-user.target.wants", host_engine.UNIT))
    host.log[:] = []
    host.converge(plan, reapply_after=["vmnet-lab-nic.service"])
    assert systemctl() == [["--no-reload", "enable", host_engine.UNIT], ["daemon-reload"]]


@pytest.mark.parametrize("plan, option", [
    (None, "plan"), ({}, "plan"), ({"device": "eth0"}, "plan"),
    (dict(plan_of(VMS[:1]), device="eth0 x"), "plan.device"),
])
def test_a_plan_that_is_not_a_slice_plan_is_refused_before_anything(host, plan, option):
    with pytest.raises(ValidationError) as err:
        host.converge(plan)
    assert err.value.option == option and host.log == [] and host.files() == {}


def test_a_kernel_error_names_the_vm_and_keeps_what_was_done(host):
    host.kernel.fail_lease = 11
    with pytest.raises(KernelError) as err:
        host.converge(plan_of(VMS))
    assert str(err.value).startswith("vms.vm3 (netkit nk-vm3): lease eth0 rx queue 11 to nk-vm3")
    assert "set channels of eth0: combined 8 -> 16" in err.value.details["actions"]
    host.kernel.fail_lease = None
    r = host.converge(plan_of(VMS))  # a re-run converges from there
    assert r["changed"] and (None, "nk-vm3") in host.kernel.links
    assert not host.converge(plan_of(VMS))["changed"]


def test_a_missing_bpftool_is_named_with_what_provides_it(host):
    io = host.io()
    io._which = lambda tool: None
    with pytest.raises(NetkitError) as err:
        host_engine.converge(dict(host.opts, plan=plan_of(VMS), install_tools=False), io)
    assert "bpftool is needed" in str(err.value) and "install the bpftool package" in str(err.value)


def test_a_second_run_waits_for_the_lock_then_gives_up(host):
    import fcntl
    os.makedirs(host.opts["state_dir"])
    with open(os.path.join(host.opts["state_dir"], "lock"), "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("4242\n")
        held.flush()
        started = time.time()
        with pytest.raises(KernelError) as err:
            host.converge(plan_of(VMS), lock_timeout=1)
        assert time.time() - started >= 1
    assert "another vmnet.netkit run on this host (pid 4242)" in str(err.value) and host.log == []
    assert host.converge(plan_of(VMS), check=True)["changed"]  # check mode takes no lock


def test_the_packed_code_is_reproducible_and_runs_the_reapply(host, tmp_path):
    code = host_engine.own_code()
    assert code == host_engine.own_code()
    path = tmp_path / "code.zip"
    path.write_bytes(code)
    env = dict(os.environ, PYTHONPATH=str(path))
    out = subprocess.run([sys.executable, "-m", REAPPLY], env=env, capture_output=True, text=True, check=False,
                         cwd=str(tmp_path))
    assert out.returncode == 2 and "usage: reapply STATE.json" in out.stderr


def test_the_boot_reapply_converges_the_saved_plan_with_the_engine(host, monkeypatch):
    plan = plan_of(VMS)
    host.converge(plan)
    record = os.path.join(host.opts["state_dir"], "reapply.json")
    # a reboot: the NIC and the netkit devices forget everything, the files stay
    host.nic.reload()
    host.kernel.leases = {}
    host.kernel.links = dict((k, v) for k, v in host.kernel.links.items() if v["kind"] != "netkit")
    host.attached = None
    io = host.io()
    monkeypatch.setattr(host_engine, "HostIO", lambda: io)
    monkeypatch.setattr(reapply, "_wait_for", lambda device, timeout: True)

    def ours():  # the slice record follows the NIC's new ifindex and ids; every other file stays
        return dict((k, v) for k, v in host.files().items() if k != "state_dir/nic-slices.json")
    files = ours()
    assert reapply.main([record]) == 0
    assert len(host.nic.contexts) == 3 and (None, "nk-vm2") in host.kernel.links and host.attached
    assert ours() == files
    assert not host.converge(plan)["changed"]


def test_netkit_errors_other_than_validation_keep_their_kind(host):
    err = host_engine._named("vms.a", KernelError("boom", errno=5))
    assert isinstance(err, KernelError) and str(err) == "vms.a: boom" and err.details["errno"] == 5
    assert isinstance(NetlinkError(1, "x"), OSError)


def test_a_nic_without_zero_copy_is_named_in_a_note_and_gathered(host):
    plan = plan_of(VMS)
    assert not any("zero-copy" in n for n in host.converge(plan)["notes"])
    host.xdp_features = ["basic", "redirect"]
    notes = host.converge(plan)["notes"]
    assert [n for n in notes if n.startswith("eth0 offers no AF_XDP zero-copy (its XDP features: basic, redirect)")]
    assert host.converge(state="gathered")["xdp_features"] == ["basic", "redirect"]
    # a kernel that cannot tell (no dev-get) gets no note
    host.xdp_features = None
    assert not any("zero-copy" in n for n in host.converge(plan)["notes"])


def test_a_qemu_without_map_path_is_named_in_a_note(host):
    plan = plan_of(VMS)
    r = host.converge(plan)
    assert r["qemu"] == host.qemu and not any("af-xdp" in n for n in r["notes"])
    host.qemu = dict(host.qemu, version="10.0.2", map_path=False)
    r = host.converge(plan)
    assert [n for n in r["notes"] if n.startswith("/usr/bin/qemu-system-x86_64 (qemu 10.0.2) has -netdev af-xdp "
                                                  "without map-path")]
    assert not r["changed"] and r["qemu"]["version"] == "10.0.2"
    host.qemu = dict(host.qemu, af_xdp=False)
    assert [n for n in host.converge(plan)["notes"] if "has no -netdev af-xdp" in n]
    # no qemu on the host (the VMs start elsewhere), or no XDP (no map to name): nothing to say
    host.qemu = None
    assert host.converge(plan)["qemu"] is None
    host.qemu = {"binary": "/usr/bin/qemu-system-x86_64", "version": "10.0.2", "af_xdp": False, "map_path": False}
    r = host.converge(plan, xdp=False)
    assert r["qemu"] is None and not any("af-xdp" in n for n in r["notes"])


def test_rules_flushed_by_turning_ntuple_filters_off_are_restored(host):
    # the lab driver flushes every rule when ntuple-filters is turned off (nsim_rss_features_changed)
    plan = plan_of(VMS)
    host.converge(plan)
    rules = sorted((r["dst_ip"], r["context"]) for r in host.nic.rules.values())
    host.nic.ntuple["active"] = False
    host.nic.rules = {}
    r = host.converge(plan)
    assert [a for a in r["actions"] if "ntuple" in a][:1] == ["turn ntuple-filters on for eth0"]
    assert sorted((x["dst_ip"], x["context"]) for x in host.nic.rules.values()) == rules
    assert not host.converge(plan)["changed"]


def test_a_full_context_table_names_the_refusal_and_the_next_run_refuses_first(host):
    # the lab NIC holds contexts 1..15; someone else's 13 leave room for two of the three VMs
    for cid in range(1, 14):
        host.nic.contexts[cid] = {"id": cid, "table": [15] * len(host.nic.table), "hfunc": "toeplitz",
                                  "key": host.nic.key}
    with pytest.raises(KernelError) as err:
        host.converge(plan_of(VMS))
    assert "create RSS context 'vm3' on eth0" in str(err.value) and "Device or resource busy" in str(err.value)
    assert str(err.value).endswith(
        "; eth0 has no room for another RSS context: it held 15 when this one was refused (0 recorded by "
        "vmnet.netkit, 2 created by this run, 13 not made by vmnet.netkit: ids 1-13); delete the contexts no "
        "longer needed (ethtool -X eth0 context N delete) and run again")
    assert len(host.nic.contexts) == 15
    n = len(host.log)
    with pytest.raises(ValidationError) as err:
        host.converge(plan_of(VMS))
    assert str(err.value) == ("NIC eth0 (contexts): contexts: 16 RSS contexts would exist on eth0 but the NIC allows "
                              "at most 15; 13 of them not made by vmnet.netkit: ids 1-13 (allowed: at most 15 contexts)")
    assert err.value.allowed == err.value.details["allowed"] == "at most 15 contexts"
    assert [e for e in host.log[n:] if e[0] == "nic"] == []


def test_a_netlink_read_outside_the_services_is_reported_with_what_was_done(host):
    """The NIC's XDP attachment is read by the engine itself (not through a service): a refusal there is
    a KernelError with the kernel's words and the changes made so far, not a crash of the module."""
    io = host.io()

    def refused(device):
        raise NetlinkError(19, "No such device", request="RTM_GETLINK %s" % device)
    io.xdp = refused
    with pytest.raises(KernelError) as err:
        host_engine.converge(dict(host.opts, plan=plan_of(VMS)), io)
    assert "RTM_GETLINK eth0" in str(err.value) and "No such device" in str(err.value)
    assert err.value.errno == 19
    assert "set channels of eth0: combined 8 -> 16" in err.value.details["actions"]
    assert host.converge(plan_of(VMS))["changed"]   # a re-run converges from there
    assert not host.converge(plan_of(VMS))["changed"]


@pytest.mark.parametrize("btf, leasing, feature, text", [
    ({}, False, "netkit", "this kernel has no netkit (CONFIG_NETKIT, Linux 6.7+)"),
    (K612, False, "single", "pairing: single needs Linux 7.1 (IFLA_NETKIT_PAIRING, netkit single mode)"),
    (K73, False, "lower", "lower: binding NIC queues needs queue leasing, Linux 7.1 (netdev generic netlink "
                          "queue-create), or a kernel carrying the netkit LOWERDEV patch"),
])
@pytest.mark.parametrize("check", [False, True])
def test_a_kernel_that_lacks_what_the_plan_needs_is_refused_before_any_change(host, btf, leasing, feature, text,
                                                                              check):
    host.kernel.caps = netkit_caps.capabilities(btf, [], leasing, "6.1.0-test")
    before = host.kernel_view()
    with pytest.raises(UnsupportedError) as err:
        host.converge(plan_of(VMS), check=check)
    assert err.value.feature == feature and text in str(err.value), str(err.value)
    assert str(err.value).startswith("vms.vm1 (netkit nk-vm1): "), str(err.value)
    assert host.kernel_view() == before and host.log == []
    assert host.files() == {}  # not even the lock file


# ---------------------------------------------------------------- parts (the roles' calls)

def test_the_parts_one_by_one_make_the_host_one_call_makes(host):
    """nic, then vms, then reapply (the roles nic_slice, vm_network, slice_persistence): each changes only its
    part, and together they leave the host exactly as one call with every part does."""
    plan = plan_of(VMS)
    nic = host.converge(plan, parts=["nic"])
    assert nic["changed"] and nic["vms"] == {} and nic["qemu_args"] == {}
    assert len(host.nic.contexts) == 3 and len(host.nic.rules) == 3
    assert not host.kernel.leases and host.attached is None and not os.path.exists(host.opts["qemu_dir"])
    assert not os.path.exists(os.path.join(host.opts["unit_dir"], host_engine.UNIT))
    nic_view = host.kernel_view()[0]
    vms = host.converge(plan, parts=["vms"])
    assert vms["changed"] and host.kernel_view()[0] == nic_view and sorted(host.kernel.leases) == [8, 9, 10, 11]
    assert sorted(os.listdir(host.opts["qemu_dir"])) == ["vm%d.%s" % (n, ext) for n in (1, 2, 3)
                                                         for ext in ("args", "xml")]
    assert vms["libvirt"]["vm2"] == open(os.path.join(host.opts["qemu_dir"], "vm2.xml")).read().rstrip("\n")
    assert not os.path.exists(os.path.join(host.opts["unit_dir"], host_engine.UNIT))
    reapply_only = host.converge(plan, parts=["reapply"])
    assert reapply_only["changed"] and host.kernel_view()[0] == nic_view
    assert json.load(open(os.path.join(host.opts["state_dir"], "reapply.json")))["plan"] == plan
    # one call with every part finds nothing to do: the parts made the host it makes
    again = host.converge(plan)
    assert not again["changed"] and again["commands"] == [], again["actions"]


def test_a_vm_that_left_is_removed_whole_by_a_run_of_the_vms_part(host):
    plan = plan_of(VMS)
    host.converge(plan)
    smaller = plan_of([VMS[0], VMS[2]], previous=plan)
    channels = dict(host.nic.channels["current"])
    r = host.converge(smaller, parts=["vms"])
    assert r["changed"] and (None, "nk-vm2") not in host.kernel.links
    # its rule and context went with it, and its qemu files; the NIC is otherwise as it was
    assert sorted(sorted(set(c["table"])) for c in host.nic.contexts.values()) == [[8], [11]]
    assert host.nic.channels["current"] == channels
    assert sorted(os.listdir(host.opts["qemu_dir"])) == ["vm1.args", "vm1.xml", "vm3.args", "vm3.xml"]
    # the installed re-apply follows the plan (a boot must not bring vm2 back), its options kept
    saved = json.load(open(os.path.join(host.opts["state_dir"], "reapply.json")))
    assert saved["plan"] == smaller and saved["options"]["xdp"] is True
    again = host.converge(smaller)
    assert not again["changed"], again["actions"]


def test_the_reapply_part_alone_removes_the_reapply_without_a_plan(host):
    plan = plan_of(VMS)
    host.converge(plan)
    view = host.kernel_view()
    r = host.converge(None, parts=["reapply"], persistent=False)
    assert r["changed"] and host.kernel_view() == view
    assert not os.path.exists(os.path.join(host.opts["unit_dir"], host_engine.UNIT))
    assert not os.path.exists(os.path.join(host.opts["state_dir"], "reapply.json"))
    assert os.path.exists(os.path.join(host.opts["state_dir"], "plan.json"))
    assert not host.converge(None, parts=["reapply"], persistent=False)["changed"]


def test_the_nic_part_on_a_kernel_without_single_mode_is_refused_before_the_nic_changes(host):
    host.kernel.caps = netkit_caps.capabilities(K612, [], False, "6.12.0-test")
    with pytest.raises(UnsupportedError) as err:
        host.converge(plan_of(VMS), parts=["nic"])
    assert "vms.vm1 (netkit nk-vm1)" in str(err.value) and host.log == [] and host.files() == {}


@pytest.mark.parametrize("parts, option", [([], "parts"), (["nic", "disks"], "parts[1]"), ("nic", "parts")])
def test_parts_that_are_not_parts_of_a_host_are_named(host, parts, option):
    with pytest.raises(ValidationError) as err:
        host.converge(plan_of(VMS), parts=parts)
    assert err.value.option == option and "nic" in str(err.value) and host.log == [] and host.files() == {}
