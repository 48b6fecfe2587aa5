"""The door to ``/slack/events``: who sent it (signature on the raw bytes), then whether it parses.

Why in front of Bolt: Bolt parses the timestamp header and the body while verifying, so junk used to
surface as a 500 and a traceback. Here the HMAC is checked over the raw bytes first (unsigned or
forged → 401, and nothing of an unsigned body is ever parsed); only then is the shape checked
(signed but malformed → 400), including the type of every field the bot reads (``bot.slack.shapes``).
Bolt still verifies again; that costs microseconds.

Why 400 and not a quiet 200 for a signed payload of the wrong shape: it is what the gate answers for
every other signed-but-malformed request, it shows as a failed delivery in Slack's app dashboard and
as one log line here, and nothing is lost by it: the bot could not have read the payload anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

from bot.slack import shapes

MAX_BODY_BYTES = 1024 * 1024  # Slack's payloads are tens of KB; a view submission stays well under this
MAX_AGE_SECONDS = 5 * 60  # Slack's own advice for replay protection
UNIX_TIME = re.compile(r"[0-9]{1,12}")  # Slack sends 10 digits; this keeps the arithmetic in float range


@dataclass(frozen=True)
class Verdict:
    status: int  # 200: let Bolt have it; otherwise answer this status with ``reason``
    reason: str = ""
    kind: str = "refused"  # what it is, for the latency metric: command, event, action, view, other, refused

    @property
    def ok(self) -> bool:
        return self.status == 200


def check(raw: bytes, timestamp: str | None, signature: str | None, content_type: str, secret: str,
          now: float | None = None) -> Verdict:  # fmt: skip
    """Decide what to do with a request to ``/slack/events`` from its raw bytes and headers."""
    if not timestamp or not signature or not secret:
        return Verdict(401, "unsigned")
    basestring = b"v0:" + timestamp.encode("utf-8", "replace") + b":" + raw
    expected = "v0=" + hmac.new(secret.encode(), basestring, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return Verdict(401, "bad signature")
    if not UNIX_TIME.fullmatch(timestamp):  # not "abc", "-5", "1_700_000_000" nor 400 digits (overflow)
        return Verdict(400, "timestamp is not a Unix time in seconds")
    sent_at = int(timestamp)
    if abs((time.time() if now is None else now) - sent_at) > MAX_AGE_SECONDS:
        return Verdict(401, "stale timestamp")
    return _shape(raw, content_type)


def _shape(raw: bytes, content_type: str) -> Verdict:
    """Slack sends a JSON object (Events API) or a form (commands; ``payload=`` holding a JSON object)."""
    if not raw.strip():
        return Verdict(400, "empty body")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Verdict(400, "body is not UTF-8")
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "application/json" or text.lstrip().startswith("{"):
        return _json_object(text, "JSON body", "event")
    if mime != "application/x-www-form-urlencoded":
        return Verdict(400, f"unsupported content type {mime or 'none'}")
    form = parse_qs(text, keep_blank_values=True)
    if "payload" in form:
        return _json_object(form["payload"][0], "payload", "action")
    if "command" in form:
        return Verdict(200, kind="command")
    if "ssl_check" in form:
        return Verdict(200, kind="other")
    return Verdict(400, "form without command or payload")


INTERACTIVE_KINDS = {"block_actions": "action", "view_submission": "view", "view_closed": "view"}


def _json_object(text: str, what: str, kind: str) -> Verdict:
    """``kind``: event for the Events API; for an interactive ``payload``, from its ``type``."""
    try:
        data = json.loads(text)
    except ValueError:
        return Verdict(400, f"{what} is not valid JSON")
    if not isinstance(data, dict):
        return Verdict(400, f"{what} is not a JSON object")
    found = shapes.problem(data)
    if found:
        return Verdict(400, found)
    if kind == "action":
        kind = INTERACTIVE_KINDS.get(str(data.get("type")), "other")
    elif data.get("type") == "url_verification":
        kind = "other"
    return Verdict(200, kind=kind)
