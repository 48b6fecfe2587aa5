"""A briefing run in a channel as a session: "I was there", the facilitator ticking people in, "Agree an
action" (a form: what, owner, due date), and the owner's answer to the follow-up (done, partly, not yet).

Ack first, always. A button's work (Redis, opening a form) runs after its empty ack. The action form's ack
refuses what can be judged from the form alone (no words, a due date in the past) inline, writing nothing;
otherwise it shows "checking" and, after the ack, Slack is asked whether the owner is in the channel (a
Web API call) before anything is written. When the owner is not, or storage is down, the form comes back
with the words as typed and one line saying why. When storage fails during the write itself the outcome is
unknown (the write may have landed, its answer lost), and the form says so: pressing Agree again is safe,
since the action's id (the form's view id) makes a retried form one action, never two, and the retry
completes what the first try may have left (its thread reply).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis
from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.briefings.sessions import ANSWERS, CHANGE_MAX, Action, Session, check_action, session_id
from bot.handlers.roles import Roles
from bot.reflections.masking import Masked, mask
from bot.services import Services
from bot.slack.client import find_in_thread
from bot.slack.context import workspace_of
from bot.slack.home import channel_membership, publish_home
from bot.slack.session_blocks import (
    ACTION_AGREE,
    ACTION_ATTEND,
    ACTION_TICK,
    AGREED_EVENT,
    CALLBACK_ACTION,
    CALLBACK_FOLLOWUP,
    FOLLOWUP_ACTIONS,
    action_form,
    agreed_message,
    facilitator_name,
    followup_form,
    note_view,
    parse_session_block,
)
from bot.slack.tenants import must_run, trigger_bound
from bot.storage.keys import Workspace
from bot.storage.roles import AdminList

log = logging.getLogger(__name__)
STORAGE_DOWN = "I can't reach my storage just now, so nothing was recorded. Please press it again in a minute."
SAVE_FAILED = ("I couldn't confirm the action was saved (my storage is unavailable just now): it may have been "
               "saved. Your words are still here: press Agree again in a minute. That is safe: it is never "
               "recorded twice.")  # fmt: skip
NOT_A_MEMBER = "The owner you chose is not in this channel, so nothing was recorded: choose someone who is."
NOT_CONFIRMED = ("Slack couldn't confirm just now that the owner is in this channel, so nothing was recorded. "
                 "Your words are still here: please press Agree again in a minute.")  # fmt: skip
ANSWER_FAILED = ("I couldn't save your answer just now (my storage is unavailable). Your words are still here: "
                 "please press Save again in a minute.")  # fmt: skip


def _where(body: dict[str, Any]) -> tuple[str, str]:
    """The channel and the session post's ts a session button was clicked on."""
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id") or ""
    return str(channel), str(container.get("message_ts") or "")


def _session(services: Services, body: dict[str, Any], action: dict[str, Any]) -> Session | None:
    """The session a button belongs to, from where it was clicked and its block_id (theme, facilitator). The
    block_id's facilitator is only a fallback for a session whose record was lost: ``sessions.ensure`` returns
    the stored record, which `/scr forget me` blanked, and that is the one every check and write uses."""
    channel, ts = _where(body)
    parsed = parse_session_block(str(action.get("block_id") or ""))
    if not (channel and ts and parsed):
        return None
    theme, facilitator = parsed
    label = services.corpus.themes[theme].label if theme in services.corpus.themes else theme
    return Session(channel=channel, ts=ts, theme=theme, title=f"7-minute briefing: {label}", facilitator=facilitator,
                   at=float(ts.split(".")[0] or 0))  # fmt: skip


def record_session(services: Services, ws: Workspace, session: Session) -> None:
    """After a briefing is run: the session exists from now (a button recreates it if this write is lost)."""
    try:
        services.sessions.ensure(ws, session)
    except redis.RedisError as exc:
        log.error("could not record a briefing session in %s (%s); its buttons will", session.channel, exc)


def _values(view: dict[str, Any]) -> tuple[str, str, str]:
    values = view["state"]["values"]

    def element(block: str) -> dict[str, Any]:
        return (values.get(block) or {}).get("value") or {}

    return (str(element("what").get("value") or "").strip(), str(element("owner").get("selected_user") or ""),
            str(element("due").get("selected_date") or ""))  # fmt: skip


def _meta(view: dict[str, Any]) -> dict[str, Any]:
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def post_agreed_once(client: WebClient, a: Action, look_first: bool = False) -> None:
    """The agreed action as a reply in the session's thread, once: when Slack's answer is lost, look first.
    ``look_first``: a retried form whose first save may have posted already (its outcome was unknown)."""
    meta = {"event_type": AGREED_EVENT, "event_payload": {"key": a.id}}
    if look_first:
        try:
            if find_in_thread(client, a.channel, a.ts, AGREED_EVENT, a.id) is not None:
                return
        except (SlackApiError, OSError) as exc:
            log.warning("could not check the thread in %s for an agreed action: %s", a.channel, exc)
            return
    try:
        client.chat_postMessage(channel=a.channel, thread_ts=a.ts, metadata=meta, **agreed_message(a))
        return
    except SlackApiError as exc:
        if exc.response.status_code < 500:
            log.warning("could not list an agreed action in %s: %s", a.channel, exc.response.get("error"))
            return
    except OSError as exc:
        log.warning("listing an agreed action in %s: no answer from Slack (%s)", a.channel, exc)
    try:
        if find_in_thread(client, a.channel, a.ts, AGREED_EVENT, a.id) is None:
            client.chat_postMessage(channel=a.channel, thread_ts=a.ts, metadata=meta, **agreed_message(a))
    except (SlackApiError, OSError) as exc:
        log.warning("could not check the thread in %s for an agreed action: %s", a.channel, exc)


def removed_note(masked: Masked) -> str:
    """What the confirmation adds when identifying details were taken out before saving (none: nothing)."""
    return f"\n\n:lock: To keep it anonymous I removed {masked.explanation()} before saving." if masked.changed else ""


def register(app: App, services: Services) -> None:
    roles = Roles(AdminList(services.store.client), services.settings.env_admins)

    def acknowledge(ack: Ack) -> None:
        ack()

    def attend(body: dict[str, Any], action: dict[str, Any], respond: Respond, context: BoltContext) -> None:
        """ "I was there": the person who pressed it is recorded as attending."""
        ws, user, session = workspace_of(body, context), body["user"]["id"], _session(services, body, action)
        if session is None:
            respond(replace_original=False, response_type="ephemeral", text="Sorry, that session is no longer available.")
            return
        try:
            services.sessions.ensure(ws, session)
            services.sessions.attend(ws, session.id, [user])
        except redis.RedisError:
            respond(replace_original=False, response_type="ephemeral", text=STORAGE_DOWN)
            return
        respond(replace_original=False, response_type="ephemeral",
                text=":white_check_mark: Recorded: you were at this briefing. It's in your CPD export (`/scr export`).")  # fmt: skip

    def tick(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond,
             context: BoltContext) -> None:  # fmt: skip
        """The facilitator (as stored: a forgotten one is no longer it) or a workspace admin ticks people in;
        anyone else is told it is the facilitator's to do."""
        ws, user, session = workspace_of(body, context), body["user"]["id"], _session(services, body, action)
        people = [str(u) for u in action.get("selected_users") or [] if isinstance(u, str)]
        if session is None or not people:
            return
        try:
            session = services.sessions.ensure(ws, session)  # the stored facilitator, never the button's
        except redis.RedisError:
            respond(replace_original=False, response_type="ephemeral", text=STORAGE_DOWN)
            return
        if user != session.facilitator and roles.admin(ws, user, client) is None:  # a blank one is nobody
            lead = (f"the facilitator, {facilitator_name(session.facilitator)}," if session.facilitator
                    else "a workspace admin")  # fmt: skip
            respond(replace_original=False, response_type="ephemeral",
                    text=f"Only {lead} can tick people in. Press *I was there* instead.")  # fmt: skip
            return
        try:
            services.sessions.attend(ws, session.id, people)
        except redis.RedisError:
            respond(replace_original=False, response_type="ephemeral", text=STORAGE_DOWN)
            return
        respond(replace_original=False, response_type="ephemeral",
                text=f":white_check_mark: Recorded {len(people)} {'person' if len(people) == 1 else 'people'} as there.")  # fmt: skip

    @trigger_bound
    def agree(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond) -> None:
        """Open the "Agree an action" form (a trigger lasts 3 s: nothing slow before it)."""
        session = _session(services, body, action)
        if session is None:
            return
        try:
            client.views_open(trigger_id=body["trigger_id"],
                              view=action_form(session.channel, session.ts, session.theme))  # fmt: skip
        except SlackApiError as exc:
            log.warning("could not open the action form: %s", exc.response.get("error"))
            respond(replace_original=False, response_type="ephemeral", text="Sorry, I couldn't open the form. Please try again.")

    def _zone(ws: Workspace) -> str:
        """The workspace's own time zone (``/scr settings timezone``; the environment's when it set none, or
        when storage cannot say: the date check must still answer, and the save after the ack reports storage)."""
        try:
            return services.workspace_settings.hours(ws).timezone
        except redis.RedisError:
            return services.settings.timezone

    def on_action(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
        """Refuse at once what the form alone shows is wrong; otherwise say it is being checked and saved."""
        what, owner, due = _values(view)
        meta = _meta(view)
        today = datetime.now(ZoneInfo(_zone(workspace_of(body, context)))).date()
        errors = check_action(what, owner, due, today, services.settings.retention_days)
        if not meta.get("c") or not meta.get("ts"):
            errors["what"] = "That session is no longer available."
        if errors:
            ack(response_action="errors", errors=errors)
            return
        context["scr_action"] = {"what": what, "owner": owner, "due": due, "meta": meta}
        ack(response_action="update", view=note_view("Agree an action", ":hourglass_flowing_sand: Checking the owner "
                                                     "is in the channel, then saving…"))  # fmt: skip

    @must_run
    def save_action(body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """After the ack: the owner must be in the channel; then the action is written, listed in the thread and
        on the owner's Home. Anything wrong brings the form back with the words kept, nothing written."""
        typed = context.get("scr_action")
        if not typed:
            return
        meta, ws = typed["meta"], workspace_of(body, context)
        channel, ts = str(meta["c"]), str(meta["ts"])

        def back(error: str) -> None:
            try:
                client.views_update(view_id=view["id"], view=action_form(
                    channel, ts, str(meta.get("t") or ""), what=typed["what"],
                    owner=typed["owner"], due=typed["due"], error=error))  # fmt: skip
            except SlackApiError as exc:
                log.info("could not bring the action form back: %s", exc.response.get("error"))

        member = channel_membership(client, typed["owner"], channel)
        if not member:
            back(NOT_A_MEMBER if member is False else NOT_CONFIRMED)
            return
        theme = str(meta.get("t") or "")
        label = services.corpus.themes[theme].label if theme in services.corpus.themes else theme
        masked = mask(typed["what"])  # a team's action can name a child or a family, as a reflection can
        fallback = Session(channel=channel, ts=ts, theme=theme, title=f"7-minute briefing: {label}",
                           facilitator=str(meta.get("f") or ""), at=float(ts.split(".")[0] or 0))  # fmt: skip
        try:
            # The facilitator is the stored session's (blank after they asked to be forgotten), never the form's.
            session = services.sessions.ensure(ws, fallback)
            a = Action(id=str(view["id"]), channel=channel, ts=ts, theme=session.theme or theme, what=masked.text,
                       owner=typed["owner"], due=typed["due"], facilitator=session.facilitator,
                       created_at=datetime.now().timestamp())  # fmt: skip
            created = services.sessions.add_action(ws, a)
            a = services.sessions.action(ws, a.id) or a  # a retry: the record as first stored
        except redis.RedisError:
            log.error("could not save an agreed action in %s: Redis unavailable (outcome unknown)", channel)
            back(SAVE_FAILED)
            return
        post_agreed_once(client, a, look_first=not created)  # a retry: its first try may have posted already
        try:
            client.views_update(view_id=view["id"], view=note_view(
                "Agree an action", f":white_check_mark: Agreed. It's in the thread, and <@{a.owner}> will be asked how "
                "it went on the due date." + removed_note(masked)))  # fmt: skip
        except SlackApiError as exc:
            log.info("could not update the action form: %s", exc.response.get("error"))
        try:
            publish_home(services, client, ws, a.owner)
        except (SlackApiError, redis.RedisError, OSError) as exc:
            log.info("could not refresh the owner's Home: %s", exc)

    @trigger_bound
    def followup(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond,
                 context: BoltContext) -> None:  # fmt: skip
        """Done / Partly / Not yet on the follow-up DM: the form for one line on what changed."""
        ws, user = workspace_of(body, context), body["user"]["id"]
        status = next((s for s, aid in FOLLOWUP_ACTIONS.items() if aid == action.get("action_id")), "")
        try:
            a = services.sessions.action(ws, str(action.get("value") or ""))
        except redis.RedisError:
            respond(replace_original=False, text=STORAGE_DOWN)
            return
        if a is None or a.owner != user or status not in ANSWERS:
            respond(replace_original=False, text="Sorry, that action is no longer available.")
            return
        try:
            client.views_open(trigger_id=body["trigger_id"], view=followup_form(a, status))
        except SlackApiError as exc:
            log.warning("could not open the follow-up form: %s", exc.response.get("error"))

    def on_followup(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
        """The owner's answer, saved in the ack so a storage failure shows in the form with the words kept."""
        meta = _meta(view)
        change = str(((view["state"]["values"].get("change") or {}).get("value") or {}).get("value") or "").strip()
        if not change:
            ack(response_action="errors", errors={"change": "One line, please: what changed (or what is in the way)."})
            return
        ws, user = workspace_of(body, context), body["user"]["id"]
        masked = mask(change[:CHANGE_MAX])  # one line about their work: it can name a child, as a reflection can
        try:
            a = services.sessions.answer(ws, str(meta.get("a") or ""), user, str(meta.get("s") or ""), masked.text)
        except redis.RedisError:
            ack(response_action="errors", errors={"change": ANSWER_FAILED})
            return
        if a is None:
            ack(response_action="errors", errors={"change": "That action is no longer available."})
            return
        ack(response_action="update", view=note_view("How did it go?", ":white_check_mark: Thanks, saved. It counts "
                                                     "towards your team's evidence (numbers only, never your words)." + removed_note(masked)))  # fmt: skip

    app.action(ACTION_ATTEND)(ack=acknowledge, lazy=[attend])
    app.action(ACTION_TICK)(ack=acknowledge, lazy=[tick])
    app.action(ACTION_AGREE)(ack=acknowledge, lazy=[agree])
    app.view(CALLBACK_ACTION)(ack=on_action, lazy=[save_action])
    for action_id in FOLLOWUP_ACTIONS.values():
        app.action(action_id)(ack=acknowledge, lazy=[followup])
    app.view(CALLBACK_FOLLOWUP)(on_followup)


__all__ = ["record_session", "register", "session_id"]
