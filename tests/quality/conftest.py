# SPDX-License-Identifier: GPL-3.0-or-later
"""The quality gates (ansible-test sanity, ansible-lint) on a copy of the collection at a path
ansible-test accepts.

When the session also runs the lab tier (and runs in one process), both gates start right after
collection, in the background, and their tests move to the end of the session, where they only wait
for the results: the lab tier spends much of its time waiting for its TCG guests, and the gates,
about a core for half a minute, fill that time instead of adding to it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXCLUDED = {".venv", ".build", ".git", "tests/output", ".pytest_cache"}
BIN = os.path.dirname(sys.executable)
GATES = {
    "sanity": [os.path.join(BIN, "ansible-test"), "sanity", "--python", "%d.%d" % sys.version_info[:2],
               "--requirements", "--color", "no"],
    "lint": [os.path.join(BIN, "ansible-lint"), "--profile", "production", "--nocolor"],
}


def _tracked_and_new_files():
    """Files git tracks plus untracked ones it does not ignore: what a commit would hold."""
    out = subprocess.run(
        ["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True, capture_output=True,
    ).stdout.decode()
    return [f for f in out.split("\0") if f and os.path.exists(os.path.join(ROOT, f))]


def _copy_collection(base):
    """``BASE/ansible_collections/vmnet/netkit`` holding the checkout's files; -> its path."""
    dest = os.path.join(base, "ansible_collections", "vmnet", "netkit")
    for rel in _tracked_and_new_files():
        if rel.split("/")[0] in EXCLUDED:
            continue
        src = os.path.join(ROOT, rel)
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), target)
        else:
            shutil.copy2(src, target)
    return dest


class Gates:
    """Both gates, each in its own collection copy (ansible-test writes tests/output into it), started
    at once; ``result(name)`` waits for one -> (return code, output)."""

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="vmnet-netkit-quality-")
        self.procs = {}
        for name, argv in GATES.items():
            cwd = _copy_collection(os.path.join(self.base, name))
            # a file, not a pipe: nobody reads while they run, and a full pipe would stop them
            log = open(os.path.join(self.base, name + ".log"), "w+")
            self.procs[name] = (subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT), log)

    def result(self, name):
        proc, log = self.procs[name]
        proc.wait()
        log.seek(0)
        return proc.returncode, log.read()

    def close(self):
        for proc, log in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
        shutil.rmtree(self.base, ignore_errors=True)


_EARLY = []  # the Gates started right after collection, when they run beside the lab tier


def _is_quality(item):
    return item.nodeid.startswith("tests/quality/")


def _beside_lab(items):
    return (not os.environ.get("PYTEST_XDIST_WORKER") and any(map(_is_quality, items))
            and any(i.nodeid.startswith("tests/integration/lab/") for i in items))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    if _beside_lab(items):
        items[:] = [i for i in items if not _is_quality(i)] + [i for i in items if _is_quality(i)]


def pytest_collection_finish(session):
    if _beside_lab(session.items) and not session.config.option.collectonly:
        _EARLY.append(Gates())


def pytest_sessionfinish():
    # a session stopped before the gates' tests ran (-x, Ctrl-C): their processes and copies go too
    while _EARLY:
        _EARLY.pop().close()


@pytest.fixture(scope="session")
def gates():
    started = _EARLY.pop() if _EARLY else Gates()
    yield started
    started.close()
