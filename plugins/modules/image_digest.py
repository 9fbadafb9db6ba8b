#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: image_digest
short_description: Resolve container image tags to digests through the OCI distribution API
version_added: 0.1.0
description:
  - Asks a registry (GHCR, Docker Hub, any OCI distribution registry) for the manifest digest of
    each image reference, so a deploy can pin C(name@sha256:...) and never depend on a moving tag.
  - For a multi-platform image it returns the index digest (C(docker pull) of it picks the host's
    platform) and lists the platforms; BuildKit attestation entries (C(unknown/unknown)) are skipped.
  - Follows the registry's C(WWW-Authenticate) challenge (Bearer token flow, anonymous or with Basic
    credentials, or plain Basic), re-authenticates on a 401, reuses a token per repository within a
    run, retries 429 and 5xx with capped backoff honouring C(Retry-After), within an overall deadline.
  - References that already carry C(@sha256:...) are verified against the registry, not trusted.
  - It only reads, so it never reports a change and runs the same in check mode.
author: berth developers
options:
  images:
    description:
      - Image references, for example C(ghcr.io/org/app:1.4.2), C(traefik:v3.2),
        C(registry.example.com:5000/team/app), C(ghcr.io/org/app@sha256:...).
    type: list
    elements: str
    required: true
    aliases: [image, name]
  registries:
    description:
      - Credentials per registry (C(berth_registries) in berth's playbooks) - registry host (C(host) or
        C(host:port), C(docker.io) for Docker Hub) to C({username, password}), or empty for anonymous access.
      - Each image's registry is sent only its own credentials, and only to the token realm its own
        challenge names; a registry not listed is asked anonymously.
    type: dict
    default: {}
  registry:
    description:
      - The registry O(username) and O(password) are for. When empty, the one registry every image
        names (refused when they name several).
    type: str
  username:
    description: Registry account (GHCR - the user or bot that owns the token); merged into O(registries).
    type: str
  password:
    description: Registry credential (GHCR - a personal access token with read:packages).
    type: str
  inventory_names:
    description:
      - Name the credential inputs in messages as berth's inventory variables (C(berth_registries),
        C(berth_registry), C(berth_registry_username), C(berth_registry_password)) instead of this module's
        options; for berth's own playbooks, which pass those variables.
    type: bool
    default: false
  platform:
    description:
      - A platform such as C(linux/amd64) or C(linux/arm64/v8). When given, each result says in
        C(platform_found) whether the image exists for it.
    type: str
  ca_path:
    description: PEM file of CA certificates to trust in addition to the system's.
    type: path
  validate_certs:
    description: Verify the registry's TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds for each HTTP request.
    type: float
    default: 10.0
  retries:
    description: Retries of one request after 429, 5xx or a connection failure.
    type: int
    default: 4
  deadline:
    description: Seconds for the whole resolution of all images; past it the module fails.
    type: float
    default: 60.0
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: It only reads from the registry, so check mode runs it in full.
  diff_mode:
    support: none
  platform:
    platforms: all
  idempotent:
    support: full
    details: It only reads from the registry.
notes:
  - Needs only ansible-core on the machine it runs on (it uses ansible-core's own HTTP helpers).
seealso:
  - name: OCI distribution specification
    description: The registry API this module speaks.
    link: https://github.com/opencontainers/distribution-spec/blob/main/spec.md
"""

EXAMPLES = r"""
- name: Resolve the release's images before touching any host
  berth.ops.image_digest:
    images:
      - ghcr.io/my-org/shop-web:1.4.2
      - ghcr.io/my-org/shop-worker:1.4.2
      - traefik:v3.2
    registries:
      ghcr.io: {username: my-org-bot, password: "{{ vault_ghcr_read_token }}"}
  delegate_to: localhost
  run_once: true
  register: release

- name: Use the pinned references
  ansible.builtin.debug:
    msg: "{{ release.pinned['ghcr.io/my-org/shop-web:1.4.2'] }}"

- name: Check that an image exists for arm64 droplets
  berth.ops.image_digest:
    image: ghcr.io/my-org/shop-web:1.4.2
    platform: linux/arm64
  register: arm
  failed_when: not arm.images[0].platform_found
"""

RETURN = r"""
images:
  description: One entry per requested image, in the order given.
  returned: success
  type: list
  elements: dict
  contains:
    image:
      description: The reference as given.
      type: str
      sample: ghcr.io/my-org/shop-web:1.4.2
    digest:
      description: Digest of the manifest served for the reference (the index for multi-platform images).
      type: str
      sample: sha256:5b0f4e8a0c3e1e9b0f6c6d1b6a0d3f1f2b8e8c1e2c3d4e5f60718293a4b5c6d7
    pinned:
      description: C(registry/repository@digest), ready for C(image:) in a compose file.
      type: str
      sample: ghcr.io/my-org/shop-web@sha256:5b0f4e8a0c3e1e9b0f6c6d1b6a0d3f1f2b8e8c1e2c3d4e5f60718293a4b5c6d7
    media_type:
      description: Media type of that manifest.
      type: str
      sample: application/vnd.oci.image.index.v1+json
    multi_platform:
      description: Whether the digest is an image index or manifest list.
      type: bool
    platforms:
      description: Platforms of a multi-platform image (attestations skipped); empty for a single one.
      type: list
      elements: str
      sample: [linux/amd64, linux/arm64/v8]
    platform_found:
      description: Whether the image exists for O(platform); only when O(platform) was given.
      type: bool
      returned: when platform is given
    registry:
      description: Registry host the reference names (C(docker.io) for Docker Hub).
      type: str
    repository:
      description: Repository path in that registry (C(library/...) for official Docker Hub images).
      type: str
    tag:
      description: The tag asked for, if any.
      type: str
pinned:
  description: Map of each reference as given to its pinned reference.
  returned: success
  type: dict
  sample: {"traefik:v3.2": "docker.io/library/traefik@sha256:..."}
seconds:
  description: Wall-clock seconds the resolution of all images took (the registries' answers, without Ansible's start).
  returned: always
  type: float
  sample: 0.21
requests:
  description: HTTP requests sent, in all and per image (token requests included).
  returned: always
  type: dict
  sample: {"total": 5, "token": 2, "reauth": 0, "retries": 0, "per_image": {"traefik:v3.2": 3}}
errors:
  description: On failure, one entry per image that failed, with a stable C(kind) and a message.
  returned: failure
  type: list
  elements: dict
  sample:
    - image: ghcr.io/my-org/app:9.9
      kind: not_found
      msg: "ghcr.io/my-org/app:9.9: tag '9.9' not found in ghcr.io/my-org/app"
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.ops.plugins.module_utils._http import make_transport
from ansible_collections.berth.ops.plugins.module_utils._oci import Client, RegistryError, parse_reference
from ansible_collections.berth.ops.plugins.module_utils._registries import BERTH_NAMES, merge

# Messages name this module's options (or, with inventory_names, berth's variables).
NAMES = {"registries": "registries", "registry": "registry", "username": "username", "password": "password"}


def argument_spec() -> dict:
    return {
        "images": {"type": "list", "elements": "str", "required": True, "aliases": ["image", "name"]},
        "registries": {"type": "dict", "default": {}, "no_log": True},
        "registry": {"type": "str"},
        "inventory_names": {"type": "bool", "default": False},
        "username": {"type": "str"},
        "password": {"type": "str", "no_log": True},
        "platform": {"type": "str"},
        "ca_path": {"type": "path"},
        "validate_certs": {"type": "bool", "default": True},
        "timeout": {"type": "float", "default": 10.0},
        "retries": {"type": "int", "default": 4},
        "deadline": {"type": "float", "default": 60.0},
    }


def shorthand_registry(module: AnsibleModule) -> str | None:
    """The registry username/password are for: the option, else the one registry every image names."""
    params = module.params
    if params["registry"] or not params["username"]:
        return params["registry"]
    try:
        named = sorted({parse_reference(image).registry for image in params["images"]})
    except RegistryError:
        return None  # resolve() reports the bad reference
    if len(named) > 1:
        module.fail_json(msg=f"registry: username {params['username']!r} is given for no registry and the images "
                             f"name {len(named)} ({', '.join(named)}); set registry, or use registries")
    return named[0] if named else None


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_together=[("username", "password")])
    params = module.params
    if not params["images"]:
        module.fail_json(msg="images: give at least one image reference")
    for name in ("timeout", "deadline"):
        if params[name] <= 0:
            module.fail_json(msg=f"{name}: must be more than 0, got {params[name]}")
    if params["platform"] is not None and params["platform"].count("/") not in (1, 2):
        module.fail_json(msg=f"platform: {params['platform']!r} is not os/arch or os/arch/variant")
    names = BERTH_NAMES if params["inventory_names"] else NAMES
    credentials, errors = merge(params["registries"], shorthand_registry(module), params["username"],
                                params["password"], names)
    if errors:
        module.fail_json(msg="; ".join(errors), errors=[{"kind": "bad_input", "msg": e} for e in errors])
    client = Client(make_transport(params["validate_certs"], params["ca_path"]), credentials=credentials,
                    missing=names["registries"], timeout=params["timeout"], retries=params["retries"],
                    deadline=params["deadline"])
    results, errors = [], []
    started = time.monotonic()
    for image in params["images"]:
        try:
            results.append(client.resolve(image, params["platform"]))
        except RegistryError as exc:
            errors.append({"image": image, "kind": exc.kind, "msg": str(exc)})
    stats = client.stats
    requests = {"total": stats.requests, "token": stats.token_requests, "reauth": stats.reauths,
                "retries": stats.retries, "per_image": stats.per_image}
    seconds = round(time.monotonic() - started, 3)
    if errors:
        module.fail_json(msg="; ".join(e["msg"] for e in errors), errors=errors, images=results,
                         requests=requests, seconds=seconds)
    module.exit_json(changed=False, images=results, requests=requests, seconds=seconds,
                     pinned={r["image"]: r["pinned"] for r in results})


if __name__ == "__main__":
    main()
