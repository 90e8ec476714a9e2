# SPDX-License-Identifier: GPL-3.0-or-later
"""The host's qemu: its version, whether the binary has -netdev af-xdp and map-path, read once per
binary, and the notes for one that lacks them."""
import json
import os

from ansible_collections.vmnet.netkit.plugins.module_utils.host import qemu

# what a qemu binary holds of its QAPI schema, with and without the options
WITH_MAP_PATH = b"\x00NetdevAFXDPOptions\x00af-xdp\x00start-queue\x00map-path\x00map-start-index\x00"
WITHOUT_MAP_PATH = b"\x00NetdevAFXDPOptions\x00af-xdp\x00start-queue\x00inhibit\x00"
WITHOUT_AF_XDP = b"\x00NetdevTapOptions\x00vhostfd\x00"


def test_the_version_line_of_debian_and_upstream_builds_is_parsed():
    assert qemu.parse_version("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2)\nCopyright") == "10.0.2"
    assert qemu.parse_version("QEMU emulator version 11.1.0\n") == "11.1.0"
    assert qemu.parse_version("qemu-img version 10.1.0") is None
    assert qemu.parse_version("") is None


def test_the_binary_is_the_emulator_of_the_hosts_architecture():
    assert qemu.binary_name("x86_64") == "qemu-system-x86_64"
    assert qemu.binary_name("aarch64") == "qemu-system-aarch64"
    assert qemu.binary_name("ppc64le") == "qemu-system-ppc64"


def test_the_schema_names_in_the_binary_say_what_it_was_built_with(tmp_path):
    path = tmp_path / "qemu-system-x86_64"
    for data, expected in ((WITH_MAP_PATH, {"af_xdp": True, "map_path": True}),
                           (WITHOUT_MAP_PATH, {"af_xdp": True, "map_path": False}),
                           (WITHOUT_AF_XDP, {"af_xdp": False, "map_path": False}),
                           (b"", {"af_xdp": False, "map_path": False})):
        path.write_bytes(b"\x7fELF" + b"\x00" * 4096 + data)
        assert qemu.schema_names(str(path)) == expected


def test_only_a_qemu_without_af_xdp_or_map_path_gets_a_note():
    base = {"binary": "/usr/bin/qemu-system-x86_64", "version": "10.0.2"}
    assert qemu.note(dict(base, af_xdp=True, map_path=True)) is None
    assert qemu.note(None) is None
    assert qemu.note(dict(base, af_xdp=True, map_path=False)).startswith(
        "/usr/bin/qemu-system-x86_64 (qemu 10.0.2) has -netdev af-xdp without map-path/map-start-index")
    assert qemu.note(dict(base, af_xdp=False, map_path=False, version=None)).startswith(
        "/usr/bin/qemu-system-x86_64 (qemu of unknown version) has no -netdev af-xdp: it was built without AF_XDP")


def test_a_binary_is_read_once_then_again_when_it_changes(tmp_path):
    binary, cache = tmp_path / "qemu-system-x86_64", tmp_path / "run" / "qemu.json"
    binary.write_bytes(WITHOUT_MAP_PATH)
    calls = []

    def run_version(path):
        calls.append(path)
        return "QEMU emulator version %s\n" % ("10.0.2" if binary.read_bytes() == WITHOUT_MAP_PATH else "10.1.0")

    first = qemu.probe(str(binary), str(cache), run_version)
    assert first == {"binary": str(binary), "version": "10.0.2", "af_xdp": True, "map_path": False}
    assert qemu.probe(str(binary), str(cache), run_version) == first and calls == [str(binary)]
    assert json.loads(cache.read_text())["value"] == first
    binary.write_bytes(WITH_MAP_PATH)
    os.utime(str(binary), ns=(1, 2))
    assert qemu.probe(str(binary), str(cache), run_version)["map_path"] and len(calls) == 2
    # no binary: nothing to read; a cache that cannot be written only costs the read
    assert qemu.probe(str(tmp_path / "none"), str(cache), run_version) is None
    cache.unlink()
    cache.parent.rmdir()
    cache.parent.write_text("a file where the directory would be")
    assert qemu.probe(str(binary), str(cache), run_version)["version"] == "10.1.0" and len(calls) == 3
