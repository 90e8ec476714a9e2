#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmnet.netkit collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: vm_files
short_description: Write each VM's qemu arguments and libvirt snippet, one file per VM, in one call
version_added: "0.1.0"
description:
  - Writes C(DIR/VM.args) (one qemu argument per line) and C(DIR/VM.xml) (a libvirt C(<qemu:commandline>) snippet)
    for every VM given, atomically and only when the content differs, and removes the files of VMs not given.
  - One module call for all VMs of a host, so the cost of a no-op run does not grow with the number of VMs.
options:
  path:
    description: The directory (created when missing).
    type: path
    required: true
  vms:
    description: VM name to C({args, libvirt}); C(args) is the qemu argument list, C(libvirt) the XML snippet.
    type: dict
    required: true
  exclusive:
    description: Remove C(*.args) and C(*.xml) files of VMs not in O(vms).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reports which files would be written or removed.
  diff_mode:
    support: full
    description: Shows each changed file before and after.
  platform:
    support: full
    platforms: posix
    description: Any POSIX host.
seealso:
  - module: vmnet.netkit.netkit_link
extends_documentation_fragment:
  - vmnet.netkit.attributes
author: vmnet.netkit maintainers (@vmnet)
"""

EXAMPLES = r"""
- name: Write the qemu arguments of two VMs
  vmnet.netkit.vm_files:
    path: /etc/vmnet-netkit/qemu
    vms:
      vm1:
        args: ["-netdev", "af-xdp,id=net-vm1,ifname=nk-vm1,queues=1,start-queue=1", "-device",
               "virtio-net-pci,netdev=net-vm1"]
        libvirt: "<qemu:commandline>...</qemu:commandline>"
"""

RETURN = r"""
written:
  description: Files written (or that would be).
  returned: always
  type: list
  elements: str
removed:
  description: Files removed (or that would be).
  returned: always
  type: list
  elements: str
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule
# first: it serves the collection's other module_utils from code compiled by an earlier run
from ansible_collections.vmnet.netkit.plugins.module_utils import bytecode_cache  # pylint: disable=unused-import
from ansible_collections.vmnet.netkit.plugins.module_utils.host import files as host_files
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import NetkitError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def main():
    module = AnsibleModule(argument_spec=dict(path=dict(type="path", required=True),
                                              vms=dict(type="dict", required=True),
                                              exclusive=dict(type="bool", default=True)),
                           supports_check_mode=True)
    path = module.params["path"]
    wanted = {}
    for name, entry in sorted(module.params["vms"].items()):
        if not NAME_RE.match(name) or not isinstance(entry, dict) or not isinstance(entry.get("args"), list):
            module.fail_json(msg="vms.%s: give a VM name (letters, digits, '_', '.', '-') mapped to {args: [...], "
                                 "libvirt: '...'}" % name)
        wanted[os.path.join(path, name + ".args")] = "".join("%s\n" % a for a in entry["args"])
        if entry.get("libvirt"):
            wanted[os.path.join(path, name + ".xml")] = entry["libvirt"].rstrip("\n") + "\n"
    written, removed, before, after = [], [], {}, {}
    for fpath, content in sorted(wanted.items()):
        old = host_files.read_text(fpath)
        if old != content:
            written.append(fpath)
            before[fpath], after[fpath] = old or "", content
    if module.params["exclusive"] and os.path.isdir(path):
        for entry in sorted(os.listdir(path)):
            fpath = os.path.join(path, entry)
            if entry.endswith((".args", ".xml")) and fpath not in wanted:
                removed.append(fpath)
                before[fpath], after[fpath] = host_files.read_text(fpath) or "", ""
    if not module.check_mode:
        try:
            for fpath in written:
                host_files.atomic_write(fpath, wanted[fpath])
            for fpath in removed:
                host_files.remove(fpath)
        except NetkitError as err:
            module.fail_json(msg=str(err), written=[], removed=[])
    result = {"changed": bool(written or removed), "written": written, "removed": removed}
    if module._diff:
        result["diff"] = [{"before_header": p, "after_header": p, "before": before[p], "after": after[p]}
                          for p in sorted(before)]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
