# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""What C(boot_entry) returns of a boot loader's state, in the same shape for every loader it knows."""

from __future__ import annotations


def view(now, entries, running):
    """C(now) is a loader's C(boot_state()): {"default": Entry|None, "next": Entry|None, "saved": bool};
    entries are that loader's entries (each with a C(view())), running the running kernel's release."""
    return {
        "running": running,
        "default": now["default"].release if now["default"] else None,
        "next": now["next"].release if now["next"] else None,
        "saved_default": now["saved"],
        "entries": [e.view() for e in entries],
    }
