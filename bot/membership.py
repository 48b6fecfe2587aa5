"""Is this person in that channel? Asked of Slack before the bot posts anything on their behalf.

Why: a Reflect form shared "in the thread" names the channel in data the bot put in a button or a
modal (App Home's Reflect buttons, the form's private_metadata). The bot checks that the person is a
member of the channel, as Slack says now, before posting their words there, so a crafted or stale
value can never put a reflection in front of a team the person is not part of.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)
PAGE = 200  # users.conversations pages; Slack recommends no more than 200


def is_member(client: WebClient, channel: str, user: str) -> bool | None:
    """True or False as Slack says (users.conversations, every page); None when Slack would not say."""
    cursor = None
    try:
        while True:
            resp = client.users_conversations(user=user, types="public_channel,private_channel",
                                              exclude_archived=True, limit=PAGE, cursor=cursor)  # fmt: skip
            if any(c.get("id") == channel for c in resp.get("channels") or []):
                return True
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return False
    except SlackApiError as exc:
        log.warning("could not check whether %s is in %s: %s", user, channel, exc.response.get("error"))
        return None
    except OSError as exc:  # Slack unreachable or too slow
        log.warning("could not check whether %s is in %s: %s", user, channel, type(exc).__name__)
        return None
