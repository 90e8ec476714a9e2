# SPDX-License-Identifier: GPL-3.0-or-later
"""BTF type data built the way the kernel lays it out, for the tests of netkit.btf and the capability probe."""

from __future__ import annotations

import struct

from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import btf


def blob(types, endian="<"):
    """BTF of ``types``: (kind, name, vlen-or-members) as the kernel lays them out."""
    strings = b"\0"
    offsets = {}

    def add(text):
        nonlocal strings
        if text not in offsets:
            offsets[text] = len(strings)
            strings += text.encode() + b"\0"
        return offsets[text]

    data = b""
    for kind, name, extra in types:
        if kind == "int":
            data += struct.pack(endian + "3I", add(name), 1 << 24, 4) + struct.pack(endian + "I", 32)
        elif kind == "struct":  # members: (name, type id, bit offset)
            data += struct.pack(endian + "3I", add(name), (4 << 24) | len(extra), 8)
            for member, type_id, bits in extra:
                data += struct.pack(endian + "3I", add(member), type_id, bits)
        elif kind == "func_proto":  # params: (name, type id)
            data += struct.pack(endian + "3I", 0, (13 << 24) | len(extra), 1)
            for param, type_id in extra:
                data += struct.pack(endian + "2I", add(param), type_id)
        elif kind == "enum":
            data += struct.pack(endian + "3I", add(name), (6 << 24) | len(extra), 4)
            for member, value in extra.items():
                data += struct.pack(endian + "Ii", add(member), value)
        elif kind == "enum64":
            data += struct.pack(endian + "3I", add(name), (19 << 24) | len(extra), 8)
            for member, value in extra.items():
                data += struct.pack(endian + "3I", add(member), value & 0xffffffff, value >> 32)
    hdr = struct.pack(endian + "HBBI4I", btf.BTF_MAGIC, 1, 0, 24, 0, len(data), len(data), len(strings))
    return hdr + data + strings


def enums_blob(enums):
    """An int type, then one enum per {name: {member: value}}."""
    return blob([("int", "int", None)] + [("enum", name, members) for name, members in enums.items()])
