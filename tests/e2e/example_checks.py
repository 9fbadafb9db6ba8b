"""What the example systems' e2e tests share (inventory/examples/<system>, docs/examples/<system>.md): the
example's own inventory as its doc runs it (`-i inventory/examples/<system>` with the lab vault password),
only its host replaced by this process's droplet; requests the way its users send them (HTTPS, plain HTTP,
basic auth, headers read back); load on the stand-ins' pages, whose version is a marker in HTML or JSON."""

from __future__ import annotations

import http.client
import itertools
import json
import re
import subprocess
import time
from base64 import b64encode
from dataclasses import dataclass, field

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultSecret
from edge import Answer, LoadGenerator, _Connection
from lab_droplets import DROPLET, on_droplet
from labtools import ROOT, run_playbook

EXAMPLES = ROOT / "inventory" / "examples"
VAULT_PASSWORD_FILE = EXAMPLES / "lab-vault-password"
# Results as one-line JSON, so a message is matched whole.
ENV = {"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: str

    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def version(self) -> str | None:
        return version_of(self.body)

    @property
    def colour(self) -> str | None:
        if self.body.startswith("{"):
            return self.json().get("colour")
        found = re.search(r'data-colour="([^"]*)"', self.body)
        return found.group(1) if found else None


def version_of(body: str) -> str | None:
    """The stand-ins' version marker: `version` of a JSON answer, `data-version` of a page."""
    if body.startswith("{"):
        return json.loads(body).get("version")
    found = re.search(r'data-version="([^"]*)"', body)
    return found.group(1) if found else None


def fetch(address: str, host: str, path: str = "/", *, tls: bool = True, user: tuple[str, str] | None = None,
          headers: dict[str, str] | None = None, timeout: float = 5) -> Reply:
    """One request to the droplet's Traefik for `host` (HTTPS verified against the lab CA, or plain HTTP)."""
    sent = dict(headers or {})
    if user is not None:
        sent["Authorization"] = "Basic " + b64encode(f"{user[0]}:{user[1]}".encode()).decode()
    if tls:
        conn: http.client.HTTPConnection = _Connection(address, timeout, host)
    else:
        conn = http.client.HTTPConnection(address, 80, timeout=timeout)
        sent["Host"] = host
    try:
        conn.request("GET", path, headers=sent)
        answer = conn.getresponse()
        return Reply(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read().decode())
    finally:
        conn.close()


def wait_for(address: str, host: str, version: str, path: str = "/", deadline: float = 30) -> Reply:
    """The first answer of `version` on `host` (the last answer when the deadline passes first)."""
    end = time.monotonic() + deadline
    while True:
        reply = fetch(address, host, path)
        if (reply.status == 200 and reply.version == version) or time.monotonic() > end:
            return reply
        time.sleep(0.2)


@dataclass
class PageLoad(LoadGenerator):
    """The edge's load generator on the stand-ins: each steady request asks the next of `paths` (pages or
    JSON) and reads its version marker; a 200 without one is a failure. Recorded as `/` (the steady kind)."""

    paths: tuple[str, ...] = ("/",)
    _next: itertools.cycle = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._next = itertools.cycle(self.paths)
        super().__post_init__()

    def _ask(self, conn: _Connection, path: str) -> Answer:  # type: ignore[override]
        asked = next(self._next)
        started = time.monotonic()
        try:
            conn.request("GET", asked)
            answer = conn.getresponse()
            body = answer.read().decode()
            version = version_of(body) if answer.status == 200 else None
            error = f"no version marker in the answer to {asked}" if answer.status == 200 and not version else None
            return Answer(started, answer.status, version, error, time.monotonic(), path)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return Answer(started, None, None, f"{type(exc).__name__} on {asked}: {exc}", time.monotonic(), path)


class Example:
    """An example system deployed from its own inventory: its group_vars (stack, vault, lab connection), and a
    hosts.yml naming this process's droplet instead of the example's placeholder address."""

    def __init__(self, system: str, address: str) -> None:
        self.system = system
        self.source = EXAMPLES / system
        self.inventory = ROOT / ".inventories" / f"{DROPLET}-{system}"
        self.inventory.mkdir(parents=True, exist_ok=True)
        link = self.inventory / "group_vars"
        if not link.is_symlink():
            link.symlink_to(self.source / "group_vars")
        (self.inventory / "hosts.yml").write_text(yaml.safe_dump(
            {"droplets": {"hosts": {DROPLET: {"ansible_host": address}}}}))

    def stack(self) -> dict:
        return yaml.safe_load((self.source / "group_vars" / "all" / "stack.yml").read_text())

    def release(self, version: str) -> dict:
        """The example's services with every stand-in image at `version` (the next release's only change)."""
        services = self.stack()["berth_services"]
        for service in services.values():
            service["image"] = re.sub(r":[^:/]+$", f":{version}", service["image"])
        return {"berth_services": services}

    def playbook(self, name: str, *args: str, variables: dict | None = None) -> subprocess.CompletedProcess:
        extra = ["-e", json.dumps(variables)] if variables else []
        return run_playbook(f"playbooks/{name}.yml", "--vault-password-file", str(VAULT_PASSWORD_FILE), *extra,
                            *args, env={**ENV, "ANSIBLE_INVENTORY": str(self.inventory)})


def inspect(container: str) -> dict:
    """`docker inspect` of a container on the droplet."""
    return json.loads(on_droplet(f"docker inspect {container}").stdout)[0]


def assert_ok(result: subprocess.CompletedProcess, what: str) -> None:
    assert result.returncode == 0, f"{what}:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"


def report(result: subprocess.CompletedProcess) -> dict:
    """The deploy report a run wrote (its path is the last line of its summary)."""
    return json.loads((ROOT / re.findall(r"report: (\S+\.json)", result.stdout)[-1]).read_text())


def vault(system: str) -> dict:
    """The example's vault, opened with the documented lab password."""
    loader = DataLoader()
    loader.set_vault_secrets([("default", VaultSecret(VAULT_PASSWORD_FILE.read_bytes().strip()))])
    return loader.load_from_file(str(EXAMPLES / system / "group_vars" / "all" / "vault.yml"))
