"""HTTP process tasks and external output validators.

A 4xx answer is the other side saying no: retrying will not help, so it fails at once
(non-retryable). Network errors and 5xx answers raise plainly and Temporal retries them
with the workflow's retry policy.
"""

from __future__ import annotations

from typing import Any

import httpx
from jsonpath_ng import parse as jsonpath
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.messages import HttpRequest, HttpResult, ValidationRequest, ValidationResult

TIMEOUT = httpx.Timeout(20.0, connect=5.0)


def _extract(body: Any, paths: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for var, path in paths.items():
        matches = jsonpath(path).find(body)
        out[var] = matches[0].value if matches else None
    return out


@activity.defn(name="http_call")
async def http_call(req: HttpRequest) -> HttpResult:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        try:
            resp = await client.request(req.method, req.url, json=req.json_body, headers=req.headers)
        except httpx.InvalidURL as exc:
            raise ApplicationError(f"bad URL: {type(exc).__name__}", type="HttpBadUrl", non_retryable=True) from exc
        except httpx.UnsupportedProtocol as exc:
            raise ApplicationError(f"bad URL: {type(exc).__name__}", type="HttpBadUrl", non_retryable=True) from exc
    if 400 <= resp.status_code < 500:
        raise ApplicationError(
            f"{req.method} answered {resp.status_code}", type="HttpClientError", non_retryable=True
        )
    if resp.status_code >= 500:
        raise RuntimeError(f"{req.method} answered {resp.status_code}")
    body: Any = None
    if req.output:
        try:
            body = resp.json()
        except ValueError as exc:
            raise ApplicationError("the response is not JSON", type="HttpBadResponse", non_retryable=True) from exc
    return HttpResult(status=resp.status_code, output=_extract(body, req.output) if req.output else {})


@activity.defn(name="validate_output")
async def validate_output(req: ValidationRequest) -> ValidationResult:
    """POST {caseId, taskId, output}; 2xx answers `{valid, errors}` (an empty body is valid),
    a 422 or 400 answer with `{errors}` is invalid."""
    payload = {"caseId": req.case_id, "taskId": f"{req.case_id}.{req.item_id}", "output": req.output}
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        resp = await client.post(req.url, json=payload, headers=req.headers)
    if resp.status_code >= 500:
        raise RuntimeError(f"validator answered {resp.status_code}")
    try:
        body = resp.json() if resp.content else {}
    except ValueError:
        body = {}
    errors = body.get("errors", []) if isinstance(body, dict) else []
    errors = [e if isinstance(e, dict) else {"message": str(e)} for e in errors]
    if resp.status_code in (400, 422):
        return ValidationResult(valid=False, errors=errors or [{"message": "rejected by the validator"}])
    if resp.status_code >= 400:
        raise ApplicationError(f"validator answered {resp.status_code}", type="ValidatorError", non_retryable=True)
    return ValidationResult(valid=bool(body.get("valid", not errors)) if isinstance(body, dict) else True, errors=errors)
