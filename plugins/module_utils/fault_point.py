# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Points where a run changes the host, and a kill switch on them for fault testing.

Every change the collection makes to a host goes through one of a few writers (a netlink request
that changes a device, a NIC or a lease; an ethtool, bpftool, ip or systemctl command; a file
written or removed), and each calls :func:`changed` right after its change took effect.

With ``VMNET_NETKIT_KILL_AFTER=N`` in the environment of the module, the process kills itself with
SIGKILL right after its Nth change (or, when the value is not a number, right after the first change
whose description contains it, for example ``create nk-vm7``): no exception handler, no clean-up, no
record written after it, as when the node loses power or an operator kills the run. The lab's fault
tests set it to show that a run killed after any change leaves a host that the next run converges
from. Unset (the normal case), :func:`changed` does nothing.
"""

from __future__ import annotations

import os
import signal
import sys

KILL_AFTER_ENV = "VMNET_NETKIT_KILL_AFTER"

_done = [0]


def changed(what):
    """Called right after a change of the host took effect; ``what`` names it (for the kill's trace)."""
    limit = os.environ.get(KILL_AFTER_ENV)
    if not limit:
        return
    _done[0] += 1
    if (_done[0] >= int(limit)) if limit.isdigit() else (limit in what):
        sys.stderr.write("%s=%s: killed after change %d: %s\n" % (KILL_AFTER_ENV, limit, _done[0], what))
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
