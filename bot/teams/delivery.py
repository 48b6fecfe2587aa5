"""Teams' side of the delivery port (``bot.delivery``): views as Adaptive Cards, sent with the Bot Connector.

Finding a post whose answer was lost. The Bot Connector has no history a bot can read, so:

1. When the Connector answers, the activity id is recorded under the marker's key (``keys.teams_posts``).
   An answer that arrived but whose claim was not finished (the process died) is found here.
2. Otherwise Graph is asked, read-only, with the app's token: the channel's messages changed since the
   attempt's window opened (``/teams/{group}/channels/{channel}/messages/delta`` with a
   ``lastModifiedDateTime`` filter), at most ``GRAPH_PAGES`` pages; a card whose hidden marker block
   carries the key is the post. This needs the team's resource-specific consent ``ChannelMessage.Read.Group``
   (the README says how to grant it).
3. Anything short of a full read (Graph refuses: no consent; more pages than we read; Graph down) is
   ``Transient(maybe_sent=True)``: never "not there". The claim stays open, the status shows the error, and
   the next run looks again, so a post is never made twice silently: it waits, reported, for a person.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import redis
from microsoft_teams.cards import Image

from bot.content.corpus import Corpus
from bot.delivery import FileToSend, Found, Marker
from bot.once import Permanent, Transient
from bot.storage import keys
from bot.storage.keys import Workspace
from bot.teams import cards
from bot.teams.connector import Connector
from bot.teams.downloads import Downloads
from bot.teams.references import Reference, References

GRAPH_PAGES = 10  # pages one search of a window reads at most, whatever the channel's traffic
GRAPH_PAGE = 50  # messages per page (Graph's most for channel messages)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _when(raw: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None


def is_own_post(client: redis.Redis, ws: Workspace, channel: str, post: str) -> bool:
    """Whether ``post`` is one the Bot Connector told us we made in ``channel`` (recorded by ``post`` below): a
    reply to it is held, not dropped, while the post's claim is still open."""
    return post in client.hvals(keys.teams_posts(ws, channel))


class TeamsDelivery:
    """The port for one Teams tenant: its conversation references, the app's Connector."""

    def __init__(self, ws: Workspace, connector: Connector, client: redis.Redis, corpus: Corpus, app_id: str,
                 public_url: str | None = None):  # fmt: skip
        self.ws = ws
        self.downloads = Downloads(client, public_url)
        self.connector = connector
        self.r = client
        self.refs = References(client)
        self.corpus = corpus
        self.app_id = app_id

    def _ref(self, conversation: str) -> Reference:
        ref = self.refs.get(self.ws, conversation)
        if ref is None:
            raise Permanent("channel_not_found")  # the bot was never added there, or was removed
        if ref.scope == "team" and self.refs.team_paused(self.ws, ref.team or ""):
            raise Permanent("team_deleted")  # deleted in Teams, restorable: nothing posted there until it is restored
        return ref

    def _any_ref(self) -> Reference:
        refs = self.refs.all(self.ws)
        if not refs:
            raise Permanent("not_installed")
        return next((r for r in refs if r.scope == "personal"), refs[0])

    # ----- the port ----------------------------------------------------------------------------
    def post(self, channel: str, view: Any, *, marker: Marker | None = None, thread: str | None = None) -> str:
        ref = self._ref(channel)
        act = cards.render(self.corpus, view, marker)
        if thread:
            posted = self.connector.reply(ref.service_url, f"{channel};messageid={thread}", thread, act)
        else:
            posted = self.connector.send(ref.service_url, channel, act)
        if marker is not None and posted:
            self._record(channel, marker, posted)
        return posted

    def _record(self, conversation: str, marker: Marker, posted: str) -> None:
        with self.r.pipeline() as pipe:
            pipe.hset(keys.teams_posts(self.ws, conversation), marker.key, posted)
            pipe.expire(keys.teams_posts(self.ws, conversation), keys.ATTEMPT_DAYS * keys.DAY)
            pipe.execute()

    def _recorded(self, channel: str, marker: Marker) -> Found | None:
        for key in (marker.key, *marker.also):
            posted = self.r.hget(keys.teams_posts(self.ws, channel), key)
            if posted:
                return Found(str(posted), dict(marker.payload))
        return None

    def _graph_pages(self, first: str, what: str) -> Any:
        """Graph's pages from ``first``, at most ``GRAPH_PAGES``; past that, ``Transient`` (never "not there")."""
        url: str | None = first
        for _ in range(GRAPH_PAGES):
            try:
                page = self.connector.graph_get(url or "")
            except Permanent as exc:  # no consent (403), no such team: we cannot look, so we cannot say "absent"
                raise Transient(f"teams_history_unreadable ({exc}): grant ChannelMessage.Read.Group", maybe_sent=True) from None
            yield from page.get("value") or []
            url = page.get("@odata.nextLink")
            if not url:
                return
            if not url.startswith(self.connector.graph_url + "/"):
                raise Transient("graph_next_link_elsewhere", maybe_sent=True)  # our token goes to Graph only
        raise Transient(f"{what}_window_not_fully_read", maybe_sent=True)

    def _match(self, msg: dict[str, Any], marker: Marker, latest: datetime | None) -> Found | None:
        created = _when(msg.get("createdDateTime"))
        if latest is not None and created is not None and created > latest:
            return None
        for att in msg.get("attachments") or []:
            carried = cards.marker_in(att.get("content"))
            if carried and marker.matches(carried.get("kind"), carried.get("key")):
                return Found(str(msg.get("id")), dict(carried.get("payload") or {}))
        return None

    def find_post(self, channel: str, marker: Marker, *, oldest: datetime, latest: datetime,
                  progress: Mapping[str, Any] | None = None) -> Found | None:  # fmt: skip
        if found := self._recorded(channel, marker):
            return found
        ref = self._ref(channel)
        if not ref.aad_group:
            raise Transient("teams_history_unreadable (no team group id)", maybe_sent=True)
        query = urllib.parse.urlencode({"$filter": f"lastModifiedDateTime gt {_iso(oldest)}", "$top": GRAPH_PAGE})
        path = (f"/teams/{urllib.parse.quote(ref.aad_group, safe='')}/channels/{urllib.parse.quote(channel, safe='')}"
                f"/messages/delta?{query}")  # fmt: skip
        for msg in self._graph_pages(path, "history"):
            if found := self._match(msg, marker, latest):
                return found
        return None

    def find_reply(self, channel: str, thread: str, marker: Marker, *, oldest: datetime | None = None,
                   latest: datetime | None = None) -> Found | None:  # fmt: skip
        if found := self._recorded(channel, marker):
            return found
        ref = self._ref(channel)
        if not ref.aad_group:
            raise Transient("teams_history_unreadable (no team group id)", maybe_sent=True)
        path = (f"/teams/{urllib.parse.quote(ref.aad_group, safe='')}/channels/{urllib.parse.quote(channel, safe='')}"
                f"/messages/{urllib.parse.quote(thread, safe='')}/replies?$top={GRAPH_PAGE}")  # fmt: skip
        for msg in self._graph_pages(path, "thread"):
            created = _when(msg.get("createdDateTime"))
            if oldest is not None and created is not None and created < oldest:
                continue
            if found := self._match(msg, marker, latest):
                return found
        return None

    def _personal(self, user: str) -> tuple[Reference, str]:
        """The person's personal chat with the bot: the reference kept when they wrote to it (or installed it
        personally), else the 1:1 conversation the Connector opens (the same one each time; opening sends nothing)."""
        mine = self.refs.personal(self.ws, user)
        if mine is not None:
            return mine, mine.conversation
        ref = self._any_ref()
        conversation = self.connector.create_personal(ref.service_url, f"28:{self.app_id}", user, self.ws.team_id)
        return ref, conversation

    def dm(self, user: str, view: Any, *, marker: Marker | None = None) -> str:
        """``view`` in the person's personal chat, carrying ``marker``; the Connector's id for it is recorded
        under the marker's key, which is where ``find_dm`` looks."""
        ref, conversation = self._personal(user)
        posted = self.connector.send(ref.service_url, conversation, cards.render(self.corpus, view, marker))
        if marker is not None and posted:
            self._record(conversation, marker, posted)
        return posted

    def find_dm(self, user: str, marker: Marker, *, oldest: datetime, latest: datetime) -> Found | None:
        """A DM whose answer arrived is found by its recorded id. One whose answer was lost is not: the Bot
        Connector has no history, and reading a personal chat through Graph takes a tenant-wide permission
        (Chat.Read.All) a safeguarding tenant should not have to grant. So it counts as not sent; for a knowledge
        check that means the same check may come again on a later day (the day's claim still allows one a day)."""
        _, conversation = self._personal(user)
        return self._recorded(conversation, marker)

    def send_file(self, user: str, file: FileToSend) -> None:
        """The digest: an Adaptive Card with its text and the chart as an image. The image is a link to the bot's
        own web with an unguessable token that expires (``bot.teams.downloads``), not inline: a base64 chart
        would take most of the ~28 KB a Teams message may carry. No public URL set: the text alone, and says so."""
        ref, conversation = self._personal(user)
        body = [cards.text(_teams_markdown(line)) for line in file.comment.split("\n\n")]
        url = self.downloads.chart_link(self.ws, file.content) if file.content else None
        if url:
            body.append(Image(url=url, alt_text=file.title, size="Stretch"))
        else:
            body.append(cards.text("(The chart could not be attached: TEAMS_PUBLIC_URL is not set.)", is_subtle=True))
        self.connector.send(ref.service_url, conversation, cards.activity(body, f"{file.title}. {_plain_text(file.comment)}"))

    def is_member(self, user: str, channel: str) -> bool:
        """A standard channel's members are its team's: asked of the team's roster."""
        ref = self._ref(channel)
        return self.connector.member(ref.service_url, ref.team or channel, user)

    def timezone(self, user: str) -> str | None:
        """Teams has no API for a person's zone, only what their client reports on the activities it sends
        (``localTimezone``): the one kept with their personal chat's reference, or None (the tenant's zone)."""
        mine = self.refs.personal(self.ws, user)
        return mine.timezone if mine is not None else None


_CHANNEL_LINK = re.compile(r"<#[^>|]+(?:\|([^>]*))?>")
_BOLD = re.compile(r"(?<![*\w])\*([^*\n]+)\*(?![*\w])")


def _teams_markdown(mrkdwn: str) -> str:
    """The digest's text (the core writes Slack's mrkdwn; it holds counts and content labels, nothing anyone
    typed) as a TextBlock reads it: bold doubled, a channel link named in words."""
    return _BOLD.sub(r"**\1**", _CHANNEL_LINK.sub(lambda m: m.group(1) or "your team's channel", mrkdwn))


def _plain_text(mrkdwn: str) -> str:
    return " ".join(_teams_markdown(mrkdwn).replace("**", "").replace("`", "").split())


class TeamsDeliveries:
    """The port for any Teams tenant that has added the bot (``Permanent("not_installed")`` otherwise)."""

    def __init__(self, connector: Connector, client: redis.Redis, corpus: Corpus, app_id: str,
                 public_url: str | None = None):  # fmt: skip
        self.connector = connector
        self.r = client
        self.corpus = corpus
        self.app_id = app_id
        self.public_url = public_url

    def __call__(self, ws: Workspace) -> TeamsDelivery:
        if ws.platform != "teams" or not self.r.exists(keys.teams_conversations(ws)):
            raise Permanent("not_installed")
        return TeamsDelivery(ws, self.connector, self.r, self.corpus, self.app_id, self.public_url)
