"""The bounded drain's decisions (module_utils/_drain.py): which services of the colour users left are
watched and for how long, and how open connections are counted from a container's /proc/<pid>/net/tcp."""

from __future__ import annotations

import os
import time

from ansible_collections.berth.ops.plugins.module_utils import _drain
from ansible_collections.berth.ops.plugins.modules import release_drain

OLD = {"services": {"web": {"port": 8000}, "api": {"port": 5000, "drain": 10}, "worker": {"command": ["work"]},
                    "gone": {"port": 7000, "drain": 3}}}
NEW = {"services": {"web": {"port": 8000, "drain": 5}, "api": {"port": 5000}, "worker": {"command": ["work"]}}}

# /proc/<pid>/net/tcp as a container with a server on 8000 (0x1F40) shows it: the listener, two clients
# served (Traefik's connections), one closing (TIME_WAIT), and one the app opened itself to a peer's 8000.
TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000 10001        0 1 1 0000 100 0 0 10 0
   1: 0300A8C0:1F40 0200A8C0:D2F4 01 00000000:00000000 00:00000000 00000000 10001        0 2 1 0000 20 4 30 10 -1
   2: 0300A8C0:1F40 0200A8C0:D2F6 01 00000000:00000000 00:00000000 00000000 10001        0 3 1 0000 20 4 30 10 -1
   3: 0300A8C0:1F40 0200A8C0:D2F8 06 00000000:00000000 03:00000F8E 00000000     0        0 0 3 0000
   4: 0300A8C0:9C40 0500A8C0:1F40 01 00000000:00000000 00:00000000 00000000 10001        0 4 1 0000 20 4 30 10 -1
"""
TCP6 = """  sl  local_address                         remote_address                        st tx_queue
   0: 00000000000000000000000001000000:1F40 00000000000000000000000001000000:A1B2 01 00000000:00000000
"""

def test_the_colour_left_is_watched_with_the_drain_of_the_release_going_live():
    watched = _drain.services(NEW, OLD)
    # web: the new release's 5; api: the new release gives none, so 30 (not the old release's 10); gone
    # (not in the new release): its own 3; the worker has no port, so no connections to drain.
    assert watched == {"web": {"port": 8000, "drain": 5.0}, "api": {"port": 5000, "drain": 30.0},
                       "gone": {"port": 7000, "drain": 3.0}}


def test_without_a_drain_anywhere_it_is_kamal_proxys_30_seconds():
    assert _drain.services({"services": {}}, {"services": {"web": {"port": 80}}}) == {
        "web": {"port": 80, "drain": 30.0}}
    assert _drain.DEFAULT_DRAIN == 30


def test_a_rollback_drains_with_the_drain_its_target_was_deployed_with():
    # Rolling back from NEW (web drain 5) to OLD (none): OLD's spec goes live, NEW's colour is left.
    assert _drain.services(OLD, NEW)["web"]["drain"] == 30.0


def test_nothing_live_before_means_nothing_to_drain():
    assert _drain.services(NEW, None) == {}
    assert _drain.services(NEW, {}) == {}


def test_only_established_connections_to_the_services_port_count():
    assert _drain.open_connections([TCP], 8000) == 2
    assert _drain.open_connections([TCP, TCP6], 8000) == 3
    assert _drain.open_connections([TCP], 5000) == 0
    assert _drain.open_connections([], 8000) == 0


def test_each_service_has_what_is_left_of_its_drain():
    watched = {"web": {"port": 8000, "drain": 5.0}, "api": {"port": 5000, "drain": 2.0}}
    assert _drain.deadlines(watched, 3.5) == {"web": 1.5, "api": 0.0}


def test_the_report_line_says_how_many_were_open_when_the_drain_passed():
    result = {"web": {"open": 5, "waited": 4.6, "drain": 5.0}, "api": {"open": 0, "waited": 0.3, "drain": 30.0}}
    assert _drain.summary("blue", result, restart=True) == (
        "colour blue: 5 connections still open when the drain passed (web: 5 after 4.6 s); its containers got "
        "SIGTERM (the app's goodbye) and were started again warm")
    assert _drain.summary("green", {"web": {"open": 1, "waited": 0, "drain": 0.0}}, restart=False) == (
        "colour green: 1 connection still open when the drain passed (web: 1 after 0 s); they end with the "
        "colour's stop")
    assert _drain.summary("blue", {"web": {"open": 0, "waited": 0.8, "drain": 30.0}}, restart=True) == (
        "colour blue drained: no connection left open (web)")
    assert _drain.summary("blue", {}, restart=True) == "colour blue: no routed service to drain"


def test_the_drain_counts_from_when_traefik_served_the_switched_routes_on_the_hosts_clock(tmp_path):
    routes = tmp_path / "shop.yml"
    routes.write_text("{}")
    written = time.time() - 10
    os.utime(routes, (written, written))
    since = release_drain.since_switch({"routes": str(routes), "switch_elapsed": 0.5, "since_switch": 99.0})
    assert 9.4 <= since <= 9.7
    # No routes file to read: the caller's own count.
    assert release_drain.since_switch({"routes": str(tmp_path / "gone.yml"), "switch_elapsed": 0.5,
                                       "since_switch": 2.0}) == 2.0
