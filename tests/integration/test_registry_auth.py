"""The lab registry must behave like GHCR: bearer tokens, public vs private repositories."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
import requests
from labtools import LAB_STATE, REGISTRY, registry_token

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def manifest_status(ca: str, repo: str, auth: tuple[str, str] | None) -> int:
    token_answer = registry_token(ca, repo, auth)
    assert token_answer.status_code == 200
    token = token_answer.json()["token"]
    answer = requests.get(f"https://{REGISTRY}/v2/{repo}/manifests/1.0.0", verify=ca, timeout=10,
                          headers={"Authorization": f"Bearer {token}", "Accept": MANIFEST_TYPES})
    return answer.status_code


def test_private_repository_refuses_anonymous_token(lab_ca):
    assert manifest_status(lab_ca, "berth/sample-app", None) == 401


def test_private_repository_serves_with_credentials(lab_ca, lab_credentials):
    creds = (lab_credentials["pull_user"], lab_credentials["pull_password"])
    assert manifest_status(lab_ca, "berth/sample-app", creds) == 200


def test_public_repository_serves_anonymously(lab_ca):
    assert manifest_status(lab_ca, "berth/public-app", None) == 200


def test_wrong_password_is_refused_by_token_server(lab_ca, lab_credentials):
    answer = registry_token(lab_ca, None, (lab_credentials["pull_user"], "not-the-password"))
    assert answer.status_code == 401


def test_read_only_token_cannot_push(lab_ca, lab_credentials):
    answer = registry_token(lab_ca, "berth/sample-app",
                            (lab_credentials["pull_user"], lab_credentials["pull_password"]), "pull,push")
    token = answer.json()["token"]
    upload = requests.post(f"https://{REGISTRY}/v2/berth/sample-app/blobs/uploads/", verify=lab_ca,
                           timeout=10, headers={"Authorization": f"Bearer {token}"})
    assert upload.status_code == 401


@pytest.fixture
def empty_docker_config(tmp_path):
    return dict(os.environ, DOCKER_CONFIG=str(tmp_path))


def docker(env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], env=env, input=stdin, capture_output=True, text=True,
                          check=False, timeout=120)


def test_docker_pull_private_needs_login(empty_docker_config, lab_credentials):
    image = f"{REGISTRY}/berth/sample-app:1.1.0"
    refused = docker(empty_docker_config, "pull", "-q", image)
    assert refused.returncode != 0
    assert re.search(r"unauthorized|denied|authentication required", refused.stderr, re.I), refused.stderr

    login = docker(empty_docker_config, "login", "-u", lab_credentials["pull_user"], "--password-stdin",
                   REGISTRY, stdin=lab_credentials["pull_password"])
    assert login.returncode == 0, login.stderr
    pulled = docker(empty_docker_config, "pull", "-q", image)
    assert pulled.returncode == 0, pulled.stderr


def test_lab_credentials_are_root_only():
    assert (LAB_STATE / "credentials.json").stat().st_mode & 0o077 == 0
