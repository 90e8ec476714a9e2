# SPDX-License-Identifier: GPL-3.0-or-later
"""netkit.btf: enumerators read from BTF type data, and kept once per boot."""

from __future__ import annotations

import json
import struct

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import btf
from btf_blob import blob


TYPES = [
    ("int", "int", None),
    # a struct member and a function parameter named like the enumerators are not enumerators
    ("struct", "netkit_like", [("IFLA_NETKIT_FAKE", 1, 0), ("pad", 99, 32)]),
    ("func_proto", None, [("IFLA_NETKIT_PARAM", 1)]),
    ("enum", "", {"IFLA_NETKIT_UNSPEC": 0, "IFLA_NETKIT_MODE": 5, "OTHER_IFLA_NETKIT_X": 7, "__IFLA_NETKIT_MAX": 11}),
    ("enum", "signed", {"NETKIT_NEGATIVE": -2}),
    ("enum64", "wide", {"NETKIT_WIDE": (1 << 40) + 3}),
    ("enum", "after", {"IFLA_NETKIT_PAIRING": 10}),
]
WANT = {"IFLA_NETKIT_UNSPEC": 0, "IFLA_NETKIT_MODE": 5, "IFLA_NETKIT_PAIRING": 10, "NETKIT_NEGATIVE": -2,
        "NETKIT_WIDE": (1 << 40) + 3}


@pytest.mark.parametrize("endian", ["<", ">"])
def test_every_enumerator_with_the_prefixes_and_nothing_else(endian):
    assert btf.enum_constants(blob(TYPES, endian), ["IFLA_NETKIT_", "NETKIT_"]) == WANT
    assert btf.enum_constants(blob(TYPES, endian), ["NOTHING_"]) == {}


def test_a_name_stored_as_the_tail_of_another_string_is_found():
    data = bytearray(blob([("int", "int", None), ("enum", "", {"OTHER_NETKIT_TAIL": 3})]))
    # point the enumerator at the tail of its own name, as a string table that shares tails would
    member = 24 + 16 + 12  # the header, the int type, the enum's record
    (name_off,) = struct.unpack_from("<I", data, member)
    struct.pack_into("<I", data, member, name_off + len("OTHER_"))
    assert btf.enum_constants(bytes(data), ["NETKIT_"]) == {"NETKIT_TAIL": 3}


def test_bad_data_is_refused():
    with pytest.raises(btf.BtfError, match="too short"):
        btf.enum_constants(b"\x9f\xeb", ["X"])
    with pytest.raises(btf.BtfError, match="bad magic"):
        btf.enum_constants(b"\0" * 32, ["X"])


@pytest.fixture
def boot(tmp_path, monkeypatch):
    boot_id = tmp_path / "boot_id"
    boot_id.write_text("11111111-2222-3333-4444-555555555555\n")
    monkeypatch.setattr(btf, "BOOT_ID_PATH", str(boot_id))
    vmlinux = tmp_path / "vmlinux"
    vmlinux.write_bytes(blob(TYPES))
    return boot_id, vmlinux, tmp_path / "run" / "btf-enums.json"


def test_read_once_per_boot(boot):
    boot_id, vmlinux, cache = boot
    prefixes = ("IFLA_NETKIT_", "NETKIT_")
    assert btf.read_enum_constants(prefixes, str(vmlinux), str(cache)) == WANT
    assert json.loads(cache.read_text())["key"]["boot_id"] == "11111111-2222-3333-4444-555555555555"
    # the same boot: the kept answer, not the file (a BTF of the same size with other values)
    other = [(kind, name, dict(extra, IFLA_NETKIT_MODE=6) if name == "" else extra) for kind, name, extra in TYPES]
    vmlinux.write_bytes(blob(other))
    assert len(blob(other)) == len(blob(TYPES))
    assert btf.read_enum_constants(prefixes, str(vmlinux), str(cache)) == WANT
    # another boot (or other prefixes): read again
    boot_id.write_text("66666666-2222-3333-4444-555555555555\n")
    assert btf.read_enum_constants(prefixes, str(vmlinux), str(cache))["IFLA_NETKIT_MODE"] == 6
    assert btf.read_enum_constants(("IFLA_NETKIT_MODE",), str(vmlinux), str(cache)) == {"IFLA_NETKIT_MODE": 6}


def test_a_cache_that_cannot_be_written_or_read_only_costs_a_read(boot):
    _boot_id, vmlinux, cache = boot
    cache.parent.write_text("a file where the directory would be")
    wide = {"NETKIT_NEGATIVE": -2, "NETKIT_WIDE": (1 << 40) + 3}
    assert btf.read_enum_constants(("NETKIT_",), str(vmlinux), str(cache)) == wide
    cache.parent.unlink()
    cache.parent.mkdir()
    cache.write_text("{not json")
    assert btf.read_enum_constants(("NETKIT_",), str(vmlinux), str(cache))["NETKIT_NEGATIVE"] == -2
    assert json.loads(cache.read_text())["value"]["NETKIT_NEGATIVE"] == -2
    assert btf.read_enum_constants(("NETKIT_",), str(vmlinux.parent / "absent"), str(cache)) is None
    assert btf.read_enum_constants(("NETKIT_",), str(vmlinux), None)["NETKIT_WIDE"] == (1 << 40) + 3
