/* SPDX-License-Identifier: GPL-2.0 */
/*
 * netdevsim: RSS table, RSS contexts and ntuple rules (rss.c).
 * Included by netdevsim.h; NSIM_RSS_ETHTOOL_OPS goes into nsim_ethtool_ops.
 */
#ifndef _NETDEVSIM_RSS_H
#define _NETDEVSIM_RSS_H

#include <linux/ethtool.h>
#include <linux/list.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/version.h>

/* Table and key sizes of a ConnectX-class NIC (mlx5 uses 40-byte keys). */
#define NSIM_RSS_INDIR_SIZE	128
#define NSIM_RSS_KEY_SIZE	40
/* Context ids 1..15, like mlx5 (MLX5E_MAX_NUM_RSS = 16 including context 0). */
#define NSIM_RSS_MAX_CONTEXTS	16
/* Size of the ntuple rule table (locations 0..NSIM_NTUPLE_MAX_RULES-1). */
#define NSIM_NTUPLE_MAX_RULES	1024

struct netdevsim;

/*
 * Flow types whose hash fields can be chosen (ethtool rx-flow-hash), in the
 * order of enum nsim_rxfh_ft: tcp4 udp4 sctp4 ip4 tcp6 udp6 sctp6 ip6.
 */
#define NSIM_RXFH_FLOW_TYPES	8

/* One indirection table with its key, hash function and input transform. */
struct nsim_rss_table {
	u32 indir[NSIM_RSS_INDIR_SIZE];
	u8 key[NSIM_RSS_KEY_SIZE];
	u8 hfunc;
	u8 input_xfrm;		/* 0 or RXH_XFRM_SYM_XOR */
	bool active;
	/* RXH_* fields hashed per flow type (only the main table's before 6.17) */
	u32 fields[NSIM_RXFH_FLOW_TYPES];
};

struct nsim_rss {
	/*
	 * tables[0] is the main table, tables[N] the receive path's copy of
	 * RSS context N (the core keeps its own copy for ethtool). The lock
	 * guards the tables and the rule list against the receive path;
	 * ethtool requests are already serialised by the core.
	 */
	spinlock_t lock;
	struct nsim_rss_table tables[NSIM_RSS_MAX_CONTEXTS];
	struct list_head rules;		/* sorted by location */
	u32 rule_count;
};

void nsim_rss_init(struct netdevsim *ns);
void nsim_rss_fini(struct netdevsim *ns);
void nsim_rss_channels_changed(struct netdevsim *ns);
void nsim_rss_features_changed(struct netdevsim *ns, netdev_features_t features);
/* Receive-side steering: the rx queue a frame lands on, or -1 to drop it. */
int nsim_rss_steer(struct netdevsim *ns, struct sk_buff *skb);

u32 nsim_get_rxfh_indir_size(struct net_device *dev);
u32 nsim_get_rxfh_key_size(struct net_device *dev);
int nsim_get_rxfh(struct net_device *dev, struct ethtool_rxfh_param *rxfh);
int nsim_set_rxfh(struct net_device *dev, struct ethtool_rxfh_param *rxfh,
		  struct netlink_ext_ack *extack);
int nsim_create_rxfh_context(struct net_device *dev, struct ethtool_rxfh_context *ctx,
			     const struct ethtool_rxfh_param *rxfh,
			     struct netlink_ext_ack *extack);
int nsim_modify_rxfh_context(struct net_device *dev, struct ethtool_rxfh_context *ctx,
			     const struct ethtool_rxfh_param *rxfh,
			     struct netlink_ext_ack *extack);
int nsim_remove_rxfh_context(struct net_device *dev, struct ethtool_rxfh_context *ctx,
			     u32 rss_context, struct netlink_ext_ack *extack);
int nsim_get_rxnfc(struct net_device *dev, struct ethtool_rxnfc *info, u32 *rule_locs);
int nsim_set_rxnfc(struct net_device *dev, struct ethtool_rxnfc *info);

/*
 * rx-flow-hash fields per RSS context (ethtool_ops.rxfh_per_ctx_fields, 6.17+).
 * Linux 7.x registers a driver with per-context keys that offers an input
 * transformation (symmetric-xor) only if its fields are per context too.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
#define NSIM_RSS_PER_CTX_FIELDS		1
#define NSIM_RSS_PER_CTX_FIELDS_OP	.rxfh_per_ctx_fields = 1,
#else
#define NSIM_RSS_PER_CTX_FIELDS		0
#define NSIM_RSS_PER_CTX_FIELDS_OP
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 16, 0)
int nsim_get_rxfh_fields(struct net_device *dev, struct ethtool_rxfh_fields *fields);
int nsim_set_rxfh_fields(struct net_device *dev, const struct ethtool_rxfh_fields *fields,
			 struct netlink_ext_ack *extack);
#define NSIM_RSS_FIELDS_OPS					\
	.get_rxfh_fields	= nsim_get_rxfh_fields,		\
	.set_rxfh_fields	= nsim_set_rxfh_fields,
#else
/* Before 6.16 rx-flow-hash goes through get/set_rxnfc (ETHTOOL_GRXFH, ETHTOOL_SRXFH). */
#define NSIM_RSS_FIELDS_OPS
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0)
u32 nsim_get_rx_ring_count(struct net_device *dev);
#define NSIM_RSS_RING_COUNT_OP	.get_rx_ring_count = nsim_get_rx_ring_count,
#else
#define NSIM_RSS_RING_COUNT_OP
#endif

#define NSIM_RSS_ETHTOOL_OPS						\
	.rxfh_per_ctx_key	= 1,					\
	NSIM_RSS_PER_CTX_FIELDS_OP					\
	.rxfh_max_num_contexts	= NSIM_RSS_MAX_CONTEXTS,		\
	.rxfh_indir_space	= NSIM_RSS_INDIR_SIZE,			\
	.supported_input_xfrm	= RXH_XFRM_SYM_XOR,			\
	.get_rxfh_indir_size	= nsim_get_rxfh_indir_size,		\
	.get_rxfh_key_size	= nsim_get_rxfh_key_size,		\
	.get_rxfh		= nsim_get_rxfh,			\
	.set_rxfh		= nsim_set_rxfh,			\
	.create_rxfh_context	= nsim_create_rxfh_context,		\
	.modify_rxfh_context	= nsim_modify_rxfh_context,		\
	.remove_rxfh_context	= nsim_remove_rxfh_context,		\
	.get_rxnfc		= nsim_get_rxnfc,			\
	.set_rxnfc		= nsim_set_rxnfc,			\
	NSIM_RSS_FIELDS_OPS						\
	NSIM_RSS_RING_COUNT_OP

#endif /* _NETDEVSIM_RSS_H */
