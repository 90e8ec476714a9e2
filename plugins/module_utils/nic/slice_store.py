# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host's record of NIC slices: RSS context name -> kernel id, with what was written.

The kernel gives RSS contexts no names, assigns their ids itself and forgets them on
reboot or driver reload.  This record remembers, per device, which id each named
context got and which table it was given; a record is trusted only while the device
is the same one (same ifindex) and the context with that id still holds exactly the
recorded table (``valid_contexts``).  The file lives under ``/var/lib/vmnet-netkit/``
(``VMNET_NETKIT_STATE_DIR`` overrides the directory) and is replaced atomically.
"""

from __future__ import annotations

import copy
import json
import os

from ansible_collections.vmnet.netkit.plugins.module_utils.host import files as host_files
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import spec_text, table_matches_spec

DEFAULT_DIR = "/var/lib/vmnet-netkit"
FILE_NAME = "nic-slices.json"
VERSION = 1


def default_path():
    return os.path.join(os.environ.get("VMNET_NETKIT_STATE_DIR") or DEFAULT_DIR, FILE_NAME)


class SliceStore(object):
    """Load, query, change and atomically save the record."""

    def __init__(self, path=None):
        self.path = path or default_path()
        self.data = {"version": VERSION, "devices": {}}
        self._loaded = None

    def load(self):
        try:
            with open(self.path) as f:
                data = json.load(f)
        except (IOError, OSError):
            data = None
        except ValueError:
            raise ValueError("%s is not valid JSON; move it away to start a new record" % self.path)
        if data:
            if data.get("version") != VERSION or not isinstance(data.get("devices"), dict):
                raise ValueError("%s has an unknown format (version %r)" % (self.path, data.get("version")))
            self.data = data
        self._loaded = copy.deepcopy(self.data)
        return self

    def device(self, name):
        """The record of one device (a copy; change it with ``put_device``)."""
        rec = self.data["devices"].get(name) or {}
        rec = copy.deepcopy(rec)
        rec.setdefault("contexts", {})
        rec.setdefault("default", {})
        return rec

    def put_device(self, name, record):
        self.data["devices"][name] = record

    def dirty(self):
        return self.data != self._loaded

    def save(self):
        """Write atomically (host_files.atomic_write: temporary file, fsync, rename)."""
        if not self.dirty():
            return False
        host_files.atomic_write(self.path, json.dumps(self.data, indent=2, sort_keys=True) + "\n")
        self._loaded = copy.deepcopy(self.data)
        return True


def valid_contexts(record, state):
    """Check every recorded name against the device as it is now.

    -> (valid, problems): ``valid`` maps name -> id for records the device still
    confirms; ``problems`` maps name -> a sentence saying why a record is not trusted.
    """
    valid = {}
    problems = {}
    same_dev = True
    if record.get("ifindex") and state.get("ifindex") and record["ifindex"] != state["ifindex"]:
        same_dev = False
    for name, entry in sorted((record.get("contexts") or {}).items()):
        cid = entry.get("id")
        if not same_dev:
            problems[name] = ("device %s was re-created (ifindex %s, was %s): its RSS contexts are gone"
                              % (state["device"], state.get("ifindex"), record.get("ifindex")))
            continue
        ctx = (state.get("contexts") or {}).get(cid)
        if ctx is None:
            problems[name] = "context %s recorded for %r no longer exists" % (cid, name)
            continue
        if not table_matches_spec(ctx.get("table"), entry.get("spec") or {}, ctx.get("hfunc"), ctx.get("key")):
            problems[name] = ("context %s recorded for %r was changed behind our back "
                              "(table no longer matches %s)" % (cid, name, _spec_short(entry.get("spec"))))
            continue
        valid[name] = cid
    return valid, problems


def _spec_short(spec):
    return spec_text(spec or {})


def names_by_id(record, state):
    valid, _p = valid_contexts(record, state)
    return dict((cid, name) for name, cid in valid.items())
