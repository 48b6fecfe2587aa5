"""The ``scr-bot`` command line: run the bot, the clock, the shell, lookups and content checks.

Errors are one clear line (or one line per content problem), never a traceback: the people
running this are curators and IT admins, not the bot's developers.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import re
import signal
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import redis

from bot import __version__
from bot.config import ConfigError, Settings, load_settings
from bot.content.yamlfile import Problem as ProblemLine
from bot.content.yamlfile import ProblemsError
from bot.storage.backup import BackupError
from bot.storage.embedded_redis import EmbeddedRedisError

log = logging.getLogger("scr-bot")


def _setup_logging(settings: Settings, quiet: bool = False) -> None:
    from bot import logs

    level = logging.WARNING if quiet else getattr(logging, settings.log_level, logging.INFO)
    logs.setup(level, settings.log_format)
    from bot.slack.redact import install

    install()  # no Slack token in any log, at any level (slack_sdk logs request bodies at DEBUG)
    if quiet:  # a command's own one-line report says what failed; slack_sdk would log each try as well
        logging.getLogger("slack_sdk.web.base_client").setLevel(logging.CRITICAL)


def _services(settings: Settings):  # noqa: ANN202 - imported lazily to keep --help fast
    from bot.services import Services

    return Services.create(settings)


def _half_set_tokens(settings: Settings) -> str | None:
    """Some Slack settings but not a usable pair: say what is missing rather than open the shell."""
    if settings.slack_client_id or settings.slack_client_secret:
        if not (settings.slack_client_id and settings.slack_client_secret and settings.slack_signing_secret):
            return ("Add to Slack (many workspaces) needs SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_SIGNING_SECRET "
                    "together (Basic Information > App Credentials)")  # fmt: skip
        if settings.slack_bot_token:
            return ("SLACK_CLIENT_ID/SECRET are set (many workspaces: each installation's token is kept in Redis), "
                    "so SLACK_BOT_TOKEN would be ignored: unset it, or unset SLACK_CLIENT_ID/SECRET for one workspace")
        return None
    if settings.slack_bot_token and not (settings.slack_signing_secret or settings.slack_app_token):
        return ("SLACK_BOT_TOKEN is set but neither SLACK_SIGNING_SECRET (HTTP) nor SLACK_APP_TOKEN (Socket Mode) is: "
                "set one of them, or unset SLACK_BOT_TOKEN to use the offline shell")
    if not settings.slack_bot_token and (settings.slack_signing_secret or settings.slack_app_token):
        given = "SLACK_SIGNING_SECRET" if settings.slack_signing_secret else "SLACK_APP_TOKEN"
        return (f"{given} is set but SLACK_BOT_TOKEN is not: copy the Bot User OAuth Token (xoxb-...) "
                "into SLACK_BOT_TOKEN, or unset both to use the offline shell")
    return None


def _check_port_free(port: int) -> None:
    """gunicorn retries a taken port five times and then prints a traceback-like log; say it once."""
    import errno
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} is already in use (another scr-bot?): stop that process or set PORT") from None
            raise ConfigError(f"cannot listen on port {port} ({exc.strerror}): set PORT to another port") from None


def _connect_socket_mode(handler: Any) -> None:
    """Open the Socket Mode connection; a rejected app-level token is one line, not a traceback."""
    from slack_sdk.errors import SlackApiError

    from bot.slack.app import APP_TOKEN_FIX, slack_refusal

    try:
        handler.connect()
    except SlackApiError as exc:
        raise ConfigError(slack_refusal(exc, "SLACK_APP_TOKEN", APP_TOKEN_FIX)) from None


def _start_store(services: Any) -> None:
    """For admin commands, which cannot do anything without Redis: an unreachable REDIS_URL stops the
    command with one line (from ``main``) before anything else is tried or logged."""
    if services.settings.redis_url:
        services.store.client.ping()
    services.store.start()


def _check_master_keys(services: Any) -> None:
    """A process that serves or posts stops at start-up, with one line, if the data keys in Redis were wrapped
    by a master key it does not hold (``bot.storage.crypto.check_master_keys``)."""
    from bot.storage import crypto

    try:
        crypto.check_master_keys(services.store.client, services.store.keyring)
    except (redis.RedisError, OSError) as exc:  # Redis away: the breaker and /readyz say so; serve what we can
        log.warning("could not check the data keys' master key (%s: %s)", type(exc).__name__, exc)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    problem = _half_set_tokens(settings)
    if problem:
        raise ConfigError(problem)
    mode = settings.mode
    if settings.teams and mode == "socket":
        raise ConfigError("Microsoft Teams (TEAMS_*) is served over HTTP at /api/messages, but Slack is set for Socket "
                          "Mode (SLACK_APP_TOKEN): use SLACK_SIGNING_SECRET instead of SLACK_APP_TOKEN to serve both "
                          "over HTTP, or unset the SLACK_* settings to serve Teams alone")  # fmt: skip
    if mode == "shell":
        return cmd_shell(args, settings, offline_banner=True)
    if mode in ("http", "oauth", "teams"):
        _check_port_free(settings.port)
    _setup_logging(settings)
    from bot.ops import metricsdir

    metricsdir.prepare(settings, serves=True)  # before the first metric is made (bot.metrics)
    if mode == "teams":
        return _run_teams_alone(args, settings)
    from bot import handlers
    from bot.slack.app import build_app, check_slack, make_client

    if mode != "oauth":  # many workspaces: no token of our own to check; each installation brings its own
        check_slack(make_client(settings.slack_bot_token, settings.slack_api_url, settings.http_timeout_seconds),
                    settings.slack_api_url,
                    app_token=settings.slack_app_token if mode == "socket" else None)  # fmt: skip
    services = _services(settings)
    services.store.start()
    _check_master_keys(services)
    if mode in ("http", "oauth") and not args.no_scheduler:
        # gunicorn forks; the scheduler must not live in a process that forks: run both as siblings.
        # (Distributed mode too: its clock posts for every workspace and finishes interrupted purges.)
        from bot.ops.supervisor import run_web_and_clock

        try:
            return run_web_and_clock()
        finally:
            services.store.close()
    bolt_app = build_app(services)
    handlers.register(bolt_app, services)
    clock = None
    if not args.no_scheduler:
        from bot.ops.clock import Clock

        clock = Clock(services, bolt_app.client)
    if mode == "socket":
        from bot.slack.socket_mode import CheckedSocketModeHandler
        from bot.slack.web import serve_metrics

        serve_metrics(services)

        if clock:
            clock.start()
        log.info("connecting to Slack in Socket Mode")
        handler = CheckedSocketModeHandler(bolt_app, settings.slack_app_token)
        try:
            _connect_socket_mode(handler)
            log.info("connected to Slack in Socket Mode")
            threading.Event().wait()
        finally:
            if clock:
                clock.stop()
            services.store.close()
        return 0
    from bot.slack.web import serve

    def when_ready(server: Any) -> None:
        log.info("scr-bot %s listening on port %s", __version__, settings.port)

    wrap = None
    if settings.teams:
        from bot.handlers.teams.app import build as build_teams
        from bot.teams.web import beside

        teams = build_teams(services)
        log.info("serving Microsoft Teams at /api/messages")

        def wrap(main: Any) -> Any:
            return beside(main, teams)

    try:
        serve(services, bolt_app, on_ready=when_ready, wrap=wrap)
    finally:
        services.store.close()
    return 0


def _run_teams_alone(args: argparse.Namespace, settings: Settings) -> int:
    """``scr-bot run`` with Teams settings and no Slack ones: /api/messages, /healthz and /readyz under gunicorn,
    and (unless --no-scheduler) the clock beside it, as for Slack's HTTP mode."""
    services = _services(settings)
    services.store.start()
    _check_master_keys(services)
    try:
        if not args.no_scheduler:
            from bot.ops.supervisor import run_web_and_clock

            return run_web_and_clock()
        from bot.handlers.teams.app import build as build_teams
        from bot.slack.web import serve_wsgi

        def when_ready(server: Any) -> None:
            log.info("scr-bot %s serving Microsoft Teams at /api/messages on port %s", __version__, settings.port)

        serve_wsgi(services, build_teams(services, health=True), on_ready=when_ready)
    finally:
        services.store.close()
    return 0


def cmd_teams(args: argparse.Namespace, settings: Settings) -> int:
    """``scr-bot teams package``: the zip an organisation uploads to Teams. Nothing is written unless every
    setting it needs is set (one line saying which otherwise)."""
    from bot.teams import package

    path = package.write(settings, Path(args.output))
    print(f"wrote {path}: upload it in Teams (Apps > Manage your apps > Upload an app), then add it to a team")
    return 0


def cmd_clock(args: argparse.Namespace, settings: Settings) -> int:
    if settings.mode == "teams":  # Microsoft Teams alone: no Slack client to make or check
        _setup_logging(settings)
        from bot.ops import metricsdir

        metricsdir.prepare(settings, serves=False)
        from bot.ops.clock import Clock

        services = _services(settings)
        services.store.start()
        _check_master_keys(services)
        try:
            Clock(services, None).run_forever()
        finally:
            services.store.close()
        return 0
    if not settings.slack_bot_token and not settings.distributed:
        raise ConfigError("scr-bot clock posts to Slack, so it needs SLACK_BOT_TOKEN (see README: Connect it to Slack)")
    _setup_logging(settings)
    from bot.ops import metricsdir

    metricsdir.prepare(settings, serves=False)  # writes where the web process serves them from
    from bot.ops.clock import Clock
    from bot.slack.app import check_slack, make_client

    client = make_client(settings.slack_bot_token, settings.slack_api_url, settings.http_timeout_seconds,
                         call_budget=settings.call_budget_seconds)
    if not settings.distributed:  # distributed: each workspace's token comes from the installation store
        check_slack(client, settings.slack_api_url)  # a wrong token is a reason to stop, not to retry for ever
    services = _services(settings)
    services.store.start()
    _check_master_keys(services)
    clock = Clock(services, client)
    try:
        clock.run_forever()
    finally:
        services.store.close()
    return 0


def cmd_shell(args: argparse.Namespace, settings: Settings, offline_banner: bool = False) -> int:
    """The offline shell. Its every answer needs Redis, so the store is started (and an external one pinged)
    before anything is shown: an unusable SCR_DATA_DIR or a wrong REDIS_URL is the admin commands' one line,
    not a shell whose every command fails with "try again in a minute"."""
    _setup_logging(settings, quiet=True)
    if not settings.redis_url:
        from bot.storage.embedded_redis import EmbeddedRedis

        EmbeddedRedis(settings.data_dir).check_usable()  # before loading anything: the cheapest one line
    services = _services(settings)
    try:
        _start_store(services)
    except BaseException:
        services.store.close()
        raise
    if offline_banner:
        print("No Slack tokens set (SLACK_BOT_TOKEN with SLACK_SIGNING_SECRET or SLACK_APP_TOKEN):")
        print("starting the offline shell. See README.md to connect the bot to Slack.\n")
    from bot.ops.shell import run_shell

    try:
        return run_shell(services)
    finally:
        services.store.close()


def _schedule_context(settings: Settings, need_slack: bool = False):  # noqa: ANN202
    """Services, the store, a Slack client (if tokens are set) and the bot's own workspace id."""
    from bot.slack.app import check_slack, make_client
    from bot.slack.localslack import TEAM_ID

    client = None
    team = TEAM_ID  # no token at all: offline, the shell's workspace
    if settings.distributed:
        services = _services(settings)
        _start_store(services)
        return services, None, ""  # each workspace's own token (bot.slack.oauth); admin schedules must name a team
    if settings.slack_bot_token:
        client = make_client(settings.slack_bot_token, settings.slack_api_url, settings.http_timeout_seconds,
                         call_budget=settings.call_budget_seconds)
        # Guessing the workspace would read (and write) another workspace's records, and a post made under
        # them would be made again by the clock: stop instead.
        team = str(check_slack(client, settings.slack_api_url).get("team_id") or "")
        if not team:
            raise ConfigError("Slack's auth.test named no workspace; nothing was done")
    elif need_slack:
        raise ConfigError("SLACK_BOT_TOKEN is needed to post to Slack (see README: Connect it to Slack)")
    services = _services(settings)
    _start_store(services)
    return services, client, team


def _every_schedule(services: Any, team: str) -> list[Any]:
    """Admin and channel schedules; a team-less admin schedule belongs to ``team`` (none when distributed)."""
    return [s.in_team(team) for s in services.yaml_schedules if s.team or team] + services.subscriptions.all()


def _find_schedule(services: Any, team: str, schedule_id: str):  # noqa: ANN202
    every = _every_schedule(services, team)
    for s in every:
        if s.id == schedule_id:
            return s
    known = ", ".join(s.id for s in every) or "none"
    raise ConfigError(f"no schedule called {schedule_id!r} (known: {known})")


def cmd_schedule(args: argparse.Namespace, settings: Settings) -> int:
    from bot.ops import metricsdir

    metricsdir.prepare(settings, serves=False)  # run-due's posts count where the web process serves metrics
    from bot.weekly.poster import WeeklyPoster, utcnow
    from bot.weekly.schedules import describe

    _setup_logging(settings, quiet=True)
    need_slack = args.action in ("post-now", "run-due") and not settings.teams
    services, client, team = _schedule_context(settings, need_slack=need_slack)
    try:
        from bot.slack.delivery import SlackDeliveries
        from bot.slack.oauth import workspace_clients

        clients = workspace_clients(services) if settings.distributed else None
        from bot.ops.platforms import by_platform

        has_slack = client is not None or settings.distributed
        deliveries = by_platform(services, SlackDeliveries(client, services.corpus, clients) if has_slack else None)
        poster = WeeklyPoster(services.store.client, deliveries, services.corpus,
                              lease_seconds=settings.claim_lease_seconds, settle_seconds=settings.claim_settle_seconds,
                              call_budget=settings.call_budget_seconds,
                              retention_days=settings.retention_days, reflect_button=services.reflections_enabled,
                              parallel_workspaces=settings.fanout_workspaces,
                              workspace_settings=services.workspace_settings)  # fmt: skip
        now = utcnow()
        if args.action == "list":
            every = _every_schedule(services, team)
            if not every:
                print("No schedules. Add one to schedules/*.yaml, or use /scr subscribe in a channel.")
            for s in every:
                nxt = s.post_trigger().get_next_fire_time(None, now)
                status = poster.status(s)
                last = f"{status['last_week']} {status.get('last_point', '')}" if status.get("last_ts") else "never"
                state = "disabled" if not s.enabled else (f"error: {status['last_error']}" if status.get("last_error") else "ok")
                print(f"{s.id}  [{s.source}]  channel {s.channel}  {describe(s.post)} {s.timezone}")
                print(f"    next: {nxt.astimezone(s.tz):%a %d %b %Y %H:%M %Z}" if nxt else "    next: never")
                print(f"    last post: {last}   status: {state}")
            return 0
        schedule = _find_schedule(services, team, args.id) if args.action != "run-due" else None
        if args.action == "preview":
            for i, point in enumerate(poster.rotation.preview(schedule, args.weeks), start=1):
                nxt = schedule.post_trigger()
                when = nxt.get_next_fire_time(None, now)
                for _ in range(i - 1):
                    when = nxt.get_next_fire_time(when, when) if when else None
                date = f"{when.astimezone(schedule.tz):%a %d %b %Y}" if when else f"week {i}"
                print(f"{date}  {point.id:<32} {point.title}")
            return 0
        if args.action == "post-now":
            if not schedule.enabled and not args.force:
                raise ConfigError(f"schedule {schedule.id} is disabled (enabled: false); use --force to post anyway")
            result = poster.deliver(schedule, ignore_time=True, force=args.force)
            print(f"{result.schedule} {result.week}: {result.outcome}"
                  + (f" ts={result.ts}" if result.ts else "") + (f" point={result.point}" if result.point else "")
                  + (f" error={result.error}" if result.error else ""))  # fmt: skip
            return 0 if result.outcome in ("posted", "recovered", "already") else 1
        # run-due
        from datetime import datetime

        at = datetime.fromisoformat(args.now) if args.now else now
        if at.tzinfo is None:
            raise ConfigError("--now needs a time zone, e.g. 2026-11-23T09:30:00+00:00")
        from bot.reflections.store import ReflectionStore
        from bot.weekly.summary import SummaryPoster

        schedules = services.all_schedules(team)
        results = poster.deliver_all(schedules, at)
        summaries = SummaryPoster(poster, ReflectionStore(services.store.client, settings.retention_days),
                                  services.corpus)  # fmt: skip
        for s in schedules:
            r = summaries.deliver(s, at)
            if r.outcome not in ("not_due", "no_post"):
                results.append(dataclasses.replace(r, schedule=f"{s.id} summary"))
        for r in results:
            print(f"{r.schedule} {r.week}: {r.outcome}" + (f" ts={r.ts}" if r.ts else "") + (f" error={r.error}" if r.error else ""))
        from bot.learning.digest_sender import DigestReaders, DigestSender
        from bot.learning.quiz import QuizStore
        from bot.learning.quiz_sender import QuizSender

        hours = services.workspace_settings.hours  # each workspace's /scr settings over the environment's
        quiz = QuizSender(QuizStore(services.store.client, settings.retention_days, timezone=settings.timezone), deliveries, services.corpus, hours)
        digests = DigestSender(services.store.client, deliveries, services.corpus, hours,
                               DigestReaders(services.store.client, settings.env_digest_users), settings.retention_days)  # fmt: skip
        learning = [("quiz", f"{q.user}", q.outcome, q.check, q.error) for q in quiz.deliver_due(at)]
        learning += [("digest", f"{d.channel} {d.user}", d.outcome, None, d.error) for d in digests.deliver_due(schedules, at)]
        from bot.briefings.followup import FollowUps

        followups = FollowUps(services.store.client, deliveries, hours, settings.retention_days,
                              settings.claim_lease_seconds, settings.claim_settle_seconds)  # fmt: skip
        learning += [("follow-up", f.what, f.outcome, None, f.error) for f in followups.deliver_due(at)]
        if has_slack:  # shared reflections a web process saved but was killed before posting (after their grace)
            import time

            from bot.handlers.views import finish_pending_shares

            shares = finish_pending_shares(services.reflections, clients or workspace_clients(services, client),
                                           settings.pending_grace_seconds, time.time())  # fmt: skip
            learning += [("shared reflection", rid, outcome, None, None) for rid, outcome in shares]
        if settings.teams:  # the same for the Teams Reflect dialog's shares, through its delivery port
            import time

            from bot.handlers.teams.reflect import clock_reflect
            from bot.handlers.teams.reflect import finish_pending_shares as finish_teams_shares

            shares = finish_teams_shares(clock_reflect(services), settings.pending_grace_seconds, time.time())
            learning += [("shared reflection", rid, outcome, None, None) for rid, outcome in shares]
        for kind, who, outcome, check, error in learning:
            print(f"{kind} {who}: {outcome}" + (f" check={check}" if check else "") + (f" error={error}" if error else ""))
        failed = [r.outcome for r in results] + [x[2] for x in learning]
        return 0 if all(o not in ("failed", "retry") for o in failed) else 1
    finally:
        services.store.close()


def cmd_reflections(args: argparse.Namespace, settings: Settings) -> int:
    """Admin export of one person's record (what "Export my record" sends them), to stdout or a file."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.learning import cpd
    from bot.storage.store import Workspace

    _setup_logging(settings, quiet=True)
    services = _services(settings)
    _start_store(services)
    try:
        try:
            ws = Workspace(args.team, args.enterprise)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if args.action == "report":
            return _report(services, settings, ws, args)
        mine = services.reflections.for_user(ws, args.user)
        answers = services.quiz.answers(ws, args.user)
        sessions = services.sessions.sessions_of(ws, args.user)
        actions = services.sessions.actions_of(ws, args.user)
        zone = ZoneInfo(services.workspace_settings.hours(ws).timezone)  # dates as the team's own days
        if args.format == "csv":
            text = cpd.to_csv(services.corpus, mine, answers, sessions, actions, zone=zone)
        else:
            text = cpd.to_markdown(services.corpus, mine, who=f"Slack user {args.user} in workspace {args.team}",
                                   exported=datetime.now(zone), answers=answers, sessions=sessions,
                                   actions=actions, zone=zone)  # fmt: skip
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            print(f"wrote {len(mine)} reflection(s), {len(answers)} knowledge-check answer(s), {len(sessions)} team "
                  f"briefing(s) and {len(actions)} action(s) to {args.output}", file=sys.stderr)  # fmt: skip
        else:
            sys.stdout.write(text)
        return 0
    finally:
        services.store.close()


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    """A workspace's audit trail of changes (weekly posts, digest readers, the bot's admins), oldest first."""
    from datetime import UTC, date, datetime

    from bot.storage.roles import AuditTrail
    from bot.storage.store import Workspace

    try:
        if args.teams_tenant:  # a Microsoft Teams tenant's trail (subscriptions, digest readers, its first admin)
            ws = Workspace(args.teams_tenant, platform="teams")
        elif args.team:
            ws = Workspace(args.team, args.enterprise)
        else:
            raise ConfigError("say whose trail: --team T… (Slack) or --teams-tenant <tenant id> (Microsoft Teams)")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    since = 0.0
    if args.since:
        try:
            day = date.fromisoformat(args.since)
        except ValueError:
            raise ConfigError(f"--since {args.since!r} should be a date such as 2026-06-01") from None
        since = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    _setup_logging(settings, quiet=True)
    services = _services(settings)
    _start_store(services)
    try:
        entries = AuditTrail(services.store.client).since(ws, since)
    finally:
        services.store.close()
    for entry in entries:
        print(entry.line())
    if not entries:
        print(f"no changes recorded for workspace {ws.team_id}" + (f" since {args.since}" if args.since else ""),
              file=sys.stderr)  # fmt: skip
    return 0


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    """Encryption at rest (bot.storage.crypto): print a new master key, or rotate to the current one online."""
    from bot.storage import crypto

    if args.action == "new":
        print(crypto.new_master_key())
        return 0
    _setup_logging(settings, quiet=True)
    services = _services(settings)
    _start_store(services)
    moved: crypto.DataKeyRotation | None = None
    try:
        done = crypto.rotate(services.store.client, services.store.keyring, batch=args.batch)
        print(f"master key {services.store.keyring.current_id}: {done.rewrapped} data key(s) re-wrapped, "
              f"{done.sealed} plaintext value(s) encrypted", flush=True)
        if done.unreadable:
            raise ConfigError(f"{done.unreadable} data key(s) are wrapped by a master key neither SCR_MASTER_KEY nor "
                              "SCR_MASTER_KEY_OLD is: keep the old key set and run this again")
        if args.data_keys:
            moved = crypto.rotate_data_keys(services.store.client, services.store.keyring, batch=args.batch,
                                            grace=args.grace, pause=args.pause,
                                            progress=lambda line: print(line, flush=True))  # fmt: skip
    finally:
        services.store.close()
    if moved is not None:
        print(("resumed the data-key rotation a previous run left unfinished: " if moved.resumed else "")
              + f"{moved.workspaces} workspace(s) on a new data key, {moved.resealed} value(s) re-encrypted, "
              "previous data keys deleted")  # fmt: skip
        if moved.unfinished:
            raise ConfigError(f"{len(moved.unfinished)} workspace(s) kept their previous data key (values kept "
                              f"changing under it: {', '.join(moved.unfinished)}); run `scr-bot keys rotate "
                              "--data-keys` again")  # fmt: skip
    if settings.master_key_old:
        print("every data key is now wrapped by SCR_MASTER_KEY: SCR_MASTER_KEY_OLD can be removed")
    return 0


def cmd_workspace(args: argparse.Namespace, settings: Settings) -> int:
    """Installed workspaces (distributed mode), and an admin's purge of everything kept for one of them."""
    from datetime import UTC, datetime

    from bot.slack.installations import installation_store
    from bot.storage.purge import Purger
    from bot.storage.store import Workspace

    _setup_logging(settings, quiet=True)
    services = _services(settings)
    services.store.start()
    try:
        purger = Purger(services.store.client)
        if args.action == "list":
            installs = installation_store(services).installed()
            subs = Counter((s.enterprise, s.team) for s in services.subscriptions.all())
            if not installs:
                print("No workspaces have installed the app through /slack/install"
                      + (" (single-token mode: SLACK_BOT_TOKEN)." if settings.slack_bot_token else "."))  # fmt: skip
            for rec in installs:
                ws = rec.workspace
                when = datetime.fromtimestamp(rec.installed_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
                kind = "org-wide" if rec.is_enterprise_install else "workspace"
                org = f"  enterprise {ws.enterprise_id}" if ws.enterprise_id else ""
                print(f"{ws.team_id}{org}  {rec.team_name or rec.enterprise_name or '?'}  [{kind}]  installed {when}"
                      f"  token: {'rotating' if rec.rotating else 'long-lived'}"
                      f"  subscriptions: {subs.get((ws.enterprise_id, ws.team_id), 0)}")  # fmt: skip
            for ws in purger.pending():
                print(f"{ws.team_id}  purge pending (the clock finishes it)")
            return 0
        try:
            ws = Workspace(args.team, args.enterprise)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if not args.yes:
            raise ConfigError(f"this deletes the tokens and everything stored for workspace {ws.team_id} "
                              "(reflections, schedules, posts' records); re-run with --yes to do it")  # fmt: skip
        report = purger.purge(ws)
        print(f"workspace {ws.team_id}: deleted {report.keys_deleted} key(s), "
              f"{report.subscriptions_removed} subscription(s); tokens removed")  # fmt: skip
        return 0
    finally:
        services.store.close()


def _report(services: Any, settings: Settings, ws: Any, args: argparse.Namespace) -> int:
    """The partnership's audit evidence: counts, themes and dates per channel; never anyone's words."""
    from datetime import UTC, date, datetime
    from zoneinfo import ZoneInfo

    from bot.learning import digest
    from bot.storage import keys

    try:
        since = date.fromisoformat(args.since)
    except ValueError:
        raise ConfigError(f"--since {args.since!r} should be a date such as 2026-06-01") from None
    now = datetime.now(UTC)
    months = []
    y, m = since.year, since.month
    while (y, m) <= (now.year, now.month):
        months.append(f"{y:04d}-{m:02d}")
        y, m = (y, m + 1) if m < 12 else (y + 1, 1)
    if not months:
        raise ConfigError(f"--since {args.since} is in the future")
    tz = services.workspace_settings.hours(ws).timezone  # the workspace's months
    start = datetime.combine(since, datetime.min.time(), ZoneInfo(tz)).timestamp()
    channels = [args.channel] if args.channel else sorted(
        set(services.store.client.smembers(keys.posted_channels(ws)))  # weekly posts, and briefings run
        | set(digest.session_channels(services.store.client, ws, start, retention_days=settings.retention_days)))
    digests = []
    for channel in channels:
        d = digest.build(services.corpus, services.store.client, ws, channel, months, settings.retention_days, tz)
        d.posts = [p for p in d.posts if p.date >= since.isoformat()]
        digests.append(d)
    if args.format == "csv":
        text = digest.report_csv(services.corpus, digests)
    else:
        text = digest.report_markdown(services.corpus, digests, since.isoformat())
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        print(f"wrote the report for {len(digests)} channel(s) to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if not channels:
        print(f"no weekly posts or 7-minute briefings found in workspace {ws.team_id}", file=sys.stderr)
    return 0


def point_json(services: Any, point: Any) -> dict[str, Any]:
    """A point as data: what the Block Kit answer shows, including its briefing's ``period`` and the
    ``since`` line (verified changes only; null when nothing verified has changed)."""
    from bot.content.currency import period_label, since_line

    corpus = services.corpus
    return {
        "id": point.id,
        "title": point.title,
        "summary": point.summary,
        "themes": list(point.themes),
        "sectors": list(point.sectors),
        "kind": point.kind,
        "source": {"briefing": point.source.briefing, "section": point.source.section, "pages": list(point.source.pages),
                   "local": corpus.is_local(point), "label": corpus.source_label(point)},
        "period": period_label(corpus.briefings[point.source.briefing]),
        "since": since_line(corpus, point),
    }


def safety_json(note: Any, contact: str | None) -> dict[str, Any]:
    """The safety net part of an answer as data: the steps, who to contact, the official source, and why."""
    advice = note.advice

    def ref(r: Any) -> dict[str, Any]:
        return {"title": r.title, "publisher": r.publisher, "year": r.year, "url": r.url}

    return {"title": advice.title, "intro": advice.intro, "steps": list(advice.steps),
            "contact": contact, "no_contact": None if contact else advice.no_contact,
            "source": ref(advice.source), "also": [ref(r) for r in advice.also],
            "cue": note.verdict.cue, "matched": note.verdict.matched}


def answer_json(services: Any, answer: Any) -> dict[str, Any]:
    """The same Answer the Block Kit and terminal renderings show, as data (best first); a live concern's
    safety net comes first, before the results."""
    from bot.slack.blocks import where_to_look

    out: dict[str, Any] = {"query": answer.query, "kind": answer.kind}
    if answer.safety is not None:
        out["safety"] = safety_json(answer.safety, services.concern_contact())
    results = []
    for p in answer.results:
        item = point_json(services, p)
        if p.id in answer.why:
            item["why"] = answer.why[p.id]
        results.append(item)
    out["results"] = results
    if answer.notice:
        out["notice"] = answer.notice
    if answer.kind == "not_covered" and answer.topic:
        out["topic"] = {"id": answer.topic.id, "label": answer.topic.label}
        out["where_to_look"] = where_to_look(answer)
    if answer.suggestions:
        out["suggestions"] = [{"label": s.label, "query": s.query} for s in answer.suggestions]
    return out


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    _setup_logging(settings, quiet=True)
    services = _services(settings)
    query = " ".join(args.query)
    answer = services.lookup.answer(query)
    if args.json:
        print(json.dumps(answer_json(services, answer), ensure_ascii=False, indent=2))
        return 0
    from bot.ops.textrender import render
    from bot.slack import blocks

    msg = blocks.message(blocks.answer_blocks(services.corpus, answer, contact=services.concern_contact()),
                         blocks.fallback_text(answer))
    print(render(msg)[0])
    return 0


def _cli_words(message: str) -> str:
    """A briefing message written for Slack, with the CLI's commands in place of the slash command's."""
    return (message.replace("`/scr themes` lists the themes", "`scr-bot content stats` lists the themes")
            .replace("`/scr briefing", "`scr-bot briefing"))


def cmd_briefing(args: argparse.Namespace, settings: Settings) -> int:
    """``scr-bot briefing <query> [--across] [--pdf FILE] [--markdown FILE]``: a 7-minute briefing printed as
    the shell shows it, and its handout written. No match is one line on stderr, exit 1, nothing written."""
    from bot.briefings import handout
    from bot.briefings.builder import NoMatch, build
    from bot.content.corpus import load_corpus
    from bot.search.lookup import Lookup

    query = " ".join(args.query)
    try:
        built = build(Lookup(load_corpus(settings.content_dir), cache_dir=settings.cache_dir), query, across=args.across)
    except NoMatch as exc:
        tries = "; try " + ", ".join(f"'scr-bot briefing {q}'" for _, q in exc.suggestions) if exc.suggestions else ""
        print(f"scr-bot briefing: {_cli_words(exc.message)}{tries}", file=sys.stderr)
        return 1
    outputs: list[tuple[Path, bytes]] = []
    try:
        if args.pdf:
            outputs.append((Path(args.pdf), handout.pdf_bytes(built)))
        if args.markdown:
            outputs.append((Path(args.markdown), handout.markdown(built).encode()))
    except handout.HandoutError as exc:
        print(f"scr-bot briefing: {exc}", file=sys.stderr)
        return 1
    print(handout.markdown(built) if not outputs else built.title)
    for path, data in outputs:
        try:
            path.write_bytes(data)
        except OSError as exc:
            print(f"{path}:1: cannot write the handout: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"wrote {path}")
    return 0


def cmd_content_terms(args: argparse.Namespace, settings: Settings) -> int:
    """Generate each point's terms and the not-covered topics from the sources and the curation file."""
    import shutil
    import tempfile
    from pathlib import Path

    from bot.content.terms import generate

    sources = Path(args.sources).expanduser() if args.sources else settings.sources_dir
    if sources is None or not sources.is_dir():
        print("scr-bot: content terms needs the source briefings' text: --sources DIR or SCR_SOURCES_DIR "
              "(e.g. ../shared/seeds)", file=sys.stderr)
        return 1
    curation = Path(args.curation)
    if args.check:  # generate into a copy and compare: does the committed content match its inputs?
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "content"
            shutil.copytree(settings.content_dir, copy)
            report = generate(copy, sources, curation)
            stale = [p.relative_to(copy) for p in report.changed]
        for path in stale:
            print(f"{settings.content_dir / path}:1: out of date; run `scr-bot content terms --sources {sources}`")
        return 1 if stale else 0
    report = generate(settings.content_dir, sources, curation)
    with_terms = sum(1 for t in report.terms.values() if t)
    print(f"terms: {sum(len(t) for t in report.terms.values())} on {with_terms} of {len(report.terms)} points")
    print(f"not covered: {len(report.not_covered)} topics ({', '.join(report.not_covered)})")
    for line in report.mentioned:
        print(f"covered after all (left out of not-covered): {line}")
    for cand, ids in sorted(report.candidates.items()):
        print(f"to review: {cand!r} (in the sections of {', '.join(sorted(ids)[:3])}{'…' if len(ids) > 3 else ''})")
    for path in report.changed:
        print(f"wrote {path}")
    return 0


def _fidelity(corpus: Any, settings: Settings, sources_arg: str | None) -> int:
    """Compare every point with the text of the section it cites; print problems as file:line: message."""
    from pathlib import Path

    from bot.content.fidelity import check_corpus, sources_hint
    from bot.content.sources import Sources

    directory = Path(sources_arg).expanduser() if sources_arg else settings.sources_dir
    if directory is not None and not directory.is_dir():
        raise ConfigError(f"sources folder {directory} not found (--sources DIR or SCR_SOURCES_DIR)")
    report = check_corpus(corpus, Sources(directory))
    problems = list(report.problems)
    national = [b for b in report.unchecked if not b.local]
    if directory is not None:
        for b in national:  # asked for a check, so a missing text is a failure, not a skip
            path, line = corpus.where("briefings", b.id, "seed")
            problems.append(ProblemLine(path, line, f"{b.id}: source text {b.seed!r} not found in {directory}"))
    for problem in [*problems, *report.warnings]:
        print(problem, file=sys.stderr)
    if report.warnings:  # over-claiming is likely, not proven; CI still fails until the wording (or the allow-list) is fixed
        print(f"{len(report.warnings)} fidelity warning(s): a hedge, caveat or population of the cited section is "
              "lost, or a check's point does not back it (fix the wording; see OVERCLAIM_ALLOWED in bot/fidelity.py "
              "for reviewed false positives).", file=sys.stderr)
    if problems:
        print(f"{len(problems)} fidelity problem(s): each point must say only what its cited section says, "
              "in our own words.", file=sys.stderr)
    if problems or report.warnings:
        return 1
    national_checked = [b for b in report.checked if not corpus.briefings[b].local]
    local_checked = [b for b in report.checked if corpus.briefings[b].local]
    if national_checked:
        print(f"fidelity OK: numbers, quotes, pages, headings and wording checked against the cited sections "
              f"of {len(national_checked)} briefing text(s) in {directory}")  # fmt: skip
    if local_checked:
        print(f"local learning OK: points checked against the section text of {', '.join(local_checked)}")
    if report.untexted:
        print(f"note: {len(report.untexted)} local point(s) cite a section with no text, so their numbers and "
              f"wording were not checked ({', '.join(report.untexted[:5])}); add the section's `text:` to check them")  # fmt: skip
    if directory is None and national:
        print("fidelity NOT checked: the briefings' texts were not given, so numbers, quotes, pages and wording "
              "were not compared with the cited sections.")  # fmt: skip
        print("To check them, save each briefing's text (the PDFs from these public addresses, as plain text) "
              "in one folder and run `scr-bot content check --sources DIR` (or set SCR_SOURCES_DIR):")  # fmt: skip
        for line in sources_hint(corpus):
            print(line)
    return 0


def cmd_content(args: argparse.Namespace, settings: Settings) -> int:
    from bot.content.corpus import load_corpus

    if args.action == "terms":
        return cmd_content_terms(args, settings)
    corpus = load_corpus(settings.content_dir)  # ProblemsError -> file:line lines, exit 1
    if args.action == "check":
        from bot.content.currency import currency_problems

        stale = currency_problems(corpus)  # superseded terms with no "since this briefing" note
        if stale:
            raise ProblemsError(stale)
        uncovered = corpus.uncovered()
        empty = [t for t in corpus.themes if not corpus.points_for(theme=t)]
        print(
            f"content OK: {len(corpus.points)} points, {len(corpus.checks)} knowledge checks, {len(corpus.themes)} themes, "
            f"{len(corpus.sectors)} sectors, {len(corpus.briefings)} briefings"
        )
        verified = sum(c.verified for c in corpus.changes.values())
        print(f"changes since the briefings: {verified} verified, {len(corpus.changes) - verified} unverified "
              "(never shown); every point using a superseded term has a note")  # fmt: skip
        for b, heading in uncovered:
            print(f"warning: briefing {b}: heading {heading!r} has no learning point")
        for t in empty:
            print(f"warning: theme {t!r} has no learning points")
        return _fidelity(corpus, settings, args.sources)
    if args.action == "coverage":
        cover = corpus.coverage()
        if args.json:
            print(json.dumps(cover, indent=2, ensure_ascii=False))
        else:
            for b, table in cover.items():
                print(f"\n{corpus.briefings[b].short_title} ({b})")
                for heading, ids in table.items():
                    print(f"  {heading}: {', '.join(ids) if ids else '(no point)'}")
        return 0
    # stats
    def table(title: str, counts: Counter[str], names: dict[str, str]) -> None:
        print(f"\n{title}")
        width = max((len(n) for n in names.values()), default=10)
        for key, name in sorted(names.items(), key=lambda kv: (-counts[kv[0]], kv[1])):
            n = counts[key]
            flag = "  <- no points" if n == 0 else ""
            print(f"  {name:<{width}}  {n:>4}  {'█' * n}{flag}")

    by_briefing = Counter(p.source.briefing for p in corpus.points)
    by_sector = Counter(s for p in corpus.points for s in p.sectors)
    by_theme = Counter(t for p in corpus.points for t in p.themes)
    print(f"{len(corpus.points)} learning points")
    table("Points per briefing", by_briefing, {b.id: b.short_title for b in corpus.briefings.values()})
    table("Points per sector", by_sector, {s.id: s.label for s in corpus.sectors.values()})
    table("Points per theme", by_theme, {t.id: t.label for t in corpus.themes.values()})
    return 0


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    """Every scr-bot key to one file (``bot.storage.backup``): safe while the bot runs, one moment's state."""
    from pathlib import Path

    from bot.storage.backup import backup

    if settings.redis_cluster:
        raise ConfigError("scr-bot backup reads one Redis server, not a Redis Cluster: use your provider's backups")
    _setup_logging(settings, quiet=True)
    services = _services(settings)
    _start_store(services)
    try:
        raw = redis.Redis.from_url(services.store.url, socket_timeout=60)  # binary payloads: no decoding
        with raw:
            report = backup(raw, Path(args.file))
    finally:
        services.store.close()
    where = _redacted(settings.redis_url) if settings.redis_url else f"the embedded Redis in {settings.data_dir}"
    print(f"backed up {report.keys} key(s) from {where} to {args.file}")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    """Load a backup into an empty Redis: the embedded one only while no scr-bot process uses it."""
    from pathlib import Path

    from bot.storage.backup import read_backup, restore
    from bot.storage.keys import LAYOUT, migrate

    if settings.redis_cluster:
        raise ConfigError("scr-bot restore writes to one Redis server, not a Redis Cluster")
    read_backup(Path(args.file))  # a damaged file is refused before anything is started
    if not settings.redis_url:
        from bot.storage.embedded_redis import EmbeddedRedis

        users = EmbeddedRedis(settings.data_dir).users_now()
        if users:
            raise ConfigError(f"{users} scr-bot process(es) are using the embedded Redis in {settings.data_dir}: "
                              "stop the bot (web and clock) first, then restore")  # fmt: skip
    _setup_logging(settings, quiet=True)
    services = _services(settings)
    _start_store(services)
    try:
        raw = redis.Redis.from_url(services.store.url, socket_timeout=60)
        with raw:
            report = restore(raw, Path(args.file))
        if report.purged:  # their keys were left out: no global index may still name them
            from bot.storage.purge import Purger

            for ws in report.purged:
                Purger(services.store.client).drop_index_entries(ws)
        if report.old_layout:
            services.store.client.delete(LAYOUT)
            migrate(services.store.client)
    finally:
        services.store.close()
    where = _redacted(settings.redis_url) if settings.redis_url else f"the embedded Redis in {settings.data_dir}"
    print(f"restored {report.keys} key(s) into {where}"
          + (f"; {report.expired} had expired since the backup and were left out" if report.expired else ""))
    if report.purged:
        names = ", ".join(ws.team_id for ws in report.purged)
        print(f"left out {report.purged_keys} key(s) of {len(report.purged)} workspace(s) purged after the backup was "
              f"taken ({names}): a purged workspace is never restored")  # fmt: skip
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, with a mistake reported on one line (usage stays one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _weeks(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"give a whole number of weeks, got {raw!r}") from None
    if not 1 <= value <= 520:
        raise argparse.ArgumentTypeError(f"give a number of weeks from 1 to 520, got {value}")
    return value


@functools.cache
def build_parser() -> argparse.ArgumentParser:
    """The CLI's parser, built once per process (parsing does not change it; the tests' preloaded starter
    builds it before it forks each command)."""
    parser = _Parser(
        prog="scr-bot",
        description="Learning from Serious Case Reviews, brought into your team's Slack week.",
    )
    parser.add_argument("--version", action="version", version=f"scr-bot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser(
        "run",
        help="run the bot (Slack in Socket Mode or HTTP, Microsoft Teams, both, or the offline shell when nothing is set)",
        description="Run the bot. SLACK_BOT_TOKEN + SLACK_APP_TOKEN: Socket Mode. SLACK_BOT_TOKEN + "
        "SLACK_SIGNING_SECRET: HTTP on $PORT. TEAMS_APP_ID + TEAMS_APP_PASSWORD + TEAMS_TENANT_ID: Microsoft Teams "
        "at /api/messages on $PORT (beside Slack's HTTP routes, or alone). Nothing set: the offline shell.",
    )
    run.add_argument("--no-scheduler", action="store_true", help="do not run the weekly-post scheduler in this process")
    run.set_defaults(func=cmd_run)

    clock = sub.add_parser("clock", help="run only the scheduler (the Procfile's clock process)")
    clock.set_defaults(func=cmd_clock)

    shell = sub.add_parser("shell", help="offline console: type /scr commands and see the answers")
    shell.set_defaults(func=cmd_shell)

    ask = sub.add_parser("ask", help="answer one /scr query and print it")
    ask.add_argument("query", nargs="+", help="what you would type after /scr")
    ask.add_argument("--json", action="store_true", help="print results as JSON, best first")
    ask.set_defaults(func=cmd_ask)

    brief = sub.add_parser("briefing", help="a 7-minute briefing on a theme, a point or some words, and its handout")
    brief.add_argument("query", nargs="+", help="a theme (neglect), a point id (h14-sudi) or words")
    brief.add_argument("--across", action="store_true", help="draw on every briefing with points on the theme")
    brief.add_argument("--pdf", metavar="FILE", help="write the one-page A4 handout as PDF")
    brief.add_argument("--markdown", metavar="FILE", help="write the handout as Markdown")
    brief.set_defaults(func=cmd_briefing)

    content = sub.add_parser("content", help="check the learning content and see what it covers")
    csub = content.add_subparsers(dest="action", metavar="ACTION", required=True)
    chk = csub.add_parser("check", help="validate all content; exit 1 with file:line: message on error")
    chk.add_argument("--sources", metavar="DIR", help="folder of the briefings' texts: also check every point's numbers, "
                     "quotes, pages and wording against its cited section, and warn (file:line: ... warning:) where "
                     "a hedge or population is lost or a check's point does not back it; any problem or warning exits 1 "
                     "(default: $SCR_SOURCES_DIR)")
    csub.add_parser("stats", help="points per briefing, sector and theme")
    cov = csub.add_parser("coverage", help="each briefing heading and the points that cover it")
    cov.add_argument("--json", action="store_true", help="machine-readable map")
    terms = csub.add_parser("terms", help="generate each point's terms and the not-covered topics from the sources")
    terms.add_argument("--sources", help="folder with the source briefings' text (e.g. ../shared/seeds)")
    terms.add_argument("--curation", default="curation/terms.yaml", help="the reviewed accept/reject/not-covered file")
    terms.add_argument("--check", action="store_true", help="write nothing; exit 1 if the content is out of date")
    content.set_defaults(func=cmd_content)

    schedule = sub.add_parser("schedule", help="weekly-post schedules: list, preview, post now")
    ssub = schedule.add_subparsers(dest="action", metavar="ACTION", required=True)
    ssub.add_parser("list", help="every schedule, its next post in local time, last post and status")
    prev = ssub.add_parser("preview", help="the learning points the next weeks will bring")
    prev.add_argument("id", help="schedule id (see `scr-bot schedule list`)")
    prev.add_argument("--weeks", type=_weeks, default=8, help="how many weeks (default 8)")
    now_p = ssub.add_parser("post-now", help="post this week's point now (once per week unless --force)")
    now_p.add_argument("id", help="schedule id")
    now_p.add_argument("--force", action="store_true", help="post even if this week's point was already posted")
    due = ssub.add_parser("run-due", help="post every schedule that is due (catch-up); what the clock does")
    due.add_argument("--now", help="act as if it were this time (ISO 8601 with zone), for testing and catch-up")
    schedule.set_defaults(func=cmd_schedule)

    refl = sub.add_parser("reflections", help="people's reflective-practice records (admin)")
    rsub = refl.add_subparsers(dest="action", metavar="ACTION", required=True)
    exp = rsub.add_parser("export", help="one person's reflections as Markdown or CSV (their CPD record)")
    exp.add_argument("--team", required=True, help="workspace id (T...)")
    exp.add_argument("--user", required=True, help="Slack user id (U...)")
    exp.add_argument("--enterprise", help="Enterprise Grid org id (E...), if any")
    exp.add_argument("--format", choices=("md", "csv"), default="md")
    exp.add_argument("--output", help="write to this file instead of standard output")
    rep = rsub.add_parser("report", help="how a team used the learning: counts, themes, dates (never anyone's words)")
    rep.add_argument("--team", required=True, help="workspace id (T...)")
    rep.add_argument("--enterprise", help="Enterprise Grid org id (E...), if any")
    rep.add_argument("--channel", help="one channel (C...); default: every channel with weekly posts")
    rep.add_argument("--since", required=True, help="first day to include, e.g. 2026-06-01")
    rep.add_argument("--format", choices=("md", "csv"), default="md")
    rep.add_argument("--output", help="write to this file instead of standard output")
    refl.set_defaults(func=cmd_reflections)

    aud = sub.add_parser("audit", help="who changed a workspace's weekly posts, digest readers and admins, and when")
    aud.add_argument("--team", help="Slack workspace id (T...)")
    aud.add_argument("--teams-tenant", help="Microsoft Teams tenant id (a GUID), instead of --team")
    aud.add_argument("--enterprise", help="Enterprise Grid org id (E...), if any")
    aud.add_argument("--since", help="first day to include (UTC), e.g. 2026-06-01; default: all kept (400 days)")
    aud.set_defaults(func=cmd_audit)

    bkp = sub.add_parser("backup", help="save everything the bot keeps in Redis to a file (safe while it runs)")
    bkp.add_argument("file", help="the backup file to write (owner-only: it holds reflections and tokens)")
    bkp.set_defaults(func=cmd_backup)
    rst = sub.add_parser("restore", help="load a backup file into an empty Redis (stop the bot first)")
    rst.add_argument("file", help="a file written by scr-bot backup")
    rst.set_defaults(func=cmd_restore)

    wsp = sub.add_parser("workspace", help="installed workspaces (Add to Slack): list, purge (admin)")
    wsub = wsp.add_subparsers(dest="action", metavar="ACTION", required=True)
    wsub.add_parser("list", help="every installation: workspace, org, when, token kind, subscriptions")
    purge = wsub.add_parser("purge", help="delete a workspace's tokens and everything stored for it")
    purge.add_argument("team", help="workspace id (T...), or the org id (E...) for an org-wide install")
    purge.add_argument("--enterprise", help="Enterprise Grid org id (E...), if any")
    purge.add_argument("--yes", action="store_true", help="really delete (there is no undo)")
    wsp.set_defaults(func=cmd_workspace)

    teams = sub.add_parser("teams", help="Microsoft Teams: the app package to install the bot with (admin)")
    tsub = teams.add_subparsers(dest="action", metavar="ACTION", required=True)
    pkg = tsub.add_parser("package", help="write the Teams app package (manifest.json, icons) as a zip to upload")
    pkg.add_argument("--output", default="scr-bot-teams.zip", help="the zip to write (default scr-bot-teams.zip)")
    teams.set_defaults(func=cmd_teams)

    keyp = sub.add_parser("keys", help="encryption at rest: make a master key, rotate to a new one (admin)")
    ksub = keyp.add_subparsers(dest="action", metavar="ACTION", required=True)
    ksub.add_parser("new", help="print a new random master key for SCR_MASTER_KEY")
    rot = ksub.add_parser("rotate", help="re-wrap every data key with SCR_MASTER_KEY (SCR_MASTER_KEY_OLD still "
                                         "read) and encrypt any value left in plaintext; online, in batches")
    rot.add_argument("--batch", type=int, default=500, help="keys per SCAN batch (default 500)")
    rot.add_argument("--data-keys", action="store_true",
                     help="also give every workspace a new data key and re-encrypt its values under it (online, "
                          "resumable; the old data keys are deleted at the end): after a data key or master key leak")
    rot.add_argument("--pause", type=float, default=0.0, metavar="SECONDS",
                     help="with --data-keys: wait this long after each batch, to spare a busy Redis (default 0)")
    rot.add_argument("--grace", type=float, default=5.0, help=argparse.SUPPRESS)  # writes in flight at the switch
    keyp.set_defaults(func=cmd_keys)
    return parser


def _redacted(url: str) -> str:
    """A Redis URL fit to print: any password replaced by ***."""
    return re.sub(r"//([^@/]*):[^@/]*@", r"//\1:***@", url)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")


def _redis_trouble(exc: BaseException, settings: Settings | None) -> str:
    """Why Redis did not answer, and the likely fix: "cannot reach" is only true when nothing answered."""
    url = settings.redis_url if settings and settings.redis_url else ""
    where = _redacted(url) if url else "the embedded Redis"
    why = _first_line(exc)
    lowered = why.lower()
    if isinstance(exc, redis.AuthenticationError) or "authentication" in lowered or "username-password" in lowered:
        if re.search(r"//[^@/]*:[^@/]+@", url):
            return (f"Redis at {where} refused the password (authentication failed: {why}): check the password "
                    "in REDIS_URL (redis://:PASSWORD@host:6379/0)")  # fmt: skip
        return (f"Redis at {where} needs a password (authentication failed: {why}): put it in REDIS_URL, "
                "e.g. redis://:PASSWORD@host:6379/0")  # fmt: skip
    if "cluster mode is not enabled" in lowered:
        return (f"Redis at {where} is a single server, not a Redis Cluster: unset REDIS_CLUSTER "
                "(or set REDIS_CLUSTER=false)")  # fmt: skip
    if url.startswith("rediss://") and (isinstance(exc, redis.TimeoutError) or "timeout" in lowered
                                        or "ssl" in lowered or "wrong version number" in lowered):  # fmt: skip
        return (f"Redis at {where} did not answer over TLS ({why}): if that server does not use TLS, "
                "write redis:// instead of rediss:// in REDIS_URL")  # fmt: skip
    return (f"cannot reach Redis at {where} ({why}): start it, fix REDIS_URL, "
            "or unset REDIS_URL to let the bot run its own")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    settings: Settings | None = None
    try:
        settings = load_settings()
        return int(args.func(args, settings) or 0)
    except ProblemsError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        if len(exc.problems) > 1:  # one problem is one line; many get a count to work through
            print(f"{len(exc.problems)} problems found; the bot will not start until they are fixed.", file=sys.stderr)
        return 1
    except (ConfigError, EmbeddedRedisError, BackupError) as exc:
        print(f"scr-bot: {exc}", file=sys.stderr)
        return 1
    except (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError) as exc:
        print(f"scr-bot: {_redis_trouble(exc, settings)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        from bot.storage.crypto import CryptoError  # a wrong master key: one line, never a traceback

        if not isinstance(exc, CryptoError):
            raise
        print(f"scr-bot: cannot decrypt ({exc})", file=sys.stderr)
        return 1
