# SPDX-License-Identifier: GPL-3.0-or-later
"""ntuple_rules through its argument spec with a fake NIC."""

from __future__ import annotations

import pytest

from ansible_collections.vmnet.netkit.plugins.modules import ntuple_rules, rss_contexts
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import new_rule
from module_runner import run_module
from nic_fake import FakeNic, use_fake

SEED = {"device": "eth0", "default": {"start": 0, "equal": 14}, "contexts": [{"name": "vm1", "start": 14, "equal": 2}]}
RULES = {"device": "eth0", "rules": [{"flow_type": "ip4", "dst_ip": "10.0.0.2", "context": "vm1"}]}


@pytest.fixture
def nic(monkeypatch, tmp_path):
    f = use_fake(monkeypatch, tmp_path, FakeNic())
    run_module(rss_contexts, SEED)
    f.applied = []
    return f


def test_seed_rule_then_idempotent(nic):
    r = run_module(ntuple_rules, RULES)
    assert r["changed"]
    assert [a["command"] for a in r["actions"]] == ["ethtool -K eth0 ntuple on",
                                                    "ethtool -N eth0 flow-type ip4 dst-ip 10.0.0.2 context 1"]
    # the lab driver picks the location of a rule given none: the lowest free (nsim_pick_location)
    assert r["rules"][0]["context_name"] == "vm1" and r["rules"][0]["loc"] == 0
    assert r["ntuple"] == {"active": True, "fixed": False}
    r = run_module(ntuple_rules, RULES)
    assert not r["changed"] and r["actions"] == []


def test_check_mode_and_diff(nic):
    r = run_module(ntuple_rules, RULES, check_mode=True, diff=True)
    assert r["changed"] and nic.applied == [] and nic.rules == {}
    assert r["diff"]["before"] == [] and r["diff"]["after"][0]["dst_ip"] == "10.0.0.2"


def test_check_mode_rule_for_a_context_check_mode_did_not_create(monkeypatch, tmp_path):
    """The seed play under --check on a fresh NIC: rss_contexts creates no context, so the rule's
    context is not recorded; check mode reports the rule with a placeholder, a real run refuses it."""
    fresh = use_fake(monkeypatch, tmp_path, FakeNic())
    assert run_module(rss_contexts, SEED, check_mode=True)["contexts"] == {"vm1": None}
    r = run_module(ntuple_rules, RULES, check_mode=True, diff=True)
    assert r["changed"] and fresh.applied == [] and fresh.rules == {}
    assert [a["command"] for a in r["actions"]] == [
        "ethtool -K eth0 ntuple on", "ethtool -N eth0 flow-type ip4 dst-ip 10.0.0.2 context '<id of vm1>'"]
    assert r["after"][0]["context"] == "<id of vm1>"
    assert len(r["notes"]) == 1 and "'vm1'" in r["notes"][0] and "check mode" in r["notes"][0]
    r = run_module(ntuple_rules, RULES, expect_failure=True)
    assert r["option"] == "rules[0].context" and "no RSS context named 'vm1'" in r["msg"]
    assert fresh.applied == [] and fresh.rules == {}


def test_replaced_changes_the_listed_rule_and_leaves_the_others(nic):
    two = {"device": "eth0", "rules": RULES["rules"] + [{"flow_type": "udp4", "dst_port": 53, "queue": 2}]}
    run_module(ntuple_rules, two)
    p = {"device": "eth0", "state": "replaced", "rules": [{"flow_type": "udp4", "dst_port": 53, "queue": 5}]}
    r = run_module(ntuple_rules, p)
    assert [a["op"] for a in r["actions"]] == ["rule_delete", "rule_add"]
    after = dict((x["flow_type"], x) for x in r["rules"])
    assert after["udp4"]["queue"] == 5 and after["ip4"]["context_name"] == "vm1" and len(r["rules"]) == 2
    assert not run_module(ntuple_rules, p)["changed"]


def test_rule_follows_recreated_context(nic):
    run_module(ntuple_rules, RULES)
    # the context vanishes and another user takes id 1; rss_contexts recreates vm1 as id 2
    del nic.rules[0]
    nic.rules[0] = new_rule("ip4", dst_ip="10.0.0.2", context=1, loc=0)
    nic.contexts = {1: {"id": 1, "table": [3] * 128, "hfunc": "toeplitz", "key": None}}
    assert run_module(rss_contexts, SEED)["contexts"] == {"vm1": 2}
    r = run_module(ntuple_rules, RULES)
    assert [a["op"] for a in r["actions"]] == ["rule_delete", "rule_add"]
    assert r["rules"][0]["context"] == 2 and r["rules"][0]["context_name"] == "vm1"
    assert not run_module(ntuple_rules, RULES)["changed"]


def test_context_by_id_queue_drop_prefix(nic):
    p = {"device": "eth0", "rules": [
        {"flow_type": "tcp4", "dst_ip": "10.0.1.0/24", "dst_port": 80, "queue": 3},
        {"flow_type": "udp4", "dst_port": 9999, "drop": True, "loc": 5},
        {"flow_type": "tcp6", "dst_ip": "2001:db8::1", "context": "1"},
    ]}
    r = run_module(ntuple_rules, p)
    assert r["changed"] and len(nic.rules) == 3 and 5 in nic.rules
    assert not run_module(ntuple_rules, p)["changed"]


def test_same_match_other_action_replaced(nic):
    run_module(ntuple_rules, RULES)
    p = {"device": "eth0", "rules": [{"flow_type": "ip4", "dst_ip": "10.0.0.2", "queue": 2}]}
    r = run_module(ntuple_rules, p)
    assert [a["op"] for a in r["actions"]] == ["rule_delete", "rule_add"]
    assert list(nic.rules.values())[0]["queue"] == 2


def test_overridden_deleted_gathered_rendered(nic):
    run_module(ntuple_rules, RULES)
    nic.rules[7] = new_rule("udp4", dst_port=53, drop=True, loc=7)
    r = run_module(ntuple_rules, dict(RULES, state="gathered"))
    assert not r["changed"] and len(r["gathered"]) == 2
    r = run_module(ntuple_rules, dict(RULES, state="overridden"))
    assert r["changed"] and list(nic.rules) == [0]
    r = run_module(ntuple_rules, dict(RULES, state="rendered"))
    assert r["rendered"] == ["ethtool -N eth0 flow-type ip4 dst-ip 10.0.0.2 context 1"]
    r = run_module(ntuple_rules, {"device": "eth0", "state": "deleted",
                                  "rules": [{"flow_type": "ip4", "dst_ip": "10.0.0.2"}]})
    assert r["changed"] and nic.rules == {}
    assert not run_module(ntuple_rules, {"device": "eth0", "state": "deleted"})["changed"]


@pytest.mark.parametrize("rules,option,allowed,match", [
    ([{"flow_type": "ip4", "dst_ip": "10.0.0.2", "context": "vm9"}], "rules[0].context", "vm1",
     "no RSS context named 'vm9'"),
    ([{"flow_type": "ip4", "dst_ip": "10.0.0.2", "context": "9"}], "rules[0].context", "1",
     "RSS context 9 does not exist"),
    ([{"flow_type": "ip4", "dst_ip": "10.0.0.2", "queue": 99}], "rules[0].queue", "0-15", "queue 99 is outside"),
    ([{"flow_type": "ip4", "dst_ip": "10.0.0.2"}], "rules[0]", "context | queue | drop: true",
     "exactly one of context, queue or drop"),
    ([{"flow_type": "ip4", "dst_ip": "10.0.0.2", "queue": 1}, {"flow_type": "ip4", "dst_ip": "10.0.0.2", "queue": 2}],
     "rules[1]", None, "same match"),
    ([{"flow_type": "udp4", "dst_ip": "10.0.0.300", "queue": 1}], "rules[0].dst_ip", None, "not an IP address"),
    # the argument spec's own checks name the options in the message
    ([{"flow_type": "ip4", "dst_ip": "10.0.0.2", "queue": 1, "drop": True}], None, None,
     "mutually exclusive: context|queue|drop found in rules"),
    ([{"flow_type": "icmp4", "queue": 1}], None, None, "flow_type must be one of: ip4, ip6, tcp4"),
])
def test_bad_input_touches_nothing(nic, rules, option, allowed, match):
    r = run_module(ntuple_rules, {"device": "eth0", "rules": rules}, expect_failure=True)
    assert match in r["msg"] and r.get("option") == option and r.get("allowed") == allowed
    if option:
        assert r["msg"].startswith(option + ": ")
    assert nic.applied == []


def test_ntuple_fixed_off(monkeypatch, tmp_path):
    nic = use_fake(monkeypatch, tmp_path, FakeNic(ntuple_fixed=True))
    r = run_module(ntuple_rules, {"device": "eth0", "rules": [{"flow_type": "ip4", "dst_ip": "10.0.0.2", "queue": 1}]},
                   expect_failure=True)
    assert "ntuple-filters: off [fixed]" in r["msg"] and nic.applied == []


def test_vanished_context_asks_for_rss_contexts_first(nic):
    nic.reload()
    r = run_module(ntuple_rules, RULES, expect_failure=True)
    assert "re-created" in r["msg"] and "run vmnet.netkit.rss_contexts first" in r["msg"]
