"""What status.yml shows of the alerts firing on a host's Prometheus, and who scrapes whom in a fleet."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "on", "1")


def _private_address(host: Mapping) -> str:
    """Where the monitoring host reaches a droplet: berth_private_address, else the DigitalOcean inventory's
    do_private_ipv4, else ansible_host (the lab's droplets have one network)."""
    for name in ("berth_private_address", "do_private_ipv4", "ansible_host", "inventory_hostname"):
        if host.get(name):
            return str(host[name])
    return ""


def scrape_plan(fleet: Iterable[Mapping], me: str, port: int = 9100) -> dict:
    """Who scrapes whom in a fleet, from each host's variables (hostvars): the hosts with berth_monitoring
    true scrape every other host over the private network. On a monitoring host, or with no monitoring host
    in the fleet, node_exporter listens on loopback; on every other host on its private address, open only
    to the monitoring hosts. `targets`: what a monitoring host scrapes besides its own loopback exporter."""
    hosts = {str(h.get("inventory_hostname")): h for h in fleet}
    monitors = [name for name, host in hosts.items() if _truthy(host.get("berth_monitoring", False))]
    scraped = bool(monitors) and me in hosts and me not in monitors
    others = [name for name in hosts if name not in monitors] if me in monitors else []
    return {
        "monitors": monitors,
        "listen": f"{_private_address(hosts[me])}:{port}" if scraped else f"127.0.0.1:{port}",
        "scrapers": [f"{_private_address(hosts[m])}/32" for m in monitors] if scraped else [],
        "targets": [f"{_private_address(hosts[name])}:{port}" for name in others],
    }


class FilterModule:
    def filters(self) -> dict:
        return {"alert_line": alert_line, "scrape_plan": scrape_plan}
