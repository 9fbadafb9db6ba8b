"""App Platform as a second target: playbooks/app_platform.yml and berth.ops.do_app against the emulator.

The inventory is example system 4 of issue #22 (platform with managed data), inventory/examples/platform
loaded as it is with its vault: backend and frontend from GHCR by digest (private, with credentials), an
alembic PRE_DEPLOY job, secret env, managed PostgreSQL and Redis from berth_infra. Every request and
response is validated against the vendored spec.

One app lives through the tests in order (each costs one or two ansible-playbook runs): refusals, the
check-mode proposal, create, reruns, changes, a failed and a stuck deployment, rollbacks.
"""

from __future__ import annotations

import copy
import json
import subprocess

import jsonschema
import pytest
import yaml
from do_emulator import harness
from do_emulator.harness import ROOT, api_vars

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
DIGEST_C = "sha256:" + "c" * 64
DIGEST_F = "sha256:" + "f" * 64
SECRET = "s3cr3t-never-printed-4ab1"
ROTATED = "r0tated-never-printed-77c2"
GHCR_TOKEN = "ghp_neverPrintedRegistryToken0123"
READ_ONLY = ("/v2/apps/propose", "/rollback/validate")


EXAMPLE = ROOT / "inventory" / "examples" / "platform"
VAULT_PASSWORD = ROOT / "inventory" / "examples" / "lab-vault-password"

SCHEMA = json.loads((ROOT / "docs" / "report.schema.json").read_text())

def system4(records: str) -> dict:
    """Example system 4's inventory (inventory/examples/platform) as it is, with only what needs the outside
    world replaced: images by digest (no registry here), the secrets the tests watch for, where records go."""
    stack = yaml.safe_load((EXAMPLE / "group_vars" / "all" / "stack.yml").read_text())
    for service, digest in (("backend", DIGEST_A), ("frontend", DIGEST_F)):
        image = stack["berth_services"][service]["image"]
        stack["berth_services"][service]["image"] = image.rsplit(":", 1)[0] + "@" + digest
    stack["berth_env"] = {"backend": {"SECRET_KEY": SECRET, "FIRST_SUPERUSER_PASSWORD": "pw-also-hidden"}}
    stack["berth_registries"]["ghcr.io"]["password"] = GHCR_TOKEN
    stack["berth_app_platform_fingerprint_key"] = "vault-fingerprint-key-0123456789"
    stack["berth_app_platform_records"] = records
    return stack


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emu = harness.start(tmp_path_factory.mktemp("apps"))
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    return tmp_path_factory.mktemp("records")


@pytest.fixture(autouse=True)
def spec_clean(emulator):
    emulator.journal.clear()
    yield
    assert emulator.violations == [], "\n".join(emulator.violations)


@pytest.fixture
def inv(records):
    return system4(str(records))


def with_digest(inventory: dict, service: str, digest: str) -> dict:
    changed = copy.deepcopy(inventory)
    image = changed["berth_services"][service]["image"]
    changed["berth_services"][service]["image"] = image.split("@")[0] + "@" + digest
    return changed


def deploy(emulator, tmp_path, inventory: dict, *args: str) -> subprocess.CompletedProcess:
    varfile = tmp_path / "vars.yml"
    api = {**api_vars(emulator), "poll_interval": 0.01}
    (tmp_path / "report.json").unlink(missing_ok=True)
    varfile.write_text(yaml.safe_dump({**inventory, "berth_app_platform_api": api,
                                       "berth_report_path": str(tmp_path / "report.json")}))
    # The example's own inventory (hosts, group_vars, its vault), the test's values over it.
    result = subprocess.run(["ansible-playbook", "-i", str(EXAMPLE / "hosts.yml"), "--vault-password-file",
                             str(VAULT_PASSWORD), "playbooks/app_platform.yml", "-e", f"@{varfile}", *args],
                            cwd=ROOT, env=harness._env(harness.TOKEN), capture_output=True, text=True,
                            check=False, timeout=120)
    for secret in (SECRET, ROTATED, GHCR_TOKEN, harness.TOKEN, "pw-also-hidden"):
        assert secret not in result.stdout + result.stderr
    return result


def report(tmp_path) -> dict:
    """The run's deploy report (docs/report.schema.json), its one App Platform target checked."""
    written = json.loads((tmp_path / "report.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(written)
    assert [t["platform"] for t in written["targets"]] == ["app_platform"], written
    return written


def ok(result):
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


def failed(result):
    assert result.returncode != 0, result.stdout[-4000:]
    return result.stdout


def writes(emulator) -> list[str]:
    return [w for w in harness.writes(emulator) if not w.endswith(READ_ONLY)]


def apps(emulator) -> list[dict]:
    return list(emulator.cloud.apps.apps.values())


def deployments(emulator) -> list[dict]:
    return apps(emulator)[0]["_deployments"]  # newest first


def bodies(emulator, method: str) -> list[dict]:
    return [e["body"] for e in emulator.journal if e["method"] == method and e["path"].startswith("/v2/apps")]


def test_malformed_inventory_is_refused_in_check_mode_before_any_request(emulator, tmp_path, inv):
    bad = {**inv, "berth_app": "Platform_1", "berth_env": {"backend": {"SECRET-KEY": "x"}},
           "berth_services": {**inv["berth_services"], "frontend": {"port": 80}}}
    out = failed(deploy(emulator, tmp_path, bad, "--check"))
    for named in ("berth_app: 'Platform_1'", "berth_env.backend: 'SECRET-KEY'",
                  "berth_services.frontend.image: None"):
        assert named in out
    assert emulator.journal == []
    refused = report(tmp_path)
    assert (refused["result"], refused["targets"][0]["step"]) == ("refused", "deploy"), refused
    assert "berth_app: 'Platform_1'" in refused["message"]


def test_check_mode_proposes_and_reports_the_cost_without_a_write(emulator, tmp_path, inv):
    out = ok(deploy(emulator, tmp_path, inv, "--check")).stdout
    assert [f"{e['method']} {e['path']}" for e in emulator.journal if e["method"] != "GET"] == [
        "POST /v2/apps/propose"]
    assert apps(emulator) == []
    assert "cost: 36" in out  # backend 2 x 12 + frontend 12 (apps-s-1vcpu-1gb)


def test_create_after_500s_leaves_one_app_and_a_rerun_with_secrets_credentials_and_defaults_sends_no_write(
        emulator, tmp_path, inv):
    emulator.faults.append({"method": "POST", "path": r"^/v2/apps$", "status": 500, "count": 1})
    emulator.cloud.apps.fail_after_create = 1  # the second POST creates the app, then its answer is lost
    ok(deploy(emulator, tmp_path, inv))
    created = report(tmp_path)
    target = created["targets"][0]
    assert (created["kind"], created["result"], target["app"]) == ("deploy", "succeeded", "platform"), created
    assert target["digests"]["backend"].endswith(DIGEST_A) and target["deployment_id"] == deployments(emulator)[0]["id"]
    assert set(target["timings"]) == {"total"}
    assert [e["status"] for e in emulator.journal if e["method"] == "POST"] == [500, 500]
    assert len(apps(emulator)) == 1
    assert [d["phase"] for d in deployments(emulator)] == ["ACTIVE"]
    stored = apps(emulator)[0]["spec"]
    backend = next(s for s in stored["services"] if s["name"] == "backend")
    assert backend["image"] == {"registry_type": "GHCR", "registry": "acme", "repository": "platform-backend",
                                "digest": DIGEST_A, "registry_credentials": backend["image"]["registry_credentials"]}
    assert backend["image"]["registry_credentials"].startswith("EV[")
    assert {e["key"]: e["type"] for e in backend["envs"]}["SECRET_KEY"] == "SECRET"
    assert [j["kind"] for j in stored["jobs"]] == ["PRE_DEPLOY"]
    assert {d["cluster_name"] for d in stored["databases"]} == {"plat-pg", "plat-cache"}
    assert stored["ingress"]["rules"][0]["component"] == {"name": "backend", "preserve_path_prefix": True}
    emulator.journal.clear()
    out = ok(deploy(emulator, tmp_path, inv)).stdout
    assert writes(emulator) == [], writes(emulator)
    assert "changed=0" in out and "api_writes: 0" in out
    assert report(tmp_path)["result"] == "unchanged"


def test_a_new_digest_is_one_put_of_only_that_digest_retried_after_503_and_429(emulator, tmp_path, inv):
    first = apps(emulator)[0]["spec"]
    emulator.faults.extend([
        {"method": "PUT", "path": r"^/v2/apps/[\w-]+$", "status": 503, "count": 1, "retry_after": 0},
        {"method": "GET", "path": r"/deployments/", "status": 429, "count": 1, "retry_after": 0}])
    out = ok(deploy(emulator, tmp_path, with_digest(inv, "backend", DIGEST_B))).stdout
    assert writes(emulator) == ["PUT /v2/apps/{id}", "PUT /v2/apps/{id}"]
    assert [e["status"] for e in emulator.journal if e["method"] == "PUT"] == [503, 200]
    assert 429 in [e["status"] for e in emulator.journal if "/deployments/" in e["path"]]
    put = bodies(emulator, "PUT")[-1]["spec"]
    secret = _secret_paths(put)
    assert _diff(first, put) - {"alerts"} == {"services.backend.image.digest", "jobs.migrate.image.digest"}
    assert all(_flat(put)[path].startswith('"EV[') for path in secret)  # sent back as the platform's ciphertext
    assert "services.backend.image.digest" in out
    assert [d["phase"] for d in deployments(emulator)] == ["ACTIVE", "SUPERSEDED"]


def _secret_paths(spec: dict) -> set[str]:
    """Paths of the secrets: sent once as plain text, then as the platform's ciphertext (not a change)."""
    paths = set()
    for kind in ("services", "jobs"):
        for comp in spec.get(kind, []):
            if "registry_credentials" in comp["image"]:
                paths.add(f"{kind}.{comp['name']}.image.registry_credentials")
            paths |= {f"{kind}.{comp['name']}.envs.{e['key']}.value" for e in comp.get("envs", [])
                      if e.get("type") == "SECRET"}
    return paths


def _flat(value, prefix=""):
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}.{key}" if prefix else key))
        return out
    if isinstance(value, list) and all(isinstance(v, dict) and ("name" in v or "key" in v) for v in value) and value:
        return _flat({v.get("name", v.get("key")): v for v in value}, prefix)
    return {prefix: json.dumps(value)}


def _diff(a: dict, b: dict) -> set[str]:
    fa, fb = _flat(a), _flat(b)
    return {k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k)}


def test_a_rotated_secret_is_one_put_and_the_next_run_sends_no_write(emulator, tmp_path, inv):
    before = apps(emulator)[0]["spec"]
    rotated = with_digest(inv, "backend", DIGEST_B)
    rotated["berth_env"]["backend"]["SECRET_KEY"] = ROTATED
    out = ok(deploy(emulator, tmp_path, rotated)).stdout
    assert writes(emulator) == ["PUT /v2/apps/{id}"]
    assert "backend.envs.SECRET_KEY" in out
    backend = next(s for s in bodies(emulator, "PUT")[0]["spec"]["services"] if s["name"] == "backend")
    sent = {e["key"]: e["value"] for e in backend["envs"]}
    assert sent["SECRET_KEY"] == ROTATED  # the new value, in the request only
    old = {e["key"]: e["value"] for e in next(s for s in before["services"] if s["name"] == "backend")["envs"]}
    assert sent["FIRST_SUPERUSER_PASSWORD"] == old["FIRST_SUPERUSER_PASSWORD"]  # unchanged: its ciphertext
    emulator.journal.clear()
    ok(deploy(emulator, tmp_path, rotated))
    assert writes(emulator) == []


def rotated_with(inv: dict, digest: str) -> dict:
    changed = with_digest(inv, "backend", digest)
    changed["berth_env"]["backend"]["SECRET_KEY"] = ROTATED
    return changed


def test_a_deployment_that_ends_in_error_fails_naming_step_and_component_and_the_rerun_retries(
        emulator, tmp_path, inv, records):
    serving = deployments(emulator)[0]["id"]
    emulator.cloud.apps.outcomes.append("error")
    out = failed(deploy(emulator, tmp_path, rotated_with(inv, DIGEST_C)))
    assert "ended ERROR at step 'deploy' of component 'backend'" in out
    assert "readiness health check" in out and f"deployment {serving} is still serving" in out
    assert "failed" in [json.loads(p.read_text())["status"] for p in records.glob("*.json")]
    failure = report(tmp_path)
    assert (failure["result"], failure["targets"][0]["step"]) == ("failed", "deploy"), failure
    assert "ended ERROR at step 'deploy' of component 'backend'" in failure["message"]
    emulator.journal.clear()
    out = ok(deploy(emulator, tmp_path, rotated_with(inv, DIGEST_C))).stdout
    assert writes(emulator) == ["POST /v2/apps/{id}/deployments"]
    assert "changed=1" in out
    assert deployments(emulator)[0]["phase"] == "ACTIVE"
    assert _digest(deployments(emulator)[0]) == DIGEST_C


def _digest(deployment: dict) -> str:
    return next(s for s in deployment["spec"]["services"] if s["name"] == "backend")["image"]["digest"]


def test_rollback_returns_to_the_previous_deployment(emulator, tmp_path, inv):
    previous = next(d for d in deployments(emulator) if _digest(d) == DIGEST_B and d["phase"] == "SUPERSEDED")
    ok(deploy(emulator, tmp_path, {**rotated_with(inv, DIGEST_C), "berth_app_platform_operation": "rollback"}))
    assert writes(emulator) == ["POST /v2/apps/{id}/rollback"]
    assert (report(tmp_path)["kind"], report(tmp_path)["result"]) == ("rollback", "succeeded")
    rollback = deployments(emulator)[0]
    assert (rollback["phase"], rollback["cloned_from"], _digest(rollback)) == ("ACTIVE", previous["id"], DIGEST_B)
    assert apps(emulator)[0]["_pinned"] is None  # skip_pin: nothing left to commit


def test_a_refused_rollback_puts_back_the_previous_release_from_berths_record(emulator, tmp_path, inv):
    emulator.cloud.apps.refuse_rollback = "exceeded_revision_limit"
    out = ok(deploy(emulator, tmp_path, {**inv, "berth_app_platform_operation": "rollback"})).stdout
    assert writes(emulator) == ["PUT /v2/apps/{id}"]
    assert "exceeded_revision_limit" in out
    assert (deployments(emulator)[0]["phase"], _digest(deployments(emulator)[0])) == ("ACTIVE", DIGEST_C)


def test_a_pinned_app_is_committed_first_and_a_database_conflict_falls_back_to_the_record(emulator, tmp_path, inv):
    app = apps(emulator)[0]
    app["_pinned"] = deployments(emulator)[0]["id"]  # someone rolled back without skip_pin
    app["_before_rollback"] = app["spec"]
    emulator.cloud.apps.refuse_rollback = "database_config_conflict"
    out = ok(deploy(emulator, tmp_path, {**inv, "berth_app_platform_operation": "rollback"})).stdout
    assert writes(emulator) == ["POST /v2/apps/{id}/rollback/commit", "PUT /v2/apps/{id}"]
    assert "database_config_conflict" in out
    assert (deployments(emulator)[0]["phase"], _digest(deployments(emulator)[0])) == ("ACTIVE", DIGEST_B)
    emulator.cloud.apps.refuse_rollback = None


def test_a_stuck_deployment_fails_at_its_timeout_with_its_last_phase(emulator, tmp_path, inv):
    serving = deployments(emulator)[0]["id"]
    emulator.cloud.apps.outcomes.append("stuck")
    out = failed(deploy(emulator, tmp_path, {**rotated_with(inv, DIGEST_A), "berth_app_platform_deploy_timeout": 1}))
    assert "did not become ACTIVE within 1 s (last phase DEPLOYING)" in out
    assert f"deployment {serving} is still serving" in out
