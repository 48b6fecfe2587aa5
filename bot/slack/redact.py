"""Slack tokens never reach a log, at any level.

At DEBUG, slack_sdk logs every Web API request and response: headers (``Authorization: Bearer xoxb-...``),
form bodies (``token=...``, ``refresh_token=...``, ``client_secret=...``) and JSON answers
(``oauth.v2.access`` returns ``"access_token": "xoxb-..."``, token rotation ``"refresh_token": "xoxe-..."``).
``TokenRedactor`` masks them in the finished message (and in a traceback's text) before any handler writes
it. People's words never reach a log either: the same DEBUG logs carry every request's body (a reflection in
App Home's ``views.publish``, an action in ``chat.postMessage``), every answer's, Bolt's replies to Slack (a
form brought back with the words kept) and Socket Mode's payloads (a thread reply's text), so those records
are cut to what happened and its size (``_BODY_LOGS``), never the body. It is installed on the root logger's handlers, which every module's records pass through (slack_sdk's
and slack_bolt's loggers propagate there), and on those two loggers themselves.
"""

from __future__ import annotations

import logging
import re

MASK = "[redacted]"
# Slack tokens: bot (xoxb), user (xoxp), app-level (xapp), refresh (xoxe, and xoxe.xoxp / xoxe.xoxb rotating
# access tokens), legacy (xoxa, xoxr), configuration (xoxe-1-..., xoxc, xoxs).
_TOKEN = re.compile(r"\b(xox[abcdeprs](?:\.xox[abp])?|xapp)-[A-Za-z0-9\-._~+/=]+")
# key=value (form bodies, query strings, repr of dicts) and "key": "value" (JSON), for the secret-bearing keys.
_FIELD = re.compile(
    r"""(?P<key>\b(?:token|access_token|refresh_token|bot_token|user_token|app_token|client_secret|"""
    r"""signing_secret|code)\b["']?\s*[:=]\s*["']?)(?P<value>[^"'&\s,;}]+)""", re.IGNORECASE)
_AUTH = re.compile(r"""(?P<key>\bAuthorization\b["']?\s*[:=]\s*["']?(?:Bearer\s+|Basic\s+)?)(?P<value>[^"'\s,;}]+)""",
                   re.IGNORECASE)  # fmt: skip
LOGGERS = ("slack_sdk", "slack_bolt")
# slack_sdk's and slack_bolt's DEBUG records that carry a body (a request's or an answer's, a payload): what is
# kept (the method, or the status) is group 1; the rest becomes its size. Matched on the finished message.
_BODY_LOGS = (
    re.compile(r"^(Sending a request - url: \S*?/api/([\w.]+)|Sending a request - \w* ?url: \S+?),"),  # Web API, webhooks
    re.compile(r"^(Received the following response - status: \d+),"),
    re.compile(r"^(Responding with status: \d+) body:"),  # Bolt's answer to Slack
    re.compile(r"^(on_message invoked|Sending a message|Sending a text data frame|Failed to parse a payload)\b"),  # Socket Mode
)


def _without_body(name: str, message: str) -> str | None:
    """The record's message with its body cut to its size, when it is one of Slack's libraries' body logs."""
    if not name.startswith(LOGGERS):
        return None
    for pattern in _BODY_LOGS:
        found = pattern.match(message)
        if found:
            return f"{found.group(1)} ({len(message) - found.end()} characters; body not logged)"
    return None


def redact(text: str) -> str:
    """``text`` with every Slack token and secret-bearing value masked."""
    text = _TOKEN.sub(lambda m: m.group(1) + "-" + MASK, text)
    text = _AUTH.sub(lambda m: m.group("key") + MASK, text)
    return _FIELD.sub(lambda m: m.group("key") + MASK, text)


class TokenRedactor(logging.Filter):
    """Masks tokens in a record's message (formatted with its arguments) and its traceback text, and cuts the
    bodies Slack's libraries log at DEBUG to their size. Never drops a record: what happened is still logged,
    without the secret or anyone's words."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed format: leave it to the handler's own error path
            return True
        clean = redact(_without_body(record.name, message) or message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


REDACTOR = TokenRedactor()


def install() -> None:
    """Put the redactor on every handler of the root logger and on Slack's own loggers (idempotent: call it
    after logging is configured, wherever that is)."""
    for handler in logging.getLogger().handlers:
        if REDACTOR not in handler.filters:
            handler.addFilter(REDACTOR)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if REDACTOR not in logger.filters:
            logger.addFilter(REDACTOR)
        for handler in logger.handlers:
            if REDACTOR not in handler.filters:
                handler.addFilter(REDACTOR)
