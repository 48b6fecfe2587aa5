"""Where a Teams tenant can be reached: the conversation references the bot was given when it was added.

Teams has no install token: being added to a team (or a person's personal scope) is the install, and the
activity that says so carries the serviceUrl, tenant, team and channel to post to later. They are kept per
tenant (``Workspace(team_id=<tenant id>, platform="teams")``) in one hash (``keys.teams_conversations``),
so a purge of the tenant removes them with everything else it holds. A personal chat is also kept when someone
uses it ("quiz on", "export") without the app being installed there, and another channel of a team the app is
installed in when someone @mentions the bot there; only installs (a reference Teams
said the app was added with, kept apart in ``keys.teams_installs``, which only Teams' install and removal
activities write) keep the tenant: when the last is removed, the tenant is purged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

import redis

from bot.storage import keys
from bot.storage.keys import Workspace

PLATFORM = "teams"


def tenant(tenant_id: str) -> Workspace:
    """The tenant identity every key of a Teams tenant is built from."""
    return Workspace(team_id=tenant_id, platform=PLATFORM)


@dataclass(frozen=True)
class Reference:
    """One conversation the bot may post to: a channel of a team, or a person's personal chat."""

    conversation: str  # the channel's id (19:...@thread.tacv2), or the personal chat's id
    service_url: str
    tenant: str
    scope: str  # "team" or "personal"
    team: str | None = None  # the team's Bot Framework id (its General channel's id)
    aad_group: str | None = None  # the team's Microsoft 365 group id, which Graph names teams by
    user: str | None = None  # personal scope: whose chat
    # Personal scope: the person's own time zone (IANA), as their Teams client reported it (an activity's
    # ``localTimezone``): Teams has no API for it, so the last one seen is kept for their knowledge checks.
    timezone: str | None = None
    # The app was installed here (Teams said so: ``installationUpdate`` add, or the bot among ``membersAdded``),
    # not only a conversation the bot keeps to answer in: a personal chat someone typed "quiz on" in, another
    # channel of an installed team someone mentioned the bot in. Only an install keeps a tenant: a signed mention
    # from a team the app has left (a late delivery after the tenant's purge) must not make one.
    # Written by older versions only: installs are kept apart (``keys.teams_installs``), read from here once.
    installed: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


TEAM, PERSONAL = "team:", "personal:"


def install_id(ref: Reference) -> str:
    """How an install is named in the installs set: a team's (whichever channel it was added in), or a chat's."""
    return PERSONAL + ref.conversation if ref.scope == "personal" else TEAM + (ref.team or ref.conversation)


class References:
    def __init__(self, client: redis.Redis):
        self.r = client

    def save(self, ws: Workspace, *refs: Reference) -> None:
        if refs:
            self.r.hset(keys.teams_conversations(ws), mapping={ref.conversation: ref.to_json() for ref in refs})

    def get(self, ws: Workspace, conversation: str) -> Reference | None:
        raw = self.r.hget(keys.teams_conversations(ws), conversation)
        return Reference(**json.loads(raw)) if raw else None

    def all(self, ws: Workspace) -> list[Reference]:
        return [Reference(**json.loads(v)) for v in self.r.hgetall(keys.teams_conversations(ws)).values()]

    def personal(self, ws: Workspace, user: str) -> Reference | None:
        """``user``'s personal chat with the bot, if Teams has shown it to us (they wrote there, or installed the
        app personally): where a note only they see goes, and whose ``localTimezone`` is theirs."""
        return next((r for r in self.all(ws) if r.scope == "personal" and r.user == user), None)

    def keep(self, ws: Workspace, ref: Reference) -> None:
        """Save ``ref`` learnt from an activity without undoing what is known of it: a zone the person's client
        reported stays until another replaces it. It never writes an install (``mark_installed`` does): a reference
        read before the app's removal and written back after it must not bring the install back."""
        self._migrate(ws)
        known = self.get(ws, ref.conversation)
        if known is not None:
            ref = replace(ref, timezone=ref.timezone or known.timezone)
        self.save(ws, replace(ref, installed=False))

    def _migrate(self, ws: Workspace) -> None:
        """The installs an older version marked in the references themselves, moved to the installs set while it
        does not exist yet: added there and the marks taken off the references in one transaction, so a mark is
        read once and a reference written back late (its mark taken off since) never counts again."""
        if self.r.exists(keys.teams_installs(ws)):
            return
        legacy = [ref for ref in self.all(ws) if ref.installed]
        if legacy:
            with self.r.pipeline(transaction=True) as pipe:
                pipe.sadd(keys.teams_installs(ws), *[install_id(ref) for ref in legacy])
                pipe.hset(keys.teams_conversations(ws),
                          mapping={ref.conversation: replace(ref, installed=False).to_json() for ref in legacy})  # fmt: skip
                pipe.execute()

    def mark_installed(self, ws: Workspace, ref: Reference) -> None:
        """Teams said the app was added where ``ref`` is (its team, or a personal chat)."""
        self._migrate(ws)
        self.r.sadd(keys.teams_installs(ws), install_id(ref))

    def unmark_installed(self, ws: Workspace, ref: Reference) -> None:
        """Teams said the app was removed from ``ref``'s team or personal chat: done before that team's references
        and weekly posts are deleted, so a mention or subscribe racing the removal sees it when it checks again."""
        self._migrate(ws)
        self.r.srem(keys.teams_installs(ws), install_id(ref))

    def installs(self, ws: Workspace) -> int:
        """How many installs keep the tenant: its teams, and the personal chats the app was installed in."""
        self._migrate(ws)
        return int(self.r.scard(keys.teams_installs(ws)))

    def is_installed(self, ws: Workspace, ref: Reference) -> bool:
        """Whether the app is installed where ``ref`` is (its team; or the personal chat)."""
        self._migrate(ws)
        return bool(self.r.sismember(keys.teams_installs(ws), install_id(ref)))

    def remove_team(self, ws: Workspace, team: str) -> list[str]:
        """Forget every channel of ``team`` (the bot was removed from it); the channels forgotten."""
        gone = [r.conversation for r in self.all(ws) if r.team == team and r.scope == "team"]
        if gone:
            self.r.hdel(keys.teams_conversations(ws), *gone)
        self.r.srem(keys.teams_paused(ws), team)
        return gone

    def pause_team(self, ws: Workspace, team: str) -> None:
        """``team`` was deleted in Teams, which can restore it for 30 days: nothing is posted to its channels
        (``team_paused``) until it is restored, and its install, references and data are kept meanwhile."""
        if team:
            self.r.sadd(keys.teams_paused(ws), team)

    def resume_team(self, ws: Workspace, team: str) -> None:
        """``team`` was restored in Teams: its channels' weekly posts resume."""
        self.r.srem(keys.teams_paused(ws), team)

    def team_paused(self, ws: Workspace, team: str) -> bool:
        """Whether ``team`` is deleted in Teams, not yet for good (``pause_team``)."""
        return bool(team) and bool(self.r.sismember(keys.teams_paused(ws), team))

    def team_installed(self, ws: Workspace, team: str) -> bool:
        """Whether the app is installed in ``team``: where its channels may be kept and subscribed."""
        if not team:
            return False
        self._migrate(ws)
        return bool(self.r.sismember(keys.teams_installs(ws), TEAM + team))

    def remove_channel(self, ws: Workspace, channel: str) -> Reference | None:
        """Forget a deleted channel of a team; the reference forgotten, if any. The team keeps its install: when the
        deleted channel was the one the app was added in, the team's General channel (whose id is the team's), where
        Teams still reaches the bot, is kept in its place."""
        gone = self.get(ws, channel)
        if gone is None or gone.scope != "team" or channel == gone.team:
            return None  # not a channel kept here; or a team's General channel, never deleted but with its team
        if gone.team and self.team_installed(ws, gone.team) and self.get(ws, gone.team) is None:
            self.save(ws, replace(gone, conversation=gone.team, installed=False))
        self.r.hdel(keys.teams_conversations(ws), channel)
        return gone

    def remove(self, ws: Workspace, conversation: str) -> None:
        self.r.hdel(keys.teams_conversations(ws), conversation)
