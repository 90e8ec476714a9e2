# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Canonical forms of NIC slicing state: channels, RSS tables, contexts, ntuple rules.

Everything here is pure.  The kernel readers (ioctl, netlink, ethtool text) and the
user's options are both turned into these forms, so that equal things compare equal:
IP matches become ``address`` or ``network/prefix`` strings, masks are kernel masks
(a set bit compares), tables are lists of queue numbers computed exactly the way
ethtool computes them.
"""

from __future__ import annotations

import ipaddress
import re

CHANNEL_KINDS = ("combined", "rx", "tx", "other")

# Names of the bits in the kernel's hfunc bitmask (ETH_SS_RSS_HASH_FUNCS order).
HFUNC_NAMES = ("toeplitz", "xor", "crc32")

FLOW_TYPES = ("ip4", "ip6", "tcp4", "udp4", "sctp4", "tcp6", "udp6", "sctp6")
L4_FLOW_TYPES = ("tcp4", "udp4", "sctp4", "tcp6", "udp6", "sctp6")
IPV6_FLOW_TYPES = ("ip6", "tcp6", "udp6", "sctp6")

# Kernel flow type numbers (include/uapi/linux/ethtool.h).
FLOW_TYPE_NUMBERS = {
    "tcp4": 0x01, "udp4": 0x02, "sctp4": 0x03,
    "tcp6": 0x05, "udp6": 0x06, "sctp6": 0x07,
    "ip4": 0x0d, "ip6": 0x0e,
}
FLOW_TYPE_BY_NUMBER = dict((v, k) for k, v in FLOW_TYPE_NUMBERS.items())
OTHER_FLOW_TYPES = {
    0x04: "ah_esp4", 0x08: "ah_esp6", 0x09: "ah4", 0x0a: "esp4", 0x0b: "ah6",
    0x0c: "esp6", 0x10: "ipv4", 0x11: "ipv6", 0x12: "ether",
}

RULE_MATCH_KEYS = ("flow_type", "src_ip", "dst_ip", "src_port", "dst_port")

_HEX_KEY = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})*$")


# ---------------------------------------------------------------- tables

def equal_table(size, start, equal):
    """The table ``ethtool -X ... start S equal N`` writes into a table of ``size`` entries."""
    return [start + (i % equal) for i in range(size)]


def weight_table(size, start, weights):
    """The table ``ethtool -X ... start S weight W0 W1 ...`` writes (ethtool's fill_indir_table)."""
    total = sum(weights)
    if total <= 0:
        raise ValueError("at least one weight must be non-zero")
    if total > size:
        raise ValueError("total weight %d exceeds the indirection table size %d" % (total, size))
    table = []
    j = -1
    partial = 0
    for i in range(size):
        while i >= (size * partial) // total:
            j += 1
            partial += weights[j]
        table.append(start + j)
    return table


def default_table(size, rings):
    """The spread a driver uses when nobody configured the table (ethtool_rxfh_indir_default)."""
    if not rings:
        return []
    return [i % rings for i in range(size)]


def spec_table(spec, size):
    """Table for a wanted spec dict (``start`` + ``equal`` or ``weights``) at ``size`` entries."""
    start = spec.get("start") or 0
    if spec.get("weights"):
        return weight_table(size, start, list(spec["weights"]))
    return equal_table(size, start, spec["equal"])


def spec_queues(spec):
    """Queues a spec may use (independent of the table size)."""
    start = spec.get("start") or 0
    if spec.get("weights"):
        return set(start + i for i, w in enumerate(spec["weights"]) if w)
    return set(range(start, start + spec["equal"]))


def spec_text(spec):
    """Short human text of a spec, the way ethtool's options read."""
    if spec is None:
        return "unset"
    if spec.get("reset"):
        return "default"
    start = spec.get("start") or 0
    if spec.get("weights"):
        text = "start %d weight %s" % (start, " ".join(str(w) for w in spec["weights"]))
    else:
        text = "start %d equal %d" % (start, spec["equal"])
    if spec.get("hfunc"):
        text += " hfunc %s" % spec["hfunc"]
    if spec.get("key"):
        text += " hkey %s" % spec["key"]
    return text


def queue_ranges(queues):
    """``{0,1,2,5}`` -> ``"0-2,5"``."""
    items = sorted(set(queues))
    out = []
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        out.append(str(items[i]) if i == j else "%d-%d" % (items[i], items[j]))
        i = j + 1
    return ",".join(out)


def hfunc_name(mask):
    """Kernel hfunc bitmask -> name (``None`` when 0 = not reported)."""
    if not mask:
        return None
    for bit, name in enumerate(HFUNC_NAMES):
        if mask == (1 << bit):
            return name
    return "hfunc-0x%x" % mask


def hfunc_mask(name):
    return 1 << HFUNC_NAMES.index(name)


def normalize_key(key):
    """``AA:bb:..`` -> ``aa:bb:..``; validates the format."""
    if key is None:
        return None
    key = key.strip()
    if not _HEX_KEY.match(key):
        raise ValueError("expected colon-separated hex bytes such as 6d:5a:56:da")
    return key.lower()


def key_from_bytes(data):
    if not data:
        return None
    return ":".join("%02x" % b for b in bytearray(data))


def key_len(key):
    return len(key.split(":")) if key else 0


def table_matches_spec(table, spec, hfunc=None, key=None):
    """Does a context read back from the kernel (``table``, ``hfunc``, ``key``) match ``spec``?"""
    if not table:
        return False
    try:
        expected = spec_table(spec, len(table))
    except (ValueError, KeyError, TypeError):
        return False
    if list(table) != expected:
        return False
    if spec.get("hfunc") and hfunc and spec["hfunc"] != hfunc:
        return False
    if spec.get("key") and key and normalize_key(spec["key"]) != key:
        return False
    return True


# ---------------------------------------------------------------- rules

def canonical_ip(value, family, option="ip"):
    """User ``10.0.0.2`` / ``10.0.0.0/24`` -> canonical string; raises ValueError with the reason."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError("%r is not an IP address or prefix" % text)
        raise ValueError("%r has host bits set; the prefix is %s" % (text, loose))
    if net.version != family:
        raise ValueError("%r is an IPv%d value but the flow type needs IPv%d" % (text, net.version, family))
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    if net.prefixlen == 0:
        return None
    return str(net)


def ip_from_kernel(value_bytes, mask_bytes):
    """Kernel value + mask (a set bit compares) -> canonical string, ``None`` for any."""
    mask = int.from_bytes(bytes(mask_bytes), "big")
    if mask == 0:
        return None
    bits = len(mask_bytes) * 8
    value = int.from_bytes(bytes(value_bytes), "big") & mask
    cls = ipaddress.IPv4Address if bits == 32 else ipaddress.IPv6Address
    addr = cls(value)
    full = (1 << bits) - 1
    inv = full ^ mask
    if (inv & (inv + 1)) == 0:  # contiguous prefix
        plen = bits - inv.bit_length()
        if plen == bits:
            return str(addr)
        return "%s/%d" % (addr, plen)
    return "%s/%s" % (addr, cls(mask))


def ip_to_kernel(value, family):
    """Canonical string -> (value bytes, mask bytes) with kernel masks."""
    size = 4 if family == 4 else 16
    if value is None:
        return bytes(size), bytes(size)
    if "/" in value and ("." in value.split("/")[1] or ":" in value.split("/")[1]):
        addr, mask = value.split("/")
        return (ipaddress.ip_address(addr).packed, ipaddress.ip_address(mask).packed)
    net = ipaddress.ip_network(value, strict=False)
    return net.network_address.packed, net.netmask.packed


def ip_user_mask(value, family):
    """Canonical string -> (address, ethtool's inverted mask) for ``ethtool -N ... m MASK``."""
    net = ipaddress.ip_network(value, strict=False)
    full = (1 << (32 if family == 4 else 128)) - 1
    inv = full ^ int(net.netmask)
    cls = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    return str(net.network_address), str(cls(inv))


def flow_family(flow_type):
    return 6 if flow_type in IPV6_FLOW_TYPES else 4


def rule_match(rule):
    """The identity of a rule: its match, never its location."""
    return tuple(rule.get(k) for k in RULE_MATCH_KEYS) + (rule.get("extra"),)


def rule_action(rule):
    if rule.get("drop"):
        return ("drop",)
    if rule.get("context") is not None:
        return ("context", rule["context"], rule.get("queue") or 0)
    return ("queue", rule.get("queue"))


def rule_text(rule, names=None):
    """One-line description, e.g. ``tcp4 dst_ip 10.0.0.2 dst_port 80 -> context 1 (vm1) [loc 1023]``."""
    parts = [rule.get("flow_type") or "?"]
    for k in ("src_ip", "dst_ip", "src_port", "dst_port"):
        if rule.get(k) is not None:
            parts.append("%s %s" % (k, rule[k]))
    if rule.get("extra"):
        parts.append("(%s)" % rule["extra"])
    if rule.get("drop"):
        act = "drop"
    elif rule.get("context") is not None:
        ctx = rule["context"]
        act = "context %s" % ctx
        if names and ctx in names:
            act += " (%s)" % names[ctx]
        if rule.get("queue"):
            act += " queue offset %d" % rule["queue"]
    else:
        act = "queue %s" % rule.get("queue")
    text = "%s -> %s" % (" ".join(parts), act)
    if rule.get("loc") is not None:
        text += " [loc %d]" % rule["loc"]
    return text


def match_text(rule):
    """The match part of rule_text."""
    return rule_text(dict(rule, context=None, queue=None, drop=False, loc=None)).split(" -> ")[0]


def action_text(rule, names=None):
    """The action part of rule_text."""
    return rule_text(dict(rule, loc=None), names).split(" -> ")[1]


def rule_queues(rule, contexts):
    """Queues a rule steers to (for the channel-shrink check)."""
    if rule.get("drop"):
        return set()
    ctx = rule.get("context")
    if ctx:
        table = (contexts.get(ctx) or {}).get("table") or []
        off = rule.get("queue") or 0
        return set(q + off for q in table)
    if rule.get("queue") is not None:
        return {rule["queue"]}
    return set()


def new_rule(flow_type, src_ip=None, dst_ip=None, src_port=None, dst_port=None,
             context=None, queue=None, drop=False, loc=None, extra=None):
    return {
        "flow_type": flow_type, "src_ip": src_ip, "dst_ip": dst_ip,
        "src_port": src_port, "dst_port": dst_port, "extra": extra,
        "context": context, "queue": queue, "drop": bool(drop), "loc": loc,
    }


# ---------------------------------------------------------------- state

def empty_state(device):
    """Shape of the whole NIC state every reader fills in."""
    return {
        "device": device,
        "exists": True,
        "ifindex": None,
        "driver": None,
        "channels": None,          # {"current": {kind: n}, "max": {kind: n}} or None
        "rx_rings": None,          # ETHTOOL_GRXRINGS
        "ntuple": None,            # {"active": bool, "fixed": bool} or None if unknown
        "rss": None,               # {"indir_size", "key_size", "table", "hfunc", "key"} or None
        "contexts_supported": None,
        "contexts": {},            # id -> {"id", "table", "hfunc", "key"}
        "rules_supported": None,
        "rules": [],
        "rule_table_size": None,
        "driver_picks_location": None,
        "rss_dump": False,
        "max_contexts": None,
        "leases": {},              # rx queue -> name of the device it is leased to (Linux 7.1+)
        "sources": {},             # which interface each part was read with
    }


def rx_queue_count(state):
    """Number of RX queues tables and rules may point at."""
    if state.get("rx_rings"):
        return state["rx_rings"]
    ch = (state.get("channels") or {}).get("current") or {}
    n = (ch.get("combined") or 0) + (ch.get("rx") or 0)
    return n or None


def default_table_configured(state, record=None):
    """Is the default table user-configured (so the kernel holds it across channel changes)?

    The kernel does not report its flag; a table that differs from the driver's spread
    over all RX queues, or one this collection wrote, is treated as configured.
    """
    rss = state.get("rss") or {}
    table = rss.get("table") or []
    if not table:
        return False
    recorded = (record or {}).get("default") or {}
    if recorded.get("configured"):
        return True
    if recorded.get("reset_table") is not None and list(table) == list(recorded["reset_table"]):
        return False
    return table != default_table(len(table), rx_queue_count(state) or 0)
