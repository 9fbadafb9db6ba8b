# Copyright: berth developers
# Apache License 2.0
"""Action for berth.ops.release_spec: runs on the controller only (see plugins/modules/release_spec.py)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.berth.ops.plugins.module_utils import _external, _registries, _render, _spec
from ansible_collections.berth.ops.plugins.module_utils._http import make_transport
from ansible_collections.berth.ops.plugins.module_utils._oci import Client, RegistryError

INPUTS = ("app", "domain", "tls", "services", "accessories", "env", "hooks", "keep_warm", "public_service",
          "confirm_path", "confirm_json_match", "external")
REGISTRY = ("registries", "registry", "username", "password", "ca_path", "validate_certs")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset((*INPUTS, *REGISTRY, "resolve", "pinned", "env_key"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        unknown = _spec.unknown_options("release_spec", args, self._VALID_ARGS)
        if unknown:
            return {**result, **unknown}
        spec, errors = _spec.build({key: args.get(key) for key in INPUTS if key in args})
        credentials, registry_errors = _registries.merge(args.get("registries"), args.get("registry"),
                                                         args.get("username"), args.get("password"))
        errors += registry_errors
        if errors:
            return {**result, **_spec.refusal(errors, "nothing was changed")}
        images = _spec.images(spec)
        # Images pinned earlier in this run (deploy.yml pins every host's once) are never resolved again.
        pinned = {image: ref for image, ref in (args.get("pinned") or {}).items() if image in images}
        resolved: list[str] = []
        if args.get("resolve", True):
            client = Client(make_transport(args.get("validate_certs", True), args.get("ca_path")),
                            credentials=credentials)
            failures = []
            for image in images:
                if image in pinned:
                    continue
                resolved.append(image)
                try:
                    pinned[image] = client.resolve(image)["pinned"]
                except RegistryError as exc:
                    failures.append(str(exc))
            if failures:
                return {**result, "failed": True,
                        "msg": "images not resolved, nothing was changed: " + "; ".join(failures)}
            spec, errors = _spec.pin(spec, pinned)
            if errors:
                return {**result, "failed": True, "msg": "; ".join(errors)}
        # Each external service's URL is one more secret env value of the services it goes to.
        env = _render.env_values(_external.merged_env(args.get("env") or {}, args.get("external")))
        digests = _render.env_digests(env, args["env_key"]) if args.get("env_key") else {}
        return {**result, "changed": False, "spec": spec, "images": images, "pinned": pinned,
                "resolved": resolved,
                "env_digests": digests}
