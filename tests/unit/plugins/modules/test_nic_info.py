# SPDX-License-Identifier: GPL-3.0-or-later
"""nic_info through its argument spec with a fake NIC."""

from __future__ import annotations

from ansible_collections.vmnet.netkit.plugins.modules import nic_info, ntuple_rules, rss_contexts
from module_runner import run_module
from nic_fake import FakeNic, use_fake


def test_info_after_seed(monkeypatch, tmp_path):
    nic = use_fake(monkeypatch, tmp_path, FakeNic())
    run_module(rss_contexts, {"device": "eth0", "default": {"equal": 14},
                              "contexts": [{"name": "vm1", "start": 14, "equal": 2}]})
    run_module(ntuple_rules, {"device": "eth0", "rules": [{"flow_type": "ip4", "dst_ip": "10.0.0.2", "context": "vm1"}]})
    n = len(nic.applied)
    r = run_module(nic_info, {"device": "eth0"}, check_mode=True)
    assert not r["changed"] and len(nic.applied) == n
    assert r["channels"]["current"]["combined"] == 16 and r["channels"]["max"]["combined"] == 16
    assert r["ntuple"] == {"active": True, "fixed": False}
    assert r["default"]["queues"] == "0-13" and r["default"]["configured"]
    assert r["contexts"][0]["name"] == "vm1" and r["contexts"][0]["queues"] == "14-15"
    assert r["context_names"] == {"vm1": 1}
    assert r["rules"][0]["context_name"] == "vm1" and r["rules"][0]["loc"] == 0
    caps = r["capabilities"]
    assert caps["contexts_supported"] and caps["rule_table_size"] == 1024 and caps["rss_netlink_dump"]
    assert caps["ethtool_version"] == "6.14.2" and caps["kernel_version"] == "7.3.4"
    # the lab driver places rules given no location (RX_CLS_LOC_SPECIAL in nsim_get_rxnfc); the kernel
    # does not report the context limit, so it is unknown until a create is refused
    assert caps["driver_picks_location"] is True and caps["max_contexts"] is None


def test_info_plain_nic(monkeypatch, tmp_path):
    use_fake(monkeypatch, tmp_path, FakeNic(device="v0", rss=False, rules_supported=False, ntuple_fixed=True,
                                            combined=0, max_combined=0, rx=4, max_rx=4, tx=4, max_tx=4))
    r = run_module(nic_info, {"device": "v0"})
    assert r["default"] is None and r["contexts"] == [] and r["rules"] == []
    assert not r["capabilities"]["contexts_supported"] and not r["capabilities"]["rules_supported"]
    assert r["ntuple"]["fixed"]


def test_info_unknown_device(monkeypatch, tmp_path):
    use_fake(monkeypatch, tmp_path, FakeNic())
    r = run_module(nic_info, {"device": "nope0"}, expect_failure=True)
    assert "no network device named 'nope0'" in r["msg"]
