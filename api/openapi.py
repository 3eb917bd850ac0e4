"""The OpenAPI document says what every operation may answer when it fails, in the envelope
of the face that owns the path (api/errors.py renders them): clients generated from it,
and the schemathesis run of `make fuzz`, see the real statuses, media types and bodies.

FastAPI documents only the success and its own 422; the gateway's errors are written by
its exception handlers, so they are added to the document here, once, after the routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.errors import title

# The statuses any operation may answer besides its own, by face (README "Statuses"): the
# retryable ones (429, 503, 504) and the gateway's own failures included.
NATIVE_STATUSES = (400, 401, 403, 404, 409, 413, 422, 429, 500, 502, 503, 504)
# ProcessMaker folds a missing case, 409 and 422 into 400 (api/processmaker/common.py,
# pm_status); 404 is left for a workspace or path that does not exist.
PM_STATUSES = (400, 401, 403, 404, 413, 429, 500, 502, 503, 504)
# IBM's protocol has no 422 (an invalid parameter is a 400) and no 403 (a case one may not
# see is not found).
IBM_STATUSES = (400, 401, 404, 409, 413, 429, 500, 502, 503, 504)
TOKEN_STATUSES = (400, 401, 404, 413, 429, 500)

PROBLEM = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
        "reason": {"type": "string", "description": "a stable code of the case's refusal (case_paused, held_by_other, ...)"},
    },
}
PM_ERROR = {
    "title": "PmError",
    "type": "object",
    "description": "ProcessMaker's error envelope",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
        }
    },
}
OAUTH_ERROR = {
    "title": "OAuthError",
    "type": "object",
    "description": "an OAuth2 error (RFC 6749 section 5.2)",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}


def _face(path: str) -> tuple[tuple[int, ...], str, dict[str, Any]]:
    if path.endswith("/oauth2/token"):
        # the ProcessMaker token endpoint of an unknown workspace answers in ProcessMaker's
        # envelope (404), every other failure in OAuth2's
        return TOKEN_STATUSES, "application/json", {
            "oneOf": [{"$ref": "#/components/schemas/OAuthError"}, {"$ref": "#/components/schemas/PmError"}]
        }
    if path.startswith("/api/1.0/"):
        return PM_STATUSES, "application/json", {"$ref": "#/components/schemas/PmError"}
    if path.startswith("/CaseManager/"):
        return IBM_STATUSES, "application/json", {"$ref": "#/components/schemas/IbmError"}
    return NATIVE_STATUSES, "application/problem+json", {"$ref": "#/components/schemas/Problem"}


def document_errors(app: FastAPI) -> None:
    """Replace `app.openapi` with one that adds each face's error answers to every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(Problem=PROBLEM, PmError=PM_ERROR, OAuthError=OAUTH_ERROR)
        for path, operations in doc.get("paths", {}).items():
            statuses, media, schema = _face(path)
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                conditional = any(p.get("in") == "header" and p.get("name") == "If-Match" for p in operation.get("parameters", []))
                for status in statuses + ((412,) if conditional else ()):
                    entry = responses.setdefault(str(status), {"description": title(status)})
                    content = entry.setdefault("content", {})
                    if media != "application/json":
                        # FastAPI's own 422 body is not what the gateway answers: ours replaces it
                        content.pop("application/json", None)
                    content[media] = {"schema": schema}
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
