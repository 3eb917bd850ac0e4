"""Cross-origin requests from browsers (`CASEWORK_CORS_ORIGINS`): which pages may call the
gateway, for every face and the token endpoints, and which answer headers their scripts may
read. Unset, no origin may: a browser then refuses the page's calls, as it should for a
server that never said otherwise.

Starlette's CORSMiddleware does the protocol (preflights, `Vary: Origin`); it wraps every
other layer, so a preflight never meets the token check or the body limit, and an error
answer carries the same headers as a success (a script can read its status and message).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from api.consistency import HEADER, STATUS_HEADER
from settings import cors_origins

# What a script may send: the bearer token, bodies, and the gateway's own request headers.
ALLOWED_HEADERS = ["Authorization", "Content-Type", "Accept", "Idempotency-Key", HEADER, "If-Match", "If-None-Match",
                   "Last-Event-ID"]
# What it may read besides the simple headers: versions, consistency, retry advice.
EXPOSED_HEADERS = ["ETag", HEADER, STATUS_HEADER, "Retry-After", "Location", "WWW-Authenticate"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
# How long a browser may keep a preflight's answer (seconds).
MAX_AGE = 600


def allow_origins(app: FastAPI, setting: str) -> None:
    allowed = cors_origins(setting)
    if not allowed:
        return
    # Tokens travel in the Authorization header, never in cookies: no credentials mode, so
    # `*` is a valid choice too.
    app.add_middleware(
        CORSMiddleware, allow_origins=allowed, allow_methods=METHODS, allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS, allow_credentials=False, max_age=MAX_AGE,
    )
