# SPDX-License-Identifier: GPL-3.0-or-later
"""Frames on the lab's wire, to and from a VM's AF_XDP sockets, the way its qemu would open them.

A VM's sockets are opened by vmnet-xsk-bind (tests/lab/image/programs) with the options of the VM's
qemu ``-netdev af-xdp`` argument that provision.yml wrote: its netkit device, ``start-queue``,
``queues``, the pinned XSKMAP of ``map-path`` and ``map-start-index``. Each socket reports the mode
the kernel bound it in (XDP_OPTIONS: ``zerocopy`` or ``copy``), which these helpers check."""

from __future__ import annotations

import json
import shlex

# The longest an AF_XDP socket may wait for its frames. The wait ends as soon as the expected frames
# are in (plus a short settle for any that should not come), so this only bounds a failing case.
RX_LIMIT = 300
RX_SETTLE = 0.5
# The UDP port on wire0 that frames sent by a VM are addressed to.
TX_PORT = 6000
TX_LIMIT = 60

BIND_FLAG = {"zerocopy": "--zerocopy", "copy": "--copy"}


def reports(out):
    """The JSON reports vmnet-xsk-bind printed (one line each) among other output."""
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def netdev_options(node, vm):
    """The options of VM's qemu -netdev af-xdp argument, from the file provision.yml wrote."""
    args = node.sh("cat /etc/vmnet-netkit/qemu/%s.args" % vm).splitlines()
    netdev = args[args.index("-netdev") + 1]
    assert netdev.startswith("af-xdp,"), netdev
    return dict(opt.split("=", 1) for opt in netdev.split(",")[1:])


def frames_to_vm(node, vm, own, others=None, mode="zerocopy"):
    """Open one AF_XDP socket per queue of VM as qemu does with its arguments (ifname, start-queue,
    map-path, map-start-index), bound in MODE (zerocopy or copy; each socket must report that mode),
    send from the wire into the lab NIC first the frames of OTHERS and then those of OWN ({address:
    number of UDP flows, one frame each}), and wait until the sockets counted as many frames as OWN
    holds (then RX_SETTLE more, for frames that should not come); -> the frames each socket received,
    in queue order."""
    opt = netdev_options(node, vm)
    queues, start, slot = int(opt["queues"]), int(opt["start-queue"]), int(opt["map-start-index"])
    mac = node.sh("cat /sys/class/net/%s/address" % node.nic).strip()
    wire = "ip netns exec %s " % node.wire_netns
    flows = list((others or {}).items()) + list(own.items())
    expect = sum(own.values())
    sockets = ["vmnet-xsk-bind %s --map %s --key %d --wait-rx %d --progress /tmp/xsk%d.count %s %d "
               ">/tmp/xsk%d.json 2>/tmp/xsk%d.err & pids=\"$pids $!\""
               % (BIND_FLAG[mode], opt["map-path"], slot + q, RX_LIMIT, q, opt["ifname"], start + q, q, q)
               for q in range(queues)]
    neigh = ["%sip neigh replace %s lladdr %s dev %s nud permanent" % (wire, addr, mac, node.wire)
             for addr, _n in flows]
    send = ("import socket, sys\n"
            "for addr, n in zip(sys.argv[1::2], sys.argv[2::2]):\n"
            "    s = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET, socket.SOCK_DGRAM)\n"
            "    for port in range(int(n)):\n"
            "        s.sendto(b'vmnet', (addr, 5000 + port))\n")
    deadline = "end=$(( $(date +%%s) + %d ))" % RX_LIMIT
    script = "\n".join(
        ["rm -f /tmp/xsk*.json /tmp/xsk*.err /tmp/xsk*.count", "pids="] + sockets + neigh +
        [deadline,
         # every socket bound and in the map before the first frame is sent
         "until [ $(cat /tmp/xsk*.err | grep -c 'counting frames') = %d ]; do" % queues,
         "  [ $(date +%s) -lt $end ] || { echo 'sockets not bound' >&2; cat /tmp/xsk*.err >&2; kill $pids; exit 1; }",
         "  sleep 0.1; done",
         "%spython3 -c %s %s" % (wire, shlex.quote(send), " ".join("%s %d" % (addr, n) for addr, n in flows)),
         "until [ $(cat /tmp/xsk*.count | awk '{s += $1} END {print s + 0}') -ge %d ]; do" % expect,
         "  [ $(date +%s) -lt $end ] || break; sleep 0.1; done",
         "sleep %s" % RX_SETTLE, "kill -TERM $pids", "wait",
         "cat /tmp/xsk*.err >&2", "cat /tmp/xsk*.json"])
    out = node.sh(script)
    bound = reports(out)
    assert len(bound) == queues and all(r["bound"] for r in bound), out
    assert [r["mode"] for r in bound] == [mode] * queues, out
    return [r["rx_frames"] for r in bound]


# Builds one Ethernet/IPv4/UDP frame (IPv4 header checksum computed, UDP checksum 0 as IPv4 allows).
UDP_FRAME = r'''
import socket, struct, sys
dst_mac, src_mac, src, dst, port, path = sys.argv[1:7]
payload = b"vmnet-tx"
udp = struct.pack("!HHHH", 7000, int(port), 8 + len(payload), 0) + payload
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
csum = sum(struct.unpack("!10H", ip))
csum = (csum >> 16) + (csum & 0xFFFF)
ip = ip[:10] + struct.pack("!H", ~(csum + (csum >> 16)) & 0xFFFF) + ip[12:]
eth = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", "")) + b"\x08\x00"
open(path, "wb").write(eth + ip + udp)
'''

# Counts the datagrams with the payload b"vmnet-tx" that reach ADDR:PORT (a UDP socket on wire0, or on the
# node), until N or the limit.
UDP_COUNT = r'''
import socket, sys, time
addr, port, n, limit, ready = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port))
open(ready, "w").close()
end, got = time.monotonic() + limit, 0
while got < n and time.monotonic() < end:
    s.settimeout(max(0.01, end - time.monotonic()))
    try:
        got += s.recv(2048) == b"vmnet-tx"
    except socket.timeout:
        break
print(got)
'''


def frames_from_vm(node, vm, src, count, mode="zerocopy", wait=TX_LIMIT):
    """Send COUNT UDP frames from SRC (VM's address) to the wire's 10.0.0.1 through an AF_XDP socket
    on VM's first queue, bound in MODE as its qemu would; count what reaches a UDP socket on the wire
    (at most WAIT seconds); -> (the socket's report, datagrams the wire received)."""
    opt = netdev_options(node, vm)
    wire_mac = node.sh("ip netns exec %s cat /sys/class/net/%s/address" % (node.wire_netns, node.wire)).strip()
    vm_mac = node.sh("cat /sys/class/net/%s/address" % opt["ifname"]).strip()
    script = "\n".join([
        "rm -f /tmp/tx.frame /tmp/tx.ready /tmp/tx.count",
        "python3 -c %s %s %s %s 10.0.0.1 %d /tmp/tx.frame" % (shlex.quote(UDP_FRAME), wire_mac, vm_mac, src, TX_PORT),
        "ip netns exec %s python3 -c %s 10.0.0.1 %d %d %d /tmp/tx.ready >/tmp/tx.count & pid=$!"
        % (node.wire_netns, shlex.quote(UDP_COUNT), TX_PORT, count, wait),
        "until [ -e /tmp/tx.ready ]; do sleep 0.05; done",
        "vmnet-xsk-bind %s --send /tmp/tx.frame --count %d %s %s"
        % (BIND_FLAG[mode], count, opt["ifname"], opt["start-queue"]),
        "wait $pid", "echo received $(cat /tmp/tx.count)"])
    out = node.sh(script)
    report = reports(out)[0]
    assert report["bound"] and report["mode"] == mode, out
    return report, int(out.split("received ")[-1])


def socket_as_the_kernel_sees_it(node, ifname, queue, mode=None):
    """Bind an AF_XDP socket to IFNAME queue QUEUE (in MODE, or with qemu's default flags: zero-copy
    where the driver offers it) and read it back, while it is bound, the way the kernel reports it
    (``ss --xdp -e``, xsk_diag); -> the fields of its umem line ({"ifindex", "qid", "zc", ...}) and
    the socket's own report."""
    flag = BIND_FLAG[mode] if mode else ""
    script = "\n".join([
        "rm -f /tmp/diag.json /tmp/diag.err",
        "vmnet-xsk-bind %s --wait-rx 60 %s %d >/tmp/diag.json 2>/tmp/diag.err & pid=$!" % (flag, ifname, queue),
        "end=$(( $(date +%s) + 60 ))",
        "until grep -q 'counting frames' /tmp/diag.err; do",
        "  kill -0 $pid 2>/dev/null && [ $(date +%s) -lt $end ] || { cat /tmp/diag.err >&2; exit 1; }",
        "  sleep 0.1; done",
        "ss --xdp -e -a | grep -A8 -F ' %s:q%d '" % (ifname, queue),
        "kill -TERM $pid; wait $pid; cat /tmp/diag.json"])
    out = node.sh(script)
    umem = [line.strip() for line in out.splitlines() if line.strip().startswith("umem(")]
    assert len(umem) == 1, out
    fields = dict(kv.split(":", 1) for kv in umem[0][len("umem("):-1].split(","))
    report = reports(out)[0]
    return fields, report
