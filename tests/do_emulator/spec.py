"""Request/response validation against the bundled DigitalOcean OpenAPI spec (openapi-core)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

# DigitalOcean's published spec (Apache-2.0), vendored beside the emulator so a clean clone has it.
SPEC_PATH = Path(os.environ.get("BERTH_DO_SPEC", Path(__file__).resolve().parent / "openapi" /
                                "digitalocean-v2.bundled.yaml"))
SERVER = "https://api.digitalocean.com"  # the spec's server: requests are validated as if sent there


def _find_spec() -> Path:
    if SPEC_PATH.exists():
        return SPEC_PATH
    raise FileNotFoundError(f"DigitalOcean OpenAPI spec not found at {SPEC_PATH} (set BERTH_DO_SPEC)")


def load() -> OpenAPI:
    with _find_spec().open("rb") as handle:
        spec = yaml.load(handle, Loader=yaml.CSafeLoader)
    apply_errata(spec)
    # The DO spec fails openapi-spec-validator itself, so only the request/response checks run.
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


def apply_errata(spec: dict) -> None:
    """Spec defects that make a valid request fail, each fixed as narrowly as possible.

    - ``ssh_key_identifier`` (path of /v2/account/keys/{id}) refers to ``ssh_key_id`` and
      ``ssh_key_fingerprint``, both ``readOnly``; openapi-core rejects read-only values in a request,
      so every GET/PUT/DELETE of one key would fail. The path takes an id or a fingerprint.
    - ``domain_record_txt`` requires ``flags`` and ``tag``, CAA's fields: the real API creates TXT records without.
    - ``domain_record_ns`` requires ``flags`` and ``tag``, CAA's fields: the real API creates NS records without.
    - ``domain_record_srv`` requires ``flags`` and ``tag``, CAA's fields: the real API needs only priority/port/weight.
    (``domain_record_caa`` keeps both required; A, AAAA, CNAME, MX and SOA never required them.)
    - ``app_spec`` lacks the app-level ``alerts``, ``envs`` and ``features`` that DigitalOcean's own clients
      (godo, doctl, pydo) send and the API returns: added, so they are validated rather than passed unseen.
    - ``app_ingress_spec_rule_routing_component.preserve_path_prefix`` is a string in the spec; the API and
      its clients take a boolean (as ``app_route_spec.preserve_path_prefix`` already is).
    - ``POST /v2/uptime/checks`` requires ``method``, a field no check schema has and no client sends (godo's
      CreateUptimeCheckRequest: name, type, target, regions, enabled): dropped from ``required``.
    """
    spec["components"]["parameters"]["ssh_key_identifier"]["schema"] = {
        "anyOf": [{"type": "integer"}, {"type": "string"}]}
    schemas = spec["components"]["schemas"]
    for kind in RECORDS_WITHOUT_CAA_FIELDS:
        for part in schemas[f"domain_record_{kind}"]["allOf"]:
            if "required" in part:
                part["required"] = [name for name in part["required"] if name not in ("flags", "tag")]
    app = schemas["app_spec"]["properties"]
    app["alerts"] = {"type": "array", "items": {"$ref": "#/components/schemas/app_alert_spec"}}
    app["envs"] = {"type": "array", "items": {"$ref": "#/components/schemas/app_variable_definition"}}
    app["features"] = {"type": "array", "items": {"type": "string"}}
    schemas["app_ingress_spec_rule_routing_component"]["properties"]["preserve_path_prefix"] = {"type": "boolean"}
    create_check = spec["paths"]["/v2/uptime/checks"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    create_check["required"] = [name for name in create_check["required"] if name != "method"]


# Record types whose bundled schema wrongly requires CAA's flags and tag (see apply_errata).
RECORDS_WITHOUT_CAA_FIELDS = ("txt", "ns", "srv")


@dataclass
class SpecRequest:
    method: str
    path: str
    query: str
    headers: dict
    body: bytes | None
    host_url: str = SERVER
    parameters: RequestParameters = field(init=False)

    def __post_init__(self) -> None:
        self.method = self.method.lower()
        self.parameters = RequestParameters(query=ImmutableMultiDict(parse_qsl(self.query)),
                                            header=Headers(self.headers), cookie=ImmutableMultiDict())

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or self.headers.get("content-type") or
                ("application/json" if self.body else "")).lower()


@dataclass
class SpecResponse:
    status_code: int
    headers: dict
    data: bytes | None
    content_type: str = "application/json"


def problems(openapi: OpenAPI, request: SpecRequest, response: SpecResponse | None = None) -> list[str]:
    """Spec violations of one exchange (empty when it fits)."""
    found = []
    try:
        openapi.validate_request(request)
    except Exception as exc:
        found.append(f"request {request.method.upper()} {request.path}: {_explain(exc)}")
        return found
    if response is not None:
        try:
            openapi.validate_response(request, response)
        except Exception as exc:
            found.append(f"response {response.status_code} to {request.method.upper()} {request.path}: "
                         f"{_explain(exc)}")
    return found


def _explain(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__
    while cause is not None:
        parts.append(str(cause)[:400])
        for sub in getattr(cause, "schema_errors", [])[:3]:
            parts.append(f"  {list(sub.absolute_path)}: {sub.message[:300]}")
        cause = cause.__cause__
    return " | ".join(parts)
