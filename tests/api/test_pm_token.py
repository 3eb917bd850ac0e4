"""The ProcessMaker face's token endpoint, `POST /{workspace}/oauth2/token`: password and
refresh grants, JSON and form bodies, client checks, and OAuth2 errors (RFC 6749 5.2)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import pytest_asyncio
import yaml
from sqlalchemy import select

from api.auth import TokenService
from settings import Settings
from store import refresh_tokens
from store.db import Database
from store.directory import Directory, DirectoryUser, hash_password
from store.tables import RevokedTokenFamilyRow, UsedRefreshTokenRow
from tests.api.conftest import Gateway

pytestmark = pytest.mark.asyncio(loop_scope="session")

URL = "/workflow/oauth2/token"
CLIENT = {"client_id": "x-pm-local-client", "client_secret": "casework-demo-secret"}
SECRETS = ("rev1-pw", "casework-demo-secret", "wrong-pw", "wrong-secret")


def oauth_error(resp, status: int, error: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "error_description"} and body["error"] == error, body
    assert resp.headers["cache-control"] == "no-store"
    for secret in SECRETS:
        assert secret not in resp.text
    return body


def password_grant(**over: str) -> dict[str, str]:
    return {"grant_type": "password", "scope": "*", **CLIENT, "username": "rev1", "password": "rev1-pw", **over}


async def test_password_grant_with_a_json_body(gateway: Gateway) -> None:
    resp = await gateway.http.post(URL, json=password_grant())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "scope", "refresh_token"}
    assert body["token_type"] == "bearer" and body["scope"] == "*" and body["expires_in"] > 0
    assert resp.headers["cache-control"] == "no-store"
    # the access token works on every face; the refresh token on none
    ok = await gateway.http.get("/api/1.0/workflow/case/start-cases", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert ok.status_code == 200
    refused = await gateway.http.get("/api/1.0/workflow/case/start-cases", headers={"Authorization": f"Bearer {body['refresh_token']}"})
    assert refused.status_code == 401 and body["refresh_token"] not in refused.text
    assert (await gateway.http.get("/definitions", headers={"Authorization": f"Bearer {body['refresh_token']}"})).status_code == 401


async def test_password_grant_with_a_form_body_and_basic_client_auth(gateway: Gateway) -> None:
    form = await gateway.http.post(URL, data=password_grant(scope="view_processes edit_processes"))
    assert form.status_code == 200, form.text
    assert form.json()["scope"] == "view_processes edit_processes"
    basic = base64.b64encode(b"x-pm-local-client:casework-demo-secret").decode()
    resp = await gateway.http.post(
        URL, data={"grant_type": "password", "username": "rev1", "password": "rev1-pw"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["scope"] == "*"


async def test_refresh_grant_gives_a_new_pair(gateway: Gateway) -> None:
    first = (await gateway.http.post(URL, json=password_grant(scope="edit_processes"))).json()
    resp = await gateway.http.post(URL, json={"grant_type": "refresh_token", "refresh_token": first["refresh_token"], **CLIENT})
    assert resp.status_code == 200, resp.text
    second = resp.json()
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    assert second["scope"] == "edit_processes"
    me = await gateway.http.get("/api/1.0/workflow/case/start-cases", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert me.status_code == 200
    # an access token is not a refresh token
    wrong = await gateway.http.post(URL, json={"grant_type": "refresh_token", "refresh_token": first["access_token"], **CLIENT})
    assert first["access_token"] not in oauth_error(wrong, 400, "invalid_grant")["error_description"]
    oauth_error(await gateway.http.post(URL, json={"grant_type": "refresh_token", "refresh_token": "junk", **CLIENT}), 400, "invalid_grant")
    oauth_error(await gateway.http.post(URL, json={"grant_type": "refresh_token", **CLIENT}), 400, "invalid_request")


async def test_refusals(gateway: Gateway) -> None:
    oauth_error(await gateway.http.post(URL, json=password_grant(password="wrong-pw")), 400, "invalid_grant")
    oauth_error(await gateway.http.post(URL, json=password_grant(username="nobody")), 400, "invalid_grant")
    bad_client = await gateway.http.post(URL, json=password_grant(client_secret="wrong-secret"))
    oauth_error(bad_client, 401, "invalid_client")
    assert bad_client.headers["www-authenticate"].startswith("Basic")
    oauth_error(await gateway.http.post(URL, json=password_grant(client_id="someone-else")), 401, "invalid_client")
    no_client = {k: v for k, v in password_grant().items() if k not in ("client_id", "client_secret")}
    oauth_error(await gateway.http.post(URL, json=no_client), 401, "invalid_client")
    oauth_error(await gateway.http.post(URL, json=password_grant(grant_type="client_credentials")), 400, "unsupported_grant_type")
    no_grant = {k: v for k, v in password_grant().items() if k != "grant_type"}
    oauth_error(await gateway.http.post(URL, json=no_grant), 400, "invalid_request")
    oauth_error(await gateway.http.post(URL, json=password_grant(password="")), 400, "invalid_request")
    oauth_error(await gateway.http.post(URL, content=b"[1, 2]", headers={"Content-Type": "application/json"}), 400, "invalid_request")
    oauth_error(await gateway.http.post(URL, content=b"{not json", headers={"Content-Type": "application/json"}), 400, "invalid_request")
    elsewhere = await gateway.http.post("/elsewhere/oauth2/token", json=password_grant())
    assert elsewhere.status_code == 404 and elsewhere.json()["error"]["code"] == 404
    assert "rev1-pw" not in elsewhere.text


@dataclass
class Local:
    """A TokenService's surroundings without a gateway: a directory of one user, `ann`, and
    a migrated SQLite store."""

    settings: Settings
    directory: Directory
    user: DirectoryUser
    db: Database

    def service(self, db: Database | None = None, **kw: Any) -> TokenService:
        return TokenService(self.settings, self.directory, db=db or self.db, **kw)


@pytest_asyncio.fixture
async def local(tmp_path: Path) -> AsyncIterator[Local]:
    (tmp_path / "directory.yaml").write_text(yaml.safe_dump({"users": [
        {"id": "u1", "username": "ann", "password": hash_password("pw")},
    ]}))
    directory = Directory.load(tmp_path / "directory.yaml")
    settings = Settings(data_dir=tmp_path, directory=tmp_path / "directory.yaml", pm_clients={"a": "sa", "b": "sb"})
    user = directory.find("ann")
    assert user is not None
    db = Database(settings.read_model_url)
    await db.init()
    try:
        yield Local(settings, directory, user, db)
    finally:
        await db.close()


async def test_refresh_tokens_are_bound_to_their_client(local: Local) -> None:
    tokens, user, settings = local.service(), local.user, local.settings
    refresh = tokens.issue_refresh(user, "a", "*")
    # refused for another client before it is used up
    assert await tokens.redeem_refresh(refresh, "b") is None
    redeemed = await tokens.redeem_refresh(refresh, "a")
    assert redeemed is not None and redeemed[:2] == (user, "*") and redeemed.family == claims(refresh)["jti"]
    assert tokens.client_ok("a", "sa") and tokens.client_ok("b", "sb")
    assert not tokens.client_ok("a", "sb") and not tokens.client_ok("c", "") and not tokens.client_ok(None, None)
    # a user removed from the directory can no longer refresh
    tokens.directory = Directory.parse({"users": []})
    assert await tokens.redeem_refresh(tokens.issue_refresh(user, "a", "*"), "a") is None
    # nor can anyone once the refresh token has expired (issued a refresh lifetime ago)
    tokens.directory = local.directory
    ago = local.service(clock=lambda: time.time() - settings.refresh_token_ttl_seconds - 60)
    assert await tokens.redeem_refresh(ago.issue_refresh(user, "a", "*"), "a") is None


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def refresh_grant(token: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": token, **CLIENT}


async def test_a_reused_refresh_token_is_refused_and_revokes_its_family(gateway: Gateway) -> None:
    first = (await gateway.http.post(URL, json=password_grant())).json()
    rotated = await gateway.http.post(URL, json=refresh_grant(first["refresh_token"]))
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    # the family is the first token's jti, carried on by each rotation
    assert claims(second["refresh_token"])["family"] == claims(first["refresh_token"])["jti"] == claims(first["refresh_token"])["family"]
    # the first token again: refused, and its whole family with it
    reused = oauth_error(await gateway.http.post(URL, json=refresh_grant(first["refresh_token"])), 400, "invalid_grant")
    assert first["refresh_token"] not in reused["error_description"]
    oauth_error(await gateway.http.post(URL, json=refresh_grant(second["refresh_token"])), 400, "invalid_grant")
    # a new password grant starts a family of its own
    fresh = (await gateway.http.post(URL, json=password_grant())).json()
    assert claims(fresh["refresh_token"])["family"] != claims(first["refresh_token"])["family"]
    assert (await gateway.http.post(URL, json=refresh_grant(fresh["refresh_token"]))).status_code == 200


async def test_an_old_refresh_token_is_refused_after_rotation(gateway: Gateway) -> None:
    chain = [(await gateway.http.post(URL, json=password_grant())).json()["refresh_token"]]
    for _ in range(3):
        resp = await gateway.http.post(URL, json=refresh_grant(chain[-1]))
        assert resp.status_code == 200, resp.text
        chain.append(resp.json()["refresh_token"])
    assert len({claims(t)["family"] for t in chain}) == 1
    oauth_error(await gateway.http.post(URL, json=refresh_grant(chain[1])), 400, "invalid_grant")
    # the newest token was never used, but it is of the family a reuse revoked
    oauth_error(await gateway.http.post(URL, json=refresh_grant(chain[-1])), 400, "invalid_grant")


async def test_concurrent_redeems_of_one_refresh_token_give_one_success(gateway: Gateway) -> None:
    token = (await gateway.http.post(URL, json=password_grant())).json()["refresh_token"]
    answers = await asyncio.gather(*(gateway.http.post(URL, json=refresh_grant(token)) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [200, 400, 400, 400, 400], [a.text for a in answers]
    for refused in (a for a in answers if a.status_code == 400):
        oauth_error(refused, 400, "invalid_grant")
    # the losers were reuses: the winner's new refresh token is of a revoked family
    (winner,) = (a.json() for a in answers if a.status_code == 200)
    oauth_error(await gateway.http.post(URL, json=refresh_grant(winner["refresh_token"])), 400, "invalid_grant")


async def test_rotation_holds_across_gateways_and_restarts(local: Local) -> None:
    other = Database(local.settings.read_model_url)  # another gateway's connections
    try:
        here, there = local.service(), local.service(other)
        token = here.issue_refresh(local.user, "a", "*")
        redeemed = await here.redeem_refresh(token, "a")
        assert redeemed is not None
        successor = here.issue_refresh(local.user, "a", "*", redeemed.family)
        # the other gateway refuses the used token, and revokes the family for both
        assert await there.redeem_refresh(token, "a") is None
        assert await here.redeem_refresh(successor, "a") is None
    finally:
        await other.close()
    # a gateway started afterwards still knows
    await local.db.close()
    again = Database(local.settings.read_model_url)
    try:
        later = local.service(again)
        assert await later.redeem_refresh(token, "a") is None
        assert await later.redeem_refresh(later.issue_refresh(local.user, "a", "*", redeemed.family), "a") is None
    finally:
        await again.close()


async def test_redeeming_prunes_expired_rows_now_and_then(local: Local) -> None:
    now = datetime.now(UTC)
    ttl = timedelta(seconds=local.settings.refresh_token_ttl_seconds)

    async def plant(name: str) -> None:
        # a token long expired, and a family revoked more than a refresh lifetime ago
        long_ago = now - ttl - timedelta(days=1)
        await refresh_tokens.redeem(local.db, name, name, "u1", expires_at=now - timedelta(days=1), now=long_ago)
        await refresh_tokens.revoke_family(local.db, name, long_ago)

    async def left() -> set[str]:
        async with local.db.session() as session:
            used = set(await session.scalars(select(UsedRefreshTokenRow.jti)))
            return used | set(await session.scalars(select(RevokedTokenFamilyRow.family)))

    await plant("old")
    tokens = local.service()
    fresh = tokens.issue_refresh(local.user, "a", "*")
    assert await tokens.redeem_refresh(fresh, "a") is not None
    assert await left() == {claims(fresh)["jti"]}  # the first redeem pruned
    await plant("older")
    assert await tokens.redeem_refresh(tokens.issue_refresh(local.user, "a", "*"), "a") is not None
    assert "older" in await left()  # not again within the hour
