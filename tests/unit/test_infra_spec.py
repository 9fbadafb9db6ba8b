"""The pure check of berth_infra (plugins/module_utils/_infra_spec.py) that opens playbooks/infra.yml.

Each refusal is one exact line naming the berth_infra path and the bad value; several bad inputs come
back together, in the order of the tree; the documented example and the emulator tests' tree pass.
docs/infra.md documents exactly the keys the check knows, and each of them reaches its module in
the infra role that playbooks/infra.yml runs (a key checked but never passed on is what dropped sticky_sessions).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from ansible_collections.berth.ops.plugins.module_utils import _infra_spec
from do_emulator.harness import environment

ROOT = Path(__file__).resolve().parents[2]
TTL = "is not a TTL: a whole number of seconds from 30 (DigitalOcean's minimum) to 2147483647"


def check(mutate) -> list[str]:
    tree = copy.deepcopy(environment())
    mutate(tree)
    return _infra_spec.check(tree)


def test_the_documented_example_passes():
    example = yaml.safe_load((ROOT / "playbooks" / "infra" / "example.yml").read_text())["berth_infra"]
    assert _infra_spec.check(example) == []


def test_the_emulator_tests_tree_passes_with_every_optional_key():
    tree = copy.deepcopy(environment())
    tree["vpc"]["description"] = "berth t1"
    tree["droplets"]["web"].update(monitoring=False, tags=["app:shop", "blue_green"])
    tree["load_balancer"].update(
        forwarding_rules=[{"entry_protocol": "https", "entry_port": 443, "target_protocol": "http", "target_port": 80,
                           "certificate_id": "892071a0-bb95-49bc-8021-3afd67a210bf"},
                          {"entry_protocol": "tcp", "entry_port": 8443, "target_protocol": "tcp", "target_port": 443,
                           "tls_passthrough": False},
                          {"entry_protocol": "udp", "entry_port": 53, "target_protocol": "udp", "target_port": 53}],
        sticky_sessions={"type": "cookies", "cookie_name": "BERTH", "cookie_ttl_seconds": 600}, size_unit=2,
        redirect_http_to_https=True, enable_proxy_protocol=True, enable_backend_keepalive=True,
        http_idle_timeout_seconds=90, disable_lets_encrypt_dns_records=False)
    tree["databases"]["pg"].update(num_nodes=2, trusted_sources=[
        {"type": "ip_addr", "value": "192.0.2.10"}, {"type": "droplet", "value": 1001},
        {"type": "tag", "value": "ops"}, {"type": "app", "value": "a1b2"}])
    tree["domain"].update(ttl=30, records=[
        {"type": "TXT", "name": "@", "data": "v=spf1 include:_spf.example.test ~all", "ttl": 3600},
        {"type": "MX", "name": "@", "data": "mail.example.test.", "priority": 10},
        {"type": "CAA", "name": "@", "data": "letsencrypt.org", "flags": 0, "tag": "issue"},
        {"type": "SRV", "name": "_sip._tcp", "data": "sip.example.test.", "priority": 10, "weight": 5, "port": 5060},
        {"type": "AAAA", "name": "www", "data": "2001:db8::1"}, {"type": "NS", "name": "lab", "data": "ns1.x.test."},
        {"type": "CNAME", "name": "*", "data": "t1.example.test."}])
    tree["project"].update(purpose="Service or API")
    tree.update(output="/tmp/infra.yml", api={"base_url": "https://127.0.0.1:8443", "ca_path": "/tmp/ca.pem",
                                              "validate_certs": True, "poll_interval": 0.5})
    assert _infra_spec.check(tree, {"base_url": "http://127.0.0.1:1", "poll_interval": 1}) == []


@pytest.mark.parametrize(("mutate", "expected"), [
    pytest.param(lambda t: t["load_balancer"]["health_check"].update(check_interval_seconds=2),
                 "berth_infra.load_balancer.health_check.check_interval_seconds: 2 must be a whole number of seconds "
                 "between 3 and 300", id="health-interval-2"),
    pytest.param(lambda t: t["load_balancer"]["health_check"].update(unhealthy_threshold=11),
                 "berth_infra.load_balancer.health_check.unhealthy_threshold: 11 must be a whole number between 2 "
                 "and 10", id="health-threshold-11"),
    pytest.param(lambda t: t["load_balancer"]["health_check"].update(response_timeout_seconds=6),
                 "berth_infra.load_balancer.health_check.response_timeout_seconds: 6 is longer than "
                 "check_interval_seconds (5)", id="health-timeout-above-interval"),
    pytest.param(lambda t: t["domain"].update(ttl=0), f"berth_infra.domain.ttl: 0 {TTL}", id="zone-ttl-0"),
    pytest.param(lambda t: t["domain"]["records"][0].update(ttl=0),
                 f"berth_infra.domain.records[0].ttl: 0 {TTL}", id="record-ttl-0"),
    pytest.param(lambda t: t["domain"]["records"][0].update(ttl="29"),
                 f"berth_infra.domain.records[0].ttl: '29' {TTL}", id="record-ttl-29"),
    pytest.param(lambda t: t.update(regoin="nyc3"),
                 "berth_infra.regoin: 'nyc3' is not a setting here (known: name, region, vpc, ssh_key, droplets, "
                 "firewall, load_balancer, databases, domain, project, monitoring, output, api)", id="unknown-top-key"),
    pytest.param(lambda t: t["load_balancer"]["health_check"].update(interval=5),
                 "berth_infra.load_balancer.health_check.interval: 5 is not a setting here (known: protocol, port, "
                 "path, check_interval_seconds, response_timeout_seconds, unhealthy_threshold, healthy_threshold)",
                 id="unknown-health-key"),
    pytest.param(lambda t: t["domain"]["records"][0].update(prio=1),
                 "berth_infra.domain.records[0].prio: 1 is not a setting here (known: type, name, data, ttl, "
                 "priority, port, weight, flags, tag)", id="unknown-record-key"),
    pytest.param(lambda t: t["droplets"]["web"].update(count="two"),
                 "berth_infra.droplets.web.count: 'two' must be a whole number >= 0", id="count-two"),
    pytest.param(lambda t: t["droplets"]["web"].pop("size"),
                 "berth_infra.droplets.web.size: missing, needs a size slug like s-1vcpu-1gb", id="size-missing"),
    pytest.param(lambda t: t.update(region="NYC-3"),
                 "berth_infra.region: 'NYC-3' is not a region slug (like nyc3)", id="region"),
    pytest.param(lambda t: t.update(name="T1"),
                 "berth_infra.name: 'T1' is not an environment name (lower-case letter, then letters, digits or '-', "
                 "at most 31)", id="name"),
    pytest.param(lambda t: t["ssh_key"].update(public_key="ssh-ed25519 not-base64!"),
                 "berth_infra.ssh_key.public_key: 'ssh-ed25519 not-base64!' is not an OpenSSH public key line "
                 "(ssh-ed25519 AAAA... comment)", id="public-key"),
    pytest.param(lambda t: t["vpc"].update(ip_range="10.20.0.0/12"),
                 "berth_infra.vpc.ip_range: '10.20.0.0/12' is not a private IPv4 CIDR (RFC 1918) between /16 and /28, "
                 "like 10.10.0.0/20", id="vpc-range"),
    pytest.param(lambda t: t["firewall"].update(ssh_sources=["any"]),
                 "berth_infra.firewall.ssh_sources[0]: 'any' is not an address or CIDR without host bits "
                 "(like 198.51.100.7/32)", id="ssh-source-any"),
    pytest.param(lambda t: t["firewall"].update(public_ports=[80, 70000]),
                 "berth_infra.firewall.public_ports[1]: 70000 is not a port (1-65535) or a range like 8000-9000",
                 id="public-port"),
    pytest.param(lambda t: t["load_balancer"].update(group="api"),
                 "berth_infra.load_balancer.group: 'api' is not a droplet group of berth_infra.droplets (web)",
                 id="lb-group"),
    pytest.param(lambda t: t["load_balancer"].update(sticky_sessions={"type": "cookie"}),
                 "berth_infra.load_balancer.sticky_sessions.type: 'cookie' is not one of none, cookies",
                 id="sticky-type"),
    pytest.param(lambda t: t["load_balancer"].update(sticky_sessions={"type": "cookies", "cookie_ttl_seconds": 0}),
                 "berth_infra.load_balancer.sticky_sessions.cookie_ttl_seconds: 0 must be a whole number of seconds "
                 ">= 1", id="sticky-ttl"),
    pytest.param(lambda t: t["load_balancer"].update(http_idle_timeout_seconds=10),
                 "berth_infra.load_balancer.http_idle_timeout_seconds: 10 must be a whole number of seconds between "
                 "30 and 600", id="idle-timeout"),
    pytest.param(lambda t: t["load_balancer"].update(redirect_http_to_https="yes"),
                 "berth_infra.load_balancer.redirect_http_to_https: 'yes' must be true or false", id="bool"),
    pytest.param(lambda t: t["load_balancer"].update(forwarding_rules=[
        {"entry_protocol": "https", "entry_port": 443, "target_protocol": "http", "target_port": 80}]),
                 "berth_infra.load_balancer.forwarding_rules[0].entry_protocol: 'https' needs certificate_id or "
                 "tls_passthrough: true", id="https-without-certificate"),
    pytest.param(lambda t: t["databases"]["pg"].update(engine="postgres"),
                 "berth_infra.databases.pg.engine: 'postgres' is not one of pg, mysql, redis, valkey", id="engine"),
    pytest.param(lambda t: t["databases"]["cache"].update(databases=["app"]),
                 "berth_infra.databases.cache.databases: ['app'] cannot be managed on engine valkey (the API "
                 "refuses)", id="valkey-databases"),
    pytest.param(lambda t: t["databases"]["pg"].update(trusted_sources=[{"type": "ip", "value": "192.0.2.1"}]),
                 "berth_infra.databases.pg.trusted_sources[0].type: 'ip' is not one of droplet, tag, ip_addr, k8s, "
                 "app", id="trusted-source-type"),
    pytest.param(lambda t: t["domain"]["records"].append({"type": "SPF", "name": "@", "data": "v=spf1 -all"}),
                 "berth_infra.domain.records[1].type: 'SPF' is not a record type berth manages (A, AAAA, CAA, CNAME, "
                 "MX, NS, SRV, TXT)", id="record-type"),
    pytest.param(lambda t: t["domain"]["records"].append({"type": "TXT", "name": "@", "data": "x", "flags": 0}),
                 "berth_infra.domain.records[1].flags: 0 applies only to CAA records", id="flags-on-txt"),
    pytest.param(lambda t: t["domain"]["records"].append({"type": "A", "name": "@", "data": "192.0.2.1"}),
                 "berth_infra.domain.records[1]: 'A @' has the type and name of berth's own A record to the load "
                 "balancer (one record per type and name)", id="apex-a-with-lb"),
    pytest.param(lambda t: t["domain"]["records"].append({"type": "MX", "name": "@", "data": "mail.x.test."}),
                 "berth_infra.domain.records[1].priority: missing, needs a priority (MX records need priority)",
                 id="mx-priority"),
    pytest.param(lambda t: t["project"].update(environment="prod"),
                 "berth_infra.project.environment: 'prod' is not one of Development, Staging, Production",
                 id="project-environment"),
])
def test_one_bad_input_is_one_exact_line(mutate, expected):
    assert check(mutate) == [expected]


def test_several_bad_inputs_come_back_together_in_the_order_of_the_tree():
    def mutate(tree):
        tree["droplets"]["web"]["count"] = -1
        tree["load_balancer"]["health_check"]["check_interval_seconds"] = 2
        tree["load_balancer"]["sticky_session"] = {"type": "cookies"}
        tree["domain"]["records"][0]["ttl"] = 0
        tree["domain"]["records"].append({"type": "SRV", "name": "_sip._tcp", "data": "sip.x.test."})
        del tree["region"]

    assert check(mutate) == [
        "berth_infra.region: missing, needs a region slug like nyc3",
        "berth_infra.droplets.web.count: -1 must be a whole number >= 0",
        "berth_infra.load_balancer.sticky_session: {'type': 'cookies'} is not a setting here (known: group, "
        "forwarding_rules, health_check, sticky_sessions, size_unit, redirect_http_to_https, enable_proxy_protocol, "
        "enable_backend_keepalive, http_idle_timeout_seconds, disable_lets_encrypt_dns_records)",
        "berth_infra.load_balancer.health_check.check_interval_seconds: 2 must be a whole number of seconds between "
        "3 and 300",
        f"berth_infra.domain.records[0].ttl: 0 {TTL}",
        "berth_infra.domain.records[1].priority: missing, needs a priority (SRV records need priority, port, weight)",
        "berth_infra.domain.records[1].port: missing, needs a port (SRV records need priority, port, weight)",
        "berth_infra.domain.records[1].weight: missing, needs a weight (SRV records need priority, port, weight)",
    ]


def test_a_tree_that_is_no_mapping_or_lacks_the_required_keys():
    assert _infra_spec.check(None) == ["berth_infra: None must be a mapping (see docs/infra.md)"]
    assert _infra_spec.check({}) == [
        "berth_infra.name: missing, needs an environment name (lower-case letter, then letters, digits or '-')",
        "berth_infra.region: missing, needs a region slug like nyc3",
        "berth_infra.ssh_key: missing, needs {public_key: an OpenSSH public key line}",
        "berth_infra.droplets: missing, needs a mapping of group name to {count, size, image}",
    ]


def test_berth_infra_api_is_checked_under_its_own_name():
    assert _infra_spec.check(environment(), {"base_url": "ftp://x", "token": "t"}) == [
        "berth_infra_api.token: 't' is not a setting here (known: base_url, ca_path, validate_certs, poll_interval)",
        "berth_infra_api.base_url: 'ftp://x' is not an http(s) URL",
    ]


def _documented_keys() -> list[str]:
    text = (ROOT / "docs" / "infra.md").read_text()
    section = text.split("## `berth_infra`", 1)[1].split("\n## ", 1)[0]
    return sorted(re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE))


def test_docs_document_exactly_the_keys_the_check_knows():
    documented = _documented_keys()
    assert len(documented) == len(set(documented)), "a key is documented twice"
    assert documented == _infra_spec.key_paths()


# Where the infra role (playbooks/infra.yml) and its templates read each kind of key.
READ_AS = (("droplets.GROUP.", "item.value."), ("databases.KEY.", "item.value."), ("firewall.", "fw."),
           ("api.", "__infra_api."))
PASSED_WHOLE = ("load_balancer.forwarding_rules", "load_balancer.health_check", "load_balancer.sticky_sessions",
                "databases.KEY.trusted_sources", "domain.records", "monitoring.slack")
# Keys whose defaults and plan are made in Python (_infra_spec.monitoring_plan, returned by do_infra_spec):
# tests/unit/test_infra_monitoring.py changes each one and watches the plan change.
PLANNED = ("monitoring.uptime.", "monitoring.alerts.")


def test_every_key_reaches_its_module():
    role = ROOT / "roles" / "infra"
    text = "".join(p.read_text() for p in sorted([*role.glob("*/*.yml"), *role.glob("templates/*.j2")]))
    unread = []
    for path in _infra_spec.key_paths():
        if path.startswith(PLANNED):
            continue
        whole = next((w for w in PASSED_WHOLE if path.startswith(w + ".") or path.startswith(w + "[]")), path)
        reference = next((new + whole[len(old):] for old, new in READ_AS if whole.startswith(old)),
                         "__infra_env." + whole)
        if reference not in text:
            unread.append(f"{path} (as {reference})")
    assert unread == []
