"""The gateway's app factory: wiring, error rendering, start-up deploys.

`uvicorn api.app:create_app --factory` runs it; tests build it with their own settings.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi_swagger import patch_fastapi
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api import events, health, ibm, metrics, native, subscriptions
from api.events import EventHub
from api.consistency import ActionHeaders
from api.request_ids import RequestIds
from api.cors import allow_origins
from api.openapi import document_errors
from api.processmaker.forms import FormBodies
from api.limits import BodyLimit
from api.processmaker import case_actions as pm_case_actions
from api.processmaker import case_reads as pm_case_reads
from api.processmaker import lists as pm_lists
from api.processmaker import token as pm_token
from api.auth import TokenService, token_router
from api.errors import ApiError, register_envelope, render, title
from api.service import CaseService, definition_files
import gc_tuning
import log_setup
import tracing
from settings import Settings, get_settings
from store.db import Database
from store.directory import Directory

log = logging.getLogger("casework.gateway")
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str = "", *, type_: str = "about:blank", extra: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


DESCRIPTION = """Durable case management on Temporal. One core, three faces:

- **the native API** (in the style of CaseFabric): `/cases`, `/tasks`, `/definitions`, with
  RFC 9457 problem details for errors;
- **the ProcessMaker 3 Cases API**: `/api/1.0/{workspace}/...` and `/{workspace}/oauth2/token`,
  with ProcessMaker's error envelope;
- **the IBM Case Manager CASEREST tasks API**: `/CaseManager/CASEREST/v1/...`, with IBM's error envelope.

Every request but the token endpoints, `/health`, `/ready` and `/metrics` needs
`Authorization: Bearer <token>` (the local token endpoint: `POST /oauth2/token`, the
password grant). Actions accept `Idempotency-Key`; their answers carry `ETag` and
`Casework-Consistency`, which lists accept back to wait for the read model."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The gateway. Without `settings` (uvicorn's factory: a process of its own) it reads
    them from the environment and sets up the process's logs."""
    if settings is None:
        settings = get_settings()
        log_setup.configure("gateway", settings.log_format)
        tracing.configure("gateway", settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.read_model_url)
        await db.init()
        directory = Directory.load(settings.directory)
        client = await Client.connect(
            settings.temporal_target, namespace=settings.namespace, data_converter=pydantic_data_converter,
            interceptors=tracing.client_interceptors(),
        )
        svc = CaseService(settings, client, db, directory)
        app.state.settings = settings
        app.state.directory = directory
        app.state.tokens = TokenService(settings, directory, db=db)
        app.state.service = svc
        app.state.events = EventHub(db, settings.events_poll_seconds)
        if settings.definitions.is_dir():
            for line in await svc.deploy_files(definition_files(settings.definitions)):
                log.info("definition %s", line)
        gc_tuning.settle()
        try:
            yield
        finally:
            await svc.settle()
            await app.state.events.close()
            await db.close()
            gc_tuning.release()
            tracing.shutdown()
            log.info("gateway stopped: its requests answered, its read-model writes done")

    app = FastAPI(
        title="Casework",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # Served by the gateway itself (below), so /docs works without internet; no ReDoc,
        # which only loads from a CDN.
        docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
    )
    patch_fastapi(app, docs_url="/docs")

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return render(request.url.path, exc) or problem(exc.status, exc.title, exc.detail, type_=exc.type, extra=exc.extra, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo what was sent: an input may be a header value or a credential.
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        invalid = ApiError(422, "Unprocessable Content", "the request is not valid", extra={"errors": errors})
        return render(request.url.path, invalid) or problem(422, invalid.title, invalid.detail, extra=invalid.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own 400 is a body it could not parse: JSON nested past Python's recursion
        # limit comes here, not as a validation error
        detail = {404: "no such resource", 400: "the body could not be parsed (malformed, or nested too deeply)"}.get(exc.status_code, "")
        face = render(request.url.path, ApiError(exc.status_code, title(exc.status_code), detail, headers=exc.headers))
        return face or problem(exc.status_code, title(exc.status_code), detail)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        detail = "the gateway failed; nothing was changed by this request"
        return render(request.url.path, ApiError(500, "Internal Server Error", detail)) or problem(500, "Internal Server Error", detail)

    app.add_middleware(ActionHeaders)
    app.add_middleware(FormBodies, problem=problem)  # inside the body limit: what it reads is bounded
    app.add_middleware(BodyLimit, max_case_bytes=settings.max_case_bytes, problem=problem)
    app.add_middleware(metrics.RequestMetrics)
    app.add_middleware(RequestIds)  # outside the others: their log lines name the request
    allow_origins(app, settings.cors_origins)  # added last: the outermost layer
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(token_router)
    app.include_router(native.router)
    app.include_router(events.router)
    app.include_router(subscriptions.router)
    app.include_router(ibm.router)
    # before the ProcessMaker case actions: /cases/draft is a list, not the case "draft"
    app.include_router(pm_lists.router)
    app.include_router(pm_case_reads.router)
    app.include_router(pm_case_actions.router)
    # the ProcessMaker token endpoint sits under the workspace, outside /api/1.0
    register_envelope(pm_token.envelope_prefix(settings.pm_workspace), pm_token.render_oauth)
    app.include_router(pm_token.router)
    document_errors(app)
    tracing.instrument(app)
    return app
