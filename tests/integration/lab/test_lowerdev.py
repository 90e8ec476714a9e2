# SPDX-License-Identifier: GPL-3.0-or-later
"""IFLA_NETKIT_LOWERDEV on the lab node booted with the patched kernel (kernel/build, lab config).

The kernel is asked directly (a raw RTM_NEWLINK written here, not the collection's encoder) and
read back with sysfs, ethtool and AF_XDP binds: a single device created with LOWERDEV owns exactly
the asked NIC queues as leases 1..n; every refusal leaves no device and no lease; deleting the
device releases the queues. Then the collection on that kernel: netkit_info sees the attribute in
BTF, netkit_link binds with it by default, and provision.yml converges and verifies with it, and a
VM's zero-copy AF_XDP socket on its LOWERDEV-bound queue receives and sends. Last,
the series' own kernel selftest (tools/testing/selftests/drivers/net/hw/nk_lowerdev.py) runs on the node.
"""

from __future__ import annotations

import json
import shlex

import pytest
import lab_selftests
from lab_frames import frames_from_vm, frames_to_vm
from lab_play import ok, recap_changed, run, run_playbook, run_tasks

# One RTM_NEWLINK for a single netkit device with IFLA_NETKIT_LOWERDEV, packed by hand from
# include/uapi/linux/if_link.h and kernel/netkit/7.3 (PAIRING 10, LOWERDEV 11 = {ifindex, from, to}).
# Prints {"errno": N, "extack": "..."}: 0 when the device was created.
RAW_NEWLINK = r'''
import json, socket, struct, sys
name, lower, qfrom, qto, rxq, pairing = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    int(sys.argv[5]), int(sys.argv[6])
def attr(t, payload):
    return struct.pack("=HH", 4 + len(payload), t) + payload + b"\0" * ((4 - len(payload) % 4) % 4)
data = attr(10, struct.pack("=I", pairing)) + attr(11, struct.pack("=III", socket.if_nametoindex(lower), qfrom, qto))
info = attr(1, b"netkit\0") + attr(2 | 0x8000, data)
body = struct.pack("=BxHiII", 0, 0, 0, 0, 0) + attr(3, name.encode() + b"\0") + attr(32, struct.pack("=I", rxq)) \
    + attr(18 | 0x8000, info)
msg = struct.pack("=IHHII", 16 + len(body), 16, 0x1 | 0x4 | 0x400 | 0x200, 1, 0) + body
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
s.setsockopt(270, 11, 1)  # NETLINK_EXT_ACK
s.send(msg)
reply = s.recv(65536)
err = -struct.unpack_from("=i", reply, 16)[0]
extack = ""
off = 16 + 4 + 16 + (len(msg) - 16 if not struct.unpack_from("=H", reply, 6)[0] & 0x100 else 0)
off = (off + 3) & ~3
while off + 4 <= len(reply):
    alen, atype = struct.unpack_from("=HH", reply, off)
    if alen < 4:
        break
    if atype == 1:
        extack = reply[off + 4:off + alen].rstrip(b"\0").decode()
    off += (alen + 3) & ~3
print(json.dumps({"errno": err, "extack": extack}))
'''


@pytest.fixture(scope="module")
def node(lab_node_netkit):
    n = lab_node_netkit
    n.sh("for d in nk-vm1 nk-vm2 nk-bad; do ip link del $d 2>/dev/null; done; true")
    return n


def newlink(node, name, qfrom, qto, rxq, lower=None, pairing=1):
    argv = (shlex.quote(RAW_NEWLINK), name, lower or node.nic, qfrom, qto, rxq, pairing)
    out = node.sh("python3 -c %s %s %s %d %d %d %d" % argv)
    return json.loads(out)


def rx_queues(node, dev):
    return sorted(node.sh("ls /sys/class/net/%s/queues" % dev).split())


def shrink_refused(node, combined):
    """The kernel's channel-shrink refusal names leased queues above ``combined``."""
    r = node.ssh("ethtool -L %s combined %d" % (node.nic, combined))
    if r.returncode == 0:
        node.sh("ethtool -L %s combined 16" % node.nic)
        return None
    return r.stderr.strip()


def test_the_patched_kernel_offers_lowerdev_in_btf(node):
    caps = ok(run(node, "netkit_info", {}))["capabilities"]
    assert caps["kernel"].endswith("-vmnet-netkit") and caps["source"] == "btf"
    assert caps["attributes"]["lowerdev"] == 11 and caps["attributes"]["pairing"] == 10
    assert caps["lowerdev"] and caps["leasing"] and caps["single"]


def test_lowerdev_binds_exactly_the_asked_queues_in_one_request(node):
    r = newlink(node, "nk-vm1", 14, 15, 3)
    assert r == {"errno": 0, "extack": ""}, r
    assert rx_queues(node, "nk-vm1") == ["rx-0", "rx-1", "rx-2", "tx-0"]
    # the NIC's queues 14 and 15 are leased: a shrink below them and an AF_XDP bind on them are refused
    assert "queue leasing" in shrink_refused(node, 15)
    assert node.ssh("vmnet-xsk-bind %s 15" % node.nic).returncode != 0
    assert node.ssh("vmnet-xsk-bind %s 13" % node.nic).returncode == 0
    # AF_XDP on the netkit device's queue 1 reaches NIC queue 14 (copy mode: netdevsim has no zero-copy)
    bound = node.ssh("vmnet-xsk-bind nk-vm1 1")
    assert bound.returncode == 0 and '"bound": true' in bound.stdout, bound.stderr


@pytest.mark.parametrize("case, args, errno, text", [
    ("a queue already leased", dict(qfrom=15, qto=15, rxq=2), 16, "queue leasing"),
    ("beyond the NIC's queues", dict(qfrom=15, qto=16, rxq=3), 34, "out of range"),
    ("a reversed range", dict(qfrom=13, qto=12, rxq=3), 22, "reversed"),
    ("too few rx queues on the device", dict(qfrom=12, qto=13, rxq=2), 34, "needs 3 rx queues"),
    ("a lower device that cannot lend queues", dict(qfrom=0, qto=0, rxq=2, lower="lo"), 22, "virtual device"),
    ("a pair", dict(qfrom=12, qto=12, rxq=2, pairing=0), 95, "single device"),
])
def test_every_refusal_leaves_no_device_and_no_lease(node, case, args, errno, text):
    r = newlink(node, "nk-bad", args["qfrom"], args["qto"], args["rxq"], lower=args.get("lower"),
                pairing=args.get("pairing", 1))
    assert r["errno"] == errno and text in r["extack"], (case, r)
    assert node.ssh("ip link show nk-bad").returncode != 0, case
    # queues 12 and 13 stay free: another device can still bind them
    assert node.ssh("vmnet-xsk-bind %s 12" % node.nic).returncode == 0, case


def test_delete_releases_the_queues(node):
    node.sh("ip link del nk-vm1")
    assert shrink_refused(node, 14) is None  # nothing leased any more
    assert node.ssh("vmnet-xsk-bind %s 15" % node.nic).returncode == 0


# iproute2 7.2 with kernel/iproute2's patches (single, lower DEV FROM TO), which the image builds
PATCHED_IP = "/opt/vmnet-iproute2/sbin/ip"


def test_patched_ip_binds_the_lower_queues_in_one_request_and_shows_them(node):
    node.sh("%s link add nk-vm1 numrxqueues 3 type netkit lower %s 14 15" % (PATCHED_IP, node.nic))
    try:
        assert rx_queues(node, "nk-vm1") == ["rx-0", "rx-1", "rx-2", "tx-0"]
        assert "queue leasing" in shrink_refused(node, 15)
        assert node.ssh("vmnet-xsk-bind %s 14" % node.nic).returncode != 0
        assert " pairing single lower %s 14 15 " % node.nic in node.sh("%s -d link show nk-vm1" % PATCHED_IP)
        data = json.loads(node.sh("%s -d -j link show nk-vm1" % PATCHED_IP))[0]["linkinfo"]["info_data"]
        assert data["pairing"] == "single", data
        assert data["lower"] == {"dev": node.nic, "queue_from": 14, "queue_to": 15}, data
        # Debian's own ip does not know the attribute and shows no binding
        assert " lower " not in node.sh("ip -d link show nk-vm1")
    finally:
        node.sh("ip link del nk-vm1")
    assert shrink_refused(node, 14) is None
    # a refusal prints the kernel's message and leaves no device
    refused = node.ssh("%s link add nk-bad numrxqueues 3 type netkit lower %s 15 16" % (PATCHED_IP, node.nic))
    assert refused.returncode != 0 and "netkit lowerdev queue 16 is out of range" in refused.stderr, refused.stderr
    assert node.ssh("ip link show nk-bad").returncode != 0


def test_patched_ip_on_a_kernel_without_lowerdev_makes_an_unbound_device(lab_node):
    """Debian's 7.x kernel ignores the attribute it does not know: the device is made, single and unbound, as
    kernel/iproute2/README.md warns; reading it back is what tells."""
    lab_node.sh("%s link add nk-bad numrxqueues 3 type netkit lower %s 14 15" % (PATCHED_IP, lab_node.nic))
    try:
        shown = lab_node.sh("%s -d link show nk-bad" % PATCHED_IP)
        assert " pairing single " in shown and " lower " not in shown, shown
        # no queue was leased to it: the device has only its own rx queue
        assert rx_queues(lab_node, "nk-bad") == ["rx-0", "tx-0"]
    finally:
        lab_node.sh("ip link del nk-bad")


def test_netkit_link_binds_with_lowerdev_and_reads_it_back(node):
    args = {"name": "nk-vm1", "mode": "l2", "address": "52:54:00:12:34:56",
            "lower": {"device": node.nic, "queues": [14, 15]}, "up": True}
    first, second, info = run_tasks(node, [("netkit_link", args), ("netkit_link", args),
                                           ("netkit_info", {"nics": [node.nic]})])
    assert ok(first)["changed"] and first["binding"] == "lowerdev" and first["queues"] == [1, 2]
    assert "bound with IFLA_NETKIT_LOWERDEV" in first["actions"][0] and len(first["actions"]) == 2
    assert not ok(second)["changed"]
    dev = ok(info)["devices"]["nk-vm1"]
    assert dev["binding"] == "lowerdev" and dev["pairing"] == "single"
    assert dev["leases"] == [{"queue": 1, "device": node.nic, "device_queue": 14},
                             {"queue": 2, "device": node.nic, "device_queue": 15}]
    assert rx_queues(node, "nk-vm1") == ["rx-0", "rx-1", "rx-2", "tx-0"]
    assert "queue leasing" in shrink_refused(node, 15)
    gone = ok(run(node, "netkit_link", {"name": "nk-vm1", "state": "absent"}))
    assert gone["changed"] and shrink_refused(node, 14) is None


def test_the_main_job_on_the_patched_kernel(node):
    node.sh("ip link del nk-vm1 2>/dev/null; true")
    out = ok_play(run_playbook(node, "provision.yml"))
    assert "map-start-index=8" in out and "start-queue=1" in out
    assert recap_changed(ok_play(run_playbook(node, "provision.yml"))) == 0
    verify = ok_play(run_playbook(node, "verify.yml"))
    assert "6 VMs as planned, no drift" in verify and "nk-vm1: lowerdev" in verify
    assert rx_queues(node, "nk-vm3") == ["rx-0", "rx-1", "tx-0"]
    # vm3's NIC queue 10 is leased to nk-vm3 (an AF_XDP bind on it is refused), queue 14 is free
    assert node.ssh("vmnet-xsk-bind %s 10" % node.nic).returncode != 0
    assert node.ssh("vmnet-xsk-bind %s 14" % node.nic).returncode == 0
    # the design's path on a LOWERDEV binding: vm1's socket, opened with its qemu arguments, binds
    # zero-copy on the device's queue 1, takes the frames vm1's rule and context steer to NIC queue 8
    # (and not vm2's), and what it sends leaves through that NIC queue onto the wire
    assert frames_to_vm(node, "vm1", {"10.0.0.2": 12}, {"10.0.0.3": 6}) == [12]
    report, received = frames_from_vm(node, "vm1", "10.0.0.2", 8)
    assert report["tx_completed"] == 8 and received == 8, (report, received)
    ok_play(run_playbook(node, "teardown.yml"))
    assert shrink_refused(node, 8) is None


def test_the_series_kernel_selftest_passes_on_the_lab_nic(node):
    """tools/testing/selftests/drivers/net/hw/nk_lowerdev.py (kernel/netkit/7.3/0002), run from the
    patched source tree on the node with NETIF the lab NIC; its KTAP report must show every case passed."""
    lab_selftests.install(node)
    results, report = lab_selftests.run(node, "nk_lowerdev.py", {"NETIF": node.nic})
    assert results == {"test_bind": "pass", "test_refused": "pass", "test_busy": "pass"}, report[-4000:]
    assert "# Totals: pass:3 fail:0" in report, report[-4000:]


def ok_play(result):
    rc, out = result
    assert rc == 0, out[-4000:]
    return out
