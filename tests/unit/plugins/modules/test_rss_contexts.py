# SPDX-License-Identifier: GPL-3.0-or-later
"""rss_contexts through its argument spec with a fake NIC."""

from __future__ import annotations

import json

import pytest

from ansible_collections.vmnet.netkit.plugins.modules import rss_contexts
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import equal_table, new_rule
from module_runner import run_module
from nic_fake import FakeNic, use_fake

SEED = {"device": "eth0", "default": {"start": 0, "equal": 14}, "contexts": [{"name": "vm1", "start": 14, "equal": 2}]}


@pytest.fixture
def nic(monkeypatch, tmp_path):
    return use_fake(monkeypatch, tmp_path, FakeNic())


def record(tmp_path):
    return json.load(open(str(tmp_path / "nic-slices.json")))["devices"]["eth0"]


def test_seed_create_then_idempotent(nic, tmp_path):
    r = run_module(rss_contexts, SEED)
    assert r["changed"] and r["contexts"] == {"vm1": 1}
    assert [a["command"] for a in r["actions"]] == ["ethtool -X eth0 equal 14",
                                                    "ethtool -X eth0 context new equal 2 start 14"]
    assert r["after"]["default"]["queues"] == "0-13" and r["after"]["contexts"][0]["name"] == "vm1"
    assert record(tmp_path)["contexts"]["vm1"]["id"] == 1
    r = run_module(rss_contexts, SEED)
    assert not r["changed"] and r["contexts"] == {"vm1": 1} and r["actions"] == []


def test_check_mode_new_id_unknown(nic, tmp_path):
    r = run_module(rss_contexts, SEED, check_mode=True)
    assert r["changed"] and r["contexts"] == {"vm1": None}
    assert any("unknown (null)" in n for n in r["notes"])
    assert nic.applied == [] and not (tmp_path / "nic-slices.json").exists()
    assert r["after"]["contexts"][0]["id"] is None and r["after"]["contexts"][0]["name"] == "vm1"


def test_diff(nic):
    r = run_module(rss_contexts, SEED, diff=True)
    assert r["diff"]["before"]["contexts"] == [] and r["diff"]["after"]["contexts"][0]["queues"] == "14-15"


def test_recreated_after_driver_reload(nic):
    run_module(rss_contexts, SEED)
    nic.contexts[1] = {"id": 1, "table": equal_table(128, 10, 1), "hfunc": "toeplitz", "key": None}  # someone
    nic.reload()
    nic.contexts[1] = {"id": 1, "table": equal_table(128, 2, 1), "hfunc": "toeplitz", "key": None}  # other user
    r = run_module(rss_contexts, SEED)
    assert r["changed"] and r["contexts"] == {"vm1": 2}
    assert any("re-created" in n for n in r["notes"])
    assert nic.contexts[1]["table"][0] == 2  # the other user's context is left alone
    assert not run_module(rss_contexts, SEED)["changed"]


def test_vanished_context_recreated_same_device(nic):
    run_module(rss_contexts, SEED)
    del nic.contexts[1]
    r = run_module(rss_contexts, SEED)
    assert r["changed"] and r["contexts"] == {"vm1": 1}
    assert any("no longer exists" in n for n in r["notes"])


def test_no_id_printed_found_by_reading_back(monkeypatch, tmp_path):
    nic = use_fake(monkeypatch, tmp_path, FakeNic(print_ids=False))
    r = run_module(rss_contexts, SEED)
    assert r["contexts"] == {"vm1": 1} and any("found by reading back" in n for n in r["notes"])


def test_change_spec_updates_in_place(nic):
    run_module(rss_contexts, SEED)
    p = dict(SEED, default={"start": 0, "equal": 12}, contexts=[{"name": "vm1", "start": 12, "equal": 4}])
    r = run_module(rss_contexts, p)
    assert [a["op"] for a in r["actions"]] == ["default_set", "context_update"] and r["contexts"] == {"vm1": 1}
    assert not run_module(rss_contexts, p)["changed"]


def test_replaced_changes_the_listed_context_and_leaves_the_others(nic):
    two = dict(SEED, default={"start": 0, "equal": 10},
               contexts=SEED["contexts"] + [{"name": "vm2", "start": 12, "equal": 2}])
    run_module(rss_contexts, two)
    unmanaged = {"id": 3, "table": equal_table(128, 10, 2), "hfunc": "toeplitz", "key": None}
    nic.contexts[3] = dict(unmanaged)
    p = {"device": "eth0", "state": "replaced", "contexts": [{"name": "vm1", "start": 14, "equal": 1}]}
    r = run_module(rss_contexts, p)
    assert [a["op"] for a in r["actions"]] == ["context_update"] and r["contexts"] == {"vm1": 1}
    assert nic.contexts[1]["table"] == equal_table(128, 14, 1)
    assert nic.contexts[2]["table"] == equal_table(128, 12, 2) and nic.contexts[3] == unmanaged
    assert not run_module(rss_contexts, p)["changed"]


def test_deleted_and_in_use(nic):
    run_module(rss_contexts, SEED)
    nic.rules[1023] = new_rule("ip4", dst_ip="10.0.0.2", context=1, loc=1023)
    r = run_module(rss_contexts, {"device": "eth0", "state": "deleted", "contexts": [{"name": "vm1"}]},
                   expect_failure=True)
    assert "still used by ntuple rule(s): ip4 dst_ip 10.0.0.2 -> context 1 (vm1)" in r["msg"]
    del nic.rules[1023]
    r = run_module(rss_contexts, {"device": "eth0", "state": "deleted", "contexts": [{"name": "vm1"}]})
    assert r["changed"] and nic.contexts == {} and r["contexts"] == {"vm1": None}
    assert not run_module(rss_contexts, {"device": "eth0", "state": "deleted", "contexts": [{"name": "vm1"}]})["changed"]


def test_overridden_and_reset(nic):
    run_module(rss_contexts, SEED)
    nic.contexts[2] = {"id": 2, "table": equal_table(128, 13, 1), "hfunc": "toeplitz", "key": None}
    r = run_module(rss_contexts, {"device": "eth0", "state": "overridden", "contexts": [{"name": "vm1", "start": 14, "equal": 2}]})
    assert [a["op"] for a in r["actions"]] == ["context_delete", "default_reset"]
    assert sorted(nic.contexts) == [1] and not nic.configured
    r = run_module(rss_contexts, {"device": "eth0", "state": "overridden", "contexts": [{"name": "vm1", "start": 14, "equal": 2}]})
    assert not r["changed"]


def test_gathered_and_rendered(nic):
    run_module(rss_contexts, SEED)
    r = run_module(rss_contexts, {"device": "eth0", "state": "gathered"})
    assert not r["changed"] and r["contexts"] == {"vm1": 1} and r["gathered"]["default"]["configured"]
    n = len(nic.applied)
    r = run_module(rss_contexts, dict(SEED, state="rendered"))
    assert r["rendered"] == ["ethtool -X eth0 equal 14", "ethtool -X eth0 context new equal 2 start 14"]
    assert len(nic.applied) == n


@pytest.mark.parametrize("params,option,match", [
    ({"device": "nope0", "contexts": [{"name": "a", "equal": 1}]}, "device", "no network device named 'nope0'"),
    ({"device": "eth0", "contexts": [{"name": "a", "equal": 2, "start": 14}, {"name": "a", "equal": 1}]},
     "contexts[1].name", "used twice"),
    ({"device": "eth0", "contexts": [{"name": "a", "equal": 2, "start": 13}, {"name": "b", "equal": 2, "start": 14}]},
     "contexts[1]", "overlap"),
    ({"device": "eth0", "contexts": [{"name": "a", "equal": 4, "start": 14}]}, "contexts[0]", "has 16 RX queues"),
    ({"device": "eth0", "default": {"equal": 15}, "contexts": [{"name": "a", "equal": 2, "start": 14}]},
     "default", "default: the default table"),
    # the argument spec's own checks name the options in the message
    ({"device": "eth0", "contexts": [{"name": "a", "equal": 2, "weights": [1, 1]}]}, None,
     "mutually exclusive: equal|weights found in contexts"),
    ({"device": "eth0", "contexts": [{"name": "a", "equal": 2, "hfunc": "md5"}]}, None,
     "hfunc must be one of: toeplitz, xor, crc32"),
])
def test_bad_input_touches_nothing(nic, params, option, match):
    r = run_module(rss_contexts, params, expect_failure=True)
    assert match in r["msg"] and r.get("option") == option
    if option:
        assert r["msg"].startswith(option + ": ")
    assert nic.applied == []


def test_unsupported_nic(monkeypatch, tmp_path):
    nic = use_fake(monkeypatch, tmp_path, FakeNic(contexts_supported=False))
    r = run_module(rss_contexts, SEED, expect_failure=True)
    assert "does not support additional RSS contexts" in r["msg"] and nic.applied == []


def test_too_many_contexts_learned(monkeypatch, tmp_path):
    nic = use_fake(monkeypatch, tmp_path, FakeNic(max_contexts=1))
    p = {"device": "eth0", "contexts": [{"name": "a", "start": 14, "equal": 1}, {"name": "b", "start": 15, "equal": 1}]}
    r = run_module(rss_contexts, p, expect_failure=True)
    assert "Device or resource busy" in r["msg"] and "already done" in r["msg"]
    assert record(tmp_path)["max_contexts"] == 1
    n = len(nic.applied)
    r = run_module(rss_contexts, p, expect_failure=True)
    assert "at most 1" in r["msg"] and len(nic.applied) == n


def test_a_record_that_cannot_be_written_undoes_the_new_contexts(nic, tmp_path, monkeypatch):
    from ansible_collections.vmnet.netkit.plugins.module_utils.host import files as host_files
    from ansible_collections.vmnet.netkit.plugins.module_utils.errors import KernelError

    def full(path, data, mode=0o644, dir_mode=0o755):
        raise KernelError("cannot write %s: No space left on device (the old file, if any, is unchanged)" % path,
                          errno=28)
    monkeypatch.setattr(host_files, "atomic_write", full)
    r = run_module(rss_contexts, SEED, expect_failure=True)
    assert "No space left on device" in r["msg"] and "nic-slices.json" in r["msg"]
    assert "RSS context(s) 1 created by this run were deleted again" in r["msg"]
    assert nic.contexts == {} and not (tmp_path / "nic-slices.json").exists()
    monkeypatch.undo()
    use_fake(monkeypatch, tmp_path, nic)
    assert run_module(rss_contexts, SEED)["contexts"] == {"vm1": 1}
