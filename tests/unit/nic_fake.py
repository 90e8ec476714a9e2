# SPDX-License-Identifier: GPL-3.0-or-later
"""A fake NIC with the interface of nic.backend.NicKernel, for unit tests.

It keeps channels, the default RSS table, RSS contexts, ntuple rules and queue leases,
and answers the planned actions the way the lab NIC does: netdevsim with the
project's patches (``kernel/netdevsim/README.md``, table "Behaviour, and which real
driver it imitates"; ``kernel/netdevsim/src/rss.c``) under the 7.3 ethtool core.
Where a behaviour comes from the driver, the rss.c function is named beside it:

- rule locations 0..1023; the driver picks the location of a rule given none
  (``RX_CLS_LOC_SPECIAL``), the lowest free one (``nsim_pick_location``); a rule at
  an occupied location replaces it, the same match at another location is refused
  with EEXIST (``nsim_add_rule``, ``nsim_same_match``); ``driver_picks_location=False``
  gives a driver that leaves the choice to ethtool, whose rule manager takes the
  highest free location (mlx5);
- rules are refused with EOPNOTSUPP while ntuple-filters is off, and turning it off
  flushes them (``nsim_add_rule``, ``nsim_rss_features_changed``); it is off at boot;
- rules to a queue must name one below the RX queue count, rules to a context a
  context that exists or 0 (the main table), without a queue offset; drop rules
  no context (``nsim_add_rule``);
- hash functions toeplitz and xor, any other refused with EOPNOTSUPP
  (``nsim_check_hfunc``), for the main table and for contexts;
- context ids 1..15, the lowest free one (the core's ``xa_alloc`` under
  ``rxfh_max_num_contexts`` 16); a 16th context is refused with EBUSY; a context a
  rule uses cannot be deleted (EBUSY, ``ethtool_check_rss_ctx_busy`` and
  ``nsim_remove_rxfh_context``);
- the core refuses a channel shrink below a queue a user-set default table or a
  context uses, then one a rule uses, then a leased queue (``ethtool_check_max_channel``,
  ``netdev_queue_busy``); an unconfigured default table is spread again over the
  new queues (``nsim_rss_channels_changed``);
- a driver reload forgets contexts, rules and leases, and ntuple-filters is off again.

Errors read as the ethtool command prints them (``-L`` over netlink, ``-X`` over ioctl),
and, for ntuple rules, as ``NicKernel`` reports the SIOCETHTOOL call it makes itself. ``rss_netlink=True`` gives the RSS writes as ``NicKernel`` makes them on
a 6.17+ kernel (RSS_SET, RSS_CREATE_ACT, RSS_DELETE_ACT), whose errors carry the
kernel's and the driver's own message (extack).
"""

from __future__ import annotations

import copy
import errno
import os

from ansible_collections.vmnet.netkit.plugins.module_utils.errors import KernelError
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink.core import NetlinkError
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.backend import (
    no_free_rule_location, rss_write_error, rule_write_error)
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import (
    default_table,
    empty_state,
    rule_match,
    spec_table,
)

# The lab NIC's limits (kernel/netdevsim/src/rss.h).
LAB_RULE_TABLE_SIZE = 1024         # NSIM_NTUPLE_MAX_RULES
LAB_MAX_CONTEXTS = 15              # rxfh_max_num_contexts = NSIM_RSS_MAX_CONTEXTS (16): ids 1..15
LAB_HFUNCS = ("toeplitz", "xor")   # nsim_check_hfunc
LAB_HFUNC_REFUSED = "hash function not supported (toeplitz and xor are)"

RXFH_ERROR = "Cannot set RX flow hash configuration: %s"
LEASED_QUEUE = "Device queue in use due to queue leasing"
RSS_REQUESTS = {"default_set": "RSS_SET", "default_reset": "RSS_SET", "context_update": "RSS_SET",
                "context_create": "RSS_CREATE_ACT", "context_delete": "RSS_DELETE_ACT"}


def _netlink_error_text(extack):
    """What the ethtool command prints for a refused netlink request: the extack, then the errno."""
    return "netlink error: %s\nnetlink error: Invalid argument" % extack


class FakeNic(object):
    def __init__(self, device="eth0", combined=16, max_combined=16, rx=0, max_rx=0, tx=0, max_tx=0,
                 indir_size=128, key_size=40, rss=True, contexts_supported=True, rules_supported=True,
                 ntuple_active=False, ntuple_fixed=False, max_contexts=LAB_MAX_CONTEXTS,
                 rule_table_size=LAB_RULE_TABLE_SIZE, driver_picks_location=True, hfuncs=LAB_HFUNCS,
                 rss_netlink=False, print_ids=True, ifindex=5, driver="fakenic", other_devices=()):
        self.device = device
        self.devices = set([device]) | set(other_devices)
        self.channels = {"max": {"combined": max_combined, "rx": max_rx, "tx": max_tx, "other": 0},
                         "current": {"combined": combined, "rx": rx, "tx": tx, "other": 0}}
        self.rss = rss
        self.indir_size = indir_size
        self.key = ":".join(["6d"] * key_size) if key_size else None
        self.key_size = key_size
        self.hfunc = "toeplitz"
        self.hfuncs = tuple(hfuncs)
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
        self.leases = {}            # rx queue -> name of the netkit device it is leased to
        self.rss_netlink = rss_netlink
        self.print_ids = print_ids
        self.ifindex = ifindex
        self.driver = driver
        self.applied = []
        self.reads = 0

    # ------------------------------------------------------------ helpers for tests
    def rings(self):
        return self.channels["current"]["combined"] + self.channels["current"]["rx"]

    def reload(self):
        """Driver reload: a new netdev (new ifindex) with nothing of the old one's configuration."""
        self.contexts = {}
        self.rules = {}
        self.leases = {}
        self.table = default_table(self.indir_size, self.rings())
        self.hfunc = "toeplitz"
        self.configured = False
        if not self.ntuple["fixed"]:
            self.ntuple["active"] = False
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
        st["leases"] = dict(self.leases)
        st["sources"] = {"all": "fake"}
        return st

    def _fail(self, act, msg, err=None):
        raise KernelError("%s failed: %s" % (act["command"], msg), command=act["argv"], stderr=msg, errno=err)

    def _rss_fail(self, act, err, extack=None):
        """An RSS write refused with ``err``: as the ethtool command prints it (ioctl, no extack), or
        as NicKernel reports the netlink request with the kernel's message."""
        if not self.rss_netlink:
            self._fail(act, RXFH_ERROR % os.strerror(err), err)
        nl_err = NetlinkError(err, os.strerror(err), extack, request="ethtool %s" % RSS_REQUESTS[act["op"]])
        raise rss_write_error(act["op"], self.device, act["argv"], nl_err)

    def _check_rss_write(self, act, table):
        """The driver's hash functions (nsim_check_hfunc), then the table entries against the RX queues
        (the core's check; the netlink path names the entry)."""
        hfunc = act["spec"].get("hfunc")
        if hfunc and hfunc not in self.hfuncs:
            self._rss_fail(act, errno.EOPNOTSUPP, "%s: %s" % (self.driver, LAB_HFUNC_REFUSED))
        for i, queue in enumerate(table or []):
            if queue >= self.rings():
                self._rss_fail(act, errno.EINVAL, "entry %d: queue out of range (%d)" % (i, queue))

    def _context_max_queue(self, cid):
        table = (self.contexts.get(cid) or {}).get("table") or []
        return max(table) if table else 0

    def _max_rxfh_queue(self):
        """The highest queue a table uses: every context, the default table once a user set it."""
        used = [self._context_max_queue(cid) for cid in self.contexts]
        if self.configured and self.table:
            used.append(max(self.table))
        return max(used) if used else 0

    def _max_rxnfc_queue(self):
        """The highest queue a rule steers to: its queue, or its context's highest queue plus the
        offset (context 0, the main table, counts as 0); drop rules none."""
        used = [0]
        for rule in self.rules.values():
            if rule.get("drop"):
                continue
            if rule.get("context") is not None:
                used.append((rule.get("queue") or 0) + self._context_max_queue(rule["context"]))
            elif rule.get("queue") is not None:
                used.append(rule["queue"])
        return max(used)

    def apply(self, device, act):
        self.applied.append(act)
        op = act["op"]
        if op in ("ntuple_on", "ntuple_off"):
            on = op == "ntuple_on"
            if self.ntuple["active"] != on and self.ntuple["fixed"]:
                self._fail(act, "Could not change any device features")
            if self.ntuple["active"] and not on:
                self.rules = {}  # nsim_rss_features_changed: turning ntuple-filters off flushes the rules
            self.ntuple["active"] = on
            return {}
        if op == "channels":
            return self._channels(act)
        if op == "default_set":
            table = spec_table(act["spec"], self.indir_size)
            self._check_rss_write(act, table)
            self.table = table
            self.configured = True
            if act["spec"].get("hfunc"):
                self.hfunc = act["spec"]["hfunc"]
            if act["spec"].get("key"):
                self.key = act["spec"]["key"]
            return {}
        if op == "default_reset":
            # the core resets the table and forgets that a user set it; hash function and key stay
            self.table = default_table(self.indir_size, self.rings())
            self.configured = False
            return {}
        if op == "context_create":
            return self._context_create(act)
        if op == "context_update":
            if act["id"] not in self.contexts:
                self._rss_fail(act, errno.ENOENT)
            table = spec_table(act["spec"], self.indir_size)
            self._check_rss_write(act, table)
            self.contexts[act["id"]]["table"] = table
            if act["spec"].get("hfunc"):
                self.contexts[act["id"]]["hfunc"] = act["spec"]["hfunc"]
            if act["spec"].get("key"):
                self.contexts[act["id"]]["key"] = act["spec"]["key"]
            return {}
        if op == "context_delete":
            # the core checks the rules first (ethtool_check_rss_ctx_busy), then that the id exists
            if any(r.get("context") == act["id"] and not r.get("drop") for r in self.rules.values()):
                self._rss_fail(act, errno.EBUSY)
            if act["id"] not in self.contexts:
                self._rss_fail(act, errno.ENOENT)
            del self.contexts[act["id"]]
            return {}
        if op == "rule_add":
            return self._rule_add(act)
        if op == "rule_delete":
            # nsim_del_rule
            if act["loc"] not in self.rules:
                raise rule_write_error("rule_delete", self.device, act["argv"], OSError(errno.ENOENT, "gone"))
            del self.rules[act["loc"]]
            return {}
        raise AssertionError("unknown action %r" % op)

    def _channels(self, act):
        """ethtool -L over netlink: the core's checks (channels.c, ethtool_check_max_channel, then
        netdev_queue_busy for each queue that would go), then the driver."""
        new = dict(self.channels["current"])
        new.update(act["values"])
        for kind in ("rx", "tx", "other", "combined"):
            if new[kind] > self.channels["max"][kind]:
                self._fail(act, _netlink_error_text("requested channel count exceeds maximum"), errno.EINVAL)
        if not new["combined"] and (not new["rx"] or not new["tx"]):
            self._fail(act, _netlink_error_text("requested channel counts would result in no RX or TX channel "
                                                "being configured"), errno.EINVAL)
        rings = new["combined"] + new["rx"]
        rxfh = self._max_rxfh_queue()
        if rings <= rxfh:
            self._fail(act, _netlink_error_text("requested channel counts are too low for existing indirection "
                                                "table (%d)" % rxfh), errno.EINVAL)
        if rings <= self._max_rxnfc_queue():
            self._fail(act, _netlink_error_text("requested channel counts are too low for existing ntuple filter "
                                                "settings"), errno.EINVAL)
        if any(rings <= q < self.rings() for q in self.leases):
            self._fail(act, _netlink_error_text(LEASED_QUEUE), errno.EINVAL)
        self.channels["current"] = new
        if not self.configured:
            self.table = default_table(self.indir_size, rings)  # nsim_rss_channels_changed
        return {}

    def _context_create(self, act):
        if not self.contexts_supported:
            self._rss_fail(act, errno.EOPNOTSUPP)
        # the core allocates the id first: the lowest free one, below rxfh_max_num_contexts
        cid = 1
        while cid in self.contexts:
            cid += 1
        if self.max_contexts is not None and cid > self.max_contexts:
            self._rss_fail(act, errno.EBUSY, "error allocating context ID")
        table = spec_table(act["spec"], self.indir_size)
        self._check_rss_write(act, table)  # nsim_create_rxfh_context
        self.contexts[cid] = {"id": cid, "table": table, "hfunc": act["spec"].get("hfunc") or "toeplitz",
                              "key": act["spec"].get("key") or self.key}
        return {"id": cid if self.print_ids or self.rss_netlink else None}

    def _rule_add(self, act):
        """ethtool -N: nsim_add_rule's checks in its order, the location, then insert or replace."""
        def refuse(err):
            raise rule_write_error("rule_add", self.device, act["argv"], OSError(err, os.strerror(err)))

        if not self.ntuple["active"]:
            refuse(errno.EOPNOTSUPP)
        rule = dict(act["rule"])
        if rule.get("drop"):
            if rule.get("context") is not None:
                refuse(errno.EINVAL)
        elif rule.get("context") is not None:
            # FLOW_RSS: no queue offset (no cap_rss_rxnfc_adds); context 0 is the main table
            if rule.get("queue"):
                refuse(errno.EINVAL)
            if rule["context"] and rule["context"] not in self.contexts:
                refuse(errno.EINVAL)
        elif rule.get("queue") is not None and rule["queue"] >= self.rings():
            refuse(errno.EINVAL)
        loc = rule.get("loc")
        if loc is None:
            free = [i for i in range(self.rule_table_size) if i not in self.rules]
            if not free:
                if not self.driver_picks_location:
                    raise no_free_rule_location(self.device, self.rule_table_size, act["argv"])
                refuse(errno.ENOSPC)
            # nsim_pick_location (RX_CLS_LOC_ANY): the lowest free; ethtool's rule manager: the highest
            loc = free[0] if self.driver_picks_location else free[-1]
        elif loc >= self.rule_table_size:
            refuse(errno.EINVAL)
        # nsim_same_match: the same match at another location
        if any(other_loc != loc and rule_match(other) == rule_match(rule) for other_loc, other in self.rules.items()):
            refuse(errno.EEXIST)
        rule["loc"] = loc
        self.rules[loc] = rule  # at an occupied location, the new rule replaces the old one
        return {"loc": loc}


def use_fake(monkeypatch, tmp_path, fake):
    """Make the NIC modules use ``fake`` and keep their record under ``tmp_path``."""
    from ansible_collections.vmnet.netkit.plugins.module_utils.nic import service as nic_service
    monkeypatch.setattr(nic_service, "BACKEND", lambda **kw: fake)
    monkeypatch.setenv("VMNET_NETKIT_STATE_DIR", str(tmp_path))
    return fake
