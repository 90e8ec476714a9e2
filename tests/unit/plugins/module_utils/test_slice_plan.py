# SPDX-License-Identifier: GPL-3.0-or-later
"""The slice planner: queue assignment, stability, address allocation, errors in the user's terms."""

from __future__ import annotations

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils.errors import ValidationError
from ansible_collections.vmnet.netkit.plugins.module_utils.plan.slices import default_mac, plan, qemu_netdev, xml_attr

SUBNETS = ["10.0.0.0/24", "fd00:10::/64"]


def six():
    return [{"name": "vm%d" % n, "queues": 1} for n in range(1, 7)]


def test_seed_layout():
    p = plan([{"name": "vm1", "queues": 2, "addresses": ["10.0.0.2"]}], "eth0", 16, 14)
    vm = p["vms"]["vm1"]
    assert p["channels"] == 16 and p["default_table"] == {"start": 0, "equal": 14}
    assert vm["queues"] == [14, 15] and vm["rss_context"] == {"name": "vm1", "start": 14, "equal": 2}
    assert p["rules"] == [{"flow_type": "ip4", "dst_ip": "10.0.0.2", "context": "vm1"}]
    assert vm["netkit"] == {"name": "nk-vm1", "pairing": "single", "mode": "l2", "numrxqueues": 3,
                            "lower": {"device": "eth0", "queues": [14, 15]}}
    assert vm["qemu"]["start_queue"] == 1 and vm["qemu"]["map_start_index"] == 14
    assert p["free_queues"] == []


def test_addresses_allocated_from_the_pool_skip_network_gateway_and_given():
    p = plan([{"name": "a", "queues": 1, "addresses": ["10.0.0.2"]}, {"name": "b", "queues": 1}], "eth0", 16, 8, SUBNETS)
    assert p["vms"]["a"]["addresses"] == ["10.0.0.2", "fd00:10::2"]
    assert p["vms"]["b"]["addresses"] == ["10.0.0.3", "fd00:10::3"]
    assert [r["flow_type"] for r in p["vms"]["b"]["rules"]] == ["ip4", "ip6"]


def test_adding_or_removing_a_vm_moves_no_other():
    first = plan(six(), "eth0", 16, 8, SUBNETS)
    without = plan([v for v in six() if v["name"] != "vm3"], "eth0", 16, 8, SUBNETS, previous=first)
    for name, vm in without["vms"].items():
        assert vm["queues"] == first["vms"][name]["queues"]
        assert vm["addresses"] == first["vms"][name]["addresses"] and vm["mac"] == first["vms"][name]["mac"]
    added = plan([v for v in six() if v["name"] != "vm3"] + [{"name": "vm7", "queues": 2}], "eth0", 16, 8,
                 SUBNETS, previous=without)
    assert added["vms"]["vm7"]["queues"] == [14, 15]  # vm3's single hole is too small: first fit elsewhere
    back = plan(six() + [{"name": "vm7", "queues": 2}], "eth0", 16, 8, SUBNETS, previous=added)
    assert back["vms"]["vm3"]["queues"] == [10, 10]
    assert all(back["vms"][n]["queues"] == added["vms"][n]["queues"] for n in added["vms"])
    # a previous plan's allocated address stays with its VM
    assert back["vms"]["vm4"]["addresses"] == first["vms"]["vm4"]["addresses"]


def test_a_new_vm_listed_before_the_others_takes_none_of_their_addresses():
    first = plan([{"name": "b", "queues": 1}, {"name": "c", "queues": 1}], "eth0", 16, 8, SUBNETS)
    added = plan([{"name": n, "queues": 1} for n in "abc"], "eth0", 16, 8, SUBNETS, previous=first)
    assert [added["vms"][n]["addresses"] for n in "bc"] == [first["vms"][n]["addresses"] for n in "bc"]
    assert added["vms"]["a"]["addresses"] == ["10.0.0.4", "fd00:10::4"]


def test_plan_is_deterministic_and_mac_stable():
    assert plan(six(), "eth0", 16, 8, SUBNETS) == plan(six(), "eth0", 16, 8, SUBNETS)
    assert default_mac("eth0", "vm1") == plan(six(), "eth0", 16, 8)["vms"]["vm1"]["mac"]
    assert default_mac("eth0", "vm1") != default_mac("eth1", "vm1")


@pytest.mark.parametrize("vms, kw, option, text", [
    (six() + [{"name": "vm7", "queues": 4}], {}, "vms", "only 8 exist for VMs"),
    ([{"name": "a", "queues": 0}], {}, "vms[0].queues", "at least 1"),
    ([{"name": "a", "queues": 1}, {"name": "b"}], {}, "vms[1].queues", "VM b has no queues"),
    ([{"name": "a", "queues": None}], {}, "vms[0].queues", "allowed: a whole number, at least 1"),
    ([{"name": "a", "queues": "x"}], {}, "vms[0].queues", "whole number"),
    ([{"name": "a", "queues": 1}, {"name": "a", "queues": 1}], {}, "vms[1].name", "listed twice"),
    ([{"queues": 1}], {}, "vms[0].name", "needs a name"),
    ([{"name": "a-very-long-vm", "queues": 1}], {}, "vms[0].name", "15 characters"),
    ([{"name": "a", "queues": 1, "addresses": ["10.0.0.5"]}, {"name": "b", "queues": 1, "addresses": ["10.0.0.5"]}], {},
     "vms[1].addresses", "both a and b"),
    ([{"name": "a", "queues": 1, "addresses": ["10.9.0.5"]}], {"subnets": SUBNETS}, "vms[0].addresses", "outside"),
    ([{"name": "a", "queues": 1, "addresses": ["10.0.0.0"]}], {"subnets": SUBNETS}, "vms[0].addresses", "network address"),
    ([{"name": "a", "queues": 1, "addresses": ["nope"]}], {}, "vms[0].addresses", "not an IPv4 or IPv6"),
    ([{"name": "a", "queues": 1, "mac": "01:00:5e:00:00:01"}], {}, "vms[0].mac", "unicast"),
    ([{"name": "a", "queues": 1, "mac": "52:54:00:00:00:01"}, {"name": "b", "queues": 1, "mac": "52:54:00:00:00:01"}], {}, "vms[1].mac",
     "both"),
    ([{"name": "a", "queues": 1, "cpu": 2}], {}, "vms[0]", "unknown key"),
    ([{"name": "a", "queues": 1}], {"subnets": ["10.0.0.1/24"]}, "subnets[0]", "CIDR"),
    ([{"name": "a", "queues": 1}], {"subnets": ["10.0.0.0/24", "fd00::/64", "10.0.0.128/25"]}, "subnets[2]",
     "overlaps subnets[0] (10.0.0.0/24)"),
    ([{"name": "a", "queues": 1}, {"name": "b", "queues": 1}], {"subnets": ["10.0.0.0/30"]}, "subnets", "no free address"),
])
def test_errors_name_the_option(vms, kw, option, text):
    with pytest.raises(ValidationError) as err:
        plan(vms, "eth0", 16, 8, **kw)
    assert err.value.option == option and text in str(err.value)


def test_host_queues_errors():
    with pytest.raises(ValidationError) as err:
        plan(six(), "eth0", 16, 16)
    assert err.value.option == "host_queues" and "below queues" in str(err.value)
    first = plan(six(), "eth0", 16, 8)
    with pytest.raises(ValidationError) as err:
        plan(six(), "eth0", 16, 10, previous=first)
    assert err.value.option == "host_queues" and "vm1" in str(err.value)


def test_qemu_arguments():
    p = plan([{"name": "vm1", "queues": 2}], "eth0", 16, 14)
    argv = qemu_netdev(p["vms"]["vm1"], map_path="/sys/fs/bpf/vmnet-netkit/eth0/xsks")
    assert argv[0] == "-netdev" and argv[1] == ("af-xdp,id=net-vm1,ifname=nk-vm1,mode=native,queues=2,start-queue=1,"
                                                "inhibit=on,map-path=/sys/fs/bpf/vmnet-netkit/eth0/xsks,"
                                                "map-start-index=14")
    assert argv[3].endswith(",mq=on,vectors=6") and "mac=52:54:00:" in argv[3]
    plain = qemu_netdev(p["vms"]["vm1"], mode="skb", force_copy=True)
    assert "inhibit" not in plain[1] and "mode=skb" in plain[1] and "force-copy=on" in plain[1]
    with pytest.raises(ValidationError):
        qemu_netdev({"name": "vm1"})


@pytest.mark.parametrize("value", [
    "", "af-xdp,id=net0", 'a"b', "a'b", "a'\"b", "<&>", "x\ny\rz\tw", "&amp;", "'\"<>&\n\r\t",
    "".join(chr(c) for c in range(32, 127)), "naïve ü €",
])
def test_xml_attributes_are_quoted_as_the_standard_library_quotes_them(value):
    from xml.sax.saxutils import quoteattr
    assert xml_attr(value) == quoteattr(value)
