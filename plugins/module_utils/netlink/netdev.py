# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kernel's ``netdev`` generic netlink family: dev-get (XDP features), queue-get and
queue-create (leases).

Linux 7.1 lets a virtual device (a netkit device in single mode, or a pair's peer)
take over ("lease") receive queues of a physical NIC with ``queue-create``; the
lease ends only when the virtual device is deleted.  ``queue-get`` reports a lease
from both sides.  Whether the kernel has leasing is read from the family's list of
operations (``queue-create`` present), never from a version number.  What a NIC
offers AF_XDP (``xsk-zerocopy`` among its ``xdp-features``) is read with dev-get.
"""

from __future__ import annotations

import struct

from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import core as nl

NETDEV_CMD_DEV_GET = 1
NETDEV_CMD_QUEUE_GET = 10
NETDEV_CMD_QUEUE_CREATE = 16

NETDEV_A_DEV_IFINDEX = 1
NETDEV_A_DEV_XDP_FEATURES = 3
# enum netdev_xdp_act (include/uapi/linux/netdev.h), named as the netdev spec and ynl name them
XDP_FEATURES = ((1, "basic"), (2, "redirect"), (4, "ndo-xmit"), (8, "xsk-zerocopy"), (16, "hw-offload"),
                (32, "rx-sg"), (64, "ndo-xmit-sg"))

NETDEV_A_QUEUE_ID = 1
NETDEV_A_QUEUE_IFINDEX = 2
NETDEV_A_QUEUE_TYPE = 3
NETDEV_A_QUEUE_NAPI_ID = 4
NETDEV_A_QUEUE_DMABUF = 5
NETDEV_A_QUEUE_IO_URING = 6
NETDEV_A_QUEUE_XSK = 7
NETDEV_A_QUEUE_LEASE = 8
NETDEV_A_LEASE_IFINDEX = 1
NETDEV_A_LEASE_QUEUE = 2
NETDEV_A_LEASE_NETNS_ID = 3
QUEUE_TYPES = {0: "rx", 1: "tx"}
QUEUE_TYPE_RX = 0


def build_queue_create(ifindex, lease_ifindex, lease_queue, lease_netns_id=None):
    """Attributes of a queue-create request leasing rx queue ``lease_queue`` of ``lease_ifindex``."""
    lease = [nl.nla_u32(NETDEV_A_LEASE_IFINDEX, lease_ifindex),
             nl.nla_nest(NETDEV_A_LEASE_QUEUE, nl.nla_u32(NETDEV_A_QUEUE_ID, lease_queue),
                         nl.nla_u32(NETDEV_A_QUEUE_TYPE, QUEUE_TYPE_RX))]
    if lease_netns_id is not None:
        lease.append(nl.nla_s32(NETDEV_A_LEASE_NETNS_ID, lease_netns_id))
    return [nl.nla_u32(NETDEV_A_QUEUE_IFINDEX, ifindex),
            nl.nla_u32(NETDEV_A_QUEUE_TYPE, QUEUE_TYPE_RX),
            nl.nla_nest(NETDEV_A_QUEUE_LEASE, *lease)]


def parse_queue(payload):
    """A queue-get reply -> {ifindex, id, type, napi_id, xsk, lease: {ifindex, queue, netns_id} | None}."""
    a = nl.attr_map(payload)
    queue = {
        "ifindex": nl.u32(a[NETDEV_A_QUEUE_IFINDEX]) if NETDEV_A_QUEUE_IFINDEX in a else None,
        "id": nl.u32(a[NETDEV_A_QUEUE_ID]) if NETDEV_A_QUEUE_ID in a else None,
        "type": QUEUE_TYPES.get(nl.u32(a[NETDEV_A_QUEUE_TYPE])) if NETDEV_A_QUEUE_TYPE in a else None,
        "napi_id": nl.u32(a[NETDEV_A_QUEUE_NAPI_ID]) if NETDEV_A_QUEUE_NAPI_ID in a else None,
        "xsk": NETDEV_A_QUEUE_XSK in a,
        "lease": None,
    }
    if NETDEV_A_QUEUE_LEASE in a:
        la = nl.attr_map(a[NETDEV_A_QUEUE_LEASE])
        q = nl.attr_map(la.get(NETDEV_A_LEASE_QUEUE, b""))
        queue["lease"] = {
            "ifindex": nl.u32(la[NETDEV_A_LEASE_IFINDEX]) if NETDEV_A_LEASE_IFINDEX in la else None,
            "queue": nl.u32(q[NETDEV_A_QUEUE_ID]) if NETDEV_A_QUEUE_ID in q else None,
            "netns_id": nl.s32(la[NETDEV_A_LEASE_NETNS_ID]) if NETDEV_A_LEASE_NETNS_ID in la else None,
        }
    return queue


def parse_xdp_features(payload):
    """A dev-get reply -> the names of the device's XDP features, in the kernel's bit order."""
    a = nl.attr_map(payload)
    raw = a.get(NETDEV_A_DEV_XDP_FEATURES, b"")
    bits = struct.unpack("=Q", raw)[0] if len(raw) == 8 else 0
    return [name for bit, name in XDP_FEATURES if bits & bit]


def parse_queue_create_reply(payload):
    a = nl.attr_map(payload)
    return nl.u32(a[NETDEV_A_QUEUE_ID])


class NetdevGenl(nl.GenlFamily):
    """queue-get / queue-create in one network namespace."""

    NAME = "netdev"
    COMMANDS = {NETDEV_CMD_DEV_GET: "dev-get", NETDEV_CMD_QUEUE_GET: "queue-get",
                NETDEV_CMD_QUEUE_CREATE: "queue-create"}

    def leasing_supported(self):
        return self.can(NETDEV_CMD_QUEUE_CREATE)

    def xdp_features(self, ifindex):
        """The XDP features of ``ifindex`` (names as XDP_FEATURES), or None where the kernel has no
        dev-get (before Linux 6.3)."""
        if not self.can(NETDEV_CMD_DEV_GET):
            return None
        replies = self.call(NETDEV_CMD_DEV_GET, [nl.nla_u32(NETDEV_A_DEV_IFINDEX, ifindex)])
        return parse_xdp_features(replies[0]) if replies else None

    def queues(self, ifindex):
        """Every queue of ``ifindex`` (rx and tx) with its lease, in one dump."""
        if not self.can(NETDEV_CMD_QUEUE_GET, dump=True):
            raise nl.NetlinkError(95, "queue-get is not offered by this kernel (Linux 6.8+)")
        replies = self.call(NETDEV_CMD_QUEUE_GET, [nl.nla_u32(NETDEV_A_QUEUE_IFINDEX, ifindex)], dump=True)
        return [q for q in (parse_queue(p) for p in replies) if q["ifindex"] == ifindex]

    def rx_leases(self, ifindex):
        """{rx queue id: its lease ({"ifindex", "queue", "netns_id"})} for the leased rx queues of ``ifindex``."""
        return dict((q["id"], q["lease"]) for q in self.queues(ifindex) if q["type"] == "rx" and q["lease"])

    def queue_create(self, ifindex, lease_ifindex, lease_queue, lease_netns_id=None):
        """Lease rx queue ``lease_queue`` of ``lease_ifindex`` to ``ifindex``; -> the new queue's id."""
        replies = self.call(NETDEV_CMD_QUEUE_CREATE,
                            build_queue_create(ifindex, lease_ifindex, lease_queue, lease_netns_id))
        if not replies:
            raise nl.NetlinkError(61, "queue-create gave no reply")
        return parse_queue_create_reply(replies[0])
