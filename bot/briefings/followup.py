"""The clock's follow-up of agreed actions, and the three-month questions, each sent exactly once.

On an action's due date (in working hours, the workspace's zone) its owner gets a DM: done, partly or not
yet, and one line on what changed. Unanswered after ``REMIND_AFTER`` working days, one reminder; unanswered
``REMIND_AFTER`` working days after that, the action is marked overdue and nothing more is sent (never a
stream of nags). Three months after a session its facilitator gets the three standing questions.

Every DM goes through ``bot.once`` under its own claim (``keys.followup_claim``, ``keys.questions_claim``),
carrying a marker, so any number of clocks and restarts send it once, and a send whose answer was lost is
looked for in the DM (``Delivery.find_dm``) before anything is sent again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis

from bot.briefings.sessions import OPEN, OVERDUE, UNDELIVERABLE, Action, SessionStore, split_id
from bot.briefings.views import ActionFollowUp, ActionUndeliverable, SessionQuestions
from bot.config import WorkingHours
from bot.delivery import Deliveries, Delivery, Marker, Unreachable
from bot.once import Once, Permanent
from bot.storage import keys
from bot.storage.keys import Workspace

log = logging.getLogger(__name__)
REMIND_AFTER = 3  # working days from the follow-up to its one reminder, and from the reminder to "overdue"
FOLLOWUP_EVENT = "scr_followup"
QUESTIONS_EVENT = "scr_session_questions"
WINDOW_MARGIN = 60.0  # seconds either side of an attempt searched for its DM


@dataclass(frozen=True)
class FollowUpSent:
    team: str
    what: str  # "due <action>", "reminder <action>", "overdue <action>", "questions <session>"
    outcome: str  # Once's outcome (sent, recovered, already, busy, failed, retry) or "marked"
    error: str | None = None


def working_days_between(hours: WorkingHours, start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (bank holidays and days off not counted)."""
    n, day = 0, start
    while day < end:
        day += timedelta(days=1)
        n += hours.working_day(day)
    return n


def in_working_hours(hours: WorkingHours, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(hours.timezone))
    return hours.working_day(local.date()) and hours.start <= local.time() < hours.end


class FollowUps:
    def __init__(self, client: redis.Redis, deliveries: Deliveries, hours: Callable[[Workspace], WorkingHours],
                 retention_days: int, lease_seconds: float, settle_seconds: float = 1.0):  # fmt: skip
        self.r = client
        self.store = SessionStore(client, retention_days)
        self.deliveries = deliveries
        self.hours_for = hours
        self.lease = lease_seconds
        self.once = Once(client, lease_seconds, settle_seconds=settle_seconds)

    def deliver_due(self, now: datetime) -> list[FollowUpSent]:
        out: list[FollowUpSent] = []
        try:
            workspaces = self.store.workspaces()
        except redis.RedisError as exc:
            log.error("follow-ups: Redis unavailable (%s); will retry", exc)
            return out
        for ws in workspaces:
            try:
                hours = self.hours_for(ws)
                if not in_working_hours(hours, now):
                    continue  # nobody is asked about their work outside working hours
                delivery = self.deliveries(ws)
                out += self._actions(ws, delivery, hours, now)
                out += self._questions(ws, delivery, now)
            except Permanent as exc:
                log.warning("follow-ups: workspace %s: %s; nothing sent there", ws.team_id, exc)
            except redis.RedisError as exc:
                log.error("follow-ups: Redis unavailable (%s); will retry", exc)
                return out
            except Exception:  # one workspace's failure must not stop the others
                log.exception("follow-ups: workspace %s failed", ws.team_id)
        return out

    def _actions(self, ws: Workspace, delivery: Delivery, hours: WorkingHours, now: datetime) -> list[FollowUpSent]:
        out = []
        today = now.astimezone(ZoneInfo(hours.timezone)).date()
        local = ZoneInfo(hours.timezone)
        for aid in self.store.due_by(ws, today):
            a = self.store.action(ws, aid)
            if a is not None and a.status == UNDELIVERABLE:
                out.append(self._tell_undeliverable(ws, delivery, a))
                continue
            if a is None or a.status != OPEN:
                self.r.zrem(keys.actions_due(ws), aid)
                continue
            if not a.asked_at:
                stage = "due"
            elif not a.reminded_at:
                asked = datetime.fromtimestamp(a.asked_at, local).date()
                if working_days_between(hours, asked, today) < REMIND_AFTER:
                    continue
                stage = "reminder"
            else:
                reminded = datetime.fromtimestamp(a.reminded_at, local).date()
                if working_days_between(hours, reminded, today) >= REMIND_AFTER:
                    a.status = OVERDUE
                    self.store.save(ws, a)
                    out.append(FollowUpSent(ws.team_id, f"overdue {aid}", "marked"))
                continue

            def finish(stage: str = stage, aid: str = aid) -> None:
                fresh = self.store.action(ws, aid)
                if fresh is None:
                    return
                if stage == "due":
                    fresh.asked_at = now.timestamp()
                else:
                    fresh.reminded_at = now.timestamp()
                self.store.save(ws, fresh)

            claim = keys.followup_claim(ws, aid, stage)
            unreachable: list[str] = []
            outcome = self._dm_once(delivery, claim, FOLLOWUP_EVENT, a.owner, ActionFollowUp(a, stage == "reminder"),
                                    finish, unreachable)  # fmt: skip
            out.append(FollowUpSent(ws.team_id, f"{stage} {aid}", outcome.state, outcome.error))
            if unreachable:  # the owner can never get it: stop asking, and tell the facilitator
                fresh = self.store.action(ws, aid)
                if fresh is not None and fresh.status == OPEN:
                    fresh.status, fresh.extra = UNDELIVERABLE, {**fresh.extra, "undeliverable": unreachable[0]}
                    self.store.save(ws, fresh)
                    out.append(FollowUpSent(ws.team_id, f"undeliverable {aid}", "marked", unreachable[0]))
                    out.append(self._tell_undeliverable(ws, delivery, fresh))
        return out

    def _tell_undeliverable(self, ws: Workspace, delivery: Delivery, a: Action) -> FollowUpSent:
        """Tell the action's facilitator, once (its own claim), that its owner cannot get the follow-up; it
        leaves the clock's list once told (or when nobody can be: no facilitator, or they cannot be reached
        either), and stays there for the next sweep when Slack could not be asked just now."""
        error = a.extra.get("undeliverable", "")
        if not a.facilitator:
            self.r.zrem(keys.actions_due(ws), a.id)
            return FollowUpSent(ws.team_id, f"undeliverable-told {a.id}", "nobody", error)
        claim = keys.followup_claim(ws, a.id, "undeliverable")
        outcome = self._dm_once(delivery, claim, FOLLOWUP_EVENT, a.facilitator, ActionUndeliverable(a, error),
                                lambda: self.r.zrem(keys.actions_due(ws), a.id))  # fmt: skip
        if outcome.state in ("already", "failed"):
            self.r.zrem(keys.actions_due(ws), a.id)
        return FollowUpSent(ws.team_id, f"undeliverable-told {a.id}", outcome.state, outcome.error)

    def _questions(self, ws: Workspace, delivery: Delivery, now: datetime) -> list[FollowUpSent]:
        out = []
        for sid in self.store.questions_due(ws, now.timestamp()):
            session = self.store.session(ws, sid)
            if session is None or not session.facilitator:  # gone (retention), or its facilitator was forgotten
                self.store.questions_sent(ws, sid)
                continue
            view = SessionQuestions(session, tuple(self.store.actions_of_session(ws, sid)))
            claim = keys.questions_claim(ws, *split_id(sid))
            outcome = self._dm_once(delivery, claim, QUESTIONS_EVENT, session.facilitator, view,
                                    lambda sid=sid: self.store.questions_sent(ws, sid))  # fmt: skip
            if outcome.state == "already":
                self.store.questions_sent(ws, sid)
            out.append(FollowUpSent(ws.team_id, f"questions {sid}", outcome.state, outcome.error))
        return out

    def _dm_once(self, delivery: Delivery, claim: str, kind: str, user: str, view: Any, finish: Callable[[], None],
                 unreachable: list[str] | None = None) -> Any:  # fmt: skip
        """Send ``view`` to ``user`` once under ``claim``. ``unreachable`` gets the platform's reason when
        the person can never get a DM (``Unreachable``), so the caller can stop asking them."""
        marker = Marker(kind, claim)

        def prepare(_previous: dict[str, Any] | None) -> dict[str, Any]:
            return {"at": time.time(), "user": user}  # Slack's clock, not the sweep's: the window searched later

        def send(_attempt: dict[str, Any]) -> dict[str, Any]:
            try:
                return {"ts": delivery.dm(user, view, marker=marker)}
            except Unreachable as exc:
                if unreachable is not None:
                    unreachable.append(str(exc))
                raise

        def find(attempt: dict[str, Any]) -> dict[str, Any] | None:
            at = float(attempt.get("at") or time.time())
            found = delivery.find_dm(str(attempt.get("user") or user), marker,
                                     oldest=datetime.fromtimestamp(at - WINDOW_MARGIN, UTC),
                                     latest=datetime.fromtimestamp(at + self.lease + WINDOW_MARGIN, UTC))  # fmt: skip
            return {"ts": found.id} if found else None

        outcome = self.once.run(claim, prepare=prepare, send=send, find=find, finish=lambda _a, _r: finish())
        if outcome.state not in ("already", "busy"):
            log.info("follow-ups: %s to %s: %s%s", kind, user, outcome.state, f" ({outcome.error})" if outcome.error else "")
        return outcome
