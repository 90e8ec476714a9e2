# SPDX-License-Identifier: GPL-3.0-or-later
"""NetlinkSocket and GenlFamily against a fake kernel: interrupted dumps, the receive timeout,
permission and "not supported" told apart, and errors that name the request."""

from __future__ import annotations

import errno
import os
import socket
import struct

import pytest

from netlink_fake import FakeSocket, done, error, fake_socket, genl_family_answer, message
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import ethtool as eg
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import netdev as nd
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import rtnl as rt
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import core as nl

INTR = nl.NLM_F_MULTI | nl.NLM_F_DUMP_INTR


def _dump_answer(rounds):
    """Answers the n-th request with ``rounds[n]``: a list of (payload, flags) then DONE's flags."""
    calls = []

    def answer(mtype, flags, seq, body):
        items, done_flags = rounds[len(calls)]
        calls.append(seq)
        data = b"".join(message(100, seq, p, f) for p, f in items)
        return [data + done(seq, flags=done_flags)]
    return answer, calls


# ---------------------------------------------------------------- interrupted dumps

def test_an_interrupted_dump_is_asked_again():
    answer, calls = _dump_answer([([(b"old1", nl.NLM_F_MULTI), (b"old2", INTR)], nl.NLM_F_MULTI | nl.NLM_F_DUMP_INTR),
                                  ([(b"new1", nl.NLM_F_MULTI), (b"new2", nl.NLM_F_MULTI)], nl.NLM_F_MULTI)])
    sock, fake = fake_socket(answer)
    assert sock.request(100, b"", dump=True) == [(100, b"new1"), (100, b"new2")]
    assert len(calls) == 2 and calls[0] != calls[1]     # a new sequence number for the new dump
    assert all(f & nl.NLM_F_DUMP == nl.NLM_F_DUMP for _t, f, _s, _b in fake.sent)


def test_the_flag_on_done_alone_counts_as_interrupted():
    answer, calls = _dump_answer([([(b"a", nl.NLM_F_MULTI)], INTR), ([(b"b", nl.NLM_F_MULTI)], nl.NLM_F_MULTI)])
    sock, _fake = fake_socket(answer)
    assert sock.request(100, b"", dump=True) == [(100, b"b")]
    assert len(calls) == 2


def test_a_dump_interrupted_every_time_fails_with_a_clear_error():
    answer, calls = _dump_answer([([(b"x", INTR)], INTR)] * 10)
    sock, _fake = fake_socket(answer)
    with pytest.raises(nl.NetlinkError) as e:
        sock.request(100, b"", dump=True, what="RTM_GETLINK dump")
    assert len(calls) == 1 + nl.DUMP_RETRIES
    assert e.value.errno == errno.EINTR and e.value.kind == "interrupted"
    assert str(e.value) == "the dump of RTM_GETLINK dump was interrupted by concurrent changes 4 times in a row"


def test_a_request_that_is_no_dump_is_never_repeated():
    calls = []

    def answer(mtype, flags, seq, body):
        calls.append(seq)
        return [message(100, seq, b"r", nl.NLM_F_DUMP_INTR) + error(seq, 0)]
    sock, _fake = fake_socket(answer)
    assert sock.request(100, b"") == [(100, b"r")]
    assert len(calls) == 1


def test_an_error_during_a_dump_is_raised_not_retried():
    calls = []

    def answer(mtype, flags, seq, body):
        calls.append(seq)
        return [message(100, seq, b"a", INTR) + done(seq, errno.EMSGSIZE, "dump too big")]
    sock, _fake = fake_socket(answer)
    with pytest.raises(nl.NetlinkError) as e:
        sock.request(100, b"", dump=True)
    assert e.value.errno == errno.EMSGSIZE and e.value.extack == "dump too big" and len(calls) == 1


def test_done_carries_its_extack_without_a_copy_of_the_request():
    payload = struct.pack("=i", -errno.EINVAL) + nl.nla_str(nl.NLMSGERR_ATTR_MSG, "bad start-context")
    assert nl.parse_done(nl.NLM_F_MULTI | nl.NLM_F_ACK_TLVS, payload) == (errno.EINVAL, "bad start-context")
    assert nl.parse_done(nl.NLM_F_MULTI, struct.pack("=i", 0)) == (0, None)
    assert nl.parse_done(nl.NLM_F_MULTI, b"") == (0, None)


# ---------------------------------------------------------------- timeout

def test_a_silent_kernel_times_out_naming_the_request():
    sock, fake = fake_socket(lambda *a: [])
    with pytest.raises(nl.NetlinkError) as e:
        sock.request(100, b"", what="ethtool RSS_GET")
    assert e.value.errno == errno.ETIMEDOUT and e.value.kind == "timeout" and e.value.request == "ethtool RSS_GET"
    assert str(e.value) == "no answer from the kernel to ethtool RSS_GET within 30 s"
    assert fake.timeouts == [nl.DEFAULT_TIMEOUT] == [30.0]


def test_the_timeout_is_configurable_and_a_dump_without_done_times_out():
    sock, fake = fake_socket(lambda m, f, seq, b: [message(100, seq, b"part")], timeout=2.5)
    with pytest.raises(nl.NetlinkError) as e:
        sock.request(100, b"", dump=True)
    assert fake.timeouts == [2.5] and "netlink message type 100" in str(e.value) and "2.5 s" in str(e.value)
    fake.answer = lambda m, f, seq, b: [error(seq, 0)]
    sock.timeout = None                                # waits for ever
    assert sock.request(100, b"") == []
    assert fake.timeouts[-1] is None


def test_a_late_answer_to_a_request_that_timed_out_is_skipped():
    state = {"n": 0}

    def answer(mtype, flags, seq, body):
        state["n"] += 1
        if state["n"] == 1:
            return []                                   # the kernel is slow: nothing in time
        late = message(100, seq - 1, b"late", 0) + error(seq - 1, 0)
        return [late, message(100, seq, b"mine", 0) + error(seq, 0)]
    sock, _fake = fake_socket(answer)
    with pytest.raises(nl.NetlinkError):
        sock.request(100, b"")
    assert sock.request(100, b"") == [(100, b"mine")]


def test_socket_errors_become_netlink_errors():
    class Broken(FakeSocket):
        def recv(self, _size):
            raise OSError(errno.ENOBUFS, "No buffer space available")
    sock = nl.NetlinkSocket(nl.NETLINK_ROUTE, sock=Broken(lambda *a: []))
    with pytest.raises(nl.NetlinkError) as e:
        sock.request(18, b"", what="RTM_GETLINK dump")
    assert e.value.errno == errno.ENOBUFS and e.value.request == "RTM_GETLINK dump"


def test_a_real_socket_times_out():
    """socket.socketpair stands in for the kernel: the timeout is the socket's own."""
    ours, kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock = nl.NetlinkSocket(nl.NETLINK_ROUTE, timeout=0.05, sock=ours)
        with pytest.raises(nl.NetlinkError) as e:
            sock.request(18, b"", what="RTM_GETLINK of nk0")
        assert e.value.kind == "timeout" and "RTM_GETLINK of nk0" in str(e.value)
        assert kernel.recv(100)[4:6] == struct.pack("=H", 18)
    finally:
        ours.close()
        kernel.close()


# ---------------------------------------------------------------- permission and "not supported"

@pytest.mark.parametrize("err,kind", [
    (errno.EPERM, "permission"), (errno.EACCES, "permission"),
    (errno.EOPNOTSUPP, "unsupported"), (nl.ENOTSUPP, "unsupported"), (errno.EPROTONOSUPPORT, "unsupported"),
    (errno.ETIMEDOUT, "timeout"), (errno.EINTR, "interrupted"),
    (errno.ENOENT, "error"), (errno.EBUSY, "error"), (errno.EEXIST, "error"),
])
def test_error_kinds(err, kind):
    assert nl.error_kind(err) == kind
    assert nl.NetlinkError(err, nl.strerror(err)).kind == kind


def _refusing(err, extack=None):
    return fake_socket(lambda m, f, seq, body: [error(seq, err, nl.nl_msg(m, f, seq, body), extack)])[0]


def test_permission_denied_says_what_it_needs():
    with pytest.raises(nl.NetlinkError) as e:
        _refusing(errno.EPERM).request(16, b"", what="RTM_NEWLINK (create)")
    assert e.value.permission_denied and not e.value.unsupported and e.value.errno == errno.EPERM
    assert str(e.value) == "Operation not permitted: RTM_NEWLINK (create) needs root or CAP_NET_ADMIN"
    assert str(nl.NetlinkError(errno.EACCES, "Permission denied")) == "Permission denied: needs root or CAP_NET_ADMIN"


def test_not_supported_names_what_is_missing():
    with pytest.raises(nl.NetlinkError) as e:
        _refusing(errno.EOPNOTSUPP).request(30, b"", what="ethtool RSS_CREATE_ACT")
    assert e.value.unsupported and e.value.kind == "unsupported"
    assert str(e.value) == ("Operation not supported: ethtool RSS_CREATE_ACT is not supported by this kernel "
                            "or driver")
    with pytest.raises(nl.NetlinkError) as e:
        _refusing(nl.ENOTSUPP, "no RSS contexts").request(30, b"", what="ethtool RSS_CREATE_ACT")
    assert e.value.unsupported and e.value.extack == "no RSS contexts"
    assert str(e.value) == "no RSS contexts (Operation not supported (ENOTSUPP))"


def test_other_errors_keep_the_kernels_words():
    with pytest.raises(nl.NetlinkError) as e:
        _refusing(errno.EBUSY, "Device queue in use due to queue leasing").request(16, b"", what="RTM_NEWLINK")
    assert e.value.kind == "error" and e.value.request == "RTM_NEWLINK"
    assert str(e.value) == "Device queue in use due to queue leasing (Device or resource busy)"
    # errors made without a request read as before
    assert str(nl.NetlinkError(16, "Device or resource busy", "no context slot left")) == \
        "no context slot left (Device or resource busy)"
    assert str(nl.NetlinkError(95, "RSS_GET dump not supported by this kernel")) == \
        "RSS_GET dump not supported by this kernel"


def test_opening_the_socket_in_a_namespace_without_permission(monkeypatch):
    def refuse(protocol, netns=None):
        raise PermissionError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(nl, "open_socket", refuse)
    with pytest.raises(nl.NetlinkError) as e:
        nl.NetlinkSocket(nl.NETLINK_ROUTE, "vm1").request(18, b"")
    assert e.value.permission_denied and e.value.request == "opening a netlink socket in network namespace vm1"
    assert str(e.value) == "Operation not permitted: entering a network namespace needs root (CAP_SYS_ADMIN)"

    def missing(protocol, netns=None):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/run/netns/vm2")
    monkeypatch.setattr(nl, "open_socket", missing)
    with pytest.raises(nl.NetlinkError) as e:
        nl.NetlinkSocket(nl.NETLINK_ROUTE, "vm2").request(18, b"")
    assert str(e.value) == "No such file or directory: /run/netns/vm2" and e.value.errno == errno.ENOENT


# ---------------------------------------------------------------- generic netlink families

def test_a_missing_family_is_unsupported_and_asked_for_once():
    sock, fake = fake_socket(genl_family_answer("ethtool", 20, {}))
    fam = nd.NetdevGenl(sock=sock)
    assert fam.resolve() is False and fam.can(nd.NETDEV_CMD_QUEUE_CREATE) is False
    assert not fam.leasing_supported()
    assert len(fake.sent) == 1
    with pytest.raises(nl.NetlinkError) as e:
        fam.call(nd.NETDEV_CMD_QUEUE_GET, [], dump=True)
    assert e.value.unsupported and e.value.errno == errno.ENOENT and e.value.request == "netdev queue-get"
    assert str(e.value) == "this kernel has no netdev generic netlink family"


def test_permission_denied_on_the_family_lookup_is_not_a_missing_family():
    sock = _refusing(errno.EPERM)
    fam = eg.EthtoolGenl(sock=sock)
    with pytest.raises(nl.NetlinkError) as e:
        fam.resolve()
    assert e.value.permission_denied
    assert "the lookup of the ethtool generic netlink family needs root or CAP_NET_ADMIN" in str(e.value)
    with pytest.raises(nl.NetlinkError):
        fam.rss_write_supported()
    assert fam.absent is False


def test_a_namespace_that_is_gone_is_not_a_missing_family(monkeypatch):
    def missing(protocol, netns=None):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/run/netns/vm2")
    monkeypatch.setattr(nl, "open_socket", missing)
    fam = nd.NetdevGenl(netns="vm2")
    with pytest.raises(nl.NetlinkError) as e:
        fam.resolve()
    assert e.value.errno == errno.ENOENT and "/run/netns/vm2" in str(e.value) and not fam.absent

    def no_genetlink(protocol, netns=None):
        raise OSError(errno.EPROTONOSUPPORT, "Protocol not supported")
    monkeypatch.setattr(nl, "open_socket", no_genetlink)
    assert nd.NetdevGenl().resolve() is False       # a kernel without generic netlink has no family


def test_a_timeout_on_the_family_lookup_is_raised():
    fam = eg.EthtoolGenl(sock=fake_socket(lambda *a: [])[0])
    with pytest.raises(nl.NetlinkError) as e:
        fam.can(eg.ETHTOOL_MSG_RSS_GET, dump=True)
    assert e.value.kind == "timeout" and "the lookup of the ethtool generic netlink family" in str(e.value)


def test_family_requests_are_named_by_command():
    def refuse(mtype, flags, seq, body):
        return [error(seq, errno.EPERM, nl.nl_msg(mtype, flags, seq, body))]
    sock, fake = fake_socket(genl_family_answer("ethtool", 20, {eg.ETHTOOL_MSG_RSS_SET: 0x02}, refuse))
    fam = eg.EthtoolGenl(sock=sock)
    with pytest.raises(nl.NetlinkError) as e:
        fam.rss_set("eth0", 0, table=[])
    assert str(e.value) == "Operation not permitted: ethtool RSS_SET needs root or CAP_NET_ADMIN"
    assert fake.sent[-1][0] == 20 and fake.sent[-1][3][:2] == bytes([eg.ETHTOOL_MSG_RSS_SET, 1])
    assert fam.describe(99) == "ethtool command 99"


def test_a_family_whose_dump_is_interrupted_gets_a_consistent_one():
    rounds = []

    def queues(mtype, flags, seq, body):
        rounds.append(seq)
        q = nl.nla_u32(nd.NETDEV_A_QUEUE_ID, len(rounds)) + nl.nla_u32(nd.NETDEV_A_QUEUE_IFINDEX, 2) + \
            nl.nla_u32(nd.NETDEV_A_QUEUE_TYPE, 0)
        flags = nl.NLM_F_MULTI | (nl.NLM_F_DUMP_INTR if len(rounds) < 3 else 0)
        return [message(mtype, seq, struct.pack("=BBH", nd.NETDEV_CMD_QUEUE_GET, 1, 0) + q, flags) + done(seq)]
    sock, _fake = fake_socket(genl_family_answer("netdev", 30, {nd.NETDEV_CMD_QUEUE_GET: 0x06}, queues))
    assert [q["id"] for q in nd.NetdevGenl(sock=sock).queues(2)] == [3]
    assert len(rounds) == 3


def test_rx_leases_are_the_leased_rx_queues_only():
    def queue(qid, qtype, lease=None):
        attrs = nl.nla_u32(nd.NETDEV_A_QUEUE_ID, qid) + nl.nla_u32(nd.NETDEV_A_QUEUE_IFINDEX, 2) + \
            nl.nla_u32(nd.NETDEV_A_QUEUE_TYPE, qtype)
        if lease:
            attrs += nl.nla_nest(nd.NETDEV_A_QUEUE_LEASE, nl.nla_u32(nd.NETDEV_A_LEASE_IFINDEX, lease[0]),
                                 nl.nla_nest(nd.NETDEV_A_LEASE_QUEUE, nl.nla_u32(nd.NETDEV_A_QUEUE_ID, lease[1])))
        return attrs

    def queues(mtype, flags, seq, body):
        head = struct.pack("=BBH", nd.NETDEV_CMD_QUEUE_GET, 1, 0)
        # rx 0 unleased, rx 14 leased to ifindex 7 queue 0, tx 15 with a lease attribute (not an rx queue)
        return [message(mtype, seq, head + q, nl.NLM_F_MULTI)
                for q in (queue(0, 0), queue(14, 0, (7, 0)), queue(15, 1, (7, 1)))] + [done(seq)]
    sock, _fake = fake_socket(genl_family_answer("netdev", 30, {nd.NETDEV_CMD_QUEUE_GET: 0x06}, queues))
    assert nd.NetdevGenl(sock=sock).rx_leases(2) == {14: {"ifindex": 7, "queue": 0, "netns_id": None}}


def test_rtnl_names_its_requests():
    def answer(mtype, flags, seq, body):
        return [error(seq, errno.ENODEV if mtype == rt.RTM_GETLINK else errno.EPERM, nl.nl_msg(mtype, flags, seq, body))]
    sock, fake = fake_socket(answer, nl.NETLINK_ROUTE)
    r = rt.Rtnl(sock=sock)
    assert r.link("nk0") is None                       # ENODEV: no such link, as before
    with pytest.raises(nl.NetlinkError) as e:
        r.delete(7)
    assert str(e.value) == "Operation not permitted: RTM_DELLINK of ifindex 7 needs root or CAP_NET_ADMIN"
    r.close()
    assert fake.closed


def test_a_link_by_index_is_one_request_for_that_index():
    def answer(mtype, flags, seq, body):
        _fam, _type, index, _flags, _change = struct.unpack_from("=BxHiII", body, 0)
        if index != 7:
            return [error(seq, errno.ENODEV, nl.nl_msg(mtype, flags, seq, body))]
        link = rt.ifinfomsg(index=7) + nl.nla_str(rt.IFLA_IFNAME, "nk-vm2")
        return [message(rt.RTM_NEWLINK, seq, link, 0), error(seq, 0, nl.nl_msg(mtype, flags, seq, body))]
    sock, fake = fake_socket(answer, nl.NETLINK_ROUTE)
    r = rt.Rtnl(sock=sock)
    assert r.link_by_index(7)["name"] == "nk-vm2"
    mtype, flags, _seq, body = fake.sent[-1]
    assert mtype == rt.RTM_GETLINK and not flags & nl.NLM_F_DUMP and body == rt.ifinfomsg(index=7)
    assert r.link_by_index(8) is None  # ENODEV: no such link


def test_an_unsupported_refusal_with_the_kernels_words_is_not_blamed_on_the_operation():
    # the operation exists; the driver refused one value of it and said which
    err = nl.NetlinkError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP),
                          "netdevsim: hash function not supported (toeplitz and xor are)",
                          request="ethtool RSS_CREATE_ACT")
    assert str(err) == ("netdevsim: hash function not supported (toeplitz and xor are) "
                        "(Operation not supported)")
    assert err.unsupported
