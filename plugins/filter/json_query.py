# -*- coding: utf-8 -*-
# Copyright: contributors to the vmnet.netkit collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``json_query`` filter: a JMESPath query over facts (nic_info, netkit_info)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: json_query
short_description: Query data with a JMESPath expression
version_added: "0.1.0"
description:
  - Applies a JMESPath expression to the input, for example to pick a VM's context out of
    M(vmnet.netkit.nic_info) or a device's leases out of M(vmnet.netkit.netkit_info).
positional: expr
options:
  _input:
    description: The data to query.
    type: raw
    required: true
  expr:
    description: The JMESPath expression.
    type: str
    required: true
requirements:
  - jmespath (Python library on the controller)
author: vmnet.netkit maintainers (@vmnet)
"""

EXAMPLES = r"""
- name: The queues of the context named vm1
  ansible.builtin.debug:
    msg: "{{ nic | vmnet.netkit.json_query(\"contexts[?name=='vm1'].queues | [0]\") }}"
"""

RETURN = r"""
_value:
  description: The query's result (null when nothing matches).
  type: raw
"""

import json

from ansible.errors import AnsibleFilterError

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:
    HAS_JMESPATH = False


def json_query(data, expr):
    if not HAS_JMESPATH:
        raise AnsibleFilterError("json_query needs the jmespath Python library on the controller "
                                 "(pip install jmespath; scripts/setup installs it)")
    # plain JSON types: the facts may carry Ansible's tagged or lazy containers
    plain = json.loads(json.dumps(data, default=str))
    try:
        return jmespath.search(expr, plain)
    except jmespath.exceptions.JMESPathError as err:
        raise AnsibleFilterError("json_query: invalid JMESPath expression %r: %s" % (expr, err))


class FilterModule(object):
    def filters(self):
        return {"json_query": json_query}
