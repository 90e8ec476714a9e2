# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the running kernel's netkit can do, probed once, with the words that explain a lack.

Sources, in order: the kernel's BTF (the IFLA_NETKIT_* enumeration it was built
with: names and numbers, so attribute 10 is known to be PAIRING upstream or LOWERDEV
on a kernel carrying the netkit-for-VMs patch), then the attributes an existing
netkit device reports.  Without either, only the attributes every netkit kernel
(6.7+) has are used.  Queue leasing is read from the ``netdev`` family's operations.
"""

from __future__ import annotations

from ansible_collections.vmnet.netkit.plugins.module_utils.netlink.rtnl import NETKIT_ATTRS, PROTOTYPE_LOWERDEV

# attributes every netkit kernel understands (Linux 6.7)
BASE_ATTRS = ("peer_info", "primary", "policy", "peer_policy", "mode")

FEATURES = {
    # feature: (attribute needed, what provides it)
    "scrub": ("scrub", "Linux 6.13 (IFLA_NETKIT_SCRUB)"),
    "headroom": ("headroom", "Linux 6.14 (IFLA_NETKIT_HEADROOM/TAILROOM)"),
    "single": ("pairing", "Linux 7.1 (IFLA_NETKIT_PAIRING, netkit single mode)"),
    "lowerdev": ("lowerdev", "a kernel carrying the netkit LOWERDEV patch (IFLA_NETKIT_LOWERDEV)"),
}
LEASING_PROVIDER = "Linux 7.1 (netdev generic netlink queue-create)"


def attrs_from_btf(constants):
    """{IFLA_NETKIT_NAME: value} -> {attribute key: number}, or None if netkit is absent."""
    out = {}
    for name, value in constants.items():
        if not name.startswith("IFLA_NETKIT_") or name.startswith("IFLA_NETKIT_UNSPEC"):
            continue
        key = name[len("IFLA_NETKIT_"):].lower()
        if key.startswith("_") or key == "max":
            continue
        out[key] = value
    return out or None


def attrs_from_devices(links):
    """Attribute numbers shown by the netkit devices that exist (upstream numbering; attribute 10
    counts as LOWERDEV where a device shows it with the prototype's 12-byte payload)."""
    known = dict(NETKIT_ATTRS, lowerdev=PROTOTYPE_LOWERDEV)
    seen = set()
    for link in links:
        seen.update(k for k in (link.get("netkit") or {}) if k in known)
    if not seen:
        return None
    if "scrub" in seen or "peer_scrub" in seen:
        seen.update(("scrub", "peer_scrub"))
    if "headroom" in seen:
        seen.add("tailroom")
    if "lowerdev" in seen:
        seen.discard("pairing")  # one number, one meaning
    return dict((k, known[k]) for k in set(BASE_ATTRS) | seen)


def capabilities(btf_constants, netkit_links, leasing, kernel_release=None):
    """-> dict describing what may be sent to this kernel.

    ``btf_constants``: enumerators read from BTF (None when the kernel has no BTF);
    ``netkit_links``: parsed netkit links that exist; ``leasing``: queue-create offered.
    """
    attrs = None
    source = None
    if btf_constants is not None:
        attrs = attrs_from_btf(btf_constants)
        source = "btf"
        present = attrs is not None
    else:
        attrs = attrs_from_devices(netkit_links)
        source = "devices" if attrs else "baseline"
        present = None if attrs is None else True
        if attrs is None:
            attrs = dict((k, NETKIT_ATTRS[k]) for k in BASE_ATTRS)
    attrs = attrs or {}
    return {
        "kernel": kernel_release,
        "source": source,
        "netkit": present,
        "attributes": dict(sorted(attrs.items())),
        "scrub": "scrub" in attrs,
        "headroom": "headroom" in attrs and "tailroom" in attrs,
        "single": "pairing" in attrs,
        "lowerdev": "lowerdev" in attrs,
        "leasing": bool(leasing),
    }


BINDINGS = ("auto", "lease", "lowerdev")


def lower_mechanism(caps, binding=None):
    """How NIC queues are bound to a netkit device on this kernel: "lowerdev" (IFLA_NETKIT_LOWERDEV at
    creation: one atomic request, so ``auto`` prefers it), "leasing" (upstream queue-create, Linux 7.1+),
    or None when the kernel lacks the binding asked for. ``binding`` (auto, lease, lowerdev) defaults to
    the one ``caps`` carries (``run_link`` puts the module's ``lower.binding`` there), else auto."""
    binding = binding or caps.get("binding") or "auto"
    if binding in ("auto", "lowerdev") and caps.get("lowerdev"):
        return "lowerdev"
    if binding in ("auto", "lease") and caps.get("leasing"):
        return "leasing"
    return None


def lowerdev_leases(caps):
    """LOWERDEV on a kernel with queue leasing is built on it: the bound queues are ordinary leases,
    shown by queue-get, numbered 1..n after netkit's own queue 0. On the talk's prototype (no
    leasing) the device's queues 0..n-1 are the range itself."""
    return bool(caps.get("lowerdev") and caps.get("leasing"))


def binds_as_leases(caps):
    """Whether the binding in use makes ordinary leases (queue-create, or LOWERDEV built on leasing):
    then the device must be single, needs 1 + n rx queues, and its queues are read back as leases."""
    mechanism = lower_mechanism(caps)
    return mechanism == "leasing" or mechanism == "lowerdev" and lowerdev_leases(caps)


def binding_name(mechanism):
    return {"leasing": "lease", "lowerdev": "lowerdev"}.get(mechanism)


def missing(caps, feature):
    """None if ``feature`` is available, else the sentence that says what would provide it."""
    if feature == "netkit":
        if caps.get("netkit") is False:
            return "this kernel has no netkit (CONFIG_NETKIT, Linux 6.7+)"
        return None
    if feature == "leasing":
        if caps.get("leasing"):
            return None
        return "queue leasing needs %s; kernel %s lacks it" % (LEASING_PROVIDER, caps.get("kernel") or "in use")
    attr, provider = FEATURES[feature]
    if attr in caps.get("attributes", {}):
        return None
    how = {"btf": "its BTF has no IFLA_NETKIT_%s" % attr.upper(),
           "devices": "no netkit device shows it and the kernel has no BTF to ask",
           "baseline": "the kernel has no BTF to ask and no netkit device to read"}[caps.get("source") or "baseline"]
    return "%s needs %s; kernel %s: %s" % (feature, provider, caps.get("kernel") or "in use", how)
