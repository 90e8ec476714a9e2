# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which processes use a netkit device as a VM's network: qemu started with
C(-netdev af-xdp,ifname=DEV,...) (the collection's .args files) or its JSON form
C(-netdev {"type":"af-xdp","ifname":"DEV",...}) (libvirt). Pure: command lines in, users out.
"""

from __future__ import annotations

import json
import re

_IFNAME_KV = re.compile(r"(?:^|,)ifname=([^,]+)")


def _ifnames(argv):
    names = set()
    for i, arg in enumerate(argv):
        value = arg
        if arg in ("-netdev", "--netdev") and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("-netdev="):
            value = arg[len("-netdev="):]
        else:
            continue
        if value.startswith("{"):
            try:
                spec = json.loads(value)
            except ValueError:
                continue
            if isinstance(spec, dict) and isinstance(spec.get("ifname"), str):
                names.add(spec["ifname"])
        else:
            names.update(_IFNAME_KV.findall(value))
    return names


def users(cmdlines, devices):
    """{device: [{"pid", "command"}]} for each device some process names as a -netdev ifname;
    ``cmdlines`` maps pid to argv."""
    wanted = set(devices)
    out = {}
    for pid in sorted(cmdlines):
        argv = cmdlines[pid]
        for name in sorted(_ifnames(argv) & wanted):
            out.setdefault(name, []).append({"pid": pid, "command": argv[0] if argv else ""})
    return out
