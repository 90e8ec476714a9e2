# SPDX-License-Identifier: GPL-3.0-or-later
"""nic_kernel: the ethtool-text fallback reader and the write path, with recorded ethtool outputs."""

from __future__ import annotations

import os

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils import nic_kernel
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import KernelError
from ansible_collections.vmnet.netkit.plugins.module_utils.nic_diff import action

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
    monkeypatch.setattr(nic_kernel.socket, "if_nametoindex", if_nametoindex)

    def make(outputs):
        run = FakeRun(outputs)
        k = nic_kernel.NicKernel(run_command=run, ethtool="/usr/sbin/ethtool", reader="text")
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
