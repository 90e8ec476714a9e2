# SPDX-License-Identifier: GPL-3.0-or-later
"""The NIC modules meeting the lab driver's rules and refusals (FakeNic, pinned to the driver in
tests/unit/test_nic_fake.py): rule locations, an occupied location, EEXIST, hash functions, the
context limit, contexts in use, ntuple-filters turned off, leased queues. Each refusal must name
what was refused, leave the kernel and the record consistent, and a re-run must converge."""

from __future__ import annotations

import json

import pytest

from ansible_collections.vmnet.netkit.plugins.modules import nic_channels, nic_info, ntuple_rules, rss_contexts
from ansible_collections.vmnet.netkit.plugins.module_utils.nic import ethtool_text as et
from ansible_collections.vmnet.netkit.plugins.module_utils.nic import planner as nic_planner
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import equal_table, new_rule
from module_runner import run_module
from nic_fake import FakeNic, use_fake

SEED = {"device": "eth0", "default": {"start": 0, "equal": 14}, "contexts": [{"name": "vm1", "start": 14, "equal": 2}]}
RULES = {"device": "eth0", "rules": [{"flow_type": "ip4", "dst_ip": "10.0.0.2", "context": "vm1"},
                                     {"flow_type": "tcp4", "dst_ip": "10.0.0.3", "dst_port": 22, "queue": 3}]}


def record(tmp_path):
    return json.load(open(str(tmp_path / "nic-slices.json")))["devices"]["eth0"]


def foreign_contexts(nic, count, queue=0):
    """Contexts made by hand (ethtool -X eth0 start Q equal 1 context new), ids 1..count."""
    for cid in range(1, count + 1):
        nic.contexts[cid] = {"id": cid, "table": equal_table(128, queue, 1), "hfunc": "toeplitz", "key": nic.key}


def before_first(nic, op, change):
    """Run ``change`` just before the first ``op`` action reaches the NIC: another agent acting
    between the module's read and its write."""
    real = nic.apply

    def apply(device, act):
        if act["op"] == op and not getattr(apply, "done", False):
            apply.done = True
            change()
        return real(device, act)
    nic.apply = apply


@pytest.fixture
def nic(monkeypatch, tmp_path):
    return use_fake(monkeypatch, tmp_path, FakeNic())


@pytest.fixture
def seeded(nic):
    run_module(rss_contexts, SEED)
    run_module(ntuple_rules, RULES)
    nic.applied = []
    return nic


# ---------------------------------------------------------------- rule locations

def test_rules_without_location_land_where_the_driver_puts_them(seeded):
    # the lab driver picks the lowest free location; the record keeps no location, so a re-run matches by content
    assert sorted(seeded.rules) == [0, 1]
    r = run_module(ntuple_rules, RULES)
    assert not r["changed"] and [x["loc"] for x in r["rules"]] == [0, 1]
    assert run_module(nic_info, {"device": "eth0"})["capabilities"]["driver_picks_location"] is True


def test_rules_without_location_where_ethtool_picks_it(monkeypatch, tmp_path):
    # a driver without RX_CLS_LOC_SPECIAL (mlx5): ethtool's rule manager takes the highest free location
    nic = use_fake(monkeypatch, tmp_path, FakeNic(driver_picks_location=False))
    run_module(rss_contexts, SEED)
    r = run_module(ntuple_rules, RULES)
    assert sorted(x["loc"] for x in r["rules"]) == [1022, 1023] and sorted(nic.rules) == [1022, 1023]
    assert not run_module(ntuple_rules, RULES)["changed"]


def test_an_occupied_location_is_refused_in_merged_and_taken_in_overridden(seeded):
    # the driver would replace the rule at location 1 (nsim_add_rule); merged refuses to replace
    # someone's rule silently and names it, overridden deletes it first
    pinned = {"device": "eth0", "rules": RULES["rules"][:1] + [
        {"flow_type": "udp4", "dst_ip": "10.0.0.4", "dst_port": 53, "queue": 5, "loc": 1}]}
    r = run_module(ntuple_rules, pinned, expect_failure=True)
    assert r["option"] == "rules[1].loc"
    assert r["msg"].startswith("rules[1].loc: location 1 of eth0 holds another rule (tcp4 dst_ip 10.0.0.3 "
                               "dst_port 22 -> queue 3 [loc 1]); use state: overridden")
    assert seeded.applied == [] and seeded.rules[1]["dst_port"] == 22
    r = run_module(ntuple_rules, dict(pinned, state="overridden"))
    assert [a["op"] for a in r["actions"]] == ["rule_delete", "rule_add"]
    assert sorted(seeded.rules) == [0, 1] and seeded.rules[1]["dst_port"] == 53
    assert not run_module(ntuple_rules, dict(pinned, state="overridden"))["changed"]


def test_a_rule_moves_to_its_pinned_location(seeded):
    # the same match at another location would be EEXIST: the planner deletes the old rule first
    moved = {"device": "eth0", "rules": [dict(RULES["rules"][0], loc=900)]}
    r = run_module(ntuple_rules, moved)
    assert [(a["op"], a["command"]) for a in r["actions"]] == [
        ("rule_delete", "ethtool -N eth0 delete 0"),
        ("rule_add", "ethtool -N eth0 flow-type ip4 dst-ip 10.0.0.2 context 1 loc 900")]
    assert sorted(seeded.rules) == [1, 900] and not run_module(ntuple_rules, moved)["changed"]


# ---------------------------------------------------------------- EEXIST

def test_a_rule_added_by_someone_else_in_between_is_eexist_and_the_rerun_converges(seeded):
    # between the module's read and its write another agent adds the same match elsewhere: the driver
    # refuses ours with EEXIST (nsim_same_match); the error names our rule, the re-run replaces theirs
    wanted = {"device": "eth0", "rules": RULES["rules"] + [{"flow_type": "udp4", "dst_port": 4789, "queue": 7}]}
    before_first(seeded, "rule_add", lambda: seeded.rules.__setitem__(
        500, new_rule("udp4", dst_port=4789, queue=2, loc=500)))
    r = run_module(ntuple_rules, wanted, expect_failure=True)
    assert r["msg"] == ("add ntuple rule udp4 dst_port 4789 -> queue 7 failed: ethtool ioctl ETHTOOL_SRXCLSRLINS "
                        "on eth0 failed: File exists")
    assert sorted(seeded.rules) == [0, 1, 500] and seeded.rules[500]["queue"] == 2
    r = run_module(ntuple_rules, wanted)
    assert [a["summary"] for a in r["actions"]] == ["delete ntuple rule udp4 dst_port 4789 -> queue 2 [loc 500]",
                                                    "add ntuple rule udp4 dst_port 4789 -> queue 7"]
    assert sorted(seeded.rules) == [0, 1, 2] and seeded.rules[2]["queue"] == 7
    assert not run_module(ntuple_rules, wanted)["changed"]


def test_a_rule_for_context_0_steers_through_the_main_table(seeded):
    # today's lab driver: FLOW_RSS with context 0 is accepted (like mlx5); it holds no context and no queue
    p = {"device": "eth0", "rules": [{"flow_type": "tcp4", "dst_ip": "10.0.0.9", "dst_port": 443, "context": "0"}]}
    r = run_module(ntuple_rules, p)
    assert r["actions"][-1]["command"] == "ethtool -N eth0 flow-type tcp4 dst-ip 10.0.0.9 dst-port 443 context 0"
    added = [x for x in r["rules"] if x["dst_port"] == 443][0]
    assert added["context"] == 0 and added["context_name"] is None and added["loc"] == 2
    assert not run_module(ntuple_rules, p)["changed"]
    # the same match to a context of ours instead: deleted and added again, never EEXIST
    r = run_module(ntuple_rules, {"device": "eth0", "rules": [dict(p["rules"][0], context="vm1")]})
    assert [a["op"] for a in r["actions"]] == ["rule_delete", "rule_add"] and seeded.rules[2]["context"] == 1


def test_a_rule_to_queue_0(seeded):
    # queue 0 is a queue like any other (the driver takes any queue below the channel count)
    p = {"device": "eth0", "rules": [{"flow_type": "tcp4", "dst_ip": "10.0.0.9", "dst_port": 22, "queue": 0}]}
    r = run_module(ntuple_rules, p)
    assert r["actions"][-1]["command"] == "ethtool -N eth0 flow-type tcp4 dst-ip 10.0.0.9 dst-port 22 action 0"
    assert seeded.rules[2]["queue"] == 0 and not run_module(ntuple_rules, p)["changed"]


# ---------------------------------------------------------------- hash functions

def test_a_hash_function_the_driver_lacks_is_refused_by_name_and_nothing_is_left_half_made(nic, tmp_path):
    # the planner knows every hash function name (toeplitz, xor, crc32); the driver takes two (nsim_check_hfunc)
    p = {"device": "eth0", "contexts": [{"name": "vm1", "start": 14, "equal": 2, "hfunc": "crc32"}]}
    r = run_module(rss_contexts, p, expect_failure=True)
    assert r["msg"] == ("create RSS context 'vm1' on eth0: start 14 equal 2 hfunc crc32 failed: ethtool -X eth0 "
                        "context new equal 2 start 14 hfunc crc32 failed: Cannot set RX flow hash configuration: "
                        "Operation not supported")
    assert nic.contexts == {} and not (tmp_path / "nic-slices.json").exists()
    p["contexts"][0]["hfunc"] = "xor"
    assert run_module(rss_contexts, p)["contexts"] == {"vm1": 1} and nic.contexts[1]["hfunc"] == "xor"
    assert not run_module(rss_contexts, p)["changed"]


def test_a_hash_function_refused_over_netlink_carries_the_drivers_words(monkeypatch, tmp_path):
    # on a 6.17+ kernel the RSS writes go over netlink, whose answer has the driver's extack
    nic = use_fake(monkeypatch, tmp_path, FakeNic(rss_netlink=True))
    r = run_module(rss_contexts, {"device": "eth0", "default": {"equal": 14, "hfunc": "crc32"}}, expect_failure=True)
    assert r["msg"].startswith("set the default RSS table of eth0: start 0 equal 14 hfunc crc32 failed: ethtool "
                               "netlink default_set on eth0 failed: fakenic: hash function not supported "
                               "(toeplitz and xor are) (Operation not supported)")
    assert not nic.configured and nic.hfunc == "toeplitz"


def test_the_default_tables_hash_function_and_key_converge(nic):
    key = ":".join(["3c"] * 40)
    p = {"device": "eth0", "default": {"start": 0, "equal": 14, "hfunc": "xor", "key": key}}
    r = run_module(rss_contexts, p)
    assert r["changed"] and r["after"]["default"]["hfunc"] == "xor" and r["after"]["default"]["key"] == key
    assert not run_module(rss_contexts, p)["changed"]


# ---------------------------------------------------------------- the context limit

def test_a_full_context_table_is_refused_then_known(nic, tmp_path):
    # ids 1..15 (the core's xa_alloc under rxfh_max_num_contexts 16): the 16th create is EBUSY; the
    # limit is learned, so the next run refuses before the first write and names it
    foreign_contexts(nic, 15)
    r = run_module(rss_contexts, SEED, expect_failure=True)
    assert "create RSS context 'vm1' on eth0: start 14 equal 2 failed" in r["msg"]
    assert r["msg"].endswith("Cannot set RX flow hash configuration: Device or resource busy; eth0 has no room for "
                             "another RSS context: it held 15 when this one was refused (0 recorded by vmnet.netkit, "
                             "15 not made by vmnet.netkit: ids 1-15); delete the contexts no longer needed "
                             "(ethtool -X eth0 context N delete) and run again")
    assert "already done: set the default RSS table of eth0: start 0 equal 14" in r["msg"]
    assert sorted(nic.contexts) == list(range(1, 16)) and record(tmp_path)["max_contexts"] == 15
    n = len(nic.applied)
    r = run_module(rss_contexts, SEED, expect_failure=True)
    assert r["option"] == "contexts" and r["allowed"] == "at most 15 contexts"
    assert r["msg"] == ("contexts: 16 RSS contexts would exist on eth0 but the NIC allows at most 15; 15 of them not "
                        "made by vmnet.netkit: ids 1-15 (allowed: at most 15 contexts)")
    assert len(nic.applied) == n
    del nic.contexts[15]  # its owner deletes one
    assert run_module(rss_contexts, SEED)["contexts"] == {"vm1": 15}
    assert not run_module(rss_contexts, SEED)["changed"]


def test_the_learned_limit_counts_the_contexts_this_run_created(nic, tmp_path):
    # 13 contexts of someone else, three wanted: two fit, the third is refused; the NIC holds 15
    foreign_contexts(nic, 13)
    three = {"device": "eth0", "contexts": [{"name": "vm%d" % i, "start": 13 + i, "equal": 1} for i in range(3)]}
    r = run_module(rss_contexts, three, expect_failure=True)
    assert "create RSS context 'vm2' on eth0: start 15 equal 1 failed" in r["msg"]
    assert len(nic.contexts) == 15 and record(tmp_path)["max_contexts"] == 15
    r = run_module(rss_contexts, three, expect_failure=True)
    assert "16 RSS contexts would exist on eth0 but the NIC allows at most 15" in r["msg"]
    two = dict(three, contexts=three["contexts"][:2])
    r = run_module(rss_contexts, two)
    assert r["contexts"] == {"vm0": 14, "vm1": 15} and not r["actions"]  # adopted: the same tables


def test_a_busy_delete_is_not_taken_for_a_context_limit(seeded, tmp_path):
    # a rule appears between the read and the delete: the core refuses the delete with EBUSY
    # (ethtool_check_rss_ctx_busy); the run would also create a context, but its refusal says nothing
    # about how many contexts the NIC holds
    seeded.rules = {}
    seeded.contexts[2] = {"id": 2, "table": equal_table(128, 13, 1), "hfunc": "toeplitz", "key": seeded.key}
    before_first(seeded, "context_delete", lambda: seeded.rules.__setitem__(
        9, new_rule("udp4", dst_port=53, context=2, loc=9)))
    p = {"device": "eth0", "state": "overridden", "default": {"start": 0, "equal": 12},
         "contexts": SEED["contexts"] + [{"name": "vm2", "start": 12, "equal": 1}]}
    r = run_module(rss_contexts, p, expect_failure=True)
    assert r["msg"] == ("delete RSS context 2 on eth0 failed: ethtool -X eth0 context 2 delete failed: Cannot set RX "
                        "flow hash configuration: Device or resource busy")
    assert sorted(seeded.contexts) == [1, 2] and "max_contexts" not in record(tmp_path)
    r = run_module(rss_contexts, p, expect_failure=True)  # now the planner sees the rule and names it
    assert "RSS context 2 on eth0 is still used by ntuple rule(s): udp4 dst_port 53 -> context 2 [loc 9]" in r["msg"]
    del seeded.rules[9]
    assert run_module(rss_contexts, p)["contexts"] == {"vm1": 1, "vm2": 2}
    assert not run_module(rss_contexts, p)["changed"]


# ---------------------------------------------------------------- ntuple-filters off

def test_rules_flushed_by_turning_ntuple_filters_off_are_restored(seeded):
    # turning ntuple-filters off flushes every rule (nsim_rss_features_changed); the next run turns it on
    # again before adding them (nsim_add_rule refuses rules while it is off)
    seeded.apply("eth0", nic_planner.action("ntuple_off", et.ntuple_feature_argv("ethtool", "eth0", False), "by hand",
                                            device="eth0"))
    assert seeded.rules == {}
    r = run_module(ntuple_rules, RULES)
    assert [a["command"] for a in r["actions"]] == [
        "ethtool -K eth0 ntuple on", "ethtool -N eth0 flow-type ip4 dst-ip 10.0.0.2 context 1",
        "ethtool -N eth0 flow-type tcp4 dst-ip 10.0.0.3 dst-port 22 action 3"]
    assert r["ntuple"] == {"active": True, "fixed": False} and len(seeded.rules) == 2
    assert not run_module(ntuple_rules, RULES)["changed"]


def test_after_a_driver_reload_contexts_then_rules_converge(seeded):
    # everything is gone and ntuple-filters is off again; rss_contexts first, then the rules follow the new ids
    seeded.reload()
    seeded.contexts[1] = {"id": 1, "table": equal_table(128, 3, 1), "hfunc": "toeplitz", "key": seeded.key}
    assert run_module(rss_contexts, SEED)["contexts"] == {"vm1": 2}
    r = run_module(ntuple_rules, RULES)
    assert r["actions"][0]["op"] == "ntuple_on" and r["rules"][0]["context"] == 2
    assert not run_module(ntuple_rules, RULES)["changed"]


# ---------------------------------------------------------------- leased queues

def test_a_shrink_past_a_leased_queue_is_refused_before_the_kernel(nic):
    # the core refuses it too (netdev_queue_busy: "Device queue in use due to queue leasing")
    nic.leases = {15: "nk-vm1"}
    r = run_module(nic_channels, {"device": "eth0", "combined": 14}, expect_failure=True)
    assert r["option"] == "combined" and r["allowed"] == "combined + rx >= 16 while these are in use"
    assert "a queue lease to netkit device nk-vm1 (queues 15; it ends only when that device is deleted)" in r["msg"]
    assert nic.applied == [] and nic.rings() == 16
    nic.leases = {}
    assert run_module(nic_channels, {"device": "eth0", "combined": 14})["changed"]
