# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small generic-netlink client for the kernel's ``ethtool`` family (stdlib only).

Used for what only netlink offers in one call: the RSS_GET *dump* of every RSS
context of a device (kernel 6.12+), CHANNELS_GET, and RSS writes where the kernel
has them (RSS_SET, RSS_CREATE_ACT whose reply carries the new context's id, and
RSS_DELETE_ACT: Linux 6.17+).  Message building and parsing are pure functions
(tested without a kernel); ``EthtoolGenl`` owns the socket.
Whether the running kernel can dump RSS contexts is read from the family's list of
operations (RSS_GET with the dump capability), never guessed from a version number.
"""

from __future__ import annotations

import struct

from ansible_collections.vmnet.netkit.plugins.module_utils.netlink.core import (
    GenlFamily, NetlinkError, attr_map, nla, nla_nest, nla_str, u32)

ETHTOOL_GENL_VERSION = 1
ETHTOOL_MSG_CHANNELS_GET = 17
ETHTOOL_MSG_RSS_GET = 38
ETHTOOL_MSG_RSS_SET = 48
ETHTOOL_MSG_RSS_CREATE_ACT = 49
ETHTOOL_MSG_RSS_DELETE_ACT = 50
ETHTOOL_A_HEADER_DEV_INDEX = 1
ETHTOOL_A_HEADER_DEV_NAME = 2
ETHTOOL_A_CHANNELS_HEADER = 1
ETHTOOL_A_CHANNELS = {"rx_max": 2, "tx_max": 3, "other_max": 4, "combined_max": 5,
                      "rx": 6, "tx": 7, "other": 8, "combined": 9}
ETHTOOL_A_RSS_HEADER = 1
ETHTOOL_A_RSS_CONTEXT = 2
ETHTOOL_A_RSS_HFUNC = 3
ETHTOOL_A_RSS_INDIR = 4
ETHTOOL_A_RSS_HKEY = 5
ETHTOOL_A_RSS_INPUT_XFRM = 6
ETHTOOL_A_RSS_START_CONTEXT = 7


def header_name(payload):
    a = attr_map(payload)
    name = a.get(ETHTOOL_A_HEADER_DEV_NAME)
    return name.split(b"\0")[0].decode() if name else None


def parse_rss_reply(payload):
    """RSS_GET reply attributes -> ``{"device", "context", "table", "hfunc", "key", "input_xfrm"}``, as the
    kernel gives them: ``hfunc`` the hash function bit mask, ``key`` bytes (``None`` when not reported)."""
    a = attr_map(payload)
    indir = a.get(ETHTOOL_A_RSS_INDIR, b"")
    return {
        "device": header_name(a.get(ETHTOOL_A_RSS_HEADER, b"")),
        "context": u32(a[ETHTOOL_A_RSS_CONTEXT]) if ETHTOOL_A_RSS_CONTEXT in a else 0,
        "table": list(struct.unpack("=%dI" % (len(indir) // 4), indir)) if indir else [],
        "hfunc": u32(a[ETHTOOL_A_RSS_HFUNC]) if ETHTOOL_A_RSS_HFUNC in a else None,
        "key": a.get(ETHTOOL_A_RSS_HKEY),
        "input_xfrm": u32(a[ETHTOOL_A_RSS_INPUT_XFRM]) if ETHTOOL_A_RSS_INPUT_XFRM in a else None,
    }


def build_rss_write(device, context=None, table=None, hfunc=None, key=None):
    """Attributes of RSS_SET / RSS_CREATE_ACT / RSS_DELETE_ACT. ``table``: the whole indirection
    table (an empty list resets the default table to the driver's spread); ``hfunc``: the kernel's
    hash function bit; ``key``: bytes."""
    attrs = [nla_nest(ETHTOOL_A_RSS_HEADER, nla_str(ETHTOOL_A_HEADER_DEV_NAME, device))]
    if context:
        attrs.append(nla(ETHTOOL_A_RSS_CONTEXT, struct.pack("=I", context)))
    if hfunc:
        attrs.append(nla(ETHTOOL_A_RSS_HFUNC, struct.pack("=I", hfunc)))
    if table is not None:
        attrs.append(nla(ETHTOOL_A_RSS_INDIR, struct.pack("=%dI" % len(table), *table)))
    if key:
        attrs.append(nla(ETHTOOL_A_RSS_HKEY, bytes(key)))
    return attrs


def parse_channels_reply(payload):
    a = attr_map(payload)
    vals = dict((k, u32(a[v]) if v in a else 0) for k, v in ETHTOOL_A_CHANNELS.items())
    return {"max": {k: vals[k + "_max"] for k in ("rx", "tx", "other", "combined")},
            "current": {k: vals[k] for k in ("rx", "tx", "other", "combined")}}


# ---------------------------------------------------------------- socket

class EthtoolGenl(GenlFamily):
    """Talks to the ``ethtool`` generic netlink family.  Raises OSError/NetlinkError."""

    NAME = "ethtool"
    COMMANDS = {ETHTOOL_MSG_CHANNELS_GET: "CHANNELS_GET", ETHTOOL_MSG_RSS_GET: "RSS_GET",
                ETHTOOL_MSG_RSS_SET: "RSS_SET", ETHTOOL_MSG_RSS_CREATE_ACT: "RSS_CREATE_ACT",
                ETHTOOL_MSG_RSS_DELETE_ACT: "RSS_DELETE_ACT"}

    def rss_dump_supported(self):
        return self.can(ETHTOOL_MSG_RSS_GET, dump=True)

    def rss_contexts(self, device):
        """Every RSS context of ``device`` (including context 0) in one dump (kernel 6.12+)."""
        if not self.rss_dump_supported():
            raise NetlinkError(95, "RSS_GET dump not supported by this kernel")
        replies = self.call(ETHTOOL_MSG_RSS_GET,
                            [nla_nest(ETHTOOL_A_RSS_HEADER, nla_str(ETHTOOL_A_HEADER_DEV_NAME, device))],
                            dump=True, version=ETHTOOL_GENL_VERSION)
        out = []
        for p in replies:
            r = parse_rss_reply(p)
            if r["device"] in (None, device):
                out.append(r)
        return out

    def rss_write_supported(self):
        """RSS_SET, RSS_CREATE_ACT and RSS_DELETE_ACT offered (Linux 6.17+)."""
        return all(self.can(cmd) for cmd in (ETHTOOL_MSG_RSS_SET, ETHTOOL_MSG_RSS_CREATE_ACT,
                                             ETHTOOL_MSG_RSS_DELETE_ACT))

    def rss_set(self, device, context=0, table=None, hfunc=None, key=None):
        self.call(ETHTOOL_MSG_RSS_SET, build_rss_write(device, context, table, hfunc, key),
                  version=ETHTOOL_GENL_VERSION)

    def rss_create(self, device, table=None, hfunc=None, key=None):
        """Create an RSS context; -> the id the kernel gave it (from the reply, nothing parsed from text)."""
        replies = self.call(ETHTOOL_MSG_RSS_CREATE_ACT, build_rss_write(device, None, table, hfunc, key),
                            version=ETHTOOL_GENL_VERSION)
        for payload in replies:
            ctx = parse_rss_reply(payload)["context"]
            if ctx:
                return ctx
        raise NetlinkError(61, "RSS_CREATE_ACT gave no context id")

    def rss_delete(self, device, context):
        self.call(ETHTOOL_MSG_RSS_DELETE_ACT, build_rss_write(device, context), version=ETHTOOL_GENL_VERSION)

    def channels(self, device):
        if not self.can(ETHTOOL_MSG_CHANNELS_GET):
            raise NetlinkError(95, "CHANNELS_GET not supported by this kernel")
        replies = self.call(ETHTOOL_MSG_CHANNELS_GET,
                            [nla_nest(ETHTOOL_A_CHANNELS_HEADER, nla_str(ETHTOOL_A_HEADER_DEV_NAME, device))],
                            version=ETHTOOL_GENL_VERSION)
        if not replies:
            raise NetlinkError(61, "no CHANNELS_GET reply")
        return parse_channels_reply(replies[0])
