"""Shared fixtures; the helpers they build on live in labtools.py."""

from __future__ import annotations

import json

import pytest
from lab_droplets import use_droplet_inventory
from labtools import LAB_STATE

use_droplet_inventory()


@pytest.fixture(scope="session")
def lab_credentials() -> dict[str, str]:
    path = LAB_STATE / "credentials.json"
    if not path.exists():
        pytest.fail("the lab is not up: run `make lab` (make e2e does it for you)")
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def lab_ca() -> str:
    return str(LAB_STATE / "pki" / "ca.crt")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """test_real_apps.py runs each app's scenarios in file order: `test_first_deploy` is the app's first
    deploy, and each scenario starts where the one before left the host. pytest would otherwise run a
    one-app scenario (a parameter of its own for the module's `app` fixture) before the app's others."""
    places = [n for n, item in enumerate(items) if item.path.name == "test_real_apps.py"]
    if not places:
        return
    scenarios = [items[n] for n in places]

    def order(item: pytest.Item) -> tuple[int, int]:
        app = item.callspec.params["app"]
        return item.module.APPS.index(app), item.function.__code__.co_firstlineno

    for n, item in zip(places, sorted(scenarios, key=order), strict=True):
        items[n] = item
