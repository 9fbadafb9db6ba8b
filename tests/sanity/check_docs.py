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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / ".collections"))
errors: list[str] = []


def _ansible_doc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ansible-doc", *args], capture_output=True, text=True, cwd=ROOT, check=False)


def _failed(result: subprocess.CompletedProcess) -> bool:
    return result.returncode != 0 or "[ERROR]" in result.stderr or "[ERROR]" in result.stdout


def rendered(kind: str, names: list[str]) -> dict[str, str]:
    """Each name that does not render as text: its error. One ansible-doc run for all of them (each run
    costs seconds of start-up); only when that run fails is each name asked alone, to say which."""
    if not names or not _failed(_ansible_doc("-t", kind, *names)):
        return {}
    alone = {name: _ansible_doc("-t", kind, name) for name in names}
    return {name: (r.stderr or r.stdout).strip()[:300] for name, r in alone.items() if _failed(r)}


def documented(names: list[str]) -> dict[str, dict]:
    """The modules' docs as ansible-doc --json gives them: in one run, or when that fails, each alone (so
    one broken module is named and the others are still checked)."""
    result = _ansible_doc("--json", *names)
    if not _failed(result):
        return json.loads(result.stdout)
    docs: dict[str, dict] = {}
    for name in names:
        alone = _ansible_doc("--json", name)
        if _failed(alone):
            errors.append(f"ansible-doc --json {name} failed: {alone.stderr.strip()[:500]}")
        else:
            docs.update(json.loads(alone.stdout))
    return docs


def check_module(path: Path, doc: dict) -> None:
    name = f"berth.ops.{path.stem}"
    if not doc:
        return  # ansible-doc --json failed for it: said in documented()
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
    modules = sorted(p for p in (ROOT / "plugins" / "modules").glob("*.py") if p.name != "__init__.py")
    roles = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())
    module_names = [f"berth.ops.{p.stem}" for p in modules]
    role_names = [f"berth.ops.{p.name}" for p in roles]
    with ThreadPoolExecutor(3) as pool:
        as_text = pool.submit(rendered, "module", module_names)
        roles_as_text = pool.submit(rendered, "role", role_names)
        docs = pool.submit(documented, module_names)
        for kind, failures in (("", as_text.result()), ("-t role ", roles_as_text.result())):
            errors.extend(f"ansible-doc {kind}{name} does not render: {why}" for name, why in failures.items())
        docs = docs.result()
    for module in modules:
        check_module(module, docs.get(f"berth.ops.{module.stem}", {}))
    for role in roles:
        check_role(role)
    for error in errors:
        print(f"sanity: {error}", file=sys.stderr)
    print(f"sanity: {'FAILED' if errors else 'ok'} ({len(errors)} problems)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
