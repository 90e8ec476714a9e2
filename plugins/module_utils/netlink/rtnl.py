# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""netkit links over rtnetlink: message building and parsing (pure), and a small client.

No iproute2 release can create a single-mode netkit device or set its head/tailroom,
so the collection builds the RTM_NEWLINK request itself.  The attribute numbers are
the kernel's (``include/uapi/linux/if_link.h``); which of them the running kernel
understands comes from ``netkit_caps``: ``build_newlink`` refuses to encode an
attribute the capabilities do not list, because the kernel silently ignores
attributes above its maximum.
"""

from __future__ import annotations

import os
import struct

from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import core as nl

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19

IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_OPERSTATE = 16
IFLA_LINKINFO = 18
IFLA_NET_NS_FD = 28
IFLA_NUM_TX_QUEUES = 31
IFLA_NUM_RX_QUEUES = 32
IFLA_LINK_NETNSID = 37
IFLA_XDP = 43
IFLA_XDP_FD = 1
IFLA_XDP_ATTACHED = 2
IFLA_XDP_FLAGS = 3
IFLA_XDP_PROG_ID = 4
XDP_FLAGS_UPDATE_IF_NOEXIST = 1
# IFLA_XDP_ATTACHED values (XDP_ATTACHED_*)
XDP_ATTACH_MODES = {0: None, 1: "driver", 2: "generic", 3: "offload", 4: "multi"}
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFF_UP = 0x1

# netkit attributes (IFLA_NETKIT_*), upstream numbering
NETKIT_ATTRS = {
    "peer_info": 1, "primary": 2, "policy": 3, "peer_policy": 4, "mode": 5,
    "scrub": 6, "peer_scrub": 7, "headroom": 8, "tailroom": 9, "pairing": 10,
}
# the netkit-for-VMs prototype's number for IFLA_NETKIT_LOWERDEV (upstream's PAIRING), with its
# payload struct netkit_lowerdev {u32 ifindex, queue_id_from, queue_id_to}
PROTOTYPE_LOWERDEV = 10
LOWERDEV = struct.Struct("=3I")
POLICIES = {"pass": 0, "drop": 2}
MODES = {"l2": 0, "l3": 1}
SCRUBS = {"none": 0, "default": 1}
PAIRINGS = {"pair": 0, "single": 1}
OPERSTATES = {0: "unknown", 1: "notpresent", 2: "down", 3: "lowerlayerdown", 4: "testing",
              5: "dormant", 6: "up"}

_IFINFO = struct.Struct("=BxHiII")


def _name_of(table, value):
    for k, v in table.items():
        if v == value:
            return k
    return value


def mac_bytes(text):
    return bytes(int(x, 16) for x in text.split(":"))


def mac_text(data):
    return ":".join("%02x" % b for b in bytes(data))


def ifinfomsg(index=0, flags=0, change=0):
    return _IFINFO.pack(0, 0, index, flags, change)


# ---------------------------------------------------------------- building

def _device_attrs(name=None, address=None, mtu=None, numrxqueues=None, numtxqueues=None, netns_fd=None):
    out = []
    if name is not None:
        out.append(nl.nla_str(IFLA_IFNAME, name))
    if address is not None:
        out.append(nl.nla(IFLA_ADDRESS, mac_bytes(address)))
    if mtu is not None:
        out.append(nl.nla_u32(IFLA_MTU, mtu))
    if numrxqueues is not None:
        out.append(nl.nla_u32(IFLA_NUM_RX_QUEUES, numrxqueues))
    if numtxqueues is not None:
        out.append(nl.nla_u32(IFLA_NUM_TX_QUEUES, numtxqueues))
    if netns_fd is not None:
        out.append(nl.nla_u32(IFLA_NET_NS_FD, netns_fd))
    return out


def netkit_data(spec, attr_ids):
    """IFLA_INFO_DATA attributes of ``spec``; ``attr_ids`` maps the names this kernel knows.

    ``spec`` keys: mode, policy, peer_policy, scrub, peer_scrub, headroom, tailroom,
    pairing, lowerdev ({ifindex, from, to}), peer (dict: name, address, numrxqueues,
    netns_fd).  Raises KeyError naming an attribute the kernel does not know.
    """
    def aid(key):
        if key not in attr_ids:
            raise KeyError(key)
        return attr_ids[key]

    out = []
    enc = {"mode": MODES, "policy": POLICIES, "peer_policy": POLICIES, "scrub": SCRUBS,
           "peer_scrub": SCRUBS, "pairing": PAIRINGS}
    for key in ("mode", "policy", "peer_policy", "scrub", "peer_scrub", "pairing"):
        if spec.get(key) is not None:
            out.append(nl.nla_u32(aid(key), enc[key][spec[key]]))
    for key in ("headroom", "tailroom"):
        if spec.get(key) is not None:
            out.append(nl.nla_u16(aid(key), spec[key]))
    if spec.get("lowerdev") is not None:
        low = spec["lowerdev"]
        out.append(nl.nla(aid("lowerdev"), LOWERDEV.pack(low["ifindex"], low["from"], low["to"])))
    peer = spec.get("peer")
    if peer is not None:
        out.append(nl.nla(aid("peer_info"), ifinfomsg() + b"".join(_device_attrs(
            name=peer.get("name"), address=peer.get("address"), numrxqueues=peer.get("numrxqueues"),
            numtxqueues=1 if peer.get("numrxqueues") else None, netns_fd=peer.get("netns_fd")))))
    return out


def build_newlink(spec, attr_ids):
    """RTM_NEWLINK body creating the netkit device ``spec`` (see netkit_data for its keys)."""
    data = netkit_data(spec, attr_ids)
    linkinfo = nl.nla_nest(IFLA_LINKINFO, nl.nla_str(IFLA_INFO_KIND, "netkit"),
                           nl.nla_nest(IFLA_INFO_DATA, *data))
    return ifinfomsg() + b"".join(_device_attrs(
        name=spec["name"], address=spec.get("address"), mtu=spec.get("mtu"),
        numrxqueues=spec.get("numrxqueues"), numtxqueues=1 if spec.get("numrxqueues") else None,
        netns_fd=spec.get("netns_fd"))) + linkinfo


def build_policy_change(ifindex, policy=None, peer_policy=None, attr_ids=None):
    """RTM_NEWLINK body (no create flags) changing the policies of a primary device."""
    spec = {"policy": policy, "peer_policy": peer_policy}
    data = netkit_data(spec, attr_ids or NETKIT_ATTRS)
    return ifinfomsg(index=ifindex) + nl.nla_nest(
        IFLA_LINKINFO, nl.nla_str(IFLA_INFO_KIND, "netkit"), nl.nla_nest(IFLA_INFO_DATA, *data))


def build_setlink(ifindex, up=None, mtu=None, address=None, netns_fd=None):
    flags = change = 0
    if up is not None:
        change = IFF_UP
        flags = IFF_UP if up else 0
    return ifinfomsg(index=ifindex, flags=flags, change=change) + b"".join(
        _device_attrs(address=address, mtu=mtu, netns_fd=netns_fd))


def build_xdp(ifindex, prog_fd):
    """RTM_SETLINK body that attaches the program ``prog_fd`` to a device's XDP hook, or detaches what is
    there (-1), as ``ip link set dev DEV xdp pinned PATH`` / ``xdp off`` sends it: no mode flag (the
    driver's hook where it has one, else the generic one) and never over another program that is
    already attached (XDP_FLAGS_UPDATE_IF_NOEXIST)."""
    return ifinfomsg(index=ifindex) + nl.nla_nest(IFLA_XDP, nl.nla_s32(IFLA_XDP_FD, prog_fd),
                                                  nl.nla_u32(IFLA_XDP_FLAGS, XDP_FLAGS_UPDATE_IF_NOEXIST))


def build_getlink(name=None, ifindex=0, kind=None):
    attrs = []
    if name is not None:
        attrs.append(nl.nla_str(IFLA_IFNAME, name))
    if kind is not None:
        attrs.append(nl.nla_nest(IFLA_LINKINFO, nl.nla_str(IFLA_INFO_KIND, kind)))
    return ifinfomsg(index=ifindex) + b"".join(attrs)


# ---------------------------------------------------------------- parsing

def parse_netkit_data(data, attr_ids=None):
    """IFLA_INFO_DATA of a netkit device -> dict of readable values (names per ``attr_ids``)."""
    by_id = dict((v, k) for k, v in (attr_ids or NETKIT_ATTRS).items())
    out = {}
    for atype, payload in nl.parse_attrs(data):
        key = by_id.get(atype)
        if attr_ids is None and atype == PROTOTYPE_LOWERDEV and len(payload) == LOWERDEV.size:
            # numbers not known from the kernel: attribute 10 is told apart by its size (u32 PAIRING
            # upstream, the 12-byte netkit_lowerdev struct on a kernel with the prototype's patch)
            key = "lowerdev"
        elif key == "pairing" and len(payload) != 4:
            key = None
        if key is None:
            out["attr%d" % atype] = payload.hex()
        elif key == "primary":
            out[key] = bool(nl.u8(payload))
        elif key in ("mode",):
            out[key] = _name_of(MODES, nl.u32(payload))
        elif key in ("policy", "peer_policy"):
            out[key] = _name_of(POLICIES, nl.u32(payload))
        elif key in ("scrub", "peer_scrub"):
            out[key] = _name_of(SCRUBS, nl.u32(payload))
        elif key == "pairing":
            out[key] = _name_of(PAIRINGS, nl.u32(payload))
        elif key in ("headroom", "tailroom"):
            out[key] = nl.u16(payload)
        elif key == "lowerdev" and len(payload) >= LOWERDEV.size:
            ifindex, qfrom, qto = LOWERDEV.unpack(payload[:LOWERDEV.size])
            out[key] = {"ifindex": ifindex, "from": qfrom, "to": qto}
    return out


def parse_link(payload, attr_ids=None):
    """RTM_NEWLINK payload -> dict: ifindex, name, kind, mtu, address, up, operstate,
    numrxqueues, numtxqueues, link (peer ifindex), link_netnsid, netkit (parsed data)."""
    _fam, _type, index, flags, _change = _IFINFO.unpack_from(payload, 0)
    a = nl.attr_map(payload[_IFINFO.size:])
    info = nl.attr_map(a.get(IFLA_LINKINFO, b""))
    kind = nl.asciiz(info[IFLA_INFO_KIND]) if IFLA_INFO_KIND in info else None
    link = {
        "ifindex": index,
        "name": nl.asciiz(a.get(IFLA_IFNAME, b"")),
        "kind": kind,
        "up": bool(flags & IFF_UP),
        "mtu": nl.u32(a[IFLA_MTU]) if IFLA_MTU in a else None,
        "address": mac_text(a[IFLA_ADDRESS]) if IFLA_ADDRESS in a else None,
        "operstate": OPERSTATES.get(nl.u8(a[IFLA_OPERSTATE])) if IFLA_OPERSTATE in a else None,
        "numrxqueues": nl.u32(a[IFLA_NUM_RX_QUEUES]) if IFLA_NUM_RX_QUEUES in a else None,
        "numtxqueues": nl.u32(a[IFLA_NUM_TX_QUEUES]) if IFLA_NUM_TX_QUEUES in a else None,
        "link": nl.u32(a[IFLA_LINK]) if IFLA_LINK in a else None,
        "link_netnsid": nl.s32(a[IFLA_LINK_NETNSID]) if IFLA_LINK_NETNSID in a else None,
    }
    if kind == "netkit":
        link["netkit"] = parse_netkit_data(info.get(IFLA_INFO_DATA, b""), attr_ids)
    link["xdp"] = parse_xdp(a.get(IFLA_XDP))
    return link


def parse_xdp(payload):
    """IFLA_XDP -> {"mode", "prog_id"} of the attached program, or None when none is attached."""
    if not payload:
        return None
    x = nl.attr_map(payload)
    mode = XDP_ATTACH_MODES.get(nl.u8(x[IFLA_XDP_ATTACHED]), "unknown") if IFLA_XDP_ATTACHED in x else None
    if mode is None:
        return None
    return {"mode": mode, "prog_id": nl.u32(x[IFLA_XDP_PROG_ID]) if IFLA_XDP_PROG_ID in x else None}


# ---------------------------------------------------------------- client

class Rtnl(object):
    """rtnetlink requests for links, in one network namespace."""

    def __init__(self, netns=None, sock=None, timeout=nl.DEFAULT_TIMEOUT):
        self.netns = netns
        self.sock = sock or nl.NetlinkSocket(nl.NETLINK_ROUTE, netns, timeout=timeout)

    def close(self):
        self.sock.close()

    def link(self, name, attr_ids=None):
        """The link called ``name``, or None."""
        return self._one_link(build_getlink(name=name), "RTM_GETLINK of %s" % name, attr_ids)

    def link_by_index(self, ifindex, attr_ids=None):
        """The link with ``ifindex``, or None: one request, not a dump of every link."""
        return self._one_link(build_getlink(ifindex=ifindex), "RTM_GETLINK of ifindex %d" % ifindex, attr_ids)

    def _one_link(self, body, what, attr_ids):
        try:
            replies = self.sock.request(RTM_GETLINK, body, what=what)
        except nl.NetlinkError as err:
            if err.errno == 19:  # ENODEV
                return None
            raise
        for mtype, payload in replies:
            if mtype == RTM_NEWLINK:
                return parse_link(payload, attr_ids)
        return None

    def links(self, kind=None, attr_ids=None):
        replies = self.sock.request(RTM_GETLINK, build_getlink(kind=kind), dump=True,
                                    what="RTM_GETLINK dump%s" % (" of %s links" % kind if kind else ""))
        out = [parse_link(p, attr_ids) for t, p in replies if t == RTM_NEWLINK]
        return [x for x in out if kind is None or x["kind"] == kind]

    def create(self, body):
        self.sock.request(RTM_NEWLINK, body, flags=nl.NLM_F_CREATE | nl.NLM_F_EXCL, what="RTM_NEWLINK (create)")

    def change(self, body):
        self.sock.request(RTM_NEWLINK, body, what="RTM_NEWLINK (change)")

    def setlink(self, body):
        self.sock.request(RTM_SETLINK, body, what="RTM_SETLINK")

    def delete(self, ifindex):
        self.sock.request(RTM_DELLINK, ifinfomsg(index=ifindex), what="RTM_DELLINK of ifindex %d" % ifindex)


def netns_fd(name):
    """An open fd of the named network namespace (caller closes it)."""
    return os.open(nl.netns_path(name), os.O_RDONLY)
