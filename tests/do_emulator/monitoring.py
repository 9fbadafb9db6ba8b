"""DigitalOcean Monitoring in the emulator: uptime checks with their alerts, and droplet alert policies.

Stateful /v2/uptime/checks* and /v2/monitoring/alerts*, as the real API behaves where the spec is silent:
- a check's ``enabled`` defaults to true; a PUT changes only the fields it sends;
- an uptime alert of type ``down``/``down_global`` has no threshold: the API keeps neither ``threshold``
  nor ``comparison`` for it; ``latency`` and ``ssl_expiry`` need both (422 without);
- an alert policy PUT replaces the whole policy; policies are listed under ``policies``;
- a ``value`` is stored as a number (80 and 80.0 are the same policy).
Deleting a check deletes its alerts.
"""

from __future__ import annotations

import re
import uuid

from .cloud import ApiError

THRESHOLD_TYPES = ("latency", "ssl_expiry")
ALERT_FIELDS = ("name", "type", "threshold", "comparison", "notifications", "period")
CHECK_FIELDS = ("name", "type", "target", "regions", "enabled")
POLICY_FIELDS = ("type", "description", "compare", "value", "window", "entities", "tags", "alerts", "enabled")


class Monitoring:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.checks: dict[str, dict] = {}
        self.alerts: dict[str, dict[str, dict]] = {}
        self.policies: dict[str, dict] = {}

    def counts(self) -> dict:
        return {"uptime_checks": len(self.checks), "uptime_alerts": sum(len(a) for a in self.alerts.values()),
                "alert_policies": len(self.policies)}

    # -- uptime checks ---------------------------------------------------------------------------

    def check(self, ident: str) -> dict:
        if ident not in self.checks:
            raise ApiError(404, "not_found", "The resource you were accessing could not be found (check).")
        return self.checks[ident]

    def create_check(self, body: dict) -> dict:
        ident = str(uuid.uuid4())
        check = {"id": ident, **{k: body[k] for k in CHECK_FIELDS if k in body}}
        check.setdefault("enabled", True)
        self.checks[ident] = check
        self.alerts[ident] = {}
        return check

    def update_check(self, ident: str, body: dict) -> dict:
        check = self.check(ident)
        check.update({k: body[k] for k in CHECK_FIELDS if k in body})
        return check

    def delete_check(self, ident: str) -> None:
        self.check(ident)
        del self.checks[ident]
        del self.alerts[ident]

    # -- uptime alerts ---------------------------------------------------------------------------

    def alert(self, check: str, ident: str) -> dict:
        alerts = self.alerts[self.check(check)["id"]]
        if ident not in alerts:
            raise ApiError(404, "not_found", "The resource you were accessing could not be found (alert).")
        return alerts[ident]

    @staticmethod
    def _alert_body(body: dict) -> dict:
        alert = {k: body[k] for k in ALERT_FIELDS if k in body}
        if alert["type"] in THRESHOLD_TYPES:
            for key in ("threshold", "comparison"):
                if key not in alert:
                    raise ApiError(422, "unprocessable_entity", f"{key} is required for a {alert['type']} alert")
        else:
            alert.pop("threshold", None)
            alert.pop("comparison", None)
        return alert

    def create_alert(self, check: str, body: dict) -> dict:
        alerts = self.alerts[self.check(check)["id"]]
        ident = str(uuid.uuid4())
        alerts[ident] = {"id": ident, **self._alert_body(body)}
        return alerts[ident]

    def update_alert(self, check: str, ident: str, body: dict) -> dict:
        alert = self.alert(check, ident)
        alert.clear()
        alert.update({"id": ident, **self._alert_body(body)})
        return alert

    # -- droplet alert policies ------------------------------------------------------------------

    def policy(self, ident: str) -> dict:
        if ident not in self.policies:
            raise ApiError(404, "not_found", "The resource you were accessing could not be found (alert policy).")
        return self.policies[ident]

    @staticmethod
    def _policy_body(body: dict) -> dict:
        if not body["alerts"]["email"] and not body["alerts"]["slack"]:
            raise ApiError(422, "unprocessable_entity", "an alert policy needs at least one email or Slack channel")
        policy = {k: body[k] for k in POLICY_FIELDS}
        policy["value"] = float(policy["value"])
        return policy

    def create_policy(self, body: dict) -> dict:
        ident = str(uuid.uuid4())
        self.policies[ident] = {"uuid": ident, **self._policy_body(body)}
        return self.policies[ident]

    def update_policy(self, ident: str, body: dict) -> dict:
        self.policy(ident)
        self.policies[ident] = {"uuid": ident, **self._policy_body(body)}
        return self.policies[ident]


def dispatch(mon: Monitoring, method: str, path: str, query: dict, body: dict, paged):  # noqa: PLR0911, PLR0912
    """Answer one /v2/uptime or /v2/monitoring/alerts request: (status, body, headers)."""
    m = re.fullmatch
    if path == "/v2/uptime/checks":
        if method == "GET":
            return paged(list(mon.checks.values()), "checks", query, path)
        return 201, {"check": mon.create_check(body)}, {}
    if g := m(r"/v2/uptime/checks/([\w-]+)", path):
        if method == "GET":
            return 200, {"check": mon.check(g[1])}, {}
        if method == "PUT":
            return 200, {"check": mon.update_check(g[1], body)}, {}
        if method == "DELETE":
            mon.delete_check(g[1])
            return 204, None, {}
    if g := m(r"/v2/uptime/checks/([\w-]+)/alerts", path):
        if method == "GET":
            return paged(list(mon.alerts[mon.check(g[1])["id"]].values()), "alerts", query, path)
        return 201, {"alert": mon.create_alert(g[1], body)}, {}
    if g := m(r"/v2/uptime/checks/([\w-]+)/alerts/([\w-]+)", path):
        if method == "GET":
            return 200, {"alert": mon.alert(g[1], g[2])}, {}
        if method == "PUT":
            return 200, {"alert": mon.update_alert(g[1], g[2], body)}, {}
        if method == "DELETE":
            mon.alert(g[1], g[2])
            del mon.alerts[g[1]][g[2]]
            return 204, None, {}
    if path == "/v2/monitoring/alerts":
        if method == "GET":
            return paged(list(mon.policies.values()), "policies", query, path)
        return 200, {"policy": mon.create_policy(body)}, {}
    if g := m(r"/v2/monitoring/alerts/([\w-]+)", path):
        if method == "GET":
            return 200, {"policy": mon.policy(g[1])}, {}
        if method == "PUT":
            return 200, {"policy": mon.update_policy(g[1], body)}, {}
        if method == "DELETE":
            mon.policy(g[1])
            del mon.policies[g[1]]
            return 204, None, {}
    raise ApiError(404, "not_found", f"the emulator does not serve {method} {path}")
