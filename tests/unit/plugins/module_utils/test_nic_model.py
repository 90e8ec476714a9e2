# SPDX-License-Identifier: GPL-3.0-or-later
"""Canonical forms of nic.model: tables as ethtool computes them, IP matches, rule identity."""

from __future__ import annotations

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils.nic import model as m


def test_equal_table_is_ethtools():
    assert m.equal_table(8, 14, 2) == [14, 15] * 4
    assert m.equal_table(5, 0, 3) == [0, 1, 2, 0, 1]


def test_weight_table_is_ethtools_fill_indir_table():
    # ethtool -X eth0 weight 1 7 on a 128-entry table: 16 entries queue 0, 112 queue 1
    t = m.weight_table(128, 0, [1, 7])
    assert t.count(0) == 16 and t.count(1) == 112 and t[:16] == [0] * 16
    assert m.weight_table(4, 2, [1, 0, 0, 1]) == [2, 2, 5, 5]
    assert m.weight_table(8, 0, [1, 1, 1]) == [0, 0, 1, 1, 1, 2, 2, 2]
    with pytest.raises(ValueError):
        m.weight_table(4, 0, [0, 0])
    with pytest.raises(ValueError):
        m.weight_table(4, 0, [3, 3])


def test_spec_queues_and_text():
    assert m.spec_queues({"start": 14, "equal": 2}) == {14, 15}
    assert m.spec_queues({"start": 2, "weights": [1, 0, 3]}) == {2, 4}
    assert m.spec_text({"start": 14, "equal": 2}) == "start 14 equal 2"
    assert m.queue_ranges({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"


def test_table_matches_spec_at_any_size():
    spec = {"start": 14, "equal": 2}
    assert m.table_matches_spec([14, 15] * 64, spec)
    assert m.table_matches_spec([14, 15] * 32, spec)  # table folded by a 7.x driver
    assert not m.table_matches_spec([14, 14] * 64, spec)
    assert not m.table_matches_spec([], spec)
    assert not m.table_matches_spec([14, 15], dict(spec, hfunc="xor"), hfunc="toeplitz")
    assert m.table_matches_spec([14, 15], dict(spec, hfunc="xor"), hfunc=None)  # driver reports none


def test_hfunc_and_key():
    assert m.hfunc_name(1) == "toeplitz" and m.hfunc_name(2) == "xor" and m.hfunc_name(4) == "crc32"
    assert m.hfunc_name(0) is None
    assert m.hfunc_mask("crc32") == 4
    assert m.normalize_key("AA:bB:01") == "aa:bb:01"
    with pytest.raises(ValueError):
        m.normalize_key("aabb")
    assert m.key_from_bytes(b"\x6d\x5a") == "6d:5a"


@pytest.mark.parametrize("value,fam,expected", [
    ("10.0.0.2", 4, "10.0.0.2"), ("10.0.0.2/32", 4, "10.0.0.2"), ("10.0.0.0/24", 4, "10.0.0.0/24"),
    ("0.0.0.0/0", 4, None), (None, 4, None), ("2001:db8::/48", 6, "2001:db8::/48"), ("2001:DB8::1", 6, "2001:db8::1"),
])
def test_canonical_ip(value, fam, expected):
    assert m.canonical_ip(value, fam) == expected


@pytest.mark.parametrize("value,fam,words", [("10.0.0.1/24", 4, "host bits"), ("10.0.0.2", 6, "IPv4"),
                                             ("nope", 4, "not an IP")])
def test_canonical_ip_errors(value, fam, words):
    with pytest.raises(ValueError, match=words):
        m.canonical_ip(value, fam)


def test_ip_kernel_round_trip():
    for text, fam in (("10.0.0.0/24", 4), ("10.0.0.2", 4), ("2001:db8:1::/48", 6)):
        v, mask = m.ip_to_kernel(text, fam)
        assert m.ip_from_kernel(v, mask) == text
    assert m.ip_from_kernel(b"\0" * 4, b"\0" * 4) is None
    # a non-prefix mask stays visible
    assert m.ip_from_kernel(bytes([10, 0, 0, 1]), bytes([255, 0, 255, 255])) == "10.0.0.1/255.0.255.255"


def test_rule_identity_is_match_not_location():
    a = m.new_rule("ip4", dst_ip="10.0.0.2", context=1, loc=1023)
    b = m.new_rule("ip4", dst_ip="10.0.0.2", context=2, loc=5)
    assert m.rule_match(a) == m.rule_match(b)
    assert m.rule_action(a) != m.rule_action(b)
    assert m.rule_text(a, {1: "vm1"}) == "ip4 dst_ip 10.0.0.2 -> context 1 (vm1) [loc 1023]"
    assert m.match_text(a) == "ip4 dst_ip 10.0.0.2"


def test_rule_queues():
    contexts = {1: {"table": [14, 15, 14, 15]}}
    assert m.rule_queues(m.new_rule("ip4", context=1), contexts) == {14, 15}
    assert m.rule_queues(m.new_rule("ip4", context=1, queue=1), {1: {"table": [13, 14]}}) == {14, 15}
    assert m.rule_queues(m.new_rule("ip4", queue=3), contexts) == {3}
    assert m.rule_queues(m.new_rule("ip4", drop=True), contexts) == set()


def test_default_table_configured():
    st = m.empty_state("eth0")
    st["rx_rings"] = 16
    st["rss"] = {"table": m.default_table(128, 16)}
    assert not m.default_table_configured(st)
    assert m.default_table_configured(st, {"default": {"configured": True}})
    st["rss"]["table"] = m.equal_table(128, 0, 14)
    assert m.default_table_configured(st)
    assert not m.default_table_configured(st, {"default": {"configured": False, "reset_table": st["rss"]["table"]}})
