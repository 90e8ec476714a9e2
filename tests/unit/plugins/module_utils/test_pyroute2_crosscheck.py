# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's netlink encoders and decoders against an independent implementation: pyroute2.

pyroute2 (test environment only; the modules never import it) has no netkit link kind, no
``netdev`` family and no ethtool RSS or channels messages, so they are declared here from the
kernel's uapi headers, in pyroute2's own terms.  Each message goes both ways: what the collection
encodes is decoded by pyroute2, and what pyroute2 encodes (as the kernel would answer) is decoded
by the collection, with exact field values.  Where both encode the same attributes in the same
order the bytes are compared, padding included.  The clients (``Rtnl``, ``NetdevGenl``,
``EthtoolGenl``) run whole against a fake kernel that reads requests and writes answers with
pyroute2.
"""

from __future__ import annotations

import struct

import pytest
from pyroute2.netlink import NLA_F_NESTED, genlmsg, nla
from pyroute2.netlink.generic.ethtool import ethtoolheader
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg, ifinfveth, states as pyroute2_operstates

import ynl_spec
from netlink_fake import done, error, fake_socket, genl_family_answer
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import ethtool as eg
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import netdev as nd
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import rtnl as rt
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import core as nl

NETDEV_FAMILY = 30
ETHTOOL_FAMILY = 20
DO, DUMP = nl.GENL_CMD_CAP_DO, nl.GENL_CMD_CAP_DO | nl.GENL_CMD_CAP_DUMP


# ---------------------------------------------------------------- declarations (uapi headers)

class netkit_data(nla):
    """IFLA_INFO_DATA of kind "netkit" (include/uapi/linux/if_link.h, enum IFLA_NETKIT_*)."""

    nla_flags = NLA_F_NESTED
    prefix = "IFLA_"
    nla_map = (
        ("IFLA_NETKIT_UNSPEC", "none"),
        ("IFLA_NETKIT_PEER_INFO", "peer_info"),
        ("IFLA_NETKIT_PRIMARY", "uint8"),
        ("IFLA_NETKIT_POLICY", "uint32"),
        ("IFLA_NETKIT_PEER_POLICY", "uint32"),
        ("IFLA_NETKIT_MODE", "uint32"),
        ("IFLA_NETKIT_SCRUB", "uint32"),
        ("IFLA_NETKIT_PEER_SCRUB", "uint32"),
        ("IFLA_NETKIT_HEADROOM", "uint16"),
        ("IFLA_NETKIT_TAILROOM", "uint16"),
        ("IFLA_NETKIT_PAIRING", "uint32"),
    )

    @staticmethod
    def peer_info(parent, *argv, **kwarg):
        # struct ifinfomsg and link attributes, as veth's VETH_INFO_PEER
        return ifinfveth


class netkit_lowerdev_data(nla):
    """The project's patched netkit: attribute 10 is IFLA_NETKIT_LOWERDEV, struct netkit_lowerdev.
    (Not a subclass of netkit_data: pyroute2 keeps a class's compiled nla_map on the class.)"""

    nla_flags = NLA_F_NESTED
    prefix = "IFLA_"
    nla_map = netkit_data.nla_map[:10] + (("IFLA_NETKIT_LOWERDEV", "lowerdev"),)
    peer_info = netkit_data.peer_info

    class lowerdev(nla):
        fields = (("ifindex", "I"), ("queue_id_from", "I"), ("queue_id_to", "I"))


class netdev_queue_msg(genlmsg):
    """netdev family, queue attribute set (include/uapi/linux/netdev.h, NETDEV_A_QUEUE_*)."""

    nla_map = (
        ("NETDEV_A_QUEUE_UNSPEC", "none"),
        ("NETDEV_A_QUEUE_ID", "uint32"),
        ("NETDEV_A_QUEUE_IFINDEX", "uint32"),
        ("NETDEV_A_QUEUE_TYPE", "uint32"),
        ("NETDEV_A_QUEUE_NAPI_ID", "uint32"),
        ("NETDEV_A_QUEUE_DMABUF", "uint32"),
        ("NETDEV_A_QUEUE_IO_URING", "cdata"),
        ("NETDEV_A_QUEUE_XSK", "cdata"),       # an empty nest: its presence is what counts
        ("NETDEV_A_QUEUE_LEASE", "lease"),
    )

    class lease(nla):
        nla_flags = NLA_F_NESTED
        nla_map = (
            ("NETDEV_A_LEASE_UNSPEC", "none"),
            ("NETDEV_A_LEASE_IFINDEX", "uint32"),
            ("NETDEV_A_LEASE_QUEUE", "queue_id"),
            ("NETDEV_A_LEASE_NETNS_ID", "int32"),
        )

        class queue_id(nla):
            # the queue-id subset of the queue attributes: their numbers
            nla_flags = NLA_F_NESTED
            nla_map = ((1, "NETDEV_A_QUEUE_ID", "uint32"), (3, "NETDEV_A_QUEUE_TYPE", "uint32"))


class netdev_dev_msg(genlmsg):
    nla_map = (
        ("NETDEV_A_DEV_UNSPEC", "none"),
        ("NETDEV_A_DEV_IFINDEX", "uint32"),
        ("NETDEV_A_DEV_PAD", "none"),
        ("NETDEV_A_DEV_XDP_FEATURES", "uint64"),
        ("NETDEV_A_DEV_XDP_ZC_MAX_SEGS", "uint32"),
    )


class ethtool_rss_msg(genlmsg):
    """ethtool RSS_* (include/uapi/linux/ethtool_netlink_generated.h, ETHTOOL_A_RSS_*)."""

    nla_map = (
        ("ETHTOOL_A_RSS_UNSPEC", "none"),
        ("ETHTOOL_A_RSS_HEADER", "ethtoolheader"),
        ("ETHTOOL_A_RSS_CONTEXT", "uint32"),
        ("ETHTOOL_A_RSS_HFUNC", "uint32"),
        ("ETHTOOL_A_RSS_INDIR", "array(uint32)"),
        ("ETHTOOL_A_RSS_HKEY", "cdata"),
        ("ETHTOOL_A_RSS_INPUT_XFRM", "uint32"),
        ("ETHTOOL_A_RSS_START_CONTEXT", "uint32"),
    )
    ethtoolheader = ethtoolheader


class ethtool_channels_msg(genlmsg):
    nla_map = (
        ("ETHTOOL_A_CHANNELS_UNSPEC", "none"),
        ("ETHTOOL_A_CHANNELS_HEADER", "ethtoolheader"),
        ("ETHTOOL_A_CHANNELS_RX_MAX", "uint32"),
        ("ETHTOOL_A_CHANNELS_TX_MAX", "uint32"),
        ("ETHTOOL_A_CHANNELS_OTHER_MAX", "uint32"),
        ("ETHTOOL_A_CHANNELS_COMBINED_MAX", "uint32"),
        ("ETHTOOL_A_CHANNELS_RX_COUNT", "uint32"),
        ("ETHTOOL_A_CHANNELS_TX_COUNT", "uint32"),
        ("ETHTOOL_A_CHANNELS_OTHER_COUNT", "uint32"),
        ("ETHTOOL_A_CHANNELS_COMBINED_COUNT", "uint32"),
    )
    ethtoolheader = ethtoolheader


@pytest.fixture
def netkit_kind():
    """Registers a netkit IFLA_INFO_DATA class with pyroute2 for one test (pyroute2's table is global)."""
    table = ifinfmsg.ifinfo.data_map
    before = table.get("netkit")

    def register(cls=netkit_data):
        ifinfmsg.ifinfo.register_link_kind(module={"netkit": cls})
    register()
    yield register
    if before is None:
        table.pop("netkit", None)
    else:
        table["netkit"] = before


# ---------------------------------------------------------------- helpers

def plain(node):
    """A decoded pyroute2 message or nest -> [(name, value[, flags])], nests as lists, flags when set.

    Every attribute is decoded here (a malformed one raises) and none may be unknown to pyroute2."""
    out = []
    for slot in node["attrs"]:
        name, cell = slot.cell
        assert not name.startswith("UNKNOWN"), "pyroute2 does not know attribute %r" % (name,)
        if not cell.decoded:
            cell.decode()
        value = cell.getvalue()
        if isinstance(value, nla) and "attrs" in value and (value.nla_map or value["attrs"]):
            value = plain(value)
        flags = cell._nla_flags
        out.append((name, value, flags) if flags else (name, value))
    return out


def decode(cls, data):
    msg = cls(bytes(data))
    msg.decode()
    assert msg["header"]["length"] == len(data)
    return msg


def encode(cls, msg_type, seq, attrs, flags=nl.NLM_F_MULTI, cmd=None):
    """A generic netlink message ``cls`` as pyroute2 encodes it (bytes)."""
    msg = cls()
    if cmd is not None:
        msg["cmd"] = cmd
        msg["version"] = 1
    msg["attrs"] = attrs
    msg["header"]["type"] = msg_type
    msg["header"]["flags"] = flags
    msg["header"]["sequence_number"] = seq
    msg.encode()
    return bytes(msg.data)


def nest(*attrs):
    return {"attrs": list(attrs)}


def _family(name, family_id, ops, then):
    """A socket on a fake kernel with the generic netlink family ``name``; its requests go to ``then``."""
    return fake_socket(genl_family_answer(name, family_id, ops, then))


# ---------------------------------------------------------------- netkit over rtnetlink

NETKIT_SPEC = {"name": "nk0", "mode": "l3", "policy": "pass", "peer_policy": "drop", "scrub": "none",
               "peer_scrub": "default", "headroom": 64, "tailroom": 16, "pairing": "single",
               "address": "02:00:00:00:00:02", "mtu": 9000, "numrxqueues": 4, "netns_fd": 6,
               "peer": {"name": "nk0p", "address": "02:00:00:00:00:01", "numrxqueues": 2, "netns_fd": 7}}


def test_the_newlink_request_decodes_in_pyroute2(netkit_kind):
    requests = []

    def kernel(mtype, flags, seq, body):
        requests.append(decode(ifinfmsg, nl.nl_msg(mtype, flags, seq, body)))
        return [error(seq, 0)]
    sock, _fake = fake_socket(kernel, nl.NETLINK_ROUTE)
    rt.Rtnl(sock=sock).create(rt.build_newlink(NETKIT_SPEC, rt.NETKIT_ATTRS))
    msg, = requests
    assert msg["header"]["type"] == 16
    assert msg["header"]["flags"] == nl.NLM_F_REQUEST | nl.NLM_F_ACK | nl.NLM_F_CREATE | nl.NLM_F_EXCL
    assert (msg["family"], msg["index"], msg["flags"], msg["change"]) == (0, 0, 0, 0)
    peer = [
        ("IFLA_IFNAME", "nk0p"), ("IFLA_ADDRESS", "02:00:00:00:00:01"), ("IFLA_NUM_RX_QUEUES", 2),
        ("IFLA_NUM_TX_QUEUES", 1), ("IFLA_NET_NS_FD", 7)]
    assert plain(msg) == [
        ("IFLA_IFNAME", "nk0"), ("IFLA_ADDRESS", "02:00:00:00:00:02"), ("IFLA_MTU", 9000),
        ("IFLA_NUM_RX_QUEUES", 4), ("IFLA_NUM_TX_QUEUES", 1), ("IFLA_NET_NS_FD", 6),
        ("IFLA_LINKINFO", [
            ("IFLA_INFO_KIND", "netkit"),
            ("IFLA_INFO_DATA", [
                ("IFLA_NETKIT_MODE", 1), ("IFLA_NETKIT_POLICY", 0), ("IFLA_NETKIT_PEER_POLICY", 2),
                ("IFLA_NETKIT_SCRUB", 0), ("IFLA_NETKIT_PEER_SCRUB", 1), ("IFLA_NETKIT_PAIRING", 1),
                ("IFLA_NETKIT_HEADROOM", 64), ("IFLA_NETKIT_TAILROOM", 16),
                ("IFLA_NETKIT_PEER_INFO", peer)], NLA_F_NESTED)], NLA_F_NESTED)]
    info = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA", "IFLA_NETKIT_PEER_INFO")
    assert (info["family"], info["index"], info["flags"], info["change"]) == (0, 0, 0, 0)


def test_the_newlink_request_is_byte_for_byte_pyroute2s(netkit_kind):
    spec = {"name": "nk-vm1", "mode": "l2", "pairing": "single", "numrxqueues": 3, "address": "52:54:00:12:34:56",
            "headroom": 32}
    ours = nl.nl_msg(rt.RTM_NEWLINK, 0x605, 9, rt.build_newlink(spec, rt.NETKIT_ATTRS))
    theirs = _ifinfmsg_bytes(rt.RTM_NEWLINK, 9, 0x605, [
        ("IFLA_IFNAME", "nk-vm1"), ("IFLA_ADDRESS", "52:54:00:12:34:56"), ("IFLA_NUM_RX_QUEUES", 3),
        ("IFLA_NUM_TX_QUEUES", 1),
        ("IFLA_LINKINFO", nest(("IFLA_INFO_KIND", "netkit"), ("IFLA_INFO_DATA", nest(
            ("IFLA_NETKIT_MODE", 0), ("IFLA_NETKIT_PAIRING", 1), ("IFLA_NETKIT_HEADROOM", 32)))))])
    # "nk-vm1\0" is 7 bytes and the headroom 2: both padded to 4 bytes, with zeros, the same way.
    # pyroute2 leaves NLA_F_NESTED off IFLA_LINKINFO (rtnetlink takes it either way); we set it.
    assert ours == _with_nested_flag(theirs, rt.IFLA_LINKINFO)


def _ifinfmsg_bytes(msg_type, seq, flags, attrs, index=0, ifi_flags=0, change=0):
    msg = ifinfmsg()
    msg["family"], msg["index"], msg["flags"], msg["change"] = 0, index, ifi_flags, change
    msg["attrs"] = attrs
    msg["header"]["type"], msg["header"]["flags"], msg["header"]["sequence_number"] = msg_type, flags, seq
    msg.encode()
    return bytes(msg.data)


def _with_nested_flag(data, atype):
    """``data`` (an RTM_*LINK message) with NLA_F_NESTED set on its top-level attribute ``atype``."""
    data = bytearray(data)
    off = 32  # nlmsghdr, ifinfomsg
    while off + 4 <= len(data):
        alen, t = struct.unpack_from("=HH", data, off)
        if t == atype:
            struct.pack_into("=H", data, off + 2, t | NLA_F_NESTED)
        off += (alen + 3) & ~3
    return bytes(data)


def _link(seq, index, name, attrs, info=None, ifi_flags=1, kind="netkit"):
    linkinfo = [("IFLA_INFO_KIND", kind)] + ([("IFLA_INFO_DATA", nest(*info))] if info is not None else [])
    return _ifinfmsg_bytes(rt.RTM_NEWLINK, seq, nl.NLM_F_MULTI, [("IFLA_IFNAME", name)] + attrs + [
        ("IFLA_LINKINFO", nest(*linkinfo))], index=index, ifi_flags=ifi_flags)


def test_links_pyroute2_encodes_decode_with_ours(netkit_kind):
    requests = []

    def kernel(mtype, flags, seq, body):
        requests.append(decode(ifinfmsg, nl.nl_msg(mtype, flags, seq, body)))
        primary = _link(seq, 9, "nk0", [
            ("IFLA_MTU", 9000), ("IFLA_ADDRESS", "02:00:00:00:00:02"), ("IFLA_OPERSTATE", "UP"),
            ("IFLA_NUM_RX_QUEUES", 4), ("IFLA_NUM_TX_QUEUES", 1), ("IFLA_LINK", 10),
            ("IFLA_XDP", nest(("IFLA_XDP_ATTACHED", "xdp"), ("IFLA_XDP_PROG_ID", 42)))], [
            ("IFLA_NETKIT_PRIMARY", 1), ("IFLA_NETKIT_POLICY", 0), ("IFLA_NETKIT_PEER_POLICY", 2),
            ("IFLA_NETKIT_MODE", 1), ("IFLA_NETKIT_SCRUB", 0), ("IFLA_NETKIT_PEER_SCRUB", 1),
            ("IFLA_NETKIT_HEADROOM", 64), ("IFLA_NETKIT_TAILROOM", 16), ("IFLA_NETKIT_PAIRING", 0)])
        peer = _link(seq, 10, "nk0p", [
            ("IFLA_MTU", 1500), ("IFLA_OPERSTATE", "LOWERLAYERDOWN"), ("IFLA_LINK", 9),
            ("IFLA_LINK_NETNSID", 3)], [("IFLA_NETKIT_PRIMARY", 0), ("IFLA_NETKIT_MODE", 1)], ifi_flags=0)
        veth = _link(seq, 11, "veth0", [("IFLA_MTU", 1500)], kind="veth")
        return [primary + peer, veth + done(seq)]
    sock, _fake = fake_socket(kernel, nl.NETLINK_ROUTE)
    links = rt.Rtnl(sock=sock).links(kind="netkit")
    req, = requests
    assert req["header"]["flags"] & nl.NLM_F_DUMP == nl.NLM_F_DUMP
    assert plain(req) == [("IFLA_LINKINFO", [("IFLA_INFO_KIND", "netkit")], NLA_F_NESTED)]
    assert links == [
        {"ifindex": 9, "name": "nk0", "kind": "netkit", "up": True, "mtu": 9000, "address": "02:00:00:00:00:02",
         "operstate": "up", "numrxqueues": 4, "numtxqueues": 1, "link": 10, "link_netnsid": None,
         "netkit": {"primary": True, "policy": "pass", "peer_policy": "drop", "mode": "l3", "scrub": "none",
                    "peer_scrub": "default", "headroom": 64, "tailroom": 16, "pairing": "pair"},
         "xdp": {"mode": "driver", "prog_id": 42}},
        {"ifindex": 10, "name": "nk0p", "kind": "netkit", "up": False, "mtu": 1500, "address": None,
         "operstate": "lowerlayerdown", "numrxqueues": None, "numtxqueues": None, "link": 9, "link_netnsid": 3,
         "netkit": {"primary": False, "mode": "l3"}, "xdp": None}]


def test_a_negative_netnsid_and_the_peer_of_another_namespace():
    payload = _ifinfmsg_bytes(rt.RTM_NEWLINK, 1, 0, [("IFLA_IFNAME", "nk1"), ("IFLA_LINK_NETNSID", -1)], index=3)
    (_t, _f, _s, body), = nl.parse_messages(payload)
    link = rt.parse_link(body)
    assert link["link_netnsid"] == -1 and link["ifindex"] == 3 and link["kind"] is None and link["xdp"] is None


def test_lowerdev_both_ways(netkit_kind):
    """The project's IFLA_NETKIT_LOWERDEV (attribute 10, struct netkit_lowerdev) as pyroute2 declares it."""
    netkit_kind(netkit_lowerdev_data)
    patched = dict((k, v) for k, v in rt.NETKIT_ATTRS.items() if k != "pairing")
    patched["lowerdev"] = rt.PROTOTYPE_LOWERDEV
    body = rt.build_newlink({"name": "nk0", "mode": "l2", "lowerdev": {"ifindex": 2, "from": 14, "to": 15}}, patched)
    msg = decode(ifinfmsg, nl.nl_msg(rt.RTM_NEWLINK, 0x605, 1, body))
    (_n, ifname), (_l, (kind, (_d, data, data_flags)), _f) = plain(msg)
    assert ifname == "nk0" and kind == ("IFLA_INFO_KIND", "netkit") and data_flags == NLA_F_NESTED
    (mode, (name, lower)) = data
    assert mode == ("IFLA_NETKIT_MODE", 0) and name == "IFLA_NETKIT_LOWERDEV"
    assert (lower["ifindex"], lower["queue_id_from"], lower["queue_id_to"]) == (2, 14, 15)
    data = _link(1, 5, "nk0", [], [("IFLA_NETKIT_MODE", 0),
                                   ("IFLA_NETKIT_LOWERDEV", {"ifindex": 2, "queue_id_from": 14, "queue_id_to": 15})])
    (_t, _f, _s, payload), = nl.parse_messages(data)
    # without BTF's numbers attribute 10 is told apart by its size; with them it is read by number
    assert rt.parse_link(payload)["netkit"] == {"mode": "l2", "lowerdev": {"ifindex": 2, "from": 14, "to": 15}}
    assert rt.parse_link(payload, patched)["netkit"]["lowerdev"] == {"ifindex": 2, "from": 14, "to": 15}


def test_policy_change_setlink_getlink_and_dellink_decode_in_pyroute2(netkit_kind):
    msg = decode(ifinfmsg, nl.nl_msg(rt.RTM_NEWLINK, 5, 1, rt.build_policy_change(9, "drop", "pass")))
    assert msg["index"] == 9 and plain(msg) == [("IFLA_LINKINFO", [
        ("IFLA_INFO_KIND", "netkit"),
        ("IFLA_INFO_DATA", [("IFLA_NETKIT_POLICY", 2), ("IFLA_NETKIT_PEER_POLICY", 0)], NLA_F_NESTED)], NLA_F_NESTED)]
    msg = decode(ifinfmsg, nl.nl_msg(rt.RTM_SETLINK, 5, 2, rt.build_setlink(
        9, up=True, mtu=1400, address="02:00:00:00:00:03", netns_fd=8)))
    assert (msg["index"], msg["flags"], msg["change"]) == (9, 1, 1)
    assert plain(msg) == [("IFLA_ADDRESS", "02:00:00:00:00:03"), ("IFLA_MTU", 1400), ("IFLA_NET_NS_FD", 8)]
    msg = decode(ifinfmsg, nl.nl_msg(rt.RTM_SETLINK, 5, 3, rt.build_setlink(9, up=False)))
    assert (msg["flags"], msg["change"], plain(msg)) == (0, 1, [])
    msg = decode(ifinfmsg, nl.nl_msg(rt.RTM_GETLINK, 5, 4, rt.build_getlink(name="nk0")))
    assert msg["index"] == 0 and plain(msg) == [("IFLA_IFNAME", "nk0")]
    msg = decode(ifinfmsg, nl.nl_msg(rt.RTM_DELLINK, 5, 5, rt.ifinfomsg(index=12)))
    assert msg["index"] == 12 and plain(msg) == []


def test_the_xdp_attach_and_detach_decode_in_pyroute2():
    # ip link set dev DEV xdp pinned PATH / xdp off: IFLA_XDP {FD, FLAGS XDP_FLAGS_UPDATE_IF_NOEXIST}
    for fd in (11, -1):
        msg = decode(ifinfmsg, nl.nl_msg(rt.RTM_SETLINK, 5, 6, rt.build_xdp(4, fd)))
        assert (msg["index"], msg["flags"], msg["change"]) == (4, 0, 0)
        assert plain(msg) == [("IFLA_XDP", [("IFLA_XDP_FD", fd), ("IFLA_XDP_FLAGS", 1)], NLA_F_NESTED)]


def test_link_values_match_pyroute2s_tables():
    # IF_OPER_* and XDP_ATTACHED_*: not in the YNL spec, but in pyroute2's rtnetlink tables
    assert [rt.OPERSTATES[i] for i in range(len(pyroute2_operstates))] == [s.lower() for s in pyroute2_operstates]
    modes = ifinfmsg.xdp.xdp_mode.value_map
    ours = {"driver": "xdp", "generic": "xdpgeneric", "offload": "xdpoffload", "multi": "xdpmulti"}
    assert dict((k, ours.get(v)) for k, v in rt.XDP_ATTACH_MODES.items()) == modes
    assert rt.IFF_UP == 1 == struct.unpack("=I", _ifinfmsg_bytes(16, 0, 0, [], ifi_flags=1)[24:28])[0]


# ---------------------------------------------------------------- netdev generic netlink

def test_queue_create_both_ways_and_byte_for_byte():
    requests = []

    def kernel(mtype, flags, seq, body):
        requests.append(decode(netdev_queue_msg, nl.nl_msg(mtype, flags, seq, body)))
        return [encode(netdev_queue_msg, NETDEV_FAMILY, seq, [("NETDEV_A_QUEUE_ID", 3)], flags=0,
                       cmd=nd.NETDEV_CMD_QUEUE_CREATE) + error(seq, 0)]
    sock, _fake = _family("netdev", NETDEV_FAMILY, {nd.NETDEV_CMD_QUEUE_CREATE: DO}, kernel)
    assert nd.NetdevGenl(sock=sock).queue_create(9, 2, 14, lease_netns_id=4) == 3
    msg, = requests
    assert (msg["cmd"], msg["version"], msg["header"]["type"]) == (nd.NETDEV_CMD_QUEUE_CREATE, 1, NETDEV_FAMILY)
    assert msg["header"]["flags"] == nl.NLM_F_REQUEST | nl.NLM_F_ACK
    assert plain(msg) == [
        ("NETDEV_A_QUEUE_IFINDEX", 9), ("NETDEV_A_QUEUE_TYPE", 0),
        ("NETDEV_A_QUEUE_LEASE", [
            ("NETDEV_A_LEASE_IFINDEX", 2),
            ("NETDEV_A_LEASE_QUEUE", [("NETDEV_A_QUEUE_ID", 14), ("NETDEV_A_QUEUE_TYPE", 0)], NLA_F_NESTED),
            ("NETDEV_A_LEASE_NETNS_ID", 4)], NLA_F_NESTED)]
    for netns_id in (None, 0, 4):
        lease = [("NETDEV_A_LEASE_IFINDEX", 2), ("NETDEV_A_LEASE_QUEUE", nest(
            ("NETDEV_A_QUEUE_ID", 14), ("NETDEV_A_QUEUE_TYPE", 0)))]
        if netns_id is not None:
            lease.append(("NETDEV_A_LEASE_NETNS_ID", netns_id))
        theirs = encode(netdev_queue_msg, NETDEV_FAMILY, 7, [
            ("NETDEV_A_QUEUE_IFINDEX", 9), ("NETDEV_A_QUEUE_TYPE", 0), ("NETDEV_A_QUEUE_LEASE", nest(*lease))],
            flags=nl.NLM_F_REQUEST | nl.NLM_F_ACK, cmd=nd.NETDEV_CMD_QUEUE_CREATE)
        ours = nl.genl_msg(NETDEV_FAMILY, nd.NETDEV_CMD_QUEUE_CREATE, nd.build_queue_create(9, 2, 14, netns_id),
                           nl.NLM_F_REQUEST | nl.NLM_F_ACK, 7)
        assert ours == theirs


def test_queue_get_dump_pyroute2_encodes_decodes_with_ours():
    requests = []

    def kernel(mtype, flags, seq, body):
        requests.append(decode(netdev_queue_msg, nl.nl_msg(mtype, flags, seq, body)))

        def queue(attrs):
            return encode(netdev_queue_msg, NETDEV_FAMILY, seq, attrs, cmd=nd.NETDEV_CMD_QUEUE_GET)
        leased = queue([("NETDEV_A_QUEUE_ID", 14), ("NETDEV_A_QUEUE_TYPE", 0), ("NETDEV_A_QUEUE_NAPI_ID", 8207),
                        ("NETDEV_A_QUEUE_IFINDEX", 2),
                        ("NETDEV_A_QUEUE_LEASE", nest(
                            ("NETDEV_A_LEASE_IFINDEX", 9),
                            ("NETDEV_A_LEASE_QUEUE", nest(("NETDEV_A_QUEUE_ID", 1), ("NETDEV_A_QUEUE_TYPE", 0))),
                            ("NETDEV_A_LEASE_NETNS_ID", 5)))])
        plain_rx = queue([("NETDEV_A_QUEUE_ID", 0), ("NETDEV_A_QUEUE_TYPE", 0), ("NETDEV_A_QUEUE_IFINDEX", 2),
                          ("NETDEV_A_QUEUE_XSK", b"")])
        tx = queue([("NETDEV_A_QUEUE_ID", 0), ("NETDEV_A_QUEUE_TYPE", 1), ("NETDEV_A_QUEUE_IFINDEX", 2)])
        other = queue([("NETDEV_A_QUEUE_ID", 0), ("NETDEV_A_QUEUE_TYPE", 0), ("NETDEV_A_QUEUE_IFINDEX", 3)])
        return [leased + plain_rx, tx + other + done(seq)]
    sock, _fake = _family("netdev", NETDEV_FAMILY, {nd.NETDEV_CMD_QUEUE_GET: DUMP}, kernel)
    queues = nd.NetdevGenl(sock=sock).queues(2)
    req, = requests
    assert req["cmd"] == nd.NETDEV_CMD_QUEUE_GET and req["header"]["flags"] & nl.NLM_F_DUMP == nl.NLM_F_DUMP
    assert plain(req) == [("NETDEV_A_QUEUE_IFINDEX", 2)]
    assert queues == [
        {"ifindex": 2, "id": 14, "type": "rx", "napi_id": 8207, "xsk": False,
         "lease": {"ifindex": 9, "queue": 1, "netns_id": 5}},
        {"ifindex": 2, "id": 0, "type": "rx", "napi_id": None, "xsk": True, "lease": None},
        {"ifindex": 2, "id": 0, "type": "tx", "napi_id": None, "xsk": False, "lease": None}]


def test_dev_get_xdp_features_both_ways():
    requests = []

    def kernel(mtype, flags, seq, body):
        requests.append(decode(netdev_dev_msg, nl.nl_msg(mtype, flags, seq, body)))
        return [encode(netdev_dev_msg, NETDEV_FAMILY, seq, [
            ("NETDEV_A_DEV_IFINDEX", 5), ("NETDEV_A_DEV_XDP_FEATURES", 1 | 2 | 4 | 8 | 32),
            ("NETDEV_A_DEV_XDP_ZC_MAX_SEGS", 1)], flags=0, cmd=nd.NETDEV_CMD_DEV_GET) + error(seq, 0)]
    sock, _fake = _family("netdev", NETDEV_FAMILY, {nd.NETDEV_CMD_DEV_GET: DO}, kernel)
    assert nd.NetdevGenl(sock=sock).xdp_features(5) == ["basic", "redirect", "ndo-xmit", "xsk-zerocopy", "rx-sg"]
    assert plain(requests[0]) == [("NETDEV_A_DEV_IFINDEX", 5)]


# ---------------------------------------------------------------- ethtool generic netlink

def test_rss_writes_decode_in_pyroute2_and_match_its_bytes():
    for args, expected in (
            (("eth0", 3, [14, 15, 14], 2, b"\x6d\x5a\x01"), [
                ("ETHTOOL_A_RSS_CONTEXT", 3), ("ETHTOOL_A_RSS_HFUNC", 2), ("ETHTOOL_A_RSS_INDIR", (14, 15, 14)),
                ("ETHTOOL_A_RSS_HKEY", b"\x6d\x5a\x01")]),
            (("enp1s0f0np0", 0, []), [("ETHTOOL_A_RSS_INDIR", ())]),
            (("eth0", 7), [("ETHTOOL_A_RSS_CONTEXT", 7)])):
        ours = nl.genl_msg(ETHTOOL_FAMILY, eg.ETHTOOL_MSG_RSS_SET, eg.build_rss_write(*args),
                           nl.NLM_F_REQUEST | nl.NLM_F_ACK, 5)
        msg = decode(ethtool_rss_msg, ours)
        header = ("ETHTOOL_A_RSS_HEADER", [("ETHTOOL_A_HEADER_DEV_NAME", args[0])], NLA_F_NESTED)
        assert plain(msg) == [header] + expected
        theirs = encode(ethtool_rss_msg, ETHTOOL_FAMILY, 5, [
            ("ETHTOOL_A_RSS_HEADER", nest(("ETHTOOL_A_HEADER_DEV_NAME", args[0])))] + [
            (k, list(v) if isinstance(v, tuple) else v) for k, v in expected],
            flags=nl.NLM_F_REQUEST | nl.NLM_F_ACK, cmd=eg.ETHTOOL_MSG_RSS_SET)
        assert ours == theirs


def test_rss_create_and_delete_through_the_client():
    ethtool = ynl_spec.spec("ethtool")
    requests = []

    def kernel(mtype, flags, seq, body):
        msg = decode(ethtool_rss_msg, nl.nl_msg(mtype, flags, seq, body))
        requests.append(msg)
        if msg["cmd"] != eg.ETHTOOL_MSG_RSS_CREATE_ACT:
            return [error(seq, 0)]
        return [encode(ethtool_rss_msg, ETHTOOL_FAMILY, seq, [
            ("ETHTOOL_A_RSS_HEADER", nest(("ETHTOOL_A_HEADER_DEV_INDEX", 2), ("ETHTOOL_A_HEADER_DEV_NAME", "eth0"))),
            ("ETHTOOL_A_RSS_CONTEXT", 5), ("ETHTOOL_A_RSS_HFUNC", 1), ("ETHTOOL_A_RSS_INDIR", [14, 15]),
            ("ETHTOOL_A_RSS_HKEY", b"\x01\x02"), ("ETHTOOL_A_RSS_INPUT_XFRM", 0)],
            flags=0, cmd=ethtool.replies["rss-create-act"]) + error(seq, 0)]
    ops = dict((cmd, DO) for cmd in (eg.ETHTOOL_MSG_RSS_SET, eg.ETHTOOL_MSG_RSS_CREATE_ACT, eg.ETHTOOL_MSG_RSS_DELETE_ACT))
    sock, _fake = _family("ethtool", ETHTOOL_FAMILY, ops, kernel)
    client = eg.EthtoolGenl(sock=sock)
    assert client.rss_write_supported()
    assert client.rss_create("eth0", [14, 15], 1, b"\x01\x02") == 5
    client.rss_delete("eth0", 5)
    create, delete = requests
    assert create["cmd"] == eg.ETHTOOL_MSG_RSS_CREATE_ACT and create["version"] == eg.ETHTOOL_GENL_VERSION
    assert plain(create) == [("ETHTOOL_A_RSS_HEADER", [("ETHTOOL_A_HEADER_DEV_NAME", "eth0")], NLA_F_NESTED),
                             ("ETHTOOL_A_RSS_HFUNC", 1), ("ETHTOOL_A_RSS_INDIR", (14, 15)),
                             ("ETHTOOL_A_RSS_HKEY", b"\x01\x02")]
    assert delete["cmd"] == eg.ETHTOOL_MSG_RSS_DELETE_ACT
    assert plain(delete) == [("ETHTOOL_A_RSS_HEADER", [("ETHTOOL_A_HEADER_DEV_NAME", "eth0")], NLA_F_NESTED),
                             ("ETHTOOL_A_RSS_CONTEXT", 5)]


def test_rss_get_dump_pyroute2_encodes_decodes_with_ours():
    reply = ynl_spec.spec("ethtool").replies["rss-get"]
    requests = []

    def kernel(mtype, flags, seq, body):
        requests.append(decode(ethtool_rss_msg, nl.nl_msg(mtype, flags, seq, body)))

        def context(dev, attrs):
            return encode(ethtool_rss_msg, ETHTOOL_FAMILY, seq, [("ETHTOOL_A_RSS_HEADER", nest(
                ("ETHTOOL_A_HEADER_DEV_INDEX", 2), ("ETHTOOL_A_HEADER_DEV_NAME", dev)))] + attrs, cmd=reply)
        main = context("eth0", [("ETHTOOL_A_RSS_HFUNC", 1), ("ETHTOOL_A_RSS_INDIR", [0, 1, 2, 3]),
                                ("ETHTOOL_A_RSS_HKEY", bytes(range(40))), ("ETHTOOL_A_RSS_INPUT_XFRM", 0)])
        ctx = context("eth0", [("ETHTOOL_A_RSS_CONTEXT", 2), ("ETHTOOL_A_RSS_HFUNC", 2),
                               ("ETHTOOL_A_RSS_INDIR", [14, 15]), ("ETHTOOL_A_RSS_INPUT_XFRM", 1)])
        other = context("eth1", [("ETHTOOL_A_RSS_CONTEXT", 1), ("ETHTOOL_A_RSS_INDIR", [0])])
        return [main + ctx, other + done(seq)]
    sock, _fake = _family("ethtool", ETHTOOL_FAMILY, {eg.ETHTOOL_MSG_RSS_GET: DUMP}, kernel)
    contexts = eg.EthtoolGenl(sock=sock).rss_contexts("eth0")
    req, = requests
    assert req["cmd"] == eg.ETHTOOL_MSG_RSS_GET and req["header"]["flags"] & nl.NLM_F_DUMP == nl.NLM_F_DUMP
    assert plain(req) == [("ETHTOOL_A_RSS_HEADER", [("ETHTOOL_A_HEADER_DEV_NAME", "eth0")], NLA_F_NESTED)]
    assert contexts == [
        {"device": "eth0", "context": 0, "table": [0, 1, 2, 3], "hfunc": 1, "key": bytes(range(40)), "input_xfrm": 0},
        {"device": "eth0", "context": 2, "table": [14, 15], "hfunc": 2, "key": None, "input_xfrm": 1}]


def test_channels_get_both_ways():
    reply = ynl_spec.spec("ethtool").replies["channels-get"]
    requests = []

    def kernel(mtype, flags, seq, body):
        requests.append(decode(ethtool_channels_msg, nl.nl_msg(mtype, flags, seq, body)))
        return [encode(ethtool_channels_msg, ETHTOOL_FAMILY, seq, [
            ("ETHTOOL_A_CHANNELS_HEADER", nest(("ETHTOOL_A_HEADER_DEV_INDEX", 2), ("ETHTOOL_A_HEADER_DEV_NAME", "eth0"))),
            ("ETHTOOL_A_CHANNELS_RX_MAX", 0), ("ETHTOOL_A_CHANNELS_TX_MAX", 0), ("ETHTOOL_A_CHANNELS_OTHER_MAX", 1),
            ("ETHTOOL_A_CHANNELS_COMBINED_MAX", 63), ("ETHTOOL_A_CHANNELS_OTHER_COUNT", 1),
            ("ETHTOOL_A_CHANNELS_COMBINED_COUNT", 16)], flags=0, cmd=reply) + error(seq, 0)]
    sock, _fake = _family("ethtool", ETHTOOL_FAMILY, {eg.ETHTOOL_MSG_CHANNELS_GET: DUMP}, kernel)
    assert eg.EthtoolGenl(sock=sock).channels("eth0") == {
        "max": {"rx": 0, "tx": 0, "other": 1, "combined": 63},
        "current": {"rx": 0, "tx": 0, "other": 1, "combined": 16}}
    req, = requests
    assert req["cmd"] == eg.ETHTOOL_MSG_CHANNELS_GET
    assert plain(req) == [("ETHTOOL_A_CHANNELS_HEADER", [("ETHTOOL_A_HEADER_DEV_NAME", "eth0")], NLA_F_NESTED)]
