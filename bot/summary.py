"""The week's reflection summary, posted once in the weekly post's thread at the schedule's summary time.

It gives the team back what it did together: how many reflections from how many people, and which of
the week's questions drew most discussion. It counts only what was shared in the thread and never
quotes anyone. Delivery uses the same exactly-once protocol as the weekly post (``bot.once``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from slack_sdk import WebClient

from bot import keys
from bot.content import Corpus
from bot.once import Once, Permanent
from bot.quiz import QuizStore
from bot.quiz_blocks import summary_lines
from bot.reflect_blocks import summary_message
from bot.reflections import ReflectionStore
from bot.schedules import Schedule
from bot.weekly import Result, WeeklyPoster, slack_errors, week_for

log = logging.getLogger(__name__)
EVENT_TYPE = "scr_weekly_summary"


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


class SummaryPoster:
    def __init__(self, poster: WeeklyPoster, store: ReflectionStore, slack: WebClient, corpus: Corpus):
        self.poster = poster
        self.once: Once = poster.once
        self.store = store
        self.slack = slack
        self.corpus = corpus

    def deliver(self, schedule: Schedule, now: datetime | None = None, *, ignore_time: bool = False) -> Result:
        now = now or self.poster.clock()
        week = week_for(schedule, now)
        if not ignore_time and (week.summary_at >= week.end or now < week.summary_at):
            return Result(schedule.id, week.key, "not_due")
        posted = self.once.state(WeeklyPoster.claim_key(schedule, week.key))
        if posted.get("state") != "done":
            return Result(schedule.id, week.key, "no_post")
        thread_ts = posted["result"]["ts"]
        point = self.corpus.point(posted["result"].get("point", ""))
        if point is None:
            return Result(schedule.id, week.key, "no_post")
        ws = schedule.workspace
        key = keys.summary_claim(ws, schedule.id, week.key)
        try:
            slack = self.poster.slack_for(schedule)
        except Permanent as exc:
            return Result(schedule.id, week.key, "failed", point=point.id, error=str(exc))

        def prepare(previous: dict[str, Any] | None) -> dict[str, Any]:
            return {"thread_ts": thread_ts}

        def send(attempt: dict[str, Any]) -> dict[str, Any]:
            stats = self.store.thread_stats(ws, schedule.channel, thread_ts, point.questions)
            quiz = summary_lines(self.corpus, QuizStore(self.store.r).aggregate(ws, [schedule.channel], [week.key]))
            with slack_errors():
                resp = slack.chat_postMessage(
                    channel=schedule.channel, thread_ts=thread_ts,
                    metadata={"event_type": EVENT_TYPE, "event_payload": {"key": key, "week": week.key}},
                    **summary_message(point, stats, quiz),
                )  # fmt: skip
            return {"ts": str(resp["ts"]), "reflections": stats.reflections, "people": stats.people}

        def find(previous: dict[str, Any]) -> dict[str, Any] | None:
            legacy = keys.legacy_name(key)
            with slack_errors():
                for msg in thread_messages(slack, schedule.channel, thread_ts):
                    meta = msg.get("metadata") or {}
                    if meta.get("event_type") == EVENT_TYPE and (meta.get("event_payload") or {}).get("key") in (
                            key, legacy):
                        return {"ts": msg["ts"]}
            return None

        out = self.once.run(key, prepare=prepare, send=send, find=find, finish=lambda attempt, result: None)
        outcome = {"sent": "posted"}.get(out.state, out.state)
        if outcome in ("posted", "recovered"):
            log.info("schedule %s %s: summary %s in thread %s", schedule.id, week.key, outcome, thread_ts)
        return Result(schedule.id, week.key, outcome, (out.result or {}).get("ts"), point.id, out.error)
