# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small caches under /run: what a run would otherwise read again on every run (the kernel's BTF,
the qemu version), kept under a key that changes when the source does. /run is emptied at boot.

Best effort both ways: a cache that cannot be read or written (not root, read-only /run) costs the
read it was meant to save, never an error."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

MISSING = object()


def lookup(cache, key):
    """The value kept in ``cache`` under ``key``, or MISSING."""
    try:
        with open(cache) as f:
            kept = json.load(f)
        if kept.get("key") == key:
            return kept["value"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return MISSING


def keep(cache, key, value):
    tmp = "%s.%d" % (cache, os.getpid())
    try:
        os.makedirs(os.path.dirname(cache), mode=0o755, exist_ok=True)
        with open(tmp, "w") as f:
            json.dump({"key": key, "value": value}, f, sort_keys=True)
        os.replace(tmp, cache)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
