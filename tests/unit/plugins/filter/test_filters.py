# SPDX-License-Identifier: GPL-3.0-or-later
"""The filter plugins through their FilterModule classes."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vmnet.netkit.plugins.filter import json_query, qemu_netdev, slice_plan, step


def test_slice_plan_filter_wraps_errors():
    f = slice_plan.FilterModule().filters()["slice_plan"]
    p = f([{"name": "vm1", "queues": 1}], device="eth0", queues=16, host_queues=14)
    assert p["vms"]["vm1"]["queues"] == [14, 14]
    with pytest.raises(AnsibleFilterError) as err:
        f([{"name": "vm1", "queues": 5}], device="eth0", queues=16, host_queues=14)
    assert "slice_plan: vms:" in str(err.value)


def test_qemu_netdev_outputs():
    p = slice_plan.slice_plan([{"name": "vm1", "queues": 1}], "eth0", 16, 14)
    f = qemu_netdev.FilterModule().filters()["qemu_netdev"]
    assert f(p["vms"]["vm1"])[0] == "-netdev"
    assert f(p["vms"]["vm1"], output="string").startswith("-netdev af-xdp,id=net-vm1,")
    xml = f(p["vms"]["vm1"], map_path="/sys/fs/bpf/x&y", output="libvirt")
    assert xml.startswith("<qemu:commandline>") and "x&amp;y" in xml and xml.count("<qemu:arg ") == 4
    with pytest.raises(AnsibleFilterError):
        f(p["vms"]["vm1"], output="yaml")


def test_json_query_and_step():
    q = json_query.FilterModule().filters()["json_query"]
    facts = {"contexts": [{"name": "vm1", "queues": "14-15"}, {"name": None, "queues": "3"}]}
    assert q(facts, "contexts[?name=='vm1'].queues | [0]") == "14-15"
    with pytest.raises(AnsibleFilterError):
        q(facts, "contexts[?")
    s = step.FilterModule().filters()["step"]
    assert s({"name": "nk-vm1"}, "netkit_link") == {"name": "netkit_link nk-vm1", "module": "netkit_link",
                                                    "params": {"name": "nk-vm1"}}
    with pytest.raises(AnsibleFilterError):
        s({}, "command")
