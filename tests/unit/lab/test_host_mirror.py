# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab image takes the Debian archive from the host's APT sources (one-line and deb822 forms)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "tests/lab/image/host_mirror.py"


def mirror(tmp_path, files):
    (tmp_path / "sources.list.d").mkdir()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    out = subprocess.run([sys.executable, str(SCRIPT)], env={"VMNET_APT_DIR": str(tmp_path)},
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_deb822_source_of_the_site_mirror(tmp_path):
    assert mirror(tmp_path, {"sources.list.d/debian.sources": (
        "Types: deb-src\nURIs: http://src.example.org/debian\nSuites: trixie\n\n"
        "Types: deb\nEnabled: no\nURIs: http://off.example.org/debian\nSuites: trixie\n\n"
        "Types: deb\nURIs: http://mirror.example.org/debian/\nSuites: bookworm\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.example.org/debian-security\nSuites: bookworm-security\n")}) \
        == "http://mirror.example.org/debian"


def test_one_line_source_with_options_and_a_proxy_path(tmp_path):
    assert mirror(tmp_path, {"sources.list": (
        "# deb http://commented.example.org/debian trixie main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://proxy.example.org:3142/debian bookworm main\n")}) == "http://proxy.example.org:3142/debian"


def test_no_debian_source_prints_nothing(tmp_path):
    assert mirror(tmp_path, {"sources.list.d/other.list": "deb https://packages.example.com/apt stable main\n",
                             "sources.list.d/local.list": "deb file:/srv/debian trixie main\n"}) == ""
