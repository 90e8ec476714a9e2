# SPDX-License-Identifier: GPL-3.0-or-later
"""Every number the collection's netlink code uses, checked against the kernel's own netlink specs.

The specs are Linux 7.3's ``Documentation/netlink/specs`` files ``netdev.yaml``, ``ethtool.yaml``
and ``rt-link.yaml`` (``tests/unit/fixtures/ynl``); ``ynl_spec`` derives their numbers with the
rules of the kernel's YNL tools.  Each constant is matched by its name as well as its number: the
C name YNL gives the attribute (``name-prefix`` + name) is the name of our constant.  Besides the
numbers: the widths the spec gives the attributes we encode or parse, the values of the enums and
flags we name, the layout of ``struct ifinfomsg``, and that every attribute we send is one the
spec lists for that request.
"""

from __future__ import annotations

import struct

import pytest

import ynl_spec
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import ethtool as eg
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import netdev as nd
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import caps
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import rtnl as rt
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import core as nl

NETDEV = ynl_spec.spec("netdev")
ETHTOOL = ynl_spec.spec("ethtool")
RTLINK = ynl_spec.spec("rt-link")
LICENSE = "# SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)"

# (our module, our constant, the spec's attribute set, the spec's attribute)
ATTRIBUTES = [
    (NETDEV, nd, "NETDEV_A_DEV_IFINDEX", "dev", "ifindex"),
    (NETDEV, nd, "NETDEV_A_DEV_XDP_FEATURES", "dev", "xdp-features"),
    (NETDEV, nd, "NETDEV_A_QUEUE_ID", "queue", "id"),
    (NETDEV, nd, "NETDEV_A_QUEUE_IFINDEX", "queue", "ifindex"),
    (NETDEV, nd, "NETDEV_A_QUEUE_TYPE", "queue", "type"),
    (NETDEV, nd, "NETDEV_A_QUEUE_NAPI_ID", "queue", "napi-id"),
    (NETDEV, nd, "NETDEV_A_QUEUE_DMABUF", "queue", "dmabuf"),
    (NETDEV, nd, "NETDEV_A_QUEUE_IO_URING", "queue", "io-uring"),
    (NETDEV, nd, "NETDEV_A_QUEUE_XSK", "queue", "xsk"),
    (NETDEV, nd, "NETDEV_A_QUEUE_LEASE", "queue", "lease"),
    (NETDEV, nd, "NETDEV_A_LEASE_IFINDEX", "lease", "ifindex"),
    (NETDEV, nd, "NETDEV_A_LEASE_QUEUE", "lease", "queue"),
    (NETDEV, nd, "NETDEV_A_LEASE_NETNS_ID", "lease", "netns-id"),
    (ETHTOOL, eg, "ETHTOOL_A_HEADER_DEV_INDEX", "header", "dev-index"),
    (ETHTOOL, eg, "ETHTOOL_A_HEADER_DEV_NAME", "header", "dev-name"),
    (ETHTOOL, eg, "ETHTOOL_A_CHANNELS_HEADER", "channels", "header"),
    (ETHTOOL, eg, "ETHTOOL_A_RSS_HEADER", "rss", "header"),
    (ETHTOOL, eg, "ETHTOOL_A_RSS_CONTEXT", "rss", "context"),
    (ETHTOOL, eg, "ETHTOOL_A_RSS_HFUNC", "rss", "hfunc"),
    (ETHTOOL, eg, "ETHTOOL_A_RSS_INDIR", "rss", "indir"),
    (ETHTOOL, eg, "ETHTOOL_A_RSS_HKEY", "rss", "hkey"),
    (ETHTOOL, eg, "ETHTOOL_A_RSS_INPUT_XFRM", "rss", "input-xfrm"),
    (ETHTOOL, eg, "ETHTOOL_A_RSS_START_CONTEXT", "rss", "start-context"),
    (RTLINK, rt, "IFLA_ADDRESS", "link-attrs", "address"),
    (RTLINK, rt, "IFLA_IFNAME", "link-attrs", "ifname"),
    (RTLINK, rt, "IFLA_MTU", "link-attrs", "mtu"),
    (RTLINK, rt, "IFLA_LINK", "link-attrs", "link"),
    (RTLINK, rt, "IFLA_OPERSTATE", "link-attrs", "operstate"),
    (RTLINK, rt, "IFLA_LINKINFO", "link-attrs", "linkinfo"),
    (RTLINK, rt, "IFLA_NET_NS_FD", "link-attrs", "net-ns-fd"),
    (RTLINK, rt, "IFLA_NUM_TX_QUEUES", "link-attrs", "num-tx-queues"),
    (RTLINK, rt, "IFLA_NUM_RX_QUEUES", "link-attrs", "num-rx-queues"),
    (RTLINK, rt, "IFLA_LINK_NETNSID", "link-attrs", "link-netnsid"),
    (RTLINK, rt, "IFLA_XDP", "link-attrs", "xdp"),
    (RTLINK, rt, "IFLA_XDP_ATTACHED", "xdp-attrs", "attached"),
    (RTLINK, rt, "IFLA_XDP_PROG_ID", "xdp-attrs", "prog-id"),
    (RTLINK, rt, "IFLA_INFO_KIND", "linkinfo-attrs", "kind"),
    (RTLINK, rt, "IFLA_INFO_DATA", "linkinfo-attrs", "data"),
]

# (spec, our module, our constant, the spec's operation (its request id), the modes we use)
COMMANDS = [
    (NETDEV, nd, "NETDEV_CMD_DEV_GET", "dev-get", ("do",)),
    (NETDEV, nd, "NETDEV_CMD_QUEUE_GET", "queue-get", ("dump",)),
    (NETDEV, nd, "NETDEV_CMD_QUEUE_CREATE", "queue-create", ("do",)),
    (ETHTOOL, eg, "ETHTOOL_MSG_CHANNELS_GET", "channels-get", ("do",)),
    (ETHTOOL, eg, "ETHTOOL_MSG_RSS_GET", "rss-get", ("dump",)),
    (ETHTOOL, eg, "ETHTOOL_MSG_RSS_SET", "rss-set", ("do",)),
    (ETHTOOL, eg, "ETHTOOL_MSG_RSS_CREATE_ACT", "rss-create-act", ("do",)),
    (ETHTOOL, eg, "ETHTOOL_MSG_RSS_DELETE_ACT", "rss-delete-act", ("do",)),
    (RTLINK, rt, "RTM_NEWLINK", "newlink", ("do",)),
    (RTLINK, rt, "RTM_DELLINK", "dellink", ("do",)),
    (RTLINK, rt, "RTM_GETLINK", "getlink", ("do", "dump")),
    (RTLINK, rt, "RTM_SETLINK", "setlink", ("do",)),
]

# the width of a fixed-size attribute type
WIDTH = {"u8": 1, "u16": 2, "u32": 4, "s32": 4, "u64": 8}


def _ids(rows):
    return [row[2] for row in rows]


def test_the_vendored_specs_are_the_kernels():
    for s, protocol in ((NETDEV, "genetlink"), (ETHTOOL, "genetlink-legacy"), (RTLINK, "netlink-raw")):
        assert s.first_line == LICENSE
        assert s.protocol == protocol
    assert (NETDEV.name, ETHTOOL.name, RTLINK.name) == ("netdev", "ethtool", "rt-link")
    assert (NETDEV.enum_model, ETHTOOL.enum_model, RTLINK.enum_model) == ("unified", "directional", "directional")
    # the generic netlink family names the clients look up
    assert (nd.NetdevGenl.NAME, eg.EthtoolGenl.NAME) == (NETDEV.name, ETHTOOL.name)


def test_the_derivation_follows_ynl():
    """Cases where the numbering rules matter, with the numbers the kernel's nlspec.py gives."""
    # an explicit value 0 (unspec) and the count going on from it
    assert ETHTOOL.attrs["header"]["unspec"] == 0 and ETHTOOL.attrs["header"]["dev-index"] == 1
    # a jump (value: 8) and the count going on after it
    assert NETDEV.attrs["page-pool-stats"]["alloc-fast"] == 8 and NETDEV.attrs["page-pool-stats"]["alloc-slow"] == 9
    # flags are bits, from an explicit start and with a jump
    rxfh = ETHTOOL.enums["rxfh-fields"]
    assert (rxfh["l2da"], rxfh["vlan"], rxfh["discard"]) == (2, 4, 1 << 31)
    assert ETHTOOL.enums["input-xfrm"] == {"sym-xor": 1, "sym-or-xor": 2}
    # unified: notifications take ids too, requests and replies alike
    assert NETDEV.requests["dev-add-ntf"] == NETDEV.replies["dev-add-ntf"] == 2
    # directional: a notification has a reply id only, an operation without a reply none
    assert "linkinfo-ntf" not in ETHTOOL.requests and ETHTOOL.replies["linkinfo-ntf"] == 3
    assert ETHTOOL.requests["linkinfo-set"] == 3 and "linkinfo-set" not in ETHTOOL.replies
    assert (ETHTOOL.replies["rss-ntf"], ETHTOOL.replies["rss-create-act"], ETHTOOL.replies["rss-create-ntf"]) == (
        50, 51, 52)
    assert (ETHTOOL.requests["mse-get"], ETHTOOL.replies["mse-get"]) == (51, 54)
    # explicit ids on requests and replies (rt-link)
    assert (RTLINK.requests["getstats"], RTLINK.replies["getstats"]) == (94, 92)
    assert RTLINK.replies["newlink-ntf"] == 16 and "newlink" not in RTLINK.replies


@pytest.mark.parametrize("s,module,const,attr_set,name", ATTRIBUTES, ids=_ids(ATTRIBUTES))
def test_attribute_numbers_and_names(s, module, const, attr_set, name):
    assert getattr(module, const) == s.attrs[attr_set][name], "%s is %d, the %s spec says %s/%s is %d" % (
        const, getattr(module, const), s.name, attr_set, name, s.attrs[attr_set][name])
    assert s.attr_c_name(attr_set, name) == const


@pytest.mark.parametrize("s,module,const,op,modes", COMMANDS, ids=_ids(COMMANDS))
def test_command_numbers_names_and_modes(s, module, const, op, modes):
    assert getattr(module, const) == s.requests[op], "%s is %d, the %s spec's %s request is %d" % (
        const, getattr(module, const), s.name, op, s.requests[op])
    assert ynl_spec.c_name(s.op_prefix, op) == const
    for mode in modes:
        assert mode in s.ops[op], "%s has no %s in the spec" % (op, mode)


def test_reply_ids_we_rely_on():
    # a link is answered with RTM_NEWLINK (getlink's reply id), which is what Rtnl keeps
    assert RTLINK.replies["getlink"] == rt.RTM_NEWLINK
    # netdev numbers requests and replies alike; ethtool's replies have ids of their own, and the
    # clients read replies by their attributes, never by the reply's command number
    assert NETDEV.replies["queue-get"] == NETDEV.requests["queue-get"]
    assert ETHTOOL.replies["rss-create-act"] != ETHTOOL.requests["rss-create-act"]
    assert "context" in ETHTOOL.reply_attributes("rss-create-act", "do")
    assert "id" in NETDEV.reply_attributes("queue-create", "do")


def test_the_command_names_in_errors_are_the_specs():
    for cmd, name in eg.EthtoolGenl.COMMANDS.items():
        assert ETHTOOL.requests[name.lower().replace("_", "-")] == cmd
    for cmd, name in nd.NetdevGenl.COMMANDS.items():
        assert NETDEV.requests[name] == cmd


def test_channels_attributes():
    for key, number in eg.ETHTOOL_A_CHANNELS.items():
        name = key.replace("_", "-") if key.endswith("_max") else key + "-count"
        assert ETHTOOL.attrs["channels"][name] == number, key
        assert ETHTOOL.types["channels"][name] == "u32"
    assert len(eg.ETHTOOL_A_CHANNELS) == len([a for a in ETHTOOL.attrs["channels"] if a not in ("unspec", "header")])


def test_netdev_nesting_and_types():
    # a lease nests the queue-id subset of the queue set: the same numbers as NETDEV_A_QUEUE_*
    assert NETDEV.raw_sets["queue-id"]["subset-of"] == "queue"
    assert NETDEV.attrs["queue-id"] == {"id": nd.NETDEV_A_QUEUE_ID, "type": nd.NETDEV_A_QUEUE_TYPE}
    lease_attrs = dict((a["name"], a) for a in NETDEV.raw_sets["lease"]["attributes"])
    assert lease_attrs["queue"]["nested-attributes"] == "queue-id"
    queue_attrs = dict((a["name"], a) for a in NETDEV.raw_sets["queue"]["attributes"])
    assert queue_attrs["lease"]["nested-attributes"] == "lease"
    types = NETDEV.types
    assert types["queue"]["id"] == types["queue"]["ifindex"] == types["queue"]["type"] == "u32"
    assert types["queue"]["napi-id"] == types["lease"]["ifindex"] == "u32"
    assert types["lease"]["netns-id"] == "s32"             # nla_s32 / s32 in netdev_genl
    assert types["dev"]["xdp-features"] == "u64"           # read as "=Q"
    assert types["queue"]["xsk"] == types["queue"]["lease"] == types["lease"]["queue"] == "nest"


def test_netdev_enums():
    assert nd.QUEUE_TYPES == dict((v, k) for k, v in NETDEV.enums["queue-type"].items())
    assert nd.QUEUE_TYPE_RX == NETDEV.enums["queue-type"]["rx"]
    assert NETDEV.enum_types["xdp-act"] == "flags"
    assert dict(nd.XDP_FEATURES) == dict((v, k) for k, v in NETDEV.enums["xdp-act"].items())


def _names(s, attr_set, attrs):
    by_number = dict((v, k) for k, v in s.attrs[attr_set].items())
    return [by_number[t] for t, _p in nl.parse_attrs(b"".join(attrs))]


def test_netdev_requests_send_only_what_the_spec_lists():
    sent = _names(NETDEV, "queue", nd.build_queue_create(9, 2, 14, lease_netns_id=3))
    assert sent == ["ifindex", "type", "lease"]
    assert set(sent) <= set(NETDEV.request_attributes("queue-create", "do"))
    lease = nl.attr_map(b"".join(nd.build_queue_create(9, 2, 14, 3)))[nd.NETDEV_A_QUEUE_LEASE]
    assert _names(NETDEV, "lease", [lease]) == ["ifindex", "queue", "netns-id"]
    queue = nl.attr_map(lease)[nd.NETDEV_A_LEASE_QUEUE]
    assert _names(NETDEV, "queue-id", [queue]) == ["id", "type"]
    # queue-get dump and dev-get name the device only
    assert NETDEV.request_attributes("queue-get", "dump") == ["ifindex"]
    assert NETDEV.request_attributes("dev-get", "do") == ["ifindex"]


def test_ethtool_rss_requests_send_only_what_the_spec_lists():
    full = eg.build_rss_write("eth0", context=3, table=[1, 2], hfunc=2, key=b"\x6d\x5a")
    sent = _names(ETHTOOL, "rss", full)
    assert sent == ["header", "context", "hfunc", "indir", "hkey"]
    assert set(sent) <= set(ETHTOOL.request_attributes("rss-set", "do"))
    assert set(_names(ETHTOOL, "rss", eg.build_rss_write("eth0", None, [1, 2], 2, b"\1"))) <= set(
        ETHTOOL.request_attributes("rss-create-act", "do"))
    assert set(_names(ETHTOOL, "rss", eg.build_rss_write("eth0", 3))) <= set(
        ETHTOOL.request_attributes("rss-delete-act", "do"))
    assert "header" in ETHTOOL.request_attributes("rss-get", "dump")
    header = nl.attr_map(b"".join(full))[eg.ETHTOOL_A_RSS_HEADER]
    assert _names(ETHTOOL, "header", [header]) == ["dev-name"]
    rss = ETHTOOL.types["rss"]
    assert rss["header"] == "nest" and rss["context"] == rss["hfunc"] == rss["input-xfrm"] == "u32"
    assert rss["indir"] == "binary" and rss["hkey"] == "binary"
    indir = [a for a in ETHTOOL.raw_sets["rss"]["attributes"] if a["name"] == "indir"][0]
    assert indir["sub-type"] == "u32"                     # the table is packed as "=%dI"
    assert ETHTOOL.types["header"]["dev-name"] == "string" and ETHTOOL.types["header"]["dev-index"] == "u32"


def test_netkit_attributes_are_upstreams():
    spec_attrs = RTLINK.attrs["linkinfo-netkit-attrs"]
    assert dict((k.replace("_", "-"), v) for k, v in rt.NETKIT_ATTRS.items()) == spec_attrs
    for key in rt.NETKIT_ATTRS:
        # netkit_caps reads IFLA_NETKIT_<KEY> from the kernel's BTF: the C names of the spec
        assert RTLINK.attr_c_name("linkinfo-netkit-attrs", key.replace("_", "-")) == "IFLA_NETKIT_" + key.upper()
    for key in caps.BASE_ATTRS:
        assert key.replace("_", "-") in spec_attrs
    # IFLA_INFO_DATA of kind "netkit" is this attribute set
    formats = [m for m in RTLINK.yaml["sub-messages"] if m["name"] == "linkinfo-data-msg"][0]["formats"]
    assert [f["attribute-set"] for f in formats if f["value"] == "netkit"] == ["linkinfo-netkit-attrs"]


def test_lowerdev_is_the_projects_patch_not_upstream():
    """IFLA_NETKIT_LOWERDEV comes from the project's own kernel patch (kernel/), not from Linux:
    upstream rt-link.yaml has no such attribute and gives its number, 10, to PAIRING.  The two are
    told apart by the kernel's BTF names or, without BTF, by the payload size (u32 PAIRING, the
    12-byte struct netkit_lowerdev)."""
    netkit = RTLINK.attrs["linkinfo-netkit-attrs"]
    assert "lowerdev" not in netkit
    assert rt.PROTOTYPE_LOWERDEV == 10 and netkit["pairing"] == 10 == rt.NETKIT_ATTRS["pairing"]
    assert RTLINK.types["linkinfo-netkit-attrs"]["pairing"] == "u32"
    assert rt.LOWERDEV.size == 12 != WIDTH["u32"]
    assert "lowerdev" not in rt.NETKIT_ATTRS


def test_netkit_enums():
    policy = RTLINK.enums["netkit-policy"]
    # our option values "pass" and "drop" are the spec's "forward" and "blackhole"
    assert rt.POLICIES == {"pass": policy["forward"], "drop": policy["blackhole"]}
    assert rt.MODES == RTLINK.enums["netkit-mode"]
    assert rt.SCRUBS == RTLINK.enums["netkit-scrub"]
    assert rt.PAIRINGS == RTLINK.enums["netkit-pairing"]
    assert rt.IFF_UP == RTLINK.enums["ifinfo-flags"]["up"]


def test_netkit_and_link_attribute_widths():
    """Every attribute the netkit request carries has the width the spec gives its type."""
    spec = {"mode": "l3", "policy": "drop", "peer_policy": "pass", "scrub": "none", "peer_scrub": "default",
            "headroom": 64, "tailroom": 16, "pairing": "single",
            "peer": {"name": "nk0p", "address": "02:00:00:00:00:01", "numrxqueues": 2, "netns_fd": 5}}
    types = RTLINK.types["linkinfo-netkit-attrs"]
    by_number = dict((v, k) for k, v in RTLINK.attrs["linkinfo-netkit-attrs"].items())
    seen = []
    for atype, payload in nl.parse_attrs(b"".join(rt.netkit_data(spec, rt.NETKIT_ATTRS))):
        name = by_number[atype]
        seen.append(name)
        if types[name] in WIDTH:
            assert len(payload) == WIDTH[types[name]], name
    assert sorted(seen) == sorted(a for a in RTLINK.attrs["linkinfo-netkit-attrs"] if a != "primary")
    assert types["primary"] == "u8" and types["peer-info"] == "binary"   # parsed as u8 / ifinfomsg + attributes
    link = RTLINK.types["link-attrs"]
    body = rt.build_newlink(dict(spec, name="nk0", address="02:00:00:00:00:02", mtu=9000, numrxqueues=4,
                                 netns_fd=6), rt.NETKIT_ATTRS)
    by_number = dict((v, k) for k, v in RTLINK.attrs["link-attrs"].items())
    sent = []
    for atype, payload in nl.parse_attrs(body[rt._IFINFO.size:]):
        name = by_number[atype]
        sent.append(name)
        if link[name] in WIDTH:
            assert len(payload) == WIDTH[link[name]], name
        elif link[name] == "string":
            assert payload.endswith(b"\0")
    assert set(sent) <= set(RTLINK.request_attributes("newlink", "do"))
    # what a link is read with
    assert link["operstate"] == "u8" and link["mtu"] == link["num-rx-queues"] == "u32"
    assert link["link-netnsid"] == "s32"
    assert link["link"] == "u32"      # read with nl.u32 (an ifindex)
    assert RTLINK.types["xdp-attrs"]["attached"] == "u8" and RTLINK.types["xdp-attrs"]["prog-id"] == "u32"


def test_link_requests_send_only_what_the_spec_lists():
    getlink = rt.build_getlink(name="nk0")
    by_number = dict((v, k) for k, v in RTLINK.attrs["link-attrs"].items())
    assert [by_number[t] for t, _p in nl.parse_attrs(getlink[rt._IFINFO.size:])] == ["ifname"]
    assert "ifname" in RTLINK.request_attributes("getlink", "do")
    dump = rt.build_getlink(kind="netkit")
    assert [by_number[t] for t, _p in nl.parse_attrs(dump[rt._IFINFO.size:])] == ["linkinfo"]
    assert "linkinfo" in RTLINK.request_attributes("getlink", "dump")
    setlink = rt.build_setlink(3, up=True, mtu=1400, address="02:00:00:00:00:03", netns_fd=7)
    sent = [by_number[t] for t, _p in nl.parse_attrs(setlink[rt._IFINFO.size:])]
    assert set(sent) <= set(RTLINK.request_attributes("setlink", "do"))


def test_ifinfomsg_layout():
    codes = {"u8": "B", "u16": "H", "u32": "I", "s32": "i"}
    fmt = "="
    for member in RTLINK.structs["ifinfomsg"]:
        fmt += "%dx" % member["len"] if member["type"] == "pad" else codes[member["type"]]
    assert struct.calcsize(fmt) == rt._IFINFO.size == 16
    assert fmt.replace("1x", "x") == rt._IFINFO.format
