"""The Web API client, and which failed calls it may send again by itself.

A call that failed with 429 was not processed by Slack (it says so, and when to come back), so it is
always retried, honouring Retry-After. Anything else is different: a connection reset, a timeout or
a 5xx can come *after* Slack acted, and sending ``chat.postMessage`` again would post twice. So only
calls that change nothing (reads such as ``conversations.history``) and calls that set state rather
than add to it (``views.publish``) are retried after such errors. Everything else (posts, thread
replies, file uploads...) raises, and the caller finds out what happened before sending again: the
weekly post and summary do it through ``bot.once``, by looking for the message in Slack.

A 429 is retried after the Retry-After Slack gave, read safely (``bot.slack.ratelimit.retry_after_seconds``:
fractions, HTTP dates, garbage, ``inf``), and every call first passes the gate for its token and method
(``bot.slack.ratelimit.Gate``), so threads sharing a workspace stop meeting its limit one by one. A call the
gate will not send (a wait of minutes, a workspace refusing everything) is answered here with a 429
marked ``X-Scr-Gave-Up`` that no handler retries: Slack never saw it, and the caller tries again later.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from http.client import HTTPMessage
from io import BytesIO
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot import metrics
from bot.config import CALL_BUDGET, HTTP_TIMEOUT
from bot.slack.ratelimit import (
    MAX_WAIT,
    REQUEST_BUDGET,
    TRIGGER_BUDGET,
    TRIGGER_METHODS,
    Gate,
    GaveUp,
    retry_after_seconds,
)

GAVE_UP_HEADER = "X-Scr-Gave-Up"  # on the 429 the gate answers itself: not sent, so not to be retried
RATE_LIMIT_RETRIES = 3  # 429s retried by the client per call; the fan-out re-runs what is still refused

# The deadline of the Web API call this thread is making through a ``GatedClient`` (``CALL_BUDGET`` after it
# began; None outside one): slack-sdk runs a call's attempts and its retry handlers in the calling thread.
_call = threading.local()

# Calls that are safe to repeat whatever happened to the first one.
IDEMPOTENT = frozenset({
    "auth.test", "conversations.history", "conversations.replies", "conversations.info", "conversations.members",
    "users.info", "users.conversations", "team.info", "bots.info", "views.publish", "apps.connections.open",
})  # fmt: skip


def method_of(request: HttpRequest) -> str:
    """``https://slack.com/api/chat.postMessage?x`` -> ``chat.postMessage``."""
    return method_in(request.url)


def method_in(url: str) -> str:
    """The Web API method a URL calls (see ``method_of``)."""
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


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


def header(response: HttpResponse, name: str) -> str | None:
    """A response header, whatever its case (slack-sdk hands headers over as lists or strings)."""
    for key, value in (response.headers or {}).items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) and value else value  # type: ignore[return-value]
    return None


class RetryAfterHandler(RetryHandler):
    """Retries a 429 after Slack's Retry-After, read safely: slack-sdk's own handler does ``int(header)``,
    which raises on ``1.5``, an HTTP date or ``inf``. No retry when the wait is longer than ``MAX_WAIT``
    or would end past the call's budget (the caller reports rate-limited and the clock comes back
    later), nor for the gate's own 429."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:  # fmt: skip
        if response is None or response.status_code != 429 or header(response, GAVE_UP_HEADER):
            return False
        wait = retry_after_seconds(header(response, "Retry-After"))
        deadline = getattr(_call, "deadline", None)
        return wait <= MAX_WAIT and (deadline is None or time.monotonic() + wait <= deadline)

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:  # fmt: skip
        assert response is not None
        state.next_attempt_requested = True
        time.sleep(retry_after_seconds(header(response, "Retry-After")) + random.uniform(0, 0.1))
        state.increment_current_attempt()


def retry_handlers() -> list[RetryHandler]:
    return [
        RetryAfterHandler(max_retry_count=RATE_LIMIT_RETRIES),
        OnlyIdempotent(ConnectionErrorRetryHandler(max_retry_count=2)),
        OnlyIdempotent(ServerErrorRetryHandler(max_retry_count=2)),
    ]


class Gates:
    """Every gate of one process's view of Slack, by (token, method); shared by the clients that should learn
    from each other's refusals (the app's client and each request's client)."""

    def __init__(self) -> None:
        self._gates: dict[tuple[str, str], Gate] = {}
        self._lock = threading.Lock()

    def __call__(self, authorization: str, method: str) -> Gate:
        with self._lock:
            gate = self._gates.get((authorization, method))
            if gate is None:
                gate = self._gates[(authorization, method)] = Gate()
            return gate


class GatedClient(WebClient):
    """A ``WebClient`` whose every HTTP attempt (retries included) passes the gate of its token and method.

    The hook is slack-sdk's one place where a single attempt is sent (``_perform_urllib_http_request_internal``);
    its retry loop, handlers and response parsing are unchanged around it."""

    def __init__(self, *args: Any, call_budget: float = CALL_BUDGET, gates: Gates | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.call_budget = call_budget
        self.gates = gates or Gates()

    def gate(self, authorization: str, method: str) -> Gate:
        """The gate of one (token, method): one token per workspace, and Slack limits each method on its own."""
        return self.gates(authorization, method)

    def for_request(self, token: str | None, team_id: str | None = None,
                    call_budget: float = REQUEST_BUDGET) -> GatedClient:  # fmt: skip
        """A client for one Slack request's listeners: the same gates as this one (a workspace the clock or
        other requests found refusing is not pressed again), but only ``call_budget`` seconds a call, so no
        thread serving a person sleeps a long Retry-After."""
        return GatedClient(token=token, base_url=self.base_url, timeout=self.timeout, ssl=self.ssl, proxy=self.proxy,
                           headers=self.headers, team_id=team_id, logger=self.logger,
                           retry_handlers=list(self.retry_handlers), call_budget=call_budget,
                           gates=self.gates)  # fmt: skip

    def __deepcopy__(self, memo: dict[int, Any]) -> GatedClient:
        """Bolt deep-copies a request (its context's client too) for lazy listeners: the copy keeps the gates,
        which are shared state, not the request's own (and hold locks, which cannot be copied)."""
        return self.for_request(self.token, self.default_params.get("team_id"), self.call_budget)

    def _perform_urllib_http_request(self, *, url: str, args: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """One Web API call, all its attempts and retries within ``call_budget`` seconds (``TRIGGER_BUDGET`` for
        a call spending a trigger_id, which is no use later; and within the search it belongs to, see
        ``spending_at_most``)."""
        budget = min(self.call_budget, TRIGGER_BUDGET) if method_in(url) in TRIGGER_METHODS else self.call_budget
        cap = getattr(_call, "cap", None)
        _call.deadline = min(time.monotonic() + budget, cap if cap is not None else float("inf"))
        try:
            return super()._perform_urllib_http_request(url=url, args=args)
        finally:
            _call.deadline = None

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        method = method_in(url)
        gate = self.gate(req.get_header("Authorization") or "", method)
        try:
            ticket = gate.enter(getattr(_call, "deadline", None))
        except GaveUp as exc:
            metrics.SLACK_RATELIMITED.labels(method, "gate").inc()
            raise gave_up_answer(url, exc.wait) from None
        started = time.monotonic()
        metrics.SLACK_CALLS.labels(method).inc()
        try:
            answer = super()._perform_urllib_http_request_internal(url, req)
        except HTTPError as exc:
            if exc.code == 429:
                metrics.SLACK_RATELIMITED.labels(method, "slack").inc()
                gate.refused(ticket, retry_after_seconds(exc.headers.get("Retry-After") if exc.headers else None))
            else:
                gate.finished(ticket)
            raise
        except BaseException:
            gate.finished(ticket)
            raise
        gate.accepted(ticket, time.monotonic() - started)
        return answer


def gave_up_answer(url: str, wait: float) -> HTTPError:
    """The 429 the gate answers for a call it did not send: the same shape as Slack's, marked as ours."""
    headers: Message = HTTPMessage()
    headers["Content-Type"] = "application/json; charset=utf-8"
    headers["Retry-After"] = str(max(1, round(wait)))
    headers[GAVE_UP_HEADER] = "1"
    return HTTPError(url, 429, "Too Many Requests (not sent: rate limited)", headers,
                     BytesIO(b'{"ok": false, "error": "ratelimited"}'))  # fmt: skip


def make_client(token: str | None, base_url: str, timeout: float = HTTP_TIMEOUT, call_budget: float = CALL_BUDGET) -> WebClient:
    """A Web API client that retries 429s (after Retry-After, through its token's gate, within
    ``call_budget`` seconds a call), and connection errors and 5xx only for idempotent calls."""
    return GatedClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=retry_handlers(),
                       call_budget=call_budget)  # fmt: skip


@contextmanager
def spending_at_most(seconds: float) -> Iterator[float]:
    """Calls this thread makes inside share one deadline (yielded, monotonic): a search of several pages ends
    within one call's budget, so it finishes inside the claim's lease even where Slack allows one read a minute."""
    _call.cap = deadline = time.monotonic() + seconds
    try:
        yield deadline
    finally:
        _call.cap = None


def thread_messages(slack: WebClient, channel: str, thread_ts: str, page: int = 200, *, oldest: str | None = None,
                    latest: str | None = None) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Every message in a thread (between ``oldest`` and ``latest`` when given), following Slack's cursor past
    the first page (a busy week's thread can hold more than one page of replies)."""
    cursor = None
    window = {"oldest": oldest, "latest": latest, "inclusive": True} if oldest or latest else {}
    while True:
        resp = slack.conversations_replies(channel=channel, ts=thread_ts, include_all_metadata=True, limit=page,
                                           cursor=cursor, **window)  # fmt: skip
        yield from resp.get("messages", [])
        cursor = (resp.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return


def _marked(msg: dict[str, Any], event_type: str, key: str, also: str | None = None) -> bool:
    meta = msg.get("metadata") or {}
    return meta.get("event_type") == event_type and (meta.get("event_payload") or {}).get("key") in (key, also)


def find_in_thread(slack: WebClient, channel: str, thread_ts: str, event_type: str, key: str,
                   also: str | None = None, *, oldest: str | None = None) -> dict[str, Any] | None:  # fmt: skip
    """The message in a thread whose metadata is ``event_type`` with payload ``key`` (or ``also``), if any:
    how a post whose answer was lost is found before anything is sent again. ``oldest``: only replies from
    then on (the post cannot be older than the attempt that made it)."""
    for msg in thread_messages(slack, channel, thread_ts, oldest=oldest):
        if _marked(msg, event_type, key, also):
            return msg
    return None


class ThreadNotFullyRead(Exception):  # noqa: N818 - reads as "raise ThreadNotFullyRead(after, ...)"
    """A search of a thread stopped before reading every reply in its window (its budget ran out, or Slack
    failed): the post may be in the part not read. ``after``: every reply up to this ts was read, so a later
    search resumes there instead of starting again."""

    def __init__(self, after: str, why: str):
        super().__init__(why)
        self.after = after


def find_in_thread_after(slack: WebClient, channel: str, thread_ts: str, event_type: str, key: str, *,
                         after: str, budget: float) -> dict[str, Any] | None:  # fmt: skip
    """``find_in_thread`` for the replies from ``after`` on, within ``budget`` seconds of calls: where Slack's
    history limits allow one read a minute and 15 messages a page, a busy thread takes several of the clock's
    sweeps. Raises ``ThreadNotFullyRead`` with how far it got rather than ever saying "not there" unread."""
    cursor = None
    with spending_at_most(budget) as deadline:
        while True:
            try:
                resp = slack.conversations_replies(channel=channel, ts=thread_ts, include_all_metadata=True,
                                                   limit=200, cursor=cursor, oldest=after, inclusive=True)  # fmt: skip
            except (SlackApiError, OSError) as exc:
                why = exc.response.get("error") if isinstance(exc, SlackApiError) else str(exc)
                raise ThreadNotFullyRead(after, f"thread_not_fully_read: {why}") from exc
            for msg in resp.get("messages", []):
                if _marked(msg, event_type, key):
                    return msg
                if float(msg.get("ts") or 0) > float(after):  # oldest first: the page is read up to here
                    after = str(msg["ts"])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
            if time.monotonic() >= deadline:
                raise ThreadNotFullyRead(after, "thread_not_fully_read: out of time")
