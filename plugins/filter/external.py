"""The secret env with each external service's URL under its env names (berth_external, module_utils/_external.py)."""

from __future__ import annotations

from ansible_collections.berth.ops.plugins.module_utils._external import merged_env


def external_env(env: dict, external: dict, field: str = "url") -> dict:
    return merged_env(env, external, field)


class FilterModule:
    def filters(self) -> dict:
        return {"external_env": external_env}
