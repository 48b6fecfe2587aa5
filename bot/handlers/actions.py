"""Buttons: on lookup answers (Share, Another, Show, More), on weekly posts (Read more, Reflect),
and on the App Home tab (Reflect, Export my record, Delete my record).

Ack first: with ``process_before_response=True`` Slack gets its answer only when the ack function
returns, so every button is acknowledged by ``acknowledge`` and its work (Web API calls, response_url
posts, Redis deletes) runs in a Bolt lazy listener after that; a slow or rate-limited Slack never delays
the ack. After it, calls give up rather than sleep a long Retry-After (``bot.slack.app.ScrApp``), and each
workspace has a bounded share of the threads that run this work, and listeners that open a form on a click
(``trigger_bound``) have a pool of their own (``bot.slack.tenants``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

import redis
from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.briefings.builder import NoMatch, Spec, assemble
from bot.briefings.builder import swap as swap_key
from bot.briefings.sessions import Action, Session
from bot.delivery import Marker
from bot.handlers.commands import PAUSE_MAX_WEEKS, lookup_message, pause_checks, workspace_or_none
from bot.handlers.sessions import record_session
from bot.learning.quiz import NotSent, QuizStore
from bot.once import Permanent, Transient, Unfinished
from bot.services import Services
from bot.slack import blocks
from bot.slack.context import workspace_of
from bot.slack.delivery import SlackDelivery, marker_metadata, slack_errors
from bot.slack.home import publish_home, send_export, user_in_channel
from bot.slack.quiz_blocks import (
    ACTION_ANSWER,
    ACTION_PAUSE,
    ACTION_RESUME,
    answered_message,
    parse_answer_value,
)
from bot.slack.reflect_blocks import ACTION_EXPORT, ACTION_FORGET, reflection_modal
from bot.slack.session_blocks import session_controls
from bot.slack.tenants import trigger_bound
from bot.storage import keys
from bot.storage.keys import Workspace

log = logging.getLogger(__name__)
BRIEFING_GONE = "Sorry, that briefing is no longer available: run `/scr briefing` again."
RUN_NOT_POSTED = "I couldn't post the briefing here: Slack lost my request. Please press *Run in channel* again."
RUN_UNSURE = ("I'm not sure yet whether the briefing was posted (Slack didn't answer and I couldn't check): "
              "check the channel before running it again.")
RUN_MARKER = "scr_7mb_run"  # the metadata event type on a briefing run's post (its key: the preview's id)
RUN_SEARCH_SLACK_SECONDS = 60  # a lost run's post is looked for from a minute before the click to a minute after now
RUN_ALREADY = "This preview has already been run in the channel (once is enough): `/scr briefing` makes a new one."


def _nav(action: dict[str, Any]) -> tuple[str, int]:
    try:
        data = json.loads(action.get("value") or "{}")
        return str(data.get("q", ""))[:500], max(0, int(data.get("o", 0)))
    except (ValueError, TypeError):
        return "", 0


def _json_object(value: str) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def tell_facilitators(client: WebClient, deleted: list[Action]) -> None:
    """After "forget me": each facilitator learns, by DM, which actions from their briefings were deleted (so the
    team can agree a new owner), never who asked; a failed DM is logged, the deletion stands."""
    by_facilitator: dict[str, list[Action]] = {}
    for a in deleted:
        if a.facilitator:  # a forgotten facilitator (or the person forgotten) is told nothing
            by_facilitator.setdefault(a.facilitator, []).append(a)
    for facilitator, acts in by_facilitator.items():
        listed = "\n".join(f"• {blocks.escape(a.what)} (due {a.due}, <#{a.channel}>)" for a in acts)
        try:
            dm = client.conversations_open(users=facilitator)["channel"]["id"]
            client.chat_postMessage(channel=dm, text="Actions from your team briefings were deleted because their owner "
                                                     "asked me to forget their record. If the work still matters, agree "
                                                     f"a new owner:\n{listed}")  # fmt: skip
        except SlackApiError as exc:
            log.warning("could not tell facilitator %s of deleted actions: %s", facilitator, exc.response.get("error"))


def acknowledge(ack: Ack) -> None:
    """The whole of every button's ack: an empty 200, at once."""
    ack()


def register(app: App, services: Services) -> None:
    def navigate(body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        query, offset = _nav(action)
        respond(replace_original=True, response_type="ephemeral",
                **lookup_message(services, query, offset, ws=workspace_or_none(body)))  # fmt: skip

    for action_id in (blocks.ACTION_ANOTHER, blocks.ACTION_SHOW, blocks.ACTION_MORE):
        app.action(action_id)(ack=acknowledge, lazy=[navigate])

    def read_more(body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        """From a weekly post: more learning on its theme, shown only to the person who asked."""
        respond(replace_original=False, response_type="ephemeral",
                **lookup_message(services, action.get("value") or "", ws=workspace_or_none(body)))  # fmt: skip

    def share(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond) -> None:
        point = services.corpus.point(action.get("value") or "")
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        user = (body.get("user") or {}).get("id", "")
        if point is None or not channel:
            respond(replace_original=False, text="Sorry, that learning point is no longer available.")
            return
        rendered = blocks.point_blocks(services.corpus, point, share_button=False)
        credit = blocks.ContextBlock(elements=[blocks._md(f"Shared by <@{user}> with `/scr`")])
        try:
            client.chat_postMessage(
                channel=channel,
                text=f"Learning point shared by <@{user}>: {blocks.escape(point.title)}",
                blocks=[credit, *rendered],
                unfurl_links=False,
            )
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown_error")
            log.warning("share failed in %s: %s", channel, error)
            hint = (
                "I'm not in this channel yet: invite me with `/invite @scr` and try again."
                if error in ("not_in_channel", "channel_not_found")
                else f"Slack said `{error}`."
            )
            respond(replace_original=False, text=f"I couldn't share that here. {hint}")
            return
        respond(replace_original=False, text=f"Shared “{blocks.escape(point.title)}” in the channel.")

    @trigger_bound
    def reflect(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond,
                context: BoltContext) -> None:  # fmt: skip
        """Open the Reflect modal for a point; from a weekly post (or Home), it can be shared in that thread.

        Slack accepts ``views.open`` for 3 s after the click, so the form opens first, before anything slow
        (Redis, paging ``users.conversations``): private, saying it is checking where it may be shared. Then
        the share option is settled and the form replaced with ``views.update``."""
        user = (body.get("user") or {}).get("id", "")
        value = action.get("value") or ""
        container = body.get("container") or {}
        if value.startswith("{"):  # App Home: the button names a channel's weekly post
            data = _json_object(value)
            point_id = str(data.get("point") or "")
            channel, thread_ts, visible = str(data.get("channel") or ""), str(data.get("thread_ts") or ""), False
        else:  # a button on a message: Slack says where it was clicked, so the person can see it
            point_id = value
            channel = (body.get("channel") or {}).get("id") or container.get("channel_id") or ""
            thread_ts = container.get("message_ts") if not container.get("is_ephemeral") else ""
            visible = True
        point = services.corpus.point(point_id)
        if point is None:
            return
        may_share = bool(channel and thread_ts)
        retention = services.settings.retention_days
        first = reflection_modal(services.corpus, point, channel=channel if visible else None, thread_ts=None,
                                 retention_days=retention, checking=may_share)  # fmt: skip
        try:
            opened = client.views_open(trigger_id=body["trigger_id"], view=first)
        except SlackApiError as exc:
            log.warning("could not open the Reflect modal: %s", exc.response.get("error"))
            if body.get("response_url"):
                respond(replace_original=False, text="Sorry, I couldn't open the reflection form. Please try again.")
            return
        if not may_share:
            return
        # Where it may be shared comes from our own record of the weekly post, never from the button alone.
        record = None
        try:
            record = services.reflections.thread_record(workspace_of(body, context), channel, thread_ts)
        except redis.RedisError:
            record = None  # can still reflect privately; saving reports any storage problem
        if record is not None and not visible:
            visible = user_in_channel(client, user, record["channel"])
        if record is not None and visible:
            point = services.corpus.point(record["point"]) or point
            view = reflection_modal(services.corpus, point, channel=record["channel"], thread_ts=record["ts"],
                                    retention_days=retention)  # fmt: skip
        else:
            view = reflection_modal(services.corpus, point, channel=channel if visible else None, thread_ts=None,
                                    retention_days=retention)  # fmt: skip
        shown = opened.get("view") or {}
        try:
            client.views_update(view_id=shown.get("id"), hash=shown.get("hash"), view=view)
        except SlackApiError as exc:  # the person closed or submitted it meanwhile: it stays private
            log.info("could not settle the Reflect modal's sharing: %s", exc.response.get("error"))

    def quiz_answer(body: dict[str, Any], action: dict[str, Any], respond: Respond, context: BoltContext) -> None:
        """A knowledge check answered: record it once, then show the explanation and the point in its place."""
        ws, user = workspace_of(body, context), body["user"]["id"]
        parsed = parse_answer_value(action.get("value") or "")
        check = services.corpus.check(parsed[0]) if parsed else None
        if parsed is None or check is None or not 0 <= parsed[2] < len(check.options):
            respond(replace_original=False, text="Sorry, that knowledge check is no longer available.")
            return
        _, sent_day, chosen = parsed
        try:  # Slack's own timestamp of the click: a retried or queued request keeps the time it was answered
            answered_at = float(action.get("action_ts") or time.time())
        except ValueError:
            answered_at = time.time()
        try:
            hours = services.workspace_settings.hours(ws)  # "this week" and "this month" are the workspace's
            store = QuizStore(services.store.client, services.settings.retention_days, timezone=hours.timezone)
            week = hours.week(datetime.fromtimestamp(answered_at, UTC))
            card, kept = store.choose(ws, user, check, chosen, sent_day, answered_at, week)
            if card is None:  # answered before: show the first answer, which is the one kept
                respond(replace_original=True, **answered_message(services.corpus, check, kept, card=None, already=True))
                return
        except NotSent:  # no copy of that check was sent to them that day: nothing recorded
            respond(replace_original=False, text="Sorry, that knowledge check is no longer available.")
            return
        except redis.RedisError:
            respond(replace_original=False, text="I can't reach my storage just now, so your answer wasn't saved. "
                                                 "Please press it again in a minute.")  # fmt: skip
            return
        respond(replace_original=True, **answered_message(services.corpus, check, chosen, card=card))

    def export(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        ws, user = workspace_of(body, context), body["user"]["id"]
        try:
            send_export(services, client, ws, user)
        except redis.RedisError:
            dm = client.conversations_open(users=user)["channel"]["id"]
            client.chat_postMessage(channel=dm, text="I can't reach my storage just now, so I couldn't export your "
                                                     "record. Please try again in a minute.")  # fmt: skip

    def forget(body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext) -> None:
        """Delete all of this person's reflections in this workspace (the button asks to confirm first)."""
        ws, user = workspace_of(body, context), body["user"]["id"]
        try:
            removed = services.reflections.delete_user(ws, user)
            answers = services.quiz.forget(ws, user)
            sessions, actions_deleted = services.sessions.forget(ws, user)
        except redis.RedisError:
            message = "I can't reach my storage just now, so nothing was deleted. Please try again in a minute."
        else:
            message = (f"Deleted {removed} reflection{'s' if removed != 1 else ''}"
                       + (f" and {answers} knowledge-check answer{'s' if answers != 1 else ''}" if answers else "")
                       + (f", took you off {sessions} briefing attendance list{'s' if sessions != 1 else ''}" if sessions else "")
                       + (f", deleted {len(actions_deleted)} action{'s' if len(actions_deleted) != 1 else ''} you owned "
                          "(their facilitators are told)" if actions_deleted else "")
                       + ". Your record in this workspace is now empty.")  # fmt: skip
            tell_facilitators(client, actions_deleted)
        if body.get("response_url"):
            respond(replace_original=True, text=message)
        if (body.get("container") or {}).get("type") == "view" or body.get("view", {}).get("type") == "home":
            publish_home(services, client, ws, user)

    def briefing_swap(action: dict[str, Any], respond: Respond) -> None:
        """Replace one key point of a briefing preview with the next of the same theme, in place."""
        data = _json_object(action.get("value") or "")
        spec = Spec.from_value(json.dumps(data.get("b"))) if isinstance(data.get("b"), dict) else None
        try:
            slot = int(data.get("s", -1))
            built = assemble(services.corpus, swap_key(services.corpus, spec, slot)) if spec else None
        except (NoMatch, TypeError, ValueError) as exc:
            respond(replace_original=False, text=exc.message if isinstance(exc, NoMatch) else BRIEFING_GONE)
            return
        if built is None:
            respond(replace_original=False, text=BRIEFING_GONE)
            return
        respond(replace_original=True, response_type="ephemeral", **blocks.briefing_preview(built))

    def _run_claim(ws: Workspace, channel: str, value: str) -> str | None:
        """Claim this preview's run (``SET NX`` on its id): the claim's key, "taken" when another click has it,
        or None when there is nothing to claim by (a preview from before previews had ids) or storage is down
        (the briefing is still run: a meeting is waiting for it; only a double-click then could post twice)."""
        preview = str(_json_object(value).get(blocks.PREVIEW_ID) or "")
        if not preview:
            return None
        key = keys.briefing_run_claim(ws, channel, preview)
        try:
            if services.store.client.set(key, str(time.time()), nx=True, ex=keys.BRIEFING_RUN_CLAIM_SECONDS):
                return key
        except redis.RedisError as exc:
            log.warning("could not claim a briefing run in %s (%s); running it unclaimed", channel, exc)
            return None
        return "taken"

    def _release_run(claim: str | None) -> None:
        if claim:
            try:
                services.store.client.delete(claim)
            except redis.RedisError as exc:
                log.warning("could not release a briefing run's claim (%s); it lapses in 7 days", exc)

    def _find_run(client: WebClient, channel: str, marker: Marker | None, clicked: float) -> str | None:
        """After a lost answer: the run's post's ts if it is in the channel, None if it is certainly not,
        "unsure" if the channel could not be read (or the preview has no id to look for)."""
        if marker is None:
            return "unsure"
        try:
            found = SlackDelivery(client, services.corpus).find_post(
                channel, marker, oldest=datetime.fromtimestamp(clicked - RUN_SEARCH_SLACK_SECONDS, UTC),
                latest=datetime.fromtimestamp(time.time() + RUN_SEARCH_SLACK_SECONDS, UTC))  # fmt: skip
        except (Permanent, Transient, Unfinished) as exc:
            log.warning("could not look for a briefing run's post in %s (%s); its claim is kept", channel, exc)
            return "unsure"
        return found.id if found else None

    def briefing_run(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond,
                     context: BoltContext) -> None:  # fmt: skip
        """Post the previewed briefing in the channel, collapsed to fit a phone, with its discussion
        questions as the first reply in its thread; the preview then says it was posted."""
        spec = Spec.from_value(action.get("value") or "")
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        user = (body.get("user") or {}).get("id", "")
        try:
            built = assemble(services.corpus, spec) if spec else None
        except NoMatch as exc:
            respond(replace_original=False, text=exc.message)
            return
        if built is None or not channel:
            respond(replace_original=False, text=BRIEFING_GONE)
            return
        ws = workspace_of(body, context)
        claim = _run_claim(ws, channel, action.get("value") or "")
        if claim == "taken":
            respond(replace_original=False, text=RUN_ALREADY)
            return
        post = blocks.briefing_post(built, user)
        post["blocks"] += session_controls(built.spec.theme, user)
        preview = str(_json_object(action.get("value") or "").get(blocks.PREVIEW_ID) or "")
        marker = Marker(RUN_MARKER, preview) if preview else None
        if marker:  # how this run's post is recognised if Slack's answer to it is lost
            post["metadata"] = marker_metadata(marker)
        clicked = time.time()
        try:
            with slack_errors():
                ts = str(client.chat_postMessage(channel=channel, unfurl_links=False, **post)["ts"])
        except (Permanent, Transient) as exc:
            if not (isinstance(exc, Transient) and exc.maybe_sent):  # Slack said no: nothing was posted
                _release_run(claim)  # the same preview may be run again
                error = str(exc)
                log.warning("briefing run failed in %s: %s", channel, error)
                hint = ("I'm not in this channel yet: invite me with `/invite @scr` and try again."
                        if error in ("not_in_channel", "channel_not_found") else f"Slack said `{error}`.")  # fmt: skip
                respond(replace_original=False, text=f"I couldn't post the briefing here. {hint}")
                return
            # Slack's answer was lost (5xx, reset, timeout): it may have posted. Look before saying anything.
            log.warning("briefing run in %s: answer lost (%s); looking for the post", channel, exc)
            found = _find_run(client, channel, marker, clicked)
            if found is None or found == "unsure":
                if found is None:
                    _release_run(claim)
                respond(replace_original=False, text=RUN_NOT_POSTED if found is None else RUN_UNSURE)
                return
            ts = found
        questions = "with its questions in the thread"
        try:
            with slack_errors():
                client.chat_postMessage(channel=channel, thread_ts=ts, **blocks.briefing_questions(built))
        except (Permanent, Transient) as exc:  # the briefing is posted (and claimed): its session is recorded all the same
            log.warning("briefing questions not posted in %s: %s", channel, exc)
            questions = f"but I couldn't add its discussion questions to the thread (Slack said `{exc}`)"
        record_session(services, ws, Session(
            channel=channel, ts=ts, theme=built.spec.theme, title=built.title, facilitator=user,
            at=time.time(), points=[*([built.spec.why] if built.spec.why else []), *built.spec.keys]))  # fmt: skip
        respond(replace_original=True, text=f"Posted “{blocks.escape(built.title)}” in the channel, {questions}. "
                                            "People can press *I was there*, and the team can *Agree an action* under "
                                            "it.")  # fmt: skip

    app.action(blocks.ACTION_BRIEFING_SWAP)(ack=acknowledge, lazy=[briefing_swap])
    app.action(blocks.ACTION_BRIEFING_RUN)(ack=acknowledge, lazy=[briefing_run])

    def pause(body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """App Home's pause select (weeks) or resume button: then the Home tab shows the new state."""
        ws, user = workspace_of(body, context), body["user"]["id"]
        chosen = ((action.get("selected_option") or {}).get("value") or "") if action.get("action_id") == ACTION_PAUSE else "0"
        if not chosen.isdigit() or int(chosen) > PAUSE_MAX_WEEKS:
            return
        try:
            pause_checks(services, ws, user, int(chosen))
        except redis.RedisError:
            log.error("could not pause knowledge checks for %s: Redis unavailable", user)
            return
        publish_home(services, client, ws, user)

    app.action(ACTION_PAUSE)(ack=acknowledge, lazy=[pause])
    app.action(ACTION_RESUME)(ack=acknowledge, lazy=[pause])
    app.action(blocks.ACTION_READ_MORE)(ack=acknowledge, lazy=[read_more])
    app.action(blocks.ACTION_SHARE)(ack=acknowledge, lazy=[share])
    app.action(blocks.ACTION_REFLECT)(ack=acknowledge, lazy=[reflect])
    app.action(ACTION_EXPORT)(ack=acknowledge, lazy=[export])
    app.action(ACTION_FORGET)(ack=acknowledge, lazy=[forget])
    app.action(re.compile(rf"^{ACTION_ANSWER}_\d$"))(ack=acknowledge, lazy=[quiz_answer])
