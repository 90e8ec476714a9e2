# SPDX-License-Identifier: GPL-3.0-or-later
"""Count the module runs a playbook starts on its hosts (tasks that are not controller-only), per
loop item, and write the count to the file VMNET_COUNT_MODULES names when the play ends."""

from __future__ import annotations

import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: count_modules
type: aggregate
short_description: Count the module runs on managed hosts
description: Writes the number of module runs on managed hosts to the file named by VMNET_COUNT_MODULES.
requirements: [enable in configuration]
"""

CONTROLLER_ONLY = {"debug", "set_fact", "assert", "include_tasks", "import_tasks", "include_role", "import_role",
                   "meta", "fail", "include_vars", "validate_argument_spec"}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "count_modules"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.count = 0

    @staticmethod
    def _on_node(task):
        action = task.action.rsplit(".", 1)[-1]
        if action in CONTROLLER_ONLY:
            return False
        delegate = task.delegate_to
        return not delegate or delegate not in ("localhost", "127.0.0.1")

    def _counted(self, result, item):
        task = result._task
        if self._on_node(task) and bool(task.loop) == item:
            self.count += 1

    def v2_runner_on_ok(self, result):
        self._counted(result, False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._counted(result, False)

    def v2_runner_item_on_ok(self, result):
        self._counted(result, True)

    def v2_runner_item_on_failed(self, result):
        self._counted(result, True)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("VMNET_COUNT_MODULES")
        if path:
            with open(path, "w") as f:
                f.write("%d\n" % self.count)
