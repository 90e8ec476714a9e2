# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read enumerations from the running kernel's BTF (``/sys/kernel/btf/vmlinux``).

The kernel ignores netlink attributes above the maximum it was built with, so the
only safe way to know whether it understands, say, ``IFLA_NETKIT_PAIRING`` (or a
patched kernel's ``IFLA_NETKIT_LOWERDEV``) is to ask the kernel itself.  Its BTF
carries the enumerations it was compiled with, names and values, and reading it
changes nothing on the host (safe in check mode).
"""

from __future__ import annotations

import struct

BTF_PATH = "/sys/kernel/btf/vmlinux"
BTF_MAGIC = 0xEB9F

KIND_INT, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM = 1, 3, 4, 5, 6
KIND_FUNC_PROTO, KIND_VAR, KIND_DATASEC, KIND_DECL_TAG, KIND_ENUM64 = 13, 14, 15, 17, 19

# bytes that follow a type record: fixed, and per member (vlen)
_EXTRA = {KIND_INT: (4, 0), KIND_ARRAY: (12, 0), KIND_STRUCT: (0, 12), KIND_UNION: (0, 12),
          KIND_ENUM: (0, 8), KIND_FUNC_PROTO: (0, 8), KIND_VAR: (4, 0), KIND_DATASEC: (0, 12),
          KIND_DECL_TAG: (4, 0), KIND_ENUM64: (0, 12)}


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
    types = hdr_len + type_off
    strings = data[hdr_len + str_off:hdr_len + str_off + str_len]
    wanted = tuple(p.encode() for p in prefixes)

    def name(off):
        end = strings.find(b"\0", off)
        return strings[off:end if end >= 0 else len(strings)]

    out = {}
    off, end = types, types + type_len
    rec = struct.Struct(endian + "3I")
    member = struct.Struct(endian + "Ii")
    member64 = struct.Struct(endian + "III")
    while off + 12 <= end:
        _name_off, info, _size = rec.unpack_from(data, off)
        kind = (info >> 24) & 0x1f
        vlen = info & 0xffff
        off += 12
        fixed, each = _EXTRA.get(kind, (0, 0))
        if kind in (KIND_ENUM, KIND_ENUM64):
            for i in range(vlen):
                if kind == KIND_ENUM:
                    n_off, val = member.unpack_from(data, off + i * 8)
                else:
                    n_off, lo, hi = member64.unpack_from(data, off + i * 12)
                    val = (hi << 32) | lo
                text = name(n_off)
                if text.startswith(wanted):
                    out[text.decode()] = val
        off += fixed + each * vlen
    return out


def read_enum_constants(prefixes, path=BTF_PATH):
    """Enumerators of the running kernel, or None when it has no BTF to read."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return enum_constants(data, prefixes)
