"""The lab token server's grant rules decide what the registry tests prove; pin them down."""

from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab" / "images" / "tokenserver"))
import token_server


@pytest.fixture(autouse=True)
def config(monkeypatch):
    monkeypatch.setattr(token_server, "CONFIG", {
        "public": ["berth/public-*"],
        "users": {"ci": {"password_sha256": hashlib.sha256(b"pw").hexdigest(),
                         "grants": {"berth/*": "pull,push"}},
                  "reader": {"password_sha256": hashlib.sha256(b"ro").hexdigest(),
                             "grants": {"berth/*": "pull"}}},
    })


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_anonymous_gets_pull_on_public_only():
    granted = token_server.grant(None, ["repository:berth/public-app:pull",
                                        "repository:berth/private:pull"])
    assert [g["actions"] for g in granted] == [["pull"], []]


def test_reader_cannot_push():
    granted = token_server.grant("reader", ["repository:berth/app:pull,push"])
    assert granted[0]["actions"] == ["pull"]


def test_pusher_gets_both_but_nothing_outside_its_grant():
    granted = token_server.grant("ci", ["repository:berth/app:pull,push", "repository:other/app:pull"])
    assert [g["actions"] for g in granted] == [["pull", "push"], []]


@pytest.mark.parametrize(("header", "expected"), [
    (None, (None, True)),
    (basic("ci", "pw"), ("ci", True)),
    (basic("ci", "wrong"), (None, False)),
    (basic("nobody", "pw"), (None, False)),
    ("Bearer abc", (None, False)),
    ("Basic !!!", (None, False)),
])
def test_authenticate(header, expected):
    assert token_server.authenticate(header) == expected
