# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every module's documentation shares: what it needs on the managed node (DOCUMENTATION), and
the check and diff attributes of the modules that only read (INFO_MODULE)."""

from __future__ import annotations


class ModuleDocFragment(object):  # pylint: disable=too-few-public-methods

    DOCUMENTATION = r"""
options: {}
requirements:
  - Python 3.9 or later on the managed node; nothing beyond its standard library.
"""

    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: The module never changes anything.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
"""
