# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Argument specs that more than one module takes, built from the lists the code checks against.

Each entry matches a doc fragment or a documented option with the same choices, so a value the
modules accept and the value the planners know can never drift apart.
"""

from __future__ import annotations

from ansible_collections.vmnet.netkit.plugins.module_utils.netkit.caps import BINDINGS
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import FLOW_TYPES, HFUNC_NAMES

# the NIC a NIC module works on (doc fragment vmnet.netkit.nic)
NIC_DEVICE = dict(device=dict(type="str", required=True))

# how a netkit device is bound to NIC queues (netkit_link's lower.binding, host_network's binding)
BINDING = dict(type="str", choices=list(BINDINGS), default="auto")

# the NIC queues a netkit device owns (netkit_link's lower, netkit_info's links[].lower)
NETKIT_LOWER = dict(type="dict", options=dict(
    device=dict(type="str", required=True),
    queues=dict(type="list", elements="int", required=True),
    binding=BINDING,
))

# one RSS indirection table: the default table or a context (rss_contexts)
RSS_TABLE = dict(
    start=dict(type="int", default=0),
    equal=dict(type="int"),
    weights=dict(type="list", elements="int"),
    hfunc=dict(type="str", choices=list(HFUNC_NAMES)),
    key=dict(type="str", no_log=False),
)

# an ntuple rule's flow type (ntuple_rules)
FLOW_TYPE = dict(type="str", required=True, choices=list(FLOW_TYPES))

# a resource module's state (rss_contexts, ntuple_rules): the states of a network resource module they implement
RESOURCE_STATE = dict(type="str", default="merged",
                      choices=["merged", "replaced", "overridden", "deleted", "gathered", "rendered"])

# a netkit device's policy and scrub, for itself and its peer (netkit_link)
POLICY = dict(type="str", choices=["pass", "drop"])
SCRUB = dict(type="str", choices=["none", "default"])
