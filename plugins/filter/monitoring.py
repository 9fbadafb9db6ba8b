"""What status.yml shows of the alerts firing on a host's Prometheus."""

from __future__ import annotations

from typing import Any


def alert_line(alert: Any) -> str:
    """One firing alert of Prometheus' /api/v1/alerts as a line: severity, name, app, since, summary."""
    alert = alert if isinstance(alert, dict) else {}
    labels = alert.get("labels") or {}
    summary = (alert.get("annotations") or {}).get("summary") or ""
    app = f" app={labels['app']}" if labels.get("app") else ""
    since = f" since {alert['activeAt'][:19]}Z" if alert.get("activeAt") else ""
    head = f"{labels.get('severity', 'none')} {labels.get('alertname', '?')}{app}{since}"
    return f"{head}: {summary}" if summary else head


class FilterModule:
    def filters(self) -> dict:
        return {"alert_line": alert_line}
