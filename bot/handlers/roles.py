"""Who may change a channel's weekly post, the workspace's digest readers and the bot's admin list.

Without this anyone in a channel could take its weekly post over (re-subscribing made them its
"lead"), add themselves as digest reader and remove the real one, or switch it off. The rights are:

* whoever set the channel's weekly post up (its lead): that channel's schedule, and stopping it. Anyone
  may become the lead of a channel nobody has set up (that is how teams serve themselves), so being a
  lead grants nothing beyond that channel: not the workspace's digest readers, settings or admins;
* the workspace's admins and owners, as Slack reports them (``users.info``: ``is_admin``,
  ``is_owner``, ``is_primary_owner``), and only if they are members *of this workspace*: Slack answers
  about people of another organisation in a Slack Connect channel too, and their flags are about their
  own workspace (``member_of``): everything in their workspace;
* the bot's admins: the workspace's own list (``/scr admins add``, members of the workspace only) and,
  on a single-workspace install only, ``SCR_ADMINS`` (``Settings.env_admins``): everything in that
  workspace.

Asking Slack is a Web API call, so the checks run after a listener's ack (in its lazy part). The
cheap answers come first (the lead, the operator's list) and Slack's answer is cached briefly per
workspace and person, so a run of commands costs one ``users.info``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.storage.keys import Workspace
from bot.storage.roles import AdminList

log = logging.getLogger(__name__)

LEAD, WORKSPACE_ADMIN, BOT_ADMIN = "lead", "workspace admin", "bot admin"
ADMIN_CACHE_SECONDS = 60.0  # long enough for a run of commands; short enough that a demotion soon counts


def member_of(ws: Workspace, info: dict[str, Any]) -> bool:
    """Is the person ``users.info`` describes one of ``ws``'s own members (not a guest from elsewhere)?

    Slack answers ``users.info`` about anyone the bot can see, including people of another organisation in
    a Slack Connect channel, and their ``is_admin`` is about *their* workspace. So a person counts here
    only if their home team is this workspace, or, on Enterprise Grid, their enterprise is this
    workspace's and either the workspace is the org itself (an org-wide install naming no team) or the
    workspace is one of the org's teams they belong to. Someone Slack marks ``is_stranger`` never does."""
    if info.get("is_stranger"):
        return False
    if info.get("team_id") and info.get("team_id") == ws.team_id:
        return True
    grid = info.get("enterprise_user") or {}
    if not ws.enterprise_id or grid.get("enterprise_id") != ws.enterprise_id:
        return False
    return ws.team_id == ws.enterprise_id or ws.team_id in (grid.get("teams") or [])


class Roles:
    """Answers "in what capacity may this person change this?" (None: they may not)."""

    def __init__(self, admins: AdminList, env_admins: tuple[str, ...] = (), cache_seconds: float = ADMIN_CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self.admins = admins
        self.env_admins = frozenset(env_admins)
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._cache: dict[tuple[str, str, str], tuple[float, tuple[bool, bool]]] = {}
        self._lock = threading.Lock()

    def for_channel(self, ws: Workspace, user: str, lead: str | None, client: WebClient) -> str | None:
        """May ``user`` change a channel whose weekly post ``lead`` set up (None: nobody set it up)?
        Only that channel's own things (its schedule, stopping it): never the workspace's digest readers."""
        if lead and user == lead:
            return LEAD
        return self.admin(ws, user, client)

    def admin(self, ws: Workspace, user: str, client: WebClient) -> str | None:
        """May ``user`` change anything in the workspace (its digest readers, settings and admin list)?
        The operator's list first; someone on the workspace's own list still has to be one of its members
        (an entry made before that was checked, or for a person who has since left, grants nothing)."""
        if user in self.env_admins:
            return BOT_ADMIN
        listed = self.admins.contains(ws, user)
        member, slack_admin = self.standing(ws, user, client)
        if not member:
            return None
        if listed:
            return BOT_ADMIN
        return WORKSPACE_ADMIN if slack_admin else None

    def workspace_admin(self, ws: Workspace, user: str, client: WebClient) -> bool:
        """Slack's word that ``user`` is an admin or owner *of this workspace* (``users.info``)."""
        member, slack_admin = self.standing(ws, user, client)
        return member and slack_admin

    def member(self, ws: Workspace, user: str, client: WebClient) -> bool | None:
        """Is ``user`` one of this workspace's own members? None: Slack could not say (ask again later)."""
        found = self._ask(ws, user, client)
        return None if found is None else found[0]

    def standing(self, ws: Workspace, user: str, client: WebClient) -> tuple[bool, bool]:
        """(a member of ``ws``, an admin or owner as Slack reports it): a failed call counts as (no, no)."""
        return self._ask(ws, user, client) or (False, False)

    def _ask(self, ws: Workspace, user: str, client: WebClient) -> tuple[bool, bool] | None:
        """Slack's own word (``users.info``), cached for ``cache_seconds``. A failed call is not cached and
        counts as "no" to its callers: the refusal says who can, and asking again a moment later asks Slack
        again."""
        key = (ws.enterprise_id or "-", ws.team_id, user)
        now = self.clock()
        with self._lock:
            cached = self._cache.get(key)
            if cached and cached[0] > now:
                return cached[1]
        try:
            info = client.users_info(user=user).get("user") or {}
        except SlackApiError as exc:
            log.warning("users.info for %s in %s failed (%s): treated as not a member or admin",
                        user, ws.team_id, exc.response.get("error"))  # fmt: skip
            return None
        member = member_of(ws, info)
        answer = (member, member and bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner")))
        with self._lock:
            if len(self._cache) > 10_000:  # bounded: stale entries go first, then everything
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                if len(self._cache) > 10_000:
                    self._cache.clear()
            self._cache[key] = (now + self.cache_seconds, answer)
        return answer


def who_can(lead: str | None, what: str) -> str:
    """The refusal, naming who can (``what``: "change this channel's weekly post")."""
    people = f"<@{lead}>, workspace admins, or" if lead else "workspace admins or"
    return f"Only {people} the bot's admins (`/scr admins`) can {what}."
