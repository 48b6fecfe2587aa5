"""The scheduler: APScheduler cron jobs post each schedule's learning point on time.

Jobs live in APScheduler's in-memory store and are rebuilt from the schedules on every start and
every minute (new ``/scr subscribe`` channels are picked up that way). Duplicate protection is not
the scheduler's job: every run goes through ``WeeklyPoster.deliver``, which is safe to call from any
number of processes at any time. A sweep at start-up and every few minutes catches up a week that
was missed while no process was running, and retries transient failures.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk.errors import SlackApiError

from bot.briefings.followup import FollowUps
from bot.handlers.views import finish_pending_shares
from bot.learning.digest_sender import DigestReaders, DigestSender
from bot.learning.quiz import QuizStore
from bot.learning.quiz_sender import QuizSender
from bot.ops.platforms import by_platform
from bot.reflections.store import ReflectionStore
from bot.services import Services
from bot.slack.delivery import SlackDeliveries
from bot.slack.oauth import WorkspaceClients, workspace_clients
from bot.storage.purge import Purger
from bot.weekly.poster import Result, WeeklyPoster, fan_out, utcnow
from bot.weekly.schedules import Schedule
from bot.weekly.summary import SummaryPoster

log = logging.getLogger(__name__)


class Clock:
    def __init__(self, services: Services, client: Any, clock: Callable[[], datetime] = utcnow,
                 clients: WorkspaceClients | None = None):  # fmt: skip
        self.services = services
        self.client = client
        self.clock = clock
        settings = services.settings
        # No Slack settings at all (Microsoft Teams alone): no Slack client, and Slack schedules are not ours.
        self.clients: WorkspaceClients | None = clients or (
            workspace_clients(services, client) if client is not None or settings.distributed else None)  # fmt: skip
        slack = None
        if self.clients is not None:
            slack = SlackDeliveries(client, services.corpus, self.clients if self.clients.distributed else None)
        self.deliveries = by_platform(services, slack)  # Teams beside Slack when TEAMS_* are set
        self.poster = WeeklyPoster(
            services.store.client,
            self.deliveries,
            services.corpus,
            lease_seconds=settings.claim_lease_seconds,
            settle_seconds=settings.claim_settle_seconds,
            call_budget=settings.call_budget_seconds,
            retention_days=settings.retention_days,
            reflect_button=services.reflections_enabled,
            clock=clock,
            parallel_workspaces=settings.fanout_workspaces,
            workspace_settings=services.workspace_settings,  # bank holidays move posts per workspace
        )
        self.summaries = SummaryPoster(
            self.poster, ReflectionStore(services.store.client, settings.retention_days, clock=lambda: clock().timestamp()),
            services.corpus,
        )  # fmt: skip
        hours = services.workspace_settings.hours  # each workspace's /scr settings over the environment's
        redis_client = services.store.client
        self.quiz = QuizSender(QuizStore(redis_client, settings.retention_days, timezone=settings.timezone), self.deliveries, services.corpus, hours)
        self.digests = DigestSender(redis_client, self.deliveries, services.corpus, hours,
                                    DigestReaders(redis_client, settings.env_digest_users), settings.retention_days)  # fmt: skip
        self.followups = FollowUps(redis_client, self.deliveries, hours, settings.retention_days,
                                   settings.claim_lease_seconds, settings.claim_settle_seconds)  # fmt: skip
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(20)},
            # 1 s is APScheduler's default grace: a busy pool would silently drop a week's post.
            job_defaults={"misfire_grace_time": 3600, "coalesce": True, "max_instances": 1},
        )
        self.default_team = ""
        self._schedules: dict[str, Schedule] = {}
        self._crons: dict[str, str] = {}
        self._stopped = threading.Event()
        self._owner_pid = os.getpid()

    def resolve_team(self) -> str:
        """The bot's own workspace, for admin schedules that name no ``team`` (none when distributed)."""
        if self.clients is None or self.clients.distributed:
            return ""
        if not self.default_team:
            try:
                self.default_team = str(self.client.auth_test().get("team_id") or "")
            except (SlackApiError, OSError) as exc:
                log.error("could not ask Slack which workspace this is (%s); admin schedules wait", exc)
        return self.default_team

    def schedules(self) -> list[Schedule]:
        team = self.resolve_team()
        try:
            found = self.services.all_schedules(team)
        except redis.RedisError as exc:
            log.error("Redis unavailable while reading schedules (%s); keeping the last known list", exc)
            return list(self._schedules.values())
        return found

    def sync(self) -> None:
        """Make the scheduler's jobs match the schedules (add new, change moved, drop removed)."""
        current = {s.id: s for s in self.schedules()}
        for sid in set(self._schedules) - set(current):
            for kind in ("post", "summary"):
                if self.scheduler.get_job(f"{kind}:{sid}"):
                    self.scheduler.remove_job(f"{kind}:{sid}")
            self._crons.pop(sid, None)
        for sid, schedule in current.items():
            signature = f"{schedule.post}|{schedule.summary}|{schedule.timezone}"
            if self._crons.get(sid) != signature:
                self.scheduler.add_job(self.run, schedule.post_trigger(), args=[sid], id=f"post:{sid}",
                                       replace_existing=True, name=f"weekly post {sid}")
                self.scheduler.add_job(self.run_summary, schedule.summary_trigger(), args=[sid], id=f"summary:{sid}",
                                       replace_existing=True, name=f"weekly summary {sid}")
                self._crons[sid] = signature
        self._schedules = current

    def run(self, schedule_id: str) -> Result | None:
        """The post job: this week's learning point for one schedule."""
        return self._run(schedule_id, self.poster.deliver, "post")

    def run_summary(self, schedule_id: str) -> Result | None:
        """The summary job: this week's reflection summary in the post's thread."""
        return self._run(schedule_id, self.summaries.deliver, "summary")

    def _run(self, schedule_id: str, deliver: Callable[[Schedule], Result], what: str) -> Result | None:
        schedule = self._schedules.get(schedule_id)
        if schedule is None:
            return None
        result = deliver(schedule)
        log.info("schedule %s: %s %s", schedule_id, what, result.outcome)
        return result

    def sweep(self) -> list[Result]:
        """Deliver anything due and not yet posted: catch-up after downtime, retries after failures."""
        try:
            Purger(self.services.store.client).resume()  # uninstalls a dead process left half purged
        except redis.RedisError as exc:
            log.error("Redis unavailable while finishing purges (%s); will retry", exc)
        schedules = list(self._schedules.values()) or self.schedules()
        results = self.poster.deliver_all(schedules)
        results += fan_out(schedules, self._safe_summary, workspaces=self.poster.parallel_workspaces)
        for r in results:
            if r.outcome not in ("not_due", "stale", "already", "holiday"):
                log.info("sweep: schedule %s %s: %s%s", r.schedule, r.week, r.outcome, f" ({r.error})" if r.error else "")
        self.learning(schedules)
        self.finish_shares()
        return results

    def finish_shares(self) -> None:
        """Shared reflections saved by a web process that was killed before posting them: posted once (or kept
        private, the person told by DM) once their grace period has passed (``SCR_PENDING_GRACE_S``)."""
        grace = self.services.settings.pending_grace_seconds
        try:
            if self.clients is not None:
                for rid, outcome in finish_pending_shares(self.services.reflections, self.clients, grace, time.time()):
                    log.info("shared reflection %s: %s", rid, outcome)
        except Exception:  # never let it stop the sweep
            log.exception("finishing shared reflections failed")
        try:
            if self.services.settings.teams:  # Teams' Reflect dialog shares, through its delivery port
                from bot.handlers.teams.reflect import clock_reflect
                from bot.handlers.teams.reflect import finish_pending_shares as finish_teams_shares

                for rid, outcome in finish_teams_shares(clock_reflect(self.services), grace, time.time()):
                    log.info("shared reflection %s (Teams): %s", rid, outcome)
        except Exception:  # never let it stop the sweep
            log.exception("finishing Teams shared reflections failed")

    def _safe_summary(self, schedule: Schedule) -> Result:
        try:
            return self.summaries.deliver(schedule)
        except Exception as exc:  # one schedule's summary must not stop the others
            log.exception("schedule %s: summary failed", schedule.id)
            return Result(schedule.id, "", "retry", error=type(exc).__name__)

    def learning(self, schedules: list[Schedule]) -> None:
        """Knowledge checks (mid-week, in working hours) and the monthly digests, when due."""
        now = self.clock()
        for job, run in (("knowledge checks", lambda: self.quiz.deliver_due(now)),
                         ("digests", lambda: self.digests.deliver_due(schedules, now)),
                         ("follow-ups", lambda: self.followups.deliver_due(now))):  # fmt: skip
            try:
                for sent in run():
                    if sent.outcome not in ("already", "none"):
                        log.info("sweep: %s: %s", job, sent)
            except Exception:  # never let one job stop the sweep
                log.exception("sweep: %s failed", job)

    def start(self) -> None:
        self._owner_pid = os.getpid()
        self.sync()
        self.scheduler.add_job(self.sync, "interval", seconds=60, id="sync", replace_existing=True)
        self.scheduler.add_job(self.finish_shares, "interval", seconds=60, id="shares", replace_existing=True)
        self.scheduler.add_job(self.sweep, "interval", minutes=self.services.settings.sweep_minutes, id="sweep",
                               replace_existing=True, next_run_time=datetime.now(UTC))
        self.scheduler.start()
        log.info("scheduler started with %d schedule(s) in process %s", len(self._schedules), os.getpid())

    def stop(self) -> None:
        # Forked gunicorn workers unwind through the same code; only the process that started it stops it.
        if os.getpid() != self._owner_pid:
            return
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self._stopped.set()

    def run_forever(self) -> None:
        self.start()
        try:
            self._stopped.wait()
        finally:
            self.stop()
