# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's main() in-process, the way Ansible would, and return its result.

Modules keep their kernel access behind a factory the tests replace with a fake,
so a module can be exercised through its real argument spec without a kernel.
"""

from __future__ import annotations

import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes


class ModuleExit(Exception):
    def __init__(self, result, failed):
        super(ModuleExit, self).__init__(result.get("msg", ""))
        self.result = result
        self.failed = failed


def _exit_json(self, **kwargs):
    kwargs.setdefault("changed", False)
    raise ModuleExit(kwargs, failed=False)


def _fail_json(self, msg, **kwargs):
    kwargs["msg"] = msg
    kwargs["failed"] = True
    raise ModuleExit(kwargs, failed=True)


def run_module(module, args, check_mode=False, diff=False, expect_failure=False):
    """Call ``module.main()`` with ``args``; return the result dict.

    Fails the test if the module failed unexpectedly or succeeded when a failure
    was expected.
    """
    payload = dict(args)
    payload["_ansible_check_mode"] = check_mode
    payload["_ansible_diff"] = diff
    payload["_ansible_remote_tmp"] = "/tmp"
    payload["_ansible_keep_remote_files"] = False
    basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": payload}))
    basic._ANSIBLE_PROFILE = "legacy"
    mp = pytest.MonkeyPatch()
    mp.setattr(basic.AnsibleModule, "exit_json", _exit_json)
    mp.setattr(basic.AnsibleModule, "fail_json", _fail_json)
    try:
        module.main()
    except ModuleExit as exc:
        result = exc.result
        if exc.failed and not expect_failure:
            pytest.fail("module failed: %s" % result.get("msg"))
        if not exc.failed and expect_failure:
            pytest.fail("module succeeded but a failure was expected: %r" % (result,))
        return result
    finally:
        mp.undo()
        basic._ANSIBLE_ARGS = None
    pytest.fail("module returned without calling exit_json or fail_json")
