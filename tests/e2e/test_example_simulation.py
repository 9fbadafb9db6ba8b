"""System 2 of issue 22, the simulation microservice (inventory/examples/simulation, docs/examples/simulation.md),
deployed from its own inventory on a provisioned droplet: the FastAPI stand-in answers /health and /docs on its
host; the worker is a singleton outside the colours. Jobs queued while the next release deploys under HTTPS
load (no failed request) all complete, each exactly once; the worker never runs twice at once (its own start /
stop log in Redis, and the count of a start that found another worker running); it is replaced after the new
api passed its gate and before the switch. A rollback returns both the api and the worker to 1.0.0. The job
metadata in PostgreSQL survives a backup and restore round trip."""

from __future__ import annotations

import json
import threading
import time

import pytest
from edge import MOVING_RATE, _Connection
from example_checks import Example, PageLoad, assert_ok, fetch, inspect, wait_for
from lab_droplets import DROPLET, on_droplet, sh
from release_checks import assert_load

HOST = "sim.berth.test"
WORKER = "sim-singletons-worker-1"


@pytest.fixture(scope="module")
def example(provisioned) -> Example:
    return Example("simulation", provisioned.address)


def post_job(address: str, seconds: float) -> str:
    conn = _Connection(address, 10, HOST)
    try:
        conn.request("POST", "/jobs", body=json.dumps({"steps": 100, "seconds": seconds}),
                     headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        body = json.loads(answer.read())
        assert answer.status == 202, body
        return body["id"]
    finally:
        conn.close()


def redis(*args: str) -> str:
    """redis-cli in the Redis accessory (its password from its own env, never on a command line)."""
    command = " ".join(args)
    return on_droplet(f"docker exec sim-accessories-redis-1 sh -c "
                      f"'REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli --no-raw {command}'").stdout.strip()


def redis_list(key: str) -> list[str]:
    out = on_droplet(f"docker exec sim-accessories-redis-1 sh -c "
                     f"'REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli --raw lrange {key} 0 -1'").stdout
    return [line for line in out.splitlines() if line]


def psql(sql: str) -> str:
    return sh("docker", "exec", "-i", f"berth-{DROPLET}", "docker", "exec", "-i", "-u", "postgres",
              "sim-accessories-db-1", "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", "sim", "-d", "sim",
              input=sql).stdout.strip()


def worker_version() -> str:
    container = inspect(WORKER)
    assert container["State"]["Running"], container["State"]
    return dict(e.split("=", 1) for e in container["Config"]["Env"])["STANDIN_VERSION"]


def assert_worker_never_ran_twice() -> list[str]:
    """The workers' own log: each start is followed by that worker's stop before the next start, and no
    worker ever found another one running when it started."""
    log = redis_list("sim:worker:log")
    running = None
    for line in log:
        kind, who = line.split(" ", 1)
        if kind == "start":
            assert running is None, f"{who} started while {running} ran: {log}"
            running = who
        else:
            assert running == who, f"{who} stopped, but {running} was the one running: {log}"
            running = None
    assert redis("get", "sim:worker:overlaps") in ("(nil)", ""), log
    return log


def assert_serves(address: str, version: str) -> str:
    """/health and /docs of `version` on the public host; returns the live colour."""
    health = wait_for(address, HOST, version, "/health")
    assert health.status == 200 and health.json()["status"] == "ok" and health.version == version, health
    docs = fetch(address, HOST, "/docs")
    assert docs.status == 200 and "Swagger UI" in docs.body and docs.version == version, docs.body[:300]
    return health.colour


def wait_done(address: str, ids: list[str], deadline: float = 45) -> dict[str, dict]:
    end = time.monotonic() + deadline
    while True:
        jobs = {i: json.loads(fetch(address, HOST, f"/jobs/{i}").body) for i in ids}
        if all(j["status"] == "done" for j in jobs.values()) or time.monotonic() > end:
            return jobs
        time.sleep(0.5)


def test_the_api_answers_and_the_worker_runs_once_outside_the_colours(example, provisioned):
    started = time.monotonic()
    result = example.playbook("deploy")
    print(f"\nsimulation first deploy: {time.monotonic() - started:.1f} s")
    assert_ok(result, "deploy.yml of the simulation")
    colour = assert_serves(provisioned.address, "1.0.0")
    assert worker_version() == "1.0.0"
    assert inspect(WORKER)["Config"]["Labels"]["com.docker.compose.project"] == "sim-singletons"
    assert on_droplet(f"docker ps -q --filter name=sim-{colour}-worker").stdout.strip() == ""
    job = post_job(provisioned.address, 0)
    done = wait_done(provisioned.address, [job])[job]
    assert done["status"] == "done" and done["worker"] == "1.0.0", done
    assert json.loads(on_droplet(f"docker exec {WORKER} /usr/bin/python3 -c "
                                 f"\"print(open('/results/{job}.json').read())\"").stdout)["sum"] == 4950
    assert_worker_never_ran_twice()


def test_jobs_queued_during_the_next_release_complete_once_and_a_rollback_returns_api_and_worker(
        example, provisioned):
    address = provisioned.address
    ids: list[str] = []
    stop = threading.Event()

    def queue_jobs() -> None:
        while not stop.is_set():
            ids.append(post_job(address, 1.5))
            stop.wait(1.0)

    queuer = threading.Thread(target=queue_jobs, daemon=True)
    with PageLoad(address, rate=MOVING_RATE, host=HOST, paths=("/health", "/docs")) as load, load.window_of():
        queuer.start()
        result = example.playbook("deploy", variables=example.release("1.1.0"))
        stop.set()
        queuer.join(timeout=15)
    print(f"\nsimulation 1.1.0 under load: {load.summary()}; {len(ids)} jobs queued during the deploy")
    assert_ok(result, "deploy.yml of 1.1.0")
    assert_load(load, ["1.0.0", "1.1.0"])
    # The worker is replaced after the new api passed its gate, before the switch.
    out = result.stdout
    gate, replaced, switch = (out.index("Gate | Gate through its private routes"),
                              out.index("singletons | Start the changed singletons"), out.index("Switch | Put live"))
    assert gate < replaced < switch
    colour = assert_serves(address, "1.1.0")
    assert worker_version() == "1.1.0"
    assert len(ids) >= 3, ids
    jobs = wait_done(address, ids)
    assert all(j["status"] == "done" for j in jobs.values()), jobs
    # Exactly once: each job was taken once (the worker counts each run) and none is left in a queue.
    assert [redis("get", f"sim:runs:{i}") for i in ids] == ["\"1\""] * len(ids)
    assert redis("llen", "sim:queue") == "(integer) 0" and redis("llen", "sim:processing") == "(integer) 0"
    assert {j["worker"] for j in jobs.values()} <= {"1.0.0", "1.1.0"} and jobs[ids[-1]]["worker"] == "1.1.0"
    log = assert_worker_never_ran_twice()
    assert [line.split()[0] for line in log][-3:] == ["start", "stop", "start"], log

    with PageLoad(address, rate=MOVING_RATE, host=HOST, paths=("/health", "/docs")) as load, load.window_of():
        result = example.playbook("rollback")
    print(f"\nsimulation rollback under load: {load.summary()}")
    assert_ok(result, "rollback.yml")
    assert_load(load, ["1.1.0", "1.0.0"])
    assert assert_serves(address, "1.0.0") != colour
    assert worker_version() == "1.0.0"
    job = post_job(address, 0)
    assert wait_done(address, [job])[job]["worker"] == "1.0.0"
    assert_worker_never_ran_twice()


def test_the_job_metadata_survives_a_backup_and_restore_round_trip(example, provisioned):
    expected = psql("SELECT count(*), md5(string_agg(id || status || coalesce(result, ''), ',' ORDER BY id)) "
                    "FROM jobs;")
    assert int(expected.split("|")[0]) >= 4, expected
    result = example.playbook("backup")
    assert_ok(result, "backup.yml")
    assert "verified by sha256 + full-read + scratch-restore" in result.stdout, result.stdout[-3000:]
    psql("DELETE FROM jobs WHERE status = 'done';")
    assert psql("SELECT count(*) FROM jobs;") == "0"
    result = example.playbook("restore", "-e", "berth_restore_confirm=sim")
    assert_ok(result, "restore.yml")
    assert psql("SELECT count(*), md5(string_agg(id || status || coalesce(result, ''), ',' ORDER BY id)) "
                "FROM jobs;") == expected
    assert_serves(provisioned.address, "1.0.0")
