# SPDX-License-Identifier: GPL-3.0-or-later
"""netkit rtnetlink and netdev genl messages, BTF enumerations, capability selection."""

from __future__ import annotations

import struct

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import btf
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import netdev as nd
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import caps
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import rtnl as rt
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import core as nl
from btf_blob import enums_blob

UPSTREAM = dict(rt.NETKIT_ATTRS)
PATCHED = dict((k, v) for k, v in rt.NETKIT_ATTRS.items() if k != "pairing")
PATCHED["lowerdev"] = 10


def _info_data(body):
    """IFLA_INFO_DATA attributes of an RTM_NEWLINK body."""
    attrs = nl.attr_map(body[16:])
    info = nl.attr_map(attrs[rt.IFLA_LINKINFO])
    assert nl.asciiz(info[rt.IFLA_INFO_KIND]) == "netkit"
    return attrs, dict(nl.parse_attrs(info[rt.IFLA_INFO_DATA]))


def test_single_device_request():
    body = rt.build_newlink({"name": "nk-vm1", "mode": "l2", "pairing": "single", "numrxqueues": 3,
                             "address": "52:54:00:12:34:56"}, UPSTREAM)
    attrs, data = _info_data(body)
    assert nl.asciiz(attrs[rt.IFLA_IFNAME]) == "nk-vm1"
    assert nl.u32(attrs[rt.IFLA_NUM_RX_QUEUES]) == 3 and nl.u32(attrs[rt.IFLA_NUM_TX_QUEUES]) == 1
    assert attrs[rt.IFLA_ADDRESS] == bytes([0x52, 0x54, 0, 0x12, 0x34, 0x56])
    assert data == {5: struct.pack("=I", 0), 10: struct.pack("=I", 1)}


def test_pair_request_with_peer_and_rooms():
    body = rt.build_newlink({"name": "nk0", "mode": "l3", "scrub": "none", "headroom": 64, "tailroom": 16,
                             "peer_policy": "drop", "peer": {"name": "nk0p", "netns_fd": 7}}, UPSTREAM)
    _attrs, data = _info_data(body)
    assert nl.u16(data[8]) == 64 and nl.u16(data[9]) == 16 and nl.u32(data[6]) == 0 and nl.u32(data[4]) == 2
    peer = nl.attr_map(data[1][16:])
    assert nl.asciiz(peer[rt.IFLA_IFNAME]) == "nk0p" and nl.u32(peer[rt.IFLA_NET_NS_FD]) == 7
    assert 10 not in data  # pairing only when asked


def test_unknown_attribute_is_never_encoded():
    base = dict((k, v) for k, v in UPSTREAM.items() if k in caps.BASE_ATTRS)
    with pytest.raises(KeyError):
        rt.build_newlink({"name": "nk0", "pairing": "single"}, base)
    with pytest.raises(KeyError):
        rt.build_newlink({"name": "nk0", "lowerdev": {"ifindex": 2, "from": 14, "to": 15}}, UPSTREAM)


def test_lowerdev_uses_the_kernels_number_and_struct():
    body = rt.build_newlink({"name": "nk0", "lowerdev": {"ifindex": 2, "from": 14, "to": 15}}, PATCHED)
    _attrs, data = _info_data(body)
    assert data[10] == struct.pack("=3I", 2, 14, 15)
    parsed = rt.parse_netkit_data(b"".join(rt.netkit_data({"lowerdev": {"ifindex": 2, "from": 14, "to": 15}}, PATCHED)),
                                  PATCHED)
    assert parsed == {"lowerdev": {"ifindex": 2, "from": 14, "to": 15}}


def _link_payload(index, name, data, flags=rt.IFF_UP, link=None):
    attrs = [nl.nla_str(rt.IFLA_IFNAME, name), nl.nla_u32(rt.IFLA_MTU, 1500),
             nl.nla(rt.IFLA_ADDRESS, b"\0" * 6), nl.nla_u32(rt.IFLA_NUM_RX_QUEUES, 3),
             nl.nla(rt.IFLA_OPERSTATE, b"\x06"),
             nl.nla_nest(rt.IFLA_LINKINFO, nl.nla_str(rt.IFLA_INFO_KIND, "netkit"),
                         nl.nla_nest(rt.IFLA_INFO_DATA, *data))]
    if link is not None:
        attrs.append(nl.nla_u32(rt.IFLA_LINK, link))
    return rt.ifinfomsg(index=index, flags=flags) + b"".join(attrs)


def test_parse_link_reads_every_attribute():
    data = [nl.nla_u8(2, 1), nl.nla_u32(3, 2), nl.nla_u32(5, 1), nl.nla_u32(6, 0), nl.nla_u16(8, 64),
            nl.nla_u16(9, 0), nl.nla_u32(10, 0), nl.nla_u32(4, 0), nl.nla_u32(7, 1)]
    link = rt.parse_link(_link_payload(9, "nk0", data, link=8))
    assert link["name"] == "nk0" and link["up"] and link["operstate"] == "up" and link["link"] == 8
    assert link["netkit"] == {"primary": True, "policy": "drop", "mode": "l3", "scrub": "none", "headroom": 64,
                              "tailroom": 0, "pairing": "pair", "peer_policy": "pass", "peer_scrub": "default"}


def test_queue_create_and_queue_get():
    attrs = nl.attr_map(b"".join(nd.build_queue_create(9, 2, 14)))
    assert nl.u32(attrs[nd.NETDEV_A_QUEUE_IFINDEX]) == 9 and nl.u32(attrs[nd.NETDEV_A_QUEUE_TYPE]) == 0
    lease = nl.attr_map(attrs[nd.NETDEV_A_QUEUE_LEASE])
    assert nl.u32(lease[nd.NETDEV_A_LEASE_IFINDEX]) == 2
    assert nl.attr_map(lease[nd.NETDEV_A_LEASE_QUEUE]) == {1: struct.pack("=I", 14), 3: struct.pack("=I", 0)}
    reply = (nl.nla_u32(1, 14) + nl.nla_u32(3, 0) + nl.nla_u32(2, 2) + nl.nla_u32(4, 8207) +
             nl.nla_nest(8, nl.nla_nest(2, nl.nla_u32(1, 1), nl.nla_u32(3, 0)), nl.nla_u32(1, 9),
                         nl.nla_s32(3, 4)))
    assert nd.parse_queue(reply) == {"ifindex": 2, "id": 14, "type": "rx", "napi_id": 8207, "xsk": False,
                                     "lease": {"ifindex": 9, "queue": 1, "netns_id": 4}}


def test_dev_get_xdp_features_are_named_by_bit():
    # include/uapi/linux/netdev.h: BASIC 1, REDIRECT 2, NDO_XMIT 4, XSK_ZEROCOPY 8, HW_OFFLOAD 16
    reply = nl.nla_u32(nd.NETDEV_A_DEV_IFINDEX, 5) + nl.nla(nd.NETDEV_A_DEV_XDP_FEATURES, struct.pack("=Q", 1 | 2 | 4 | 8 | 16))
    assert nd.parse_xdp_features(reply) == ["basic", "redirect", "ndo-xmit", "xsk-zerocopy", "hw-offload"]
    assert nd.parse_xdp_features(nl.nla(nd.NETDEV_A_DEV_XDP_FEATURES, struct.pack("=Q", 1 | 16))) == ["basic", "hw-offload"]
    assert nd.parse_xdp_features(nl.nla_u32(nd.NETDEV_A_DEV_IFINDEX, 5)) == []


def test_extack_text_is_read_from_the_error():
    request = nl.nl_msg(16, 5, 1, b"x" * 20)
    text = "Device queue in use due to queue leasing"
    payload = struct.pack("=i", -16) + request[:16] + nl.nla_str(nl.NLMSGERR_ATTR_MSG, text)
    assert nl.parse_error(nl.NLM_F_CAPPED | nl.NLM_F_ACK_TLVS, payload) == (16, text)
    assert nl.parse_error(0, struct.pack("=i", 0)) == (0, None)


def test_btf_enumerations_and_capabilities():
    upstream = enums_blob({"": {"IFLA_NETKIT_UNSPEC": 0, "IFLA_NETKIT_PEER_INFO": 1, "IFLA_NETKIT_PRIMARY": 2,
                                "IFLA_NETKIT_POLICY": 3, "IFLA_NETKIT_PEER_POLICY": 4, "IFLA_NETKIT_MODE": 5,
                                "IFLA_NETKIT_SCRUB": 6, "IFLA_NETKIT_PEER_SCRUB": 7, "IFLA_NETKIT_HEADROOM": 8,
                                "IFLA_NETKIT_TAILROOM": 9, "IFLA_NETKIT_PAIRING": 10, "__IFLA_NETKIT_MAX": 11},
                          "netdev_cmd": {"NETDEV_CMD_QUEUE_CREATE": 16}})
    found = btf.enum_constants(upstream, ["IFLA_NETKIT_"])
    assert found["IFLA_NETKIT_PAIRING"] == 10 and "NETDEV_CMD_QUEUE_CREATE" not in found
    c = caps.capabilities(found, [], True, "7.3.4")
    assert c["single"] and c["headroom"] and c["scrub"] and c["leasing"] and not c["lowerdev"]
    assert c["attributes"]["pairing"] == 10 and "max" not in c["attributes"]
    assert caps.missing(c, "single") is None and caps.missing(c, "lowerdev").startswith("lowerdev needs")

    k612 = btf.enum_constants(enums_blob({"": dict((k, v) for k, v in {
        "IFLA_NETKIT_PEER_INFO": 1, "IFLA_NETKIT_PRIMARY": 2, "IFLA_NETKIT_POLICY": 3,
        "IFLA_NETKIT_PEER_POLICY": 4, "IFLA_NETKIT_MODE": 5}.items())}), ["IFLA_NETKIT_"])
    c = caps.capabilities(k612, [], False, "6.12.117")
    assert not c["single"] and not c["scrub"] and not c["leasing"]
    assert "single needs Linux 7.1" in caps.missing(c, "single")
    assert "Linux 7.1" in caps.missing(c, "leasing")

    patched = btf.enum_constants(enums_blob({"": {"IFLA_NETKIT_MODE": 5, "IFLA_NETKIT_LOWERDEV": 10}}),
                                 ["IFLA_NETKIT_"])
    c = caps.capabilities(patched, [], False)
    assert c["lowerdev"] and not c["single"] and c["attributes"]["lowerdev"] == 10


def test_capabilities_without_btf():
    c = caps.capabilities(None, [], False)
    assert c["source"] == "baseline" and c["netkit"] is None and not c["scrub"]
    c = caps.capabilities(None, [{"netkit": {"mode": "l3", "scrub": "none", "headroom": 0}}], False)
    assert c["source"] == "devices" and c["scrub"] and c["headroom"] and not c["single"]
    with pytest.raises(btf.BtfError):
        btf.enum_constants(b"\0" * 32, ["X"])


def test_attribute_10_without_btf_is_told_apart_by_its_size():
    """Without BTF the numbers are not known: a device's attribute 10 is PAIRING (u32) upstream and
    LOWERDEV (12 bytes) on the prototype's kernel; neither is taken for the other."""
    mode = nl.nla_u32(5, 0)
    lowerdev = rt.parse_netkit_data(mode + nl.nla(10, struct.pack("=3I", 2, 14, 15)))
    assert lowerdev == {"mode": "l2", "lowerdev": {"ifindex": 2, "from": 14, "to": 15}}
    pairing = rt.parse_netkit_data(mode + nl.nla_u32(10, 1))
    assert pairing == {"mode": "l2", "pairing": "single"}
    c = caps.capabilities(None, [{"netkit": lowerdev}], False)
    assert c["source"] == "devices" and c["lowerdev"] and not c["single"] and c["attributes"]["lowerdev"] == 10
    assert "pairing" not in c["attributes"]
    c = caps.capabilities(None, [{"netkit": pairing}], True)
    assert c["single"] and not c["lowerdev"] and caps.lower_mechanism(c) == "leasing"
    # with numbers from BTF the size is not guessed at: PAIRING with a wrong size is not read as a value
    assert "pairing" not in rt.parse_netkit_data(nl.nla(10, b"\0" * 12), rt.NETKIT_ATTRS)
