# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the checkout importable as ``ansible_collections.vmnet.netkit``.

Unit tests run straight from a checkout, which is not laid out under an
``ansible_collections/vmnet/netkit`` directory; a symlink tree in a temporary
directory gives Python the import path Ansible itself would use.
"""

from __future__ import annotations

import os
import sys
import tempfile

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _collection_root():
    parts = _ROOT.split(os.sep)
    if parts[-3:-2] == ["ansible_collections"]:
        return os.sep.join(parts[:-3])
    base = os.path.join(tempfile.gettempdir(), "vmnet-netkit-unit-%d" % os.getuid())
    link_dir = os.path.join(base, "ansible_collections", "vmnet")
    link = os.path.join(link_dir, "netkit")
    os.makedirs(link_dir, exist_ok=True)
    if os.path.realpath(link) != _ROOT:
        tmp = "%s.%d" % (link, os.getpid())
        os.symlink(_ROOT, tmp)
        os.replace(tmp, link)
    return base


sys.path.insert(0, _collection_root())
# Shared test helpers (module_runner) live beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
