// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * vmnet-xsk-bind: open one AF_XDP socket on IFNAME queue QUEUE_ID, the way
 * qemu's `-netdev af-xdp` does, and report what the kernel did.
 *
 * The lab uses it to check queue leasing without qemu: a socket binds to a
 * netkit device's leased queue (copy or zero-copy, or EBUSY when the queue is
 * taken), it can be put into the pinned XSKMAP of the physical NIC's XDP
 * program, and it can count the frames that program redirects to it.
 *
 * Only raw syscalls and the kernel's UAPI headers: the lab image needs no
 * libxdp, and the program shows every step a real user goes through.
 *
 * usage: vmnet-xsk-bind [--copy | --zerocopy] [--map PATH --key N]
 *                       [--send FILE --count N]
 *                       [--wait-rx SECONDS [--progress FILE]] IFNAME QUEUE_ID
 *
 * --wait-rx counts received frames for at most SECONDS; SIGTERM or SIGINT
 * ends the count early (what is in the ring is still counted) and the report
 * follows, so a caller that knows how many frames to expect stops waiting as
 * soon as they are in.  --progress keeps the running count in FILE (one
 * fixed-width decimal line, rewritten in place) for such a caller to watch.
 *
 * --send puts the frame in FILE (raw bytes from the Ethernet header on) on
 * the socket's tx ring N times, as a VM's transmit does, and waits until the
 * kernel completed them ("tx_completed"; at most 5 s).  It comes before
 * --wait-rx.
 *
 * stdout: one JSON object, on success
 *   {"bound": true, "ifname": .., "ifindex": .., "queue": .., "mode":
 *    "copy"|"zerocopy", "map_key": N|null, "rx_frames": N|null,
 *    "tx_completed": N|null, "rx_dropped": N, "rx_ring_full": N,
 *    "rx_fill_ring_empty": N}
 * and on failure
 *   {"bound": false, "step": "bind", "errno": 16, "error": "Device or resource busy"}
 * plus "vmnet-xsk-bind: STEP: strerror" on stderr.  Exit status: 0 bound,
 * 1 a system call failed, 2 bad usage.
 *
 * Without --wait-rx the socket is closed right after the report.  The kernel
 * frees its buffer pool from a work item, so the queue answers EBUSY for a
 * few tens of milliseconds after a close: callers binding the same queue
 * again must allow for that.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/if_xdp.h>

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

/* Small on purpose: the lab node is a TCG guest with little memory.  Ring
 * sizes must be powers of two; every frame can sit in the fill ring. */
#define FRAME_SIZE 4096u
#define NUM_FRAMES 512u
#define RING_SIZE 512u
/* The UMEM holds NUM_FRAMES for receiving (all in the fill ring) and as many
 * after them for --send. */
#define UMEM_FRAMES (2 * NUM_FRAMES)
#define TX_WAIT_S 5.0

struct ring {
	uint32_t *producer;
	uint32_t *consumer;
	void *desc;
	uint32_t mask;
};

static const char *prog = "vmnet-xsk-bind";
static volatile sig_atomic_t stop_counting;

static void on_stop(int sig)
{
	(void)sig;
	stop_counting = 1;
}

/* The running count, fixed width so a reader never sees a shorter, stale tail. */
static void write_progress(int fd, uint64_t frames)
{
	char line[32];
	int n;

	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%20llu\n", (unsigned long long)frames);
	if (pwrite(fd, line, (size_t)n, 0) != n)
		fprintf(stderr, "%s: progress: %s\n", prog, strerror(errno));
}

/* Print a JSON string; interface names are user-chosen and may hold quotes. */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int fail(const char *step)
{
	int err = errno;

	fprintf(stderr, "%s: %s: %s\n", prog, step, strerror(err));
	printf("{\"bound\": false, \"step\": ");
	json_str(step);
	printf(", \"errno\": %d, \"error\": ", err);
	json_str(strerror(err));
	printf("}\n");
	return 1;
}

static int usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "%s: %s\n", prog, msg);
	fprintf(stderr,
		"usage: %s [--copy | --zerocopy] [--map PATH --key N] [--send FILE --count N] "
		"[--wait-rx SECONDS [--progress FILE]] IFNAME QUEUE_ID\n",
		prog);
	return 2;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || v > UINT32_MAX || s[0] == '-')
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

/* Put the socket into slot KEY of a pinned XSKMAP: what qemu does itself
 * with map-path= and map-start-index=. */
static int map_insert(const char *path, uint32_t key, int xsk)
{
	union bpf_attr attr;
	int map_fd, saved;
	uint32_t value = (uint32_t)xsk;

	memset(&attr, 0, sizeof(attr));
	attr.pathname = (uint64_t)(uintptr_t)path;
	map_fd = (int)sys_bpf(BPF_OBJ_GET, &attr);
	if (map_fd < 0)
		return fail("bpf(BPF_OBJ_GET)");

	memset(&attr, 0, sizeof(attr));
	attr.map_fd = (uint32_t)map_fd;
	attr.key = (uint64_t)(uintptr_t)&key;
	attr.value = (uint64_t)(uintptr_t)&value;
	attr.flags = BPF_ANY;
	if (sys_bpf(BPF_MAP_UPDATE_ELEM, &attr) < 0) {
		saved = errno;
		close(map_fd);
		errno = saved;
		return fail("bpf(BPF_MAP_UPDATE_ELEM)");
	}
	/* The map keeps its own reference on the socket, not on this fd. */
	close(map_fd);
	return 0;
}

static void *map_ring(int fd, const struct xdp_ring_offset *off, size_t desc_size,
		      off_t pgoff, struct ring *r)
{
	size_t len = off->desc + RING_SIZE * desc_size;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);

	if (p == MAP_FAILED)
		return NULL;
	r->producer = (uint32_t *)(p + off->producer);
	r->consumer = (uint32_t *)(p + off->consumer);
	r->desc = p + off->desc;
	r->mask = RING_SIZE - 1;
	return p;
}

/* Hand frames to the kernel.  The producer index is published with release
 * semantics so the kernel sees the addresses before the new index. */
static void fill_put(struct ring *fq, const uint64_t *addrs, uint32_t n)
{
	uint32_t prod = *fq->producer;
	uint64_t *slots = fq->desc;
	uint32_t i;

	for (i = 0; i < n; i++)
		slots[(prod + i) & fq->mask] = addrs[i];
	__atomic_store_n(fq->producer, prod + n, __ATOMIC_RELEASE);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Count frames until the deadline: take descriptors off the rx ring and give
 * their frames straight back through the fill ring, as a VM would. */
static uint64_t count_rx(int fd, struct ring *rx, struct ring *fq, double seconds, int progress)
{
	double end = now() + seconds;
	uint64_t frames = 0;
	int last = 0;

	write_progress(progress, 0);
	for (;;) {
		double left = end - now();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint32_t cons, prod, i;
		uint64_t addrs[RING_SIZE];

		if (last)
			break;
		/* Out of time or told to stop: one last look at the ring. */
		if (left <= 0 || stop_counting) {
			last = 1;
			left = 0;
		}
		if (poll(&pfd, 1, last ? 0 : (int)(left * 1000) + 1) < 0 && errno != EINTR)
			break;

		cons = *rx->consumer;
		prod = __atomic_load_n(rx->producer, __ATOMIC_ACQUIRE);
		for (i = 0; cons + i != prod; i++) {
			const struct xdp_desc *d =
				&((struct xdp_desc *)rx->desc)[(cons + i) & rx->mask];
			/* Aligned mode: back to the start of the chunk. */
			addrs[i] = d->addr & ~(uint64_t)(FRAME_SIZE - 1);
		}
		if (!i)
			continue;
		__atomic_store_n(rx->consumer, cons + i, __ATOMIC_RELEASE);
		/* The fill ring has room: it and the rx ring share NUM_FRAMES. */
		fill_put(fq, addrs, i);
		frames += i;
		write_progress(progress, frames);
	}
	return frames;
}

/* Read the frame to send: at most one UMEM frame. */
static ssize_t read_frame(const char *path, void *buf)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, FRAME_SIZE);
	close(fd);
	if (n == 0 || n == (ssize_t)FRAME_SIZE) {
		errno = EMSGSIZE;
		return -1;
	}
	return n;
}

/* Put COUNT copies of the frame at FRAME (already in the UMEM's tx half) on
 * the tx ring, kick the kernel, and wait for their completions; -> how many
 * completed. */
static uint32_t send_frames(int fd, struct ring *tx, struct ring *cq, char *umem,
			    const void *frame, uint32_t flen, uint32_t count)
{
	struct xdp_desc *slots = tx->desc;
	uint32_t prod = *tx->producer, done = 0, i;
	double end = now() + TX_WAIT_S;

	for (i = 0; i < count; i++) {
		uint64_t addr = (uint64_t)(NUM_FRAMES + i) * FRAME_SIZE;

		memcpy(umem + addr, frame, flen);
		slots[(prod + i) & tx->mask] = (struct xdp_desc){ .addr = addr, .len = flen };
	}
	__atomic_store_n(tx->producer, prod + count, __ATOMIC_RELEASE);
	while (done < count && now() < end) {
		uint32_t cons = *cq->consumer;
		uint32_t cprod = __atomic_load_n(cq->producer, __ATOMIC_ACQUIRE);

		if (cprod != cons) {
			done += cprod - cons;
			__atomic_store_n(cq->consumer, cprod, __ATOMIC_RELEASE);
			continue;
		}
		/* The kick: copy mode sends in this call, zero-copy wakes the
		 * driver's queue. */
		if (sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
		    errno != EAGAIN && errno != EBUSY && errno != ENOBUFS)
			break;
		usleep(1000);
	}
	return done;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "copy", no_argument, NULL, 'c' },
		{ "zerocopy", no_argument, NULL, 'z' },
		{ "map", required_argument, NULL, 'm' },
		{ "key", required_argument, NULL, 'k' },
		{ "wait-rx", required_argument, NULL, 'w' },
		{ "progress", required_argument, NULL, 'p' },
		{ "send", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *map_path = NULL, *progress_path = NULL, *send_path = NULL, *ifname;
	struct sigaction sa;
	int progress = -1;
	uint32_t queue, key = 0, wait_s = 0, ifindex, ring = RING_SIZE, i;
	uint32_t send_count = 0, tx_completed = 0;
	int have_key = 0, have_wait = 0, have_count = 0, opt, fd;
	ssize_t flen = 0;
	static char frame[FRAME_SIZE];
	uint16_t flags = 0;
	struct xdp_umem_reg reg;
	struct xdp_mmap_offsets off;
	struct xdp_options xopts;
	struct xdp_statistics st;
	struct sockaddr_xdp sxdp;
	struct ring fq, rx, tx, cq;
	socklen_t len;
	uint64_t addrs[NUM_FRAMES], rx_frames = 0;
	void *umem;

	while ((opt = getopt_long(argc, argv, "czm:k:w:p:s:n:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			flags |= XDP_COPY;
			break;
		case 'z':
			flags |= XDP_ZEROCOPY;
			break;
		case 'm':
			map_path = optarg;
			break;
		case 'k':
			if (parse_u32(optarg, &key))
				return usage("--key needs a number");
			have_key = 1;
			break;
		case 'w':
			if (parse_u32(optarg, &wait_s))
				return usage("--wait-rx needs a number of seconds");
			have_wait = 1;
			break;
		case 'p':
			progress_path = optarg;
			break;
		case 's':
			send_path = optarg;
			break;
		case 'n':
			if (parse_u32(optarg, &send_count) || !send_count || send_count > NUM_FRAMES)
				return usage("--count needs a number of frames, 1 to 512");
			have_count = 1;
			break;
		case 'h':
			usage(NULL);
			return 0;
		default:
			return usage(NULL);
		}
	}
	if (flags == (XDP_COPY | XDP_ZEROCOPY))
		return usage("--copy and --zerocopy exclude each other");
	if (!!map_path != have_key)
		return usage("--map and --key go together");
	if (progress_path && !have_wait)
		return usage("--progress needs --wait-rx");
	if (!!send_path != have_count)
		return usage("--send and --count go together");
	if (argc - optind != 2)
		return usage(NULL);
	ifname = argv[optind];
	if (parse_u32(argv[optind + 1], &queue))
		return usage("QUEUE_ID must be a number");

	ifindex = if_nametoindex(ifname);
	if (!ifindex)
		return fail("if_nametoindex");

	fd = socket(AF_XDP, SOCK_RAW, 0);
	if (fd < 0)
		return fail("socket(AF_XDP)");

	/* UMEM: the packet buffer area, registered with the socket. */
	if (send_path) {
		flen = read_frame(send_path, frame);
		if (flen < 0)
			return fail("read(--send)");
	}
	umem = mmap(NULL, (size_t)UMEM_FRAMES * FRAME_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (umem == MAP_FAILED)
		return fail("mmap(umem)");
	memset(&reg, 0, sizeof(reg));
	reg.addr = (uint64_t)(uintptr_t)umem;
	reg.len = (uint64_t)UMEM_FRAMES * FRAME_SIZE;
	reg.chunk_size = FRAME_SIZE;
	if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)))
		return fail("setsockopt(XDP_UMEM_REG)");

	/* bind() needs both UMEM rings and at least one of rx/tx. */
	if (setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &ring, sizeof(ring)))
		return fail("setsockopt(XDP_UMEM_FILL_RING)");
	if (setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &ring, sizeof(ring)))
		return fail("setsockopt(XDP_UMEM_COMPLETION_RING)");
	if (setsockopt(fd, SOL_XDP, XDP_RX_RING, &ring, sizeof(ring)))
		return fail("setsockopt(XDP_RX_RING)");
	if (send_path && setsockopt(fd, SOL_XDP, XDP_TX_RING, &ring, sizeof(ring)))
		return fail("setsockopt(XDP_TX_RING)");

	len = sizeof(off);
	if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &len))
		return fail("getsockopt(XDP_MMAP_OFFSETS)");
	if (!map_ring(fd, &off.fr, sizeof(uint64_t), XDP_UMEM_PGOFF_FILL_RING, &fq))
		return fail("mmap(fill ring)");
	if (!map_ring(fd, &off.rx, sizeof(struct xdp_desc), XDP_PGOFF_RX_RING, &rx))
		return fail("mmap(rx ring)");
	if (send_path) {
		if (!map_ring(fd, &off.cr, sizeof(uint64_t), XDP_UMEM_PGOFF_COMPLETION_RING, &cq))
			return fail("mmap(completion ring)");
		if (!map_ring(fd, &off.tx, sizeof(struct xdp_desc), XDP_PGOFF_TX_RING, &tx))
			return fail("mmap(tx ring)");
	}

	/* Give the kernel every frame before bind, so frames redirected right
	 * after bind already find a buffer. */
	for (i = 0; i < NUM_FRAMES; i++)
		addrs[i] = (uint64_t)i * FRAME_SIZE;
	fill_put(&fq, addrs, NUM_FRAMES);

	memset(&sxdp, 0, sizeof(sxdp));
	sxdp.sxdp_family = AF_XDP;
	sxdp.sxdp_ifindex = ifindex;
	sxdp.sxdp_queue_id = queue;
	sxdp.sxdp_flags = flags;	/* none: zero-copy if the driver can, else copy */
	if (bind(fd, (struct sockaddr *)&sxdp, sizeof(sxdp)))
		return fail("bind");

	memset(&xopts, 0, sizeof(xopts));
	len = sizeof(xopts);
	if (getsockopt(fd, SOL_XDP, XDP_OPTIONS, &xopts, &len))
		return fail("getsockopt(XDP_OPTIONS)");

	if (map_path && map_insert(map_path, key, fd))
		return 1;

	if (send_path)
		tx_completed = send_frames(fd, &tx, &cq, umem, frame, (uint32_t)flen, send_count);

	if (have_wait) {
		/* No SA_RESTART: the signal interrupts poll() and ends the count. */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_stop;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		if (progress_path) {
			progress = open(progress_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (progress < 0)
				return fail("open(--progress)");
		}
		/* Tell a waiting caller (on stderr, stdout stays one JSON object)
		 * that the socket is bound and in the map. */
		fprintf(stderr, "%s: bound, counting frames for %u s\n", prog, wait_s);
		rx_frames = count_rx(fd, &rx, &fq, wait_s, progress);
		if (progress >= 0)
			close(progress);
	}

	memset(&st, 0, sizeof(st));
	len = sizeof(st);
	if (getsockopt(fd, SOL_XDP, XDP_STATISTICS, &st, &len))
		return fail("getsockopt(XDP_STATISTICS)");

	printf("{\"bound\": true, \"ifname\": ");
	json_str(ifname);
	printf(", \"ifindex\": %u, \"queue\": %u, \"mode\": \"%s\"", ifindex, queue,
	       (xopts.flags & XDP_OPTIONS_ZEROCOPY) ? "zerocopy" : "copy");
	if (map_path)
		printf(", \"map_key\": %u", key);
	else
		printf(", \"map_key\": null");
	if (have_wait)
		printf(", \"rx_frames\": %llu", (unsigned long long)rx_frames);
	else
		printf(", \"rx_frames\": null");
	if (send_path)
		printf(", \"tx_completed\": %u", tx_completed);
	else
		printf(", \"tx_completed\": null");
	printf(", \"rx_dropped\": %llu, \"rx_ring_full\": %llu, \"rx_fill_ring_empty\": %llu}\n",
	       (unsigned long long)st.rx_dropped, (unsigned long long)st.rx_ring_full,
	       (unsigned long long)st.rx_fill_ring_empty_descs);
	close(fd);
	return 0;
}
