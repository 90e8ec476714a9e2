#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmnet.netkit collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: boot_entry
short_description: Choose the kernel GRUB boots, always or at the next boot only
version_added: "0.2.0"
description:
  - Makes GRUB boot a kernel release by default (C(grub-set-default)), or at the next boot only (C(grub-reboot)),
    or reports what it boots. The entry is found in C(grub.cfg) by the release of its C(vmlinuz).
  - O(state=default) also makes GRUB boot its saved entry (C(GRUB_DEFAULT=saved), in
    C(/etc/default/grub.d/vmnet-netkit.cfg), then C(update-grub)), so that installing a kernel package
    afterwards does not change the kernel the host boots. The safe order for a new kernel is to pin the
    running kernel as the default, install the package, boot the new kernel once, and make it the default only
    after it proved itself. GRUB clears a one-shot entry as it boots it, so a kernel that does not come up is
    not booted again at the next power cycle.
  - The role C(vmnet.netkit.netkit_kernel) installs the patched kernel with this module, boots it once, verifies it
    and only then keeps it.
  - GRUB 2 on BIOS or EFI (C(/boot/grub) or C(/boot/grub2)). A host that boots with systemd-boot or another
    loader gets an error saying so, before anything is changed.
options:
  release:
    description:
      - The kernel release (as C(uname -r) prints it) whose entry to boot. Required unless O(state=gathered).
    type: str
  state:
    description:
      - V(default) boots O(release) at every boot; V(once) at the next boot only; V(gathered) changes nothing
        and reports.
    type: str
    choices: [default, once, gathered]
    default: default
attributes:
  check_mode:
    support: full
    description: Reports the actions it would take and changes nothing.
  diff_mode:
    support: full
    description: Shows the default and next-boot kernels before and after.
  platform:
    support: full
    platforms: linux
    description: Linux hosts booted by GRUB 2.
requirements:
  - GRUB 2 with C(grub-editenv), C(grub-set-default), C(grub-reboot) and C(update-grub) (or their C(grub2-)
    names).
seealso:
  - module: vmnet.netkit.netkit_info
extends_documentation_fragment:
  - vmnet.netkit.attributes
author: vmnet.netkit maintainers (@vmnet)
"""

EXAMPLES = r"""
- name: Keep booting the kernel that runs now, whatever kernel package is installed next
  vmnet.netkit.boot_entry:
    release: "{{ ansible_facts['kernel'] }}"
    state: default

- name: Boot the patched kernel at the next boot only
  vmnet.netkit.boot_entry:
    release: 7.3.4-vmnet-netkit
    state: once

- name: What GRUB boots
  vmnet.netkit.boot_entry:
    state: gathered
  register: boot
"""

RETURN = r"""
running:
  description: The release of the kernel that runs now.
  returned: always
  type: str
  sample: 7.3.4+deb13-amd64
default:
  description: The release GRUB boots by default (after the task; what it would be in check mode).
  returned: success
  type: str
  sample: 7.3.4-vmnet-netkit
next:
  description: The release GRUB boots at the next boot only, or null when no one-shot entry is pending.
  returned: success
  type: str
  sample: null
saved_default:
  description: Whether GRUB boots the entry saved in grubenv (C(GRUB_DEFAULT=saved)).
  returned: success
  type: bool
  sample: true
entries:
  description: The kernel entries of grub.cfg, with the name GRUB takes for each (C(id)).
  returned: success
  type: list
  elements: dict
  sample: [{"release": "7.3.4-vmnet-netkit", "title": "Debian GNU/Linux, with Linux 7.3.4-vmnet-netkit",
            "id": "gnulinux-advanced-6d2c>gnulinux-7.3.4-vmnet-netkit-advanced-6d2c", "recovery": false}]
actions:
  description: What the task did, or would do in check mode.
  returned: always
  type: list
  elements: dict
  sample: [{"op": "set_once", "argv": ["grub-reboot", "gnulinux-advanced-6d2c>gnulinux-7.3.4-vmnet-netkit-advanced-6d2c"],
            "summary": "boot 7.3.4-vmnet-netkit at the next boot only"}]
"""

import os

from ansible.module_utils.basic import AnsibleModule

# first: it serves the collection's other module_utils from code compiled by an earlier run
from ansible_collections.vmnet.netkit.plugins.module_utils import bytecode_cache  # pylint: disable=unused-import
from ansible_collections.vmnet.netkit.plugins.module_utils.boot import grub as grub_entries
from ansible_collections.vmnet.netkit.plugins.module_utils.host import files as host_files
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import NetkitError

GRUB_DIRS = ("/boot/grub", "/boot/grub2")


class Grub(object):
    """The host's GRUB: its files and its commands (grub- or grub2- names)."""

    def __init__(self, module):
        self.module = module
        self.dir = next((d for d in GRUB_DIRS if os.path.exists(os.path.join(d, "grub.cfg"))), None)
        if self.dir is None:
            other = "systemd-boot" if os.path.isdir("/boot/efi/loader") or os.path.isdir("/efi/loader") else None
            raise NetkitError("no GRUB configuration (%s) on this host%s; boot_entry works with GRUB 2 only"
                              % (" or ".join(d + "/grub.cfg" for d in GRUB_DIRS),
                                 " (it boots with %s)" % other if other else ""))
        self.prefix = "grub2-" if self.dir.endswith("grub2") else "grub-"

    def tool(self, name):
        if name == "update-grub":
            path = self.module.get_bin_path("update-grub")
            if path:
                return [path]
            return [self._need(self.prefix + "mkconfig"), "-o", os.path.join(self.dir, "grub.cfg")]
        return [self._need(self.prefix + name[len("grub-"):])]

    def _need(self, name):
        path = self.module.get_bin_path(name)
        if not path:
            raise NetkitError("%s is missing on this host; it comes with GRUB 2 (Debian: grub2-common)" % name)
        return path

    def read(self):
        config = host_files.read_text(os.path.join(self.dir, "grub.cfg")) or ""
        env = host_files.read_text(os.path.join(self.dir, "grubenv")) or ""
        dropin = host_files.read_text(grub_entries.SAVED_DEFAULT_DROPIN)
        entries, default = grub_entries.parse_config(config)
        return entries, default, grub_entries.parse_env(env), dropin

    def apply(self, action):
        if action["op"] == "write":
            host_files.atomic_write(action["path"], action["text"].encode())
            return
        argv = self.tool(action["argv"][0]) + action["argv"][1:]
        rc, out, err = self.module.run_command(argv, environ_update={"LC_ALL": "C"})
        if rc != 0:
            raise NetkitError("%s failed (exit %d): %s" % (" ".join(argv), rc, (err or out).strip()),
                              command=argv, stderr=err)


def run(module):
    params = module.params
    state = params["state"]
    running = os.uname()[2]
    if state != "gathered":
        if not params["release"]:
            module.fail_json(msg="release: required with state %s (the kernel release to boot, as uname -r prints "
                                 "it)" % state, running=running, actions=[])
        grub_entries.check_release(params["release"])
    grub = Grub(module)
    entries, default, env, dropin = grub.read()
    before = grub_entries.view(entries, default, env, running)
    actions = []
    if state != "gathered":
        actions = grub_entries.plan(state, params["release"], entries, default, env, dropin)
    result = dict(changed=bool(actions), actions=actions)
    if actions and not module.check_mode:
        for action in actions:
            grub.apply(action)
        entries, default, env, dropin = grub.read()
        leftover = grub_entries.plan(state, params["release"], entries, default, env, dropin)
        if leftover:
            raise NetkitError("GRUB still does not boot %s as asked after %s: %s (is GRUB_DEFAULT set by another "
                              "file in /etc/default/grub.d that sorts after vmnet-netkit.cfg?)"
                              % (params["release"], ", ".join(a["summary"] for a in actions),
                                 "; ".join(a["summary"] for a in leftover)))
    after = grub_entries.view(entries, default, env, running)
    if actions and module.check_mode:
        after = dict(after)
        if state == "default":
            after["default"], after["saved_default"] = params["release"], True
        else:
            after["next"] = params["release"]
    result.update(after)
    if module._diff:
        keys = ("default", "next", "saved_default")
        result["diff"] = {"before": {k: before[k] for k in keys}, "after": {k: after[k] for k in keys}}
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            release=dict(type="str"),
            state=dict(type="str", choices=["default", "once", "gathered"], default="default"),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except NetkitError as err:
        module.fail_json(msg=str(err), running=os.uname()[2], actions=[], **err.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
