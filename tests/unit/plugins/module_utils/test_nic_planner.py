# SPDX-License-Identifier: GPL-3.0-or-later
"""Planning in nic.planner: validation before any write, the order of actions, check-mode simulation."""

from __future__ import annotations

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils.nic import planner as d
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import UnsupportedError, ValidationError
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import equal_table, new_rule

from nic_fake import FakeNic


def state(**kw):
    return FakeNic(**kw).read("eth0")


def seeded():
    """The seed scenario applied: default 0-13, context 1 'vm1' on 14-15, one rule."""
    f = FakeNic()
    f.table = equal_table(128, 0, 14)
    f.configured = True
    f.contexts[1] = {"id": 1, "table": equal_table(128, 14, 2), "hfunc": "toeplitz", "key": f.key}
    f.rules[1023] = new_rule("ip4", dst_ip="10.0.0.2", context=1, loc=1023)
    f.ntuple["active"] = True
    rec = {"ifindex": 5, "contexts": {"vm1": {"id": 1, "spec": {"start": 14, "equal": 2}}},
           "default": {"configured": True, "spec": {"start": 0, "equal": 14}}}
    return f.read("eth0"), rec


SEED = {"device": "eth0", "state": "merged", "default": {"start": 0, "equal": 14},
        "contexts": [{"name": "vm1", "start": 14, "equal": 2}]}


# ---------------------------------------------------------------- channels

def test_channels_no_change_and_change():
    st = state(combined=8)
    assert d.plan_channels(st, {"device": "eth0", "combined": 8}) == []
    acts = d.plan_channels(st, {"device": "eth0", "combined": 16, "rx": None})
    assert [a["command"] for a in acts] == ["ethtool -L eth0 combined 16"]


def test_channels_unknown_device():
    with pytest.raises(ValidationError, match="no network device named 'eth9'"):
        d.plan_channels(FakeNic().read("eth9"), {"device": "eth9", "combined": 1})


def test_channels_above_max_and_missing_kind():
    with pytest.raises(ValidationError, match=r"combined: 17 exceeds the maximum of 16.*allowed: 0-16"):
        d.plan_channels(state(), {"device": "eth0", "combined": 17})
    with pytest.raises(ValidationError, match=r"rx: eth0 has no rx channels \(maximum 0\); it has combined \(max 16\)"):
        d.plan_channels(state(), {"device": "eth0", "rx": 2})


def test_channels_no_rx_left():
    st = state(combined=0, max_combined=0, rx=4, max_rx=4, tx=4, max_tx=4)
    with pytest.raises(ValidationError, match="no RX queue"):
        d.plan_channels(st, {"device": "eth0", "rx": 0})


def test_channels_shrink_refused_names_users():
    st, rec = seeded()
    with pytest.raises(ValidationError) as e:
        d.plan_channels(st, {"device": "eth0", "combined": 14}, rec)
    msg = str(e.value)
    assert "queue(s) 14-15" in msg and "RSS context 1 'vm1'" in msg and "ntuple rule ip4 dst_ip 10.0.0.2" in msg
    assert "default RSS table" not in msg  # 0-13 survive
    assert e.value.option == "combined"


def test_channels_shrink_of_unconfigured_table_allowed():
    assert d.plan_channels(state(), {"device": "eth0", "combined": 8})[0]["values"] == {"combined": 8}


def test_channels_shrink_blocked_by_configured_default_and_queue_rule():
    f = FakeNic()
    f.table = equal_table(128, 0, 12)
    f.rules[3] = new_rule("tcp4", dst_port=80, queue=13, loc=3)
    with pytest.raises(ValidationError, match=r"queue\(s\) 10-11,13.*default RSS table.*ntuple rule tcp4"):
        d.plan_channels(f.read("eth0"), {"device": "eth0", "combined": 10})


def test_channels_unsupported():
    st = state()
    st["channels"] = None
    with pytest.raises(UnsupportedError, match="does not report channels"):
        d.plan_channels(st, {"device": "eth0", "combined": 2})


# ---------------------------------------------------------------- contexts

def test_contexts_seed_plan_order():
    plan = d.plan_contexts(state(), {}, SEED)
    assert [a["op"] for a in plan["actions"]] == ["default_set", "context_create"]
    assert plan["actions"][1]["command"] == "ethtool -X eth0 context new equal 2 start 14"
    assert plan["names"] == {"vm1": None}


def test_contexts_idempotent_on_seeded_state():
    st, rec = seeded()
    plan = d.plan_contexts(st, rec, SEED)
    assert plan["actions"] == [] and plan["names"] == {"vm1": 1}


def test_contexts_change_in_place_when_ours():
    st, rec = seeded()
    p = dict(SEED, default={"start": 0, "equal": 12}, contexts=[{"name": "vm1", "start": 12, "equal": 4}])
    with pytest.raises(ValidationError):  # default 0-12 would overlap vm1 on 12-15
        d.plan_contexts(st, rec, dict(p, default={"start": 0, "equal": 13}))
    plan = d.plan_contexts(st, rec, p)
    assert [(a["op"], a.get("id")) for a in plan["actions"]] == [("default_set", None), ("context_update", 1)]


def test_contexts_vanished_is_recreated_with_note():
    st, rec = seeded()
    st["contexts"] = {}
    plan = d.plan_contexts(st, rec, SEED)
    assert [a["op"] for a in plan["actions"]] == ["context_create"]
    assert "no longer exists" in plan["notes"][0] and "recreated" in plan["notes"][0]


def test_contexts_changed_behind_back_recreated_old_left():
    st, rec = seeded()
    st["contexts"][1]["table"] = equal_table(128, 0, 4)
    st["rules"] = []
    plan = d.plan_contexts(st, rec, dict(SEED, default=None))
    assert [a["op"] for a in plan["actions"]] == ["context_create"]
    assert "changed behind our back" in plan["notes"][0]


def test_contexts_changed_behind_back_overlap_refused():
    st, rec = seeded()
    st["contexts"][1]["table"] = equal_table(128, 15, 1)
    with pytest.raises(ValidationError, match="overlaps existing context 1"):
        d.plan_contexts(st, rec, dict(SEED, default=None))


def test_contexts_adopt_same_table_without_record():
    st, _rec = seeded()
    plan = d.plan_contexts(st, {}, SEED)
    assert plan["actions"] == [] and plan["names"] == {"vm1": 1}
    assert "adopted" in plan["notes"][0]


@pytest.mark.parametrize("contexts,match", [
    ([{"name": "a", "start": 14, "equal": 2}, {"name": "a", "start": 12, "equal": 2}], "used twice"),
    ([{"name": "a", "start": 14, "equal": 2}, {"name": "b", "start": 14, "equal": 2}], "duplicates"),
    ([{"name": "a", "start": 12, "equal": 3}, {"name": "b", "start": 14, "equal": 2}], "overlap on queue"),
    ([{"name": "a", "start": 15, "equal": 2}], r"queue\(s\) 15-16 but eth0 has 16 RX queues"),
    ([{"name": "a", "start": 0, "weights": [0, 0]}], "at least one weight"),
    ([{"name": "a", "start": 0}], "needs a table"),
    ([{"name": "a", "equal": 2, "key": "zz"}], "colon-separated hex"),
    ([{"name": "a", "equal": 2, "key": "6d:5a"}], "40-byte key"),
])
def test_contexts_bad_input(contexts, match):
    with pytest.raises(ValidationError, match=match):
        d.plan_contexts(state(), {}, {"device": "eth0", "state": "merged", "contexts": contexts})


def test_contexts_default_overlap():
    with pytest.raises(ValidationError, match=r"default: the default table \(queues 0-14\) overlaps context 'vm1'"):
        d.plan_contexts(state(), {}, dict(SEED, default={"start": 0, "equal": 15}))


def test_contexts_unsupported_nic():
    with pytest.raises(UnsupportedError, match="does not support additional RSS contexts"):
        d.plan_contexts(state(contexts_supported=False), {}, SEED)
    with pytest.raises(UnsupportedError, match="no RSS indirection table"):
        d.plan_contexts(state(rss=False), {}, SEED)


def test_contexts_too_many():
    st = state(max_contexts=1)
    st["max_contexts"] = 1
    p = dict(SEED, contexts=[{"name": "a", "start": 14, "equal": 1}, {"name": "b", "start": 15, "equal": 1}],
             default=None)
    with pytest.raises(ValidationError, match="at most 1"):
        d.plan_contexts(st, {}, p)
    with pytest.raises(ValidationError, match="at most 1"):
        d.plan_contexts(state(), {"max_contexts": 1}, p)


def test_contexts_overridden_deletes_others_then_changes():
    st, rec = seeded()
    st["contexts"][2] = {"id": 2, "table": equal_table(128, 12, 1)}
    st["rules"] = []
    plan = d.plan_contexts(st, rec, dict(SEED, state="overridden"))
    assert [(a["op"], a.get("id")) for a in plan["actions"]] == [("context_delete", 2)]


def test_contexts_delete_in_use_refused():
    st, rec = seeded()
    with pytest.raises(ValidationError, match=r"RSS context 1 'vm1' on eth0 is still used by ntuple rule"):
        d.plan_contexts(st, rec, {"device": "eth0", "state": "deleted", "contexts": [{"name": "vm1"}]})


def test_contexts_deleted_all_resets_default_after_contexts():
    st, rec = seeded()
    st["rules"] = []
    plan = d.plan_contexts(st, rec, {"device": "eth0", "state": "deleted"})
    assert [a["op"] for a in plan["actions"]] == ["context_delete", "default_reset"]


def test_contexts_reset_default_idempotent():
    assert d.plan_contexts(state(), {}, {"device": "eth0", "default": {"reset": True}})["actions"] == []
    st, rec = seeded()
    st["rules"] = []
    acts = d.plan_contexts(st, rec, {"device": "eth0", "default": {"reset": True}})["actions"]
    assert [a["command"] for a in acts] == ["ethtool -X eth0 default"]


# ---------------------------------------------------------------- rules

RULES = {"device": "eth0", "state": "merged", "rules": [{"flow_type": "ip4", "dst_ip": "10.0.0.2", "context": "vm1"}]}


def test_rules_seed_plan_turns_ntuple_on_first():
    st, rec = seeded()
    st["rules"] = []
    st["ntuple"] = {"active": False, "fixed": False}
    acts = d.plan_rules(st, rec, RULES)["actions"]
    assert [a["command"] for a in acts] == ["ethtool -K eth0 ntuple on",
                                            "ethtool -N eth0 flow-type ip4 dst-ip 10.0.0.2 context 1"]


def test_rules_idempotent_and_follow_recreated_context():
    st, rec = seeded()
    assert d.plan_rules(st, rec, RULES)["actions"] == []
    # context recreated as id 2: the rule is deleted and added again pointing at 2
    st["contexts"] = {2: dict(st["contexts"][1], id=2)}
    rec["contexts"]["vm1"]["id"] = 2
    acts = d.plan_rules(st, rec, RULES)["actions"]
    assert [a["op"] for a in acts] == ["rule_delete", "rule_add"]
    assert acts[1]["argv"][-1] == "2"


def test_rules_ntuple_fixed_off():
    st, rec = seeded()
    st["rules"] = []
    st["ntuple"] = {"active": False, "fixed": True}
    with pytest.raises(UnsupportedError, match=r"ntuple-filters: off \[fixed\]"):
        d.plan_rules(st, rec, RULES)


def test_rules_unsupported():
    with pytest.raises(UnsupportedError, match="no ntuple rule table"):
        d.plan_rules(state(rules_supported=False), {}, RULES)


@pytest.mark.parametrize("rules,match", [
    ([{"flow_type": "ip4", "dst_ip": "10.0.0.2", "context": "vm9"}], r"no RSS context named 'vm9'.*allowed: vm1"),
    ([{"flow_type": "ip4", "dst_ip": "10.0.0.2", "context": "7"}], r"RSS context 7 does not exist.*allowed: 1"),
    ([{"flow_type": "ip4", "dst_ip": "10.0.0.2", "queue": 16}], r"queue 16 is outside.*allowed: 0-15"),
    ([{"flow_type": "ip4", "dst_ip": "10.0.0.2"}], "exactly one of context, queue or drop"),
    ([{"flow_type": "ip4", "dst_ip": "10.0.0.2", "queue": 1, "drop": True}], "exactly one of"),
    ([{"flow_type": "ip4", "dst_port": 80, "queue": 1}], "ports need a tcp, udp or sctp"),
    ([{"flow_type": "tcp6", "dst_ip": "10.0.0.2", "queue": 1}], "needs IPv6"),
    ([{"flow_type": "tcp4", "dst_ip": "10.0.0.1/24", "queue": 1}], "host bits set; the prefix is 10.0.0.0/24"),
    ([{"flow_type": "ip4", "dst_ip": "10.0.0.2", "queue": 1}, {"flow_type": "ip4", "dst_ip": "10.0.0.2", "queue": 2}],
     "same match .* but different actions"),
    ([{"flow_type": "ip4", "dst_ip": "10.0.0.2", "queue": 1}, {"flow_type": "ip4", "dst_ip": "10.0.0.2", "queue": 1}],
     "duplicates"),
    ([{"flow_type": "ip4", "dst_ip": "10.0.0.3", "queue": 1, "loc": 1023}], "location 1023 of eth0 holds another rule"),
    ([{"flow_type": "ip4", "dst_ip": "10.0.0.3", "queue": 1, "loc": 5000}], "outside the rule table"),
    ([{"flow_type": "ip4", "dst_ip": "10.0.0.3", "queue": 1, "loc": 4},
      {"flow_type": "ip4", "dst_ip": "10.0.0.4", "queue": 1, "loc": 4}], "both ask for location 4"),
])
def test_rules_bad_input(rules, match):
    st, rec = seeded()
    with pytest.raises(ValidationError, match=match):
        d.plan_rules(st, rec, {"device": "eth0", "state": "merged", "rules": rules})


def test_rules_vanished_context_name():
    st, rec = seeded()
    st["contexts"] = {}
    with pytest.raises(ValidationError, match="no longer exists; run vmnet.netkit.rss_contexts first"):
        d.plan_rules(st, rec, RULES)


def test_rules_check_mode_takes_a_stale_context_as_recreated():
    # vm1's recorded context was deleted and someone else's took its id with another table: the
    # real run refuses (rss_contexts must recreate it first); check mode, where rss_contexts
    # recreates nothing, shows the rule as it will be added to the recreated context
    st, rec = seeded()
    st["rules"] = []
    st["contexts"] = {1: dict(st["contexts"][1], table=equal_table(128, 15, 1))}
    with pytest.raises(ValidationError, match="changed behind our back"):
        d.plan_rules(st, rec, RULES)
    plan = d.plan_rules(st, rec, RULES, check_mode=True)
    assert [a["op"] for a in plan["actions"]] == ["rule_add"]
    assert plan["actions"][0]["rule"]["context"] == "<id of vm1>"
    assert "no valid RSS context named 'vm1'" in plan["notes"][0]


def test_rules_overridden_and_deleted():
    st, rec = seeded()
    st["rules"].append(new_rule("udp4", dst_port=53, drop=True, loc=1022))
    acts = d.plan_rules(st, rec, dict(RULES, state="overridden"))["actions"]
    assert [(a["op"], a["loc"]) for a in acts] == [("rule_delete", 1022)]
    acts = d.plan_rules(st, rec, {"device": "eth0", "state": "deleted",
                                  "rules": [{"flow_type": "ip4", "dst_ip": "10.0.0.2"}]})["actions"]
    assert [(a["op"], a["loc"]) for a in acts] == [("rule_delete", 1023)]
    acts = d.plan_rules(st, rec, {"device": "eth0", "state": "deleted"})["actions"]
    assert [a["loc"] for a in acts] == [1023, 1022]


def test_rules_table_full():
    st, rec = seeded()
    st["rule_table_size"] = 1
    with pytest.raises(ValidationError, match="would not fit into the 1-entry rule table"):
        d.plan_rules(st, rec, dict(RULES, rules=RULES["rules"] + [{"flow_type": "udp4", "dst_port": 1, "drop": True}]))


def test_simulate_check_mode_state():
    st = state()
    plan = d.plan_contexts(st, {}, SEED)
    after = d.simulate(st, plan["actions"])
    assert after["rss"]["table"][:15] == list(range(14)) + [0]
    assert after["contexts"][("new", "vm1")]["id"] is None
    assert st["contexts"] == {}
