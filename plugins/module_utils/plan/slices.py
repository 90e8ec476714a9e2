# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The slice planner: a host's NIC and VMs in, queue ranges, contexts, rules, netkit devices out.

Pure functions (the ``slice_plan`` filter runs them on the controller).  Stability is the
point: a VM found in the previous plan keeps its queues, MAC and allocated addresses,
so adding or removing a VM never moves another one.  Every error is a ValidationError
in the inventory's terms (``vms[2].queues``, ``host_queues``, ...).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

from ansible_collections.vmnet.netkit.plugins.module_utils.errors import ValidationError

VM_KEYS = ("name", "queues", "addresses", "mac")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NETKIT_PREFIX = "nk-"
IFNAMSIZ = 16
MAX_NAME = IFNAMSIZ - 1 - len(NETKIT_PREFIX)
MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


def _int(option, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value))
        except ValueError:
            raise ValidationError(option, "must be a whole number, not %r" % (value,), value=value)
    if value < minimum:
        raise ValidationError(option, "must be at least %d, not %d" % (minimum, value), value=value)
    return value


POOL_KEYS = ("network", "range", "exclude")
SPAN_FORMS = "an address, a range FIRST-LAST or a network in CIDR form"


class Pool:
    """One of the host's VM subnets: the network a VM's addresses must lie in, and the addresses the
    planner gives VMs from it.  Those are the pool's range (by default the network less its network
    address and first host, the gateway) less its exclusions, never the network address or the IPv4
    broadcast address; kept as sorted, disjoint ``(first, last)`` integer intervals."""

    def __init__(self, option, network, free, excluded):
        self.option = option
        self.network = network
        self.version = network.version
        self.free = free
        self.excluded = excluded  # [(first, last, the text the user gave)]

    def __str__(self):
        return str(self.network)

    def describe(self):
        """The pool's option, network and the addresses it allocates, for messages."""
        parts = [str(self.network)]
        if self.free:
            parts.append("allocating %s" % ", ".join(_span_text(self.version, lo, hi) for lo, hi in self.free))
        return "%s (%s)" % (self.option, "; ".join(parts))

    def exclusion_of(self, ip):
        for lo, hi, text in self.excluded:
            if lo <= int(ip) <= hi:
                return text
        return None

    def allocatable(self, ip):
        return ip.version == self.version and any(lo <= int(ip) <= hi for lo, hi in self.free)

    def first_free(self, taken):
        """The lowest allocatable address not in TAKEN; each step past a taken address, so this ends
        after at most len(TAKEN) + 1 steps per interval, however large the network."""
        for lo, hi in self.free:
            value = lo
            while value <= hi:
                ip = _address(self.version, value)
                if ip not in taken:
                    return ip
                value += 1
        return None


def _address(version, value):
    # ipaddress.ip_address(int) would make every value below 2**32 an IPv4 address
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


def _span_text(version, lo, hi):
    return str(_address(version, lo)) if lo == hi else "%s-%s" % (_address(version, lo), _address(version, hi))


def _span(option, text, network):
    """An address, a range FIRST-LAST or a CIDR network inside NETWORK -> (first, last) as integers."""
    if not isinstance(text, str):
        raise ValidationError(option, "%r is not %s" % (text, SPAN_FORMS), value=text,
                              allowed="%s inside %s" % (SPAN_FORMS, network))
    try:
        if "-" in text:
            first, last = (ipaddress.ip_address(part.strip()) for part in text.split("-", 1))
        elif "/" in text:
            sub = ipaddress.ip_network(text.strip(), strict=True)
            first, last = sub.network_address, sub.broadcast_address
        else:
            first = last = ipaddress.ip_address(text.strip())
    except ValueError as err:
        raise ValidationError(option, "%r is not %s (%s)" % (text, SPAN_FORMS, err), value=text,
                              allowed="%s inside %s" % (SPAN_FORMS, network))
    if first.version != network.version or last.version != network.version \
            or first not in network or last not in network:
        raise ValidationError(option, "%s is not inside %s" % (text, network), value=text,
                              allowed="%s inside %s" % (SPAN_FORMS, network))
    if int(first) > int(last):
        raise ValidationError(option, "%s starts after it ends" % text, value=text,
                              allowed="FIRST-LAST with FIRST at most LAST")
    return int(first), int(last)


def _subtract(intervals, lo, hi):
    out = []
    for a, b in intervals:
        if b < lo or a > hi:
            out.append((a, b))
            continue
        if a < lo:
            out.append((a, lo - 1))
        if b > hi:
            out.append((hi + 1, b))
    return out


def _network(option, text):
    try:
        return ipaddress.ip_network(str(text), strict=True)
    except ValueError as err:
        raise ValidationError(option, "%r is not a network in CIDR form (%s)" % (text, err), value=text,
                              allowed="a network like 10.0.0.0/24 or fd00:10::/64, host bits zero")


def _pool(n, entry):
    option = "subnets[%d]" % n
    if isinstance(entry, dict):
        unknown = sorted(set(entry) - set(POOL_KEYS))
        if unknown:
            raise ValidationError(option, "unknown key(s) %s" % ", ".join(unknown), value=unknown,
                                  allowed=", ".join(POOL_KEYS))
        if entry.get("network") is None:
            raise ValidationError(option + ".network", "a pool needs its network", value=None,
                                  allowed="a network in CIDR form")
        network = _network(option + ".network", entry["network"])
        given_range = entry.get("range")
        exclude = entry.get("exclude") or []
        if not isinstance(exclude, list):
            raise ValidationError(option + ".exclude", "must be a list of addresses, ranges or networks",
                                  value=exclude, allowed="a list, each %s inside %s" % (SPAN_FORMS, network))
    else:
        network = _network(option, entry)
        given_range, exclude = None, []
    first, last = int(network.network_address), int(network.broadcast_address)
    if given_range is None:
        # the network address and the first host (the gateway) are never given; a /31 or /32 gives nothing
        free = [(first + 2, last)] if first + 2 <= last else []
    else:
        free = [_span(option + ".range", given_range, network)]
    free = _subtract(free, first, first)
    if network.version == 4:
        free = _subtract(free, last, last)
    excluded = []
    for m, text in enumerate(exclude):
        lo, hi = _span("%s.exclude[%d]" % (option, m), text, network)
        excluded.append((lo, hi, str(text)))
        free = _subtract(free, lo, hi)
    return Pool(option, network, free, excluded)


def _subnets(subnets):
    subnets = [] if subnets is None else subnets
    if not isinstance(subnets, (list, tuple)):
        raise ValidationError("subnets", "must be a list of networks or pools", value=subnets,
                              allowed="CIDR networks, or {network, range, exclude}")
    out = []
    for n, entry in enumerate(subnets):
        pool = _pool(n, entry)
        for m, other in enumerate(out):
            # one address would belong to two pools: the plan could not say which subnet a VM is in
            if pool.version == other.version and pool.network.overlaps(other.network):
                raise ValidationError("subnets[%d]" % n, "%s overlaps subnets[%d] (%s); give each address pool once"
                                      % (pool, m, other), value=str(pool.network),
                                      allowed="networks that do not overlap")
        out.append(pool)
    return out


def _vms(vms, subnets):
    if not isinstance(vms, list):
        raise ValidationError("vms", "must be a list of VMs ({name, queues, addresses, mac})", value=vms)
    out = []
    names, addrs, macs = {}, {}, {}
    for n, vm in enumerate(vms):
        opt = "vms[%d]" % n
        if not isinstance(vm, dict):
            raise ValidationError(opt, "must be a dict with name, queues, addresses, mac", value=vm)
        unknown = sorted(set(vm) - set(VM_KEYS))
        if unknown:
            raise ValidationError(opt, "unknown key(s) %s" % ", ".join(unknown), value=unknown,
                                  allowed=", ".join(VM_KEYS))
        name = vm.get("name")
        if not name or not isinstance(name, str):
            raise ValidationError(opt + ".name", "every VM needs a name", value=name)
        if len(name) > MAX_NAME or not NAME_RE.match(name):
            raise ValidationError(opt + ".name", "%r cannot name an interface: its netkit device %s%s must fit "
                                  "15 characters, so VM names have 1 to %d letters, digits, '_', '.' or '-'"
                                  % (name, NETKIT_PREFIX, name, MAX_NAME), value=name)
        if name in names:
            raise ValidationError(opt + ".name", "VM %r is listed twice (vms[%d] and vms[%d])" % (name, names[name], n),
                                  value=name)
        names[name] = n
        if vm.get("queues") is None:
            # No default: how much of the NIC a VM gets is the user's call, not the planner's.
            raise ValidationError(opt + ".queues", "VM %s has no queues; every VM needs its own NIC queues"
                                  % name, value=None, allowed="a whole number, at least 1")
        queues = _int(opt + ".queues", vm["queues"], 1)
        given = []
        for addr in vm.get("addresses") or []:
            try:
                ip = ipaddress.ip_address(str(addr).split("/", maxsplit=1)[0])
            except ValueError:
                raise ValidationError(opt + ".addresses", "%r is not an IPv4 or IPv6 address" % (addr,), value=addr)
            if ip in addrs:
                raise ValidationError(opt + ".addresses", "%s is given to both %s and %s" % (ip, addrs[ip], name),
                                      value=str(ip))
            addrs[ip] = name
            if subnets:
                home = [s for s in subnets if s.version == ip.version and ip in s.network]
                if not home:
                    raise ValidationError(opt + ".addresses", "%s is outside the host's VM subnets (%s)" % (
                        ip, ", ".join(str(s) for s in subnets)), value=str(ip))
                if ip == home[0].network.network_address:
                    raise ValidationError(opt + ".addresses", "%s is the network address of %s" % (ip, home[0]),
                                          value=str(ip))
                excluded = home[0].exclusion_of(ip)
                if excluded is not None:
                    raise ValidationError(opt + ".addresses", "%s is excluded from %s (%s.exclude: %s)" % (
                        ip, home[0], home[0].option, excluded), value=str(ip),
                        allowed="an address of %s outside its exclusions" % home[0])
            given.append(ip)
        mac = vm.get("mac")
        if mac is not None:
            if not MAC_RE.match(str(mac)) or int(str(mac)[:2], 16) & 1:
                raise ValidationError(opt + ".mac", "%r is not a unicast MAC address like 52:54:00:12:34:56" % (mac,),
                                      value=mac)
            mac = str(mac).lower()
            if mac in macs:
                raise ValidationError(opt + ".mac", "%s is given to both %s and %s" % (mac, macs[mac], name), value=mac)
            macs[mac] = name
        out.append({"name": name, "queues": queues, "given": given, "mac": mac})
    return out


def default_mac(device, name):
    digest = hashlib.sha256(("%s/%s" % (device, name)).encode()).digest()
    return "52:54:00:%02x:%02x:%02x" % (digest[0], digest[1], digest[2])


def _free_ranges(used, first, last):
    out = []
    start = None
    for q in range(first, last + 1):
        if q in used:
            if start is not None:
                out.append([start, q - 1])
                start = None
        elif start is None:
            start = q
    if start is not None:
        out.append([start, last])
    return out


def _assign_queues(vms, previous, channels, host_queues):
    prev = (previous or {}).get("vms") or {}
    used = set()
    ranges = {}
    for vm in vms:
        old = (prev.get(vm["name"]) or {}).get("queues")
        if not old or old[1] - old[0] + 1 != vm["queues"]:
            continue
        if old[0] < host_queues:
            taken = (host_queues, old[0], min(old[1], host_queues - 1), vm["name"])
            raise ValidationError("host_queues", "%d would take queue(s) %d..%d of VM %s; lower host_queues or move "
                                  "the VM (remove it and add it again)" % taken, value=host_queues)
        if old[1] >= channels:
            raise ValidationError("queues", "%d channels would cut off queues %d..%d of VM %s" % (
                channels, old[0], old[1], vm["name"]), value=channels)
        ranges[vm["name"]] = list(old)
        used.update(range(old[0], old[1] + 1))
    for vm in vms:
        if vm["name"] in ranges:
            continue
        for start, end in _free_ranges(used, host_queues, channels - 1):
            if end - start + 1 >= vm["queues"]:
                ranges[vm["name"]] = [start, start + vm["queues"] - 1]
                used.update(range(start, start + vm["queues"]))
                break
        else:
            need = sum(v["queues"] for v in vms)
            free = channels - host_queues
            raise ValidationError("vms", "VM %s needs %d contiguous queue(s) and none are free: the VMs need %d queues "
                                  "but only %d exist for VMs (queues %d..%d of %d); raise queues, lower host_queues "
                                  "or give VMs fewer queues" % (vm["name"], vm["queues"], need, free, host_queues,
                                                                channels - 1, channels), value=need)
    return ranges, used


def _allocate_addresses(vms, previous, subnets):
    prev = (previous or {}).get("vms") or {}
    taken = set()
    for vm in vms:
        taken.update(vm["given"])
    result = dict((vm["name"], list(vm["given"])) for vm in vms)
    wanting = []  # (VM name, pool) still without an address
    # First every VM keeps the address its previous plan gave it, if the pool still allocates it (a new
    # range or exclusion gives it up), so that no VM's new address can take another VM's kept one.
    for vm in vms:
        for pool in subnets:
            if any(a.version == pool.version for a in result[vm["name"]]):
                continue
            for old in (prev.get(vm["name"]) or {}).get("addresses") or []:
                ip = ipaddress.ip_address(old)
                if pool.allocatable(ip) and ip not in taken:
                    taken.add(ip)
                    result[vm["name"]].append(ip)
                    break
            else:
                wanting.append((vm["name"], pool))
    for name, pool in wanting:
        ip = pool.first_free(taken)
        if ip is None:
            raise ValidationError(pool.option, "no free address left in %s for VM %s" % (pool.describe(), name),
                                  value=str(pool.network),
                                  allowed="a larger network or range, fewer exclusions, or addresses given to VMs")
        taken.add(ip)
        result[name].append(ip)
    return result


def _macs(vms, prev, device):
    """Each VM's MAC: given, else the one its previous plan gave it, else derived from the NIC and its
    name. A derived or kept MAC can equal another VM's (a MAC given later, or 24 bits of hash alike):
    two VMs with one MAC on one host would take each other's frames, so that is an error."""
    out, owner = {}, {}
    for n, vm in enumerate(vms):
        name = vm["name"]
        kept = (prev.get(name) or {}).get("mac")
        mac = vm["mac"] or kept or default_mac(device, name)
        if mac in owner:
            how = "given" if vm["mac"] else ("kept from the previous plan" if kept else "derived from %s/%s" % (device, name))
            raise ValidationError("vms[%d].mac" % n, "VM %s's MAC %s (%s) is also VM %s's; give one of them another mac"
                                  % (name, mac, how, owner[mac]), value=mac,
                                  allowed="a unicast MAC no other VM of the host has")
        owner[mac] = name
        out[name] = mac
    return out


def plan(vms, device, queues, host_queues, subnets=None, previous=None):
    """-> the plan dict (see docs/planning.md)."""
    if not device or not isinstance(device, str):
        raise ValidationError("device", "the NIC's name is required", value=device)
    channels = _int("queues", queues, 2)
    host_queues = _int("host_queues", host_queues, 1)
    if host_queues >= channels:
        raise ValidationError("host_queues", "%d leaves no queue for VMs out of %d; it must be below queues" % (
            host_queues, channels), value=host_queues, allowed="1..%d" % (channels - 1))
    nets = _subnets(subnets)
    if previous and previous.get("device") not in (None, device):
        previous = None  # a plan for another NIC says nothing about this one
    parsed = _vms(vms, nets)
    ranges, used = _assign_queues(parsed, previous, channels, host_queues)
    addresses = _allocate_addresses(parsed, previous, nets)
    prev = (previous or {}).get("vms") or {}
    macs = _macs(parsed, prev, device)
    out_vms = {}
    for vm in parsed:
        name = vm["name"]
        first, last = ranges[name]
        count = last - first + 1
        addrs = sorted(addresses[name], key=lambda a: (a.version, a))
        mac = macs[name]
        rules = [{"flow_type": "ip4" if a.version == 4 else "ip6", "dst_ip": str(a), "context": name} for a in addrs]
        out_vms[name] = {
            "name": name, "queues": [first, last], "queue_count": count, "context": name,
            "rss_context": {"name": name, "start": first, "equal": count},
            "addresses": [str(a) for a in addrs], "rules": rules, "mac": mac,
            "netkit": {"name": NETKIT_PREFIX + name, "pairing": "single", "mode": "l2", "numrxqueues": count + 1,
                       "lower": {"device": device, "queues": [first, last]}},
            "qemu": {"netdev_id": "net-" + name, "ifname": NETKIT_PREFIX + name, "queues": count, "start_queue": 1,
                     "map_start_index": first, "mac": mac},
        }
    ordered = sorted(out_vms.values(), key=lambda v: v["queues"])
    return {
        "device": device, "channels": channels, "host_queues": host_queues,
        "default_table": {"start": 0, "equal": host_queues},
        "vms": out_vms,
        "contexts": [v["rss_context"] for v in ordered],
        "rules": [r for v in ordered for r in v["rules"]],
        "free_queues": _free_ranges(used, host_queues, channels - 1),
    }


def qemu_netdev(vm, map_path=None, mode="native", force_copy=False, device_model="virtio-net-pci"):
    """A plan VM entry -> qemu argv ["-netdev", "af-xdp,...", "-device", "..."]."""
    q = (vm or {}).get("qemu") if isinstance(vm, dict) else None
    if not q or not all(k in q for k in ("netdev_id", "ifname", "queues", "start_queue", "mac")):
        raise ValidationError("qemu_netdev", "the input must be one VM of a slice_plan result (with its qemu entry)",
                              value=vm)
    if mode not in ("native", "skb"):
        raise ValidationError("mode", "must be native or skb", value=mode, allowed="native, skb")
    netdev = ["af-xdp", "id=%s" % q["netdev_id"], "ifname=%s" % q["ifname"], "mode=%s" % mode,
              "queues=%d" % q["queues"], "start-queue=%d" % q["start_queue"]]
    if force_copy:
        netdev.append("force-copy=on")
    if map_path:
        netdev += ["inhibit=on", "map-path=%s" % map_path, "map-start-index=%d" % q["map_start_index"]]
    device = [device_model, "netdev=%s" % q["netdev_id"], "mac=%s" % q["mac"]]
    if q["queues"] > 1:
        device += ["mq=on", "vectors=%d" % (2 * q["queues"] + 2)]
    return ["-netdev", ",".join(netdev), "-device", ",".join(device)]


def xml_attr(value):
    """``value`` as a quoted XML attribute, byte for byte what ``xml.sax.saxutils.quoteattr`` gives
    (importing that module costs a module run about 0.2 s under emulation: it pulls in urllib)."""
    value = value.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
    value = value.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    if '"' not in value:
        return '"%s"' % value
    if "'" not in value:
        return "'%s'" % value
    return '"%s"' % value.replace('"', "&quot;")


def qemu_libvirt(argv):
    """qemu arguments -> the libvirt ``<qemu:commandline>`` snippet that passes them."""
    lines = ["<qemu:commandline>"] + ["  <qemu:arg value=%s/>" % xml_attr(a) for a in argv]
    return "\n".join(lines + ["</qemu:commandline>"])
