"""scripts/changelog.py on a scratch collection: what make lint-changelog and make changelog-release decide."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("changelog", ROOT / "scripts" / "changelog.py")
changelog = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(changelog)

FRAGMENT = "---\nbugfixes:\n  - >-\n    The gate counts ``max_bad_answers`` from the first probe.\n"


@pytest.fixture
def collection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "galaxy.yml").write_text(
        "namespace: berth\nname: ops\nversion: 0.3.0\nreadme: README.md\nauthors: [berth]\n")
    shutil.copytree(ROOT / "changelogs", tmp_path / "changelogs",
                    ignore=shutil.ignore_patterns("fragments", ".plugin-cache.yaml"))
    (tmp_path / "changelogs" / "changelog.yaml").write_text("---\nancestor: 0.0.0\nreleases: {}\n")
    (tmp_path / "changelogs" / "fragments").mkdir()
    (tmp_path / "changelogs" / "fragments" / "gate.yml").write_text(FRAGMENT)
    for name in ("meta", "plugins/modules", "roles"):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / "meta" / "runtime.yml").write_text("---\nrequires_ansible: '>=2.17.0'\n")
    return tmp_path


def test_pending_fragments_are_galaxy_yml_s_version_marked_unreleased(collection: Path) -> None:
    text = changelog.render(collection)
    assert "## v0\\.3\\.0 \\(unreleased\\)" in text
    assert "The gate counts <code>max\\_bad\\_answers</code> from the first probe" in text


def test_check_fails_on_a_hand_edited_changelog_and_passes_on_the_generated_one(collection: Path) -> None:
    (collection / "CHANGELOG.md").write_text(changelog.render(collection))
    assert changelog.check(collection) == 0
    with (collection / "CHANGELOG.md").open("a") as handle:
        handle.write("* Something added by hand\n")
    assert changelog.check(collection) == 1


def test_a_released_version_with_pending_fragments_needs_a_new_version(collection: Path) -> None:
    (collection / "changelogs" / "changelog.yaml").write_text(
        "---\nancestor: 0.0.0\nreleases:\n  0.3.0:\n    release_date: '2026-12-05'\n")
    assert changelog.version_problems(collection) == [
        "galaxy.yml's version 0.3.0 is released already (changelogs/changelog.yaml) but fragments are "
        "pending: raise galaxy.yml's version"]


def test_a_plugin_added_after_galaxy_yml_s_version_is_named(collection: Path) -> None:
    (collection / "plugins" / "modules" / "later.py").write_text('DOCUMENTATION = r"""\nversion_added: 0.4.0\n"""\n')
    (collection / "plugins" / "modules" / "now.py").write_text('DOCUMENTATION = r"""\nversion_added: "0.3.0"\n"""\n')
    assert changelog.added_problems(collection) == [
        "plugins/modules/later.py: version_added 0.4.0 is after galaxy.yml's version 0.3.0 (the version that "
        "will ship it)"]
