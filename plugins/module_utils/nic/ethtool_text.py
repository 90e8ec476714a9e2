# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parsers of ethtool's output and builders of ethtool argument lists.

Covers the formats of ethtool 6.1 (Debian bookworm), 6.14 (trixie) and 7.x:
``-l`` (text, and JSON from 6.15), ``-k`` (text and JSON), ``-x`` (text, and JSON
from 6.2), ``-n`` (text only; the action lines changed in 6.14), ``--version``, and
the two lines ethtool prints after a write (``New RSS context is N``,
``Added rule with ID N``).  Builders return argv lists; nothing here runs a process.
"""

from __future__ import annotations

import ipaddress
import json
import re

from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import (
    FLOW_TYPE_NUMBERS,
    HFUNC_NAMES,
    flow_family,
    ip_from_kernel,
    ip_user_mask,
    new_rule,
)

_CHANNEL_LABELS = {"RX": "rx", "TX": "tx", "Other": "other", "Combined": "combined"}


class ParseError(ValueError):
    """Output did not have the expected shape."""


# ---------------------------------------------------------------- version

def parse_version(text):
    """``ethtool version 6.14.2`` -> ``(6, 14, 2)``."""
    m = re.search(r"ethtool version (\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if not m:
        raise ParseError("not ethtool --version output: %r" % (text or "")[:80])
    return tuple(int(x) for x in m.groups() if x is not None)


# ---------------------------------------------------------------- channels

def parse_channels(text):
    """``ethtool -l`` text -> ``{"max": {...}, "current": {...}}``; ``n/a`` and ``0`` -> 0."""
    result = {"max": {}, "current": {}}
    section = None
    for line in (text or "").splitlines():
        s = line.strip()
        if s.startswith("Pre-set maximums"):
            section = "max"
            continue
        if s.startswith("Current hardware settings"):
            section = "current"
            continue
        m = re.match(r"^(RX|TX|Other|Combined):\s+(\S+)$", s)
        if m and section:
            val = m.group(2)
            if val == "n/a":
                n = 0
            elif val.isdigit():
                n = int(val)
            else:
                raise ParseError("bad channel count %r" % val)
            result[section][_CHANNEL_LABELS[m.group(1)]] = n
    if not result["max"] or not result["current"]:
        raise ParseError("not ethtool -l output")
    for sect in result.values():
        for kind in _CHANNEL_LABELS.values():
            sect.setdefault(kind, 0)
    return result


def parse_channels_json(text):
    """``ethtool --json -l`` (6.15+) -> same shape as parse_channels."""
    data = json.loads(text)
    if isinstance(data, list):
        data = data[0]
    result = {"max": {}, "current": {}}
    for kind in _CHANNEL_LABELS.values():
        result["max"][kind] = int(data.get("%s-max" % kind, 0))
        result["current"][kind] = int(data.get(kind, 0))
    return result


# ---------------------------------------------------------------- features

def parse_features(text):
    """``ethtool -k`` text -> ``{name: {"active": bool, "fixed": bool, "requested": bool|None}}``."""
    feats = {}
    for line in (text or "").splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_-]+): (on|off)(?: \[(fixed|requested on|requested off)\])?\s*$", line)
        if not m:
            continue
        active = m.group(2) == "on"
        note = m.group(3)
        requested = active
        if note == "requested on":
            requested = True
        elif note == "requested off":
            requested = False
        feats[m.group(1)] = {"active": active, "fixed": note == "fixed", "requested": requested}
    if not feats:
        raise ParseError("not ethtool -k output")
    return feats


def parse_features_json(text):
    data = json.loads(text)
    if isinstance(data, list):
        data = data[0]
    feats = {}
    for name, val in data.items():
        if isinstance(val, dict) and "active" in val:
            feats[name] = {"active": bool(val["active"]), "fixed": bool(val.get("fixed")),
                           "requested": val.get("requested")}
    return feats


def ntuple_from_features(feats):
    f = feats.get("ntuple-filters")
    if f is None:
        return None
    return {"active": f["active"], "fixed": f["fixed"]}


# ---------------------------------------------------------------- RSS (-x)

def parse_rxfh(text):
    """``ethtool -x`` text -> ``{"rings", "table", "key", "hfunc", "input_xfrm"}``.

    ``table`` is ``[]`` and ``key`` ``None`` when ethtool printed ``Operation not supported``.
    """
    lines = (text or "").splitlines()
    res = {"rings": None, "table": [], "key": None, "hfunc": None, "hfuncs": [], "input_xfrm": {}}
    section = None
    seen_header = False
    for line in lines:
        m = re.match(r"^RX flow hash indirection table for (\S+) with (\d+) RX ring\(s\):", line)
        if m:
            res["rings"] = int(m.group(2))
            section = "indir"
            seen_header = True
            continue
        if line.startswith("RSS hash key:"):
            section = "key"
            continue
        if line.startswith("RSS hash function:"):
            section = "hfunc"
            continue
        if line.startswith("RSS input transformation:"):
            section = "xfrm"
            continue
        s = line.strip()
        if not s:
            continue
        if section == "indir":
            m = re.match(r"^(\d+):((?:\s+\d+)+)$", s)
            if m:
                if int(m.group(1)) != len(res["table"]):
                    raise ParseError("indirection table row %s out of order" % m.group(1))
                res["table"].extend(int(x) for x in m.group(2).split())
            elif s != "Operation not supported":
                raise ParseError("unexpected line in indirection table: %r" % s)
        elif section == "key":
            if s != "Operation not supported":
                res["key"] = s.lower()
        elif section == "hfunc":
            m = re.match(r"^(\S+): (on|off)$", s)
            if m:
                res["hfuncs"].append(m.group(1))
                if m.group(2) == "on":
                    res["hfunc"] = m.group(1)
        elif section == "xfrm":
            m = re.match(r"^(\S+): (on|off)$", s)
            if m:
                res["input_xfrm"][m.group(1)] = m.group(2) == "on"
    if not seen_header:
        raise ParseError("not ethtool -x output")
    return res


def parse_rxfh_json(text):
    """``ethtool --json -x`` (6.2+) -> same shape as parse_rxfh (``rings`` unknown)."""
    data = json.loads(text)
    if isinstance(data, list):
        if not data:
            raise ParseError("empty ethtool --json -x output")
        data = data[0]
    key = data.get("rss-hash-key")
    return {
        "rings": None,
        "table": [int(x) for x in data.get("rss-indirection-table", [])],
        "key": ":".join("%02x" % int(b) for b in key) if key else None,
        "hfunc": data.get("rss-hash-function"),
        "hfuncs": [],
        "input_xfrm": dict(data.get("rss-input-transformation") or {}),
    }


# ---------------------------------------------------------------- ntuple (-n)

_RULE_TYPES = {
    "TCP over IPv4": "tcp4", "UDP over IPv4": "udp4", "SCTP over IPv4": "sctp4",
    "TCP over IPv6": "tcp6", "UDP over IPv6": "udp6", "SCTP over IPv6": "sctp6",
    "Raw IPv4": "ip4", "Raw IPv6": "ip6",
}


def _ip_from_user(addr, user_mask):
    """ethtool prints the inverted mask (a set bit = ignore)."""
    a = ipaddress.ip_address(addr)
    m = ipaddress.ip_address(user_mask)
    bits = a.max_prefixlen
    kmask = ((1 << bits) - 1) ^ int(m)
    return ip_from_kernel(a.packed, kmask.to_bytes(bits // 8, "big"))


def parse_ntuple(text):
    """``ethtool -n DEV`` text (6.1 and 6.14+ formats) -> ``{"rings", "total", "rules": [...]}``.

    Each rule is a canonical rule dict (see nic.model.new_rule).  A rule this collection
    cannot express (other flow types, TOS, VLAN, MAC, ...) carries ``extra`` describing why.
    """
    res = {"rings": None, "total": None, "rules": []}
    cur = None
    extras = []

    def finish():
        if cur is not None:
            if extras:
                cur["extra"] = ", ".join(extras)
            res["rules"].append(cur)

    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        m = re.match(r"^(\d+) RX rings available$", line)
        if m:
            res["rings"] = int(m.group(1))
            continue
        m = re.match(r"^Total (\d+) rules$", line)
        if m:
            res["total"] = int(m.group(1))
            continue
        m = re.match(r"^Filter: (\d+)$", line)
        if m:
            finish()
            cur = new_rule(None, loc=int(m.group(1)))
            extras = []
            continue
        if cur is None:
            continue
        m = re.match(r"^(?:Rule|Flow) Type: (.+)$", line)
        if m:
            ft = _RULE_TYPES.get(m.group(1))
            if ft is None:
                cur["flow_type"] = "other"
                extras.append("flow type %s" % m.group(1))
            else:
                cur["flow_type"] = ft
            continue
        m = re.match(r"^(Src|Dest) IP addr: (\S+) mask: (\S+)$", line)
        if m:
            key = "src_ip" if m.group(1) == "Src" else "dst_ip"
            cur[key] = _ip_from_user(m.group(2), m.group(3))
            continue
        m = re.match(r"^(Src|Dest) port: (\d+) mask: (0x[0-9a-fA-F]+)$", line)
        if m:
            key = "src_port" if m.group(1) == "Src" else "dst_port"
            umask = int(m.group(3), 16)
            if umask == 0:
                cur[key] = int(m.group(2))
            elif umask != 0xffff:
                extras.append("%s mask 0x%x" % (key, 0xffff ^ umask))
            continue
        m = re.match(r"^(TOS|Traffic Class|Protocol|L4 bytes|SPI|VLAN EtherType|VLAN|User-defined|Ethertype): "
                     r"(\S+) mask: (\S+)$", line)
        if m:
            field, umask = m.group(1), int(m.group(3), 16)
            full = {"TOS": 0xff, "Traffic Class": 0xff, "Protocol": 0xff, "VLAN EtherType": 0xffff,
                    "VLAN": 0xffff}.get(field, 0xffffffff)
            if field == "User-defined":
                full = 0xffffffffffffffff
            if umask != full:
                extras.append("%s %s" % (field, m.group(2)))
            continue
        m = re.match(r"^(Src|Dest) MAC addr: (\S+) mask: (\S+)$", line)
        if m:
            if m.group(3).upper() != "FF:FF:FF:FF:FF:FF":
                extras.append("%s MAC %s" % (m.group(1), m.group(2)))
            continue
        m = re.match(r"^RSS Context ID: (\d+)$", line)
        if m:
            cur["context"] = int(m.group(1))
            continue
        m = re.match(r"^Action: Direct to RSS Context (\d+)(?: \(queue base offset: (\d+)\))?$", line)
        if m:
            cur["context"] = int(m.group(1))
            cur["queue"] = int(m.group(2)) if m.group(2) else None
            continue
        m = re.match(r"^Action: Direct to queue (\d+)$", line)
        if m:
            if cur.get("context") is not None:
                q = int(m.group(1))
                cur["queue"] = q or None
            else:
                cur["queue"] = int(m.group(1))
            continue
        if line == "Action: Drop":
            cur["drop"] = True
            continue
        if line == "Action: Wake-on-LAN":
            extras.append("action wake-on-lan")
            continue
        m = re.match(r"^Action: Direct to VF (\d+) queue (\d+)$", line)
        if m:
            extras.append("action vf %s queue %s" % (m.group(1), m.group(2)))
            continue
        if line.startswith("Unknown Flow type"):
            cur["flow_type"] = "other"
            extras.append(line)
            continue
    finish()
    if res["rings"] is None and res["total"] is None:
        raise ParseError("not ethtool -n output")
    return res


# ---------------------------------------------------------------- write replies

_NEW_CONTEXT = re.compile(r"^New RSS context is (\d+)$", re.M)
_ADDED_RULE = re.compile(r"^Added rule with ID (\d+)$", re.M)


def parse_new_context(stdout):
    """Id from ``New RSS context is N``, or ``None`` when the line is absent."""
    m = _NEW_CONTEXT.search(stdout or "")
    return int(m.group(1)) if m else None


def parse_added_rule(stdout):
    """Location from ``Added rule with ID N``, or ``None`` when the line is absent."""
    m = _ADDED_RULE.search(stdout or "")
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------- argv builders

def channels_argv(ethtool, device, values):
    argv = [ethtool, "-L", device]
    for kind in ("combined", "rx", "tx", "other"):
        if values.get(kind) is not None:
            argv += [kind, str(values[kind])]
    return argv


def ntuple_feature_argv(ethtool, device, on=True):
    return [ethtool, "-K", device, "ntuple", "on" if on else "off"]


def _table_args(spec):
    args = []
    if spec.get("weights"):
        args += ["weight"] + [str(w) for w in spec["weights"]]
    else:
        args += ["equal", str(spec["equal"])]
    if spec.get("start"):
        args += ["start", str(spec["start"])]
    if spec.get("hfunc"):
        args += ["hfunc", spec["hfunc"]]
    if spec.get("key"):
        args += ["hkey", spec["key"]]
    return args


def rxfh_default_argv(ethtool, device, spec):
    """Main table: ``-X DEV equal N start S`` / ``weight ...`` / ``default``."""
    if spec.get("reset"):
        return [ethtool, "-X", device, "default"]
    return [ethtool, "-X", device] + _table_args(spec)


def rxfh_context_create_argv(ethtool, device, spec):
    return [ethtool, "-X", device, "context", "new"] + _table_args(spec)


def rxfh_context_update_argv(ethtool, device, ctx_id, spec):
    return [ethtool, "-X", device, "context", str(ctx_id)] + _table_args(spec)


def rxfh_context_delete_argv(ethtool, device, ctx_id):
    return [ethtool, "-X", device, "context", str(ctx_id), "delete"]


def ntuple_add_argv(ethtool, device, rule):
    """``-N DEV flow-type T [src-ip A [m M]] ... (context N | action Q | action -1) [loc L]``."""
    ft = rule["flow_type"]
    if ft not in FLOW_TYPE_NUMBERS:
        raise ValueError("flow type %r cannot be written" % ft)
    fam = flow_family(ft)
    argv = [ethtool, "-N", device, "flow-type", ft]
    for key, opt in (("src_ip", "src-ip"), ("dst_ip", "dst-ip")):
        val = rule.get(key)
        if val is None:
            continue
        if "/" in val:
            addr, umask = ip_user_mask(val, fam)
            argv += [opt, addr, "m", umask]
        else:
            argv += [opt, val]
    for key, opt in (("src_port", "src-port"), ("dst_port", "dst-port")):
        if rule.get(key) is not None:
            argv += [opt, str(rule[key])]
    if rule.get("drop"):
        argv += ["action", "-1"]
    elif rule.get("context") is not None:
        argv += ["context", str(rule["context"])]
        if rule.get("queue"):
            argv += ["action", str(rule["queue"])]
    else:
        argv += ["action", str(rule["queue"])]
    if rule.get("loc") is not None:
        argv += ["loc", str(rule["loc"])]
    return argv


def ntuple_delete_argv(ethtool, device, loc):
    return [ethtool, "-N", device, "delete", str(loc)]


def hfunc_names_known():
    return list(HFUNC_NAMES)
