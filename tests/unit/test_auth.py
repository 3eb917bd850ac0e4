"""Tokens: local EdDSA tokens, an external OIDC issuer through its JWKS, and the HTTP pieces."""

from __future__ import annotations

import json
import stat
import threading
import time
from datetime import datetime
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from api.auth import TokenService, current_actor, load_or_create_signing_key, mint_token_for, token_router
from api.errors import ApiError
from settings import Settings
from store.directory import Directory, hash_password
from workflows.actor import Actor

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
ISSUER = "https://login.example.test/realms/casework"


def directory_data(hashes: dict[str, str]) -> dict[str, Any]:
    return {
        "groups": [{"id": "managers", "name": "Managers"}, {"id": "clerks", "name": "Clerks"}],
        "users": [
            {
                "id": "u-admin",
                "username": "admin",
                "firstName": "Admin",
                "lastName": "",
                "email": "admin@example.com",
                "password": hashes["admin"],
                "groups": ["managers"],
                "permissions": ["PM_CASES", "PM_ALLCASES"],
                "reportsTo": None,
            },
            {
                "id": "u-alice",
                "username": "alice",
                "firstName": "Alice",
                "lastName": "",
                "email": "alice@example.com",
                "password": hashes["alice"],
                "groups": ["clerks"],
                "permissions": ["PM_CASES"],
                "reportsTo": "u-admin",
            },
        ],
    }


@pytest.fixture(scope="module")
def hashes() -> dict[str, str]:
    return {name: hash_password(f"{name}-pw", hasher=FAST) for name in ("admin", "alice")}


@pytest.fixture
def directory_file(tmp_path: Path, hashes: dict[str, str]) -> Path:
    path = tmp_path / "directory.yaml"
    path.write_text(yaml.safe_dump(directory_data(hashes)), encoding="utf-8")
    return path


@pytest.fixture
def settings(tmp_path: Path, directory_file: Path) -> Settings:
    # data_dir does not exist yet: the key's folder must be created on first use.
    return Settings(data_dir=tmp_path / "data", directory=directory_file, oidc_issuer=None, oidc_jwks_url=None)


@pytest.fixture
def directory(directory_file: Path) -> Directory:
    return Directory.load(directory_file)


@pytest.fixture
def tokens(settings: Settings, directory: Directory) -> TokenService:
    return TokenService(settings, directory)


def rejected(service: TokenService, token: str) -> ApiError:
    with pytest.raises(ApiError) as info:
        service.verify(token)
    error = info.value
    assert error.status == 401
    if token:
        assert token not in str(error) and token not in error.detail
    return error


# --- local tokens --------------------------------------------------------------------------


def test_signing_key_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "new" / "signing-key.pem"
    key = load_or_create_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    again = load_or_create_signing_key(path)
    assert again.public_key().public_bytes_raw() == key.public_key().public_bytes_raw()
    assert [p.name for p in path.parent.iterdir()] == ["signing-key.pem"]  # no temp files left


def test_issue_verify_round_trip(tokens: TokenService, directory: Directory, settings: Settings) -> None:
    alice = directory.by_username("alice")
    assert alice is not None
    token, expires_in = tokens.issue(alice)
    assert expires_in == settings.token_ttl_seconds
    assert settings.signing_key_path.exists()

    actor = tokens.verify(token)
    assert actor == Actor(user_id="u-alice", username="alice", groups=["clerks"], permissions=["PM_CASES"], reports_to="u-admin")

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "EdDSA"
    assert claims["iss"] == "casework" and claims["sub"] == "u-alice" and claims["preferred_username"] == "alice"
    assert claims["exp"] - claims["iat"] == settings.token_ttl_seconds
    assert claims["jti"] and claims["jti"] != jwt.decode(tokens.issue(alice)[0], options={"verify_signature": False})["jti"]

    # Another service over the same data folder (a second replica) accepts it too.
    assert TokenService(settings, directory).verify(token) == actor


def test_directory_changes_take_effect(
    tokens: TokenService, directory: Directory, settings: Settings, hashes: dict[str, str]
) -> None:
    alice = directory.by_username("alice")
    assert alice is not None
    token, _ = tokens.issue(alice)
    data = directory_data(hashes)
    data["users"][1]["groups"] = ["managers"]
    tokens.directory = Directory.parse(data)
    assert tokens.verify(token).groups == ["managers"]
    # A user removed from the directory can no longer use the tokens they hold.
    data["users"].pop(1)
    tokens.directory = Directory.parse(data)
    rejected(tokens, token)


def test_expired_token_rejected(settings: Settings, directory: Directory) -> None:
    alice = directory.by_username("alice")
    assert alice is not None
    two_hours_ago = TokenService(settings, directory, clock=lambda: time.time() - 7200)
    token, _ = two_hours_ago.issue(alice)
    assert rejected(TokenService(settings, directory), token).detail == "The bearer token has expired."


def test_a_token_verified_before_still_expires(
    tokens: TokenService, directory: Directory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway checks a token's signature once, but its expiry on every request."""
    import api.auth

    alice = directory.by_username("alice")
    assert alice is not None
    token, lifetime = tokens.issue(alice)
    assert tokens.verify(token).username == "alice"
    assert tokens.verify(token).username == "alice"
    later = time.time() + lifetime + api.auth.LEEWAY_SECONDS + 1

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> "Later":
            return cls.fromtimestamp(later, tz)

    # the clock moves on for PyJWT and for the gateway's memory of verified tokens alike
    monkeypatch.setattr(jwt.api_jwt, "datetime", Later)
    monkeypatch.setattr(api.auth, "_wall_clock", lambda: later)
    assert rejected(tokens, token).detail == "The bearer token has expired."
    assert rejected(tokens, token).detail == "The bearer token has expired."


def test_a_refresh_token_is_never_a_bearer_token(tokens: TokenService, directory: Directory) -> None:
    alice = directory.by_username("alice")
    assert alice is not None
    refresh = tokens.issue_refresh(alice, "casework", "*")
    assert rejected(tokens, refresh).detail == "The bearer token is invalid."
    assert rejected(tokens, refresh).detail == "The bearer token is invalid."


def test_tampered_token_rejected(tokens: TokenService, directory: Directory) -> None:
    alice = directory.by_username("alice")
    assert alice is not None
    token, _ = tokens.issue(alice)
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["sub"] = "u-admin"
    forged_payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    rejected(tokens, f"{header}.{forged_payload}.{signature}")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    rejected(tokens, f"{header}.{payload}.{flipped}")


def test_token_signed_by_another_key_rejected(tmp_path: Path, tokens: TokenService, directory: Directory) -> None:
    alice = directory.by_username("alice")
    assert alice is not None
    other = TokenService(Settings(data_dir=tmp_path / "elsewhere"), directory)
    token, _ = other.issue(alice)
    rejected(tokens, token)


def test_other_forgeries_rejected(tokens: TokenService, settings: Settings) -> None:
    key = load_or_create_signing_key(settings.signing_key_path)
    now = int(time.time())
    good = {"iss": "casework", "sub": "u-alice", "iat": now, "exp": now + 600}
    rejected(tokens, jwt.encode({**good, "iss": "someone-else"}, key, algorithm="EdDSA"))
    rejected(tokens, jwt.encode({**good, "sub": "u-ghost"}, key, algorithm="EdDSA"))
    rejected(tokens, jwt.encode({k: v for k, v in good.items() if k != "exp"}, key, algorithm="EdDSA"))
    rejected(tokens, jwt.encode(good, None, algorithm="none"))  # type: ignore[arg-type]
    rejected(tokens, jwt.encode(good, "a shared secret of thirty-two bytes!", algorithm="HS256"))
    rejected(tokens, "not-a-jwt")
    rejected(tokens, "")


def test_mint_token_for(settings: Settings, directory: Directory) -> None:
    token = mint_token_for(settings, "admin")
    assert TokenService(settings, directory).verify(token).user_id == "u-admin"
    with pytest.raises(LookupError):
        mint_token_for(settings, "nobody")


# --- an external OIDC issuer ---------------------------------------------------------------


class Issuer:
    """Keys of a pretend identity provider, and its JWKS served over local HTTP."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        rsa_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key(), as_dict=True)
        ec_jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key(), as_dict=True)
        self.jwks = {
            "keys": [
                {**rsa_jwk, "kid": "rsa-1", "use": "sig", "alg": "RS256"},
                {**ec_jwk, "kid": "ec-1", "use": "sig", "alg": "ES256"},
            ]
        }
        self.url = ""

    def token(self, claims: dict[str, Any], *, key: Any = None, kid: str = "rsa-1", alg: str = "RS256") -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "iat": now, "exp": now + 300, "aud": "account", **claims}
        return jwt.encode(body, key or self.rsa, algorithm=alg, headers={"kid": kid})


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    idp = Issuer()
    payload = json.dumps(idp.jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    idp.url = f"http://127.0.0.1:{server.server_address[1]}/realms/casework/certs"
    try:
        yield idp
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def oidc_tokens(
    issuer: Issuer, tmp_path: Path, directory: Directory, monkeypatch: pytest.MonkeyPatch
) -> TokenService:
    # A proxy from the environment must not swallow the request to our local issuer.
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(data_dir=tmp_path / "data", oidc_issuer=ISSUER, oidc_jwks_url=issuer.url)
    return TokenService(settings, directory)


def test_oidc_token_maps_to_directory_user(issuer: Issuer, oidc_tokens: TokenService) -> None:
    token = issuer.token({"sub": "f81d4fae-7dec", "preferred_username": "alice", "groups": ["ignored"]})
    assert oidc_tokens.verify(token) == Actor(
        user_id="u-alice", username="alice", groups=["clerks"], permissions=["PM_CASES"], reports_to="u-admin"
    )
    # By sub, when the issuer's subject is the directory id.
    assert oidc_tokens.verify(issuer.token({"sub": "u-admin"})).user_id == "u-admin"


def test_oidc_token_of_unknown_user_uses_claims(issuer: Issuer, oidc_tokens: TokenService) -> None:
    token = issuer.token(
        {"sub": "ext-7", "preferred_username": "carol", "groups": ["clerks", 3], "permissions": ["PM_CASES"]},
        key=issuer.ec,
        kid="ec-1",
        alg="ES256",
    )
    assert oidc_tokens.verify(token) == Actor(
        user_id="ext-7", username="carol", groups=["clerks"], permissions=["PM_CASES"]
    )


def test_oidc_token_with_wrong_key_rejected(issuer: Issuer, oidc_tokens: TokenService) -> None:
    intruder = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rejected(oidc_tokens, issuer.token({"sub": "u-admin"}, key=intruder))
    rejected(oidc_tokens, issuer.token({"sub": "u-admin"}, key=intruder, kid="unknown-kid"))
    # Expired, and with no subject at all.
    rejected(oidc_tokens, issuer.token({"sub": "u-admin", "exp": int(time.time()) - 3600}))
    rejected(oidc_tokens, issuer.token({"preferred_username": "nobody"}))


def test_oidc_unreachable_jwks_rejects(tmp_path: Path, issuer: Issuer, directory: Directory) -> None:
    settings = Settings(data_dir=tmp_path / "d", oidc_issuer=ISSUER, oidc_jwks_url="http://127.0.0.1:9/certs")
    rejected(TokenService(settings, directory), issuer.token({"sub": "u-admin"}))


def test_local_tokens_still_work_with_oidc(oidc_tokens: TokenService, directory: Directory) -> None:
    admin = directory.by_username("admin")
    assert admin is not None
    token, _ = oidc_tokens.issue(admin)
    assert oidc_tokens.verify(token).user_id == "u-admin"


# --- HTTP: the token endpoint and the dependency ---------------------------------------------


@pytest.fixture
async def client(settings: Settings, directory: Directory) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.tokens = TokenService(settings, directory)
    app.state.directory = directory

    @app.exception_handler(ApiError)
    async def problem(_: Request, exc: ApiError) -> JSONResponse:
        body = {"type": exc.type, "title": exc.title, "status": exc.status, "detail": exc.detail}
        return JSONResponse(body, status_code=exc.status, headers=exc.headers, media_type="application/problem+json")

    app.include_router(token_router)

    @app.get("/me")
    async def me(actor: Actor = Depends(current_actor)) -> Actor:
        return actor

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


async def test_password_grant_and_bearer(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.post(
        "/oauth2/token", data={"grant_type": "password", "username": "alice", "password": "alice-pw"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == settings.token_ttl_seconds
    assert response.headers["cache-control"] == "no-store"

    me = await client.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["user_id"] == "u-alice"
    # The scheme is case-insensitive (RFC 7235).
    me = await client.get("/me", headers={"Authorization": f"bearer {body['access_token']}"})
    assert me.status_code == 200


async def test_bad_credentials_are_invalid_grant(client: httpx.AsyncClient) -> None:
    for username, password in (("alice", "wrong-password-xyz"), ("nobody-zzz", "alice-pw")):
        response = await client.post(
            "/oauth2/token", data={"grant_type": "password", "username": username, "password": password}
        )
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"
        assert password not in response.text and username not in response.text


async def test_other_grant_types_and_missing_fields(client: httpx.AsyncClient) -> None:
    response = await client.post("/oauth2/token", data={"grant_type": "client_credentials", "client_id": "x"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert "client_credentials" not in response.text
    response = await client.post("/oauth2/token", data={"grant_type": "password", "username": "alice"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    response = await client.post("/oauth2/token", data={})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


async def test_missing_and_garbage_tokens_are_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"

    garbage = "eyJhbGciOiJFZERTQSJ9.Z2FyYmFnZS10b2tlbi1zZW50aW5lbA.c2ln"
    response = await client.get("/me", headers={"Authorization": f"Bearer {garbage}"})
    assert response.status_code == 401
    assert garbage not in response.text and "Z2FyYmFnZS" not in response.text

    for header in ("Basic YWxpY2U6YWxpY2UtcHc=", "Bearer", "Bearer sentinel-a sentinel-b", "sentinel-value-123"):
        response = await client.get("/me", headers={"Authorization": header})
        assert response.status_code == 401
        assert "YWxpY2U6" not in response.text and "sentinel" not in response.text


async def test_openapi_documents_the_token_endpoint(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/oauth2/token"]["post"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/TokenResponse")
    assert operation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/OAuth2ErrorResponse"
    )
    assert "application/x-www-form-urlencoded" in operation["requestBody"]["content"]
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("flows", {}).get("password", {}).get("tokenUrl") == "/oauth2/token" for s in schemes.values())
