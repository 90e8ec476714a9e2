# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Wanted vs current NIC state -> validated, ordered actions (pure functions).

Every check that can fail runs here, before the first write: unknown device,
missing NIC features, queues outside the channel count, overlapping or duplicate
contexts, duplicate names, conflicting rules, unknown contexts, too many contexts,
channel shrinks that would cut off queues in use.  Actions come out in the order the
kernel needs them: ntuple on -> channels -> default table -> contexts -> rules, and
removals in reverse.  ``simulate`` applies actions to a copy of a state (check mode).
"""

from __future__ import annotations

import copy
import shlex

from ansible_collections.vmnet.netkit.plugins.module_utils.nic import ethtool_text as et
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import UnsupportedError, ValidationError
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import (
    CHANNEL_KINDS,
    HFUNC_NAMES,
    L4_FLOW_TYPES,
    action_text,
    canonical_ip,
    default_table,
    default_table_configured,
    flow_family,
    key_len,
    match_text,
    new_rule,
    normalize_key,
    queue_ranges,
    rule_action,
    rule_match,
    rule_queues,
    rule_text,
    rx_queue_count,
    spec_queues,
    spec_table,
    spec_text,
    table_matches_spec,
)
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.slice_store import names_by_id, valid_contexts

ETHTOOL = "ethtool"

CONTEXTS_PROVIDED_BY = ("RSS contexts need a NIC whose driver implements them "
                        "(mlx5, bnxt, sfc, fbnic, mvpp2, octeontx2, or the lab's patched netdevsim)")


def action(op, argv, summary, **fields):
    act = {"op": op, "argv": list(argv), "command": " ".join(shlex.quote(a) for a in argv),
           "summary": summary}
    act.update(fields)
    return act


def require_device(state, option="device"):
    if not state.get("exists", True):
        raise ValidationError(option, "no network device named %r on this host (or in this network namespace)"
                              % state["device"], value=state["device"])


# ---------------------------------------------------------------- queue users

def queue_users(state, record=None):
    """-> list of (description, set of queues) for everything that steers to RX queues."""
    users = []
    names = names_by_id(record or {}, state)
    contexts = state.get("contexts") or {}
    if default_table_configured(state, record):
        table = (state.get("rss") or {}).get("table") or []
        users.append(("the default RSS table (configured: queues %s)" % queue_ranges(table), set(table)))
    for cid in sorted(k for k in contexts if isinstance(k, int)):
        ctx = contexts[cid]
        label = "RSS context %d" % cid
        if cid in names:
            label += " %r" % names[cid]
        users.append(("%s (queues %s)" % (label, queue_ranges(ctx.get("table") or [])), set(ctx.get("table") or [])))
    for rule in state.get("rules") or []:
        qs = rule_queues(rule, contexts)
        if qs:
            users.append(("ntuple rule %s" % rule_text(rule, names), qs))
    holders = {}
    for queue, holder in sorted((state.get("leases") or {}).items()):
        holders.setdefault(holder, set()).add(queue)
    for holder, qs in sorted(holders.items()):
        users.append(("a queue lease to netkit device %s (queues %s; it ends only when that device is deleted)"
                      % (holder, queue_ranges(sorted(qs))), qs))
    return users


# ---------------------------------------------------------------- channels

def plan_channels(state, params, record=None):
    """nic_channels: -> list of actions (empty when nothing changes)."""
    require_device(state)
    dev = state["device"]
    ch = state.get("channels")
    wanted = dict((k, params[k]) for k in CHANNEL_KINDS if params.get(k) is not None)
    if ch is None:
        raise UnsupportedError("channels", "%s (driver %s) does not report channels (ethtool -l: Operation not "
                               "supported)" % (dev, state.get("driver") or "unknown"),
                               provided_by="a driver that implements get/set_channels")
    for kind, val in sorted(wanted.items()):
        mx = ch["max"].get(kind, 0)
        if val < 0:
            raise ValidationError(kind, "must not be negative", value=val)
        if val > mx:
            if mx == 0:
                allowed = ", ".join("%s (max %d)" % (k, ch["max"][k]) for k in CHANNEL_KINDS if ch["max"].get(k))
                raise ValidationError(kind, "%s has no %s channels (maximum 0); it has %s"
                                      % (dev, kind, allowed or "no settable channels"), value=val, allowed=0)
            raise ValidationError(kind, "%d exceeds the maximum of %d %s channels on %s" % (val, mx, kind, dev),
                                  value=val, allowed="0-%d" % mx)
    new = dict(ch["current"])
    new.update(wanted)
    if new.get("combined", 0) + new.get("rx", 0) == 0:
        raise ValidationError("rx", "%s would have no RX queue (combined + rx = 0)" % dev, allowed="combined + rx >= 1")
    if new.get("combined", 0) + new.get("tx", 0) == 0:
        raise ValidationError("tx", "%s would have no TX queue (combined + tx = 0)" % dev, allowed="combined + tx >= 1")
    changes = dict((k, v) for k, v in wanted.items() if ch["current"].get(k) != v)
    if not changes:
        return []
    old_rx = ch["current"].get("combined", 0) + ch["current"].get("rx", 0)
    new_rx = new.get("combined", 0) + new.get("rx", 0)
    if new_rx < old_rx:
        cut = set(range(new_rx, old_rx))
        blockers = [(d, qs & cut) for d, qs in queue_users(state, record) if qs & cut]
        if blockers:
            option = "combined" if "combined" in changes else "rx"
            used = set()
            for _d, qs in blockers:
                used |= qs
            need = max(used) + 1
            raise ValidationError(
                option,
                "shrinking %s from %d to %d RX queues would cut off queue(s) %s, still used by: %s. "
                "Move or remove them first (vmnet.netkit.rss_contexts, vmnet.netkit.ntuple_rules, "
                "vmnet.netkit.netkit_link), then shrink"
                % (dev, old_rx, new_rx, queue_ranges(used), "; ".join(d for d, _q in blockers)),
                value=changes[option], allowed="combined + rx >= %d while these are in use" % need)
    argv = et.channels_argv(ETHTOOL, dev, changes)
    steps = ["%s %d -> %d" % (k, ch["current"].get(k, 0), v) for k, v in sorted(changes.items())]
    summary = "set channels of %s: %s" % (dev, ", ".join(steps))
    return [action("channels", argv, summary, device=dev, values=changes)]


# ---------------------------------------------------------------- RSS contexts

def _spec_from_params(item):
    spec = {"start": item.get("start") or 0}
    if item.get("weights"):
        spec["weights"] = [int(w) for w in item["weights"]]
    elif item.get("equal") is not None:
        spec["equal"] = int(item["equal"])
    if item.get("hfunc"):
        spec["hfunc"] = item["hfunc"]
    if item.get("key"):
        spec["key"] = item["key"]
    return spec


def _check_spec(option, spec, state, what):
    dev = state["device"]
    rings = rx_queue_count(state)
    rss = state.get("rss") or {}
    size = rss.get("indir_size") or len(rss.get("table") or [])
    if "weights" not in spec and "equal" not in spec:
        raise ValidationError(option, "%s needs a table: equal (with start) or weights" % what)
    if "weights" in spec:
        if any(w < 0 for w in spec["weights"]):
            raise ValidationError(option + ".weights", "weights must not be negative", value=spec["weights"])
        if sum(spec["weights"]) == 0:
            raise ValidationError(option + ".weights", "at least one weight must be non-zero", value=spec["weights"])
        if size and sum(spec["weights"]) > size:
            raise ValidationError(option + ".weights", "total weight %d exceeds the indirection table size %d of %s"
                                  % (sum(spec["weights"]), size, dev), allowed="sum <= %d" % size)
    elif spec["equal"] < 1:
        raise ValidationError(option + ".equal", "must be at least 1", value=spec["equal"])
    if spec.get("start", 0) < 0:
        raise ValidationError(option + ".start", "must not be negative", value=spec["start"])
    queues = spec_queues(spec)
    if rings and queues and max(queues) >= rings:
        raise ValidationError(option, "%s would use queue(s) %s but %s has %d RX queues (0-%d); set more channels "
                              "first with vmnet.netkit.nic_channels or pick lower queues"
                              % (what, queue_ranges(queues), dev, rings, rings - 1),
                              value=spec_text(spec), allowed="queues 0-%d" % (rings - 1))
    if spec.get("hfunc") and spec["hfunc"] not in HFUNC_NAMES:
        raise ValidationError(option + ".hfunc", "unknown hash function %r" % spec["hfunc"], allowed=", ".join(HFUNC_NAMES))
    if spec.get("key"):
        try:
            spec["key"] = normalize_key(spec["key"])
        except ValueError as e:
            raise ValidationError(option + ".key", str(e), value=spec["key"])
        ksize = rss.get("key_size")
        if ksize and key_len(spec["key"]) != ksize:
            raise ValidationError(option + ".key", "%s takes a %d-byte key, got %d bytes" % (dev, ksize, key_len(spec["key"])),
                                  allowed="%d colon-separated hex bytes" % ksize)


def _default_matches(state, spec, record):
    rss = state.get("rss") or {}
    table = rss.get("table") or []
    if spec.get("reset"):
        return not default_table_configured(state, record)
    return table_matches_spec(table, spec, rss.get("hfunc"), rss.get("key"))


def plan_contexts(state, record, params):
    """rss_contexts: -> {"actions", "names" (name -> id|None), "notes", "record"}."""
    require_device(state)
    dev = state["device"]
    mode = params.get("state") or "merged"
    default = params.get("default")
    items = params.get("contexts") or []
    record = copy.deepcopy(record or {})
    record.setdefault("contexts", {})
    record.setdefault("default", {})
    notes = []
    contexts = state.get("contexts") or {}
    rss = state.get("rss")
    wants_tables = mode in ("merged", "replaced", "overridden")

    if rss is None:
        if (default or items) and mode != "deleted":
            raise UnsupportedError("rss", "%s (driver %s) has no RSS indirection table (ethtool -x: Operation not "
                                   "supported)" % (dev, state.get("driver") or "unknown"),
                                   provided_by="a multi-queue NIC whose driver implements get/set_rxfh")
        return {"actions": [], "names": dict((i["name"], None) for i in items), "notes": notes, "record": record}

    # ---- validate the wanted items
    wanted = []
    seen = {}
    for i, item in enumerate(items):
        name = item.get("name")
        if not name:
            raise ValidationError("contexts[%d].name" % i, "every context needs a name")
        if name in seen:
            raise ValidationError("contexts[%d].name" % i, "name %r is used twice (contexts[%d] and contexts[%d]); "
                                  "names must be unique" % (name, seen[name], i), value=name)
        seen[name] = i
        if wants_tables:
            spec = _spec_from_params(item)
            _check_spec("contexts[%d]" % i, spec, state, "context %r" % name)
            wanted.append((i, name, spec))
        else:
            wanted.append((i, name, None))
    if wanted and wants_tables and state.get("contexts_supported") is False:
        raise UnsupportedError("rss_contexts", "%s (driver %s) does not support additional RSS contexts "
                               "(ethtool -x %s context N: Operation not supported)"
                               % (dev, state.get("driver") or "unknown", dev), provided_by=CONTEXTS_PROVIDED_BY)
    dspec = None
    if default and wants_tables:
        if default.get("reset"):
            dspec = {"reset": True}
        else:
            dspec = _spec_from_params(default)
            _check_spec("default", dspec, state, "the default table")

    valid, problems = valid_contexts(record, state)
    claimed = dict((cid, name) for name, cid in valid.items())
    actions = []
    names = {}
    deletes = []

    if wants_tables:
        # ---- overlap / duplicates among the slices that will exist afterwards
        for a in range(len(wanted)):
            for b in range(a + 1, len(wanted)):
                ia, na, sa = wanted[a]
                ib, nb, sb = wanted[b]
                qa, qb = spec_queues(sa), spec_queues(sb)
                if qa == qb:
                    raise ValidationError("contexts[%d]" % ib, "contexts %r and %r are duplicates (both queues %s); "
                                          "each slice needs its own queues" % (na, nb, queue_ranges(qa)))
                if qa & qb:
                    raise ValidationError("contexts[%d]" % ib, "contexts %r (queues %s) and %r (queues %s) overlap "
                                          "on queue(s) %s; each slice needs its own queues"
                                          % (na, queue_ranges(qa), nb, queue_ranges(qb), queue_ranges(qa & qb)))
        if dspec and not dspec.get("reset"):
            dq = spec_queues(dspec)
            for i, name, spec in wanted:
                if dq & spec_queues(spec):
                    raise ValidationError("default", "the default table (queues %s) overlaps context %r (queues %s) "
                                          "on queue(s) %s; host traffic and slices need separate queues"
                                          % (queue_ranges(dq), name, queue_ranges(spec_queues(spec)),
                                             queue_ranges(dq & spec_queues(spec))))

        # ---- which kernel context is each name?
        resolved = {}
        for i, name, spec in wanted:
            cid = valid.get(name)
            if cid is None:
                if name in problems:
                    notes.append("%s; it will be recreated" % problems[name])
                for other in sorted(k for k in contexts if isinstance(k, int)):
                    c = contexts[other]
                    if other not in claimed and other not in resolved.values() and \
                            table_matches_spec(c.get("table"), spec, c.get("hfunc"), c.get("key")):
                        cid = other
                        notes.append("context %r adopted existing context %d (same table)" % (name, other))
                        break
            resolved[name] = cid
        kept_others = {}
        for cid in sorted(k for k in contexts if isinstance(k, int)):
            if cid in resolved.values():
                continue
            owner = claimed.get(cid)
            # owned_only (host_network): a context no record names is someone else's; it stays
            if mode == "overridden" and (owner is not None or not params.get("owned_only")):
                deletes.append((cid, owner))
            else:
                kept_others[cid] = owner
        for i, name, spec in wanted:
            for cid, owner in sorted(kept_others.items()):
                qs = set(contexts[cid].get("table") or [])
                if qs & spec_queues(spec) and owner != name:
                    raise ValidationError("contexts[%d]" % i, "context %r (queues %s) overlaps existing context %d%s "
                                          "(queues %s); delete it (state: overridden or deleted) or pick other queues"
                                          % (name, queue_ranges(spec_queues(spec)), cid,
                                             " %r" % owner if owner else " (not managed by name)", queue_ranges(qs)))
        maxc = state.get("max_contexts") or record.get("max_contexts")
        total = len(wanted) + len(kept_others)
        if maxc and total > maxc:
            foreign = sorted(cid for cid, owner in kept_others.items() if owner is None)
            raise ValidationError("contexts", "%d RSS contexts would exist on %s but the NIC allows at most %d%s"
                                  % (total, dev, maxc, "; %d of them not made by vmnet.netkit: ids %s" % (
                                      len(foreign), queue_ranges(foreign)) if foreign else ""),
                                  allowed="at most %d contexts" % maxc)
        if dspec and not _default_matches(state, dspec, record):
            actions.append(_default_action(dev, dspec, state))
        elif mode == "overridden" and not default and default_table_configured(state, record):
            actions.append(_default_action(dev, {"reset": True}, state))
        for i, name, spec in wanted:
            cid = resolved[name]
            names[name] = cid
            if cid is None:
                actions.append(action("context_create", et.rxfh_context_create_argv(ETHTOOL, dev, spec),
                                      "create RSS context %r on %s: %s" % (name, dev, spec_text(spec)),
                                      device=dev, name=name, spec=spec, id=None))
            else:
                c = contexts[cid]
                if not table_matches_spec(c.get("table"), spec, c.get("hfunc"), c.get("key")):
                    actions.append(action("context_update", et.rxfh_context_update_argv(ETHTOOL, dev, cid, spec),
                                          "change RSS context %d %r on %s to %s" % (cid, name, dev, spec_text(spec)),
                                          device=dev, name=name, spec=spec, id=cid))
    elif params.get("foreign_only"):
        # deleted, host_network's remove_strays: the contexts no record names (someone else's), nothing else
        for cid in sorted(k for k in contexts if isinstance(k, int)):
            if cid not in claimed:
                deletes.append((cid, None))
    else:  # deleted
        if items:
            for i, name, _s in wanted:
                cid = valid.get(name)
                names[name] = None
                if cid is None:
                    if name in problems:
                        notes.append("%s; nothing to delete" % problems[name])
                    continue
                deletes.append((cid, name))
        else:
            for cid in sorted(k for k in contexts if isinstance(k, int)):
                deletes.append((cid, claimed.get(cid)))
        if (default is not None or not items) and default_table_configured(state, record):
            actions.append(_default_action(dev, {"reset": True}, state))

    # ---- deletions first (reverse order of creation), refused while a rule uses the context
    del_actions = []
    for cid, owner in deletes:
        users = [r for r in state.get("rules") or [] if r.get("context") == cid and not r.get("drop")]
        if users:
            nm = names_by_id(record, state)
            raise ValidationError("contexts", "RSS context %d%s on %s is still used by ntuple rule(s): %s; delete "
                                  "them first (vmnet.netkit.ntuple_rules with state: deleted) or keep the context"
                                  % (cid, " %r" % owner if owner else "", dev,
                                     "; ".join(rule_text(r, nm) for r in users)))
        del_actions.append(context_delete_action(dev, cid, owner))
    actions = del_actions + actions
    return {"actions": actions, "names": names, "notes": notes, "record": record}


def context_delete_action(dev, cid, owner=None):
    return action("context_delete", et.rxfh_context_delete_argv(ETHTOOL, dev, cid),
                  "delete RSS context %d%s on %s" % (cid, " %r" % owner if owner else "", dev),
                  device=dev, name=owner, id=cid)


def _default_action(dev, spec, state):
    if spec.get("reset"):
        return action("default_reset", et.rxfh_default_argv(ETHTOOL, dev, {"reset": True}),
                      "reset the default RSS table of %s to the driver's spread" % dev, device=dev, spec=spec)
    return action("default_set", et.rxfh_default_argv(ETHTOOL, dev, spec),
                  "set the default RSS table of %s: %s" % (dev, spec_text(spec)), device=dev, spec=spec)


# ---------------------------------------------------------------- ntuple rules

def _rule_from_params(i, item, state, valid, problems, resolve_actions, pending=None):
    """One rule of the parameters -> canonical rule.  ``pending``: a list to collect the names of
    contexts that are not recorded yet, in check mode (where rss_contexts creates none, so a rule
    for a context the same run would create cannot be resolved): such a rule gets the placeholder
    ``<id of NAME>`` instead of an error."""
    opt = "rules[%d]" % i
    ft = item.get("flow_type")
    fam = flow_family(ft)
    kw = {}
    for key in ("src_ip", "dst_ip"):
        try:
            kw[key] = canonical_ip(item.get(key), fam)
        except ValueError as e:
            raise ValidationError("%s.%s" % (opt, key), str(e), value=item.get(key))
    for key in ("src_port", "dst_port"):
        val = item.get(key)
        if val is not None:
            if ft not in L4_FLOW_TYPES:
                raise ValidationError("%s.%s" % (opt, key), "ports need a tcp, udp or sctp flow type, not %s" % ft,
                                      value=val, allowed=", ".join(L4_FLOW_TYPES))
            if not 0 <= val <= 65535:
                raise ValidationError("%s.%s" % (opt, key), "port out of range", value=val, allowed="0-65535")
        kw[key] = val
    rule = new_rule(ft, loc=item.get("loc"), **kw)
    if not resolve_actions:
        return rule
    dev = state["device"]
    # queue 0 and context 0 are choices too (0 == False in Python)
    chosen = [k for k in ("context", "queue") if item.get(k) is not None] + (["drop"] if item.get("drop") else [])
    if len(chosen) != 1:
        raise ValidationError(opt, "give exactly one of context, queue or drop: true (got %s)"
                              % (", ".join(chosen) or "none"), allowed="context | queue | drop: true")
    rings = rx_queue_count(state)
    if item.get("drop"):
        rule["drop"] = True
    elif item.get("queue") is not None:
        q = item["queue"]
        if q < 0 or (rings and q >= rings):
            raise ValidationError(opt + ".queue", "queue %d is outside the %s RX queues of %s" % (q, rings, dev),
                                  value=q, allowed="0-%d" % ((rings or 1) - 1))
        rule["queue"] = q
    else:
        ctx = item["context"]
        text = str(ctx).strip()
        if text.isdigit():
            cid = int(text)
            if cid and cid not in (state.get("contexts") or {}):
                raise ValidationError(opt + ".context", "RSS context %d does not exist on %s" % (cid, dev), value=ctx,
                                      allowed=", ".join(str(k) for k in sorted(state.get("contexts") or {})) or "none")
        elif text in valid:
            cid = valid[text]
        elif pending is not None:
            # check mode: rss_contexts creates (or, for a stale record, recreates) it on the real run
            cid = "<id of %s>" % text
            pending.append(text)
        elif text in problems:
            raise ValidationError(opt + ".context", "%s; run vmnet.netkit.rss_contexts first so it is recreated"
                                  % problems[text], value=ctx)
        else:
            raise ValidationError(opt + ".context", "no RSS context named %r is recorded for %s" % (text, dev),
                                  value=ctx, allowed=", ".join(sorted(valid)) or "none (create it with "
                                  "vmnet.netkit.rss_contexts)")
        rule["context"] = cid
    if rule.get("loc") is not None:
        size = state.get("rule_table_size")
        if rule["loc"] < 0 or (size and rule["loc"] >= size):
            raise ValidationError(opt + ".loc", "location %d is outside the rule table of %s" % (rule["loc"], dev),
                                  value=rule["loc"], allowed="0-%d" % ((size or 1) - 1))
    return rule


def plan_rules(state, record, params, check_mode=False):
    """ntuple_rules: -> {"actions", "wanted" (canonical rules), "notes"}.

    In check mode a context name that is not recorded, or whose record the NIC no longer confirms,
    is taken to be one that rss_contexts creates (or recreates) on the real run (it creates none in
    check mode); the real run still refuses it."""
    require_device(state)
    dev = state["device"]
    mode = params.get("state") or "merged"
    items = params.get("rules") or []
    adding = mode in ("merged", "replaced", "overridden")
    if not state.get("rules_supported"):
        if items and adding:
            raise UnsupportedError("ntuple", "%s (driver %s) has no ntuple rule table (ethtool -n: Operation not "
                                   "supported)" % (dev, state.get("driver") or "unknown"),
                                   provided_by="a NIC whose driver implements get/set_rxnfc")
        return {"actions": [], "wanted": [], "notes": []}
    valid, problems = valid_contexts(record or {}, state)
    names = dict((cid, n) for n, cid in valid.items())
    pending = [] if check_mode else None
    wanted = [_rule_from_params(i, it, state, valid, problems, adding, pending) for i, it in enumerate(items)]
    notes = []
    if pending:
        notes.append("check mode: no valid RSS context named %s is recorded for %s yet; its rules are shown as "
                     "they will be added once vmnet.netkit.rss_contexts has created (or recreated) it (a real run "
                     "without it fails)" % (", ".join(repr(n) for n in sorted(set(pending))), dev))

    # ---- conflicts among the wanted rules
    by_match = {}
    by_loc = {}
    for i, r in enumerate(wanted):
        m = rule_match(r)
        if m in by_match:
            j = by_match[m]
            if adding and rule_action(wanted[j]) != rule_action(r):
                raise ValidationError("rules[%d]" % i, "rules[%d] and rules[%d] have the same match (%s) but different "
                                      "actions (%s / %s); a flow can go to one place only"
                                      % (j, i, match_text(r), action_text(wanted[j], names), action_text(r, names)))
            raise ValidationError("rules[%d]" % i, "rules[%d] and rules[%d] are duplicates (%s)"
                                  % (j, i, rule_text(r, names)))
        by_match[m] = i
        if r.get("loc") is not None:
            if r["loc"] in by_loc:
                raise ValidationError("rules[%d].loc" % i, "rules[%d] and rules[%d] both ask for location %d"
                                      % (by_loc[r["loc"]], i, r["loc"]))
            by_loc[r["loc"]] = i

    current = list(state.get("rules") or [])
    keep = []
    delete = []
    add = []
    if adding:
        for r in wanted:
            same = [c for c in current if rule_match(c) == rule_match(r)]
            good = [c for c in same if rule_action(c) == rule_action(r) and (r.get("loc") is None or c["loc"] == r["loc"])]
            if good:
                keep.append(good[0]["loc"])
                delete.extend(c["loc"] for c in same if c is not good[0])
            else:
                delete.extend(c["loc"] for c in same)
                add.append(r)
        if mode == "overridden":
            # owned_only (host_network): only rules that steer to a context the record names are ours
            delete.extend(c["loc"] for c in current if c["loc"] not in keep
                          and (not params.get("owned_only") or c.get("context") in names))
    elif params.get("foreign_only"):
        # deleted, host_network's remove_strays: the rules that do not steer to a context a record names
        delete.extend(c["loc"] for c in current if c.get("context") not in names or c.get("drop"))
    else:
        if items:
            matches = set(rule_match(r) for r in wanted)
            delete.extend(c["loc"] for c in current if rule_match(c) in matches)
        else:
            delete.extend(c["loc"] for c in current)
    delete = sorted(set(delete) - set(keep), reverse=True)

    # ---- locations and table room
    occupied = dict((c["loc"], c) for c in current if c["loc"] not in delete)
    for i, r in enumerate(wanted):
        if r in add and r.get("loc") is not None and r["loc"] in occupied:
            raise ValidationError("rules[%d].loc" % i, "location %d of %s holds another rule (%s); use state: overridden "
                                  "to replace it or pick another location"
                                  % (r["loc"], dev, rule_text(occupied[r["loc"]], names)), value=r["loc"])
    size = state.get("rule_table_size")
    if size and len(occupied) + len(add) > size:
        raise ValidationError("rules", "%d rules would not fit into the %d-entry rule table of %s"
                              % (len(occupied) + len(add), size, dev), allowed="at most %d rules" % size)

    actions = []
    if add and not (state.get("ntuple") or {}).get("active", True):
        if (state.get("ntuple") or {}).get("fixed"):
            raise UnsupportedError("ntuple", "ntuple-filters: off [fixed] on %s (driver %s): the NIC cannot steer "
                                   "flows" % (dev, state.get("driver") or "unknown"),
                                   provided_by="a NIC whose driver supports ntuple filters")
        actions.append(action("ntuple_on", et.ntuple_feature_argv(ETHTOOL, dev, True),
                              "turn ntuple-filters on for %s" % dev, device=dev))
    by_loc_current = dict((c["loc"], c) for c in current)
    for loc in delete:
        actions.append(action("rule_delete", et.ntuple_delete_argv(ETHTOOL, dev, loc),
                              "delete ntuple rule %s" % rule_text(by_loc_current[loc], names),
                              device=dev, loc=loc, rule=by_loc_current[loc]))
    for r in add:
        actions.append(action("rule_add", et.ntuple_add_argv(ETHTOOL, dev, r),
                              "add ntuple rule %s" % rule_text(r, names), device=dev, rule=r, loc=r.get("loc")))
    return {"actions": actions, "wanted": wanted, "notes": notes}


# ---------------------------------------------------------------- check mode

def simulate(state, actions, results=None):
    """Apply planned actions to a copy of ``state`` (new contexts get id ``None``)."""
    st = copy.deepcopy(state)
    results = results or {}
    for n, act in enumerate(actions):
        op = act["op"]
        if op == "ntuple_on":
            st["ntuple"] = {"active": True, "fixed": False}
        elif op == "channels":
            st["channels"]["current"].update(act["values"])
            cur = st["channels"]["current"]
            st["rx_rings"] = cur.get("combined", 0) + cur.get("rx", 0)
            if not default_table_configured(state):
                size = len((st.get("rss") or {}).get("table") or [])
                if size:
                    st["rss"]["table"] = default_table(size, st["rx_rings"])
        elif op in ("default_set", "default_reset"):
            size = len(st["rss"]["table"])
            if op == "default_reset":
                st["rss"]["table"] = default_table(size, rx_queue_count(st))
            else:
                st["rss"]["table"] = spec_table(act["spec"], size)
                if act["spec"].get("hfunc"):
                    st["rss"]["hfunc"] = act["spec"]["hfunc"]
                if act["spec"].get("key"):
                    st["rss"]["key"] = act["spec"]["key"]
        elif op in ("context_create", "context_update"):
            size = (st.get("rss") or {}).get("indir_size") or len((st.get("rss") or {}).get("table") or [])
            cid = act.get("id") if op == "context_update" else results.get(n, {}).get("id")
            key = cid if cid is not None else ("new", act["name"])
            st["contexts"][key] = {"id": cid, "table": spec_table(act["spec"], size),
                                   "hfunc": act["spec"].get("hfunc"), "key": act["spec"].get("key")}
        elif op == "context_delete":
            st["contexts"].pop(act["id"], None)
        elif op == "rule_delete":
            st["rules"] = [r for r in st["rules"] if r["loc"] != act["loc"]]
        elif op == "rule_add":
            r = dict(act["rule"])
            r["loc"] = results.get(n, {}).get("loc", r.get("loc"))
            st["rules"].append(r)
    return st
