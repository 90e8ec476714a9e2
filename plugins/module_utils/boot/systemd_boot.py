# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""systemd-boot's entries, its default and its one-shot entry, read from C(bootctl list) and the
boot loader's EFI variables.

Pure functions: the JSON of C(bootctl list --json=short) and the bytes of the loader's EFI variables
(as efivarfs shows them) go in; entries, the entry systemd-boot boots next and the actions that make it
boot a given kernel release come out. The module C(boot_entry) does the reading and runs the actions.

How systemd-boot picks an entry (the Boot Loader Interface): a pending C(LoaderEntryOneShot) wins once
(the loader removes the variable as it boots it, so a kernel that does not come up is not booted
again); else C(LoaderEntryDefault) (what C(bootctl set-default) writes); else the C(default) pattern of
C(loader.conf); else the first entry in the loader's order (by version, as systemd compares them), the
order C(bootctl list) prints. A pattern (a variable's value or C(default)) picks the first entry in that
order whose id it matches as a glob, case ignored (the loader folds both to lower case). The pattern
C(@saved) stands for the entry booted last, which the loader then keeps in C(LoaderEntryLastBooted).
"""

from __future__ import annotations

import fnmatch
import json

from ansible_collections.vmnet.netkit.plugins.module_utils.boot import state as loader_state
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import NetkitError

# The Boot Loader Interface's vendor GUID, the suffix of each loader variable's efivarfs file
LOADER_GUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"
EFIVARS_DIR = "/sys/firmware/efi/efivars"
# LoaderInfo: the loader that booted the host ("systemd-boot 257.13"); LoaderEntrySelected: the entry it booted
# LoaderEntryLastBooted: the entry booted last, what a "@saved" default stands for
VARIABLES = ("LoaderInfo", "LoaderEntryDefault", "LoaderEntryOneShot", "LoaderEntrySelected", "LoaderEntryLastBooted")
SAVED = "@saved"


def variable_path(name):
    return "%s/%s-%s" % (EFIVARS_DIR, name, LOADER_GUID)


def parse_variable(data):
    """An efivarfs file: 4 bytes of attributes, then the value, a NUL-terminated UTF-16LE string here.
    None when the variable is not set (no file) or empty."""
    if not data or len(data) < 4:
        return None
    text = data[4:].decode("utf-16-le", "replace").split("\0", 1)[0]
    return text or None


def booted_by_systemd_boot(variables):
    return (variables.get("LoaderInfo") or "").startswith("systemd-boot")


class Entry(object):
    """One boot entry as bootctl lists it."""

    def __init__(self, entry_id, title, release):
        self.id = entry_id
        self.title = title
        self.release = release

    def matches(self, pattern):
        return fnmatch.fnmatchcase(self.id.lower(), pattern.lower())

    def view(self):
        return {"release": self.release, "id": self.id, "title": self.title, "recovery": False}


def release_of(item):
    """The kernel release of a bootctl entry: its C(version) (kernel-install writes the release there),
    else the directory of its kernel (kernel-install's C(/TOKEN/RELEASE/linux)) or the kernel file's
    C(vmlinuz-RELEASE) name; None for entries that boot no Linux kernel."""
    if item.get("version"):
        return item["version"]
    linux = item.get("linux") or ""
    parts = [p for p in linux.split("/") if p]
    if not parts:
        return None
    if parts[-1].startswith("vmlinuz-"):
        return parts[-1][len("vmlinuz-"):]
    if parts[-1] == "linux" and len(parts) >= 2:
        return parts[-2]
    return None


def parse_list(text):
    """The entries of C(bootctl list --json=short), in the loader's order; the loader's automatic
    entries (firmware setup, reboot) are left out."""
    try:
        items = json.loads(text or "[]")
    except ValueError as err:
        raise NetkitError("bootctl list printed no JSON (%s): %r" % (err, (text or "")[:200]))
    entries = []
    for item in items:
        if not isinstance(item, dict) or not item.get("id") or item.get("type") == "auto":
            continue
        entries.append(Entry(item["id"], item.get("showTitle") or item.get("title") or item["id"], release_of(item)))
    return entries


def parse_loader_conf(text):
    """The C(default) pattern of loader.conf, or None."""
    for line in (text or "").splitlines():
        words = line.split(None, 1)
        if len(words) == 2 and words[0] == "default":
            return words[1].strip()
    return None


def resolve(pattern, entries, variables=None):
    """The entry systemd-boot picks for a pattern: the first in its order that matches (None: no match)."""
    if pattern and pattern.lower() == SAVED:
        pattern = (variables or {}).get("LoaderEntryLastBooted")
    if not pattern:
        return None
    return next((e for e in entries if e.matches(pattern)), None)


def boot_state(entries, variables, conf_default):
    """What systemd-boot boots: {"default": Entry|None, "next": Entry|None, "saved": bool}; "saved" says
    that the default is pinned by LoaderEntryDefault, so a newly installed kernel does not take over."""
    default = (resolve(variables.get("LoaderEntryDefault"), entries, variables)
               or resolve(conf_default, entries, variables)
               or (entries[0] if entries else None))
    return {
        "saved": bool(variables.get("LoaderEntryDefault")),
        "default": default,
        "next": resolve(variables.get("LoaderEntryOneShot"), entries),
    }


def entry_for(release, entries):
    candidates = [e for e in entries if e.release == release]
    if not candidates:
        known = sorted(set(e.release for e in entries if e.release))
        raise NetkitError("no systemd-boot entry boots kernel %s (bootctl list has entries for: %s); install its "
                          "package (its postinst runs kernel-install) first" % (release, ", ".join(known) or "none"),
                          release=release, releases=known)
    return candidates[0]


def plan(state, release, entries, variables):
    """Actions making systemd-boot boot ``release`` always (state "default": C(bootctl set-default)) or
    at the next boot only (state "once": C(bootctl set-oneshot)); each is {"op", "argv", "summary"}."""
    target = entry_for(release, entries)
    if state == "default" and variables.get("LoaderEntryDefault") != target.id:
        return [{"op": "set_default", "argv": ["bootctl", "set-default", target.id],
                 "summary": "boot %s by default (%s)" % (release, target.id)}]
    if state == "once" and variables.get("LoaderEntryOneShot") != target.id:
        return [{"op": "set_once", "argv": ["bootctl", "set-oneshot", target.id],
                 "summary": "boot %s at the next boot only (%s)" % (release, target.id)}]
    return []


def view(entries, variables, conf_default, running):
    return loader_state.view(boot_state(entries, variables, conf_default), entries, running)
