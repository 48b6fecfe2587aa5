"""Buttons: on lookup answers (Share, Another, Show, More), on weekly posts (Read more, Reflect),
and on the App Home tab (Reflect, Export my record, Delete my record)."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import blocks
from bot.handlers.commands import lookup_message
from bot.home import publish_home, send_export, user_in_channel
from bot.reflect_blocks import ACTION_EXPORT, ACTION_FORGET, reflection_modal
from bot.services import Services
from bot.slack_context import workspace_of

log = logging.getLogger(__name__)


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


def register(app: App, services: Services) -> None:
    def navigate(ack: Ack, action: dict[str, Any], respond: Respond) -> None:
        ack()
        query, offset = _nav(action)
        respond(replace_original=True, response_type="ephemeral", **lookup_message(services, query, offset))

    for action_id in (blocks.ACTION_ANOTHER, blocks.ACTION_SHOW, blocks.ACTION_MORE):
        app.action(action_id)(navigate)

    @app.action(blocks.ACTION_READ_MORE)
    def read_more(ack: Ack, action: dict[str, Any], respond: Respond) -> None:
        """From a weekly post: more learning on its theme, shown only to the person who asked."""
        ack()
        respond(replace_original=False, response_type="ephemeral", **lookup_message(services, action.get("value") or ""))

    @app.action(blocks.ACTION_SHARE)
    def share(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
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

    @app.action(blocks.ACTION_REFLECT)
    def reflect(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond) -> None:
        """Open the Reflect modal for a point; from a weekly post (or Home), it can be shared in that thread."""
        ack()
        ws = workspace_of(body)
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
        # Where it may be shared comes from our own record of the weekly post, never from the button alone.
        record = None
        if channel and thread_ts:
            try:
                record = services.reflections.thread_record(ws, channel, thread_ts)
            except redis.RedisError:
                record = None  # can still reflect privately; saving reports any storage problem
        if record is not None and not visible:
            visible = user_in_channel(client, user, record["channel"])
        if record is not None and visible:
            point_id, channel, thread_ts = record["point"], record["channel"], record["ts"]
        else:
            thread_ts = None
            channel = channel if visible else None
        point = services.corpus.point(point_id)
        if point is None:
            return
        view = reflection_modal(services.corpus, point, channel=channel, thread_ts=thread_ts,
                                retention_days=services.settings.retention_days)  # fmt: skip
        try:
            client.views_open(trigger_id=body["trigger_id"], view=view)
        except SlackApiError as exc:
            log.warning("could not open the Reflect modal: %s", exc.response.get("error"))
            if body.get("response_url"):
                respond(replace_original=False, text="Sorry, I couldn't open the reflection form. Please try again.")

    @app.action(ACTION_EXPORT)
    def export(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        ws, user = workspace_of(body), body["user"]["id"]
        try:
            send_export(services, client, ws, user)
        except redis.RedisError:
            dm = client.conversations_open(users=user)["channel"]["id"]
            client.chat_postMessage(channel=dm, text="I can't reach my storage just now, so I couldn't export your "
                                                     "record. Please try again in a minute.")  # fmt: skip

    @app.action(ACTION_FORGET)
    def forget(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        """Delete all of this person's reflections in this workspace (the button asks to confirm first)."""
        ack()
        ws, user = workspace_of(body), body["user"]["id"]
        try:
            removed = services.reflections.delete_user(ws, user)
        except redis.RedisError:
            message = "I can't reach my storage just now, so nothing was deleted. Please try again in a minute."
        else:
            message = f"Deleted {removed} reflection{'s' if removed != 1 else ''}. Your record in this workspace is now empty."
        if body.get("response_url"):
            respond(replace_original=True, text=message)
        if (body.get("container") or {}).get("type") == "view" or body.get("view", {}).get("type") == "home":
            publish_home(services, client, ws, user)
