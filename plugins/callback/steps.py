# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
name: steps
type: stdout
short_description: One line per step that changed something or failed; C(-v) shows every task
version_added: 0.3.0
description:
  - >-
    Ansible's default output, quieter when no C(-v) is given, so a deploy reads as the steps that did
    something. A task that changed something is one line, C(changed: [host] task name); a task that
    failed is shown as the default callback shows it (its banner, then the error); messages of
    C(ansible.builtin.debug) tasks (the difference report, the deploy summary) are always shown;
    tasks that were ok or skipped, and included files, print nothing. C(PLAY) banners, warnings,
    diffs (C(--diff)) and the recap are unchanged.
  - With C(-v) or more it is the default callback, every task shown.
  - >-
    Values a task marks C(no_log) are censored by Ansible before any callback sees them, at every
    verbosity.
extends_documentation_fragment:
  - default_callback
  - result_format_callback
requirements:
  - "set as stdout in configuration (C(stdout_callback = berth.ops.steps), as berth's ansible.cfg does)"
"""

# DOCUMENTATION comes first in a plugin, by convention.
from ansible import constants  # noqa: E402
from ansible.playbook.task_include import TaskInclude  # noqa: E402
from ansible.plugins.callback.default import CallbackModule as DefaultCallback  # noqa: E402

DEBUG_ACTIONS = frozenset(("debug", "ansible.builtin.debug", "ansible.legacy.debug"))


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "berth.ops.steps"

    def __init__(self) -> None:
        self._showing_debug = False
        super().__init__()

    def _quiet(self) -> bool:
        return self._display.verbosity < 1

    def get_option(self, k):
        # Quiet: ok and skipped results are hidden (and task banners wait for a result worth showing),
        # except a debug task's message, which a playbook prints for the person reading.
        if k in ("display_ok_hosts", "display_skipped_hosts") and self._quiet():
            return self._showing_debug and k == "display_ok_hosts"
        return super().get_option(k)

    def _changed_line(self, result, item: str = "") -> None:
        name = self._last_task_name or result.task.get_name().strip()
        self._handle_warnings_and_exception(result)
        self._display.display(f"changed: [{self.host_label(result)}] {name}{item}", color=constants.COLOR_CHANGED)

    def v2_runner_on_ok(self, result) -> None:
        if self._quiet() and isinstance(result.task, TaskInclude):  # an include_* is no step of its own
            return
        if self._quiet() and result.result.get("changed", False) and result.task.action not in DEBUG_ACTIONS:
            if not (result.task.loop and "results" in result.result):  # a loop's items said it already
                self._changed_line(result)
            return
        self._showing_debug = result.task.action in DEBUG_ACTIONS
        try:
            super().v2_runner_on_ok(result)
        finally:
            self._showing_debug = False

    def v2_runner_item_on_ok(self, result) -> None:
        if self._quiet() and result.result.get("changed", False) and result.task.action not in DEBUG_ACTIONS:
            self._changed_line(result, f" (item={self._get_item_label(result.result)})")
            return
        self._showing_debug = result.task.action in DEBUG_ACTIONS
        try:
            super().v2_runner_item_on_ok(result)
        finally:
            self._showing_debug = False

    def v2_playbook_on_include(self, included_file) -> None:
        if not self._quiet():
            super().v2_playbook_on_include(included_file)
