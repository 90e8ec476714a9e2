/* SPDX-License-Identifier: GPL-2.0 */
/*
 * netdevsim: per-queue statistics (qstats.c). Included by netdevsim.h;
 * NSIM_QSTATS_ETHTOOL_OPS goes into nsim_ethtool_ops.
 */
#ifndef _NETDEVSIM_QSTATS_H
#define _NETDEVSIM_QSTATS_H

#include <linux/atomic.h>
#include <linux/netdevice.h>
#include <net/netdev_queues.h>

struct netdevsim;

/*
 * The counters of queue pair N (rx queue N and tx queue N), kept in the
 * port rather than in the queue's memory, which a queue restart replaces.
 * The receive side counts in the queue's NAPI, the send side under the tx
 * queue's lock, so a counter has one writer at a time; atomics keep the
 * readers (netdev qstats-get, ethtool -S) from seeing a torn value.
 */
struct nsim_qstats {
	atomic64_t rx_packets;
	atomic64_t rx_bytes;
	atomic64_t tx_packets;
	atomic64_t tx_bytes;
};

int nsim_qstats_init(struct netdevsim *ns);
void nsim_qstats_fini(struct netdevsim *ns);
/* A frame received on rx queue QUEUE (counted with the port's totals). */
void nsim_qstats_rx(struct netdevsim *ns, unsigned int queue, unsigned int len);
/* A frame sent on tx queue QUEUE (counted with the port's totals). */
void nsim_qstats_tx(struct netdevsim *ns, unsigned int queue, unsigned int len);

extern const struct netdev_stat_ops nsim_qstats_ops;

int nsim_get_sset_count(struct net_device *dev, int sset);
void nsim_get_strings(struct net_device *dev, u32 sset, u8 *data);
void nsim_get_ethtool_stats(struct net_device *dev, struct ethtool_stats *stats, u64 *data);

#define NSIM_QSTATS_ETHTOOL_OPS					\
	.get_sset_count		= nsim_get_sset_count,		\
	.get_strings		= nsim_get_strings,		\
	.get_ethtool_stats	= nsim_get_ethtool_stats,

#endif /* _NETDEVSIM_QSTATS_H */
