#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the vmnet.netkit collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: boot_entry
short_description: Choose the kernel GRUB or systemd-boot boots, always or at the next boot only
version_added: "0.2.0"
description:
  - Makes the host's boot loader boot a kernel release by default, or at the next boot only, or reports what it
    boots. GRUB 2 (C(grub-set-default), C(grub-reboot); the entry is found in C(grub.cfg) by the release of its
    C(vmlinuz)) and systemd-boot (C(bootctl set-default), C(bootctl set-oneshot); the entry is found in
    C(bootctl list) by its version) are supported.
  - O(state=default) also makes GRUB boot its saved entry (C(GRUB_DEFAULT=saved), in
    C(/etc/default/grub.d/vmnet-netkit.cfg), then C(update-grub)), so that installing a kernel package
    afterwards does not change the kernel the host boots. The safe order for a new kernel is to pin the
    running kernel as the default, install the package, boot the new kernel once, and make it the default only
    after it proved itself. GRUB clears a one-shot entry as it boots it, so a kernel that does not come up is
    not booted again at the next power cycle.
  - With systemd-boot, O(state=default) writes the C(LoaderEntryDefault) EFI variable, which wins over
    C(loader.conf) and over the loader's own order of entries (by version), so installing a kernel package
    afterwards does not change the kernel the host boots either; O(state=once) writes C(LoaderEntryOneShot),
    which the loader removes as it boots that entry.
  - The role C(vmnet.netkit.netkit_kernel) installs the patched kernel with this module, boots it once, verifies it
    and only then keeps it.
  - The loader is the one that started the host. systemd-boot says so in its C(LoaderInfo) EFI variable; otherwise
    GRUB 2 on BIOS or EFI (C(/boot/grub) or C(/boot/grub2)) is used. A host with neither gets an error saying so,
    before anything is changed.
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
    description: Linux hosts booted by GRUB 2 or by systemd-boot.
requirements:
  - GRUB 2 with C(grub-editenv), C(grub-set-default), C(grub-reboot) and C(update-grub) (or their C(grub2-)
    names), or systemd-boot with a C(bootctl) that has C(list --json) (tested with systemd 257, Debian 13).
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

- name: What the boot loader boots
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
loader:
  description: The boot loader that started the host, whose entries the task reads and sets.
  returned: success
  type: str
  choices: [grub, systemd-boot]
  sample: grub
default:
  description: The release the loader boots by default (after the task; what it would be in check mode).
  returned: success
  type: str
  sample: 7.3.4-vmnet-netkit
next:
  description: The release the loader boots at the next boot only, or null when no one-shot entry is pending.
  returned: success
  type: str
  sample: null
saved_default:
  description: Whether the default is pinned to one entry, so that a newly installed kernel does not take over
    (GRUB boots the entry saved in grubenv, C(GRUB_DEFAULT=saved); systemd-boot has C(LoaderEntryDefault)).
  returned: success
  type: bool
  sample: true
entries:
  description: The kernel entries of grub.cfg or of C(bootctl list), with the name the loader takes for each
    (C(id)).
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
from ansible_collections.vmnet.netkit.plugins.module_utils.boot import systemd_boot
from ansible_collections.vmnet.netkit.plugins.module_utils.host import files as host_files
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import NetkitError

GRUB_DIRS = ("/boot/grub", "/boot/grub2")
# where bootctl looks for the ESP, in its order: loader.conf is read from the first that has one
ESP_DIRS = ("/efi", "/boot", "/boot/efi")


def _run(module, argv):
    rc, out, err = module.run_command(argv, environ_update={"LC_ALL": "C"})
    if rc != 0:
        raise NetkitError("%s failed (exit %d): %s" % (" ".join(argv), rc, (err or out).strip()),
                          command=argv, stderr=err)
    return out


class Grub(object):
    """The host's GRUB: its files and its commands (grub- or grub2- names)."""

    name = "grub"
    label = "GRUB"

    def __init__(self, module, directory):
        self.module = module
        self.dir = directory
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
        entries, default = grub_entries.parse_config(config)
        return entries, default, grub_entries.parse_env(env), host_files.read_text(grub_entries.SAVED_DEFAULT_DROPIN)

    @staticmethod
    def plan(state, release, snapshot):
        entries, default, env, dropin = snapshot
        return grub_entries.plan(state, release, entries, default, env, dropin)

    @staticmethod
    def view(snapshot, running):
        entries, default, env, _dropin = snapshot
        return grub_entries.view(entries, default, env, running)

    def apply(self, action):
        if action["op"] == "write":
            host_files.atomic_write(action["path"], action["text"].encode())
            return
        _run(self.module, self.tool(action["argv"][0]) + action["argv"][1:])

    hint = " (is GRUB_DEFAULT set by another file in /etc/default/grub.d that sorts after vmnet-netkit.cfg?)"


class SystemdBoot(object):
    """The host's systemd-boot: bootctl and the loader's EFI variables."""

    name = "systemd-boot"
    label = "systemd-boot"
    hint = ""

    def __init__(self, module):
        self.module = module
        self.bootctl = module.get_bin_path("bootctl")
        if not self.bootctl:
            raise NetkitError("bootctl is missing on this host, which systemd-boot started; it comes with "
                              "systemd-boot (Debian: systemd-boot-tools)")

    def read(self):
        variables = dict((name, systemd_boot.parse_variable(host_files.read_bytes(systemd_boot.variable_path(name))))
                         for name in systemd_boot.VARIABLES)
        entries = systemd_boot.parse_list(_run(self.module, [self.bootctl, "list", "--json=short", "--no-pager"]))
        conf = next((c for c in (host_files.read_text(os.path.join(d, "loader", "loader.conf")) for d in ESP_DIRS)
                     if c is not None), None)
        return entries, variables, systemd_boot.parse_loader_conf(conf)

    @staticmethod
    def plan(state, release, snapshot):
        entries, variables, _conf_default = snapshot
        return systemd_boot.plan(state, release, entries, variables)

    @staticmethod
    def view(snapshot, running):
        entries, variables, conf_default = snapshot
        return systemd_boot.view(entries, variables, conf_default, running)

    def apply(self, action):
        _run(self.module, [self.bootctl] + action["argv"][1:])


def boot_loader(module):
    """The loader that started this host: systemd-boot says so in its LoaderInfo EFI variable; else GRUB,
    found by its grub.cfg."""
    info = systemd_boot.parse_variable(host_files.read_bytes(systemd_boot.variable_path("LoaderInfo")))
    if systemd_boot.booted_by_systemd_boot({"LoaderInfo": info}):
        return SystemdBoot(module)
    directory = next((d for d in GRUB_DIRS if os.path.exists(os.path.join(d, "grub.cfg"))), None)
    if directory is None:
        raise NetkitError("no boot loader boot_entry knows on this host: no GRUB configuration (%s) and no "
                          "LoaderInfo EFI variable from systemd-boot (%s); boot_entry works with GRUB 2 and "
                          "systemd-boot" % (" or ".join(d + "/grub.cfg" for d in GRUB_DIRS),
                                            systemd_boot.variable_path("LoaderInfo")))
    return Grub(module, directory)


def run(module):
    params = module.params
    state = params["state"]
    running = os.uname()[2]
    if state != "gathered":
        if not params["release"]:
            module.fail_json(msg="release: required with state %s (the kernel release to boot, as uname -r prints "
                                 "it)" % state, running=running, actions=[])
        grub_entries.check_release(params["release"])
    loader = boot_loader(module)
    snapshot = loader.read()
    before = loader.view(snapshot, running)
    actions = []
    if state != "gathered":
        actions = loader.plan(state, params["release"], snapshot)
    result = dict(changed=bool(actions), actions=actions, loader=loader.name)
    if actions and not module.check_mode:
        for action in actions:
            loader.apply(action)
        snapshot = loader.read()
        leftover = loader.plan(state, params["release"], snapshot)
        if leftover:
            raise NetkitError("%s still does not boot %s as asked after %s: %s%s"
                              % (loader.label, params["release"], ", ".join(a["summary"] for a in actions),
                                 "; ".join(a["summary"] for a in leftover), loader.hint))
    after = loader.view(snapshot, running)
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
