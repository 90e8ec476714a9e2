# SPDX-License-Identifier: GPL-3.0-or-later
"""boot_entry on a host that systemd-boot started, through its argument spec.

The loader's EFI variables are files in a temporary efivarfs-like directory (4 bytes of attributes, then
the UTF-16LE value); bootctl is played by a fake that prints the lab node's real `bootctl list --json=short`
(the fixture, taken after the patched kernel's package was installed there) and writes the variables as
`bootctl set-default` and `set-oneshot` do."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.module_utils import basic

from ansible_collections.vmnet.netkit.plugins.module_utils.boot import systemd_boot
from ansible_collections.vmnet.netkit.plugins.modules import boot_entry
from module_runner import run_module

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "systemd-boot" / "bootctl-list.json"
STOCK = "7.3.4+deb13-amd64"
PATCHED = "7.3.4-vmnet-netkit"
ATTRIBUTES = b"\x07\x00\x00\x00"  # non-volatile, boot service and runtime access


class FakeSystemdBoot(object):
    def __init__(self, root):
        self.efivars = root / "efivars"
        self.efivars.mkdir()
        self.esp = root / "esp"
        (self.esp / "loader").mkdir(parents=True)
        self.set("LoaderInfo", "systemd-boot 257.13-1~deb13u1")
        self.set("LoaderEntrySelected", "debian-%s.conf" % STOCK)
        self.commands = []

    def path(self, name):
        return self.efivars / ("%s-%s" % (name, systemd_boot.LOADER_GUID))

    def set(self, name, value):
        self.path(name).write_bytes(ATTRIBUTES + (value + "\0").encode("utf-16-le"))

    def get(self, name):
        return systemd_boot.parse_variable(self.path(name).read_bytes()) if self.path(name).exists() else None

    def run_command(self, argv, **kwargs):
        self.commands.append([Path(argv[0]).name] + argv[1:])
        if argv[1] == "list":
            return 0, FIXTURE.read_text(), ""
        if argv[1] == "set-default":
            self.set("LoaderEntryDefault", argv[2])
        elif argv[1] == "set-oneshot":
            self.set("LoaderEntryOneShot", argv[2])
        return 0, "", ""


@pytest.fixture
def loader(monkeypatch, tmp_path):
    fake = FakeSystemdBoot(tmp_path)
    monkeypatch.setattr(systemd_boot, "EFIVARS_DIR", str(fake.efivars))
    monkeypatch.setattr(boot_entry, "ESP_DIRS", (str(fake.esp),))
    monkeypatch.setattr(boot_entry, "GRUB_DIRS", (str(tmp_path / "no-grub"),))
    monkeypatch.setattr(basic.AnsibleModule, "run_command", fake.run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: "/usr/bin/" + name)
    return fake


def test_pin_then_once_then_keep(loader):
    r = run_module(boot_entry, {"release": STOCK, "state": "default"}, diff=True)
    assert r["changed"] and r["loader"] == "systemd-boot"
    assert [c for c in loader.commands if c[1] != "list"] == [["bootctl", "set-default", "debian-%s.conf" % STOCK]]
    assert loader.get("LoaderEntryDefault") == "debian-%s.conf" % STOCK
    # before: no variable and no loader.conf, so the first entry in the loader's order
    assert r["diff"] == {"before": {"default": STOCK, "next": None, "saved_default": False},
                         "after": {"default": STOCK, "next": None, "saved_default": True}}
    assert not run_module(boot_entry, {"release": STOCK, "state": "default"})["changed"]

    r = run_module(boot_entry, {"release": PATCHED, "state": "once"})
    assert r["changed"] and loader.get("LoaderEntryOneShot") == "debian-%s.conf" % PATCHED
    assert r["next"] == PATCHED and r["default"] == STOCK
    assert not run_module(boot_entry, {"release": PATCHED, "state": "once"})["changed"]

    r = run_module(boot_entry, {"release": PATCHED, "state": "default"})
    assert r["changed"] and r["default"] == PATCHED and loader.get("LoaderEntryDefault") == "debian-%s.conf" % PATCHED
    assert [c[1] for c in loader.commands if c[1] != "list"] == ["set-default", "set-oneshot", "set-default"]


def test_check_mode_changes_nothing_and_says_what_it_would(loader):
    r = run_module(boot_entry, {"release": PATCHED, "state": "once"}, check_mode=True, diff=True)
    assert r["changed"] and r["next"] == PATCHED and r["diff"]["before"]["next"] is None
    assert r["actions"] == [{"op": "set_once", "argv": ["bootctl", "set-oneshot", "debian-%s.conf" % PATCHED],
                             "summary": "boot %s at the next boot only (debian-%s.conf)" % (PATCHED, PATCHED)}]
    assert [c[1] for c in loader.commands] == ["list"] and loader.get("LoaderEntryOneShot") is None


def test_gathered_reports_entries_and_the_loader_conf_default(loader):
    (loader.esp / "loader" / "loader.conf").write_text("timeout 3\ndefault debian-6.12*\n")
    r = run_module(boot_entry, {"state": "gathered"})
    assert not r["changed"] and r["loader"] == "systemd-boot" and r["default"].startswith("6.12.")
    releases = [e["release"] for e in r["entries"]]
    assert releases == [STOCK, PATCHED, "6.12.117+deb13-amd64"], r["entries"]


@pytest.mark.parametrize("args, text", [
    ({"state": "once"}, "release: required with state once"),
    ({"release": "7.3.4-vmnet-broken", "state": "once"}, "no systemd-boot entry boots kernel 7.3.4-vmnet-broken"),
])
def test_bad_input_changes_nothing(loader, args, text):
    r = run_module(boot_entry, args, expect_failure=True)
    assert r["msg"].startswith(text) and [c[1] for c in loader.commands] in ([], ["list"])
    assert loader.get("LoaderEntryDefault") is None and loader.get("LoaderEntryOneShot") is None


def test_a_host_that_grub_started_is_not_read_as_systemd_boot(loader):
    loader.path("LoaderInfo").unlink()
    r = run_module(boot_entry, {"state": "gathered"}, expect_failure=True)
    assert r["msg"].startswith("no boot loader boot_entry knows on this host: no GRUB configuration")
    assert "LoaderInfo EFI variable from systemd-boot" in r["msg"] and loader.commands == []
