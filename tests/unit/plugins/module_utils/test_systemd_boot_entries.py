# SPDX-License-Identifier: GPL-3.0-or-later
"""systemd-boot's entries, default and one-shot entry, from `bootctl list --json=short` (the lab node's
own output) and the loader's EFI variables as efivarfs shows them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils.boot import systemd_boot as sb
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import NetkitError

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "systemd-boot" / "bootctl-list.json"
STOCK = "7.3.4+deb13-amd64"
PATCHED = "7.3.4-vmnet-netkit"


def variable(value):
    return b"\x07\x00\x00\x00" + (value + "\0").encode("utf-16-le")


def entries():
    return sb.parse_list(FIXTURE.read_text())


def test_efivarfs_values():
    assert sb.parse_variable(variable("debian-7.3.4+deb13-amd64.conf")) == "debian-7.3.4+deb13-amd64.conf"
    assert sb.parse_variable(None) is None and sb.parse_variable(b"\x07\x00\x00\x00") is None
    assert sb.parse_variable(b"\x07\x00") is None
    assert sb.booted_by_systemd_boot({"LoaderInfo": "systemd-boot 257.13-1~deb13u1"})
    assert not sb.booted_by_systemd_boot({"LoaderInfo": "GRUB 2.12"}) and not sb.booted_by_systemd_boot({})


def test_the_lab_nodes_entries_in_the_loaders_order():
    found = entries()
    # systemd's version order puts Debian's "+deb13" above the patched kernel's "-vmnet"
    assert [e.release for e in found] == [STOCK, PATCHED, "6.12.117+deb13-amd64"]
    assert [e.id for e in found] == ["debian-%s.conf" % e.release for e in found]


@pytest.mark.parametrize("item, release", [
    ({"id": "a.conf", "version": "6.1.0-9-amd64", "linux": "/x/y/linux"}, "6.1.0-9-amd64"),
    ({"id": "a.conf", "linux": "/debian/6.1.0-9-amd64/linux"}, "6.1.0-9-amd64"),
    ({"id": "a.conf", "linux": "/vmlinuz-6.1.0-9-amd64"}, "6.1.0-9-amd64"),
    ({"id": "windows.conf", "efi": "/EFI/Microsoft/Boot/bootmgfw.efi"}, None),
])
def test_release_of_an_entry(item, release):
    assert sb.release_of(item) == release


def test_automatic_entries_and_junk_are_left_out():
    text = '[{"type": "auto", "id": "auto-reboot-to-firmware-setup"}, {"type": "type1", "id": "x.conf", ' \
           '"version": "1.0"}, 5]'
    assert [e.id for e in sb.parse_list(text)] == ["x.conf"]
    with pytest.raises(NetkitError, match="bootctl list printed no JSON"):
        sb.parse_list("Boot Loader Entries:")


def test_what_boots_next_follows_the_loaders_order_of_precedence():
    found = entries()
    # nothing set: the first entry in the loader's order
    assert sb.view(found, {}, None, STOCK)["default"] == STOCK
    assert sb.view(found, {}, "debian-7.3.4-vmnet-*", STOCK)["default"] == PATCHED
    # loader.conf's pattern, then LoaderEntryDefault over it; patterns are globs, without case
    assert sb.view(found, {}, "DEBIAN-6.12*", STOCK)["default"] == "6.12.117+deb13-amd64"
    pinned = {"LoaderEntryDefault": "debian-%s.conf" % STOCK}
    assert sb.view(found, pinned, "debian-6.12*", STOCK)["default"] == STOCK
    assert sb.view(found, pinned, None, STOCK)["saved_default"] is True
    # a default naming no entry falls through to the next rule
    assert sb.view(found, {"LoaderEntryDefault": "gone.conf"}, "debian-7.3.4-vmnet-*", STOCK)["default"] == PATCHED
    once = dict(pinned, LoaderEntryOneShot="debian-%s.conf" % PATCHED)
    assert sb.view(found, once, None, STOCK)["next"] == PATCHED
    assert sb.parse_loader_conf("#timeout 3\ndefault  debian-*\n") == "debian-*"


def test_a_pattern_picks_the_first_matching_entry_in_the_loaders_order():
    found = entries()
    # the loader has no exact-id preference: a glob that also matches an earlier entry picks that one
    assert sb.resolve("debian-7.3.4*", found).release == STOCK
    assert sb.resolve("Debian-7.3.4-VMNET-netkit.conf", found).release == PATCHED
    assert sb.resolve("debian-?.*", found).release == STOCK
    assert sb.resolve("windows*", found) is None and sb.resolve("", found) is None
    # an entry's own id is a pattern too: where it also matches an entry earlier in the order, that one wins
    odd = sb.parse_list('[{"id": "a-b.conf", "version": "2"}, {"id": "a-[b].conf", "version": "1"}]')
    assert sb.resolve("a-[b].conf", odd).id == "a-b.conf"


def test_saved_stands_for_the_entry_booted_last():
    found = entries()
    last = {"LoaderEntryLastBooted": "debian-%s.conf" % PATCHED}
    # loader.conf's "default @saved", and the same value in LoaderEntryDefault (bootctl set-default @saved)
    assert sb.view(found, last, "@saved", STOCK)["default"] == PATCHED
    assert sb.view(found, dict(last, LoaderEntryDefault="@saved"), None, STOCK)["default"] == PATCHED
    # nothing booted yet with @saved: the loader's first entry
    assert sb.view(found, {}, "@saved", STOCK)["default"] == STOCK
    # a pinned default wins over loader.conf's @saved
    assert sb.view(found, dict(last, LoaderEntryDefault="debian-6.12*"), "@saved", STOCK)["default"] \
        == "6.12.117+deb13-amd64"
    assert sb.parse_loader_conf("timeout 3\n") is None and sb.parse_loader_conf(None) is None


def test_plan():
    found = entries()
    assert sb.plan("default", STOCK, found, {}) == [{
        "op": "set_default", "argv": ["bootctl", "set-default", "debian-%s.conf" % STOCK],
        "summary": "boot %s by default (debian-%s.conf)" % (STOCK, STOCK)}]
    assert sb.plan("default", STOCK, found, {"LoaderEntryDefault": "debian-%s.conf" % STOCK}) == []
    assert [a["argv"] for a in sb.plan("once", PATCHED, found, {"LoaderEntryDefault": "debian-%s.conf" % STOCK})] \
        == [["bootctl", "set-oneshot", "debian-%s.conf" % PATCHED]]
    assert sb.plan("once", PATCHED, found, {"LoaderEntryOneShot": "debian-%s.conf" % PATCHED}) == []
    with pytest.raises(NetkitError) as err:
        sb.plan("once", "7.3.4-vmnet-broken", found, {})
    assert str(err.value) == ("no systemd-boot entry boots kernel 7.3.4-vmnet-broken (bootctl list has entries for: "
                              "6.12.117+deb13-amd64, 7.3.4+deb13-amd64, 7.3.4-vmnet-netkit); install its package (its "
                              "postinst runs kernel-install) first")
