# Copyright: berth developers
# Apache License 2.0
"""Action for berth.ops.deploy_report: runs on the controller only (see plugins/modules/deploy_report.py)."""

from __future__ import annotations

import calendar
import os
import re
import time
from typing import Any

from ansible.plugins.action import ActionBase
from ansible_collections.berth.ops.plugins.module_utils import _records, _report, _spec

# What the release role and the playbook leave on each host, by the report's name for it.
HOST_VARIABLES = {"plan": "release_plan", "record": "release_record", "gate": "release_gate",
                  "confirm": "release_confirm", "failed": "berth_failed"}
# What playbooks/app_platform.yml leaves on each app's inventory host.
APP_PLATFORM_VARIABLES = {"app": "berth_app_platform_result", "failed": "berth_failed"}
PLATFORMS = {"droplet": (_report.target, HOST_VARIABLES),
             "app_platform": (_report.app_platform_target, APP_PLATFORM_VARIABLES)}
ID_TIME = re.compile(r"^(\d{8}T\d{6}Z)-")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("release_id", "kind", "hosts", "path", "operator", "git_sha", "platform"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        unknown = _spec.unknown_options("deploy_report", args, self._VALID_ARGS)
        if unknown:
            return {**result, **unknown}
        release_id, kind = str(args.get("release_id") or ""), str(args.get("kind") or "")
        problems = []
        if not _records.ID_PATTERN.match(release_id):
            problems.append(f"release_id: {release_id!r} is not a release id (letters, digits, '.', '_', '-')")
        if kind not in _report.KINDS:
            problems.append(f"kind: {kind!r} is not one of {', '.join(_report.KINDS)}")
        platform = args.get("platform", "droplet")
        if platform not in PLATFORMS:
            problems.append(f"platform: {platform!r} is not one of {', '.join(PLATFORMS)}")
        hosts = args.get("hosts", task_vars.get("ansible_play_hosts_all", []))
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            problems.append(f"hosts: {hosts!r} is not a list of host names")
        if problems:
            return {**result, **_spec.refusal(problems, "no report was written")}
        path = str(args.get("path") or os.path.join(".berth", "reports", f"{release_id}.json"))
        hostvars = task_vars.get("hostvars", {})
        target, variables = PLATFORMS[platform]
        targets = [target(host, str(_var(hostvars, host, "berth_app") or "app"), kind,
                          {key: _var(hostvars, host, name) for key, name in variables.items()},
                          check_mode=bool(self._task.check_mode))
                   for host in hosts]
        records = [_var(hostvars, host, "release_record") or {} for host in hosts]
        recorded = [r.get("recorded") or {} for r in records if isinstance(r, dict)]
        operator = args.get("operator") or next((r["operator"] for r in recorded if r.get("operator")), None) \
            or os.environ.get("BERTH_OPERATOR") or os.environ.get("USER", "")
        git_sha = args.get("git_sha") or next((r["git_sha"] for r in recorded if r.get("git_sha")), "")
        report = _report.build(release_id, kind, targets, started=_started(release_id), finished=time.time(),
                               path=path, operator=str(operator), git_sha=str(git_sha),
                               check_mode=bool(self._task.check_mode))
        try:
            _report.write(path, report)
        except OSError as exc:
            return {**result, "failed": True, "msg": f"path: cannot write the deploy report to {path!r}: {exc}"}
        # The report is output, like the log: writing it changes nothing berth manages.
        return {**result, "changed": False, "path": path, "report": report, "summary": _report.summary(report)}


def _var(hostvars: Any, host: str, name: str) -> Any:
    try:
        return hostvars[host].get(name)
    except (KeyError, AttributeError, TypeError):
        return None


def _started(release_id: str) -> float | None:
    """deploy.yml names each attempt by its UTC start time (playbooks/tasks/controller.yml)."""
    match = ID_TIME.match(release_id)
    return float(calendar.timegm(time.strptime(match.group(1), "%Y%m%dT%H%M%SZ"))) if match else None
