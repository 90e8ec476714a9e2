# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection passes ``ansible-test sanity`` and ``ansible-lint --profile production``."""

from __future__ import annotations

import shutil


def test_ansible_test_sanity(gates):
    if not shutil.which("shellcheck"):
        raise AssertionError("shellcheck is missing: run scripts/setup, which installs it")
    code, out = gates.result("sanity")
    findings = [line for line in out.splitlines()
                if line.startswith(("ERROR:", "FATAL:")) or ": error:" in line]
    assert code == 0, "ansible-test sanity failed:\n" + "\n".join(findings or out.splitlines()[-40:])


def test_ansible_lint_production(gates):
    code, out = gates.result("lint")
    assert code == 0, "ansible-lint --profile production failed:\n" + out[-6000:]
