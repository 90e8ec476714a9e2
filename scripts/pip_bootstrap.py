# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test fetches a get-pip script from the internet to seed pip into each
sanity-test virtual environment. Where only the package index is reachable,
this script does the same job from the interpreter's bundled ``ensurepip``
and then installs the exact pip version ansible-test asked for from the index.
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys


def main():
    # ensurepip sets PIP_CONFIG_FILE=/dev/null in this process; the install
    # that follows must see the machine's pip configuration (index, certificates).
    environ = dict(os.environ)
    ensurepip.bootstrap(upgrade=True, default_pip=True)
    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + args, env=environ)


if __name__ == "__main__":
    main()
