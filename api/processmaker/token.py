"""The ProcessMaker face's token endpoint: `POST /{workspace}/oauth2/token` (not under
/api/1.0), as ProcessMaker 3 clients call it.

- `grant_type=password` with `client_id`, `client_secret`, `username`, `password`, `scope`
- `grant_type=refresh_token` with `refresh_token`, `client_id`, `client_secret`

The body is JSON (what the seed's JavaScript and PHP clients send) or form-encoded; the client
may also authenticate with HTTP Basic (RFC 6749 section 2.3.1). Answers are RFC 6749's:
`{access_token, expires_in, token_type, scope, refresh_token}`, and errors
`{"error", "error_description"}` (section 5.2), which ProcessMaker clients parse. No answer
echoes a password, a secret or a token.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Literal
from urllib.parse import unquote

import anyio.to_thread
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth import TokenService
from api.errors import ApiError
from api.processmaker.common import pm_error, render

router = APIRouter(tags=["processmaker"])

# RFC 6749 section 5.1: responses carrying tokens must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_BODY = 64 * 1024
DEFAULT_SCOPE = "*"

OAuth2Error = Literal["invalid_request", "invalid_client", "invalid_grant", "unsupported_grant_type", "server_error"]


class PmTokenResponse(BaseModel):
    access_token: str
    expires_in: int = Field(description="Lifetime of the access token, in seconds.")
    token_type: Literal["bearer"] = "bearer"
    scope: str
    refresh_token: str


class PmTokenError(BaseModel):
    error: OAuth2Error
    error_description: str


def oauth_error(error: OAuth2Error, description: str, status: int = 400) -> JSONResponse:
    headers = dict(NO_STORE)
    if error == "invalid_client":
        headers["WWW-Authenticate"] = 'Basic realm="casework"'
    return JSONResponse(PmTokenError(error=error, error_description=description).model_dump(), status_code=status, headers=headers)


def render_oauth(exc: ApiError) -> JSONResponse:
    """Errors that escape the endpoint (a bug, an unreadable body) in the OAuth2 shape."""
    if exc.status >= 500:
        return oauth_error("server_error", "The token endpoint failed; try again.", exc.status)
    return oauth_error("invalid_request", "The request is not valid.", 400)


def envelope_prefix(workspace: str) -> str:
    return f"/{workspace}/oauth2/"


async def _parameters(request: Request) -> dict[str, str] | None:
    """The body's parameters (JSON object or form), strings only; None when unreadable."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return None
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    values: Any
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values = dict(await request.form())
    elif not raw.strip():
        values = {}
    else:
        try:
            values = json.loads(raw)
        except ValueError:
            return None
    if not isinstance(values, dict):
        return None
    return {k: v for k, v in values.items() if isinstance(k, str) and isinstance(v, str)}


def _basic_client(request: Request) -> tuple[str, str] | None:
    """Client credentials from `Authorization: Basic` (RFC 6749 section 2.3.1), if sent."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote(client_id), unquote(secret)) if sep else None


@router.post(
    "/{workspace}/oauth2/token",
    response_model=PmTokenResponse,
    responses={
        400: {"model": PmTokenError, "description": "An OAuth2 error (RFC 6749 section 5.2)."},
        401: {"model": PmTokenError, "description": "Unknown client or wrong client secret."},
    },
    summary="Get an access token and a refresh token (ProcessMaker's OAuth2 endpoint)",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"type": "object", "properties": {
                    k: {"type": "string"} for k in
                    ("grant_type", "client_id", "client_secret", "username", "password", "scope", "refresh_token")
                }}},
                "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
            }
        }
    },
)
async def pm_token(request: Request, workspace: Annotated[str, Path(description="the ProcessMaker workspace")]) -> JSONResponse:
    # Any other workspace, however long, gets the one answer (no length rule of its own: a
    # validation error here would answer in the native envelope, not ProcessMaker's).
    if workspace != request.app.state.settings.pm_workspace:
        return render(pm_error(404, "The workspace does not exist."))
    tokens: TokenService = request.app.state.tokens
    params = await _parameters(request)
    if params is None:
        return oauth_error("invalid_request", "The body must be a JSON object or a form of string parameters.")
    client_id, client_secret = params.get("client_id"), params.get("client_secret")
    basic = _basic_client(request)
    if basic is not None:
        client_id, client_secret = basic
    if not client_id:
        return oauth_error("invalid_client", "The client_id parameter is required.", 401)
    if not tokens.client_ok(client_id, client_secret):
        return oauth_error("invalid_client", "The client is unknown or its secret is wrong.", 401)
    grant_type = params.get("grant_type")
    if not grant_type:
        return oauth_error("invalid_request", "The grant_type parameter is required.")
    if grant_type == "password":
        username, password = params.get("username"), params.get("password")
        if not username or not password:
            return oauth_error("invalid_request", "The username and password parameters are required.")
        # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
        user = await anyio.to_thread.run_sync(tokens.directory.authenticate, username, password)
        if user is None:
            return oauth_error("invalid_grant", "The username or password is incorrect.")
        scope = params.get("scope") or DEFAULT_SCOPE
        family: str | None = None  # a password grant starts a new family of refresh tokens
    elif grant_type == "refresh_token":
        refresh = params.get("refresh_token")
        if not refresh:
            return oauth_error("invalid_request", "The refresh_token parameter is required.")
        redeemed = await tokens.redeem_refresh(refresh, client_id)
        if redeemed is None:
            return oauth_error(
                "invalid_grant", "The refresh token is invalid, expired, already used, or was issued to another client."
            )
        user, scope, family = redeemed
        scope = scope or DEFAULT_SCOPE
    else:
        return oauth_error("unsupported_grant_type", "Only the password and refresh_token grants are supported.")
    access, expires_in = tokens.issue(user)
    answer = PmTokenResponse(
        access_token=access,
        expires_in=expires_in,
        scope=scope,
        refresh_token=tokens.issue_refresh(user, client_id, scope, family),
    )
    return JSONResponse(answer.model_dump(), headers=NO_STORE)
