"""The shapes of the Teams activity fields the bot reads, checked once before any listener reads them.

Why: an activity is JSON its sender shaped, and a signed one with a field of the wrong type (a
``channelData.tenant`` that is a string, a ``conversation`` that is a list) used to crash a listener: a 500
and a traceback for an invoke, a traceback in the log for anything else. A listener may trust the types
described here; an activity that breaks the description is nobody's (``problem`` says why, in one line).

Only the envelope the bot reads is described; what an invoke carries in ``value`` is each listener's to
check (a knowledge check's button answers a bad ``value`` with its calm "not available" card). Anything else
Teams sends passes unchecked, so Teams adding fields breaks nothing. A JSON ``null`` counts as absent.
"""

from __future__ import annotations

from typing import Any

from bot.jsonshape import BOOL, STR, Rule
from bot.jsonshape import problem as _check

_ACCOUNT = {"id": STR, "name": STR, "aadObjectId": STR}
ENVELOPE: dict[str, Rule] = {
    "type": STR, "name": STR, "action": STR, "id": STR, "text": STR, "timestamp": STR, "localTimezone": STR,
    "serviceUrl": STR, "replyToId": STR,
    "from": _ACCOUNT, "recipient": _ACCOUNT,
    "conversation": {"id": STR, "tenantId": STR, "conversationType": STR, "isGroup": BOOL},
    "channelData": {"tenant": {"id": STR}, "team": {"id": STR, "aadGroupId": STR, "name": STR},
                    "channel": {"id": STR, "name": STR}, "eventType": STR},
    "entities": [{"type": STR, "text": STR, "mentioned": _ACCOUNT}],
    "membersAdded": [_ACCOUNT], "membersRemoved": [_ACCOUNT],
}  # fmt: skip


def mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one: for what an invoke's ``value`` carries."""
    return value if isinstance(value, dict) else {}


def problem(activity: dict[str, Any]) -> str | None:
    """What is wrong with an activity's envelope, or None if the bot can read it. A ``null`` item of one of its
    lists (``entities``, ``membersAdded``, ``membersRemoved``) is taken out first, and the rest read: Teams never
    sends one, and dropping the whole activity for it would lose the bot's removal named beside it (a removal lost
    keeps a tenant's data the bot promised to purge)."""
    for name, rule in ENVELOPE.items():
        if isinstance(rule, list) and isinstance(items := activity.get(name), list) and None in items:
            activity[name] = [item for item in items if item is not None]
    return _check(activity, ENVELOPE, "")
