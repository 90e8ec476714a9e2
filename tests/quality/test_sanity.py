# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection passes ``ansible-test sanity`` and ``ansible-lint --profile production``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

BIN = os.path.dirname(sys.executable)


def _run(argv, cwd):
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_ansible_test_sanity(collection_copy):
    if not shutil.which("shellcheck"):
        raise AssertionError("shellcheck is missing: run scripts/setup, which installs it")
    code, out = _run([os.path.join(BIN, "ansible-test"), "sanity", "--python",
                      "%d.%d" % sys.version_info[:2], "--requirements", "--color", "no"],
                     cwd=collection_copy)
    findings = [line for line in out.splitlines()
                if line.startswith(("ERROR:", "FATAL:")) or ": error:" in line]
    assert code == 0, "ansible-test sanity failed:\n" + "\n".join(findings or out.splitlines()[-40:])


def test_ansible_lint_production(collection_copy):
    code, out = _run([os.path.join(BIN, "ansible-lint"), "--profile", "production", "--nocolor"],
                     cwd=collection_copy)
    assert code == 0, "ansible-lint --profile production failed:\n" + out[-6000:]
