"""Who may change a channel's weekly post, its digest readers and the bot's admin list.

Without this anyone in a channel could take its weekly post over (re-subscribing made them its
"lead"), add themselves as digest reader and remove the real one, or switch it off. The rights are:

* whoever set the channel's weekly post up (its lead): that channel's schedule and digest readers;
* the workspace's admins and owners, as Slack reports them (``users.info``: ``is_admin``,
  ``is_owner``, ``is_primary_owner``): everything in their workspace;
* the bot's admins: the workspace's own list (``/scr admins add``) and, on a single-workspace install
  only, ``SCR_ADMINS`` (``Settings.env_admins``): everything in that workspace.

Asking Slack is a Web API call, so the checks run after a listener's ack (in its lazy part). The
cheap answers come first (the lead, then the lists in Redis) and Slack's answer is cached briefly per
workspace and person, so a run of commands costs one ``users.info``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.storage.keys import Workspace
from bot.storage.roles import AdminList

log = logging.getLogger(__name__)

LEAD, WORKSPACE_ADMIN, BOT_ADMIN = "lead", "workspace admin", "bot admin"
ADMIN_CACHE_SECONDS = 60.0  # long enough for a run of commands; short enough that a demotion soon counts


class Roles:
    """Answers "in what capacity may this person change this?" (None: they may not)."""

    def __init__(self, admins: AdminList, env_admins: tuple[str, ...] = (), cache_seconds: float = ADMIN_CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self.admins = admins
        self.env_admins = frozenset(env_admins)
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._cache: dict[tuple[str, str, str], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def for_channel(self, ws: Workspace, user: str, lead: str | None, client: WebClient) -> str | None:
        """May ``user`` change a channel whose weekly post ``lead`` set up (None: nobody set it up)?"""
        if lead and user == lead:
            return LEAD
        return self.admin(ws, user, client)

    def admin(self, ws: Workspace, user: str, client: WebClient) -> str | None:
        """May ``user`` change anything in the workspace (and its admin list)? Redis first, then Slack."""
        if user in self.env_admins or self.admins.contains(ws, user):
            return BOT_ADMIN
        return WORKSPACE_ADMIN if self.workspace_admin(ws, user, client) else None

    def workspace_admin(self, ws: Workspace, user: str, client: WebClient) -> bool:
        """Slack's own word (``users.info``), cached for ``cache_seconds``. A failed call is not cached and
        counts as "no": the refusal says who can, and asking again a moment later asks Slack again."""
        key = (ws.enterprise_id or "-", ws.team_id, user)
        now = self.clock()
        with self._lock:
            cached = self._cache.get(key)
            if cached and cached[0] > now:
                return cached[1]
        try:
            info = client.users_info(user=user).get("user") or {}
        except SlackApiError as exc:
            log.warning("users.info for %s in %s failed (%s): treated as not a workspace admin",
                        user, ws.team_id, exc.response.get("error"))  # fmt: skip
            return False
        answer = bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
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
