"""lb_member asks Traefik's API through berth's one HTTP layer (_http): only a 200 whose JSON names the
health router's rule and service counts as served; no answer, another status or another body is "not yet",
and anything else raised is a bug that is not swallowed."""

from __future__ import annotations

import json

import pytest
from ansible_collections.berth.ops.plugins.module_utils import _lb
from ansible_collections.berth.ops.plugins.module_utils._http import Response, TransportError
from ansible_collections.berth.ops.plugins.modules import lb_member

DOCUMENT = _lb.routes(_lb.DEFAULTS, "drained", ["websecure"])
ROUTER = DOCUMENT["http"]["routers"][_lb.ROUTER]
URL = "http://127.0.0.1:8082"


def answering(status: int, body: object, asked: list | None = None):
    def transport(method, url, headers, timeout, body_out=None):
        if asked is not None:
            asked.append((method, url, timeout))
        return Response(status, {}, body if isinstance(body, bytes) else json.dumps(body).encode())
    return transport


def test_the_router_with_this_rule_and_service_is_served():
    asked = []
    got = {"rule": ROUTER["rule"], "service": ROUTER["service"] + "@file"}
    assert lb_member.served(URL, DOCUMENT, answering(200, got, asked))
    assert asked == [("GET", f"{URL}/api/http/routers/{_lb.ROUTER}@file", 2)]


@pytest.mark.parametrize("status, body", [
    (404, {"message": "router not found"}),
    (404, {"rule": ROUTER["rule"], "service": ROUTER["service"]}),
    (200, {"rule": "PathPrefix(`/other`)", "service": ROUTER["service"]}),
    (200, {"rule": ROUTER["rule"], "service": "other@file"}),
    (200, {"rule": ROUTER["rule"], "service": None}),
    (200, [ROUTER]),
    (200, b"not json"),
    (200, b""),
])
def test_another_answer_is_not_served_yet(status, body):
    assert not lb_member.served(URL, DOCUMENT, answering(status, body))


def test_no_answer_is_not_served_yet():
    def refused(*_args, **_kwargs):
        raise TransportError("refused", "connection refused")
    assert not lb_member.served(URL, DOCUMENT, refused)


def test_a_bug_is_not_taken_for_not_served_yet():
    def broken(*_args, **_kwargs):
        raise KeyError("bug")
    with pytest.raises(KeyError):
        lb_member.served(URL, DOCUMENT, broken)
