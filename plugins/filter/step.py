# -*- coding: utf-8 -*-
# Copyright: contributors to the vmnet.netkit collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``step`` filter: module parameters -> a step of the boot-time re-apply."""

from __future__ import annotations

DOCUMENTATION = r"""
name: step
short_description: Wrap a module's parameters as a boot-time re-apply step
version_added: "0.1.0"
description:
  - Returns C({name, module, params}), the form M(vmnet.netkit.slice_persistence) saves and replays at boot.
positional: module
options:
  _input:
    description: The module's parameters.
    type: dict
    required: true
  module:
    description: The module the parameters are for.
    type: str
    required: true
    choices: [nic_channels, rss_contexts, ntuple_rules, netkit_link]
author: vmnet.netkit maintainers (@vmnet)
"""

EXAMPLES = r"""
- name: A step that re-creates a netkit device at boot
  ansible.builtin.debug:
    msg: "{{ {'name': 'nk-vm1', 'pairing': 'single'} | vmnet.netkit.step('netkit_link') }}"
"""

RETURN = r"""
_value:
  description: C(name) (the device or the module), C(module) and C(params).
  type: dict
"""

from ansible.errors import AnsibleFilterError

MODULES = ("nic_channels", "rss_contexts", "ntuple_rules", "netkit_link")


def step(params, module):
    if module not in MODULES:
        raise AnsibleFilterError("step: module must be one of %s, not %r" % (", ".join(MODULES), module))
    if not isinstance(params, dict):
        raise AnsibleFilterError("step: the input must be the module's parameters (a dict), not %r" % (params,))
    return {"name": "%s %s" % (module, params.get("name") or params.get("device") or ""),
            "module": module, "params": dict(params)}


class FilterModule(object):
    def filters(self):
        return {"step": step}
