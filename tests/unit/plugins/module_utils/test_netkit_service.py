# SPDX-License-Identifier: GPL-3.0-or-later
"""netkit_link/netkit_info services on a fake kernel: planning, leases, refusals, read-back."""

from __future__ import annotations

import copy

import pytest
from netkit_fake import K73, K612, FakeKernel

from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import service as svc
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import KernelError, UnsupportedError, ValidationError
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink.core import NetlinkError


def params(**kw):
    base = {"name": "nk-vm1", "state": "present", "recreate": False}
    for key in ("mode", "pairing", "policy", "scrub", "headroom", "tailroom", "mtu", "address", "numrxqueues",
                "netns", "up", "peer", "lower"):
        base[key] = None
    base.update(kw)
    return base


VM1 = dict(pairing="single", mode="l2", address="52:54:00:12:34:56", lower={"device": "eth0", "queues": [14, 15]},
           up=True)


def test_leased_single_device_then_idempotent():
    k = FakeKernel()
    r = svc.run_link(params(**VM1), k)
    assert r["changed"] and r["queues"] == [1, 2]
    assert r["queue_map"] == [{"queue": 1, "lower_queue": 14}, {"queue": 2, "lower_queue": 15}]
    create = k.calls[0][1]
    assert create["pairing"] == "single" and create["numrxqueues"] == 3 and "peer" not in create
    assert [c[0] for c in k.calls] == ["create", "lease", "lease", "setlink"]
    k.calls = []
    again = svc.run_link(params(**VM1), k)
    assert not again["changed"] and not k.calls and again["queues"] == [1, 2]


def test_check_mode_changes_nothing_and_predicts_queue_ids():
    k = FakeKernel()
    r = svc.run_link(params(**VM1), k, check_mode=True, diff=True)
    assert r["changed"] and not k.calls and r["queues"] == [1, 2] and r["diff"]["before"] == {}
    assert len(r["actions"]) == 4


def test_half_made_device_gets_its_missing_leases():
    k = FakeKernel()
    k.fail_lease = 15
    with pytest.raises(KernelError) as err:
        svc.run_link(params(**VM1), k)
    assert "Device queue in use by AF_XDP" in str(err.value) and "removed" in str(err.value)
    assert (None, "nk-vm1") not in k.links and not k.leases  # a re-run starts clean
    k.fail_lease = None
    # a device left with only its first lease (e.g. a run killed half-way) is completed in place
    k.create({"name": "nk-vm1", "pairing": "single", "mode": "l2", "numrxqueues": 3,
              "address": "52:54:00:12:34:56"})
    k.lease("nk-vm1", "eth0", 14)
    k.calls = []
    r = svc.run_link(params(**VM1), k)
    assert [c[0] for c in k.calls] == ["lease", "setlink"] and r["queues"] == [1, 2]


def test_queue_leased_to_another_device_is_refused_before_any_change():
    k = FakeKernel()
    svc.run_link(params(**VM1), k)
    k.calls = []
    with pytest.raises(ValidationError) as err:
        svc.run_link(params(name="nk-vm2", pairing="single", lower={"device": "eth0", "queues": [15, 15]}), k)
    assert "queue 15 already leased to nk-vm1" in str(err.value) and not k.calls


@pytest.mark.parametrize("kw, option, text", [
    (dict(name="a-very-long-name-x"), "name", "not a valid interface name"),
    (dict(name="bad/name"), "name", "not a valid interface name"),
    (dict(pairing="single", peer={"name": "p", "netns": None, "policy": None, "scrub": None, "address": None}),
     "peer", "single-mode device has no peer"),
    (dict(pairing="single", policy="drop"), "policy", "only pass"),
    (dict(netns="green"), "netns", "does not exist"),
    (dict(mode="l3", address="52:54:00:00:00:01"), "address", "needs mode: l2"),
    (dict(pairing="single", lower={"device": "eth0", "queues": [15, 16]}), "lower.queues", "outside eth0's 16"),
    (dict(pairing="single", lower={"device": "eth9", "queues": [1, 1]}), "lower.device", "no network device"),
    (dict(pairing="single", lower={"device": "nk-x", "queues": [1, 1]}), "lower.device", None),
    (dict(pairing="pair", lower={"device": "eth0", "queues": [14, 15]}), "pairing", "needs pairing: single"),
    # with pairing unset, each lower mistake gets its own message (single is what lower needs)
    (dict(lower={"device": "eth0", "queues": [15, 16]}), "lower.queues", "outside eth0's 16"),
    (dict(lower={"device": "eth0", "queues": [15, 14]}), "lower.queues", "must not be descending"),
    (dict(lower={"device": "eth0", "queues": [0, 1]}), "lower.queues", "queue 0 stays with the host"),
    (dict(lower={"device": "eth9", "queues": [1, 1]}), "lower.device", "no network device 'eth9'"),
    (dict(lower={"device": "nk-x", "queues": [1, 1]}), "lower.device", "not a physical device"),
    (dict(lower={"device": "a-very-long-nic-name", "queues": [1, 1]}), "lower.device",
     "not a valid interface name"),
    (dict(peer={"name": "peer name", "netns": None, "policy": None, "scrub": None, "address": None}),
     "peer.name", "not a valid interface name"),
    (dict(netns="../../etc"), "netns", "not a network namespace name"),
    (dict(peer={"name": None, "netns": "a/b", "policy": None, "scrub": None, "address": None}),
     "peer.netns", "not a network namespace name"),
    (dict(pairing="single", numrxqueues=2, lower={"device": "eth0", "queues": [14, 15]}), "numrxqueues",
     "at least 3"),
])
def test_bad_input_is_refused_and_nothing_changes(kw, option, text):
    k = FakeKernel()
    k._new("nk-x", None, {"mode": "l3"})
    k.calls = []
    with pytest.raises(ValidationError) as err:
        svc.run_link(params(**kw), k)
    assert err.value.option == option and (text is None or text in str(err.value)) and not k.calls


def test_missing_kernel_features_name_what_provides_them():
    k = FakeKernel(btf=K612, leasing=False)
    with pytest.raises(UnsupportedError) as err:
        svc.run_link(params(pairing="single"), k)
    assert "Linux 7.1" in str(err.value)
    with pytest.raises(UnsupportedError) as err:
        svc.run_link(params(headroom=64), k)
    assert "headroom" in str(err.value) and "6.14" in str(err.value)
    with pytest.raises(UnsupportedError) as err:
        svc.run_link(params(lower={"device": "eth0", "queues": [14, 15]}, pairing="pair"), k)
    assert "queue leasing" in str(err.value) or "LOWERDEV" in str(err.value)
    assert not k.calls
    # a pair works and no pairing attribute is sent to a kernel that does not know it
    r = svc.run_link(params(mode="l3", peer={"name": "nk-vm1p", "netns": "blue", "policy": None, "scrub": None,
                                             "address": None}), k)
    assert r["changed"] and "pairing" not in k.calls[0][1]


def test_attribute_the_kernel_ignored_removes_the_device_and_says_why():
    k = FakeKernel(ignore={"headroom"})
    with pytest.raises(KernelError) as err:
        svc.run_link(params(mode="l3", headroom=64), k)
    assert "headroom: asked 64, got 0" in str(err.value) and "6.14" in str(err.value)
    assert (None, "nk-vm1") not in k.links


def test_only_policies_change_in_place_unless_recreate():
    k = FakeKernel()
    peer = {"name": "nk0p", "netns": "blue", "policy": None, "scrub": None, "address": None}
    svc.run_link(params(name="nk0", mode="l3", peer=peer), k)
    k.calls = []
    r = svc.run_link(params(name="nk0", policy="drop", peer=dict(peer, policy="drop")), k)
    assert r["changed"] and [c[0] for c in k.calls] == ["policy"]
    with pytest.raises(ValidationError) as err:
        svc.run_link(params(name="nk0", mode="l2"), k)
    assert "recreate: true" in str(err.value) and err.value.option == "mode"
    k.calls = []
    r = svc.run_link(params(name="nk0", mode="l2", recreate=True), k)
    assert [c[0] for c in k.calls] == ["delete", "create"]


def test_absent_and_info():
    k = FakeKernel()
    svc.run_link(params(**VM1), k)
    info = svc.run_info({"netns": [], "nics": ["eth0"]}, k)
    leases = [{"queue": 1, "device": "eth0", "device_queue": 14}, {"queue": 2, "device": "eth0", "device_queue": 15}]
    assert info["devices"]["nk-vm1"]["leases"] == leases
    assert info["capabilities"]["leasing"]
    r = svc.run_link(params(name="nk-vm1", state="absent"), k, check_mode=True)
    assert r["changed"] and (None, "nk-vm1") in k.links
    r = svc.run_link(params(name="nk-vm1", state="absent"), k)
    assert r["changed"] and (None, "nk-vm1") not in k.links and not k.leases
    assert not svc.run_link(params(name="nk-vm1", state="absent"), k)["changed"]


# A kernel carrying the netkit-for-VMs patch: IFLA_NETKIT_LOWERDEV is attribute 10, no PAIRING, no leasing.
PATCHED = dict((k, v) for k, v in K73.items() if k != "IFLA_NETKIT_PAIRING")
PATCHED["IFLA_NETKIT_LOWERDEV"] = 10
LOWER = dict(mode="l2", address="52:54:00:12:34:56", lower={"device": "eth0", "queues": [14, 15]}, up=True)


def test_lowerdev_binds_at_creation_reads_back_and_is_idempotent():
    k = FakeKernel(btf=PATCHED, leasing=False)
    r = svc.run_link(params(**LOWER), k)
    create = k.calls[0][1]
    assert create["lowerdev"] == {"ifindex": 2, "from": 14, "to": 15}
    assert "pairing" not in create and "numrxqueues" not in create
    assert [c[0] for c in k.calls] == ["create", "setlink"]  # no queue-create on this kernel
    assert r["changed"] and r["queues"] == [0, 1]
    assert r["queue_map"] == [{"queue": 0, "lower_queue": 14}, {"queue": 1, "lower_queue": 15}]
    k.calls = []
    again = svc.run_link(params(**LOWER), k)
    assert not again["changed"] and not k.calls and again["queues"] == [0, 1]
    # the same NIC queues for another device are refused before anything changes
    with pytest.raises(ValidationError) as err:
        svc.run_link(params(name="nk-vm2", lower={"device": "eth0", "queues": [15, 15]}), k)
    assert "queue 15 already leased to nk-vm1" in str(err.value) and not k.calls
    info = svc.run_info({"netns": [], "nics": []}, k)
    assert info["devices"]["nk-vm1"]["lowerdev"] == {"ifindex": 2, "from": 14, "to": 15}
    # another range is an immutable change
    other_range = dict(LOWER)
    other_range["lower"] = {"device": "eth0", "queues": [12, 13]}
    with pytest.raises(ValidationError) as err:
        svc.run_link(params(**other_range), k)
    assert err.value.option == "lower" and "recreate: true" in str(err.value)


def test_lowerdev_check_mode_predicts_the_ids():
    k = FakeKernel(btf=PATCHED, leasing=False)
    r = svc.run_link(params(**LOWER), k, check_mode=True)
    assert r["changed"] and not k.calls and r["queues"] == [0, 1]


def test_lowerdev_ignored_by_the_kernel_removes_the_device():
    k = FakeKernel(btf=PATCHED, leasing=False, ignore={"lowerdev"})
    with pytest.raises(KernelError) as err:
        svc.run_link(params(**LOWER), k)
    assert "did not apply lower" in str(err.value) and "asked [14, 15], got []" in str(err.value)
    assert (None, "nk-vm1") not in k.links


PATCHED_73 = dict(K73, IFLA_NETKIT_LOWERDEV=11)  # kernel/netkit: LOWERDEV after upstream's PAIRING


def test_kernel_with_leasing_and_lowerdev_binds_in_one_request():
    k = FakeKernel(btf=PATCHED_73, leasing=True)
    r = svc.run_link(params(**VM1), k)
    create = k.calls[0][1]
    assert create["lowerdev"] == {"ifindex": 2, "from": 14, "to": 15} and create["numrxqueues"] == 3
    assert [c[0] for c in k.calls] == ["create", "setlink"]  # no queue-create
    assert r["binding"] == "lowerdev" and r["queues"] == [1, 2]
    assert r["queue_map"] == [{"queue": 1, "lower_queue": 14}, {"queue": 2, "lower_queue": 15}]
    k.calls = []
    again = svc.run_link(params(**VM1), k)
    assert not again["changed"] and not k.calls and again["binding"] == "lowerdev"
    info = svc.run_info({"netns": [], "nics": ["eth0"]}, k)
    assert info["devices"]["nk-vm1"]["binding"] == "lowerdev"
    # the same NIC queue for another device is refused before anything is sent
    with pytest.raises(ValidationError) as err:
        svc.run_link(params(name="nk-vm2", lower={"device": "eth0", "queues": [15, 15]}), k)
    assert "queue 15 already leased to nk-vm1" in str(err.value) and not k.calls


def test_binding_lease_on_a_lowerdev_kernel_leases_and_a_device_bound_either_way_is_kept():
    k = FakeKernel(btf=PATCHED_73, leasing=True)
    lease = {**VM1, "lower": dict(VM1["lower"], binding="lease")}
    r = svc.run_link(params(**lease), k)
    assert "lowerdev" not in k.calls[0][1] and [c[0] for c in k.calls] == ["create", "lease", "lease", "setlink"]
    assert r["binding"] == "lease" and r["queues"] == [1, 2]
    k.calls = []
    auto = svc.run_link(params(**VM1), k)  # auto would pick lowerdev, but the leases are the same
    assert not auto["changed"] and not k.calls
    assert svc.run_info({"netns": [], "nics": ["eth0"]}, k)["devices"]["nk-vm1"]["binding"] == "lease"


def test_info_names_the_vms_running_on_each_device():
    k = FakeKernel()
    svc.run_link(params(**VM1), k)
    svc.run_link(params(name="nk-vm2", pairing="single"), k)
    k.processes = {300: ["/usr/bin/qemu-system-x86_64", "-netdev", "af-xdp,id=n0,ifname=nk-vm1,queues=2"],
                   301: ["/usr/bin/sleep", "60"]}
    devices = svc.run_info({"netns": [], "nics": []}, k)["devices"]
    assert devices["nk-vm1"]["users"] == [{"pid": 300, "command": "/usr/bin/qemu-system-x86_64"}]
    assert devices["nk-vm2"]["users"] == []


def test_a_binding_the_kernel_lacks_is_named():
    with pytest.raises(UnsupportedError) as err:
        svc.run_link(params(**{**VM1, "lower": dict(VM1["lower"], binding="lowerdev")}), FakeKernel())
    assert str(err.value).startswith("lower.binding: lowerdev needs a kernel carrying the netkit LOWERDEV patch")
    with pytest.raises(UnsupportedError) as err:
        svc.run_link(params(**{**LOWER, "lower": dict(LOWER["lower"], binding="lease")}),
                     FakeKernel(btf=PATCHED, leasing=False))
    assert str(err.value).startswith("lower.binding: lease needs Linux 7.1")
    with pytest.raises(ValidationError) as err:
        svc.run_link(params(**{**VM1, "lower": dict(VM1["lower"], binding="fast")}), FakeKernel())
    assert err.value.option == "lower.binding" and "allowed: auto, lease, lowerdev" in str(err.value)


def test_lowerdev_check_mode_predicts_the_lease_ids():
    k = FakeKernel(btf=PATCHED_73, leasing=True)
    r = svc.run_link(params(**VM1), k, check_mode=True)
    assert r["changed"] and not k.calls and r["queues"] == [1, 2] and r["binding"] == "lowerdev"
    assert "bound with IFLA_NETKIT_LOWERDEV" in r["actions"][0]


def test_queue_ids_are_the_kernels():
    k = FakeKernel()
    k.first_lease_id = 3
    r = svc.run_link(params(**VM1), k)
    assert r["queues"] == [3, 4] and r["queue_map"][0] == {"queue": 3, "lower_queue": 14}


def test_nic_down_is_named_instead_of_a_lower_change():
    k = FakeKernel()
    svc.run_link(params(**VM1), k)
    k.links[(None, "eth0")]["up"] = False
    k.calls = []
    with pytest.raises(ValidationError) as err:
        svc.run_link(params(**VM1), k)
    assert err.value.option == "lower.device" and "eth0 is down" in str(err.value) and not k.calls
    assert "recreate" not in str(err.value)


def test_lower_without_pairing_gets_the_single_device_it_needs():
    k = FakeKernel()
    r = svc.run_link(params(lower={"device": "eth0", "queues": [14, 15]}), k)
    assert r["changed"] and r["queues"] == [1, 2]
    assert k.calls[0][1]["pairing"] == "single" and "peer" not in k.calls[0][1]
    k.calls = []
    assert not svc.run_link(params(lower={"device": "eth0", "queues": [14, 15]}), k)["changed"] and not k.calls


FOREIGN = [("veth", "vethmgmt0"), ("bridge", "br0"), (None, "eth0")]


@pytest.mark.parametrize("kind, name", FOREIGN)
@pytest.mark.parametrize("kw", [dict(state="absent"), dict(recreate=True, mode="l2"), dict(policy="drop"),
                                dict(up=False), dict(state="absent", netns="blue")])
def test_a_device_that_is_not_netkit_is_never_touched(kind, name, kw):
    k = FakeKernel()
    k.links[(None, name)] = {"ifindex": 40, "name": name, "kind": kind, "up": True, "netns": None}
    before = copy.deepcopy(k.links)
    with pytest.raises(ValidationError) as err:
        svc.run_link(params(name=name, **kw), k)
    assert err.value.option == "name" and "not a netkit device" in str(err.value)
    assert (kind or "without a link kind") in str(err.value) and "untouched" in str(err.value)
    assert not k.calls and k.links == before


def test_check_mode_refuses_a_foreign_device_too():
    k = FakeKernel()
    k.links[(None, "br0")] = {"ifindex": 40, "name": "br0", "kind": "bridge", "up": True, "netns": None}
    with pytest.raises(ValidationError):
        svc.run_link(params(name="br0", state="absent"), k, check_mode=True)


def test_the_peer_of_a_pair_is_not_deleted_through_its_own_name():
    k = FakeKernel()
    svc.run_link(params(name="nk0", mode="l3", peer={"name": "nk0p", "netns": None, "policy": None,
                                                     "scrub": None, "address": None}), k)
    k.calls = []
    with pytest.raises(ValidationError) as err:
        svc.run_link(params(name="nk0p", state="absent"), k)
    assert "peer of a netkit pair" in str(err.value) and not k.calls and (None, "nk0p") in k.links


def test_names_are_checked_before_the_kernel_is_asked():
    k = FakeKernel()
    for kw in (dict(name="a-very-long-name-x", state="absent"), dict(name="nk vm1", state="absent"),
               dict(name="../nk", recreate=True)):
        with pytest.raises(ValidationError) as err:
            svc.run_link(params(**kw), k)
        assert err.value.option == "name" and "not a valid interface name" in str(err.value)
    assert not k.reads and not k.calls


def test_a_half_made_device_is_removed_but_a_foreign_one_of_its_name_is_not():
    # a veth of that name appears in netns blue between the read and the move (another process), so
    # the move fails: the new netkit device in the host's namespace is removed, the veth stays
    class Racing(FakeKernel):
        def create(self, spec):
            FakeKernel.create(self, spec)
            self.links[("blue", "nk-vm1")] = {"ifindex": 40, "name": "nk-vm1", "kind": "veth", "up": True,
                                              "netns": "blue"}

    k = Racing()
    with pytest.raises(KernelError) as err:
        svc.run_link(params(mode="l3", netns="blue", peer={"name": "nk-vm1p", "netns": None, "policy": None,
                                                           "scrub": None, "address": None}), k)
    assert "File exists" in str(err.value) and "half-made device was removed" in str(err.value)
    assert (None, "nk-vm1") not in k.links and k.links[("blue", "nk-vm1")]["kind"] == "veth"


def test_a_read_the_kernel_refuses_is_reported_with_what_it_needs():
    """Capabilities and links are read over netlink: a refusal (not root) or a kernel that does not
    answer fails the module with the kernel's words, never as "this kernel lacks the feature"."""
    class Refusing(FakeKernel):
        def __init__(self, err):
            FakeKernel.__init__(self)
            self.err = err

        def capabilities(self):
            raise self.err
    denied = NetlinkError(1, "Operation not permitted", request="the lookup of the netdev generic netlink family")
    with pytest.raises(KernelError) as e:
        svc.run_link(params(**VM1), Refusing(denied))
    assert e.value.errno == 1
    assert str(e.value) == ("Operation not permitted: the lookup of the netdev generic netlink family needs root "
                            "or CAP_NET_ADMIN")
    silent = NetlinkError(110, "no answer from the kernel to RTM_GETLINK dump within 10 s")
    with pytest.raises(KernelError) as e:
        svc.run_info({"netns": None}, Refusing(silent))
    assert e.value.errno == 110 and "within 10 s" in str(e.value)


LINKS = [{"name": "nk-vm1", "pairing": "single", "lower": {"device": "eth0", "queues": [14, 15], "binding": "auto"}},
         {"name": "nk-vm2", "pairing": None, "lower": {"device": "eth0", "queues": [16, 17], "binding": "auto"}},
         {"name": "nk-pair", "pairing": "pair", "lower": None}]


@pytest.mark.parametrize("btf, leasing, unsupported", [
    (K73, True, []),
    ({}, False, [("nk-vm1", "netkit", "this kernel has no netkit (CONFIG_NETKIT, Linux 6.7+)"),
                 ("nk-vm2", "netkit", "this kernel has no netkit (CONFIG_NETKIT, Linux 6.7+)"),
                 ("nk-pair", "netkit", "this kernel has no netkit (CONFIG_NETKIT, Linux 6.7+)")]),
    # 6.12: no single mode (asked for, or the one lower needs unset), no way to bind queues; a pair is fine
    (K612, False, [("nk-vm1", "single", "pairing: single needs Linux 7.1 (IFLA_NETKIT_PAIRING, netkit single mode)"),
                   ("nk-vm2", "lower", "lower: binding NIC queues needs queue leasing, Linux 7.1 (netdev generic "
                                       "netlink queue-create), or a kernel carrying the netkit LOWERDEV patch")]),
    (K73, False, [(name, "lower", "lower: binding NIC queues needs queue leasing") for name in ("nk-vm1", "nk-vm2")]),
])
def test_info_names_each_link_this_kernel_cannot_make_and_changes_nothing(btf, leasing, unsupported):
    """netkit_info's links: netkit_link's own kernel checks, per device, reported (not failed) before
    anything is made; the roles stop on them before their first change."""
    k = FakeKernel(btf=btf, leasing=leasing)
    got = svc.run_info({"netns": [], "nics": [], "links": copy.deepcopy(LINKS)}, k)["unsupported"]
    assert [(u["name"], u["feature"]) for u in got] == [want[:2] for want in unsupported]
    for entry, want in zip(got, unsupported):
        assert entry["message"].startswith(want[2]), entry["message"]
    assert not k.calls


def test_info_refuses_a_link_whose_queues_are_not_a_range():
    k = FakeKernel()
    links = copy.deepcopy(LINKS)
    links[1]["lower"]["queues"] = [16]
    k.capabilities = lambda: pytest.fail("the kernel was read before the input was checked")
    with pytest.raises(ValidationError) as err:
        svc.run_info({"netns": [], "nics": [], "links": links}, k)
    assert err.value.option == "links[1].lower.queues" and "give [from, to]" in str(err.value)
    assert not k.reads and not k.calls
