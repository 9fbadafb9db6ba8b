# Copyright: berth developers
# Apache License 2.0
"""What every berth.ops.do_* module shares: the connection options, the client, the plan.

Private to berth.ops. A module reads the resource, normalizes both sides, records each
difference in a ``Plan`` and writes only when the plan is not empty and not in check mode.
"""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback

from ._do_api import TOKEN_ENV, Client, DOError, make_transport


def base_module_arguments() -> dict:
    return {
        "api_token": {"type": "str", "no_log": True, "aliases": ["oauth_token"],
                      "fallback": (env_fallback, list(TOKEN_ENV))},
        "api_base_url": {"type": "str", "default": "https://api.digitalocean.com",
                         "fallback": (env_fallback, ["DIGITALOCEAN_API_URL"])},
        "validate_certs": {"type": "bool", "default": True},
        "ca_path": {"type": "path"},
        "api_timeout": {"type": "float", "default": 30.0},
        "api_retries": {"type": "int", "default": 5},
        "api_deadline": {"type": "float", "default": 900.0},
        "poll_interval": {"type": "float", "default": 2.0},
    }


def _token_source(module) -> str:
    import os  # noqa: PLC0415

    for name in TOKEN_ENV:
        if os.environ.get(name) == module.params["api_token"]:
            return f"the {name} environment variable"
    return "the api_token option"


def client(module) -> Client:
    token = module.params["api_token"]
    if not token:
        module.fail_json(msg="no DigitalOcean token: set api_token or one of the environment variables "
                             + ", ".join(TOKEN_ENV))
    return Client(make_transport(module.params["validate_certs"], module.params["ca_path"]), token,
                  token_source=_token_source(module), base_url=module.params["api_base_url"],
                  timeout=module.params["api_timeout"], retries=module.params["api_retries"],
                  deadline=module.params["api_deadline"], poll_interval=module.params["poll_interval"])


class Plan:
    """Differences between what is and what is wanted, and the writes that settle them."""

    def __init__(self) -> None:
        self.before: dict = {}
        self.after: dict = {}
        self.actions: list[str] = []

    def compare(self, name: str, current, wanted) -> bool:
        """Record ``name`` when it differs; return True when it does."""
        if current == wanted:
            return False
        self.before[name] = current
        self.after[name] = wanted
        return True

    def add(self, action: str) -> None:
        self.actions.append(action)

    @property
    def changed(self) -> bool:
        return bool(self.actions)

    def result(self) -> dict:
        return {"changed": self.changed, "actions": self.actions,
                "diff": {"before": self.before, "after": self.after}}


def run(module, converge) -> None:
    """Call ``converge(module, client, plan)`` (returns extra result keys) and exit."""
    api = client(module)
    plan = Plan()
    try:
        extra = converge(module, api, plan) or {}
    except DOError as exc:
        module.fail_json(msg=str(exc), kind=exc.kind, status=exc.status, actions=plan.actions,
                         api_requests=api.stats.requests, api_writes=api.stats.writes)
    result = plan.result()
    result.update(extra)
    result["api_requests"] = api.stats.requests
    result["api_writes"] = api.stats.writes
    module.exit_json(**result)


def find_named(api, path: str, key: str, name: str, what: str) -> dict | None:
    """The resource of that name in a listed collection (all pages), or None."""
    return next((item for item in api.list(path, key, what=what) if item.get("name") == name), None)


def delete(module, api, plan: Plan, current: dict | None, *, key: str, label: str, path: str, what: str) -> None:
    """Delete `current` at <path>/<id> when there is one: planned in check mode, sent otherwise."""
    if current:
        plan.compare(key, current.get("name", label), None)
        plan.add(f"delete {label}")
        if not module.check_mode:
            api.request("DELETE", f"{path}/{current['id']}", what=what)
