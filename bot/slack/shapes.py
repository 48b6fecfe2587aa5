"""The shapes of the Slack payloads the bot reads, checked once at the edge.

Why here and not in the listeners: a signed payload with a field of the wrong type (a numeric
``channel``, a ``message_changed`` whose ``message`` is a string, a ``thread_ts`` object) used to
crash inside Bolt's own request parsing or in a listener, as a 500 and a traceback. Every field the
bot (or Bolt, to route the request) reads is described below; a payload that breaks the description
is refused as a whole before Bolt sees it, so listeners can trust the types they read.

Only the fields the bot reads are described; anything else Slack sends passes unchecked, so Slack
adding fields breaks nothing. A JSON ``null`` counts as an absent field.
"""

from __future__ import annotations

import re
from typing import Any

from bot.jsonshape import BOOL, INT, STR, Matches, Rule
from bot.jsonshape import problem as _check

# The rules are bot.jsonshape's, with one of Slack's own: TS, a Slack timestamp such as "1700000000.000100".
TS = Matches(re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?"), "a Slack timestamp")

MESSAGE: dict[str, Rule] = {
    "type": STR, "subtype": STR, "channel": STR, "user": STR, "text": STR, "bot_id": STR, "team": STR,
    "ts": TS, "thread_ts": TS, "event_ts": TS, "deleted_ts": TS, "edited": {"user": STR, "ts": TS},
}  # fmt: skip
MESSAGE["message"] = MESSAGE  # message_changed: the new version
MESSAGE["previous_message"] = MESSAGE  # message_changed / message_deleted: the old one

ANY_EVENT: dict[str, Rule] = {  # what Bolt reads to route any event (some events carry objects here)
    "type": STR, "subtype": STR, "channel": (STR, {"id": STR}), "user": (STR, {"id": STR}),
    "channel_id": STR, "user_id": STR, "event_ts": TS,
}  # fmt: skip
EVENTS: dict[str, dict[str, Rule]] = {
    "message": MESSAGE,
    "app_home_opened": {"type": STR, "user": STR, "channel": STR, "tab": STR, "event_ts": TS},
}
ENVELOPE: dict[str, Rule] = {
    "type": STR, "team_id": STR, "enterprise_id": STR, "api_app_id": STR, "event_id": STR, "event_time": INT,
    "is_enterprise_install": BOOL, "authorizations": [{"team_id": STR, "user_id": STR, "enterprise_id": STR}],
}  # fmt: skip

VIEW: dict[str, Rule] = {
    "id": STR, "team_id": STR, "type": STR, "callback_id": STR, "private_metadata": STR, "hash": STR,
    "state": {"values": {"*": {"*": {"type": STR, "value": STR, "selected_option": {"value": STR}}}}},
}  # fmt: skip
INTERACTION: dict[str, Rule] = {
    "type": STR, "trigger_id": STR, "response_url": STR, "api_app_id": STR, "is_enterprise_install": BOOL,
    "user": {"id": STR, "team_id": STR}, "team": {"id": STR}, "enterprise": {"id": STR}, "channel": {"id": STR},
    "container": {"type": STR, "channel_id": STR, "message_ts": TS, "view_id": STR, "is_ephemeral": BOOL},
    "message": {"ts": TS, "thread_ts": TS}, "view": VIEW,
    "actions": [{"action_id": STR, "block_id": STR, "value": STR, "action_ts": TS, "type": STR}],
}  # fmt: skip

COMMAND: dict[str, Rule] = {  # a slash command (over HTTP a form, so always strings; in Socket Mode, JSON)
    key: STR for key in ("team_id", "enterprise_id", "channel_id", "user_id", "command", "text", "response_url",
                         "trigger_id", "api_app_id")
}  # fmt: skip


def problem(payload: dict[str, Any]) -> str | None:
    """What is wrong with a parsed Events API body or interaction payload, or None if the bot can read it."""
    if payload.get("type") == "event_callback":
        found = _check(payload, ENVELOPE, "")
        event = payload.get("event")
        if found or not isinstance(event, dict):
            return found or "event_callback without an event object"
        return _check(event, ANY_EVENT, "event") or _check(event, EVENTS.get(str(event.get("type")), {}), "event")
    if payload.get("type") in ("block_actions", "view_submission", "view_closed", "shortcut", "message_action",
                               "block_suggestion"):  # fmt: skip
        return _check(payload, INTERACTION, "")
    if "command" in payload:
        return _check(payload, COMMAND, "")
    return _check(payload, {"type": STR}, "")
