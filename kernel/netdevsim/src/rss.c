// SPDX-License-Identifier: GPL-2.0
/*
 * netdevsim: RSS indirection table and key, additional RSS contexts and
 * ntuple (flow steering) rules, so that netdevsim can stand in for the
 * multi-queue NICs (mlx5, bnxt, ice) that vmnet.netkit cuts into slices.
 *
 * Nothing here steers packets (netdevsim receives none from a wire); the
 * point is the control plane: the same ethtool requests, the same core
 * validation paths and the same answers a real driver gives. Choices that
 * imitate a particular driver are marked "like mlx5", "like ixgbe", etc.
 *
 * Builds against Debian's 6.12 and 7.x kernels (see kernel/netdevsim/README.md).
 */

#include <linux/ethtool.h>
#include <linux/list.h>
#include <linux/netdevice.h>
#include <linux/slab.h>
#include <linux/version.h>

#include "netdevsim.h"

struct nsim_ntuple_rule {
	struct list_head list;		/* sorted by fs.location */
	struct ethtool_rx_flow_spec fs;
	u32 rss_context;
};

static struct nsim_rss *nsim_rss(struct net_device *dev)
{
	struct netdevsim *ns = netdev_priv(dev);

	return &ns->ethtool.rss;
}

void nsim_rss_init(struct netdevsim *ns)
{
	struct nsim_rss *rss = &ns->ethtool.rss;
	u32 i;

	INIT_LIST_HEAD(&rss->rules);
	rss->rule_count = 0;
	rss->hfunc = ETH_RSS_HASH_TOP;
	netdev_rss_key_fill(rss->key, sizeof(rss->key));
	for (i = 0; i < NSIM_RSS_INDIR_SIZE; i++)
		rss->indir[i] = ethtool_rxfh_indir_default(i, ns->ethtool.channels);
}

void nsim_rss_fini(struct netdevsim *ns)
{
	struct nsim_rss *rss = &ns->ethtool.rss;
	struct nsim_ntuple_rule *rule, *tmp;

	list_for_each_entry_safe(rule, tmp, &rss->rules, list) {
		list_del(&rule->list);
		kfree(rule);
	}
	rss->rule_count = 0;
}

/*
 * Called after the channel count changed. The core has already refused a
 * shrink below any queue used by a user-set table, a context or a rule;
 * a default table nobody configured is spread again over the new queues,
 * as drivers do (ethtool_rxfh_indir_default).
 */
void nsim_rss_channels_changed(struct netdevsim *ns)
{
	struct nsim_rss *rss = &ns->ethtool.rss;
	u32 i;

	if (netif_is_rxfh_configured(ns->netdev))
		return;
	for (i = 0; i < NSIM_RSS_INDIR_SIZE; i++)
		rss->indir[i] = ethtool_rxfh_indir_default(i, ns->ethtool.channels);
}

/* Turning ntuple-filters off flushes the rule table, like ixgbe and ice. */
void nsim_rss_features_changed(struct netdevsim *ns, netdev_features_t features)
{
	if ((ns->netdev->features & NETIF_F_NTUPLE) && !(features & NETIF_F_NTUPLE))
		nsim_rss_fini(ns);
}

u32 nsim_get_rxfh_indir_size(struct net_device *dev)
{
	return NSIM_RSS_INDIR_SIZE;
}

u32 nsim_get_rxfh_key_size(struct net_device *dev)
{
	return NSIM_RSS_KEY_SIZE;
}

int nsim_get_rxfh(struct net_device *dev, struct ethtool_rxfh_param *rxfh)
{
	struct nsim_rss *rss = nsim_rss(dev);

	/* Contexts other than 0 are read from the core's copy (xarray). */
	rxfh->hfunc = rss->hfunc;
	rxfh->input_xfrm = 0;
	if (rxfh->indir)
		memcpy(rxfh->indir, rss->indir, sizeof(rss->indir));
	if (rxfh->key)
		memcpy(rxfh->key, rss->key, sizeof(rss->key));
	return 0;
}

/* Toeplitz and XOR, like mlx5. */
static int nsim_check_hfunc(u8 hfunc, struct netlink_ext_ack *extack)
{
	if (hfunc == ETH_RSS_HASH_NO_CHANGE || hfunc == ETH_RSS_HASH_TOP ||
	    hfunc == ETH_RSS_HASH_XOR)
		return 0;
	NL_SET_ERR_MSG_MOD(extack, "hash function not supported (toeplitz and xor are)");
	return -EOPNOTSUPP;
}

int nsim_set_rxfh(struct net_device *dev, struct ethtool_rxfh_param *rxfh,
			 struct netlink_ext_ack *extack)
{
	struct nsim_rss *rss = nsim_rss(dev);
	int err;

	err = nsim_check_hfunc(rxfh->hfunc, extack);
	if (err)
		return err;
	if (rxfh->hfunc != ETH_RSS_HASH_NO_CHANGE)
		rss->hfunc = rxfh->hfunc;
	if (rxfh->indir)
		memcpy(rss->indir, rxfh->indir, sizeof(rss->indir));
	if (rxfh->key)
		memcpy(rss->key, rxfh->key, sizeof(rss->key));
	return 0;
}

int nsim_create_rxfh_context(struct net_device *dev,
				    struct ethtool_rxfh_context *ctx,
				    const struct ethtool_rxfh_param *rxfh,
				    struct netlink_ext_ack *extack)
{
	struct netdevsim *ns = netdev_priv(dev);
	u32 *indir = ethtool_rxfh_context_indir(ctx);
	int err;
	u32 i;

	err = nsim_check_hfunc(rxfh->hfunc, extack);
	if (err)
		return err;
	/* The core stores what the user gave; the driver fills the rest. */
	if (!rxfh->indir)
		for (i = 0; i < ctx->indir_size; i++)
			indir[i] = ethtool_rxfh_indir_default(i, ns->ethtool.channels);
	if (!rxfh->key)
		netdev_rss_key_fill(ethtool_rxfh_context_key(ctx), ctx->key_size);
	if (rxfh->hfunc == ETH_RSS_HASH_NO_CHANGE)
		ctx->hfunc = ETH_RSS_HASH_TOP;
	return 0;
}

int nsim_modify_rxfh_context(struct net_device *dev,
				    struct ethtool_rxfh_context *ctx,
				    const struct ethtool_rxfh_param *rxfh,
				    struct netlink_ext_ack *extack)
{
	return nsim_check_hfunc(rxfh->hfunc, extack);
}

static bool nsim_context_in_use(struct nsim_rss *rss, u32 context)
{
	struct nsim_ntuple_rule *rule;

	list_for_each_entry(rule, &rss->rules, list)
		if ((rule->fs.flow_type & FLOW_RSS) && rule->rss_context == context)
			return true;
	return false;
}

int nsim_remove_rxfh_context(struct net_device *dev,
				    struct ethtool_rxfh_context *ctx,
				    u32 rss_context,
				    struct netlink_ext_ack *extack)
{
	/*
	 * Linux 6.13+ refuses this in the core already; older cores leave it
	 * to the driver. A NULL extack means the device is going away: the
	 * rules go with it, so never refuse then.
	 */
	if (extack && nsim_context_in_use(nsim_rss(dev), rss_context)) {
		NL_SET_ERR_MSG_MOD(extack, "RSS context in use by an ntuple rule");
		return -EBUSY;
	}
	return 0;
}

static struct nsim_ntuple_rule *nsim_rule_find(struct nsim_rss *rss, u32 loc)
{
	struct nsim_ntuple_rule *rule;

	list_for_each_entry(rule, &rss->rules, list)
		if (rule->fs.location == loc)
			return rule;
	return NULL;
}

static int nsim_get_rule(struct nsim_rss *rss, struct ethtool_rxnfc *info)
{
	struct nsim_ntuple_rule *rule = nsim_rule_find(rss, info->fs.location);

	if (!rule)
		return -ENOENT;
	info->fs = rule->fs;
	info->rss_context = rule->rss_context;
	info->data = NSIM_NTUPLE_MAX_RULES;
	return 0;
}

static int nsim_get_all_rules(struct nsim_rss *rss, struct ethtool_rxnfc *info,
			      u32 *rule_locs)
{
	struct nsim_ntuple_rule *rule;
	u32 n = 0;

	list_for_each_entry(rule, &rss->rules, list) {
		if (n == info->rule_cnt)
			return -EMSGSIZE;
		rule_locs[n++] = rule->fs.location;
	}
	info->rule_cnt = n;
	info->data = NSIM_NTUPLE_MAX_RULES;
	return 0;
}

int nsim_get_rxnfc(struct net_device *dev, struct ethtool_rxnfc *info,
			  u32 *rule_locs)
{
	struct nsim_rss *rss = nsim_rss(dev);

	switch (info->cmd) {
	case ETHTOOL_GRXRINGS:
		info->data = dev->real_num_rx_queues;
		return 0;
	case ETHTOOL_GRXCLSRLCNT:
		info->rule_cnt = rss->rule_count;
		/* RX_CLS_LOC_SPECIAL: we place rules given loc "any". */
		info->data = NSIM_NTUPLE_MAX_RULES | RX_CLS_LOC_SPECIAL;
		return 0;
	case ETHTOOL_GRXCLSRULE:
		return nsim_get_rule(rss, info);
	case ETHTOOL_GRXCLSRLALL:
		return nsim_get_all_rules(rss, info, rule_locs);
	default:
		return -EOPNOTSUPP;
	}
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0)
u32 nsim_get_rx_ring_count(struct net_device *dev)
{
	return dev->real_num_rx_queues;
}
#endif

/* Match fields we implement; anything else in the mask is refused. */
static int nsim_check_match(const struct ethtool_rx_flow_spec *fs)
{
	u32 flow = fs->flow_type & ~(FLOW_EXT | FLOW_MAC_EXT | FLOW_RSS);

	if (fs->flow_type & (FLOW_EXT | FLOW_MAC_EXT))
		return -EOPNOTSUPP;

	switch (flow) {
	case TCP_V4_FLOW:
	case UDP_V4_FLOW:
	case SCTP_V4_FLOW:
		if (fs->m_u.tcp_ip4_spec.tos)
			return -EOPNOTSUPP;
		return 0;
	case IPV4_USER_FLOW:
		if (fs->m_u.usr_ip4_spec.l4_4_bytes || fs->m_u.usr_ip4_spec.tos ||
		    fs->m_u.usr_ip4_spec.ip_ver ||
		    fs->h_u.usr_ip4_spec.ip_ver != ETH_RX_NFC_IP4)
			return -EOPNOTSUPP;
		/* A protocol match is allowed only as a whole byte. */
		if (fs->m_u.usr_ip4_spec.proto && fs->m_u.usr_ip4_spec.proto != 0xff)
			return -EOPNOTSUPP;
		return 0;
	case TCP_V6_FLOW:
	case UDP_V6_FLOW:
	case SCTP_V6_FLOW:
		if (fs->m_u.tcp_ip6_spec.tclass)
			return -EOPNOTSUPP;
		return 0;
	case IPV6_USER_FLOW:
		if (fs->m_u.usr_ip6_spec.l4_4_bytes || fs->m_u.usr_ip6_spec.tclass)
			return -EOPNOTSUPP;
		if (fs->m_u.usr_ip6_spec.l4_proto && fs->m_u.usr_ip6_spec.l4_proto != 0xff)
			return -EOPNOTSUPP;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

static bool nsim_same_match(const struct ethtool_rx_flow_spec *a,
			    const struct ethtool_rx_flow_spec *b)
{
	return (a->flow_type & ~FLOW_RSS) == (b->flow_type & ~FLOW_RSS) &&
	       !memcmp(&a->h_u, &b->h_u, sizeof(a->h_u)) &&
	       !memcmp(&a->m_u, &b->m_u, sizeof(a->m_u));
}

static int nsim_pick_location(struct nsim_rss *rss, u32 special, u32 *loc)
{
	u32 i;

	if (special == RX_CLS_LOC_LAST) {
		for (i = NSIM_NTUPLE_MAX_RULES; i-- > 0;)
			if (!nsim_rule_find(rss, i))
				goto found;
	} else {
		/* RX_CLS_LOC_ANY and RX_CLS_LOC_FIRST: lowest free location */
		for (i = 0; i < NSIM_NTUPLE_MAX_RULES; i++)
			if (!nsim_rule_find(rss, i))
				goto found;
	}
	return -ENOSPC;
found:
	*loc = i;
	return 0;
}

static int nsim_add_rule(struct net_device *dev, struct ethtool_rxnfc *info)
{
	struct ethtool_rx_flow_spec *fs = &info->fs;
	struct nsim_rss *rss = nsim_rss(dev);
	struct nsim_ntuple_rule *rule, *pos, *old;
	u64 ring = ethtool_get_flow_spec_ring(fs->ring_cookie);
	u32 loc = fs->location;
	int err;

	/* Rules need ntuple-filters on, like ixgbe and ice (EOPNOTSUPP). */
	if (!(dev->features & NETIF_F_NTUPLE))
		return -EOPNOTSUPP;
	err = nsim_check_match(fs);
	if (err)
		return err;

	if (fs->ring_cookie != RX_CLS_FLOW_DISC) {
		if (ethtool_get_flow_spec_ring_vf(fs->ring_cookie) ||
		    fs->ring_cookie == RX_CLS_FLOW_WAKE)
			return -EOPNOTSUPP;
		if (fs->flow_type & FLOW_RSS) {
			/* Older cores check neither of these. */
			if (ring)
				return -EINVAL;
			if (!info->rss_context ||
			    !xa_load(&dev->ethtool->rss_ctx, info->rss_context))
				return -EINVAL;
		} else if (ring >= dev->real_num_rx_queues) {
			return -EINVAL;
		}
	} else if (fs->flow_type & FLOW_RSS) {
		return -EINVAL;
	}

	if (loc & RX_CLS_LOC_SPECIAL) {
		err = nsim_pick_location(rss, loc, &loc);
		if (err)
			return err;
	} else if (loc >= NSIM_NTUPLE_MAX_RULES) {
		return -EINVAL;
	}

	/* The same match at another location is refused, like bnxt (EEXIST). */
	list_for_each_entry(pos, &rss->rules, list)
		if (pos->fs.location != loc && nsim_same_match(&pos->fs, fs))
			return -EEXIST;

	rule = kzalloc(sizeof(*rule), GFP_KERNEL);
	if (!rule)
		return -ENOMEM;
	rule->fs = *fs;
	rule->fs.location = loc;
	rule->rss_context = (fs->flow_type & FLOW_RSS) ? info->rss_context : 0;

	/* A rule at an occupied location replaces it, like mlx5. */
	old = nsim_rule_find(rss, loc);
	if (old) {
		list_replace(&old->list, &rule->list);
		kfree(old);
	} else {
		list_for_each_entry(pos, &rss->rules, list)
			if (pos->fs.location > loc)
				break;
		list_add_tail(&rule->list, &pos->list);
		rss->rule_count++;
	}
	fs->location = loc;
	return 0;
}

static int nsim_del_rule(struct net_device *dev, u32 loc)
{
	struct nsim_rss *rss = nsim_rss(dev);
	struct nsim_ntuple_rule *rule = nsim_rule_find(rss, loc);

	if (!rule)
		return -ENOENT;
	list_del(&rule->list);
	kfree(rule);
	rss->rule_count--;
	return 0;
}

int nsim_set_rxnfc(struct net_device *dev, struct ethtool_rxnfc *info)
{
	switch (info->cmd) {
	case ETHTOOL_SRXCLSRLINS:
		return nsim_add_rule(dev, info);
	case ETHTOOL_SRXCLSRLDEL:
		return nsim_del_rule(dev, info->fs.location);
	default:
		return -EOPNOTSUPP;
	}
}
