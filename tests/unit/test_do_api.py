"""The DigitalOcean client's retry, paging, polling and error policy, through a fake transport."""

import json

import pytest
from ansible_collections.berth.ops.plugins.module_utils._do_api import (
    Client,
    DOError,
    Response,
    TransportError,
    token_from_env,
)


class Fake:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []
        self.now = 0.0
        self.slept = []

    def __call__(self, method, url, headers, timeout, body=None):
        self.calls.append((method, url, headers, body))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds

    def client(self, **kw):
        return Client(self, "sekret", token_source="the DIGITALOCEAN_TOKEN environment variable",
                      base_url="https://api.test", sleep=self.sleep, clock=lambda: self.now, **kw)


def ok(body, status=200, **headers):
    return Response(status, headers, json.dumps(body).encode())


def err(status, message, **headers):
    return Response(status, headers, json.dumps({"id": "oops", "message": message}).encode())


def test_bearer_and_json_body():
    fake = Fake(ok({"vpc": {"id": "v1"}}, 201))
    assert fake.client().send("POST", "/v2/vpcs", {"name": "x"}, what="vpc x") == {"vpc": {"id": "v1"}}
    method, url, headers, body = fake.calls[0]
    assert (method, url) == ("POST", "https://api.test/v2/vpcs")
    assert headers["Authorization"] == "Bearer sekret"
    assert json.loads(body) == {"name": "x"}


def test_429_waits_retry_after_then_succeeds():
    fake = Fake(err(429, "slow down", **{"retry-after": "3"}), ok({"droplets": []}))
    api = fake.client()
    api.get("/v2/droplets", what="droplets")
    assert fake.slept == [3.0]
    assert api.stats.retries == 1


def test_5xx_backoff_then_fails_naming_resource_and_message():
    fake = Fake(*[err(503, "maintenance")] * 3)
    with pytest.raises(DOError) as exc:
        fake.client(retries=2).get("/v2/firewalls/f1", what="firewall web")
    assert exc.value.kind == "server_error"
    assert "firewall web" in str(exc.value) and "maintenance" in str(exc.value)
    assert fake.slept == [0.5, 1.0]


def test_connection_failure_is_retried():
    fake = Fake(TransportError("refused"), ok({}))
    fake.client().get("/v2/account", what="account")
    assert fake.slept == [0.5]


def test_retry_never_passes_deadline():
    fake = Fake(err(429, "later", **{"retry-after": "20"}))
    with pytest.raises(DOError) as exc:
        fake.client(deadline=10).get("/v2/vpcs", what="vpcs")
    assert exc.value.kind == "deadline"
    assert fake.slept == []


@pytest.mark.parametrize("status", [400, 404, 409, 422, 501])
def test_other_errors_are_not_retried(status):
    fake = Fake(err(status, "bad thing"))
    with pytest.raises(DOError) as exc:
        fake.client().send("PUT", "/v2/load_balancers/x", {}, what="load balancer web")
    assert len(fake.calls) == 1
    assert "load balancer web" in str(exc.value) and "bad thing" in str(exc.value)


def test_401_names_the_token_variable_not_the_token():
    fake = Fake(err(401, "Unable to authenticate you"))
    with pytest.raises(DOError) as exc:
        fake.client().get("/v2/vpcs", what="vpc prod")
    assert "DIGITALOCEAN_TOKEN" in str(exc.value)
    assert "sekret" not in str(exc.value)


def test_pagination_follows_absolute_next_links():
    fake = Fake(ok({"droplets": [{"id": 1}], "links": {"pages": {"next": "https://api.test/v2/droplets?page=2"}}}),
                ok({"droplets": [{"id": 2}], "links": {"pages": {}}}))
    assert [d["id"] for d in fake.client().list("/v2/droplets", "droplets", what="droplets",
                                                query={"tag_name": "web"})] == [1, 2]
    assert "tag_name=web" in fake.calls[0][1] and "per_page=200" in fake.calls[0][1]
    assert fake.calls[1][1] == "https://api.test/v2/droplets?page=2"


def test_action_polling():
    fake = Fake(ok({"action": {"id": 7, "status": "in-progress"}}), ok({"action": {"id": 7, "status": "completed"}}))
    assert fake.client(poll_interval=1).wait_action(7, what="droplet web-1")["status"] == "completed"
    assert fake.slept == [1]


def test_status_polling_times_out_naming_resource():
    fake = Fake(*[ok({"database": {"status": "creating"}})] * 5)
    with pytest.raises(DOError, match="database pg: still creating"):
        fake.client(poll_interval=1).wait_status("/v2/databases/u", "database", ("online",), what="database pg",
                                                 timeout=2.5)


def test_token_from_env_order():
    assert token_from_env({"DO_API_KEY": "b", "DO_API_TOKEN": "a"}) == ("a", "DO_API_TOKEN")
    assert token_from_env({}) == (None, None)


def test_post_is_not_retried_after_5xx():
    fake = Fake(err(500, "boom"))
    with pytest.raises(DOError, match=r"droplets web-1: POST failed .*not retried"):
        fake.client().send("POST", "/v2/droplets", {}, what="droplets web-1")
    assert len(fake.calls) == 1


def test_post_is_retried_after_429():
    fake = Fake(err(429, "slow", **{"retry-after": "1"}), ok({"vpc": {}}, 201))
    fake.client().send("POST", "/v2/vpcs", {}, what="vpc")
    assert fake.slept == [1.0]
