"""What every module of the ProcessMaker face shares: the workspace check, the error
envelope, date and user formats, and the dependencies for the caller and the service.

The envelope (seed, "error object"): `{"error": {"code": 400, "message": "Bad Request: ..."}}`.
ProcessMaker answers most refusals with 400, so the face maps statuses as follows (the
README's "The ProcessMaker face" repeats it):

| what happened | native status | ProcessMaker status |
|---|---|---|
| malformed or invalid body, unknown definition/task/trigger | 400, 422 | 400 |
| not allowed in the current state (engine Conflict) | 409 | 400 |
| no such case, or a case the caller may not see | 404 | 400 "The Application row '<id>' doesn't exist!" |
| no token, bad token | 401 | 401 |
| visible but not permitted (engine Forbidden, missing PM_* permission) | 403 | 403 |
| unknown path or workspace | 404 | 404 |
| busy, engine unavailable, timeout, bug | 429, 5xx | same |

Messages are written by the gateway, never copied from the request: no error echoes a
token, a header, a password or a client secret (ProcessMaker itself sometimes does).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.responses import JSONResponse

from api.errors import ApiError, register_envelope, title
from store.directory import Directory

PREFIX = "/api/1.0/"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

# Statuses the ProcessMaker face folds into 400 (see the table above).
_AS_BAD_REQUEST = {409, 422}


# ------------------------------------------------------------------ the error envelope


class PmError(ApiError):
    """An error whose message is already in ProcessMaker's words (rendered as is, after
    the status title)."""


def pm_error(status: int, message: str) -> PmError:
    return PmError(status, title(status), message)


def bad_request(message: str) -> PmError:
    return pm_error(400, message)


def no_such_case(app_uid: str) -> PmError:
    """The seed's answer for a case that does not exist, is deleted, or is not visible, in
    the words of its case information (and of the endpoints it gives no words for)."""
    return bad_request(f"The Application row '{app_uid}' doesn't exist!")


def no_such_application(app_uid: str) -> PmError:
    """The same, in the words the seed gives for pause, unpause, execute-trigger and delete."""
    return bad_request(f"The application with $app_uid: '{app_uid}' does not exist.")


def unavailable_case(app_uid: str) -> PmError:
    """The same, in the words the seed gives for the case's current tasks and its tasks."""
    return bad_request(f"Incorrect or unavailable information about this case: {app_uid}")


# Which of the three an endpoint answers with.
Missing = Callable[[str], PmError]


def pm_status(status: int) -> int:
    return 400 if status in _AS_BAD_REQUEST else status


def render(exc: ApiError) -> JSONResponse:
    """An `ApiError` in ProcessMaker's envelope: `{"error": {"code", "message"}}`."""
    status = pm_status(exc.status)
    text = exc.detail or exc.title
    # Native details start lower-case ("no case 'x'"); ProcessMaker's are sentences.
    text = text[:1].upper() + text[1:] if text else title(status)
    errors = exc.extra.get("errors") if not isinstance(exc, PmError) else None
    if isinstance(errors, list) and errors:
        # Field names and fixed messages only (pydantic's and the engine's): never a value.
        fields = "; ".join(_field_error(e) for e in errors[:5] if isinstance(e, dict))
        text = f"{text.rstrip('.')}: {fields}" if fields else text
    body = {"error": {"code": status, "message": f"{title(status)}: {text}"}}
    headers = dict(exc.headers)
    return JSONResponse(body, status_code=status, headers=headers or None)


def _field_error(error: dict[str, Any]) -> str:
    field = str(error.get("field") or error.get("path") or "")
    for prefix in ("body.", "query.", "path."):
        field = field.removeprefix(prefix)
    message = str(error.get("message") or "is not valid")
    return f"`{field}` {message}" if field and field != "body" else message


register_envelope(PREFIX, render)


# ------------------------------------------------------------------ variables


def pm_value(value: Any) -> Any:
    """A case variable as ProcessMaker keeps it: numbers as strings, booleans as "1" and "0",
    inside lists and objects too (the seed's "Format of Variables"); the native face keeps
    JSON's types."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return {k: pm_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [pm_value(v) for v in value]
    return value


# ------------------------------------------------------------------ dates


def pm_date(value: datetime | None) -> str | None:
    """`YYYY-MM-DD HH:MM:SS` in UTC; None stays None (the seed's `null`)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(DATE_FORMAT)


def parse_pm_date(text: str, field: str) -> datetime:
    """`YYYY-MM-DD` (that day at 00:00 UTC) or `YYYY-MM-DD HH:MM:SS` (UTC); 400 otherwise."""
    text = text.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0, 0), tzinfo=UTC)
        return datetime.strptime(text, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise bad_request(f"`{field}` must be a date in 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS' format.") from None


# ------------------------------------------------------------------ users


def user_fields(d: Directory, user_id: str | None, prefix: str = "usr_") -> dict[str, str]:
    """`usr_uid`, `usr_username`, `usr_firstname`, `usr_lastname` ("" for nobody; a user the
    directory no longer knows keeps their id and empty names)."""
    user = d.find(user_id) if user_id else None
    return {
        f"{prefix}uid": user.id if user else (user_id or ""),
        f"{prefix}username": user.username if user else "",
        f"{prefix}firstname": user.first_name if user else "",
        f"{prefix}lastname": user.last_name if user else "",
    }


def display_name(d: Directory, user_id: str | None) -> str:
    """ProcessMaker's `app_current_user` / `app_del_previous_user`: last name, a space, first
    name (" Administrator" for a user without a last name); "" for nobody."""
    user = d.find(user_id) if user_id else None
    if user is None:
        return ""
    return f"{user.last_name} {user.first_name}"


def full_name(d: Directory, user_id: str | None) -> str:
    """`usr_name` of case information: first and last name ("" for nobody)."""
    user = d.find(user_id) if user_id else None
    return user.full_name if user else ""


# ------------------------------------------------------------------ dependencies


async def check_workspace(request: Request, workspace: Annotated[str, Path(max_length=100)]) -> str:
    """Every ProcessMaker path names the workspace; only the configured one exists."""
    expected = getattr(request.app.state.settings, "pm_workspace", "workflow")
    if workspace != expected:
        raise pm_error(404, "The workspace does not exist.")
    return workspace


Workspace = Annotated[str, Depends(check_workspace)]
