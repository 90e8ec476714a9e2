# SPDX-License-Identifier: GPL-3.0-or-later
"""boot_entry through its argument spec, on a GRUB directory in a temporary path.

The GRUB commands are played by a fake that does what they do to the files: update-grub
regenerates grub.cfg (saved mode when the drop-in says GRUB_DEFAULT=saved), grub-set-default and
grub-reboot write grubenv."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.module_utils import basic

from ansible_collections.vmnet.netkit.plugins.module_utils.boot import grub as grub_entries
from ansible_collections.vmnet.netkit.plugins.module_utils.boot import systemd_boot
from ansible_collections.vmnet.netkit.plugins.modules import boot_entry
from module_runner import run_module

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "grub" / "debian-default0.cfg"
UUID = "0f6e3c1a-9d1b-4b8e-a4f1-2c7d5e8b9a10"
PATCHED = "gnulinux-advanced-%s>gnulinux-7.3.4-vmnet-netkit-advanced-%s" % (UUID, UUID)
STOCK = "gnulinux-advanced-%s>gnulinux-7.3.4+deb13-amd64-advanced-%s" % (UUID, UUID)


class FakeGrub(object):
    def __init__(self, root):
        self.dir = root / "boot" / "grub"
        self.dir.mkdir(parents=True)
        self.dropin = root / "etc" / "default" / "grub.d" / "vmnet-netkit.cfg"
        (self.dir / "grub.cfg").write_text(FIXTURE.read_text())
        self.env = {}
        self.write_env()
        self.commands = []

    def write_env(self):
        body = "# GRUB Environment Block\n" + "".join("%s=%s\n" % kv for kv in sorted(self.env.items()))
        (self.dir / "grubenv").write_text(body + "#" * (1024 - len(body)))

    def run_command(self, argv, **kwargs):
        name = Path(argv[0]).name
        self.commands.append([name] + argv[1:])
        if name == "update-grub":
            text = FIXTURE.read_text()
            if self.dropin.exists() and "GRUB_DEFAULT=saved" in self.dropin.read_text():
                text = text.replace('   set default="0"', '   set default="${saved_entry}"')
            (self.dir / "grub.cfg").write_text(text)
        elif name == "grub-set-default":
            self.env["saved_entry"] = argv[1]
            self.write_env()
        elif name == "grub-reboot":
            self.env["next_entry"] = argv[1]
            self.write_env()
        return 0, "", ""


@pytest.fixture
def grub(monkeypatch, tmp_path):
    fake = FakeGrub(tmp_path)
    monkeypatch.setattr(boot_entry, "GRUB_DIRS", (str(fake.dir),))
    # no loader variables: a BIOS host, or an EFI host that GRUB started
    monkeypatch.setattr(systemd_boot, "EFIVARS_DIR", str(tmp_path / "efivars"))
    monkeypatch.setattr(grub_entries, "SAVED_DEFAULT_DROPIN", str(fake.dropin))
    # a bound method as the class attribute: the module's self.run_command(argv) calls fake.run_command(argv)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", fake.run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: "/usr/sbin/" + name)
    return fake


def test_pin_then_once_then_keep(grub):
    r = run_module(boot_entry, {"release": "7.3.4+deb13-amd64", "state": "default"}, diff=True)
    assert r["changed"] and [a["op"] for a in r["actions"]] == ["write", "update_grub", "set_default"]
    assert grub.dropin.read_text() == grub_entries.SAVED_DEFAULT_TEXT and grub.env["saved_entry"] == STOCK
    assert r["diff"] == {"before": {"default": "7.3.4+deb13-amd64", "next": None, "saved_default": False},
                         "after": {"default": "7.3.4+deb13-amd64", "next": None, "saved_default": True}}
    assert not run_module(boot_entry, {"release": "7.3.4+deb13-amd64", "state": "default"})["changed"]

    r = run_module(boot_entry, {"release": "7.3.4-vmnet-netkit", "state": "once"})
    assert r["changed"] and grub.env["next_entry"] == PATCHED and r["next"] == "7.3.4-vmnet-netkit"
    assert r["default"] == "7.3.4+deb13-amd64"
    assert not run_module(boot_entry, {"release": "7.3.4-vmnet-netkit", "state": "once"})["changed"]

    r = run_module(boot_entry, {"release": "7.3.4-vmnet-netkit", "state": "default"})
    assert r["changed"] and grub.env["saved_entry"] == PATCHED and r["default"] == "7.3.4-vmnet-netkit"
    assert [c[0] for c in grub.commands] == ["update-grub", "grub-set-default", "grub-reboot", "grub-set-default"]


def test_check_mode_changes_nothing_and_says_what_it_would(grub):
    r = run_module(boot_entry, {"release": "7.3.4-vmnet-netkit", "state": "default"}, check_mode=True, diff=True)
    assert r["changed"] and r["default"] == "7.3.4-vmnet-netkit" and r["diff"]["before"]["default"] == "7.3.4+deb13-amd64"
    assert grub.commands == [] and not grub.dropin.exists() and grub.env == {}


def test_gathered_reports_entries(grub):
    r = run_module(boot_entry, {"state": "gathered"})
    assert not r["changed"] and r["actions"] == [] and r["default"] == "7.3.4+deb13-amd64" and r["loader"] == "grub"
    assert {"release": "6.12.117+deb13-amd64", "title": "Debian GNU/Linux, with Linux 6.12.117+deb13-amd64",
            "id": "gnulinux-advanced-%s>gnulinux-6.12.117+deb13-amd64-advanced-%s" % (UUID, UUID),
            "recovery": False} in r["entries"]


@pytest.mark.parametrize("args, text", [
    ({"state": "once"}, "release: required with state once"),
    ({"release": "7.3 x", "state": "default"}, "release: must be a kernel release"),
    ({"release": "7.3.4-vmnet-broken", "state": "once"}, "no GRUB entry boots kernel 7.3.4-vmnet-broken"),
])
def test_bad_input_changes_nothing(grub, args, text):
    r = run_module(boot_entry, args, expect_failure=True)
    assert r["msg"].startswith(text) and grub.commands == []


def test_a_host_without_a_known_loader_is_told_so(monkeypatch, tmp_path):
    monkeypatch.setattr(boot_entry, "GRUB_DIRS", (str(tmp_path / "none"),))
    monkeypatch.setattr(systemd_boot, "EFIVARS_DIR", str(tmp_path / "efivars"))
    r = run_module(boot_entry, {"state": "gathered"}, expect_failure=True)
    assert r["msg"] == ("no boot loader boot_entry knows on this host: no GRUB configuration (%s/none/grub.cfg) and no "
                        "LoaderInfo EFI variable from systemd-boot (%s/efivars/LoaderInfo-%s); boot_entry works with "
                        "GRUB 2 and systemd-boot" % (tmp_path, tmp_path, systemd_boot.LOADER_GUID))
