# -*- coding: utf-8 -*-
# Copyright: contributors to the vmnet.netkit collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``kernel_packages`` filter: kernel .deb files (or package names) described for the netkit_kernel role."""

from __future__ import annotations

DOCUMENTATION = r"""
name: kernel_packages
short_description: Describe kernel packages by file name or package name
version_added: "0.2.0"
description:
  - Takes paths of Debian kernel packages as C(make bindeb-pkg) names them (C(NAME_VERSION_ARCH.deb)), or package
    names, and returns for each its C(name), C(version) (null for a bare name), C(file) and C(key) (C(NAME VERSION)),
    and the kernel C(release) a C(linux-image-RELEASE) package installs.
  - Fails, naming the input, on a file name that is not C(NAME_VERSION_ARCH.deb), and when no linux-image package
    is in the list.
options:
  _input:
    description: Paths of .deb files, or package names.
    type: list
    elements: str
    required: true
author: vmnet.netkit maintainers (@vmnet)
"""

EXAMPLES = r"""
- name: The release a build directory's packages install
  ansible.builtin.debug:
    msg: "{{ (query('ansible.builtin.fileglob', '/srv/kernel/*.deb') | vmnet.netkit.kernel_packages).release }}"
"""

RETURN = r"""
_value:
  description: C(packages) (a list of C(name), C(version), C(file), C(path), C(key)) and C(release).
  type: dict
"""

import os
import re

from ansible.errors import AnsibleFilterError

_DEB = re.compile(r"^([a-z0-9][a-z0-9+.-]+)_([^_]+)_([a-z0-9-]+)\.deb$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


def kernel_packages(items):
    packages = []
    for item in items or []:
        item = str(item)
        base = os.path.basename(item)
        if base.endswith(".deb"):
            match = _DEB.match(base)
            if not match:
                raise AnsibleFilterError("kernel_packages: %r is not a Debian package file name "
                                         "(NAME_VERSION_ARCH.deb)" % item)
            name, version = match.group(1), match.group(2)
            packages.append({"name": name, "version": version, "file": base, "path": item,
                             "key": "%s %s" % (name, version)})
        elif _NAME.match(item):
            packages.append({"name": item, "version": None, "file": None, "path": None, "key": item})
        else:
            raise AnsibleFilterError("kernel_packages: %r is neither a .deb file nor a package name" % item)
    images = [p["name"][len("linux-image-"):] for p in packages
              if p["name"].startswith("linux-image-") and not p["name"].endswith("-dbg")]
    if len(images) != 1:
        raise AnsibleFilterError("kernel_packages: the packages must hold exactly one linux-image-RELEASE package, "
                                 "got %s" % (", ".join(p["name"] for p in packages) or "none"))
    return {"packages": packages, "release": images[0]}


class FilterModule(object):
    def filters(self):
        return {"kernel_packages": kernel_packages}
