# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Netlink on the standard library: attribute encoding, message parsing, one socket class.

The collection talks to rtnetlink (netkit links), the ``ethtool`` and ``netdev``
generic netlink families with this file and nothing else, so it runs with the
plain ``python3`` of any managed node (no pyroute2 version to match).  Encoding and
parsing are pure functions; ``NetlinkSocket`` owns the socket and asks the kernel
for extended acknowledgements, so an error carries the kernel's own words
(for example "Device queue in use due to queue leasing").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import struct

NETLINK_ROUTE = 0
NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_EXT_ACK = 11
NETLINK_CAP_ACK = 10

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200
NLMSG_ERROR = 0x2
NLMSG_DONE = 0x3
NLMSGERR_ATTR_MSG = 1
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3fff

GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
CTRL_ATTR_OPS = 6
CTRL_ATTR_OP_ID = 1
CTRL_ATTR_OP_FLAGS = 2
GENL_CMD_CAP_DO = 0x02
GENL_CMD_CAP_DUMP = 0x04

CLONE_NEWNET = 0x40000000


class NetlinkError(OSError):
    """A request the kernel refused: ``errno``, ``strerror`` and the kernel's ``extack`` text."""

    def __init__(self, err, text, extack=None):
        super(NetlinkError, self).__init__(err, text)
        self.extack = extack

    def __str__(self):
        if self.extack:
            return "%s (%s)" % (self.extack, self.strerror)
        return str(self.strerror)


# ---------------------------------------------------------------- pure encoding

def nla(atype, payload):
    payload = bytes(payload)
    hdr = struct.pack("=HH", 4 + len(payload), atype)
    pad = b"\0" * ((4 - (len(payload) % 4)) % 4)
    return hdr + payload + pad


def nla_u8(atype, value):
    return nla(atype, struct.pack("=B", value))


def nla_u16(atype, value):
    return nla(atype, struct.pack("=H", value))


def nla_u32(atype, value):
    return nla(atype, struct.pack("=I", value))


def nla_s32(atype, value):
    return nla(atype, struct.pack("=i", value))


def nla_str(atype, text):
    return nla(atype, text.encode() + b"\0")


def nla_nest(atype, *attrs):
    return nla(atype | NLA_F_NESTED, b"".join(attrs))


def nl_msg(msg_type, flags, seq, body):
    return struct.pack("=IHHII", 16 + len(body), msg_type, flags, seq, 0) + body


def genl_msg(family, cmd, attrs, flags, seq, version=1):
    body = struct.pack("=BBH", cmd, version, 0) + b"".join(attrs)
    return nl_msg(family, flags, seq, body)


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


def u8(payload):
    return struct.unpack("=B", bytes(payload[:1]))[0]


def u16(payload):
    return struct.unpack("=H", bytes(payload[:2]))[0]


def u32(payload):
    return struct.unpack("=I", bytes(payload[:4]))[0]


def s32(payload):
    return struct.unpack("=i", bytes(payload[:4]))[0]


def asciiz(payload):
    return bytes(payload).split(b"\0")[0].decode("utf-8", "replace")


def parse_error(flags, payload):
    """NLMSG_ERROR payload -> (errno, extack text or None); errno 0 is an ACK."""
    err = -struct.unpack("=i", payload[:4])[0]
    if not err or not flags & NLM_F_ACK_TLVS:
        return err, None
    # the original request follows: only its header when the ACK is capped
    inner = 16
    if not flags & NLM_F_CAPPED and len(payload) >= 8:
        inner = struct.unpack_from("=I", payload, 4)[0]
    tlvs = attr_map(payload[4 + ((inner + 3) & ~3):])
    text = tlvs.get(NLMSGERR_ATTR_MSG)
    return err, asciiz(text) if text else None


def parse_family(payload):
    """CTRL_CMD_NEWFAMILY payload (after genlmsghdr) -> (id, {op id: flags})."""
    attrs = attr_map(payload)
    fam_id = u16(attrs[CTRL_ATTR_FAMILY_ID])
    ops = {}
    for _i, op in parse_attrs(attrs.get(CTRL_ATTR_OPS, b"")):
        o = attr_map(op)
        if CTRL_ATTR_OP_ID in o:
            ops[u32(o[CTRL_ATTR_OP_ID])] = u32(o.get(CTRL_ATTR_OP_FLAGS, b"\0\0\0\0"))
    return fam_id, ops


# ---------------------------------------------------------------- network namespaces

def netns_path(name):
    return os.path.join("/run/netns", name)


def _setns(fd):
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def open_socket(protocol, netns=None):
    """A netlink socket of ``protocol``, in the named network namespace when given.

    A socket belongs to the namespace it was created in, so the thread steps into the
    namespace only for the socket() call and steps back at once.
    """
    if not netns:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, protocol)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        target = os.open(netns_path(netns), os.O_RDONLY)
        try:
            _setns(target)
            try:
                return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, protocol)
            finally:
                _setns(home)
        finally:
            os.close(target)
    finally:
        os.close(home)


# ---------------------------------------------------------------- socket

class NetlinkSocket(object):
    """One netlink socket: ``request()`` sends a message and collects the replies."""

    def __init__(self, protocol, netns=None):
        self.protocol = protocol
        self.netns = netns
        self._sock = None
        self._seq = 0

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _open(self):
        if self._sock is None:
            s = open_socket(self.protocol, self.netns)
            for opt in (NETLINK_EXT_ACK, NETLINK_CAP_ACK):
                try:
                    s.setsockopt(SOL_NETLINK, opt, 1)
                except OSError:
                    pass  # kernels before 4.12: errors come without the kernel's text
            s.bind((0, 0))
            self._sock = s
        return self._sock

    def request(self, msg_type, body, flags=0, dump=False):
        """Send one request; -> list of (type, payload) replies.  Raises NetlinkError."""
        sock = self._open()
        self._seq += 1
        seq = self._seq
        flags |= NLM_F_REQUEST | NLM_F_ACK | (NLM_F_DUMP if dump else 0)
        sock.send(nl_msg(msg_type, flags, seq, body))
        replies = []
        while True:
            data = sock.recv(1 << 20)
            for mtype, mflags, mseq, payload in parse_messages(data):
                if mseq != seq:
                    continue
                if mtype == NLMSG_ERROR:
                    err, text = parse_error(mflags, payload)
                    if err:
                        raise NetlinkError(err, os.strerror(err), text)
                    return replies
                if mtype == NLMSG_DONE:
                    if len(payload) >= 4:
                        err, text = parse_error(mflags, payload)
                        if err > 0:
                            raise NetlinkError(err, os.strerror(err), text)
                    # an ACK follows a dump's DONE on recent kernels; stop here regardless
                    return replies
                replies.append((mtype, payload))


class GenlFamily(object):
    """A generic netlink family by name, with the operations the running kernel offers."""

    NAME = None

    def __init__(self, netns=None, sock=None):
        self.sock = sock or NetlinkSocket(NETLINK_GENERIC, netns)
        self.family = None
        self.ops = {}

    def close(self):
        self.sock.close()

    def resolve(self):
        """Find the family; -> True if the kernel has it."""
        if self.family is not None:
            return True
        try:
            replies = self.sock.request(GENL_ID_CTRL, struct.pack("=BBH", CTRL_CMD_GETFAMILY, 1, 0)
                                        + nla_str(CTRL_ATTR_FAMILY_NAME, self.NAME))
        except OSError:
            return False
        if not replies:
            return False
        self.family, self.ops = parse_family(replies[0][1][4:])
        return True

    def can(self, cmd, dump=False):
        if not self.resolve():
            return False
        flags = self.ops.get(cmd)
        if flags is None:
            return False
        return bool(flags & (GENL_CMD_CAP_DUMP if dump else GENL_CMD_CAP_DO))

    def call(self, cmd, attrs, dump=False, version=1):
        """-> list of reply attribute payloads (after the genl header)."""
        if not self.resolve():
            raise NetlinkError(2, "this kernel has no %s generic netlink family" % self.NAME)
        body = struct.pack("=BBH", cmd, version, 0) + b"".join(attrs)
        return [p[4:] for _t, p in self.sock.request(self.family, body, dump=dump)]
