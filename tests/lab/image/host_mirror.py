# SPDX-License-Identifier: GPL-3.0-or-later
"""Print the Debian archive this host's APT uses (the first enabled `deb` source over HTTP(S) whose
path ends in /debian), so the lab image is built from the same mirror or proxy the site already has.

Reads /etc/apt/sources.list and /etc/apt/sources.list.d/*.list (one-line form) and *.sources (deb822).
Prints nothing when no such source is configured; the caller then uses Debian's default archive."""

from __future__ import annotations

import glob
import os
import sys

APT = os.environ.get("VMNET_APT_DIR", "/etc/apt")


def one_line(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            if len(words) >= 3 and words[0] == "deb":
                # deb [options] URI suite components
                rest = words[1:]
                if rest[0].startswith("["):
                    while rest and not rest[0].endswith("]"):
                        rest = rest[1:]
                    rest = rest[1:]
                if rest:
                    yield rest[0]


def deb822(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        stanzas = f.read().split("\n\n")
    for stanza in stanzas:
        fields = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if fields.get("enabled", "yes").lower() == "no" or "deb" not in fields.get("types", "").split():
            continue
        yield from fields.get("uris", "").split()


def main():
    files = [os.path.join(APT, "sources.list")] + sorted(glob.glob(os.path.join(APT, "sources.list.d", "*")))
    for path in files:
        if path.endswith(".list") and os.path.isfile(path):
            uris = one_line(path)
        elif path.endswith(".sources") and os.path.isfile(path):
            uris = deb822(path)
        else:
            continue
        for uri in uris:
            if uri.rstrip("/").endswith("/debian") and uri.startswith(("http://", "https://")):
                print(uri.rstrip("/"))
                return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
