# SPDX-License-Identifier: GPL-3.0-or-later
"""The molecule scenarios users run first, run as users run them (`molecule test -s NAME` from the
collection's root, which finds extensions/molecule), each on a lab node of its own: `seed` (the README's first example on one
NIC) and `teardown` (a seventh VM changes only that VM, removing one VM leaves the others, a
whole-host teardown leaves nothing)."""

from __future__ import annotations

import os
import subprocess

import pytest
from conftest import REPO, _why_lab_cannot_run
from lab_play import VENV_BIN


# teardown's steps are test_provision.py's too, on a node of its own: the extended tier (VMNET_TEST_EXTENDED=1)
@pytest.mark.parametrize("scenario", ["seed", pytest.param("teardown", marks=pytest.mark.extended)])
def test_molecule_scenario(scenario):
    reason = _why_lab_cannot_run()
    if reason:
        pytest.skip("lab tier skipped: %s" % reason)
    env = dict(os.environ)
    env.update({"PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
                "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".build/collections"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0"})
    p = subprocess.run([os.path.join(VENV_BIN, "molecule"), "test", "-s", scenario], cwd=str(REPO),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, check=False)
    assert p.returncode == 0, p.stdout[-6000:]
    assert "PLAY RECAP" in p.stdout and "failed=0" in p.stdout
