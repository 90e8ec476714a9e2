# SPDX-License-Identifier: GPL-3.0-or-later
"""A fake kernel with the interface of netkit.backend.NetkitKernel, for unit tests.

Links by (netns, name); one 16-queue NIC 'eth0' (ifindex 2); queue leases kept on the
NIC's side; a device that is not netkit is refused like the real backend refuses it.
"""

from __future__ import annotations

import copy

from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import caps as netkit_caps
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import ValidationError
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink.rtnl import NETKIT_ATTRS
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink.core import NetlinkError

K73 = dict(("IFLA_NETKIT_" + k.upper(), v) for k, v in NETKIT_ATTRS.items())
K612 = dict((k, v) for k, v in K73.items() if v <= 7)


class FakeKernel(object):
    """Links by (netns, name); one 16-queue NIC 'eth0' (ifindex 2); leases kept on the NIC's side."""

    def __init__(self, btf=None, leasing=True, ignore=()):
        self.caps = netkit_caps.capabilities(K73 if btf is None else btf, [], leasing, "test")
        self.links = {(None, "eth0"): {"ifindex": 2, "name": "eth0", "kind": None, "up": True, "netns": None}}
        self.namespaces = {None, "blue"}
        self.leases = {}
        self.next_index = 10
        self.ignore = set(ignore)   # attributes this "kernel" silently drops
        self.calls = []             # every change, in order
        self.reads = []             # every device looked up by name
        self.fail_lease = None
        self.first_lease_id = 1     # the netkit queue id of a device's first lease
        self.processes = {}         # pid: argv

    def capabilities(self):
        return self.caps

    def netns_exists(self, ns):
        return ns in self.namespaces

    def link(self, name, netns=None):
        self.reads.append(name)
        if len(name) > 15:
            # the kernel's policy refuses IFLA_IFNAME longer than IFNAMSIZ - 1
            raise NetlinkError(34, "Numerical result out of range", "Attribute failed policy validation")
        link = self.links.get((netns, name))
        return copy.deepcopy(link)

    def link_by_index(self, ifindex, netns=None):
        for (ns, _n), link in self.links.items():
            if ns == netns and link["ifindex"] == ifindex:
                return copy.deepcopy(link)
        return None

    def netkit_links(self, netns=None):
        return [copy.deepcopy(v) for (ns, _n), v in self.links.items() if ns == netns and v["kind"] == "netkit"]

    def process_cmdlines(self):
        return dict(self.processes)

    def is_physical(self, device):
        return device == "eth0"

    def rx_queue_count(self, device, netns=None):
        return 16

    def nic_leases(self, device):
        nic = self.links.get((None, device))
        if nic is None or not nic["up"]:
            return None  # the kernel reports queues only of devices that are up
        return dict((q, dict(lease)) for q, lease in self.leases.items())

    def _new(self, name, netns, nk, **extra):
        self.next_index += 1
        link = {"ifindex": self.next_index, "name": name, "kind": "netkit", "up": False, "mtu": 1500,
                "address": "00:00:00:00:00:00", "numrxqueues": 1, "netns": netns, "link": 0, "netkit": nk}
        link.update(extra)
        self.links[(netns, name)] = link
        return link

    def create(self, spec):
        self.calls.append(("create", spec))
        nk = {"primary": True, "policy": spec.get("policy", "pass"), "mode": spec.get("mode", "l3"),
              "headroom": spec.get("headroom", 0), "tailroom": spec.get("tailroom", 0),
              "pairing": spec.get("pairing", "pair")}
        if spec.get("lowerdev"):
            nk["lowerdev"] = dict(spec["lowerdev"])
        for key in self.ignore:
            nk[key] = {"pairing": "pair", "headroom": 0}.get(key)
        prim = self._new(spec["name"], None, nk, numrxqueues=spec.get("numrxqueues", 1),
                         address=spec.get("address", "00:00:00:00:00:00"))
        low = nk.get("lowerdev")
        if low and self.caps["leasing"]:
            # LOWERDEV built on leasing (kernel/netkit): the range becomes leases 1..n, or no device
            count = low["to"] - low["from"] + 1
            if nk["pairing"] != "single" or prim["numrxqueues"] < 1 + count or \
                    any(q in self.leases for q in range(low["from"], low["to"] + 1)):
                del self.links[(None, spec["name"])]
                raise NetlinkError(22, "Invalid argument", "netkit lowerdev refused")
            for n, queue in enumerate(range(low["from"], low["to"] + 1)):
                self.leases[queue] = {"ifindex": prim["ifindex"], "queue": n + self.first_lease_id, "netns_id": None}
        if nk["pairing"] == "pair":
            peer = spec.get("peer") or {}
            p = self._new(peer.get("name", "nk%d" % self.next_index), peer.get("netns"),
                          dict(nk, primary=False, policy=spec.get("peer_policy", "pass")), link=prim["ifindex"])
            prim["link"] = p["ifindex"]
            nk["peer_policy"] = spec.get("peer_policy", "pass")

    def _own(self, name, netns):
        # like NetkitKernel: a device that is not netkit is refused, never touched
        link = self.links.get((netns, name))
        if link is not None and link["kind"] != "netkit":
            raise ValidationError("name", "%s is a %s device, not netkit: left untouched" % (name, link["kind"]))

    def delete(self, name, netns=None):
        self._own(name, netns)
        self.calls.append(("delete", name))
        link = self.links.pop((netns, name), None)
        if link is None:
            return
        self.leases = dict((q, l) for q, l in self.leases.items() if l["ifindex"] != link["ifindex"])
        for key, other in list(self.links.items()):
            if other.get("link") == link["ifindex"] and other["kind"] == "netkit":
                del self.links[key]

    def change_policy(self, name, netns, policy=None, peer_policy=None):
        self.calls.append(("policy", name))
        nk = self.links[(netns, name)]["netkit"]
        if policy:
            nk["policy"] = policy
        if peer_policy:
            nk["peer_policy"] = peer_policy

    def setlink(self, name, netns, up=None, mtu=None, address=None):
        self.calls.append(("setlink", name))
        link = self.links[(netns, name)]
        for key, value in (("up", up), ("mtu", mtu), ("address", address)):
            if value is not None:
                link[key] = value

    def move(self, name, netns, to_netns):
        self.calls.append(("move", name, to_netns))
        if (to_netns, name) in self.links:
            raise NetlinkError(17, "File exists")
        link = self.links.pop((netns, name))
        link["netns"] = to_netns
        self.links[(to_netns, name)] = link

    def lease(self, name, device, queue):
        self.calls.append(("lease", name, queue))
        if self.fail_lease == queue:
            raise NetlinkError(16, "Device or resource busy", "Device queue in use by AF_XDP")
        link = self.links[(None, name)]
        used = len([l for l in self.leases.values() if l["ifindex"] == link["ifindex"]])
        qid = used + self.first_lease_id
        self.leases[queue] = {"ifindex": link["ifindex"], "queue": qid, "netns_id": None}
        return qid
