"""Every change deploys (issue: "Every change deploys"), on the host: a change is a new release that
shows on the droplet, a rerun is a no-op, and a rollback brings the previous values back, under HTTPS
load where users can stay on the same URL (no failed or slowed request, one version throughout).

That each field of a service, each routing input and each env key, changed alone, makes a new
release is pure Python and unit-tested field by field (tests/unit/test_release_differences.py). Here
the host side: one field alone, every container field at once (each read back by docker inspect) with the
port and an accessory changed in place, the rule with the domain, and a secret env key; each rolled back (the
one field alone by the every-field case's rollback, which reads it back with the rest)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest
from edge import MOVING_RATE, LoadGenerator
from lab_droplets import DROPLET, on_droplet
from labtools import recap, run_playbook

APP = "registry.berth.test/berth/sample-app"
ENV = {"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
BASE_WEB = {"image": f"{APP}:1.0.0", "port": 8000, "health": {"path": "/health", "start_timeout": 30}}


def inspect(field: str) -> str:
    """One field of the live web container, as docker inspect prints it."""
    live = on_droplet("python3 -c 'import json; print(json.load(open(\"/opt/traefik/dynamic/sample.yml\"))"
                      "[\"http\"][\"services\"][\"sample-web\"][\"weighted\"][\"services\"][0][\"name\"])'").stdout
    colour = live.strip().rsplit("-", 1)[-1]
    return on_droplet(f"docker inspect -f '{{{{json {field}}}}}' sample-{colour}-web-1").stdout.strip()


def live_release_file(name: str) -> str:
    """A file of the live release's directory (the newest succeeded record's)."""
    return on_droplet(f"""python3 -c 'import glob, json
records = sorted((json.load(open(f)) for f in glob.glob("/opt/sample/releases/*.json")),
                 key=lambda r: (r["time"], r["id"]), reverse=True)
live = next(r for r in records if r["status"] == "succeeded")
print(open("/opt/sample/releases/" + live.get("rendered", live["id"]) + "/{name}").read())'""").stdout


def live_server_url() -> str:
    """Where Traefik sends the live colour's traffic (its routes file, as Traefik reads it)."""
    colour = routes()["http"]["services"]["sample-web"]["weighted"]["services"][0]["name"].rsplit("-", 1)[-1]
    config = json.loads(on_droplet(f"cat /opt/traefik/dynamic/sample-{colour}.yml").stdout)
    return config["http"]["services"][f"sample-web-{colour}"]["loadBalancer"]["servers"][0]["url"]


def routes() -> dict:
    return json.loads(on_droplet("cat /opt/traefik/dynamic/sample.yml").stdout)


def accessory_memory() -> str:
    return on_droplet("docker inspect -f '{{.HostConfig.Memory}}' sample-accessories-cache-1").stdout.strip()


def cache(memory: str) -> dict:
    """An accessory (shared by both colours, changed in place): the sample image serving on its own."""
    return {"cache": {"image": f"{APP}:1.0.0", "command": ["python3", "/app/app.py", "serve"], "memory": memory}}


# (case, change to the web service or to top-level vars, how to read each changed thing on the
# droplet, under load, rolled back)
CASES = [
    # With the port (Traefik's server URL; the sample app listens on APP_PORT, and this healthcheck does not
    # probe a port) and the cache accessory changed in place: accessories are not blue/green, so the warm
    # rollback below must put it back as the base release had it.
    ("every container field and the port at once",
     {"command": ["python3", "/app/app.py", "serve"], "env": {"APP_ACCESS_LOG": "true", "APP_PORT": "8001"},
      "port": 8001,
      "volumes": ["/opt/sample/extra:/extra"], "cpus": "0.5", "memory": "256m",
      "healthcheck": {"test": ["CMD", "python3", "-c", "print(1)"], "interval": "7s"},
      "stop_grace_period": "17s", "user": "65534",
      "health": {"path": "/", "start_timeout": 30, "successes": 2},
      "berth_accessories": cache("96m")},
     [lambda: inspect(".Config.Cmd"), lambda: inspect(".Config.Env"), lambda: inspect(".Mounts"),
      lambda: inspect(".HostConfig.NanoCpus"), lambda: inspect(".HostConfig.Memory"),
      lambda: inspect(".Config.Healthcheck"), lambda: inspect(".Config.StopTimeout"), lambda: inspect(".Config.User"),
      lambda: json.loads(live_release_file("spec.json"))["spec"]["services"]["web"]["health"], accessory_memory,
      live_server_url],
     True, True),
    # The rule and the domain in one case (each alone is a new release: unit tests); users cannot stay on
    # the same URL here, so it runs without load.
    ("rule and domain", {"rule": "Host(`other.berth.test`) && PathPrefix(`/`)", "berth_domain": "other.berth.test"},
     [lambda: json.dumps(routes())], False, True),
    # berth_tls is not here: whether Traefik's web entrypoint redirects to websecure is its static
    # config (provision.yml), so a stack cannot turn TLS off alone; a deploy that tries fails at the
    # confirm and is undone (seen: 301 from :80), which is right.
    ("secret env key", {"berth_env": {"web": {"APP_GREETING": "changed"}}},
     [lambda: live_release_file("env/web.env")], True, True),
    # Last, and not rolled back: its rollback would be the same warm flip as the every-field case's, which
    # reads the memory back with the other fields.
    ("memory alone", {"memory": "300m"}, [lambda: inspect(".HostConfig.Memory")], True, False),
]
RERUN = "every container field and the port at once"
TOP_LEVEL = {"berth_domain", "berth_tls", "berth_env", "berth_accessories"}


def variables(change: dict | None) -> dict:
    web = dict(BASE_WEB)
    # One accessory without env (env for a service the stack lacks is refused: no db here).
    top: dict = {"berth_hooks": [], "berth_accessories": cache("64m"), "berth_confirm_path": "",
                 "berth_env": {"web": {"APP_GREETING": "hello"}}}
    for key, value in (change or {}).items():
        (top if key in TOP_LEVEL else web).__setitem__(key, value)
    return {"berth_services": {"web": web}, **top}


def deploy(vars_file: str, change: dict | None, playbook: str = "playbooks/deploy.yml", load: bool = True):
    args = ["-e", f"@{vars_file}", "-e", json.dumps(variables(change))]
    if not load:
        return run_playbook(playbook, *args, env=ENV), None
    with LoadGenerator(DROPLET_ADDRESS[0], rate=MOVING_RATE) as generator, generator.window_of():
        result = run_playbook(playbook, *args, env=ENV)
    return result, generator


def assert_load(load: LoadGenerator | None) -> None:
    """Users stayed on the same URL and version: nothing failed or slowed, the generator kept going."""
    if load is not None:
        problems = load.problems(["1.0.0"])
        assert not problems, "; ".join(problems) + "\n" + load.summary()


DROPLET_ADDRESS: list[str] = []


def newest_record() -> dict:
    return json.loads(on_droplet("""python3 -c 'import glob, json
records = [json.load(open(f)) for f in glob.glob("/opt/sample/releases/*.json")]
print(json.dumps(max(records, key=lambda r: (r["time"], r["id"]))))'""").stdout)


@dataclass(frozen=True)
class Base:
    vars_file: str
    checksum: str  # of the base release (spec and env)


@pytest.fixture(scope="module")
def base(provisioned) -> Base:
    DROPLET_ADDRESS.append(provisioned.address)
    on_droplet("install -d /opt/sample/extra")
    result, _ = deploy(provisioned.vars_file, None, load=False)
    assert result.returncode == 0, result.stdout[-3000:]
    record = newest_record()
    assert record["status"] == "succeeded", record
    assert accessory_memory() == str(64 * 2**20)
    return Base(provisioned.vars_file, record["checksum"])


@pytest.mark.parametrize(("case", "change", "readers", "loaded", "rolled_back"), CASES, ids=[c[0] for c in CASES])
def test_a_change_is_a_new_release_and_rolls_back(base, case, change, readers, loaded, rolled_back):
    before = [read() for read in readers]
    result, load = deploy(base.vars_file, change, load=loaded)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "nothing to do" not in result.stdout
    after = [read() for read in readers]
    unchanged = [b for b, a in zip(before, after, strict=True) if a == b]
    assert not unchanged, f"{case}: the droplet still shows {unchanged!r}"
    assert_load(load)
    if "berth_accessories" in change:
        assert "memory of cache: 64m -> 96m" in result.stdout, result.stdout[-3000:]

    if case == RERUN:
        started = time.monotonic()
        again, _ = deploy(base.vars_file, change, load=False)
        seconds = time.monotonic() - started
        assert "nothing differs; nothing to do" in again.stdout and recap(again.stdout)[DROPLET]["changed"] == 0
        print(f"\n{case}: no-op rerun {seconds:.1f} s")

    if not rolled_back:
        return
    back, load = deploy(base.vars_file, change, "playbooks/rollback.yml", load=loaded)
    assert back.returncode == 0, back.stdout[-3000:]
    assert [read() for read in readers] == before, f"{case}: rollback did not bring back {before!r}"
    assert_load(load)
    if "berth_accessories" in change:
        # A warm rollback (the base release's colour still ran): the accessory came back all the same.
        assert newest_record()["warm"] is True, newest_record()
    # The rollback restored the base release exactly (so the next case starts from it): the same
    # checksum of spec and env, the one a deploy of the base compares against to say "nothing to do".
    assert newest_record()["checksum"] == base.checksum, f"{case}: rollback left {newest_record()}"
