# Copyright: berth developers
# Apache License 2.0
"""Action for berth.ops.do_infra_spec: runs on the controller only (see plugins/modules/do_infra_spec.py)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.berth.ops.plugins.module_utils import _infra_spec, _spec


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("infra", "api"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        unknown = _spec.unknown_options("do_infra_spec", args, self._VALID_ARGS)
        if unknown:
            return {**result, **unknown}
        errors = _infra_spec.check(args.get("infra"), args.get("api"))
        if errors:
            return {**result, **_spec.refusal(errors, "no request was sent", one_line=False)}
        return {**result, "changed": False, "msg": "every input of berth_infra checked",
                "monitoring": _infra_spec.monitoring_plan(args["infra"])}
