# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab tier's fixtures: a booted lab node (tests/lab/lab) per kernel, shared by the session.

``lab_node`` is the default node (trixie-backports 7.x kernel); ``lab_node_612`` the trixie 6.12
one. Each is booted once per test session under its own lab name; ``lab_node`` is stopped at the end,
``lab_node_612`` right after the last test that uses it (set VMNET_LAB_KEEP=1 to leave them running for
a closer look); under pytest-xdist each worker boots its own (names end in the worker's id) and stops
them at its end. VMNET_LAB_INVENTORY=<path> uses a lab
that is already up instead of booting one. The tier is skipped, with the reason, only where the
lab cannot run at all (no qemu, not root); a lab that fails to boot is an error, not a skip.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _load_lab_cli():
    loader = SourceFileLoader("vmnet_lab_cli", str(REPO / "tests/lab/lab.py"))
    module = module_from_spec(spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


LAB = _load_lab_cli()


def _interrupt(signum, frame):
    raise KeyboardInterrupt("stopped by signal %d" % signum)


# A run stopped with SIGTERM (a time limit, kill) ends like Ctrl-C: pytest still finalizes the
# fixtures, so the lab nodes it booted (daemonized qemu processes) are stopped, not left behind.
signal.signal(signal.SIGTERM, _interrupt)


class LabNode:
    """A running lab node as the tests see it."""

    def __init__(self, inventory: Path):
        self.inventory = str(inventory)
        fields = _inventory_fields(inventory)
        self.port = fields["ansible_port"]
        self.key = fields["ansible_ssh_private_key_file"]
        self.nic = fields["lab_nic"]
        self.nic2 = fields["lab_nic2"]
        # the port cabled to lab_nic, in its own network namespace (frames sent there reach lab_nic)
        self.wire = fields["lab_wire"]
        self.wire_netns = fields["lab_wire_netns"]
        self.kernel = fields["lab_kernel"]
        self.lab = LAB.Lab(Path(inventory).parent.name)

    def reboot(self) -> None:
        """Reboot the guest (its disk overlay keeps what was written) and wait for SSH and the NICs."""
        self.lab.reboot()
        self.lab.close_shared_connection()

    def ssh_argv(self, *command: str) -> list:
        """The ssh command line that runs COMMAND on the node (for callers that feed it stdin), through the
        node's shared connection, which ansible-playbook uses too; it ends when the node's qemu exits or
        after 5 idle minutes."""
        return ["ssh", *LAB.SSH_OPTIONS, "-o", "ControlMaster=auto", "-o", f"ControlPath={self.lab.ssh_control}",
                "-o", "ControlPersist=300", "-i", self.key, "-p", self.port, "root@127.0.0.1", "--", *command]

    def ssh(self, command: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(self.ssh_argv(command), capture_output=True, text=True, timeout=timeout, check=False)

    def sh(self, command: str) -> str:
        """Run a command that must succeed; -> its stdout."""
        result = self.ssh(command)
        assert result.returncode == 0, f"{command!r} failed on the lab node: {result.stderr}{result.stdout}"
        return result.stdout


def _inventory_fields(inventory: Path) -> dict:
    for line in inventory.read_text().splitlines():
        if line.startswith("lab-node "):
            return dict(part.split("=", 1) for part in shlex.split(line)[1:])
    raise AssertionError(f"no lab-node line in {inventory}")


def _why_lab_cannot_run() -> str | None:
    if not shutil.which("qemu-system-x86_64"):
        return "qemu-system-x86_64 is not installed (scripts/setup installs it)"
    if os.geteuid() != 0 and not LAB.image_dir().joinpath("disk.raw").exists():
        return "building the lab image needs root (debootstrap, chroot) and no image is cached"
    return None


def _lab_name(name: str) -> str:
    """NAME, or NAME-gwN in pytest-xdist's worker N: each worker boots and stops its own nodes."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return f"{name}-{worker}" if worker else name


def _boot(name: str, kernel: str, stop_early: str = ""):
    """Boot the node; stop it when the fixture ends, or, for STOP_EARLY (the fixture's name), after the
    last collected test that uses it (see pytest_runtest_teardown)."""
    reason = _why_lab_cannot_run()
    if reason:
        pytest.skip(f"lab tier skipped: {reason}")
    lab = LAB.Lab(_lab_name(name))
    try:
        inventory = lab.up(kernel)
    except LAB.LabError as err:
        pytest.fail(f"the lab node ({kernel}) did not come up: {err}")
    if stop_early:
        _STOP_AFTER_LAST_USER[stop_early] = lab
    try:
        yield LabNode(inventory)
    finally:
        _STOP_AFTER_LAST_USER.pop(stop_early, None)
        if not os.environ.get("VMNET_LAB_KEEP"):
            lab.down()


# A session node that idles between the test files that use it costs about 3 % of a core (TCG timers);
# booting it again for each file cost a boot (about 30 s) each. So it stays up from its first test to its
# last, and is stopped then rather than at the end of the session.
_STOP_AFTER_LAST_USER: dict = {}   # fixture name -> its running Lab
_LAST_USER: dict = {}              # fixture name -> node id of the last collected test that uses it


def _uses(item, fixture: str) -> bool:
    """Whether ITEM needs FIXTURE: through its fixtures, or through a parametrized fixture whose parameter
    names the node fixture it asks for (test_rss_hash's per-kernel ``lab``)."""
    if fixture in getattr(item, "fixturenames", ()):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and fixture in callspec.params.values()


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture in ("lab_node_612",):
            if _uses(item, fixture):
                _LAST_USER[fixture] = item.nodeid


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    # under pytest-xdist a worker runs only some of the files it collected: it stops its nodes at its end
    if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get("VMNET_LAB_KEEP"):
        return
    for fixture, nodeid in _LAST_USER.items():
        if item.nodeid == nodeid and fixture in _STOP_AFTER_LAST_USER:
            _STOP_AFTER_LAST_USER.pop(fixture).down()


@pytest.fixture(scope="session")
def lab_node():
    given = os.environ.get("VMNET_LAB_INVENTORY")
    if given:
        yield LabNode(Path(given))
        return
    yield from _boot("pytest", "7")


@pytest.fixture(scope="session")
def lab_node_612():
    """The 6.12 kernel's node, from the first test that uses it to the last."""
    yield from _boot("pytest-612", "6.12", stop_early="lab_node_612")


@pytest.fixture(scope="module")
def lab_node_netkit():
    """The lab node on the patched netkit kernel (kernel/build, lab config: built once and cached)."""
    yield from _boot("pytest-netkit", "netkit")


@pytest.fixture(scope="module")
def lab_node_without_netkit():
    """The lab node on the same kernel build with CONFIG_NETKIT off (kernel/build --config lab-without-netkit)."""
    yield from _boot("pytest-without-netkit", "without-netkit")


@pytest.fixture(scope="module")
def lab_node_disk():
    """A node booted from its disk through SeaBIOS and GRUB (Debian's 7.x kernel), for the tests that install
    kernels and reboot through the bootloader."""
    yield from _boot("pytest-disk", "disk")


@pytest.fixture(scope="session")
def kernel_build() -> Path:
    """kernel/build's result directory for the lab config (a cache hit after the first build)."""
    return Path(LAB.build_netkit_kernel())


@pytest.fixture(scope="session")
def kernel_release(kernel_build) -> str:
    """The release of that kernel (what uname -r says on a node running it)."""
    return (kernel_build / "release").read_text().strip()
