# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared set-up for the quality gates: a copy of the collection at a path ansible-test accepts."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXCLUDED = {".venv", ".build", ".git", "tests/output", ".pytest_cache"}


def _tracked_and_new_files():
    """Files git tracks plus untracked ones it does not ignore: what a commit would hold."""
    out = subprocess.run(
        ["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True, capture_output=True,
    ).stdout.decode()
    return [f for f in out.split("\0") if f and os.path.exists(os.path.join(ROOT, f))]


@pytest.fixture(scope="session")
def collection_copy():
    """``<tmp>/ansible_collections/vmnet/netkit`` holding the checkout's files."""
    base = tempfile.mkdtemp(prefix="vmnet-netkit-quality-")
    dest = os.path.join(base, "ansible_collections", "vmnet", "netkit")
    for rel in _tracked_and_new_files():
        if rel.split("/")[0] in EXCLUDED:
            continue
        src = os.path.join(ROOT, rel)
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), target)
        else:
            shutil.copy2(src, target)
    yield dest
    shutil.rmtree(base, ignore_errors=True)
