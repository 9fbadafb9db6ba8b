"""Test-only Ansible callback: move a registry tag at an exact point of a run, from the controller's
own process, so a test can change what a tag names between two serial batches without racing them.

BERTH_MOVE_TAG is JSON {"play": name, "batch": n, "repo": r, "tag": t, "to": source_tag}: when play
`name` starts its n-th batch (1-based), the manifest of `repo:source_tag` is put under `repo:tag` in the
lab registry before any task of that batch runs, and "berth-test: moved <repo>:<tag>" is printed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ansible.plugins.callback import CallbackBase

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "lab"))
from publish import Registry  # noqa: E402 (the lab's own registry client, found through the path above)

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "move_tag"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._plan = json.loads(os.environ.get("BERTH_MOVE_TAG", "{}"))
        self._batches = 0

    def v2_playbook_on_play_start(self, play) -> None:
        if not self._plan or play.get_name() != self._plan["play"]:
            return
        self._batches += 1
        if self._batches == self._plan["batch"]:
            move(self._plan["repo"], self._plan["tag"], self._plan["to"])
            self._display.display(f"berth-test: moved {self._plan['repo']}:{self._plan['tag']} to {self._plan['to']}")


def registry() -> Registry:
    state = ROOT / ".lab"
    credentials = json.loads((state / "credentials.json").read_text())
    return Registry("registry.berth.test", credentials["push_user"], credentials["push_password"],
                    str(state / "pki" / "ca.crt"))


def move(repo: str, tag: str, source: str) -> str:
    """Put the manifest `repo:source` names under `repo:tag`; returns the tag's digest now."""
    reg = registry()
    raw, media_type = reg.manifest(repo, source, DOCKER_MANIFEST)
    reg.request("PUT", repo, f"manifests/{tag}", data=raw, headers={"Content-Type": media_type})
    return reg.digest_of(repo, tag, DOCKER_MANIFEST) or ""
