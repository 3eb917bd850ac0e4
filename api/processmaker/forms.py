"""Form-encoded bodies on the ProcessMaker face, as PHP clients send them.

A PHP client following the seed may pass its arrays through `http_build_query` instead of
`json_encode`: `pro_uid=...&variables[0][client]=Acme&variables[0][amount]=23456.99`. This
middleware turns such a body under `/api/1.0/` into the JSON the endpoints read, with PHP's
meaning of the brackets: `a[k]` a key, `a[]` the next element, keys 0, 1, 2, ... in order a
list. Every value arrives as a string, as in ProcessMaker; the face then reads declared
numbers and booleans by their type (case_access.py, `typed_inputs`). It runs inside the body limit
(api/limits.py), so what it reads is already bounded.
"""

from __future__ import annotations

import json
import re
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl

from api.errors import ApiError, render
from api.processmaker.common import PREFIX

FORM = b"application/x-www-form-urlencoded"
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
# PHP nests at most this deep by default (max_input_nesting_level is 64)
MAX_DEPTH = 64


class FormBodyError(ValueError):
    pass


def php_form(body: bytes) -> dict[str, Any]:
    """A form body as PHP's `$_POST` would hold it, as JSON-ready dicts and lists."""
    out: dict[str, Any] = {}
    text = body.decode("utf-8", errors="strict")
    for raw_key, value in parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict"):
        match = _KEY.match(raw_key)
        if match is None:
            raise FormBodyError(f"the form field '{raw_key[:50]}' is not a name or a name with [keys]")
        path = [match.group(1)] + re.findall(r"\[([^\[\]]*)\]", match.group(2))
        if len(path) > MAX_DEPTH:
            raise FormBodyError("the form nests too deeply")
        node: dict[str, Any] = out
        for i, key in enumerate(path):
            last = i == len(path) - 1
            if key == "":
                key = str(sum(1 for k in node if k.isdigit()))  # `a[]`: the next index
            if last:
                if isinstance(node.get(key), dict):
                    raise FormBodyError(f"the form field '{raw_key[:50]}' is both a value and a group")
                node[key] = value
            else:
                child = node.setdefault(key, {})
                if not isinstance(child, dict):
                    raise FormBodyError(f"the form field '{raw_key[:50]}' is both a value and a group")
                node = child
    return _lists(out)


def _lists(value: Any) -> Any:
    """Groups keyed 0, 1, 2, ... in order become lists, as PHP's arrays do in JSON."""
    if not isinstance(value, dict):
        return value
    converted = {k: _lists(v) for k, v in value.items()}
    if converted and list(converted) == [str(i) for i in range(len(converted))]:
        return list(converted.values())
    return converted


class FormBodies:
    """ASGI middleware: a form-encoded body under the ProcessMaker prefix is replayed as JSON."""

    def __init__(self, app: Any, problem: Callable[..., Any]) -> None:
        self.app = app
        self.problem = problem

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]], send: Callable[..., Awaitable[Any]]) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX) or not _is_form(scope):
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        try:
            encoded = json.dumps(php_form(body)).encode()
        except (FormBodyError, UnicodeDecodeError) as exc:
            error = ApiError(400, "Bad Request", f"The form body cannot be read: {exc if isinstance(exc, FormBodyError) else 'it is not UTF-8'}.")
            await (render(scope["path"], error) or self.problem(400, "Bad Request", error.detail))(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(encoded)).encode())]
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": encoded, "more_body": False}

        await self.app({**scope, "headers": headers}, replay, send)


def _is_form(scope: dict[str, Any]) -> bool:
    content_type = next((v for k, v in scope.get("headers", []) if k == b"content-type"), b"")
    return content_type.split(b";")[0].strip().lower() == FORM
