"""Buttons on lookup answers: Share in channel, Another, Show and More."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import blocks
from bot.handlers.commands import lookup_message
from bot.services import Services

log = logging.getLogger(__name__)


def _nav(action: dict[str, Any]) -> tuple[str, int]:
    try:
        data = json.loads(action.get("value") or "{}")
        return str(data.get("q", ""))[:500], max(0, int(data.get("o", 0)))
    except (ValueError, TypeError):
        return "", 0


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
