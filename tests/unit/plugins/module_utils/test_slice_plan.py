# SPDX-License-Identifier: GPL-3.0-or-later
"""The slice planner: queue assignment, stability, address allocation, errors in the user's terms."""

from __future__ import annotations

import random

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils.errors import ValidationError
from ansible_collections.vmnet.netkit.plugins.module_utils.plan.slices import default_mac, plan, qemu_netdev, xml_attr

SUBNETS = ["10.0.0.0/24", "fd00:10::/64"]


# an address pool: allocations from its range less its exclusions
POOL = {"network": "10.0.0.0/24", "range": "10.0.0.10-10.0.0.20", "exclude": ["10.0.0.12", "10.0.0.14/31"]}


def named(*names, **kw):
    return [dict({"name": n, "queues": 1}, **kw) for n in names]


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
    first = plan(named("b", "c"), "eth0", 16, 8, SUBNETS)
    added = plan(named("a", "b", "c"), "eth0", 16, 8, SUBNETS, previous=first)
    assert [added["vms"][n]["addresses"] for n in "bc"] == [first["vms"][n]["addresses"] for n in "bc"]
    assert added["vms"]["a"]["addresses"] == ["10.0.0.4", "fd00:10::4"]


def test_two_vms_never_share_a_mac_however_each_got_it():
    derived = default_mac("eth0", "a")
    with pytest.raises(ValidationError) as err:
        plan(named("a") + [{"name": "b", "queues": 1, "mac": derived}], "eth0", 16, 8)
    assert err.value.option == "vms[1].mac"
    assert "VM b's MAC %s (given) is also VM a's; give one of them another mac" % derived in str(err.value)
    with pytest.raises(ValidationError) as err:
        plan([{"name": "b", "queues": 1, "mac": derived}] + named("a"), "eth0", 16, 8)
    assert "VM a's MAC %s (derived from eth0/a) is also VM b's" % derived in str(err.value)
    # a MAC kept from the previous plan counts too
    first = plan(named("c"), "eth0", 16, 8)
    kept = first["vms"]["c"]["mac"]
    with pytest.raises(ValidationError) as err:
        plan([{"name": "d", "queues": 1, "mac": kept}] + named("c"), "eth0", 16, 8, previous=first)
    assert "VM c's MAC %s (kept from the previous plan) is also VM d's" % kept in str(err.value)


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
    ([{"name": "a", "queues": 1}, {"name": "b", "queues": 1}], {"subnets": ["10.0.0.0/30"]}, "subnets[0]",
     "no free address left in subnets[0] (10.0.0.0/30; allocating 10.0.0.2) for VM b"),
])
def test_errors_name_the_option(vms, kw, option, text):
    with pytest.raises(ValidationError) as err:
        plan(vms, "eth0", 16, 8, **kw)
    assert err.value.option == option and text in str(err.value)


def test_a_pool_allocates_from_its_range_less_its_exclusions():
    p = plan(named("a", "b", "c", "d"), "eth0", 16, 8, [POOL, "fd00:10::/64"])
    assert [p["vms"][n]["addresses"][0] for n in "abcd"] == ["10.0.0.10", "10.0.0.11", "10.0.0.13", "10.0.0.16"]
    assert p["vms"]["d"]["addresses"][1] == "fd00:10::5"


def test_a_given_address_may_lie_outside_the_range_but_not_in_an_exclusion():
    p = plan(named("a", addresses=["10.0.0.200"]), "eth0", 16, 8, [POOL])
    assert p["vms"]["a"]["addresses"] == ["10.0.0.200"]
    with pytest.raises(ValidationError) as err:
        plan(named("a", addresses=["10.0.0.15"]), "eth0", 16, 8, [POOL])
    assert err.value.option == "vms[0].addresses"
    assert "10.0.0.15 is excluded from 10.0.0.0/24 (subnets[0].exclude: 10.0.0.14/31)" in str(err.value)


def test_an_address_the_pool_no_longer_allocates_is_given_up_and_the_others_stay():
    first = plan(named("a", "b"), "eth0", 16, 8, ["10.0.0.0/24"])
    assert [first["vms"][n]["addresses"] for n in "ab"] == [["10.0.0.2"], ["10.0.0.3"]]
    narrowed = dict(POOL, range="10.0.0.3-10.0.0.20", exclude=[])
    again = plan(named("a", "b"), "eth0", 16, 8, [narrowed], previous=first)
    assert again["vms"]["b"]["addresses"] == ["10.0.0.3"]  # still in the pool: kept
    assert again["vms"]["a"]["addresses"] == ["10.0.0.4"]  # 10.0.0.2 left the range: the first free one


def test_a_pool_range_may_include_the_gateway_but_never_the_network_or_broadcast_address():
    p = plan(named("a", "b"), "eth0", 16, 8, [{"network": "10.0.0.0/30", "range": "10.0.0.0/30"}])
    assert [p["vms"][n]["addresses"] for n in "ab"] == [["10.0.0.1"], ["10.0.0.2"]]
    with pytest.raises(ValidationError) as err:
        plan(named("a", "b", "c"), "eth0", 16, 8, [{"network": "10.0.0.0/30", "range": "10.0.0.0/30"}])
    assert "no free address left in subnets[0] (10.0.0.0/30; allocating 10.0.0.1-10.0.0.2) for VM c" in str(err.value)
    # IPv6 has no broadcast address: the last one is a host's
    p = plan(named("a", "b", "c"), "eth0", 16, 8, [{"network": "fd00::/126", "range": "fd00::/126"}])
    assert [p["vms"][n]["addresses"] for n in "abc"] == [["fd00::1"], ["fd00::2"], ["fd00::3"]]


def test_pools_match_an_independent_set_arithmetic():
    """Every allocation equals the first free addresses of netaddr's IPSet of range - exclusions."""
    netaddr = pytest.importorskip("netaddr")
    rng = random.Random(7)
    for case in range(200):
        v6 = case % 2 == 1
        net = netaddr.IPNetwork("fd00:%x::/120" % case if v6 else "10.%d.0.0/24" % case)
        first, last = int(net.first), int(net.last)
        lo = rng.randint(first, last)
        hi = rng.randint(lo, min(last, lo + 40))
        entry = {"network": str(net), "range": "%s-%s" % (netaddr.IPAddress(lo, net.version),
                                                          netaddr.IPAddress(hi, net.version))}
        expect = netaddr.IPSet(netaddr.IPRange(lo, hi)) - netaddr.IPSet([net.network])
        if not v6:
            expect -= netaddr.IPSet([net.broadcast])
        exclusions = []
        for _exclusion in range(rng.randint(0, 3)):
            a = rng.randint(lo, hi)
            b = rng.randint(a, min(hi, a + 5))
            exclusions.append("%s-%s" % (netaddr.IPAddress(a, net.version), netaddr.IPAddress(b, net.version)))
            expect -= netaddr.IPSet(netaddr.IPRange(a, b))
        entry["exclude"] = exclusions
        free = [str(ip) for ip in expect]
        count = rng.randint(1, 6)
        vms = named(*["vm%d" % n for n in range(count)])
        if count > len(free):
            with pytest.raises(ValidationError) as err:
                plan(vms, "eth0", 16, 8, [entry])
            assert err.value.option == "subnets[0]" and "no free address left" in str(err.value)
            continue
        p = plan(vms, "eth0", 16, 8, [entry])
        assert [p["vms"]["vm%d" % n]["addresses"][0] for n in range(count)] == free[:count], entry


@pytest.mark.parametrize("pool, option, text", [
    ({"network": "10.0.0.0/24", "size": 4}, "subnets[0]", "unknown key(s) size (allowed: network, range, exclude)"),
    ({"range": "10.0.0.10-10.0.0.20"}, "subnets[0].network", "a pool needs its network"),
    ({"network": "10.0.0.1/24"}, "subnets[0].network", "not a network in CIDR form"),
    (dict(POOL, range="10.0.0.20-10.0.0.10"), "subnets[0].range", "10.0.0.20-10.0.0.10 starts after it ends"),
    (dict(POOL, range="10.0.1.1-10.0.1.9"), "subnets[0].range", "10.0.1.1-10.0.1.9 is not inside 10.0.0.0/24"),
    (dict(POOL, range="fd00::1-fd00::9"), "subnets[0].range", "is not inside 10.0.0.0/24"),
    (dict(POOL, range="10.0.0.x"), "subnets[0].range", "is not an address, a range FIRST-LAST or a network"),
    (dict(POOL, range=7), "subnets[0].range", "7 is not an address"),
    (dict(POOL, exclude="10.0.0.12"), "subnets[0].exclude", "must be a list"),
    (dict(POOL, exclude=["10.0.0.12", "10.0.0.300"]), "subnets[0].exclude[1]", "is not an address"),
    (dict(POOL, exclude=["10.0.0.8/28/1"]), "subnets[0].exclude[0]", "is not an address"),
    (dict(POOL, exclude=["10.0.0.10-10.0.0.20"]), "subnets[0]", "no free address left in subnets[0] (10.0.0.0/24) for"),
])
def test_pool_errors_name_the_option(pool, option, text):
    with pytest.raises(ValidationError) as err:
        plan(named("a"), "eth0", 16, 8, [pool])
    assert err.value.option == option and text in str(err.value), str(err.value)


@pytest.mark.parametrize("network", ["10.0.0.0/31", "10.0.0.7/32", "fd00::/127"])
def test_a_network_too_small_for_a_gateway_and_a_vm_allocates_nothing(network):
    with pytest.raises(ValidationError) as err:
        plan(named("a"), "eth0", 16, 8, [network])
    assert str(err.value).startswith("subnets[0]: no free address left in subnets[0] (%s) for VM a" % network)


def test_subnets_must_be_a_list():
    with pytest.raises(ValidationError) as err:
        plan(named("a"), "eth0", 16, 8, "10.0.0.0/24")
    assert err.value.option == "subnets" and "must be a list" in str(err.value)


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
