"""The ``/scr`` slash command."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot import blocks
from bot.services import Services

log = logging.getLogger(__name__)


def lookup_message(services: Services, text: str, offset: int = 0) -> dict[str, Any]:
    """Answer a lookup query as a Slack message payload (ephemeral by default)."""
    answer = services.lookup.answer(text, offset=offset)
    rendered = blocks.answer_blocks(services.corpus, answer)
    return blocks.message(rendered, blocks.fallback_text(answer))


def register(app: App, services: Services) -> None:
    @app.command("/scr")
    def scr(ack: Ack, command: dict[str, Any]) -> None:
        text = command.get("text") or ""
        try:
            msg = lookup_message(services, text)
        except Exception:
            log.exception("lookup failed for %r", text[:200])
            ack(response_type="ephemeral", text="Sorry, I couldn't answer that just now. Please try again in a minute.")
            return
        ack(response_type="ephemeral", **msg)
