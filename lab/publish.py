"""Push multi-platform manifests to the lab registry, as buildx would on GHCR.

`docker push` from this Docker engine only makes single-platform Docker v2 manifests. For the
image_digest tests we also need an OCI image index (with a BuildKit-style attestation entry) and a
Docker manifest list. Both are built here from an already pushed single-platform image: the
arm64 entry reuses the layers with a config that says arm64 (the registry never runs them).
"""

from __future__ import annotations

import hashlib
import json
import re

import requests

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class Registry:
    def __init__(self, host: str, user: str, password: str, ca: str) -> None:
        self.base = f"https://{host}"
        self.auth = (user, password)
        self.session = requests.Session()
        self.ca = ca  # passed per request: REQUESTS_CA_BUNDLE would override session.verify
        self.tokens: dict[str, str] = {}

    def _token(self, repo: str) -> str:
        if repo not in self.tokens:
            challenge = self.session.get(f"{self.base}/v2/", timeout=10, verify=self.ca)
            params = dict(re.findall(r'(\w+)="([^"]*)"', challenge.headers["WWW-Authenticate"]))
            answer = self.session.get(params["realm"], auth=self.auth, timeout=10, verify=self.ca,
                                      params={"service": params["service"],
                                              "scope": f"repository:{repo}:pull,push"})
            answer.raise_for_status()
            self.tokens[repo] = answer.json()["token"]
        return self.tokens[repo]

    def request(self, method: str, repo: str, path: str, **kwargs: object) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        headers["Authorization"] = f"Bearer {self._token(repo)}"
        url = path if path.startswith("http") else f"{self.base}/v2/{repo}/{path}"
        response = self.session.request(method, url, headers=headers, timeout=60, verify=self.ca,
                                        **kwargs)
        response.raise_for_status()
        return response

    def manifest(self, repo: str, ref: str, accept: str) -> tuple[bytes, str]:
        response = self.request("GET", repo, f"manifests/{ref}", headers={"Accept": accept})
        return response.content, response.headers.get("Content-Type", "")

    def digest_of(self, repo: str, ref: str, accept: str) -> str | None:
        try:
            response = self.request("HEAD", repo, f"manifests/{ref}", headers={"Accept": accept})
        except requests.HTTPError:
            return None
        return response.headers.get("Docker-Content-Digest")

    def put_blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = self.request("POST", repo, "blobs/uploads/")
        location = start.headers["Location"]
        if location.startswith("/"):
            location = self.base + location
        sep = "&" if "?" in location else "?"
        self.request("PUT", repo, f"{location}{sep}digest={digest}", data=data,
                     headers={"Content-Type": "application/octet-stream"})
        return digest

    def put_manifest(self, repo: str, ref: str, body: dict, media_type: str) -> dict:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.request("PUT", repo, f"manifests/{ref}", data=data,
                     headers={"Content-Type": media_type})
        return {"mediaType": media_type, "size": len(data),
                "digest": "sha256:" + hashlib.sha256(data).hexdigest()}


def _descriptor(media_type: str, data: bytes) -> dict:
    return {"mediaType": media_type, "size": len(data),
            "digest": "sha256:" + hashlib.sha256(data).hexdigest()}


def publish_multiplatform(reg: Registry, repo: str, source_tag: str,
                          index_tag: str, list_tag: str) -> None:
    raw, _ = reg.manifest(repo, source_tag, DOCKER_MANIFEST)
    amd64 = json.loads(raw)
    amd64_desc = _descriptor(DOCKER_MANIFEST, raw)
    config = reg.request("GET", repo, f"blobs/{amd64['config']['digest']}").json()

    arm_config = dict(config, architecture="arm64", variant="v8")
    arm_config_bytes = json.dumps(arm_config, separators=(",", ":")).encode()
    reg.put_blob(repo, arm_config_bytes)

    def manifest(config_bytes: bytes, oci: bool) -> dict:
        layers = [dict(layer, mediaType=OCI_LAYER if oci else DOCKER_LAYER)
                  for layer in amd64["layers"]]
        return {"schemaVersion": 2,
                "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
                "config": _descriptor(OCI_CONFIG if oci else DOCKER_CONFIG, config_bytes),
                "layers": layers}

    amd64_config_bytes = reg.request("GET", repo, f"blobs/{amd64['config']['digest']}").content
    arm_docker = manifest(arm_config_bytes, oci=False)
    arm_docker_desc = reg.put_manifest(repo, _digest_of(arm_docker), arm_docker, DOCKER_MANIFEST)

    docker_list = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        dict(amd64_desc, platform={"architecture": "amd64", "os": "linux"}),
        dict(arm_docker_desc, platform={"architecture": "arm64", "os": "linux", "variant": "v8"}),
    ]}
    reg.put_manifest(repo, list_tag, docker_list, DOCKER_LIST)

    amd64_oci = manifest(amd64_config_bytes, oci=True)
    arm_oci = manifest(arm_config_bytes, oci=True)
    amd64_oci_desc = reg.put_manifest(repo, _digest_of(amd64_oci), amd64_oci, OCI_MANIFEST)
    arm_oci_desc = reg.put_manifest(repo, _digest_of(arm_oci), arm_oci, OCI_MANIFEST)

    # A BuildKit provenance attestation: platform unknown/unknown, pointing at the amd64 image.
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1",
                            "predicateType": "https://slsa.dev/provenance/v0.2",
                            "subject": [{"digest": {"sha256": amd64_oci_desc["digest"][7:]}}],
                            "predicate": {"builder": {"id": "berth-lab"}}}).encode()
    empty_config = b"{}"
    reg.put_blob(repo, statement)
    reg.put_blob(repo, empty_config)
    attestation = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                   "config": _descriptor(OCI_CONFIG, empty_config),
                   "layers": [dict(_descriptor("application/vnd.in-toto+json", statement),
                                   annotations={"in-toto.io/predicate-type":
                                                "https://slsa.dev/provenance/v0.2"})]}
    attestation_desc = reg.put_manifest(repo, _digest_of(attestation), attestation, OCI_MANIFEST)

    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        dict(amd64_oci_desc, platform={"architecture": "amd64", "os": "linux"}),
        dict(arm_oci_desc, platform={"architecture": "arm64", "os": "linux", "variant": "v8"}),
        dict(attestation_desc, platform={"architecture": "unknown", "os": "unknown"},
             annotations={"vnd.docker.reference.type": "attestation-manifest",
                          "vnd.docker.reference.digest": amd64_oci_desc["digest"]}),
    ]}
    reg.put_manifest(repo, index_tag, index, OCI_INDEX)


def _digest_of(body: dict) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()
