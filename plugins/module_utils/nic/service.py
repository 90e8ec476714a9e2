# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The NIC slicing services behind nic_channels, rss_contexts, ntuple_rules and nic_info.

Each ``run_*`` function takes the module's parameters, a backend (``NicKernel`` or a
fake with the same interface) and the check-mode flag, and returns the module
result: read the state, plan (all validation happens there), apply the actions in
order, read back and re-plan (anything left over is an error naming it), and
report ``changed``, ``before``, ``after``, ``actions``.  The same functions serve a
boot-time re-apply with saved parameters.
"""

from __future__ import annotations

from ansible_collections.vmnet.netkit.plugins.module_utils.nic import planner as nic_planner
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import KernelError, NetkitError, ValidationError
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.backend import NicKernel
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import (
    CHANNEL_KINDS,
    default_table_configured,
    queue_ranges,
    rx_queue_count,
    table_matches_spec,
)
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.slice_store import SliceStore, names_by_id

# Factories the unit tests replace.
BACKEND = NicKernel
STORE = SliceStore

CHECK_MODE_ID_NOTE = ("check mode: the kernel assigns a new context's id when it is created, so the id of "
                      "%r is unknown (null) until the task runs for real")


def make_backend(run_command=None, ethtool=None):
    return BACKEND(run_command=run_command, ethtool=ethtool)


def _store():
    store = STORE()
    try:
        store.load()
    except ValueError as e:
        raise ValidationError(None, "cannot read the slice record: %s" % e)
    return store


def _public(actions):
    return [{"op": a["op"], "command": a["command"], "summary": a["summary"]} for a in actions]


def _apply(backend, device, actions, done_log):
    results = {}
    for n, act in enumerate(actions):
        try:
            results[n] = backend.apply(device, act) or {}
        except KernelError as e:
            prefix = "%s failed" % act["summary"]
            if done_log:
                prefix += " (already done: %s)" % "; ".join(a["summary"] for a in done_log)
            raise KernelError("%s: %s" % (prefix, e), command=act["argv"], stderr=getattr(e, "stderr", None))
        done_log.append(act)
    return results


def _planned(backend, state):
    """Check mode: hand the state this step would leave to a backend that plays it forward (a
    whole-host check mode then plans each step on what the steps before it would have done)."""
    remember = getattr(backend, "remember", None)
    if remember is not None:
        remember(state)


def _readback_error(what, leftover):
    return KernelError("read back after applying: %s still differs from what was asked: %s"
                       % (what, "; ".join(a["summary"] for a in leftover)))


def _record_ids(record):
    return [c.get("id") for c in (record.get("contexts") or {}).values() if c.get("id")]


# ---------------------------------------------------------------- views

def channels_view(state):
    ch = state.get("channels")
    if not ch:
        return None
    return dict((k, ch["current"].get(k, 0)) for k in CHANNEL_KINDS)


def default_view(state, record=None):
    rss = state.get("rss")
    if not rss:
        return None
    table = rss.get("table") or []
    return {"table": table, "queues": queue_ranges(table), "configured": default_table_configured(state, record),
            "hfunc": rss.get("hfunc"), "key": rss.get("key"), "indir_size": len(table)}


def contexts_view(state, record=None, extra_names=None):
    names = names_by_id(record or {}, state)
    out = []
    for key in sorted(state.get("contexts") or {}, key=lambda k: (isinstance(k, tuple), k if isinstance(k, int) else 0, str(k))):
        c = state["contexts"][key]
        name = names.get(key)
        if isinstance(key, tuple):
            name = key[1]
        elif extra_names and key in extra_names:
            name = extra_names[key]
        out.append({"id": c.get("id"), "name": name, "queues": queue_ranges(c.get("table") or []),
                    "table": c.get("table") or [], "hfunc": c.get("hfunc"), "key": c.get("key")})
    return out


def rules_view(state, record=None, extra_names=None):
    names = names_by_id(record or {}, state)
    if extra_names:
        names.update(extra_names)
    out = []
    for r in sorted(state.get("rules") or [], key=lambda r: (r.get("loc") is None, r.get("loc") or 0)):
        item = dict((k, r.get(k)) for k in ("loc", "flow_type", "src_ip", "dst_ip", "src_port", "dst_port",
                                            "context", "queue", "drop", "extra"))
        item["context_name"] = names.get(r.get("context")) if r.get("context") else None
        out.append(item)
    return out


# ---------------------------------------------------------------- nic_channels

def run_from_module(module, run, **kwargs):
    """Run one service function for an AnsibleModule and exit with its result.

    The module object is only used through duck typing (params, run_command,
    get_bin_path, fail_json, exit_json), so this file keeps no Ansible import.
    """
    def run_command(argv):
        # ethtool's messages are matched in English: never in the host's language
        return module.run_command(argv, environ_update={"LC_ALL": "C", "LANG": "C"})

    backend = make_backend(run_command=run_command, ethtool=module.get_bin_path("ethtool"))
    try:
        result = run(module.params, backend, **kwargs)
    except NetkitError as err:
        module.fail_json(msg=str(err), device=module.params["device"], **err.details)
    module.exit_json(**result)


def run_channels(params, backend, check_mode=False, diff=False):
    dev = params["device"]
    store = _store()
    record = store.device(dev)
    state = backend.read(dev, context_ids=_record_ids(record))
    actions = nic_planner.plan_channels(state, params, record)
    before = channels_view(state)
    if actions and not check_mode:
        _apply(backend, dev, actions, [])
        after_state = backend.read(dev, context_ids=_record_ids(record))
        leftover = nic_planner.plan_channels(after_state, params, record)
        if leftover:
            raise _readback_error("channels of %s" % dev, leftover)
    else:
        after_state = nic_planner.simulate(state, actions)
        _planned(backend, after_state)
    after = channels_view(after_state)
    result = {"changed": bool(actions), "device": dev, "actions": _public(actions), "before": before, "after": after,
              "channels": after, "max": dict(state["channels"]["max"])}
    if diff:
        result["diff"] = {"before": before, "after": after}
    return result


# ---------------------------------------------------------------- rss_contexts

def _contexts_state_view(state, record, extra_names=None):
    return {"default": default_view(state, record), "contexts": contexts_view(state, record, extra_names)}


def _render_contexts(params):
    fake = {"device": params["device"], "exists": True, "rss": {"indir_size": 0, "key_size": 0, "table": []},
            "contexts": {}, "rules": [], "contexts_supported": True}
    p = dict(params, state="merged")
    plan = nic_planner.plan_contexts(fake, {}, p)
    return [a["command"] for a in plan["actions"]]


def run_contexts(params, backend, check_mode=False, diff=False):
    dev = params["device"]
    mode = params.get("state") or "merged"
    if mode == "rendered":
        return {"changed": False, "device": dev, "rendered": _render_contexts(params), "actions": []}
    store = _store()
    record = store.device(dev)
    state = backend.read(dev, context_ids=_record_ids(record))
    nic_planner.require_device(state)
    if mode == "gathered":
        view = _contexts_state_view(state, record)
        names = dict((c["name"], c["id"]) for c in view["contexts"] if c["name"])
        return {"changed": False, "device": dev, "gathered": view, "contexts": names, "actions": [],
                "before": view, "after": view}
    plan = nic_planner.plan_contexts(state, record, params)
    actions = plan["actions"]
    notes = list(plan["notes"])
    new_record = plan["record"]
    before = _contexts_state_view(state, record)
    names = dict(plan["names"])
    if check_mode:
        after_state = nic_planner.simulate(state, actions)
        _planned(backend, after_state)
        for act in actions:
            if act["op"] == "context_create":
                notes.append(CHECK_MODE_ID_NOTE % act["name"])
        after = _contexts_state_view(after_state, record)
    else:
        results = {}
        if actions:
            done = []
            try:
                results = _apply(backend, dev, actions, done)
            except KernelError as e:
                held = _learn_limit(store, state, actions, done, e, dev)
                if held is None:
                    raise
                raise KernelError("%s; %s" % (e, _no_room(dev, held, record, done)), command=e.command,
                                  errno=e.errno, stderr=e.stderr)
        if actions:
            after_state = backend.read(dev, context_ids=_record_ids(record) + [a.get("id") for a in actions if a.get("id")]
                                       + [r.get("id") for r in results.values() if r.get("id")])
        else:
            after_state = state
        taken = set(v for v in names.values() if v)
        for n, act in enumerate(actions):
            if act["op"] != "context_create":
                continue
            cid = results.get(n, {}).get("id")
            if cid is None or cid not in after_state["contexts"]:
                # ethtool did not print "New RSS context is N": find the new context by its table
                cid = None
                for other in sorted(k for k in after_state["contexts"] if isinstance(k, int)):
                    c = after_state["contexts"][other]
                    if other not in state["contexts"] and other not in taken and \
                            table_matches_spec(c.get("table"), act["spec"], c.get("hfunc"), c.get("key")):
                        cid = other
                        break
                if cid is None:
                    raise KernelError("created RSS context %r on %s but cannot find it when reading back "
                                      "(ethtool printed no id and no new context has the table %s)"
                                      % (act["name"], dev, act["command"]), command=act["argv"])
                notes.append("id of context %r found by reading back (%d)" % (act["name"], cid))
            names[act["name"]] = cid
            taken.add(cid)
        _update_record(new_record, params, names, actions, after_state, mode)
        store.put_device(dev, new_record)
        try:
            store.save()
        except KernelError as err:
            _forget_created(backend, dev, actions, names, err)
        leftover = nic_planner.plan_contexts(after_state, new_record, params)["actions"]
        if leftover:
            raise _readback_error("the RSS configuration of %s" % dev, leftover)
        after = _contexts_state_view(after_state, new_record)
    result = {"changed": bool(actions), "device": dev, "actions": _public(actions), "contexts": names,
              "before": before, "after": after, "notes": notes}
    if diff:
        result["diff"] = {"before": before, "after": after}
    return result


def _forget_created(backend, dev, actions, names, err):
    """The record could not be written: delete the contexts this run created (nothing else would
    know their ids, so a re-run would make new ones beside them), then fail with the reason."""
    undone = []
    for act in actions:
        cid = names.get(act.get("name")) if act["op"] == "context_create" else None
        if cid:
            try:
                backend.apply(dev, nic_planner.context_delete_action(dev, cid, act.get("name")))
                undone.append(cid)
            except KernelError:
                pass
    raise KernelError("%s%s" % (err, "; the RSS context(s) %s created by this run were deleted again, so a re-run "
                                "starts clean" % ", ".join(str(c) for c in undone) if undone else ""),
                      errno=err.errno)


def _update_record(record, params, names, actions, state, mode):
    record["ifindex"] = state.get("ifindex")
    deleted_ids = set(a["id"] for a in actions if a["op"] == "context_delete")
    for name in list(record["contexts"]):
        if record["contexts"][name].get("id") in deleted_ids:
            del record["contexts"][name]
    if mode == "deleted":
        for item in params.get("contexts") or []:
            record["contexts"].pop(item["name"], None)
        if not params.get("contexts") and not params.get("foreign_only"):
            # all of them went; with foreign_only only contexts no record names did, and the record stays
            record["contexts"] = {}
    else:
        for item in params.get("contexts") or []:
            cid = names.get(item["name"])
            if cid:
                record["contexts"][item["name"]] = {"id": cid, "spec": nic_planner._spec_from_params(item)}
                if record["contexts"][item["name"]]["spec"].get("key"):
                    record["contexts"][item["name"]]["spec"]["key"] = record["contexts"][item["name"]]["spec"]["key"].lower()
    default = params.get("default")
    for act in actions:
        if act["op"] == "default_set":
            record["default"] = {"configured": True, "spec": act["spec"]}
        elif act["op"] == "default_reset":
            record["default"] = {"configured": False, "reset_table": list((state.get("rss") or {}).get("table") or [])}
    if default and not default.get("reset") and mode != "deleted" and not record["default"].get("configured"):
        spec = nic_planner._spec_from_params(default)
        if state.get("rss") and table_matches_spec(state["rss"].get("table"), spec):
            record["default"] = {"configured": True, "spec": spec}


def _learn_limit(store, state, actions, done, err, dev):
    """A context create refused for lack of room (EBUSY from the kernel's id allocator, ENOSPC from
    some drivers): record how many contexts the NIC held at that moment, those it had before this run
    less the ones the run deleted plus the ones it created, so the next run refuses before the first
    write. Only the create that failed counts: a busy delete (a rule uses the context) says nothing
    about the limit."""
    failed = actions[len(done)] if len(done) < len(actions) else None
    text = str(err).lower()
    if failed is None or failed["op"] != "context_create" or ("busy" not in text and "no space" not in text):
        return None
    held = set(k for k in state.get("contexts") or {} if isinstance(k, int))
    held -= set(a["id"] for a in done if a["op"] == "context_delete")
    count = len(held) + len([a for a in done if a["op"] == "context_create"])
    try:
        latest = store.device(dev)
        latest["max_contexts"] = max(count, 1)
        store.put_device(dev, latest)
        store.save()
    except (IOError, OSError, KernelError):
        pass  # the refusal itself is the error to report
    return held


def _no_room(dev, held, record, done):
    """What a user needs to know when the NIC refused a context for lack of room: how many it held,
    and which of them are not the collection's (those it will never delete)."""
    created = len([a for a in done if a["op"] == "context_create"])
    foreign = sorted(held - set(_record_ids(record)))
    parts = ["%d recorded by vmnet.netkit" % (len(held) - len(foreign))]
    if created:
        parts.append("%d created by this run" % created)
    if foreign:
        parts.append("%d not made by vmnet.netkit: ids %s" % (len(foreign), queue_ranges(foreign)))
    return ("%s has no room for another RSS context: it held %d when this one was refused (%s); delete the "
            "contexts no longer needed (ethtool -X %s context N delete) and run again"
            % (dev, len(held) + created, ", ".join(parts), dev))


# ---------------------------------------------------------------- ntuple_rules

def _render_rules(params, record):
    """Commands for the listed rules without reading the NIC (context names -> recorded ids if any)."""
    ids = dict((n, c.get("id")) for n, c in (record.get("contexts") or {}).items())
    fake = {"device": params["device"], "exists": True, "contexts": {}, "rules_supported": True}
    lines = []
    for i, item in enumerate(params.get("rules") or []):
        rule = nic_planner._rule_from_params(i, item, fake, {}, {}, False)
        ctx = item.get("context")
        if item.get("drop"):
            rule["drop"] = True
        elif item.get("queue") is not None:
            rule["queue"] = item["queue"]
        elif ctx is not None:
            text = str(ctx).strip()
            rule["context"] = int(text) if text.isdigit() else (ids.get(text) or "<id of %s>" % text)
        else:
            raise ValidationError("rules[%d]" % i, "give exactly one of context, queue or drop: true")
        argv = nic_planner.et.ntuple_add_argv(nic_planner.ETHTOOL, params["device"], rule)
        lines.append(nic_planner.action("rule_add", argv, "")["command"])
    return lines


def run_rules(params, backend, check_mode=False, diff=False):
    dev = params["device"]
    mode = params.get("state") or "merged"
    store = _store()
    record = store.device(dev)
    if mode == "rendered":
        return {"changed": False, "device": dev, "rendered": _render_rules(params, record), "actions": []}
    state = backend.read(dev, context_ids=_record_ids(record))
    nic_planner.require_device(state)
    if mode == "gathered":
        view = rules_view(state, record)
        return {"changed": False, "device": dev, "gathered": view, "rules": view, "actions": [],
                "before": view, "after": view}
    plan = nic_planner.plan_rules(state, record, params, check_mode=check_mode)
    actions = plan["actions"]
    before = rules_view(state, record)
    if check_mode or not actions:
        after_state = nic_planner.simulate(state, actions)
        _planned(backend, after_state)
    else:
        _apply(backend, dev, actions, [])
        after_state = backend.read(dev, context_ids=_record_ids(record))
        leftover = nic_planner.plan_rules(after_state, record, params)["actions"]
        if leftover:
            raise _readback_error("the ntuple rules of %s" % dev, leftover)
    after = rules_view(after_state, record)
    result = {"changed": bool(actions), "device": dev, "actions": _public(actions), "rules": after,
              "before": before, "after": after,
              "ntuple": after_state.get("ntuple"), "notes": plan["notes"]}
    if diff:
        result["diff"] = {"before": before, "after": after}
    return result


# ---------------------------------------------------------------- nic_info

def run_info(params, backend):
    dev = params["device"]
    store = _store()
    record = store.device(dev)
    state = backend.read(dev, context_ids=_record_ids(record))
    nic_planner.require_device(state)
    versions = backend.versions()
    ch = state.get("channels")
    contexts = contexts_view(state, record)
    return {
        "changed": False,
        "device": dev,
        "driver": state.get("driver"),
        "ifindex": state.get("ifindex"),
        "channels": {"current": dict(ch["current"]), "max": dict(ch["max"])} if ch else None,
        "rx_queues": rx_queue_count(state),
        "ntuple": state.get("ntuple"),
        "default": default_view(state, record),
        "contexts": contexts,
        "context_names": dict((c["name"], c["id"]) for c in contexts if c["name"]),
        "rules": rules_view(state, record),
        "capabilities": {
            "rss": state.get("rss") is not None,
            "contexts_supported": bool(state.get("contexts_supported")),
            "max_contexts": state.get("max_contexts") or record.get("max_contexts"),
            "rules_supported": bool(state.get("rules_supported")),
            "rule_table_size": state.get("rule_table_size"),
            "driver_picks_location": state.get("driver_picks_location"),
            "ntuple_fixed": (state.get("ntuple") or {}).get("fixed"),
            "indir_size": (state.get("rss") or {}).get("indir_size"),
            "key_size": (state.get("rss") or {}).get("key_size"),
            "ethtool_version": versions.get("ethtool"),
            "kernel_version": versions.get("kernel"),
            "rss_netlink_dump": bool(state.get("rss_dump")),
            "read_with": dict(state.get("sources") or {}),
        },
    }
