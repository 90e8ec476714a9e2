# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""A whole host's slice plan, converged in one process.

``converge`` takes one host's plan (the ``slice_plan`` filter's output) and brings the
host to it: the netkit devices of VMs that left go first, then the NIC (channels,
default table, contexts, rules, contexts no VM uses), each VM's netkit device and its
queue binding, the XDP program that feeds the VMs' AF_XDP sockets, the qemu argument
files, the plan record and the boot-time re-apply. Each resource goes through the
same service function its own module calls (``nic_service``, ``netkit_service``), so
there is one implementation; this file only orders them, names errors after the VM
and the option, and merges the results into one before/after.

A run that changes nothing starts no process: the kernel is read over netlink,
ioctl, sysfs and bpffs. Commands run only to change something (``ethtool`` for
channels, the ntuple feature and RSS on kernels before 6.17, ``bpftool`` to load the XDP
program, ``systemctl`` for the re-apply unit) and are listed in the result; ntuple
rules go over SIOCETHTOOL and the XDP attachment over rtnetlink, without a process.

The boot-time re-apply (``reapply.py``) runs ``converge`` on the saved plan.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import copy
import io as _io
import zipfile

from ansible_collections.vmnet.netkit.plugins.module_utils import fault_point
from ansible_collections.vmnet.netkit.plugins.module_utils.host import files as host_files
from ansible_collections.vmnet.netkit.plugins.module_utils.host import qemu as host_qemu
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import bpf
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import service as netkit_service
from ansible_collections.vmnet.netkit.plugins.module_utils.nic import service as nic_service
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import vm_processes
from ansible_collections.vmnet.netkit.plugins.module_utils.netkit import xdp_program
from ansible_collections.vmnet.netkit.plugins.module_utils.errors import (
    KernelError, NetkitError, UnsupportedError, ValidationError)
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink import rtnl
from ansible_collections.vmnet.netkit.plugins.module_utils.netlink.core import NetlinkError
from ansible_collections.vmnet.netkit.plugins.module_utils.nic.model import rx_queue_count
from ansible_collections.vmnet.netkit.plugins.module_utils.plan import slices as slice_plan

PACKAGE = "ansible_collections.vmnet.netkit.plugins.module_utils"
REAPPLY_MODULE = PACKAGE + ".host.reapply"
UNIT = "vmnet-netkit-reapply.service"
PLAN_FILE = "plan.json"
REAPPLY_FILE = "reapply.json"
REAPPLY_VERSION = 2
LOCK_FILE = "lock"

DEFAULTS = {
    "state": "present",
    "binding": "auto",
    "xdp": True,
    "xdp_mode": "native",
    "persistent": True,
    "install_tools": True,
    "reapply_after": [],
    "reapply_before": ["libvirtd.service", "virtqemud.service"],
    "device_timeout": 60,
    "lock_timeout": 300,
    "state_dir": "/var/lib/vmnet-netkit",
    "qemu_dir": "/etc/vmnet-netkit/qemu",
    "lib_dir": "/usr/lib/vmnet-netkit",
    "bpf_dir": "/sys/fs/bpf/vmnet-netkit",
    "unit_dir": "/etc/systemd/system",
    "parts": ["nic", "vms", "reapply"],
    "remove_strays": False,
}

# What a run may converge (the option ``parts``): the NIC's slices; the VMs' netkit devices, the XDP
# program and the qemu files; the boot-time re-apply. A VM that left the plan is removed whole by any run
# that converges the NIC or the VMs: it is on the host or it is not.
PARTS = ("nic", "vms", "reapply")

LINK_KEYS = ("mode", "pairing", "policy", "scrub", "headroom", "tailroom", "mtu", "address", "numrxqueues",
             "netns", "up", "peer", "lower")


def _run(argv):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          check=False, env=dict(os.environ, LC_ALL="C"))
    return proc.returncode, proc.stdout, proc.stderr


class HostIO(object):
    """The I/O seam of the engine: the NIC and netkit backends and the commands it starts.

    The unit tests give fakes of the backends and of ``run``; the files live under the
    directories the options name (tests point them at a temporary directory)."""

    def __init__(self, nic=None, netkit=None, run=None, which=None):
        self.nic = nic if nic is not None else nic_service.make_backend()
        self.netkit = netkit if netkit is not None else netkit_service.make_backend()
        self._run = run or _run
        self._which = which or shutil.which
        self.commands = []

    def run(self, argv, what):
        """Run a command that changes the host (bpftool, systemctl, apt-get)."""
        self.commands.append(list(argv))
        rc, out, err = self._run(list(argv))
        if rc != 0:
            raise KernelError("%s failed: %s (%s)" % (what, (err or out).strip() or "exit %d" % rc, " ".join(argv)),
                              command=list(argv), stderr=err)
        fault_point.changed(what)
        return out

    def which(self, tool):
        return self._which(tool)

    def all_commands(self):
        """Every command started: the engine's own and the NIC backend's (ethtool writes)."""
        return self.commands + list(getattr(self.nic, "commands", None) or [])

    def xdp(self, device):
        """The NIC's XDP attachment ({"mode", "prog_id"}) or None, read over rtnetlink."""
        link = self.netkit.link(device)
        return link.get("xdp") if link else None

    def xdp_attach(self, device, prog_pin, what):
        """Attach the program pinned at ``prog_pin`` to the device's XDP hook over rtnetlink, or detach
        what is attached (``prog_pin`` None): what ``ip link set dev DEV xdp pinned PATH`` / ``xdp off``
        does, without a process."""
        try:
            fd = bpf.obj_get(prog_pin) if prog_pin else -1
            try:
                self.netkit.rtnl().setlink(rtnl.build_xdp(socket.if_nametoindex(device), fd))
            finally:
                if fd >= 0:
                    os.close(fd)
        except OSError as err:
            raise KernelError("%s failed: %s" % (what, err), errno=err.errno)
        fault_point.changed(what)

    def qemu(self):
        """The host's qemu system emulator (host.qemu.probe), or None when it has none."""
        path = self.which(host_qemu.binary_name())
        return host_qemu.probe(path) if path else None

    def xdp_features(self, device):
        """The NIC's XDP features (netdev dev-get: "xsk-zerocopy", ...), or None where the kernel
        cannot tell."""
        try:
            return self.netkit.netdev().xdp_features(socket.if_nametoindex(device))
        except OSError:
            return None

    def close(self):
        for backend in (self.nic, self.netkit):
            if hasattr(backend, "close"):
                backend.close()


class PlannedNic(object):
    """Check mode: the NIC as the earlier steps of this run would leave it (each service hands its
    simulated state over through ``remember``); nothing is ever applied."""

    def __init__(self, real):
        self.real = real
        self.state = None

    def read(self, device, context_ids=()):
        if self.state is None or self.state.get("device") != device:
            return self.real.read(device, context_ids)
        return copy.deepcopy(self.state)

    def remember(self, state):
        self.state = copy.deepcopy(state)

    def apply(self, device, action):
        raise AssertionError("check mode applies nothing (%s)" % action.get("summary"))

    def __getattr__(self, name):
        return getattr(self.real, name)


class PlannedNetkit(object):
    """Check mode: netkit's view of the NIC's queue count is the one the channel step would set."""

    def __init__(self, real, nic):
        self.real = real
        self.nic = nic

    def rx_queue_count(self, device, netns=None):
        state = self.nic.state
        if not netns and state is not None and state.get("device") == device and state.get("channels"):
            return rx_queue_count(state)
        return self.real.rx_queue_count(device, netns)

    def __getattr__(self, name):
        return getattr(self.real, name)


# ---------------------------------------------------------------- input

def options(params):
    out = dict(DEFAULTS)
    out.update(dict((k, v) for k, v in params.items() if v is not None))
    return out


def check_plan(plan):
    """The plan must be slice_plan's output; a hand-made or stale one is named, not guessed at."""
    if not isinstance(plan, dict) or not plan:
        raise ValidationError("plan", "give one host's plan, the output of the vmnet.netkit.slice_plan filter",
                              value=plan)
    missing = [k for k in ("device", "channels", "default_table", "vms", "contexts", "rules") if k not in plan]
    if missing:
        raise ValidationError("plan", "is not a slice_plan result: it lacks %s" % ", ".join(missing))
    if not isinstance(plan["vms"], dict):
        raise ValidationError("plan.vms", "must map VM names to their slices", value=plan["vms"])
    netkit_service.check_ifname("plan.device", plan["device"])
    for name, vm in plan["vms"].items():
        for key in ("queues", "netkit", "qemu", "mac"):
            if not isinstance(vm, dict) or key not in vm:
                raise ValidationError("plan.vms.%s" % name, "is not a slice_plan VM (no %s)" % key)
        netkit_service.check_ifname("plan.vms.%s.netkit.name" % name, vm["netkit"]["name"])
        if os.sep in name or name in (".", "..") or not name:
            raise ValidationError("plan.vms.%s" % name, "a VM name names files: no '/', not '.' or '..'")


# how the NIC planner names a context no record of the collection names, in an overlap refusal
FOREIGN_OVERLAP = "(not managed by name)"

# an input of the planner named inside one of its messages: vms[N] or subnets[N], not already under a prefix
INPUT_REFERENCE = re.compile(r"(^|[^\w.])((?:vms|subnets)\[\d+\])")


def plan_from_inventory(inventory, recorded):
    """The host's plan from its inventory (the slice_plan filter's inputs), planned against the plan the
    host was last converged to (RECORDED, read under the run's lock), so a VM keeps its queues, MAC and
    allocated addresses. Errors name the option under ``inventory``."""
    try:
        return slice_plan.plan(inventory["vms"], inventory["device"], inventory["queues"], inventory["host_queues"],
                               subnets=inventory.get("subnets") or [], previous=recorded or {})
    except ValidationError as err:
        option = "inventory.%s" % err.option if err.option else "inventory"
        problem = err.problem[len(err.option) + 2:] if err.option else err.problem
        # the other inputs a message names (vms[1], subnets[0].exclude) are under inventory too
        problem = INPUT_REFERENCE.sub(r"\1inventory.\2", problem)
        raise ValidationError(option, problem, value=err.value, allowed=err.allowed)


def check_parts(parts):
    """-> the set of PARTS a run converges; anything else is named with what is valid."""
    if not isinstance(parts, (list, tuple)) or not parts:
        raise ValidationError("parts", "give at least one of %s" % ", ".join(PARTS), value=parts,
                              allowed=list(PARTS))
    for n, part in enumerate(parts):
        if part not in PARTS:
            raise ValidationError("parts[%d]" % n, "is not a part of a host", value=part, allowed=list(PARTS))
    return set(parts)


def _link_params(vm, state="present", binding="auto"):
    """netkit_link's parameters for a planned VM's device."""
    netkit = vm["netkit"]
    params = dict((k, None) for k in LINK_KEYS)
    params.update({"name": netkit["name"], "state": state, "recreate": False})
    if state == "present":
        params.update({"pairing": netkit.get("pairing"), "mode": netkit.get("mode"), "address": vm.get("mac"),
                       "numrxqueues": netkit.get("numrxqueues"), "up": True,
                       "lower": dict(netkit["lower"], binding=binding) if netkit.get("lower") else None})
    return params


def _nic_steps(plan, gone=(), converge_nic=True, remove_strays=False):
    """The NIC's resource calls, in order. The rules and then the
    contexts of VMs that left go first, so that their queues are free for the contexts this plan
    creates (a context may not overlap another, and a rule keeps its context from being deleted);
    the last steps remove the other rules and contexts of the collection's that no VM uses (with
    ``converge_nic`` false, only the slices of VMs that left go: a run of the VMs' part alone). Contexts
    no record names, and rules that do not steer to the collection's contexts, belong to someone else:
    they stay (verify.yml reports them), unless ``remove_strays`` asks for them to go first, before
    anything is made that could overlap them."""
    dev = plan["device"]
    contexts = [dict(c) for c in plan["contexts"]]
    gone_rules = [dict(r) for vm in gone for r in vm.get("rules") or []]
    gone_contexts = [dict(vm["rss_context"]) for vm in gone if vm.get("rss_context")]
    steps = []
    if gone_rules:
        steps.append(("rules of VMs that left", nic_service.run_rules,
                      {"device": dev, "rules": gone_rules, "state": "deleted"}))
    if gone_contexts:
        steps.append(("contexts of VMs that left", nic_service.run_contexts,
                      {"device": dev, "contexts": gone_contexts, "state": "deleted"}))
    if not converge_nic:
        return steps
    if remove_strays:
        # what no record names (someone else's, or left by hand): rules first, as a rule keeps its context
        steps.append(("rules not made by vmnet.netkit", nic_service.run_rules,
                      {"device": dev, "rules": [], "state": "deleted", "foreign_only": True}))
        steps.append(("contexts not made by vmnet.netkit", nic_service.run_contexts,
                      {"device": dev, "contexts": [], "state": "deleted", "foreign_only": True}))
    return steps + [
        ("channels", nic_service.run_channels, {"device": dev, "combined": plan["channels"]}),
        ("contexts", nic_service.run_contexts, {"device": dev, "default": plan["default_table"],
                                                "contexts": contexts, "state": "merged"}),
        ("rules", nic_service.run_rules, {"device": dev, "rules": [dict(r) for r in plan["rules"]],
                                          "state": "overridden", "owned_only": True}),
        ("contexts no VM uses", nic_service.run_contexts, {"device": dev, "default": plan["default_table"],
                                                           "contexts": contexts, "state": "overridden",
                                                           "owned_only": True}),
    ]


# ---------------------------------------------------------------- the run

class Run(object):
    """What one converge did: actions in order, before/after per resource, commands started."""

    def __init__(self, check_mode):
        self.check_mode = check_mode
        self.actions = []
        self.before = {}
        self.after = {}
        self.notes = []
        self.qemu = None

    def took(self, key, result, before=None, after=None):
        self.actions.extend(a if isinstance(a, str) else a.get("summary", str(a)) for a in result.get("actions") or [])
        self.notes.extend(result.get("notes") or [])
        self.before[key] = result.get("before") if before is None else before
        self.after[key] = result.get("after") if after is None else after

    def act(self, summary):
        self.actions.append(summary)
        return not self.check_mode


class _Planned(object):
    """The I/O of a check-mode run: backends that play the run's own steps forward."""

    def __init__(self, io):
        self.io = io
        self.nic = PlannedNic(io.nic)
        self.netkit = PlannedNetkit(io.netkit, self.nic)

    def __getattr__(self, name):
        return getattr(self.io, name)


def _named(prefix, err):
    """Re-raise a resource error with the VM (or part of the host) it is about."""
    msg = "%s: %s" % (prefix, err)
    if isinstance(err, ValidationError):
        return ValidationError(None, "%s: %s" % (prefix, err.problem), value=err.value, allowed=err.allowed)
    if isinstance(err, UnsupportedError):
        return UnsupportedError(err.feature, msg)
    return KernelError(msg, command=err.details.get("command"), errno=err.details.get("errno"),
                       stderr=err.details.get("stderr"))


def _kernel_offers(plan, opts, io):
    """What the kernel must offer every VM's device (netkit, single mode, a queue binding), checked before
    the lock file is made and anything changes; -> nothing, or the error that names the VM."""
    caps = io.netkit.capabilities() if plan["vms"] else None
    for vm in sorted(plan["vms"].values(), key=lambda v: v["queues"]):
        try:
            netkit_service.check_kernel(_link_params(vm, binding=opts["binding"]), caps)
        except NetkitError as err:
            raise _named("vms.%s (netkit %s)" % (vm["name"], vm["netkit"]["name"]), err)


def converge(params, io, check_mode=False, boot=False):
    """-> the module result. ``boot``: the re-apply at boot (no persistence files, no installs)."""
    opts = options(params)
    os.environ["VMNET_NETKIT_STATE_DIR"] = opts["state_dir"]
    parts = check_parts(opts["parts"])
    planned = opts.get("inventory") and opts["state"] != "absent"
    touches_host = bool(parts & {"nic", "vms"})
    if planned:
        # bad input is refused before the lock file is made; the plan that counts is made again under the
        # lock, from the record as a run that held the lock before may have left it
        plan = plan_from_inventory(opts["inventory"], _read_json(_record_path(opts)))
        if touches_host:
            _kernel_offers(plan, opts, io)
    elif opts["state"] == "present" and not (parts == {"reapply"} and not opts["persistent"]):
        if opts.get("plan") is None:
            raise ValidationError("plan", "state=present needs the host's inventory or its plan (only parts: "
                                  "[reapply] with persistent: false, which removes the re-apply, needs neither)")
        check_plan(opts.get("plan"))
        if touches_host:
            _kernel_offers(opts["plan"], opts, io)
    with _Lock(opts, check_mode):
        run = Run(check_mode)
        if planned:
            opts["plan"] = plan_from_inventory(opts["inventory"], _read_json(_record_path(opts)))
            check_plan(opts["plan"])
        try:
            if opts["state"] == "gathered":
                return gather(opts, io)
            if check_mode:
                io = _Planned(io)
            if opts["state"] == "absent":
                result = _absent(opts, io, run)
            else:
                result = _present(opts, io, run, boot)
        except NetlinkError as err:
            # a read the services do not make themselves (the NIC's XDP attachment, ...): reported the
            # same way, with the kernel's words, instead of as a crash of the module
            text = str(err)
            if err.request and err.request not in text:
                text = "%s failed: %s" % (err.request, text)
            failure = KernelError(text, errno=err.errno)
            failure.details["actions"] = list(run.actions)
            raise failure from err
        except NetkitError as err:
            # what was done before the failure; a re-run converges from there
            err.details["actions"] = list(run.actions)
            raise
    result.update({"changed": bool(run.actions), "actions": run.actions, "notes": run.notes, "qemu": run.qemu,
                   "commands": [" ".join(c) for c in io.all_commands()],
                   "diff": {"before": run.before, "after": run.after}})
    return result


class _Lock(object):
    """One run at a time on a host: a second run waits for the first (up to lock_timeout), then gives up
    with a message naming the holder. Check mode changes nothing, so it takes no lock."""

    def __init__(self, opts, check_mode):
        self.path = os.path.join(opts["state_dir"], LOCK_FILE)
        self.timeout = opts["lock_timeout"]
        self.skip = check_mode
        self.fd = None

    def __enter__(self):
        if self.skip:
            return self
        try:
            if not os.path.isdir(os.path.dirname(self.path)):
                os.makedirs(os.path.dirname(self.path), 0o755)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise KernelError("cannot open the lock %s: %s" % (self.path, err.strerror), errno=err.errno)
        deadline = time.time() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.time() >= deadline:
                    holder = os.pread(self.fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
                    os.close(self.fd)
                    raise KernelError("another vmnet.netkit run on this host (pid %s) held %s for %d s "
                                      "(lock_timeout); nothing was changed, run again when it has finished"
                                      % (holder, self.path, self.timeout))
                time.sleep(0.2)
        try:
            # who holds it, for the message of a run that gives up (best effort: a full disk must not
            # stop the run here, the writes that matter report it with the file named)
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, ("%d\n" % os.getpid()).encode(), 0)
        except OSError:
            pass
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            os.close(self.fd)
        return False


def _read_json(path):
    text = host_files.read_text(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise ValidationError(None, "%s is not valid JSON; move it away (the next run then starts from the "
                              "inventory alone)" % path)


def _record_path(opts):
    return os.path.join(opts["state_dir"], PLAN_FILE)


def _present(opts, io, run, boot):
    parts = set(opts["parts"])
    plan = opts.get("plan")
    if not parts & {"nic", "vms"}:
        # the boot-time re-apply alone (the slice_persistence role)
        _reapply(opts, plan, io, run, boot)
        return {"plan": plan or {}, "vms": {}, "qemu_args": {}, "libvirt": {}}
    check = run.check_mode
    recorded = _read_json(_record_path(opts)) or {}
    gone = [vm for name, vm in (recorded.get("vms") or {}).items() if name not in plan["vms"]]
    # 1. the netkit devices of VMs that left (before their contexts and rules: reverse of creation)
    for vm in sorted(gone, key=lambda v: v.get("queues") or [0], reverse=True):
        try:
            r = netkit_service.run_link(_link_params(vm, "absent"), io.netkit, check_mode=check,
                                        diff=True)
        except NetkitError as err:
            raise _named("removing VM %s" % vm.get("name"), err)
        run.took("netkit %s" % vm["netkit"]["name"], r, r["diff"]["before"], {})
        for path in _vm_files(opts, vm["name"]):
            _remove(run, path, "qemu arguments of a VM that left")
    # 2. with remove_strays, netkit devices no VM has (before the NIC: they may hold its queues)
    if opts["remove_strays"] and "vms" in parts:
        _remove_stray_devices(plan, io, run)
    # 3. the NIC (the slices of VMs that left first, whichever parts this run converges)
    same_nic = recorded.get("device") == plan["device"]
    for key, service, params in _nic_steps(plan, gone if same_nic else (), "nic" in parts, opts["remove_strays"]):
        try:
            r = service(params, io.nic, check_mode=check)
        except ValidationError as err:
            failure = _named("NIC %s (%s)" % (plan["device"], key), err)
            if FOREIGN_OVERLAP in str(err) and not opts["remove_strays"]:
                # the way out that needs no ethtool by hand
                failure = ValidationError(None, "%s; remove_strays (provision.yml: -e vmnet_remove_strays=true) "
                                          "removes the contexts vmnet.netkit did not make" % failure.problem,
                                          value=failure.value, allowed=failure.allowed)
            raise failure
        except NetkitError as err:
            raise _named("NIC %s (%s)" % (plan["device"], key), err)
        run.took("nic %s" % key, r)
    vms = _vms(opts, plan, io, run, boot) if "vms" in parts else {}
    # 7. the record the next plan starts from, and the boot-time re-apply
    _write(run, _record_path(opts), json.dumps(plan, indent=4, sort_keys=True) + "\n", "the plan record")
    if "reapply" in parts:
        _reapply(opts, plan, io, run, boot)
    elif not boot:
        _follow_plan(opts, plan, run)
    return {"plan": plan, "vms": vms, "qemu_args": dict((n, v["qemu_args"]) for n, v in vms.items()),
            "libvirt": dict((n, v["libvirt"]) for n, v in vms.items())}


def _remove_stray_devices(plan, io, run):
    """remove_strays: netkit devices named like a VM's (nk-...) in the host's namespace that no VM of the plan
    has. One that a process (a VM's qemu) still uses stays, with a note: removing it would cut that VM off."""
    planned = set(vm["netkit"]["name"] for vm in plan["vms"].values())
    strays = sorted(link["name"] for link in io.netkit.netkit_links(None)
                    if link["name"].startswith(slice_plan.NETKIT_PREFIX) and link["name"] not in planned)
    if not strays:
        return
    users = vm_processes.users(io.netkit.process_cmdlines(), strays)
    for name in strays:
        if users.get(name):
            run.notes.append("netkit device %s is no VM's of the plan but process(es) %s use it; it stays (stop them "
                             "and run again to remove it)" % (name, ", ".join(
                                 "%s (pid %s)" % (u["command"], u["pid"]) for u in users[name])))
            continue
        try:
            r = netkit_service.run_link(_link_params({"netkit": {"name": name}}, "absent"), io.netkit,
                                        check_mode=run.check_mode, diff=True)
        except NetkitError as err:
            raise _named("removing stray netkit device %s" % name, err)
        run.took("netkit %s" % name, r, r["diff"]["before"], {})


def _vms(opts, plan, io, run, boot):
    """4. each VM's netkit device, in queue order; 5. the XDP program on the NIC, into whose map qemu
    puts its sockets; 6. the qemu arguments, from the queue ids the kernel gave each device."""
    check = run.check_mode
    vms = {}
    for vm in sorted(plan["vms"].values(), key=lambda v: v["queues"]):
        try:
            r = netkit_service.run_link(_link_params(vm, binding=opts["binding"]), io.netkit, check_mode=check,
                                        diff=True)
        except NetkitError as err:
            raise _named("vms.%s (netkit %s)" % (vm["name"], vm["netkit"]["name"]), err)
        run.took("netkit %s" % vm["netkit"]["name"], r, r.get("diff", {}).get("before"), r.get("device"))
        vms[vm["name"]] = {"netkit": vm["netkit"]["name"], "queues": r["queues"], "queue_map": r["queue_map"],
                           "binding": r["binding"]}
    map_path = _xdp(opts, plan, io, run, boot) if opts["xdp"] else None
    if map_path and plan["vms"] and not boot:
        _check_qemu(io, run)
    for name, vm in sorted(plan["vms"].items()):
        queues = vms[name]["queues"]
        if queues != list(range(queues[0], queues[0] + len(queues))) or len(queues) != vm["qemu"]["queues"]:
            raise KernelError("vms.%s: the kernel gave %s queue ids %s, not %d consecutive ones; qemu's "
                              "start-queue/queues cannot name them" % (name, vm["netkit"]["name"], queues,
                                                                       vm["qemu"]["queues"]))
        qvm = dict(vm, qemu=dict(vm["qemu"], start_queue=queues[0]))
        argv = slice_plan.qemu_netdev(qvm, map_path=map_path, mode=opts["xdp_mode"])
        vms[name]["qemu_args"] = argv
        vms[name]["libvirt"] = slice_plan.qemu_libvirt(argv)
    _qemu_files(opts, vms, run)
    return vms


def _check_qemu(io, run):
    """The VMs' arguments need qemu's -netdev af-xdp with map-path: a qemu on the host without them is
    said in the notes (the arguments are still written: the VMs may start elsewhere)."""
    run.qemu = io.qemu()
    said = host_qemu.note(run.qemu)
    if said:
        run.notes.append(said)


def _write(run, path, content, what, mode=0o644):
    """Write a file when its content differs; -> whether it did (or would)."""
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    old = host_files.read_bytes(path)
    if old == data:
        return False
    key = "file %s" % path
    shown = (lambda b: b.decode("utf-8", "replace")) if not path.endswith((".zip", ".o")) else \
        (lambda b: "%d bytes" % len(b))
    run.before[key] = shown(old) if old is not None else None
    run.after[key] = shown(data)
    if run.act("write %s (%s)" % (what, path)):
        host_files.atomic_write(path, data, mode=mode)
    return True


def _remove(run, path, what):
    old = host_files.read_bytes(path)
    if old is None:
        return False
    run.before["file %s" % path] = "%d bytes" % len(old)
    run.after["file %s" % path] = None
    if run.act("remove %s (%s)" % (what, path)):
        host_files.remove(path)
    return True


# ---------------------------------------------------------------- XDP

# Why it matters: a copy-mode socket on a single-mode netkit device receives, but what it sends goes
# to the netkit device's own transmit, which has no peer and drops it.
ZERO_COPY_MISSING = ("%s offers no AF_XDP zero-copy (its XDP features: %s): the VMs' qemu sockets bind in copy "
                     "mode, which receives but cannot send through a single-mode netkit device; a driver with "
                     "xsk-zerocopy (mlx5, ice, i40e, ixgbe, bnxt) gives the VMs both directions")


def _xdp(opts, plan, io, run, boot):
    nic = plan["device"]
    pin_dir = os.path.join(opts["bpf_dir"], nic)
    prog_pin, map_pin = os.path.join(pin_dir, "prog"), os.path.join(pin_dir, "xsks")
    obj = os.path.join(opts["lib_dir"], "xdp", xdp_program.OBJECT_NAME)
    fresh = _write(run, obj, xdp_program.object_bytes(), "the XDP program")
    if fresh and os.path.exists(prog_pin):
        run.notes.append("the XDP program pinned at %s is from an older build; it is replaced when the NIC's "
                         "slices are torn down or the host reboots" % prog_pin)
    attached = io.xdp(nic)
    run.before["xdp %s" % nic] = {"attached": attached, "pinned": os.path.exists(prog_pin)}
    features = io.xdp_features(nic)
    if features is not None and "xsk-zerocopy" not in features:
        run.notes.append(ZERO_COPY_MISSING % (nic, ", ".join(features) or "none"))
    if not os.path.isdir(pin_dir):
        if run.act("create the bpffs directory %s" % pin_dir):
            try:
                os.makedirs(pin_dir, 0o700)
            except OSError as err:
                raise KernelError("cannot create %s: %s (is bpffs mounted on %s?)" % (
                    pin_dir, err.strerror, os.path.dirname(opts["bpf_dir"])), errno=err.errno)
    need_load = not os.path.exists(prog_pin)
    if not need_load and not os.path.exists(map_pin):
        # a program without its map cannot serve qemu: load both again
        need_load = True
        if run.act("unpin %s (its map %s is gone)" % (prog_pin, map_pin)):
            host_files.remove(prog_pin)
    if need_load:
        if run.act("load the XDP program and pin it with its map in %s" % pin_dir):
            bpftool = _tool(opts, io, "bpftool", "bpftool", boot)
            io.run([bpftool, "prog", "load", obj, prog_pin, "type", "xdp", "pinmaps", pin_dir],
                   "loading the XDP program")
    if attached is None:
        if run.act("attach the XDP program to %s" % nic):
            io.xdp_attach(nic, prog_pin, "attaching the XDP program to %s" % nic)
    run.after["xdp %s" % nic] = {"attached": attached or {"mode": "(new)"}, "pinned": True}
    return map_pin


def _tool(opts, io, tool, package, boot):
    found = io.which(tool)
    if found:
        return found
    if opts["install_tools"] and not boot and io.which("apt-get"):
        io.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", package],
               "installing %s (install_tools)" % package)
        found = io.which(tool)
        if found:
            return found
    raise UnsupportedError(tool, "%s is needed to load and attach the XDP program that feeds the VMs' AF_XDP "
                           "sockets, and this host has none" % tool,
                           provided_by="install the %s package (or set install_tools: true on a Debian host), or "
                           "set xdp: false" % package)


# ---------------------------------------------------------------- qemu files

def _vm_files(opts, name):
    """The qemu argument files of a VM."""
    return [os.path.join(opts["qemu_dir"], name + ext) for ext in (".args", ".xml")]


def _qemu_files(opts, vms, run):
    """Each VM's files (its qemu arguments and libvirt snippet, as _vms made them); files of VMs that left go."""
    qdir = opts["qemu_dir"]
    wanted = {}
    for name, vm in vms.items():
        args_path, xml_path = _vm_files(opts, name)
        wanted[args_path] = "".join("%s\n" % a for a in vm["qemu_args"])
        wanted[xml_path] = vm["libvirt"] + "\n"
    for path, content in sorted(wanted.items()):
        _write(run, path, content, "qemu arguments")
    if os.path.isdir(qdir):
        for entry in sorted(os.listdir(qdir)):
            path = os.path.join(qdir, entry)
            if entry.endswith((".args", ".xml")) and path not in wanted:
                _remove(run, path, "qemu arguments of a VM that left")


# ---------------------------------------------------------------- boot-time re-apply

def own_code():
    """The collection code this process runs, as one reproducible zip (fixed dates, sorted entries):
    the re-apply runs exactly this code at boot, whatever collection version is installed later."""
    names = sorted(n for n in sys.modules if n.startswith(PACKAGE + "."))
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        parts = PACKAGE.split(".")
        for depth in range(1, len(parts) + 1):
            _zip_add(zf, "/".join(parts[:depth]) + "/__init__.py", b"")
        for name in names:
            module = sys.modules[name]
            path = name.replace(".", "/") + ("/__init__.py" if hasattr(module, "__path__") else ".py")
            source = None
            loader = getattr(module, "__loader__", None)
            if loader is not None and hasattr(loader, "get_source"):
                source = loader.get_source(name)
            if source is None:
                raise KernelError("cannot read the source of %s to install the boot-time re-apply" % name)
            _zip_add(zf, path, source.encode("utf-8"))
    return buf.getvalue()


def _zip_add(zf, path, data):
    info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def _paths(opts):
    return {"code": os.path.join(opts["lib_dir"], "module_utils.zip"),
            "record": os.path.join(opts["state_dir"], REAPPLY_FILE),
            "unit": os.path.join(opts["unit_dir"], UNIT),
            "wants": os.path.join(opts["unit_dir"], "multi-user.target.wants", UNIT)}


def reapply_record(opts, plan):
    keep = ("binding", "xdp", "xdp_mode", "state_dir", "qemu_dir", "lib_dir", "bpf_dir", "device_timeout")
    return {"version": REAPPLY_VERSION, "devices": [plan["device"]], "device_timeout": opts["device_timeout"],
            "plan": plan, "options": dict((k, opts[k]) for k in keep)}


def unit_text(opts):
    paths = _paths(opts)
    return "\n".join([
        "# Managed by vmnet.netkit (host_network): changes here are overwritten by the next run.",
        "# Re-applies the NIC slices, netkit devices and XDP program vmnet.netkit last converged,",
        "# with the collection's own code, before VM services start.",
        "[Unit]",
        "Description=Re-apply vmnet.netkit NIC slices and netkit devices",
        "After=%s" % " ".join(["systemd-udev-settle.service", "network-pre.target"] + list(opts["reapply_after"])),
        "Wants=network-pre.target",
        "Before=%s" % " ".join(["network.target"] + list(opts["reapply_before"])),
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        "Environment=PYTHONPATH=%s" % paths["code"],
        "ExecStart=/usr/bin/python3 -m %s %s" % (REAPPLY_MODULE, paths["record"]),
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        ""])


def _persist(opts, plan, io, run):
    paths = _paths(opts)
    _write(run, paths["code"], own_code(), "the re-apply's code")
    _write(run, paths["record"], json.dumps(reapply_record(opts, plan), indent=1, sort_keys=True) + "\n",
           "the re-apply record")
    had_unit = os.path.exists(paths["unit"])
    unit_changed = _write(run, paths["unit"], unit_text(opts), "the re-apply unit")
    # The unit only runs at boot, and a boot loads it from disk: enabling it needs the wants link,
    # not a reload of the manager (a reload runs every generator, about a second and a half under
    # emulation). Only a unit the manager may hold in memory, one that was there before and changed,
    # gets a daemon-reload, so that it does not keep the old text.
    if not os.path.lexists(paths["wants"]):
        run.before["enabled %s" % UNIT], run.after["enabled %s" % UNIT] = False, True
        if run.act("enable %s" % UNIT):
            io.run(["systemctl", "--no-reload", "enable", UNIT], "enabling %s" % UNIT)
    if had_unit and unit_changed and run.act("reload systemd"):
        io.run(["systemctl", "daemon-reload"], "systemctl daemon-reload")


def _reapply(opts, plan, io, run, boot):
    """The re-apply's part: installed (persistent) or removed; left alone at boot, when it is what runs."""
    if boot:
        return
    if opts["persistent"]:
        _persist(opts, plan, io, run)
    else:
        _unpersist(opts, io, run)


def _follow_plan(opts, plan, run):
    """A run that leaves the re-apply out of its parts still keeps an installed re-apply on the plan it
    converged, with the re-apply's own options: a boot must not bring back a VM that left."""
    path = _paths(opts)["record"]
    saved = _read_json(path)
    if not saved or saved.get("version") != REAPPLY_VERSION or saved.get("plan") == plan:
        return
    record = dict(saved, plan=plan, devices=[plan["device"]])
    _write(run, path, json.dumps(record, indent=1, sort_keys=True) + "\n", "the re-apply record")


def _unpersist(opts, io, run):
    paths = _paths(opts)
    disabled = False
    if os.path.lexists(paths["wants"]):
        run.before["enabled %s" % UNIT], run.after["enabled %s" % UNIT] = True, False
        # no reload here: the one after the unit file is gone covers both
        if run.act("disable %s" % UNIT):
            io.run(["systemctl", "--no-reload", "disable", UNIT], "disabling %s" % UNIT)
            disabled = True
    removed = _remove(run, paths["unit"], "the re-apply unit")
    _remove(run, paths["record"], "the re-apply record")
    _remove(run, paths["code"], "the re-apply's code")
    if (removed or disabled) and run.act("reload systemd"):
        io.run(["systemctl", "daemon-reload"], "systemctl daemon-reload")


# ---------------------------------------------------------------- teardown

def plan_of_steps(steps):
    """The parts of a plan teardown needs, from the steps the roles saved for the boot-time re-apply
    (record version 1: older versions of the nic_slice and vm_network roles saved their module calls and XDP
    commands; hosts they set up still have it): the NIC, its
    contexts and rules, each VM's netkit device, the XDP program's bpffs directory and its files."""
    plan = {"vms": {}}
    for step in steps:
        params, argv = step.get("params") or {}, step.get("argv") or []
        module = step.get("module")
        if module in ("nic_channels", "rss_contexts", "ntuple_rules") and params.get("device"):
            plan["device"] = params["device"]
        if module == "rss_contexts":
            plan["contexts"] = params.get("contexts") or []
        elif module == "ntuple_rules":
            plan["rules"] = params.get("rules") or []
        elif module == "netkit_link" and params.get("name"):
            # in the order the role made them, so teardown removes them the other way round
            plan["vms"][params["name"]] = {"netkit": {"name": params["name"]}, "queues": [len(plan["vms"])]}
        elif module == "command" and "pinned" in argv[:-1]:
            plan["pin_dir"] = os.path.dirname(argv[argv.index("pinned") + 1])
        elif module == "command" and argv[:3] == ["bpftool", "prog", "load"] and len(argv) > 3:
            plan["xdp_files"] = [argv[3], re.sub(r"\.o$", ".c", argv[3])]
    return plan


def _recorded(opts):
    """What teardown removes: the plan record; without it, the plan the re-apply record saved (a record
    of host_network's own) or the steps it saved (a host the roles set up)."""
    plan = _read_json(_record_path(opts))
    if plan:
        return plan
    saved = _read_json(_paths(opts)["record"]) or {}
    if saved.get("version") == REAPPLY_VERSION:
        return saved.get("plan") or {}
    return plan_of_steps(saved.get("steps") or [])


def _absent(opts, io, run):
    """Everything the recorded plan names, in reverse order of creation; the re-apply goes first, so
    a reboot half-way does not bring slices back."""
    recorded = _recorded(opts)
    _unpersist(opts, io, run)
    for vm in sorted((recorded.get("vms") or {}).values(), key=lambda v: v.get("queues") or [0], reverse=True):
        r = netkit_service.run_link(_link_params(vm, "absent"), io.netkit, check_mode=run.check_mode,
                                    diff=True)
        run.took("netkit %s" % vm["netkit"]["name"], r, r["diff"]["before"], {})
    qdir = opts["qemu_dir"]
    if os.path.isdir(qdir):
        for entry in sorted(os.listdir(qdir)):
            if entry.endswith((".args", ".xml")):
                _remove(run, os.path.join(qdir, entry), "qemu arguments")
    dev = recorded.get("device")
    if dev:
        for key, service, params in (
                ("rules", nic_service.run_rules, {"device": dev, "rules": recorded.get("rules") or [],
                                                  "state": "deleted"}),
                ("contexts", nic_service.run_contexts, {"device": dev, "default": {"reset": True},
                                                        "contexts": recorded.get("contexts") or [],
                                                        "state": "deleted"})):
            if not (recorded.get(key) or key == "contexts"):
                continue
            r = service(params, io.nic, check_mode=run.check_mode)
            run.took("nic %s" % key, r)
        if io.xdp(dev) is not None and run.act("detach the XDP program from %s" % dev):
            io.xdp_attach(dev, None, "detaching the XDP program from %s" % dev)
        pin_dir = recorded.get("pin_dir") or os.path.join(opts["bpf_dir"], dev)
        if os.path.isdir(pin_dir) and run.act("unpin the XDP program and its map (%s)" % pin_dir):
            for entry in os.listdir(pin_dir):
                host_files.remove(os.path.join(pin_dir, entry))
            os.rmdir(pin_dir)
    for path in recorded.get("xdp_files") or [os.path.join(opts["lib_dir"], "xdp", xdp_program.OBJECT_NAME)]:
        _remove(run, path, "the XDP program")
    _remove(run, _record_path(opts), "the plan record")
    return {"plan": {}, "vms": {}, "qemu_args": {}}


# ---------------------------------------------------------------- read-only

def gather(opts, io):
    """The host as verify.yml compares it with the plan: the NIC, the netkit devices, the XDP attachment."""
    plan = opts.get("plan") or _read_json(_record_path(opts)) or {}
    dev = plan.get("device")
    out = {"changed": False, "actions": [], "plan": plan, "nic": None, "netkit": None, "xdp": None,
           "xdp_features": None}
    if dev:
        out["nic"] = nic_service.run_info({"device": dev}, io.nic)
        out["xdp"] = io.xdp(dev)
        out["xdp_features"] = io.xdp_features(dev)
    out["netkit"] = netkit_service.run_info({"netns": [], "nics": [dev] if dev else []}, io.netkit)
    return out
