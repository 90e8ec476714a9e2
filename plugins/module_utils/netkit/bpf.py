# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one bpf(2) call the modules make: BPF_OBJ_GET, an fd of a program pinned in bpffs.

Attaching a pinned program to a device's XDP hook over rtnetlink needs an fd of it, which only
this call gives (``ip link set ... xdp pinned PATH`` makes it too). Python has no wrapper for
bpf(2), so it goes through libc's ``syscall()`` with the architecture's system call number.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

BPF_OBJ_GET = 7
# __NR_bpf (arch/*/include/uapi/asm/unistd*.h, include/uapi/asm-generic/unistd.h)
SYSCALL_NUMBERS = {
    "x86_64": 321, "i386": 357, "i686": 357, "aarch64": 280, "arm64": 280, "riscv64": 280,
    "loongarch64": 280, "armv7l": 386, "armv6l": 386, "s390x": 351, "ppc64le": 361, "ppc64": 361,
    "mips64": 5315, "sparc64": 349,
}
# union bpf_attr for BPF_OBJ_*: pathname (aligned u64 pointer), bpf_fd, file_flags, path_fd
OBJ_ATTR_FORMAT = "=QIIi4x"


def obj_get_attr(path_address):
    """The bpf_attr of BPF_OBJ_GET for the NUL-terminated path at ``path_address`` (read and write)."""
    return struct.pack(OBJ_ATTR_FORMAT, path_address, 0, 0, 0)


def syscall_number(machine=None):
    machine = machine or os.uname().machine
    if machine not in SYSCALL_NUMBERS:
        raise OSError(errno.ENOSYS, "the bpf system call's number on %s is not known (known: %s)"
                      % (machine, ", ".join(sorted(SYSCALL_NUMBERS))))
    return SYSCALL_NUMBERS[machine]


def obj_get(path):
    """An fd (the caller closes it) of the program or map pinned at ``path``; OSError with the kernel's
    errno when there is none or it cannot be opened."""
    number = syscall_number()
    libc = ctypes.CDLL(None, use_errno=True)
    name = ctypes.create_string_buffer(os.fsencode(path))
    attr = ctypes.create_string_buffer(obj_get_attr(ctypes.addressof(name)), struct.calcsize(OBJ_ATTR_FORMAT))
    fd = libc.syscall(ctypes.c_long(number), ctypes.c_long(BPF_OBJ_GET), attr,
                      ctypes.c_long(struct.calcsize(OBJ_ATTR_FORMAT)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return fd
