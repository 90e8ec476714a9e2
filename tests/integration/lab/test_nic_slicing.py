# SPDX-License-Identifier: GPL-3.0-or-later
"""The four NIC slicing modules on the lab node's (patched) netdevsim NIC, through ansible-playbook.

Create, change, remove; idempotence; check mode; a context recreated after the netdevsim device
is deleted and created again; refusals (context in use, shrink cutting off used queues, features
the second NIC or the kernel lacks); every rule kind and the drop path through the real driver, on
the 7.x node and on the 6.12 one.  Uses the ``lab_node`` and ``lab_node_612`` fixtures of this
directory's conftest (skips when the lab is not available).
"""

from __future__ import annotations

import time
import uuid

import pytest
from lab_play import ok, run


@pytest.fixture(scope="module")
def lab(lab_node):
    node = lab_node
    info = run(node, "nic_info", {"device": node.nic})
    if info.get("failed"):
        pytest.fail("nic_info failed on the lab NIC: %s" % info.get("msg"))
    if not info["capabilities"]["contexts_supported"] or not info["capabilities"]["rules_supported"]:
        pytest.fail("the lab NIC %s (%s) has no RSS contexts or ntuple rules: is kernel/netdevsim applied?"
                    % (node.nic, info["driver"]))
    clean(node)
    yield node
    clean(node)


def clean(node):
    run(node, "ntuple_rules", {"device": node.nic, "state": "deleted"})
    run(node, "rss_contexts", {"device": node.nic, "state": "deleted"})
    run(node, "nic_channels", {"device": node.nic, "combined": 16})


def sh(node, cmd):
    p = node.ssh(cmd)
    return p.stdout if isinstance(p.stdout, str) else p.stdout.decode()


SEED_CTX = {"default": {"start": 0, "equal": 14}, "contexts": [{"name": "vm1", "start": 14, "equal": 2}]}
SEED_RULE = {"rules": [{"flow_type": "ip4", "dst_ip": "10.0.0.2", "context": "vm1"}]}


def seed(node):
    ch = ok(run(node, "nic_channels", {"device": node.nic, "combined": 16}))
    ctx = ok(run(node, "rss_contexts", dict(SEED_CTX, device=node.nic)))
    rules = ok(run(node, "ntuple_rules", dict(SEED_RULE, device=node.nic)))
    return ch, ctx, rules


def test_seed_scenario_then_idempotent(lab):
    _ch, ctx, rules = seed(lab)
    assert ctx["changed"] and isinstance(ctx["contexts"]["vm1"], int)
    cid = ctx["contexts"]["vm1"]
    assert rules["changed"] and rules["rules"][0]["context"] == cid
    x = sh(lab, "ethtool -x %s context %d" % (lab.nic, cid))
    assert " 14    15 " in x.replace("\n", " ") or "14     15" in x
    n = sh(lab, "ethtool -n %s" % lab.nic)
    assert "10.0.0.2" in n and ("RSS Context %d" % cid in n or "RSS Context ID: %d" % cid in n)
    for module, args in (("nic_channels", {"combined": 16}), ("rss_contexts", SEED_CTX), ("ntuple_rules", SEED_RULE)):
        r = ok(run(lab, module, dict(args, device=lab.nic)))
        assert not r["changed"], (module, r["actions"])
    info = ok(run(lab, "nic_info", {"device": lab.nic}))
    assert info["context_names"] == {"vm1": cid} and info["rules"][0]["context_name"] == "vm1"
    assert info["default"]["queues"] == "0-13" and info["default"]["configured"]


def test_check_mode_changes_nothing(lab):
    seed(lab)
    before = sh(lab, "ethtool -x %s; ethtool -n %s" % (lab.nic, lab.nic))
    r = ok(run(lab, "rss_contexts", {"device": lab.nic, "default": {"equal": 10},
                                     "contexts": [{"name": "vm1", "start": 12, "equal": 4},
                                                  {"name": "vm2", "start": 10, "equal": 1}]}, check=True, diff=True))
    assert r["changed"] and r["contexts"]["vm2"] is None and any("unknown (null)" in n for n in r["notes"])
    assert r["diff"]["after"]["default"]["queues"] == "0-9"
    assert sh(lab, "ethtool -x %s; ethtool -n %s" % (lab.nic, lab.nic)) == before


def test_change_in_place_and_shrink_refused(lab):
    _c, ctx, _r = seed(lab)
    cid = ctx["contexts"]["vm1"]
    r = ok(run(lab, "rss_contexts", {"device": lab.nic, "default": {"equal": 12},
                                     "contexts": [{"name": "vm1", "start": 12, "equal": 4}]}))
    assert r["changed"] and r["contexts"]["vm1"] == cid
    assert [a["op"] for a in r["actions"]] == ["default_set", "context_update"]
    r = run(lab, "nic_channels", {"device": lab.nic, "combined": 8})
    assert r.get("failed") and "would cut off queue(s) 8-15" in r["msg"] and "'vm1'" in r["msg"]
    assert "Combined:\t16" in sh(lab, "ethtool -l %s" % lab.nic).split("Current hardware settings:")[1]


def test_a_hash_function_the_driver_lacks_is_refused_by_it_untouched(lab):
    """The planner knows toeplitz, xor and crc32; this driver has the first two. Its refusal comes back
    with the driver's words, and the tables are as before."""
    seed(lab)
    before = sh(lab, "ethtool -x %s; ethtool -n %s" % (lab.nic, lab.nic))
    r = run(lab, "rss_contexts", {"device": lab.nic, "default": {"start": 0, "equal": 14, "hfunc": "crc32"}})
    assert r.get("failed") and "hfunc crc32 failed" in r["msg"], r.get("msg")
    assert "hash function not supported (toeplitz and xor are)" in r["msg"], r["msg"]
    assert sh(lab, "ethtool -x %s; ethtool -n %s" % (lab.nic, lab.nic)) == before


def test_context_in_use_refused(lab):
    seed(lab)
    r = run(lab, "rss_contexts", {"device": lab.nic, "state": "deleted", "contexts": [{"name": "vm1"}]})
    assert r.get("failed") and "still used by ntuple rule(s)" in r["msg"]


def test_recreated_after_device_recreated(lab):
    _c, ctx, _r = seed(lab)
    bus = sh(lab, "basename $(readlink -f /sys/class/net/%s/device)" % lab.nic).strip()
    assert bus.startswith("netdevsim"), bus
    nid = bus[len("netdevsim"):]
    sh(lab, "echo %s > /sys/bus/netdevsim/del_device; echo '%s 1 16' > /sys/bus/netdevsim/new_device" % (nid, nid))
    # the new port registers asynchronously: wait for it (bounded only so a broken driver fails)
    lab.sh("for i in $(seq 600); do ip link show %s >/dev/null 2>&1 && exit 0; sleep 0.2; done; "
           "echo 'the re-created port did not appear' >&2; exit 1" % lab.nic)
    # the node's boot script brings the new port up and cables it to the wire again
    sh(lab, "/usr/local/sbin/vmnet-lab-nic")
    r = ok(run(lab, "rss_contexts", dict(SEED_CTX, device=lab.nic)))
    assert r["changed"] and isinstance(r["contexts"]["vm1"], int)
    assert any("re-created" in n or "no longer exists" in n for n in r["notes"])
    rules = ok(run(lab, "ntuple_rules", dict(SEED_RULE, device=lab.nic)))
    assert rules["changed"] and rules["rules"][0]["context"] == r["contexts"]["vm1"]
    assert not ok(run(lab, "rss_contexts", dict(SEED_CTX, device=lab.nic)))["changed"]
    assert not ok(run(lab, "ntuple_rules", dict(SEED_RULE, device=lab.nic)))["changed"]


def test_remove_in_reverse_order(lab):
    seed(lab)
    r = ok(run(lab, "ntuple_rules", dict(SEED_RULE, device=lab.nic, state="deleted")))
    assert r["changed"] and r["rules"] == []
    r = ok(run(lab, "rss_contexts", {"device": lab.nic, "state": "deleted"}))
    assert r["changed"] and r["after"]["contexts"] == [] and not r["after"]["default"]["configured"]
    assert not ok(run(lab, "rss_contexts", {"device": lab.nic, "state": "deleted"}))["changed"]
    r = ok(run(lab, "nic_channels", {"device": lab.nic, "combined": 8}))
    assert r["changed"]


def test_second_nic_and_kernel_limits(lab):
    info = ok(run(lab, "nic_info", {"device": lab.nic2}))
    caps = info["capabilities"]
    assert caps["kernel_version"] and caps["ethtool_version"]
    assert caps["rss_netlink_dump"] == (tuple(int(x) for x in caps["kernel_version"].split(".")[:2]) >= (6, 12))
    assert caps["contexts_supported"] and caps["rules_supported"]
    r = run(lab, "nic_channels", {"device": lab.nic2, "combined": 99})
    assert r.get("failed") and "exceeds the maximum" in r["msg"]
    r = run(lab, "nic_info", {"device": "nope%s" % uuid.uuid4().hex[:4]})
    assert r.get("failed") and "no network device named" in r["msg"]


def test_nic_without_contexts_or_ntuple_is_refused_untouched(lab):
    """The node's management NIC is a virtio-net device without RSS: no indirection table, no
    contexts, ntuple-filters off [fixed]. The modules refuse before they change anything."""
    mgmt = sh(lab, "ip -o route show default").split(" dev ")[1].split()[0]
    info = ok(run(lab, "nic_info", {"device": mgmt}))
    assert info["driver"] == "virtio_net"
    assert not info["capabilities"]["contexts_supported"] and not info["capabilities"]["rules_supported"]
    before = sh(lab, "ethtool -x %s 2>&1; ethtool -k %s | grep ntuple" % (mgmt, mgmt))
    r = run(lab, "rss_contexts", {"device": mgmt, "contexts": [{"name": "x", "start": 0, "equal": 1}]})
    assert r.get("failed") and ("does not support additional RSS contexts" in r["msg"]
                                or "no RSS indirection table" in r["msg"]), r.get("msg")
    r = run(lab, "ntuple_rules", {"device": mgmt, "rules": [{"flow_type": "ip4", "dst_ip": "10.0.0.9", "queue": 0}]})
    assert r.get("failed") and ("ntuple-filters: off [fixed]" in r["msg"] or "no ntuple rule table" in r["msg"]), \
        r.get("msg")
    assert sh(lab, "ethtool -x %s 2>&1; ethtool -k %s | grep ntuple" % (mgmt, mgmt)) == before


def test_rule_kinds_on_the_real_driver(lab):
    """Every action and match kind through the kernel's ioctl path and back: queue, context by name,
    drop, ports, prefixes, IPv6, SCTP, an explicit location; then a drop rule really drops frames
    sent from the wire, a rule at a lower location takes precedence over it, and deleting it lets
    the frames through again."""
    rule_kinds(lab)


@pytest.fixture(scope="module")
def lab_612(lab_node_612):
    node = lab_node_612
    clean(node)
    yield node
    clean(node)


def test_rule_kinds_on_the_612_driver(lab_612):
    """The same on Linux 6.12, whose core leaves more to the driver (a context in use, a rule to a
    missing context) and reads contexts differently: the drop path counts as on 7.x."""
    assert lab_612.kernel.startswith("6.12"), lab_612.kernel
    rule_kinds(lab_612)


# The rules of rule_kinds (the seed's and the five below), as arguments of ``ethtool -N DEV``
ETHTOOL_RULE_ARGS = {
    "ip4": "flow-type ip4 dst-ip 10.0.0.2 context %(vm1)d",
    "tcp4": "flow-type tcp4 dst-ip 10.0.0.2 dst-port 80 action 3",
    "udp4": "flow-type udp4 dst-ip 10.0.0.0 m 0.0.0.255 dst-port 9 action -1",
    "sctp4": "flow-type sctp4 src-ip 192.0.2.1 context %(vm1)d",
    "udp6": "flow-type udp6 dst-ip fd00:10:: m ::ffff:ffff:ffff:ffff src-port 53 context %(vm1)d",
    "ip6": "flow-type ip6 dst-ip fd00:10::2 action 1",
}


def rule_kinds(lab):
    seed(lab)
    rules = {"device": lab.nic, "rules": [
        {"flow_type": "tcp4", "dst_ip": "10.0.0.2", "dst_port": 80, "queue": 3},
        {"flow_type": "udp4", "dst_ip": "10.0.0.0/24", "dst_port": 9, "drop": True, "loc": 7},
        {"flow_type": "sctp4", "src_ip": "192.0.2.1", "context": "vm1"},
        {"flow_type": "udp6", "dst_ip": "fd00:10::/64", "src_port": 53, "context": "vm1"},
        {"flow_type": "ip6", "dst_ip": "fd00:10::2", "queue": 1},
    ]}
    r = ok(run(lab, "ntuple_rules", rules))
    assert r["changed"] and len(r["rules"]) == 6  # with the seed rule
    by_kind = dict((x["flow_type"], x) for x in r["rules"])
    assert by_kind["udp4"]["loc"] == 7 and by_kind["udp4"]["drop"] and by_kind["udp4"]["dst_ip"] == "10.0.0.0/24"
    assert by_kind["sctp4"]["context_name"] == "vm1" and by_kind["udp6"]["src_port"] == 53
    assert by_kind["tcp4"]["queue"] == 3 and by_kind["ip6"]["queue"] == 1
    assert not ok(run(lab, "ntuple_rules", rules))["changed"]
    text = sh(lab, "ethtool -n %s" % lab.nic)
    assert "Total 6 rules" in text and "Filter: 7" in text and "Action: Drop" in text
    # the modules insert rules with SIOCETHTOOL themselves: the same rules made by the ethtool command, at
    # the same locations, read back the same, field for field and mask for mask
    by_ethtool = ["ethtool -N %s delete %d" % (lab.nic, x["loc"]) for x in r["rules"]]
    vm1 = by_kind["sctp4"]["context"]
    by_ethtool += ["ethtool -N %s %s loc %d" % (lab.nic, ETHTOOL_RULE_ARGS[x["flow_type"]] % {"vm1": vm1}, x["loc"])
                   for x in r["rules"]]
    sh(lab, " && ".join(by_ethtool))
    assert sh(lab, "ethtool -n %s" % lab.nic) == text
    # UDP port 9 of the VM subnet is dropped by the NIC and port 10 passes; for 10.0.0.2 the seed rule
    # (ip4 10.0.0.2 -> vm1) sits at a lower location than the drop rule (7), so it wins, as on hardware
    seed_loc = [x["loc"] for x in r["rules"] if x["flow_type"] == "ip4"][0]
    assert seed_loc < 7
    wire = "ip netns exec %s " % lab.wire_netns
    mac = sh(lab, "cat /sys/class/net/%s/address" % lab.nic).strip()
    for addr in ("10.0.0.2", "10.0.0.9"):
        sh(lab, "%sip neigh replace %s lladdr %s dev %s nud permanent" % (wire, addr, mac, lab.wire))
    send = ("%spython3 -c 'import socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "[s.sendto(b\"vmnet-tx\", (sys.argv[1], int(sys.argv[2]))) for _ in range(10)]' " % wire)

    def dropped():
        return int(sh(lab, "cat /sys/class/net/%s/statistics/rx_dropped" % lab.nic))

    def received():
        return int(sh(lab, "cat /sys/class/net/%s/statistics/rx_packets" % lab.nic))

    def after_sending(addr, port):
        """(frames dropped, frames received) by the NIC while 10 frames to ``addr``:``port`` cross the
        wire. Received counts are a lower bound: the wire's own IPv6 neighbour traffic adds to them."""
        d0, r0 = dropped(), received()
        sh(lab, "%s%s %d" % (send, addr, port))
        # until all 10 are counted one way or the other (bounded only so a lost frame fails)
        deadline = time.monotonic() + 120
        while True:
            d, r = dropped() - d0, received() - r0
            if d + r >= 10 or time.monotonic() > deadline:
                return d, r
            time.sleep(0.1)

    def check(addr, port, expected):
        """EXPECTED (dropped, received): received is a lower bound (the wire's own neighbour traffic)."""
        got = after_sending(addr, port)
        assert got[0] == expected[0] and (got[1] >= 10 if expected[1] else got[1] < 10), (addr, port, got)

    dropped_all, passed_all = (10, 0), (0, 10)
    check("10.0.0.9", 9, dropped_all)
    check("10.0.0.9", 10, passed_all)
    check("10.0.0.2", 9, passed_all)
    ok(run(lab, "ntuple_rules", {"device": lab.nic, "state": "deleted", "rules": [rules["rules"][1]]}))
    check("10.0.0.9", 9, passed_all)
