# SPDX-License-Identifier: GPL-3.0-or-later
"""FakeNic answers the way the lab NIC does.

The unit tests of the NIC modules trust FakeNic to behave like netdevsim with the
project's patches (the lab driver) under the 7.3 ethtool core. Each test here pins
one behaviour to its source: a function of ``kernel/netdevsim/src/rss.c``, a row of
the table "Behaviour, and which real driver it imitates" in
``kernel/netdevsim/README.md``, or the core function that answers before the driver.
The actions are the ones the planners build (``nic_planner.action`` with the argv
builders of ``ethtool_text``), so the messages are those ``ethtool`` prints.
"""

from __future__ import annotations

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils.nic import ethtool_text as et
from ansible_collections.vmnet.netkit.plugins.module_utils.nic import planner as nic_planner
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import KernelError
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import equal_table, new_rule

from nic_fake import LAB_MAX_CONTEXTS, LAB_RULE_TABLE_SIZE, FakeNic

DEV = "eth0"


def add(nic, rule):
    return nic.apply(DEV, nic_planner.action("rule_add", et.ntuple_add_argv("ethtool", DEV, rule), "add a rule",
                                             device=DEV, rule=rule, loc=rule.get("loc")))


def delete(nic, loc):
    return nic.apply(DEV, nic_planner.action("rule_delete", et.ntuple_delete_argv("ethtool", DEV, loc), "delete a rule",
                                             device=DEV, loc=loc))


def ntuple(nic, on):
    return nic.apply(DEV, nic_planner.action("ntuple_on" if on else "ntuple_off", et.ntuple_feature_argv("ethtool", DEV, on),
                                             "ntuple", device=DEV))


def create(nic, **spec):
    return nic.apply(DEV, nic_planner.action("context_create", et.rxfh_context_create_argv("ethtool", DEV, spec),
                                             "create a context", device=DEV, name="c", spec=spec, id=None))


def update(nic, cid, **spec):
    return nic.apply(DEV, nic_planner.action("context_update", et.rxfh_context_update_argv("ethtool", DEV, cid, spec),
                                             "change a context", device=DEV, name="c", spec=spec, id=cid))


def remove(nic, cid):
    return nic.apply(DEV, nic_planner.context_delete_action(DEV, cid))


def default(nic, **spec):
    return nic.apply(DEV, nic_planner.action("default_set", et.rxfh_default_argv("ethtool", DEV, spec), "default",
                                             device=DEV, spec=spec))


def channels(nic, combined):
    return nic.apply(DEV, nic_planner.action("channels", et.channels_argv("ethtool", DEV, {"combined": combined}),
                                             "channels", device=DEV, values={"combined": combined}))


def refused(call, *args, **kw):
    with pytest.raises(KernelError) as err:
        call(*args, **kw)
    return str(err.value)


def tcp(port, **kw):
    return new_rule("tcp4", dst_ip="10.0.0.2", dst_port=port, **kw)


@pytest.fixture
def nic():
    f = FakeNic()
    ntuple(f, True)
    return f


# ---------------------------------------------------------------- rule locations

def test_a_rule_without_location_takes_the_lowest_free_one(nic):
    # README "rule locations": loc "any" supported (RX_CLS_LOC_SPECIAL), lowest free (nsim_pick_location)
    assert nic.read(DEV)["driver_picks_location"] is True and nic.read(DEV)["rule_table_size"] == 1024
    assert [add(nic, tcp(p, queue=1))["loc"] for p in (80, 81, 82)] == [0, 1, 2]
    delete(nic, 1)
    assert add(nic, tcp(83, queue=1)) == {"loc": 1}
    # the kernel reports the location back, whether the rule named it or the driver picked it
    assert add(nic, tcp(84, queue=1, loc=700)) == {"loc": 700} and sorted(nic.rules) == [0, 1, 2, 700]


def test_ethtools_rule_manager_takes_the_highest_free_location_when_the_driver_does_not_pick():
    # not the lab driver: mlx5 leaves the choice to ethtool's rule manager (rmgr_find_empty_slot)
    nic = FakeNic(driver_picks_location=False)
    ntuple(nic, True)
    assert nic.read(DEV)["driver_picks_location"] is False
    assert [add(nic, tcp(p, queue=1))["loc"] for p in (80, 81)] == [1023, 1022]


def test_rule_locations_are_0_to_1023(nic):
    # NSIM_NTUPLE_MAX_RULES 1024; a location beyond it is EINVAL (nsim_add_rule)
    assert LAB_RULE_TABLE_SIZE == 1024
    add(nic, tcp(80, queue=1, loc=1023))
    msg = refused(add, nic, tcp(81, queue=1, loc=1024))
    assert msg.endswith("ETHTOOL_SRXCLSRLINS on eth0 failed: Invalid argument") and sorted(nic.rules) == [1023]


def test_a_full_rule_table(nic):
    # nsim_pick_location finds no free location: ENOSPC; where the caller picks (as ethtool's rule
    # manager does), NicKernel finds none free and says so before any call
    nic.rules = dict((i, tcp(i, queue=1, loc=i)) for i in range(1024))
    assert "ETHTOOL_SRXCLSRLINS on eth0 failed: No space left on device" in refused(add, nic, tcp(5000, queue=1))
    rmgr = FakeNic(driver_picks_location=False, ntuple_active=True)
    rmgr.rules = dict(nic.rules)
    assert refused(add, rmgr, tcp(5000, queue=1)).endswith("no free location for an ntuple rule on eth0: all 1024 are taken")
    assert len(nic.rules) == len(rmgr.rules) == 1024


def test_a_rule_at_an_occupied_location_replaces_it(nic):
    # README "rule locations": a rule at an occupied location replaces it, like mlx5 (nsim_add_rule, list_replace)
    add(nic, tcp(80, queue=1, loc=5))
    add(nic, tcp(81, queue=2, loc=5))
    assert list(nic.rules) == [5] and nic.rules[5]["dst_port"] == 81 and nic.rules[5]["queue"] == 2
    # the same match at its own location too: this is how a rule's action is changed in place
    add(nic, tcp(81, drop=True, loc=5))
    assert list(nic.rules) == [5] and nic.rules[5]["drop"]


@pytest.mark.parametrize("other", [
    tcp(80, queue=2, loc=6),           # another queue
    tcp(80, context=0, loc=6),         # a context instead of a queue: FLOW_RSS is not part of the match
    tcp(80, drop=True),                # no location given
])
def test_the_same_match_at_another_location_is_eexist(nic, other):
    # README "same match at another location": refused with EEXIST, like bnxt (nsim_same_match)
    add(nic, tcp(80, queue=1, loc=5))
    assert refused(add, nic, other).endswith("ETHTOOL_SRXCLSRLINS on eth0 failed: File exists")
    assert list(nic.rules) == [5] and nic.rules[5]["queue"] == 1
    # another port, another prefix or another flow type is another match
    add(nic, tcp(8080, queue=1, loc=6))
    add(nic, new_rule("tcp4", dst_ip="10.0.0.0/24", dst_port=80, queue=1, loc=7))
    add(nic, new_rule("udp4", dst_ip="10.0.0.2", dst_port=80, queue=1, loc=8))
    assert sorted(nic.rules) == [5, 6, 7, 8]


# ---------------------------------------------------------------- rule actions

def test_rule_actions(nic):
    # README "actions" and "rule to a missing context" (nsim_add_rule)
    create(nic, start=14, equal=2)
    assert "Invalid argument" in refused(add, nic, tcp(80, queue=16))           # queue below the channel count
    assert "Invalid argument" in refused(add, nic, tcp(80, context=2))          # no context 2
    assert "Invalid argument" in refused(add, nic, tcp(80, context=1, queue=1))  # no queue offset (cap_rss_rxnfc_adds)
    assert nic.rules == {}
    add(nic, tcp(80, queue=15))
    add(nic, tcp(81, context=1))
    add(nic, tcp(82, drop=True))
    # today's change: context 0 is the main table, like mlx5
    add(nic, tcp(83, context=0))
    assert [r.get("context") for r in nic.read(DEV)["rules"]] == [None, 1, None, 0]


# ---------------------------------------------------------------- ntuple-filters

def test_ntuple_filters_off_at_boot_refuses_rules():
    # README "ntuple-filters feature": offered, off at boot; rules refused with EOPNOTSUPP while off
    nic = FakeNic()
    assert nic.read(DEV)["ntuple"] == {"active": False, "fixed": False}
    assert refused(add, nic, tcp(80, queue=1)).endswith("ETHTOOL_SRXCLSRLINS on eth0 failed: Operation not supported")
    ntuple(nic, True)
    assert add(nic, tcp(80, queue=1)) == {"loc": 0}


def test_turning_ntuple_filters_off_flushes_every_rule(nic):
    # nsim_rss_features_changed: turning ntuple-filters off flushes the rule table, like ixgbe and ice
    create(nic, start=14, equal=2)
    add(nic, tcp(80, context=1))
    add(nic, tcp(81, queue=3, loc=900))
    ntuple(nic, False)
    assert nic.rules == {} and nic.read(DEV)["rules"] == [] and 1 in nic.contexts
    assert "Operation not supported" in refused(add, nic, tcp(80, context=1))
    ntuple(nic, True)  # back on: the table stays empty
    assert nic.rules == {}


def test_a_fixed_ntuple_feature_cannot_change():
    nic = FakeNic(ntuple_fixed=True)
    assert refused(ntuple, nic, True).endswith("Could not change any device features")


# ---------------------------------------------------------------- hash functions

@pytest.mark.parametrize("hfunc", ["toeplitz", "xor"])
def test_toeplitz_and_xor_are_taken(nic, hfunc):
    # README "indirection table": Toeplitz or XOR, like mlx5 (nsim_check_hfunc)
    default(nic, start=0, equal=14, hfunc=hfunc)
    cid = create(nic, start=14, equal=2, hfunc=hfunc)["id"]
    st = nic.read(DEV)
    assert st["rss"]["hfunc"] == hfunc and st["contexts"][cid]["hfunc"] == hfunc


def test_other_hash_functions_are_refused(nic):
    # nsim_check_hfunc: EOPNOTSUPP; over the ioctl ethtool -X uses there is no driver message, only the errno
    cid = create(nic, start=14, equal=2)["id"]
    before = nic.read(DEV)
    for call, args in ((default, ()), (create, ()), (update, (cid,))):
        msg = refused(call, nic, *args, start=12, equal=2, hfunc="crc32")
        assert msg.endswith("hfunc crc32 failed: Cannot set RX flow hash configuration: Operation not supported")
    assert nic.read(DEV) == before


def test_other_hash_functions_are_refused_with_the_drivers_message_over_netlink():
    # RSS_SET / RSS_CREATE_ACT (6.17+) carry the driver's extack (NL_SET_ERR_MSG_MOD in nsim_check_hfunc)
    nic = FakeNic(rss_netlink=True)
    with pytest.raises(KernelError) as err:
        create(nic, start=14, equal=2, hfunc="crc32")
    assert str(err.value).startswith("ethtool netlink context_create on eth0 failed: fakenic: hash function not "
                                     "supported (toeplitz and xor are) (Operation not supported)")
    assert err.value.errno == 95 and nic.contexts == {}


# ---------------------------------------------------------------- contexts

def test_context_ids_are_1_to_15_and_a_16th_is_refused(nic):
    # README "RSS contexts": ids 1..15, like mlx5; the core allocates the lowest free id below
    # rxfh_max_num_contexts (16) and answers EBUSY when there is none (xa_alloc in ethtool_set_rxfh)
    assert LAB_MAX_CONTEXTS == 15
    assert [create(nic, start=15, equal=1)["id"] for _i in range(15)] == list(range(1, 16))
    msg = refused(create, nic, start=15, equal=1)
    assert msg.endswith("failed: Cannot set RX flow hash configuration: Device or resource busy")
    assert sorted(nic.contexts) == list(range(1, 16))
    remove(nic, 7)
    assert create(nic, start=14, equal=1)["id"] == 7  # ids are reused, lowest first


def test_a_full_context_table_over_netlink_says_so():
    # RSS_CREATE_ACT: NL_SET_ERR_MSG_ATTR "error allocating context ID" with xa_alloc's EBUSY
    nic = FakeNic(rss_netlink=True, max_contexts=1)
    assert create(nic, start=15, equal=1) == {"id": 1}
    with pytest.raises(KernelError) as err:
        create(nic, start=14, equal=1)
    assert "error allocating context ID (Device or resource busy)" in str(err.value) and err.value.errno == 16


def test_a_context_a_rule_uses_cannot_be_deleted(nic):
    # README "context delete while a rule uses it": EBUSY (ethtool_check_rss_ctx_busy, nsim_remove_rxfh_context)
    create(nic, start=14, equal=2)
    add(nic, tcp(80, context=1))
    add(nic, tcp(81, context=0))
    assert refused(remove, nic, 1).endswith("failed: Cannot set RX flow hash configuration: Device or resource busy")
    assert 1 in nic.contexts
    delete(nic, 0)
    remove(nic, 1)  # a rule to context 0 holds no context
    assert nic.contexts == {}
    assert refused(remove, nic, 1).endswith("No such file or directory")
    assert refused(update, nic, 1, start=14, equal=2).endswith("No such file or directory")


def test_table_entries_must_name_existing_queues(nic):
    # the core checks every entry against the RX queue count (EINVAL); the netlink path names the entry
    assert refused(create, nic, start=15, equal=2).endswith("Cannot set RX flow hash configuration: Invalid argument")
    assert "entry 1: queue out of range (16)" in refused(create, FakeNic(rss_netlink=True), start=15, equal=2)
    assert nic.contexts == {}


# ---------------------------------------------------------------- channels

def test_a_shrink_of_an_unconfigured_default_table_spreads_it_again(nic):
    # README "unconfigured default table": spread again on every channel change (nsim_rss_channels_changed)
    channels(nic, 4)
    assert nic.table == equal_table(128, 0, 4)
    channels(nic, 16)
    assert nic.table == equal_table(128, 0, 16)


def test_a_shrink_is_refused_while_a_table_a_rule_or_a_lease_uses_a_queue(nic):
    # README "channel shrink": the core refuses it (ethtool_check_max_channel: tables first, then rules;
    # then netdev_queue_busy for the queues that would go)
    default(nic, start=0, equal=12)
    assert "too low for existing indirection table (11)" in refused(channels, nic, 11)
    create(nic, start=14, equal=1)
    assert refused(channels, nic, 14) == ("ethtool -L eth0 combined 14 failed: netlink error: requested channel "
                                          "counts are too low for existing indirection table (14)\n"
                                          "netlink error: Invalid argument")
    remove(nic, 1)
    add(nic, tcp(80, queue=13))
    assert "too low for existing ntuple filter settings" in refused(channels, nic, 13)
    delete(nic, 0)
    add(nic, tcp(81, drop=True))
    add(nic, tcp(82, context=0))  # drop rules and rules to the main table hold no queue
    nic.leases = {14: "nk-vm1"}
    assert "netlink error: Device queue in use due to queue leasing" in refused(channels, nic, 14)
    assert nic.read(DEV)["leases"] == {14: "nk-vm1"} and nic.rings() == 16
    channels(nic, 15)
    assert nic.rings() == 15 and nic.table == equal_table(128, 0, 12)  # a user-set table stays


def test_a_driver_reload_forgets_everything(nic):
    # README "driver reload / port removal": contexts and rules vanish with the netdev; a new netdev
    # starts with ntuple-filters off and the driver's spread
    default(nic, start=0, equal=12, hfunc="xor")
    create(nic, start=14, equal=2)
    add(nic, tcp(80, context=1))
    nic.leases = {15: "nk-vm1"}
    ifindex = nic.ifindex
    nic.reload()
    st = nic.read(DEV)
    assert st["contexts"] == {} and st["rules"] == [] and st["leases"] == {} and st["ifindex"] != ifindex
    assert st["ntuple"]["active"] is False and st["rss"]["hfunc"] == "toeplitz"
    assert st["rss"]["table"] == equal_table(128, 0, 16) and not nic.configured
