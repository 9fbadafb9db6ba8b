"""What a user checks after berth.ops.traefik: HTTPS with their certificate, HTTP redirected,
the admin and gate entrypoints on loopback only, and a broken static config refused."""

import json


def curl(host, *args: str) -> str:
    return host.check_output("curl -s -o /dev/null -w '%{http_code}' " + " ".join(args))


def test_traefik_runs_healthy(host):
    state = json.loads(host.check_output("docker inspect -f '{{json .State}}' traefik-traefik-1"))
    assert state["Running"] and state["Health"]["Status"] == "healthy"


def test_https_serves_the_given_certificate_and_http_redirects(host):
    issuer = host.check_output("echo | openssl s_client -connect 127.0.0.1:443 -servername x.berth.test "
                               "2>/dev/null | openssl x509 -noout -issuer -ext subjectAltName")
    assert "berth lab CA" in issuer and "*.berth.test" in issuer
    assert curl(host, "-k", "https://127.0.0.1/") == "404"  # no app routes yet
    location = host.check_output("curl -s -o /dev/null -w '%{redirect_url}' http://127.0.0.1/x")
    assert curl(host, "http://127.0.0.1/x") in ("301", "308") and location == "https://127.0.0.1/x"


def test_ping_metrics_and_dashboard_answer_on_loopback_only(host):
    assert curl(host, "http://127.0.0.1:8082/ping") == "200"
    assert curl(host, "http://127.0.0.1:8082/metrics") == "404"  # metrics have their own entrypoint
    address = host.check_output("docker inspect -f '{{(index .NetworkSettings.Networks \"berth-edge\").IPAddress}}' "
                                "traefik-traefik-1")
    assert "traefik_entrypoint_requests_total" in host.check_output(f"curl -s http://{address}:8083/metrics")
    assert curl(host, "http://127.0.0.1:8082/api/overview") == "200"
    published = host.check_output("docker port traefik-traefik-1").splitlines()
    inner = [line for line in published if line.startswith(("8081/", "8082/"))]
    assert not [line for line in published if line.startswith("8083/")], published
    assert inner and all("-> 127.0.0.1:" in line for line in inner), published


def test_the_private_key_is_root_only(host):
    key = host.file("/opt/traefik/certs/edge.key")
    assert (key.user, key.mode) == ("root", 0o600)


def test_a_broken_static_config_is_refused_and_the_live_one_stays(host):
    live = host.file("/opt/traefik/traefik.yml").content_string
    host.run("printf 'api:\\n  insecure: maybe\\n' > /tmp/broken-traefik.yml")
    refused = host.run("/opt/traefik/validate-static.sh /tmp/broken-traefik.yml")
    assert refused.rc == 1 and "invalid Traefik static configuration" in refused.stderr, refused.stderr
    assert host.run("/opt/traefik/validate-static.sh /opt/traefik/traefik.yml").rc == 0
    assert host.file("/opt/traefik/traefik.yml").content_string == live
