"""Which learning point a schedule posts next.

Each schedule walks through the points matching its filters with no repeat until all have been
posted, then starts a new cycle in a new order. Practice learning and key data rotate; background
points (what an SCR is, who a briefing is for, how a study was done) join only when the schedule asks
for them, or when its filters match nothing else. Consecutive weeks avoid the same main theme where
another point is available. The order comes from a hash of (schedule, cycle, point), so it is the
same in every process and after every restart; what has been posted is kept in Redis.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis

from bot.content.corpus import Corpus, Point
from bot.storage import keys
from bot.weekly.schedules import Schedule


@dataclass(frozen=True)
class RotationState:
    cycle: int
    posted: frozenset[str]
    last_theme: str | None


def _rank(schedule_id: str, cycle: int, point_id: str) -> str:
    return hashlib.sha256(f"{schedule_id}\x00{cycle}\x00{point_id}".encode()).hexdigest()


def weekly_pool(corpus: Corpus, schedule: Schedule) -> list[Point]:
    """The points a schedule's weekly post draws from: a team reflecting on its week wants practice
    learning and key data, so background comes in only when asked for (``background``) or when the
    filters match nothing but background."""
    matching = [p for p in corpus.points if schedule.matches(p)]
    if schedule.background:
        return matching
    return [p for p in matching if p.kind != "background"] or matching


# A subscription whose filters give fewer points than this repeats within about three months: say so.
REPEAT_WARN_WEEKS = 13


def repeat_warning(corpus: Corpus, schedule: Schedule, now: datetime) -> str | None:
    """Plain words for a team whose filters match few points: how many, and when the first repeat comes."""
    pool = weekly_pool(corpus, schedule)
    n = len(pool)
    if n >= REPEAT_WARN_WEEKS:
        return None
    trigger, fire, at = schedule.post_trigger(), None, now
    for _ in range(n + 1):  # the (n+1)-th post is the first repeat
        fire = trigger.get_next_fire_time(None, at)
        if fire is None:
            break
        at = fire + timedelta(seconds=1)
    first_repeat = f", from {fire.astimezone(schedule.tz):%-d %B %Y}" if fire else ""
    text = (f"Only {n} learning point{'s' if n != 1 else ''} match{'es' if n == 1 else ''} these filters, so the weekly "
            f"post will start repeating after {n} week{'s' if n != 1 else ''}{first_repeat}. Fewer filters give more variety.")  # fmt: skip
    held_back = [p for p in corpus.points if schedule.matches(p) and p not in pool]
    if held_back:
        text += f" Adding `background` would bring in {len(held_back)} background point{'s' if len(held_back) != 1 else ''} too."
    return text


class Rotation:
    def __init__(self, client: redis.Redis, corpus: Corpus):
        self.r = client
        self.corpus = corpus
        # A schedule's pool depends only on its filters, and a fan-out asks for it for every channel.
        self._pools: dict[tuple[tuple[str, ...], tuple[str, ...], bool], list[Point]] = {}

    def _keys(self, schedule: Schedule) -> tuple[str, str]:
        return keys.rotation(schedule.workspace, schedule.id)

    def candidates(self, schedule: Schedule) -> list[Point]:
        """The schedule's pool (a fresh list: callers may sort it)."""
        key = (schedule.sectors, schedule.themes, schedule.background)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = weekly_pool(self.corpus, schedule)
        return list(pool)

    def state(self, schedule: Schedule) -> RotationState:
        return self._state(schedule)[0]

    def _state(self, schedule: Schedule) -> tuple[RotationState, str | None]:
        """The state, and the week it last moved (one round trip for both)."""
        meta_key, posted_key = self._keys(schedule)
        with self.r.pipeline() as pipe:
            pipe.hgetall(meta_key)
            pipe.smembers(posted_key)
            meta, posted = pipe.execute()
        state = RotationState(int(meta.get("cycle", 0)), frozenset(posted), meta.get("last_theme") or None)
        return state, meta.get("week")

    def pick(self, schedule: Schedule, state: RotationState) -> tuple[Point, RotationState]:
        """The next point and the state after posting it (pure: nothing is written)."""
        pool = self.candidates(schedule)
        if not pool:
            raise LookupError(f"schedule {schedule.id} matches no learning points")
        cycle, posted = state.cycle, set(state.posted)
        remaining = [p for p in pool if p.id not in posted]
        if not remaining:
            cycle, posted = cycle + 1, set()
            remaining = pool
        remaining.sort(key=lambda p: _rank(schedule.id, cycle, p.id))
        choice = next((p for p in remaining if p.themes[0] != state.last_theme), remaining[0])
        return choice, RotationState(cycle, frozenset(posted | {choice.id}), choice.themes[0])

    def next_point(self, schedule: Schedule) -> Point:
        return self.pick(schedule, self.state(schedule))[0]

    def commit(self, schedule: Schedule, point: Point, week: str) -> None:
        """Record that ``point`` was posted in ``week``. Idempotent per week, so the recovery path after a
        crash can call it again without advancing the rotation twice."""
        with self.r.pipeline() as pipe:
            self.queue_commit(pipe, schedule, point, week)
            pipe.execute()

    def queue_commit(self, pipe: redis.client.Pipeline, schedule: Schedule, point: Point, week: str) -> None:
        """``commit``, with its writes queued on ``pipe`` so that the caller sends them along with its own
        (the weekly post records the rotation and the post in one round trip)."""
        meta_key, posted_key = self._keys(schedule)
        state, last_week = self._state(schedule)
        if last_week == week:
            return
        cycle = state.cycle
        pool = {p.id for p in self.candidates(schedule)}
        if pool <= set(state.posted):  # everything posted: this post opens the next cycle
            cycle += 1
            pipe.delete(posted_key)
        pipe.hset(meta_key, mapping={"cycle": cycle, "last_theme": point.themes[0], "week": week})
        pipe.sadd(posted_key, point.id)

    def preview(self, schedule: Schedule, weeks: int) -> list[Point]:
        state = self.state(schedule)
        out = []
        for _ in range(weeks):
            point, state = self.pick(schedule, state)
            out.append(point)
        return out
