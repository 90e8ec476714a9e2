# SPDX-License-Identifier: GPL-3.0-or-later
"""The numbers of a kernel netlink spec (YNL YAML), derived the way the kernel's YNL tools do.

The specs are the kernel's own ``Documentation/netlink/specs`` files, kept unchanged in
``fixtures/ynl``.  The rules follow ``tools/net/ynl/pyynl/lib/nlspec.py``:

* attribute sets count from 1; an attribute with ``value:`` sets the number and the
  count goes on from there; a set with ``subset-of`` takes the numbers of the set it is
  a subset of; ``name-prefix`` only makes the C names;
* enums count from ``value-start`` (0) with ``value:`` overriding; an entry of a
  ``flags`` set is the bit ``1 << value``;
* operations: with ``enum-model: unified`` (the default) requests and replies share one
  count from 1; with ``directional`` (ethtool, rt-link) requests and replies are counted
  apart, a ``value:`` under ``request``/``reply`` setting the number, notifications
  advancing the reply count only and an operation without a reply not advancing it.
"""

from __future__ import annotations

import os

import yaml

SPEC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "ynl")


def c_name(prefix, name):
    return (prefix + name).replace("-", "_").upper()


class Spec(object):
    """``attrs[set][name]`` -> number, ``types[set][name]`` -> type, ``enums[enum][entry]`` -> value
    (the bit of a flag), ``requests``/``replies[op]`` -> message id, ``ops[op]`` -> the raw operation."""

    def __init__(self, name):
        path = os.path.join(SPEC_DIR, name + ".yaml")
        with open(path) as f:
            self.first_line = f.readline().strip()
            f.seek(0)
            self.yaml = yaml.safe_load(f)
        self.name = self.yaml["name"]
        self.protocol = self.yaml.get("protocol", "genetlink")
        self.enums = {}
        self.enum_types = {}
        self.structs = {}
        for d in self.yaml.get("definitions", []):
            if d["type"] in ("enum", "flags"):
                self.enums[d["name"]] = self._enum(d)
                self.enum_types[d["name"]] = d["type"]
            elif d["type"] == "struct":
                self.structs[d["name"]] = d["members"]
        self.attrs = {}
        self.types = {}
        self.prefixes = {}
        self.raw_sets = {}
        for s in self.yaml["attribute-sets"]:
            self.raw_sets[s["name"]] = s
            self.attrs[s["name"]], self.types[s["name"]] = self._attr_set(s)
            self.prefixes[s["name"]] = s.get("name-prefix", "%s-a-%s-" % (self.name, s["name"]))
        ops = self.yaml["operations"]
        self.enum_model = ops.get("enum-model", "unified")
        self.op_prefix = ops.get("name-prefix", "%s-cmd-" % self.name)
        self.ops = dict((op["name"], op) for op in ops["list"])
        if self.enum_model == "unified":
            self.requests, self.replies = self._ops_unified(ops["list"])
        elif self.enum_model == "directional":
            self.requests, self.replies = self._ops_directional(ops["list"])
        else:
            raise ValueError("enum-model %s" % self.enum_model)

    @staticmethod
    def _enum(d):
        out = {}
        value = d.get("value-start", 0)
        for entry in d["entries"]:
            if isinstance(entry, str):
                entry = {"name": entry}
            value = entry.get("value", value)
            out[entry["name"]] = (1 << value) if d["type"] == "flags" else value
            value += 1
        return out

    def _attr_set(self, s):
        numbers, types = {}, {}
        if "subset-of" in s:
            for a in s["attributes"]:
                numbers[a["name"]] = self.attrs[s["subset-of"]][a["name"]]
                types[a["name"]] = a.get("type", self.types[s["subset-of"]][a["name"]])
            return numbers, types
        value = 1
        for a in s["attributes"]:
            value = a.get("value", value)
            numbers[a["name"]] = value
            types[a["name"]] = a["type"]
            value += 1
        return numbers, types

    @staticmethod
    def _ops_unified(ops):
        requests, replies = {}, {}
        value = 1
        for op in ops:
            value = op.get("value", value)
            requests[op["name"]] = replies[op["name"]] = value
            value += 1
        return requests, replies

    @staticmethod
    def _ops_directional(ops):
        requests, replies = {}, {}
        req = rsp = 1
        for op in ops:
            if "notify" in op or "event" in op:
                rsp = op.get("value", rsp)
                req_next, rsp_next = req, rsp + 1
                req = None
            else:
                mode = op["do"] if "do" in op else op["dump"]
                req = mode.get("request", {}).get("value") or req
                rsp = mode.get("reply", {}).get("value") or rsp
                req_next = req + 1
                rsp_next = rsp + (1 if "reply" in mode else 0)
            if req == req_next:
                req = None
            if rsp == rsp_next:
                rsp = None
            if req is not None:
                requests[op["name"]] = req
            if rsp is not None:
                replies[op["name"]] = rsp
            req, rsp = req_next, rsp_next
        return requests, replies

    def attr_c_name(self, attr_set, name):
        return c_name(self.prefixes[attr_set], name)

    def request_attributes(self, op, mode):
        """Attribute names the spec lists for ``op``'s ``mode`` ("do"/"dump") request."""
        return list(self.ops[op][mode].get("request", {}).get("attributes", []))

    def reply_attributes(self, op, mode):
        return list(self.ops[op][mode].get("reply", {}).get("attributes", []))


_CACHE = {}


def spec(name):
    if name not in _CACHE:
        _CACHE[name] = Spec(name)
    return _CACHE[name]
