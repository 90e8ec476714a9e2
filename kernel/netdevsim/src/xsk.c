// SPDX-License-Identifier: GPL-2.0
/*
 * netdevsim: AF_XDP zero-copy, so that a socket bound with XDP_ZEROCOPY to a
 * netdevsim queue, or to a netkit queue leased from one, gets its frames
 * written straight into its UMEM by the "NIC" and sends from its UMEM
 * without the kernel's copy-mode path, as with mlx5, ice or bnxt.
 *
 * What a zero-copy driver does, and what this one does in its place:
 *  - XDP_SETUP_XSK_POOL: DMA-map the UMEM and point the queue's receive ring
 *    at the pool. netdevsim has no DMA engine; its bus device gets a 64-bit
 *    DMA mask so that xsk_pool_dma_map() maps through dma-direct (an identity
 *    on a guest without an IOMMU), and the pool is kept in the queue.
 *  - Receive: the NIC writes the frame into a buffer taken from the fill ring,
 *    the XDP program runs on that buffer, XDP_REDIRECT into the XSKMAP hands
 *    the buffer itself to the socket. Here the frame comes from the linked
 *    port as an skb, and the CPU writes it into the UMEM buffer where a NIC's
 *    DMA would; from there on the path is the zero-copy one (xdp_do_redirect
 *    on an XSK buffer, no second copy). XDP_PASS builds an skb for the stack
 *    (xdp_build_skb_from_zc), like the real drivers; an empty fill ring drops
 *    the frame (the NIC's "out of buffers").
 *  - Transmit: ndo_xsk_wakeup schedules the queue's NAPI, which takes
 *    descriptors from the socket's tx ring, sends each frame to the linked
 *    port and completes it at once.
 *  - ndo_xdp_xmit: frames redirected to the port are sent to the linked port
 *    (netkit requires it of a device it forwards sockets to).
 */

#include <linux/dma-mapping.h>
#include <linux/filter.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <net/xdp.h>
#include <net/xdp_sock_drv.h>
#include <trace/events/xdp.h>

#include "netdevsim.h"

static struct device *nsim_xsk_dma_dev(struct netdevsim *ns)
{
	struct device *dev = &ns->nsim_bus_dev->dev;

	if (!dev->dma_mask && dma_coerce_mask_and_coherent(dev, DMA_BIT_MASK(64)))
		return NULL;
	return dev;
}

static int nsim_xsk_enable(struct net_device *dev, struct nsim_rq *rq,
			   struct xsk_buff_pool *pool, u16 qid)
{
	struct netdevsim *ns = netdev_priv(dev);
	struct device *dma_dev;
	int err;

	if (rq->xsk.pool)
		return -EBUSY;
	dma_dev = nsim_xsk_dma_dev(ns);
	if (!dma_dev)
		return -EIO;
	err = xsk_pool_dma_map(pool, dma_dev, 0);
	if (err)
		return err;
	err = xdp_rxq_info_reg(&rq->xsk.rxq, dev, qid, 0);
	if (err)
		goto err_unmap;
	err = xdp_rxq_info_reg_mem_model(&rq->xsk.rxq, MEM_TYPE_XSK_BUFF_POOL, NULL);
	if (err)
		goto err_unreg;
	xsk_pool_set_rxq_info(pool, &rq->xsk.rxq);
	/* Published last: NAPI sees a pool only once everything above is set. */
	WRITE_ONCE(rq->xsk.pool, pool);
	return 0;

err_unreg:
	xdp_rxq_info_unreg(&rq->xsk.rxq);
err_unmap:
	xsk_pool_dma_unmap(pool, 0);
	return err;
}

static int nsim_xsk_disable(struct nsim_rq *rq)
{
	struct xsk_buff_pool *pool = rq->xsk.pool;

	if (!pool)
		return -EINVAL;
	WRITE_ONCE(rq->xsk.pool, NULL);
	/* A NAPI poll runs with bottom halves off, an RCU read side: after
	 * this no poll uses the pool. Received buffers never outlive a poll.
	 */
	synchronize_net();
	xdp_rxq_info_unreg(&rq->xsk.rxq);
	xsk_pool_dma_unmap(pool, 0);
	return 0;
}

int nsim_xsk_pool_setup(struct net_device *dev, struct xsk_buff_pool *pool, u16 qid)
{
	struct netdevsim *ns = netdev_priv(dev);

	if (qid >= dev->real_num_rx_queues || qid >= dev->real_num_tx_queues)
		return -EINVAL;
	if (pool)
		return nsim_xsk_enable(dev, ns->rq[qid], pool, qid);
	return nsim_xsk_disable(ns->rq[qid]);
}

int nsim_xsk_wakeup(struct net_device *dev, u32 qid, u32 flags)
{
	struct netdevsim *ns = netdev_priv(dev);
	struct nsim_rq *rq;

	if (!netif_running(dev))
		return -ENETDOWN;
	if (qid >= dev->real_num_rx_queues)
		return -EINVAL;
	rq = ns->rq[qid];
	if (!READ_ONCE(rq->xsk.pool))
		return -EINVAL;
	if (!napi_if_scheduled_mark_missed(&rq->napi)) {
		local_bh_disable();
		napi_schedule(&rq->napi);
		local_bh_enable();
	}
	return 0;
}

void nsim_xsk_rcv(struct netdevsim *ns, struct nsim_rq *rq, struct xsk_buff_pool *pool,
		  struct bpf_prog *prog, struct sk_buff *skb)
{
	struct net_device *dev = ns->netdev;
	struct sk_buff *pass;
	struct xdp_buff *xdp;
	unsigned int len;
	u32 act;

	/* The whole frame, from its Ethernet header, as it was on the wire. */
	skb_push(skb, skb->data - skb_mac_header(skb));
	len = skb->len;
	if (skb->ip_summed == CHECKSUM_PARTIAL && skb_checksum_help(skb))
		goto drop;
	if (len > xsk_pool_get_rx_frame_size(pool))
		goto drop;
	xdp = xsk_buff_alloc(pool);
	if (!xdp) {
		/* Out of buffers, as a NIC's ring can be: the frame is lost. */
		rq->xsk.starved = true;
		goto drop;
	}
	/* Where the NIC's DMA would write the frame: the socket's own buffer. */
	if (skb_copy_bits(skb, 0, xdp->data, len)) {
		xsk_buff_free(xdp);
		goto drop;
	}
	xsk_buff_set_size(xdp, len);
	xsk_buff_dma_sync_for_cpu(xdp);
	consume_skb(skb);
	dev_dstats_rx_add(dev, len);
	nsim_qstats_rx(ns, rq->napi.index, len);

	act = prog ? bpf_prog_run_xdp(prog, xdp) : XDP_PASS;
	switch (act) {
	case XDP_REDIRECT:
		if (xdp_do_redirect(dev, xdp, prog))
			break;
		rq->xsk.need_flush = true;
		return;
	case XDP_PASS:
		pass = xdp_build_skb_from_zc(xdp);
		if (!pass)
			break;
		napi_gro_receive(&rq->napi, pass);
		return;
	case XDP_DROP:
		xsk_buff_free(xdp);
		return;
	default:
		bpf_warn_invalid_xdp_action(dev, prog, act);
		fallthrough;
	case XDP_TX:		/* not offered: no XDP_TX ring */
	case XDP_ABORTED:
		trace_xdp_exception(dev, prog, act);
		break;
	}
	xsk_buff_free(xdp);
	dev_dstats_rx_dropped(dev);
	return;

drop:
	dev_dstats_rx_dropped(dev);
	kfree_skb(skb);
}

/*
 * Send up to BUDGET descriptors of the socket's tx ring to the linked port,
 * on the tx queue of the socket's queue id and under its lock, as the stack
 * sends on that queue too.
 */
static int nsim_xsk_xmit(struct net_device *dev, struct nsim_rq *rq,
			 struct xsk_buff_pool *pool, int budget)
{
	struct netdev_queue *txq = netdev_get_tx_queue(dev, rq->napi.index);
	struct xdp_desc desc;
	struct sk_buff *skb;
	int sent = 0;

	__netif_tx_lock(txq, smp_processor_id());
	while (sent < budget && xsk_tx_peek_desc(pool, &desc)) {
		sent++;
		xsk_buff_raw_dma_sync_for_device(pool, xsk_buff_raw_get_dma(pool, desc.addr),
						 desc.len);
		skb = netdev_alloc_skb(dev, desc.len);
		if (!skb) {
			dev_dstats_tx_dropped(dev);
			continue;
		}
		skb_put_data(skb, xsk_buff_raw_get_data(pool, desc.addr), desc.len);
		skb_set_queue_mapping(skb, rq->napi.index);
		nsim_start_xmit(skb, dev);
	}
	__netif_tx_unlock(txq);
	if (sent) {
		/* The frame left the UMEM when it was put on the wire. */
		xsk_tx_completed(pool, sent);
		xsk_tx_release(pool);
	}
	return sent;
}

bool nsim_xsk_poll_end(struct netdevsim *ns, struct nsim_rq *rq,
		       struct xsk_buff_pool *pool, int budget)
{
	int sent;

	if (rq->xsk.need_flush) {
		rq->xsk.need_flush = false;
		xdp_do_flush();
	}
	sent = nsim_xsk_xmit(ns->netdev, rq, pool, budget);
	if (xsk_uses_need_wakeup(pool)) {
		/* Ask the socket for a wakeup (sendto, poll) when this queue
		 * has nothing more to do without one.
		 */
		if (rq->xsk.starved)
			xsk_set_rx_need_wakeup(pool);
		else
			xsk_clear_rx_need_wakeup(pool);
		if (sent < budget)
			xsk_set_tx_need_wakeup(pool);
		else
			xsk_clear_tx_need_wakeup(pool);
	}
	rq->xsk.starved = false;
	return sent == budget;
}

/* Redirected frames go out on the tx queue of this CPU, like most drivers' XDP rings. */
int nsim_xdp_xmit(struct net_device *dev, int n, struct xdp_frame **frames, u32 flags)
{
	struct netdev_queue *txq;
	struct sk_buff *skb;
	u16 queue;
	int i;

	if (unlikely(flags & ~XDP_XMIT_FLAGS_MASK))
		return -EINVAL;
	if (!netif_running(dev))
		return -ENETDOWN;
	queue = smp_processor_id() % dev->real_num_tx_queues;
	txq = netdev_get_tx_queue(dev, queue);
	__netif_tx_lock(txq, smp_processor_id());
	for (i = 0; i < n; i++) {
		skb = netdev_alloc_skb(dev, frames[i]->len);
		if (!skb)
			break;
		skb_put_data(skb, frames[i]->data, frames[i]->len);
		xdp_return_frame(frames[i]);
		skb_set_queue_mapping(skb, queue);
		nsim_start_xmit(skb, dev);
	}
	__netif_tx_unlock(txq);
	/* Frames from I on stay the caller's, which frees them. */
	return i;
}
