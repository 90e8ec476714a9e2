# SPDX-License-Identifier: GPL-3.0-or-later
"""nic.backend: the ethtool-text fallback reader and the write paths (the ethtool command, with recorded
outputs; ntuple rules over SIOCETHTOOL)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils.nic import backend as nic_backend
from ansible_collections.vmnet.netkit.plugins.module_utils.nic import ethtool_text as et
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import KernelError
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink.core import NetlinkError
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import new_rule
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.planner import action

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "ethtool")


def fixture(name):
    with open(os.path.join(FIX, name)) as f:
        return f.read()


class FakeRun(object):
    def __init__(self, outputs):
        self.outputs = outputs
        self.calls = []

    def __call__(self, argv):
        self.calls.append(argv)
        key = " ".join(argv[1:])
        return self.outputs.get(key, (1, "", "unexpected %s" % key))


class NoIoctl(object):
    def drvinfo(self, dev):
        raise OSError(1, "no")

    def rx_rings(self, dev):
        raise OSError(95, "Operation not supported")

    def close(self):
        pass


@pytest.fixture
def kernel(monkeypatch):
    def if_nametoindex(dev):
        if dev in ("eth0", "v0"):
            return 7
        raise OSError(19, "No such device")
    monkeypatch.setattr(nic_backend.socket, "if_nametoindex", if_nametoindex)

    def make(outputs):
        run = FakeRun(outputs)
        k = nic_backend.NicKernel(run_command=run, ethtool="/usr/sbin/ethtool", reader="text")
        k._ioctl = NoIoctl()
        return k, run
    return make


def test_text_reader_mlx5_61(kernel):
    k, run = kernel({
        "-l eth0": (0, fixture("7.2/mlx5-l.txt"), ""),
        "-k eth0": (0, fixture("6.14/nsim-k-ntuple.txt"), ""),
        "-x eth0": (0, fixture("6.1/mlx5-x.txt"), ""),
        "-x eth0 context 1": (0, fixture("6.1/mlx5-x-context1.txt"), ""),
        "-x eth0 context 2": (1, "", "Cannot get RX flow hash configuration: No such file or directory"),
        "-n eth0": (0, fixture("6.1/mlx5-n.txt"), ""),
    })
    st = k.read("eth0", context_ids=[1, 2])
    assert st["channels"]["current"]["combined"] == 16 and st["rx_rings"] == 16
    assert st["ntuple"] == {"active": False, "fixed": False}
    assert st["rss"]["indir_size"] == 128 and st["rss"]["key_size"] == 40
    assert list(st["contexts"]) == [1] and set(st["contexts"][1]["table"]) == {14, 15}
    assert st["contexts_supported"] is True
    assert len(st["rules"]) == 6 and st["rules_supported"]
    assert st["sources"]["rules"] == "ethtool -n"


def test_text_reader_veth_61(kernel):
    k, _run = kernel({
        "-l v0": (0, fixture("6.1/veth-l.txt"), ""),
        "-k v0": (0, fixture("6.1/veth-k.txt"), ""),
        "-x v0": (1, "", fixture("6.1/veth-x.stderr")),
        "-n v0": (1, "", fixture("6.1/veth-n.stderr")),
    })
    st = k.read("v0")
    assert st["channels"]["max"]["rx"] == 4 and st["rss"] is None and st["contexts_supported"] is False
    assert st["rules_supported"] is False and st["ntuple"] == {"active": False, "fixed": True}


def test_missing_device(kernel):
    k, run = kernel({})
    assert k.read("nope0")["exists"] is False and run.calls == []


def test_apply_parses_ids_strictly(kernel):
    k, run = kernel({
        "-X eth0 context new equal 2 start 14": (0, fixture("6.1/new-context.stdout"), ""),
        "-N eth0 flow-type ip4 dst-ip 10.0.0.2 context 1": (0, fixture("6.1/added-rule.stdout"), ""),
        "-N eth0 flow-type ip4 dst-ip 10.0.0.3 context 1 loc 5": (0, "", ""),
    })
    act = action("context_create", ["ethtool", "-X", "eth0", "context", "new", "equal", "2", "start", "14"], "c")
    assert k.apply("eth0", act) == {"id": 1}
    assert run.calls[-1][0] == "/usr/sbin/ethtool"
    act = action("rule_add", ["ethtool", "-N", "eth0", "flow-type", "ip4", "dst-ip", "10.0.0.2", "context", "1"], "r")
    assert k.apply("eth0", act) == {"loc": 1023}
    act = action("rule_add", ["ethtool", "-N", "eth0", "flow-type", "ip4", "dst-ip", "10.0.0.3", "context", "1",
                              "loc", "5"], "r")
    assert k.apply("eth0", act) == {"loc": None}


def test_apply_failure_carries_stderr(kernel):
    k, _run = kernel({"-L eth0 combined 99": (1, "", "netlink error: requested channel count exceeds maximum")})
    with pytest.raises(KernelError) as e:
        k.apply("eth0", action("channels", ["ethtool", "-L", "eth0", "combined", "99"], "c"))
    assert "exceeds maximum" in str(e.value) and e.value.command[1:] == ["-L", "eth0", "combined", "99"]


def test_versions(kernel):
    k, _run = kernel({"--version": (0, fixture("6.1/version.txt"), "")})
    v = k.versions()
    assert v["ethtool"] == "6.1" and v["kernel"] == os.uname()[2]


def test_text_reader_virtio_without_rss_table(kernel):
    """Recorded from virtio_net without VIRTIO_NET_F_RSS: a hash function, no indirection table."""
    k, _run = kernel({
        "-l eth0": (0, fixture("6.1/virtio-l.txt"), ""),
        "-k eth0": (0, fixture("6.1/veth-k.txt"), ""),
        "-x eth0": (0, fixture("6.1/virtio-x-noindir.txt"), ""),
        "-n eth0": (1, "", fixture("6.1/veth-n.stderr")),
    })
    st = k.read("eth0")
    assert st["rss"] is None and st["contexts_supported"] is False and st["rx_rings"] == 1
    assert st["channels"]["max"]["combined"] == 1


class KernelIoctl(object):
    """SIOCETHTOOL answers of a context-capable NIC with contexts 1 and 3."""

    def __init__(self, contexts_supported=True):
        self.calls = []
        self.contexts_supported = contexts_supported
        self.tables = {0: [i % 14 for i in range(128)], 1: [14, 15] * 64, 3: [13] * 128}

    def drvinfo(self, dev):
        return {"driver": "mlx5_core"}

    def channels(self, dev):
        return {"max": {"rx": 0, "tx": 0, "other": 1, "combined": 64},
                "current": {"rx": 0, "tx": 0, "other": 1, "combined": 16}}

    def rx_rings(self, dev):
        return 16

    def feature(self, dev, name):
        assert name == "rx-ntuple-filter"
        return {"active": True, "fixed": False, "requested": True}

    def rxfh(self, dev, ctx=0):
        self.calls.append(ctx)
        if ctx and not self.contexts_supported:
            raise OSError(95, "Operation not supported")
        if ctx not in self.tables:
            raise OSError(2, "No such file or directory")
        return {"context": ctx, "indir_size": 128, "key_size": 40, "hfunc": "toeplitz", "key": "6d:5a",
                "table": self.tables[ctx]}

    def rules(self, dev):
        return {"rules": [], "table_size": 1024, "driver_picks_location": False}

    def close(self):
        pass


class KernelGenl(object):
    def __init__(self, dump):
        self.dump = dump

    def rss_dump_supported(self):
        return self.dump

    def rss_contexts(self, dev):
        # as netlink.ethtool.parse_rss_reply gives them: the hash function's bit, the key's bytes
        return [{"device": dev, "context": 0, "table": [0], "hfunc": 1, "key": None},
                {"device": dev, "context": 1, "table": [14, 15] * 64, "hfunc": 1, "key": b"\x6d\x5a"},
                {"device": dev, "context": 3, "table": [13] * 128, "hfunc": 1, "key": None}]

    def close(self):
        pass


def _kernel_reader(monkeypatch, dump, contexts_supported=True):
    monkeypatch.setattr(nic_backend.socket, "if_nametoindex", lambda dev: 3)
    run = FakeRun({})
    k = nic_backend.NicKernel(run_command=run, ethtool="/usr/sbin/ethtool")
    k._ioctl = KernelIoctl(contexts_supported)
    k._genl = KernelGenl(dump)
    return k, run


def test_kernel_reader_dump_no_process(monkeypatch):
    k, run = _kernel_reader(monkeypatch, dump=True)
    st = k.read("eth0", context_ids=[1])
    assert sorted(st["contexts"]) == [1, 3] and st["rss_dump"] and st["contexts_supported"]
    assert st["contexts"][1] == {"id": 1, "table": [14, 15] * 64, "hfunc": "toeplitz", "key": "6d:5a"}
    assert st["sources"]["contexts"] == "netlink RSS_GET dump"
    assert k._ioctl.calls == [0, nic_backend.UNUSED_CONTEXT_ID]  # no per-context ioctl
    assert run.calls == []                                         # and no process


def test_kernel_reader_probe_before_612_no_process(monkeypatch):
    k, run = _kernel_reader(monkeypatch, dump=False)
    st = k.read("eth0", context_ids=[100])
    assert sorted(st["contexts"]) == [1, 3] and not st["rss_dump"]
    assert 100 in k._ioctl.calls and 64 in k._ioctl.calls
    assert run.calls == []


def test_kernel_reader_no_contexts(monkeypatch):
    k, run = _kernel_reader(monkeypatch, dump=True, contexts_supported=False)
    st = k.read("eth0")
    assert st["contexts_supported"] is False and st["contexts"] == {} and st["rss"]["indir_size"] == 128
    assert run.calls == []


class WritingGenl(KernelGenl):
    """RSS writes as a 6.17+ kernel offers them, recorded."""

    def __init__(self, fail=None):
        KernelGenl.__init__(self, True)
        self.writes = []
        self.fail = fail

    def rss_write_supported(self):
        return True

    def rss_create(self, dev, table=None, hfunc=None, key=None):
        self.writes.append(("create", dev, table, hfunc, key))
        if self.fail:
            raise NetlinkError(16, "Device or resource busy", "no context slot left")
        return 4

    def rss_set(self, dev, context=0, table=None, hfunc=None, key=None):
        self.writes.append(("set", dev, context, table, hfunc, key))

    def rss_delete(self, dev, context):
        self.writes.append(("delete", dev, context))


def test_rss_writes_go_over_netlink_and_start_no_process(monkeypatch):
    k, run = _kernel_reader(monkeypatch, dump=True)
    k._genl = WritingGenl()
    create = action("context_create", ["ethtool", "-X", "eth0", "context", "new", "start", "14", "equal", "2"], "c",
                    spec={"start": 14, "equal": 2, "hfunc": "xor", "key": "6d:5a"}, id=None)
    assert k.apply("eth0", create) == {"id": 4}   # the id from the reply, no text parsed
    assert k._genl.writes[-1] == ("create", "eth0", [14, 15] * 64, 2, b"\x6d\x5a")
    k.apply("eth0", action("context_update", ["ethtool"], "u", spec={"start": 13, "equal": 1}, id=4))
    assert k._genl.writes[-1] == ("set", "eth0", 4, [13] * 128, None, None)
    k.apply("eth0", action("default_set", ["ethtool"], "d", spec={"start": 0, "equal": 8}))
    assert k._genl.writes[-1] == ("set", "eth0", 0, list(range(8)) * 16, None, None)
    k.apply("eth0", action("default_reset", ["ethtool"], "r", spec={"reset": True}))
    assert k._genl.writes[-1] == ("set", "eth0", 0, [], None, None)
    k.apply("eth0", action("context_delete", ["ethtool"], "x", id=4))
    assert k._genl.writes[-1] == ("delete", "eth0", 4)
    assert run.calls == [] and k.commands == []


def test_rss_write_failure_names_the_request(monkeypatch):
    k, _run = _kernel_reader(monkeypatch, dump=True)
    k._genl = WritingGenl(fail=True)
    with pytest.raises(KernelError) as e:
        k.apply("eth0", action("context_create", ["ethtool", "-X"], "c", spec={"start": 14, "equal": 2}, id=None))
    assert "ethtool netlink context_create on eth0 failed" in str(e.value) and "busy" in str(e.value).lower()
    assert e.value.errno == 16


class RuleIoctl(object):
    """SIOCETHTOOL rule calls of a NIC whose driver picks rule locations (``picks``) or leaves them to the
    caller, with rules at ``taken`` in a table of ``size``."""

    def __init__(self, picks, taken=(), size=1024, refuse=None):
        self.picks, self.taken, self.size, self.refuse = picks, list(taken), size, refuse
        self.inserted, self.deleted = [], []

    def rule_count(self, dev):
        return len(self.taken), self.picks

    def rule_locations(self, dev, count):
        assert count == len(self.taken)
        return list(self.taken), self.size

    def rule_insert(self, dev, rule):
        if self.refuse:
            raise OSError(self.refuse, os.strerror(self.refuse))
        self.inserted.append(rule)
        return 0 if rule.get("loc") is None else rule["loc"]

    def rule_delete(self, dev, loc):
        self.deleted.append(loc)

    def close(self):
        pass


def rule_kernel(ioctl):
    k = nic_backend.NicKernel(run_command=lambda argv: pytest.fail("a process was started: %s" % argv),
                              ethtool="/usr/sbin/ethtool", reader="kernel")
    k._ioctl = ioctl
    return k


def rule_action(rule):
    return action("rule_add", et.ntuple_add_argv("ethtool", "eth0", rule), "r", device="eth0", rule=rule,
                  loc=rule.get("loc"))


def test_rules_are_written_with_the_ioctl_and_no_process():
    io = RuleIoctl(picks=True)
    k = rule_kernel(io)
    rule = new_rule("ip4", dst_ip="10.0.0.2", context=1)
    assert k.apply("eth0", rule_action(rule)) == {"loc": 0}
    assert io.inserted == [rule] and io.inserted[0].get("loc") is None   # RX_CLS_LOC_ANY: the driver picks
    assert k.apply("eth0", action("rule_delete", ["ethtool", "-N", "eth0", "delete", "3"], "d", loc=3)) == {}
    assert io.deleted == [3] and k.commands == []


def test_a_rule_without_location_takes_the_highest_free_one_when_the_driver_does_not_pick():
    io = RuleIoctl(picks=False, taken=[1023, 1021])
    assert rule_kernel(io).apply("eth0", rule_action(new_rule("tcp4", dst_port=80, queue=1))) == {"loc": 1022}
    full = RuleIoctl(picks=False, taken=range(8), size=8)
    with pytest.raises(KernelError) as e:
        rule_kernel(full).apply("eth0", rule_action(new_rule("tcp4", dst_port=80, queue=1)))
    assert str(e.value) == "no free location for an ntuple rule on eth0: all 8 are taken" and full.inserted == []


def test_a_refused_rule_names_the_call_and_the_kernels_reason():
    rule = new_rule("udp4", dst_port=4789, queue=7)
    with pytest.raises(KernelError) as e:
        rule_kernel(RuleIoctl(picks=True, refuse=17)).apply("eth0", rule_action(rule))
    assert str(e.value) == "ethtool ioctl ETHTOOL_SRXCLSRLINS on eth0 failed: File exists"
    assert e.value.errno == 17 and e.value.command == ["ethtool", "-N", "eth0", "flow-type", "udp4", "dst-port",
                                                       "4789", "action", "7"]
