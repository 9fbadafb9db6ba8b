#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_spec
short_description: Check a stack's inputs and pin every image, on the controller, before anything changes
version_added: 0.3.0
description:
  - Runs on the controller only (an action plugin); it never contacts the managed host.
  - Checks every input of a release (app name, domain, TLS mode, each service's image, port, rule,
    health settings, command, env, volumes, cpus, memory, healthcheck, stop grace period and user, the
    accessories, the secret env values, the hooks) and fails with one line per bad input, naming the
    variable and the value (secret values are shown as C((hidden))).
  - Then resolves every image tag to a digest through the registry's API (as M(berth.ops.image_digest)
    does) and returns the release spec with every image pinned, plain data that
    M(berth.ops.release_plan) compares with what is live and M(berth.ops.release_render) renders.
author: berth developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: It only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
  idempotent:
    support: full
    details: It only reads its arguments and the registry.
options:
  app:
    description: The app's name (C(berth_app)).
    type: str
    required: true
  domain:
    description: The public host name (C(berth_domain)); empty routes every host.
    type: str
    default: ""
  tls:
    description: C(files), C(acme) or C(none) (C(berth_tls)).
    type: str
    default: acme
  services:
    description: The app services (C(berth_services)); see the release role's README for their keys.
    type: dict
    required: true
  accessories:
    description: The accessories (C(berth_accessories)).
    type: dict
    default: {}
  env:
    description: Each service's secret env values (C(berth_env)).
    type: dict
    default: {}
  hooks:
    description: Pre-switch hooks (C(berth_hooks)).
    type: list
    elements: dict
    default: []
  keep_warm:
    description: Keep the previous colour running after a deploy (C(berth_keep_warm)).
    type: bool
    default: true
  public_service:
    description: The service the domain routes to; the first with a port when empty.
    type: str
    default: ""
  confirm_path:
    description: An extra path to check through the public entrypoint after the switch.
    type: str
    default: ""
  confirm_json_match:
    description:
      - JSON fields that path must answer with (C(berth_confirm_json_match)), dotted path to value; C({colour})
        in a value is the colour going live. Only checked here (it is not part of the release).
    type: dict
    default: {}
  external:
    description:
      - External services reached by URL (C(berth_external)), name to C({url, env, timeout, app_platform}). Each
        URL goes into the secret env of the services C(env) names; RV(spec) keeps only its scheme, host, port,
        TLS mode and env names, for the pre-flight (M(berth.ops.external_check)) and the difference report.
    type: dict
    default: {}
  env_key:
    description:
      - A secret of this attempt. When given, RV(env_digests) holds each env value as an HMAC under it,
        which M(berth.ops.release_plan) compares on the host, so values never travel or show.
    type: str
  resolve:
    description: Resolve and pin the images (false only checks the inputs).
    type: bool
    default: true
  pinned:
    description:
      - Images already pinned in this run, each reference as written to its pinned reference (the
        C(pinned) of M(berth.ops.image_digest)). They are used as given and never resolved again, so
        every host of a rolling deploy gets the digests pinned at its start; only the rest are resolved.
    type: dict
    default: {}
  registries:
    description:
      - Credentials per registry (C(berth_registries)) - registry host (C(host) or C(host:port), C(docker.io) for
        Docker Hub) to C({username, password}), or empty for anonymous access.
      - Each image's registry is sent only its own credentials; a registry not listed is asked anonymously.
      - Checked before anything else; a bad entry is refused naming C(berth_registries[host]) and the value.
    type: dict
    default: {}
  registry:
    description: The registry O(username) and O(password) are for (C(berth_registry)); C(ghcr.io) when empty.
    type: str
  username:
    description: The one-registry shorthand (C(berth_registry_username)), merged into O(registries) for O(registry).
    type: str
  password:
    description: The one-registry shorthand's password or token (C(berth_registry_password)).
    type: str
  ca_path:
    description: PEM file of CA certificates to trust for the registry.
    type: path
  validate_certs:
    description: Verify the registry's TLS certificate.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: spec | Check the inputs and pin every image
  berth.ops.release_spec:
    app: shop
    domain: shop.example.com
    tls: acme
    services:
      web: {image: ghcr.io/acme/shop:1.4.2, port: 8000, health: {path: /up, start_timeout: 90}}
    env: "{{ berth_env }}"
    registries:
      ghcr.io: {username: my-org-bot, password: "{{ vault_ghcr_read_token }}"}
      docker.io: {}  # public images, asked anonymously
  no_log: true
  register: release
"""

RETURN = r"""
spec:
  description: The normalised release spec with pinned images (no secret values).
  returned: success
  type: dict
images:
  description: Every image reference the release runs, as written (app services first).
  returned: success
  type: list
  elements: str
pinned:
  description: Each image reference as written and its pinned reference.
  returned: success
  type: dict
resolved:
  description: The images this call resolved itself (those not given in O(pinned)).
  returned: success
  type: list
  elements: str
env_digests:
  description: With O(env_key), each service's env values as HMAC-SHA256 hex digests under it.
  returned: success
  type: dict
errors:
  description: One line per bad input.
  returned: failure
  type: list
  elements: str
  sample: ["berth_services.web.port: 70000 is not a port (1-65535)"]
"""


def argument_spec() -> dict:
    return {
        "app": {"type": "str", "required": True},
        "domain": {"type": "str", "default": ""},
        "tls": {"type": "str", "default": "acme"},
        "services": {"type": "dict", "required": True},
        "accessories": {"type": "dict", "default": {}},
        "env": {"type": "dict", "default": {}, "no_log": True},
        "external": {"type": "dict", "default": {}, "no_log": True},
        "hooks": {"type": "list", "elements": "dict", "default": []},
        "keep_warm": {"type": "bool", "default": True},
        "public_service": {"type": "str", "default": ""},
        "confirm_path": {"type": "str", "default": ""},
        "confirm_json_match": {"type": "dict", "default": {}},
        "env_key": {"type": "str", "no_log": True},
        "resolve": {"type": "bool", "default": True},
        "pinned": {"type": "dict", "default": {}},
        "registries": {"type": "dict", "default": {}, "no_log": True},
        "registry": {"type": "str"},
        "username": {"type": "str"},
        "password": {"type": "str", "no_log": True},
        "ca_path": {"type": "path"},
        "validate_certs": {"type": "bool", "default": True},
    }
