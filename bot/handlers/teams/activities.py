"""One activity from Teams, already authenticated (``bot.teams.web``), handled after the HTTP 200.

- Added to a team or a personal scope (``installationUpdate`` add, or ``conversationUpdate`` naming the
  bot among ``membersAdded``): the conversation reference is kept under the tenant
  (``Workspace(<tenant id>, platform="teams")``). A tenant whose purge had not finished is purged first.
- A team deleted in Teams (``teamDeleted``: Teams can restore it for 30 days): its channels' weekly posts pause,
  and its install, references and data are kept; restored (``teamRestored``): they resume, the install marked again.
- Removed (``installationUpdate`` remove, the bot in ``membersRemoved``, or the team deleted for good:
  ``teamHardDeleted``): that team's or chat's references go, and a team's channels' weekly posts; when the
  tenant has no install left (a team, or a personal chat the app was installed in: not a chat only used for
  "quiz on" or "export"), its data is purged as a Slack uninstall purges a workspace. A channel deleted
  (``channelDeleted``): its reference and weekly post go.
- A reply in a weekly post's channel thread, its edit (``messageUpdate``) or deletion (``messageDelete``): a
  reflection, through the same core as Slack's thread replies (``bot.handlers.teams.threads``).
- "subscribe [day time ...]", "unsubscribe", "schedule" by @mention in a channel: that channel's weekly post, in
  the same schedule store as Slack's ``/scr subscribe``, with its lead and the bot's admins
  (``bot.handlers.teams.subscribe``; whoever first adds the app in the tenant is its first admin).
- "export", "digest on" / "digest off" in a personal chat: ``bot.handlers.teams.records``.
- "quiz on" / "quiz off" in a personal chat, and a knowledge check's answer button (an ``invoke``, answered
  in the HTTP response): ``bot.handlers.teams.quiz``.
- A search in the ``scr`` message extension (a ``composeExtension/query`` invoke, answered in the HTTP
  response): ``bot.handlers.teams.extension``.
- The weekly post's Reflect button and its dialog's Save (``task/fetch``, ``task/submit`` invokes, answered in
  the HTTP response): a reflection, private or shared in the thread (posted by a worker after the answer),
  ``bot.handlers.teams.reflect``.
- Any other message in a personal chat, or one that @mentions the bot in a channel: a lookup, in the same query
  language as ``/scr`` and answered by the same ``services.lookup`` (safety net first), as a card. A channel's
  reference is kept only in a team the app is installed in: a mention from any other stores nothing.

Only the tenant the app is registered in (``TEAMS_TENANT_ID``) is served: another tenant's activity is
logged and dropped, nothing stored (an invoke is answered 403). So is one naming two tenants (its
``channelData.tenant.id`` and ``conversation.tenantId`` disagree) or none.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.delivery import Marker
from bot.handlers.teams import extension, quiz, records
from bot.handlers.teams.extension import TeamsExtension
from bot.handlers.teams.quiz import TeamsQuiz
from bot.handlers.teams.records import TeamsRecords
from bot.handlers.teams.reflect import FETCH, SUBMIT, TeamsReflect
from bot.handlers.teams.subscribe import TeamsSubscribe, first_installer
from bot.handlers.teams.threads import TeamsThreads
from bot.once import Once
from bot.services import Services
from bot.storage import keys
from bot.storage.keys import Workspace
from bot.storage.purge import Cancelled, Purger
from bot.storage.wssettings import PersonZones
from bot.teams import cards, shapes
from bot.teams.connector import Connector
from bot.teams.delivery import TeamsDeliveries
from bot.teams.references import Reference, References, tenant
from bot.weekly.schedules import Subscriptions

log = logging.getLogger(__name__)
# Teams' conversationUpdate events (channelData.eventType) for a team deleted (soft: restorable for 30 days), deleted
# for good, restored, and a channel deleted: Microsoft's "Conversation events in your Teams bot" (teamDeleted,
# teamRestored, teamHardDeleted, channelDeleted; also the SDKs' TeamsActivityHandler). None names the bot in
# membersRemoved. Only the hard deletion is the app's removal: a soft-deleted team may come back with its app.
TEAM_GONE = ("teamHardDeleted",)
TEAM_DELETED = "teamDeleted"
TEAM_RESTORED = "teamRestored"
CHANNEL_GONE = "channelDeleted"
# A personal chat's commands that store something (bot.handlers.teams.quiz, bot.handlers.teams.records): refused, storing
# nothing, in a tenant the app is not installed in.
PERSONAL_COMMANDS = (quiz.ON, quiz.OFF, *records.EXPORT_WORDS, records.DIGEST_ON, records.DIGEST_OFF)
NOT_ADDED = ("I'm not added to your organisation's Teams any more, so I can't keep anything for you. Ask a team owner "
             "to add SCR Learning to a team, or add it yourself as a personal app (Apps > SCR Learning > Add), then "
             "try again. Searches still work.")  # fmt: skip
WELCOME_DONE_DAYS = 3650  # a conversation is welcomed once for as long as the tenant keeps the app


def _tenant_id(activity: dict[str, Any]) -> str:
    """The tenant the activity is from; "" when it names none, or two (``channelData.tenant.id`` and
    ``conversation.tenantId`` disagree), or its envelope is not one the bot can read (``bot.teams.shapes``: a
    ``channelData.tenant`` that is a string, say): an activity that cannot say whose it is is nobody's, never the
    first's."""
    if (found := shapes.problem(activity)) is not None:
        log.warning("teams: an activity of an unexpected shape was dropped (%s)", found)
        return ""
    data = activity.get("channelData") or {}
    named = {str(x) for x in ((data.get("tenant") or {}).get("id"), (activity.get("conversation") or {}).get("tenantId")) if x}
    return named.pop() if len(named) == 1 else ""


def _bare(conversation: str) -> str:
    """A channel's id without the thread part Teams appends (``;messageid=...``)."""
    return conversation.split(";", 1)[0]


def local_zone(activity: dict[str, Any]) -> str | None:
    """The sender's own time zone as their Teams client reports it (``localTimezone``, an IANA name), if it is one."""
    raw = activity.get("localTimezone")
    if not isinstance(raw, str) or not raw or len(raw) > 64:
        return None
    try:
        ZoneInfo(raw)
    except (ValueError, ZoneInfoNotFoundError):
        return None
    return raw


def reference(activity: dict[str, Any], service_url: str, tenant_id: str) -> Reference:
    """Where this activity came from, as a reference the bot may post to later."""
    conv = activity.get("conversation") or {}
    data = activity.get("channelData") or {}
    team = data.get("team") or {}
    if conv.get("conversationType") == "personal":
        return Reference(conversation=str(conv.get("id")), service_url=service_url, tenant=tenant_id,
                         scope="personal", user=str((activity.get("from") or {}).get("id") or "") or None,
                         timezone=local_zone(activity))  # fmt: skip
    channel = str((data.get("channel") or {}).get("id") or _bare(str(conv.get("id") or "")))
    return Reference(conversation=channel, service_url=service_url, tenant=tenant_id, scope="team",
                     team=str(team.get("id") or channel), aad_group=team.get("aadGroupId"))  # fmt: skip


def query_text(activity: dict[str, Any]) -> str:
    """What was asked: the message without the bot's @mention (by its entity, whatever its markup), any other
    mention and markup, as plain text."""
    raw = str(activity.get("text") or "")
    bot_id = (activity.get("recipient") or {}).get("id")
    for entity in activity.get("entities") or []:
        if entity.get("type") == "mention" and (entity.get("mentioned") or {}).get("id") == bot_id:
            raw = raw.replace(str(entity.get("text") or ""), " ")
    return extension.lookup_words(raw)  # one reading of a query for a chat message and an extension search


def mentions_bot(activity: dict[str, Any]) -> bool:
    bot_id = (activity.get("recipient") or {}).get("id")
    return any(e.get("type") == "mention" and (e.get("mentioned") or {}).get("id") == bot_id
               for e in activity.get("entities") or [])  # fmt: skip


class TeamsListeners:
    def __init__(self, services: Services, connector: Connector):
        self.services = services
        self.connector = connector
        self.tenant_id = services.settings.teams_tenant_id
        self.refs = References(services.store.client)
        self.threads = TeamsThreads(services, connector)
        self.quiz = TeamsQuiz(services)
        self.deliveries = TeamsDeliveries(connector, services.store.client, services.corpus,
                                          str(services.settings.teams_app_id))  # fmt: skip
        self.extension = TeamsExtension(services)
        self.reflect = TeamsReflect(services, self.deliveries, self.threads.tell)
        self.records = TeamsRecords(services, connector)
        self.subscribe = TeamsSubscribe(services)

    def handle(self, activity: dict[str, Any], service_url: str) -> None:
        """Dispatch one authenticated activity by type; nothing here may raise past the worker."""
        tenant_id = _tenant_id(activity)
        if not tenant_id or tenant_id != self.tenant_id:
            log.warning("teams: an activity from another tenant was dropped (%s)", "none or two" if not tenant_id else "other")
            return
        ws = tenant(tenant_id)
        kind = activity.get("type")
        bot_id = (activity.get("recipient") or {}).get("id")
        if kind == "installationUpdate":
            action = str(activity.get("action") or "")
            if action.startswith("add"):
                self.installed(ws, activity, service_url)
            elif action.startswith("remove"):
                self.removed(ws, activity)
        elif kind == "conversationUpdate":
            event = (activity.get("channelData") or {}).get("eventType")
            if event in TEAM_GONE:  # the team is gone for good, and the app with it: as its removal from the team
                self.removed(ws, activity)
                return
            if event == TEAM_DELETED:
                self.team_deleted(ws, activity)
                return
            if event == TEAM_RESTORED:
                self.team_restored(ws, activity, service_url)
                return
            if event == CHANNEL_GONE:
                self.channel_deleted(ws, activity)
                return
            if any(m.get("id") == bot_id for m in activity.get("membersAdded") or []):
                self.installed(ws, activity, service_url)
            if any(m.get("id") == bot_id for m in activity.get("membersRemoved") or []):
                self.removed(ws, activity)
        elif kind == "message":
            if self.refs.installs(ws):  # a tenant with no install keeps nothing, not even a zone
                self.keep_zone(ws, activity, service_url)
            if not self.threads.message(ws, activity, service_url):  # a reply to a weekly post is a reflection
                self.message(ws, activity, service_url)
        elif kind == "messageUpdate":
            self.threads.message(ws, activity, service_url)
        elif kind == "messageDelete":
            self.threads.deleted(ws, activity)

    def invoke(self, activity: dict[str, Any], service_url: str) -> tuple[int, dict[str, Any] | None]:
        """An invoke, answered in the HTTP response: the message extension's search, the Reflect dialog
        (opened, saved), a knowledge check's answer button."""
        tenant_id = _tenant_id(activity)
        if not tenant_id or tenant_id != self.tenant_id:
            log.warning("teams: an invoke from another tenant was refused")
            return 403, None
        ws = tenant(tenant_id)
        name = activity.get("name")
        if name == extension.QUERY:
            return self.extension.query(ws, activity)
        if name == FETCH:
            return self.reflect.fetch(ws, activity)
        if name == SUBMIT:
            return self.reflect.submit(ws, activity)
        return self.quiz.invoke(ws, activity)

    def keep_zone(self, ws: Workspace, activity: dict[str, Any], service_url: str) -> None:
        """A person's zone moved (they travelled, or it was not known): kept with their personal chat's reference,
        where the clock asks for it (``TeamsDelivery.timezone``), and in the core's per-person cache
        (``PersonZones``), so their next knowledge check follows it at once rather than the next day."""
        zone, user = local_zone(activity), str((activity.get("from") or {}).get("id") or "")
        if not zone or not user or (activity.get("conversation") or {}).get("conversationType") != "personal":
            return
        known = self.refs.get(ws, str((activity.get("conversation") or {}).get("id") or ""))
        if known is None or known.timezone != zone:
            self.refs.save(ws, replace(known, timezone=zone) if known else reference(activity, service_url, ws.team_id))
        zones = PersonZones(self.services.store.client)
        if zones.get(ws, user) != zone:
            zones.put(ws, user, zone)

    def after_invoke(self, activity: dict[str, Any], service_url: str) -> None:
        """What an answered invoke leaves for a worker: a reflection its author chose to share, posted in its thread."""
        tenant_id = _tenant_id(activity)
        if tenant_id and tenant_id == self.tenant_id and activity.get("name") == SUBMIT:
            self.reflect.share(tenant(tenant_id), activity, service_url)

    def installed(self, ws: Workspace, activity: dict[str, Any], service_url: str) -> None:
        Purger(self.services.store.client).finish_before_reinstall(ws)  # an unfinished purge is the old install's
        ref = reference(activity, service_url, ws.team_id)
        self.refs.keep(ws, ref)
        self.refs.mark_installed(ws, ref)  # only here (and its removal) is an install written
        sender = activity.get("from") or {}
        first_installer(self.services.store.client, ws, str(sender.get("id") or ""), str(sender.get("name") or ""))
        log.info("teams: added to a %s conversation in tenant %s", ref.scope, ws.team_id)
        self.welcome(ws, ref)

    def welcome(self, ws: Workspace, ref: Reference) -> None:
        """The welcome card, once per conversation however often Teams says the app was added (an
        ``installationUpdate`` and a ``conversationUpdate`` for the same install, a redelivery, two workers):
        the exactly-once protocol through the delivery port, as the weekly post. An answer lost on the way
        is looked for (the port's own record, then Graph) before anything is sent again."""
        settings = self.services.settings
        key = keys.teams_welcome(ws, ref.conversation)
        marker = Marker("welcome", key)
        view = cards.Welcome(scope=ref.scope, retention_days=settings.retention_days)
        delivery = self.deliveries(ws)
        once = Once(self.services.store.client, settings.claim_lease_seconds, done_days=WELCOME_DONE_DAYS,
                    settle_seconds=settings.claim_settle_seconds)  # fmt: skip

        def prepare(previous: dict[str, Any] | None) -> dict[str, Any]:
            return previous or {"at": datetime.now(UTC).timestamp()}

        def send(attempt: dict[str, Any]) -> dict[str, Any]:
            return {"id": delivery.post(ref.conversation, view, marker=marker)}

        def find(attempt: dict[str, Any]) -> dict[str, Any] | None:
            oldest = datetime.fromtimestamp(float(attempt["at"]) - 60, UTC)
            found = delivery.find_post(ref.conversation, marker, oldest=oldest, latest=datetime.now(UTC))
            return {"id": found.id} if found else None

        outcome = once.run(key, prepare=prepare, send=send, find=find, finish=lambda attempt, result: None)
        log.info("teams: welcome card in a %s conversation: %s", ref.scope, outcome.state)

    def removed(self, ws: Workspace, activity: dict[str, Any]) -> None:
        """The app removed from a team (its channels' references and weekly posts go: the bot can post there no
        more) or a personal chat; when no install is left (a chat only used for "quiz on" or "export" is not
        one), the tenant is purged as a Slack uninstall purges a workspace."""
        ref = reference(activity, "", ws.team_id)
        # The install goes first: a mention or subscribe racing this removal checks it again after its writes,
        # and undoes them when it is gone (``settle``), so no ordering leaves a reference or a weekly post behind.
        self.refs.unmark_installed(ws, ref)
        if ref.scope == "personal":
            self.refs.remove(ws, ref.conversation)
        else:
            subscriptions = Subscriptions(self.services.store.client)
            for channel in self.refs.remove_team(ws, ref.team or ""):
                if subscriptions.delete(ws, channel):
                    log.info("teams: the weekly post of a channel of a team the app left was stopped")
        left = self.refs.installs(ws)
        log.info("teams: removed from a %s conversation in tenant %s (%d installs left)", ref.scope, ws.team_id, left)
        if left == 0:
            self.purge(ws, "")

    def settle(self, ws: Workspace, here: Reference) -> None:
        """After a channel mention's writes (its reference, a subscribe): if the app's removal from the team ran
        meanwhile, undo them, and if that removal was the tenant's last, purge what they left. The removal marks
        the team uninstalled before it deletes anything, so either it deletes these writes or this sees the mark
        gone; neither order keeps an install, a reference or a weekly post of a team the app left."""
        if self.refs.team_installed(ws, here.team or ""):
            return
        self.refs.remove(ws, here.conversation)
        if Subscriptions(self.services.store.client).delete(ws, here.conversation):
            log.info("teams: a subscribe that raced the app's removal from its team was undone")
        if self.refs.installs(ws) == 0:
            self.purge(ws, " again after a mention raced its removal")

    def purge(self, ws: Workspace, why: str) -> None:
        """Purge a tenant with no install left. Another purge of it finishing at this moment (a removal and a mention
        that raced it) cancels this one's start: it starts again, unless the app was installed again meanwhile."""
        for _ in range(3):
            try:
                report = Purger(self.services.store.client).purge(ws)
            except Cancelled:
                if self.refs.installs(ws):
                    return  # installed again: what is there now is the new install's
                continue
            log.info("teams: tenant %s purged%s (%d keys)", ws.team_id, why, report.keys_deleted)
            return

    def team_deleted(self, ws: Workspace, activity: dict[str, Any]) -> None:
        """A team deleted in Teams, which keeps it restorable for 30 days: its channels' weekly posts pause
        (nothing is posted there) and everything else is kept, since ``teamRestored`` may bring it back with the
        app; ``teamHardDeleted`` (or the app's removal) is what removes it and may purge the tenant."""
        ref = reference(activity, "", ws.team_id)
        if ref.scope == "team" and ref.team:
            self.refs.pause_team(ws, ref.team)
            log.info("teams: a team was deleted in tenant %s: its weekly posts are paused", ws.team_id)

    def team_restored(self, ws: Workspace, activity: dict[str, Any], service_url: str) -> None:
        """A deleted team restored in Teams, with the app in it: its weekly posts resume, its install (and the
        conversation Teams names) kept again, as when the app is added."""
        ref = reference(activity, service_url, ws.team_id)
        if ref.scope != "team" or not ref.team:
            return
        self.refs.resume_team(ws, ref.team)
        self.installed(ws, activity, service_url)
        log.info("teams: a team was restored in tenant %s: its weekly posts resume", ws.team_id)

    def channel_deleted(self, ws: Workspace, activity: dict[str, Any]) -> None:
        """A channel of a team the app is in was deleted: its reference and its weekly post go (the clock could post
        there no more). The team keeps the app, so nothing else changes and the tenant is never purged here."""
        data = activity.get("channelData") or {}
        channel, team = str((data.get("channel") or {}).get("id") or ""), str((data.get("team") or {}).get("id") or "")
        if not channel or channel == team:
            return  # names no channel, or the team's General channel (deleted only with its team: teamDeleted)
        self.refs.remove_channel(ws, channel)
        if Subscriptions(self.services.store.client).delete(ws, channel):
            log.info("teams: the weekly post of a deleted channel was stopped")
        log.info("teams: a channel was deleted in tenant %s", ws.team_id)

    def message(self, ws: Workspace, activity: dict[str, Any], service_url: str) -> None:
        conv = activity.get("conversation") or {}
        personal = conv.get("conversationType") == "personal"
        if not personal and not mentions_bot(activity):
            return  # channel traffic the bot may see under RSC consent: not a question to it
        here = None if personal else reference(activity, service_url, ws.team_id)
        # A channel is kept (to post its weekly post to) only in a team the app is installed in: a mention from
        # any other (a late delivery after the app left the team, or the tenant was purged) is answered, and
        # nothing of it is stored; it is not an install, and may not subscribe.
        team_installed = here is not None and self.refs.team_installed(ws, here.team or "")
        if here is not None and team_installed:
            known = self.refs.get(ws, here.conversation)
            if here.aad_group is None and known is not None and known.aad_group:
                # A channel message names no Microsoft 365 group (only the install did), and without it Graph
                # cannot be asked whether a post whose answer was lost landed: keep the one the install gave.
                here = replace(here, aad_group=known.aad_group)
            self.refs.keep(ws, here)  # a channel the bot now knows
        user = str((activity.get("from") or {}).get("id") or "")
        asked = query_text(activity)
        in_channel = here.conversation if here is not None and conv.get("conversationType") == "channel" else None
        said = self.subscribe.command(ws, activity, in_channel, asked, installed=team_installed) if user else None
        if here is not None and team_installed:
            self.settle(ws, here)  # the app's removal from the team may have run since it was checked
            if said is not None and not self.refs.team_installed(ws, here.team or ""):
                said = self.subscribe.not_installed() if asked.split()[0].lower() == "subscribe" else said
        if said is not None:
            self.connector.reply(service_url, str(conv.get("id")), str(activity.get("id") or ""), said)
            return
        if personal and user and " ".join(asked.lower().split()) in PERSONAL_COMMANDS and not self.refs.installs(ws):
            # Nothing of a tenant the app is not installed in (its last removal purged it) is kept: no purge would
            # ever come for what "quiz on" or "export" stored here.
            self.connector.reply(service_url, str(conv.get("id")), str(activity.get("id") or ""),
                                 {"type": "message", "text": NOT_ADDED, "textFormat": "plain"})  # fmt: skip
            return
        if personal and user and ((said := self.quiz.command(ws, user, asked)) is not None
                                  or (said := self.records.command(ws, user, asked)) is not None):  # fmt: skip
            self.refs.keep(ws, reference(activity, service_url, ws.team_id))  # where their checks will come (not an install)
            if not self.refs.installs(ws):  # the tenant's last removal ran meanwhile: what was just stored goes too
                self.purge(ws, " again after a personal chat command raced its last removal")
                said = {"type": "message", "text": NOT_ADDED, "textFormat": "plain"}
            self.connector.reply(service_url, str(conv.get("id")), str(activity.get("id") or ""), said)
            return
        answer = self.services.lookup.answer(asked)
        contact = self.services.concern_contact(ws) if answer.safety is not None else None
        reply = cards.answer_activity(self.services.corpus, answer, contact)
        self.connector.reply(service_url, str(conv.get("id")), str(activity.get("id") or ""), reply)
