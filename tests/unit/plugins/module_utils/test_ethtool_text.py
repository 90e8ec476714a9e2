# SPDX-License-Identifier: GPL-3.0-or-later
"""Parsers and argv builders of ethtool_text on recorded outputs of ethtool 6.1, 6.14 and 7.2."""

from __future__ import annotations

import os

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils.nic import ethtool_text as et
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import new_rule

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "ethtool")


def fixture(name):
    with open(os.path.join(FIX, name)) as f:
        return f.read()


@pytest.mark.parametrize("name,expected", [("6.1/version.txt", (6, 1)), ("6.14/version.txt", (6, 14, 2)),
                                           ("7.2/version.txt", (7, 2))])
def test_version(name, expected):
    assert et.parse_version(fixture(name)) == expected


def test_version_garbage():
    with pytest.raises(et.ParseError):
        et.parse_version("ethtool: bad command line argument(s)")


def test_channels_veth_61_na():
    ch = et.parse_channels(fixture("6.1/veth-l.txt"))
    assert ch == {"max": {"rx": 4, "tx": 4, "other": 0, "combined": 0},
                  "current": {"rx": 4, "tx": 4, "other": 0, "combined": 0}}


def test_channels_mlx5_text_72():
    ch = et.parse_channels(fixture("7.2/mlx5-l.txt"))
    assert ch["max"] == {"rx": 0, "tx": 0, "other": 1, "combined": 64}
    assert ch["current"]["combined"] == 16


def test_channels_json_72_omits_zero_pairs():
    ch = et.parse_channels_json(fixture("7.2/nsim-l.json"))
    assert ch == {"max": {"rx": 0, "tx": 0, "other": 0, "combined": 16},
                  "current": {"rx": 0, "tx": 0, "other": 0, "combined": 16}}


def test_channels_not_output():
    with pytest.raises(et.ParseError):
        et.parse_channels("Cannot get device channel parameters\n: Operation not supported")


def test_features_veth_fixed_and_json_agree():
    text = et.parse_features(fixture("6.1/veth-k.txt"))
    js = et.parse_features_json(fixture("6.1/veth-k.json"))
    assert et.ntuple_from_features(text) == {"active": False, "fixed": True}
    assert et.ntuple_from_features(js) == {"active": False, "fixed": True}
    assert text["rx-checksumming"]["active"] is True
    assert text["tx-checksum-ipv4"] == {"active": False, "fixed": True, "requested": False}


def test_features_requested_note():
    f = et.parse_features(fixture("6.14/nsim-k-ntuple.txt"))
    assert f["tx-checksum-ip-generic"] == {"active": False, "fixed": False, "requested": True}
    assert et.ntuple_from_features(f) == {"active": False, "fixed": False}


@pytest.mark.parametrize("name", ["6.1/mlx5-x.txt", "6.14/nsim-x.txt", "7.2/nsim-x.txt"])
def test_rxfh_text_all_versions(name):
    r = et.parse_rxfh(fixture(name))
    assert r["rings"] == 16
    assert r["table"] == [i % 14 for i in range(128)]
    assert r["key"].startswith("6d:5a:56:da") and len(r["key"].split(":")) == 40
    assert r["hfunc"] == "toeplitz"
    assert r["hfuncs"] == ["toeplitz", "xor", "crc32"]


def test_rxfh_text_xfrm_versions():
    assert et.parse_rxfh(fixture("6.1/mlx5-x.txt"))["input_xfrm"] == {}
    assert et.parse_rxfh(fixture("6.14/nsim-x.txt"))["input_xfrm"] == {"symmetric-xor": False}
    xfrm = et.parse_rxfh(fixture("7.2/nsim-x.txt"))["input_xfrm"]
    assert xfrm == {"symmetric-xor": False, "symmetric-or-xor": False}


def test_rxfh_context_without_key():
    r = et.parse_rxfh(fixture("7.2/nsim-x-context1-nokey.txt"))
    assert r["table"] == [14 + i % 2 for i in range(128)]
    assert r["key"] is None and r["hfunc"] is None


def test_rxfh_json_matches_text():
    js = et.parse_rxfh_json(fixture("6.14/nsim-x.json"))
    text = et.parse_rxfh(fixture("6.14/nsim-x.txt"))
    assert js["table"] == text["table"] and js["key"] == text["key"] and js["hfunc"] == "toeplitz"
    ctx = et.parse_rxfh_json(fixture("7.2/nsim-x-context1.json"))
    assert set(ctx["table"]) == {14, 15}


def test_rxfh_veth_unsupported_is_not_output():
    assert fixture("6.1/veth-x.stdout") == ""
    assert "Operation not supported" in fixture("6.1/veth-x.stderr")
    with pytest.raises(et.ParseError):
        et.parse_rxfh(fixture("6.1/veth-x.stdout"))


EXPECTED_RULES = [
    new_rule("tcp4", dst_ip="10.0.1.0/24", dst_port=80, queue=3, loc=5),
    new_rule("udp4", dst_port=9999, drop=True, loc=6),
    new_rule("tcp6", src_ip="2001:db8::5", dst_port=443, context=2, queue=1, loc=1020),
    new_rule("ip6", dst_ip="2001:db8:1::/48", context=2, loc=1021),
    new_rule("ip4", dst_ip="10.0.0.3", context=1, loc=1022, extra="VLAN 0x64"),
    new_rule("ip4", dst_ip="10.0.0.2", context=1, loc=1023),
]


@pytest.mark.parametrize("name", ["6.1/mlx5-n.txt", "6.14/mlx5-n.txt", "7.2/mlx5-n.txt"])
def test_ntuple_both_action_formats(name):
    r = et.parse_ntuple(fixture(name))
    assert r["rings"] == 16 and r["total"] == 6
    assert r["rules"] == EXPECTED_RULES


def test_ntuple_formats_differ_only_in_action_lines():
    old = fixture("6.1/mlx5-n.txt")
    new = fixture("6.14/mlx5-n.txt")
    assert "RSS Context ID: 1" in old and "RSS Context ID" not in new
    assert "Direct to RSS Context 2 (queue base offset: 1)" in new


def test_ntuple_empty_and_unsupported():
    assert et.parse_ntuple(fixture("6.14/nsim-n-empty.txt")) == {"rings": 16, "total": 0, "rules": []}
    with pytest.raises(et.ParseError):
        et.parse_ntuple(fixture("6.1/veth-n.stdout"))


def test_write_replies_strict():
    assert et.parse_new_context(fixture("6.1/new-context.stdout")) == 1
    assert et.parse_added_rule(fixture("6.1/added-rule.stdout")) == 1023
    assert et.parse_new_context("") is None
    assert et.parse_new_context("New RSS context is\n") is None
    assert et.parse_added_rule("Added rule with ID x\n") is None
    assert et.parse_new_context("noise\nNew RSS context is 12\n") == 12


def test_channels_argv():
    assert et.channels_argv("ethtool", "eth0", {"combined": 16}) == ["ethtool", "-L", "eth0", "combined", "16"]
    assert et.channels_argv("ethtool", "v0", {"tx": 2, "rx": 3}) == ["ethtool", "-L", "v0", "rx", "3", "tx", "2"]


def test_rxfh_argvs():
    spec = {"start": 14, "equal": 2}
    assert et.rxfh_context_create_argv("ethtool", "eth0", spec) == \
        ["ethtool", "-X", "eth0", "context", "new", "equal", "2", "start", "14"]
    assert et.rxfh_context_update_argv("ethtool", "eth0", 3, {"start": 0, "weights": [1, 2], "hfunc": "xor"}) == \
        ["ethtool", "-X", "eth0", "context", "3", "weight", "1", "2", "hfunc", "xor"]
    assert et.rxfh_context_delete_argv("ethtool", "eth0", 3) == ["ethtool", "-X", "eth0", "context", "3", "delete"]
    assert et.rxfh_default_argv("ethtool", "eth0", {"reset": True}) == ["ethtool", "-X", "eth0", "default"]
    assert et.rxfh_default_argv("ethtool", "eth0", {"start": 0, "equal": 14}) == ["ethtool", "-X", "eth0", "equal", "14"]


def test_ntuple_argvs():
    r = new_rule("ip4", dst_ip="10.0.0.2", context=1)
    assert et.ntuple_add_argv("ethtool", "eth0", r) == \
        ["ethtool", "-N", "eth0", "flow-type", "ip4", "dst-ip", "10.0.0.2", "context", "1"]
    r = new_rule("tcp4", src_ip="10.0.1.0/24", dst_port=80, queue=3, loc=5)
    assert et.ntuple_add_argv("ethtool", "eth0", r) == \
        ["ethtool", "-N", "eth0", "flow-type", "tcp4", "src-ip", "10.0.1.0", "m", "0.0.0.255", "dst-port", "80",
         "action", "3", "loc", "5"]
    r = new_rule("ip6", dst_ip="2001:db8:1::/48", drop=True)
    assert et.ntuple_add_argv("ethtool", "eth0", r)[-4:] == ["m", "::ffff:ffff:ffff:ffff:ffff", "action", "-1"]
    r = new_rule("tcp6", dst_port=443, context=2, queue=1)
    assert et.ntuple_add_argv("ethtool", "eth0", r)[-4:] == ["context", "2", "action", "1"]
    assert et.ntuple_delete_argv("ethtool", "eth0", 1023) == ["ethtool", "-N", "eth0", "delete", "1023"]
    assert et.ntuple_feature_argv("ethtool", "eth0") == ["ethtool", "-K", "eth0", "ntuple", "on"]


def test_argv_and_parser_round_trip():
    """What the builder writes is what the parser reads back from ethtool's (inverted-mask) output."""
    r = et.parse_ntuple(fixture("6.14/mlx5-n.txt"))["rules"][0]
    argv = et.ntuple_add_argv("ethtool", "eth0", r)
    assert argv[argv.index("dst-ip") + 1:argv.index("dst-ip") + 4] == ["10.0.1.0", "m", "0.0.0.255"]


def test_rxfh_virtio_without_table():
    r = et.parse_rxfh(fixture("6.1/virtio-x-noindir.txt"))
    assert r["rings"] == 1 and r["table"] == [] and r["key"] is None and r["hfunc"] == "toeplitz"
