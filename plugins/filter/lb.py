"""berth_lb checked on the controller (module_utils/_lb.py), before any lock or host change."""

from __future__ import annotations

from typing import Any

from ansible_collections.berth.ops.plugins.module_utils import _fleet
from ansible_collections.berth.ops.plugins.module_utils._lb import check


def lb_problems(lb: Any, hosts: Any, serial: Any = 1, spec: Any = None) -> list[str]:
    """One line per bad input of berth_lb and berth_serial, naming the variable and the value; and, behind
    a load balancer, one per singleton service of the checked release `spec` (the fleet path flips colours
    host by host and has no singleton step yet: refused rather than never run)."""
    problems = check(lb, int(hosts), serial)[1]
    if lb:
        services = (spec or {}).get("services") or {}
        problems += [f"berth_services.{name}.singleton: True is not supported with berth_lb yet (a fleet deploy "
                     "would not run it); run singletons on a host outside the load balancer's group"
                     for name, svc in sorted(services.items()) if isinstance(svc, dict) and svc.get("singleton")]
    return problems


def fleet_line(row: dict) -> str:
    """One host of status.yml's fleet table."""
    return _fleet.line(row)


def fleet_verdict(rows: list) -> str:
    """Whether the hosts serve one release ('fleet: ...') or not ('FLEET SPLIT: ...')."""
    return _fleet.verdict(list(rows))


def fleet_revert(plan: dict, release_id: str, hosts: Any = 2) -> dict:
    """Where a host that went live in a failed fleet run goes back (_fleet.revert)."""
    return _fleet.revert(dict(plan), str(release_id), int(hosts))


class FilterModule:
    def filters(self) -> dict:
        return {"lb_problems": lb_problems, "fleet_line": fleet_line, "fleet_verdict": fleet_verdict,
                "fleet_revert": fleet_revert}
