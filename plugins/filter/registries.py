"""Credentials per registry for the hosts' `docker login` (the registry_login role), from the one merge
the controller's digest resolution uses too (module_utils/_registries.py)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.berth.ops.plugins.module_utils._registries import logins, merge


def registry_problems(registries: Any, registry: Any = None, username: Any = None, password: Any = None) -> list[str]:
    """One line per bad input of berth_registries and the shorthand, naming the variable and the value."""
    return merge(registries, registry, username, password)[1]


def registry_logins(registries: Any, registry: Any = None, username: Any = None,
                    password: Any = None) -> list[dict[str, str]]:
    """{registry, username, password} for every registry with credentials, Docker Hub as `docker login` names it."""
    credentials, errors = merge(registries, registry, username, password)
    if errors:
        raise AnsibleFilterError("; ".join(errors))
    return logins(credentials)


class FilterModule:
    def filters(self) -> dict:
        return {"registry_problems": registry_problems, "registry_logins": registry_logins}
