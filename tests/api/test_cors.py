"""Browsers on another origin (CASEWORK_CORS_ORIGINS, api/cors.py): preflights for every
face and the token endpoints, the headers a script may read, errors included; an origin
that was not allowed, or a gateway with no origins, gets no CORS headers at all."""

from __future__ import annotations

import httpx
import pytest

from api.app import create_app
from settings import Settings
from tests.api.conftest import APP_ORIGIN, Gateway

PATHS = [
    ("GET", "/cases"), ("PUT", "/tasks/c1.review/claim"), ("POST", "/oauth2/token"),
    ("GET", "/api/1.0/workflow/cases"), ("PUT", "/api/1.0/workflow/cases/c1/route-case"), ("POST", "/workflow/oauth2/token"),
    ("GET", "/CaseManager/CASEREST/v1/case/c1/tasks"),
]


def _preflight(method: str, origin: str, headers: str = "authorization, idempotency-key, content-type") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}


@pytest.mark.parametrize("method,path", PATHS)
async def test_a_preflight_from_the_allowed_origin_is_answered(gateway: Gateway, method: str, path: str) -> None:
    resp = await gateway.http.options(path, headers=_preflight(method, APP_ORIGIN))
    assert resp.status_code == 200, resp.text
    assert resp.headers["access-control-allow-origin"] == APP_ORIGIN
    assert method in resp.headers["access-control-allow-methods"]
    allowed = resp.headers["access-control-allow-headers"].lower()
    assert {"authorization", "idempotency-key", "content-type", "casework-consistency"} <= {h.strip() for h in allowed.split(",")}
    assert "access-control-allow-credentials" not in resp.headers  # bearer tokens, never cookies


@pytest.mark.parametrize("method,path", PATHS)
async def test_a_preflight_from_another_origin_is_refused(gateway: Gateway, method: str, path: str) -> None:
    resp = await gateway.http.options(path, headers=_preflight(method, "http://evil.example.test"))
    assert resp.status_code == 400
    assert "access-control-allow-origin" not in resp.headers


async def test_a_script_reads_the_answer_and_its_version_headers(gateway: Gateway) -> None:
    started = await gateway.start()
    resp = await gateway.call("PUT", f"/tasks/{started['caseInstanceId']}.review/claim", "rev1", headers={"Origin": APP_ORIGIN})
    assert resp.status_code == 200, resp.text
    assert resp.headers["access-control-allow-origin"] == APP_ORIGIN
    exposed = {h.strip().lower() for h in resp.headers["access-control-expose-headers"].split(",")}
    assert {"etag", "casework-consistency", "casework-consistency-status", "retry-after"} <= exposed
    assert resp.headers["etag"] and resp.headers["casework-consistency"]


async def test_errors_carry_the_headers_too(gateway: Gateway) -> None:
    """A script learns that its token expired (401) instead of a bare network error."""
    for path in ("/cases", "/api/1.0/workflow/cases", "/CaseManager/CASEREST/v1/case/c1/tasks"):
        resp = await gateway.http.get(path, headers={"Origin": APP_ORIGIN})
        assert resp.status_code == 401
        assert resp.headers["access-control-allow-origin"] == APP_ORIGIN
    other = await gateway.http.get("/cases", headers={"Origin": "http://evil.example.test"})
    assert other.status_code == 401 and "access-control-allow-origin" not in other.headers


async def test_the_token_endpoint_answers_a_browser(gateway: Gateway) -> None:
    resp = await gateway.http.post(
        "/oauth2/token", data={"grant_type": "password", "username": "rev1", "password": "rev1-pw"}, headers={"Origin": APP_ORIGIN}
    )
    assert resp.status_code == 200 and resp.headers["access-control-allow-origin"] == APP_ORIGIN


async def test_no_origins_no_cors(tmp_path) -> None:
    app = create_app(Settings(data_dir=tmp_path))  # CASEWORK_CORS_ORIGINS unset
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        resp = await http.options("/api/1.0/workflow/cases", headers=_preflight("GET", APP_ORIGIN))
        assert resp.status_code == 405 and "access-control-allow-origin" not in resp.headers
        health = await http.get("/health", headers={"Origin": APP_ORIGIN})
        assert health.status_code == 200 and "access-control-allow-origin" not in health.headers


async def test_any_origin_when_the_operator_says_so(tmp_path) -> None:
    app = create_app(Settings(data_dir=tmp_path, cors_origins="*"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        resp = await http.options("/cases", headers=_preflight("GET", "http://anywhere.example.test"))
        assert resp.status_code == 200 and resp.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("bad", ["app.example.com", "https://app.example.com/path", "ftp://x.example.com"])
def test_a_malformed_origin_is_named(bad: str) -> None:
    with pytest.raises(ValueError, match="CASEWORK_CORS_ORIGINS"):
        Settings(cors_origins=f"https://ok.example.com, {bad}")
