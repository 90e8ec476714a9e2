# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small generic-netlink client for the kernel's ``ethtool`` family (stdlib only).

Used for what only netlink offers in one call: the RSS_GET *dump* of every RSS
context of a device (kernel 6.12+), and CHANNELS_GET.  Message building and parsing
are pure functions (tested without a kernel); ``EthtoolGenl`` owns the socket.
Whether the running kernel can dump RSS contexts is read from the family's list of
operations (RSS_GET with the dump capability), never guessed from a version number.
"""

from __future__ import annotations

import os
import socket
import struct

from ansible_collections.vmnet.netkit.plugins.module_utils.nic_model import hfunc_name, key_from_bytes

NETLINK_GENERIC = 16
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
CTRL_ATTR_OPS = 6
CTRL_ATTR_OP_ID = 1
CTRL_ATTR_OP_FLAGS = 2
GENL_CMD_CAP_DO = 0x02
GENL_CMD_CAP_DUMP = 0x04

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLMSG_ERROR = 0x2
NLMSG_DONE = 0x3
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3fff

ETHTOOL_GENL_VERSION = 1
ETHTOOL_MSG_CHANNELS_GET = 17
ETHTOOL_MSG_RSS_GET = 38
ETHTOOL_A_HEADER_DEV_INDEX = 1
ETHTOOL_A_HEADER_DEV_NAME = 2
ETHTOOL_A_CHANNELS = {"rx_max": 2, "tx_max": 3, "other_max": 4, "combined_max": 5,
                      "rx": 6, "tx": 7, "other": 8, "combined": 9}
ETHTOOL_A_RSS_HEADER = 1
ETHTOOL_A_RSS_CONTEXT = 2
ETHTOOL_A_RSS_HFUNC = 3
ETHTOOL_A_RSS_INDIR = 4
ETHTOOL_A_RSS_HKEY = 5
ETHTOOL_A_RSS_INPUT_XFRM = 6
ETHTOOL_A_RSS_START_CONTEXT = 7


class NetlinkError(OSError):
    pass


# ---------------------------------------------------------------- pure encoding

def nla(atype, payload):
    payload = bytes(payload)
    hdr = struct.pack("=HH", 4 + len(payload), atype)
    pad = b"\0" * ((4 - (len(payload) % 4)) % 4)
    return hdr + payload + pad


def nla_u32(atype, value):
    return nla(atype, struct.pack("=I", value))


def nla_str(atype, text):
    return nla(atype, text.encode() + b"\0")


def nla_nest(atype, *attrs):
    return nla(atype | NLA_F_NESTED, b"".join(attrs))


def genl_msg(family, cmd, attrs, flags, seq, version=1):
    body = struct.pack("=BBH", cmd, version, 0) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), family, flags, seq, 0) + body


def parse_attrs(data):
    """-> list of (type, payload) in order (a type may repeat)."""
    out = []
    off = 0
    data = bytes(data)
    while off + 4 <= len(data):
        alen, atype = struct.unpack_from("=HH", data, off)
        if alen < 4:
            break
        out.append((atype & NLA_TYPE_MASK, data[off + 4:off + alen]))
        off += (alen + 3) & ~3
    return out


def attr_map(data):
    return dict(parse_attrs(data))


def parse_messages(data):
    """Split a netlink datagram -> list of (type, flags, seq, payload)."""
    out = []
    off = 0
    data = bytes(data)
    while off + 16 <= len(data):
        mlen, mtype, flags, seq, _pid = struct.unpack_from("=IHHII", data, off)
        if mlen < 16:
            break
        out.append((mtype, flags, seq, data[off + 16:off + mlen]))
        off += (mlen + 3) & ~3
    return out


def u32(payload):
    return struct.unpack("=I", bytes(payload[:4]))[0]


def parse_family(payload):
    """CTRL_CMD_NEWFAMILY payload (after genlmsghdr) -> (id, {op id: flags})."""
    attrs = attr_map(payload)
    fam_id = struct.unpack("=H", attrs[CTRL_ATTR_FAMILY_ID][:2])[0]
    ops = {}
    for _i, op in parse_attrs(attrs.get(CTRL_ATTR_OPS, b"")):
        o = attr_map(op)
        if CTRL_ATTR_OP_ID in o:
            ops[u32(o[CTRL_ATTR_OP_ID])] = u32(o.get(CTRL_ATTR_OP_FLAGS, b"\0\0\0\0"))
    return fam_id, ops


def header_name(payload):
    a = attr_map(payload)
    name = a.get(ETHTOOL_A_HEADER_DEV_NAME)
    return name.split(b"\0")[0].decode() if name else None


def parse_rss_reply(payload):
    """RSS_GET reply attributes -> ``{"device", "context", "table", "hfunc", "key", "input_xfrm"}``."""
    a = attr_map(payload)
    indir = a.get(ETHTOOL_A_RSS_INDIR, b"")
    return {
        "device": header_name(a.get(ETHTOOL_A_RSS_HEADER, b"")),
        "context": u32(a[ETHTOOL_A_RSS_CONTEXT]) if ETHTOOL_A_RSS_CONTEXT in a else 0,
        "table": list(struct.unpack("=%dI" % (len(indir) // 4), indir)) if indir else [],
        "hfunc": hfunc_name(u32(a[ETHTOOL_A_RSS_HFUNC])) if ETHTOOL_A_RSS_HFUNC in a else None,
        "key": key_from_bytes(a.get(ETHTOOL_A_RSS_HKEY)),
        "input_xfrm": u32(a[ETHTOOL_A_RSS_INPUT_XFRM]) if ETHTOOL_A_RSS_INPUT_XFRM in a else None,
    }


def parse_channels_reply(payload):
    a = attr_map(payload)
    vals = dict((k, u32(a[v]) if v in a else 0) for k, v in ETHTOOL_A_CHANNELS.items())
    return {"max": {k: vals[k + "_max"] for k in ("rx", "tx", "other", "combined")},
            "current": {k: vals[k] for k in ("rx", "tx", "other", "combined")}}


# ---------------------------------------------------------------- socket

class EthtoolGenl(object):
    """Talks to the ``ethtool`` generic netlink family.  Raises OSError/NetlinkError."""

    def __init__(self):
        self._sock = None
        self._seq = 0
        self.family = None
        self.ops = {}

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _open(self):
        if self._sock is None:
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
            s.bind((0, 0))
            self._sock = s
        return self._sock

    def _request(self, family, cmd, attrs, dump=False, version=1):
        sock = self._open()
        self._seq += 1
        seq = self._seq
        flags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_DUMP if dump else 0)
        sock.send(genl_msg(family, cmd, attrs, flags, seq, version))
        replies = []
        while True:
            data = sock.recv(1 << 20)
            for mtype, mflags, mseq, payload in parse_messages(data):
                if mseq != seq:
                    continue
                if mtype == NLMSG_ERROR:
                    err = struct.unpack("=i", payload[:4])[0]
                    if err:
                        raise NetlinkError(-err, os.strerror(-err))
                    return replies
                if mtype == NLMSG_DONE:
                    if len(payload) >= 4:
                        err = struct.unpack("=i", payload[:4])[0]
                        if err:
                            raise NetlinkError(-err, os.strerror(-err))
                    # an ACK follows a dump's DONE on recent kernels; stop here regardless
                    return replies
                replies.append(payload[4:])  # skip genlmsghdr
                if not dump and not (mflags & NLM_F_MULTI):
                    continue

    def resolve(self):
        """Find the ethtool family; -> True if present."""
        if self.family is not None:
            return True
        try:
            replies = self._request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
                                    [nla_str(CTRL_ATTR_FAMILY_NAME, "ethtool")])
        except OSError:
            return False
        if not replies:
            return False
        self.family, self.ops = parse_family(replies[0])
        return True

    def can(self, cmd, dump=False):
        if not self.resolve():
            return False
        flags = self.ops.get(cmd)
        if flags is None:
            return False
        return bool(flags & (GENL_CMD_CAP_DUMP if dump else GENL_CMD_CAP_DO))

    def rss_dump_supported(self):
        return self.can(ETHTOOL_MSG_RSS_GET, dump=True)

    def rss_contexts(self, device):
        """Every RSS context of ``device`` (including context 0) in one dump (kernel 6.12+)."""
        if not self.rss_dump_supported():
            raise NetlinkError(95, "RSS_GET dump not supported by this kernel")
        replies = self._request(self.family, ETHTOOL_MSG_RSS_GET,
                                [nla_nest(ETHTOOL_A_RSS_HEADER, nla_str(ETHTOOL_A_HEADER_DEV_NAME, device))],
                                dump=True, version=ETHTOOL_GENL_VERSION)
        out = []
        for p in replies:
            r = parse_rss_reply(p)
            if r["device"] in (None, device):
                out.append(r)
        return out

    def channels(self, device):
        if not self.can(ETHTOOL_MSG_CHANNELS_GET):
            raise NetlinkError(95, "CHANNELS_GET not supported by this kernel")
        replies = self._request(self.family, ETHTOOL_MSG_CHANNELS_GET,
                                [nla_nest(1, nla_str(ETHTOOL_A_HEADER_DEV_NAME, device))],
                                version=ETHTOOL_GENL_VERSION)
        if not replies:
            raise NetlinkError(61, "no CHANNELS_GET reply")
        return parse_channels_reply(replies[0])
