"""Replies in a weekly post's channel thread, their edits and deletions: reflections, as Slack's thread replies are.

Teams sends a reply in a channel thread as a ``message`` whose ``conversation.id`` is
``<channel id>;messageid=<root message id>``; with the team's ``ChannelMessage.Read.Group`` consent every
reply arrives, without it only those that @mention the bot. An edit is a ``messageUpdate``
(``channelData.eventType`` ``editMessage``) and a deletion a ``messageDelete`` (``softDeleteMessage``),
each naming the message by its ``id`` in the same thread conversation. Everything a reflection is (masking,
the live-concern safety net, newest version wins, deletions for good, retention) is the core's
(``bot.reflections.replies``); here is only how a Teams activity is read, and how its author is told
privately (in their personal chat with the bot: Teams has no message only one person in a channel sees).
"""

from __future__ import annotations

import html
import logging
import re
from datetime import datetime
from typing import Any

from bot.once import Permanent, Transient
from bot.reflections.replies import ThreadReply, file_reply
from bot.reflections.store import message_id
from bot.services import Services
from bot.storage.keys import Workspace
from bot.teams.connector import Connector
from bot.teams.delivery import is_own_post
from bot.teams.references import References

log = logging.getLogger(__name__)
_TAGS = re.compile(r"<[^>]+>")
_BLOCKS = re.compile(r"</?(p|div|br)\b[^>]*>", re.IGNORECASE)  # where Teams' HTML breaks a line
EDITED, DELETED = "editMessage", "softDeleteMessage"

MASKED_NOTE = (
    "To keep reflections anonymous, I removed {what} from your reply before saving it to your record. Your "
    "message in the channel is unchanged, so you may want to edit it. Please keep names and details of children "
    "and families out of Teams."
)


def thread_of(activity: dict[str, Any]) -> tuple[str, str] | None:
    """(channel, root message id) when the activity is in a channel thread, else None."""
    conv = activity.get("conversation") or {}
    channel, _, rest = str(conv.get("id") or "").partition(";messageid=")
    if conv.get("conversationType") != "channel" or not channel or not rest:
        return None
    return channel, rest


def _epoch(raw: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def created_at(activity: dict[str, Any]) -> float | None:
    """When the message was first written: a channel message's id is its creation time in epoch milliseconds
    (an edit carries the same id), else the activity's own time."""
    mid = str(activity.get("id") or "")
    if mid.isdigit() and 10**12 <= int(mid) < 10**14:
        return int(mid) / 1000
    return _epoch(activity.get("timestamp"))


def reply_text(activity: dict[str, Any]) -> str:
    """What the person wrote, as plain text: without the bot's @mention and Teams' HTML."""
    raw = str(activity.get("text") or "")
    bot_id = (activity.get("recipient") or {}).get("id")
    for entity in activity.get("entities") or []:
        if entity.get("type") == "mention" and (entity.get("mentioned") or {}).get("id") == bot_id:
            raw = raw.replace(str(entity.get("text") or ""), " ")
    text = html.unescape(_TAGS.sub("", _BLOCKS.sub("\n", raw)))
    return "\n".join(" ".join(line.split()) for line in text.splitlines()).strip()


class TeamsThreads:
    def __init__(self, services: Services, connector: Connector):
        self.services = services
        self.connector = connector
        self.refs = References(services.store.client)

    def message(self, ws: Workspace, activity: dict[str, Any], service_url: str) -> bool:
        """A reply (new or edited) in a channel thread: True when it was one to a weekly post (filed here)."""
        where = thread_of(activity)
        mid = str(activity.get("id") or "")
        user = str((activity.get("from") or {}).get("id") or "")
        if where is None or not mid or mid == where[1] or not user or user == (activity.get("recipient") or {}).get("id"):
            return False  # not a reply in a thread (a new post starts one), or the bot's own
        channel, root = where
        created = created_at(activity)
        version = _epoch(activity.get("timestamp")) if activity.get("type") == "messageUpdate" else created
        if created is None or version is None:
            return False
        store = self.services.reflections
        reply = ThreadReply(channel, root, mid, user, reply_text(activity), created, version,
                            edit=activity.get("type") == "messageUpdate")  # fmt: skip
        filed = file_reply(store, ws, reply,
                           own_post=is_own_post(store.r, ws, channel, root),
                           safety=bool(self.services.corpus.safety))  # fmt: skip
        if filed is None:
            return False
        log.info("teams: a reply in %s filed (%s)", channel, filed.outcome)
        notes = []
        if filed.live:
            log.info("kept a reply in %s private: it reads as a live concern (%s)", channel, filed.live.cue)
            notes.append(self.safety_note(ws))
        if filed.masked:
            notes.append(MASKED_NOTE.format(what=filed.masked))
        if notes := [n for n in notes if n]:
            self.tell(ws, user, service_url, "\n\n".join(notes))
        return True

    def deleted(self, ws: Workspace, activity: dict[str, Any]) -> None:
        """A reply deleted in Teams by its author: tombstoned and gone from the record (a late copy is refused)."""
        where = thread_of(activity)
        mid = str(activity.get("id") or "")
        if where is None or not mid or mid == where[1]:
            return
        user = str((activity.get("from") or {}).get("id") or "")
        if not user:
            return  # nobody named as deleting it: an author's deletion always names them
        # Only its author's deletion forgets a reflection: a team owner (or anyone Teams lets) deleting someone
        # else's reply in Teams leaves that person's record alone, as an edit by someone else does (the core's rule).
        if self.services.reflections.delete_message(ws, message_id(where[0], mid), by=user) is not None:
            log.info("teams: a reply in %s deleted", where[0])

    def safety_note(self, ws: Workspace) -> str:
        advice = self.services.corpus.safety
        if advice is None:
            return ""
        contact = self.services.concern_contact(ws)
        return f"{advice.reflection_note}\n" + (f"Who to contact here: {contact}" if contact else advice.no_contact)

    def tell(self, ws: Workspace, user: str, service_url: str, note: str) -> None:
        """A note only ``user`` sees: in their personal chat with the bot (plain text, nothing rendered)."""
        mine = self.refs.personal(ws, user)
        try:
            conversation = mine.conversation if mine else self.connector.create_personal(
                service_url, f"28:{self.services.settings.teams_app_id}", user, ws.team_id)  # fmt: skip
            self.connector.send(mine.service_url if mine else service_url, conversation,
                                {"type": "message", "text": note, "textFormat": "plain"})  # fmt: skip
        except (Permanent, Transient) as exc:  # the reflection is stored either way
            log.warning("teams: could not tell %s privately about their reply: %s", user, exc)
