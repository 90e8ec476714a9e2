# SPDX-License-Identifier: GPL-3.0-or-later
"""The boot-time re-apply: saved steps go through the modules' service functions, in order."""

from __future__ import annotations

import json

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
