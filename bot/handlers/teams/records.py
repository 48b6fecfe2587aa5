"""A person's own records in Teams' personal chat: "export" (their CPD record) and "digest on" / "digest off".

"export": a link to their CPD record as Markdown (``bot.teams.downloads``: a random token that lives a day and
names this person in this tenant only; the record is built when the link is opened, from the core's
``bot.learning.cpd``, as Slack's export). Teams gives a bot no plain file upload in a chat, so a link.

"digest on": the monthly digest of every channel with weekly posts whose team the person is a member of (the
Bot Connector's roster says so), sent by the clock to this chat as a card with its chart (``bot.teams.delivery``).
Why members, not only owners: the digest is counts only, with any count below 3 suppressed, the same figures
the channel's own summaries show its members; telling owners apart needs a Graph permission on every group in
the tenant (Group.Read.All) the bot does not ask for. "digest off" stops it for every channel.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import redis
from microsoft_teams.cards import OpenUrlAction

from bot.learning import cpd
from bot.learning.digest_sender import DigestReaders
from bot.once import Permanent, Transient
from bot.services import Services
from bot.storage.keys import Workspace
from bot.storage.roles import AuditEntry, AuditTrail
from bot.teams import cards
from bot.teams.connector import Connector
from bot.teams.downloads import CHART, EXPORT, EXPORT_SECONDS, Downloads
from bot.teams.references import References, tenant
from bot.weekly.schedules import Subscriptions

log = logging.getLogger(__name__)
EXPORT_WORDS = ("export", "export my record")
DIGEST_ON, DIGEST_OFF = "digest on", "digest off"
TEAM_MEMBER = "team member"  # the audit trail's role for "digest on"/"off": a member of a scheduled channel's team

NOTHING = "You have no reflections saved yet, so there is nothing to export."
NO_LINKS = "I can't send download links yet: the bot's public address (TEAMS_PUBLIC_URL) is not set. Please ask your admin."
NO_CHANNELS = ("None of the channels with weekly posts here is in a team you're a member of, so there is no digest for "
               "you yet.")  # fmt: skip
DIGEST_STOPPED = "Monthly digests stopped. Type digest on to start them again."


def _message(text: str) -> dict[str, Any]:
    return {"type": "message", "text": text, "textFormat": "plain"}


def _counted(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


class TeamsRecords:
    def __init__(self, services: Services, connector: Connector):
        self.services = services
        self.connector = connector
        self.refs = References(services.store.client)
        self.downloads = Downloads(services.store.client, services.settings.teams_public_url)
        self.readers = DigestReaders(services.store.client)

    def command(self, ws: Workspace, user: str, words: str) -> dict[str, Any] | None:
        """The reply to "export", "digest on" or "digest off" in the personal chat; None for anything else."""
        said = " ".join(words.lower().split())
        if said in EXPORT_WORDS:
            return self.export(ws, user)
        if said == DIGEST_ON:
            return self.digest_on(ws, user)
        if said == DIGEST_OFF:
            if self.readers.remove(ws, user):
                self._audit(ws, user, "digest-remove")
            return _message(DIGEST_STOPPED)
        return None

    # ----- the CPD export ----------------------------------------------------------------------------------
    def _record(self, ws: Workspace, user: str) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
        s = self.services
        return (s.reflections.for_user(ws, user), s.quiz.answers(ws, user), s.sessions.sessions_of(ws, user),
                s.sessions.actions_of(ws, user))  # fmt: skip

    def export(self, ws: Workspace, user: str) -> dict[str, Any]:
        mine, answers, sessions, actions = self._record(ws, user)
        if not (mine or answers or sessions or actions):
            return _message(NOTHING)
        link = self.downloads.export_link(ws, user)
        if link is None:
            log.warning("teams: an export was asked for but TEAMS_PUBLIC_URL is not set")
            return _message(NO_LINKS)
        held = ", ".join(_counted(n, w) for n, w in ((len(mine), "reflection"), (len(answers), "knowledge check"),
                                                     (len(sessions), "team briefing"), (len(actions), "action")) if n)  # fmt: skip
        hours = EXPORT_SECONDS // 3600
        line = (f"Your reflective-practice record ({held}) as Markdown, to read or paste into your CPD log. The link "
                f"works for {hours} hours and only gives your own record: please don't forward it.")  # fmt: skip
        out = cards.activity([cards.text("Your CPD record", weight="Bolder", size="Medium", style="heading"),
                              cards.text(cards.escape(line))], f"{line} {link}",
                             actions=[OpenUrlAction(title="Download my record", url=link)])  # fmt: skip
        log.info("teams: an export link made (%d hours)", hours)
        return out

    def download(self, kind: str, token: str) -> tuple[bytes, str, str | None] | None:
        """What a link serves: the person's record (built now, from their tenant only), or a chart."""
        found = self.downloads.resolve(kind, token)
        if found is None or found.tenant != self.services.settings.teams_tenant_id:
            return None
        ws = tenant(found.tenant)
        if kind == CHART:
            png = self.downloads.chart(ws, token)
            return (png, "image/png", None) if png else None
        assert kind == EXPORT
        if not found.user:
            return None
        mine, answers, sessions, actions = self._record(ws, found.user)
        zone = self._zone(ws, found.user)
        now = datetime.now(zone)
        md = cpd.to_markdown(self.services.corpus, mine, who=f"Teams user {found.user}", exported=now, answers=answers,
                             sessions=sessions, actions=actions, zone=zone)  # fmt: skip
        return md.encode(), "text/markdown; charset=utf-8", f"scr-reflections-{now:%Y-%m-%d}.md"

    def _zone(self, ws: Workspace, user: str) -> tzinfo:
        """The days of a record are the person's: the zone their Teams client reports (kept with their personal
        chat), else the tenant's own (``/scr settings`` or SCR_TIMEZONE), else UTC."""
        mine = self.refs.personal(ws, user)
        for name in ((mine.timezone if mine else None), self._tenant_zone(ws)):
            if not name:
                continue
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
        return UTC

    def _tenant_zone(self, ws: Workspace) -> str | None:
        try:
            return self.services.workspace_settings.hours(ws).timezone
        except redis.RedisError:
            return self.services.settings.timezone

    # ----- digest readers ------------------------------------------------------------------------------------
    def _audit(self, ws: Workspace, user: str, action: str) -> None:
        """The tenant's digest readers changed: in its audit trail, as on Slack (who, as what, when, whom), so
        its admins can see who reads the digest since when (``scr-bot audit``). Only real changes are recorded."""
        AuditTrail(self.services.store.client).record(ws, AuditEntry(
            at=time.time(), by=user, role=TEAM_MEMBER, action=action, detail=user))  # fmt: skip

    def digest_on(self, ws: Workspace, user: str) -> dict[str, Any]:
        """One of the tenant's digest readers (who get every scheduled channel's digest, as on Slack), if ``user``
        is in the team of at least one scheduled channel (asked of the Bot Connector's roster). Teams gives the bot
        no admin role without a tenant-wide Graph permission, so membership is the test; the digest is counts
        only, never below 3 people."""
        channels, member_somewhere = [], False
        for schedule in Subscriptions(self.services.store.client).all():
            ref = self.refs.get(ws, schedule.channel) if schedule.workspace == ws else None
            if ref is None:
                continue
            try:
                member = self.connector.member(ref.service_url, ref.team or ref.conversation, user)
            except Transient as exc:
                log.warning("teams: could not check team membership for a digest: %s", exc)
                continue
            except Permanent:
                member = False
            channels.append(schedule.channel)
            member_somewhere = member_somewhere or member
        if not member_somewhere:
            return _message(NO_CHANNELS)
        if self.readers.add(ws, user):
            self._audit(ws, user, "digest-add")
        return _message(f"You'll get the monthly digest of {_counted(len(channels), 'channel')} here, in the first week "
                        "of each month: counts only, never anyone's words. Type digest off to stop it.")  # fmt: skip
