// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * XDP program for the *physical* NIC whose rx queues are leased to netkit
 * devices (see README.md next to this file for build, load and attach).
 *
 * Why it exists: a netkit device refuses XDP programs, yet an AF_XDP socket
 * bound to one of its leased queues only receives the frames that an XDP
 * program on the lease source (the physical NIC) redirects into an XSKMAP.
 * The socket stays bound to the netkit device and its netkit queue id; the
 * kernel accepts the redirect because it maps that queue back to the leased
 * physical queue.
 *
 * Map semantics: `xsks` is indexed by the *physical* rx queue id
 * (ctx->rx_queue_index on the NIC), never by the netkit queue id.  qemu
 * fills the slots itself when started with
 *   -netdev af-xdp,...,inhibit=on,map-path=<pinned xsks>,
 *           map-start-index=<first physical queue of the VM>
 * One program and one map serve every VM on the NIC; each VM owns the slots
 * of the physical queues it leases.
 *
 * A queue whose slot holds no socket falls back to XDP_PASS (the flags
 * argument of bpf_redirect_map): queues that are not leased keep feeding the
 * host stack, and so does a leased queue while its VM is not running.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* 1024: the most rx queues a netkit device can have, and above any NIC's
 * queue count, so every physical queue id has a slot. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 1024);
	__type(key, __u32);	/* physical rx queue index */
	__type(value, __u32);	/* AF_XDP socket fd (on update) */
} xsks SEC(".maps");

SEC("xdp")
int xsk_redirect(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

/* A GPL-compatible license string, as the kernel expects of programs
 * attached to its networking code. */
char LICENSE[] SEC("license") = "GPL";
