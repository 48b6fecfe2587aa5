"""The Web API client, and which failed calls it may send again by itself.

A call that failed with 429 was not processed by Slack (it says so, and when to come back), so it is
always retried, honouring Retry-After. Anything else is different: a connection reset, a timeout or
a 5xx can come *after* Slack acted, and sending ``chat.postMessage`` again would post twice. So only
calls that change nothing (reads such as ``conversations.history``) and calls that set state rather
than add to it (``views.publish``) are retried after such errors. Everything else (posts, thread
replies, file uploads...) raises, and the caller finds out what happened before sending again: the
weekly post and summary do it through ``bot.once``, by looking for the message in Slack.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

# Calls that are safe to repeat whatever happened to the first one.
IDEMPOTENT = frozenset({
    "auth.test", "conversations.history", "conversations.replies", "conversations.info", "conversations.members",
    "users.info", "users.conversations", "team.info", "bots.info", "views.publish", "apps.connections.open",
})  # fmt: skip


def method_of(request: HttpRequest) -> str:
    """``https://slack.com/api/chat.postMessage?x`` -> ``chat.postMessage``."""
    return request.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


class OnlyIdempotent(RetryHandler):
    """Wraps a retry handler so that it only ever retries calls in ``IDEMPOTENT``."""

    def __init__(self, inner: RetryHandler):
        super().__init__(inner.max_retry_count, inner.interval_calculator)
        self.inner = inner

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:  # fmt: skip
        return method_of(request) in IDEMPOTENT and self.inner._can_retry(
            state=state, request=request, response=response, error=error
        )


def retry_handlers() -> list[RetryHandler]:
    return [
        RateLimitErrorRetryHandler(max_retry_count=3),
        OnlyIdempotent(ConnectionErrorRetryHandler(max_retry_count=2)),
        OnlyIdempotent(ServerErrorRetryHandler(max_retry_count=2)),
    ]


def make_client(token: str | None, base_url: str, timeout: float = 10) -> WebClient:
    """A Web API client that retries 429s always, and connection errors and 5xx only for idempotent calls."""
    return WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=retry_handlers())


def thread_messages(slack: WebClient, channel: str, thread_ts: str, page: int = 200) -> Iterator[dict[str, Any]]:
    """Every message in a thread, following Slack's cursor past the first page (a busy week's thread can
    hold more than one page of replies)."""
    cursor = None
    while True:
        resp = slack.conversations_replies(channel=channel, ts=thread_ts, include_all_metadata=True, limit=page,
                                           cursor=cursor)  # fmt: skip
        yield from resp.get("messages", [])
        cursor = (resp.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return


def find_in_thread(slack: WebClient, channel: str, thread_ts: str, event_type: str, key: str,
                   also: str | None = None) -> dict[str, Any] | None:  # fmt: skip
    """The message in a thread whose metadata is ``event_type`` with payload ``key`` (or ``also``), if any:
    how a post whose answer was lost is found before anything is sent again."""
    for msg in thread_messages(slack, channel, thread_ts):
        meta = msg.get("metadata") or {}
        if meta.get("event_type") == event_type and (meta.get("event_payload") or {}).get("key") in (key, also):
            return msg
    return None
