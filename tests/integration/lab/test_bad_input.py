# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad input, table-driven, on the lab node: each case is refused before the first write.

Every case runs as one task of a single play (module options of every module that changes a host,
and inventories through the slice_plan filter and through host_network), and must fail, report no change, and say in its
message which option (or inventory path) is wrong and what would be valid. The node's state, read
the way the kernel and the file system show it before and after the whole table, must not move."""

from __future__ import annotations

import pytest
from lab_play import run_playbook, run_tasks
from test_provision import snapshot

NIC = "{nic}"  # replaced by the lab NIC's name


def inventory(vms, queues=16, host_queues=8, subnets=("10.0.0.0/24", "fd00:10::/64")):
    """A debug task that plans VMS with the slice_plan filter (on the controller, as provision.yml does)."""
    return ("ansible.builtin.debug", {"msg": "{{ %r | vmnet.netkit.slice_plan(device=%r, queues=%d, host_queues=%d, "
                                             "subnets=%r) }}" % (vms, NIC, queues, host_queues, list(subnets))})


def vm(**kw):
    base = {"name": "vm1", "queues": 1}
    base.update(kw)
    return base


def channels(**kw):
    return ("nic_channels", dict({"device": NIC}, **kw))


def rss(*contexts, **kw):
    return ("rss_contexts", dict({"device": NIC, "contexts": list(contexts)}, **kw))


def ctx(**kw):
    return dict({"name": "a", "start": 14, "equal": 1}, **kw)


def ntuple(*rules):
    return ("ntuple_rules", {"device": NIC, "rules": list(rules)})


def rule(**kw):
    return dict({"flow_type": "ip4", "dst_ip": "10.0.0.2", "queue": 3}, **kw)


def netkit(**kw):
    return ("netkit_link", dict({"name": "nk-bad", "pairing": "single"}, **kw))


def lower(queues, **kw):
    return dict({"device": NIC, "queues": queues}, **kw)


INVENTORY = {"device": NIC, "queues": 16, "host_queues": 8, "vms": [{"name": "vm1", "queues": 1}]}


def host(**kw):
    return ("host_network", dict({"plan": {"device": NIC, "vms": {}}}, **kw))


def host_inventory(**kw):
    return ("host_network", {"inventory": dict(INVENTORY, **kw)})


# (case, (module, args), [every text the message must hold: the option, then what is valid])
CASES = [
    # nic_channels
    ("channels negative", channels(combined=-1), ["combined"]),
    ("channels zero", channels(combined=0), ["combined"]),
    ("channels above the NIC's maximum", channels(combined=999), ["combined", "16"]),
    ("unknown device", channels(device="nosuchnic0", combined=4), ["nosuchnic0"]),
    ("device name with a space", channels(device="eth 0", combined=4), ["device"]),
    ("device name too long", channels(device="a" * 16, combined=4), ["device", "a" * 16]),
    ("device name like a path", channels(device="../eth0", combined=4), ["device"]),
    # rss_contexts
    ("context of zero queues", rss(ctx(equal=0)), ["equal"]),
    ("context start negative", rss(ctx(start=-1)), ["start"]),
    ("context beyond the channels", rss(ctx(equal=4)), ["contexts[0]", "16"]),
    ("duplicate context names", rss(ctx(), ctx(start=15)), ["contexts[1]", "a"]),
    ("overlapping contexts", rss(ctx(start=13, equal=2), ctx(name="b")), ["contexts[1]", "overlap"]),
    ("unknown hash function", rss(ctx(hfunc="md5")), ["hfunc", "toeplitz"]),
    ("malformed hash key", rss(ctx(key="zz")), ["key"]),
    ("context without a name", rss({"start": 14, "equal": 1}), ["name"]),
    ("unknown state", rss(state="purged"), ["state", "merged"]),
    # ntuple_rules
    ("rule with two actions", ntuple(rule(drop=True)), ["context|queue|drop", "rules"]),
    ("rule without an action", ntuple({"flow_type": "ip4", "dst_ip": "10.0.0.2"}), ["rules[0]"]),
    ("IPv6 address on an ip4 rule", ntuple(rule(dst_ip="fd00:10::2")), ["dst_ip"]),
    ("IPv4 address on an ip6 rule", ntuple(rule(flow_type="ip6", dst_ip="10.0.0.2")), ["dst_ip"]),
    ("prefix too long", ntuple(rule(dst_ip="10.0.0.0/33")), ["dst_ip"]),
    ("port on a flow type without ports", ntuple(rule(dst_port=22)), ["dst_port"]),
    ("port out of range", ntuple(rule(flow_type="tcp4", dst_port=70000)), ["dst_port"]),
    ("negative port", ntuple(rule(flow_type="udp4", src_port=-1)), ["src_port"]),
    ("unknown flow type", ntuple(rule(flow_type="icmp4")), ["flow_type", "tcp4"]),
    ("queue beyond the channels", ntuple(rule(queue=99)), ["queue", "16"]),
    ("context nobody made", ntuple({"flow_type": "ip4", "dst_ip": "10.0.0.2", "context": "nosuch"}), ["nosuch"]),
    ("duplicate rules", ntuple(rule(), rule()), ["rules[1]"]),
    ("rule location beyond the table", ntuple(rule(loc=5000)), ["loc"]),
    # netkit_link
    ("netkit name too long", netkit(name="nk-" + "x" * 13), ["name", "15"]),
    ("netkit name with a space", netkit(name="nk bad"), ["name"]),
    ("netkit name with a slash", netkit(name="nk/bad"), ["name"]),
    ("netkit name of dots", netkit(name=".."), ["name"]),
    ("unknown mode", netkit(mode="l4"), ["mode", "l2"]),
    ("unknown policy", netkit(policy="maybe"), ["policy", "pass"]),
    ("lower queues reversed", netkit(lower=lower([15, 14])), ["lower"]),
    ("lower queue 0", netkit(lower=lower([0, 0])), ["lower"]),
    ("lower queue beyond the NIC", netkit(lower=lower([15, 16])), ["lower", "16"]),
    ("lower device unknown", netkit(lower=lower([14, 14], device="nosuchnic0")), ["nosuchnic0"]),
    ("lower with three queue numbers", netkit(lower=lower([13, 14, 15])), ["lower"]),
    ("unknown binding", netkit(lower=lower([14, 14], binding="magic")), ["binding", "lease"]),
    ("malformed MAC address", netkit(address="02:00:zz:00:00:01"), ["address"]),
    ("multicast MAC address", netkit(address="01:00:5e:00:00:01"), ["address"]),
    ("MTU too small", netkit(mtu=10), ["mtu"]),
    ("negative headroom", netkit(headroom=-1), ["headroom"]),
    ("zero rx queues", netkit(numrxqueues=0), ["numrxqueues"]),
    ("unknown netns", netkit(pairing="pair", mode="l3", netns="nosuch-ns"), ["nosuch-ns"]),
    ("netns like a path", netkit(pairing="pair", mode="l3", netns="../x"), ["netns"]),
    ("peer name too long", netkit(pairing="pair", mode="l3", peer={"name": "p" * 16}), ["peer.name"]),
    # host_network
    ("unknown xdp_mode", host(xdp_mode="turbo"), ["xdp_mode", "native"]),
    ("negative lock_timeout", host(lock_timeout=-1), ["lock_timeout"]),
    ("unknown plan binding", host(binding="magic"), ["binding", "lease"]),
    ("plan without its parts", host(plan={"device": NIC}), ["plan"]),
    ("plan that is not a plan", host(plan={"vms": "many"}), ["plan"]),
    ("inventory and a plan at once", host(inventory=INVENTORY), ["inventory|plan"]),
    # inventories planned on the node by host_network (as provision.yml and verify.yml do)
    ("inventory VM without queues", host_inventory(vms=[{"name": "vm1"}]), ["inventory.vms[0].queues"]),
    ("inventory host queues leaving none for VMs", host_inventory(host_queues=16),
     ["inventory.host_queues", "1..15"]),
    # inventories, through the slice_plan filter (on the controller)
    ("VM name escaping a directory", inventory([vm(name="../etc")]), ["vms[0].name"]),
    ("VM name with a space", inventory([vm(name="vm 1")]), ["vms[0].name"]),
    ("VM name injecting qemu options", inventory([vm(name="vm1,script=/tmp/x")]), ["vms[0].name"]),
    ("duplicate VM names", inventory([vm(), vm()]), ["vms[1].name", "vm1"]),
    ("VM without queues", inventory([{"name": "vm1"}]), ["vms[0].queues"]),
    ("VM with zero queues", inventory([vm(queues=0)]), ["vms[0].queues"]),
    ("more VM queues than the NIC has", inventory([vm(queues=9)]), ["queues"]),
    ("more VMs than queues", inventory([vm(name="vm%d" % n) for n in range(9)]), ["queues"]),
    ("multicast VM MAC", inventory([vm(mac="01:00:5e:00:00:01")]), ["vms[0].mac"]),
    ("malformed VM MAC", inventory([vm(mac="02:00:00:00:00")]), ["vms[0].mac"]),
    ("VM address outside its subnets", inventory([vm(addresses=["192.0.2.7"])]), ["vms[0].addresses"]),
    ("VM address that is not one", inventory([vm(addresses=["10.0.0.300"])]), ["vms[0].addresses"]),
    ("overlapping subnets", inventory([vm()], subnets=("10.0.0.0/24", "10.0.0.128/25")), ["subnets"]),
    ("subnet too small for the VMs", inventory([vm(), vm(name="vm2"), vm(name="vm3")], subnets=("10.0.0.0/31",)),
     ["subnets"]),
    ("host queues leaving none for VMs", inventory([vm()], host_queues=16), ["host_queues"]),
    ("pool range outside its network",
     inventory([vm()], subnets=({"network": "10.0.0.0/24", "range": "10.0.1.1-10.0.1.9"},)),
     ["subnets[0].range", "inside 10.0.0.0/24"]),
    ("pool with an unknown key", inventory([vm()], subnets=({"network": "10.0.0.0/24", "gateway": "10.0.0.1"},)),
     ["subnets[0]", "network, range, exclude"]),
    ("inventory pool exclusion that is not an address",
     host_inventory(subnets=[{"network": "10.0.0.0/24", "exclude": ["10.0.0.300"]}]),
     ["inventory.subnets[0].exclude[0]", "FIRST-LAST"]),
    ("inventory VM address in a pool exclusion",
     host_inventory(subnets=[{"network": "10.0.0.0/24", "exclude": ["10.0.0.4-10.0.0.6"]}],
                    vms=[vm(addresses=["10.0.0.5"])]),
     ["inventory.vms[0].addresses", "(inventory.subnets[0].exclude: 10.0.0.4-10.0.0.6)"]),
    ("inventory pool with no address left",
     host_inventory(subnets=[{"network": "10.0.0.0/24", "range": "10.0.0.9-10.0.0.9"}], vms=[vm(), vm(name="vm2")]),
     ["inventory.subnets[0]", "no free address left"]),
]


@pytest.fixture(scope="module")
def lab(lab_node):
    rc, out = run_playbook(lab_node, "teardown.yml")
    assert rc == 0, out[-4000:]
    return lab_node


def fill(value, nic):
    if isinstance(value, str):
        return value.replace(NIC, nic)
    if isinstance(value, list):
        return [fill(v, nic) for v in value]
    if isinstance(value, dict):
        return dict((k, fill(v, nic)) for k, v in value.items())
    return value


def test_every_bad_input_is_refused_before_anything_changes(lab):
    assert len(CASES) >= 60
    before = snapshot(lab)
    results = run_tasks(lab, [(module, fill(args, lab.nic)) for _case, (module, args), _texts in CASES])
    after = snapshot(lab)
    wrong = []
    for (case, _task, texts), result in zip(CASES, results):
        msg = " ".join(str(result.get("msg", "")).split())
        missing = [t for t in fill(texts, lab.nic) if t not in msg]
        if not result.get("failed") or result.get("changed") or missing:
            wrong.append("%s: failed=%s changed=%s missing %s in %r" % (
                case, result.get("failed"), result.get("changed"), missing, msg[:300]))
    assert not wrong, "\n".join(wrong)
    assert after == before
