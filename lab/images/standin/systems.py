"""Stand-ins of the platform (system 4) and three-tier (system 5) examples: roles app.py adds to its own.

platform-backend   the FastAPI backend: port 8000, GET /api/v1/utils/health-check/ -> {"healthy": true},
                   GET /api/v1/utils/data/ -> what it reads from its external PostgreSQL (alembic_version)
                   and Redis (PING, a counter), its CORS origins; needs SECRET_KEY, DATABASE_URL and REDIS_URL.
                   `alembic upgrade head` (the image's alembic) migrates the external database to this
                   version's head and logs each run in platform_migrations
platform-frontend  the frontend: port 80, every path the single-page app's index.html
tier-web           the web front: port 3000, GET / renders what the api (API_URL, http://api:5000: the api of
                   its own colour, by service name) answers on /api/items; GET /health
tier-api           the api: port 5000, GET /health (and its database, DATABASE_URL), GET /api/items,
                   GET /internal/model-config (for the AI service only: not routed publicly)
tier-ai            the AI service: port 8000, GET /ai/predict asks the api's internal endpoint by service
                   name (API_URL) and answers with it; GET /health
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from types import ModuleType
from typing import Any

VERSION = os.environ.get("STANDIN_VERSION", "0")
# Each version's migration head, as alembic names revisions.
HEADS = {"1.0.0": "3f2a1c0e9b7d", "1.1.0": "8c4d2e6f1a0b"}


def head() -> str:
    return HEADS.get(VERSION, "0" * 12)


def stamp(app: ModuleType, body: dict) -> dict:
    return {**body, "version": VERSION, "colour": app.colour()}


def platform_backend(app: ModuleType) -> Any:
    def handle(path: str) -> tuple[int, str | dict]:
        if path == "/api/v1/utils/health-check/":
            return 200, stamp(app, {"healthy": True})
        if path == "/api/v1/utils/data/":
            try:
                db = app.Postgres(os.environ["DATABASE_URL"])
                migrated = db.query("SELECT version_num FROM alembic_version")
                redis = app.Redis(os.environ["REDIS_URL"])
                pong, hits = redis.call("PING"), redis.call("INCR", "platform:hits")
            except (OSError, RuntimeError, KeyError) as exc:
                return 503, stamp(app, {"detail": f"{type(exc).__name__}: {exc}"})
            origins = [o for o in os.environ.get("BACKEND_CORS_ORIGINS", "").split(",") if o]
            return 200, stamp(app, {"alembic_version": migrated[0][0] if migrated else None, "redis": pong,
                                    "hits": hits, "cors_origins": origins})
        return 404, {"detail": "Not Found"}
    return handle


def platform_frontend(app: ModuleType) -> Any:
    def handle(_path: str) -> tuple[int, str | dict]:
        return 200, app.page("Platform", "platform-frontend")  # index.html for every route of the SPA
    return handle


def ask(path: str) -> dict:
    """GET the api of this colour by its service name (API_URL) and return its JSON."""
    base = os.environ.get("API_URL", "http://api:5000")
    with urllib.request.urlopen(base + path, timeout=5) as answer:
        return json.loads(answer.read())


def tier_web(app: ModuleType) -> Any:
    def handle(path: str) -> tuple[int, str | dict]:
        if path == "/health":
            return 200, "ok"
        try:
            api = ask("/api/items")
        except OSError as exc:
            return 502, f"the api did not answer: {exc}"
        return 200, app.page("Three-tier", "tier-web") + \
            f"<!-- api: {api['version']} {api['colour']} items: {','.join(api['items'])} -->"
    return handle


def tier_api(app: ModuleType) -> Any:
    def handle(path: str) -> tuple[int, str | dict]:
        if path == "/health":
            try:
                app.Postgres(os.environ["DATABASE_URL"]).query("SELECT 1")
            except (OSError, RuntimeError, KeyError) as exc:
                return 503, stamp(app, {"status": "db down", "detail": str(exc)})
            return 200, stamp(app, {"status": "ok"})
        if path == "/api/items":
            return 200, stamp(app, {"items": ["telescope", "sextant"]})
        if path == "/internal/model-config":
            return 200, stamp(app, {"model": "tiny-llm", "temperature": 0.2, "internal": True})
        return 404, {"detail": "Not Found"}
    return handle


def tier_ai(app: ModuleType) -> Any:
    def handle(path: str) -> tuple[int, str | dict]:
        if path == "/health":
            return 200, stamp(app, {"status": "ok"})
        if path == "/ai/predict":
            try:
                config = ask("/internal/model-config")
            except OSError as exc:
                return 502, stamp(app, {"detail": f"the api did not answer: {exc}"})
            return 200, stamp(app, {"prediction": "clear skies", "model": config["model"],
                                    "api": {"version": config["version"], "colour": config["colour"]}})
        return 404, {"detail": "Not Found"}
    return handle


PORTS = {"platform-backend": 8000, "platform-frontend": 80, "tier-web": 3000, "tier-api": 5000, "tier-ai": 8000}
MAKERS = {"platform-backend": platform_backend, "platform-frontend": platform_frontend, "tier-web": tier_web,
          "tier-api": tier_api, "tier-ai": tier_ai}
# What each role exits without (as the real services refuse to start without their settings).
REQUIRED = {"platform-backend": ("SECRET_KEY", "DATABASE_URL", "REDIS_URL"), "tier-api": ("DATABASE_URL",)}


def register(app: ModuleType) -> None:
    """Add these roles to app.py's ROLES and PORTS, or exit when the role's settings are missing."""
    app.PORTS.update(PORTS)
    app.ROLES.update({role: make(app) for role, make in MAKERS.items()})
    missing = [name for name in REQUIRED.get(app.ROLE, ()) if not os.environ.get(name)]
    if missing:
        sys.exit(f"{', '.join(missing)} must be set")


def alembic(app: ModuleType, args: list[str]) -> int:
    """`alembic upgrade head`: the external database at this version's head, each run logged."""
    if args != ["upgrade", "head"]:
        print("usage: alembic upgrade head (the stand-in knows no other command)", file=sys.stderr)
        return 2
    db = app.Postgres(os.environ["DATABASE_URL"])
    db.query("CREATE TABLE IF NOT EXISTS alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)")
    db.query("CREATE TABLE IF NOT EXISTS platform_migrations (id serial PRIMARY KEY, version text NOT NULL, "
             "head text NOT NULL, at timestamptz NOT NULL DEFAULT now())")
    before = db.query("SELECT version_num FROM alembic_version")
    db.query(f"DELETE FROM alembic_version; INSERT INTO alembic_version VALUES ({app.literal(head())}); "
             f"INSERT INTO platform_migrations (version, head) VALUES ({app.literal(VERSION)}, {app.literal(head())})")
    print(f"INFO  [alembic.runtime.migration] Running upgrade {before[0][0] if before else ''} -> {head()}")
    return 0
