# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""GRUB's boot entries, its saved default and its one-shot entry, read from grub.cfg and grubenv.

Pure functions: the text of C(/boot/grub/grub.cfg) (as C(grub-mkconfig) writes it) and of
C(/boot/grub/grubenv) go in; entries, the entry GRUB boots next and the actions that make it
boot a given kernel release come out. The module C(boot_entry) does the reading and runs the
actions.

How GRUB picks an entry (C(grub-mkconfig)'s C(00_header)): a pending C(next_entry) in grubenv wins
once (GRUB clears it as it boots it, so a kernel that does not come up is not booted again); else
C(default), which is C(saved_entry) from grubenv when C(GRUB_DEFAULT=saved), or the fixed value of
C(GRUB_DEFAULT) (C(0): the first entry, usually the newest kernel). An entry is named by its
C(--id) (C($menuentry_id_option)), its title or its position, and one inside a submenu by the
submenu's name, C(>), and the entry's.
"""

from __future__ import annotations

import re
import shlex

from ansible_collections.vmnet.netkit.plugins.module_utils.boot import state as loader_state
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import NetkitError, ValidationError

# The drop-in that makes GRUB boot grubenv's saved_entry (read by grub-mkconfig after /etc/default/grub).
SAVED_DEFAULT_DROPIN = "/etc/default/grub.d/vmnet-netkit.cfg"
SAVED_DEFAULT_TEXT = (
    "# Written by the vmnet.netkit collection (boot_entry): GRUB boots the entry saved in grubenv\n"
    "# (grub-set-default), so installing a kernel package never changes the kernel a host boots.\n"
    "GRUB_DEFAULT=saved\n"
)
RELEASE_RE = re.compile(r"^[A-Za-z0-9._+~-]+$")


class Entry(object):
    """One bootable menu entry."""

    def __init__(self, title, entry_id, submenu, position, release, recovery):
        self.title = title
        self.id = entry_id
        self.submenu = submenu  # (title, id) of the enclosing submenu, or None
        self.position = position  # "2" at the top level, "1>3" inside the second item
        self.release = release
        self.recovery = recovery

    @property
    def path(self):
        """The name grub-reboot and grub-set-default take: ids where GRUB has them."""
        own = self.id or self.title
        if self.submenu:
            return "%s>%s" % (self.submenu[1] or self.submenu[0], own)
        return own

    def names(self):
        """Every string GRUB resolves to this entry."""
        own = [n for n in (self.id, self.title) if n]
        names = {self.position}
        if self.submenu:
            for parent in [n for n in self.submenu if n]:
                names.update("%s>%s" % (parent, n) for n in own)
            names.update("%s>%s" % (self.position.split(">")[0], n) for n in own)
        else:
            names.update(own)
        return names

    def view(self):
        return {"release": self.release, "id": self.path, "title": self.title, "recovery": self.recovery}


def _words(line):
    try:
        return shlex.split(line, comments=False, posix=True)
    except ValueError:
        return line.split()


def _block_id(words):
    """The --id of a menuentry/submenu line ($menuentry_id_option expands to --id)."""
    for i, word in enumerate(words[:-1]):
        if word in ("--id", "$menuentry_id_option", "${menuentry_id_option}"):
            return words[i + 1]
        if word.startswith("--id="):
            return word[len("--id="):]
    return None


def parse_config(text):
    """Parse grub.cfg; return (entries, default) where default is the value of GRUB's `set default`
    outside the next_entry branch: "${saved_entry}" (GRUB_DEFAULT=saved) or a fixed name."""
    entries = []
    default = None
    stack = []  # open blocks: ("submenu", (title, id), index) or ("entry", Entry) or ("other", None)
    counters = [0]  # items seen at each menu level
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = _words(line)
        if not words:
            continue
        head = words[0]
        if head in ("menuentry", "submenu") and line.endswith("{"):
            title = words[1] if len(words) > 1 else ""
            block_id = _block_id(words)
            level_index = counters[-1]
            counters[-1] += 1
            parents = [b for b in stack if b[0] == "submenu"]
            position = ">".join([str(b[2]) for b in parents] + [str(level_index)])
            if head == "submenu":
                stack.append(("submenu", (title, block_id), level_index))
                counters.append(0)
            else:
                submenu = parents[-1][1] if parents else None
                entry = Entry(title, block_id, submenu, position, None,
                              "recovery" in (block_id or "") or "recovery mode" in title)
                stack.append(("entry", entry))
                entries.append(entry)
            continue
        if line.endswith("{"):
            stack.append(("other", None))
            continue
        if line == "}" or line.startswith("}"):
            if stack:
                kind = stack.pop()[0]
                if kind == "submenu":
                    counters.pop()
            continue
        inside = [b for b in stack if b[0] == "entry"]
        if inside and head in ("linux", "linux16", "linuxefi"):
            image = words[1] if len(words) > 1 else ""
            base = image.rsplit("/", 1)[-1]
            if base.startswith("vmlinuz-"):
                inside[-1][1].release = base[len("vmlinuz-"):]
        elif not inside and head == "set" and len(words) > 1 and words[1].startswith("default="):
            value = words[1][len("default="):]
            if value != "${next_entry}":
                default = value
    return entries, default


def parse_env(text):
    """grubenv (what grub-editenv list prints): NAME=VALUE lines, then '#' padding."""
    env = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            env[name.strip()] = value
    return env


def resolve(name, entries):
    """The entry GRUB boots for a default/next_entry value, or None (GRUB then boots entry 0)."""
    if name is None or name == "":
        name = "0"
    for entry in entries:
        if name in entry.names():
            return entry
    return None


def saved_mode(default):
    return default in ("${saved_entry}", "$saved_entry")


def boot_state(entries, default, env):
    """What GRUB boots: {"default": Entry|None, "next": Entry|None, "saved": bool}."""
    saved = saved_mode(default)
    default_name = env.get("saved_entry") if saved else default
    default_entry = resolve(default_name, entries) or resolve("0", entries)
    next_name = env.get("next_entry")
    return {
        "saved": saved,
        "default": default_entry,
        "next": resolve(next_name, entries) if next_name else None,
    }


def entry_for(release, entries):
    """The normal (not recovery) entry of a kernel release; the one in the submenu where both exist,
    because the top-level entry follows whatever kernel is newest."""
    candidates = [e for e in entries if e.release == release and not e.recovery]
    if not candidates:
        known = sorted(set(e.release for e in entries if e.release))
        raise NetkitError("no GRUB entry boots kernel %s (grub.cfg has entries for: %s); install its package "
                          "(its postinst runs update-grub) first" % (release, ", ".join(known) or "none"),
                          release=release, releases=known)
    in_submenu = [e for e in candidates if e.submenu]
    return (in_submenu or candidates)[0]


def check_release(release):
    if not release or not RELEASE_RE.match(release):
        raise ValidationError("release", "must be a kernel release as `uname -r` prints it (for example "
                              "7.3.4-vmnet-netkit), got %r" % (release,))


def plan(state, release, entries, default, env, dropin_text):
    """Actions making GRUB boot ``release`` always (state "default") or at the next boot only
    (state "once"). Each action is {"op", "argv" or "path"/"text", "summary"}; update_grub comes before
    the grubenv writes because it rewrites grub.cfg."""
    target = entry_for(release, entries)
    saved = saved_mode(default)
    actions = []
    if state == "default":
        if not saved:
            if dropin_text != SAVED_DEFAULT_TEXT:
                actions.append({"op": "write", "path": SAVED_DEFAULT_DROPIN, "text": SAVED_DEFAULT_TEXT,
                                "summary": "make GRUB boot its saved entry (GRUB_DEFAULT=saved in %s)"
                                % SAVED_DEFAULT_DROPIN})
            actions.append({"op": "update_grub", "argv": ["update-grub"], "summary": "regenerate grub.cfg"})
        if not saved or env.get("saved_entry") != target.path:
            actions.append({"op": "set_default", "argv": ["grub-set-default", target.path],
                            "summary": "boot %s by default (%s)" % (release, target.path)})
    elif state == "once":
        if env.get("next_entry") != target.path:
            actions.append({"op": "set_once", "argv": ["grub-reboot", target.path],
                            "summary": "boot %s at the next boot only (%s)" % (release, target.path)})
    return actions


def view(entries, default, env, running):
    return loader_state.view(boot_state(entries, default, env), entries, running)
