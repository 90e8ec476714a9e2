# SPDX-License-Identifier: GPL-3.0-or-later
"""host_files: a file is replaced whole or not at all, and an error names the file."""

from __future__ import annotations

import errno
import os

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils.host import files as host_files
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import KernelError


def test_write_creates_directories_and_replaces(tmp_path):
    path = str(tmp_path / "a" / "b" / "plan.json")
    host_files.atomic_write(path, "one\n")
    host_files.atomic_write(path, b"two\n", mode=0o600)
    assert host_files.read_text(path) == "two\n" and os.stat(path).st_mode & 0o777 == 0o600
    assert os.listdir(os.path.dirname(path)) == ["plan.json"]
    assert host_files.read_bytes(str(tmp_path / "missing")) is None
    assert host_files.remove(path) and not host_files.remove(path)


def test_a_full_disk_leaves_the_old_file_whole_and_names_the_file(tmp_path, monkeypatch):
    path = str(tmp_path / "plan.json")
    host_files.atomic_write(path, "old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(KernelError) as err:
        host_files.atomic_write(path, "new and longer\n")
    assert str(err.value) == "cannot write %s: No space left on device (the old file, if any, is unchanged)" % path
    assert err.value.errno == errno.ENOSPC
    assert open(path).read() == "old\n" and os.listdir(str(tmp_path)) == ["plan.json"]
