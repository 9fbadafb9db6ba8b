"""Address filters berth's roles validate input with (Python's ipaddress; no netaddr needed)."""

from __future__ import annotations

import ipaddress


def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if value == "any":
        return ipaddress.ip_network("0.0.0.0/0")
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return None


def invalid_cidrs(values: list[str]) -> list[str]:
    """The items of values that are neither 'any' nor an address or CIDR."""
    return [v for v in values if _network(v) is None]


def cidrs_contain(values: list[str], address: str) -> bool:
    """Whether address lies inside any of values ('any' holds every address)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if "any" in values:
        return True
    return any(n is not None and ip.version == n.version and ip in n for n in map(_network, values))


def ufw_source(value: str) -> str:
    """The form ufw prints a source in: 'any', a bare address for a host, else network/prefix."""
    network = _network(value)
    if value == "any" or network is None:
        return str(value)
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


class FilterModule:
    def filters(self) -> dict:
        return {"invalid_cidrs": invalid_cidrs, "cidrs_contain": cidrs_contain, "ufw_source": ufw_source}
