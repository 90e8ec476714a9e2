# SPDX-License-Identifier: GPL-3.0-or-later
"""The boot-time re-apply: saved steps go through the modules' service functions, in order."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import zipfile

from ansible_collections.vmnet.netkit.plugins.module_utils.host import reapply
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import KernelError


def test_steps_run_in_order_through_the_services(tmp_path, monkeypatch, capsys):
    seen = []

    def fake(name, fail=False):
        def run(params, backend, check_mode=False, diff=False):
            seen.append((name, params))
            if fail:
                raise KernelError("kernel said no")
            return {"changed": True, "actions": [{"summary": "did %s" % name}]}
        return run

    monkeypatch.setattr(reapply, "SERVICES", {"nic_channels": fake("channels"), "netkit_link": fake("link", True)})
    monkeypatch.setattr(reapply.nic_service, "make_backend", lambda: None)
    monkeypatch.setattr(reapply.netkit_service, "make_backend", lambda: None)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"devices": [], "steps": [
        {"name": "channels", "module": "nic_channels", "params": {"device": "eth0", "combined": 16}},
        {"name": "nk", "module": "netkit_link", "params": {"name": "nk-vm1"}},
        {"name": "echo", "module": "command", "argv": ["true"]},
    ]}))
    assert reapply.main([str(state)]) == 1  # one step failed, the others still ran
    assert [s[0] for s in seen] == ["channels", "link"]
    out = capsys.readouterr()
    assert "reapply: 0 channels: did channels" in out.out and "reapply: 2 echo: true" in out.out
    assert "step 1 nk failed: kernel said no" in out.err


def test_missing_device_stops_early(tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"devices": ["no-such-nic0"], "device_timeout": 0, "steps": []}))
    assert reapply.main([str(state)]) == 1
    assert reapply.main([]) == 2


def test_the_role_packs_every_subpackage_and_the_unit_can_start_from_the_zip(tmp_path):
    """slice_persistence packs plugins/module_utils on the controller; the unit runs host.reapply from it."""
    root = pathlib.Path(__file__).resolve().parents[4]
    pack = [sys.executable, str(root / "roles/slice_persistence/files/pack_module_utils.py"),
            str(root / "plugins/module_utils")]
    subprocess.run(pack + [str(tmp_path / "a.zip")], check=True)
    subprocess.run(pack + [str(tmp_path / "b.zip")], check=True)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    names = zipfile.ZipFile(str(tmp_path / "a.zip")).namelist()
    sources = set(str(p.relative_to(root)) for p in (root / "plugins/module_utils").rglob("*.py")
                  if p.parent.name != "__pycache__")
    sources.add("plugins/module_utils/__init__.py")  # every package level gets one, for zipimport
    prefix = "ansible_collections/vmnet/netkit/"
    assert sorted(n[len(prefix):] for n in names if n.startswith(prefix + "plugins/module_utils/")) == sorted(sources)
    out = subprocess.run([sys.executable, "-m", "ansible_collections.vmnet.netkit.plugins.module_utils.host.reapply"],
                         env=dict(os.environ, PYTHONPATH=str(tmp_path / "a.zip")), cwd=str(tmp_path),
                         capture_output=True, text=True, check=False)
    assert out.returncode == 2 and "usage: reapply STATE.json" in out.stderr
