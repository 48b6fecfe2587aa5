"""Structured logs (``SCR_LOG_FORMAT=json``) and the request id every log line of a Slack request carries.

Why a context variable: the gate (``bot.slack.web``) knows which request it is serving, the code that logs
(a listener, the store, the breaker) does not and should not be told. The id comes from the request's
``X-Request-Id`` header (a proxy in front may set one) or is made up, and is set for the thread serving the
request; a line logged outside a request (the clock, start-up) has none.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

request_id: ContextVar[str] = ContextVar("scr_request_id", default="")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # an id from a header is echoed into logs: nothing else


def new_request_id(header: str | None) -> str:
    """The request's id: its ``X-Request-Id`` if that is a plain token, otherwise a fresh one."""
    if header and _SAFE_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex[:16]


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request_id, and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get() or None,
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def formatter(kind: str) -> logging.Formatter:
    """The formatter for ``SCR_LOG_FORMAT`` (text, the default, or json)."""
    return JsonFormatter() if kind == "json" else logging.Formatter(TEXT_FORMAT)


def setup(level: int, kind: str) -> None:
    """Log to stderr at ``level`` in the format ``kind``."""
    logging.basicConfig(level=level, format=TEXT_FORMAT)
    if kind == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
