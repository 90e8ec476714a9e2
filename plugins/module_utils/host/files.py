# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Files on the managed node: read, and replace atomically.

A record, a unit file or a VM's qemu arguments is never left half-written: the new
content goes to a temporary file in the same directory, is flushed to disk, and is
renamed over the old one (then the directory entry is flushed too). A full disk or a
kill part-way leaves the old file whole, and the error names the file.
"""

from __future__ import annotations

import errno
import os
import tempfile

from ansible_collections.vmnet.netkit.plugins.module_utils import fault_point
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import KernelError


def read_bytes(path):
    """The file's content, or None when there is no such file."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except (IOError, OSError) as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise KernelError("cannot read %s: %s" % (path, err.strerror or err), errno=err.errno)


def read_text(path):
    data = read_bytes(path)
    return None if data is None else data.decode("utf-8", "replace")


def atomic_write(path, data, mode=0o644, dir_mode=0o755):
    """Replace ``path`` with ``data`` (bytes or text) in one rename."""
    if not isinstance(data, bytes):
        data = data.encode("utf-8")
    directory = os.path.dirname(path) or "."
    tmp = None
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, dir_mode)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        fault_point.changed("write %s" % path)
    except (IOError, OSError) as err:
        raise KernelError("cannot write %s: %s (the old file, if any, is unchanged)" % (
            path, err.strerror or err), errno=err.errno)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def remove(path):
    """Remove a file; -> True when there was one."""
    try:
        os.unlink(path)
    except OSError as err:
        if err.errno == errno.ENOENT:
            return False
        raise KernelError("cannot remove %s: %s" % (path, err.strerror or err), errno=err.errno)
    fault_point.changed("remove %s" % path)
    return True
