# SPDX-License-Identifier: GPL-3.0-or-later
"""GRUB's entries, default and one-shot entry, from grub.cfg and grubenv as grub-mkconfig writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils.boot import grub as g
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import NetkitError, ValidationError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "grub"
UUID = "0f6e3c1a-9d1b-4b8e-a4f1-2c7d5e8b9a10"
SUB = "gnulinux-advanced-" + UUID
PATCHED = SUB + ">gnulinux-7.3.4-vmnet-netkit-advanced-" + UUID
STOCK = SUB + ">gnulinux-7.3.4+deb13-amd64-advanced-" + UUID


def config(saved=False):
    text = (FIXTURES / "debian-default0.cfg").read_text()
    if saved:
        text = text.replace('   set default="0"', '   set default="${saved_entry}"')
    return g.parse_config(text)


def test_entries_positions_ids_and_releases():
    entries, default = config()
    assert default == "0"
    assert [(e.position, e.release, e.recovery) for e in entries] == [
        ("0", "7.3.4+deb13-amd64", False),
        ("1>0", "7.3.4-vmnet-netkit", False), ("1>1", "7.3.4-vmnet-netkit", True),
        ("1>2", "7.3.4+deb13-amd64", False), ("1>3", "7.3.4+deb13-amd64", True),
        ("1>4", "6.12.117+deb13-amd64", False)]
    assert entries[1].path == PATCHED and entries[0].path == "gnulinux-simple-" + UUID


def test_the_release_entry_is_the_submenu_one_not_recovery():
    entries = config()[0]
    assert g.entry_for("7.3.4+deb13-amd64", entries).path == STOCK
    assert g.entry_for("6.12.117+deb13-amd64", entries).position == "1>4"


def test_a_release_without_an_entry_names_what_there_is():
    entries = config()[0]
    with pytest.raises(NetkitError) as err:
        g.entry_for("7.3.4-vmnet-broken", entries)
    assert str(err.value) == ("no GRUB entry boots kernel 7.3.4-vmnet-broken (grub.cfg has entries for: "
                              "6.12.117+deb13-amd64, 7.3.4+deb13-amd64, 7.3.4-vmnet-netkit); install its package "
                              "(its postinst runs update-grub) first")


@pytest.mark.parametrize("name, position", [
    ("0", "0"), ("1>0", "1>0"), (PATCHED, "1>0"), ("gnulinux-7.3.4-vmnet-netkit-advanced-" + UUID, None),
    ("Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.12.117+deb13-amd64", "1>4"),
    ("1>gnulinux-6.12.117+deb13-amd64-advanced-" + UUID, "1>4"), ("Debian GNU/Linux", "0"), ("9", None),
])
def test_names_resolve_as_grub_resolves_them(name, position):
    entries = config()[0]
    found = g.resolve(name, entries)
    assert (found.position if found else None) == position


def test_default_0_boots_the_first_entry_whatever_grubenv_saved():
    entries, default = config()
    state = g.boot_state(entries, default, {"saved_entry": PATCHED})
    assert not state["saved"] and state["default"].release == "7.3.4+deb13-amd64" and state["next"] is None


def test_saved_default_and_a_pending_one_shot():
    entries, default = config(saved=True)
    assert default == "${saved_entry}"
    view = g.view(entries, default, {"saved_entry": STOCK, "next_entry": PATCHED}, "7.3.4+deb13-amd64")
    assert (view["default"], view["next"], view["saved_default"]) == ("7.3.4+deb13-amd64", "7.3.4-vmnet-netkit", True)
    # an empty saved_entry is entry 0
    assert g.view(entries, default, {}, "x")["default"] == "7.3.4+deb13-amd64"


def test_pinning_a_default_0_host_switches_it_to_saved_first():
    entries, default = config()
    actions = g.plan("default", "7.3.4+deb13-amd64", entries, default, {}, None)
    assert [a["op"] for a in actions] == ["write", "update_grub", "set_default"]
    assert actions[0]["path"] == "/etc/default/grub.d/vmnet-netkit.cfg" and "GRUB_DEFAULT=saved\n" in actions[0]["text"]
    assert actions[2]["argv"] == ["grub-set-default", STOCK]
    # the drop-in already there: only update-grub and the saved entry
    again = g.plan("default", "7.3.4+deb13-amd64", entries, default, {}, g.SAVED_DEFAULT_TEXT)
    assert [a["op"] for a in again] == ["update_grub", "set_default"]


def test_default_and_once_are_idempotent():
    entries, default = config(saved=True)
    env = {"saved_entry": PATCHED, "next_entry": ""}
    assert g.plan("default", "7.3.4-vmnet-netkit", entries, default, env, g.SAVED_DEFAULT_TEXT) == []
    once = g.plan("once", "7.3.4+deb13-amd64", entries, default, env, g.SAVED_DEFAULT_TEXT)
    assert [a["argv"] for a in once] == [["grub-reboot", STOCK]]
    assert g.plan("once", "7.3.4+deb13-amd64", entries, default, dict(env, next_entry=STOCK), None) == []


@pytest.mark.parametrize("release", ["", None, "7.3.4 vmnet", "../../etc/passwd", "7.3;reboot"])
def test_a_release_that_is_not_one_is_refused(release):
    with pytest.raises(ValidationError) as err:
        g.check_release(release)
    assert str(err.value).startswith("release: must be a kernel release as `uname -r` prints it")


def test_grubenv_block_is_read_without_its_padding():
    text = "# GRUB Environment Block\nsaved_entry=%s\nnext_entry=\n%s" % (PATCHED, "#" * 900)
    assert g.parse_env(text) == {"saved_entry": PATCHED, "next_entry": ""}


def test_the_lab_nodes_own_grub_cfg():
    """grub.cfg as update-grub wrote it on the lab image (Debian 13, GRUB 2.12, GRUB_DEFAULT=0)."""
    entries, default = g.parse_config((FIXTURES / "debian13-lab.cfg").read_text())
    uuid = "7cdd2ba3-34ce-4bc6-99be-a324e22d51bf"
    assert default == "0"
    assert [(e.position, e.release, e.recovery) for e in entries] == [
        ("0", "7.3.4+deb13-amd64", False), ("1>0", "7.3.4+deb13-amd64", False), ("1>1", "7.3.4+deb13-amd64", True),
        ("1>2", "6.12.117+deb13-amd64", False), ("1>3", "6.12.117+deb13-amd64", True), ("2", None, False)]
    assert g.entry_for("6.12.117+deb13-amd64", entries).path == (
        "gnulinux-advanced-%s>gnulinux-6.12.117+deb13-amd64-advanced-%s" % (uuid, uuid))
