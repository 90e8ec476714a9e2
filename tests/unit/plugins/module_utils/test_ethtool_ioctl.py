# SPDX-License-Identifier: GPL-3.0-or-later
"""Struct packing and unpacking of the SIOCETHTOOL structures (layouts of include/uapi/linux/ethtool.h)."""

from __future__ import annotations

import struct

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils.nic import ethtool_ioctl as io
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import new_rule


def test_struct_sizes_and_offsets():
    assert io.CHANNELS_SIZE == 36
    assert io.RXFH_HDR_SIZE == 24
    assert io.RXNFC_SIZE == 192 and io.FLOW_SPEC_SIZE == 168
    assert io.RXNFC_FS_OFFSET + io.FS_RING_COOKIE == 16 + 152
    assert io.RXNFC_RSS_CONTEXT_OFFSET == 184 and io.RXNFC_RULE_LOCS_OFFSET == 188
    assert len(io.pack_rxnfc(io.ETHTOOL_GRXCLSRLALL, rule_cnt=3, extra_locs=3)) == 192 + 12


def test_channels_unpack():
    buf = struct.pack("=9I", io.ETHTOOL_GCHANNELS, 0, 0, 1, 64, 0, 0, 1, 16)
    assert io.unpack_channels(buf) == {"max": {"rx": 0, "tx": 0, "other": 1, "combined": 64},
                                       "current": {"rx": 0, "tx": 0, "other": 1, "combined": 16}}
    assert struct.unpack("=I", io.pack_channels()[:4])[0] == 0x3c


def test_rxnfc_pack_and_head():
    buf = io.pack_rxnfc(io.ETHTOOL_GRXCLSRULE, location=1023)
    assert struct.unpack_from("=I", bytes(buf), 16 + 160)[0] == 1023
    buf = io.pack_rxnfc(io.ETHTOOL_GRXCLSRLALL, rule_cnt=2, extra_locs=2)
    struct.pack_into("=Q", buf, 8, 1024)
    struct.pack_into("=2I", buf, 188, 5, 1023)
    assert io.unpack_rxnfc_head(buf) == (0x30, 0, 1024, 2)
    assert io.unpack_rule_locs(buf, 2) == [5, 1023]


def test_rule_count_special_flag():
    buf = io.pack_rxnfc(io.ETHTOOL_GRXCLSRLCNT)
    struct.pack_into("=Q", buf, 8, io.RX_CLS_LOC_SPECIAL | 7)
    struct.pack_into("=I", buf, 184, 3)
    _c, _f, data, cnt = io.unpack_rxnfc_head(buf)
    assert cnt == 3 and data & io.RX_CLS_LOC_SPECIAL


@pytest.mark.parametrize("rule", [
    new_rule("ip4", dst_ip="10.0.0.2", context=1, loc=1023),
    new_rule("tcp4", src_ip="10.0.1.0/24", dst_port=80, queue=3, loc=5),
    new_rule("udp4", dst_port=9999, drop=True, loc=6),
    new_rule("tcp6", src_ip="2001:db8::5", dst_port=443, context=2, queue=1, loc=1020),
    new_rule("ip6", dst_ip="2001:db8:1::/48", context=2, loc=1021),
    new_rule("sctp6", src_port=7, dst_ip="2001:db8::1", queue=0, loc=0),
    new_rule("udp4", src_ip="192.0.2.1", src_port=53, queue=15, loc=7),
])
def test_flow_spec_round_trip(rule):
    fs = io.encode_flow_spec(rule)
    assert len(fs) == 168
    ctx = rule["context"] if rule.get("context") is not None else 0
    assert io.decode_flow_spec(fs, ctx) == rule


def test_flow_spec_kernel_layout_tcp4():
    fs = io.encode_flow_spec(new_rule("tcp4", dst_ip="10.0.0.2", dst_port=80, queue=3, loc=9))
    assert struct.unpack_from("=I", fs, 0)[0] == 0x01
    assert fs[4 + 4:4 + 8] == bytes([10, 0, 0, 2])            # h_u.tcp_ip4_spec.ip4dst
    assert fs[76 + 4:76 + 8] == b"\xff" * 4                    # m_u: kernel mask, set bit compares
    assert fs[4 + 10:4 + 12] == b"\x00\x50"                    # pdst big endian
    assert struct.unpack_from("=Q", fs, 152)[0] == 3
    assert struct.unpack_from("=I", fs, 160)[0] == 9


def test_flow_spec_context_sets_flow_rss():
    fs = io.encode_flow_spec(new_rule("ip4", dst_ip="10.0.0.2", context=1))
    assert struct.unpack_from("=I", fs, 0)[0] == 0x0d | io.FLOW_RSS
    assert fs[4 + 13] == io.ETH_RX_NFC_IP4


def expected_rxnfc(flow_type, h_u, m_u, ring_cookie, rss_context):
    """``struct ethtool_rxnfc`` for ETHTOOL_SRXCLSRLINS, laid out by hand from the uapi header: the bytes
    ``ethtool -N`` sends (rxclass_parse_ruleopts, then rxclass_rule_ins) for a rule without a location."""
    buf = bytearray(192)
    struct.pack_into("=I", buf, 0, 0x32)
    struct.pack_into("=I", buf, 16, flow_type)            # fs.flow_type
    buf[16 + 4:16 + 4 + len(h_u)] = h_u                    # fs.h_u
    buf[16 + 76:16 + 76 + len(m_u)] = m_u                  # fs.m_u
    struct.pack_into("=Q", buf, 16 + 152, ring_cookie)     # fs.ring_cookie
    struct.pack_into("=I", buf, 16 + 160, 0xffffffff)      # fs.location: RX_CLS_LOC_ANY
    struct.pack_into("=I", buf, 184, rss_context)
    return bytes(buf)


def test_rule_insert_is_what_ethtool_sends():
    # ethtool -N eth0 flow-type ip4 dst-ip 10.0.0.2 context 1
    assert bytes(io.pack_rule_insert(new_rule("ip4", dst_ip="10.0.0.2", context=1))) == expected_rxnfc(
        0x0d | 0x20000000, bytes(4) + bytes([10, 0, 0, 2]) + bytes(5) + b"\x01",   # ip4dst, ip_ver ETH_RX_NFC_IP4
        bytes(4) + b"\xff" * 4, 0, 1)
    # ethtool -N eth0 flow-type tcp4 src-ip 10.0.1.0 m 0.0.0.255 dst-port 80 action 3 (a user mask is inverted)
    assert bytes(io.pack_rule_insert(new_rule("tcp4", src_ip="10.0.1.0/24", dst_port=80, queue=3))) == expected_rxnfc(
        0x01, bytes([10, 0, 1, 0]) + bytes(4) + b"\x00\x00\x00\x50",
        b"\xff\xff\xff\x00" + bytes(4) + b"\x00\x00\xff\xff", 3, 0)
    # ethtool -N eth0 flow-type udp6 dst-ip 2001:db8::7 dst-port 53 action -1
    assert bytes(io.pack_rule_insert(new_rule("udp6", dst_ip="2001:db8::7", dst_port=53, drop=True))) == expected_rxnfc(
        0x06, bytes(16) + bytes.fromhex("20010db8000000000000000000000007") + b"\x00\x00\x00\x35",
        bytes(16) + b"\xff" * 16 + b"\x00\x00\xff\xff", 0xffffffffffffffff, 0)
    # a rule with its location: ethtool -N eth0 flow-type ip6 dst-ip 2001:db8::/32 context 2 action 1 loc 7
    buf = io.pack_rule_insert(new_rule("ip6", dst_ip="2001:db8::/32", context=2, queue=1, loc=7))
    assert struct.unpack_from("=I", bytes(buf), 16 + 160)[0] == 7 and struct.unpack_from("=I", bytes(buf), 184)[0] == 2
    assert bytes(buf[16 + 76 + 16:16 + 76 + 32]) == b"\xff" * 4 + bytes(12)


def test_a_free_location_is_the_highest_free_one():
    # rmgr_find_empty_slot: from the end of the table, the lowest priority
    assert io.free_rule_location([], 1024) == 1023
    assert io.free_rule_location([1023, 1022, 5], 1024) == 1021
    assert io.free_rule_location([0, 2], 3) == 1
    assert io.free_rule_location(range(4), 4) is None


def test_flow_spec_extras_are_reported():
    fs = bytearray(io.encode_flow_spec(new_rule("ip4", dst_ip="10.0.0.3", queue=1)))
    struct.pack_into("=I", fs, 0, 0x0d | io.FLOW_EXT)
    fs[56 + 10:56 + 12] = b"\x00\x64"      # h_ext.vlan_tci
    fs[128 + 10:128 + 12] = b"\xff\xff"    # m_ext.vlan_tci
    fs[4 + 14] = 6                         # proto
    fs[76 + 14] = 0xff
    rule = io.decode_flow_spec(bytes(fs), 0)
    assert rule["extra"] == "l4proto 6, vlan 0x0064"
    fs2 = bytearray(io.encode_flow_spec(new_rule("ip4", queue=1)))
    struct.pack_into("=I", fs2, 0, 0x12)   # ETHER_FLOW
    assert io.decode_flow_spec(bytes(fs2), 0)["extra"] == "flow type ether"


def test_flow_spec_wake_and_vf():
    fs = bytearray(io.encode_flow_spec(new_rule("ip4", queue=0)))
    struct.pack_into("=Q", fs, 152, io.RX_CLS_FLOW_WAKE)
    assert io.decode_flow_spec(bytes(fs), 0)["extra"] == "action wake-on-lan"
    struct.pack_into("=Q", fs, 152, (2 << 32) | 5)
    assert io.decode_flow_spec(bytes(fs), 0)["extra"] == "action vf 1 queue 5"


def test_rxfh_pack_unpack():
    head = io.pack_rxfh(3)
    assert struct.unpack_from("=4I", bytes(head), 0) == (0x46, 3, 0, 0)
    buf = io.pack_rxfh(3, 4, 2)
    struct.pack_into("=IIIIBB2xI", buf, 0, 0x46, 3, 4, 2, 1, 0, 0)
    struct.pack_into("=4I2B", buf, 24, 14, 15, 14, 15, 0x6d, 0x5a)
    r = io.unpack_rxfh(buf)
    assert r == {"context": 3, "indir_size": 4, "key_size": 2, "hfunc": "toeplitz", "input_xfrm": 0,
                 "table": [14, 15, 14, 15], "key": "6d:5a"}
    sizes = io.unpack_rxfh(head)
    assert sizes["table"] == [] and sizes["key"] is None


def test_drvinfo_and_features():
    buf = bytearray(io.DRVINFO_SIZE)
    buf[4:8] = b"veth"
    buf[36:39] = b"1.0"
    assert io.unpack_drvinfo(buf)["driver"] == "veth"
    strings = ["rx-checksum", "rx-ntuple-filter"] + ["f%d" % i for i in range(40)]
    blocks = [(0x1, 0x2, 0x2, 0x0), (0, 0, 0, 0)]
    assert io.feature_state(strings, blocks, "rx-ntuple-filter") == {"active": True, "fixed": True, "requested": True}
    assert io.feature_state(strings, blocks, "rx-checksum") == {"active": False, "fixed": False, "requested": False}
    assert io.feature_state(strings, blocks, "nope") is None
