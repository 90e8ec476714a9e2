# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""SIOCETHTOOL calls (stdlib only): channels, RX rings, RSS tables, ntuple rules, features.

Reading through the ioctl costs no process, so a run reads every rule and context in
a handful of system calls whatever their number.  ntuple rules have no netlink API:
the ethtool command inserts and deletes them with this ioctl (ETHTOOL_SRXCLSRLINS,
ETHTOOL_SRXCLSRLDEL), and so do the modules, with the flow spec the command builds,
so a rule costs no process and its location comes back in the reply.  The struct
layouts follow ``include/uapi/linux/ethtool.h`` on 64-bit Linux (``struct ethtool_rxnfc``
is 192 bytes, ``struct ethtool_rx_flow_spec`` 168).  Packing and unpacking are pure
functions so they can be tested without a kernel; ``EthtoolIoctl`` does the system calls.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import fcntl
import socket
import struct

from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import (
    FLOW_TYPE_BY_NUMBER,
    FLOW_TYPE_NUMBERS,
    OTHER_FLOW_TYPES,
    hfunc_name,
    ip_from_kernel,
    ip_to_kernel,
    key_from_bytes,
    new_rule,
    rule_action,
)

SIOCETHTOOL = 0x8946

ETHTOOL_GDRVINFO = 0x03
ETHTOOL_GSTRINGS = 0x1b
ETHTOOL_GRXRINGS = 0x2d
ETHTOOL_GRXCLSRLCNT = 0x2e
ETHTOOL_GRXCLSRULE = 0x2f
ETHTOOL_GRXCLSRLALL = 0x30
ETHTOOL_SRXCLSRLDEL = 0x31
ETHTOOL_SRXCLSRLINS = 0x32
ETHTOOL_GSSET_INFO = 0x37
ETHTOOL_GFEATURES = 0x3a
ETHTOOL_GCHANNELS = 0x3c
ETHTOOL_GRSSH = 0x46

ETH_SS_FEATURES = 4
ETH_GSTRING_LEN = 32

FLOW_EXT = 0x80000000
FLOW_MAC_EXT = 0x40000000
FLOW_RSS = 0x20000000
RX_CLS_FLOW_DISC = 0xffffffffffffffff
RX_CLS_FLOW_WAKE = 0xfffffffffffffffe
RX_CLS_LOC_SPECIAL = 0x80000000
RX_CLS_LOC_ANY = 0xffffffff
ETH_RX_NFC_IP4 = 1

# struct ethtool_channels: cmd + 8 counts
CHANNELS_FMT = "=9I"
CHANNELS_SIZE = struct.calcsize(CHANNELS_FMT)  # 36

# struct ethtool_rx_flow_spec (168 bytes) inside struct ethtool_rxnfc (192 bytes)
FLOW_SPEC_SIZE = 168
RXNFC_SIZE = 192
RXNFC_FS_OFFSET = 16
RXNFC_RSS_CONTEXT_OFFSET = 184   # union { rule_cnt; rss_context; }
RXNFC_RULE_LOCS_OFFSET = 188
FS_H_U = 4
FS_H_EXT = 56
FS_M_U = 76
FS_M_EXT = 128
FS_RING_COOKIE = 152
FS_LOCATION = 160
FLOW_UNION_SIZE = 52
FLOW_EXT_SIZE = 20

# struct ethtool_rxfh header: cmd, rss_context, indir_size, key_size, hfunc, input_xfrm, rsvd8[2], rsvd32
RXFH_HDR_FMT = "=IIIIBB2xI"
RXFH_HDR_SIZE = struct.calcsize(RXFH_HDR_FMT)  # 24

# struct ethtool_drvinfo
DRVINFO_SIZE = 196


# ---------------------------------------------------------------- pure packing

def pack_channels():
    return struct.pack(CHANNELS_FMT, ETHTOOL_GCHANNELS, 0, 0, 0, 0, 0, 0, 0, 0)


def unpack_channels(buf):
    v = struct.unpack(CHANNELS_FMT, bytes(buf[:CHANNELS_SIZE]))
    return {
        "max": {"rx": v[1], "tx": v[2], "other": v[3], "combined": v[4]},
        "current": {"rx": v[5], "tx": v[6], "other": v[7], "combined": v[8]},
    }


def pack_rxnfc(cmd, rule_cnt=0, location=0, extra_locs=0):
    buf = bytearray(RXNFC_SIZE + 4 * extra_locs)
    struct.pack_into("=I", buf, 0, cmd)
    struct.pack_into("=I", buf, RXNFC_FS_OFFSET + FS_LOCATION, location)
    struct.pack_into("=I", buf, RXNFC_RSS_CONTEXT_OFFSET, rule_cnt)
    return buf


def unpack_rxnfc_head(buf):
    """-> (cmd, flow_type, data, rule_cnt_or_rss_context)."""
    cmd, flow_type, data = struct.unpack_from("=IIQ", bytes(buf), 0)
    cnt = struct.unpack_from("=I", bytes(buf), RXNFC_RSS_CONTEXT_OFFSET)[0]
    return cmd, flow_type, data, cnt


def unpack_rule_locs(buf, count):
    return list(struct.unpack_from("=%dI" % count, bytes(buf), RXNFC_RULE_LOCS_OFFSET)) if count else []


def _port(b):
    return struct.unpack("!H", bytes(b))[0]


def decode_flow_spec(fs, rss_context):
    """``struct ethtool_rx_flow_spec`` bytes (+ rxnfc.rss_context) -> canonical rule dict."""
    fs = bytes(fs)
    flow_type_raw = struct.unpack_from("=I", fs, 0)[0]
    h = fs[FS_H_U:FS_H_U + FLOW_UNION_SIZE]
    m = fs[FS_M_U:FS_M_U + FLOW_UNION_SIZE]
    hx = fs[FS_H_EXT:FS_H_EXT + FLOW_EXT_SIZE]
    mx = fs[FS_M_EXT:FS_M_EXT + FLOW_EXT_SIZE]
    ring_cookie = struct.unpack_from("=Q", fs, FS_RING_COOKIE)[0]
    location = struct.unpack_from("=I", fs, FS_LOCATION)[0]
    base = flow_type_raw & ~(FLOW_EXT | FLOW_MAC_EXT | FLOW_RSS)
    extras = []
    ft = FLOW_TYPE_BY_NUMBER.get(base)
    rule = new_rule(ft or "other", loc=location)
    if ft is None:
        extras.append("flow type %s" % OTHER_FLOW_TYPES.get(base, "0x%x" % base))
    elif ft in ("tcp4", "udp4", "sctp4", "ip4"):
        rule["src_ip"] = ip_from_kernel(h[0:4], m[0:4])
        rule["dst_ip"] = ip_from_kernel(h[4:8], m[4:8])
        if ft == "ip4":
            # usr_ip4_spec: ip4src, ip4dst, l4_4_bytes, tos, ip_ver, proto
            if any(m[8:12]):
                extras.append("l4 bytes 0x%s" % h[8:12].hex())
            if m[12]:
                extras.append("tos 0x%x" % h[12])
            if m[14]:
                extras.append("l4proto %d" % h[14])
        else:
            # tcpip4_spec: ip4src, ip4dst, psrc, pdst, tos
            rule["src_port"] = _port_match(h[8:10], m[8:10], extras, "src_port")
            rule["dst_port"] = _port_match(h[10:12], m[10:12], extras, "dst_port")
            if m[12]:
                extras.append("tos 0x%x" % h[12])
    else:
        rule["src_ip"] = ip_from_kernel(h[0:16], m[0:16])
        rule["dst_ip"] = ip_from_kernel(h[16:32], m[16:32])
        if ft == "ip6":
            # usr_ip6_spec: ip6src[4], ip6dst[4], l4_4_bytes, tclass, l4_proto
            if any(m[32:36]):
                extras.append("l4 bytes 0x%s" % h[32:36].hex())
            if m[36]:
                extras.append("tclass 0x%x" % h[36])
            if m[37]:
                extras.append("l4proto %d" % h[37])
        else:
            rule["src_port"] = _port_match(h[32:34], m[32:34], extras, "src_port")
            rule["dst_port"] = _port_match(h[34:36], m[34:36], extras, "dst_port")
            if m[36]:
                extras.append("tclass 0x%x" % h[36])
    if flow_type_raw & FLOW_EXT:
        # struct ethtool_flow_ext: padding[2], h_dest[6], vlan_etype, vlan_tci, data[2]
        if any(mx[8:10]):
            extras.append("vlan-etype 0x%s" % hx[8:10].hex())
        if any(mx[10:12]):
            extras.append("vlan 0x%s" % hx[10:12].hex())
        if any(mx[12:20]):
            extras.append("user-def 0x%s" % hx[12:20].hex())
    if flow_type_raw & FLOW_MAC_EXT:
        if any(mx[2:8]):
            extras.append("dst-mac %s" % ":".join("%02x" % b for b in hx[2:8]))
    if ring_cookie == RX_CLS_FLOW_DISC:
        rule["drop"] = True
    elif ring_cookie == RX_CLS_FLOW_WAKE:
        extras.append("action wake-on-lan")
    else:
        vf = (ring_cookie >> 32) & 0xff
        queue = ring_cookie & 0xffffffff
        if vf:
            extras.append("action vf %d queue %d" % (vf - 1, queue))
        if flow_type_raw & FLOW_RSS:
            rule["context"] = rss_context
            rule["queue"] = queue or None
        else:
            rule["queue"] = queue
    if extras:
        rule["extra"] = ", ".join(extras)
    return rule


def _port_match(hv, mv, extras, name):
    mask = _port(mv)
    if mask == 0:
        return None
    if mask != 0xffff:
        extras.append("%s mask 0x%x" % (name, mask))
    return _port(hv)


def encode_flow_spec(rule):
    """Canonical rule -> ``struct ethtool_rx_flow_spec`` bytes, as ``ethtool -N`` builds it
    (``rxclass_parse_ruleopts``): the given fields with full masks (an address prefix as its
    netmask), ``ip_ver`` for ip4, ``FLOW_RSS`` for a rule to a context, the ring cookie, and
    the rule's location or ``RX_CLS_LOC_ANY``."""
    fs = bytearray(FLOW_SPEC_SIZE)
    ft = rule["flow_type"]
    raw = FLOW_TYPE_NUMBERS[ft]
    if rule_action(rule)[0] == "context":
        raw |= FLOW_RSS
    struct.pack_into("=I", fs, 0, raw)
    fam = 6 if ft.endswith("6") else 4
    size = 4 if fam == 4 else 16
    sv, sm = ip_to_kernel(rule.get("src_ip"), fam)
    dv, dm = ip_to_kernel(rule.get("dst_ip"), fam)
    fs[FS_H_U:FS_H_U + size] = sv
    fs[FS_M_U:FS_M_U + size] = sm
    fs[FS_H_U + size:FS_H_U + 2 * size] = dv
    fs[FS_M_U + size:FS_M_U + 2 * size] = dm
    p = FS_H_U + 2 * size
    pm = FS_M_U + 2 * size
    if ft in ("ip4",):
        fs[FS_H_U + 13] = ETH_RX_NFC_IP4
    elif ft != "ip6":
        for i, key in enumerate(("src_port", "dst_port")):
            if rule.get(key) is not None:
                struct.pack_into("!H", fs, p + 2 * i, rule[key])
                struct.pack_into("!H", fs, pm + 2 * i, 0xffff)
    if rule.get("drop"):
        cookie = RX_CLS_FLOW_DISC
    else:
        cookie = rule.get("queue") or 0
    struct.pack_into("=Q", fs, FS_RING_COOKIE, cookie)
    struct.pack_into("=I", fs, FS_LOCATION, RX_CLS_LOC_ANY if rule.get("loc") is None else rule["loc"])
    return bytes(fs)


def pack_rule_insert(rule):
    """``struct ethtool_rxnfc`` for ETHTOOL_SRXCLSRLINS: the flow spec and, for a rule to a context,
    the context id."""
    buf = bytearray(RXNFC_SIZE)
    struct.pack_into("=I", buf, 0, ETHTOOL_SRXCLSRLINS)
    buf[RXNFC_FS_OFFSET:RXNFC_FS_OFFSET + FLOW_SPEC_SIZE] = encode_flow_spec(rule)
    if rule_action(rule)[0] == "context":
        struct.pack_into("=I", buf, RXNFC_RSS_CONTEXT_OFFSET, int(rule["context"]))
    return buf


def free_rule_location(taken, table_size):
    """The location ethtool's rule manager gives a rule when the driver leaves the choice to it
    (``rmgr_find_empty_slot``): the highest free one, the lowest priority; None when all are taken."""
    taken = set(taken)
    for loc in range(table_size - 1, -1, -1):
        if loc not in taken:
            return loc
    return None


def pack_rxfh(rss_context=0, indir_size=0, key_size=0):
    buf = bytearray(RXFH_HDR_SIZE + 4 * indir_size + key_size)
    struct.pack_into(RXFH_HDR_FMT, buf, 0, ETHTOOL_GRSSH, rss_context, indir_size, key_size, 0, 0, 0)
    return buf


def unpack_rxfh(buf):
    cmd, ctx, indir_size, key_size, hfunc, xfrm, _r = struct.unpack_from(RXFH_HDR_FMT, bytes(buf), 0)
    body = bytes(buf[RXFH_HDR_SIZE:])
    table = list(struct.unpack_from("=%dI" % indir_size, body, 0)) if indir_size and len(body) >= 4 * indir_size else []
    key = body[4 * indir_size:4 * indir_size + key_size] if key_size and len(body) >= 4 * indir_size + key_size else b""
    return {
        "context": ctx, "indir_size": indir_size, "key_size": key_size,
        "hfunc": hfunc_name(hfunc), "input_xfrm": xfrm,
        "table": table, "key": key_from_bytes(key),
    }


def unpack_drvinfo(buf):
    raw = bytes(buf)
    return {"driver": raw[4:36].split(b"\0")[0].decode("ascii", "replace"),
            "version": raw[36:68].split(b"\0")[0].decode("ascii", "replace"),
            "bus_info": raw[132:164].split(b"\0")[0].decode("ascii", "replace")}


def feature_state(strings, blocks, name):
    """From GSTRINGS(features) + GFEATURES blocks: ``{"active", "fixed"}`` of feature ``name``."""
    if name not in strings:
        return None
    i = strings.index(name)
    avail, req, active, never = blocks[i // 32]
    bit = 1 << (i % 32)
    return {"active": bool(active & bit), "fixed": (not (avail & bit)) or bool(never & bit),
            "requested": bool(req & bit)}


# ---------------------------------------------------------------- system calls

class EthtoolIoctl(object):
    """Does SIOCETHTOOL calls on one socket.  Raises OSError with the kernel's errno."""

    def __init__(self):
        self._sock = None

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _socket(self):
        if self._sock is None:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        return self._sock

    def call(self, device, buf):
        """Run one ioctl; ``buf`` (bytearray) is updated in place and returned."""
        name = device.encode("ascii")
        if len(name) >= 16:
            raise OSError(errno_mod.ENODEV, "interface name too long: %s" % device)
        cbuf = ctypes.create_string_buffer(bytes(buf), len(buf))
        ifr = struct.pack("16sP", name, ctypes.addressof(cbuf))
        ifr += b"\0" * (40 - len(ifr))
        fcntl.ioctl(self._socket().fileno(), SIOCETHTOOL, ifr)
        buf[:] = cbuf.raw[:len(buf)]
        return buf

    # --- readers
    def drvinfo(self, device):
        buf = bytearray(DRVINFO_SIZE)
        struct.pack_into("=I", buf, 0, ETHTOOL_GDRVINFO)
        return unpack_drvinfo(self.call(device, buf))

    def channels(self, device):
        return unpack_channels(self.call(device, bytearray(pack_channels())))

    def rx_rings(self, device):
        buf = self.call(device, pack_rxnfc(ETHTOOL_GRXRINGS))
        return unpack_rxnfc_head(buf)[2]

    def rule_count(self, device):
        """-> (count, driver_picks_location)."""
        buf = self.call(device, pack_rxnfc(ETHTOOL_GRXCLSRLCNT))
        _c, _f, data, cnt = unpack_rxnfc_head(buf)
        return cnt, bool(data & RX_CLS_LOC_SPECIAL)

    def rule_locations(self, device, count):
        """-> (locations, table size)."""
        buf = self.call(device, pack_rxnfc(ETHTOOL_GRXCLSRLALL, rule_cnt=count, extra_locs=count))
        _c, _f, data, cnt = unpack_rxnfc_head(buf)
        return unpack_rule_locs(buf, min(cnt, count)), data

    def rule(self, device, location):
        buf = self.call(device, pack_rxnfc(ETHTOOL_GRXCLSRULE, location=location))
        fs = buf[RXNFC_FS_OFFSET:RXNFC_FS_OFFSET + FLOW_SPEC_SIZE]
        ctx = struct.unpack_from("=I", bytes(buf), RXNFC_RSS_CONTEXT_OFFSET)[0]
        return decode_flow_spec(fs, ctx)

    def rules(self, device):
        """Every rule: GRXCLSRLCNT + GRXCLSRLALL + one GRXCLSRULE per rule (no process)."""
        count, special = self.rule_count(device)
        locs, size = self.rule_locations(device, count) if count else (None, None)
        if locs is None:
            # table size is only reported by GRXCLSRLALL; ask with no room for locations
            _l, size = self.rule_locations(device, 0)
            locs = []
        return {"rules": [self.rule(device, loc) for loc in locs], "table_size": size,
                "driver_picks_location": special}

    # --- writers
    def rule_insert(self, device, rule):
        """Insert ``rule`` at its location (or the driver's pick when it has none: ``RX_CLS_LOC_ANY``)
        -> the location the kernel reports back."""
        buf = self.call(device, pack_rule_insert(rule))
        return struct.unpack_from("=I", bytes(buf), RXNFC_FS_OFFSET + FS_LOCATION)[0]

    def rule_delete(self, device, location):
        self.call(device, pack_rxnfc(ETHTOOL_SRXCLSRLDEL, location=location))

    def rxfh(self, device, context=0):
        head = self.call(device, pack_rxfh(context))
        sizes = unpack_rxfh(head)
        buf = self.call(device, pack_rxfh(context, sizes["indir_size"], sizes["key_size"]))
        res = unpack_rxfh(buf)
        res["context"] = context
        return res

    def strings(self, device, string_set):
        buf = bytearray(16 + 4)
        struct.pack_into("=IIQ", buf, 0, ETHTOOL_GSSET_INFO, 0, 1 << string_set)
        self.call(device, buf)
        mask = struct.unpack_from("=Q", bytes(buf), 8)[0]
        if not mask & (1 << string_set):
            return []
        count = struct.unpack_from("=I", bytes(buf), 16)[0]
        sbuf = bytearray(12 + ETH_GSTRING_LEN * count)
        struct.pack_into("=III", sbuf, 0, ETHTOOL_GSTRINGS, string_set, count)
        self.call(device, sbuf)
        out = []
        for i in range(count):
            raw = bytes(sbuf[12 + i * ETH_GSTRING_LEN:12 + (i + 1) * ETH_GSTRING_LEN])
            out.append(raw.split(b"\0")[0].decode("ascii", "replace"))
        return out

    def feature(self, device, name):
        """Kernel feature (e.g. ``rx-ntuple-filter``) -> ``{"active", "fixed", "requested"}``."""
        strings = self.strings(device, ETH_SS_FEATURES)
        nblocks = (len(strings) + 31) // 32
        buf = bytearray(8 + 16 * nblocks)
        struct.pack_into("=II", buf, 0, ETHTOOL_GFEATURES, nblocks)
        self.call(device, buf)
        blocks = [struct.unpack_from("=4I", bytes(buf), 8 + 16 * i) for i in range(nblocks)]
        return feature_state(strings, blocks, name)
