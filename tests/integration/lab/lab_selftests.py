# SPDX-License-Identifier: GPL-3.0-or-later
"""The kernel's own selftests on a lab node: install them from kernel/build's selftests.tar.gz, run one
file with the drivers/net environment, and read its KTAP report case by case."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from conftest import LAB

SRC = "/root/ksrc"
HW = SRC + "/tools/testing/selftests/drivers/net/hw"
# KTAP result lines of ksft_run: "ok 3 rss_api.test_x", "not ok 4 rss_api.test_y",
# "ok 5 rss_api.test_z # SKIP why"
RESULT = re.compile(r"^(ok|not ok) \d+ (\S+)(?: # (SKIP|XFAIL)\s*(.*))?$")


def install(node) -> None:
    """Unpack the kernel build's selftests into /root/ksrc on the node, with PyYAML for the YNL library."""
    tarball = Path(LAB.build_netkit_kernel()) / "selftests.tar.gz"
    assert tarball.exists(), "kernel/build left no selftests.tar.gz beside %s" % tarball.parent
    node.sh("rm -rf %s && mkdir -p %s" % (SRC, SRC))
    with tarball.open("rb") as data:
        copy = subprocess.run(node.ssh_argv("tar -xzf - -C %s" % SRC), stdin=data,
                              capture_output=True, check=False)
    assert copy.returncode == 0, copy.stderr
    # the YNL library reads its specs with PyYAML: the node has it or gets the controller's pure-Python copy
    if node.ssh("python3 -c 'import yaml'").returncode != 0:
        import yaml
        src = Path(yaml.__file__).parent
        pack = subprocess.run(["tar", "-czf", "-", "-C", str(src.parent), "--exclude=*.so", "--exclude=__pycache__",
                               src.name], capture_output=True, check=True)
        put = subprocess.run(node.ssh_argv("mkdir -p /root/pylib && tar -xzf - -C /root/pylib"),
                             input=pack.stdout, capture_output=True, check=False)
        assert put.returncode == 0, put.stderr


def build_bpf(node, program: str) -> None:
    """Compile hw/PROGRAM.bpf.c to hw/PROGRAM.bpf.o on the node, with clang and libbpf's headers, as the
    selftests' Makefile would (the environment of nk_qlease.py attaches nk_forward.bpf.o with tc)."""
    node.sh("cd %s && clang -O2 -g --target=bpf -I/usr/include/$(uname -m)-linux-gnu -c %s.bpf.c -o %s.bpf.o"
            % (HW, program, program))


def run(node, test: str, env: dict, timeout: float = 1800) -> tuple[dict, str]:
    """Run tools/testing/selftests/drivers/net/hw/TEST on the node -> ({case: outcome}, report).

    An outcome is "pass", "fail", or "skip: <the test's reason>"; the case name is the test's
    function name without the file prefix."""
    assigns = " ".join("%s=%s" % (k, shlex.quote(str(v))) for k, v in sorted(env.items()))
    done = node.ssh("cd %s && PYTHONPATH=/root/pylib %s python3 %s/%s" % (SRC, assigns, HW, test), timeout=timeout)
    report = done.stdout + done.stderr
    return outcomes(report), report


def outcomes(report: str) -> dict:
    """KTAP report -> {case: "pass" | "fail: <what the case raised>" | "skip: <reason>" | "xfail: <reason>"}."""
    results = {}
    since_last = []
    for line in report.splitlines():
        line = line.strip()
        match = RESULT.match(line)
        if not match:
            since_last.append(line)
            continue
        verdict, name, directive, reason = match.groups()
        name = name.split(".", 1)[-1]
        if directive == "SKIP":
            results[name] = "skip: " + reason.strip()
        elif directive == "XFAIL":
            results[name] = "xfail: " + reason.strip()
        elif verdict == "ok":
            results[name] = "pass"
        else:
            results[name] = "fail: " + failure(since_last)
        since_last = []
    return results


def failure(lines: list) -> str:
    """What a failed case printed last: the exception line of its traceback (ksft prints each line
    as "# Exception| ..."), else its last check line."""
    raised = [line[len("# Exception| "):] for line in lines
              if line.startswith("# Exception| ") and line[len("# Exception| "):][:1] not in ("", " ")
              and not line.startswith("# Exception| Traceback")]
    # CmdExitFailure goes on with the command it ran ("CMD: ...", indented output): keep the exception line
    raised = [text for text in raised if not text.startswith("CMD: ")]
    if raised:
        return raised[-1]
    checks = [line[2:] for line in lines if line.startswith("# Check")]
    return checks[-1] if checks else "(no message)"
