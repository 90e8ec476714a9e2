# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab CLI's console watches. The panic watch reads only whole console lines: the emulated serial
port writes a character at a time, so a look in the middle of the panic line must not report it cut
short. The stall watch takes a boot as dead once its console has printed nothing for STALL_SECONDS."""

from __future__ import annotations

from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture()
def lab(tmp_path, monkeypatch):
    monkeypatch.setenv("VMNET_LAB_CACHE", str(tmp_path))
    monkeypatch.delenv("VMNET_LAB_BOOT_TIMEOUT", raising=False)
    loader = SourceFileLoader("vmnet_lab_cli_unit", str(REPO / "tests/lab/lab.py"))
    module = module_from_spec(spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    node = module.Lab("unit")
    node.state.mkdir(parents=True)
    return module, node


PANIC = "[    2.118] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n"


def test_a_panic_line_counts_only_once_it_is_whole(lab):
    module, node = lab
    console = node.state / "console.log"
    console.write_text("[    2.001] VFS: Cannot open root device\n" + PANIC[:40])
    node._check_panic()  # half a line: nothing yet
    console.write_text("[    2.001] VFS: Cannot open root device\n" + PANIC)
    with pytest.raises(module.LabPanic) as err:
        node._check_panic()
    assert str(err.value) == ("the guest kernel of lab 'unit' died while booting: Kernel panic - not syncing: "
                              "VFS: Unable to mount root fs on unknown-block(0,0)")


def test_a_reboot_looks_only_after_the_console_it_had(lab):
    module, node = lab
    console = node.state / "console.log"
    console.write_text(PANIC)
    size = node._console_size()
    node._check_panic(size)
    with console.open("a") as f:
        f.write("[    0.911] Oops: int3: 0000 [#1] SMP\n")
    with pytest.raises(module.LabPanic, match="Oops: int3"):
        node._check_panic(size)


def test_boot_timeout_scales_with_the_boots_measured_here(lab):
    module, _node = lab
    assert module.boot_timeout() == module.BOOT_TIMEOUT_FLOOR
    for seconds in (25.0, 31.5, 70.2):
        module.record_boot_seconds(seconds)
    assert module.boot_timeout() == 702
    for _n in range(5):
        module.record_boot_seconds(20.0)  # only the last five boots count
    assert module.boot_timeout() == module.BOOT_TIMEOUT_FLOOR
    assert module.recent_boot_seconds() == [20.0] * 5


def test_the_environment_sets_the_boot_timeout(lab, monkeypatch):
    module, _node = lab
    monkeypatch.setenv("VMNET_LAB_BOOT_TIMEOUT", "42")
    assert module.boot_timeout() == 42


def test_a_console_that_stops_growing_is_a_stalled_boot(lab, monkeypatch):
    module, node = lab
    now = [100.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(module, "STALL_SECONDS", 90)
    console = node.state / "console.log"
    console.write_text("[    1.449] hpet0: 3 comparators, 64-bit 100.000000 MHz counter\n")
    progress = module.ConsoleProgress(node)
    now[0] += 89
    progress.check()  # silent, but not for long enough
    with console.open("a") as f:
        f.write("[    1.5")  # any new byte counts, a whole line or not
    now[0] += 89
    progress.check()
    now[0] += 89
    progress.check()  # 89 s since it grew
    now[0] += 1
    with pytest.raises(module.LabStall) as err:
        progress.check()
    assert str(err.value) == ("the guest of lab 'unit' stopped while booting: its console printed nothing for 90 s "
                              "(VMNET_LAB_STALL_SECONDS)")
    # up and reboot boot again after a stall as after a panic
    assert issubclass(module.LabStall, module.LabBootDied) and issubclass(module.LabPanic, module.LabBootDied)
