# SPDX-License-Identifier: GPL-3.0-or-later
"""netkit.bpf: BPF_OBJ_GET's attribute layout (include/uapi/linux/bpf.h) and system call numbers, and the
engine's XDP attachment over rtnetlink with it (the lab tests attach for real)."""

from __future__ import annotations

import os
import struct

import pytest

from ansible_collections.vmnet.netkit.plugins.module_utils.errors import KernelError
from ansible_collections.vmnet.netkit.plugins.module_utils.host import engine as host_engine
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import bpf
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import core as nl
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import rtnl as rt
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink.core import NetlinkError


def test_obj_get_attr_layout():
    # struct { __aligned_u64 pathname; __u32 bpf_fd; __u32 file_flags; __s32 path_fd; }: 20 bytes, padded to 24
    attr = bpf.obj_get_attr(0x7f0011223344)
    assert len(attr) == 24
    assert struct.unpack_from("=Q", attr, 0)[0] == 0x7f0011223344 and attr[8:] == bytes(16)


def test_syscall_numbers():
    assert bpf.syscall_number("x86_64") == 321 and bpf.syscall_number("aarch64") == 280
    with pytest.raises(OSError) as err:
        bpf.syscall_number("vax")
    assert "vax" in str(err.value) and "x86_64" in str(err.value)


def test_obj_get_of_nothing_pinned_is_an_oserror(tmp_path):
    with pytest.raises(OSError):
        bpf.obj_get(str(tmp_path / "nothing"))


class Rtnl(object):
    def __init__(self, refuse=None):
        self.bodies, self.refuse = [], refuse

    def setlink(self, body):
        if self.refuse:
            raise NetlinkError(self.refuse, os.strerror(self.refuse), request="RTM_SETLINK")
        self.bodies.append(body)


class Netkit(object):
    def __init__(self, rtnl):
        self._rtnl = rtnl

    def rtnl(self, netns=None):
        assert netns is None
        return self._rtnl


def xdp_attr(body):
    """IFLA_XDP of an RTM_SETLINK body -> {IFLA_XDP_FD: fd, IFLA_XDP_FLAGS: flags}."""
    attrs = dict(nl.parse_attrs(body[16:]))
    nest = dict(nl.parse_attrs(attrs[rt.IFLA_XDP]))
    return {"fd": nl.s32(nest[rt.IFLA_XDP_FD]), "flags": nl.u32(nest[rt.IFLA_XDP_FLAGS])}


@pytest.fixture
def io(monkeypatch):
    opened = []

    def obj_get(path):
        assert path == "/sys/fs/bpf/vmnet-netkit/eth0/prog"
        fd = os.open(os.devnull, os.O_RDONLY)
        opened.append(fd)
        return fd
    monkeypatch.setattr(bpf, "obj_get", obj_get)
    monkeypatch.setattr(host_engine.socket, "if_nametoindex", lambda dev: {"eth0": 4}[dev])
    rtnl = Rtnl()
    io = host_engine.HostIO(nic=object(), netkit=Netkit(rtnl), run=lambda argv: pytest.fail("a process: %s" % argv))
    io.opened, io.rtnl = opened, rtnl
    return io


def test_the_engine_attaches_the_pinned_program_over_rtnetlink_and_closes_its_fd(io):
    io.xdp_attach("eth0", "/sys/fs/bpf/vmnet-netkit/eth0/prog", "attaching the XDP program to eth0")
    assert xdp_attr(io.rtnl.bodies[0]) == {"fd": io.opened[0], "flags": rt.XDP_FLAGS_UPDATE_IF_NOEXIST}
    assert struct.unpack_from("=i", io.rtnl.bodies[0], 4)[0] == 4   # ifi_index
    with pytest.raises(OSError):
        os.fstat(io.opened[0])   # closed
    io.xdp_attach("eth0", None, "detaching the XDP program from eth0")
    assert xdp_attr(io.rtnl.bodies[1])["fd"] == -1 and len(io.opened) == 1 and io.commands == []


def test_a_refused_attachment_names_what_and_why(io):
    io.rtnl.refuse = 16
    with pytest.raises(KernelError) as err:
        io.xdp_attach("eth0", "/sys/fs/bpf/vmnet-netkit/eth0/prog", "attaching the XDP program to eth0")
    assert str(err.value).startswith("attaching the XDP program to eth0 failed: ") and "busy" in str(err.value)
    assert err.value.errno == 16
    with pytest.raises(OSError):
        os.fstat(io.opened[0])
