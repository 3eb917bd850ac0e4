"""The real gateway over the session's dev server, with a worker, a SQLite store and a
directory of its own. Requests go through the ASGI app, tokens through /oauth2/token."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from settings import Settings
from tests.support.postgres import PostgresCluster
from store.directory import hash_password
from worker import build_worker
from tests.support.http_service import LOCAL_SERVICES

HERE = Path(__file__).parent
# The web page origin the test gateways let call them (CASEWORK_CORS_ORIGINS).
APP_ORIGIN = "http://app.example.test:8080"
USERS = {
    # username: (groups, permissions)
    "admin": ([], ["PM_CASES", "PM_FACTORY", "PM_ALLCASES"]),
    "author": (["authors"], ["PM_CASES"]),
    "author2": (["authors"], ["PM_CASES"]),
    "rev1": (["reviewers"], ["PM_CASES"]),
    "rev2": (["reviewers"], ["PM_CASES"]),
    "lead": ([], ["PM_CASES"]),
    "outsider": ([], ["PM_CASES"]),
    # the ProcessMaker face: permissions over every case, a process supervisor, no PM_CASES
    "pmadmin": ([], ["PM_CASES", "PM_REASSIGNCASE", "PM_CANCELCASE", "PM_DELETECASE"]),
    "pmsuper": ([], ["PM_CASES", "PM_REASSIGNCASE_SUPERVISOR"]),
    "viewer": ([], []),
}


def user_id(username: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_DNS, username).hex


def write_directory(path: Path) -> None:
    groups = sorted({g for gs, _ in USERS.values() for g in gs})
    doc = {
        "groups": [{"id": g, "name": g.title()} for g in groups],
        "users": [
            {
                "id": user_id(name), "username": name, "firstName": name.title(), "lastName": "Test",
                "email": f"{name}@example.com", "password": hash_password(f"{name}-pw"),
                "groups": gs, "permissions": perms, "reportsTo": None,
            }
            for name, (gs, perms) in USERS.items()
        ],
    }
    path.write_text(yaml.safe_dump(doc))


@dataclass
class Gateway:
    http: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)
    # every error body seen, to check none of them echoes a token
    error_bodies: list[str] = field(default_factory=list)
    # the app itself, for tests that run a worker-side part (the webhook dispatcher) beside it
    app: Any = None

    def auth(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    async def call(self, method: str, path: str, username: str | None = None, **kw: object) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})  # type: ignore[arg-type]
        if username:
            headers.update(self.auth(username))
        resp = await self.http.request(method, path, headers=headers, **kw)  # type: ignore[arg-type]
        if resp.status_code >= 400:
            self.error_bodies.append(resp.text)
        return resp

    async def start(self, username: str = "author", **inputs: object) -> dict:
        body = {"definition": "review", "inputs": {"subject": "the plan", **inputs}}
        resp = await self.call("POST", "/cases", username, json=body)
        assert resp.status_code == 201, resp.text
        return resp.json()


def gateway_settings(request: pytest.FixtureRequest, temporal_env: WorkflowEnvironment, data: Path, name: str, **more: object) -> Settings:
    """Settings of a gateway (and its worker) on the session's dev server, with a directory in
    `data` and the read model on SQLite there or in a fresh PostgreSQL database
    (`request.param`)."""
    write_directory(data / "directory.yaml")
    database_url = None
    if request.param == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        database_url = cluster.create_database(f"{name}_{uuid.uuid4().hex[:12]}")
    return Settings(
        database_url=database_url,
        temporal_address=temporal_env.client.service_client.config.target_host,
        task_queue=f"{name}-{uuid.uuid4().hex[:8]}",
        data_dir=data,
        directory=data / "directory.yaml",
        definitions=HERE / "definitions",
        **{"http_allow": LOCAL_SERVICES, "cors_origins": APP_ORIGIN, **more},  # type: ignore[arg-type]
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session", params=["sqlite", "postgresql"])
async def gateway(request: pytest.FixtureRequest, temporal_env: WorkflowEnvironment, tmp_path_factory) -> AsyncIterator[Gateway]:
    """Every HTTP test runs twice: with the read model on SQLite and on PostgreSQL."""
    settings = gateway_settings(request, temporal_env, tmp_path_factory.mktemp("gateway"), "api")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with build_worker(temporal_env.client, settings, app.state.service.db):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
                gw = Gateway(http, app=app)
                for name in USERS:
                    resp = await http.post("/oauth2/token", data={"grant_type": "password", "username": name, "password": f"{name}-pw"})
                    assert resp.status_code == 200, resp.text
                    gw.tokens[name] = resp.json()["access_token"]
                yield gw
