# SPDX-License-Identifier: GPL-3.0-or-later
"""The kernel's own driver tests on the lab NIC: tools/testing/selftests/drivers/net/hw/rss_api.py,
ntuple.py, rss_ctx.py and nk_qlease.py, as shipped with the lab kernel's source (kernel/build's
selftests.tar.gz), run on the node with NETIF the lab NIC and the remote end wire0 in the netns lab-wire.

They read the NIC the way the kernel people do: ethtool netlink for RSS tables, contexts, hash fields and
rules, and netdev qstats-get for the packets each queue received (iperf3 and socat traffic from wire0).
Every case must pass, except the ones listed below with what they need: a NIC feature the lab NIC does
not have, or (rss_ctx.py only) a wall-clock limit of the selftest that a TCG-emulated node can miss.
Any other failure fails this test, with the selftest's own report.

These prove the lab NIC, not the collection, and take about 15 minutes under TCG: they are the
``extended`` tier, which ``scripts/test`` runs only with VMNET_TEST_EXTENDED=1.
"""

from __future__ import annotations

import re

import pytest
from lab_selftests import build_bpf, install, run

pytestmark = pytest.mark.extended

# what each selftest case needs that the lab NIC or the lab does not have
NOT_ON_THE_LAB = {
    "rss_api.py": {},
    "rss_ctx.py": {
        "test_rss_context32": "skip: Not enough queues for the test",  # 32 contexts need 33+ queues (lab NIC: 16)
        # a rule with both a context and a queue offset (ethtool_ops.cap_rss_rxnfc_adds; like mlx5, not offered)
        "test_rss_ntuple_addition": "skip: Ntuple filter with RSS and nonzero action not supported",
    },
    # io_uring zero-copy receive into a leased queue: the receiver is iou-zcrx (liburing 2.10+, not built for
    # the lab), and the NIC must split headers from data into page pools that take a memory provider
    # (unreadable netmem), which the lab NIC does not; without it each case's receiver never listens
    # (the first two wait for it to exit, and report that it failed; the other two, that it never listened)
    "nk_qlease.py": {"test_iou_zcrx": "fail: net.lib.py.utils.CmdExitFailure: Command failed",
                     "test_iou_zcrx_large_buf": "fail: net.lib.py.utils.CmdExitFailure: Command failed",
                     "test_attach_xdp_with_mp": "fail: Exception: Waiting for port listen timed out",
                     "test_destroy": "fail: Exception: Waiting for port listen timed out"},
}
IOU_ZCRX_MISSING = re.compile(r'exec of "\S+/iou-zcrx" failed: No such file or directory')
# lib/py/load.py (GenerateTraffic) waits 5 s for 16 iperf3 streams to close and wants 100 packets in one
# 100 ms window to call the traffic ramped up: timings, not NIC behaviour, that emulation can miss
IPERF3_TIMING = ("Exception: Waiting for client to stop timed out after 5s",
                 "Exception: iperf3 traffic did not ramp up")
# test_hitless_key_update wants the key update under traffic done in under 0.15 s of wall-clock time
# (measured 0.17 s under TCG beside other work): a timing, not the NIC's behaviour
WALL_CLOCK = {"test_hitless_key_update": re.compile(r"^Check failed [0-9.]+ >= 0\.15$")}

NTUPLE_CASES = ["queue.%s.%s" % (flow, fields)
                for flow in ("tcp4", "udp4", "tcp6", "udp6")
                for fields in ("src_ip", "dst_ip", "src_port", "dst_port", "src_ip.dst_ip",
                               "src_ip.dst_ip.src_port.dst_port")]
RSS_API_CASES = ["test_rxfh_nl_set_fail", "test_rxfh_nl_set_indir", "test_rxfh_nl_set_indir_ctx",
                 "test_rxfh_indir_ntf", "test_rxfh_indir_ctx_ntf", "test_rxfh_nl_set_key", "test_rxfh_fields",
                 "test_rxfh_fields_set", "test_rxfh_fields_set_xfrm", "test_rxfh_fields_ntf", "test_rss_ctx_add",
                 "test_rss_ctx_ntf"]
NK_QLEASE_CASES = ["test_iou_zcrx", "test_iou_zcrx_large_buf", "test_attrs", "test_attach_xdp_with_mp", "test_destroy"]
RSS_CTX_CASES = ["test_rss_key_indir", "test_rss_queue_reconfigure", "test_rss_resize", "test_hitless_key_update",
                 "test_rss_context", "test_rss_context4", "test_rss_context32", "test_rss_context_dump",
                 "test_rss_context_queue_reconfigure", "test_rss_context_overlap", "test_rss_context_overlap2",
                 "test_rss_context_out_of_order", "test_rss_context4_create_with_cfg",
                 "test_flow_add_context_missing", "test_delete_rss_context_busy", "test_rss_ntuple_addition",
                 "test_rss_default_context_rule", "test_rss_context_flow_hash",
                 "test_rss_context_persist_create_and_ifdown", "test_rss_context_persist_ifdown_and_create"]

LOCAL_V4, REMOTE_V4 = "10.0.0.254", "10.0.0.1"
# nk_qlease.py routes this prefix from wire0 through the NIC to a netkit device in a namespace of its own
NETKIT_PREFIX_V6 = "fd00:20::/64"
LOCAL_V6, REMOTE_V6 = "fd00:10::fe", "fd00:10::1"


@pytest.fixture(scope="module")
def node(lab_node_netkit):
    """The patched kernel's node, its NIC set up as a host's NIC under test: addresses on both ends of
    the wire (kept across the link down/up of the persist cases, as a managed host's are), and
    ntuple-filters on (vmnet.netkit turns it on; the lab NIC boots with it off, like ixgbe and ice)."""
    n = lab_node_netkit
    install(n)
    nic = n.nic
    n.sh("sysctl -qw net.ipv6.conf.%s.keep_addr_on_down=1" % nic)
    n.sh("ip addr replace %s/24 dev %s && ip addr replace %s/64 dev %s nodad && ip link set %s up"
         % (LOCAL_V4, nic, LOCAL_V6, nic, nic))
    n.sh("ethtool -K %s ntuple on" % nic)
    yield n
    n.ssh("ip addr del %s/24 dev %s; ip addr del %s/64 dev %s; ethtool -K %s ntuple off"
          % (LOCAL_V4, nic, LOCAL_V6, nic, nic))


def selftest_env(node):
    return {"NETIF": node.nic, "LOCAL_V4": LOCAL_V4, "REMOTE_V4": REMOTE_V4, "LOCAL_V6": LOCAL_V6,
            "REMOTE_V6": REMOTE_V6, "REMOTE_TYPE": "netns", "REMOTE_ARGS": node.wire_netns}


def unexpected(results: dict, cases: list, allowed: dict, timing_ok: bool = False) -> dict:
    """The cases whose outcome is neither a pass nor what NOT_ON_THE_LAB (or, with timing_ok, an
    iperf3 timing of the load generator) explains; a case missing from the report counts too."""
    wrong = {}
    for case in cases:
        got = results.get(case, "missing from the report")
        if got == "pass" or got == allowed.get(case):
            continue
        if timing_ok and got.startswith("fail: ") and (
                got[len("fail: "):] in IPERF3_TIMING
                or (case in WALL_CLOCK and WALL_CLOCK[case].match(got[len("fail: "):]))):
            continue
        wrong[case] = got
    return wrong


def test_rss_api_passes(node):
    """RSS tables, keys, contexts and rx-flow-hash fields over ethtool netlink and ioctl, and their
    notifications."""
    results, report = run(node, "rss_api.py", selftest_env(node), timeout=900)
    assert unexpected(results, RSS_API_CASES, NOT_ON_THE_LAB["rss_api.py"]) == {}, report[-6000:]


def test_ntuple_steers_each_flow_to_its_queue(node):
    """ntuple.py: for tcp4, udp4, tcp6 and udp6 and each match field, a rule's queue receives exactly
    the flow's packets, counted by netdev qstats-get per queue."""
    results, report = run(node, "ntuple.py", selftest_env(node), timeout=1200)
    assert unexpected(results, NTUPLE_CASES, {}) == {}, report[-6000:]


def test_rss_ctx_passes(node):
    """rss_ctx.py: contexts created, resized, overlapped, persisted across link down/up, rules to them,
    and iperf3 traffic spread over exactly each context's queues (netdev qstats-get)."""
    results, report = run(node, "rss_ctx.py", selftest_env(node), timeout=2400)
    wrong = unexpected(results, RSS_CTX_CASES, NOT_ON_THE_LAB["rss_ctx.py"], timing_ok=True)
    assert wrong == {}, (wrong, report[-8000:])
    timed_out = sorted(case for case, got in results.items() if got.startswith("fail: "))
    print("rss_ctx.py: %d passed; missed a wall-clock limit under emulation: %s"
          % (sum(got == "pass" for got in results.values()), ", ".join(timed_out) or "none"))


def test_nk_qlease_passes(node):
    """nk_qlease.py: a netkit device in its own namespace leases the NIC's last queue (netdev queue-create)
    behind a tc BPF redirect on the NIC (clsact), and queue-get on the NIC names the lease (test_attrs);
    its io_uring cases cannot run on the lab (NOT_ON_THE_LAB)."""
    build_bpf(node, "nk_forward")
    env = dict(selftest_env(node), LOCAL_PREFIX_V6=NETKIT_PREFIX_V6)
    results, report = run(node, "nk_qlease.py", env, timeout=900)
    assert unexpected(results, NK_QLEASE_CASES, NOT_ON_THE_LAB["nk_qlease.py"]) == {}, report[-6000:]
    # the io_uring cases failed for the reason given above, not another: their receiver could not start
    assert len(IOU_ZCRX_MISSING.findall(report)) >= 2, report[-6000:]
