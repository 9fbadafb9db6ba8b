# Copyright: berth developers
# Apache License 2.0
"""Credentials per registry: ``berth_registries`` and the one-registry shorthand, checked and merged here.

Private to berth.ops. ``merge()`` is the one place where ``berth_registry`` +
``berth_registry_username``/``berth_registry_password`` become an entry of ``berth_registries``; the
controller's digest resolution, provision's Traefik pin and the hosts' ``docker login`` all read its
result. A registry without an entry (or with an empty one) is asked anonymously: credentials are only
ever looked up by the registry an image names, so one registry never receives another's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DOCKER_HUB = "docker.io"
# The names Docker Hub goes by in image references and logins; all are the one registry docker.io.
DOCKER_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")
# Where `docker login` stores Docker Hub's credentials (the CLI's and community.docker's default).
DOCKER_HUB_LOGIN = "https://index.docker.io/v1/"
# The shorthand's registry when berth_registry is not set (the registry_login role's old default).
DEFAULT_REGISTRY = "ghcr.io"
KEYS = ("username", "password")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*(?::(?P<port>[0-9]{{1,5}}))?$")

# The variable each input is named by in messages (the release role's and provision's inventory names).
BERTH_NAMES = {"registries": "berth_registries", "registry": "berth_registry",
               "username": "berth_registry_username", "password": "berth_registry_password"}


@dataclass(frozen=True)
class Credential:
    username: str
    password: str
    variable: str  # where the password was given, for messages: berth_registries['ghcr.io'].password

    def __repr__(self) -> str:  # a stray print or traceback never shows the secret
        return f"Credential(username={self.username!r}, password=(hidden), variable={self.variable!r})"


def canonical(host: str) -> str:
    """The registry a host name means: lower case, Docker Hub's aliases as docker.io."""
    host = host.lower()
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


def host_problem(host: Any) -> str | None:
    if not isinstance(host, str):
        return "is not a registry host (host or host:port)"
    match = _HOST.match(host)
    if not match:
        return "is not a registry host (host or host:port: lower-case letters, digits, '-', dots, no scheme or path)"
    if match.group("port") and not 1 <= int(match.group("port")) <= 65535:
        return "is not a registry host (its port is not 1-65535)"
    return None


def _entry(path: str, value: Any, errors: list[str]) -> tuple[str, str] | None:
    """(username, password) of one berth_registries entry, None for anonymous; errors appended."""
    if value is None or value == {}:
        return None
    if not isinstance(value, Mapping):
        errors.append(f"{path}: {value!r} is not a mapping with username and password (or empty for anonymous)")
        return None
    for key in sorted(set(value) - set(KEYS), key=str):
        errors.append(f"{path}: {key!r} is not a known key (username, password)")
    username, password = value.get("username"), value.get("password")
    bad = len(errors)
    if not isinstance(username, str) or not username or ":" in username or username != username.strip():
        shown = "(missing)" if username is None else repr(username)
        errors.append(f"{path}.username: {shown} is not a user name (non-empty, no ':' and no surrounding spaces)")
    if not isinstance(password, str) or not password:
        shown = "(missing)" if password is None else "(hidden)"
        errors.append(f"{path}.password: {shown} is not a password or token (a non-empty string)")
    return (username, password) if len(errors) == bad else None


def merge(registries: Any, registry: Any = None, username: Any = None, password: Any = None,
          names: Mapping[str, str] | None = None) -> tuple[dict[str, Credential | None], list[str]]:
    """Check berth_registries and fold the shorthand into it: ({registry: Credential or None}, errors).

    Keys are canonical (``canonical()``); None is anonymous. Every error names the variable path and the
    bad value (a password is ``(hidden)``), in the shape of _spec's refusals."""
    names = {**BERTH_NAMES, **(names or {})}
    var = names["registries"]
    errors: list[str] = []
    merged: dict[str, Credential | None] = {}
    if registries is None:
        registries = {}
    if not isinstance(registries, Mapping):
        errors.append(f"{var}: {registries!r} is not a mapping of registry host to {{username, password}}")
        registries = {}
    written: dict[str, str] = {}
    for host, value in registries.items():
        path = f"{var}[{host!r}]"
        problem = host_problem(host)
        if problem:
            errors.append(f"{var}: {host!r} {problem}")
            continue
        key = canonical(host)
        if key in written:
            errors.append(f"{var}: {host!r} names the same registry as {written[key]!r}")
            continue
        written[key] = host
        pair = _entry(path, value, errors)
        merged[key] = Credential(pair[0], pair[1], f"{path}.password") if pair else None
    if username in (None, "") and password in (None, ""):  # roles pass '' for "not set"
        return merged, errors
    host = registry if registry not in (None, "") else DEFAULT_REGISTRY
    problem = host_problem(host)
    if problem:
        errors.append(f"{names['registry']}: {host!r} {problem}")
        return merged, errors
    bad = len(errors)
    if not isinstance(username, str) or not username or ":" in username or username != username.strip():
        shown = "(missing)" if username is None else repr(username)
        errors.append(f"{names['username']}: {shown} is not a user name (non-empty, no ':' and no surrounding "
                      f"spaces; it goes with {names['password']})")
    if not isinstance(password, str) or not password:
        shown = "(missing)" if password is None else "(hidden)"
        errors.append(f"{names['password']}: {shown} is not a password or token (a non-empty string; it goes "
                      f"with {names['username']})")
    key = canonical(host)
    if key in written:
        errors.append(f"{names['registry']}: {host!r} has credentials in {names['username']}/{names['password']} "
                      f"and an entry in {var}[{written[key]!r}]: keep one")
    elif len(errors) == bad:
        merged[key] = Credential(username, password, names["password"])
    return merged, errors


def for_image_registry(credentials: Mapping[str, Credential | None], registry: str) -> Credential | None:
    """The credentials of exactly the registry an image names (None: ask it anonymously)."""
    return credentials.get(canonical(registry))


def logins(credentials: Mapping[str, Credential | None]) -> list[dict[str, str]]:
    """What `docker login` needs on a host: one entry per registry with credentials, sorted by host."""
    return [{"registry": DOCKER_HUB_LOGIN if host == DOCKER_HUB else host, "username": cred.username,
             "password": cred.password}
            for host, cred in sorted(credentials.items()) if cred is not None]
