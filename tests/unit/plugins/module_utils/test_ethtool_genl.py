# SPDX-License-Identifier: GPL-3.0-or-later
"""Generic netlink message building and parsing of netlink.ethtool (RSS_GET dump, CHANNELS_GET, family ops)."""

from __future__ import annotations

import struct

from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import ethtool as g
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import core as n


def test_nla_padding_and_nesting():
    a = n.nla_str(2, "eth0")
    assert a == struct.pack("=HH", 9, 2) + b"eth0\0" + b"\0\0\0"
    nest = n.nla_nest(1, a)
    assert struct.unpack_from("=HH", nest, 0) == (4 + len(a), 1 | n.NLA_F_NESTED)
    assert n.parse_attrs(nest) == [(1, a)]
    assert n.attr_map(a) == {2: b"eth0\0"}


def test_genl_msg_header():
    msg = n.genl_msg(21, g.ETHTOOL_MSG_RSS_GET, [n.nla_u32(7, 1)], n.NLM_F_REQUEST | n.NLM_F_DUMP, 5)
    length, mtype, flags, seq, pid = struct.unpack_from("=IHHII", msg, 0)
    assert (length, mtype, flags, seq, pid) == (len(msg), 21, 0x301, 5, 0)
    assert msg[16:18] == bytes([38, 1])


def _family_payload():
    op1 = n.nla_nest(1, n.nla_u32(n.CTRL_ATTR_OP_ID, 17), n.nla_u32(n.CTRL_ATTR_OP_FLAGS, 0x0e))
    op2 = n.nla_nest(2, n.nla_u32(n.CTRL_ATTR_OP_ID, 38), n.nla_u32(n.CTRL_ATTR_OP_FLAGS, 0x0a))
    return n.nla(n.CTRL_ATTR_FAMILY_ID, struct.pack("=H", 21)) + n.nla_str(n.CTRL_ATTR_FAMILY_NAME, "ethtool") + \
        n.nla_nest(n.CTRL_ATTR_OPS, op1, op2)


def test_parse_family_ops():
    fam, ops = n.parse_family(_family_payload())
    assert fam == 21 and ops == {17: 0x0e, 38: 0x0a}
    # 38 without the dump capability: a kernel before 6.12
    assert not ops[38] & n.GENL_CMD_CAP_DUMP and ops[17] & n.GENL_CMD_CAP_DUMP


def test_rss_dump_capability_from_ops():
    c = g.EthtoolGenl()
    c.family, c.ops = n.parse_family(_family_payload())
    assert c.can(17) and not c.rss_dump_supported()
    c.ops[38] = 0x0e
    assert c.rss_dump_supported()


def test_parse_rss_reply():
    hdr = n.nla_nest(g.ETHTOOL_A_RSS_HEADER, n.nla_u32(g.ETHTOOL_A_HEADER_DEV_INDEX, 3),
                     n.nla_str(g.ETHTOOL_A_HEADER_DEV_NAME, "eth0"))
    payload = hdr + n.nla_u32(g.ETHTOOL_A_RSS_CONTEXT, 2) + n.nla_u32(g.ETHTOOL_A_RSS_HFUNC, 1) + \
        n.nla(g.ETHTOOL_A_RSS_INDIR, struct.pack("=4I", 14, 15, 14, 15)) + n.nla(g.ETHTOOL_A_RSS_HKEY, b"\x6d\x5a")
    assert g.parse_rss_reply(payload) == {"device": "eth0", "context": 2, "table": [14, 15, 14, 15],
                                          "hfunc": 1, "key": b"\x6d\x5a", "input_xfrm": None}
    main = g.parse_rss_reply(hdr + n.nla(g.ETHTOOL_A_RSS_INDIR, struct.pack("=2I", 0, 1)))
    assert main["context"] == 0 and main["key"] is None


def test_parse_channels_reply():
    payload = n.nla_nest(1, n.nla_str(2, "v0")) + n.nla_u32(2, 4) + n.nla_u32(3, 4) + n.nla_u32(6, 2) + n.nla_u32(7, 3)
    assert g.parse_channels_reply(payload) == {"max": {"rx": 4, "tx": 4, "other": 0, "combined": 0},
                                               "current": {"rx": 2, "tx": 3, "other": 0, "combined": 0}}


def test_parse_messages_split():
    m1 = struct.pack("=IHHII", 20, 21, 2, 1, 0) + b"abcd"
    m2 = struct.pack("=IHHII", 20, n.NLMSG_DONE, 2, 1, 0) + struct.pack("=i", 0)
    assert [t for t, _f, _s, _p in n.parse_messages(m1 + m2)] == [21, n.NLMSG_DONE]


def test_rss_write_messages():
    attrs = g.build_rss_write("eth0", context=3, table=[14, 15], hfunc=1, key=b"\x6d\x5a")
    m = n.attr_map(b"".join(attrs))
    assert n.attr_map(m[g.ETHTOOL_A_RSS_HEADER]) == {g.ETHTOOL_A_HEADER_DEV_NAME: b"eth0\0"}
    assert n.u32(m[g.ETHTOOL_A_RSS_CONTEXT]) == 3 and n.u32(m[g.ETHTOOL_A_RSS_HFUNC]) == 1
    assert struct.unpack("=2I", m[g.ETHTOOL_A_RSS_INDIR]) == (14, 15) and m[g.ETHTOOL_A_RSS_HKEY] == b"\x6d\x5a"
    # the default table's reset is an empty INDIR; a create names no context
    reset = n.attr_map(b"".join(g.build_rss_write("eth0", 0, table=[])))
    assert reset[g.ETHTOOL_A_RSS_INDIR] == b"" and g.ETHTOOL_A_RSS_CONTEXT not in reset
    assert sorted(n.attr_map(b"".join(g.build_rss_write("eth0")))) == [g.ETHTOOL_A_RSS_HEADER]


def test_rss_write_capability_needs_all_three_ops():
    c = g.EthtoolGenl()
    c.family, c.ops = n.parse_family(_family_payload())
    assert not c.rss_write_supported()
    c.ops.update({48: 0x0a, 49: 0x0a})
    assert not c.rss_write_supported()
    c.ops[50] = 0x0a
    assert c.rss_write_supported()
