"""Who gets the learning lead's digest, and its monthly DM with the participation chart.

Readers belong to a workspace: named with ``/scr digest add @someone`` (by a channel's lead where they type
it, a workspace admin or one of the bot's admins) or, on a single-workspace install only, by whoever runs
the bot (``SCR_DIGEST_USERS``). Each reader gets the digest of every channel of the workspace that has a
weekly post, or had a 7-minute briefing run in it in the month reported on, one DM per channel. (Older versions kept readers per channel; the start-up migration,
``bot.storage.keys.migrate``, merged those lists into their workspace's.) The digest is sent once a month
per channel and reader, on the first working day of the month the clock sees within working hours (a
process that was down catches up within the month's first week). The (channel, month, reader) is claimed
in Redis before sending, so any number of processes send it once; a send whose outcome is unknown is not
repeated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import redis

from bot import metrics
from bot.briefings.sessions import SessionStore
from bot.config import WorkingHours
from bot.content.corpus import Corpus
from bot.delivery import Deliveries, FileToSend
from bot.learning.digest import Digest, build, digest_text, last_months, session_channels
from bot.once import Permanent, Transient
from bot.storage import keys
from bot.storage.store import Workspace

log = logging.getLogger(__name__)


class Channel(Protocol):
    """A channel that has a digest: the weekly schedules' channels (``bot.weekly.schedules.Schedule``)."""

    @property
    def workspace(self) -> Workspace: ...

    @property
    def channel(self) -> str: ...


class DigestReaders:
    """A workspace's digest readers: the ones it named (in Redis, under its own key tag, so no other
    workspace's command reads or changes them) and ``configured`` (``Settings.env_digest_users``: empty in a
    many-workspace install, so the environment names no reader in anyone's workspace)."""

    def __init__(self, client: redis.Redis, configured: Iterable[str] = ()):
        self.r = client
        self.configured = tuple(configured)

    key = staticmethod(keys.digest_readers)

    def readers(self, ws: Workspace) -> list[str]:
        """Everyone who gets the workspace's digests."""
        return sorted(set(self.configured) | self.r.smembers(self.key(ws)))

    def named(self, ws: Workspace) -> list[str]:
        """The readers the workspace named itself (``/scr digest add``), without the environment's."""
        return sorted(self.r.smembers(self.key(ws)))

    def add(self, ws: Workspace, user: str) -> bool:
        return bool(self.r.sadd(self.key(ws), user))

    def remove(self, ws: Workspace, user: str) -> bool:
        return bool(self.r.srem(self.key(ws), user))

    def is_reader(self, ws: Workspace, user: str) -> bool:
        """Named by the workspace or (single-workspace installs only) the environment. Readers may read any
        channel's digest there; who may change the list is decided by the roles (``bot.handlers.roles``)."""
        return user in self.configured or bool(self.r.sismember(self.key(ws), user))


@dataclass(frozen=True)
class SessionChannel:
    """A channel with 7-minute briefings run in it (it may have no weekly schedule)."""

    workspace: Workspace
    channel: str


@dataclass(frozen=True)
class DigestSent:
    channel: str
    user: str
    outcome: str  # sent, already, failed, retry
    error: str | None = None


def due(hours: WorkingHours, now: datetime) -> bool:
    """A working day (no bank holiday) in the month's first week, within working hours, in the workspace's zone."""
    local = now.astimezone(ZoneInfo(hours.timezone))
    return local.day <= 7 and hours.working_day(local.date()) and hours.start <= local.time() < hours.end


class DigestSender:
    def __init__(self, client: redis.Redis, deliveries: Deliveries, corpus: Corpus,
                 hours: WorkingHours | Callable[[Workspace], WorkingHours], readers: DigestReaders,
                 retention_days: int = 365):  # fmt: skip
        self.r = client
        self.deliveries = deliveries  # the platform's way out for each workspace (bot.delivery)
        self.corpus = corpus
        self.hours_for = hours if callable(hours) else (lambda _ws: hours)  # each workspace's (/scr settings)
        self.readers = readers
        self.retention_days = retention_days

    claim_key = staticmethod(keys.digest_claim)

    def deliver_due(self, channels: Iterable[Channel], now: datetime) -> list[DigestSent]:
        """This month's digests for each channel (the weekly schedules' channels), once per reader, when it is
        the month's first week in the channel's workspace (its time zone and working days)."""
        sent = self._deliver_due(channels, now)
        metrics.count_sent(metrics.DIGESTS, (d.outcome for d in sent))
        return sent

    def _with_sessions(self, channels: Iterable[Channel], now: datetime) -> list[Channel]:
        """``channels``, then every channel where a 7-minute briefing was run in the month the digest reports
        on (the last whole month, in its workspace's zone): a team that runs briefings without weekly posts
        still gets its evidence to the learning lead."""
        out: list[Channel] = list(channels)
        seen = {(c.workspace, c.channel) for c in out}
        try:
            workspaces = SessionStore(self.r, self.retention_days).workspaces()
        except redis.RedisError as exc:
            log.error("digest: Redis unavailable (%s); the briefing channels' digests will be retried", exc)
            return out
        for ws in workspaces:
            tz = ZoneInfo(self.hours_for(ws).timezone)
            month = last_months(now, 1, timezone=tz.key)[0]
            start = datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=tz)
            end = (start + timedelta(days=32)).replace(day=1)
            for channel in session_channels(self.r, ws, start.timestamp(), end.timestamp(), self.retention_days):
                if (ws, channel) not in seen:
                    seen.add((ws, channel))
                    out.append(SessionChannel(ws, channel))
        return out

    def _deliver_due(self, channels: Iterable[Channel], now: datetime) -> list[DigestSent]:
        out: list[DigestSent] = []
        for schedule in self._with_sessions(channels, now):
            try:
                if not due(self.hours_for(schedule.workspace), now):
                    continue
                out += self.deliver(schedule.workspace, schedule.channel, now)
            except redis.RedisError as exc:
                log.error("digest: Redis unavailable (%s); will retry", exc)
                break
            except Exception:  # one channel's failure must not stop the others
                log.exception("digest: unexpected error for %s", schedule.channel)
        return out

    def deliver(self, ws: Workspace, channel: str, now: datetime) -> list[DigestSent]:
        tz = self.hours_for(ws).timezone
        month = now.astimezone(ZoneInfo(tz)).strftime("%Y-%m")
        digest: Digest | None = None
        png: bytes | None = None
        out = []
        readers = self.readers.readers(ws)  # the workspace's: each gets every channel's digest
        if not readers:
            return out
        try:
            # The workspace's way out first (its own token when distributed): an uninstalled workspace
            # gets nothing, and no claim is written for it.
            delivery = self.deliveries(ws)
        except Permanent as exc:
            log.warning("digest: workspace %s: %s; no digest sent for %s", ws.team_id, exc, channel)
            return [DigestSent(channel, user, "failed", str(exc)) for user in readers]
        for user in readers:
            key = self.claim_key(ws, channel, month, user)
            if not self.r.set(key, "claimed", nx=True, ex=keys.DIGEST_CLAIM_SECONDS):
                out.append(DigestSent(channel, user, "already"))
                continue
            if digest is None:
                from bot.learning.chart import participation_png  # matplotlib loads only when a digest is due

                digest = build(self.corpus, self.r, ws, channel, last_months(now, timezone=tz), self.retention_days, tz)
                png = participation_png(digest, f"Participation, {digest.months[0].month} to {digest.months[-1].month}")
            try:
                delivery.send_file(user, FileToSend(
                    filename=f"scr-digest-{channel}-{month}.png", content=png or b"",
                    title=f"Participation in {channel}, last 6 months", comment=digest_text(self.corpus, digest),
                ))  # fmt: skip
            except Permanent as exc:  # includes "this person cannot get a DM"
                out.append(DigestSent(channel, user, "failed", str(exc)))
                continue
            except Transient as exc:
                if not exc.maybe_sent:
                    self.r.delete(key)
                out.append(DigestSent(channel, user, "retry", str(exc)))
                continue
            self.r.set(key, "sent", ex=keys.DIGEST_CLAIM_SECONDS)
            log.info("digest: sent %s %s to %s", channel, month, user)
            out.append(DigestSent(channel, user, "sent"))
        return out
