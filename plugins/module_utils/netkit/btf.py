# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read enumerations from the running kernel's BTF (``/sys/kernel/btf/vmlinux``).

The kernel ignores netlink attributes above the maximum it was built with, so the
only safe way to know whether it understands, say, ``IFLA_NETKIT_PAIRING`` (or a
patched kernel's ``IFLA_NETKIT_LOWERDEV``) is to ask the kernel itself.  Its BTF
carries the enumerations it was compiled with, names and values, and reading it
changes nothing in the host's network.  What a run read is kept for the rest of the boot in
``/run/vmnet-netkit/btf-enums.json`` (a cache: a run that finds it missing reads the BTF again).
"""

from __future__ import annotations

import array
import os
import struct
import sys

from ansible_collections.vmnet.netkit.plugins.module_utils import run_cache

BTF_PATH = "/sys/kernel/btf/vmlinux"
BTF_MAGIC = 0xEB9F

KIND_INT, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM = 1, 3, 4, 5, 6
KIND_FUNC_PROTO, KIND_VAR, KIND_DATASEC, KIND_DECL_TAG, KIND_ENUM64 = 13, 14, 15, 17, 19

# 32-bit words that follow a type record: fixed, and per member (vlen), indexed by kind
_EXTRA = {KIND_INT: (1, 0), KIND_ARRAY: (3, 0), KIND_STRUCT: (0, 3), KIND_UNION: (0, 3),
          KIND_ENUM: (0, 2), KIND_FUNC_PROTO: (0, 2), KIND_VAR: (1, 0), KIND_DATASEC: (0, 3),
          KIND_DECL_TAG: (1, 0), KIND_ENUM64: (0, 3)}
_FIXED = [_EXTRA.get(kind, (0, 0))[0] for kind in range(32)]
_EACH = [_EXTRA.get(kind, (0, 0))[1] for kind in range(32)]

# The enumerators of the running kernel cannot change without a boot: what one run read is kept for the
# runs after it, under the boot's id (tmpfs: gone at the next boot).
CACHE_PATH = "/run/vmnet-netkit/btf-enums.json"
BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


class BtfError(ValueError):
    pass


def enum_constants(data, prefixes):
    """-> {name: value} of every enumerator whose name starts with one of ``prefixes``."""
    data = bytes(data)
    if len(data) < 24:
        raise BtfError("BTF data too short")
    magic, _ver, _flags, hdr_len = struct.unpack_from("<HBBI", data, 0)
    endian = "<"
    if magic != BTF_MAGIC:
        magic, _ver, _flags, hdr_len = struct.unpack_from(">HBBI", data, 0)
        endian = ">"
        if magic != BTF_MAGIC:
            raise BtfError("not BTF data (bad magic)")
    type_off, type_len, str_off, str_len = struct.unpack_from(endian + "4I", data, 8)
    strings = data[hdr_len + str_off:hdr_len + str_off + str_len]
    # The wanted names' offsets, found in the string section first (searches at C speed): the walk
    # over every type below then only looks members up in this map.
    names = {}
    for prefix in prefixes:
        wanted = prefix.encode()
        at = strings.find(wanted)
        while at >= 0:
            # anywhere, not only where a string starts: a name may be stored as the tail of another
            end = strings.find(b"\0", at)
            names[at] = strings[at:end if end >= 0 else len(strings)].decode()
            at = strings.find(wanted, at + 1)
    if not names:
        return {}
    start = hdr_len + type_off
    words = array.array("I")
    words.frombytes(data[start:start + type_len - type_len % 4])
    if (endian == "<") != (sys.byteorder == "little"):
        words.byteswap()
    out = {}
    i, count = 0, len(words)
    while i + 3 <= count:
        info = words[i + 1]
        kind = (info >> 24) & 0x1f
        vlen = info & 0xffff
        i += 3
        if kind == KIND_ENUM:
            for m in range(i, min(i + 2 * vlen, count - 1), 2):
                name = names.get(words[m])
                if name is not None:
                    value = words[m + 1]
                    out[name] = value - (1 << 32) if value & 0x80000000 else value
        elif kind == KIND_ENUM64:
            for m in range(i, min(i + 3 * vlen, count - 2), 3):
                name = names.get(words[m])
                if name is not None:
                    out[name] = (words[m + 2] << 32) | words[m + 1]
        i += _FIXED[kind] + _EACH[kind] * vlen
    return out


def read_enum_constants(prefixes, path=BTF_PATH, cache=CACHE_PATH):
    """Enumerators of the running kernel, or None when it has no BTF to read.

    Read once per boot: the result is kept in ``cache`` under the boot's id and the BTF's size, and
    taken from there while both are the same (``cache=None``: always read)."""
    try:
        size = os.stat(path).st_size
    except OSError:
        return None
    key = None
    if cache:
        try:
            with open(BOOT_ID_PATH) as f:
                key = {"boot_id": f.read().strip(), "btf": path, "size": size, "prefixes": sorted(prefixes)}
        except OSError:
            key = None
        kept = run_cache.lookup(cache, key) if key is not None else run_cache.MISSING
        if kept is not run_cache.MISSING:
            return dict(kept)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    constants = enum_constants(data, prefixes)
    if key is not None:
        run_cache.keep(cache, key, constants)
    return constants
