# SPDX-License-Identifier: GPL-3.0-or-later
"""The qemu arguments provision.yml writes, run by a real qemu on the lab node.

Debian's qemu packages have no AF_XDP backend, so the lab builds one (tests/lab/qemu/build.sh:
Debian's qemu 10.0 source with libxdp and the map-path options of qemu 10.1) and unpacks it on the
node. For two VMs, qemu runs with each VM's argument file as it is, and the kernel shows (ss --xdp,
xsk_diag) the sockets qemu opened: on the VM's netkit device and queue, owned by that qemu. Frames
sent from the wire to each VM's address, steered by its ntuple rule and context to its NIC queue
and redirected by the XDP program into the map slot qemu filled, reach that qemu: its filter-dump
(a pcap of what passes the VM's netdev) holds them, and only them. What the VMs send (their
firmware's DHCP requests) reaches the wire.

The qemu build takes about 6 minutes on this project's 2-core machine, once per recipe (cached), so
this is the extended tier."""

from __future__ import annotations

import json
import shlex
import struct
import subprocess
import time

import pytest
from conftest import LAB
from lab_frames import RX_LIMIT, netdev_options
from lab_play import ok, run, run_playbook

pytestmark = pytest.mark.extended

VMS = {"vm1": "10.0.0.2", "vm2": "10.0.0.3"}
FRAMES = 20  # UDP datagrams sent to each VM's address, one flow each


@pytest.fixture(scope="module")
def lab(lab_node):
    bundle = LAB.build_qemu()
    with open(bundle, "rb") as tarball:
        unpack = subprocess.run(lab_node.ssh_argv("rm -rf /opt/vmnet-qemu && mkdir -p /opt/vmnet-qemu && "
                                                  "tar -xz -C /opt/vmnet-qemu"), stdin=tarball,
                                capture_output=True, check=False)
    assert unpack.returncode == 0, unpack.stderr
    for book in ("teardown.yml", "provision.yml"):
        rc, out = run_playbook(lab_node, book)
        assert rc == 0, out[-4000:]
    yield lab_node
    stop_qemu(lab_node)
    run_playbook(lab_node, "teardown.yml")


def stop_qemu(node):
    node.ssh("for p in /run/vmnet-qemu-*.pid; do [ -e $p ] && kill $(cat $p); rm -f $p; done; true")


def start_qemu(node, vm):
    """qemu with VM's argument file as provision.yml wrote it, a pc machine without disks (its firmware
    finds nothing to boot and waits), and a filter-dump of the VM's netdev into /tmp/VM.pcap."""
    netdev = netdev_options(node, vm)["id"]
    node.sh("rm -f /tmp/{vm}.pcap; mapfile -t args </etc/vmnet-netkit/qemu/{vm}.args; "
            # vapic off: the lab's qemu carries no option ROMs beyond SeaBIOS and iPXE's virtio ROM
            "/opt/vmnet-qemu/qemu -machine pc -accel tcg -m 64 -nodefaults -display none -global apic-common.vapic=off "
            "-daemonize -pidfile /run/vmnet-qemu-{vm}.pid -object filter-dump,id=dump-{vm},netdev={netdev},"
            "file=/tmp/{vm}.pcap \"${{args[@]}}\"".format(vm=vm, netdev=netdev))
    return int(node.sh("cat /run/vmnet-qemu-%s.pid" % vm))


def pcap_frames(data):
    """A pcap file's bytes -> [(source MAC, IPv4 destination, UDP payload)] of its IPv4/UDP frames."""
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    frames, offset = [], 24
    while offset + 16 <= len(data):
        _sec, _frac, caplen, _len = struct.unpack(endian + "IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + caplen]
        offset += 16 + caplen
        if frame[12:14] == b"\x08\x00" and frame[23] == 17:
            udp = 14 + (frame[14] & 0x0F) * 4
            length = struct.unpack("!H", frame[udp + 4:udp + 6])[0]
            frames.append((frame[6:12].hex(":"), ".".join(str(b) for b in frame[30:34]),
                           frame[udp + 8:udp + length]))
    return frames


# Counts, on the wire, the frames whose source is one of the given MACs, until each has sent one or the
# limit; prints {mac: frames}.
WIRE_CAPTURE = r'''
import json, socket, sys, time
dev, macs, limit = sys.argv[1], sys.argv[2].split(","), float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
s.bind((dev, 0))
seen, end = dict((m, 0) for m in macs), time.monotonic() + limit
while min(seen.values()) == 0 and time.monotonic() < end:
    s.settimeout(max(0.01, end - time.monotonic()))
    try:
        src = s.recv(4096)[6:12].hex(":")
    except socket.timeout:
        break
    if src in seen:
        seen[src] += 1
print(json.dumps(seen))
'''


def vm_mac(node, vm):
    """The MAC of VM's virtio-net device, from its qemu arguments."""
    args = node.sh("cat /etc/vmnet-netkit/qemu/%s.args" % vm).splitlines()
    device = args[args.index("-device") + 1]
    return dict(opt.split("=", 1) for opt in device.split(",")[1:])["mac"]


@pytest.fixture(scope="module")
def qemus(lab):
    # the wire listens before the VMs start: their firmware's first DHCP requests are what they send
    macs = ",".join(vm_mac(lab, vm) for vm in VMS)
    lab.sh("rm -f /tmp/wire-capture.json; ip netns exec %s setsid -f python3 -c %s %s %s 300 "
           "</dev/null >/tmp/wire-capture.json 2>&1" % (lab.wire_netns, shlex.quote(WIRE_CAPTURE), lab.wire, macs))
    pids = dict((vm, start_qemu(lab, vm)) for vm in VMS)
    yield pids
    stop_qemu(lab)


def test_host_network_says_which_qemu_the_host_has_and_what_it_lacks(lab):
    """The qemu host_network finds on the node's PATH, read from the binary: the lab's build has
    -netdev af-xdp and map-path (a version 10.0 with the 10.1 options added: its version alone would
    say no); a binary without them is named in a warning. Check mode: nothing changes."""
    plan = json.loads(lab.sh("cat /var/lib/vmnet-netkit/plan.json"))
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    version = lab.sh("/opt/vmnet-qemu/qemu --version").split()[3]
    r = ok(run(lab, "host_network", {"plan": plan}, check=True,
               environment={"PATH": "/opt/vmnet-qemu/bin:" + path, "LD_LIBRARY_PATH": "/opt/vmnet-qemu/lib"}))
    assert r["qemu"] == {"binary": "/opt/vmnet-qemu/bin/qemu-system-x86_64", "version": version, "af_xdp": True,
                         "map_path": True}
    assert not [w for w in r.get("warnings") or [] if "af-xdp" in w]
    # a binary by that name without them (nothing of qemu's schema in it, no version line)
    lab.sh("mkdir -p /tmp/fake-qemu && cp /bin/true /tmp/fake-qemu/qemu-system-x86_64")
    r = ok(run(lab, "host_network", {"plan": plan}, check=True, environment={"PATH": "/tmp/fake-qemu:" + path}))
    assert r["qemu"] == {"binary": "/tmp/fake-qemu/qemu-system-x86_64", "version": None, "af_xdp": False,
                         "map_path": False}
    said = "/tmp/fake-qemu/qemu-system-x86_64 (qemu of unknown version) has no -netdev af-xdp"
    assert [w for w in r["warnings"] if w.startswith(said)]


def test_qemu_opens_its_sockets_on_the_vms_netkit_queues(lab, qemus):
    for vm, pid in qemus.items():
        opt = netdev_options(lab, vm)
        # the kernel's view of qemu's sockets: bound to the VM's netkit device, on its queues, owned by
        # the qemu process that runs the VM's arguments
        out = lab.sh("for i in $(seq 100); do ss --xdp -e -a -p | grep -q -F ' %s:q%s ' && break; sleep 0.2; done; "
                     "ss --xdp -e -a -p" % (opt["ifname"], opt["start-queue"]))
        blocks = []  # each socket: its line, then its tab-indented detail lines
        for line in out.splitlines():
            if line.startswith("\t") and blocks:
                blocks[-1] += line
            else:
                blocks.append(line)
        mine = [b for b in blocks if " %s:q%s " % (opt["ifname"], opt["start-queue"]) in b]
        assert len(mine) == int(opt["queues"]) == 1, out
        # owned by this VM's qemu; zero-copy, as qemu asks where the driver offers it (the lab NIC does)
        assert "pid=%d," % pid in mine[0] and ",zc:1," in mine[0], out


def test_frames_steered_to_each_vm_reach_its_qemu(lab, qemus):
    mac = lab.sh("cat /sys/class/net/%s/address" % lab.nic).strip()
    wire = "ip netns exec %s " % lab.wire_netns
    send = ("import socket, sys\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for addr in sys.argv[1:]:\n"
            "    for port in range(%d):\n"
            "        s.sendto(b'vmnet-qemu', (addr, 5000 + port))\n" % FRAMES)
    lab.sh("; ".join("%sip neigh replace %s lladdr %s dev %s nud permanent" % (wire, addr, mac, lab.wire)
                     for addr in VMS.values()))
    lab.sh("%spython3 -c %s %s" % (wire, shlex.quote(send), " ".join(VMS.values())))
    # qemu writes a frame to its dump as it takes it from the socket (the dump also holds what the VM's
    # firmware sends: DHCP); wait until each VM's qemu has taken frames from the wire
    deadline = time.monotonic() + RX_LIMIT
    while True:
        taken = dict((vm, taken_from_the_wire(lab, vm)) for vm in VMS)
        if all(taken.values()) or time.monotonic() > deadline:
            break
        time.sleep(1)
    for vm, addr in VMS.items():
        assert taken[vm], "%s's qemu took no frame from its socket" % vm
        assert set(taken[vm]) == {(addr, b"vmnet-qemu")} and len(taken[vm]) <= FRAMES, (vm, taken[vm])


def taken_from_the_wire(node, vm):
    """The IPv4/UDP frames in VM's dump that the VM did not send: [(destination, payload)]."""
    dump = subprocess.run(node.ssh_argv("cat /tmp/%s.pcap" % vm), capture_output=True, check=True).stdout
    own_mac = vm_mac(node, vm)
    return [(dst, payload) for src, dst, payload in pcap_frames(dump) if src != own_mac]


def test_what_each_vm_sends_reaches_the_wire(lab, qemus):
    """The VMs' own frames (their firmware's DHCP requests) leave through qemu's socket, the netkit
    device's queue and the NIC: the wire sees each VM's MAC as a source."""
    out = lab.sh("for i in $(seq 600); do [ -s /tmp/wire-capture.json ] && break; sleep 0.5; done; "
                 "cat /tmp/wire-capture.json")
    seen = json.loads(out)
    assert all(seen[vm_mac(lab, vm)] >= 1 for vm in VMS), seen
