# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The I/O seam of the NIC modules: read a NIC's whole state, apply one action.

Reading uses kernel interfaces and no process: SIOCETHTOOL for channels, RX rings,
the ntuple feature, the default RSS table and every ntuple rule; the ethtool netlink
RSS_GET dump (kernel 6.12+) for every RSS context, or one GRSSH ioctl per candidate
context id on older kernels.  If an ioctl fails for a reason other than "not
supported", the part is read from ethtool's text output instead.  RSS tables and
contexts are written over ethtool netlink where the kernel offers RSS_SET,
RSS_CREATE_ACT and RSS_DELETE_ACT (6.17+); ntuple rules with SIOCETHTOOL, the call the
ethtool command itself makes (ntuple has no netlink API); every other change (channels,
the ntuple feature, and RSS on older kernels) is made with the ethtool command (argv
lists, never a shell).  Unit tests replace this class with a fake that keeps
the same interface.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess

from ansible_collections.vmnet.netkit.plugins.module_utils import fault_point
from ansible_collections.vmnet.netkit.plugins.module_utils.nic import ethtool_text as et
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import KernelError, UnsupportedError
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink.ethtool import EthtoolGenl
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.ethtool_ioctl import EthtoolIoctl, free_rule_location
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink.netdev import NetdevGenl
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import (
    empty_state, hfunc_mask, hfunc_name, key_from_bytes, spec_table)

# Context ids probed with GRSSH when the kernel cannot dump contexts (before 6.12).
PROBE_CONTEXT_IDS = 64
# An id no driver hands out: GRSSH on it tells "contexts supported" (ENOENT) from not (EOPNOTSUPP).
UNUSED_CONTEXT_ID = 0xfffffffe
NOT_SUPPORTED = (errno.EOPNOTSUPP, errno.ENOTSUP if hasattr(errno, "ENOTSUP") else errno.EOPNOTSUPP)
ABSENT = (errno.ENOENT, errno.EINVAL, errno.ERANGE)
RSS_OPS = ("default_set", "default_reset", "context_create", "context_update", "context_delete")
RULE_OPS = {"rule_add": "ETHTOOL_SRXCLSRLINS", "rule_delete": "ETHTOOL_SRXCLSRLDEL"}


def _default_run(argv):
    # ethtool's messages are matched in English: never in the host's language
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          check=False, env=dict(os.environ, LC_ALL="C", LANG="C"))
    return proc.returncode, proc.stdout, proc.stderr


def rss_write_error(op, device, argv, err):
    """An RSS write over ethtool netlink that failed (an OSError, NetlinkError with the kernel's words)
    -> the KernelError the modules report."""
    return KernelError("ethtool netlink %s on %s failed: %s" % (op, device, err), command=argv, errno=err.errno,
                       stderr=str(err))


def rule_write_error(op, device, argv, err):
    """An ntuple rule write over SIOCETHTOOL that failed (an OSError with the kernel's errno) -> the
    KernelError the modules report, naming the call and the ethtool command that would make it."""
    reason = os.strerror(err.errno) if err.errno else str(err)
    return KernelError("ethtool ioctl %s on %s failed: %s" % (RULE_OPS[op], device, reason), command=argv,
                       errno=err.errno, stderr=reason)


def no_free_rule_location(device, table_size, argv):
    """A rule without a location on a driver that leaves the choice to the caller, and none is free."""
    return KernelError("no free location for an ntuple rule on %s: all %d are taken" % (device, table_size),
                       command=argv, errno=errno.ENOSPC)


class NicKernel(object):
    """Reads NIC state and applies actions on the local host."""

    def __init__(self, run_command=None, ethtool=None, reader=None):
        self._run = run_command or _default_run
        self._ethtool = ethtool
        self.reader = reader or os.environ.get("VMNET_NETKIT_NIC_READER", "kernel")
        self._ioctl = EthtoolIoctl()
        self._genl = EthtoolGenl()
        self._rss_netlink = None
        self.commands = []

    # ------------------------------------------------------------ helpers
    def ethtool(self):
        if self._ethtool is None:
            self._ethtool = shutil.which("ethtool") or shutil.which("ethtool", path="/usr/sbin:/sbin")
        if not self._ethtool:
            raise UnsupportedError("ethtool", "the ethtool command was not found on the host",
                                   provided_by="install the ethtool package")
        return self._ethtool

    def run(self, argv, check=True):
        self.commands.append(list(argv))
        rc, out, err = self._run(list(argv))
        if check and rc != 0:
            raise KernelError("%s failed (rc=%s): %s" % (" ".join(argv), rc, (err or out or "").strip()),
                              command=list(argv), stderr=err)
        return rc, out, err

    def close(self):
        self._ioctl.close()
        self._genl.close()

    def versions(self):
        ver = None
        try:
            _rc, out, _err = self.run([self.ethtool(), "--version"])
            ver = ".".join(str(x) for x in et.parse_version(out))
        except (UnsupportedError, KernelError, et.ParseError):
            ver = None
        return {"ethtool": ver, "kernel": os.uname()[2]}

    def rss_dump_supported(self):
        try:
            return self._genl.rss_dump_supported()
        except OSError:
            return False

    # ------------------------------------------------------------ read
    def device_exists(self, device):
        try:
            socket.if_nametoindex(device)
            return True
        except OSError:
            return False

    def read(self, device, context_ids=()):
        """The whole NIC state (see nic.model.empty_state) in a few system calls."""
        st = empty_state(device)
        try:
            st["ifindex"] = socket.if_nametoindex(device)
        except OSError:
            st["exists"] = False
            return st
        text = self.reader == "text"
        try:
            st["driver"] = self._ioctl.drvinfo(device)["driver"]
        except OSError:
            st["driver"] = None
        self._read_channels(st, text)
        self._read_features(st, text)
        self._read_rss(st, text, context_ids)
        self._read_rules(st, text)
        self._read_leases(st)
        for ctx in st["contexts"].values():
            ctx.setdefault("id", None)
        return st

    def _read_leases(self, st):
        """Queues leased to netkit devices (one queue-get dump; nothing before Linux 7.1)."""
        netdev = NetdevGenl()
        try:
            if not netdev.leasing_supported():
                return
            for queue, lease in sorted(netdev.rx_leases(st["ifindex"]).items()):
                holder = None
                if lease.get("netns_id") is None:
                    try:
                        holder = socket.if_indextoname(lease["ifindex"])
                    except OSError:
                        holder = None
                st["leases"][queue] = holder or "device %d in another network namespace" % lease["ifindex"]
            st["sources"]["leases"] = "netlink netdev queue-get"
        except OSError:
            pass
        finally:
            netdev.close()

    def _read_channels(self, st, text):
        dev = st["device"]
        if not text:
            try:
                st["channels"] = self._ioctl.channels(dev)
                st["sources"]["channels"] = "ioctl"
            except OSError as e:
                if e.errno in NOT_SUPPORTED:
                    st["channels"] = None
                    st["sources"]["channels"] = "ioctl"
                else:
                    text = True
        if text:
            rc, out, _err = self.run([self.ethtool(), "-l", dev], check=False)
            st["channels"] = et.parse_channels(out) if rc == 0 else None
            st["sources"]["channels"] = "ethtool -l"
        try:
            st["rx_rings"] = self._ioctl.rx_rings(dev)
        except OSError:
            st["rx_rings"] = None

    def _read_features(self, st, text):
        dev = st["device"]
        if not text:
            try:
                st["ntuple"] = self._ioctl.feature(dev, "rx-ntuple-filter")
                if st["ntuple"] is not None:
                    st["ntuple"] = {"active": st["ntuple"]["active"], "fixed": st["ntuple"]["fixed"]}
                st["sources"]["ntuple"] = "ioctl"
                return
            except OSError:
                pass
        rc, out, _err = self.run([self.ethtool(), "-k", dev], check=False)
        st["ntuple"] = et.ntuple_from_features(et.parse_features(out)) if rc == 0 else None
        st["sources"]["ntuple"] = "ethtool -k"

    def _read_rss(self, st, text, context_ids):
        dev = st["device"]
        if text:
            return self._read_rss_text(st, context_ids)
        st["rss_dump"] = self.rss_dump_supported()
        try:
            main = self._ioctl.rxfh(dev, 0)
        except OSError as e:
            if e.errno in NOT_SUPPORTED:
                st["rss"] = None
                st["contexts_supported"] = False
                st["sources"]["rss"] = "ioctl"
                return
            return self._read_rss_text(st, context_ids)
        st["sources"]["rss"] = "ioctl"
        if not main["table"]:
            # e.g. virtio_net without VIRTIO_NET_F_RSS: a hash function but no indirection table
            st["rss"] = None
            st["contexts_supported"] = False
            return
        st["rss"] = {"indir_size": main["indir_size"], "key_size": main["key_size"],
                     "table": main["table"], "hfunc": main["hfunc"], "key": main["key"]}
        # contexts supported?  ENOENT on an id nobody uses = yes; EOPNOTSUPP = no
        try:
            self._ioctl.rxfh(dev, UNUSED_CONTEXT_ID)
            st["contexts_supported"] = True
        except OSError as e:
            st["contexts_supported"] = e.errno not in NOT_SUPPORTED
        if not st["contexts_supported"]:
            return
        if st["rss_dump"]:
            try:
                for r in self._genl.rss_contexts(dev):
                    if r["context"]:
                        st["contexts"][r["context"]] = {"id": r["context"], "table": r["table"],
                                                        "hfunc": hfunc_name(r["hfunc"]),
                                                        "key": key_from_bytes(r["key"])}
                st["sources"]["contexts"] = "netlink RSS_GET dump"
                return
            except OSError:
                pass
        ids = set(range(1, PROBE_CONTEXT_IDS + 1)) | set(i for i in context_ids if i)
        for cid in sorted(ids):
            try:
                r = self._ioctl.rxfh(dev, cid)
            except OSError as e:
                if e.errno in ABSENT or e.errno in NOT_SUPPORTED:
                    continue
                raise KernelError("reading RSS context %d of %s failed: %s" % (cid, dev, e), errno=e.errno)
            st["contexts"][cid] = {"id": cid, "table": r["table"], "hfunc": r["hfunc"], "key": r["key"]}
        st["sources"]["contexts"] = "ioctl GRSSH ids 1-%d" % PROBE_CONTEXT_IDS

    def _read_rss_text(self, st, context_ids):
        dev = st["device"]
        rc, out, _err = self.run([self.ethtool(), "-x", dev], check=False)
        st["sources"]["rss"] = "ethtool -x"
        if rc != 0:
            st["rss"] = None
            st["contexts_supported"] = False
            return
        main = et.parse_rxfh(out)
        if main["rings"] and not st["rx_rings"]:
            st["rx_rings"] = main["rings"]
        if not main["table"]:
            st["rss"] = None
            st["contexts_supported"] = False
            return
        st["rss"] = {"indir_size": len(main["table"]), "key_size": len(main["key"].split(":")) if main["key"] else 0,
                     "table": main["table"], "hfunc": main["hfunc"], "key": main["key"]}
        st["contexts_supported"] = None
        for cid in sorted(set(i for i in context_ids if i)):
            rc, out, err = self.run([self.ethtool(), "-x", dev, "context", str(cid)], check=False)
            if rc != 0:
                if "not supported" in (err or ""):
                    st["contexts_supported"] = False
                continue
            r = et.parse_rxfh(out)
            st["contexts_supported"] = True
            st["contexts"][cid] = {"id": cid, "table": r["table"], "hfunc": r["hfunc"], "key": r["key"]}
        st["sources"]["contexts"] = "ethtool -x context N (known ids only)"

    def _read_rules(self, st, text):
        dev = st["device"]
        if not text:
            try:
                res = self._ioctl.rules(dev)
                st["rules"] = res["rules"]
                st["rule_table_size"] = res["table_size"]
                st["driver_picks_location"] = res["driver_picks_location"]
                st["rules_supported"] = True
                st["sources"]["rules"] = "ioctl"
                return
            except OSError as e:
                if e.errno in NOT_SUPPORTED:
                    st["rules_supported"] = False
                    st["sources"]["rules"] = "ioctl"
                    return
        rc, out, err = self.run([self.ethtool(), "-n", dev], check=False)
        st["sources"]["rules"] = "ethtool -n"
        if rc != 0 and "Operation not supported" in (err or ""):
            st["rules_supported"] = False
            return
        parsed = et.parse_ntuple(out)
        st["rules"] = parsed["rules"]
        st["rules_supported"] = True

    # ------------------------------------------------------------ write
    def rss_over_netlink(self):
        """RSS writes go over ethtool netlink where the kernel offers them (6.17+): no process, and the
        new context's id comes back in the reply. The ethtool command serves older kernels."""
        if self._rss_netlink is None:
            try:
                self._rss_netlink = self.reader != "text" and self._genl.rss_write_supported()
            except OSError:
                self._rss_netlink = False
        return self._rss_netlink

    def _apply_rss_netlink(self, device, action):
        op = action["op"]
        try:
            if op == "context_delete":
                self._genl.rss_delete(device, action["id"])
                return {}
            if op == "default_reset":
                self._genl.rss_set(device, 0, table=[])
                return {}
            spec = action["spec"]
            table = None
            if spec.get("equal") or spec.get("weights"):
                table = spec_table(spec, self._ioctl.rxfh(device, 0)["indir_size"])
            hfunc = hfunc_mask(spec["hfunc"]) if spec.get("hfunc") else None
            key = bytes(bytearray(int(x, 16) for x in spec["key"].split(":"))) if spec.get("key") else None
            if op == "context_create":
                return {"id": self._genl.rss_create(device, table, hfunc, key)}
            self._genl.rss_set(device, action["id"] if op == "context_update" else 0, table, hfunc, key)
            return {}
        except OSError as err:
            raise rss_write_error(op, device, action["argv"], err)

    def _apply_rule_ioctl(self, device, action):
        op = action["op"]
        try:
            if op == "rule_delete":
                self._ioctl.rule_delete(device, action["loc"])
                return {}
            rule = dict(action["rule"])
            if rule.get("loc") is None:
                count, driver_picks = self._ioctl.rule_count(device)
                if not driver_picks:
                    # the driver leaves the location to the caller: as ethtool's rule manager picks it
                    taken, size = self._ioctl.rule_locations(device, count)
                    rule["loc"] = free_rule_location(taken, size)
                    if rule["loc"] is None:
                        raise no_free_rule_location(device, size, action["argv"])
            return {"loc": self._ioctl.rule_insert(device, rule)}
        except OSError as err:
            raise rule_write_error(op, device, action["argv"], err)

    def apply(self, device, action):
        """Run one planned action; -> ``{"id": new context id}`` / ``{"loc": rule location}`` / ``{}``."""
        result = self._apply(device, action)
        fault_point.changed("%s on %s" % (action["op"], device))
        return result

    def _apply(self, device, action):
        if action["op"] in RSS_OPS and self.rss_over_netlink():
            return self._apply_rss_netlink(device, action)
        if action["op"] in RULE_OPS and self.reader != "text":
            return self._apply_rule_ioctl(device, action)
        argv = list(action["argv"])
        argv[0] = self.ethtool()
        _rc, out, _err = self.run(argv)
        if action["op"] == "context_create":
            return {"id": et.parse_new_context(out)}
        if action["op"] == "rule_add":
            return {"loc": et.parse_added_rule(out)}
        return {}
