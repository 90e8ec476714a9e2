# SPDX-License-Identifier: GPL-3.0-or-later
"""Run collection modules on the lab node through ansible-playbook and get their results back."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
VENV_BIN = os.path.join(os.environ.get("VMNET_VENV", os.path.join(ROOT, ".venv")), "bin")


def run_tasks(node, tasks, check=False, diff=False, environment=None):
    """Run ``tasks`` [(module, args), ...] in one play on lab-node; -> their registered results.

    Every task runs (failures are kept in its result), so one playbook run serves a whole scenario.
    ``environment``: variables set for the modules on the node.
    """
    work = tempfile.mkdtemp(prefix="lab-play-")
    out = os.path.join(work, "results.json")
    play_tasks = []
    for n, (module, args) in enumerate(tasks):
        name = module if "." in module else "vmnet.netkit.%s" % module
        play_tasks.append({"name": "task %d" % n, name: args, "register": "r%d" % n, "ignore_errors": True,
                           "environment": environment or {}})
    play_tasks.append({
        "name": "save", "ansible.builtin.copy": {
            "content": "{{ [%s] | to_json }}" % ", ".join("r%d" % n for n in range(len(tasks))), "dest": out},
        "delegate_to": "localhost", "become": False, "check_mode": False, "diff": False,
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}})
    book = os.path.join(work, "play.yml")
    with open(book, "w") as f:
        json.dump([{"hosts": "lab-node", "gather_facts": False, "become": True, "tasks": play_tasks}], f)
    env = dict(os.environ)
    env.update({"PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
                "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".build", "collections"),
                "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1"})
    argv = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", node.inventory, book]
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


def run(node, module, args, check=False, diff=False, environment=None):
    """One task on lab-node; -> its registered result (failures included)."""
    return run_tasks(node, [(module, args)], check=check, diff=diff, environment=environment)[0]


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def run_playbook(node, playbook, extra_vars=None, check=False, diff=False, env_update=None):
    """Run one of the collection's playbooks against the lab node with inventories/lab; -> (rc, output)."""
    env = dict(os.environ)
    env.update({"PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
                "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".build", "collections"),
                "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1"})
    env.update(env_update or {})
    argv = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", node.inventory,
            "-i", os.path.join(ROOT, "inventories", "lab"), os.path.join(ROOT, "playbooks", playbook)]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env,
                       check=False)
    return p.returncode, p.stdout


def run_playbook_counted(node, playbook, **kw):
    """run_playbook, counting the module runs it starts on the node (benchmarks/callback_plugins/count_modules:
    tasks that are not controller-only, per loop item); -> (rc, output, module runs)."""
    with tempfile.NamedTemporaryFile("r") as counted:
        rc, out = run_playbook(node, playbook, env_update={
            "ANSIBLE_CALLBACK_PLUGINS": os.path.join(ROOT, "benchmarks", "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "count_modules", "VMNET_COUNT_MODULES": counted.name}, **kw)
        return rc, out, int(counted.read().strip() or -1)


def recap_changed(output):
    """The changed= count of lab-node in a PLAY RECAP."""
    for line in output.splitlines():
        if line.startswith("lab-node") and "changed=" in line:
            return int(line.split("changed=")[1].split()[0])
    raise AssertionError("no PLAY RECAP for lab-node in:\n" + output[-3000:])


def host_line(node, name, **host_vars):
    """NODE's line of its lab inventory, as host NAME with HOST_VARS (a list as JSON, which the INI inventory
    reads back as a list)."""
    line = next(x for x in Path(node.inventory).read_text().splitlines() if x.startswith("lab-node "))
    return " ".join([name + line[len("lab-node"):]] + [
        "%s=%s" % (key, shlex.quote(value if isinstance(value, str) else json.dumps(value)))
        for key, value in host_vars.items()])
