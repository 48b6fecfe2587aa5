"""Links the bot sends in Teams to things it serves itself: a person's CPD export, a digest's chart image.

Teams has no file upload for a bot in a personal chat short of the file consent card (and OneDrive behind
it), and an Adaptive Card's image must be a URL. So each is a link to the bot's own web
(``TEAMS_PUBLIC_URL``/teams/<kind>/<token>) whose token is 32 random bytes, kept in Redis with its expiry
(``keys.teams_download``) and resolving to one thing only: an export to one person of one tenant (the
Markdown is built when the link is opened, from that person's record in that tenant, so a reflection
deleted since is never served), a chart to the PNG stored for it (``keys.teams_chart``, purged with the
tenant). Redis never holds a token: every key and list names a link by the SHA-256 of its token (``link_id``), and
a presented token is hashed to look it up, so a Redis dump or backup gives no one a working link (the token is
in the message the person was sent, and nowhere else). Each link is also listed under its tenant (``keys.teams_downloads``): a purge of the tenant deletes
its links with the rest. A link works until it expires, not once: Teams and browsers fetch a link more than once (previews,
a retried download), and a once-only link would be used up before the person saw it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass

import redis

from bot.storage import keys
from bot.storage.keys import Workspace

EXPORT, CHART = "export", "chart"
EXPORT_SECONDS = 24 * 3600  # a CPD export link: a day to open it
CHART_SECONDS = 35 * keys.DAY  # a digest's chart: until the next month's digest has replaced it
TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


def link_id(token: str) -> str:
    """What Redis knows a link by: the SHA-256 of its token (hex). 32 random bytes need no salt or slow hash:
    nobody can guess a token from its hash, and a hash is no use as a link."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Link:
    kind: str
    tenant: str
    user: str | None
    token: str


class Downloads:
    def __init__(self, client: redis.Redis, public_url: str | None):
        self.r = client
        self.public_url = public_url

    def _url(self, kind: str, token: str) -> str:
        return f"{self.public_url}/teams/{kind}/{token}"

    def export_link(self, ws: Workspace, user: str) -> str | None:
        """A link to ``user``'s own CPD record in ``ws`` for a day; None when no public URL is set."""
        if not self.public_url:
            return None
        token = secrets.token_urlsafe(32)
        self._listed(ws, token)
        self.r.set(keys.teams_download(link_id(token)), json.dumps({"kind": EXPORT, "tenant": ws.team_id, "user": user}),
                   ex=EXPORT_SECONDS)  # fmt: skip
        return self._url(EXPORT, token)

    def _listed(self, ws: Workspace, token: str) -> None:
        """The token in the tenant's list before it exists, so a purge of the tenant finds and deletes it (the
        token's key is global: its URL names no tenant). The list lives as long as its longest-lived link."""
        with self.r.pipeline() as pipe:
            pipe.sadd(keys.teams_downloads(ws), link_id(token))
            pipe.expire(keys.teams_downloads(ws), CHART_SECONDS)
            pipe.execute()

    def chart_link(self, ws: Workspace, png: bytes) -> str | None:
        """A link to ``png`` for ``CHART_SECONDS``; None when no public URL is set."""
        if not self.public_url:
            return None
        token = secrets.token_urlsafe(32)
        self._listed(ws, token)
        with self.r.pipeline() as pipe:  # the PNG under the tenant (purged with it), the token global
            pipe.set(keys.teams_chart(ws, link_id(token)), base64.b64encode(png).decode(), ex=CHART_SECONDS)  # text: the client decodes
            pipe.set(keys.teams_download(link_id(token)), json.dumps({"kind": CHART, "tenant": ws.team_id, "user": None}),
                     ex=CHART_SECONDS)  # fmt: skip
            pipe.execute()
        return self._url(CHART, token)

    def resolve(self, kind: str, token: str) -> Link | None:
        """What a link's token names, if it is one of ``kind``'s and has not expired."""
        if kind not in (EXPORT, CHART) or not TOKEN.match(token):
            return None  # not one of ours: no Redis read for it
        raw = self.r.get(keys.teams_download(link_id(token)))
        if not raw:
            return None
        found = json.loads(raw)
        if found.get("kind") != kind or not found.get("tenant"):
            return None
        return Link(kind, str(found["tenant"]), found.get("user"), token)

    def chart(self, ws: Workspace, token: str) -> bytes | None:
        raw = self.r.get(keys.teams_chart(ws, link_id(token)))
        return base64.b64decode(raw) if raw else None
