"""Health checks of a release for berth.ops.health_gate, from its spec (the decisions live in _render.py)."""

from __future__ import annotations

from ansible_collections.berth.ops.plugins.module_utils._render import (
    confirm_checks,
    gate_checks,
    singletons_plan,
    status_checks,
)


class FilterModule:
    def filters(self) -> dict:
        return {"gate_checks": gate_checks, "confirm_checks": confirm_checks, "status_checks": status_checks,
                "singletons_plan": singletons_plan}
