#!/usr/bin/env python3
"""Docs and argument-spec sanity, in place of `ansible-test sanity` (which needs the collection
inside an ansible_collections/ tree and containers of its own).

- every module's DOCUMENTATION/EXAMPLES/RETURN renders with `ansible-doc` and parses as YAML;
- every module's DOCUMENTATION options match its argument_spec (names, types, defaults, choices);
- every role has meta/argument_specs.yml and README.md, renders with `ansible-doc -t role`,
  and documents every variable its defaults/main.yml defines.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / ".collections"))
errors: list[str] = []


def ansible_doc(*args: str) -> dict:
    result = subprocess.run(["ansible-doc", "--json", *args], capture_output=True, text=True,
                            cwd=ROOT, check=False)
    if result.returncode != 0 or "[ERROR]" in result.stderr:
        errors.append(f"ansible-doc {' '.join(args)} failed: {result.stderr.strip()[:500]}")
        return {}
    return json.loads(result.stdout)


def check_module(path: Path) -> None:
    name = f"berth.ops.{path.stem}"
    text = subprocess.run(["ansible-doc", name], capture_output=True, text=True, cwd=ROOT, check=False)
    if text.returncode != 0 or "[ERROR]" in text.stderr or "[ERROR]" in text.stdout:
        errors.append(f"ansible-doc {name} does not render: {(text.stderr or text.stdout).strip()[:300]}")
    doc = ansible_doc(name).get(name, {})
    if not doc:
        return
    for section in ("doc", "examples", "return"):
        if not doc.get(section):
            errors.append(f"{name}: {section.upper()} is empty")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yaml.safe_load(module.EXAMPLES)
    argument_spec = module.argument_spec()
    documented = doc["doc"].get("options", {})
    for option in sorted(set(argument_spec) ^ set(documented)):
        errors.append(f"{name}: option {option!r} is in only one of DOCUMENTATION and argument_spec")
    for option, arg in argument_spec.items():
        if option not in documented:
            continue
        docd = documented[option]
        for key in ("type", "default", "choices", "elements"):
            ours, theirs = arg.get(key), docd.get(key)
            if key == "type":
                ours, theirs = ours or "str", theirs or "str"
            if ours != theirs:
                errors.append(f"{name}: option {option!r} {key}: spec {ours!r} != doc {theirs!r}")


def check_role(path: Path) -> None:
    name = f"berth.ops.{path.name}"
    for required in ("meta/argument_specs.yml", "README.md", "defaults/main.yml"):
        if not (path / required).exists():
            errors.append(f"{name}: {required} is missing")
    if errors and errors[-1].startswith(name):
        return
    text = subprocess.run(["ansible-doc", "-t", "role", name], capture_output=True, text=True, cwd=ROOT,
                          check=False)
    if text.returncode != 0 or "[ERROR]" in text.stderr:
        errors.append(f"ansible-doc -t role {name} does not render: {text.stderr.strip()[:300]}")
    specs = yaml.safe_load((path / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]
    options = specs.get("options", {})
    defaults = yaml.safe_load((path / "defaults/main.yml").read_text()) or {}
    for var in defaults:
        if var not in options:
            errors.append(f"{name}: default {var!r} is not in meta/argument_specs.yml")
    for var, opt in options.items():
        if not opt.get("description"):
            errors.append(f"{name}: option {var!r} has no description")


def main() -> int:
    for module in sorted((ROOT / "plugins" / "modules").glob("*.py")):
        if module.name != "__init__.py":
            check_module(module)
    for role in sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir()):
        check_role(role)
    for error in errors:
        print(f"sanity: {error}", file=sys.stderr)
    print(f"sanity: {'FAILED' if errors else 'ok'} ({len(errors)} problems)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
