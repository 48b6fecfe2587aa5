"""A channel's weekly post, managed from Teams: "@scr subscribe [day time ...]", "@scr unsubscribe", "@scr schedule".

The same schedule store as Slack's ``/scr subscribe`` (``bot.weekly.schedules.Subscriptions``), so the clock posts
a Teams channel's week exactly as a Slack channel's: ``Schedule(platform="teams", source="teams", team=<tenant>)``,
with the same words after "subscribe" (sectors or themes, a weekday, a time, a time zone, ``background``,
``holidays skip``), parsed by the same ``parse_subscribe``.

The role model is Slack's where Teams allows it:

- whoever subscribed a channel is its lead: they may change or stop its weekly post;
- the bot's admins for the tenant (``bot.storage.roles.AdminList`` under the tenant's workspace) may change any
  channel's. In Teams the first admin is **whoever first added the app** in the tenant (the ``from`` of the first
  install activity): Teams tells a bot nobody's tenant or team role without a tenant-wide Graph permission the
  bot does not ask for, and ``SCR_ADMINS`` names Slack user ids, so it grants nothing in Teams;
- anyone else is refused, and told who can.

Every allowed change (and the installer becoming an admin) goes to the tenant's audit trail
(``bot.storage.roles.AuditTrail``); refusals change nothing and are not recorded. A purge of the tenant removes
the admin list and the trail with everything else.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import replace
from typing import Any

import redis

from bot.services import Services
from bot.storage import keys
from bot.storage.keys import Workspace
from bot.storage.roles import AdminList, AuditEntry, AuditTrail
from bot.weekly.schedules import (
    DEFAULT_SUMMARY,
    Schedule,
    Subscriptions,
    check_cron,
    cron_for,
    describe,
    parse_subscribe,
)

log = logging.getLogger(__name__)
WORDS = ("subscribe", "unsubscribe", "schedule")
LEAD, BOT_ADMIN, INSTALLER = "lead", "bot admin", "installer"
ORIGIN = "Teams @mention by "  # Schedule.origin: who subscribed, by the name Teams gave

NOT_A_CHANNEL = ("Weekly posts go to a team's channel. In the channel you want them in, mention me with subscribe "
                 "(for example: @SCR Learning subscribe monday 09:30).")  # fmt: skip
NOTHING_HERE = ("No weekly learning point is set up in this channel. A team lead can start one by mentioning me with "
                "subscribe (for example: subscribe health monday 09:30).")  # fmt: skip
NOT_INSTALLED = ("I'm not installed in this team, so I can't post a weekly learning point here. A team owner can add me "
                 "to the team (Apps > SCR Learning > Add to a team), then mention me with subscribe.")  # fmt: skip
STORAGE_DOWN = "I couldn't {what} just now (my storage is unavailable). Please try again in a minute."


def _message(text: str) -> dict[str, Any]:
    """Plain text: nothing a person typed (their name, their words) is rendered as markup."""
    return {"type": "message", "text": text, "textFormat": "plain"}


def schedule_id(ws: Workspace, channel: str) -> str:
    """One id per tenant and channel (a Teams channel id holds ':' and '@', so it is hashed)."""
    return "teams-" + hashlib.sha256(f"{ws.team_id}\n{channel}".encode()).hexdigest()[:16]


def lead_name(schedule: Schedule) -> str:
    name = schedule.origin.removeprefix(ORIGIN).strip() if schedule.origin.startswith(ORIGIN) else ""
    return name or "the person who set it up"


def who_can(schedule: Schedule, what: str) -> str:
    """The refusal, naming who can."""
    return (f"Only {lead_name(schedule)} (who set up this channel's weekly post) or the bot's admins here can {what}. "
            "In Teams the bot's admin is whoever first added the app to your organisation.")  # fmt: skip


def first_installer(client: redis.Redis, ws: Workspace, user: str, name: str) -> bool:
    """Make ``user`` the tenant's first bot admin if it has none yet (atomically: two installs at once make one
    admin), audited. True when they became one."""
    if not user:
        return False
    key = keys.admins(ws)
    with client.pipeline() as pipe:
        try:
            pipe.watch(key)
            if pipe.scard(key):
                return False
            pipe.multi()
            pipe.sadd(key, user)
            pipe.execute()
        except redis.WatchError:
            return False  # another install named the first admin at the same moment
    AuditTrail(client).record(ws, AuditEntry(at=time.time(), by=user, role=INSTALLER, action="admins-add",
                                             detail=f"first to add the app ({name})" if name else "first to add the app"))  # fmt: skip
    log.info("teams: the first installer in tenant %s is the bot's admin there", ws.team_id)
    return True


class TeamsSubscribe:
    def __init__(self, services: Services):
        self.services = services
        self.admins = AdminList(services.store.client)
        self.audit = AuditTrail(services.store.client)

    def command(self, ws: Workspace, activity: dict[str, Any], channel: str | None, asked: str,
                installed: bool = True) -> dict[str, Any] | None:  # fmt: skip
        """The reply to subscribe / unsubscribe / schedule (``channel``: the channel the mention was in, None
        elsewhere; ``installed``: the app is installed in its team); None when ``asked`` is none of them (a lookup,
        then). A team the app is not installed in (a late mention after it left) may not subscribe: the clock could
        not post there, and a schedule would keep a tenant's data the app was removed from."""
        words = asked.split()
        if not words or words[0].lower() not in WORDS:
            return None
        if channel is None:
            return _message(NOT_A_CHANNEL)
        sender = activity.get("from") or {}
        user, name = str(sender.get("id") or ""), " ".join(str(sender.get("name") or "").split())[:80]
        verb = words[0].lower()
        if verb == "subscribe" and not installed:
            log.info("teams: a subscribe from a team the app is not installed in was refused")
            return _message(NOT_INSTALLED)
        try:
            if verb == "subscribe":
                return self.subscribe(ws, channel, user, name, words[1:])
            if verb == "unsubscribe":
                return self.unsubscribe(ws, channel, user, name)
            return self.show(ws, channel)
        except redis.RedisError:
            log.error("teams: could not %s: Redis unavailable", verb)
            return _message(STORAGE_DOWN.format(what="change or read this channel's schedule"))

    def not_installed(self) -> dict[str, Any]:
        """The answer to a subscribe from a team the app is not (or no longer) installed in."""
        return _message(NOT_INSTALLED)

    def role(self, ws: Workspace, user: str, existing: Schedule) -> str | None:
        """In what capacity ``user`` may change a channel ``existing`` covers (None: they may not)."""
        if existing.created_by and user == existing.created_by:
            return LEAD
        return BOT_ADMIN if self.admins.contains(ws, user) else None

    def record(self, ws: Workspace, user: str, role: str, action: str, channel: str, schedule: Schedule) -> None:
        self.audit.record(ws, AuditEntry(at=time.time(), by=user, role=role, action=action, channel=channel,
                                         detail=self.settings_text(schedule)))  # fmt: skip

    def settings_text(self, schedule: Schedule) -> str:
        corpus = self.services.corpus
        names = [corpus.sectors[s].label for s in schedule.sectors if s in corpus.sectors]
        names += [corpus.themes[t].label for t in schedule.themes if t in corpus.themes]
        return (f"{describe(schedule.post)} ({schedule.timezone}); "
                + (f"points on {', '.join(names)}" if names else "points from every theme")
                + ("; with background points" if schedule.background else "")
                + (f"; on a bank holiday: {schedule.on_bank_holiday}" if schedule.on_bank_holiday != "move" else ""))

    def subscribe(self, ws: Workspace, channel: str, user: str, name: str, args: list[str]) -> dict[str, Any]:
        settings = self.services.settings

        def resolve(word: str) -> tuple[str, str] | None:
            term = self.services.lookup.vocab.resolve(word)
            return (term.kind, term.id) if term else None

        req = parse_subscribe(args, resolve)
        if req.unknown:
            return _message(f"I didn't understand {', '.join(repr(w) for w in req.unknown[:5])}. Try: subscribe health "
                            f"monday 09:30 (sectors or themes, a weekday, a time and a time zone such as "
                            f"{settings.timezone}, all optional).")  # fmt: skip
        tz = req.timezone or settings.timezone
        try:
            cron = check_cron(cron_for(req.day, req.time), tz)
        except ValueError as exc:
            return _message(f"I can't use that time: {exc}.")
        schedule = Schedule(id=schedule_id(ws, channel), team=ws.team_id, channel=channel, post=cron,
                            summary=DEFAULT_SUMMARY, timezone=tz, sectors=tuple(req.sectors), themes=tuple(req.themes),
                            source="teams", origin=ORIGIN + (name or user), created_by=user, background=req.background,
                            on_bank_holiday=req.on_bank_holiday, platform="teams")  # fmt: skip
        if not any(schedule.matches(p) for p in self.services.corpus.points):
            return _message("Those sectors and themes together match no learning points; try fewer filters.")
        subs = Subscriptions(self.services.store.client)
        existing = subs.get(ws, channel)
        if existing is None and not subs.create(schedule):  # another set-up of this channel at the same moment won
            existing = subs.get(ws, channel)
        role = LEAD if existing is None else self.role(ws, user, existing)
        if existing is not None and role is None:
            return _message(who_can(existing, "change it"))
        if existing is not None:  # a change never hands the channel over: whoever set it up stays its lead
            schedule = replace(schedule, created_by=existing.created_by, origin=existing.origin)
            subs.save(schedule)
        self.record(ws, user, role or LEAD, "resubscribe" if existing else "subscribe", channel, schedule)
        log.info("teams: %s a weekly post in a channel of tenant %s", "changed" if existing else "set up", ws.team_id)
        return _message(f"{name or 'You'} {'updated' if existing else 'set up'} a weekly learning point for this "
                        f"channel: {self.settings_text(schedule)}. Each week's post invites the team to reflect in its "
                        "thread; on Friday at 16:00 I post a short summary. Mention me with unsubscribe to stop it.")  # fmt: skip

    def unsubscribe(self, ws: Workspace, channel: str, user: str, name: str) -> dict[str, Any]:
        subs = Subscriptions(self.services.store.client)
        existing = subs.get(ws, channel)
        if existing is None:
            return _message("There's no weekly learning point set up in this channel.")
        role = self.role(ws, user, existing)
        if role is None:
            return _message(who_can(existing, "stop it"))
        if subs.delete(ws, channel):
            self.record(ws, user, role, "unsubscribe", channel, existing)
        return _message(f"{name or 'Someone'} stopped the weekly learning point in this channel. Past reflections are "
                        "kept as before.")  # fmt: skip

    def show(self, ws: Workspace, channel: str) -> dict[str, Any]:
        existing = Subscriptions(self.services.store.client).get(ws, channel)
        if existing is None:
            return _message(NOTHING_HERE)
        return _message(f"This channel's weekly learning point: {self.settings_text(existing)}. Set up by "
                        f"{lead_name(existing)}; they and the bot's admins here can change it (subscribe ...) or stop "
                        "it (unsubscribe).")  # fmt: skip
