"""The lab's second registry (hub.berth.test) behaves like Docker Hub next to the GHCR-like one, and
berth.ops.image_digest sends each registry only its own credentials (issue #27)."""

from __future__ import annotations

import json
import re

import pytest
import requests
from labtools import LAB_STATE, REGISTRY, run_module

HUB = "hub.berth.test"
PUBLIC = [f"{HUB}/library/postgres:17", f"{HUB}/library/traefik:v3.7"]
PRIVATE = f"{HUB}/acme/private-app:1.0.0"
GHCR_PRIVATE = f"{REGISTRY}/berth/sample-app:1.0.0"


@pytest.fixture(scope="module")
def hub_credentials() -> dict[str, str]:
    return json.loads((LAB_STATE / "hub-credentials.json").read_text())


def hub_token(ca: str, repo: str, auth: tuple[str, str] | None) -> requests.Response:
    challenge = requests.get(f"https://{HUB}/v2/", verify=ca, timeout=10)
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge.headers["WWW-Authenticate"]))
    assert params["realm"] == "https://auth.hub.berth.test/token", params
    return requests.get(params["realm"], verify=ca, timeout=10, auth=auth,
                        params={"service": params["service"], "scope": f"repository:{repo}:pull"})


def test_public_images_resolve_anonymously_and_the_private_one_does_not(lab_ca):
    failed, result = run_module("berth.ops.image_digest", {"images": PUBLIC, "ca_path": lab_ca})
    assert not failed, result
    assert result["requests"]["token"] == 2
    failed, result = run_module("berth.ops.image_digest", {"images": [PRIVATE], "ca_path": lab_ca})
    assert failed and result["errors"][0]["kind"] == "no_access", result
    assert "no credentials were given for hub.berth.test (set registries['hub.berth.test'])" in result["msg"]


def test_one_run_mixes_a_private_ghcr_image_public_hub_images_and_a_private_hub_one(
        lab_ca, lab_credentials, hub_credentials):
    registries = {REGISTRY: {"username": lab_credentials["pull_user"], "password": lab_credentials["pull_password"]},
                  HUB: {"username": hub_credentials["pull_user"], "password": hub_credentials["pull_password"]}}
    failed, result = run_module("berth.ops.image_digest", {"images": [GHCR_PRIVATE, *PUBLIC, PRIVATE],
                                                           "registries": registries, "ca_path": lab_ca})
    assert not failed, result
    assert [image["registry"] for image in result["images"]] == [REGISTRY, HUB, HUB, HUB]


def test_the_ghcr_accounts_are_not_the_hubs(lab_ca, lab_credentials):
    """Each registry has its own accounts and its own token signer."""
    answer = hub_token(lab_ca, "acme/private-app", (lab_credentials["pull_user"], lab_credentials["pull_password"]))
    assert answer.status_code == 401
    anonymous = hub_token(lab_ca, "library/postgres", None).json()["token"]
    # A token from the hub's realm is worth nothing at registry.berth.test, even for a public repository.
    refused = requests.get(f"https://{REGISTRY}/v2/berth/postgres/manifests/17", verify=lab_ca, timeout=10,
                           headers={"Authorization": f"Bearer {anonymous}"})
    assert refused.status_code == 401


def test_a_wrong_hub_password_names_the_hub_and_its_variable_never_the_secret(lab_ca, lab_credentials,
                                                                              hub_credentials):
    registries = {REGISTRY: {"username": lab_credentials["pull_user"], "password": lab_credentials["pull_password"]},
                  HUB: {"username": hub_credentials["pull_user"], "password": "wrong-Hub-Secret-51"}}
    failed, result = run_module("berth.ops.image_digest", {"images": [GHCR_PRIVATE, PUBLIC[0]],
                                                           "registries": registries, "inventory_names": True,
                                                           "ca_path": lab_ca})
    assert failed
    assert [e["kind"] for e in result["errors"]] == ["bad_credentials"], result
    # The user name is masked too: registries is no_log as a whole (its keys are hosts, not known options).
    assert result["msg"] == (f"{PUBLIC[0]}: the token server of {HUB} refused user '********' (401): "
                             f"check berth_registries['{HUB}'].password")
    assert "wrong-Hub-Secret-51" not in json.dumps(result)
