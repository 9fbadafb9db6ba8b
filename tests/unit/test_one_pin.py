"""One pin per deploy (issue #27): deploy.yml's first play checks every host and pins the union of their
images once; the serial play's release_spec then uses those pins and never asks the registry. The
e2e proof (a tag moved between two serial hosts) is tests/e2e/test_one_pin.py."""

from __future__ import annotations

from unittest import mock

from ansible.template import Templar
from ansible_collections.berth.ops.plugins.action import release_spec as release_spec_action
from test_spec_refusals import LOADER, load

IMAGE = "registry.berth.test/berth/sample-app:1.0.0"
PINNED = "registry.berth.test/berth/sample-app@sha256:" + "a" * 64
ACCESSORY = "registry.berth.test/berth/postgres:17"


def task(tasks: list[dict], action: str) -> dict:
    return next(t for t in tasks if action in t)[action]


def spec_call(pins: dict | None, accessories: dict | None = None) -> tuple[dict, list[str]]:
    """tasks/main.yml's release_spec task as the serial play runs it; returns (result, images asked)."""
    asked: list[str] = []

    class Registry:
        def __init__(self, *_args: object, **_kwargs: object) -> None:
            pass

        def resolve(self, image: str) -> dict:
            asked.append(image)
            return {"pinned": image.rsplit(":", 1)[0] + "@sha256:" + "b" * 64}

    variables = {**load("roles/release/defaults/main.yml"), "berth_app": "shop", "berth_tls": "none",
                 "berth_services": {"web": {"image": IMAGE, "port": 8000}},
                 "berth_accessories": accessories or {}, "__release_env_key": "k" * 40}
    if pins is not None:
        variables["__release_pins"] = pins
    templar = Templar(loader=LOADER, variables=variables)
    args = templar.template(task(load("roles/release/tasks/main.yml"), "berth.ops.release_spec"))
    action = release_spec_action.ActionModule(
        mock.MagicMock(args=args, async_val=0, check_mode=False, action="berth.ops.release_spec"),
        mock.MagicMock(), mock.MagicMock(), LOADER, templar)
    with mock.patch.object(release_spec_action, "Client", Registry):
        return action.run(task_vars=variables), asked


def test_the_serial_play_uses_the_runs_pins_and_never_asks_the_registry():
    result, asked = spec_call({IMAGE: PINNED})
    assert "failed" not in result, result
    assert asked == [] and result["resolved"] == []
    assert result["spec"]["services"]["web"]["image"] == PINNED


def test_without_the_runs_pins_every_image_is_resolved_here():
    result, asked = spec_call(None, {"db": {"image": ACCESSORY}})
    assert asked == [IMAGE, ACCESSORY] and result["resolved"] == asked
    # An image the pins lack (a caller that pinned another stack) is resolved, the pinned one is not.
    result, asked = spec_call({IMAGE: PINNED}, {"db": {"image": ACCESSORY}})
    assert asked == [ACCESSORY] and result["spec"]["services"]["web"]["image"] == PINNED


def test_the_pin_play_resolves_the_union_of_every_hosts_images_once():
    pin = task(load("roles/release/tasks/pin.yml"), "berth.ops.image_digest")
    hostvars = {"web1": {"__release_checked": {"images": ["a:1", "b:1"]}},
                "web2": {"__release_checked": {"images": ["b:1", "c:1"]}}}
    templar = Templar(loader=LOADER, variables={"ansible_play_hosts": ["web1", "web2"], "hostvars": hostvars})
    assert templar.template(pin["images"]) == ["a:1", "b:1", "c:1"]
    tasks = load("roles/release/tasks/pin.yml")
    resolve = next(t for t in tasks if "berth.ops.image_digest" in t)
    assert resolve["run_once"] is True and resolve["delegate_to"] == "localhost"


def included(tasks: list[dict]) -> list[str]:
    """The task files every include_role of `tasks` (blocks included) runs."""
    found = []
    for t in tasks:
        found += included(t.get("block", []))
        if "ansible.builtin.include_role" in t:
            found.append(t["ansible.builtin.include_role"].get("tasks_from", "main.yml"))
    return found


def test_deploy_checks_and_pins_every_host_before_the_serial_play():
    plays = load("playbooks/deploy.yml")
    # Behind a load balancer a prepare play (every host at once) comes between them (issue #21).
    first, serial = plays[0], next(play for play in plays if "serial" in play)
    assert "serial" not in first and first["any_errors_fatal"] is True
    assert included(first["tasks"]) == ["pin.yml"]
    assert first["hosts"] == serial["hosts"] and "serial" in serial
