"""Image references as users write them, normalised the way the Docker CLI does."""

import pytest
from ansible_collections.berth.ops.plugins.module_utils._oci import RegistryError, parse_reference

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest", "api_host"), [
    ("ghcr.io/org/repo/backend:1.4.2", "ghcr.io", "org/repo/backend", "1.4.2", None, "ghcr.io"),
    ("traefik:v3.2", "docker.io", "library/traefik", "v3.2", None, "registry-1.docker.io"),
    ("traefik", "docker.io", "library/traefik", "latest", None, "registry-1.docker.io"),
    ("library/postgres:17", "docker.io", "library/postgres", "17", None, "registry-1.docker.io"),
    ("bitnami/redis", "docker.io", "bitnami/redis", "latest", None, "registry-1.docker.io"),
    ("docker.io/nginx:1.27-alpine", "docker.io", "library/nginx", "1.27-alpine", None, "registry-1.docker.io"),
    ("index.docker.io/library/nginx", "docker.io", "library/nginx", "latest", None, "registry-1.docker.io"),
    ("registry:5000/team/app:2", "registry:5000", "team/app", "2", None, "registry:5000"),
    ("localhost/app", "localhost", "app", "latest", None, "localhost"),
    ("localhost:5000/app:dev", "localhost:5000", "app", "dev", None, "localhost:5000"),
    ("127.0.0.1:5000/a/b:c", "127.0.0.1:5000", "a/b", "c", None, "127.0.0.1:5000"),
    (f"ghcr.io/org/app@{D}", "ghcr.io", "org/app", None, D, "ghcr.io"),
    (f"ghcr.io/org/app:1.0@{D}", "ghcr.io", "org/app", "1.0", D, "ghcr.io"),
    ("quay.io/prometheus/node-exporter:v1.8.2", "quay.io", "prometheus/node-exporter", "v1.8.2", None, "quay.io"),
    ("my_org/my__app.x-y:1_0", "docker.io", "my_org/my__app.x-y", "1_0", None, "registry-1.docker.io"),
])
def test_parse_real_world_references(text, registry, repository, tag, digest, api_host):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest, ref.api_host) == (
        registry, repository, tag, digest, api_host)


def test_pinned_keeps_registry_and_drops_tag():
    assert parse_reference("ghcr.io/org/app:1.0").pinned(D) == f"ghcr.io/org/app@{D}"
    assert parse_reference("traefik:v3").pinned(D) == f"docker.io/library/traefik@{D}"


@pytest.mark.parametrize(("text", "says"), [
    ("", "empty"),
    (" ghcr.io/org/app", "spaces"),
    ("ghcr.io/Org/App:1", "bad repository name"),
    ("ghcr.io/org/app:", "bad tag"),
    ("ghcr.io/org/app:-x", "bad tag"),
    ("ghcr.io/org/app@sha256:1234", "not a sha256 digest"),
    ("ghcr.io/org/app@md5:" + "a" * 32, "not a sha256 digest"),
    ("ghcr.io//app", "bad repository name"),
    ("ghcr.io/org/app:" + "x" * 200, "bad tag"),
])
def test_bad_references_say_what_is_wrong(text, says):
    with pytest.raises(RegistryError) as err:
        parse_reference(text)
    assert err.value.kind == "invalid_reference"
    assert says in str(err.value)
    assert repr(text) in str(err.value)
