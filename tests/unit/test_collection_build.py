"""The collection tarball: what galaxy.yml says, every file of the collection, nothing of the project around it.

Built the way release.yml builds it (`ansible-galaxy collection build`), then installed and read back;
release.yml points BERTH_COLLECTION_TARBALL at the tarball it is about to attach.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
COLLECTION_DIRS = ("meta", "plugins", "roles", "playbooks", "docs")
TOP_LEVEL = {"MANIFEST.json", "FILES.json", "README.md", "CHANGELOG.md", "LICENSE", "changelogs", *COLLECTION_DIRS}
CHANGELOG_FILES = {"changelogs/changelog.yaml", "changelogs/config.yaml"}
# What galaxy.yml's collection_info fields become in MANIFEST.json.
INFO_KEYS = ("namespace", "name", "version", "authors", "readme", "description", "license", "tags",
             "dependencies", "repository")


def clean_env(**extra: str) -> dict[str, str]:
    # The checkout's ansible.cfg links the checkout in as berth.ops: the installed copy must stand alone.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if given := os.environ.get("BERTH_COLLECTION_TARBALL"):
        return Path(given).resolve()
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([BIN / "ansible-galaxy", "collection", "build", "--output-path", out, ROOT],
                   check=True, capture_output=True, env=clean_env())
    return out / f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"


@pytest.fixture(scope="module")
def members(tarball: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(tarball) as tar:
        return {m.name.removeprefix("./"): m for m in tar.getmembers() if m.name not in (".", "./")}


def read(tarball: Path, name: str) -> bytes:
    with tarfile.open(tarball) as tar:
        handle = tar.extractfile(name)
        assert handle is not None, name
        return handle.read()


def tracked(*paths: str) -> set[str]:
    out = subprocess.run(["git", "ls-files", "--", *paths], cwd=ROOT, check=True, capture_output=True, text=True)
    return set(out.stdout.split())


def test_the_manifest_says_what_galaxy_yml_says(tarball: Path) -> None:
    info = json.loads(read(tarball, "MANIFEST.json"))["collection_info"]
    assert {key: info[key] for key in INFO_KEYS} == {key: GALAXY.get(key) for key in INFO_KEYS}


def test_files_json_lists_every_file_with_its_checksum(tarball: Path, members: dict[str, tarfile.TarInfo]) -> None:
    listed = json.loads(read(tarball, "FILES.json"))["files"]
    files = {entry["name"]: entry["chksum_sha256"] for entry in listed if entry["ftype"] == "file"}
    shipped = {name for name, member in members.items() if member.isfile()} - {"MANIFEST.json", "FILES.json"}
    assert set(files) == shipped
    with tarfile.open(tarball) as tar:
        actual = {m.name.removeprefix("./"): hashlib.sha256(tar.extractfile(m).read()).hexdigest()
                  for m in tar.getmembers() if m.isfile()}
    assert {name: actual[name] for name in files} == files


def test_nothing_of_the_project_around_the_collection_is_shipped(members: dict[str, tarfile.TarInfo]) -> None:
    assert {name.split("/")[0] for name in members} <= TOP_LEVEL
    assert {name for name in members if name.startswith("changelogs/") and members[name].isfile()} <= CHANGELOG_FILES
    junk = [name for name in members
            if any(part.startswith(".") or part == "__pycache__" for part in name.split("/"))
            or name.endswith((".pyc", ".xml", ".tar.gz", ".retry"))]
    assert junk == []


def test_every_file_of_the_collection_in_git_is_shipped(members: dict[str, tarfile.TarInfo]) -> None:
    wanted = tracked(*COLLECTION_DIRS, "README.md", "CHANGELOG.md", "LICENSE", *CHANGELOG_FILES)
    assert sorted(wanted - set(members)) == []


def test_the_tarball_installs_and_ansible_doc_lists_its_modules(tarball: Path, tmp_path: Path) -> None:
    env = clean_env(ANSIBLE_COLLECTIONS_PATH=str(tmp_path))
    subprocess.run([BIN / "ansible-galaxy", "collection", "install", "--no-deps", "-p", tmp_path, tarball],
                   check=True, capture_output=True, env=env, cwd=tmp_path)
    out = subprocess.run([BIN / "ansible-doc", "-t", "module", "-l", "--json", "berth.ops"],
                         check=True, capture_output=True, text=True, env=env, cwd=tmp_path)
    listed = {name.removeprefix("berth.ops.") for name in json.loads(out.stdout)}
    modules = {Path(path).stem for path in tracked("plugins/modules") if path.endswith(".py")}
    assert modules <= listed
