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
