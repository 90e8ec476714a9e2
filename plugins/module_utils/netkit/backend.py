# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The I/O seam for netkit devices: rtnetlink, netdev genl, sysfs and BTF reads.

Everything netkit_service needs from the host goes through ``NetkitKernel``; the unit
tests replace it with a fake.  Devices are addressed by (name, netns); netns None is
the namespace the module runs in.
"""

from __future__ import annotations

import os

from ansible_collections.vmnet.netkit.plugins.module_utils import fault_point
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import btf
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import caps as netkit_caps
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import rtnl as rt
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import core as nl
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import ValidationError
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink.netdev import NetdevGenl

BTF_PREFIXES = ("IFLA_NETKIT_",)


class NetkitKernel(object):

    def __init__(self):
        self._rtnl = {}
        self._netdev = None
        self._caps = None

    def close(self):
        for sock in self._rtnl.values():
            sock.close()
        if self._netdev is not None:
            self._netdev.close()

    def rtnl(self, netns=None):
        if netns not in self._rtnl:
            self._rtnl[netns] = rt.Rtnl(netns)
        return self._rtnl[netns]

    def netdev(self):
        if self._netdev is None:
            self._netdev = NetdevGenl()
        return self._netdev

    # ------------------------------------------------------------ reading

    def capabilities(self):
        if self._caps is None:
            constants = btf.read_enum_constants(BTF_PREFIXES)
            links = [] if constants is not None else self.rtnl().links(kind="netkit")
            self._caps = netkit_caps.capabilities(constants, links, self.netdev().leasing_supported(),
                                                  os.uname().release)
        return self._caps

    def attr_ids(self):
        return self.capabilities()["attributes"]

    def netns_exists(self, netns):
        return not netns or os.path.exists(nl.netns_path(netns))

    def link(self, name, netns=None):
        if not self.netns_exists(netns):
            return None
        link = self.rtnl(netns).link(name, self.attr_ids())
        if link is not None:
            link["netns"] = netns
        return link

    def link_by_index(self, ifindex, netns=None):
        link = self.rtnl(netns).link_by_index(ifindex, self.attr_ids())
        if link is not None:
            link["netns"] = netns
        return link

    def netkit_links(self, netns=None):
        out = self.rtnl(netns).links(kind="netkit", attr_ids=self.attr_ids())
        for link in out:
            link["netns"] = netns
        return out

    def process_cmdlines(self):
        """{pid: argv} of every process (a process that ends while read is left out)."""
        out = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    raw = f.read()
            except OSError:
                continue
            if raw:
                out[int(entry)] = raw.rstrip(b"\0").decode("utf-8", "replace").split("\0")
        return out

    def is_physical(self, device):
        """A device with a parent (bus) device: the kind that can lend queues."""
        return os.path.exists("/sys/class/net/%s/device" % device)

    def rx_queue_count(self, device, netns=None):
        """The device's real number of rx queues (its channels), from sysfs."""
        if netns:
            return None
        try:
            return len([q for q in os.listdir("/sys/class/net/%s/queues" % device) if q.startswith("rx-")])
        except OSError:
            return None

    def nic_leases(self, device):
        """{NIC rx queue: {"ifindex", "queue", "netns_id"}} for the NIC's leased queues.

        Read from the NIC's side, so it works wherever the netkit device lives; the
        kernel reports queues only of devices that are up (None otherwise).
        """
        link = self.link(device)
        if link is None or not link["up"]:
            return None
        return self.netdev().rx_leases(link["ifindex"])

    # ------------------------------------------------------------ changing

    def create(self, spec):
        """Create a netkit device per ``spec`` (keys of netlink.rtnl.netkit_data, plus netns names)."""
        spec = dict(spec)
        fds = []
        try:
            peer = spec.get("peer")
            if peer and peer.get("netns"):
                peer = dict(peer)
                peer["netns_fd"] = rt.netns_fd(peer["netns"])
                fds.append(peer["netns_fd"])
                spec["peer"] = peer
            self.rtnl().create(rt.build_newlink(spec, self.attr_ids()))
            fault_point.changed("create %s" % spec.get("name"))
        finally:
            for fd in fds:
                os.close(fd)

    def _own(self, name, netns):
        """The netkit device ``name``; anything else by that name is refused, never changed."""
        link = self.rtnl(netns).link(name, self.attr_ids())
        if link is not None and link.get("kind") != "netkit":
            raise ValidationError("name", "%s is a %s device, not netkit: left untouched" % (
                name, link.get("kind") or "kind-less (physical)"), value=name)
        return link

    def delete(self, name, netns=None):
        link = self._own(name, netns)
        if link is not None:
            self.rtnl(netns).delete(link["ifindex"])
            fault_point.changed("delete %s" % name)

    def change_policy(self, name, netns, policy=None, peer_policy=None):
        link = self._own(name, netns)
        self.rtnl(netns).change(rt.build_policy_change(link["ifindex"], policy, peer_policy, self.attr_ids()))
        fault_point.changed("policy of %s" % name)

    def setlink(self, name, netns, up=None, mtu=None, address=None):
        link = self._own(name, netns)
        self.rtnl(netns).setlink(rt.build_setlink(link["ifindex"], up=up, mtu=mtu, address=address))
        fault_point.changed("set %s" % name)

    def move(self, name, netns, to_netns):
        link = self._own(name, netns)
        fd = rt.netns_fd(to_netns) if to_netns else os.open("/proc/self/ns/net", os.O_RDONLY)
        try:
            self.rtnl(netns).setlink(rt.build_setlink(link["ifindex"], netns_fd=fd))
            fault_point.changed("move %s" % name)
        finally:
            os.close(fd)

    def lease(self, name, device, queue):
        """Lease rx ``queue`` of NIC ``device`` to netkit ``name`` (both here); -> netkit queue id."""
        nk = self._own(name, None)
        nic = self.rtnl().link(device)
        queue_id = self.netdev().queue_create(nk["ifindex"], nic["ifindex"], queue)
        fault_point.changed("lease %s queue %d to %s" % (device, queue, name))
        return queue_id
