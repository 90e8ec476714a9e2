# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The services behind netkit_link and netkit_info.

``plan_link`` is pure: the wanted device (module parameters), what exists, the
kernel's capabilities and the NIC's queue facts in; validation errors or an ordered
list of actions out.  ``run_link`` reads the host through a backend (NetkitKernel or
a fake), plans, applies, reads back, and removes a half-made device when the kernel
did not apply what was asked (so a re-run starts from a clean slate).
"""

from __future__ import annotations

import functools
import re

from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import caps as netkit_caps
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import vm_processes
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import (
    KernelError, NetkitError, UnsupportedError, ValidationError)
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit.backend import NetkitKernel
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink.core import NetlinkError

BACKEND = NetkitKernel

IFNAMSIZ = 16
NAME_RE = re.compile(r"^[^/:\s]+$")
# what can change on a live device (everything else needs recreate: true)
LIVE = ("policy", "peer_policy", "up", "mtu", "address", "netns")
IMMUTABLE = ("mode", "pairing", "scrub", "headroom", "tailroom", "numrxqueues", "peer_name",
             "peer_scrub", "peer_address", "peer_netns", "lower")


def make_backend():
    return BACKEND()


def _reading_errors(run):
    """A netlink read the kernel refused or left unanswered (not root, a timeout) -> KernelError, which
    the modules report with the kernel's words (changes are named by _apply already)."""
    @functools.wraps(run)
    def wrapper(*args, **kwargs):
        try:
            return run(*args, **kwargs)
        except NetlinkError as err:
            raise KernelError(str(err), errno=err.errno)
    return wrapper


def check_ifname(option, name):
    if not name or len(name) >= IFNAMSIZ or not NAME_RE.match(name) or name in (".", ".."):
        raise ValidationError(option, "%r is not a valid interface name: 1 to %d characters, no '/', ':' "
                              "or whitespace, not '.' or '..'" % (name, IFNAMSIZ - 1), value=name)


def check_netns_name(option, name):
    # the name becomes a path under /run/netns: nothing that leaves that directory
    if not name or name in (".", "..") or not NAME_RE.match(name):
        raise ValidationError(option, "%r is not a network namespace name (a file name under /run/netns: "
                              "no '/', ':' or whitespace, not '.' or '..')" % (name,), value=name)


def check_names(params):
    """Every name the request carries, checked before the first request to the kernel (a name the
    kernel's policy rejects would otherwise come back as an opaque netlink error)."""
    peer = params.get("peer") or {}
    lower = params.get("lower") or {}
    check_ifname("name", params["name"])
    for option, value in (("peer.name", peer.get("name")), ("lower.device", lower.get("device"))):
        if value is not None:
            check_ifname(option, value)
    for option, value in (("netns", params.get("netns")), ("peer.netns", peer.get("netns"))):
        if value is not None:
            check_netns_name(option, value)


def check_owned(name, link):
    """Refuse a device this module does not own: anything that is not the primary of a netkit device.

    A typo in a name that matches a bridge, a bond, a veth or the NIC must never delete, recreate
    or change it: that could cut the host off its network."""
    if link is None:
        return
    kind = link.get("kind")
    if kind != "netkit":
        what = ("a %s device" % kind) if kind else "a device without a link kind (a physical NIC or similar)"
        raise ValidationError("name", "%s is %s, not a netkit device; netkit_link creates, changes and deletes "
                              "only netkit devices, so it left %s untouched: pick a name no other device has"
                              % (name, what, name), value=name)
    if (link.get("netkit") or {}).get("primary") is False:
        raise ValidationError("name", "%s is the peer of a netkit pair; a pair is changed and deleted through its "
                              "primary (the device named at creation), so %s was left untouched"
                              % (name, name), value=name)


# ---------------------------------------------------------------- the wanted device

def wanted(params, caps=None):
    """Module parameters -> flat dict of the attributes the user set (unset = not managed).

    With ``lower`` and no ``pairing``, the pairing that binding needs on this kernel is wanted:
    single where the kernel has it (leased queues serve AF_XDP only on a single device)."""
    peer = params.get("peer") or {}
    keys = ("mode", "pairing", "policy", "scrub", "headroom", "tailroom", "mtu", "address", "numrxqueues",
            "netns", "up")
    want = dict((k, params.get(k)) for k in keys)
    want.update({"peer_name": peer.get("name"), "peer_netns": peer.get("netns"),
                 "peer_policy": peer.get("policy"), "peer_scrub": peer.get("scrub"),
                 "peer_address": peer.get("address")})
    lower = params.get("lower")
    if lower:
        want["lower"] = {"device": lower["device"], "queues": list(range(lower["queues"][0],
                                                                         lower["queues"][1] + 1))}
    else:
        want["lower"] = None
    if lower and want.get("pairing") is None and (caps or {}).get("single"):
        want["pairing"] = "single"
    if params.get("address"):
        want["address"] = params["address"].lower()
    if peer.get("address"):
        want["peer_address"] = peer["address"].lower()
    return dict((k, v) for k, v in want.items() if v is not None)


def current_view(link, peer=None, lease_map=None):
    """A live device (parsed link, its peer, its leases) in the same flat form as wanted()."""
    if link is None:
        return None
    nk = link.get("netkit") or {}
    view = {
        "name": link["name"], "ifindex": link["ifindex"], "netns": link.get("netns"),
        "mode": nk.get("mode"), "pairing": nk.get("pairing", "pair"), "policy": nk.get("policy"),
        "scrub": nk.get("scrub"), "headroom": nk.get("headroom"), "tailroom": nk.get("tailroom"),
        "mtu": link.get("mtu"), "address": link.get("address"), "numrxqueues": link.get("numrxqueues"),
        "up": link.get("up"), "primary": nk.get("primary"),
        "peer_policy": nk.get("peer_policy"), "peer_scrub": nk.get("peer_scrub"),
    }
    if peer is not None:
        view.update({"peer_name": peer["name"], "peer_netns": peer.get("netns"),
                     "peer_address": peer.get("address"), "peer_ifindex": peer["ifindex"]})
    if nk.get("lowerdev"):
        view["lowerdev"] = nk["lowerdev"]
    if lease_map is not None:
        view["leases"] = lease_map
    return view


# ---------------------------------------------------------------- validation

def validate(params, want, caps, facts):
    """Every check that needs no change on the host; raises ValidationError/UnsupportedError.

    ``facts``: {"netns_exists": {name: bool}, "nic": {"exists", "physical", "rx_queues",
    "leases": {queue: holder name or None}}} as far as the parameters need them.
    """
    check_names(params)
    peer = params.get("peer") or {}
    for option, ns in (("netns", params.get("netns")), ("peer.netns", peer.get("netns"))):
        if ns and not facts["netns_exists"].get(ns):
            raise ValidationError(option, "network namespace %r does not exist (no /run/netns/%s); create it "
                                  "first, e.g. with ip netns add %s" % (ns, ns, ns), value=ns)
    _need_netkit(caps)
    single = want.get("pairing") == "single"
    if single:
        set_peer = sorted(k for k, v in peer.items() if v is not None)
        if set_peer:
            raise ValidationError("peer", "a single-mode device has no peer; remove peer.%s or use pairing: pair"
                                  % ", peer.".join(set_peer), value=peer)
        if want.get("policy") == "drop":
            raise ValidationError("policy", "a single-mode device forwards everything: only pass is allowed",
                                  value="drop", allowed="pass")
        _need(caps, "single", "pairing")
    if want.get("scrub") is not None or want.get("peer_scrub") is not None:
        _need(caps, "scrub", "scrub" if want.get("scrub") is not None else "peer.scrub")
    for opt in ("headroom", "tailroom"):
        if want.get(opt) is not None:
            _need(caps, "headroom", opt)
    if want.get("mode", "l3") != "l2":
        for opt, key in (("address", "address"), ("peer.address", "peer_address")):
            if want.get(key):
                raise ValidationError(opt, "a MAC address needs mode: l2 (an l3 device has none)",
                                      value=want[key])
    lower = params.get("lower")
    if lower:
        _validate_lower(params, want, caps, facts.get("nic") or {})


def check_kernel(params, caps):
    """The checks of ``validate`` that need only what the kernel offers: netkit, single mode, a way to bind
    NIC queues. host_network runs them for every VM before its first change, so a kernel that lacks one
    of them changes nothing (``validate`` runs when each device's turn comes, after the NIC's changes)."""
    lower = params.get("lower")
    caps = dict(caps, binding=(lower or {}).get("binding") or "auto")
    _need_netkit(caps)
    if wanted(params, caps).get("pairing") == "single":
        _need(caps, "single", "pairing")
    if lower:
        _need_binding(caps, lower.get("binding") or "auto")


def _need_netkit(caps):
    lack = netkit_caps.missing(caps, "netkit")
    if lack:
        raise UnsupportedError("netkit", lack)  # the sentence names CONFIG_NETKIT and Linux 6.7+


def _need_binding(caps, binding):
    """A way to bind NIC queues that ``binding`` (auto, lease, lowerdev) allows on this kernel."""
    if netkit_caps.lower_mechanism(caps, binding) is not None:
        return
    if binding == "lowerdev":
        raise UnsupportedError("lowerdev", "lower.binding: lowerdev needs %s; kernel %s lacks it (kernel/build builds "
                               "one, the netkit_kernel workflow in docs/netkit.md installs it)" % (
                                   netkit_caps.FEATURES["lowerdev"][1], caps.get("kernel") or "in use"))
    if binding == "lease":
        raise UnsupportedError("leasing", "lower.binding: lease needs %s; kernel %s lacks it" % (
            netkit_caps.LEASING_PROVIDER, caps.get("kernel") or "in use"))
    raise UnsupportedError("lower", "lower: binding NIC queues needs queue leasing, %s, or %s; kernel %s has neither" % (
        netkit_caps.LEASING_PROVIDER, netkit_caps.FEATURES["lowerdev"][1], caps.get("kernel") or "in use"))


def _need(caps, feature, option):
    lack = netkit_caps.missing(caps, feature)
    if lack:
        raise UnsupportedError(feature, "%s: %s" % (option, lack))


def _validate_lower(params, want, caps, nic):
    lower = params["lower"]
    first, last = lower["queues"]
    dev = lower["device"]
    if first > last:
        raise ValidationError("lower.queues", "[from, to] must not be descending: %s" % lower["queues"],
                              value=lower["queues"])
    if first == 0:
        raise ValidationError("lower.queues", "queue 0 stays with the host: it takes the NIC's unsteered traffic "
                              "and the default RSS table's first share; lend queues from 1 up (got %s)"
                              % lower["queues"], value=lower["queues"])
    _need_binding(caps, lower.get("binding") or "auto")
    if not nic.get("exists"):
        raise ValidationError("lower.device", "no network device %r on this host" % dev, value=dev)
    if not nic.get("physical"):
        raise ValidationError("lower.device", "%r is not a physical device (it has no parent device), so it "
                              "cannot lend queues" % dev, value=dev)
    count = nic.get("rx_queues")
    if count is not None and last >= count:
        raise ValidationError("lower.queues", "queues %d..%d are outside %s's %d rx queues (0..%d); raise its "
                              "channel count first (nic_channels)" % (first, last, dev, count, count - 1),
                              value=lower["queues"])
    taken = dict((q, holder) for q, holder in (nic.get("leases") or {}).items()
                 if first <= q <= last and holder is not None)
    if taken:
        raise ValidationError("lower.queues", "%s's queue%s %s already leased to %s; a lease ends only when "
                              "that device is deleted" % (
                                  dev, "s" if len(taken) > 1 else "", ", ".join(str(q) for q in sorted(taken)),
                                  ", ".join(sorted(set(taken.values())))), value=lower["queues"])
    leases = netkit_caps.binds_as_leases(caps)
    if leases and want.get("pairing") != "single":
        raise ValidationError("pairing", "lower with queue leasing needs pairing: single (AF_XDP works on the "
                              "leased queues of a single-mode device only)", value=want.get("pairing", "pair"),
                              allowed="single")
    need = 1 + last - first + 1
    if leases and want.get("numrxqueues") is not None and want["numrxqueues"] < need:
        raise ValidationError("numrxqueues", "%d is too small for %d leased queues: netkit keeps queue 0 and "
                              "appends one queue per lease (at least %d)" % (want["numrxqueues"], need - 1, need),
                              value=want["numrxqueues"])


# ---------------------------------------------------------------- planning

def creation_spec(params, want, caps, nic_ifindex=None):
    """The create request (names, not fds) for ``want``."""
    spec = {"name": params["name"]}
    for key in ("mode", "policy", "scrub", "headroom", "tailroom", "mtu", "address", "numrxqueues"):
        if want.get(key) is not None:
            spec[key] = want[key]
    if want.get("pairing") == "single":
        spec["pairing"] = "single"
    elif caps.get("single") and want.get("pairing") == "pair":
        spec["pairing"] = "pair"
    if want.get("pairing", "pair") == "pair":
        peer = dict((k, want.get("peer_" + k)) for k in ("name", "address", "netns"))
        peer = dict((k, v) for k, v in peer.items() if v is not None)
        if peer:
            spec["peer"] = peer
        if want.get("peer_policy") is not None:
            spec["peer_policy"] = want["peer_policy"]
        if want.get("peer_scrub") is not None:
            spec["peer_scrub"] = want["peer_scrub"]
    lower = want.get("lower")
    mechanism = netkit_caps.lower_mechanism(caps) if lower else None
    if mechanism == "lowerdev":
        spec["lowerdev"] = {"ifindex": nic_ifindex, "from": lower["queues"][0], "to": lower["queues"][-1]}
    if lower and netkit_caps.binds_as_leases(caps) and spec.get("numrxqueues") is None:
        spec["numrxqueues"] = 1 + len(lower["queues"])
    return spec


def _differences(want, cur):
    diffs = {}
    for key, value in want.items():
        if key == "lower":
            have = cur.get("leased")
            if have != value["queues"]:
                diffs[key] = (have, value["queues"])
            continue
        if key == "netns":
            continue
        if cur.get(key) != value:
            diffs[key] = (cur.get(key), value)
    if cur.get("netns") != want.get("netns"):
        diffs["netns"] = (cur.get("netns"), want.get("netns"))
    return diffs


def plan_link(params, want, cur, caps):
    """-> (actions, note); raises ValidationError for a refused change.

    ``cur``: current_view(...) plus "leased": [NIC queues in netkit queue order] (None
    when unknown) and "lease_room": rx queues still free on the device.
    """
    name = params["name"]
    if params["state"] == "absent":
        if cur is None:
            return [], None
        return [{"op": "delete", "netns": cur.get("netns"),
                 "summary": "delete netkit device %s%s" % (name, " (its leases end)" if cur.get("leased") else "")}], None
    if cur is None:
        return _create_actions(params, want, caps), None
    mechanism = netkit_caps.lower_mechanism(caps)
    if want.get("lower") and netkit_caps.binds_as_leases(caps) and cur.get("leased") is None:
        dev = want["lower"]["device"]
        raise ValidationError("lower.device", "%s is down: the kernel reports queue leases only for devices that "
                              "are up, so the leases of %s cannot be checked; bring it up (ip link set %s up) and "
                              "run again" % (dev, name, dev), value=dev)
    diffs = _differences(want, cur)
    immutable = dict((k, v) for k, v in diffs.items() if k in IMMUTABLE)
    if "lower" in immutable and mechanism == "leasing":
        have, new = immutable["lower"]
        # a half-made device: its leases are a prefix of the wanted ones and there is room for the rest
        if have == new[:len(have)] and cur.get("lease_room", 0) >= len(new) - len(have):
            del immutable["lower"]
    if immutable:
        if not params.get("recreate"):
            raise ValidationError(
                sorted(immutable)[0].replace("peer_", "peer."),
                "cannot change %s on the live device %s (%s); only policy, peer.policy, up, mtu, address and "
                "netns change in place: set recreate: true to delete and recreate it%s" % (
                    ", ".join(sorted(k.replace("peer_", "peer.") for k in immutable)), name,
                    "; ".join("%s: %s -> %s" % (k.replace("peer_", "peer."), _show(a), _show(b))
                              for k, (a, b) in sorted(immutable.items())),
                    " (its leases are recreated too)" if want.get("lower") or cur.get("leased") else ""),
                value=dict((k, b) for k, (a, b) in immutable.items()))
        actions = [{"op": "delete", "netns": cur.get("netns"),
                    "summary": "delete netkit device %s to recreate it (%s changes)" % (
                        name, ", ".join(sorted(immutable)))}]
        return actions + _create_actions(params, want, caps), None
    return _live_actions(params, want, cur, diffs), None


def _show(value):
    if isinstance(value, list) and len(value) > 2 and value == list(range(value[0], value[-1] + 1)):
        return "%d..%d" % (value[0], value[-1])
    return value


def _create_actions(params, want, caps):
    name = params["name"]
    lower = want.get("lower")
    spec_note = "create netkit device %s (%s)" % (name, ", ".join(
        "%s %s" % (k, want[k]) for k in ("mode", "pairing", "numrxqueues") if want.get(k) is not None) or "defaults")
    if lower and netkit_caps.lower_mechanism(caps) == "lowerdev":
        spec_note += ", NIC %s queues %d..%d bound with IFLA_NETKIT_LOWERDEV" % (
            lower["device"], lower["queues"][0], lower["queues"][-1])
    actions = [{"op": "create", "summary": spec_note}]
    if lower and netkit_caps.lower_mechanism(caps) == "leasing":
        for n, queue in enumerate(lower["queues"]):
            actions.append({"op": "lease", "device": lower["device"], "queue": queue,
                            "summary": "lease %s rx queue %d to %s (netkit queue %d)" % (
                                lower["device"], queue, name, n + 1)})
    if want.get("netns"):
        actions.append({"op": "move", "from": None, "to": want["netns"],
                        "summary": "move %s into network namespace %s" % (name, want["netns"])})
    if want.get("up") is not None:
        actions.append({"op": "setlink", "netns": want.get("netns"), "up": want["up"],
                        "summary": "set %s %s" % (name, "up" if want["up"] else "down")})
    return actions


def _live_actions(params, want, cur, diffs):
    name = params["name"]
    actions = []
    lower = want.get("lower")
    if "lower" in diffs and lower:
        have = cur.get("leased") or []
        for n, queue in enumerate(lower["queues"][len(have):], start=len(have)):
            actions.append({"op": "lease", "device": lower["device"], "queue": queue, "netns": cur.get("netns"),
                            "summary": "lease %s rx queue %d to %s (netkit queue %d)" % (
                                lower["device"], queue, name, n + 1)})
    ns = cur.get("netns")
    if "netns" in diffs:
        actions.append({"op": "move", "from": ns, "to": want.get("netns"),
                        "summary": "move %s into network namespace %s" % (name, want.get("netns") or "of the host")})
        ns = want.get("netns")
    pol = dict((k, want[k]) for k in ("policy", "peer_policy") if k in diffs)
    if pol:
        actions.append(dict({"op": "policy", "netns": ns, "summary": "set %s %s" % (name, ", ".join(
            "%s %s" % (k.replace("_", " "), v) for k, v in sorted(pol.items())))}, **pol))
    link = dict((k, want[k]) for k in ("mtu", "address") if k in diffs)
    if link:
        actions.append(dict({"op": "setlink", "netns": ns, "summary": "set %s %s" % (name, ", ".join(
            "%s %s" % (k, v) for k, v in sorted(link.items())))}, **link))
    if "up" in diffs:
        actions.append({"op": "setlink", "netns": ns, "up": want["up"],
                        "summary": "set %s %s" % (name, "up" if want["up"] else "down")})
    return actions


# ---------------------------------------------------------------- reading the host

def _find(backend, params):
    """The device wherever it is: the wanted netns first, then the host's."""
    ns = params.get("netns")
    link = backend.link(params["name"], ns)
    if link is None and ns:
        link = backend.link(params["name"], None)
    return link


def _peer_of(backend, link, params):
    if link is None or (link.get("netkit") or {}).get("pairing") == "single" or not link.get("link"):
        return None
    peer_ns = (params.get("peer") or {}).get("netns")
    for ns in ([peer_ns] if peer_ns else []) + [link.get("netns"), None]:
        if not backend.netns_exists(ns):
            continue
        peer = backend.link_by_index(link["link"], ns)
        if peer is not None and peer.get("kind") == "netkit" and peer.get("link") is not None:
            return peer
    return None


def _asks_for(lower, queue):
    """Whether ``lower.queues`` ([from, to]) asks for NIC queue ``queue``; no while the option is
    malformed (validate() says so)."""
    queues = lower.get("queues")
    return isinstance(queues, (list, tuple)) and len(queues) == 2 and \
        all(isinstance(q, int) for q in queues) and queues[0] <= queue <= queues[1]


def _leases(backend, link, lower):
    """Queue leases (upstream): ({netkit queue id: NIC queue} of ``link``, {NIC queue: holder}), or
    (None, None) when the NIC's leases cannot be read (no such NIC, or it is down). Holders are named
    for the queues ``lower`` asks for only: each name is a link lookup, and a host with n devices would
    otherwise pay n of them per device read."""
    nic_leases = backend.nic_leases(lower.get("device")) if lower.get("device") else None
    if nic_leases is None:
        return None, None
    mine = {}
    holders = {}
    for queue, lease in nic_leases.items():
        same_ns = lease.get("netns_id") is None
        if link is not None and lease["ifindex"] == link["ifindex"] and same_ns == (not link.get("netns")):
            mine[lease["queue"]] = queue
            holders[queue] = None
        elif _asks_for(lower, queue):
            holder = backend.link_by_index(lease["ifindex"]) if same_ns else None
            holders[queue] = holder["name"] if holder else "device %d in another network namespace" % lease["ifindex"]
    return mine, holders


def lowerdev_queue_ids(count):
    """The netkit queue ids of a device bound with IFLA_NETKIT_LOWERDEV: queue i of the device is
    NIC queue ``from + i`` (the binding gives the device the range, not queues appended after its own)."""
    return list(range(count))


def _lowerdev_bindings(backend, link, nic):
    """IFLA_NETKIT_LOWERDEV, read back from the devices themselves: the same two maps as _leases."""
    if nic is None:
        return None, None

    def bound(dev):
        nk = dev.get("netkit") or {}
        low = nk.get("lowerdev")
        # the binding is the primary's (a peer may echo it)
        if not low or low["ifindex"] != nic["ifindex"] or nk.get("primary") is False:
            return []
        return list(range(low["from"], low["to"] + 1))

    holders = {}
    for other in backend.netkit_links(None):
        if link is None or link.get("netns") or other["ifindex"] != link["ifindex"]:
            holders.update((q, other["name"]) for q in bound(other))
    queues = bound(link) if link is not None else []
    holders.update((q, None) for q in queues)
    return dict(zip(lowerdev_queue_ids(len(queues)), queues)), holders


def read_state(backend, params):
    link = _find(backend, params)
    check_owned(params["name"], link)
    lower = params.get("lower") or {}
    nic = backend.link(lower["device"]) if lower else None
    caps = backend.capabilities()
    if netkit_caps.lower_mechanism(caps) == "lowerdev" and not netkit_caps.lowerdev_leases(caps):
        mine, holders = _lowerdev_bindings(backend, link, nic)
    else:
        mine, holders = _leases(backend, link, lower)
    cur = current_view(link, _peer_of(backend, link, params))
    if cur is not None:
        # NIC queues in netkit queue order, and the netkit queue ids the kernel gave them
        cur["leased"] = None if mine is None else [mine[k] for k in sorted(mine)]
        cur["leased_ids"] = None if mine is None else sorted(mine)
        if link.get("numrxqueues") is not None:
            cur["lease_room"] = link["numrxqueues"] - 1 - len(mine or {})
    facts = {"netns_exists": dict((ns, backend.netns_exists(ns)) for ns in
                                  (params.get("netns"), (params.get("peer") or {}).get("netns")) if ns)}
    if lower:
        facts["nic"] = {"exists": nic is not None, "ifindex": nic["ifindex"] if nic else None,
                        "physical": nic is not None and backend.is_physical(lower["device"]),
                        "rx_queues": backend.rx_queue_count(lower["device"]) if nic else None,
                        "leases": holders or {}}
    return cur, facts


def public_view(cur):
    if cur is None:
        return {}
    out = dict((k, v) for k, v in cur.items() if k not in ("lease_room", "primary", "leased_ids") and v is not None)
    if "leased" in out:
        out["leased"] = {"nic_queues": out.pop("leased"), "queues": cur["leased_ids"]}
    return out


# ---------------------------------------------------------------- applying

def _apply(backend, params, want, caps, facts, actions):
    name = params["name"]
    done = []
    for act in actions:
        try:
            if act["op"] == "delete":
                backend.delete(name, act.get("netns"))
            elif act["op"] == "create":
                spec = creation_spec(params, want, caps, (facts.get("nic") or {}).get("ifindex"))
                backend.create(spec)
            elif act["op"] == "lease":
                backend.lease(name, act["device"], act["queue"])
            elif act["op"] == "move":
                backend.move(name, act["from"], act["to"])
            elif act["op"] == "policy":
                backend.change_policy(name, act.get("netns"), act.get("policy"), act.get("peer_policy"))
            elif act["op"] == "setlink":
                backend.setlink(name, act.get("netns"), up=act.get("up"), mtu=act.get("mtu"),
                                address=act.get("address"))
        except (NetlinkError, OSError) as err:
            created = any(a["op"] == "create" for a in done)
            if created:
                _remove_half_made(backend, name, params)
            raise KernelError("%s failed: %s%s" % (act["summary"], err, (
                "; the half-made device was removed, so a re-run starts clean" if created else
                (" (already done: %s)" % "; ".join(a["summary"] for a in done) if done else ""))),
                errno=getattr(err, "errno", None))
        done.append(act)


def _remove_half_made(backend, name, params):
    for ns in (params.get("netns"), None):
        try:
            if backend.netns_exists(ns):
                backend.delete(name, ns)
        except (NetlinkError, OSError, ValidationError):
            # ValidationError: a device of that name that is not netkit is not the half-made one
            pass


def _mismatch(want, after):
    """Attributes the kernel did not apply as asked (after a create or change)."""
    out = {}
    for key, value in want.items():
        if key in ("lower",):
            if after.get("leased") is not None and after["leased"] != value["queues"]:
                out[key] = (after.get("leased"), value["queues"])
            continue
        if key == "netns":
            if after.get("netns") != value:
                out[key] = (after.get("netns"), value)
            continue
        if after.get(key) != value:
            out[key] = (after.get(key), value)
    return out


WHY = {"pairing": "single mode needs Linux 7.1", "scrub": "scrub needs Linux 6.13",
       "peer_scrub": "scrub needs Linux 6.13", "headroom": "headroom needs Linux 6.14",
       "tailroom": "tailroom needs Linux 6.14"}


def _why(key):
    return " (%s)" % WHY[key] if key in WHY else ""


@_reading_errors
def run_link(params, backend, check_mode=False, diff=False):
    check_names(params)
    lower = params.get("lower") or {}
    binding = lower.get("binding") or "auto"
    if binding not in netkit_caps.BINDINGS:
        raise ValidationError("lower.binding", "unknown binding %r" % (binding,), value=binding,
                              allowed=", ".join(netkit_caps.BINDINGS))
    caps = dict(backend.capabilities(), binding=binding)
    want = wanted(params, caps)
    cur, facts = read_state(backend, params)
    if params["state"] == "present":
        validate(params, want, caps, facts)
    actions, _note = plan_link(params, want, cur, caps)
    before = public_view(cur)
    result = {"changed": bool(actions), "actions": [a["summary"] for a in actions],
              "capabilities": dict((k, v) for k, v in caps.items() if k != "binding"),
              "binding": netkit_caps.binding_name(netkit_caps.lower_mechanism(caps)) if lower else None}
    if check_mode or not actions:
        after_view = cur
        if actions:
            after_view = dict(cur or {}, **dict((k, v) for k, v in want.items() if k != "lower"))
            if params["state"] == "absent":
                after_view = None
    else:
        _apply(backend, params, want, caps, facts, actions)
        after_view, _facts = read_state(backend, params)
        if params["state"] == "present":
            wrong = _mismatch(want, after_view or {})
            if wrong:
                created = any(a["op"] == "create" for a in actions)
                if created:
                    _remove_half_made(backend, params["name"], params)
                raise KernelError("the kernel did not apply %s on %s (%s)%s" % (
                    ", ".join(sorted(wrong)), params["name"],
                    "; ".join("%s: asked %s, got %s%s" % (k, _show(b), _show(a), _why(k))
                              for k, (a, b) in sorted(wrong.items())),
                    "; the device was removed" if created else ""))
        elif after_view is not None:
            raise KernelError("netkit device %s still exists after it was deleted" % params["name"])
    after = public_view(after_view) if params["state"] == "present" else {}
    result["device"] = after
    leased = (after.get("leased") or {}) if after else {}
    result["queues"] = leased.get("queues", [])
    result["queue_map"] = [{"queue": q, "lower_queue": p} for q, p in
                           zip(leased.get("queues", []), leased.get("nic_queues", []))]
    if check_mode and want.get("lower") and not leased and params["state"] == "present":
        # the ids the kernel will give: leases are appended after netkit's own queue 0
        nic_queues = want["lower"]["queues"]
        prototype = netkit_caps.lower_mechanism(caps) == "lowerdev" and not netkit_caps.lowerdev_leases(caps)
        ids = lowerdev_queue_ids(len(nic_queues)) if prototype else list(range(1, len(nic_queues) + 1))
        result["queues"] = ids
        result["queue_map"] = [{"queue": i, "lower_queue": q} for i, q in zip(ids, nic_queues)]
    if diff:
        result["diff"] = {"before": before, "after": after}
    return result


@_reading_errors
def run_info(params, backend):
    links = params.get("links") or []
    for index, link in enumerate(links):  # bad input is refused before the kernel is read
        check_lower_queues(link.get("lower"), "links[%d].lower.queues" % index)
    caps = backend.capabilities()
    namespaces = [None] + list(params.get("netns") or [])
    devices = []
    for ns in namespaces:
        if not backend.netns_exists(ns):
            raise ValidationError("netns", "network namespace %r does not exist" % ns, value=ns)
        for link in backend.netkit_links(ns):
            devices.append(link)
    leases = {}
    for nic in params.get("nics") or []:
        leases[nic] = backend.nic_leases(nic)
    by_index = dict(((d.get("netns"), d["ifindex"]), d) for d in devices)
    # a VM's qemu names the device in its own network namespace; these are the module's (no device
    # there: no reason to read every process's command line)
    own = [d["name"] for d in devices if d.get("netns") is None]
    users = vm_processes.users(backend.process_cmdlines(), own) if own else {}
    out = {}
    for d in devices:
        nk = d.get("netkit") or {}
        entry = {"name": d["name"], "ifindex": d["ifindex"], "netns": d.get("netns"), "mode": nk.get("mode"),
                 "pairing": nk.get("pairing", "pair"), "primary": nk.get("primary"), "policy": nk.get("policy"),
                 "scrub": nk.get("scrub"), "headroom": nk.get("headroom"), "tailroom": nk.get("tailroom"),
                 "mtu": d.get("mtu"), "address": d.get("address"), "up": d.get("up"),
                 "operstate": d.get("operstate"), "numrxqueues": d.get("numrxqueues"), "peer": None,
                 "lowerdev": nk.get("lowerdev"), "leases": []}
        if d.get("link") and nk.get("pairing", "pair") == "pair":
            peer = by_index.get((d.get("netns"), d["link"])) if d.get("link_netnsid") is None else None
            entry["peer"] = peer["name"] if peer else {"ifindex": d["link"], "netnsid": d.get("link_netnsid")}
        for nic, table in leases.items():
            for queue, lease in sorted((table or {}).items()):
                if lease["ifindex"] == d["ifindex"] and (lease.get("netns_id") is None) == (d.get("netns") is None):
                    entry["leases"].append({"queue": lease["queue"], "device": nic, "device_queue": queue})
        # how the device holds NIC queues: created with IFLA_NETKIT_LOWERDEV, or leased one by one
        entry["binding"] = "lowerdev" if nk.get("lowerdev") else ("lease" if entry["leases"] else None)
        entry["users"] = users.get(d["name"], []) if d.get("netns") is None else []
        key = d["name"] if d.get("netns") is None else "%s@%s" % (d["name"], d["netns"])
        out[key] = dict((k, v) for k, v in entry.items() if v is not None or k in ("peer",))
    return {"changed": False, "capabilities": caps, "devices": out,
            "nic_leases": dict((nic, dict((str(q), l) for q, l in sorted((t or {}).items())))
                               for nic, t in leases.items()),
            "unsupported": unsupported_links(links, caps)}


def check_lower_queues(lower, option="lower.queues"):
    """``lower.queues`` is ``[from, to]``: two queue numbers (the module's argument spec checks the rest)."""
    if lower and (len(lower["queues"]) != 2 or min(lower["queues"]) < 0):
        raise ValidationError(option, "give [from, to], two NIC queue numbers from 1 up (got %s)" % lower["queues"],
                              value=lower["queues"])


def unsupported_links(links, caps):
    """-> ``[{name, feature, message}]`` for each of ``links`` (netkit_link's name, pairing and lower)
    that this kernel cannot make, from ``check_kernel`` (what netkit_link and host_network refuse); their
    ``lower.queues`` are checked by the caller (``check_lower_queues``)."""
    out = []
    for link in links:
        try:
            check_kernel(link, caps)
        except UnsupportedError as err:
            out.append({"name": link["name"], "feature": err.feature, "message": str(err)})
    return out


def run_from_module(module, run, **kwargs):
    """Run a service function for an AnsibleModule (duck-typed) and exit with its result."""
    backend = make_backend()
    try:
        result = run(module.params, backend, **kwargs)
    except NetkitError as err:
        module.fail_json(msg=str(err), **err.details)
    finally:
        backend.close()
    module.exit_json(**result)
