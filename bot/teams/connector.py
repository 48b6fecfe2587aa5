"""The Bot Connector's REST API (and the one Graph read the port needs), called with the app's own token.

Where the Bot Connector's answers become the protocol's two kinds (``connector_errors``): the core sees only
``Permanent`` and ``Transient``. No token is ever logged or put in an error.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.once import Permanent, Transient
from bot.teams.auth import CONNECTOR_SCOPE, GRAPH_SCOPE, AppTokens, Unavailable

HTTP_TIMEOUT = 10.0
# The Bot Connector said no for good: bad request (card refused), not in the team or chat, no such conversation.
PERMANENT_STATUS = frozenset({400, 401, 403, 404})
# Answered without acting: throttled or a precondition (Microsoft asks clients to retry 412 and 429).
NOT_SENT_STATUS = frozenset({412, 429})


class HttpError(Exception):
    def __init__(self, status: int, code: str):
        super().__init__(f"http_{status}" + (f" {code}" if code else ""))
        self.status = status
        self.code = code


@contextmanager
def connector_errors() -> Iterator[None]:
    """Classify a failure: permanent (the platform said no for good) or transient (try again)."""
    try:
        yield
    except HttpError as exc:
        if exc.status in PERMANENT_STATUS:
            raise Permanent(str(exc)) from None
        raise Transient(str(exc), maybe_sent=exc.status not in NOT_SENT_STATUS) from None
    except Unavailable as exc:  # no token, so nothing was sent
        if exc.permanent:
            raise Permanent(f"app credentials refused: {exc}") from None
        raise Transient(str(exc), maybe_sent=False) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        raise Transient(type(exc).__name__, maybe_sent=True) from None


class Connector:
    """Calls to one service URL's Bot Connector, and to Graph, as the app."""

    def __init__(self, tokens: AppTokens, graph_url: str, timeout: float = HTTP_TIMEOUT):
        self.tokens = tokens
        self.graph_url = graph_url
        self.timeout = timeout  # SCR_HTTP_TIMEOUT_S: part of the claim-lease rule, as for Slack

    def _call(self, method: str, url: str, scope: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.tokens.token(scope)}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - the activity's serviceUrl
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            try:
                code = str((json.loads(exc.read() or b"{}").get("error") or {}).get("code") or "")
            except (ValueError, AttributeError):
                code = ""
            raise HttpError(exc.code, code[:80]) from None
        return json.loads(raw) if raw else {}

    @staticmethod
    def _conv(service_url: str, conversation: str) -> str:
        return f"{service_url.rstrip('/')}/v3/conversations/{urllib.parse.quote(conversation, safe='')}"

    def send(self, service_url: str, conversation: str, activity: dict[str, Any]) -> str:
        """A new message in ``conversation`` (a new thread, in a channel); its activity id."""
        with connector_errors():
            resp = self._call("POST", self._conv(service_url, conversation) + "/activities", CONNECTOR_SCOPE, activity)
        return str(resp.get("id") or "")

    def reply(self, service_url: str, conversation: str, reply_to: str, activity: dict[str, Any]) -> str:
        """A reply to ``reply_to`` (in a channel: in its thread); its activity id."""
        url = f"{self._conv(service_url, conversation)}/activities/{urllib.parse.quote(reply_to, safe='')}"
        with connector_errors():
            resp = self._call("POST", url, CONNECTOR_SCOPE, {**activity, "replyToId": reply_to})
        return str(resp.get("id") or "")

    def create_personal(self, service_url: str, bot_id: str, user: str, tenant: str) -> str:
        """The 1:1 conversation with ``user`` (the same one each time): creating it sends nothing."""
        body = {"bot": {"id": bot_id}, "members": [{"id": user}], "isGroup": False, "tenantId": tenant,
                "channelData": {"tenant": {"id": tenant}}}  # fmt: skip
        try:
            with connector_errors():
                resp = self._call("POST", f"{service_url.rstrip('/')}/v3/conversations", CONNECTOR_SCOPE, body)
        except Transient as exc:
            raise Transient(str(exc), maybe_sent=False) from None
        return str(resp.get("id") or "")

    def member(self, service_url: str, conversation: str, user: str) -> bool:
        """Whether ``user`` is a member of ``conversation`` (a team, a group chat)."""
        url = f"{self._conv(service_url, conversation)}/members/{urllib.parse.quote(user, safe='')}"
        try:
            with connector_errors():
                self._call("GET", url, CONNECTOR_SCOPE)
        except Permanent:
            return False
        return True

    def graph_get(self, path_or_url: str) -> dict[str, Any]:
        """One Graph read (a page); ``path_or_url`` is a path under /v1.0 or an ``@odata.nextLink``."""
        url = path_or_url if path_or_url.startswith(("http://", "https://")) else f"{self.graph_url}/v1.0{path_or_url}"
        with connector_errors():
            return dict(self._call("GET", url, GRAPH_SCOPE))
