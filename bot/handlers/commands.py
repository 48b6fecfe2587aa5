"""The ``/scr`` slash command: lookups, and a channel's weekly-post subscription."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis
from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.briefings.builder import NoMatch
from bot.briefings.builder import build as build_briefing
from bot.delivery import FileToSend
from bot.handlers.roles import LEAD, Roles, who_can
from bot.learning.digest import build as build_digest
from bot.learning.digest import digest_text, last_months
from bot.learning.digest_sender import DigestReaders
from bot.once import Permanent, Transient
from bot.search.query import COMMANDS, ParsedQuery, clean
from bot.services import Services
from bot.slack import blocks, session_blocks
from bot.slack.blocks import escape
from bot.slack.context import NoWorkspace, workspace_of
from bot.slack.delivery import SlackDelivery
from bot.slack.home import EIGHT_WEEKS, send_export, what_was_exported
from bot.slack.reflect_blocks import ACTION_FORGET, participation_message
from bot.storage.roles import AdminList, AuditEntry, AuditTrail
from bot.storage.store import Workspace
from bot.weekly.poster import status as schedule_status
from bot.weekly.poster import utcnow
from bot.weekly.rotation import repeat_warning, weekly_pool
from bot.weekly.schedules import (
    DEFAULT_SUMMARY,
    Schedule,
    check_cron,
    cron_for,
    describe,
    parse_subscribe,
    subscription_id,
    timezone_hint,
)

log = logging.getLogger(__name__)

STORAGE_DOWN = (
    "I can't reach my storage just now, so I couldn't {what}. Nothing was changed; please try again in a minute. "
    "Lookups such as `/scr neglect` still work."
)
NO_WORKSPACE = "Slack didn't say which workspace this came from, so I didn't do anything. Please try again."
# Answered after the ack: they call the Web API (subscribe, export), may ask Slack who is a workspace admin
# (every change the roles guard, and reading the digest or the audit trail), or read a lot (the digest).
AFTER_ACK = ("subscribe", "export", "unsubscribe", "digest", "admins", "audit", "settings", "actions")
NOT_IN_CHANNEL = "I'm not in this channel yet. Invite me with `/invite @scr`, then try `/scr subscribe` again."


def _cache_key(services: Services, text: str, offset: int) -> tuple[str, str, int, bool]:
    return (services.corpus.version, text, offset, services.reflections_enabled)


def workspace_or_none(body: dict[str, Any]) -> Workspace | None:
    """The request's workspace for reading its settings (its contact line), or None: a lookup needs none."""
    try:
        return workspace_of(body)
    except NoWorkspace:
        return None


def lookup_message(services: Services, text: str, offset: int = 0, week_point: Any = None,
                   ws: Workspace | None = None, parsed: ParsedQuery | None = None) -> dict[str, Any]:  # fmt: skip
    """Answer a lookup query as a Slack message payload (ephemeral by default); ``parsed``, when the caller
    has parsed ``text`` already, saves parsing it again.

    Answers depend only on the content and what was typed (except "random" and "week"), so they are cached,
    keyed by the content's version: repeated queries skip building the Block Kit message. The one exception
    is the safety net, which shows the workspace's own contact line (``/scr settings contact``): only that
    answer reads the workspace's settings, and it is never cached, so no other lookup waits on Redis."""
    key = _cache_key(services, text, offset)
    if week_point is None and (cached := services.rendered.get(key)) is not None:
        return cached
    answer = services.lookup.answer(text, offset=offset, week_point=week_point, parsed=parsed)
    contact = services.concern_contact(ws) if answer.safety is not None else None
    rendered = blocks.answer_blocks(services.corpus, answer, reflect_button=services.reflections_enabled, contact=contact)
    msg = blocks.message(rendered, blocks.fallback_text(answer))
    if answer.kind not in ("random", "week", "safety"):
        services.rendered.put(key, msg)
    return msg


HANDOUT_WORD = "handout"


def wants_handout(parsed: ParsedQuery) -> bool:
    """``/scr briefing <theme …> handout``: the one-page PDF to the person, not the preview."""
    return parsed.kind == "briefing" and len(parsed.args) > 1 and parsed.args[-1].lower() == HANDOUT_WORD


def handout_ack(services: Services, args: list[str]) -> dict[str, Any]:
    """The ack of ``/scr briefing … handout``: no match says why at once (content only); otherwise that the PDF
    is on its way by DM (it is made and uploaded after the ack)."""
    try:
        built = build_briefing(services.lookup, " ".join(args[:-1]))
    except NoMatch as exc:
        return blocks.briefing_no_match(exc)
    return ephemeral(f":page_facing_up: Making the one-page handout of *{escape(built.title)}*: I'll send you the PDF "
                     "in a direct message in a moment (only you get it).")  # fmt: skip


def send_handout(services: Services, client: WebClient, user: str, args: list[str]) -> dict[str, Any] | None:
    """After the ack: the handout as a PDF file, privately to the person (their DM, through the delivery
    port's ``send_file``). None when it went; otherwise what to tell them."""
    from bot.briefings import handout

    try:
        built = build_briefing(services.lookup, " ".join(args[:-1]))
    except NoMatch:
        return None  # said in the ack
    try:
        data = handout.pdf_bytes(built)
    except handout.HandoutError as exc:
        log.error("handout: %s", exc)
        return ephemeral("Sorry, I couldn't make that handout fit one page. `scr-bot briefing … --markdown` gives it "
                         "as Markdown.")  # fmt: skip
    slug = re.sub(r"[^a-z0-9]+", "-", built.spec.theme.lower()).strip("-") or "briefing"
    file = FileToSend(filename=f"7-minute-briefing-{slug}.pdf", content=data, title=built.title,
                      comment=f"The one-page handout of {built.title}: print it for a room without a screen. "
                              "It has each part's source and an action plan to fill in.")  # fmt: skip
    try:
        SlackDelivery(client, services.corpus).send_file(user, file)
    except (Permanent, Transient) as exc:
        log.warning("handout: could not send the PDF to %s: %s", user, exc)
        return ephemeral("Sorry, I couldn't send you the handout just now (Slack didn't take the file). Please try "
                         "again in a minute.")  # fmt: skip
    return None


def briefing_message(services: Services, args: list[str]) -> dict[str, Any]:
    """``/scr briefing <theme | point id | words>``: the facilitator's private preview of a 7-minute
    briefing, or one line saying why there is none. Content only (no Redis, no Web API), so it is the ack."""
    try:
        built = build_briefing(services.lookup, " ".join(args))
    except NoMatch as exc:
        return blocks.briefing_no_match(exc)
    return {"response_type": "ephemeral", **blocks.briefing_preview(built)}


def ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


def _resolver(services: Services):  # noqa: ANN202
    def resolve(word: str) -> tuple[str, str] | None:
        term = services.lookup.vocab.resolve(word)
        return (term.kind, term.id) if term else None

    return resolve


def _filters(services: Services, schedule: Schedule) -> str:
    names = [services.corpus.sectors[s].label for s in schedule.sectors if s in services.corpus.sectors]
    names += [services.corpus.themes[t].label for t in schedule.themes if t in services.corpus.themes]
    text = ", ".join(names) if names else "all sectors and themes"
    return text + (", with background points" if schedule.background else "")


def _in_rotation(services: Services, schedule: Schedule) -> str:
    n = len(weekly_pool(services.corpus, schedule))
    return f"{n} learning point{'s' if n != 1 else ''} in rotation"


def _settings_text(services: Services, schedule: Schedule) -> str:
    """A schedule's settings in a line, for the audit trail."""
    holidays = "" if schedule.on_bank_holiday == "move" else f"; bank holidays: {schedule.on_bank_holiday}"
    return f"{describe(schedule.post)} ({schedule.timezone}); {_filters(services, schedule)}{holidays}"


ON_BANK_HOLIDAY = {
    "move": "the post moves to the next working day that week, same time",
    "skip": "no post that week (it skips the week)",
    "post": "posted as usual",
}


def describe_schedule(services: Services, schedule: Schedule, now: datetime) -> str:
    nxt = schedule.post_trigger().get_next_fire_time(None, now)
    lines = [
        f"*Weekly learning point here:* {describe(schedule.post)} ({schedule.timezone})",
        f"*Next post:* {nxt.astimezone(schedule.tz):%A %-d %B %Y at %H:%M}" if nxt else "*Next post:* none",
        f"*Summary in the thread:* {describe(schedule.summary)}",
        f"*On a bank holiday:* {ON_BANK_HOLIDAY.get(schedule.on_bank_holiday, schedule.on_bank_holiday)} "
        "(the workspace's nation: `/scr settings bank-holidays`)",
        f"*Drawing on:* {escape(_filters(services, schedule))} ({_in_rotation(services, schedule)})",
        "*Set by:* "
        + ("your safeguarding lead (schedules file)" if schedule.source == "yaml" else f"<@{schedule.created_by}> with `/scr subscribe`"),
    ]
    if not schedule.enabled:
        lines.append(":pause_button: This schedule is switched off.")
    status = schedule_status(services.store.client, schedule)
    if status.get("last_ts"):
        point = services.corpus.point(status.get("last_point", ""))
        lines.append(f"*Last post:* {status.get('last_week')}: {escape(point.title) if point else status.get('last_point')}")
    if status.get("last_error"):
        hint = " Invite me with `/invite @scr`." if status["last_error"] in ("not_in_channel", "channel_not_found") else ""
        lines.append(f":warning: *Last attempt failed* ({status.get('last_error_week')}): Slack said `{status['last_error']}`.{hint}")
    return "\n".join(lines)


def not_posted_yet(services: Services, schedule: Schedule, now: datetime) -> str:
    """`/scr week` in a channel that is subscribed but has had no post yet: say when the first comes."""
    return ("This channel is subscribed, but its first learning point of the week hasn't been posted yet.\n"
            + describe_schedule(services, schedule, now))


PAUSE_MAX_WEEKS = 26  # half a year: longer leave is `/scr quiz off`


def slack_date(epoch: float) -> str:
    """A date Slack shows in the reader's own time zone (with a UTC fallback for clients that cannot)."""
    return f"<!date^{int(epoch)}^{{date_long}}|{time.strftime('%d %B %Y', time.gmtime(epoch))}>"


def pause_checks(services: Services, ws: Workspace, user: str, weeks: int) -> str:
    """Pause (``weeks`` > 0) or resume (0) a person's knowledge checks; the sentence that says so."""
    until = time.time() + weeks * 7 * 86400 if weeks else 0.0
    person = services.quiz.pause(ws, user, until)
    if person is None:
        return "You don't get knowledge checks at the moment: `/scr quiz on` starts them."
    if not weeks:
        return "Welcome back: your knowledge checks start again on the next quiz day."
    return (f"Paused: no knowledge checks until {slack_date(until)} ({weeks} week{'s' if weeks != 1 else ''}). "
            "Nothing is lost; `/scr quiz resume` starts them sooner.")


def quiz_command(services: Services, command: dict[str, Any], args: list[str]) -> dict[str, Any]:
    """``/scr quiz on|off``: opt in or out of spaced knowledge checks by DM; ``/scr quiz pause N``: none for N weeks
    (leave, sickness), ``/scr quiz resume``; ``/scr quiz``: where I stand."""
    ws, user, channel = workspace_of(command), command.get("user_id", ""), command.get("channel_id", "")
    word = (args[0].lower() if args else "").strip()
    store = services.quiz
    try:
        hours = services.workspace_settings.hours(ws)
        when = (f"{days_text(hours.quiz_days & hours.days)} between {max(hours.start, hours.send_from):%H:%M} and "
                f"{hours.end:%H:%M} in your own time zone (as Slack has it), except bank holidays")  # fmt: skip
        if word in ("on", "start", "yes"):
            store.opt_in(ws, user, channel)
            return ephemeral(
                f"You're in. I'll DM you one short knowledge check on {when}, never more than one a day. "
                "Checks you miss come back sooner and ones you know come back later. Only you see your answers; "
                "your team sees only totals, and never for fewer than 3 people. `/scr quiz off` stops them."
            )
        if word in ("off", "stop", "no"):
            if store.opt_out(ws, user):
                return ephemeral("Done: no more knowledge checks. Your past answers stay in your record "
                                 "(`/scr export`) until you delete them with `/scr forget me`.")  # fmt: skip
            return ephemeral("You weren't getting knowledge checks. `/scr quiz on` starts them.")
        if word == "pause":
            n = args[1] if len(args) > 1 else ""
            if not n.isdigit() or not 1 <= int(n) <= PAUSE_MAX_WEEKS:
                return ephemeral(f"Say for how many weeks, 1 to {PAUSE_MAX_WEEKS}: `/scr quiz pause 4`.")
            return ephemeral(pause_checks(services, ws, user, int(n)))
        if word in ("resume", "unpause"):
            return ephemeral(pause_checks(services, ws, user, 0))
        if word:
            return ephemeral(f"I didn't understand “{escape(word)}”. Try `/scr quiz on`, `/scr quiz off` or "
                             "`/scr quiz pause 4`.")  # fmt: skip
        answers = store.answers(ws, user)
        right = sum(a.correct for a in answers)
        person = store.person(ws, user)
        if person and person.paused(time.time()):
            return ephemeral(f"Your knowledge checks are paused until {slack_date(person.paused_until)}: "
                             f"`/scr quiz resume` starts them sooner. You've answered {len(answers)}, {right} right.")
        state = f"You get a knowledge check by DM on {when}." if person else \
            "You don't get knowledge checks at the moment: `/scr quiz on` starts them."
        return ephemeral(f"{state} You've answered {len(answers)}, {right} right. Your history is on my Home tab.")
    except redis.RedisError:
        return ephemeral(STORAGE_DOWN.format(what="change your knowledge checks"))


MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
AUDIT_SHOWN, AUDIT_MAX_SHOWN = 20, 50  # `/scr audit` and `/scr audit 50`


def mentioned(args: list[str]) -> str | None:
    """The user id in ``add <@U123|name>``'s second word, if it is a mention."""
    found = MENTION.match(args[1]) if len(args) > 1 else None
    return found.group(1) if found else None


def record(services: Services, command: dict[str, Any], role: str, action: str, detail: str = "",
           channel: str | None = None) -> None:  # fmt: skip
    """Add an allowed change to the workspace's audit trail (refusals change nothing and are not recorded)."""
    AuditTrail(services.store.client).record(workspace_of(command), AuditEntry(
        at=time.time(), by=command.get("user_id", ""), role=role, action=action,
        channel=command.get("channel_id", "") if channel is None else channel, detail=detail,
    ))  # fmt: skip


def not_a_member(roles: Roles, ws: Workspace, who: str, client: WebClient, what: str) -> str | None:
    """Why ``who`` cannot be given a role here (``what``: "be the bot's admins"), or None if they can: only the
    workspace's own members (``users.info``, after the ack), never a person from another organisation in a
    shared channel, someone Slack marks a stranger, or an id Slack does not know. One check and one wording
    for every list that grants something here (the bot's admins, the digest's readers)."""
    member = roles.member(ws, who, client)
    if member is None:
        return f"Nothing changed: Slack didn't say whether <@{who}> is a member of this workspace. Try again in a minute."
    if not member:
        return (f"Nothing changed: <@{who}> is not a member of this workspace (a guest from another organisation, "
                f"say), and only its own members can {what} here.")  # fmt: skip
    return None


DIGEST_WHAT = ("participation, themes covered and not yet covered, never anyone's words; one DM for each channel "
               "with a weekly post here")
DIGEST_HELP = ("Try `/scr digest` (in a channel: its figures), `/scr digest list`, `/scr digest add @someone` or "
               "`/scr digest remove @someone`.")


def digest_command(services: Services, command: dict[str, Any], args: list[str], roles: Roles,
                   client: WebClient) -> dict[str, Any]:  # fmt: skip
    """``/scr digest``: a channel's digest figures, for the workspace's readers, its admins and the channel's
    lead (their own channel only); ``add|remove @someone``: the workspace's readers (each gets every
    channel's monthly digest), named by workspace admins or the bot's admins only, every change in the audit
    trail; ``list``: who they are, for readers and admins.

    Not by a channel's lead: readers are per workspace, and anyone may become the lead of an empty channel
    by subscribing it, so a lead naming readers would let any member make themselves a reader of every
    channel's digest (and drop the real ones). After the ack: deciding who may can ask Slack (``users.info``)."""
    ws, user, channel = workspace_of(command), command.get("user_id", ""), command.get("channel_id", "")
    in_channel = channel.startswith(("C", "G"))
    env_readers = services.settings.env_digest_users
    readers = DigestReaders(services.store.client, env_readers)
    word = args[0].lower() if args else ""
    try:
        if word in ("add", "remove"):
            role = roles.admin(ws, user, client)
            if role is None:
                return ephemeral(who_can(None, "change who gets this workspace's digest"))
            who = mentioned(args)
            if not who:
                return ephemeral(f"Say who, with a mention: `/scr digest {word} @someone`.")
            if word == "add":
                outsider = not_a_member(roles, ws, who, client, "get its digest")
                if outsider:
                    return ephemeral(outsider)
                if readers.add(ws, who):
                    record(services, command, role, "digest-add", f"<@{who}>")
                return ephemeral(f"<@{who}> will get this workspace's learning digest by DM on the first working day "
                                 f"of each month: {DIGEST_WHAT}.")  # fmt: skip
            if who in env_readers:
                return ephemeral(f"<@{who}> is named by your admin (SCR_DIGEST_USERS), so only the admin can remove them.")
            if readers.remove(ws, who):
                record(services, command, role, "digest-remove", f"<@{who}>")
                return ephemeral(f"<@{who}> will no longer get this workspace's digest.")
            return ephemeral(f"<@{who}> wasn't getting this workspace's digest.")
        if word not in ("", "list"):
            return ephemeral(DIGEST_HELP)
        subscription = services.subscriptions.get(ws, channel) if in_channel else None
        lead = subscription.created_by if subscription else None
        workspace_wide = readers.is_reader(ws, user) or roles.admin(ws, user, client) is not None
        own_channel = bool(lead) and user == lead and word == ""  # a lead sees their channel's figures, nothing more
        if not workspace_wide and not own_channel:
            return ephemeral("The digest is for this workspace's digest readers, whom workspace admins and the bot's "
                             "admins (`/scr admins`) name: ask one of them to add you with `/scr digest add @you`.")  # fmt: skip
        names = ", ".join(f"<@{u}>" + (" (SCR_DIGEST_USERS)" if u in env_readers else "")
                          for u in readers.readers(ws)) or "no one yet"  # fmt: skip
        if word == "list":
            return ephemeral(f"*This workspace's digest readers:* {names}\nEach gets, on the first working day of "
                             f"each month, {DIGEST_WHAT}.")  # fmt: skip
        if not in_channel:
            return ephemeral("A digest's figures are per team channel: run `/scr digest` in the channel they are about "
                             "(`/scr digest list` shows who gets them).")  # fmt: skip
        tz = services.workspace_settings.hours(ws).timezone  # the workspace's months, as the monthly DM counts them
        data = build_digest(services.corpus, services.store.client, ws, channel,
                            last_months(utcnow(), include_current=True, timezone=tz), services.settings.retention_days, tz)  # fmt: skip
        sent_to = f"this workspace's readers: {names}" if workspace_wide else "this workspace's digest readers"
        text = digest_text(services.corpus, data) + f"\n_Monthly by DM, with a chart, to {sent_to}._"
        return {"response_type": "ephemeral", "text": text}
    except redis.RedisError:
        return ephemeral(STORAGE_DOWN.format(what="put the digest together" if word in ("", "list") else "change the digest's readers"))


FORGET_CONFIRM = ("All your reflections and knowledge-check answers in this workspace will be deleted, you will be "
                  "taken off briefing attendance lists, and the actions you own will be deleted (their facilitators "
                  "are told). This can't be undone.")  # Slack's limit for a confirm's text: 300 characters


def actions_command(services: Services, command: dict[str, Any], args: list[str], roles: Roles,
                    client: WebClient) -> dict[str, Any]:  # fmt: skip
    """``/scr actions``: the actions agreed at the briefings run in this channel, with their owners, due dates and
    status. It names people, so only a session's facilitator (their own sessions) and the workspace's admins or
    the bot's admins (all of them) see it; anyone else is told who can. After the ack: the admin check may ask
    Slack (``users.info``)."""
    ws, user, channel = workspace_of(command), command.get("user_id", ""), command.get("channel_id", "")
    if not channel.startswith(("C", "G")):
        return ephemeral("The action list is per team channel: run `/scr actions` in the channel the briefing was run in.")
    try:
        sessions = services.sessions.sessions_in(ws, channel)
        if not sessions:
            return ephemeral("No 7-minute briefing has been run in this channel yet: `/scr briefing <theme>` starts one.")
        mine = [s for s in sessions if s.facilitator == user]
        everyone = roles.admin(ws, user, client) is not None
        if not mine and not everyone:
            leads = ", ".join(dict.fromkeys(session_blocks.facilitator_name(s.facilitator) for s in sessions))
            return ephemeral(f"This channel's action list names people, so only the facilitator of each briefing run here "
                             f"({leads}), workspace admins or the bot's admins (`/scr admins`) can see it.")  # fmt: skip
        shown = sessions if everyone else mine
        listed = [(s, services.sessions.actions_of_session(ws, s.id)) for s in shown]
        zone = ZoneInfo(services.workspace_settings.hours(ws).timezone)  # the team's own days
    except redis.RedisError:
        return ephemeral(STORAGE_DOWN.format(what="put the action list together"))
    page = int(args[0]) if args and args[0].isdigit() else 1  # `/scr actions 2`: earlier briefings of a long list
    return session_blocks.team_actions_message(listed, everyone, page, zone)


def admins_command(services: Services, command: dict[str, Any], args: list[str], roles: Roles,
                   client: WebClient) -> dict[str, Any]:  # fmt: skip
    """``/scr admins``: who the bot's admins are here; ``add|remove @someone``: for workspace admins and
    owners and the bot's admins (never the environment's list in a many-workspace install). Only the
    workspace's own members can be added (``users.info`` after the ack): a person from another organisation
    in a shared channel must not hold rights here."""
    ws, user = workspace_of(command), command.get("user_id", "")
    env_admins = services.settings.env_admins
    admins = AdminList(services.store.client)
    word = args[0].lower() if args else ""
    try:
        if word in ("add", "remove"):
            role = roles.admin(ws, user, client)
            if role is None:
                return ephemeral(who_can(None, "change the bot's admin list"))
            who = mentioned(args)
            if not who:
                return ephemeral(f"Say who, with a mention: `/scr admins {word} @someone`.")
            if word == "add":
                outsider = not_a_member(roles, ws, who, client, "be the bot's admins")
                if outsider:
                    return ephemeral(outsider)
                if admins.add(ws, who):
                    record(services, command, role, "admins-add", f"<@{who}>")
                return ephemeral(f"<@{who}> is now one of the bot's admins here: they may change any channel's weekly "
                                 "post and digest readers, this list, and read `/scr audit`.")  # fmt: skip
            if who in env_admins:
                return ephemeral(f"<@{who}> is named by whoever runs the bot (SCR_ADMINS), so only they can remove them.")
            if admins.remove(ws, who):
                record(services, command, role, "admins-remove", f"<@{who}>")
                return ephemeral(f"<@{who}> is no longer one of the bot's admins here.")
            return ephemeral(f"<@{who}> wasn't one of the bot's admins here.")
        if word:
            return ephemeral("Try `/scr admins`, `/scr admins add @someone` or `/scr admins remove @someone`.")
        named = sorted(set(admins.members(ws)) | set(env_admins))
        listed = ", ".join(f"<@{u}>" for u in named) or "no one yet"
        return ephemeral(
            f"*The bot's admins here:* {listed}\n"
            "They and workspace admins and owners may change any channel's weekly post, the workspace's digest "
            "readers and settings; whoever set up a channel's weekly post may change that channel's. "
            "Workspace admins and the bot's admins manage this list: "
            "`/scr admins add @someone`, `/scr admins remove @someone`. `/scr audit` shows every change."
        )
    except redis.RedisError:
        return ephemeral(STORAGE_DOWN.format(what="read or change the bot's admins"))


def audit_command(services: Services, command: dict[str, Any], args: list[str], roles: Roles,
                  client: WebClient) -> dict[str, Any]:  # fmt: skip
    """``/scr audit [n]``: the workspace's latest changes, for workspace admins and the bot's admins."""
    ws, user = workspace_of(command), command.get("user_id", "")
    n = AUDIT_SHOWN
    if args:
        if not args[0].isdigit() or not 1 <= int(args[0]) <= AUDIT_MAX_SHOWN:
            return ephemeral(f"Try `/scr audit` or `/scr audit 50` (how many changes, 1 to {AUDIT_MAX_SHOWN}).")
        n = int(args[0])
    try:
        if roles.admin(ws, user, client) is None:
            return ephemeral(who_can(None, "read the record of changes"))
        entries = AuditTrail(services.store.client).recent(ws, n)
    except redis.RedisError:
        return ephemeral(STORAGE_DOWN.format(what="read the record of changes"))
    if not entries:
        return ephemeral("No changes recorded here yet: setting up, changing or stopping a weekly post, naming digest "
                         "readers and the bot's admins are recorded here (kept 400 days).")  # fmt: skip
    lines = [f"*The last {len(entries)} change{'s' if len(entries) != 1 else ''} here* (newest first):"]
    lines += [audit_line(e) for e in entries]
    return ephemeral("\n".join(lines))


SETTINGS_HELP = (
    "Change one with `/scr settings <name> <value>`: `timezone Europe/London`, `hours 09:00-17:00`, `days mon-fri`, "
    "`quiz-days tue,thu`, `quiz-time 10:00`, `bank-holidays england-and-wales|scotland|northern-ireland|none`, "
    "`contact <who to contact about a child, with a number>`."
)


def settings_text(services: Services, ws: Workspace) -> str:
    """The workspace's settings as its admins see them, marking which are the bot's defaults."""
    stored = services.workspace_settings.stored(ws)
    current = services.workspace_settings.settings(ws)
    hours = current.working_hours()

    def shown(field: str, value: str) -> str:
        return f"{escape(value)}" + ("" if field in stored else " _(default)_")

    lines = [
        "*This workspace's settings*",
        f"• *Time zone:* {shown('timezone', current.timezone)} (months and weeks of the digest; each person's "
        "knowledge checks follow their own Slack time zone)",
        f"• *Working hours:* {shown('work_hours', current.work_hours)}",
        f"• *Working days:* {shown('work_days', days_text(hours.days))}",
        f"• *Quiz days:* {shown('quiz_days', days_text(hours.quiz_days))}, from {shown('quiz_time', current.quiz_time)}",
        f"• *Bank holidays:* {shown('bank_holidays', current.bank_holidays)} (no knowledge checks or digest on "
        "them; a weekly post due on one moves to the next working day)",
        f"• *Contact line under the safety steps:* {shown('concern_contact', current.concern_contact or 'none set')}",
        "",
        SETTINGS_HELP,
    ]
    return "\n".join(lines)


def settings_command(services: Services, command: dict[str, Any], args: list[str], roles: Roles,
                     client: WebClient) -> dict[str, Any]:  # fmt: skip
    """``/scr settings``: the workspace's time zone, hours, quiz days, bank holidays and contact line;
    ``/scr settings <name> <value>`` changes one. Workspace admins and owners and the bot's admins only
    (after the ack: deciding may ask Slack); every change goes in the audit trail."""
    ws, user = workspace_of(command), command.get("user_id", "")
    from bot.storage.wssettings import FIELDS

    try:
        role = roles.admin(ws, user, client)
        if role is None:
            return ephemeral(who_can(None, "see or change this workspace's settings"))
        if not args:
            return ephemeral(settings_text(services, ws))
        name = args[0].lower()
        if name not in FIELDS:
            return ephemeral(f"There is no setting “{escape(args[0][:40])}”. {SETTINGS_HELP}")
        raw = " ".join(args[1:])
        if not raw:
            return ephemeral(f"Give a value: `/scr settings {name} …`. {SETTINGS_HELP}")
        try:
            value = services.workspace_settings.change(ws, name, raw)
        except ValueError as exc:
            return ephemeral(f"Nothing changed: {escape(str(exc))}.")
        record(services, command, role, "settings", f"{name} {value}", channel="")
    except redis.RedisError:
        return ephemeral(STORAGE_DOWN.format(what="read or change this workspace's settings"))
    return ephemeral(f"Done: *{escape(name)}* is now {escape(value)}.\n\n" + settings_text(services, ws))


def audit_line(entry: AuditEntry) -> str:
    """One change as Slack shows it: the date in the reader's own time zone, who, as what, what, where."""
    when = f"<!date^{int(entry.at)}^{{date_short}} {{time}}|{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(entry.at))}>"
    where = f" in <#{entry.channel}>" if entry.channel.startswith(("C", "G")) else ""
    detail = f": {escape(entry.detail)}" if entry.detail and not MENTION.match(entry.detail) else \
        (f" {entry.detail}" if entry.detail else "")
    return f"• {when} <@{entry.by}> ({escape(entry.role)}) {escape(entry.action)}{where}{detail}"


def days_text(days: frozenset[int]) -> str:
    names = ["Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"]
    chosen = [names[d] for d in sorted(days)]
    return chosen[0] if len(chosen) == 1 else ", ".join(chosen[:-1]) + " and " + chosen[-1]


def register(app: App, services: Services) -> None:
    settings = services.settings
    services.lookup  # noqa: B018 - build search now (before gunicorn forks), not inside the first /scr
    roles = Roles(AdminList(services.store.client), settings.env_admins)

    def week_point(ws: Workspace, channel: str) -> str | None:
        latest = services.reflections.latest_post(ws, channel)
        return latest["point"] if latest else None

    def plan_subscribe(command: dict[str, Any], args: list[str]) -> dict[str, Any] | Schedule:
        """The checks that need neither Slack nor Redis: a reply now, or the schedule to save."""
        ws = workspace_of(command)
        channel, user = command.get("channel_id", ""), command.get("user_id", "")
        if not channel.startswith(("C", "G")):
            return ephemeral("Weekly posts go to a team channel. Run `/scr subscribe` in the channel you want them in.")
        req = parse_subscribe(args, _resolver(services))
        if req.unknown:
            words = ", ".join(f"“{escape(w)}”" for w in req.unknown[:5])
            hint = timezone_hint(req.unknown, settings.timezone)
            return ephemeral(
                f"I didn't understand {words}. "
                + (f"{escape(hint)} " if hint else "")
                + "Try `/scr subscribe health monday 09:30` "
                "(any sectors or themes, a weekday, a time and a time zone, all optional; add `background` "
                "to include points on what an SCR is and how the studies were done, and `holidays skip` or "
                "`holidays post` if a bank holiday should not move the post to the next working day)."
            )
        admin = services.yaml_schedule_for(ws.team_id, channel)
        if admin:
            return ephemeral(
                f"This channel's weekly post is set up by your safeguarding lead (schedule `{admin.id}`), "
                "so it can't be changed from Slack. `/scr schedule` shows it."
            )
        tz = req.timezone or settings.timezone
        try:
            cron = check_cron(cron_for(req.day, req.time), tz)
        except ValueError as exc:
            return ephemeral(f"I can't use that time: {exc}.")
        schedule = Schedule(
            id=subscription_id(ws, channel), team=ws.team_id, enterprise=ws.enterprise_id, channel=channel,
            post=cron, summary=DEFAULT_SUMMARY, timezone=tz, sectors=tuple(req.sectors), themes=tuple(req.themes),
            source="slack", origin=f"/scr subscribe by {user}", created_by=user, background=req.background,
            on_bank_holiday=req.on_bank_holiday,
        )  # fmt: skip
        if not any(schedule.matches(p) for p in services.corpus.points):
            return ephemeral("Those sectors and themes together match no learning points; try fewer filters.")
        return schedule

    def save_subscription(command: dict[str, Any], schedule: Schedule, client: WebClient) -> dict[str, Any]:
        """After the ack: may this person change the channel's schedule (asking Slack if need be), is the bot in
        the channel, then save (the answer goes to response_url). Whoever set the channel up stays its lead when
        someone else with the right changes it, so a change never hands the channel over."""
        ws = workspace_of(command)
        channel, user = command.get("channel_id", ""), command.get("user_id", "")
        try:
            existing = services.subscriptions.get(ws, channel)
            role = LEAD if existing is None else roles.for_channel(ws, user, existing.created_by, client)
        except redis.RedisError:
            return ephemeral(STORAGE_DOWN.format(what="save the schedule"))
        if existing is not None and role is None:
            return ephemeral(who_can(existing.created_by, "change this channel's weekly post"))
        if existing is not None:
            schedule = replace(schedule, created_by=existing.created_by, origin=existing.origin)
        try:
            info = client.conversations_info(channel=channel)
            member = bool((info.get("channel") or {}).get("is_member", False))
        except SlackApiError as exc:
            if exc.response.get("error") not in ("channel_not_found", "not_in_channel"):
                raise
            member = False
        if not member:
            return ephemeral(NOT_IN_CHANNEL)
        try:
            services.subscriptions.save(schedule)
            record(services, command, role, "resubscribe" if existing else "subscribe", _settings_text(services, schedule))
        except redis.RedisError:
            return ephemeral(STORAGE_DOWN.format(what="save the schedule"))
        verb = "updated" if existing else "set up"
        now = utcnow()
        warning = repeat_warning(services.corpus, schedule, now)
        return {
            "response_type": "in_channel",
            "text": f"<@{user}> {verb} a weekly learning point for this channel.\n"
            + describe_schedule(services, schedule, now)
            + (f"\n:warning: {warning}" if warning else "")
            + "\nEach week's post invites the team to reflect in its thread. `/scr unsubscribe` stops it.",
        }

    def unsubscribe(command: dict[str, Any], client: WebClient) -> dict[str, Any]:
        """After the ack: only the channel's lead, workspace admins and the bot's admins may stop its post."""
        ws = workspace_of(command)
        channel, user = command.get("channel_id", ""), command.get("user_id", "")
        admin = services.yaml_schedule_for(ws.team_id, channel)
        if admin:
            return ephemeral(f"This channel's weekly post is managed by your safeguarding lead (schedule `{admin.id}`).")
        try:
            existing = services.subscriptions.get(ws, channel)
            if existing is None:
                return ephemeral("There's no weekly learning point set up in this channel.")
            role = roles.for_channel(ws, user, existing.created_by, client)
            if role is None:
                return ephemeral(who_can(existing.created_by, "stop this channel's weekly post"))
            removed = services.subscriptions.delete(ws, channel)
            if removed:
                record(services, command, role, "unsubscribe", _settings_text(services, existing))
        except redis.RedisError:
            return ephemeral(STORAGE_DOWN.format(what="remove the schedule"))
        if not removed:
            return ephemeral("There's no weekly learning point set up in this channel.")
        return {"response_type": "in_channel",
                "text": f"<@{command.get('user_id')}> stopped the weekly learning point in this channel. "
                        "Past reflections are kept as before."}  # fmt: skip

    def show_schedule(command: dict[str, Any]) -> dict[str, Any]:
        ws = workspace_of(command)
        try:
            schedule = services.schedule_for(ws.team_id, ws.enterprise_id, command.get("channel_id", ""))
            if schedule is None:
                return ephemeral(
                    "No weekly learning point is set up in this channel. A team lead can start one with "
                    "`/scr subscribe` (for example `/scr subscribe health monday 09:30`)."
                )
            return ephemeral(describe_schedule(services, schedule, utcnow()))
        except redis.RedisError:
            return ephemeral(STORAGE_DOWN.format(what="look up this channel's schedule"))

    def reflections_summary(command: dict[str, Any]) -> dict[str, Any]:
        ws = workspace_of(command)
        try:
            weeks = services.reflections.channel_weeks(ws, command.get("channel_id", ""), time.time() - EIGHT_WEEKS)
        except redis.RedisError:
            return ephemeral(STORAGE_DOWN.format(what="count this channel's reflections"))
        return participation_message(services.corpus, weeks)

    def export_record(command: dict[str, Any], client: WebClient) -> dict[str, Any]:
        try:
            sent = send_export(services, client, workspace_of(command), command.get("user_id", ""), say_if_empty=False)
        except redis.RedisError:
            return ephemeral(STORAGE_DOWN.format(what="export your record"))
        if sum(sent) == 0:
            return ephemeral("You have no reflections saved yet. Reply in a weekly post's thread, or press Reflect.")
        return ephemeral(f"I've sent your record ({what_was_exported(*sent)}) to you in a direct message.")

    def forget_me() -> dict[str, Any]:
        danger = blocks.button("Delete all my reflections", ACTION_FORGET, "all", style="danger")
        danger["confirm"] = {
            "title": {"type": "plain_text", "text": "Delete your record?"},
            "text": {"type": "plain_text", "text": FORGET_CONFIRM},
            "confirm": {"type": "plain_text", "text": "Delete everything"},
            "deny": {"type": "plain_text", "text": "Keep it"},
        }
        return {
            "response_type": "ephemeral",
            "text": "Delete all your reflections in this workspace?",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": "This deletes every reflection you have saved in "
                 "this workspace (thread replies and private ones) and your knowledge-check answers, takes you off the "
                 "attendance lists of the team briefings you were at, and deletes the actions you own from them (each "
                 "briefing's facilitator is told which). Messages you posted in Slack threads stay where they are; "
                 "delete those in Slack if you wish. You can export your record first with `/scr export`."}},
                blocks.actions(danger),
            ],
        }  # fmt: skip

    def scr(ack: Ack, command: dict[str, Any]) -> None:
        """Answer at once: lookups, and anything needing only Redis (bounded by its timeout and breaker).
        ``/scr subscribe`` and ``/scr export`` call Slack, so they are acknowledged empty here and
        answered by ``scr_after_ack`` through the command's response_url."""
        text = command.get("text") or ""
        try:
            # Only lookup answers are ever cached, so a cached answer means a lookup: no need to parse again.
            if (cached := services.rendered.get(_cache_key(services, text, 0))) is not None:
                ack(response_type="ephemeral", **cached)
                return
            ws_or_none = workspace_or_none(command)
            parsed = services.lookup.parse(text)
            if parsed.kind == "subscribe":
                plan = plan_subscribe(command, parsed.args)
                if isinstance(plan, dict):
                    ack(**plan)  # a mistake in the command: say so at once
                else:
                    ack()
            elif parsed.kind in ("export", "unsubscribe", "digest", "admins", "audit", "settings", "actions"):
                ack()  # answered after the ack: Slack may be asked who is a workspace admin (or the DM opened)
            elif parsed.kind == "schedule":
                ack(**show_schedule(command))
            elif parsed.kind == "reflections":
                ack(**reflections_summary(command))
            elif parsed.kind == "forget":
                ack(**forget_me())
            elif parsed.kind == "quiz":
                ack(**quiz_command(services, command, parsed.args))
            elif wants_handout(parsed):
                ack(**handout_ack(services, parsed.args))
            elif parsed.kind == "briefing":
                ack(**briefing_message(services, parsed.args))
            elif parsed.kind == "week":
                ws = workspace_of(command)
                channel = command.get("channel_id", "")
                try:
                    pid = week_point(ws, channel)
                    waiting = None if pid else services.schedule_for(ws.team_id, ws.enterprise_id, channel)
                except redis.RedisError:
                    ack(**ephemeral(STORAGE_DOWN.format(what="find this week's learning point")))
                    return
                if waiting is not None and waiting.enabled:
                    ack(**ephemeral(not_posted_yet(services, waiting, utcnow())))
                    return
                ack(response_type="ephemeral", **lookup_message(services, text, week_point=lambda: pid, ws=ws, parsed=parsed))
            else:
                ack(response_type="ephemeral", **lookup_message(services, text, ws=ws_or_none, parsed=parsed))
        except NoWorkspace as exc:  # never filed under a shared placeholder workspace
            log.warning("refused /scr %s: %s", text[:40], exc)
            ack(**ephemeral(NO_WORKSPACE))
        except Exception:
            log.exception("/scr failed for %r", text[:200])
            ack(**ephemeral("Sorry, I couldn't answer that just now. Please try again in a minute."))

    def scr_after_ack(command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        """After Slack has its ack: what may call the Web API (``/scr subscribe``, ``/scr export``, and every
        change guarded by the roles, which may ask Slack who is a workspace admin) or read a lot (the digest)."""
        text = command.get("text") or ""
        parsed = services.lookup.parse(text)
        if wants_handout(parsed):
            failed = send_handout(services, client, command.get("user_id", ""), parsed.args)
            if failed:
                respond(**failed)
            return
        if parsed.kind not in AFTER_ACK:
            return
        guarded = {"digest": digest_command, "admins": admins_command, "audit": audit_command,
                   "settings": settings_command, "actions": actions_command}
        try:
            workspace_of(command)
        except NoWorkspace:
            return  # refused in the ack
        try:
            if parsed.kind in guarded:
                respond(**guarded[parsed.kind](services, command, parsed.args, roles, client))
            elif parsed.kind == "unsubscribe":
                respond(**unsubscribe(command, client))
            elif parsed.kind == "subscribe":
                plan = plan_subscribe(command, parsed.args)
                if isinstance(plan, dict):
                    return  # already answered in the ack
                respond(**save_subscription(command, plan, client))
            else:
                respond(**export_record(command, client))
        except Exception:
            log.exception("/scr %s failed", parsed.kind)
            respond(**ephemeral("Sorry, I couldn't do that just now. Please try again in a minute."))

    def needs_after_ack(body: dict[str, Any]) -> bool:
        """Only the commands in ``AFTER_ACK`` have work after the ack. Every other /scr (lookups above all)
        is served by a listener without a lazy part: Bolt copies the whole request and starts a thread for
        each lazy listener, which was most of a cached lookup's cost (bench/bench_lookup.py)."""
        toks = clean(body.get("text") or "").lower().split()
        if toks and toks[0].startswith("/scr"):
            toks = toks[1:]
        kind = COMMANDS.get(toks[0]) if toks else None
        return kind in AFTER_ACK or (kind == "briefing" and len(toks) > 2 and toks[-1] == HANDOUT_WORD)

    app.command("/scr", matchers=[needs_after_ack])(ack=scr, lazy=[scr_after_ack])
    app.command("/scr")(scr)
