"""Every change deploys: the unit twin of tests/e2e/test_every_change.py (its case ids as of 1396abe are
test ids here: image, port, rule, health, command, env, volumes, cpus, memory, healthcheck,
stop_grace_period, user, berth_domain, secret env key).

Two levels. The pure one: for every field a service or accessory spec can have and every top-level
part of a spec, a change alone changes the release checksum and `differences` names it, while an
equal spec (in any key order) changes nothing. The host one, where the e2e's three proofs are
made: a fake host (a temporary /opt/<app> and Traefik dynamic directory, and a fake `docker` that
only lists the containers a start would have made) on which the role's steps run as
roles/release/tasks/{main,run,pipeline,rollback}.yml run them, through the real code: the
release_spec action plugin (the registry faked), then the release_plan, release_render and
release_switch modules' main(), and release records written as release_log writes them. A change
alone is a new release whose files carry the new value, a rerun is "nothing to do" and leaves every
file as it was, and a rollback brings back the old value and the base release's checksum.

The sets of cases are checked against what _spec accepts, so a field added there without a case
here fails `test_every_*_is_covered`.

Bugs these tests found (fixed since, and proven here):
- A warm target skipped the render, and with it the accessories: after a change to an accessory (any
  field, its secret env, or an added one), a rollback to the previous release, warm by default, left
  the accessory as changed while the record said the previous release was live. Now a warm target's
  accessories are put back as its release had them (steps_prepare.yml, release_render's
  accessories_only). The same for a deploy back to a release the warm colour still runs.
- A YAML boolean secret value (`APP_DEBUG: true`): release_spec checks and compares it as 'true',
  release_render writes and keeps it as 'True', so the env file differs from what was checked and
  every rerun says "1 key changed (APP_DEBUG)" and deploys again.
- A cold rollback (berth_keep_warm false) renders the env from the release's env/*.json, which holds
  a {} for every service and accessory without secret env; the release's first render had no entry
  for them, so the rollback's recorded checksum is not the release's own.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from ansible_collections.berth.ops.plugins.action import release_spec as release_spec_action
from ansible_collections.berth.ops.plugins.module_utils import _external, _records, _render, _spec
from ansible_collections.berth.ops.plugins.modules import release_plan, release_render, release_switch

REG = "registry.berth.test/berth"
ENV_KEY = "fedcba9876543210fedcba9876543210fedcba98"
# Secret values distinctive enough that finding one anywhere means it leaked.
OLD_SECRET = "greeting-old-4e1c9a"
NEW_SECRET = "greeting-new-7b20d3"
DB_SECRET = "db-password-old-55aa"
DB_NEW_SECRET = "db-password-new-66bb"
SECRETS = (OLD_SECRET, NEW_SECRET, DB_SECRET, DB_NEW_SECRET)


def pinned(image: str) -> str:
    """The fake registry's digest of an image reference."""
    return image + "@sha256:" + hashlib.sha256(image.encode()).hexdigest()


class Registry:
    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        pass

    def resolve(self, image: str) -> dict:
        return {"pinned": pinned(image)}


def release_spec(inputs: dict) -> dict:
    """The role's release_spec task (its arguments as tasks/main.yml passes them), registry faked."""
    args = {**copy.deepcopy(inputs), "env_key": ENV_KEY}
    task = mock.MagicMock(args=args, async_val=0, check_mode=False, action="berth.ops.release_spec")
    action = release_spec_action.ActionModule(task, mock.MagicMock(), mock.MagicMock(), mock.MagicMock(),
                                              mock.MagicMock())
    with mock.patch.object(release_spec_action, "Client", Registry):
        result = action.run(task_vars={})
    assert not result.get("failed"), result
    return result


# --- The e2e's base stack (inventory/lab + test_every_change.variables(None)), plus what the e2e has no
# room for: a second routed service (to move the public service to), an accessory and its secret env.
def base() -> dict:
    return {
        "app": "sample", "domain": "sample.berth.test", "tls": "files",
        "services": {"web": {"image": f"{REG}/sample-app:1.0.0", "port": 8000,
                             "health": {"path": "/health", "start_timeout": 30}},
                     "api": {"image": f"{REG}/sample-app:1.0.0", "port": 9000}},
        "accessories": {"db": {"image": f"{REG}/postgres:17", "volumes": ["db-data:/var/lib/postgresql/data"]}},
        "env": {"web": {"APP_GREETING": OLD_SECRET}, "api": {"APP_GREETING": OLD_SECRET},
                "db": {"POSTGRES_PASSWORD": DB_SECRET}},
        "hooks": [], "confirm_path": "",
    }


# --- A fake host ---------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch):
    """Durability is not what these tests prove, and a busy disk makes each fsync slow."""
    monkeypatch.setattr(os, "fsync", lambda _fd: None)


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """The fake host's filesystem: a directory of its own (pytest's tmp_path may be pruned by another
    pytest session running at the same time)."""
    directory = Path(tempfile.mkdtemp(prefix="berth-host-"))
    yield directory
    shutil.rmtree(directory)


class Stop(Exception):  # noqa: N818 a module's exit, not an error
    def __init__(self, result: dict) -> None:
        super().__init__(result)
        self.result = result


def _exit(_module: AnsibleModule, **kwargs: Any) -> None:
    raise Stop(kwargs)


def _fail(_module: AnsibleModule, msg: str = "", **kwargs: Any) -> None:
    raise Stop({**kwargs, "failed": True, "msg": msg})


@dataclass
class Attempt:
    plan: dict
    render: dict | None = None
    record: dict | None = None


@dataclass
class Host:
    """/opt/<app>, Traefik's dynamic directory, and the containers `docker compose up` would have made."""

    top: Path
    app: str = "sample"
    containers: dict[tuple[str, str], dict] = field(default_factory=dict)
    accessories: set[str] = field(default_factory=set)
    attempts: int = 0
    said: list[str] = field(default_factory=list)  # every module result and record, for the secret scan

    def __post_init__(self) -> None:
        self.dynamic.mkdir(parents=True)  # berth.ops.traefik made it when the host was provisioned

    @property
    def root(self) -> Path:
        return self.top / "opt" / self.app

    @property
    def dynamic(self) -> Path:
        return self.top / "traefik" / "dynamic"

    def docker(self, args: list[str]) -> tuple[int, str, str]:
        if args[:2] == ["docker", "ps"]:
            lines = [json.dumps({"State": "running" if c["running"] else "exited", "Status": "",
                                 "Labels": f"berth.app={self.app},berth.colour={colour},berth.release={c['release']},"
                                           f"com.docker.compose.service={service}"})
                     for (colour, service), c in self.containers.items()]
            return 0, "\n".join(lines), ""
        if args[:2] == ["docker", "compose"]:  # `compose config --quiet`: the file must at least parse
            json.loads(Path(args[3]).read_text())
            return 0, "", ""
        if args[:3] == ["docker", "network", "inspect"]:
            return 0, "[]", ""
        if args[:3] == ["docker", "network", "connect"] or args[-1] == "traefik-traefik-1":  # Traefik joins colours
            return 0, "{}", ""
        if args[:2] == ["docker", "inspect"]:
            return (0, "true\n", "") if args[-1] in self.accessories else (1, "", "No such object")
        raise AssertionError(f"unexpected command {args}")

    def module(self, module: Any, args: dict) -> dict:
        def run_command(_module: AnsibleModule, args: list[str], **_kwargs: Any) -> tuple[int, str, str]:
            return self.docker(args)

        with patch_module_args(args), mock.patch.multiple(AnsibleModule, run_command=run_command, exit_json=_exit,
                                                          fail_json=_fail):
            try:
                module.main()
            except Stop as stop:
                self.said.append(json.dumps(stop.result, default=str))
                return stop.result
        raise AssertionError(f"{module.__name__} did not exit")

    def where(self) -> dict:
        return {"root": str(self.root), "app": self.app, "dynamic_dir": str(self.dynamic)}

    def deploy(self, inputs: dict) -> Attempt:
        """tasks/main.yml: spec (controller), plan, then run.yml."""
        spec = release_spec(inputs)
        self.said.append(json.dumps(spec))
        plan = self.module(release_plan, {**self.where(), "spec": spec["spec"], "env_digests": spec["env_digests"],
                                          "env_key": ENV_KEY})
        assert not plan.get("failed"), plan
        # release_env with berth_external's URLs, as steps_prepare.yml passes it to release_render.
        return self.run(plan, "deploy", _external.merged_env(inputs.get("env") or {}, inputs.get("external")))

    def rollback(self, target: str = "") -> Attempt:
        """tasks/rollback.yml: plan (kind rollback), then run.yml."""
        plan = self.module(release_plan, {**self.where(), "kind": "rollback", "target": target})
        assert not plan.get("failed"), plan
        return self.run(plan, "rollback", {})

    def run(self, plan: dict, kind: str, env: dict) -> Attempt:
        """run.yml and pipeline.yml: nothing when the plan is a no-op; else render (unless the files are
        there), accessories, start (unless warm), switch, retire (keep_warm false), record."""
        if plan["noop"]:
            return Attempt(plan)
        self.attempts += 1
        release_id = f"20250101T0000{self.attempts:02d}Z-{self.attempts:04x}"
        colour, spec = plan["colour"], plan["spec"]
        render = None
        if not plan["rendered"]:
            render = self.module(release_render, {**self.where(), "release_id": release_id, "colour": colour,
                                                  "spec": spec, "env": env if not plan["env_from"] else {},
                                                  "env_from": plan["env_from"], "keep": 10})
            assert not render.get("failed"), render
            self.accessories |= {f"{self.app}-accessories-{name}-1" for name in render["accessories_changed"]}
        elif spec["accessories"]:  # steps_prepare.yml: the warm target's accessories put back as it had them
            put_back = self.module(release_render, {**self.where(), "release_id": release_id, "colour": colour,
                                                    "spec": spec, "env_from": plan["rendered"],
                                                    "accessories_only": True})
            assert not put_back.get("failed"), put_back
            self.accessories |= {f"{self.app}-accessories-{name}-1" for name in put_back["accessories_changed"]}
        if not plan["warm"]:  # docker compose up of <app>-<colour>, remove_orphans
            self.containers = {key: c for key, c in self.containers.items() if key[0] != colour}
            for name in spec["services"]:
                self.containers[(colour, name)] = {"release": plan["rendered"] or release_id, "running": True}
        switched = self.module(release_switch, {**self.where(), "release_id": release_id, "colour": colour,
                                                "spec": spec, "admin_url": "", "settle": 0})
        assert not switched.get("failed"), switched
        if plan["live_colour"] and not spec["keep_warm"]:
            for key, c in self.containers.items():
                if key[0] == plan["live_colour"]:
                    c["running"] = False
        record = _records.write(str(self.root / "releases"), {
            "id": release_id, "status": "succeeded", "kind": kind, "colour": colour,
            "previous_colour": plan["live_colour"], "rendered": plan["rendered"] or release_id,
            "checksum": (render["checksums"] if render else plan["checksums"])["release"],
            "digests": plan["images"], "differences": plan["differences"],
            "source": (plan["target"] or {}).get("id", ""), "warm": plan["warm"]}, now=1_735_689_600 + self.attempts)
        self.said.append(json.dumps(record))
        return Attempt(plan, render, record)

    # What a user could look at on the host (the e2e's inspect / routes / live_release_file).
    def live(self) -> dict:
        return _records.live(_records.load(str(self.root / "releases")))

    def live_dir(self) -> Path:
        record = self.live()
        return self.root / "releases" / (record.get("rendered") or record["id"])

    def compose(self, name: str) -> dict:
        return json.loads((self.live_dir() / "compose.yml").read_text())["services"][name]

    def routes(self) -> dict:
        return json.loads((self.dynamic / f"{self.app}.yml").read_text())

    def colour_routes(self) -> dict:
        colour = _render.live_colour(self.routes(), self.app)
        return json.loads((self.dynamic / f"{self.app}-{colour}.yml").read_text())

    def spec(self) -> dict:
        return json.loads((self.live_dir() / "spec.json").read_text())["spec"]

    def env_file(self, name: str) -> str:
        return (self.live_dir() / "env" / f"{name}.env").read_text()

    def accessory(self, name: str) -> dict:
        return json.loads((self.root / "compose" / "accessories.yml").read_text())["services"][name]

    def accessory_env_file(self, name: str) -> str:
        return (self.root / "env" / f"{name}.env").read_text()

    def files(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.top)): p.read_bytes() for p in sorted(self.top.rglob("*")) if p.is_file()}

    def leaked(self) -> list[str]:
        """Secret values found in anything berth returned, recorded or logged (env files are meant to hold them)."""
        texts = [*self.said, *(p.read_text() for p in (self.root / "releases").glob("*.json")),
                 (self.root / "releases" / "audit.log").read_text()]
        return [s for s in SECRETS if any(s in text for text in texts)]


# --- What each change must say and show -----------------------------------------------------------------
def js(value: Any) -> str:
    """How a difference line shows a list or dict."""
    return json.dumps(value, sort_keys=True)


def health(**settings: Any) -> dict:
    """A normalised health block: the documented defaults with `settings` over them."""
    return {"body": "", "interval": 1.0, "json": {}, "max_bad_answers": 3, "max_errors": 3, "path": "/",
            "start_timeout": 120.0, "status": [200], "successes": 3, "timeout": 5.0, **settings}


WEB_HEALTH = health(path="/health", start_timeout=30.0)
WEB_ROUTER = {"web": "Host(`sample.berth.test`)"}


def service(name: str, **values: Any) -> Callable[[dict], None]:
    def change(inputs: dict) -> None:
        inputs["services"][name].update(values)
    return change


def accessory(**values: Any) -> Callable[[dict], None]:
    def change(inputs: dict) -> None:
        inputs["accessories"]["db"].update(values)
    return change


def top(**values: Any) -> Callable[[dict], None]:
    def change(inputs: dict) -> None:
        inputs.update(values)
    return change


def secret(name: str, key: str, value: str | None) -> Callable[[dict], None]:
    def change(inputs: dict) -> None:
        if value is None:
            del inputs["env"][name][key]
        else:
            inputs["env"][name][key] = value
    return change


def drop(group: str, name: str) -> Callable[[dict], None]:
    def change(inputs: dict) -> None:
        del inputs[group][name]
        del inputs["env"][name]  # env for a service the stack lacks is refused
    return change


def web(key: str, default: Any = None) -> Callable[[Host], Any]:
    return lambda host: host.compose("web").get(key, default)


def db(key: str, default: Any = None) -> Callable[[Host], Any]:
    return lambda host: host.accessory("db").get(key, default)


def router(host: Host) -> dict:
    return host.routes()["http"]["routers"]


def web_server(host: Host) -> str:
    services = host.colour_routes()["http"]["services"]
    url = next(s for name, s in services.items() if name.startswith("sample-web-"))["loadBalancer"]["servers"][0]["url"]
    return url.replace("-blue-", "-C-").replace("-green-", "-C-")


def env_file(*lines: str) -> str:
    return "# berth: written per release, root only\n" + "".join(line + "\n" for line in lines)


@dataclass(frozen=True)
class Case:
    id: str              # the e2e's case id where it has one
    covers: str          # the input it changes: services.<key>, accessories.<key>, or a release_spec option
    change: Callable[[dict], None]
    differences: tuple[str, ...]
    seen: Callable[[Host], Any]  # what the host shows of it
    want: Any


WEB_IMAGE, NEW_WEB_IMAGE = f"{REG}/sample-app:1.0.0", f"{REG}/sample-app:1.1.0"
DB_IMAGE, NEW_DB_IMAGE = f"{REG}/postgres:17", f"{REG}/postgres:17.2"
CHECK = {"test": ["CMD", "python3", "-c", "print(1)"], "interval": "7s"}
DB_CHECK = {"test": ["CMD", "pg_isready", "-U", "sample"], "interval": "2s", "retries": 30}
HOOK = {"name": "migrate", "service": "web", "command": ["python3", "/app/app.py", "migrate"]}
RULE = "Host(`sample.berth.test`) && PathPrefix(`/`)"
API_ROUTES = [{"host": "api.{domain}", "middlewares": [{"strip_prefix": "/v1"}]}]
API_ROUTES_SPEC = [{"middlewares": [{"strip_prefix": {"prefixes": ["/v1"]}}], "rule": "Host(`api.sample.berth.test`)"}]
ADMIN_USERS = f"admin:{NEW_SECRET}"
LOGGING = {"driver": "local", "options": {"max-size": "10m", "max-file": 3}}
LOGGING_SPEC = {"driver": "local", "options": {"max-file": "3", "max-size": "10m"}}


EXTERNAL = {"db": {"url": f"postgresql://sample:{NEW_SECRET}@db.example.com:5432/sample",
                    "env": {"web": "DATABASE_URL"}}}
EXTERNAL_SPEC = {"env": {"web": "DATABASE_URL"}, "host": "db.example.com", "port": 5432, "scheme": "postgresql",
                 "timeout": 5.0, "tls": "none"}


def public_and_middlewares(host: Host) -> tuple:
    """The api's public router and the live colour's middlewares."""
    return router(host).get("sample-api"), host.colour_routes()["http"].get("middlewares")


def with_basic_auth(inputs: dict) -> None:
    inputs["services"]["web"]["routes"] = [{"middlewares": [{"basic_auth": {"users_from": "ADMIN_USERS"}}]}]
    inputs["env"]["web"]["ADMIN_USERS"] = ADMIN_USERS


def basic_auth_seen(host: Host) -> tuple:
    """The web router's middleware, the users Traefik reads, and who may read them."""
    colour = _render.live_colour(host.routes(), host.app)
    path = host.dynamic / f"{host.app}-{colour}.yml"
    middlewares = host.colour_routes()["http"].get("middlewares") or {}
    return (router(host)["sample-web"].get("middlewares"), [m["basicAuth"]["users"] for m in middlewares.values()],
            oct(path.stat().st_mode & 0o777))

def add_worker(inputs: dict) -> None:
    inputs["services"]["worker"] = {"image": WEB_IMAGE, "command": ["python3", "/app/app.py"], "singleton": True}


def singleton_seen(host: Host) -> tuple | None:
    """The live release's singletons project: its name, the worker's image, whether it carries its
    berth.singleton label, and the networks it joins (none: the release has no singletons)."""
    path = host.live_dir() / "singletons.yml"
    if not path.exists():
        return None
    document = json.loads(path.read_text())
    worker = document["services"]["worker"]
    return (document["name"], {"image": worker["image"], "labels": len(worker["labels"]["berth.singleton"]) == 64,
                               "networks": sorted(worker["networks"])})


def api_servers(host: Host) -> list[str]:
    services = host.colour_routes()["http"]["services"]
    name = next(name for name in services if name.startswith("sample-api-") and name.count("-") == 2)
    servers = services[name]["loadBalancer"]["servers"]
    return [s["url"].replace("-blue-", "-C-").replace("-green-", "-C-") for s in servers]


CASES = [
    # The e2e's cases (its port case also changed the image's own healthcheck and APP_PORT; here the port is alone).
    Case("image", "services.image", service("web", image=NEW_WEB_IMAGE),
         (f"image of web: {pinned(WEB_IMAGE)} -> {pinned(NEW_WEB_IMAGE)}",), web("image"), pinned(NEW_WEB_IMAGE)),
    Case("port", "services.port", service("web", port=8001), ("port of web: 8000 -> 8001",),
         web_server, "http://sample-C-web:8001"),
    Case("rule", "services.rule", service("web", rule=RULE),
         (f"rule of web: none -> {RULE}", f"routing rules: {js(WEB_ROUTER)} -> {js({'web': RULE})}"),
         lambda host: router(host)["sample-web"]["rule"], RULE),
    Case("health", "services.health", service("web", health={"path": "/", "start_timeout": 30, "successes": 2}),
         (f"health of web: {js(WEB_HEALTH)} -> {js(health(start_timeout=30.0, successes=2))}",),
         lambda host: host.spec()["services"]["web"]["health"], health(start_timeout=30.0, successes=2)),
    Case("command", "services.command", service("web", command=["python3", "/app/app.py", "serve"]),
         ('command of web: none -> ["python3", "/app/app.py", "serve"]',),
         web("command"), ["python3", "/app/app.py", "serve"]),
    Case("env", "services.env", service("web", env={"APP_ACCESS_LOG": "true"}),
         ("env of web: 1 key added (APP_ACCESS_LOG)",),
         lambda host: host.compose("web")["environment"].get("APP_ACCESS_LOG"), "true"),
    Case("volumes", "services.volumes", service("web", volumes=["/opt/sample/extra:/extra"]),
         ('volumes of web: none -> ["/opt/sample/extra:/extra"]',), web("volumes"), ["/opt/sample/extra:/extra"]),
    Case("cpus", "services.cpus", service("web", cpus="0.5"), ("cpus of web: none -> 0.5",),
         web("deploy"), {"resources": {"limits": {"cpus": "0.5"}}}),
    Case("memory", "services.memory", service("web", memory="300m"), ("memory of web: none -> 300m",),
         web("deploy"), {"resources": {"limits": {"memory": "300m"}}}),
    Case("healthcheck", "services.healthcheck", service("web", healthcheck=CHECK),
         (f"healthcheck of web: none -> {js(CHECK)}",), web("healthcheck"), CHECK),
    Case("stop_grace_period", "services.stop_grace_period", service("web", stop_grace_period="17s"),
         ("stop_grace_period of web: none -> 17s",), web("stop_grace_period"), "17s"),
    # How long the colour users left keeps its long-lived connections: read from the live release's spec.
    Case("drain", "services.drain", service("web", drain=5), ("drain of web: none -> 5",),
         lambda host: host.spec()["services"]["web"].get("drain"), 5),
    Case("user", "services.user", service("web", user="65534"), ("user of web: none -> 65534",), web("user"), "65534"),
    Case("routes", "services.routes", service("api", routes=API_ROUTES),
         (f"routes of api: none -> {js(API_ROUTES_SPEC)}",
          f"routing rules: {js(WEB_ROUTER)} -> {js({**WEB_ROUTER, 'api': 'Host(`api.sample.berth.test`)'})}"),
         public_and_middlewares,
         ({"entryPoints": ["websecure"], "rule": "Host(`api.sample.berth.test`)", "service": "sample-api",
           "middlewares": ["sample-api-green-1-strip-prefix"], "tls": {}},
          {"sample-api-green-1-strip-prefix": {"stripPrefix": {"prefixes": ["/v1"]}}})),
    Case("routes basic_auth", "services.routes", with_basic_auth,
         ('routes of web: none -> [{"middlewares": [{"basic_auth": {"users_from": "ADMIN_USERS"}}], '
          '"rule": "Host(`sample.berth.test`)"}]', "env file of web: 1 key added (ADMIN_USERS)"),
         basic_auth_seen, (["sample-web-green-1-basic-auth"], [[ADMIN_USERS]], "0o600")),
    Case("read_only", "services.read_only", service("web", read_only=True), ("read_only of web: none -> true",),
         web("read_only"), True),
    Case("tmpfs", "services.tmpfs", service("web", tmpfs=["/tmp:size=16m"]),
         ('tmpfs of web: none -> ["/tmp:size=16m"]',), web("tmpfs"), ["/tmp:size=16m"]),
    Case("cap_drop", "services.cap_drop", service("web", cap_drop=["all"]), ('cap_drop of web: none -> ["ALL"]',),
         web("cap_drop"), ["ALL"]),
    Case("cap_add", "services.cap_add", service("web", cap_add=["CAP_NET_BIND_SERVICE"]),
         ('cap_add of web: none -> ["NET_BIND_SERVICE"]',), web("cap_add"), ["NET_BIND_SERVICE"]),
    Case("no_new_privileges", "services.no_new_privileges", service("web", no_new_privileges=True),
         ("no_new_privileges of web: none -> true",), web("security_opt"), ["no-new-privileges:true"]),
    Case("ulimits", "services.ulimits", service("web", ulimits={"nofile": {"soft": 1024, "hard": 4096}}),
         ('ulimits of web: none -> {"nofile": {"hard": 4096, "soft": 1024}}',),
         web("ulimits"), {"nofile": {"soft": 1024, "hard": 4096}}),
    Case("logging", "services.logging", service("web", logging=LOGGING),
         (f"logging of web: none -> {js(LOGGING_SPEC)}",), web("logging"), LOGGING_SPEC),
    Case("singleton", "services.singleton", add_worker, ("service worker added",), singleton_seen,
         ("sample-singletons", {"image": pinned(WEB_IMAGE), "labels": True, "networks": ["blue", "green"]})),
    Case("replicas", "services.replicas", service("api", replicas=2), ("replicas of api: none -> 2",),
         api_servers, ["http://sample-C-api-1:9000", "http://sample-C-api-2:9000"]),
    Case("berth_domain", "domain", top(domain="other.berth.test"),
         ("domain: sample.berth.test -> other.berth.test",
          f"routing rules: {js(WEB_ROUTER)} -> {js({'web': 'Host(`other.berth.test`)'})}"),
         lambda host: router(host)["sample-web"]["rule"], "Host(`other.berth.test`)"),
    Case("secret env key", "env", secret("web", "APP_GREETING", NEW_SECRET),
         ("env file of web: 1 key changed (APP_GREETING)",),
         lambda host: host.env_file("web"), env_file(f"APP_GREETING='{NEW_SECRET}'")),
    # What the e2e has no case for.
    Case("health_path", "services.health_path", service("api", health_path="/ready"),
         (f"health of api: {js(health())} -> {js(health(path='/ready'))}",),
         lambda host: host.spec()["services"]["api"]["health"]["path"], "/ready"),
    Case("berth_tls none", "tls", top(tls="none"), ("TLS: files -> none",),
         lambda host: router(host)["sample-web"],
         {"entryPoints": ["web"], "rule": "Host(`sample.berth.test`)", "service": "sample-web"}),
    Case("berth_tls acme", "tls", top(tls="acme"), ("TLS: files -> acme",),
         lambda host: router(host)["sample-web"],
         {"entryPoints": ["websecure"], "rule": "Host(`sample.berth.test`)", "service": "sample-web",
          "tls": {"certResolver": "acme"}}),
    Case("berth_public_service", "public_service", top(public_service="api"),
         (f"routing rules: {js(WEB_ROUTER)} -> {js({'api': 'Host(`sample.berth.test`)'})}",
          "public service: web -> api"),
         lambda host: sorted(router(host)), ["sample-api"]),
    Case("berth_confirm_path", "confirm_path", top(confirm_path="/"), ("confirm path:  -> /",),
         lambda host: host.spec()["confirm_path"], "/"),
    # berth_external: the URL (password NEW_SECRET, watched by leaked()) in web's env file, its endpoint in the spec
    Case("berth_external", "external", top(external=EXTERNAL),
         (f"external service db: none -> {js(EXTERNAL_SPEC)}", "env file of web: 1 key added (DATABASE_URL)"),
         lambda host: (host.spec().get("external"), "DATABASE_URL='postgresql://sample:" in host.env_file("web")),
         ({"db": EXTERNAL_SPEC}, True)),
    Case("berth_keep_warm", "keep_warm", top(keep_warm=False), ("keep_warm: true -> false",),
         lambda host: host.spec()["keep_warm"], False),
    Case("berth_hooks", "hooks", top(hooks=[HOOK]), (f"hooks: [] -> {js([HOOK])}",),
         lambda host: host.spec()["hooks"], [HOOK]),
    Case("secret env key added", "env", secret("web", "APP_TOKEN", NEW_SECRET),
         ("env file of web: 1 key added (APP_TOKEN)",),
         lambda host: host.env_file("web"), env_file(f"APP_GREETING='{OLD_SECRET}'", f"APP_TOKEN='{NEW_SECRET}'")),
    Case("secret env key removed", "env", secret("api", "APP_GREETING", None),
         ("env file of api: 1 key removed (APP_GREETING)",), lambda host: host.env_file("api"), env_file()),
    Case("service added", "services", lambda inputs: inputs["services"].update(
        worker={"image": WEB_IMAGE, "command": ["python3", "/app/app.py", "work"]}),
         # The live colour never ran the new service, and the plan says so too.
         ("service worker added", "colour blue: worker not running"),
         lambda host: sorted(json.loads((host.live_dir() / "compose.yml").read_text())["services"]),
         ["api", "web", "worker"]),
    Case("service removed", "services", drop("services", "api"),
         ("service api removed", "env file of api: 1 key removed (APP_GREETING)"),
         lambda host: sorted(json.loads((host.live_dir() / "compose.yml").read_text())["services"]), ["web"]),
    # Accessories: changed in place, not blue/green.
    Case("accessory image", "accessories.image", accessory(image=NEW_DB_IMAGE),
         (f"image of db: {pinned(DB_IMAGE)} -> {pinned(NEW_DB_IMAGE)}",), db("image"), pinned(NEW_DB_IMAGE)),
    Case("accessory command", "accessories.command", accessory(command=["postgres", "-c", "max_connections=50"]),
         ('command of db: none -> ["postgres", "-c", "max_connections=50"]',),
         db("command"), ["postgres", "-c", "max_connections=50"]),
    Case("accessory env", "accessories.env", accessory(env={"PGDATA": "/var/lib/postgresql/data/pg"}),
         ("env of db: 1 key added (PGDATA)",), db("environment"), {"PGDATA": "/var/lib/postgresql/data/pg"}),
    Case("accessory volumes", "accessories.volumes", accessory(volumes=["db-data2:/var/lib/postgresql/data"]),
         ('volumes of db: ["db-data:/var/lib/postgresql/data"] -> ["db-data2:/var/lib/postgresql/data"]',),
         db("volumes"), ["db-data2:/var/lib/postgresql/data"]),
    Case("accessory cpus", "accessories.cpus", accessory(cpus="1.5"), ("cpus of db: none -> 1.5",),
         db("deploy"), {"resources": {"limits": {"cpus": "1.5"}}}),
    Case("accessory memory", "accessories.memory", accessory(memory="512M"), ("memory of db: none -> 512m",),
         db("deploy"), {"resources": {"limits": {"memory": "512m"}}}),
    Case("accessory healthcheck", "accessories.healthcheck", accessory(healthcheck=DB_CHECK),
         (f"healthcheck of db: none -> {js(DB_CHECK)}",), db("healthcheck"), DB_CHECK),
    Case("accessory stop_grace_period", "accessories.stop_grace_period", accessory(stop_grace_period="60s"),
         ("stop_grace_period of db: none -> 60s",), db("stop_grace_period"), "60s"),
    Case("accessory user", "accessories.user", accessory(user="999:999"), ("user of db: none -> 999:999",),
         db("user"), "999:999"),
    Case("accessory read_only", "accessories.read_only", accessory(read_only=True),
         ("read_only of db: none -> true",), db("read_only"), True),
    Case("accessory tmpfs", "accessories.tmpfs", accessory(tmpfs=["/run/postgresql"]),
         ('tmpfs of db: none -> ["/run/postgresql"]',), db("tmpfs"), ["/run/postgresql"]),
    Case("accessory cap_drop", "accessories.cap_drop", accessory(cap_drop=["NET_RAW"]),
         ('cap_drop of db: none -> ["NET_RAW"]',), db("cap_drop"), ["NET_RAW"]),
    Case("accessory cap_add", "accessories.cap_add", accessory(cap_add=["SYS_NICE"]),
         ('cap_add of db: none -> ["SYS_NICE"]',), db("cap_add"), ["SYS_NICE"]),
    Case("accessory no_new_privileges", "accessories.no_new_privileges", accessory(no_new_privileges=True),
         ("no_new_privileges of db: none -> true",), db("security_opt"), ["no-new-privileges:true"]),
    Case("accessory ulimits", "accessories.ulimits", accessory(ulimits={"nproc": 512}),
         ('ulimits of db: none -> {"nproc": 512}',), db("ulimits"), {"nproc": 512}),
    Case("accessory logging", "accessories.logging", accessory(logging={"options": {"max-size": "1m"}}),
         ('logging of db: none -> {"options": {"max-size": "1m"}}',), db("logging"), {"options": {"max-size": "1m"}}),
    Case("accessory secret env key", "env", secret("db", "POSTGRES_PASSWORD", DB_NEW_SECRET),
         ("env file of db: 1 key changed (POSTGRES_PASSWORD)",),
         lambda host: host.accessory_env_file("db"), env_file(f"POSTGRES_PASSWORD='{DB_NEW_SECRET}'")),
    Case("accessory added", "accessories",
         lambda inputs: inputs["accessories"].update(cache={"image": f"{REG}/redis:7"}),
         ("accessory cache added",),
         lambda host: sorted(json.loads((host.root / "compose" / "accessories.yml").read_text())["services"]),
         ["cache", "db"]),
    # A removed accessory keeps running (accessories persist): what changes is the release's spec.
    Case("accessory removed", "accessories", drop("accessories", "db"),
         ("accessory db removed", "env file of db: 1 key removed (POSTGRES_PASSWORD)"),
         lambda host: sorted(host.spec()["accessories"]), []),
]
# release_spec options that are not a change of a release.
NOT_A_CHANGE = {"confirm_json_match": "what the confirm asks of the new colour's answer, not part of the release",
                "app": "another app: its own /opt/<app>, compose projects and routes, where nothing is live yet"}


def changed(host_dir: Path, case: Case, **base_settings: Any) -> tuple[Host, Attempt, Any, Attempt]:
    """A host with the base release live, then the case deployed: (host, base attempt, what it showed, attempt)."""
    host = Host(host_dir)
    inputs = {**base(), **base_settings}
    first = host.deploy(inputs)
    assert first.plan["differences"] == ["nothing is live yet"] and first.record
    before = case.seen(host)
    inputs = copy.deepcopy(inputs)
    case.change(inputs)
    return host, first, before, host.deploy(inputs)


def inputs_of(case: Case, **base_settings: Any) -> dict:
    inputs = {**base(), **base_settings}
    case.change(inputs)
    return inputs


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_change_alone_is_a_new_release_that_reaches_the_host(host_dir, case):
    host, first, before, attempt = changed(host_dir, case)
    assert attempt.plan["noop"] is False
    assert attempt.plan["differences"] == list(case.differences)
    assert attempt.record["checksum"] != first.record["checksum"]
    assert before != case.want, "the base already shows the new value: the case proves nothing"
    assert case.seen(host) == case.want
    assert host.leaked() == []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_rerun_is_a_no_op_that_changes_no_file(host_dir, case):
    host, _first, _before, _attempt = changed(host_dir, case)
    files = host.files()
    again = host.deploy(inputs_of(case))
    assert again.plan["noop"] is True and again.plan["differences"] == [] and again.record is None
    assert host.files() == files


def rollback_cases() -> list:
    out = []
    for case in CASES:
        for mode in ("warm", "cold"):
            if mode == "cold" and case.id == "berth_keep_warm":
                continue  # a cold base already has keep_warm false
            out.append(pytest.param(case, mode, id=f"{case.id}-{mode}"))
    return out


def heads(differences: list[str]) -> set[str]:
    """What each line is about ("memory of web", "service worker"), whichever way it changed."""
    return {line.split(":")[0].removesuffix(" added").removesuffix(" removed") for line in differences
            if not line.startswith("colour ")}


@pytest.mark.parametrize(("case", "mode"), rollback_cases())
def test_a_rollback_brings_the_base_release_back(host_dir, case, mode):
    """warm: the base colour still runs (berth_keep_warm, the default), so a gate and a switch; cold:
    berth_keep_warm false stopped it, so the base release is rendered again from its directory."""
    settings = {"keep_warm": False} if mode == "cold" else {}
    host, first, before, attempt = changed(host_dir, case, **settings)
    back = host.rollback()
    # Turning keep_warm off stopped the base colour: the rollback to it is cold.
    assert back.plan["warm"] is (mode == "warm" and case.id != "berth_keep_warm")
    assert back.plan["target"]["id"] == first.record["id"]
    assert heads(back.plan["differences"]) == heads(attempt.plan["differences"])
    assert case.seen(host) == before
    # The base release exactly: the checksum a deploy of the base compares against to say "nothing to do".
    assert host.live()["checksum"] == first.record["checksum"]
    assert host.deploy({**base(), **settings}).plan["noop"] is True
    assert host.leaked() == []


def test_every_service_and_accessory_setting_is_covered():
    covered = {c.covers for c in CASES}
    assert {key.split(".", 1)[1] for key in covered if key.startswith("services.")} == _spec.SERVICE_KEYS
    assert {key.split(".", 1)[1] for key in covered if key.startswith("accessories.")} == _spec.ACCESSORY_KEYS


def test_every_release_spec_option_is_covered_or_said_not_to_be_a_change():
    covered = {c.covers.split(".", 1)[0] for c in CASES}
    assert covered | set(NOT_A_CHANGE) == set(release_spec_action.INPUTS)
    assert not covered & set(NOT_A_CHANGE)


# --- Every field of a spec, at the level of _render's pure functions -----------------------------------
FULL_WEB = {"image": WEB_IMAGE, "port": 8000, "rule": RULE, "health": {"successes": 2}, "health_path": "/up",
            "command": ["serve"], "env": {"MODE": "a"}, "volumes": ["data:/data"], "cpus": "1", "memory": "1g",
            "healthcheck": {"test": ["CMD", "true"]}, "stop_grace_period": "5s", "user": "1000", "read_only": False,
            "tmpfs": ["/tmp"], "cap_drop": ["ALL"], "cap_add": ["CHOWN"], "no_new_privileges": False,
            "ulimits": {"nofile": 1024}, "logging": {"driver": "local"}, "drain": 5, "replicas": 2}
# A service routes by one rule (the shorthand) or by routes, not both: FULL_API is FULL_WEB with routes.
FULL_API = {**{k: v for k, v in FULL_WEB.items() if k != "rule"}, "routes": [{"path": "/api"}]}
# Each field of a built service spec, another value for it, and the line that must name the change.
SPEC_FIELDS = {
    "image": (pinned(NEW_WEB_IMAGE), f"image of web: {pinned(WEB_IMAGE)} -> {pinned(NEW_WEB_IMAGE)}"),
    "port": (8001, "port of web: 8000 -> 8001"),
    "rule": ("PathPrefix(`/x`)", f"rule of web: {RULE} -> PathPrefix(`/x`)"),
    "health": (health(path="/up", successes=3),
               f"health of web: {js(health(path='/up', successes=2))} -> {js(health(path='/up', successes=3))}"),
    "command": (["work"], 'command of web: ["serve"] -> ["work"]'),
    "env": ({"MODE": "b"}, "env of web: 1 key changed (MODE)"),
    "volumes": (["data:/srv"], 'volumes of web: ["data:/data"] -> ["data:/srv"]'),
    "cpus": ("2", "cpus of web: 1 -> 2"),
    "memory": ("2g", "memory of web: 1g -> 2g"),
    "healthcheck": ({"test": ["CMD", "false"]},
                    'healthcheck of web: {"test": ["CMD", "true"]} -> {"test": ["CMD", "false"]}'),
    "stop_grace_period": ("6s", "stop_grace_period of web: 5s -> 6s"),
    "user": ("1001", "user of web: 1000 -> 1001"),
    "routes": ([{"middlewares": [], "rule": "PathPrefix(`/x`)"}],
               'routes of web: none -> [{"middlewares": [], "rule": "PathPrefix(`/x`)"}]'),
    "read_only": (True, "read_only of web: false -> true"),
    "tmpfs": (["/run"], 'tmpfs of web: ["/tmp"] -> ["/run"]'),
    "cap_drop": (["NET_RAW"], 'cap_drop of web: ["ALL"] -> ["NET_RAW"]'),
    "cap_add": (["SYS_NICE"], 'cap_add of web: ["CHOWN"] -> ["SYS_NICE"]'),
    "no_new_privileges": (True, "no_new_privileges of web: false -> true"),
    "ulimits": ({"nofile": 2048}, 'ulimits of web: {"nofile": 1024} -> {"nofile": 2048}'),
    "logging": ({"driver": "json-file"}, 'logging of web: {"driver": "local"} -> {"driver": "json-file"}'),
    "drain": (7, "drain of web: 5 -> 7"),
    "replicas": (3, "replicas of web: 2 -> 3"),
    "singleton": (True, "singleton of web: none -> true"),
}
# A singleton has no port, routes or health (refused): the third service of the full spec.
FULL_WORKER = {"image": WEB_IMAGE, "command": ["work"], "singleton": True}


def built(**inputs: Any) -> dict:
    """The spec the role passes on for the base stack with `inputs` over it (env for its services only)."""
    stack = {**base(), **inputs}
    stack["env"] = {name: values for name, values in stack["env"].items()
                    if name in stack["services"] or name in stack["accessories"]}
    return release_spec(stack)["spec"]


def test_a_service_spec_holds_exactly_the_fields_a_difference_report_walks():
    """A field _spec adds to a service without adding it to _render.FIELDS would change the checksum
    but never be reported, and release_plan decides 'nothing to do' from the report."""
    spec = built(services={"web": FULL_WEB, "api": FULL_API, "worker": FULL_WORKER})
    web, api = set(spec["services"]["web"]), set(spec["services"]["api"])
    assert web | api | set(spec["services"]["worker"]) == set(_render.FIELDS) == set(SPEC_FIELDS)
    assert web ^ api == {"rule", "routes"}


@pytest.mark.parametrize("name", sorted(SPEC_FIELDS))
def test_each_field_of_a_service_spec_alone_is_a_reported_checksummed_difference(name):
    old = built(services={"web": FULL_WEB})
    new = copy.deepcopy(old)
    new["services"]["web"][name], line = SPEC_FIELDS[name]
    assert _render.differences(old, new) == [line]
    env = {"web": {"APP_GREETING": OLD_SECRET}}
    before, after = _render.checksums(old, env), _render.checksums(new, env)
    assert after["services"]["web"] != before["services"]["web"] and after["release"] != before["release"]
    assert {k: v for k, v in after.items() if k not in ("services", "release")} == \
        {k: v for k, v in before.items() if k not in ("services", "release")}
    # An accessory walks the same fields (those it may have).
    if name in _spec.ACCESSORY_KEYS:
        old_db, new_db = copy.deepcopy(old), copy.deepcopy(old)
        old_db["accessories"]["db"][name] = old["services"]["web"][name]
        new_db["accessories"]["db"][name] = new["services"]["web"][name]
        assert _render.differences(old_db, new_db) == [line.replace(" of web", " of db", 1)]
        assert _render.checksums(new_db, env)["accessories"] != _render.checksums(old_db, env)["accessories"]


# Each top-level part of a spec: another value, the line that names it, the checksum part that holds it.
TOP_PARTS = {
    "domain": ("other.example.com", "domain: sample.berth.test -> other.example.com", "routing"),
    "tls": ("acme", "TLS: files -> acme", "routing"),
    "routers": ({"web": "PathPrefix(`/`)"}, f'routing rules: {js(WEB_ROUTER)} -> {{"web": "PathPrefix(`/`)"}}',
                "routing"),
    "public_service": ("api", "public service: web -> api", "routing"),
    "hooks": ([HOOK], f"hooks: [] -> {js([HOOK])}", "hooks"),
    "keep_warm": (False, "keep_warm: true -> false", "options"),
    "confirm_path": ("/up", "confirm path:  -> /up", "options"),
    "external": ({"db": EXTERNAL_SPEC}, f"external service db: none -> {js(EXTERNAL_SPEC)}", "external"),
}


def test_every_top_level_part_of_a_spec_is_compared():
    # external is in a spec (and its checksums) only when given: a stack without it keeps its checksums.
    assert set(built()) | {"external"} == set(TOP_PARTS) | {"services", "accessories", "app"}
    assert set(TOP_PARTS) | {"app"} >= set(release_spec_action.INPUTS) - {"services", "accessories", "env",
                                                                        "confirm_json_match"}


@pytest.mark.parametrize("name", sorted(TOP_PARTS))
def test_each_top_level_part_alone_is_a_reported_checksummed_difference(name):
    old = built()
    value, line, part = TOP_PARTS[name]
    new = {**old, name: value}
    assert _render.differences(old, new) == [line]
    env = {"web": {"APP_GREETING": OLD_SECRET}}
    before, after = _render.checksums(old, env), _render.checksums(new, env)
    assert {k for k in set(before) | set(after) if before.get(k) != after.get(k)} == {part, "release"}


# Each health setting as a user writes it, and where the gate reads it.
HEALTH_SETTINGS = {
    "path": ("/ready", "url", "http://gate/ready"),
    "status": ([204], "status_codes", [204]),
    "body": ("ok", "body_regex", "ok"),
    "json": ({"ok": True}, "json_match", {"ok": True}),
    "interval": (2, "interval", 2.0),
    "timeout": (3, "timeout", 3.0),
    "successes": (5, "successes", 5),
    "start_timeout": (60, "start_timeout", 60.0),
    "max_bad_answers": (7, "max_bad_answers", 7),
    "max_errors": (9, "max_connection_errors", 9),
}


def test_every_health_setting_is_covered():
    assert set(HEALTH_SETTINGS) == set(_spec.HEALTH_DEFAULTS)


@pytest.mark.parametrize("name", sorted(HEALTH_SETTINGS))
def test_each_health_setting_alone_is_a_new_release_that_reaches_the_gate(name):
    value, gate_key, gated = HEALTH_SETTINGS[name]
    old = built()
    web = base()["services"]["web"]
    new = built(services={**base()["services"], "web": {**web, "health": {**web["health"], name: value}}})
    after = {**WEB_HEALTH, name: new["services"]["web"]["health"][name]}
    assert _render.differences(old, new) == [f"health of web: {js(WEB_HEALTH)} -> {js(after)}"]
    assert _render.checksums(new, {})["services"]["web"] != _render.checksums(old, {})["services"]["web"]
    check = next(c for c in _render.gate_checks(new, "blue", "http://gate") if c["name"] == "web")
    assert check[gate_key] == gated
    old_check = next(c for c in _render.gate_checks(old, "blue", "http://gate") if c["name"] == "web")
    assert old_check[gate_key] != gated


HEALTHCHECK = {"test": ["CMD", "true"], "interval": "5s", "timeout": "3s", "retries": 3, "start_period": "10s",
               "start_interval": "1s", "disable": False}
HEALTHCHECK_CHANGES = {"test": ["CMD", "false"], "interval": "6s", "timeout": "4s", "retries": 4,
                       "start_period": "11s", "start_interval": "2s", "disable": True}


def test_every_compose_healthcheck_key_is_covered():
    assert set(HEALTHCHECK_CHANGES) == set(HEALTHCHECK) == _spec.HEALTHCHECK_KEYS


@pytest.mark.parametrize("name", sorted(HEALTHCHECK_CHANGES))
def test_each_healthcheck_key_alone_is_a_new_release_that_reaches_compose(name):
    def with_check(check: dict) -> dict:
        return built(services={**base()["services"], "web": {**base()["services"]["web"], "healthcheck": check}})

    old, new = with_check(HEALTHCHECK), with_check({**HEALTHCHECK, name: HEALTHCHECK_CHANGES[name]})
    assert _render.differences(old, new) == \
        [f"healthcheck of web: {js(HEALTHCHECK)} -> {js({**HEALTHCHECK, name: HEALTHCHECK_CHANGES[name]})}"]
    assert _render.checksums(new, {})["release"] != _render.checksums(old, {})["release"]
    compose = _render.compose_colour(new, "blue", "r1", "/opt/sample/releases/r1", "sum")
    assert compose["services"]["web"]["healthcheck"][name] == HEALTHCHECK_CHANGES[name]


# --- The same release written in another order -------------------------------------------------------
def reordered(data: Any) -> Any:
    """Every dict's keys in reverse order, all the way down (lists keep their order: it means something)."""
    if isinstance(data, dict):
        return {key: reordered(data[key]) for key in reversed(list(data))}
    if isinstance(data, list):
        return [reordered(item) for item in data]
    return data


def test_key_order_changes_no_checksum_and_a_deploy_is_a_no_op(host_dir):
    host = Host(host_dir)
    first = host.deploy(base())
    inputs = reordered(base())
    # The order of berth_services means something when berth_public_service is empty (see below).
    inputs["services"] = {name: reordered(svc) for name, svc in base()["services"].items()}
    assert list(inputs) != list(base()) and list(inputs["env"]) != list(base()["env"])
    spec = release_spec(inputs)
    assert _render.checksums(spec["spec"], inputs["env"]) == first.render["checksums"]
    files = host.files()
    again = host.deploy(inputs)
    assert again.plan["noop"] is True and again.plan["differences"] == []
    assert host.files() == files


def test_with_a_public_service_named_the_order_of_the_services_changes_nothing(host_dir):
    host = Host(host_dir)
    host.deploy({**base(), "public_service": "web"})
    swapped = {**base(), "public_service": "web", "services": dict(reversed(list(base()["services"].items())))}
    assert host.deploy(swapped).plan["noop"] is True


def test_without_one_the_first_service_with_a_port_is_public(host_dir):
    """Documented (berth_public_service: "the first with a port"), so reordering berth_services moves the domain."""
    host = Host(host_dir)
    host.deploy(base())
    swapped = {**base(), "services": dict(reversed(list(base()["services"].items())))}
    attempt = host.deploy(swapped)
    assert attempt.plan["differences"] == [
        f"routing rules: {js(WEB_ROUTER)} -> {js({'api': 'Host(`sample.berth.test`)'})}", "public service: web -> api"]


def test_an_identical_spec_has_identical_checksums():
    one, two = release_spec(base()), release_spec(base())
    assert one["spec"] == two["spec"] and one["env_digests"] == two["env_digests"]
    assert _render.checksums(one["spec"], base()["env"]) == _render.checksums(two["spec"], base()["env"])


def test_a_value_with_newlines_tabs_quotes_and_dollars_is_written_exactly_and_a_rerun_is_a_no_op(host_dir):
    """The host side of the e2e's value-with-newlines test: the env file compose reads, and the comparison
    of the next deploy (values read back from the release's env/*.json)."""
    value = "line1\nline2\ttabbed 'quoted' $HOME \\"
    inputs = base()
    inputs["env"]["web"]["APP_ECHO"] = value
    host = Host(host_dir)
    host.deploy(inputs)
    assert 'APP_ECHO="line1\\nline2\ttabbed \'quoted\' $$HOME \\\\"\n' in host.env_file("web")
    assert host.deploy(inputs).plan["noop"] is True


# --- Bugs found while writing these (plugins/ is not ours to fix: pinned here, strict) -------------------
def test_a_boolean_secret_value_is_written_as_checked_and_a_rerun_is_a_no_op(host_dir):
    inputs = base()
    inputs["env"]["web"]["APP_DEBUG"] = True
    host = Host(host_dir)
    host.deploy(inputs)
    again = host.deploy(inputs)
    assert again.plan["differences"] == []
    assert "APP_DEBUG='true'" in host.env_file("web")


def test_a_cold_rollback_of_a_service_without_secret_env_records_the_base_checksum(host_dir):
    inputs = {**base(), "keep_warm": False}
    del inputs["env"]["api"]
    host = Host(host_dir)
    first = host.deploy(inputs)
    host.deploy({**inputs, "services": {**inputs["services"], "web": {**inputs["services"]["web"], "memory": "300m"}}})
    back = host.rollback()
    assert back.plan["warm"] is False and back.plan["target"]["id"] == first.record["id"]
    assert back.record["checksum"] == first.record["checksum"]


def test_a_warm_deploy_back_to_an_earlier_release_puts_its_accessories_back(host_dir):
    host = Host(host_dir)
    host.deploy(base())
    host.deploy({**base(), "accessories": {"db": {**base()["accessories"]["db"], "memory": "512m"}}})
    back = host.deploy(base())
    assert back.plan["warm"] is True and back.plan["differences"] == ["memory of db: 512m -> none"]
    assert "deploy" not in host.accessory("db")
