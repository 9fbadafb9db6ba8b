"""What a role reads and what it is made of, from its own files: provision.yml's fingerprint is built
from these, so an input a host role declares cannot be left out of it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

# The collection's roles, next to plugins/ (in a checkout and in an installed collection alike).
ROLES = Path(__file__).resolve().parents[2] / "roles"


def role_options(roles: list[str], entry_point: str = "main") -> list[str]:
    """Every option the roles' meta/argument_specs.yml declares for `entry_point`, sorted, once each."""
    names: set[str] = set()
    for role in roles:
        specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
        names.update((specs["argument_specs"][entry_point].get("options") or {}).keys())
    return sorted(names)


def role_files_digest(roles: list[str]) -> str:
    """sha256 over every file of the roles, by path and content, in a stable order."""
    digest = hashlib.sha256()
    for role in sorted(roles):
        for path in sorted(p for p in (ROLES / role).rglob("*") if p.is_file()):
            digest.update(f"{path.relative_to(ROLES)}\n".encode() + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class FilterModule:
    def filters(self) -> dict:
        return {"role_options": role_options, "role_files_digest": role_files_digest}
