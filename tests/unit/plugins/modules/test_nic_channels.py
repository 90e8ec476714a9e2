# SPDX-License-Identifier: GPL-3.0-or-later
"""nic_channels through its argument spec with a fake NIC."""

from __future__ import annotations

import pytest

from ansible_collections.vmnet.netkit.plugins.modules import nic_channels
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import equal_table, new_rule
from module_runner import run_module
from nic_fake import FakeNic, use_fake


@pytest.fixture
def nic(monkeypatch, tmp_path):
    return use_fake(monkeypatch, tmp_path, FakeNic(combined=8))


def test_grow_then_idempotent(nic):
    r = run_module(nic_channels, {"device": "eth0", "combined": 16})
    assert r["changed"] and r["channels"]["combined"] == 16 and r["before"]["combined"] == 8
    assert r["actions"][0]["command"] == "ethtool -L eth0 combined 16"
    r = run_module(nic_channels, {"device": "eth0", "combined": 16})
    assert not r["changed"] and r["actions"] == []
    assert len(nic.applied) == 1


def test_unset_means_untouched(nic):
    r = run_module(nic_channels, {"device": "eth0"})
    assert not r["changed"] and nic.applied == []


def test_check_mode_changes_nothing(nic):
    r = run_module(nic_channels, {"device": "eth0", "combined": 16}, check_mode=True)
    assert r["changed"] and r["after"]["combined"] == 16
    assert nic.applied == [] and nic.channels["current"]["combined"] == 8


def test_diff(nic):
    r = run_module(nic_channels, {"device": "eth0", "combined": 4}, diff=True)
    assert r["diff"]["before"]["combined"] == 8 and r["diff"]["after"]["combined"] == 4


def test_unknown_device(nic):
    r = run_module(nic_channels, {"device": "nope0", "combined": 4}, expect_failure=True)
    assert "no network device named 'nope0'" in r["msg"] and r["option"] == "device"


def test_over_max(nic):
    r = run_module(nic_channels, {"device": "eth0", "combined": 64}, expect_failure=True)
    assert "exceeds the maximum of 16" in r["msg"] and r["allowed"] == "0-16"
    assert nic.applied == []


def test_shrink_refused_names_users(nic):
    nic.channels["current"]["combined"] = 16
    nic.table = equal_table(128, 0, 14)
    nic.configured = True
    nic.contexts[1] = {"id": 1, "table": equal_table(128, 14, 2), "hfunc": "toeplitz", "key": None}
    nic.rules[1023] = new_rule("ip4", dst_ip="10.0.0.2", context=1, loc=1023)
    r = run_module(nic_channels, {"device": "eth0", "combined": 8}, expect_failure=True)
    assert "would cut off queue(s) 8-15" in r["msg"]
    assert "RSS context 1" in r["msg"] and "default RSS table" in r["msg"] and "ntuple rule" in r["msg"]
    assert nic.applied == []


def test_kernel_refusal_is_reported(nic, monkeypatch):
    # a user the planner cannot see (e.g. a leased queue): the kernel's words come through
    def refuse(device, act):
        from ansible_collections.vmnet.netkit.plugins.module_utils.errors import KernelError
        raise KernelError("ethtool -L failed: netlink error: Device queue in use due to queue leasing")
    monkeypatch.setattr(nic, "apply", refuse)
    r = run_module(nic_channels, {"device": "eth0", "combined": 4}, expect_failure=True)
    assert "set channels of eth0: combined 8 -> 4 failed" in r["msg"] and "queue leasing" in r["msg"]


def test_readback_mismatch_is_an_error(nic, monkeypatch):
    monkeypatch.setattr(nic, "apply", lambda device, act: {})
    r = run_module(nic_channels, {"device": "eth0", "combined": 4}, expect_failure=True)
    assert "read back after applying" in r["msg"] and "combined 8 -> 4" in r["msg"]


def test_rx_tx_nic(monkeypatch, tmp_path):
    f = use_fake(monkeypatch, tmp_path, FakeNic(device="v0", combined=0, max_combined=0, rx=4, max_rx=4,
                                                tx=4, max_tx=4, rss=False))
    r = run_module(nic_channels, {"device": "v0", "rx": 2, "tx": 3})
    assert r["changed"] and f.channels["current"] == {"combined": 0, "rx": 2, "tx": 3, "other": 0}
    r = run_module(nic_channels, {"device": "v0", "combined": 1}, expect_failure=True)
    assert "v0 has no combined channels" in r["msg"]
