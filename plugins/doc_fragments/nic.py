# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The option every NIC module shares: the device it works on."""

from __future__ import annotations


class ModuleDocFragment(object):  # pylint: disable=too-few-public-methods

    DOCUMENTATION = r"""
options:
  device:
    description: Name of the network device (the NIC), for example C(eth0).
    type: str
    required: true
"""
