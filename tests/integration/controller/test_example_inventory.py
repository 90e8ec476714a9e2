# SPDX-License-Identifier: GPL-3.0-or-later
"""inventories/example plans cleanly: ansible-playbook with that inventory runs the slice_plan filter
for every VM host on the controller (no host is contacted), each plan fits its NIC, and the compute hosts'
address pool gives exactly the addresses of its range less its exclusions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BIN = os.path.dirname(sys.executable)
PLAY = """
- name: Plan every VM host of the inventory on the controller
  hosts: vm_hosts
  gather_facts: false
  tasks:
    - name: Plan and keep the plan in a file on the controller
      ansible.builtin.copy:
        content: "{{ vmnet_vms | vmnet.netkit.slice_plan(device=vmnet_nic, queues=vmnet_nic_queues,
                     host_queues=vmnet_host_queues, subnets=vmnet_vm_subnets | default([])) | to_json }}"
        dest: "{{ out_dir }}/{{ inventory_hostname }}.json"
        mode: "0644"
      delegate_to: localhost
"""


def test_every_host_of_the_example_inventory_plans(tmp_path):
    play = tmp_path / "plan.yml"
    play.write_text(PLAY)
    out = tmp_path / "plans"
    out.mkdir()
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"))
    p = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(ROOT / "inventories" / "example"),
                        "-e", "out_dir=%s" % out, str(play)], capture_output=True, text=True, env=env, check=False)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    plans = dict((f.stem, json.loads(f.read_text())) for f in out.glob("*.json"))
    assert sorted(plans) == ["compute-01.example.net", "compute-02.example.net", "edge-01.example.net"]
    families = set()
    for host, plan in plans.items():
        vms = plan["vms"]
        assert 4 <= len(vms) <= 12, (host, len(vms))
        used = set()
        for vm in vms.values():
            first, last = vm["queues"]
            queues = set(range(first, last + 1))
            assert plan["host_queues"] <= first and last < plan["channels"] and not queues & used, (host, vm)
            used |= queues
            assert vm["addresses"] and len(vm["rules"]) == len(vm["addresses"])
            assert len(vm["netkit"]["name"]) <= 15
            families.update(r["flow_type"] for r in vm["rules"])
        assert plan["device"].startswith(("enp", "ens")), plan["device"]
    assert families == {"ip4", "ip6"}
    # the compute hosts' IPv4 pool: given addresses stay, the others come from its range less its exclusions
    compute = plans["compute-01.example.net"]["vms"]
    assert [compute[n]["addresses"] for n in ("db1", "web1", "web2", "web3", "cache1")] == [
        ["10.20.0.10", "2001:db8:20::10"], ["10.20.1.10", "2001:db8:20::2"], ["10.20.1.11", "2001:db8:20::3"],
        ["10.20.1.14", "2001:db8:20::4"], ["10.20.1.15", "2001:db8:20::5"]]
