# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host's qemu, as far as the VMs' arguments depend on it.

The arguments use ``-netdev af-xdp`` (qemu configured with libxdp; Debian's packages are not) with
``map-path``/``map-start-index`` (qemu 10.1, or a build with them added). Whether a binary has them is
read from the binary itself: the option names of its QAPI schema (what ``query-qmp-schema`` returns)
are strings in it, present only when it was built with them. The version comes from
``qemu-system-<machine> --version``. Both are read once per binary and kept in
``/run/vmnet-netkit/qemu.json`` under the binary's path, size and modification time, so a run that
changes nothing starts no process for them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import mmap
import os
import re
import subprocess

from ansible_collections.vmnet.netkit.plugins.module_utils import run_cache

CACHE_PATH = "/run/vmnet-netkit/qemu.json"
# os.uname().machine -> the qemu system emulator of the same architecture
MACHINE_BINARY = {"x86_64": "x86_64", "aarch64": "aarch64", "ppc64le": "ppc64", "s390x": "s390x",
                  "riscv64": "riscv64"}
# names in the QAPI schema of NetdevAFXDPOptions: the backend, and the option of the pinned map
SCHEMA_NAMES = {"af_xdp": b"af-xdp", "map_path": b"map-start-index"}

NO_AF_XDP = ("%s (qemu %s) has no -netdev af-xdp: it was built without AF_XDP support (Debian's qemu packages "
             "are); the VMs' arguments need a qemu configured with libxdp (10.1 or later for map-path)")
NO_MAP_PATH = ("%s (qemu %s) has -netdev af-xdp without map-path/map-start-index (qemu 10.1 added them), so it "
               "cannot put its sockets into the pinned XSKMAP the VMs' arguments name; use qemu 10.1 or later, or "
               "start the VMs without inhibit=on (qemu then loads its own XDP program, which netkit refuses)")


def binary_name(machine=None):
    machine = machine or os.uname()[4]
    return "qemu-system-" + MACHINE_BINARY.get(machine, machine)


def parse_version(text):
    """'QEMU emulator version 10.1.0 (Debian 1:10.1.0+ds-1)' -> '10.1.0'; None if not a qemu version."""
    found = re.search(r"QEMU emulator version (\d+\.\d+(?:\.\d+)?)", text or "")
    return found.group(1) if found else None


def _run_version(path):
    proc = subprocess.run([path, "--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False, env=dict(os.environ, LC_ALL="C"))
    return proc.stdout if proc.returncode == 0 else ""


def schema_names(path):
    """{"af_xdp": bool, "map_path": bool}: which of SCHEMA_NAMES the binary holds."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return dict((k, False) for k in SCHEMA_NAMES)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return dict((k, data.find(name) >= 0) for k, name in SCHEMA_NAMES.items())


def probe(path, cache=CACHE_PATH, run_version=_run_version):
    """{"binary", "version", "af_xdp", "map_path"} of the qemu binary at ``path``; None when it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = {"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    kept = run_cache.lookup(cache, key) if cache else run_cache.MISSING
    if kept is not run_cache.MISSING:
        return kept
    try:
        found = dict(schema_names(path), binary=path, version=parse_version(run_version(path)))
    except (OSError, ValueError):
        return None
    if cache:
        run_cache.keep(cache, key, found)
    return found


def note(found):
    """What the host's qemu lacks for the VMs' arguments, or None."""
    if not found:
        return None
    if not found["af_xdp"]:
        return NO_AF_XDP % (found["binary"], found["version"] or "of unknown version")
    if not found["map_path"]:
        return NO_MAP_PATH % (found["binary"], found["version"] or "of unknown version")
    return None
