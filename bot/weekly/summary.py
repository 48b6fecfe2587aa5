"""The week's reflection summary, posted once in the weekly post's thread at the schedule's summary time.

It gives the team back what it did together: how many reflections from how many people, and which of
the week's questions drew most discussion. It counts only what was shared in the thread and never
quotes anyone. Delivery uses the same exactly-once protocol as the weekly post (``bot.once``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from bot import metrics
from bot.content.corpus import Corpus
from bot.delivery import Marker
from bot.learning.quiz import QuizStore
from bot.once import Once, Permanent
from bot.reflections.store import ReflectionStore
from bot.storage import keys
from bot.weekly.poster import Result, WeeklyPoster, legacy_names, week_for
from bot.weekly.schedules import Schedule
from bot.weekly.views import ThreadSummary

log = logging.getLogger(__name__)
EVENT_TYPE = "scr_weekly_summary"


class SummaryPoster:
    def __init__(self, poster: WeeklyPoster, store: ReflectionStore, corpus: Corpus):
        self.poster = poster  # its way out (the delivery port) and its clock serve the summary too
        self.once: Once = poster.once
        self.store = store
        self.corpus = corpus

    def deliver(self, schedule: Schedule, now: datetime | None = None, *, ignore_time: bool = False) -> Result:
        """This week's summary in the post's thread, counted by outcome (``bot.metrics``)."""
        result = self._deliver(schedule, now, ignore_time=ignore_time)
        metrics.count_posts("summary", [result.outcome])
        return result

    def _deliver(self, schedule: Schedule, now: datetime | None, *, ignore_time: bool) -> Result:
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
            delivery = self.poster.delivery_for(schedule)
        except Permanent as exc:
            return Result(schedule.id, week.key, "failed", point=point.id, error=str(exc))

        def prepare(previous: dict[str, Any] | None) -> dict[str, Any]:
            # "sent_at": where in the thread to look, the real time (Slack stamps it), not the one --now pretends
            return {"thread_ts": thread_ts, "at": now.isoformat(), "sent_at": self.poster.clock().isoformat()}

        def send(attempt: dict[str, Any]) -> dict[str, Any]:
            stats = self.store.thread_stats(ws, schedule.channel, thread_ts, point.questions)
            quiz = QuizStore(self.store.r).aggregate(ws, [schedule.channel], [week.key])
            ts = delivery.post(schedule.channel, ThreadSummary(point, stats, quiz), thread=thread_ts,
                               marker=Marker(EVENT_TYPE, key, {"week": week.key}))  # fmt: skip
            return {"ts": ts, "reflections": stats.reflections, "people": stats.people}

        def find(previous: dict[str, Any]) -> dict[str, Any] | None:
            if seen := self.once.seen(key):  # Slack sent the summary back as an event: no read needed
                return {"ts": seen["ts"]}
            # Only the attempt's time window of the thread: a busy thread costs no more reads.
            for oldest, latest in self.poster.attempt_windows(previous, week):
                marker = Marker(EVENT_TYPE, key, also=legacy_names(key))
                if found := delivery.find_reply(schedule.channel, thread_ts, marker, oldest=oldest, latest=latest):
                    return {"ts": found.id}
            return None

        out = self.once.run(key, prepare=prepare, send=send, find=find, finish=lambda attempt, result: None)
        outcome = {"sent": "posted"}.get(out.state, out.state)
        if outcome in ("posted", "recovered"):
            log.info("schedule %s %s: summary %s in thread %s", schedule.id, week.key, outcome, thread_ts)
        return Result(schedule.id, week.key, outcome, (out.result or {}).get("ts"), point.id, out.error)
