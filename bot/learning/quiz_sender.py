"""Send each opted-in person their next knowledge check by DM, driven by the clock.

At most one check per person per day, across any number of processes: the day is claimed in Redis
(``SET NX``) before anything is sent. A send whose outcome is unknown (a timeout, a 5xx) is not
retried that day, because retrying could send a second check; a send Slack refused before doing
anything (rate limited after retries) releases the claim so the next sweep tries again.

A send of unknown outcome may well have arrived. So each send is recorded before it is made (the
check, its day, when) and the DM carries a marker; the person's next quiz day first looks for that DM
in the conversation, within minutes of the attempt (a bounded read, whatever the person's DM history).
Found: it counts as sent (its card moves on, as for any check sent), and today's check is a new one,
not the same one again. Not found: it was not sent, and it is the one that comes next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import redis

from bot import metrics
from bot.config import WorkingHours
from bot.content.corpus import Corpus
from bot.delivery import Deliveries, Delivery, Marker
from bot.learning.quiz import (
    DM,
    Attempt,
    Card,
    Person,
    QuizStore,
    after_sending,
    candidate_order,
    choose,
    note_sent,
)
from bot.learning.views import KnowledgeCheck
from bot.once import Permanent, Transient
from bot.storage.store import Workspace
from bot.storage.wssettings import PersonZones

log = logging.getLogger(__name__)

EVENT_TYPE = "scr_knowledge_check"  # the DM's marker kind (Slack message metadata event type)
# Where a lost send's DM is looked for: from just before the attempt was recorded to this long after it,
# longer than a send with all its retries takes.
SENT_BEFORE = timedelta(seconds=5)  # clocks of Slack and this host may differ a little
SENT_WITHIN = timedelta(minutes=15)


def check_marker(user: str, attempt: Attempt) -> Marker:
    """What a knowledge-check DM carries so a lost send can be recognised: one key per person and day."""
    return Marker(EVENT_TYPE, f"{user}:{attempt.day}", {"check": attempt.check})


@dataclass(frozen=True)
class Sent:
    team: str
    user: str
    outcome: str  # sent, already, none (nothing due), failed, retry, closed (outside their working hours), paused
    check: str | None = None
    error: str | None = None


class QuizSender:
    """``hours``: the working hours of each workspace (its ``/scr settings``), or one set for all. Each person's
    check then follows those hours in the person's own time zone, as the platform reports it."""

    def __init__(self, store: QuizStore, deliveries: Deliveries, corpus: Corpus,
                 hours: WorkingHours | Callable[[Workspace], WorkingHours]):  # fmt: skip
        self.store = store
        self.deliveries = deliveries  # the platform's way out for each workspace (bot.delivery)
        self.corpus = corpus
        self.hours_for = hours if callable(hours) else (lambda _ws: hours)
        self.zones = PersonZones(store.r)

    def person_hours(self, ws: Workspace, person: Person, delivery: Delivery | None,
                     hours: WorkingHours | None = None) -> WorkingHours:  # fmt: skip
        """The workspace's working hours in ``person``'s own time zone: cached in Redis, else asked of the platform
        (the clock's work, never a request path's). Not known (the platform failed or did not say): the
        workspace's zone, asked again at the next sweep."""
        hours = hours or self.hours_for(ws)
        tz = self.zones.get(ws, person.user)
        if tz is None and delivery is not None:
            try:
                tz = delivery.timezone(person.user)
            except (Permanent, Transient) as exc:
                log.warning("quiz: no time zone for %s (%s); using the workspace's", person.user, exc)
            if tz:
                try:
                    ZoneInfo(tz)
                except Exception:
                    tz = None
                else:
                    self.zones.put(ws, person.user, tz)
        return replace(hours, timezone=tz) if tz else hours

    def deliver_due(self, now: datetime) -> list[Sent]:
        """Everyone's check for today where it is a quiz day within their working hours (in their own zone);
        people outside theirs, and paused people, are passed over without a word."""
        sent = self._deliver_due(now)
        metrics.count_sent(metrics.KNOWLEDGE_CHECKS, (s.outcome for s in sent))
        return sent

    def _deliver_due(self, now: datetime) -> list[Sent]:
        out: list[Sent] = []
        for ws in self.store.workspaces():
            try:
                people = [p for p in self.store.people(ws) if not p.paused(now.timestamp())]
                # The workspace's way out first (its own token when distributed), once for all its people:
                # an uninstalled workspace gets nothing, and nothing is claimed or written for it.
                if not people:
                    continue
                hours = self.hours_for(ws)
                delivery = self.deliveries(ws)
            except Permanent as exc:
                log.warning("quiz: workspace %s: %s; no checks sent there", ws.team_id, exc)
                out += [Sent(ws.team_id, p.user, "failed", error=str(exc)) for p in people]
                continue
            except redis.RedisError as exc:
                log.error("quiz: Redis unavailable (%s); will retry", exc)
                return out
            except Exception:  # one workspace's failure (Slack unreachable while rotating...) must not stop the others
                log.exception("quiz: no client for workspace %s", ws.team_id)
                continue
            for person in people:
                try:
                    sent = self.deliver(ws, person, now, delivery, hours)
                    if sent.outcome != "closed":
                        out.append(sent)
                except redis.RedisError as exc:
                    log.error("quiz: Redis unavailable (%s); will retry", exc)
                    return out
                except Exception:  # one person's failure must not stop the others
                    log.exception("quiz: unexpected error for %s", person.user)
        return out

    def _recent_points(self, ws: Workspace, person: Person) -> list[str]:
        if person.channel == DM:
            return []
        from bot.reflections.store import ReflectionStore  # the weekly post record it reads lives there

        latest = ReflectionStore(self.store.r, 365).latest_post(ws, person.channel)
        return [latest["point"]] if latest else []

    def deliver(self, ws: Workspace, person: Person, now: datetime, delivery: Delivery | None = None,
                hours: WorkingHours | None = None) -> Sent:  # fmt: skip
        """``delivery``: the workspace's way out, if the caller has it already (and ``hours``, its hours)."""
        if person.paused(now.timestamp()):
            return Sent(ws.team_id, person.user, "paused")
        if delivery is None:
            try:
                delivery = self.deliveries(ws)  # before claiming: not installed writes nothing
            except Permanent as exc:
                return Sent(ws.team_id, person.user, "failed", error=str(exc))
        mine = self.person_hours(ws, person, delivery, hours)
        if not mine.may_send(now):
            return Sent(ws.team_id, person.user, "closed")
        day = mine.day(now)
        if not self.store.claim_day(ws, person.user, day):
            return Sent(ws.team_id, person.user, "already")
        if (lost := self.store.attempt(ws, person.user)) is not None:
            try:
                self._settle(ws, person, lost, delivery, mine)
            except Transient as exc:  # cannot tell yet whether it arrived: nothing today, the next sweep looks again
                self.store.release_day(ws, person.user, day)
                log.warning("quiz: cannot look for %s's check of %s (%s); will retry", person.user, lost.day, exc)
                return Sent(ws.team_id, person.user, "retry", lost.check, str(exc))
        cards = self.store.cards(ws, person.user)
        check_id = choose(cards, candidate_order(self.corpus, person.user if person.channel == DM else person.channel,
                                                  self._recent_points(ws, person)), now.timestamp())
        check = self.corpus.check(check_id or "")
        if check is None:
            return Sent(ws.team_id, person.user, "none")  # everything known and not yet due: nothing today
        attempt = Attempt(check.id, day, now.timestamp())
        self.store.record_attempt(ws, person.user, attempt)  # before sending: a lost answer can be looked up
        try:
            ts = delivery.dm(person.user, KnowledgeCheck(check, day), marker=check_marker(person.user, attempt))
        except Permanent as exc:  # includes "this person cannot get a DM" (left, deactivated...): not today
            self.store.clear_attempt(ws, person.user)
            log.warning("quiz: cannot DM %s: %s", person.user, exc)
            return Sent(ws.team_id, person.user, "failed", check.id, str(exc))
        except Transient as exc:
            if not exc.maybe_sent:
                self.store.clear_attempt(ws, person.user)
                self.store.release_day(ws, person.user, day)  # Slack did nothing: the next sweep retries
            log.warning("quiz: sending to %s failed (%s)%s", person.user, exc,
                        "" if not exc.maybe_sent else "; not retried today in case it arrived")  # fmt: skip
            return Sent(ws.team_id, person.user, "retry", check.id, str(exc))
        self._record_sent(ws, person.user, attempt, ts, cards.get(check.id), mine.timezone)
        log.info("quiz: sent %s to %s", check.id, person.user)
        return Sent(ws.team_id, person.user, "sent", check.id)

    def _record_sent(self, ws: Workspace, user: str, attempt: Attempt, ts: str, card: Card | None, tz: str) -> None:
        self.store.save_card(ws, user, after_sending(card, attempt.check, attempt.at, tz, attempt.day))
        self.store.sent_today(ws, user, attempt.day, attempt.check, ts)
        self.store.clear_attempt(ws, user)

    def _settle(self, ws: Workspace, person: Person, lost: Attempt, delivery: Delivery, hours: WorkingHours) -> None:
        """A send whose outcome was lost: recorded as sent if its DM is in the conversation, else forgotten
        (it was not sent, and is chosen again). Raises ``Transient`` when the conversation cannot be read."""
        at = datetime.fromtimestamp(lost.at, UTC)
        try:
            found = delivery.find_dm(person.user, check_marker(person.user, lost),
                                     oldest=at - SENT_BEFORE, latest=at + SENT_WITHIN)  # fmt: skip
        except Permanent as exc:  # no DM with this person any more: nothing arrived that we could see
            log.warning("quiz: cannot read %s's DM (%s); their check of %s counts as not sent", person.user, exc, lost.day)
            found = None
        if found is None:
            self.store.clear_attempt(ws, person.user)
            log.info("quiz: %s's check of %s never arrived", person.user, lost.day)
            return
        card = self.store.cards(ws, person.user).get(lost.check)
        if card is not None and card.answered >= lost.at:  # it arrived and was answered: the answer moved its box
            card.sent = lost.at
            note_sent(card, lost.day)
            self.store.save_card(ws, person.user, card)
            self.store.sent_today(ws, person.user, lost.day, lost.check, found.id)
            self.store.clear_attempt(ws, person.user)
        else:
            self._record_sent(ws, person.user, lost, found.id, card, hours.timezone)
        log.info("quiz: %s's check of %s had arrived; recorded as sent", person.user, lost.day)
