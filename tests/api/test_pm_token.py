"""The ProcessMaker face's token endpoint, `POST /{workspace}/oauth2/token`: password and
refresh grants, JSON and form bodies, client checks, and OAuth2 errors (RFC 6749 5.2)."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
import yaml

from api.auth import TokenService
from settings import Settings
from store.directory import Directory, hash_password
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


async def test_refresh_tokens_are_bound_to_their_client(tmp_path: Path) -> None:
    (tmp_path / "directory.yaml").write_text(yaml.safe_dump({"users": [
        {"id": "u1", "username": "ann", "password": hash_password("pw")},
    ]}))
    directory = Directory.load(tmp_path / "directory.yaml")
    settings = Settings(data_dir=tmp_path, directory=tmp_path / "directory.yaml", pm_clients={"a": "sa", "b": "sb"})
    tokens = TokenService(settings, directory)
    user = directory.find("ann")
    assert user is not None
    refresh = tokens.issue_refresh(user, "a", "*")
    assert tokens.redeem_refresh(refresh, "a") == (user, "*")
    assert tokens.redeem_refresh(refresh, "b") is None
    assert tokens.client_ok("a", "sa") and tokens.client_ok("b", "sb")
    assert not tokens.client_ok("a", "sb") and not tokens.client_ok("c", "") and not tokens.client_ok(None, None)
    # a user removed from the directory can no longer refresh
    tokens.directory = Directory.parse({"users": []})
    assert tokens.redeem_refresh(refresh, "a") is None
    # nor can anyone once the refresh token has expired (issued a refresh lifetime ago)
    tokens.directory = directory
    ago = TokenService(settings, directory, clock=lambda: time.time() - settings.refresh_token_ttl_seconds - 60)
    assert tokens.redeem_refresh(ago.issue_refresh(user, "a", "*"), "a") is None
