"""Post each schedule's learning point of the week exactly once, whatever happens to the processes.

Any number of processes may call ``deliver`` for the same schedule at the same time, or again after
a crash; the protocol below makes that safe:

1. Claim the (schedule, ISO week) with ``SET NX PX`` (a lease, so a dead claimant's claim lapses).
   Someone else holds it: it is posted (done), failed (reported), or in progress (leave it).
2. If an earlier attempt for this week was recorded, it may have reached Slack before its process
   died: look for our message in the channel's history by its ``metadata`` key, and if it is there,
   record it as posted instead of posting again.
3. Record the attempt, then ``chat.postMessage`` with metadata (schedule, week, point, key).
4. Success: advance the rotation (idempotent per week) and mark the week posted, compare-and-set on
   our claim. Slack said no for good (``not_in_channel``…): mark the week failed for an hour, and
   report it. Transient failure: release the claim so the next sweep retries.

Timing: a week is due from its post time until its summary time (or the week's end); a process that
was down at post time catches up once within that window, and never posts a stale week after it.

Bank holidays (the schedule's workspace's nation, ``/scr settings bank-holidays``): a post due on one moves
to the next working day of the same week at the same local time, unless the schedule says ``skip`` (nothing
that week) or ``post`` (post anyway). A move that finds no working day before the summary time (or the week's
end) skips the week, outcome "holiday". The claim key stays the ISO week, so a moved post is still posted
exactly once, and the summary's time is unchanged (a moved post always comes before it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import redis

from bot import metrics
from bot.config import CALL_BUDGET, Settings, WorkingHours, is_bank_holiday
from bot.content.corpus import Corpus, Point
from bot.delivery import Deliveries, Delivery, Marker
from bot.once import Once, Permanent, Unfinished
from bot.reflections.store import ReflectionStore
from bot.storage import keys
from bot.storage.keys import Workspace
from bot.storage.wssettings import WorkspaceSettings
from bot.weekly.rotation import Rotation
from bot.weekly.schedules import Schedule
from bot.weekly.views import WeeklyPost

log = logging.getLogger(__name__)


def legacy_names(key: str) -> tuple[str, ...]:
    """Older names of a claim key: a post made before a key-layout change still counts as made."""
    old = keys.legacy_name(key)
    return (old,) if old else ()

EVENT_TYPE = "scr_weekly_post"
PARALLEL_WORKSPACES = 32  # workspaces posted to at once (each has its own rate limits); SCR_FANOUT_WORKSPACES
WINDOW_MARGIN = 60  # seconds either side of an attempt's window: clocks of processes and Slack differ a little
RATE_LIMITED_ROUNDS = 3  # re-tries, within one run, of posts Slack still rate-limited after the client's retries


def status(client: redis.Redis, schedule: Schedule) -> dict[str, str]:
    """A schedule's last post and last error."""
    return client.hgetall(keys.schedule_status(schedule.workspace, schedule.id))


def fan_out(schedules: list[Schedule], deliver: Callable[[Schedule], Result], *, workers: int = 8,
            workspaces: int = PARALLEL_WORKSPACES) -> list[Result]:
    """Run ``deliver`` for every schedule: workspaces in parallel, and up to ``workers`` channels at a time
    within each workspace.

    Slack's rate limits are per workspace (and per channel), so workspaces never wait for each other: a
    busy or rate-limited workspace holds up only itself, and one slow channel holds up no other. A post
    Slack still rate-limited after slack-sdk's retries (which honour Retry-After) is tried again in the
    same run, up to ``RATE_LIMITED_ROUNDS`` times; that is safe because Slack did not post it (a 429
    never acts, so ``bot.once`` released the claim). Results come back in the order of ``schedules``.
    """
    if not schedules:
        return []
    groups: dict[tuple[str | None, str], list[int]] = {}
    for i, s in enumerate(schedules):
        groups.setdefault((s.enterprise, s.team), []).append(i)
    results: list[Result | None] = [None] * len(schedules)

    def one_workspace(indexes: list[int]) -> None:
        pending = indexes
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(indexes)))) as pool:
            for _ in range(1 + RATE_LIMITED_ROUNDS):
                for i, result in zip(pending, pool.map(lambda i: deliver(schedules[i]), pending), strict=True):
                    results[i] = result
                pending = [i for i in pending if results[i].outcome == "retry" and results[i].error == "ratelimited"]
                if not pending:
                    break

    if len(groups) == 1:
        one_workspace(next(iter(groups.values())))
    else:
        with ThreadPoolExecutor(max_workers=max(1, min(workspaces, len(groups)))) as pool:
            list(pool.map(one_workspace, groups.values()))
    return [r for r in results if r is not None]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Week:
    key: str  # ISO week, e.g. "2026-W48" (ISO year: 2027-01-01 is in 2026-W53)
    start: datetime  # Monday 00:00 in the schedule's time zone
    end: datetime
    post_at: datetime | None  # when the post is due: moved off a bank holiday, or None (none this week)
    summary_at: datetime
    planned_at: datetime | None = None  # the schedule's own time this week, before any bank holiday moved it
    holiday: date | None = None  # the bank holiday that moved or skipped this week's post

    @property
    def skipped(self) -> bool:
        """No post this week because of a bank holiday (``skip``, or no working day left to move it to)."""
        return self.holiday is not None and self.post_at is None


WORKING_WEEK = frozenset(range(5))  # where a moved post may land when the workspace's working days are unknown


def week_for(schedule: Schedule, now: datetime, hours: WorkingHours | None = None) -> Week:
    """The schedule's week around ``now``; with ``hours`` (its workspace's working days and bank holidays) a post
    due on a bank holiday is moved or skipped as ``schedule.on_bank_holiday`` says. Without them the week is the
    schedule's own timing: the summary's time and the week's key do not depend on bank holidays."""
    local = now.astimezone(schedule.tz)
    monday = local.date() - timedelta(days=local.weekday())
    region, days, rule = "none", WORKING_WEEK, "post"
    if hours is not None and hours.bank_holidays != "none" and schedule.on_bank_holiday != "post":
        region, days, rule = hours.bank_holidays, hours.days, schedule.on_bank_holiday
    return _week(schedule.post, schedule.summary, schedule.timezone, monday, region, days, rule)


@lru_cache(maxsize=4096)
def _week(post: str, summary: str, timezone: str, monday: date, region: str = "none",
          days: frozenset[int] = WORKING_WEEK, rule: str = "post") -> Week:  # fmt: skip
    """A schedule's week, from its timing, its workspace's calendar (bank holiday ``region``, working ``days``)
    and its bank-holiday ``rule``: cached, because a fan-out asks it for every channel and building the cron
    triggers was a tenth of the clock's time per post. Keyed by the calendar and rule too, so a workspace in
    Scotland never gets England's week."""
    schedule = Schedule(id="", team="", channel="", post=post, summary=summary, timezone=timezone)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=schedule.tz)
    end = datetime.combine(monday + timedelta(days=7), datetime.min.time(), tzinfo=schedule.tz)
    post_at = schedule.post_trigger().get_next_fire_time(None, start)
    if post_at is not None and post_at >= end:
        post_at = None
    summary_at = schedule.summary_trigger().get_next_fire_time(None, start)
    if summary_at is None or summary_at >= end or (post_at is not None and summary_at <= post_at):
        summary_at = end
    iso = monday.isocalendar()
    key = f"{iso.year}-W{iso.week:02d}"
    if post_at is None or rule == "post" or not is_bank_holiday(region, post_at.date()):
        return Week(key, start, end, post_at, summary_at, post_at)
    moved = _next_working(post_at, summary_at, region, days) if rule == "move" else None
    return Week(key, start, end, moved, summary_at, post_at, holiday=post_at.date())


def _next_working(planned: datetime, before: datetime, region: str, days: frozenset[int]) -> datetime | None:
    """The same local time on the next working day (a working weekday, no bank holiday) that is still before
    ``before`` (the summary, or the week's end), or None: then the week has no post."""
    zone = planned.tzinfo
    day = planned.date() + timedelta(days=1)
    while True:
        # Through UTC and back: a wall time a clock change skips on the new day becomes a real instant.
        at = datetime.combine(day, planned.time(), tzinfo=zone).astimezone(UTC).astimezone(zone)
        if at >= before:
            return None
        if day.weekday() in days and not is_bank_holiday(region, day):
            return at
        day += timedelta(days=1)


@dataclass(frozen=True)
class Result:
    schedule: str
    week: str
    outcome: str  # posted, recovered, already, busy, not_due, stale, holiday, failed, retry
    ts: str | None = None
    point: str | None = None
    error: str | None = None


class WeeklyPoster:
    def __init__(
        self,
        client: redis.Redis,
        deliveries: Deliveries,
        corpus: Corpus,
        *,
        lease_seconds: float = 300,
        settle_seconds: float = 1.0,
        call_budget: float = CALL_BUDGET,
        retention_days: int = 365,
        reflect_button: bool = False,
        clock: Callable[[], datetime] = utcnow,
        parallel_workspaces: int = PARALLEL_WORKSPACES,
        workspace_settings: WorkspaceSettings | None = None,
    ):
        self.r = client
        # Each workspace's working days and bank holidays (`/scr settings`) over the environment's defaults;
        # without the environment's, the built-in defaults (England and Wales, Monday to Friday).
        self.workspace_settings = workspace_settings or WorkspaceSettings(client, Settings())
        self.deliveries = deliveries  # the platform's way out for each workspace (bot.delivery)
        self.lease_seconds = lease_seconds
        self.call_budget = call_budget  # a send ends within it: where a post whose answer was lost can be
        self.parallel_workspaces = parallel_workspaces
        self.corpus = corpus
        self.rotation = Rotation(client, corpus)
        self.once = Once(client, lease_seconds, done_days=keys.CLAIM_DONE_DAYS, failed_seconds=keys.CLAIM_FAILED_SECONDS,
                         attempt_days=keys.ATTEMPT_DAYS, settle_seconds=settle_seconds)  # fmt: skip
        self.retention = retention_days * 86400
        self.reflections = ReflectionStore(client, retention_days)  # replies held until a lost post is confirmed
        self.reflect_button = reflect_button
        self.clock = clock

    @staticmethod
    def claim_key(schedule: Schedule, week: str) -> str:
        return keys.weekly_claim(schedule.workspace, schedule.id, week)

    def status(self, schedule: Schedule) -> dict[str, str]:
        """The schedule's last post and last error (what `schedule list` and `/scr schedule` show)."""
        return status(self.r, schedule)

    def delivery_for(self, schedule: Schedule) -> Delivery:
        """The way out for the schedule's workspace (distributed: its own, freshly rotated token).

        Raises ``Permanent("not_installed")`` when the workspace has no way in (uninstalled, revoked)."""
        return self.deliveries(schedule.workspace)

    # ----- the protocol ---------------------------------------------------------------------
    def hours(self, ws: Workspace) -> WorkingHours:
        """The workspace's working days and bank holidays (one read; ``deliver_all`` reads them once per run)."""
        return self.workspace_settings.hours(ws)

    def week(self, schedule: Schedule, now: datetime, hours: WorkingHours | None = None) -> Week:
        """The schedule's week with its workspace's bank holidays applied (read now unless ``hours`` is given)."""
        if schedule.on_bank_holiday == "post":
            return week_for(schedule, now)  # no calendar needed: no read
        return week_for(schedule, now, hours if hours is not None else self.hours(schedule.workspace))

    def deliver(self, schedule: Schedule, now: datetime | None = None, *, ignore_time: bool = False,
                force: bool = False, hours: WorkingHours | None = None) -> Result:
        """This week's post for one schedule (the protocol above), counted by outcome (``bot.metrics``);
        ``hours``: the workspace's calendar when the caller has read it already."""
        result = self._deliver(schedule, now, ignore_time=ignore_time, force=force, hours=hours)
        metrics.count_posts("post", [result.outcome])
        return result

    def _deliver(self, schedule: Schedule, now: datetime | None, *, ignore_time: bool, force: bool,
                 hours: WorkingHours | None) -> Result:  # fmt: skip
        now = now or self.clock()
        week = self.week(schedule, now, hours) if not (ignore_time or force) else week_for(schedule, now)
        if not ignore_time and not force:
            if week.skipped and week.planned_at is not None and now >= week.planned_at:
                return Result(schedule.id, week.key, "holiday")
            if week.post_at is None or now < week.post_at:
                return Result(schedule.id, week.key, "not_due")
            if now >= week.summary_at:
                return Result(schedule.id, week.key, "stale")
        key = self.claim_key(schedule, week.key)
        try:
            # Distributed: this workspace's token (refreshed if it is about to expire), looked up before
            # claiming, so a workspace that has uninstalled gets nothing written for it.
            delivery = self.delivery_for(schedule)
        except Permanent as exc:
            return Result(schedule.id, week.key, "failed", error=str(exc))

        def prepare(previous: dict[str, Any] | None) -> dict[str, Any]:
            point = self.corpus.point((previous or {}).get("point", "")) or self.rotation.next_point(schedule)
            return {"point": point.id, "at": now.isoformat(), "sent_at": self.clock().isoformat()}

        def send(attempt: dict[str, Any]) -> dict[str, Any]:
            point = self.corpus.by_id[attempt["point"]]
            marker = Marker(EVENT_TYPE, key, {"schedule": schedule.id, "week": week.key, "point": point.id})
            ts = delivery.post(schedule.channel, self.view(schedule, point, week), marker=marker)
            return {"ts": ts, "point": point.id}

        def find(previous: dict[str, Any]) -> dict[str, Any] | None:
            if seen := self.once.seen(key):  # Slack sent the post back as an event: no read needed
                return {"ts": seen["ts"], "point": seen["payload"].get("point") or previous.get("point")}
            search = previous.get("search") or {}
            found = None
            for i, (oldest, latest) in enumerate(self.attempt_windows(previous, week)):
                if i < int(search.get("slice") or 0):
                    continue  # read to the end by an earlier sweep
                try:
                    found = delivery.find_post(schedule.channel, Marker(EVENT_TYPE, key, also=legacy_names(key)),
                                               oldest=oldest, latest=latest,
                                               progress=search if i == int(search.get("slice") or 0) else None)
                except Unfinished as exc:
                    raise Unfinished(str(exc), {**exc.progress, "slice": i}) from None
                if found is not None:
                    break
            if found is None:
                return None
            return {"ts": found.id, "point": found.payload.get("point") or previous.get("point")}

        def finish(attempt: dict[str, Any], result: dict[str, Any]) -> None:
            point = self.corpus.point(result.get("point") or "") or self.corpus.by_id[attempt["point"]]
            self._record_posted(schedule, week, point, result["ts"])

        out = self.once.run(key, prepare=prepare, send=send, find=find, finish=finish, force=force)
        result = out.result or {}
        point = result.get("point") or (out.attempt or {}).get("point")
        outcome = {"sent": "posted"}.get(out.state, out.state)
        if out.state == "failed" and out.attempt is not None:  # a fresh permanent failure: report it
            self._set_status(schedule, last_error=out.error or "", last_error_at=now.isoformat(), last_error_week=week.key)
            log.warning("schedule %s: cannot post to %s: %s", schedule.id, schedule.channel, out.error)
        elif out.state == "retry":
            # Shown by `schedule list` and `/scr schedule` until a post succeeds: a retry that can never succeed
            # on its own (Teams without the consent to read the channel) must not look like "ok".
            try:
                self._set_status(schedule, last_error=f"{out.error or 'unknown'} (will retry)",
                                 last_error_at=now.isoformat(), last_error_week=week.key)  # fmt: skip
            except redis.RedisError as exc:  # the retry itself may be Redis's: it is reported, never raised
                log.warning("schedule %s: status not recorded (%s)", schedule.id, exc)
            log.warning("schedule %s: transient failure (%s); will retry", schedule.id, out.error)
        elif out.state in ("sent", "recovered"):
            log.info("schedule %s %s: %s %s in %s (ts %s)", schedule.id, week.key, outcome, point, schedule.channel,
                     result.get("ts"))  # fmt: skip
        return Result(schedule.id, week.key, outcome, result.get("ts"), point, out.error)

    def _record_posted(self, schedule: Schedule, week: Week, point: Point, ts: str) -> None:
        record = {"schedule": schedule.id, "week": week.key, "point": point.id, "ts": ts, "channel": schedule.channel,
                  "summary_at": week.summary_at.isoformat(), "posted_at": self.clock().isoformat()}
        status = {"last_week": week.key, "last_ts": ts, "last_point": point.id, "last_posted_at": record["posted_at"],
                  "last_error": "", "last_error_at": "", "last_error_week": ""}
        with self.r.pipeline() as pipe:
            self.rotation.queue_commit(pipe, schedule, point, week.key)
            keys.record_weekly_post(pipe, schedule.workspace, schedule.id, schedule.channel, ts, json.dumps(record),
                                    status, self.retention)
            pipe.execute()
        # Replies that came while the post's outcome was unknown (bot.handlers.events held them) count now.
        if held := self.reflections.attach_held(schedule.workspace, schedule.channel, ts):
            log.info("schedule %s %s: %d replies held while the post was unconfirmed were kept", schedule.id,
                     week.key, held)  # fmt: skip

    def _set_status(self, schedule: Schedule, **fields: str) -> None:
        with self.r.pipeline() as pipe:
            keys.set_status(pipe, schedule.workspace, schedule.id, fields, self.retention)
            pipe.execute()

    def attempt_window(self, attempt: dict[str, Any], week: Week) -> tuple[datetime, datetime]:
        """Where a post from ``attempt`` can be. Each send records when it began (``sent_at``, the real time
        whatever time ``run-due --now`` pretends, since Slack stamps the real one) and a send ends within one
        call's budget, so the post is in [sent_at - margin, sent_at + budget + margin]: the narrowest slice,
        a few pages whatever the channel's traffic (and resumable, ``Unfinished``, where Slack allows one read
        a minute). An attempt recorded before sends carried their time: from its start to just after its
        claim's lease (re-sends could come later); one recorded before attempts carried a time: the week."""
        margin = timedelta(seconds=WINDOW_MARGIN)
        try:
            sent = datetime.fromisoformat(attempt["sent_at"])
        except (KeyError, TypeError, ValueError):
            pass
        else:
            return sent - margin, sent + timedelta(seconds=self.call_budget) + margin
        try:
            began = datetime.fromisoformat(attempt["at"])
        except (KeyError, TypeError, ValueError):
            return week.start, week.end
        return began - margin, began + timedelta(seconds=self.lease_seconds) + margin

    def attempt_windows(self, attempt: dict[str, Any], week: Week) -> list[tuple[datetime, datetime]]:
        """``attempt_window``, and, when ``run-due --now`` pretended another time than the real one, first the
        slice around the pretended time (a Slack whose clock is that time, as the tests' fake is: one read of an
        empty slice in a real catch-up), then the real one, where Slack stamps a real catch-up's post."""
        windows = [self.attempt_window(attempt, week)]
        if "sent_at" in attempt:
            pretended = self.attempt_window({"sent_at": attempt.get("at")}, week)
            if not (pretended[1] >= windows[0][0] and pretended[0] <= windows[0][1]):
                windows.insert(0, pretended)
        return windows

    def view(self, schedule: Schedule, point: Point, week: Week) -> WeeklyPost:
        """What the post shows: the point, its week, and when the summary comes (in the schedule's zone)."""
        local = week.summary_at.astimezone(schedule.tz)
        summary = f"{local:%A} at {local:%H:%M}" if week.summary_at < week.end else "at the end of the week"
        return WeeklyPost(point.id, week.start.date(), summary, self.reflect_button)

    # ----- many schedules ---------------------------------------------------------------------
    def deliver_all(self, schedules: Iterable[Schedule], now: datetime | None = None, workers: int = 8,
                    **kw: Any) -> list[Result]:
        """This week's posts for many schedules (see ``fan_out``). Each workspace's bank holidays are read once
        for the run, all in one round trip, not once per post; if that read fails each post reads its own (and
        reports Redis being down as its outcome)."""
        schedules = list(schedules)
        try:
            calendars = self.workspace_settings.hours_of(s.workspace for s in schedules if s.on_bank_holiday != "post")
        except redis.RedisError as exc:
            log.warning("workspace settings unavailable (%s); each post reads its own", exc)
            calendars = {}
        return fan_out(schedules, lambda s: self._safe_deliver(s, now, hours=calendars.get(s.workspace), **kw),
                       workers=workers, workspaces=self.parallel_workspaces)  # fmt: skip

    def _safe_deliver(self, schedule: Schedule, now: datetime | None, **kw: Any) -> Result:
        try:
            return self.deliver(schedule, now, **kw)
        except redis.RedisError as exc:
            log.error("schedule %s: Redis unavailable (%s); will retry", schedule.id, exc)
            return Result(schedule.id, "", "retry", error="redis_unavailable")
        except Exception as exc:  # one bad schedule must not stop the others
            log.exception("schedule %s: unexpected error", schedule.id)
            return Result(schedule.id, "", "retry", error=type(exc).__name__)

