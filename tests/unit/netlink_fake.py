# SPDX-License-Identifier: GPL-3.0-or-later
"""A fake netlink socket for NetlinkSocket(sock=...): a kernel that answers from a script.

``answer(msg_type, flags, seq, body)`` returns the datagrams (bytes) the kernel sends back for one
request; a request answered with nothing makes ``recv`` time out as a silent kernel would.  The
helpers build the kernel's messages: data replies, NLMSG_DONE (with an error and extack text if
asked) and NLMSG_ERROR (an ACK or a refusal, with the request's header as a capped ACK carries).
"""

from __future__ import annotations

import socket
import struct

from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import core as nl


def message(msg_type, seq, payload, flags=nl.NLM_F_MULTI):
    """One message; the next one in the datagram starts at a 4-byte boundary (NLMSG_ALIGN)."""
    pad = b"\0" * (-len(payload) % 4)
    return struct.pack("=IHHII", 16 + len(payload), msg_type, flags, seq, 0) + payload + pad


def done(seq, err=0, extack=None, flags=nl.NLM_F_MULTI):
    payload = struct.pack("=i", -err)
    if extack:
        flags |= nl.NLM_F_ACK_TLVS
        payload += nl.nla_str(nl.NLMSGERR_ATTR_MSG, extack)
    return message(nl.NLMSG_DONE, seq, payload, flags)


def error(seq, err, request=b"\0" * 16, extack=None):
    """NLMSG_ERROR answering ``request`` (its first 16 bytes: a capped ACK); err 0 is an ACK."""
    flags = nl.NLM_F_CAPPED
    payload = struct.pack("=i", -err) + request[:16]
    if extack:
        flags |= nl.NLM_F_ACK_TLVS
        payload += nl.nla_str(nl.NLMSGERR_ATTR_MSG, extack)
    return message(nl.NLMSG_ERROR, seq, payload, flags)


class FakeSocket(object):
    """Records what is sent; ``recv`` hands out what ``answer`` gave, one datagram at a time."""

    def __init__(self, answer):
        self.answer = answer
        self.sent = []          # (type, flags, seq, body) of every request
        self.timeouts = []      # every settimeout() value
        self.queue = []
        self.closed = False

    def settimeout(self, value):
        self.timeouts.append(value)

    def send(self, data):
        (mtype, flags, seq, body), = nl.parse_messages(data)
        self.sent.append((mtype, flags, seq, body))
        self.queue.extend(self.answer(mtype, flags, seq, body))
        return len(data)

    def recv(self, _size):
        if not self.queue:
            raise socket.timeout("timed out")
        return self.queue.pop(0)

    def close(self):
        self.closed = True


def fake_socket(answer, protocol=nl.NETLINK_GENERIC, timeout=nl.DEFAULT_TIMEOUT):
    """-> (NetlinkSocket on a FakeSocket, the FakeSocket)."""
    fake = FakeSocket(answer)
    return nl.NetlinkSocket(protocol, timeout=timeout, sock=fake), fake


def genl_family_answer(name, family_id, ops, then=None):
    """An ``answer`` for a generic netlink family lookup of ``name`` ({op id: flags}); requests to
    ``family_id`` go to ``then(msg_type, flags, seq, body)``."""
    def answer(mtype, flags, seq, body):
        if mtype == nl.GENL_ID_CTRL:
            asked = nl.asciiz(nl.attr_map(body[4:])[nl.CTRL_ATTR_FAMILY_NAME])
            if asked != name:
                return [error(seq, 2)]
            op_list = [nl.nla_nest(i + 1, nl.nla_u32(nl.CTRL_ATTR_OP_ID, op), nl.nla_u32(nl.CTRL_ATTR_OP_FLAGS, f))
                       for i, (op, f) in enumerate(sorted(ops.items()))]
            payload = struct.pack("=BBH", 1, 2, 0) + nl.nla(nl.CTRL_ATTR_FAMILY_ID, struct.pack("=H", family_id)) + \
                nl.nla_str(nl.CTRL_ATTR_FAMILY_NAME, name) + nl.nla_nest(nl.CTRL_ATTR_OPS, *op_list)
            return [message(nl.GENL_ID_CTRL, seq, payload, 0) + error(seq, 0)]
        return then(mtype, flags, seq, body)
    return answer
