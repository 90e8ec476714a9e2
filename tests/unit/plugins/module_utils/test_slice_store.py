# SPDX-License-Identifier: GPL-3.0-or-later
"""The host's record of context names: atomic file, validation against the NIC's tables."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import empty_state, equal_table
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.slice_store import SliceStore, default_path, valid_contexts


def _state(contexts, ifindex=5):
    st = empty_state("eth0")
    st["ifindex"] = ifindex
    st["contexts"] = contexts
    return st


REC = {"ifindex": 5, "contexts": {"vm1": {"id": 1, "spec": {"start": 14, "equal": 2}},
                                  "vm2": {"id": 2, "spec": {"start": 12, "equal": 2}}}}


def test_valid_when_table_matches():
    st = _state({1: {"table": equal_table(128, 14, 2)}, 2: {"table": equal_table(128, 12, 2)}})
    assert valid_contexts(REC, st) == ({"vm1": 1, "vm2": 2}, {})


def test_vanished_and_changed_behind_our_back():
    st = _state({1: {"table": equal_table(128, 0, 4)}})
    valid, problems = valid_contexts(REC, st)
    assert valid == {}
    assert "changed behind our back" in problems["vm1"]
    assert "no longer exists" in problems["vm2"]


def test_device_recreated_invalidates_all():
    st = _state({1: {"table": equal_table(128, 14, 2)}}, ifindex=9)
    valid, problems = valid_contexts(REC, st)
    assert valid == {} and "re-created" in problems["vm1"]


def test_save_is_atomic_and_round_trips(tmp_path):
    path = str(tmp_path / "sub" / "nic-slices.json")
    s = SliceStore(path).load()
    assert not s.dirty() and not s.save()
    rec = s.device("eth0")
    rec["contexts"]["vm1"] = {"id": 1, "spec": {"start": 14, "equal": 2}}
    s.put_device("eth0", rec)
    assert s.save()
    assert json.load(open(path))["devices"]["eth0"]["contexts"]["vm1"]["id"] == 1
    assert [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".")] == []
    assert SliceStore(path).load().device("eth0")["contexts"]["vm1"]["id"] == 1


def test_bad_file_is_reported(tmp_path):
    p = tmp_path / "nic-slices.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        SliceStore(str(p)).load()
    p.write_text(json.dumps({"version": 99, "devices": {}}))
    with pytest.raises(ValueError, match="unknown format"):
        SliceStore(str(p)).load()


def test_default_path_env(monkeypatch):
    monkeypatch.setenv("VMNET_NETKIT_STATE_DIR", "/x/y")
    assert default_path() == "/x/y/nic-slices.json"
    monkeypatch.delenv("VMNET_NETKIT_STATE_DIR")
    assert default_path() == "/var/lib/vmnet-netkit/nic-slices.json"
