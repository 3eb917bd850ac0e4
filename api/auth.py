"""Authentication: bearer JWTs, the local token endpoint, and the `current_actor` dependency.

Local tokens are EdDSA (Ed25519) JWTs signed with a key kept in the data folder. When an
external OIDC issuer is configured, its tokens are verified through its JWKS instead. Either
way the result is an `Actor`, which travels with every command to the workflow.

Failures raise `api.errors.unauthorized` with fixed messages: nothing from the request (the
token, a header, a username) is ever echoed back.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import tempfile
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import anyio.to_thread
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import APIRouter, Form, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from api.errors import unauthorized
from settings import Settings
from store import refresh_tokens
from store.db import Database
from store.directory import Directory, DirectoryUser
from workflows.actor import Actor

log = logging.getLogger(__name__)

ISSUER = "casework"
LOCAL_ALGORITHM = "EdDSA"
# What an external issuer may sign with. Never HS*: a public key must not double as an
# HMAC secret (the classic algorithm-confusion attack).
OIDC_ALGORITHMS = ["RS256", "ES256", "EdDSA"]
# The `typ` claim of refresh tokens; access tokens have none.
REFRESH_TYPE = "refresh"
# Tolerated clock difference between replicas (and the external issuer), in seconds.
LEEWAY_SECONDS = 10
# Used refresh tokens and revoked families are pruned at most this often per gateway, and
# only this long after every token they stand for has expired (well beyond LEEWAY_SECONDS,
# so no replica whose clock lags still accepts such a token).
PRUNE_INTERVAL_SECONDS = 3600
PRUNE_GRACE_SECONDS = 3600
# Local access tokens verified lately, kept by a hash of the token (never the token itself)
# with their subject and expiry: a client sends one token with many requests, and checking
# its Ed25519 signature each time was about a twentieth of an action's CPU in the gateway.
VERIFIED_TOKENS = 10_000
# The clock PyJWT checks expiry with; the verified tokens' expiry is checked with it too.
_wall_clock = time.time
# Longest `jti` or `family` claim accepted (the columns of store.tables hold 64).
MAX_TOKEN_ID = 64

INVALID_TOKEN = "The bearer token is invalid."
EXPIRED_TOKEN = "The bearer token has expired."
MISSING_TOKEN = "A valid bearer token is required."
MALFORMED_HEADER = "The Authorization header must have the form 'Bearer <token>'."


# --- the signing key -------------------------------------------------------------------


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in `path` (PEM), created with mode 0600 when missing.

    Creation is atomic and exclusive (write a private temp file, then hard-link it into
    place), so a gateway and the launcher starting together end up with one key, and
    neither ever reads a half-written file.
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # mkstemp creates the file with mode 0600 from the start: no window where the
        # key is readable by others.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process won the race; use its key
        finally:
            os.unlink(tmp)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


# --- tokens ------------------------------------------------------------------------------


def _string_list(value: Any) -> list[str]:
    """A claim that should be a list of strings; anything else counts as empty."""
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


class RedeemedRefresh(NamedTuple):
    """What an accepted refresh token was issued for, and the family its successor joins."""

    user: DirectoryUser
    scope: str
    family: str


class TokenService:
    """Issues local tokens and turns any accepted bearer token into an `Actor`.

    `db` is where refresh tokens are rotated (store/refresh_tokens.py); only the refresh
    grant needs it.
    """

    def __init__(
        self,
        settings: Settings,
        directory: Directory,
        *,
        db: Database | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        # Public so a reloaded directory can be swapped in; verify() reads it every time.
        self.directory = directory
        self._db = db
        self._clock = clock
        self._next_prune = 0.0
        self._jwks: jwt.PyJWKClient | None = None
        self._verified: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        if settings.oidc_issuer and settings.oidc_jwks_url:
            # The JWK set is cached for 5 minutes; an unknown `kid` forces at most one
            # refetch per 30 s, so junk tokens cannot make us hammer the issuer.
            self._jwks = jwt.PyJWKClient(settings.oidc_jwks_url, cache_jwk_set=True, lifespan=300, timeout=10)

    @cached_property
    def _private_key(self) -> Ed25519PrivateKey:
        # Created on first use, so a gateway that only trusts an external issuer and never
        # issues or sees a local token never writes a key.
        return load_or_create_signing_key(self.settings.signing_key_path)

    @cached_property
    def _public_key(self) -> Ed25519PublicKey:
        return self._private_key.public_key()

    def issue(self, user: DirectoryUser) -> tuple[str, int]:
        """A signed access token for `user`, and its lifetime in seconds."""
        ttl = self.settings.token_ttl_seconds
        now = int(self._clock())
        claims = {
            "iss": ISSUER,
            "sub": user.id,
            "preferred_username": user.username,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._private_key, algorithm=LOCAL_ALGORITHM), ttl

    # --- refresh tokens (the ProcessMaker face's token endpoint) --------------------------
    #
    # Signed JWTs like access tokens, told apart by `typ`, bound to the user and the OAuth2
    # client they were issued to. Rotation is enforced: each may be exchanged once (its `jti`
    # is recorded in the database, shared by every replica), and exchanging one twice revokes
    # its `family`, the chain of tokens rotated from one password grant, named by the first
    # token's `jti` (reuse detection, RFC 6749 section 10.4).

    def issue_refresh(self, user: DirectoryUser, client_id: str, scope: str, family: str | None = None) -> str:
        """A refresh token; a rotation passes the `family` of the token it replaces."""
        now = int(self._clock())
        jti = uuid.uuid4().hex
        claims = {
            "iss": ISSUER,
            "sub": user.id,
            "typ": REFRESH_TYPE,
            "client_id": client_id,
            "scope": scope,
            "iat": now,
            "exp": now + self.settings.refresh_token_ttl_seconds,
            "jti": jti,
            "family": family or jti,
        }
        return jwt.encode(claims, self._private_key, algorithm=LOCAL_ALGORITHM)

    async def redeem_refresh(self, token: str, client_id: str) -> RedeemedRefresh | None:
        """What a refresh token was issued for, when it is valid, unexpired, issued to
        `client_id`, its user is still in the directory, it was never redeemed before and
        its family is not revoked; None otherwise. Redeeming uses the token up."""
        try:
            claims = self._decode_local(token, "typ", "jti")
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            log.info("rejected a refresh token: %s", type(exc).__name__)
            return None
        if claims.get("typ") != REFRESH_TYPE or not hmac.compare_digest(str(claims.get("client_id", "")), client_id):
            log.info("rejected a refresh token: not a refresh token of this client")
            return None
        jti = claims["jti"]
        # Tokens issued before families existed start their own.
        family = claims.get("family", jti)
        if not all(isinstance(v, str) and 0 < len(v) <= MAX_TOKEN_ID for v in (jti, family)):
            log.info("rejected a refresh token: its jti or family is malformed")
            return None
        user = self.directory.by_id(claims["sub"])
        if user is None:
            log.info("rejected a refresh token: its user is not in the directory")
            return None
        db = self._refresh_db()
        now = self._clock()
        await self._prune_now_and_then(db, now)
        outcome = await refresh_tokens.redeem(db, jti, family, user.id, expires_at=_utc(claims["exp"]), now=_utc(now))
        if outcome is refresh_tokens.Redemption.REUSED:
            log.warning("a refresh token of user %s was redeemed twice; its family is revoked", user.id)
            return None
        if outcome is refresh_tokens.Redemption.REVOKED:
            log.info("rejected a refresh token: its family is revoked")
            return None
        scope = claims.get("scope")
        return RedeemedRefresh(user, scope if isinstance(scope, str) else "", family)

    def _refresh_db(self) -> Database:
        if self._db is None:
            raise RuntimeError("redeeming refresh tokens needs the TokenService to be given the database")
        return self._db

    async def _prune_now_and_then(self, db: Database, now: float) -> None:
        """Delete rows no token needs any more, at most every PRUNE_INTERVAL_SECONDS.

        A used token's row may go once the token has expired; a revoked family's once every
        token of it has: none is issued after the revocation, so a refresh lifetime later.
        (A family revoked just before the lifetime is shortened keeps that guarantee only
        for the new lifetime; tokens issued under the old one may outlive its row.)
        """
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_INTERVAL_SECONDS
        horizon = now - PRUNE_GRACE_SECONDS
        try:
            pruned = await refresh_tokens.prune(
                db, _utc(horizon), revoked_before=_utc(horizon - self.settings.refresh_token_ttl_seconds)
            )
        except SQLAlchemyError:
            # Pruning is housekeeping: the redeem itself must not fail for it.
            log.warning("could not prune used refresh tokens", exc_info=True)
            return
        if pruned:
            log.info("pruned %d used refresh tokens and revoked families", pruned)

    def client_ok(self, client_id: str | None, client_secret: str | None) -> bool:
        """Whether the OAuth2 client is one of `pm_clients` and its secret matches
        (compared in constant time; an unknown client costs the same comparison)."""
        clients = self.settings.pm_clients
        expected = clients.get(client_id or "")
        ok = hmac.compare_digest((client_secret or "").encode(), (expected or "\0").encode())
        return expected is not None and ok

    def _is_oidc(self, token: str) -> bool:
        if self._jwks is None:
            return False
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False  # the local path rejects it with the usual message
        return claims.get("iss") == self.settings.oidc_issuer

    def verify(self, token: str) -> Actor:
        """The actor a token stands for; raises `unauthorized` for anything else.

        May fetch the external issuer's JWKS (blocking I/O): from async code use
        `authenticate`.
        """
        try:
            if self._is_oidc(token):
                return self._verify_oidc(token)
            return self._verify_local(token)
        except jwt.ExpiredSignatureError:
            raise unauthorized(EXPIRED_TOKEN) from None
        except jwt.PyJWKClientConnectionError:
            # Our problem, not the caller's: worth a warning. The caller still gets a 401.
            log.warning("cannot fetch the JWKS of the OIDC issuer from %s", self.settings.oidc_jwks_url)
            raise unauthorized(INVALID_TOKEN) from None
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            # The reason goes to the log (never the token); the client gets a fixed text.
            log.info("rejected a bearer token: %s", type(exc).__name__)
            raise unauthorized(INVALID_TOKEN) from None

    async def authenticate(self, token: str) -> Actor:
        """`verify` for async callers: local tokens inline (a signature check is cheap),
        external ones in a thread because the JWKS may have to be fetched."""
        if self._is_oidc(token):
            return await anyio.to_thread.run_sync(self.verify, token)
        return self.verify(token)

    def _decode_local(self, token: str, *required: str) -> dict[str, Any]:
        """The claims of a token this gateway signed; raises jwt errors when it is not one."""
        return jwt.decode(
            token,
            self._public_key,
            algorithms=[LOCAL_ALGORITHM],
            issuer=ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "sub", "exp", "iat", *required]},
        )

    def _verify_local(self, token: str) -> Actor:
        # Groups and permissions come from the directory now, not from the token, so a
        # change to the directory takes effect without waiting for tokens to expire.
        user = self.directory.by_id(self._local_subject(token))
        if user is None:
            log.info("rejected a bearer token: its user is not in the directory")
            raise unauthorized(INVALID_TOKEN)
        return user.to_actor()

    def _local_subject(self, token: str) -> str:
        """The subject of a valid local access token: its signature checked once, its expiry
        every time (against the clock PyJWT checks it with)."""
        key = hashlib.sha256(token.encode()).digest()
        known = self._verified.get(key)
        if known is not None:
            subject, expires = known
            if _wall_clock() < expires + LEEWAY_SECONDS:
                self._verified.move_to_end(key)
                return subject
            del self._verified[key]
            raise jwt.ExpiredSignatureError("expired")
        claims = self._decode_local(token)
        if claims.get("typ") == REFRESH_TYPE:
            # A refresh token is only ever exchanged at the token endpoint, never a bearer.
            raise jwt.InvalidTokenError("a refresh token used as a bearer token")
        subject = str(claims["sub"])
        self._verified[key] = (subject, float(claims["exp"]))
        if len(self._verified) > VERIFIED_TOKENS:
            self._verified.popitem(last=False)
        return subject

    def _verify_oidc(self, token: str) -> Actor:
        assert self._jwks is not None
        signing_key = self._jwks.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=OIDC_ALGORITHMS,
            issuer=self.settings.oidc_issuer,
            leeway=LEEWAY_SECONDS,
            # The issuer's tokens are minted for many audiences; trusting the issuer is the
            # configuration, so the audience is not checked.
            options={"require": ["iss", "exp"], "verify_aud": False},
        )
        sub = claims.get("sub")
        username = claims.get("preferred_username")
        # A user the directory knows gets the directory's groups and permissions.
        for name in (username, sub):
            if isinstance(name, str) and name and (user := self.directory.find(name)) is not None:
                return user.to_actor()
        if not isinstance(sub, str) or not sub:
            log.info("rejected an external token without a subject")
            raise unauthorized(INVALID_TOKEN)
        return Actor(
            user_id=sub,
            username=username if isinstance(username, str) else "",
            groups=_string_list(claims.get("groups")),
            permissions=_string_list(claims.get("permissions")),
        )


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def mint_token_for(settings: Settings, username: str) -> str:
    """A token for a directory user (by username or id): what `make run` prints to try."""
    directory = Directory.load(settings.directory)
    user = directory.find(username)
    if user is None:
        raise LookupError(f"no user {username!r} in {settings.directory}")
    token, _ = TokenService(settings, directory).issue(user)
    return token


# --- FastAPI: the dependency ---------------------------------------------------------------

# Declared for OpenAPI only (the /docs "Authorize" button uses the password grant below);
# the header is parsed by `current_actor` itself so that every failure has our messages.
bearer_scheme = OAuth2PasswordBearer(tokenUrl="/oauth2/token", auto_error=False)


def _tokens(request: Request) -> TokenService:
    tokens = getattr(request.app.state, "tokens", None)
    if not isinstance(tokens, TokenService):
        raise RuntimeError("app.state.tokens must be set to a TokenService by the app factory")
    return tokens


async def current_actor(
    request: Request,
    _scheme: Annotated[str | None, Security(bearer_scheme)] = None,
) -> Actor:
    """The authenticated caller, from `Authorization: Bearer <token>`; 401 otherwise."""
    header = request.headers.get("authorization")
    if not header:
        raise unauthorized(MISSING_TOKEN)
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise unauthorized(MALFORMED_HEADER)
    return await _tokens(request).authenticate(token)


# --- FastAPI: the token endpoint (OAuth2 password grant, RFC 6749 section 4.3) ------------


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Lifetime of the token, in seconds.")


OAuth2ErrorCode = Literal["invalid_request", "unsupported_grant_type", "invalid_grant"]


class OAuth2ErrorResponse(BaseModel):
    error: OAuth2ErrorCode
    error_description: str


# RFC 6749 section 5.1: responses carrying tokens (or about credentials) must not be cached.
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

token_router = APIRouter(tags=["auth"])


def _oauth2_error(error: OAuth2ErrorCode, description: str) -> JSONResponse:
    body = OAuth2ErrorResponse(error=error, error_description=description)
    return JSONResponse(body.model_dump(), status_code=400, headers=_NO_STORE)


@token_router.post(
    "/oauth2/token",
    response_model=TokenResponse,
    responses={400: {"model": OAuth2ErrorResponse, "description": "An OAuth2 error (RFC 6749 section 5.2)."}},
    summary="Get an access token (OAuth2 password grant)",
)
async def issue_token(
    request: Request,
    # All optional here so that a missing field is an OAuth2 `invalid_request`, not a 422.
    grant_type: Annotated[str | None, Form()] = None,
    username: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form()] = None,
    # Sent by OAuth2 clients (ProcessMaker's among them); accepted and not needed.
    scope: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
) -> TokenResponse | JSONResponse:
    if not grant_type:
        return _oauth2_error("invalid_request", "The grant_type parameter is required.")
    if grant_type != "password":
        return _oauth2_error("unsupported_grant_type", "Only the password grant is supported.")
    if not username or not password:
        return _oauth2_error("invalid_request", "The username and password parameters are required.")
    tokens = _tokens(request)
    # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
    user = await anyio.to_thread.run_sync(tokens.directory.authenticate, username, password)
    if user is None:
        return _oauth2_error("invalid_grant", "The username or password is incorrect.")
    token, expires_in = tokens.issue(user)
    return JSONResponse(
        TokenResponse(access_token=token, expires_in=expires_in).model_dump(),
        headers=_NO_STORE,
    )
