"""Normalization that makes the do_* modules settle: what the API returns equals what the user wrote."""

import pytest
from ansible_collections.berth.ops.plugins.module_utils._do_normalize import (
    forwarding_rules,
    health_check,
    health_check_problems,
    ports,
    record,
    record_differs,
    rules,
    ssh_fingerprint,
    sticky_sessions,
    trusted_sources,
)


@pytest.mark.parametrize(("protocol", "given", "expected"), [
    ("tcp", "all", "0"), ("tcp", "0", "0"), ("tcp", "", "0"), ("tcp", None, "0"), ("udp", "1-65535", "0"),
    ("icmp", None, "0"), ("icmp", "22", "0"), ("tcp", 22, "22"), ("tcp", "8000-9000", "8000-9000"),
])
def test_ports(protocol, given, expected):
    assert ports(protocol, given) == expected


def test_rules_ignore_order_empty_targets_and_all_port_spellings():
    written = [{"protocol": "icmp", "sources": {"addresses": ["10.0.0.0/20"]}},
               {"protocol": "tcp", "ports": "all", "sources": {"addresses": ["::/0", "0.0.0.0/0"], "tags": []}}]
    from_api = [{"protocol": "tcp", "ports": "0", "sources": {"addresses": ["0.0.0.0/0", "::/0"]}},
                {"protocol": "icmp", "ports": "0", "sources": {"addresses": ["10.0.0.0/20"], "droplet_ids": []}}]
    assert rules(written, "sources") == rules(from_api, "sources")


def test_rules_see_a_real_difference():
    a = [{"protocol": "tcp", "ports": "22", "sources": {"addresses": ["198.51.100.7/32"]}}]
    b = [{"protocol": "tcp", "ports": "22", "sources": {"addresses": ["198.51.100.8/32"]}}]
    assert rules(a, "sources") != rules(b, "sources")


def test_health_check_fills_every_default():
    assert health_check({"path": "/up"}) == {"protocol": "http", "port": 80, "path": "/up",
                                             "check_interval_seconds": 10, "response_timeout_seconds": 5,
                                             "unhealthy_threshold": 3, "healthy_threshold": 5}
    assert health_check({"protocol": "tcp", "path": "/x"})["path"] == ""


@pytest.mark.parametrize(("given", "problem"), [
    ({"check_interval_seconds": 2}, "check_interval_seconds=2 is outside 3-300"),
    ({"healthy_threshold": 11}, "healthy_threshold=11 is outside 2-10"),
    ({"check_interval_seconds": 5, "response_timeout_seconds": 6}, "longer than check_interval_seconds=5"),
])
def test_health_check_ranges(given, problem):
    assert any(problem in p for p in health_check_problems(health_check(given)))


def test_forwarding_rules_fill_optional_fields_and_sort():
    api = [{"entry_protocol": "tcp", "entry_port": 443, "target_protocol": "tcp", "target_port": 443,
            "certificate_id": "", "tls_passthrough": False},
           {"entry_protocol": "http", "entry_port": 80, "target_protocol": "http", "target_port": 80,
            "certificate_id": "", "tls_passthrough": False}]
    written = [{"entry_protocol": "http", "entry_port": "80", "target_protocol": "http", "target_port": 80},
               {"entry_protocol": "tcp", "entry_port": 443, "target_protocol": "tcp", "target_port": 443}]
    assert forwarding_rules(written) == forwarding_rules(api)


def test_sticky_sessions():
    assert sticky_sessions(None) == {"type": "none"}
    assert sticky_sessions({"type": "none", "cookie_name": None}) == {"type": "none"}
    assert sticky_sessions({"type": "cookies"}) == {"type": "cookies", "cookie_name": "DO-LB",
                                                    "cookie_ttl_seconds": 300}


def test_trusted_sources_drop_api_fields_and_order():
    api = [{"uuid": "u2", "type": "tag", "value": "web", "created_at": "x"},
           {"uuid": "u1", "type": "ip_addr", "value": "192.0.2.1", "cluster_uuid": "c"}]
    assert trusted_sources(api) == trusted_sources([{"type": "ip_addr", "value": "192.0.2.1"},
                                                    {"type": "tag", "value": "web"}])


def test_records():
    wanted = record({"type": "cname", "name": "www", "data": "example.com.", "ttl": 300})
    assert wanted == {"type": "CNAME", "name": "www", "data": "example.com.", "ttl": 300}
    assert not record_differs({"type": "CNAME", "name": "www", "data": "example.com", "ttl": 300}, wanted)
    assert record_differs({"type": "CNAME", "name": "www", "data": "example.com", "ttl": 1800}, wanted)
    apex = record({"type": "A", "data": "192.0.2.1"})
    assert apex["name"] == "@" and apex["ttl"] == 1800


def test_ssh_fingerprint_is_md5_of_the_key_blob():
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH8mQ0uS7n3xX1m8mE0r3pQ9c0f4X6b1c2d3e4f5a6b7 comment"
    assert ssh_fingerprint(key) == ssh_fingerprint(key.rsplit(" ", 1)[0])
    assert len(ssh_fingerprint(key).split(":")) == 16
