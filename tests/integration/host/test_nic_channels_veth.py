# SPDX-License-Identifier: GPL-3.0-or-later
"""nic_channels (and the refusals of the other NIC modules) against real veth devices.

A network namespace with a veth pair of 4 RX/TX queues is created on this machine;
the modules run for real through ``ansible-playbook`` (local connection) inside
``ip netns exec``, with the environment of scripts/env.sh.  veth implements
``ethtool -L`` for rx/tx channels but has no RSS table, contexts or ntuple rules,
so those modules must refuse cleanly.  Needs root (netns and veth creation).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
VENV_BIN = os.path.join(os.environ.get("VMNET_VENV", os.path.join(ROOT, ".venv")), "bin")
NODE_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else os.path.join(VENV_BIN, "python")


def _sh(*argv):
    return subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          check=False)


@pytest.fixture(scope="module")
def netns(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace and veth devices")
    if not shutil.which("ip") or not shutil.which("ethtool"):
        pytest.skip("needs the ip (iproute2) and ethtool commands")
    if not os.path.exists(os.path.join(VENV_BIN, "ansible")):
        pytest.skip("controller virtual environment missing: run scripts/setup")
    name = "nkt-%s" % uuid.uuid4().hex[:8]
    r = _sh("ip", "netns", "add", name)
    if r.returncode != 0:
        pytest.skip("cannot create a network namespace: %s" % r.stderr.strip())
    try:
        r = _sh("ip", "-n", name, "link", "add", "v0", "numtxqueues", "4", "numrxqueues", "4", "type", "veth",
                "peer", "name", "v1", "numtxqueues", "4", "numrxqueues", "4")
        if r.returncode != 0:
            pytest.skip("cannot create veth devices: %s" % r.stderr.strip())
        for dev in ("v0", "v1"):
            _sh("ip", "-n", name, "link", "set", dev, "up")
        state_dir = str(tmp_path_factory.mktemp("nic-state"))
        yield {"name": name, "state_dir": state_dir}
    finally:
        _sh("ip", "netns", "del", name)


def ansible(ns, module, args, check=False, diff=False):
    """Run one module for real in the namespace through ansible-playbook; -> its registered result."""
    env = dict(os.environ)
    env.update({
        "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".build", "collections"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "VMNET_NETKIT_STATE_DIR": ns["state_dir"],
    })
    work = os.path.join(ns["state_dir"], uuid.uuid4().hex[:8])
    os.makedirs(work)
    out = os.path.join(work, "result.json")
    play = [{
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": NODE_PYTHON},
        "tasks": [
            {"name": "run", "vmnet.netkit.%s" % module: args, "register": "r", "ignore_errors": True},
            {"name": "save", "ansible.builtin.copy": {"content": "{{ r | to_json }}", "dest": out},
             "check_mode": False, "diff": False},
        ],
    }]
    book = os.path.join(work, "play.yml")
    with open(book, "w") as f:
        json.dump(play, f)
    argv = ["ip", "netns", "exec", ns["name"], os.path.join(VENV_BIN, "ansible-playbook"), "-i", "localhost,",
            "-c", "local", book]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                       check=False)
    if not os.path.exists(out):
        raise AssertionError("ansible-playbook saved no result (rc=%s): %s %s"
                             % (p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    with open(out) as f:
        return json.load(f)


def channels(ns, dev="v0"):
    out = _sh("ip", "netns", "exec", ns["name"], "ethtool", "-l", dev).stdout
    cur = out.split("Current hardware settings:")[1]
    return dict((line.split(":")[0].strip().lower(), line.split(":")[1].strip()) for line in cur.strip().splitlines())


def test_info_on_veth(netns):
    r = ansible(netns, "nic_info", {"device": "v0"})
    assert not r.get("failed"), r.get("msg")
    assert r["driver"] == "veth"
    assert r["channels"]["max"] == {"rx": 4, "tx": 4, "other": 0, "combined": 0}
    assert r["ntuple"] == {"active": False, "fixed": True}
    assert r["default"] is None and r["contexts"] == [] and r["rules"] == []
    caps = r["capabilities"]
    assert caps["contexts_supported"] is False and caps["rules_supported"] is False
    assert caps["ethtool_version"] and caps["kernel_version"] == os.uname()[2]
    assert caps["read_with"]["channels"] == "ioctl" and caps["read_with"]["rules"] == "ioctl"
    kernel = tuple(int(x) for x in os.uname()[2].split("-")[0].split(".")[:2])
    assert caps["rss_netlink_dump"] == (kernel >= (6, 12))  # read from the ethtool genl family's ops


def test_set_then_unchanged(netns):
    r = ansible(netns, "nic_channels", {"device": "v0", "rx": 2, "tx": 2})
    assert not r.get("failed"), r.get("msg")
    assert r["changed"] and r["channels"] == {"combined": 0, "rx": 2, "tx": 2, "other": 0}
    assert r["actions"][0]["command"].endswith("-L v0 rx 2 tx 2")
    assert channels(netns)["rx"] == "2" and channels(netns)["tx"] == "2"
    r = ansible(netns, "nic_channels", {"device": "v0", "rx": 2, "tx": 2})
    assert not r.get("failed") and not r["changed"] and r["actions"] == []


def test_only_given_counts_change(netns):
    r = ansible(netns, "nic_channels", {"device": "v0", "tx": 3})
    assert r["changed"] and r["before"]["rx"] == r["after"]["rx"]
    assert channels(netns)["tx"] == "3"


def test_check_mode_and_diff(netns):
    before = channels(netns)
    r = ansible(netns, "nic_channels", {"device": "v0", "rx": 4, "tx": 1}, check=True, diff=True)
    assert not r.get("failed"), r.get("msg")
    assert r["changed"] and r["after"]["rx"] == 4 and r["after"]["tx"] == 1
    assert r["diff"]["before"]["rx"] == int(before["rx"]) and r["diff"]["after"]["tx"] == 1
    assert channels(netns) == before


@pytest.mark.parametrize("args,words", [
    ({"device": "v0", "rx": 9}, "rx: 9 exceeds the maximum of 4 rx channels on v0"),
    ({"device": "v0", "combined": 1}, "v0 has no combined channels (maximum 0)"),
    ({"device": "v0", "rx": 0}, "v0 would have no RX queue"),
    ({"device": "nope0", "rx": 1}, "no network device named 'nope0'"),
])
def test_refusals_change_nothing(netns, args, words):
    before = channels(netns)
    r = ansible(netns, "nic_channels", args)
    assert r.get("failed") and words in r["msg"], r.get("msg")
    assert channels(netns) == before


def test_slicing_modules_refuse_veth(netns):
    r = ansible(netns, "rss_contexts", {"device": "v0", "contexts": [{"name": "vm1", "start": 1, "equal": 1}]})
    assert r.get("failed") and "v0 (driver veth) has no RSS indirection table" in r["msg"]
    r = ansible(netns, "ntuple_rules", {"device": "v0", "rules": [{"flow_type": "ip4", "dst_ip": "10.0.0.2",
                                                                   "queue": 1}]})
    assert r.get("failed") and "v0 (driver veth) has no ntuple rule table" in r["msg"]
    r = ansible(netns, "rss_contexts", {"device": "v0", "state": "gathered"})
    assert not r.get("failed") and r["gathered"] == {"default": None, "contexts": []}
