// SPDX-License-Identifier: GPL-2.0
/*
 * netdevsim: RSS indirection table and key, additional RSS contexts and
 * ntuple (flow steering) rules, so that netdevsim can stand in for the
 * multi-queue NICs (mlx5, bnxt, ice) that vmnet.netkit cuts into slices.
 *
 * The control plane answers like a real driver: the same ethtool requests,
 * the same core validation paths and the same answers. The receive side
 * steers like one too: a frame that arrives from a linked netdevsim port (the
 * lab's "wire") goes through the ntuple rules in location order, then
 * through the indirection table of the main table or of the rule's context,
 * indexed by a Toeplitz (or XOR) hash of its addresses and ports under that
 * table's key (nsim_rss_steer). Which of those fields are hashed is chosen
 * per flow type (ethtool rx-flow-hash), per table on 6.17+ (as on mlx5; one
 * setting for all tables before). Choices that imitate a particular driver are
 * marked "like mlx5", "like ixgbe", etc.
 *
 * Builds against Debian's 6.12 and 7.x kernels (see kernel/netdevsim/README.md).
 */

#include <linux/ethtool.h>
#include <linux/in.h>
#include <linux/list.h>
#include <linux/skbuff.h>
#include <net/flow_dissector.h>
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

static void nsim_rss_spread(struct nsim_rss_table *table, u32 channels)
{
	u32 i;

	for (i = 0; i < NSIM_RSS_INDIR_SIZE; i++)
		table->indir[i] = ethtool_rxfh_indir_default(i, channels);
}

enum nsim_rxfh_ft {
	NSIM_RXFH_TCP4, NSIM_RXFH_UDP4, NSIM_RXFH_SCTP4, NSIM_RXFH_IP4,
	NSIM_RXFH_TCP6, NSIM_RXFH_UDP6, NSIM_RXFH_SCTP6, NSIM_RXFH_IP6,
};

#define NSIM_RXFH_L3	(RXH_IP_SRC | RXH_IP_DST)
#define NSIM_RXFH_L4	(RXH_L4_B_0_1 | RXH_L4_B_2_3)

/* ethtool's flow type -> our index, or -1 for a flow type we do not hash apart. */
static int nsim_rxfh_ft(u32 flow_type)
{
	switch (flow_type) {
	case TCP_V4_FLOW:	return NSIM_RXFH_TCP4;
	case UDP_V4_FLOW:	return NSIM_RXFH_UDP4;
	case SCTP_V4_FLOW:	return NSIM_RXFH_SCTP4;
	case IPV4_FLOW:		return NSIM_RXFH_IP4;
	case TCP_V6_FLOW:	return NSIM_RXFH_TCP6;
	case UDP_V6_FLOW:	return NSIM_RXFH_UDP6;
	case SCTP_V6_FLOW:	return NSIM_RXFH_SCTP6;
	case IPV6_FLOW:		return NSIM_RXFH_IP6;
	default:		return -1;
	}
}

/* Ports can be hashed for TCP and UDP; SCTP and other IP frames hash addresses. */
static u32 nsim_rxfh_allowed(int ft)
{
	switch (ft) {
	case NSIM_RXFH_TCP4:
	case NSIM_RXFH_UDP4:
	case NSIM_RXFH_TCP6:
	case NSIM_RXFH_UDP6:
		return NSIM_RXFH_L3 | NSIM_RXFH_L4;
	default:
		return NSIM_RXFH_L3;
	}
}

/*
 * The table whose rx-flow-hash fields CONTEXT names: its own on 6.17+
 * (rxfh_per_ctx_fields), else the main table's, which all tables share.
 * Called with the lock held; NULL for a context that does not exist.
 */
static struct nsim_rss_table *nsim_fields_table(struct nsim_rss *rss, u32 context)
{
	if (!NSIM_RSS_PER_CTX_FIELDS)
		context = 0;
	if (context >= NSIM_RSS_MAX_CONTEXTS || !rss->tables[context].active)
		return NULL;
	return &rss->tables[context];
}

/* The hashed fields of FLOW_TYPE in CONTEXT. */
static int nsim_rss_fields_get(struct net_device *dev, u32 context, u32 flow_type, u64 *data)
{
	struct nsim_rss *rss = nsim_rss(dev);
	int ft = nsim_rxfh_ft(flow_type);
	struct nsim_rss_table *table;

	if (ft < 0)
		return -EOPNOTSUPP;
	spin_lock_bh(&rss->lock);
	table = nsim_fields_table(rss, context);
	if (table)
		*data = table->fields[ft];
	spin_unlock_bh(&rss->lock);
	return table ? 0 : -ENOENT;
}

/* Any subset of the fields a flow type allows, like mlx5; nothing else. */
static int nsim_rss_fields_set(struct net_device *dev, u32 context, u32 flow_type, u64 data,
			       struct netlink_ext_ack *extack)
{
	struct nsim_rss *rss = nsim_rss(dev);
	int ft = nsim_rxfh_ft(flow_type);
	struct nsim_rss_table *table;

	if (ft < 0) {
		NL_SET_ERR_MSG_MOD(extack, "flow type not supported (tcp4 udp4 sctp4 ip4 tcp6 udp6 sctp6 ip6 are)");
		return -EOPNOTSUPP;
	}
	if (data & ~(u64)nsim_rxfh_allowed(ft)) {
		if (nsim_rxfh_allowed(ft) & NSIM_RXFH_L4)
			NL_SET_ERR_MSG_MOD(extack,
					   "hash fields not supported (IP addresses and L4 ports are)");
		else
			NL_SET_ERR_MSG_MOD(extack, "hash fields not supported (IP addresses are)");
		return -EINVAL;
	}
	spin_lock_bh(&rss->lock);
	table = nsim_fields_table(rss, context);
	if (table)
		table->fields[ft] = data;
	spin_unlock_bh(&rss->lock);
	return table ? 0 : -ENOENT;
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 16, 0)
int nsim_get_rxfh_fields(struct net_device *dev, struct ethtool_rxfh_fields *fields)
{
	u64 data;
	int err = nsim_rss_fields_get(dev, fields->rss_context, fields->flow_type, &data);

	if (!err)
		fields->data = data;
	return err;
}

int nsim_set_rxfh_fields(struct net_device *dev, const struct ethtool_rxfh_fields *fields,
			 struct netlink_ext_ack *extack)
{
	return nsim_rss_fields_set(dev, fields->rss_context, fields->flow_type, fields->data, extack);
}
#endif

/* Every field a flow type allows: 4-tuple for TCP and UDP, 2-tuple else. */
static void nsim_rss_fields_default(struct nsim_rss_table *table)
{
	int ft;

	for (ft = 0; ft < NSIM_RXFH_FLOW_TYPES; ft++)
		table->fields[ft] = nsim_rxfh_allowed(ft);
}

void nsim_rss_init(struct netdevsim *ns)
{
	struct nsim_rss *rss = &ns->ethtool.rss;
	struct nsim_rss_table *main = &rss->tables[0];

	spin_lock_init(&rss->lock);
	INIT_LIST_HEAD(&rss->rules);
	rss->rule_count = 0;
	nsim_rss_fields_default(main);
	main->hfunc = ETH_RSS_HASH_TOP;
	netdev_rss_key_fill(main->key, sizeof(main->key));
	nsim_rss_spread(main, ns->ethtool.channels);
	main->active = true;
}

void nsim_rss_fini(struct netdevsim *ns)
{
	struct nsim_rss *rss = &ns->ethtool.rss;
	struct nsim_ntuple_rule *rule, *tmp;

	LIST_HEAD(gone);

	spin_lock_bh(&rss->lock);
	list_splice_init(&rss->rules, &gone);
	rss->rule_count = 0;
	spin_unlock_bh(&rss->lock);
	list_for_each_entry_safe(rule, tmp, &gone, list)
		kfree(rule);
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

	if (netif_is_rxfh_configured(ns->netdev))
		return;
	spin_lock_bh(&rss->lock);
	nsim_rss_spread(&rss->tables[0], ns->ethtool.channels);
	spin_unlock_bh(&rss->lock);
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
	struct nsim_rss_table *main = &nsim_rss(dev)->tables[0];

	/* Contexts other than 0 are read from the core's copy (xarray). */
	rxfh->hfunc = main->hfunc;
	rxfh->input_xfrm = main->input_xfrm;
	if (rxfh->indir)
		memcpy(rxfh->indir, main->indir, sizeof(main->indir));
	if (rxfh->key)
		memcpy(rxfh->key, main->key, sizeof(main->key));
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

/*
 * Store what a request sets into the table the receive path reads (the main
 * table, or the driver's copy of a context), under the lock that path takes.
 */
static void nsim_rss_store(struct nsim_rss *rss, u32 id,
			   const struct ethtool_rxfh_param *rxfh)
{
	struct nsim_rss_table *table = &rss->tables[id];

	spin_lock_bh(&rss->lock);
	if (rxfh->hfunc != ETH_RSS_HASH_NO_CHANGE)
		table->hfunc = rxfh->hfunc;
	if (rxfh->input_xfrm != RXH_XFRM_NO_CHANGE)
		table->input_xfrm = rxfh->input_xfrm;
	if (rxfh->indir)
		memcpy(table->indir, rxfh->indir, sizeof(table->indir));
	if (rxfh->key)
		memcpy(table->key, rxfh->key, sizeof(table->key));
	spin_unlock_bh(&rss->lock);
}

int nsim_set_rxfh(struct net_device *dev, struct ethtool_rxfh_param *rxfh,
			 struct netlink_ext_ack *extack)
{
	int err;

	err = nsim_check_hfunc(rxfh->hfunc, extack);
	if (err)
		return err;
	nsim_rss_store(nsim_rss(dev), 0, rxfh);
	return 0;
}

int nsim_create_rxfh_context(struct net_device *dev,
				    struct ethtool_rxfh_context *ctx,
				    const struct ethtool_rxfh_param *rxfh,
				    struct netlink_ext_ack *extack)
{
	struct netdevsim *ns = netdev_priv(dev);
	u32 *indir = ethtool_rxfh_context_indir(ctx);
	struct nsim_rss *rss = nsim_rss(dev);
	struct nsim_rss_table *table;
	int err;
	u32 i;

	err = nsim_check_hfunc(rxfh->hfunc, extack);
	if (err)
		return err;
	if (rxfh->rss_context >= NSIM_RSS_MAX_CONTEXTS)
		return -EINVAL;
	/* The core stores what the user gave; the driver fills the rest. */
	if (!rxfh->indir)
		for (i = 0; i < ctx->indir_size; i++)
			indir[i] = ethtool_rxfh_indir_default(i, ns->ethtool.channels);
	if (!rxfh->key)
		netdev_rss_key_fill(ethtool_rxfh_context_key(ctx), ctx->key_size);
	if (rxfh->hfunc == ETH_RSS_HASH_NO_CHANGE)
		ctx->hfunc = ETH_RSS_HASH_TOP;

	/* The receive path's copy: the same defaults, then the request. */
	table = &rss->tables[rxfh->rss_context];
	spin_lock_bh(&rss->lock);
	table->hfunc = ETH_RSS_HASH_TOP;
	table->input_xfrm = 0;
	nsim_rss_fields_default(table);
	nsim_rss_spread(table, ns->ethtool.channels);
	memcpy(table->key, ethtool_rxfh_context_key(ctx), sizeof(table->key));
	table->active = true;
	spin_unlock_bh(&rss->lock);
	nsim_rss_store(rss, rxfh->rss_context, rxfh);
	return 0;
}

int nsim_modify_rxfh_context(struct net_device *dev,
				    struct ethtool_rxfh_context *ctx,
				    const struct ethtool_rxfh_param *rxfh,
				    struct netlink_ext_ack *extack)
{
	int err;

	err = nsim_check_hfunc(rxfh->hfunc, extack);
	if (err)
		return err;
	if (rxfh->rss_context >= NSIM_RSS_MAX_CONTEXTS)
		return -EINVAL;
	nsim_rss_store(nsim_rss(dev), rxfh->rss_context, rxfh);
	return 0;
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
	struct nsim_rss *rss = nsim_rss(dev);

	if (extack && nsim_context_in_use(rss, rss_context)) {
		NL_SET_ERR_MSG_MOD(extack, "RSS context in use by an ntuple rule");
		return -EBUSY;
	}
	if (rss_context < NSIM_RSS_MAX_CONTEXTS) {
		spin_lock_bh(&rss->lock);
		rss->tables[rss_context].active = false;
		spin_unlock_bh(&rss->lock);
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
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 16, 0)
	case ETHTOOL_GRXFH:
		return nsim_rss_fields_get(dev, (info->flow_type & FLOW_RSS) ? info->rss_context : 0,
					   info->flow_type & ~FLOW_RSS, &info->data);
#endif
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
			/* Older cores check neither of these. Context 0 is the
			 * main table, like mlx5.
			 */
			if (ring)
				return -EINVAL;
			if (info->rss_context &&
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
	if (!old)
		list_for_each_entry(pos, &rss->rules, list)
			if (pos->fs.location > loc)
				break;
	spin_lock_bh(&rss->lock);
	if (old) {
		list_replace(&old->list, &rule->list);
	} else {
		list_add_tail(&rule->list, &pos->list);
		rss->rule_count++;
	}
	spin_unlock_bh(&rss->lock);
	kfree(old);
	fs->location = loc;
	return 0;
}

static int nsim_del_rule(struct net_device *dev, u32 loc)
{
	struct nsim_rss *rss = nsim_rss(dev);
	struct nsim_ntuple_rule *rule = nsim_rule_find(rss, loc);

	if (!rule)
		return -ENOENT;
	spin_lock_bh(&rss->lock);
	list_del(&rule->list);
	rss->rule_count--;
	spin_unlock_bh(&rss->lock);
	kfree(rule);
	return 0;
}

int nsim_set_rxnfc(struct net_device *dev, struct ethtool_rxnfc *info)
{
	switch (info->cmd) {
	case ETHTOOL_SRXCLSRLINS:
		return nsim_add_rule(dev, info);
	case ETHTOOL_SRXCLSRLDEL:
		return nsim_del_rule(dev, info->fs.location);
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 16, 0)
	case ETHTOOL_SRXFH:
		return nsim_rss_fields_set(dev, (info->flow_type & FLOW_RSS) ? info->rss_context : 0,
					   info->flow_type & ~FLOW_RSS, info->data, NULL);
#endif
	default:
		return -EOPNOTSUPP;
	}
}

/* Receive side ---------------------------------------------------------- */

static bool nsim_masked_eq(const void *value, const void *want, const void *mask, size_t len)
{
	const u8 *v = value, *w = want, *m = mask;
	size_t i;

	for (i = 0; i < len; i++)
		if ((v[i] ^ w[i]) & m[i])
			return false;
	return true;
}

/* Does the frame described by KEYS match RULE's flow type and masked fields? */
static bool nsim_rule_matches(const struct ethtool_rx_flow_spec *fs,
			      const struct flow_keys *keys)
{
	u32 flow = fs->flow_type & ~(FLOW_EXT | FLOW_MAC_EXT | FLOW_RSS);
	bool v4 = keys->control.addr_type == FLOW_DISSECTOR_KEY_IPV4_ADDRS;
	bool v6 = keys->control.addr_type == FLOW_DISSECTOR_KEY_IPV6_ADDRS;
	const struct ethtool_tcpip4_spec *h4 = &fs->h_u.tcp_ip4_spec, *m4 = &fs->m_u.tcp_ip4_spec;
	const struct ethtool_tcpip6_spec *h6 = &fs->h_u.tcp_ip6_spec, *m6 = &fs->m_u.tcp_ip6_spec;
	u8 proto;

	switch (flow) {
	case TCP_V4_FLOW:
	case UDP_V4_FLOW:
	case SCTP_V4_FLOW:
		proto = flow == TCP_V4_FLOW ? IPPROTO_TCP :
			flow == UDP_V4_FLOW ? IPPROTO_UDP : IPPROTO_SCTP;
		return v4 && keys->basic.ip_proto == proto &&
		       nsim_masked_eq(&keys->addrs.v4addrs.src, &h4->ip4src, &m4->ip4src, 4) &&
		       nsim_masked_eq(&keys->addrs.v4addrs.dst, &h4->ip4dst, &m4->ip4dst, 4) &&
		       nsim_masked_eq(&keys->ports.src, &h4->psrc, &m4->psrc, 2) &&
		       nsim_masked_eq(&keys->ports.dst, &h4->pdst, &m4->pdst, 2);
	case IPV4_USER_FLOW:
		return v4 &&
		       nsim_masked_eq(&keys->addrs.v4addrs.src, &fs->h_u.usr_ip4_spec.ip4src,
				      &fs->m_u.usr_ip4_spec.ip4src, 4) &&
		       nsim_masked_eq(&keys->addrs.v4addrs.dst, &fs->h_u.usr_ip4_spec.ip4dst,
				      &fs->m_u.usr_ip4_spec.ip4dst, 4) &&
		       (!fs->m_u.usr_ip4_spec.proto ||
			keys->basic.ip_proto == fs->h_u.usr_ip4_spec.proto);
	case TCP_V6_FLOW:
	case UDP_V6_FLOW:
	case SCTP_V6_FLOW:
		proto = flow == TCP_V6_FLOW ? IPPROTO_TCP :
			flow == UDP_V6_FLOW ? IPPROTO_UDP : IPPROTO_SCTP;
		return v6 && keys->basic.ip_proto == proto &&
		       nsim_masked_eq(&keys->addrs.v6addrs.src, h6->ip6src, m6->ip6src, 16) &&
		       nsim_masked_eq(&keys->addrs.v6addrs.dst, h6->ip6dst, m6->ip6dst, 16) &&
		       nsim_masked_eq(&keys->ports.src, &h6->psrc, &m6->psrc, 2) &&
		       nsim_masked_eq(&keys->ports.dst, &h6->pdst, &m6->pdst, 2);
	case IPV6_USER_FLOW:
		return v6 &&
		       nsim_masked_eq(&keys->addrs.v6addrs.src, fs->h_u.usr_ip6_spec.ip6src,
				      fs->m_u.usr_ip6_spec.ip6src, 16) &&
		       nsim_masked_eq(&keys->addrs.v6addrs.dst, fs->h_u.usr_ip6_spec.ip6dst,
				      fs->m_u.usr_ip6_spec.ip6dst, 16) &&
		       (!fs->m_u.usr_ip6_spec.l4_proto ||
			keys->basic.ip_proto == fs->h_u.usr_ip6_spec.l4_proto);
	default:
		return false;
	}
}

/* The flow type (our index) of a dissected frame, or -1 when it is not IP. */
static int nsim_frame_ft(const struct flow_keys *keys)
{
	bool v6;

	if (keys->control.addr_type == FLOW_DISSECTOR_KEY_IPV6_ADDRS)
		v6 = true;
	else if (keys->control.addr_type == FLOW_DISSECTOR_KEY_IPV4_ADDRS)
		v6 = false;
	else
		return -1;
	switch (keys->basic.ip_proto) {
	case IPPROTO_TCP:
		return v6 ? NSIM_RXFH_TCP6 : NSIM_RXFH_TCP4;
	case IPPROTO_UDP:
		return v6 ? NSIM_RXFH_UDP6 : NSIM_RXFH_UDP4;
	case IPPROTO_SCTP:
		return v6 ? NSIM_RXFH_SCTP6 : NSIM_RXFH_SCTP4;
	default:
		return v6 ? NSIM_RXFH_IP6 : NSIM_RXFH_IP4;
	}
}

/*
 * The hash input, in the order of the Microsoft RSS specification that NICs
 * follow: source address, destination address, source port, destination
 * port, each only when FIELDS (the frame's rx-flow-hash setting) names it.
 * With SYM_XOR (input-xfrm symmetric-xor) both copies of the addresses are
 * source XOR destination, and both ports too, so the two directions of a
 * flow hash alike. Frames that are not IP hash nothing (hash 0, entry 0).
 */
static size_t nsim_hash_input(const struct flow_keys *keys, u32 fields, bool sym_xor, u8 *buf)
{
	__be16 sport = keys->ports.src, dport = keys->ports.dst;
	u8 sa[16], da[16];
	size_t alen, len = 0, i;
	const void *src, *dst;

	if (keys->control.addr_type == FLOW_DISSECTOR_KEY_IPV4_ADDRS) {
		src = &keys->addrs.v4addrs.src;
		dst = &keys->addrs.v4addrs.dst;
		alen = 4;
	} else if (keys->control.addr_type == FLOW_DISSECTOR_KEY_IPV6_ADDRS) {
		src = &keys->addrs.v6addrs.src;
		dst = &keys->addrs.v6addrs.dst;
		alen = 16;
	} else {
		return 0;
	}
	memcpy(sa, src, alen);
	memcpy(da, dst, alen);
	if (sym_xor) {
		for (i = 0; i < alen; i++)
			sa[i] = da[i] = sa[i] ^ da[i];
		sport = dport = sport ^ dport;
	}
	if (fields & RXH_IP_SRC) {
		memcpy(buf + len, sa, alen);
		len += alen;
	}
	if (fields & RXH_IP_DST) {
		memcpy(buf + len, da, alen);
		len += alen;
	}
	if (fields & RXH_L4_B_0_1) {
		memcpy(buf + len, &sport, 2);
		len += 2;
	}
	if (fields & RXH_L4_B_2_3) {
		memcpy(buf + len, &dport, 2);
		len += 2;
	}
	return len;
}

/* Toeplitz: for every set input bit, XOR in the 32-bit key window at that bit. */
static u32 nsim_toeplitz(const u8 *key, const u8 *data, size_t len)
{
	u32 window = (u32)key[0] << 24 | (u32)key[1] << 16 | (u32)key[2] << 8 | key[3];
	u32 hash = 0;
	size_t i;
	int bit;

	for (i = 0; i < len; i++)
		for (bit = 7; bit >= 0; bit--) {
			if (data[i] & BIT(bit))
				hash ^= window;
			window <<= 1;
			if (i + 4 < NSIM_RSS_KEY_SIZE && (key[i + 4] & BIT(bit)))
				window |= 1;
		}
	return hash;
}

static u32 nsim_xor_hash(const u8 *data, size_t len)
{
	u32 hash = 0;
	size_t i;

	for (i = 0; i < len; i++)
		hash ^= (u32)data[i] << (8 * (3 - i % 4));
	return hash;
}

/*
 * The rx queue of NS that a frame arriving from the wire lands on, or -1 when
 * a drop rule discards it: the first matching ntuple rule (lowest location)
 * decides, its context's table spreads, and frames no rule claims are spread
 * by the main table.
 */
int nsim_rss_steer(struct netdevsim *ns, struct sk_buff *skb)
{
	struct nsim_rss *rss = &ns->ethtool.rss;
	const struct nsim_rss_table *table;
	struct nsim_ntuple_rule *rule;
	struct flow_keys keys;
	u8 input[36];
	size_t len = 0;
	u32 hash;
	int queue;
	int ft;

	skb_flow_dissect_flow_keys(skb, &keys, 0);
	ft = nsim_frame_ft(&keys);

	spin_lock_bh(&rss->lock);
	table = &rss->tables[0];
	list_for_each_entry(rule, &rss->rules, list) {
		if (!nsim_rule_matches(&rule->fs, &keys))
			continue;
		if (rule->fs.ring_cookie == RX_CLS_FLOW_DISC) {
			queue = -1;
			goto out;
		}
		if (!(rule->fs.flow_type & FLOW_RSS)) {
			queue = ethtool_get_flow_spec_ring(rule->fs.ring_cookie);
			goto out;
		}
		if (rule->rss_context < NSIM_RSS_MAX_CONTEXTS &&
		    rss->tables[rule->rss_context].active)
			table = &rss->tables[rule->rss_context];
		break;
	}
	if (ft >= 0)
		len = nsim_hash_input(&keys, (NSIM_RSS_PER_CTX_FIELDS ? table : &rss->tables[0])->fields[ft],
				      table->input_xfrm & RXH_XFRM_SYM_XOR, input);
	hash = table->hfunc == ETH_RSS_HASH_XOR ? nsim_xor_hash(input, len) :
						 nsim_toeplitz(table->key, input, len);
	queue = table->indir[hash % NSIM_RSS_INDIR_SIZE];
out:
	spin_unlock_bh(&rss->lock);
	return queue;
}
