# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Netlink on the standard library: attribute encoding, message parsing, one socket class.

The collection talks to rtnetlink (netkit links), the ``ethtool`` and ``netdev``
generic netlink families with this file and nothing else, so it runs with the
plain ``python3`` of any managed node (no pyroute2 version to match).  Encoding and
parsing are pure functions; ``NetlinkSocket`` owns the socket and asks the kernel
for extended acknowledgements, so an error carries the kernel's own words
(for example "Device queue in use due to queue leasing").

``NetlinkSocket`` also waits for an answer only so long (``timeout``, 30 s unless
told otherwise), repeats a dump that a concurrent change interrupted
(``NLM_F_DUMP_INTR``), and every ``NetlinkError`` says what kind of failure it is
(``kind``): ``permission`` (needs root or CAP_NET_ADMIN), ``unsupported`` (the
kernel or the driver lacks the operation), ``timeout``, ``interrupted`` or ``error``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
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
NLM_F_DUMP_INTR = 0x10
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

# Seconds a request waits for the kernel's next message (NetlinkSocket's default).
DEFAULT_TIMEOUT = 30.0
# How often a dump interrupted by a concurrent change (NLM_F_DUMP_INTR) is repeated.
DUMP_RETRIES = 3

# The kernel's internal "not supported" (ENOTSUPP), which some drivers let reach user space.
ENOTSUPP = 524
PERMISSION_ERRNOS = (errno.EPERM, errno.EACCES)
UNSUPPORTED_ERRNOS = (errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP), ENOTSUPP,
                      errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT)
PERMISSION_HINT = "needs root or CAP_NET_ADMIN"


def error_kind(err):
    """An errno -> ``permission``, ``unsupported``, ``timeout``, ``interrupted`` or ``error``."""
    if err in PERMISSION_ERRNOS:
        return "permission"
    if err in UNSUPPORTED_ERRNOS:
        return "unsupported"
    if err == errno.ETIMEDOUT:
        return "timeout"
    if err == errno.EINTR:
        return "interrupted"
    return "error"


def strerror(err):
    if err == ENOTSUPP:
        return "Operation not supported (ENOTSUPP)"
    return os.strerror(err) if err else "Unknown error"


def _os_error(err, request, hint=None):
    """An OSError of a system call (socket, setns, send, recv) -> NetlinkError for ``request``."""
    text = err.strerror or strerror(err.errno)
    if err.filename:
        text = "%s: %s" % (text, err.filename)
    return NetlinkError(err.errno, text, request=request, hint=hint)


class NetlinkError(OSError):
    """A request that failed: ``errno``, ``strerror``, the kernel's ``extack`` text, the ``request``
    it answers (for example "ethtool RSS_GET") and the ``kind`` of failure (see ``error_kind``).

    ``str()`` gives the kernel's words and, for a refusal that is about permissions or a missing
    operation, says so: "Operation not permitted: ethtool RSS_SET needs root or CAP_NET_ADMIN".
    """

    def __init__(self, err, text, extack=None, request=None, kind=None, hint=None):
        super(NetlinkError, self).__init__(err, text)
        self.extack = extack
        self.request = request
        self.kind = kind or error_kind(err)
        self.hint = hint

    @property
    def permission_denied(self):
        return self.kind == "permission"

    @property
    def unsupported(self):
        return self.kind == "unsupported"

    def __str__(self):
        text = "%s (%s)" % (self.extack, self.strerror) if self.extack else str(self.strerror)
        if self.hint:
            return "%s: %s" % (text, self.hint)
        if self.strerror != strerror(self.errno):
            return text  # a message of its own says everything
        if self.kind == "permission":
            return "%s: %s%s" % (text, self.request + " " if self.request else "", PERMISSION_HINT)
        # the kernel's own words say what is not supported (a hash function, not the operation)
        if self.kind == "unsupported" and self.request and not self.extack:
            return "%s: %s is not supported by this kernel or driver" % (text, self.request)
        return text


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
    return err, _extack_text(payload[4 + ((inner + 3) & ~3):])


def parse_done(flags, payload):
    """NLMSG_DONE payload -> (errno, extack text or None): the dump's error code, then the extended
    ACK attributes directly (a DONE carries no copy of the request)."""
    if len(payload) < 4:
        return 0, None
    err = -struct.unpack("=i", payload[:4])[0]
    if not err or not flags & NLM_F_ACK_TLVS:
        return err, None
    return err, _extack_text(payload[4:])


def _extack_text(tlvs):
    """The kernel's message among the extended ACK attributes, or None."""
    text = attr_map(tlvs).get(NLMSGERR_ATTR_MSG)
    return asciiz(text) if text else None


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
    """One netlink socket: ``request()`` sends a message and collects the replies.

    ``timeout``: seconds to wait for each message of an answer (None waits for ever); ``sock``: a
    socket-like object to use instead of opening one (the unit tests' fake kernel).
    """

    def __init__(self, protocol, netns=None, timeout=DEFAULT_TIMEOUT, sock=None):
        self.protocol = protocol
        self.netns = netns
        self.timeout = timeout
        self._sock = sock
        self._seq = 0

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _open(self):
        if self._sock is None:
            where = " in network namespace %s" % self.netns if self.netns else ""
            try:
                s = open_socket(self.protocol, self.netns)
            except OSError as err:
                hint = "entering a network namespace needs root (CAP_SYS_ADMIN)" if (
                    self.netns and err.errno in PERMISSION_ERRNOS and not err.filename) else None
                raise _os_error(err, "opening a netlink socket%s" % where, hint)
            for opt in (NETLINK_EXT_ACK, NETLINK_CAP_ACK):
                try:
                    s.setsockopt(SOL_NETLINK, opt, 1)
                except OSError:
                    pass  # kernels before 4.12: errors come without the kernel's text
            s.bind((0, 0))
            self._sock = s
        return self._sock

    def request(self, msg_type, body, flags=0, dump=False, what=None):
        """Send one request; -> list of (type, payload) replies.  Raises NetlinkError.

        ``what`` names the request in errors (for example "ethtool RSS_GET").  A dump that a
        concurrent change interrupted (NLM_F_DUMP_INTR on a reply) is asked again, DUMP_RETRIES
        times at most, because its replies may be inconsistent.
        """
        what = what or "netlink message type %d" % msg_type
        attempts = 1 + (DUMP_RETRIES if dump else 0)
        for _attempt in range(attempts):
            replies, interrupted = self._exchange(msg_type, body, flags, dump, what)
            if not interrupted:
                return replies
        raise NetlinkError(errno.EINTR, "the dump of %s was interrupted by concurrent changes %d times in a row"
                           % (what, attempts), request=what, kind="interrupted")

    def _exchange(self, msg_type, body, flags, dump, what):
        """One request and its answer -> (replies, interrupted)."""
        sock = self._open()
        self._seq += 1
        seq = self._seq
        flags |= NLM_F_REQUEST | NLM_F_ACK | (NLM_F_DUMP if dump else 0)
        try:
            sock.settimeout(self.timeout)
            sock.send(nl_msg(msg_type, flags, seq, body))
        except OSError as err:
            raise _os_error(err, what)
        replies = []
        interrupted = False
        while True:
            data = self._receive(sock, what)
            for mtype, mflags, mseq, payload in parse_messages(data):
                if mseq != seq:
                    continue  # the late answer to an earlier request that timed out
                interrupted = interrupted or bool(dump and mflags & NLM_F_DUMP_INTR)
                if mtype == NLMSG_ERROR:
                    err, text = parse_error(mflags, payload)
                    if err:
                        raise NetlinkError(err, strerror(err), text, request=what)
                    return replies, interrupted
                if mtype == NLMSG_DONE:
                    err, text = parse_done(mflags, payload)
                    if err > 0:
                        raise NetlinkError(err, strerror(err), text, request=what)
                    # an ACK follows a dump's DONE on recent kernels; stop here regardless
                    return replies, interrupted
                replies.append((mtype, payload))

    def _receive(self, sock, what):
        try:
            return sock.recv(1 << 20)
        except socket.timeout:
            within = " within %g s" % self.timeout if self.timeout is not None else ""
            raise NetlinkError(errno.ETIMEDOUT, "no answer from the kernel to %s%s" % (what, within), request=what)
        except OSError as err:
            raise _os_error(err, what)


class GenlFamily(object):
    """A generic netlink family by name, with the operations the running kernel offers.

    ``COMMANDS`` ({number: name}) names the family's commands in errors.
    """

    NAME = None
    COMMANDS = {}

    def __init__(self, netns=None, sock=None, timeout=DEFAULT_TIMEOUT):
        self.sock = sock or NetlinkSocket(NETLINK_GENERIC, netns, timeout=timeout)
        self.family = None
        self.absent = False
        self.ops = {}

    def close(self):
        self.sock.close()

    def describe(self, cmd):
        return "%s %s" % (self.NAME, self.COMMANDS.get(cmd, "command %d" % cmd))

    def resolve(self):
        """Find the family; -> True if the kernel has it, False if it has not.

        Only the kernel's "no such family" (ENOENT) or a kernel without generic netlink means
        False; any other failure (permission, timeout) is raised as NetlinkError.
        """
        if self.family is not None:
            return True
        if self.absent:
            return False
        what = "the lookup of the %s generic netlink family" % self.NAME
        try:
            replies = self.sock.request(GENL_ID_CTRL, struct.pack("=BBH", CTRL_CMD_GETFAMILY, 1, 0)
                                        + nla_str(CTRL_ATTR_FAMILY_NAME, self.NAME), what=what)
        except NetlinkError as err:
            # ENOENT from the kernel's answer, not from opening the socket (a namespace that is gone)
            if (err.errno == errno.ENOENT and err.request == what) or err.kind == "unsupported":
                self.absent = True
                return False
            raise
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
            raise NetlinkError(errno.ENOENT, "this kernel has no %s generic netlink family" % self.NAME,
                               request=self.describe(cmd), kind="unsupported")
        body = struct.pack("=BBH", cmd, version, 0) + b"".join(attrs)
        return [p[4:] for _t, p in self.sock.request(self.family, body, dump=dump, what=self.describe(cmd))]
