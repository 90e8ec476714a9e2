# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab node: a Debian trixie guest in qemu (TCG) with netdevsim NICs.

  lab up [--kernel 7|6.12|netkit|without-netkit|disk|disk-systemd-boot] [--name NAME]  build the image (and kernel) if needed, boot,
                                           wait for SSH, print the inventory's path
  lab ssh [--name NAME] -- CMD...          run a command on the node
  lab reboot [--name NAME]                 reboot the guest (same disk overlay)
  lab down [--name NAME]                   stop the node; nothing is left running
  lab status [--name NAME]                 say whether the node runs
  lab info [--name NAME]                   the running node as JSON (port, key, NICs, ...)
  lab build                                build (or find) the cached image

The image is cached outside the repository under $VMNET_LAB_CACHE (default
~/.cache/vmnet-netkit/lab), keyed by a hash of its recipe (tests/lab/image and
kernel/netdevsim); a changed recipe builds a new one. The disk runs in
snapshot mode: every `up` starts from the clean image, and a guest reboot
keeps the changes until `down`.

--kernel 7, 6.12 and netkit boot that kernel directly (qemu -kernel); --kernel disk boots the node
from its disk through its own bootloader (SeaBIOS, then GRUB on the disk's MBR, then whatever
kernel GRUB's configuration picks), the way a real host boots: installing a kernel package,
grub-reboot and a reboot work on it as on hardware. --kernel disk-systemd-boot boots a second disk of
the same image through UEFI firmware (OVMF, with its own EFI variable store per node) and systemd-boot
on the disk's ESP: bootctl set-oneshot and set-default work on it as on a UEFI host.

Environment: VMNET_LAB_BOOT_TIMEOUT, VMNET_LAB_MEMORY, VMNET_LAB_KERNEL_ARGS,
VMNET_LAB_BOOT_ATTEMPTS, VMNET_LAB_STALL_SECONDS, VMNET_LAB_CACHE, VMNET_LAB_NAME (default name: lab), VMNET_LAB_MIRROR
(see README.md, "The lab node").
"""
from __future__ import annotations

import argparse
import base64
import fcntl
import hashlib
import json
import os
import shutil
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RECIPE_DIRS = [REPO / "tests/lab/image", REPO / "kernel/netdevsim", REPO / "kernel/iproute2"]
CACHE = Path(os.environ.get("VMNET_LAB_CACHE", Path.home() / ".cache/vmnet-netkit/lab"))
# Debian's kernels in the image, and "netkit": the patched kernel kernel/build makes (IFLA_NETKIT_LOWERDEV,
# netdevsim built in), booted from its build cache without an initrd; "without-netkit": the same build
# with CONFIG_NETKIT off (kernel/build --config lab-without-netkit)
KERNEL_SERIES = {"7": "7.", "6.12": "6.12.", "netkit": None, "without-netkit": None, "disk": None,
                 "disk-systemd-boot": None}
# The kernel choices that boot from a disk through its bootloader: the disk image each boots and whether
# through UEFI firmware (else SeaBIOS)
DISK_BOOTS = {"disk": ("disk.raw", False), "disk-systemd-boot": ("disk-systemd-boot.raw", True)}
# UEFI firmware (Debian's ovmf): the code, read-only, and the template of each node's variable store
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
IMAGE_FILES = ("disk.raw", "disk-systemd-boot.raw", "bootloader")
BUILT_KERNELS = {"netkit": "lab", "without-netkit": "lab-without-netkit"}
# Seconds from qemu's start to SSH. Unset, it is 300 s or ten times the slowest of the last boots
# measured on this machine, whichever is more: a slow or busy host gets the time it needs.
BOOT_TIMEOUT_FLOOR = 300
# Under multi-threaded TCG a guest vCPU can, rarely, run a stale translation of kernel text that
# the other vCPU has just re-patched (static keys, int3-based text poking) and die with
# "Oops: int3" while booting. That is the emulator, not the node: a boot whose kernel panics is
# shown and started again, up to this many times in all. A panic that repeats fails the boot.
BOOT_ATTEMPTS = int(os.environ.get("VMNET_LAB_BOOT_ATTEMPTS", "3"))
# Extra guest kernel command line (debugging; the tests use it to make a boot panic on purpose).
KERNEL_ARGS = os.environ.get("VMNET_LAB_KERNEL_ARGS", "")
PANIC_MARKERS = ("Kernel panic - not syncing", "Oops: ")
# The same emulator can also stop a guest early in boot without a word (seen twice in a row, right
# after the kernel's "hpet0: 3 comparators" line). A boot whose console stays silent this long before
# SSH answers is taken as dead in the same way and started again. An idle host's boots pause their
# console for 3 s at most; a busy host's for a few times that.
STALL_SECONDS = int(os.environ.get("VMNET_LAB_STALL_SECONDS", "90"))
MEMORY = os.environ.get("VMNET_LAB_MEMORY", "2048")
SSH_OPTIONS = [
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=5",
]
# The node's shared SSH connection (OpenSSH connection sharing), in its state directory: ansible-playbook
# (through the inventory) and the lab tests' commands both go through it. A new connection costs the
# guest a key exchange, about 0.5 s under TCG, against 0.05 s for a command over the shared one.
SSH_CONTROL = "ssh-control"


class LabError(Exception):
    """A lab operation failed; the message says what and how to look closer."""


class LabBootDied(LabError):
    """The guest died while booting: worth another boot (BOOT_ATTEMPTS)."""


class LabPanic(LabBootDied):
    """The guest kernel panicked or oopsed (its console says so)."""


class LabStall(LabBootDied):
    """The guest's console stopped before SSH answered (STALL_SECONDS)."""


class ConsoleProgress:
    """When a booting node's console last grew."""

    def __init__(self, lab: "Lab"):
        self.lab = lab
        self.size = lab._console_size()
        self.grew = time.monotonic()

    def check(self) -> None:
        """Raise LabStall if the console has not grown for STALL_SECONDS."""
        size, now = self.lab._console_size(), time.monotonic()
        if size != self.size:
            self.size, self.grew = size, now
        elif now - self.grew >= STALL_SECONDS:
            raise LabStall(f"the guest of lab {self.lab.name!r} stopped while booting: its console printed "
                           f"nothing for {now - self.grew:.0f} s (VMNET_LAB_STALL_SECONDS)")


def say(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


def boot_timeout() -> int:
    given = os.environ.get("VMNET_LAB_BOOT_TIMEOUT")
    if given:
        return int(given)
    return max([BOOT_TIMEOUT_FLOOR] + [int(10 * seconds) for seconds in recent_boot_seconds()])


def recent_boot_seconds() -> list[float]:
    """The boot times (to SSH) of the last lab boots on this machine, newest last."""
    try:
        return [float(x) for x in (CACHE / "boot-seconds").read_text().split()][-5:]
    except (OSError, ValueError):
        return []


def record_boot_seconds(seconds: float) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    times = recent_boot_seconds() + [seconds]
    (CACHE / "boot-seconds").write_text("".join(f"{x:.1f}\n" for x in times[-5:]))


def recipe_hash(dirs: list[Path] | None = None) -> str:
    """A hash of every file under ``dirs`` (default: the image's recipe), their paths and modes."""
    digest = hashlib.sha256()
    for top in RECIPE_DIRS if dirs is None else dirs:
        if not top.exists():
            continue
        for path in sorted(p for p in top.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(REPO)).encode() + b"\0")
            digest.update(oct(path.stat().st_mode & 0o111).encode())
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def image_dir() -> Path:
    return CACHE / "images" / recipe_hash()


def build_image() -> Path:
    """Return the cached image directory, building it first if it is missing."""
    target = image_dir()
    if all((target / name).exists() for name in IMAGE_FILES):
        return target
    if os.geteuid() != 0:
        raise LabError("building the lab image needs root (debootstrap and chroot); run once as root")
    for tool in ("debootstrap", "mkfs.ext4", "sfdisk", "patch", "mkfs.fat", "mcopy"):
        if not shutil.which(tool) and not Path("/usr/sbin", tool).exists():
            raise LabError(f"building the lab image needs {tool}; scripts/setup installs it")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all((target / name).exists() for name in IMAGE_FILES):
            return target
        target.mkdir(parents=True, exist_ok=True)
        say(f"building the lab image in {target} (a few minutes, once per recipe)")
        started = time.monotonic()
        result = subprocess.run(["bash", str(REPO / "tests/lab/image/build.sh"), str(target)], check=False)
        if result.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            raise LabError("the lab image build failed (its log is above)")
        try:
            install_bootloader(target)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        (target / "build-seconds").write_text(f"{time.monotonic() - started:.0f}\n")
        say(f"image built in {time.monotonic() - started:.0f} s")
        prune_old_images(keep=target)
    return target


def install_bootloader(image: Path) -> None:
    """Boot the new image once (its 7.x kernel, directly) and let the node install GRUB on its own
    disk: grub-install on /dev/vda and update-grub need the real device, which the image build's
    chroot does not have. The disk is written, not a snapshot; the node powers off at the end."""
    say("installing GRUB on the image's disk from the node itself (one boot)")
    setup = Lab("image-setup")
    release = next(k for k in (image / "kernels.txt").read_text().split() if k.startswith("7."))
    started = time.monotonic()
    setup.start(image, (image / f"vmlinuz-{release}", image / f"initrd.img-{release}"), snapshot=False)
    try:
        setup._wait_for_ssh(started)
        # one string: ssh hands the remote shell its arguments joined by spaces
        result = setup.ssh(["set -e; grub-install --target=i386-pc /dev/vda 2>&1; update-grub 2>&1; "
                            "grub-editenv /boot/grub/grubenv create; test -s /boot/grub/i386-pc/core.img; sync"],
                           timeout=600)
        if result.returncode != 0:
            raise LabError(f"installing GRUB on the lab image failed:\n{result.stdout}{result.stderr}")
        setup.ssh(["systemctl", "poweroff"], timeout=30)
        if not setup._gone_within(120):
            raise LabError("the image-setup node did not power off")
    finally:
        setup.down()
    (image / "bootloader").write_text("grub-pc\n")


def prune_old_images(keep: Path) -> None:
    for old in (CACHE / "images").iterdir():
        if old != keep and old.is_dir() and not old.name.endswith(".work"):
            shutil.rmtree(old, ignore_errors=True)


class Lab:
    """One running lab node, its state kept in a directory of its own."""

    def __init__(self, name: str):
        if not name.replace("-", "").replace("_", "").isalnum():
            raise LabError(f"--name must be letters, digits, '-' or '_', got {name!r}")
        self.name = name
        self.state = CACHE / "run" / name

    # -- state ---------------------------------------------------------------
    def _read(self, key: str) -> str | None:
        path = self.state / key
        try:
            return path.read_text().strip()
        except FileNotFoundError:  # never written, or qemu removed its pidfile as it exited
            return None

    @property
    def pid(self) -> int | None:
        value = self._read("pid")
        return int(value) if value else None

    def running(self) -> bool:
        pid = self.pid
        if not pid:
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        return f"vmnet-lab-{self.name}".encode() in cmdline

    @property
    def inventory(self) -> Path:
        return self.state / "inventory.ini"

    @property
    def ssh_control(self) -> Path:
        """The control socket of the node's shared SSH connection (SSH_CONTROL)."""
        return self.state / SSH_CONTROL

    def close_shared_connection(self) -> None:
        """End the shared connection, so the next command opens a new one (after a reboot, the old one
        would lead to a guest that is gone)."""
        subprocess.run(["ssh", "-o", f"ControlPath={self.ssh_control}", "-O", "exit", "root@127.0.0.1"],
                       capture_output=True, timeout=30, check=False)

    # -- commands ------------------------------------------------------------
    def ssh_argv(self, command: list[str]) -> list[str]:
        port = self._read("port")
        if not port:
            raise LabError(f"lab {self.name!r} is not up; run: tests/lab/lab up --name {self.name}")
        return ["ssh", *SSH_OPTIONS, "-i", str(self.state / "id_ed25519"), "-p", port,
                "root@127.0.0.1", "--", *command]

    def ssh(self, command: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(self.ssh_argv(command), capture_output=True, text=True, timeout=timeout, check=False)

    def up(self, kernel: str) -> Path:
        if kernel not in KERNEL_SERIES:
            raise LabError(f"--kernel must be one of {', '.join(KERNEL_SERIES)}, got {kernel!r}")
        if BOOT_ATTEMPTS < 1:
            raise LabError(f"VMNET_LAB_BOOT_ATTEMPTS must be 1 or more, got {BOOT_ATTEMPTS}")
        if self.running():
            if self._read("kernel-choice") != kernel:
                raise LabError(f"lab {self.name!r} already runs kernel {self._read('kernel-choice')}; "
                               f"run tests/lab/lab down --name {self.name} first")
            if self.ssh(["true"], timeout=30).returncode == 0:
                return self.inventory
            self.down()
        self.down()  # leftovers of a failed run
        image = build_image()
        if kernel in BUILT_KERNELS:
            boot = build_netkit_kernel(BUILT_KERNELS[kernel])
            release = (boot / "release").read_text().strip()
            vmlinuz, initrd = boot / f"vmlinuz-{release}", None
        elif kernel in DISK_BOOTS:
            release, vmlinuz, initrd = None, None, None
            if DISK_BOOTS[kernel][1] and not (OVMF_CODE.exists() and OVMF_VARS.exists()):
                raise LabError(f"--kernel {kernel} boots through UEFI firmware: {OVMF_CODE} and {OVMF_VARS} are "
                               "missing; install Debian's ovmf (scripts/setup does)")
        else:
            kernels = (image / "kernels.txt").read_text().split()
            release = next((k for k in kernels if k.startswith(KERNEL_SERIES[kernel])), None)
            if release is None:
                raise LabError(f"the lab image has no {kernel} kernel (it has {', '.join(kernels)})")
            vmlinuz, initrd = image / f"vmlinuz-{release}", image / f"initrd.img-{release}"
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "kernel-choice").write_text(kernel)
        for attempt in range(1, BOOT_ATTEMPTS + 1):
            started = time.monotonic()
            port = self.start(image, (vmlinuz, initrd) if vmlinuz else None, disk=kernel if kernel in DISK_BOOTS else "disk")
            try:
                self._wait_for_ssh(started)
                nics = self._wait_for_nics()
                if release is None:
                    release = self.ssh(["uname", "-r"], timeout=30).stdout.strip()
                break
            except BaseException as err:
                self._show_console()
                self.down()
                if not isinstance(err, LabBootDied):
                    raise
                if attempt == BOOT_ATTEMPTS:
                    raise LabError(f"{err} (on each of {BOOT_ATTEMPTS} boots, VMNET_LAB_BOOT_ATTEMPTS)") from None
                say(f"{err}; booting again (attempt {attempt + 1} of {BOOT_ATTEMPTS})")
        booted = time.monotonic() - started
        (self.state / "kernel").write_text(release)
        (self.state / "boot-seconds").write_text(f"{booted:.1f}\n")
        record_boot_seconds(booted)
        say(f"lab {self.name!r} up in {booted:.0f} s: kernel {release}, port {port}, NICs {nics}")
        self._write_inventory(port, release, nics)
        return self.inventory

    def start(self, image: Path, kernel: tuple[Path, Path | None] | None, snapshot: bool = True,
              disk: str = "disk") -> int:
        """Start qemu with a fresh SSH key on a free port (another process may take the port first: try
        again); ``kernel`` is (vmlinuz, initrd) to boot directly, or None to boot from ``disk`` (a key of
        DISK_BOOTS) through its bootloader."""
        self.state.mkdir(parents=True, exist_ok=True)
        if DISK_BOOTS[disk][1]:
            # a new machine's EFI variables: no boot entries yet, so the firmware starts the ESP's
            # EFI/BOOT/BOOTX64.EFI (systemd-boot); the node's own writes (bootctl) stay until `down`
            shutil.copyfile(OVMF_VARS, self.state / "OVMF_VARS.fd")
        key = self.state / "id_ed25519"
        for old in (key, key.with_suffix(".pub")):
            old.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"vmnet-lab-{self.name}",
                        "-f", str(key)], check=True)
        pubkey = base64.b64encode((self.state / "id_ed25519.pub").read_bytes()).decode()
        (self.state / "console.log").unlink(missing_ok=True)
        for _attempt in range(3):
            port = free_port()
            (self.state / "port").write_text(str(port))
            argv = qemu_argv(self.name, image, kernel, port, pubkey, self.state, snapshot, disk)
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
            if result.returncode == 0:
                return port
            if "hostfwd" not in result.stderr:
                raise LabError(f"qemu failed to start: {result.stderr.strip()}")
        raise LabError(f"qemu could not forward a port: {result.stderr.strip()}")

    def _console_size(self) -> int:
        try:
            return (self.state / "console.log").stat().st_size
        except FileNotFoundError:
            return 0

    def _check_panic(self, since: int = 0) -> None:
        """Raise LabPanic if the console shows a kernel panic or oops after byte ``since``.

        Only whole lines count: the emulated serial port writes the console a character at a time,
        and on a busy host a read can land in the middle of the panic line (its message cut short).
        The rest of the line follows at the next look."""
        try:
            with open(self.state / "console.log", "rb") as console:
                console.seek(since)
                text = console.read().decode(errors="replace")
        except FileNotFoundError:
            return
        for line in text[:text.rfind("\n") + 1].splitlines():
            if any(marker in line for marker in PANIC_MARKERS):
                message = line.split("] ", 1)[-1].strip()  # without the "[    1.27] " timestamp
                raise LabPanic(f"the guest kernel of lab {self.name!r} died while booting: {message}")

    def _wait_for_ssh(self, started: float) -> None:
        timeout = boot_timeout()
        deadline = started + timeout
        progress = ConsoleProgress(self)
        while time.monotonic() < deadline:
            self._check_panic()
            progress.check()
            if not self.running():
                raise LabError("qemu exited during boot")
            try:
                if self.ssh(["true"], timeout=20).returncode == 0:
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(2)
        raise LabError(f"no SSH on the lab node after {timeout} s (VMNET_LAB_BOOT_TIMEOUT)")

    def _wait_for_nics(self) -> dict[str, str]:
        deadline = time.monotonic() + boot_timeout()
        while time.monotonic() < deadline:
            result = self.ssh(["cat", "/run/vmnet-lab/nics"], timeout=30)
            if result.returncode == 0 and result.stdout.strip():
                return dict(line.split() for line in result.stdout.splitlines() if line.strip())
            time.sleep(1)
        status = self.ssh(["systemctl", "status", "--no-pager", "vmnet-lab-nic.service"], timeout=30)
        raise LabError(f"the lab NICs did not appear:\n{status.stdout}{status.stderr}")

    def _write_inventory(self, port: int, release: str, nics: dict[str, str]) -> None:
        key = self.state / "id_ed25519"
        ssh_args = " ".join([*SSH_OPTIONS[:-2], "-o", f"ControlPath={self.ssh_control}"])
        fields = [
            "lab-node",
            "ansible_host=127.0.0.1",
            f"ansible_port={port}",
            "ansible_user=root",
            f"ansible_ssh_private_key_file={key}",
            f"ansible_ssh_common_args='{ssh_args}'",
            "ansible_python_interpreter=/usr/bin/python3",
            "ansible_pipelining=true",
            f"lab_kernel={release}",
            *(f"{k}={v}" for k, v in sorted(nics.items())),
        ]
        self.inventory.write_text("[lab]\n" + " ".join(fields) + "\n")

    def _show_console(self) -> None:
        console = self.state / "console.log"
        if console.exists():
            lines = console.read_text(errors="replace").splitlines()[-40:]
            say(f"last console lines of lab {self.name!r} ({console}):")
            print("\n".join(lines), file=sys.stderr)

    def info(self) -> dict:
        if not self.running():
            raise LabError(f"lab {self.name!r} is not up")
        fields = {}
        for line in self.inventory.read_text().splitlines():
            if line.startswith("lab-node "):
                fields = dict(part.split("=", 1) for part in shlex.split(line)[1:])
        return {
            "name": self.name,
            "inventory": str(self.inventory),
            "address": "127.0.0.1",
            "port": int(fields["ansible_port"]),
            "user": "root",
            "identity_file": fields["ansible_ssh_private_key_file"],
            "ssh_control": str(self.ssh_control),
            "kernel": fields["lab_kernel"],
            "nics": {k: v for k, v in fields.items() if k.startswith(("lab_nic", "lab_wire"))},
        }

    def reboot(self, command: tuple[str, ...] = ("systemctl", "reboot")) -> None:
        """Reboot the guest (``command``, run by the node's shell, starts it) and wait for it to come back with
        its NICs. A kernel that dies on the way (the emulator fault BOOT_ATTEMPTS describes) is reset
        through qemu's monitor: a power cycle of the same qemu, so the disk overlay stays."""
        if not self.running():
            raise LabError(f"lab {self.name!r} is not up")
        before = self.ssh(["cat", "/proc/sys/kernel/random/boot_id"], timeout=30).stdout.strip()
        console_since = self._console_size()
        try:
            self.ssh(list(command), timeout=30)
        except subprocess.TimeoutExpired:
            pass  # the connection went down with the guest
        started = time.monotonic()
        timeout = boot_timeout()
        deadline = started + timeout
        resets = 0
        progress = ConsoleProgress(self)
        while time.monotonic() < deadline:
            time.sleep(2)
            try:
                self._check_panic(console_since)
                progress.check()
            except LabBootDied as err:
                self._show_console()
                resets += 1
                if resets == BOOT_ATTEMPTS:
                    raise LabError(f"{err} (on each of {BOOT_ATTEMPTS} boots, VMNET_LAB_BOOT_ATTEMPTS)") from None
                say(f"{err}; resetting it (boot {resets + 1} of {BOOT_ATTEMPTS}, same disk)")
                # the vCPUs stopped first, so no line of the dead kernel lands after the mark
                self.qmp("stop")
                console_since = self._console_size()
                self.qmp("system_reset", "cont")
                deadline = time.monotonic() + timeout
                progress = ConsoleProgress(self)
                continue
            try:
                now = self.ssh(["cat", "/proc/sys/kernel/random/boot_id"], timeout=20)
            except subprocess.TimeoutExpired:
                continue
            if now.returncode == 0 and now.stdout.strip() not in ("", before):
                self._wait_for_nics()
                say(f"lab {self.name!r} rebooted in {time.monotonic() - started:.0f} s")
                return
        self._show_console()
        raise LabError(f"the lab node did not come back within {timeout} s (VMNET_LAB_BOOT_TIMEOUT)")

    def qmp(self, *commands: str) -> dict:
        """Run commands of qemu's machine protocol (QMP) on the node's monitor socket -> the last reply."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(30)
            sock.connect(str(self.state / "qmp.sock"))
            replies = sock.makefile("rb")
            json.loads(replies.readline())  # the greeting
            for execute in ("qmp_capabilities", *commands):
                sock.sendall(json.dumps({"execute": execute}).encode() + b"\n")
                while True:
                    reply = json.loads(replies.readline())
                    if "event" in reply:
                        continue
                    if "error" in reply:
                        raise LabError(f"qemu monitor: {execute}: {reply['error'].get('desc', reply)}")
                    break
            return reply

    def down(self) -> None:
        pid = self.pid
        if pid and self.running():
            os.kill(pid, signal.SIGTERM)
            if not self._gone_within(10):
                os.kill(pid, signal.SIGKILL)
                # a killed qemu still frees its guest memory: wait until it is gone, so nothing
                # that looks for it right after `down` still finds it
                if not self._gone_within(60):
                    raise LabError(f"qemu of lab {self.name!r} (pid {pid}) did not exit after SIGKILL")
        for leftover in ("pid", "port", "qmp.sock"):
            (self.state / leftover).unlink(missing_ok=True)

    def _gone_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.running():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_qemu() -> Path:
    """The bundle of a qemu with AF_XDP and map-path for the lab node (tests/lab/qemu/build.sh), built
    once per recipe and cached: -> the path of its qemu.tar.gz."""
    target = CACHE / "qemu" / recipe_hash([REPO / "tests/lab/qemu"])
    bundle = target / "qemu.tar.gz"
    if bundle.exists():
        return bundle
    if os.geteuid() != 0:
        raise LabError("building the lab's qemu needs root (debootstrap and chroot)")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "qemu-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if bundle.exists():
            return bundle
        target.mkdir(parents=True, exist_ok=True)
        say(f"building qemu with AF_XDP for the lab node in {target} (about 6 minutes here, once per recipe)")
        result = subprocess.run(["bash", str(REPO / "tests/lab/qemu/build.sh"), str(target)], check=False)
        if result.returncode != 0 or not bundle.exists():
            shutil.rmtree(target, ignore_errors=True)
            raise LabError("the lab's qemu build failed (its log is above)")
    return bundle


def build_netkit_kernel(config: str = "lab") -> Path:
    """The patched kernel's build directory for kernel/build's CONFIG (a cache hit after the first build).

    Test workers that need it at the same time take turns: the first builds, the others get its cache hit."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "kernel-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(["bash", str(REPO / "kernel/build"), "--config", config], stdout=subprocess.PIPE,
                                text=True, check=False)
    if result.returncode != 0:
        raise LabError("kernel/build failed (its log is above)")
    return Path(result.stdout.strip().splitlines()[-1])


def qemu_argv(name: str, image: Path, kernel: tuple[Path, Path | None] | None, port: int, pubkey: str,
              state: Path, snapshot: bool = True, disk: str = "disk") -> list[str]:
    disk_file, uefi = DISK_BOOTS[disk]
    drive = ["-drive", f"file={image / disk_file},if=virtio,format=raw,snapshot={'on' if snapshot else 'off'}"]
    nic = "virtio-net-pci,netdev=mgmt"
    if kernel:
        vmlinuz, initrd = kernel
        boot = ["-kernel", str(vmlinuz), *(["-initrd", str(initrd)] if initrd else []),
                "-append", f"root=/dev/vda1 rw console=ttyS0 net.ifnames=1 vmnet.ssh_key={pubkey} {KERNEL_ARGS}".strip()]
    elif uefi:
        # OVMF boots the disk first (bootindex) and has no network boot to try (no option ROM on the
        # NIC); the key reaches the node through fw_cfg
        boot = ["-drive", f"if=pflash,unit=0,format=raw,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,unit=1,format=raw,file={state / 'OVMF_VARS.fd'}"]
        drive = ["-drive", f"file={image / disk_file},if=none,id=disk0,format=raw,snapshot={'on' if snapshot else 'off'}",
                 "-device", "virtio-blk-pci,drive=disk0,bootindex=0"]
        nic += ",romfile="
    else:
        # SeaBIOS boots the disk's MBR (GRUB); the key reaches the node through fw_cfg
        boot = ["-boot", "c"]
    return [
        "qemu-system-x86_64",
        "-name", f"vmnet-lab-{name}",
        "-accel", "tcg,thread=multi",
        "-cpu", "max",
        "-smp", "2",
        "-m", MEMORY,
        "-nodefaults",
        "-display", "none",
        "-serial", f"file:{state / 'console.log'}",
        *boot,
        "-fw_cfg", f"name=opt/vmnet/ssh_key,string={pubkey}",
        *drive,
        # restrict=on: the guest reaches nothing; only the forwarded SSH port reaches it.
        "-netdev", f"user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device", nic,
        # the machine protocol (QMP): reset a guest whose kernel died rebooting, without losing its disk
        "-qmp", f"unix:{state / 'qmp.sock'},server=on,wait=off",
        "-pidfile", str(state / "pid"),
        "-daemonize",
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="lab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command in ("up", "ssh", "reboot", "down", "status", "info", "build"):
        p = sub.add_parser(command)
        # "lab": the node scripts/lab-provision boots, so `lab ssh` and `lab down` find it
        p.add_argument("--name", default=os.environ.get("VMNET_LAB_NAME", "lab"))
        if command == "up":
            p.add_argument("--kernel", default=os.environ.get("VMNET_LAB_KERNEL", "7"),
                           help="7 (trixie-backports, default), 6.12 (trixie), netkit (kernel/build), "
                                "without-netkit (kernel/build --config lab-without-netkit) or "
                                "disk (from the disk, through GRUB) or disk-systemd-boot (from a GPT disk, "
                                "through UEFI firmware and systemd-boot)")
        if command == "ssh":
            p.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(build_image())
            return 0
        lab = Lab(args.name)
        if args.command == "up":
            print(lab.up(args.kernel))
        elif args.command == "ssh":
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            return subprocess.run(lab.ssh_argv(cmd or ["bash", "-l"]), check=False).returncode
        elif args.command == "reboot":
            lab.reboot()
        elif args.command == "down":
            lab.down()
        elif args.command == "info":
            print(json.dumps(lab.info(), indent=2, sort_keys=True))
        elif args.command == "status":
            print("running" if lab.running() else "stopped")
            return 0 if lab.running() else 3
    except LabError as err:
        say(str(err))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
