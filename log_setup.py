"""Logs of the gateway and the worker in one format: text by default, JSON lines with
`CASEWORK_LOG_FORMAT=json` (one object per line: time, level, process, logger, message,
the request id of the HTTP request being served, and a traceback when there is one).

The request id is kept in a context variable (the gateway's `api.request_ids` middleware
sets it) and put on every log record by the record factory, so a line logged anywhere while
a request is served (the service layer, the token check, SQLAlchemy, uvicorn's access log)
carries it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("casework_request_id", default=None)
TEXT_FORMAT = "%(asctime)s %(casework_process)s %(levelname)s %(name)s %(message)s%(casework_request)s"
# uvicorn's loggers have handlers of their own; they get ours instead.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

_process = "casework"
_base_factory = logging.getLogRecordFactory()


def _record(*args: object, **kwargs: object) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    record.request_id = request_id.get()
    record.casework_process = _process
    record.casework_request = f" request={record.request_id}" if record.request_id else ""
    return record


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "process": getattr(record, "casework_process", _process),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "request_id", None):
            line["request_id"] = record.request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(process: str, log_format: str) -> None:
    """Send every log line of this process (ours, the SDK's, uvicorn's) to stderr in
    `log_format` ("text" or "json"), naming the process ("gateway", "worker")."""
    global _process
    _process = process
    logging.setLogRecordFactory(_record)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
