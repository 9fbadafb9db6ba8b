"""What the release-layer e2e tests share: the lab test apps as berth stacks, playbook runs under
HTTPS load, and looking at the droplet (release records, routing file, host fingerprint)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from edge import MOVING_RATE, LoadGenerator, get
from lab_droplets import CONTAINER, on_droplet, sh
from labtools import REGISTRY, ROOT, run_playbook

IMAGE = f"{REGISTRY}/berth/testapp"
SLOW_WORKERS = 3
# Results as one-line JSON, so a message is matched whole (the YAML format wraps long lines).
ENV = {"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}


@dataclass(frozen=True)
class App:
    """One lab test app deployed as its own berth app (name = berth_app = tag prefix)."""

    name: str
    port: int
    stop_grace_period: str = "10s"
    # False: no public check besides the health settings (berth_confirm_path '' and no JSON match).
    confirm_root: bool = True

    @property
    def domain(self) -> str:
        return f"{self.name}.berth.test"

    def tag(self, version: int) -> str:
        return f"{self.name}-{version}"


def stack(app: App, tag: str, echo: str = "alpha", web: dict | None = None, **extra: object) -> dict:
    """Inventory variables for one release of `app` (`web` overrides the service's keys)."""
    service = {"image": f"{IMAGE}:{tag}", "port": app.port, "health_path": "/health",
               "health": {"interval": 1, "timeout": 2, "successes": 3, "start_timeout": 60},
               "stop_grace_period": app.stop_grace_period, "memory": "128m"}
    confirm = ({"berth_confirm_path": "/", "berth_confirm_json_match": {"colour": "{colour}"}}
               if app.confirm_root else {"berth_confirm_path": "", "berth_confirm_json_match": {}})
    return {"berth_app": app.name, "berth_domain": app.domain, "berth_tls": "files",
            "berth_services": {"web": {**service, **(web or {})}},
            "berth_accessories": {}, "berth_hooks": [],
            "berth_env": {"web": {"APP_ECHO": echo}},
            **confirm, **extra}


def start_playbook(provisioned, name: str, variables: dict, stderr: int | None = subprocess.STDOUT
                   ) -> subprocess.Popen:
    """Start a playbook with the droplet's provisioning variables plus `variables`, in a process group
    of its own (so a test can kill it whole); its output is read from .stdout as it comes."""
    command = ["ansible-playbook", f"playbooks/{name}.yml", "-e", f"@{provisioned.vars_file}",
               "-e", json.dumps(variables)]
    return subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, ANSIBLE_FORCE_COLOR="0", **ENV),
                            stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True)


def playbook(provisioned, name: str, variables: dict, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run a playbook with the droplet's provisioning variables plus `variables`; with `timeout`,
    kill the whole run (returncode -9) when it takes longer."""
    if timeout is None:
        return run_playbook(f"playbooks/{name}.yml", "-e", f"@{provisioned.vars_file}", "-e", json.dumps(variables),
                            env=ENV)
    proc = start_playbook(provisioned, name, variables, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\n[killed after {timeout:.0f} s]"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kill_when(proc: subprocess.Popen, line_part: str, after: float = 0) -> bool:
    """Kill a started playbook (its whole process group) `after` seconds past the first output line
    containing `line_part`; False when it ended without printing one."""
    assert proc.stdout is not None
    reached = any(line_part in line for line in proc.stdout)
    if reached:
        time.sleep(after)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    return reached


def app_load(provisioned, app: App, rate: float = MOVING_RATE, slow_ms: int = 2500) -> LoadGenerator:
    """HTTPS load on `app`'s domain through Traefik, with long requests always in flight."""
    return LoadGenerator(provisioned.address, rate=rate, host=app.domain, slow_workers=SLOW_WORKERS, slow_ms=slow_ms)


def under_load(provisioned, app: App, name: str, variables: dict, rate: float = MOVING_RATE, slow_ms: int = 2500
               ) -> tuple[subprocess.CompletedProcess, LoadGenerator]:
    """Run a playbook while users use `app` (the window under test is the run; users go on after it,
    and leaving the block waits for the long requests in flight)."""
    with app_load(provisioned, app, rate, slow_ms) as load, load.window_of():
        result = playbook(provisioned, name, variables)
    print(f"\n{app.name} {name}: {load.summary()}")
    return result, load


def killed_under_load(provisioned, app: App, variables: dict, at: str, after: float
                      ) -> tuple[bool, LoadGenerator]:
    """Start a deploy under load and SIGKILL it `after` seconds into the task named `at`; (whether it
    got there, the load). After the kill, users go on for a second's worth of requests: whatever the
    dead run left behind goes on serving."""
    with app_load(provisioned, app) as load, load.window_of(tail=MOVING_RATE):
        reached = kill_when(start_playbook(provisioned, "deploy", variables), at, after)
    print(f"\n{app.name} deploy killed {after} s into {at!r}: {load.summary()}")
    return reached, load


def broke_a_dead_lock(output: str) -> bool:
    """Whether a run's output shows it broke the lock of a run that died on this controller."""
    return re.search(r"lock \| Break the lock of a deploy that died on this controller\] \**\nchanged:",
                     output, re.IGNORECASE) is not None


def assert_load(load: LoadGenerator, versions: list[str] | None = None) -> None:
    """No failed request, no request slowed by the run, the versions clients saw (when given), no
    load worker lost, and enough load to mean it (edge.LoadGenerator.problems)."""
    problems = load.problems(versions)
    assert not problems, "; ".join(problems) + "\n" + load.summary()


def live(provisioned, app: App) -> dict:
    """What the public route answers now (status 200 asserted)."""
    status, body = get(provisioned.address, host=app.domain)
    assert status == 200 and isinstance(body, dict), (status, body)
    return body


def releases(app: App) -> list[dict]:
    """The droplet's release records of `app`, newest first."""
    out = on_droplet(f"""python3 -c 'import glob, json
records = [json.load(open(f)) for f in glob.glob("/opt/{app.name}/releases/*.json")]
print(json.dumps(sorted(records, key=lambda r: (r["time"], r["id"]), reverse=True)))'""").stdout
    return json.loads(out)


def routing(app: App) -> str:
    """The app's Traefik dynamic config, as bytes on disk (hex of its sha256 and its text)."""
    return on_droplet(f"sha256sum /opt/traefik/dynamic/{app.name}.yml; cat /opt/traefik/dynamic/{app.name}.yml",
                      check=False).stdout


def env_in_container(app: App, colour: str, key: str = "APP_ECHO") -> str:
    """An env value as the running process sees it (the image has no shell: ask its Python)."""
    return on_droplet(f"docker exec {app.name}-{colour}-web-1 /usr/bin/python3 -c "
                      f"'import os; print(os.environ[\"{key}\"])'").stdout.rstrip("\n")


def fingerprint() -> str:
    """Everything a refused deploy must leave alone: containers, every file under /opt, and the
    dynamic configuration Traefik has loaded (its API on the loopback admin entrypoint)."""
    return on_droplet(
        "docker ps -a --no-trunc --format '{{.Names}} {{.ID}} {{.Image}} {{.State}}' | sort; "
        "find /opt -type f -exec sha256sum {} + | sort; "
        "python3 -c 'import json, urllib.request; raw = json.load(urllib.request.urlopen("
        "\"http://127.0.0.1:8082/api/rawdata\", timeout=5)); print(json.dumps(raw, sort_keys=True))'").stdout


class RegistryOutage:
    """Inside the block the droplet cannot reach the registry (its own firewall resets every connection
    to it); the controller still can, so a deploy pins its images and fails at the droplet's pull."""

    def __enter__(self) -> RegistryOutage:
        address = on_droplet(f"getent hosts {REGISTRY}").stdout.split()[0]
        self._rule = f"OUTPUT -p tcp -d {address} -j REJECT --reject-with tcp-reset"
        on_droplet(f"iptables -I {self._rule}")
        return self

    def __exit__(self, *_exc: object) -> None:
        on_droplet(f"iptables -D {self._rule}")


def app_containers(app: App) -> list[str]:
    """Every container of `app` on the droplet (both colours): name, id and state, one string each."""
    out = on_droplet(f"docker ps -a --filter name=^{app.name}- --format '{{{{.Names}}}} {{{{.ID}}}} {{{{.State}}}}'")
    return sorted(out.stdout.splitlines())


def container_events(app: App, since: float, web: str) -> tuple[int, int]:
    """(when `web` last started, when the first retired container died), in ns, from Docker's event log."""
    out = on_droplet(f"docker events --since {since:.3f} --until {time.time():.3f} --filter type=container "
                     f"--filter event=start --filter event=die "
                     "--format '{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}}'")
    events = [line.split() for line in out.stdout.splitlines()]
    starts = [int(at) for at, action, name in events if action == "start" and name == web]
    deaths = [int(at) for at, action, name in events
              if action == "die" and name.startswith(f"{app.name}-") and "-retired-" in name]
    assert starts and deaths, out.stdout
    return starts[-1], deaths[0]


def standby_release(app: App, live_colour: str) -> tuple[str, str] | None:
    """(version, APP_ECHO) of the other colour's running web container, None when it runs none."""
    other_colour = "blue" if live_colour == "green" else "green"
    out = on_droplet(f"docker inspect -f '{{{{.State.Running}}}} {{{{json .Config.Env}}}}' "
                     f"{app.name}-{other_colour}-web-1", check=False)
    running, _, env = out.stdout.strip().partition(" ")
    if out.returncode != 0 or running != "true":
        return None
    values = dict(item.partition("=")[::2] for item in json.loads(env))
    return values.get("APP_VERSION", ""), values.get("APP_ECHO", "")


class LockWatch:
    """Polls for a deploy lock file on the droplet (every 50 ms) while a playbook runs."""

    def __init__(self, app: App) -> None:
        self.path = f"/opt/{app.name}/releases/.deploy.lock"
        self.stop_file = f"/tmp/berth-lockwatch-{app.name}"
        self.seen = False

    def __enter__(self) -> LockWatch:
        on_droplet(f"rm -f {self.stop_file}")
        script = (f"while [ ! -e {self.stop_file} ]; do if [ -e {self.path} ]; then echo seen; fi; "
                  "sleep 0.05; done")
        self._proc = subprocess.Popen(["docker", "exec", CONTAINER, "sh", "-c", script],
                                      stdout=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        for line in self._proc.stdout:  # type: ignore[union-attr]
            if line.strip() == "seen":
                self.seen = True

    def __exit__(self, *_exc: object) -> None:
        sh("docker", "exec", CONTAINER, "touch", self.stop_file)
        self._proc.wait(timeout=10)
        self._reader.join(timeout=5)
        self.seen = self.seen or on_droplet(f"test -e {self.path}", check=False).returncode == 0
