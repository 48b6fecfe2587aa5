"""A 7-minute briefing run as a session: who was there, and the actions the team agreed.

Partnerships ask teams to record each use of a briefing on an action plan so they can see the learning
was used (docs/domain.md §6). A session is one briefing run in a channel; people say "I was there" (or the
facilitator ticks them in); the team agrees actions (what, owner, due date). The clock later follows each
action up with its owner (``bot.briefings.followup``) and, three months on, asks the facilitator the
partnership's three standing questions.

Everything here is Redis, through ``bot.storage.keys``; no chat platform. Validation (``check_action``) is
a pure function so every front end refuses the same bad input with the same words, before anything is
written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import redis

from bot.storage import crypto, keys
from bot.storage.keys import Workspace

OPEN, DONE, PARTLY, NOT_YET, OVERDUE = "open", "done", "partly", "not_yet", "overdue"
UNDELIVERABLE = "undeliverable"  # its owner can never get a DM from the bot (left, deactivated): not followed up
ANSWERS = {DONE: "Done", PARTLY: "Partly", NOT_YET: "Not yet"}
WHAT_MAX = 300
CHANGE_MAX = 300
# Days an action must outlive its due date: the follow-up, its one reminder three working days on, and the
# "overdue" mark three working days after that, with room for bank holidays and days off in between.
FOLLOWUP_DAYS = 14


@dataclass
class Session:
    """One briefing run in ``channel`` (its post is ``ts``): the session's id is ``<channel>:<ts>``."""

    channel: str
    ts: str
    theme: str
    title: str
    facilitator: str
    at: float
    points: list[str] = field(default_factory=list)  # the cited points it was built from (the CPD export cites them)

    @property
    def id(self) -> str:
        return f"{self.channel}:{self.ts}"

    @classmethod
    def from_json(cls, raw: str) -> Session:
        data = json.loads(raw)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class Action:
    """An action agreed at a session. ``status``: open until its owner answers the follow-up (done, partly,
    not_yet) or the one reminder goes unanswered (overdue). ``asked_at``/``reminded_at``: when the follow-up
    DM and the reminder went (the clock's time), so neither is ever sent twice."""

    id: str
    channel: str
    ts: str
    theme: str
    what: str
    owner: str
    due: str  # ISO date
    facilitator: str
    created_at: float
    status: str = OPEN
    asked_at: float = 0.0
    reminded_at: float = 0.0
    answered_at: float = 0.0
    change: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def session(self) -> str:
        return f"{self.channel}:{self.ts}"

    @classmethod
    def from_json(cls, raw: str) -> Action:
        data = json.loads(raw)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def latest_due(today: date, retention_days: int) -> date:
    """The latest due date an action can have: its record is kept ``retention_days`` from when it is agreed, and
    must still be there for its follow-up, reminder and "overdue" mark (``FOLLOWUP_DAYS`` after the due date)."""
    return today + timedelta(days=max(0, retention_days - FOLLOWUP_DAYS))


def check_action(what: str, owner: str, due: str, today: date, retention_days: int) -> dict[str, str]:
    """What is wrong with an action as typed, by field (empty: nothing). ``today`` is the workspace's own date
    (its time zone, as ``/scr settings timezone`` sets it): "in the past" means in the past where the team is.
    A due date the record would not live to see is refused too: it would expire, silently, before its
    follow-up. The owner's membership of the channel is the front end's check (it needs the platform), made
    before anything is written."""
    errors: dict[str, str] = {}
    if not what.strip():
        errors["what"] = "Say what the action is, in a few words."
    elif len(what) > WHAT_MAX:
        errors["what"] = f"Keep it to {WHAT_MAX} characters: one action, in a sentence."
    if not owner:
        errors["owner"] = "Choose who owns the action."
    try:
        day = date.fromisoformat(due)
    except ValueError:
        errors["due"] = "Choose a due date."
    else:
        last = latest_due(today, retention_days)
        if day < today:
            errors["due"] = f"The due date {day:%d %b %Y} is in the past: choose today or a later date."
        elif day > last:
            errors["due"] = (f"Choose a date within the next {(last - today).days} days (by {last:%d %b %Y}): actions "
                             f"are kept for {retention_days} days, and the follow-up needs up to {FOLLOWUP_DAYS} "
                             "days after the due date.")  # fmt: skip
    return errors


# The record (SET NX) and its indexes, in one script so a record never exists without them: the session's actions,
# the owner's actions and the clock's due list. KEYS: action, session-actions, owner's actions, actions-due (one
# workspace, one hash tag). ARGV: the sealed record, lifetime (s), id, due day (ordinal). The record is sealed
# (``bot.storage.crypto``), so the script cannot read it: when one is there already (a retried form), nothing is
# written and it returns {0, the stored record}; the caller opens it and indexes it with ``_INDEX_ACTION``.
_ADD_ACTION = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return {0, redis.call('GET', KEYS[1])}
end
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
redis.call('EXPIRE', KEYS[4], ARGV[2])
return {1, ARGV[1]}
"""
# A record that was there already (a retry whose first write landed, answer lost): make sure its indexes are, for
# the record as stored (its own owner and session), only if it is still that record. KEYS as ``_ADD_ACTION``'s;
# ARGV: the stored record as read, lifetime (s), id, due day (ordinal), 1 if it is open (on the clock's list).
_INDEX_ACTION = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[2])
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
  redis.call('EXPIRE', KEYS[4], ARGV[2])
end
return 1
"""


def _due(a: Action) -> int:
    """The action's due day as the clock's list scores it (its ordinal)."""
    return date.fromisoformat(a.due).toordinal()


def session_id(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def split_id(sid: str) -> tuple[str, str]:
    channel, _, ts = sid.partition(":")
    return channel, ts


class SessionStore:
    """Sessions, attendance and actions of each workspace, kept for the retention period."""

    def __init__(self, client: redis.Redis, retention_days: int, clock: Callable[[], float] = time.time):
        self.r = client
        self.retention = retention_days * keys.DAY
        self.clock = clock
        self._scripts: dict[str, Any] = {}

    # ----- sessions --------------------------------------------------------------------------
    def ensure(self, ws: Workspace, s: Session) -> Session:
        """Record the session unless it is recorded already (a button may arrive before the run's own write,
        or after a storage outage lost it): the first record wins, so the facilitator never changes; only the
        points it was built from, which a button does not know, are filled in by the run's record."""
        key = keys.session(ws, s.channel, s.ts)
        with self.r.pipeline(transaction=False) as pipe:
            pipe.set(key, json.dumps(asdict(s)), nx=True, ex=self.retention)
            pipe.zadd(keys.sessions_index(ws), {s.id: s.at}, nx=True)
            pipe.expire(keys.sessions_index(ws), self.retention)
            pipe.zadd(keys.sessions_questions_due(ws), {s.id: s.at + keys.SESSION_QUESTIONS_DAYS * keys.DAY}, nx=True)
            pipe.expire(keys.sessions_questions_due(ws), self.retention)
            pipe.get(key)
            out = pipe.execute()
        self.r.sadd(keys.SESSION_WORKSPACES, keys.workspace_entry(ws))
        stored = Session.from_json(out[-1])
        if s.points and not stored.points:  # a button got there first: the run's own record adds what it cited
            stored.points = list(s.points)
            self.r.set(key, json.dumps(asdict(stored)), xx=True, keepttl=True)
        return stored

    def session(self, ws: Workspace, sid: str) -> Session | None:
        raw = self.r.get(keys.session(ws, *split_id(sid)))
        return Session.from_json(raw) if raw else None

    def sessions_between(self, ws: Workspace, start: float, end: float) -> list[Session]:
        ids = self.r.zrangebyscore(keys.sessions_index(ws), start, f"({end}")
        found = [self.session(ws, sid) for sid in ids]
        return [s for s in found if s is not None]

    def sessions_in(self, ws: Workspace, channel: str) -> list[Session]:
        """The sessions run in ``channel`` of this workspace, oldest first."""
        ids = [sid for sid in self.r.zrange(keys.sessions_index(ws), 0, -1) if split_id(sid)[0] == channel]
        found = [self.session(ws, sid) for sid in ids]
        return [s for s in found if s is not None]

    def attend(self, ws: Workspace, sid: str, users: list[str]) -> int:
        """Add ``users`` to who was there; how many were new."""
        channel, ts = split_id(sid)
        with self.r.pipeline(transaction=False) as pipe:
            pipe.sadd(keys.session_attended(ws, channel, ts), *users)
            pipe.expire(keys.session_attended(ws, channel, ts), self.retention)
            for user in users:
                pipe.sadd(keys.sessions_of_user(ws, user), sid)
                pipe.expire(keys.sessions_of_user(ws, user), self.retention)
            added = pipe.execute()[0]
        return int(added)

    def attended(self, ws: Workspace, sid: str) -> set[str]:
        return set(self.r.smembers(keys.session_attended(ws, *split_id(sid))))

    def sessions_of(self, ws: Workspace, user: str) -> list[Session]:
        found = [self.session(ws, sid) for sid in self.r.smembers(keys.sessions_of_user(ws, user))]
        return sorted((s for s in found if s is not None), key=lambda s: s.at)

    def questions_due(self, ws: Workspace, now: float) -> list[str]:
        return list(self.r.zrangebyscore(keys.sessions_questions_due(ws), "-inf", now))

    def questions_sent(self, ws: Workspace, sid: str) -> None:
        self.r.zrem(keys.sessions_questions_due(ws), sid)

    # ----- actions ---------------------------------------------------------------------------
    def add_action(self, ws: Workspace, a: Action) -> bool:
        """Record an agreed action once (its id comes from the form, so a resubmitted form is one action).

        One Lua script writes the record and its indexes together (all under the workspace's hash tag, one
        Cluster slot), so a lost reply or a crash never leaves a record without its indexes. A retry of a form
        whose first write did land (its answer lost) finds the record and makes sure the indexes are there:
        idempotent, so pressing Agree again after an unknown outcome is always safe. True when this call
        created it; the stored record is ``action(ws, a.id)`` (a retry with another owner keeps the first)."""
        key = keys.action(ws, a.id)
        made, raw = self._script("add", _ADD_ACTION)(
            keys=self._index_keys(ws, a), args=[self._seal(ws, a), self.retention, a.id, _due(a)])
        if not made:  # there already: its indexes, for the record as first stored (its owner, its session)
            stored = self._open(ws, key, raw)
            self._script("index", _INDEX_ACTION)(
                keys=self._index_keys(ws, stored),
                args=[raw, self.retention, a.id, _due(stored), int(stored.status == OPEN)])  # fmt: skip
        self.r.sadd(keys.SESSION_WORKSPACES, keys.workspace_entry(ws))  # global: its own slot, idempotent
        return bool(made)

    def _index_keys(self, ws: Workspace, a: Action) -> list[str]:
        return [keys.action(ws, a.id), keys.session_actions(ws, a.channel, a.ts), keys.actions_of_owner(ws, a.owner),
                keys.actions_due(ws)]  # fmt: skip

    def _script(self, name: str, source: str) -> Callable[..., Any]:
        if name not in self._scripts:
            self._scripts[name] = self.r.register_script(source)
        return self._scripts[name]

    # The action's words (what, and the owner's line on what changed) are a team's and a person's words about
    # their work, as a reflection is: the whole record is sealed with the workspace's data key, bound to its key
    # name (``bot.storage.crypto``), like a reflection. A record an older version wrote in clear still reads (the
    # vault returns it as is); the next write of it, or ``scr-bot keys rotate``, seals it.
    def _seal(self, ws: Workspace, a: Action) -> str:
        return crypto.vault(self.r).seal(ws, keys.action(ws, a.id), json.dumps(asdict(a)))

    def _open(self, ws: Workspace, key: str, raw: str) -> Action:
        return Action.from_json(crypto.vault(self.r).open(ws, key, raw))

    def action(self, ws: Workspace, action_id: str) -> Action | None:
        key = keys.action(ws, action_id)
        raw = self.r.get(key)
        return self._open(ws, key, raw) if raw else None

    def save(self, ws: Workspace, a: Action) -> None:
        """Write back a changed action (its lifetime kept); one that is settled leaves the clock's list (an
        undeliverable one stays until its facilitator has been told: the clock tells them from that list)."""
        self.r.set(keys.action(ws, a.id), self._seal(ws, a), xx=True, keepttl=True)
        if a.status not in (OPEN, UNDELIVERABLE):
            self.r.zrem(keys.actions_due(ws), a.id)

    def actions_of_session(self, ws: Workspace, sid: str) -> list[Action]:
        ids = self.r.smembers(keys.session_actions(ws, *split_id(sid)))
        return sorted((a for a in (self.action(ws, i) for i in ids) if a), key=lambda a: a.created_at)

    def actions_of(self, ws: Workspace, user: str) -> list[Action]:
        ids = self.r.smembers(keys.actions_of_owner(ws, user))
        return sorted((a for a in (self.action(ws, i) for i in ids) if a), key=lambda a: (a.due, a.created_at))

    def due_by(self, ws: Workspace, day: date) -> list[str]:
        """Open actions due on or before ``day``."""
        return list(self.r.zrangebyscore(keys.actions_due(ws), "-inf", day.toordinal()))

    def answer(self, ws: Workspace, action_id: str, user: str, status: str, change: str) -> Action | None:
        """The owner's answer to a follow-up (only the owner's counts; a later answer replaces an earlier one)."""
        a = self.action(ws, action_id)
        if a is None or a.owner != user or status not in ANSWERS:
            return None
        a.status, a.change, a.answered_at = status, change[:CHANGE_MAX], self.clock()
        self.save(ws, a)
        return a

    def workspaces(self) -> list[Workspace]:
        return [keys.parse_workspace_entry(e) for e in sorted(self.r.smembers(keys.SESSION_WORKSPACES))]

    # ----- forget me -------------------------------------------------------------------------
    def forget(self, ws: Workspace, user: str) -> tuple[int, list[Action]]:
        """Take ``user`` out of every session's attendance and delete the actions they own (deleted, not handed
        to the facilitator: an action is a person's commitment, and another's name must not be put on it
        without them). The sessions they ran stay, with everyone else's actions (the team's evidence), but no
        longer name them (``facilitator`` empty: "a former member") and send them nothing: no three-month
        questions, no word of an undeliverable action. Returns (sessions left, the deleted actions, so their
        facilitators can be told; none of them is ``user``)."""
        sessions = list(self.r.smembers(keys.sessions_of_user(ws, user)))
        owned = self.actions_of(ws, user)
        self._unname_facilitator(ws, user)
        for a in owned:
            if a.facilitator == user:
                a.facilitator = ""
        with self.r.pipeline(transaction=False) as pipe:
            for sid in sessions:
                pipe.srem(keys.session_attended(ws, *split_id(sid)), user)
            pipe.delete(keys.sessions_of_user(ws, user))
            for a in owned:
                pipe.delete(keys.action(ws, a.id))
                pipe.srem(keys.session_actions(ws, a.channel, a.ts), a.id)
                pipe.zrem(keys.actions_due(ws), a.id)
            pipe.delete(keys.actions_of_owner(ws, user))
            pipe.execute()
        return len(sessions), owned

    def _unname_facilitator(self, ws: Workspace, user: str) -> None:
        """The sessions ``user`` ran, and the actions agreed at them, no longer name them; the sessions'
        three-month questions are not sent (there is nobody to send them to)."""
        for sid in self.r.zrange(keys.sessions_index(ws), 0, -1):
            s = self.session(ws, sid)
            if s is None or s.facilitator != user:
                continue
            s.facilitator = ""
            self.r.set(keys.session(ws, s.channel, s.ts), json.dumps(asdict(s)), xx=True, keepttl=True)
            self.questions_sent(ws, sid)
            for a in self.actions_of_session(ws, sid):
                if a.facilitator == user:
                    a.facilitator = ""
                    self.r.set(keys.action(ws, a.id), self._seal(ws, a), xx=True, keepttl=True)
