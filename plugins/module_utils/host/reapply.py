# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Re-apply the last converged slices at boot, with the modules' own service functions.

RSS contexts, ntuple rules, queue leases and XDP attachments do not survive a reboot.
``host_network`` saves each host's converged plan (record version 2) and installs a
systemd unit that runs this file before VM services start; the record is converged by
the same engine the module runs. A record of version 1 (a list of steps: the parameters
the per-resource modules were called with) is still replayed step by step:

    python3 -m ansible_collections.vmnet.netkit.plugins.module_utils.host.reapply STATE.json

with PYTHONPATH pointing at the copy of the collection's module_utils on the host.
There is no second implementation: each step goes through the same ``run_*``
function a module calls, so a boot converges exactly as ``provision.yml`` would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from ansible_collections.vmnet.netkit.plugins.module_utils.host import engine as host_engine
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import service as netkit_service
from ansible_collections.vmnet.netkit.plugins.module_utils.nic import service as nic_service
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import NetkitError

SERVICES = {
    "nic_channels": nic_service.run_channels,
    "rss_contexts": nic_service.run_contexts,
    "ntuple_rules": nic_service.run_rules,
    "netkit_link": netkit_service.run_link,
}


def _wait_for(device, timeout):
    """NICs may appear late at boot (drivers, udev renames): wait for the device."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open("/sys/class/net/%s/operstate" % device):
                return True
        except OSError:
            time.sleep(0.5)
    return False


def run_step(step):
    """One saved step -> (changed, summary lines)."""
    if step["module"] == "command":
        proc = subprocess.run(step["argv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, check=False)
        if proc.returncode != 0 and not step.get("ignore_errors"):
            raise NetkitError("%s failed (rc=%d): %s" % (" ".join(step["argv"]), proc.returncode,
                                                         proc.stderr.strip()))
        return proc.returncode == 0, [" ".join(step["argv"])]
    run = SERVICES[step["module"]]
    if run is netkit_service.run_link:
        backend = netkit_service.make_backend()
    else:
        backend = nic_service.make_backend()
    try:
        result = run(step["params"], backend)
    finally:
        if hasattr(backend, "close"):
            backend.close()
    lines = [a if isinstance(a, str) else a.get("summary", str(a)) for a in result.get("actions") or []]
    return result.get("changed", False), lines


def _converge(state):
    """The saved plan, converged by host_network's engine (no persistence files, no installs)."""
    params = dict(state.get("options") or {}, plan=state["plan"], state="present")
    io = host_engine.HostIO()
    try:
        result = host_engine.converge(params, io, boot=True)
    except NetkitError as err:
        for line in err.details.get("actions") or []:
            sys.stdout.write("reapply: %s\n" % line)
        sys.stderr.write("reapply: failed: %s\n" % err)
        return 1
    finally:
        io.close()
    for line in result["actions"]:
        sys.stdout.write("reapply: %s\n" % line)
    if not result["changed"]:
        sys.stdout.write("reapply: unchanged\n")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: reapply STATE.json\n")
        return 2
    with open(argv[0]) as f:
        state = json.load(f)
    failed = 0
    for device in state.get("devices", []):
        if not _wait_for(device, state.get("device_timeout", 60)):
            sys.stderr.write("reapply: device %s did not appear\n" % device)
            return 1
    if state.get("version") == host_engine.REAPPLY_VERSION:
        return _converge(state)
    for n, step in enumerate(state.get("steps", [])):
        label = "%d %s" % (n, step.get("name") or step["module"])
        try:
            changed, lines = run_step(step)
        except NetkitError as err:
            failed += 1
            sys.stderr.write("reapply: step %s failed: %s\n" % (label, err))
            continue
        for line in lines:
            sys.stdout.write("reapply: %s: %s\n" % (label, line))
        if not changed:
            sys.stdout.write("reapply: %s: unchanged\n" % label)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
