"""The bounded drain of long-lived connections (#22): server-sent-event and websocket clients open on the
live release across a deploy (and a rollback) under HTTPS load. Once the service's `drain` has passed
since the switch, the colour users left gets its SIGTERM: the app says its own goodbye on every stream,
each client reconnects and lands on the new release, and the colour is started again warm. The release
record counts the connections still open at the drain's deadline. No ordinary request fails.

The lab's streaming app (lab/images/streamapp) closes ordinary connections after each answer, so every
connection still open on the old colour is one of the test's streams and the count is exact."""

from __future__ import annotations

import json
import time

from edge import MOVING_RATE, LoadGenerator
from lab_droplets import on_droplet
from labtools import LAB_STATE, REGISTRY
from release_checks import SLOW_WORKERS, App, assert_load, live, playbook, releases, stack, start_playbook
from streams import GOODBYE, Client

STREAM = App("stream", 8000, stop_grace_period="10s")
IMAGE = f"{REGISTRY}/berth/streamapp"
# A deploy's drain, and the shorter one its first release was deployed with (a rollback brings it back).
# Both longer than a run takes from its switch to its drain step (confirm, Ansible: 4-9 s measured under
# load), so a drain that did not wait would show.
DRAIN, DRAIN_BACK = 14, 10
SSE, WS = 3, 2
# How long after the drain's deadline every client may take to be on the new release: the drain's poll,
# the SIGTERM's goodbye and the reconnect, on 2 cores shared with other groups.
SLACK = 3.0


def release(tag: str, drain: int) -> dict:
    return stack(STREAM, tag, web={"image": f"{IMAGE}:{tag}", "drain": drain})


def ensure(provisioned, *wanted: tuple[str, int]) -> None:
    """The last of `wanted` ((tag, drain) each) live, deployed after the others, unless it already is."""
    tag, drain = wanted[-1]
    try:
        record = releases(STREAM)[0]
        spec = json.loads(on_droplet(f"cat /opt/{STREAM.name}/releases/{record['rendered']}/spec.json").stdout)
        if live(provisioned, STREAM)["version"] == tag and spec["spec"]["services"]["web"].get("drain") == drain:
            return
    except (AssertionError, IndexError, OSError, ValueError, KeyError):
        pass
    for tag, drain in wanted:
        result = playbook(provisioned, "deploy", release(tag, drain))
        assert result.returncode == 0, result.stdout[-3000:]


def open_clients(provisioned, version: str) -> list[Client]:
    cafile = str(LAB_STATE / "pki" / "ca.crt")
    clients = [Client(provisioned.address, STREAM.domain, kind, cafile).start() for kind in ["sse"] * SSE + ["ws"] * WS]
    for client in clients:
        assert client.wait_open(version), f"a {client.kind} client never opened a stream on {version}"
    return clients


def run_with_clients(provisioned, run: str, variables: dict, old: str) -> tuple[int, str, list[Client]]:
    """Run `run`, opening the clients on `old` once it has planned (a few tasks before its switch), so each
    stream is young when the drain judges it."""
    proc = start_playbook(provisioned, run, variables)
    assert proc.stdout is not None
    lines, clients = [], []
    for line in proc.stdout:
        lines.append(line)
        if not clients and "Plan | Report what changes" in line:
            clients = open_clients(provisioned, old)
    proc.wait()
    return proc.returncode, "".join(lines), clients


def moved(provisioned, run: str, variables: dict, old: str, new: str, drain: int) -> tuple[dict, str]:
    """Run `run` with the clients open on `old` under load; assert every client ended on `new` within
    `drain` (+ SLACK) of the switch, and not before, through the app's goodbye and nothing else."""
    # Long requests of 1 s: those in flight at the switch end before the shortest drain's deadline.
    load = LoadGenerator(provisioned.address, rate=MOVING_RATE, host=STREAM.domain, slow_workers=SLOW_WORKERS,
                         slow_ms=1000)
    clients: list[Client] = []
    try:
        with load, load.window_of():
            returncode, output, clients = run_with_clients(provisioned, run, variables, old)
        time.sleep(1)  # a reconnect in flight when the run ended
    finally:
        for client in clients:
            client.stop()
    print(f"\n{run}: {load.summary()}")
    assert returncode == 0, output[-4000:]
    assert len(clients) == SSE + WS, "the run never planned"
    assert_load(load, [old, new])
    wall = time.time() - time.monotonic()
    # The first request the new release answered was sent after the switch, or at it.
    switched = min(a.started for a in load.answers if a.version == new) + wall
    for client in clients:
        assert not client.errors, f"{client.kind}: errors besides the goodbye: {client.errors}; {client.streams}"
        first, last = client.streams[0], client.streams[-1]
        assert (first.version, first.end) == (old, GOODBYE), f"{client.kind}: {client.streams}"
        assert last.version == new and last.end == "stopped", f"{client.kind}: {client.streams}"
        assert all(s.end == GOODBYE for s in client.streams[:-1]), client.streams
        after = first.ended - switched
        print(f"{client.kind} client: goodbye from {old} {after:.1f} s after the switch, "
              f"on {new} {last.opened - switched:.1f} s after it")
        assert drain - 0.5 <= after <= drain + SLACK, (
            f"{client.kind}: the goodbye came {after:.1f} s after the switch, the drain is {drain} s")
        assert last.opened - first.ended < 2, f"{client.kind}: reconnected {last.opened - first.ended:.1f} s late"
    return releases(STREAM)[0], output


def assert_drained(record: dict, old_colour: str, output: str) -> None:
    """The record counts the streams open at the deadline, the report says so, and the colour left runs again."""
    drain = record["drain"]
    assert drain["open"] == SSE + WS, drain
    assert f"colour {old_colour}: {SSE + WS} connections still open when the drain passed" in output, output[-3000:]
    assert drain["closed"] == [f"{STREAM.name}-{old_colour}-web-1"], drain
    state = on_droplet(f"docker inspect -f '{{{{.State.Running}}}} {{{{.State.StartedAt}}}}' "
                       f"{STREAM.name}-{old_colour}-web-1").stdout.split()
    assert state[0] == "true", f"colour {old_colour} was not started again warm: {state}"


def test_streams_end_on_the_new_release_once_its_drain_passed(provisioned):
    ensure(provisioned, (STREAM.tag(1), DRAIN_BACK))
    old_colour = releases(STREAM)[0]["colour"]
    record, output = moved(provisioned, "deploy", release(STREAM.tag(2), DRAIN), STREAM.tag(1), STREAM.tag(2), DRAIN)
    assert record["kind"] == "deploy" and record["previous_colour"] == old_colour
    assert_drained(record, old_colour, output)
    assert live(provisioned, STREAM)["version"] == STREAM.tag(2)


def test_a_rollback_drains_with_the_drain_of_the_release_it_returns_to(provisioned):
    ensure(provisioned, (STREAM.tag(1), DRAIN_BACK), (STREAM.tag(2), DRAIN))
    old_colour = releases(STREAM)[0]["colour"]
    record, output = moved(provisioned, "rollback", release(STREAM.tag(2), DRAIN), STREAM.tag(2), STREAM.tag(1),
                           DRAIN_BACK)
    assert record["kind"] == "rollback"
    assert_drained(record, old_colour, output)
    spec = json.loads(on_droplet(f"cat /opt/{STREAM.name}/releases/{record['rendered']}/spec.json").stdout)
    assert spec["spec"]["services"]["web"]["drain"] == DRAIN_BACK
