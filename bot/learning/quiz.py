"""Spaced knowledge checks: who opted in, each person's Leitner boxes, their answers, and team aggregates.

A person who opts in (``/scr quiz on``) gets at most one check a day, by DM, on the team's quiz days
and within its working hours. Which check comes next follows a Leitner schedule: every check a
person has seen sits in a box; a right answer moves it up a box (it comes back later), a wrong
answer sends it back to box 1 (it comes back the next quiz day), and a check sent but not answered
is treated as missed. Nothing here knows about Slack: ``bot.learning.quiz_sender`` delivers, the handlers
record answers, and everything is testable with a plain clock.

The team only ever sees aggregates (how many answered, which checks were hard), counted per
channel and ISO week, and never when fewer than ``MIN_GROUP`` people are behind a figure.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import redis

from bot.content.corpus import Check, Corpus
from bot.storage import keys
from bot.storage.store import Workspace

BOX_DAYS = (1, 3, 7, 14, 30)  # box 1 comes back the next day; box 5 (well known) after a month
MIN_GROUP = 3  # below this, a count could identify people: suppressed everywhere a group is shown
DAY = 86400
DM = "-"  # the aggregate bucket of people who opted in from a DM rather than a team channel
SENT_DAYS_KEPT = 8  # the days a check was last sent on, kept on its card: which copies of it may be answered


# ----- the Leitner schedule (pure) ---------------------------------------------------------------
@dataclass
class Card:
    """One person's progress on one check."""

    check: str
    box: int = 1
    due: float = 0.0  # epoch seconds: not offered again before this
    right: int = 0
    wrong: int = 0
    sent: float = 0.0
    answered: float = 0.0
    held: int = 0  # the box it was in when last sent, until answered (meanwhile it sits in box 1)
    # The days (the person's own, YYYY-MM-DD) it was last sent on, newest last: an answer names the day of the copy
    # pressed, and only a copy that was sent may be answered (``QuizStore.was_sent``).
    days: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> Card:
        return cls(**json.loads(raw))


def interval(box: int) -> float:
    return BOX_DAYS[max(1, min(box, len(BOX_DAYS))) - 1] * DAY


def due_after(now: float, box: int, tz: str) -> float:
    """The start (local midnight) of the day ``interval(box)`` days after ``now``: "back in 3 days" means any
    time that day, whatever time of day the check was answered."""
    local = datetime.fromtimestamp(now, ZoneInfo(tz)).date() + timedelta(seconds=interval(box))
    return datetime(local.year, local.month, local.day, tzinfo=ZoneInfo(tz)).timestamp()


def after_sending(card: Card | None, check: str, now: float, tz: str = "Europe/London", day: str = "") -> Card:
    """A check just sent: until it is answered it counts as missed, so it goes back to box 1 and returns the
    next quiz day, as the README promises; an answer then counts from the box it was sent from (``held``).
    Sent again while still held, the earlier send was missed, and a miss stays a miss: an answer to this copy
    counts from box 1, not from the box of the first send. ``day``: the person's day it was sent on, kept so
    that an answer naming it is known to answer a copy actually sent."""
    card = card or Card(check=check)
    card.held = 1 if card.held else card.box
    card.box = 1
    card.sent = now
    note_sent(card, day)
    card.due = due_after(now, 1, tz)
    return card


def note_sent(card: Card, day: str) -> None:
    """``day`` is a day ``card``'s check was sent on (the newest ``SENT_DAYS_KEPT`` are kept)."""
    if day and day not in card.days:
        card.days = [*card.days, day][-SENT_DAYS_KEPT:]


def after_answer(card: Card | None, check: str, correct: bool, now: float, tz: str = "Europe/London") -> Card:
    """Known: up one box, back later. Missed: back to box 1, back the next quiz day."""
    card = card or Card(check=check)
    if card.held:
        card.box, card.held = card.held, 0  # answered after all: not missed
    if correct:
        card.box = min(card.box + 1, len(BOX_DAYS))
        card.right += 1
    else:
        card.box = 1
        card.wrong += 1
    card.answered = now
    card.due = due_after(now, card.box, tz)
    return card


def choose(cards: dict[str, Card], candidates: Sequence[str], now: float) -> str | None:
    """The next check for a person: a due one (lowest box, then longest overdue), else the first new candidate."""
    due = [c for c in cards.values() if c.due <= now and c.check in candidates]
    if due:
        return min(due, key=lambda c: (c.box, c.due)).check
    for check in candidates:
        if check not in cards:
            return check
    return None


def candidate_order(corpus: Corpus, seed: str, first_points: Iterable[str] = ()) -> list[str]:
    """New checks in the order they are offered: those on the team's recent weekly point first, then every other
    check in a stable order per ``seed``. The seed is the team's channel, so a team meets the same new check on
    the same day (something to talk about, and enough answers per check for the team's "which were hard")."""
    first = [c.id for p in first_points for c in corpus.checks_for(p)]
    rest = sorted((c.id for c in corpus.checks if c.id not in first), key=lambda cid: zlib.crc32(f"{seed}:{cid}".encode()))
    return list(dict.fromkeys(first)) + rest


# ----- answers and aggregates ------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    check: str
    point: str
    correct: bool
    chosen: str
    sent_day: str
    answered_at: float
    channel: str = DM

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> Answer:
        return cls(**json.loads(raw))


@dataclass(frozen=True)
class HardCheck:
    check: str
    answered: int
    right: int


@dataclass(frozen=True)
class Aggregate:
    """What a team may see: counts, with anything behind fewer than ``MIN_GROUP`` people suppressed."""

    answered: int
    right: int
    people: int
    hard: list[HardCheck] = field(default_factory=list)

    @property
    def shown(self) -> bool:
        return self.people >= MIN_GROUP


def suppress(n: int) -> str:
    """A count fit to show a group: below ``MIN_GROUP`` (but not zero) it could point at individuals."""
    return "fewer than 3" if 0 < n < MIN_GROUP else str(n)


@dataclass(frozen=True)
class Attempt:
    """A knowledge check about to be sent: which, for which day, and when (the window to look in for it)."""

    check: str
    day: str
    at: float


@dataclass(frozen=True)
class Person:
    user: str
    channel: str  # the team channel they opted in from, or DM
    since: float
    paused_until: float = 0.0  # epoch seconds: no checks before then (leave, sickness); 0 = not paused

    def paused(self, now: float) -> bool:
        return self.paused_until > now


class NotSent(LookupError):
    """An answer naming a check and day that were never sent to this person (a forged or made-up press)."""


# ----- Redis ---------------------------------------------------------------------------------------
class QuizStore:
    def __init__(self, client: redis.Redis, retention_days: int = 365, clock: Callable[[], float] | None = None,
                 timezone: str = "Europe/London"):  # fmt: skip
        self.r = client
        self.timezone = timezone
        self.retention = retention_days * DAY
        self.clock = clock or (lambda: datetime.now(UTC).timestamp())

    # keys (all built in bot.storage.keys)
    people_key = staticmethod(keys.quiz_people)
    cards_key = staticmethod(keys.quiz_cards)
    day_key = staticmethod(keys.quiz_day)
    answers_key = staticmethod(keys.quiz_answers)

    @staticmethod
    def agg_key(ws: Workspace, channel: str, week: str) -> str:
        return keys.quiz_week(ws, channel, week)[0]

    @staticmethod
    def agg_people_key(ws: Workspace, channel: str, week: str) -> str:
        return keys.quiz_week(ws, channel, week)[1]

    @staticmethod
    def workspaces_key() -> str:
        return keys.QUIZ_WORKSPACES

    # opting in and out
    def opt_in(self, ws: Workspace, user: str, channel: str | None) -> bool:
        """True if newly opted in (False: already in, channel updated)."""
        person = Person(user, channel if channel and channel[:1] in ("C", "G") else DM, self.clock())
        existed = self.r.hexists(self.people_key(ws), user)
        with self.r.pipeline() as pipe:
            pipe.hset(self.people_key(ws), user, json.dumps(asdict(person)))
            pipe.sadd(self.workspaces_key(), keys.workspace_entry(ws))
            pipe.execute()
        return not existed

    def pause(self, ws: Workspace, user: str, until: float) -> Person | None:
        """No checks for ``user`` before ``until`` (0: resume now). None if they have not opted in."""
        person = self.person(ws, user)
        if person is None:
            return None
        person = Person(person.user, person.channel, person.since, max(0.0, until))
        self.r.hset(self.people_key(ws), user, json.dumps(asdict(person)))
        return person

    def opt_out(self, ws: Workspace, user: str) -> bool:
        return bool(self.r.hdel(self.people_key(ws), user))

    def person(self, ws: Workspace, user: str) -> Person | None:
        raw = self.r.hget(self.people_key(ws), user)
        return Person(**json.loads(raw)) if raw else None

    def people(self, ws: Workspace) -> list[Person]:
        return [Person(**json.loads(v)) for v in self.r.hgetall(self.people_key(ws)).values()]

    def workspaces(self) -> list[Workspace]:
        return [keys.parse_workspace_entry(m) for m in sorted(self.r.smembers(self.workspaces_key()))]

    # cards
    def cards(self, ws: Workspace, user: str) -> dict[str, Card]:
        return {k: Card.from_json(v) for k, v in self.r.hgetall(self.cards_key(ws, user)).items()}

    def save_card(self, ws: Workspace, user: str, card: Card) -> None:
        key = self.cards_key(ws, user)
        with self.r.pipeline() as pipe:
            pipe.hset(key, card.check, card.to_json())
            pipe.expire(key, self.retention)
            pipe.execute()

    # one a day
    def claim_day(self, ws: Workspace, user: str, day: str) -> bool:
        """At most one check per person per day, across every process: the first claim wins."""
        return bool(self.r.set(self.day_key(ws, user, day), "claimed", nx=True, ex=keys.QUIZ_DAY_SECONDS))

    def sent_today(self, ws: Workspace, user: str, day: str, check: str, ts: str) -> None:
        self.r.set(self.day_key(ws, user, day), json.dumps({"check": check, "ts": ts}), ex=keys.QUIZ_DAY_SECONDS)

    def release_day(self, ws: Workspace, user: str, day: str) -> None:
        self.r.delete(self.day_key(ws, user, day))

    # a send in flight: recorded before it, so that one whose outcome was lost can be looked for later
    def record_attempt(self, ws: Workspace, user: str, attempt: Attempt) -> None:
        self.r.set(keys.quiz_attempt(ws, user), json.dumps(asdict(attempt)), ex=keys.QUIZ_ATTEMPT_SECONDS)

    def attempt(self, ws: Workspace, user: str) -> Attempt | None:
        """The send whose outcome is not known yet (a timeout, a 5xx), if any."""
        raw = self.r.get(keys.quiz_attempt(ws, user))
        try:
            return Attempt(**json.loads(raw)) if raw else None
        except (ValueError, TypeError):
            return None  # unreadable: treated as never sent (a check at most once more, never lost)

    def clear_attempt(self, ws: Workspace, user: str) -> None:
        self.r.delete(keys.quiz_attempt(ws, user))

    # answers
    @staticmethod
    def month_key(ws: Workspace, channel: str, month: str) -> str:
        return keys.quiz_month(ws, channel, month)[0]

    @staticmethod
    def month_people_key(ws: Workspace, channel: str, month: str) -> str:
        return keys.quiz_month(ws, channel, month)[1]

    def month_counts(self, ws: Workspace, channel: str, month: str) -> tuple[int, int]:
        """(checks answered, people) in a channel's team in a month ("2026-11"), for the digest."""
        answered = int(self.r.hget(self.month_key(ws, channel, month), "answered") or 0)
        return answered, int(self.r.scard(self.month_people_key(ws, channel, month)))

    def record_answer(self, ws: Workspace, user: str, answer: Answer, week: str) -> Card | None:
        """Record one answer to one sent check, with its effect on the person's box and the team's counts, all or
        nothing (MULTI/EXEC under WATCH): a second click, a retried request or two processes at once change
        nothing more (None), and a process that dies part-way leaves no half-recorded answer."""
        key, field = self.answers_key(ws, user), f"{answer.sent_day}:{answer.check}"
        cards = self.cards_key(ws, user)
        agg, people = self.agg_key(ws, answer.channel, week), self.agg_people_key(ws, answer.channel, week)
        month = datetime.fromtimestamp(answer.answered_at, ZoneInfo(self.timezone)).strftime("%Y-%m")  # the workspace's month
        month_agg, month_people = self.month_key(ws, answer.channel, month), self.month_people_key(ws, answer.channel, month)
        with self.r.pipeline(transaction=True) as pipe:  # explicit: a Cluster pipeline is not by default
            while True:
                try:
                    pipe.watch(key, cards)
                    if pipe.hexists(key, field):
                        return None
                    raw = pipe.hget(cards, answer.check)
                    card = after_answer(Card.from_json(raw) if raw else None, answer.check, answer.correct,
                                        answer.answered_at, self.timezone)  # fmt: skip
                    pipe.multi()
                    pipe.hset(key, field, answer.to_json())
                    pipe.expire(key, self.retention)
                    pipe.hset(cards, card.check, card.to_json())
                    pipe.expire(cards, self.retention)
                    pipe.hincrby(agg, "answered", 1)
                    pipe.hincrby(agg, f"n:{answer.check}", 1)
                    if answer.correct:
                        pipe.hincrby(agg, "right", 1)
                        pipe.hincrby(agg, f"r:{answer.check}", 1)
                    pipe.sadd(people, user)
                    pipe.hincrby(month_agg, "answered", 1)
                    pipe.sadd(month_people, user)
                    for k in (agg, month_agg):  # counts only
                        pipe.expire(k, keys.QUIZ_AGGREGATE_SECONDS)
                    for k in (people, month_people):  # who answered: no longer than the retention period
                        pipe.expire(k, min(self.retention, keys.QUIZ_AGGREGATE_SECONDS))
                    memberships = keys.quiz_memberships(ws, user)
                    pipe.sadd(memberships, people, month_people)
                    pipe.expire(memberships, min(self.retention, keys.QUIZ_AGGREGATE_SECONDS))
                    pipe.execute()
                    self.answers(ws, user)  # and delete any answers now past the retention period
                    return card
                except redis.WatchError:
                    continue  # someone else wrote meanwhile: look again

    def was_sent(self, ws: Workspace, user: str, check: str, sent_day: str) -> bool:
        """Whether ``check`` was sent to ``user`` on their day ``sent_day``: that day's one-a-day record names it
        (kept two days), or the check's card lists the day (kept with the card). A press naming anything else
        answers no check we sent, whatever signed it."""
        raw = self.r.get(self.day_key(ws, user, sent_day))
        try:
            if raw and json.loads(raw).get("check") == check:
                return True
        except (ValueError, AttributeError):
            pass  # "claimed": the send is under way; the card says whether an earlier one went
        card = self.r.hget(self.cards_key(ws, user), check)
        return bool(card) and sent_day in Card.from_json(card).days

    def choose(self, ws: Workspace, user: str, check: Check, chosen: int, sent_day: str, answered_at: float,
               week: str) -> tuple[Card | None, int]:  # fmt: skip
        """A press of option ``chosen`` on ``check`` (sent on ``sent_day``), recorded once, for every front end's
        buttons: (the person's progress, ``chosen``) for a first answer; (None, the option first chosen) for a
        press after it, since the first answer is the one kept and the one to show again. Raises ``NotSent``
        when that check was never sent to them that day: one sent check counts once, not once per made-up day."""
        if not self.was_sent(ws, user, check.id, sent_day):
            raise NotSent(f"{check.id} was not sent to {user} on {sent_day}")
        person = self.person(ws, user)
        answer = Answer(check=check.id, point=check.point, correct=check.options[chosen] == check.answer,
                        chosen=check.options[chosen], sent_day=sent_day, answered_at=answered_at,
                        channel=person.channel if person else DM)  # fmt: skip
        card = self.record_answer(ws, user, answer, week)
        if card is not None:
            return card, chosen
        first = self.previous_answer(ws, user, sent_day, check.id)
        return None, (check.options.index(first.chosen) if first and first.chosen in check.options else chosen)

    def previous_answer(self, ws: Workspace, user: str, sent_day: str, check: str) -> Answer | None:
        raw = self.r.hget(self.answers_key(ws, user), f"{sent_day}:{check}")
        return Answer.from_json(raw) if raw else None

    def answers(self, ws: Workspace, user: str) -> list[Answer]:
        """One person's answers, newest first; answers past the retention period are deleted, not just hidden."""
        cutoff = self.clock() - self.retention
        key = self.answers_key(ws, user)
        found = {k: Answer.from_json(v) for k, v in self.r.hgetall(key).items()}
        expired = [k for k, a in found.items() if a.answered_at <= cutoff]
        if expired:
            self.r.hdel(key, *expired)
        return sorted((a for a in found.values() if a.answered_at > cutoff), key=lambda a: -a.answered_at)

    def forget(self, ws: Workspace, user: str) -> int:
        """Delete one person's quiz record (answers, boxes, opt-in) and take them out of the team aggregates'
        lists of who answered. The aggregates keep only their anonymous counts."""
        n = len(self.r.hkeys(self.answers_key(ws, user)))
        memberships = keys.quiz_memberships(ws, user)
        sets = self.r.smembers(memberships)
        with self.r.pipeline() as pipe:
            pipe.delete(self.answers_key(ws, user))  # one key per DEL: a Redis Cluster pipeline refuses more
            pipe.delete(self.cards_key(ws, user))
            pipe.hdel(self.people_key(ws), user)
            for people in sets:
                pipe.srem(people, user)
            pipe.delete(memberships)
            pipe.delete(keys.person_tz(ws, user))
            pipe.delete(keys.quiz_attempt(ws, user))
            pipe.execute()
        return n

    # aggregates
    def aggregate(self, ws: Workspace, channels: Iterable[str], weeks: Iterable[str]) -> Aggregate:
        answered = right = 0
        people: set[str] = set()
        per: dict[str, list[int]] = {}
        for channel in channels:
            for week in weeks:
                data = self.r.hgetall(self.agg_key(ws, channel, week))
                answered += int(data.get("answered", 0))
                right += int(data.get("right", 0))
                people |= self.r.smembers(self.agg_people_key(ws, channel, week))
                for name, value in data.items():
                    if name.startswith(("n:", "r:")):
                        slot = per.setdefault(name[2:], [0, 0])
                        slot[0 if name.startswith("n:") else 1] += int(value)
        hard = sorted((HardCheck(c, n, r) for c, (n, r) in per.items() if n >= MIN_GROUP and r / n < 0.6),
                      key=lambda h: (h.right / h.answered, -h.answered))  # fmt: skip
        return Aggregate(answered, right, len(people), hard)


def weeks_between(start: datetime, end: datetime, tz: str) -> list[str]:
    """ISO week keys from ``start`` to ``end`` inclusive, in ``tz``, oldest first."""
    zone = ZoneInfo(tz)
    day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    out: list[str] = []
    while day <= last:
        iso = day.isocalendar()
        key = f"{iso.year}-W{iso.week:02d}"
        if key not in out:
            out.append(key)
        day += timedelta(days=1)
    return out
