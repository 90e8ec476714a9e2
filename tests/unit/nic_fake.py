# SPDX-License-Identifier: GPL-3.0-or-later
"""A fake NIC with the interface of nic_kernel.NicKernel, for unit tests.

It keeps channels, the default RSS table, RSS contexts and ntuple rules, and applies
planned actions the way a kernel with a context-capable driver would: lowest free
context id, refused channel shrinks, table entries checked against the RX queue
count, EBUSY for a context in use, highest free rule location when none is given.
"""

from __future__ import annotations

import copy

from ansible_collections.vmnet.netkit.plugins.module_utils.errors import KernelError
from ansible_collections.vmnet.netkit.plugins.module_utils.nic_model import (
    default_table,
    empty_state,
    rule_queues,
    spec_table,
)


class FakeNic(object):
    def __init__(self, device="eth0", combined=16, max_combined=16, rx=0, max_rx=0, tx=0, max_tx=0,
                 indir_size=128, key_size=40, rss=True, contexts_supported=True, rules_supported=True,
                 ntuple_active=False, ntuple_fixed=False, max_contexts=None, rule_table_size=1024,
                 driver_picks_location=False, print_ids=True, ifindex=5, driver="fakenic", other_devices=()):
        self.device = device
        self.devices = set([device]) | set(other_devices)
        self.channels = {"max": {"combined": max_combined, "rx": max_rx, "tx": max_tx, "other": 0},
                         "current": {"combined": combined, "rx": rx, "tx": tx, "other": 0}}
        self.rss = rss
        self.indir_size = indir_size
        self.key = ":".join(["6d"] * key_size) if key_size else None
        self.key_size = key_size
        self.hfunc = "toeplitz"
        self.table = default_table(indir_size, combined + rx) if rss else []
        self.configured = False
        self.contexts = {}
        self.contexts_supported = contexts_supported
        self.max_contexts = max_contexts
        self.rules_supported = rules_supported
        self.rules = {}
        self.rule_table_size = rule_table_size
        self.driver_picks_location = driver_picks_location
        self.ntuple = {"active": ntuple_active, "fixed": ntuple_fixed}
        self.print_ids = print_ids
        self.ifindex = ifindex
        self.driver = driver
        self.applied = []
        self.reads = 0

    # ------------------------------------------------------------ helpers for tests
    def rings(self):
        return self.channels["current"]["combined"] + self.channels["current"]["rx"]

    def reload(self):
        """Driver reload: everything forgotten, new ifindex."""
        self.contexts = {}
        self.rules = {}
        self.table = default_table(self.indir_size, self.rings())
        self.configured = False
        self.ifindex += 10

    # ------------------------------------------------------------ seam interface
    def versions(self):
        return {"ethtool": "6.14.2", "kernel": "7.3.4"}

    def read(self, device, context_ids=()):
        self.reads += 1
        st = empty_state(device)
        if device not in self.devices:
            st["exists"] = False
            return st
        if device != self.device:
            return st
        st["ifindex"] = self.ifindex
        st["driver"] = self.driver
        st["channels"] = copy.deepcopy(self.channels)
        st["rx_rings"] = self.rings()
        st["ntuple"] = dict(self.ntuple)
        if self.rss:
            st["rss"] = {"indir_size": self.indir_size, "key_size": self.key_size, "table": list(self.table),
                         "hfunc": self.hfunc, "key": self.key}
            st["contexts_supported"] = self.contexts_supported
            st["contexts"] = copy.deepcopy(self.contexts)
            st["rss_dump"] = True
        st["rules_supported"] = self.rules_supported
        if self.rules_supported:
            st["rules"] = [dict(r) for _l, r in sorted(self.rules.items())]
            st["rule_table_size"] = self.rule_table_size
            st["driver_picks_location"] = self.driver_picks_location
        st["sources"] = {"all": "fake"}
        return st

    def _fail(self, act, msg):
        raise KernelError("%s failed: %s" % (act["command"], msg), command=act["argv"], stderr=msg)

    def _check_table(self, act, table):
        if table and max(table) >= self.rings():
            self._fail(act, "Cannot set RX flow hash configuration: Invalid argument")

    def apply(self, device, act):
        self.applied.append(act)
        op = act["op"]
        if op == "ntuple_on":
            if self.ntuple["fixed"]:
                self._fail(act, "Could not change any device features")
            self.ntuple["active"] = True
            return {}
        if op == "channels":
            new = dict(self.channels["current"])
            new.update(act["values"])
            rings = new["combined"] + new["rx"]
            used = set()
            if self.configured:
                used |= set(self.table)
            for c in self.contexts.values():
                used |= set(c["table"])
            for r in self.rules.values():
                used |= rule_queues(r, self.contexts)
            if used and max(used) >= rings:
                self._fail(act, "netlink error: requested channel counts are too low for existing "
                                "indirection table (%d)" % max(used))
            self.channels["current"] = new
            if not self.configured:
                self.table = default_table(self.indir_size, rings)
            return {}
        if op == "default_set":
            table = spec_table(act["spec"], self.indir_size)
            self._check_table(act, table)
            self.table = table
            self.configured = True
            return {}
        if op == "default_reset":
            self.table = default_table(self.indir_size, self.rings())
            self.configured = False
            return {}
        if op == "context_create":
            if not self.contexts_supported:
                self._fail(act, "Cannot set RX flow hash configuration: Operation not supported")
            table = spec_table(act["spec"], self.indir_size)
            self._check_table(act, table)
            cid = 1
            while cid in self.contexts:
                cid += 1
            if self.max_contexts is not None and cid > self.max_contexts:
                self._fail(act, "Cannot set RX flow hash configuration: Device or resource busy")
            self.contexts[cid] = {"id": cid, "table": table, "hfunc": act["spec"].get("hfunc") or "toeplitz",
                                  "key": act["spec"].get("key") or self.key}
            return {"id": cid if self.print_ids else None}
        if op == "context_update":
            if act["id"] not in self.contexts:
                self._fail(act, "Cannot set RX flow hash configuration: No such file or directory")
            table = spec_table(act["spec"], self.indir_size)
            self._check_table(act, table)
            self.contexts[act["id"]]["table"] = table
            if act["spec"].get("hfunc"):
                self.contexts[act["id"]]["hfunc"] = act["spec"]["hfunc"]
            if act["spec"].get("key"):
                self.contexts[act["id"]]["key"] = act["spec"]["key"]
            return {}
        if op == "context_delete":
            if act["id"] not in self.contexts:
                self._fail(act, "Cannot set RX flow hash configuration: No such file or directory")
            if any(r.get("context") == act["id"] for r in self.rules.values()):
                self._fail(act, "Cannot set RX flow hash configuration: Device or resource busy")
            del self.contexts[act["id"]]
            return {}
        if op == "rule_add":
            if not self.ntuple["active"]:
                self._fail(act, "rmgr: Cannot insert RX class rule: Operation not supported")
            rule = dict(act["rule"])
            if rule.get("context") and rule["context"] not in self.contexts:
                self._fail(act, "rmgr: Cannot insert RX class rule: Invalid argument")
            if rule.get("queue") is not None and not rule.get("context") and rule["queue"] >= self.rings():
                self._fail(act, "rmgr: Cannot insert RX class rule: Invalid argument")
            loc = rule.get("loc")
            if loc is None:
                loc = self.rule_table_size - 1
                while loc in self.rules:
                    loc -= 1
            elif loc in self.rules:
                self._fail(act, "rmgr: Cannot insert RX class rule: Device or resource busy")
            rule["loc"] = loc
            self.rules[loc] = rule
            return {"loc": loc if act["rule"].get("loc") is None else None}
        if op == "rule_delete":
            if act["loc"] not in self.rules:
                self._fail(act, "rmgr: Cannot delete RX class rule: No such file or directory")
            del self.rules[act["loc"]]
            return {}
        raise AssertionError("unknown action %r" % op)


def use_fake(monkeypatch, tmp_path, fake):
    """Make the NIC modules use ``fake`` and keep their record under ``tmp_path``."""
    from ansible_collections.vmnet.netkit.plugins.module_utils import nic_service
    monkeypatch.setattr(nic_service, "BACKEND", lambda **kw: fake)
    monkeypatch.setenv("VMNET_NETKIT_STATE_DIR", str(tmp_path))
    return fake
