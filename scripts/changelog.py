#!/usr/bin/env python3
"""CHANGELOG.md from changelogs/ (antsibull-changelog), and the checks that keep versions in agreement.

    changelog.py            write CHANGELOG.md: the released versions of changelogs/changelog.yaml and,
                            while fragments are pending, galaxy.yml's version marked "(unreleased)"
    changelog.py --check    fail unless CHANGELOG.md is what the first form writes, every fragment
                            lints and galaxy.yml's version is not released already while fragments
                            are pending; warn about a plugin whose version_added is after galaxy.yml's
    changelog.py --release  release galaxy.yml's version for real (fragments move into changelog.yaml,
                            dated today; refused while a plugin's version_added is after it), then
                            write CHANGELOG.md
    changelog.py --notes F  write the latest release's notes to F (the GitHub release's text)
    changelog.py --released V   exit 0 only if V is released in changelog.yaml and no fragment is pending

The unreleased part is antsibull-changelog's own `release` run in a scratch copy, so it is exactly
what `--release` will write (antsibull-changelog prints no release date).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHANGELOG = "CHANGELOG.md"
# What antsibull-changelog reads: the collection's identity, its changelog data and its plugins and roles
# (it lists plugins whose version_added is new in a release).
COPIED = ("galaxy.yml", "changelogs", "meta", "plugins", "roles")
VERSION_ADDED = re.compile(r"^version_added:\s*['\"]?([0-9][0-9A-Za-z.+-]*)", re.M)
# A plugin is new in a release when its version_added is after the previous release (changelog.yaml's
# ancestor 0.0.0 before the first), not only when it equals the release.
RELEASE = ("--cummulative-release",)
FIX = "edit changelogs/fragments/ (never CHANGELOG.md) and run `make changelog`"


def version_key(version: str) -> tuple[int, ...]:
    release = re.match(r"[0-9.]*", version)
    return tuple(int(part) for part in release.group(0).split(".") if part) if release else ()


def galaxy_version(root: Path) -> str:
    return str(yaml.safe_load((root / "galaxy.yml").read_text())["version"])


def released(root: Path) -> dict:
    data = yaml.safe_load((root / "changelogs" / "changelog.yaml").read_text()) or {}
    return data.get("releases") or {}


def fragments(root: Path) -> list[Path]:
    return sorted(p for p in (root / "changelogs" / "fragments").glob("*.y*ml"))


def antsibull(cwd: Path, *args: str) -> None:
    # The scratch copy is the collection ansible-doc should read, not the checkout linked in by ansible.cfg.
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_CONFIG"}
    done = subprocess.run(["antsibull-changelog", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"changelog: antsibull-changelog {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def scratch_copy(root: Path, into: Path) -> None:
    for name in COPIED:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__", ".plugin-cache.yaml"))
        else:
            shutil.copy2(source, into / name)


def render(root: Path) -> str:
    """CHANGELOG.md as it should be: released versions, plus the pending fragments as galaxy.yml's version."""
    version = galaxy_version(root)
    pending = bool(fragments(root)) and version not in released(root)
    with tempfile.TemporaryDirectory(prefix="berth-changelog-") as tmp:
        scratch = Path(tmp)
        scratch_copy(root, scratch)
        if pending:
            antsibull(scratch, "release", *RELEASE, "--version", version, "--date", "1970-01-01")
        else:
            antsibull(scratch, "generate")
        text = (scratch / CHANGELOG).read_text()
    if pending:
        escaped = version.replace(".", r"\.")
        text = text.replace(f">v{escaped}</a>", f">v{escaped} \\(unreleased\\)</a>", 1)
        text = re.sub(rf"^## v{re.escape(escaped)}$", f"## v{escaped} \\\\(unreleased\\\\)", text, count=1, flags=re.M)
    return text


def version_problems(root: Path) -> list[str]:
    found = []
    version = galaxy_version(root)
    if fragments(root) and version in released(root):
        found.append(
            f"galaxy.yml's version {version} is released already (changelogs/changelog.yaml) but fragments are "
            "pending: raise galaxy.yml's version"
        )
    return found


def added_problems(root: Path) -> list[str]:
    """Plugins documented as added in a version after the one that will ship them."""
    found = []
    version = galaxy_version(root)
    for path in sorted((root / "plugins").glob("*/*.py")):
        match = VERSION_ADDED.search(path.read_text())
        if match and version_key(match.group(1)) > version_key(version):
            found.append(
                f"{path.relative_to(root)}: version_added {match.group(1)} is after galaxy.yml's version {version} "
                "(the version that will ship it)"
            )
    return found


def check(root: Path) -> int:
    antsibull(root, "lint")
    found = version_problems(root)
    if (root / CHANGELOG).read_text() != render(root):
        found.append(f"{CHANGELOG} is not what changelogs/ generates: {FIX}")
    # A warning here, fatal for --release: a module's docs can be corrected any time before the tag.
    for line in added_problems(root):
        print(f"changelog: warning: {line}", file=sys.stderr)
    for line in found:
        print(f"changelog: {line}", file=sys.stderr)
    return 1 if found else 0


def notes(root: Path, output: Path) -> None:
    antsibull(root, "generate", "--only-latest", "--output", str(output.resolve()), "--output-format", "md")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--release", action="store_true")
    mode.add_argument("--notes", type=Path)
    mode.add_argument("--released", metavar="VERSION")
    args = parser.parse_args()
    if args.released:
        return 0 if args.released in released(ROOT) and not fragments(ROOT) else 1
    if args.check:
        return check(ROOT)
    if args.notes:
        notes(ROOT, args.notes)
        return 0
    if args.release:
        if found := version_problems(ROOT) + added_problems(ROOT):
            sys.exit("\n".join(f"changelog: {line}" for line in found))
        antsibull(ROOT, "release", *RELEASE)
        (ROOT / "changelogs" / ".plugin-cache.yaml").unlink(missing_ok=True)
    (ROOT / CHANGELOG).write_text(render(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
