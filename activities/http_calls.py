"""HTTP process tasks, triggers and external output validators.

Every call goes through the operator's allow-list (activities/outbound.py); a refused call
fails at once (non-retryable, type HttpRefused) with the reason, which the case records. A 4xx answer is the other side saying no: retrying will not help, so it fails at once
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
from activities.outbound import GuardedTransport, OutboundPolicy, OutboundRefused

TIMEOUT = httpx.Timeout(20.0, connect=5.0)


def _extract(body: Any, paths: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for var, path in paths.items():
        matches = jsonpath(path).find(body)
        out[var] = matches[0].value if matches else None
    return out


class HttpActivities:
    """The activities that call out, bound to the operator's allow-list."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=TIMEOUT, transport=GuardedTransport(self.policy), trust_env=False)

    def _refused(self, exc: OutboundRefused) -> ApplicationError:
        activity.logger.warning("outbound call refused: %s", exc)
        return ApplicationError(f"outbound call refused: {exc}", type="HttpRefused", non_retryable=True)

    @activity.defn(name="http_call")
    async def http_call(self, req: HttpRequest) -> HttpResult:
        try:
            self.policy.check_url(req.url)  # the URL as rendered from the case's data
            async with self._client() as client:
                resp = await client.request(req.method, req.url, json=req.json_body, headers=req.headers)
        except OutboundRefused as exc:
            raise self._refused(exc) from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
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
    async def validate_output(self, req: ValidationRequest) -> ValidationResult:
        """POST {caseId, taskId, output}; 2xx answers `{valid, errors}` (an empty body is valid),
        a 422 or 400 answer with `{errors}` is invalid."""
        payload = {"caseId": req.case_id, "taskId": f"{req.case_id}.{req.item_id}", "output": req.output}
        try:
            self.policy.check_url(req.url)
            async with self._client() as client:
                resp = await client.post(req.url, json=payload, headers=req.headers)
        except OutboundRefused as exc:
            raise self._refused(exc) from None
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
