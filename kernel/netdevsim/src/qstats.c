// SPDX-License-Identifier: GPL-2.0
/*
 * netdevsim: per-queue statistics, so that the queue a frame was steered to
 * (ntuple rules, RSS tables: rss.c) is the queue that counts it, as on a
 * multi-queue NIC. The kernel's driver tests (rss_ctx.py, ntuple.py) read
 * these through netdev qstats-get; ethtool -S shows them as rxN_packets,
 * rxN_bytes, txN_packets and txN_bytes, like mlx5.
 *
 * The port's totals (dev_dstats, ip -s link) count every frame once; the
 * queues of the active channels count their share, and the base statistics
 * hold the rest (queues that were active before a channel shrink), so that
 * base plus queues equals the totals, as the netdev qstats API requires.
 */

#include <linux/ethtool.h>
#include <linux/netdevice.h>
#include <linux/slab.h>
#include <net/netdev_queues.h>

#include "netdevsim.h"

int nsim_qstats_init(struct netdevsim *ns)
{
	struct net_device *dev = ns->netdev;
	unsigned int n = max(dev->num_rx_queues, dev->num_tx_queues);

	ns->qstats = kcalloc(n, sizeof(*ns->qstats), GFP_KERNEL_ACCOUNT);
	return ns->qstats ? 0 : -ENOMEM;
}

void nsim_qstats_fini(struct netdevsim *ns)
{
	kfree(ns->qstats);
	ns->qstats = NULL;
}

void nsim_qstats_rx(struct netdevsim *ns, unsigned int queue, unsigned int len)
{
	if (!ns->qstats || queue >= ns->netdev->num_rx_queues)
		return;
	atomic64_inc(&ns->qstats[queue].rx_packets);
	atomic64_add(len, &ns->qstats[queue].rx_bytes);
}

void nsim_qstats_tx(struct netdevsim *ns, unsigned int queue, unsigned int len)
{
	if (!ns->qstats || queue >= ns->netdev->num_tx_queues)
		return;
	atomic64_inc(&ns->qstats[queue].tx_packets);
	atomic64_add(len, &ns->qstats[queue].tx_bytes);
}

static void nsim_qstats_get_rx(struct net_device *dev, int idx,
			       struct netdev_queue_stats_rx *stats)
{
	struct netdevsim *ns = netdev_priv(dev);

	stats->packets = atomic64_read(&ns->qstats[idx].rx_packets);
	stats->bytes = atomic64_read(&ns->qstats[idx].rx_bytes);
}

static void nsim_qstats_get_tx(struct net_device *dev, int idx,
			       struct netdev_queue_stats_tx *stats)
{
	struct netdevsim *ns = netdev_priv(dev);

	stats->packets = atomic64_read(&ns->qstats[idx].tx_packets);
	stats->bytes = atomic64_read(&ns->qstats[idx].tx_bytes);
}

/* What the totals hold beyond the active queues; never below zero. */
static u64 nsim_qstats_rest(u64 total, u64 queues)
{
	return total > queues ? total - queues : 0;
}

static void nsim_qstats_get_base(struct net_device *dev,
				 struct netdev_queue_stats_rx *rx,
				 struct netdev_queue_stats_tx *tx)
{
	struct netdevsim *ns = netdev_priv(dev);
	struct rtnl_link_stats64 total = {};
	u64 rxp = 0, rxb = 0, txp = 0, txb = 0;
	unsigned int i;

	dev_get_stats(dev, &total);
	for (i = 0; i < dev->real_num_rx_queues; i++) {
		rxp += atomic64_read(&ns->qstats[i].rx_packets);
		rxb += atomic64_read(&ns->qstats[i].rx_bytes);
	}
	for (i = 0; i < dev->real_num_tx_queues; i++) {
		txp += atomic64_read(&ns->qstats[i].tx_packets);
		txb += atomic64_read(&ns->qstats[i].tx_bytes);
	}
	rx->packets = nsim_qstats_rest(total.rx_packets, rxp);
	rx->bytes = nsim_qstats_rest(total.rx_bytes, rxb);
	tx->packets = nsim_qstats_rest(total.tx_packets, txp);
	tx->bytes = nsim_qstats_rest(total.tx_bytes, txb);
}

const struct netdev_stat_ops nsim_qstats_ops = {
	.get_queue_stats_rx	= nsim_qstats_get_rx,
	.get_queue_stats_tx	= nsim_qstats_get_tx,
	.get_base_stats		= nsim_qstats_get_base,
};

/* ethtool -S: four counters per channel, rx then tx, queue by queue. */
#define NSIM_QSTATS_PER_QUEUE	2

int nsim_get_sset_count(struct net_device *dev, int sset)
{
	struct netdevsim *ns = netdev_priv(dev);

	if (sset != ETH_SS_STATS || !ns->qstats)
		return -EOPNOTSUPP;
	return NSIM_QSTATS_PER_QUEUE * (dev->real_num_rx_queues + dev->real_num_tx_queues);
}

void nsim_get_strings(struct net_device *dev, u32 sset, u8 *data)
{
	unsigned int i;

	if (sset != ETH_SS_STATS)
		return;
	for (i = 0; i < dev->real_num_rx_queues; i++) {
		ethtool_sprintf(&data, "rx%u_packets", i);
		ethtool_sprintf(&data, "rx%u_bytes", i);
	}
	for (i = 0; i < dev->real_num_tx_queues; i++) {
		ethtool_sprintf(&data, "tx%u_packets", i);
		ethtool_sprintf(&data, "tx%u_bytes", i);
	}
}

void nsim_get_ethtool_stats(struct net_device *dev, struct ethtool_stats *stats, u64 *data)
{
	struct netdevsim *ns = netdev_priv(dev);
	unsigned int i;

	for (i = 0; i < dev->real_num_rx_queues; i++) {
		*data++ = atomic64_read(&ns->qstats[i].rx_packets);
		*data++ = atomic64_read(&ns->qstats[i].rx_bytes);
	}
	for (i = 0; i < dev->real_num_tx_queues; i++) {
		*data++ = atomic64_read(&ns->qstats[i].tx_packets);
		*data++ = atomic64_read(&ns->qstats[i].tx_bytes);
	}
}
