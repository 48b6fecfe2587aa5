"""Slack's side of the delivery port (``bot.delivery``): views rendered as Block Kit, sent with the Web API.

Also where Slack's error codes become the protocol's two kinds (``slack_errors``): the core sees only
``Permanent`` and ``Transient``. A marker travels as Slack message ``metadata`` (event type = the
marker's kind, payload = its key and payload), which is how a post whose answer was lost is recognised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.briefings.views import ActionFollowUp, ActionUndeliverable, SessionQuestions
from bot.config import CALL_BUDGET
from bot.content.corpus import Corpus
from bot.delivery import FileToSend, Found, Marker, Unreachable
from bot.learning.views import KnowledgeCheck
from bot.once import Permanent, Transient, Unfinished
from bot.slack import blocks, session_blocks
from bot.slack.client import spending_at_most, thread_messages
from bot.slack.home import user_in_channel
from bot.slack.oauth import NotInstalled
from bot.slack.quiz_blocks import check_message, summary_lines
from bot.slack.reflect_blocks import summary_message
from bot.storage.keys import Workspace
from bot.weekly.views import ThreadSummary, WeeklyPost

PERMANENT_ERRORS = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "restricted_action", "invalid_auth", "account_inactive",
     "token_revoked", "no_permission", "missing_scope", "team_access_not_granted", "ekm_access_denied",
     "invalid_blocks", "msg_too_long", "thread_not_found"}
)  # fmt: skip
# Answers that mean this person cannot get a DM from the bot at all (left, deactivated...): ``Unreachable``,
# a permanent "no" for the person, so nothing retries it (a follow-up marks its action undeliverable).
DM_REFUSED = frozenset({"user_not_found", "user_disabled", "user_not_visible", "cannot_dm_bot", "account_inactive",
                        "messages_tab_disabled"})  # fmt: skip
HISTORY_PAGE = 200  # messages per conversations.history page (Slack may give fewer: 15 for unlisted apps)
HISTORY_PAGES = 10  # the most pages one search of a window reads, whatever the channel's traffic
# A search also ends within one call's budget, however many pages remain: where Slack allows an app one
# history read a minute (commercial apps outside the Marketplace), a second page costs a minute's wait.


@contextmanager
def slack_errors() -> Iterator[None]:
    """Classify a Web API failure: permanent (Slack said no for good) or transient (try again)."""
    try:
        yield
    except SlackApiError as exc:
        error = str(exc.response.get("error") or f"http_{exc.response.status_code}")
        if error in PERMANENT_ERRORS:
            raise Permanent(error) from None
        # Slack answered without posting (e.g. still rate limited after retries), unless it was a 5xx.
        raise Transient(error, maybe_sent=exc.response.status_code >= 500) from None
    except (URLError, TimeoutError, ConnectionError, OSError) as exc:
        raise Transient(type(exc).__name__, maybe_sent=True) from None


@contextmanager
def _dm_refusals() -> Iterator[None]:
    try:
        yield
    except (Transient, Permanent) as exc:
        if str(exc) in DM_REFUSED and not isinstance(exc, Unreachable):
            raise Unreachable(str(exc)) from None
        raise


def _metadata(marker: Marker) -> dict[str, Any]:
    return {"event_type": marker.kind, "event_payload": {**marker.payload, "key": marker.key}}


def marker_metadata(marker: Marker) -> dict[str, Any]:
    """A marker as Slack ``metadata``, for a post made by a listener's own client: ``find_post`` finds it again."""
    return _metadata(marker)


def _before(ts: str) -> str:
    """The latest Slack ts strictly before ``ts`` (Slack's ts are microseconds: one less)."""
    whole, _, frac = ts.partition(".")
    micros = int(whole) * 1_000_000 + int((frac + "000000")[:6]) - 1
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _found(msg: dict[str, Any], marker: Marker) -> Found | None:
    meta = msg.get("metadata") or {}
    payload = meta.get("event_payload") or {}
    return Found(str(msg["ts"]), payload) if marker.matches(meta.get("event_type"), payload.get("key")) else None


class SlackDelivery:
    """The port for one workspace: its Web API client (its own token when distributed)."""

    def __init__(self, client: WebClient, corpus: Corpus,
                 weekly: Callable[[WeeklyPost], dict[str, Any]] | None = None):  # fmt: skip
        self.client = client
        self.corpus = corpus
        self._weekly = weekly or weekly_post_renderer(corpus)

    # ----- rendering ---------------------------------------------------------------------------
    def render(self, view: Any) -> dict[str, Any]:
        """A view as a message's ``text`` and ``blocks``."""
        if isinstance(view, WeeklyPost):
            return self._weekly(view)
        if isinstance(view, ThreadSummary):
            return summary_message(view.point, view.stats, summary_lines(self.corpus, view.quiz))
        if isinstance(view, KnowledgeCheck):
            return check_message(self.corpus, view.check, view.sent_day)
        if isinstance(view, ActionFollowUp):
            return session_blocks.followup_message(view.action, view.reminder)
        if isinstance(view, ActionUndeliverable):
            return session_blocks.undeliverable_message(view.action, view.error)
        if isinstance(view, SessionQuestions):
            return session_blocks.questions_message(view.session, view.actions, view.questions)
        raise TypeError(f"no Slack rendering for {type(view).__name__}")

    # ----- the port ----------------------------------------------------------------------------
    def post(self, channel: str, view: Any, *, marker: Marker | None = None, thread: str | None = None) -> str:
        extra: dict[str, Any] = {"metadata": _metadata(marker)} if marker else {}
        if thread:
            extra["thread_ts"] = thread
        with slack_errors():
            resp = self.client.chat_postMessage(channel=channel, unfurl_links=False, unfurl_media=False,
                                                **extra, **self.render(view))  # fmt: skip
        return str(resp["ts"])

    def _search_budget(self) -> float:
        return float(getattr(self.client, "call_budget", CALL_BUDGET))

    def find_post(self, channel: str, marker: Marker, *, oldest: datetime, latest: datetime,
                  progress: Mapping[str, Any] | None = None) -> Found | None:  # fmt: skip
        """Read the window newest first, within one call's budget. ``progress`` (from an earlier search's
        ``Unfinished``): everything from ``below`` up was read already, so only what is older is read now. A
        window holding more than the budget reads raises ``Unfinished`` with where this search got to: never
        "not there" without having read the whole window (that would post twice)."""
        below = str((progress or {}).get("below") or "")
        top = _before(below) if below else f"{latest.timestamp():.6f}"
        cursor = None
        with spending_at_most(self._search_budget()):
            for _ in range(HISTORY_PAGES):
                try:
                    with slack_errors():
                        resp = self.client.conversations_history(
                            channel=channel, oldest=f"{oldest.timestamp():.6f}", latest=top, inclusive=True,
                            include_all_metadata=True, limit=HISTORY_PAGE, cursor=cursor,
                        )  # fmt: skip
                except Transient as exc:
                    if below:  # got partway (now or in an earlier search): keep where
                        raise Unfinished(f"history_window_not_fully_read: {exc}", {"below": below}) from None
                    raise
                for msg in resp.get("messages", []):
                    if found := _found(msg, marker):
                        return found
                    below = str(msg["ts"]) if not below or float(msg["ts"]) < float(below) else below
                cursor = (resp.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return None
        # The window held more than we read: the post may be in the part not read. The next run resumes.
        raise Unfinished("history_window_not_fully_read", {"below": below})

    def find_reply(self, channel: str, thread: str, marker: Marker, *, oldest: datetime | None = None,
                   latest: datetime | None = None) -> Found | None:  # fmt: skip
        window = {"oldest": f"{oldest.timestamp():.6f}" if oldest else None,
                  "latest": f"{latest.timestamp():.6f}" if latest else None}  # fmt: skip
        read = 0
        with slack_errors(), spending_at_most(self._search_budget()):
            for msg in thread_messages(self.client, channel, thread, page=HISTORY_PAGE, **window):
                if found := _found(msg, marker):
                    return found
                read += 1
                if read >= HISTORY_PAGE * HISTORY_PAGES:
                    break
            else:
                return None
        # More replies in the window than one search reads: never conclude "not there" (see find_post).
        raise Transient("thread_window_not_fully_read", maybe_sent=True)

    def _open_dm(self, user: str) -> str:
        try:
            with slack_errors():
                return str(self.client.conversations_open(users=user)["channel"]["id"])
        except Transient as exc:
            raise Transient(str(exc), maybe_sent=False) from None  # opening a DM sends nothing

    def dm(self, user: str, view: Any, *, marker: Marker | None = None) -> str:
        with _dm_refusals():
            return self.post(self._open_dm(user), view, marker=marker)

    def find_dm(self, user: str, marker: Marker, *, oldest: datetime, latest: datetime) -> Found | None:
        with _dm_refusals():
            return self.find_post(self._open_dm(user), marker, oldest=oldest, latest=latest)

    def send_file(self, user: str, file: FileToSend) -> None:
        with _dm_refusals():
            channel = self._open_dm(user)
            with slack_errors():
                self.client.files_upload_v2(channel=channel, initial_comment=file.comment, file=file.content,
                                            filename=file.filename, title=file.title)  # fmt: skip

    def is_member(self, user: str, channel: str) -> bool:
        return user_in_channel(self.client, user, channel)

    def timezone(self, user: str) -> str | None:
        """Slack's ``users.info`` ``tz`` (a person's profile setting, or their workspace's default)."""
        with slack_errors():
            info = self.client.users_info(user=user).get("user") or {}
        tz = info.get("tz")
        return str(tz) if tz else None


def weekly_post_renderer(corpus: Corpus) -> Callable[[WeeklyPost], dict[str, Any]]:
    """Weekly posts rendered once per view: the same for every channel that gets this point this week, so a
    fan-out renders it once rather than once per channel (Block Kit models validate as they serialise: a
    sixth of the clock's time per post). Callers must not change what it returns."""

    @lru_cache(maxsize=1024)
    def render(view: WeeklyPost) -> dict[str, Any]:
        return blocks.weekly_post(corpus, corpus.by_id[view.point_id], view.week_start, view.summary_when,
                                  reflect_button=view.reflect_button)  # fmt: skip

    return render


class SlackDeliveries:
    """The port for any workspace: one client (single-workspace) or each workspace's own (distributed)."""

    def __init__(self, client: WebClient | None, corpus: Corpus,
                 clients: Callable[[Workspace], WebClient] | None = None):  # fmt: skip
        self.client = client
        self.corpus = corpus
        self.clients = clients
        self._weekly = weekly_post_renderer(corpus)

    def __call__(self, ws: Workspace) -> SlackDelivery:
        if self.clients is None:
            assert self.client is not None, "a single client, or one per workspace"
            return SlackDelivery(self.client, self.corpus, self._weekly)
        try:
            return SlackDelivery(self.clients(ws), self.corpus, self._weekly)
        except NotInstalled:
            raise Permanent("not_installed") from None
