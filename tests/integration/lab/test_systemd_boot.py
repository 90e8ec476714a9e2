# SPDX-License-Identifier: GPL-3.0-or-later
"""The netkit_kernel role (playbooks/kernel.yml) on a node that boots through UEFI firmware and systemd-boot.

The node (tests/lab/lab up --kernel disk-systemd-boot) starts from a GPT disk: OVMF, systemd-boot on the
ESP, Debian's 7.x kernel from its loader entry. The role moves it onto the patched kernel with
`bootctl set-oneshot`, verifies it and keeps it with `bootctl set-default`; a second run changes nothing;
a kernel that panics is booted once and the node comes back on the patched kernel, the broken package
and its loader entry gone; with the default `@saved`, what `boot_entry` says the loader boots next is the
entry booted last, and the loader then boots it. Every state is read on the node itself: uname, the loader's EFI variables
(efivarfs: LoaderEntrySelected is the entry the loader booted), the entries on the ESP, dpkg, the console.

STORY: an operator whose hosts boot with systemd-boot rolls the patched kernel over them with
`playbooks/kernel.yml`, the same way as on GRUB hosts.
"""

from __future__ import annotations

import pytest
from conftest import _boot
from lab_play import ok, recap_changed, run, run_playbook
from test_netkit_kernel import BROKEN, STOCK, Console, kernel_vars, lowerdev_in_btf, roll_out_broken_kernel

# four boots through OVMF, one into a kernel that panics on purpose: the extended tier
pytestmark = pytest.mark.extended

GUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"


@pytest.fixture(scope="module")
def node():
    yield from _boot("pytest-systemd-boot", "disk-systemd-boot")


def loader_variable(node, name):
    """A loader EFI variable as the kernel shows it (efivarfs: 4 bytes of attributes, then UTF-16LE; efivarfs cannot seek, so the
    attributes are cut from a pipe), or ''."""
    text = node.sh("f=/sys/firmware/efi/efivars/%s-%s; test -e $f && cat $f | tail -c +5 | iconv -f UTF-16LE -t UTF-8 "
                   "| tr -d '\\000' || true" % (name, GUID))
    return text


def boot_state(node):
    """What the node runs, what systemd-boot booted and will boot, read on the node."""
    return {
        "running": node.sh("uname -r").strip(),
        "selected": loader_variable(node, "LoaderEntrySelected"),
        "default": loader_variable(node, "LoaderEntryDefault"),
        "oneshot": loader_variable(node, "LoaderEntryOneShot"),
        "entries": sorted(node.sh("ls /boot/efi/loader/entries").split()),
        "packages": sorted(node.sh("dpkg-query -W -f '${db:Status-Abbrev}${Package}\\n' 'linux-image-*'"
                                   " | sed -n 's/^ii *//p'").split()),
    }


def snapshot(node):
    """Everything a kernel run may touch, for check mode's no-change proof."""
    return node.sh("uname -r; md5sum /sys/firmware/efi/efivars/Loader*-%s; find /boot /boot/efi -xdev | sort; "
                   "dpkg-query -W 'linux-*'; ip -br link" % GUID)


def test_the_node_boots_debians_kernel_through_systemd_boot(node):
    assert loader_variable(node, "LoaderInfo").startswith("systemd-boot ")
    state = boot_state(node)
    assert state["running"] == STOCK and state["selected"] == "debian-%s.conf" % STOCK, state
    assert "debian-%s.conf" % STOCK in state["entries"] and state["oneshot"] == "", state
    assert node.ssh("test -e /boot/grub/grub.cfg").returncode != 0


def test_check_mode_says_what_it_would_do_and_changes_nothing(node, kernel_build, kernel_release):
    before = snapshot(node)
    rc, out = run_playbook(node, "kernel.yml", kernel_vars(node, netkit_kernel_build_dir=str(kernel_build)),
                           check=True, diff=True)
    assert rc == 0, out[-3000:]
    assert "would install linux-image-%s_" % kernel_release in out
    assert ("would boot %s once (reboot) instead of %s, verify it and make it systemd-boot's default"
            % (kernel_release, STOCK)) in " ".join(out.split()), out[-3000:]
    assert snapshot(node) == before


def test_the_role_moves_the_node_onto_the_patched_kernel_and_keeps_it(node, kernel_build, kernel_release):
    rc, out = run_playbook(node, "kernel.yml", kernel_vars(node, netkit_kernel_build_dir=str(kernel_build)))
    assert rc == 0, out[-4000:]
    state = boot_state(node)
    # kernel-install put the kernel on the ESP with its entry; systemd-boot booted that entry and keeps it
    assert state["running"] == kernel_release and state["selected"] == "debian-%s.conf" % kernel_release, state
    assert state["default"] == "debian-%s.conf" % kernel_release and state["oneshot"] == "", state
    assert node.ssh("test -s /boot/efi/debian/%s/linux" % kernel_release).returncode == 0
    assert "linux-image-%s" % kernel_release in state["packages"]
    assert lowerdev_in_btf(node).stdout.strip() == "'IFLA_NETKIT_LOWERDEV' val=11"
    assert node.ssh("ip link show nk-kverify").returncode != 0


def test_a_second_run_changes_nothing(node, kernel_build):
    before = boot_state(node)
    rc, out = run_playbook(node, "kernel.yml", kernel_vars(node, netkit_kernel_build_dir=str(kernel_build)))
    assert rc == 0 and recap_changed(out) == 0, out[-3000:]
    assert boot_state(node) == before


def test_a_kernel_that_panics_leaves_the_node_on_the_previous_kernel(node, kernel_release):
    console = Console(node)
    rc, flat = roll_out_broken_kernel(node)
    assert rc != 0
    assert ("kernel %s failed on this host: the host came back on %s, not on %s" % (BROKEN, kernel_release, BROKEN)) in flat
    assert "The host runs %s again (systemd-boot's default: %s)" % (kernel_release, kernel_release) in flat, flat[-3000:]
    assert "the packages linux-image-%s were removed" % BROKEN in flat
    # the console: the broken entry's kernel (Debian's, which names itself so) starts from the one-shot
    # entry and panics; then the default entry's patched kernel starts
    text = console.since_start()
    started = text.find(b"Linux version " + STOCK.encode())
    panic = text.find(b"Kernel panic - not syncing: VFS: Unable to mount root fs", started)
    assert 0 <= started < panic < text.find(b"Linux version " + kernel_release.encode(), panic)
    state = boot_state(node)
    assert state["running"] == kernel_release and state["selected"] == "debian-%s.conf" % kernel_release, state
    assert state["default"] == "debian-%s.conf" % kernel_release and state["oneshot"] == "", state
    assert "debian-%s.conf" % BROKEN not in state["entries"] and "linux-image-%s" % BROKEN not in state["packages"]
    assert node.ssh("test -e /boot/efi/debian/%s" % BROKEN).returncode != 0


def test_a_saved_default_is_the_entry_booted_last(node):
    # "@saved": systemd-boot boots the entry it booted last, which it keeps in LoaderEntryLastBooted, not the
    # first in its order. A host on @saved whose last boot was the entry that is not first: boot_entry must
    # name that entry as the default, and the next boot must start it. (The loader does not record a
    # one-shot boot as the last one, so the variable is written here as the loader writes it.)
    entries = ok(run(node, "boot_entry", {"state": "gathered"}))["entries"]  # in the loader's order
    first = entries[0]
    other = [e for e in entries if e["release"] not in (None, first["release"])][-1]
    node.sh("bootctl set-default @saved")
    node.sh("python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644); "
            "os.write(fd, bytes([7, 0, 0, 0]) + (sys.argv[2] + chr(0)).encode(\"utf-16-le\")); os.close(fd)' "
            "/sys/firmware/efi/efivars/LoaderEntryLastBooted-%s %s" % (GUID, other["id"]))
    assert loader_variable(node, "LoaderEntryDefault") == "@saved"
    assert loader_variable(node, "LoaderEntryLastBooted") == other["id"]
    gathered = ok(run(node, "boot_entry", {"state": "gathered"}))
    assert gathered["default"] == other["release"] != first["release"], gathered
    assert gathered["next"] is None and gathered["saved_default"] is True, gathered
    node.reboot()
    assert loader_variable(node, "LoaderEntrySelected") == other["id"]
    assert node.sh("uname -r").strip() == gathered["default"]
    assert loader_variable(node, "LoaderEntryLastBooted") == other["id"]
