# SPDX-License-Identifier: GPL-3.0-or-later
"""Pack the collection's module_utils into one reproducible zip (the benchmark copies it to the lab node).

Python imports from a zip on PYTHONPATH, so the node gets one file: one copy task, and the
same bytes for the same code (fixed timestamps, sorted entries) so the copy is idempotent.
usage: pack_module_utils.py MODULE_UTILS_DIR OUT.zip
"""

import os
import sys
import zipfile

PREFIX = "ansible_collections/vmnet/netkit/plugins/module_utils/"


def _sources(src):
    """Every .py file below src (subpackages with their __init__.py), not the top __init__.py."""
    for parent, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py") and not (parent == src and name == "__init__.py"):
                yield os.path.join(parent, name)


def main(src, out):
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        # zipimport finds regular packages only: give every level an __init__.py
        parts = PREFIX.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            info = zipfile.ZipInfo("/".join(parts[:depth]) + "/__init__.py", date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, b"")
        for path in sorted(_sources(src)):
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            info = zipfile.ZipInfo(PREFIX + rel, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as f:
                zf.writestr(info, f.read())
    os.replace(tmp, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
