"""Requests let in without a token because the installation store is down (many-workspace mode).

``bot.slack.oauth.CachedAuthorize`` authorizes a workspace it has not kept in memory without a token when Redis
cannot be read, so that lookups answer with Redis down in every mode, as the README promises. This gate, the
first of our middleware (after Bolt's authorization), lets through only the slash commands answered from the
content alone, in the ack; everything else needs the workspace's token or its stored data and gets one clear
line instead: a command in its ack, a click through its ``response_url`` after the ack, and a request with
neither (an event, a form's submission, an App Home click) a 503, which Slack retries or shows as failed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse

from bot.handlers.commands import wants_handout
from bot.search.query import COMMANDS
from bot.services import Services
from bot.slack.oauth import store_down

log = logging.getLogger(__name__)

NEEDS_STORAGE = ("I can't reach my storage just now, so I can't do that in this workspace yet. Please try again in a "
                 "minute; lookups such as `/scr neglect` still work.")  # fmt: skip
# The /scr words answered from the content alone, in the ack. Every other command word (a new one too, being in
# ``COMMANDS``) needs the token or Redis and is refused while the store is down; what is not a command word is a
# lookup (a search, a theme, a point, the help), answered from the content.
CONTENT_COMMANDS = frozenset({"help", "themes", "sectors", "random", "briefing"})
NEEDS_WORKSPACE = frozenset(COMMANDS.values()) - CONTENT_COMMANDS | {"forget"}


def content_only(services: Services, text: str) -> bool:
    """``/scr <text>`` is a lookup answered from the content alone (a briefing's handout is sent by DM, with
    the token, so it is not)."""
    parsed = services.lookup.parse(text)
    return parsed.kind not in NEEDS_WORKSPACE and not wants_handout(parsed)


def gate(app: App, services: Services) -> Callable[..., Any]:
    """The middleware: ``next()`` for every request authorized as usual and for content-only commands."""

    def store_down_gate(body: dict[str, Any], context: BoltContext, next: Callable[[], None]) -> BoltResponse | None:  # noqa: A002 - Bolt's name
        if not store_down(context):
            next()
            return None
        if body.get("command"):
            if content_only(services, body.get("text") or ""):
                next()
                return None
            log.warning("storage unavailable: refused /scr %s for workspace %s (not authorized in this process)",
                        (body.get("text") or "").split(" ", 1)[0][:20], context.team_id or context.enterprise_id)  # fmt: skip
            return BoltResponse(status=200, body={"response_type": "ephemeral", "text": NEEDS_STORAGE})
        kind = body.get("type") or "event"
        log.warning("storage unavailable: refused a %s for workspace %s (not authorized in this process)",
                    kind, context.team_id or context.enterprise_id)  # fmt: skip
        if body.get("response_url") and context.respond is not None:
            tell = context.respond
            _after_ack(app, lambda: tell(text=NEEDS_STORAGE, response_type="ephemeral", replace_original=False))
            return BoltResponse(status=200, body="")
        return BoltResponse(status=503, body="")

    return store_down_gate


def _after_ack(app: App, note: Callable[[], Any]) -> None:
    """Post ``note`` to the response_url on the lanes' notice thread (never before the ack is sent)."""

    def quietly() -> None:
        try:
            note()
        except Exception as exc:  # the person is not told; one line for the operator
            log.warning("could not post the storage note: %s", exc)

    lanes = getattr(app, "lanes", None)
    if lanes is not None:
        lanes.notices.submit(quietly)
    else:
        threading.Thread(target=quietly, name="scr-store-down", daemon=True).start()
