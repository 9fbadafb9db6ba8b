# Copyright: berth developers
# Apache License 2.0
"""A bench-only callback (not shipped in the collection): one JSON line per task and host, with when it
started and ended on the controller's monotonic clock, into the file named by BERTH_BENCH_TIMELINE."""

from __future__ import annotations

DOCUMENTATION = r"""
name: bench_timeline
type: aggregate
short_description: Task start and end times per host, as JSON lines (bench/fleet_scale.py)
description:
  - Writes C({play, task, host, start, end, status}) per finished task and host to the file named by the
    environment variable C(BERTH_BENCH_TIMELINE); times are C(time.monotonic()) on the controller.
"""

import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

from ansible.plugins.callback import CallbackBase  # noqa: E402


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timeline"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._play = ""
        self._started: dict[tuple[str, str], float] = {}
        self._path = os.environ.get("BERTH_BENCH_TIMELINE", "")

    def v2_playbook_on_play_start(self, play) -> None:
        self._play = play.get_name().strip()

    def v2_runner_on_start(self, host, task) -> None:
        self._started[(host.get_name(), task._uuid)] = time.monotonic()

    def _done(self, result, status: str) -> None:
        if not self._path:
            return
        host, task = result._host.get_name(), result._task
        start = self._started.pop((host, task._uuid), None)
        line = {"play": self._play, "task": str(task.name or task.action).strip(), "host": host, "start": start,
                "end": time.monotonic(), "status": status}
        with open(self._path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")

    def v2_runner_on_ok(self, result) -> None:
        self._done(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors: bool = False) -> None:
        self._done(result, "failed")

    def v2_runner_on_skipped(self, result) -> None:
        self._done(result, "skipped")

    def v2_runner_on_unreachable(self, result) -> None:
        self._done(result, "unreachable")
