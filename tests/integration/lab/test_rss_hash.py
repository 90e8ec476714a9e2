# SPDX-License-Identifier: GPL-3.0-or-later
"""Which queue each flow lands on, predicted from the Toeplitz key and tables the kernel reports.

The NIC is set up through the collection's modules (channels, the default table with the RSS
verification key, a context with a key of its own, rules that steer to it). The test then reads back
what the kernel reports (``ethtool -x`` for each table and key, ``ethtool -n rx-flow-hash`` for the
hashed fields), predicts the queue of each flow of the RSS verification suite with the Toeplitz
function checked against that suite (lab_toeplitz.py, tests/unit/lab/test_toeplitz.py), sends its
frames from the wire, and compares with the queue whose counters the kernel's ``ethtool -S`` shows
moving (``rxN_packets``). Two default tables (every 16th entry, and runs of 16) show the low 7 bits of
each hash, which are all a 128-entry table uses. The context hashes its own fields on 7.x (the lab NIC
keeps them per context there, as 7.x requires of a NIC with symmetric hashing and per-context keys) and
the default table's on 6.12. ``xfrm symmetric-xor`` puts each flow and its reverse on one queue. All run
on the 7.x node and on the 6.12 one, whose kernel takes the hashed fields through
``get_rxnfc``/``set_rxnfc`` instead of the 6.16+ ``rxfh_fields`` operations.

The suite's flows use public addresses. Their frames go from the lab's wire port to the lab NIC inside
the lab node and no further: they are addressed to a MAC address that no interface has, so after the NIC
counted them the node's stack drops them (nothing answers them)."""

from __future__ import annotations

import json
import re
import shlex

import pytest
from lab_play import ok, run_tasks
from lab_toeplitz import VERIFICATION_FLOWS, VERIFICATION_KEY, flow_hash

FRAMES_PER_FLOW = 4
# A locally administered unicast MAC address no interface has (see the module docstring).
NOBODY_MAC = "02:00:00:00:00:01"
CONTEXT_KEY = bytes(range(0x80, 0x80 + 40))
IPV4_DESTINATIONS = sorted({f[2] for f in VERIFICATION_FLOWS if ":" not in f[2]})

# On the node: send FRAMES_PER_FLOW frames of each flow from the wire port and report, per flow, by how
# much each rx queue's packet counter of the NIC (ethtool -S rxN_packets) moved.
SEND_AND_COUNT = r'''
import ipaddress, json, os, socket, struct, subprocess, sys, time
nic, netns, wire, dst_mac, n, limit = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
flows = json.loads(sys.argv[7])

def rx_packets():
    out = subprocess.run(["ethtool", "-S", nic], capture_output=True, text=True, check=True).stdout
    counts = {}
    for line in out.splitlines():
        name, _, value = line.strip().partition(": ")
        if name.startswith("rx") and name.endswith("_packets") and name[2:-8].isdigit():
            counts[int(name[2:-8])] = int(value)
    return counts

def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF

def frame(src_mac, flow):
    src, dst = ipaddress.ip_address(flow["src"]), ipaddress.ip_address(flow["dst"])
    if flow["proto"] == "tcp":
        l4, proto = struct.pack("!HHIIBBHHH", flow["sport"], flow["dport"], 0, 0, 5 << 4, 0x02, 1024, 0, 0), 6
    else:
        l4, proto = struct.pack("!HHHH", flow["sport"], flow["dport"], 8 + 9, 0) + b"vmnet-rss", 17
    if src.version == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0, src.packed, dst.packed)
        ip, ethertype = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:], 0x0800
    else:
        ip, ethertype = struct.pack("!IHBB16s16s", 6 << 28, len(l4), proto, 64, src.packed, dst.packed), 0x86DD
    return bytes.fromhex(dst_mac.replace(":", "")) + src_mac + struct.pack("!H", ethertype) + ip + l4

home = os.open("/proc/self/ns/net", os.O_RDONLY)
with open("/run/netns/" + netns) as ns:
    os.setns(ns.fileno(), os.CLONE_NEWNET)
wire_socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
wire_socket.bind((wire, 0))
src_mac = wire_socket.getsockname()[4]
os.setns(home, os.CLONE_NEWNET)

moved = []
for flow in flows:
    before = rx_packets()
    data = frame(src_mac, flow)
    for _ in range(n):
        wire_socket.send(data)
    end = time.monotonic() + limit
    while True:
        now = rx_packets()
        delta = {q: now[q] - before.get(q, 0) for q in now if now[q] != before.get(q, 0)}
        if sum(delta.values()) >= n or time.monotonic() > end:
            break
        time.sleep(0.05)
    moved.append(delta)
print(json.dumps(moved))
'''


@pytest.fixture(scope="module", params=["lab_node", "lab_node_612"], ids=["7.x", "6.12"])
def lab(request):
    node = request.getfixturevalue(request.param)  # the lab conftest stops the 6.12 node after its last user
    if "rx0_packets:" not in node.sh("ethtool -S %s" % node.nic):
        pytest.fail("the lab NIC %s has no per-queue counters (ethtool -S rx0_packets): is kernel/netdevsim "
                    "per-queue statistics patch (7.3/0004, 6.12/0003) applied?" % node.nic)
    node.sh("ethtool -N %s rx-flow-hash udp4 sd && ethtool -N %s rx-flow-hash udp6 sd" % (node.nic, node.nic))
    yield node
    clean(node)


def clean(node):
    node.sh("ethtool -N %s rx-flow-hash udp4 sdfn && ethtool -N %s rx-flow-hash udp6 sdfn" % (node.nic, node.nic))
    results = run_tasks(node, [("ntuple_rules", {"device": node.nic, "state": "deleted"}),
                               ("rss_contexts", {"device": node.nic, "state": "deleted"}),
                               ("nic_channels", {"device": node.nic, "combined": 16})])
    for result in results:
        ok(result)


def colon_hex(data: bytes) -> str:
    return ":".join("%02x" % b for b in data)


def kernel_table(node, context=0):
    """The indirection table, key and hash function of CONTEXT (0: the default table) as ``ethtool -x``
    prints them; -> (list of queues, key bytes, the function that is on)."""
    out = node.sh("ethtool -x %s%s" % (node.nic, " context %d" % context if context else ""))
    lines = out.splitlines()
    table = []
    for line in lines:
        m = re.match(r"^\s*(\d+):((?:\s+\d+)+)\s*$", line)
        if m:
            assert int(m.group(1)) == len(table), out
            table += [int(q) for q in m.group(2).split()]
    key = bytes.fromhex(lines[lines.index("RSS hash key:") + 1].replace(":", ""))
    start = lines.index("RSS hash function:") + 1
    on = [line.split(":")[0].strip() for line in lines[start:start + 3] if line.strip().endswith(": on")]
    assert len(table) == 128 and len(on) == 1, out
    return table, key, on[0]


def hashes_ports(node, flow_type, context=0):
    """Whether the kernel reports the ports among FLOW_TYPE's hashed fields in CONTEXT
    (``ethtool -n DEV rx-flow-hash FLOW_TYPE [context N]``); None when the kernel keeps no fields per
    context (6.12 refuses ``context N`` with EINVAL: every table hashes the default table's fields)."""
    command = "ethtool -n %s rx-flow-hash %s%s" % (node.nic, flow_type, " context %d" % context if context else "")
    result = node.ssh(command)
    if context and result.returncode != 0 and "Invalid argument" in result.stderr:
        return None
    assert result.returncode == 0, command + ": " + result.stderr
    lines = result.stdout.splitlines()
    start = [n for n, line in enumerate(lines) if "flows use these fields for computing Hash flow key" in line]
    assert len(start) == 1, result.stdout
    fields = [line.strip() for line in lines[start[0] + 1:] if line.strip()]
    assert fields[:2] == ["IP SA", "IP DA"], result.stdout
    return "L4 bytes 0 & 1 [TCP/UDP src port]" in fields and "L4 bytes 2 & 3 [TCP/UDP dst port]" in fields


def verification_frames():
    """Each flow of the suite twice: as a TCP segment (the NIC hashes addresses and ports) and as a UDP
    datagram (the test sets the NIC to hash only the addresses of UDP: ``rx-flow-hash udp4 sd``)."""
    return [{"src": s, "sport": sp, "dst": d, "dport": dp, "proto": proto}
            for s, sp, d, dp, _h2, _h4 in VERIFICATION_FLOWS for proto in ("tcp", "udp")]


def queues_moved(node, flows):
    """Send each flow's frames from the wire; -> per flow, the queues whose counters moved by all of
    them (other queues may move by the wire's own neighbour traffic)."""
    out = node.sh("python3 -c %s %s %s %s %s %d 60 %s" % (
        shlex.quote(SEND_AND_COUNT), node.nic, node.wire_netns, node.wire, NOBODY_MAC, FRAMES_PER_FLOW,
        shlex.quote(json.dumps(flows))))
    moved = json.loads(out.strip().splitlines()[-1])
    return [sorted(int(q) for q, n in delta.items() if n >= FRAMES_PER_FLOW) for delta in moved]


def predicted(node, flows, tables, route=lambda flow: 0, symmetric_xor=False):
    """The queue of each flow: its table (ROUTE: flow -> context id) at its Toeplitz hash, under that
    table's key, of the fields the kernel says the flow type hashes (SYMMETRIC_XOR: their input
    transformed as ``xfrm symmetric-xor`` does)."""
    ports = {}
    for context in sorted(tables):
        for flow_type in ("tcp4", "udp4", "tcp6", "udp6"):
            own = hashes_ports(node, flow_type, context)
            ports[context, flow_type] = ports[0, flow_type] if own is None else own
    queues = []
    for flow in flows:
        table, key, hfunc = tables[route(flow)]
        assert hfunc == "toeplitz"
        with_ports = ports[route(flow), flow["proto"] + ("6" if ":" in flow["src"] else "4")]
        h = flow_hash(key, flow["src"], flow["dst"], *((flow["sport"], flow["dport"]) if with_ports else ()),
                      symmetric_xor=symmetric_xor)
        queues.append([table[h % len(table)]])
    return queues


def test_flows_land_on_the_queue_their_toeplitz_hash_picks(lab):
    flows = verification_frames()
    key = colon_hex(VERIFICATION_KEY)
    # the default table over all 16 queues in turn (queue = hash % 16), then in runs of 16 entries over
    # 8 queues (queue = (hash % 128) // 16): together the 7 bits of every hash that pick the entry
    for default in ({"start": 0, "equal": 16}, {"start": 0, "weights": [1] * 8}):
        results = run_tasks(lab, [("ntuple_rules", {"device": lab.nic, "state": "deleted"}),
                                  ("rss_contexts", {"device": lab.nic, "state": "deleted"}),
                                  ("nic_channels", {"device": lab.nic, "combined": 16}),
                                  ("rss_contexts", {"device": lab.nic,
                                                    "default": dict(default, hfunc="toeplitz", key=key)})])
        for result in results:
            ok(result)
        table, kernel_key, _hfunc = kernel_table(lab)
        assert kernel_key == VERIFICATION_KEY
        if "equal" in default:
            assert table == [i % 16 for i in range(128)]
        else:
            assert sorted(set(table)) == list(range(8))
        # the hashes the suite publishes, under the key the kernel reports, before any frame is sent
        assert [hashes_ports(lab, t) for t in ("tcp4", "tcp6", "udp4", "udp6")] == [True, True, False, False]
        assert [table[(f[5] if proto == "tcp" else f[4]) % 128] for f in VERIFICATION_FLOWS for proto in ("tcp", "udp")] \
            == [q[0] for q in predicted(lab, flows, {0: (table, kernel_key, "toeplitz")})]
        assert queues_moved(lab, flows) == predicted(lab, flows, {0: (table, kernel_key, "toeplitz")}), default


def test_a_context_spreads_its_flows_by_its_own_key(lab):
    """Rules steer the suite's IPv4 destinations to a two-queue context with a key of its own; its
    flows spread over exactly that context's queues by that key, the IPv6 flows stay on the default table."""
    flows = verification_frames()
    rules = [{"flow_type": "ip4", "dst_ip": dst, "context": "vm1"} for dst in IPV4_DESTINATIONS]
    results = run_tasks(lab, [
        ("ntuple_rules", {"device": lab.nic, "state": "deleted"}),
        ("rss_contexts", {"device": lab.nic, "state": "deleted"}),
        ("nic_channels", {"device": lab.nic, "combined": 16}),
        ("rss_contexts", {"device": lab.nic, "default": {"start": 0, "equal": 14},
                          "contexts": [{"name": "vm1", "start": 14, "equal": 2, "key": colon_hex(CONTEXT_KEY)}]}),
        ("ntuple_rules", {"device": lab.nic, "rules": rules})])
    for result in results:
        ok(result)
    cid = results[3]["contexts"]["vm1"]
    tables = {0: kernel_table(lab), cid: kernel_table(lab, cid)}
    assert tables[cid][1] == CONTEXT_KEY and tables[0][1] != CONTEXT_KEY
    assert sorted(set(tables[cid][0])) == [14, 15] and sorted(set(tables[0][0])) == list(range(14))
    rule_text = lab.sh("ethtool -n %s" % lab.nic)
    assert len(re.findall(r"Action: Direct to RSS Context %d\n" % cid, rule_text)) == len(IPV4_DESTINATIONS), rule_text
    # rx-flow-hash fields: on 7.x the context has its own (the defaults: addresses and ports of UDP too);
    # on 6.12 it has none, and every table hashes the default table's (addresses only, for UDP)
    own_fields = None if lab.sh("uname -r").startswith("6.12") else True
    assert (hashes_ports(lab, "udp4", cid), hashes_ports(lab, "udp4")) == (own_fields, False)
    expected = predicted(lab, flows, tables, route=lambda flow: 0 if ":" in flow["dst"] else cid)
    assert {q[0] for q, f in zip(expected, flows) if ":" not in f["dst"]} == {14, 15}
    assert queues_moved(lab, flows) == expected


def test_symmetric_xor_puts_both_directions_of_a_flow_on_one_queue(lab):
    """``ethtool -X DEV xfrm symmetric-xor`` (RXH_XFRM_SYM_XOR): the NIC hashes source XOR destination
    twice, so each flow of the suite and its reverse land on one queue, the one the transformed
    Toeplitz hash picks; the kernel reports the transformation in ``ethtool -x``."""
    forward = verification_frames()
    flows = forward + [dict(f, src=f["dst"], dst=f["src"], sport=f["dport"], dport=f["sport"]) for f in forward]
    results = run_tasks(lab, [("ntuple_rules", {"device": lab.nic, "state": "deleted"}),
                              ("rss_contexts", {"device": lab.nic, "state": "deleted"}),
                              ("nic_channels", {"device": lab.nic, "combined": 16}),
                              ("rss_contexts", {"device": lab.nic, "default": {
                                  "start": 0, "equal": 16, "hfunc": "toeplitz", "key": colon_hex(VERIFICATION_KEY)}})])
    for result in results:
        ok(result)
    lab.sh("ethtool -X %s xfrm symmetric-xor" % lab.nic)
    try:
        shown = lab.sh("ethtool -x %s" % lab.nic)
        assert re.search(r"RSS input transformation:\n\s+symmetric-xor: on\n", shown), shown
        tables = {0: kernel_table(lab)}
        expected = predicted(lab, flows, tables, symmetric_xor=True)
        assert expected[:len(forward)] == expected[len(forward):]
        assert expected != predicted(lab, flows, tables)  # the transformation moves some flows
        assert queues_moved(lab, flows) == expected
    finally:
        lab.sh("ethtool -X %s xfrm none" % lab.nic)
    assert not re.search(r"symmetric-xor: on", lab.sh("ethtool -x %s" % lab.nic))
