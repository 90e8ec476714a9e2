# SPDX-License-Identifier: GPL-3.0-or-later
"""netkit_link and netkit_info on the lab node's real kernels.

7.x: L2 and L3 pairs with the peer in a namespace and traffic across them; a single
device; NIC queues 14..15 leased to a single device and seen from both sides; an
AF_XDP socket bound to a leased queue, zero-copy and copy (read back with xsk_diag);
idempotence; recreate; nic_channels refusing to drop a leased queue.  6.12: pairs work, single mode and lower fail cleanly,
and the main job and the roles name what the kernel lacks before they change anything; so does the main
job on the lab kernel built without netkit.
"""

from __future__ import annotations

import json

import pytest
from lab_frames import socket_as_the_kernel_sees_it
from lab_play import ok, recap_changed, run, run_playbook, run_tasks
from test_provision import snapshot
from test_roles import ROLES_PLAY

PEER_NS = "nkblue"


@pytest.fixture(scope="module")
def lab(lab_node):
    lab_node.sh("ip netns add %s 2>/dev/null || true" % PEER_NS)
    clean(lab_node)
    yield lab_node
    clean(lab_node)


def clean(node):
    node.ssh("for d in nk-vm1 nk-vm2 nk-l2 nk-l3 nk-single; do ip link del $d 2>/dev/null; done; "
             "ip -n %s link del nk-l2p 2>/dev/null; ip -n %s link del nk-l3p 2>/dev/null; true" % (PEER_NS, PEER_NS))


def vm1(node, **kw):
    args = {"name": "nk-vm1", "pairing": "single", "mode": "l2", "address": "52:54:00:12:34:56",
            "lower": {"device": node.nic, "queues": [14, 15]}, "up": True}
    args.update(kw)
    return args


def test_capabilities_of_the_7x_kernel(lab):
    info = ok(run(lab, "netkit_info", {}))
    caps = info["capabilities"]
    assert caps["netkit"] and caps["single"] and caps["leasing"] and caps["scrub"] and caps["headroom"]
    assert caps["source"] == "btf" and caps["attributes"]["pairing"] == 10 and not caps["lowerdev"]


@pytest.mark.parametrize("mode", ["l2", "l3"])
def test_pair_with_peer_in_namespace_carries_traffic(lab, mode):
    name, peer = "nk-%s" % mode, "nk-%sp" % mode
    args = {"name": name, "mode": mode, "scrub": "none", "headroom": 32,
            "peer": {"name": peer, "netns": PEER_NS}, "up": True}
    if mode == "l2":
        args["address"] = "52:54:00:aa:00:01"
        args["peer"]["address"] = "52:54:00:aa:00:02"
    first, second = run_tasks(lab, [("netkit_link", args), ("netkit_link", args)])
    ok(first)
    assert first["changed"] and not ok(second)["changed"]
    dev = second["device"]
    assert (dev["mode"], dev["scrub"], dev["headroom"], dev["pairing"]) == (mode, "none", 32, "pair")
    assert dev["peer_name"] == peer and dev["peer_netns"] == PEER_NS
    # the kernel's own view agrees, and packets cross the pair
    assert peer in lab.sh("ip -n %s -br link show %s" % (PEER_NS, peer))
    net = "10.77.%d" % (1 if mode == "l2" else 2)
    lab.sh("ip addr replace %s.1/24 dev %s && ip -n %s addr replace %s.2/24 dev %s && ip -n %s link set %s up"
           % (net, name, PEER_NS, net, peer, PEER_NS, peer))
    out = lab.sh("ping -c 2 -W 2 %s.2" % net)
    assert " 0% packet loss" in out
    if mode == "l2":
        assert "52:54:00:aa:00:02" in lab.sh("ip -n %s link show %s" % (PEER_NS, peer))
    # policies change in place; anything else is refused, then recreated on request
    pol = ok(run(lab, "netkit_link", {"name": name, "policy": "drop", "peer": {"policy": "drop"}}))
    assert pol["changed"] and pol["device"]["policy"] == "drop" and pol["device"]["peer_policy"] == "drop"
    assert "100% packet loss" in lab.ssh("ping -c 1 -W 1 %s.2" % net).stdout
    other = "l3" if mode == "l2" else "l2"
    refused = run(lab, "netkit_link", {"name": name, "mode": other})
    assert refused.get("failed") and "recreate: true" in refused["msg"] and "mode" in refused["msg"]
    again = ok(run(lab, "netkit_link", {"name": name, "headroom": 64, "recreate": True}))
    assert again["changed"] and again["device"]["headroom"] == 64
    assert again["actions"][0].startswith("delete netkit device %s to recreate it" % name)
    gone = ok(run(lab, "netkit_link", {"name": name, "state": "absent"}))
    assert gone["changed"] and lab.ssh("ip link show %s" % name).returncode != 0


def test_leased_queues_seen_from_both_sides_and_idempotent(lab):
    first, second, info = run_tasks(lab, [
        ("netkit_link", vm1(lab)), ("netkit_link", vm1(lab)), ("netkit_info", {"nics": [lab.nic]})])
    assert ok(first)["changed"] and first["queues"] == [1, 2]
    assert first["queue_map"] == [{"queue": 1, "lower_queue": 14}, {"queue": 2, "lower_queue": 15}]
    assert not ok(second)["changed"] and second["queues"] == [1, 2]
    dev = ok(info)["devices"]["nk-vm1"]
    assert dev["pairing"] == "single" and dev["address"] == "52:54:00:12:34:56" and dev["numrxqueues"] == 3
    assert dev["leases"] == [{"queue": 1, "device": lab.nic, "device_queue": 14},
                             {"queue": 2, "device": lab.nic, "device_queue": 15}]
    assert sorted(info["nic_leases"][lab.nic]) == ["14", "15"]
    # the kernel's own view: three rx queues on the netkit device
    assert lab.sh("ls /sys/class/net/nk-vm1/queues | grep -c rx-").strip() == "3"


def test_devices_that_are_not_netkit_are_never_touched(lab):
    """A veth, a bridge and the NIC named as netkit_link's device: absent, recreate and a policy
    change are refused with the device's kind named, and the kernel's view of each is unchanged."""
    lab.sh("ip link del vethmgmt0 2>/dev/null; ip link del br-nk 2>/dev/null; "
           "ip link add vethmgmt0 type veth peer name vethmgmt1 && ip link add br-nk type bridge && "
           "ip link set vethmgmt0 up && ip link set br-nk up")
    devices = {"vethmgmt0": "veth", "br-nk": "bridge", lab.nic: "without a link kind"}

    def kernel_view():
        # what a delete, recreate or change would alter (a bridge's running timers are left out)
        out = {}
        for dev in devices:
            link = json.loads(lab.sh("ip -d -j link show dev %s" % dev))[0]
            keys = ("ifindex", "ifname", "flags", "mtu", "address", "link_type", "num_rx_queues", "parentdev")
            out[dev] = dict((k, link.get(k)) for k in keys)
            out[dev]["kind"] = (link.get("linkinfo") or {}).get("info_kind")
        return out

    try:
        before = kernel_view()
        tasks = []
        for dev in devices:
            tasks += [("netkit_link", {"name": dev, "state": "absent"}),
                      ("netkit_link", {"name": dev, "mode": "l2", "recreate": True}),
                      ("netkit_link", {"name": dev, "policy": "drop", "up": False})]
        results = run_tasks(lab, tasks)
        for n, dev in enumerate(devices):
            for r in results[3 * n:3 * n + 3]:
                assert r.get("failed") and not r.get("changed"), r
                assert r["msg"].startswith("name: %s is " % dev) and devices[dev] in r["msg"], r["msg"]
                assert "not a netkit device" in r["msg"] and "untouched" in r["msg"]
        assert kernel_view() == before
        assert before["vethmgmt0"]["kind"] == "veth" and before["br-nk"]["kind"] == "bridge"
        # a name the kernel would refuse is refused before the kernel is asked, with its rule
        long_name = run(lab, "netkit_link", {"name": "a-very-long-name-x", "state": "absent"})
        assert long_name.get("failed") and "not a valid interface name: 1 to 15 characters" in long_name["msg"]
    finally:
        lab.ssh("ip link del vethmgmt0; ip link del br-nk")


def test_check_mode_changes_nothing(lab):
    clean(lab)
    r = run(lab, "netkit_link", vm1(lab), check=True, diff=True)
    assert ok(r)["changed"] and r["queues"] == [1, 2] and r["diff"]["before"] == {}
    assert lab.ssh("ip link show nk-vm1").returncode != 0


def test_lease_refusals_and_channel_shrink(lab):
    ok(run(lab, "netkit_link", vm1(lab)))
    taken, shrink, pair_lower, rng = run_tasks(lab, [
        ("netkit_link", {"name": "nk-vm2", "pairing": "single", "lower": {"device": lab.nic, "queues": [15, 15]}}),
        ("nic_channels", {"device": lab.nic, "combined": 14}),
        ("netkit_link", {"name": "nk-vm2", "pairing": "pair", "lower": {"device": lab.nic, "queues": [12, 12]}}),
        ("netkit_link", {"name": "nk-vm2", "lower": {"device": lab.nic, "queues": [15, 16]}}),
    ])
    assert taken.get("failed") and "queue 15 already leased to nk-vm1" in taken["msg"]
    assert shrink.get("failed") and "lease to netkit device nk-vm1" in shrink["msg"]
    assert pair_lower.get("failed") and "pairing: single" in pair_lower["msg"]
    assert rng.get("failed") and "outside %s's 16 rx queues" % lab.nic in rng["msg"]
    assert lab.ssh("ip link show nk-vm2").returncode != 0
    assert "Combined:\t16" in lab.sh("ethtool -l %s | tail -n 5" % lab.nic).replace("  ", "\t")
    # recreate moves the binding; deleting the device ends the leases and the shrink goes through
    moved = ok(run(lab, "netkit_link", vm1(lab, lower={"device": lab.nic, "queues": [13, 15]}, recreate=True)))
    assert moved["queue_map"][0] == {"queue": 1, "lower_queue": 13} and len(moved["queues"]) == 3
    gone, shrunk, back = run_tasks(lab, [("netkit_link", {"name": "nk-vm1", "state": "absent"}),
                                         ("nic_channels", {"device": lab.nic, "combined": 14}),
                                         ("nic_channels", {"device": lab.nic, "combined": 16})])
    assert ok(gone)["changed"] and ok(shrunk)["changed"] and ok(back)["changed"]


def test_af_xdp_socket_binds_to_a_leased_queue(lab):
    if lab.ssh("command -v vmnet-xsk-bind").returncode != 0:
        pytest.fail("the lab image has no vmnet-xsk-bind (tests/lab/image/programs)")
    ok(run(lab, "netkit_link", vm1(lab)))
    # qemu's default flags: zero-copy, because the lab NIC offers it (xsk-zerocopy) and netkit hands
    # the socket's buffer pool to the NIC queue it leases; the kernel's xsk_diag says zc:1
    ifindex = lab.sh("cat /sys/class/net/nk-vm1/ifindex").strip()
    diag, report = socket_as_the_kernel_sees_it(lab, "nk-vm1", 1)
    assert report["mode"] == "zerocopy" and diag["zc"] == "1", (diag, report)
    assert diag["ifindex"] == ifindex and diag["qid"] == "1"
    # force-copy: the same queue in copy mode
    diag, report = socket_as_the_kernel_sees_it(lab, "nk-vm1", 2, mode="copy")
    assert report["mode"] == "copy" and diag["zc"] == "0" and diag["qid"] == "2", (diag, report)
    # the NIC's own queue is taken by the lease: binding there is refused
    assert lab.ssh("vmnet-xsk-bind %s 14" % lab.nic).returncode != 0


def test_612_pairs_work_single_and_lower_fail_cleanly(lab_node_612):
    node = lab_node_612
    node.sh("ip netns add %s 2>/dev/null || true" % PEER_NS)
    info, pair, single, lower, rooms = run_tasks(node, [
        ("netkit_info", {}),
        ("netkit_link", {"name": "nk-l3", "mode": "l3", "peer": {"name": "nk-l3p", "netns": PEER_NS}, "up": True}),
        ("netkit_link", {"name": "nk-single", "pairing": "single"}),
        ("netkit_link", {"name": "nk-vm1", "pairing": "pair", "lower": {"device": node.nic, "queues": [14, 15]}}),
        ("netkit_link", {"name": "nk-single", "headroom": 64}),
    ])
    caps = ok(info)["capabilities"]
    assert caps["netkit"] and not caps["single"] and not caps["leasing"] and caps["kernel"].startswith("6.12")
    assert ok(pair)["changed"] and pair["device"]["peer_name"] == "nk-l3p"
    assert single.get("failed") and "Linux 7.1" in single["msg"]
    assert lower.get("failed") and "queue leasing" in lower["msg"] and "LOWERDEV" in lower["msg"]
    assert rooms.get("failed") and "6.14" in rooms["msg"]
    assert node.ssh("ip link show nk-single").returncode != 0 and node.ssh("ip link show nk-vm1").returncode != 0


def test_the_main_job_on_612_names_what_is_missing_and_changes_nothing(lab_node_612):
    """provision.yml on a kernel without single mode and queue leasing: the first VM's device is refused
    with what would provide them, before the NIC or anything else is touched (a snapshot of the kernel
    and the files, read with ethtool, ip and find)."""
    refused_untouched(lab_node_612, "provision.yml", "vms.vm1 (netkit nk-vm1): pairing: single needs Linux 7.1 "
                                                     "(IFLA_NETKIT_PAIRING, netkit single mode)")


def test_the_roles_on_612_name_what_is_missing_and_change_nothing(lab_node_612, tmp_path):
    """The roles composed as a user writes them (nic_slice, then vm_network): nic_slice's host_network call
    checks the plan's netkit devices against the kernel before it sets the NIC's channels, tables, contexts
    and rules, so the wrong kernel is refused with the first device named and nothing changed (the same
    snapshot)."""
    play = tmp_path / "roles.yml"
    play.write_text(json.dumps(ROLES_PLAY))
    refused_untouched(lab_node_612, str(play), "vms.vm1 (netkit nk-vm1): pairing: single needs Linux 7.1 "
                      "(IFLA_NETKIT_PAIRING, netkit single mode)")


def refused_untouched(node, playbook, message):
    """PLAYBOOK on NODE fails with MESSAGE and changes nothing: recap changed=0, and a snapshot of the
    kernel and the files (the lock file included) is the same before and after."""
    before = snapshot(node)
    rc, out = run_playbook(node, playbook)
    assert rc != 0 and recap_changed(out) == 0, out[-3000:]
    assert message in " ".join(out.split()), out[-3000:]
    assert snapshot(node) == before


@pytest.mark.extended  # its kernel is a build of its own (kernel/build --config lab-without-netkit, minutes)
def test_a_kernel_without_netkit_is_named_and_the_main_job_changes_nothing(lab_node_without_netkit):
    """The lab kernel built with CONFIG_NETKIT off: the kernel itself knows no netkit link kind, the
    capability probe reads that from its BTF, and provision.yml stops at the first VM's device with what
    would provide netkit, before anything changes (snapshot of the kernel and the files)."""
    node = lab_node_without_netkit
    refused = node.ssh("ip link add nk-probe type netkit")
    assert refused.returncode != 0 and "Unknown device type" in refused.stderr, refused.stderr
    caps = ok(run(node, "netkit_info", {}))["capabilities"]
    assert caps["netkit"] is False and caps["source"] == "btf", caps
    refused_untouched(node, "provision.yml", "vms.vm1 (netkit nk-vm1): this kernel has no netkit (CONFIG_NETKIT, Linux 6.7+)")
