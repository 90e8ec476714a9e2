/* SPDX-License-Identifier: GPL-2.0 */
/*
 * netdevsim: AF_XDP zero-copy (xsk.c). Included by netdevsim.h.
 */
#ifndef _NETDEVSIM_XSK_H
#define _NETDEVSIM_XSK_H

#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <net/xdp.h>

struct netdevsim;
struct nsim_rq;
struct bpf_prog;
struct xsk_buff_pool;

/* What a port advertises: native XDP, redirect, ndo_xdp_xmit and zero-copy. */
#define NSIM_XSK_XDP_FEATURES	(NETDEV_XDP_ACT_BASIC | NETDEV_XDP_ACT_REDIRECT | \
				 NETDEV_XDP_ACT_NDO_XMIT | NETDEV_XDP_ACT_XSK_ZEROCOPY)

/* The per-queue state of a zero-copy socket, in struct nsim_rq. */
struct nsim_xsk_queue {
	struct xsk_buff_pool *pool;	/* NULL: the queue has no zero-copy socket */
	struct xdp_rxq_info rxq;	/* the rxq_info of the pool's buffers */
	bool need_flush;		/* an XDP_REDIRECT is waiting for xdp_do_flush() */
	bool starved;			/* the fill ring ran dry in this poll */
};

/* ndo_bpf XDP_SETUP_XSK_POOL: pool != NULL enables, NULL disables. */
int nsim_xsk_pool_setup(struct net_device *dev, struct xsk_buff_pool *pool, u16 qid);
int nsim_xsk_wakeup(struct net_device *dev, u32 qid, u32 flags);
int nsim_xdp_xmit(struct net_device *dev, int n, struct xdp_frame **frames, u32 flags);

/* NAPI, for a queue with a pool: take one received frame (always consumed). */
void nsim_xsk_rcv(struct netdevsim *ns, struct nsim_rq *rq, struct xsk_buff_pool *pool,
		  struct bpf_prog *prog, struct sk_buff *skb);
/* NAPI, after the receive loop: flush redirects, send from the socket's tx
 * ring; true while descriptors are left for another poll.
 */
bool nsim_xsk_poll_end(struct netdevsim *ns, struct nsim_rq *rq,
		       struct xsk_buff_pool *pool, int budget);

#endif /* _NETDEVSIM_XSK_H */
