"""Slack installations (tokens) and OAuth state, kept in Redis: slack_sdk's store interfaces.

slack_sdk ships file, SQLite, SQLAlchemy and S3 stores but none for Redis. These follow the
semantics of its own file store, so Bolt's ``authorize`` and token rotation work unchanged:

- ``save`` keeps the latest installation of a workspace (or Enterprise Grid org, for an org-wide
  install) and the latest per installing user, and saves the bot part via ``save_bot``.
- ``find_installation(user_id=...)`` merges in the latest bot token (a rotation may have replaced it).
- ``find_bot`` / ``delete_bot`` / ``delete_installation`` / ``delete_all`` as the interface says.

Where this deliberately differs from the file store: no history of old installations is kept (fewer
live secrets at rest), and deleting the bot (``tokens_revoked``) or a user's token also strips that
token from the installation record that carries a copy of it, so a revoked token is never handed out.

Every key of an installation carries the workspace's hash tag (``bot.storage.keys``), so its writes are one
transaction on one Redis Cluster slot; a global index lists installations for the clock and the CLI.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from logging import Logger
from typing import Any

import redis
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

from bot.services import Services
from bot.storage import crypto, keys
from bot.storage.purge import Purger
from bot.storage.store import Workspace

log = logging.getLogger(__name__)


def install_workspace(enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None) -> Workspace:
    """Where an installation lives. An org-wide install has no team: it is kept under the org itself,
    which is also the workspace ``bot.slack.context.workspace_of`` gives a request made org-wide."""
    if is_enterprise_install or not team_id:
        if not enterprise_id:
            raise ValueError("an installation needs a team id or, for an org-wide install, an enterprise id")
        return Workspace(enterprise_id, enterprise_id)
    return Workspace(team_id, enterprise_id or None)


@dataclass(frozen=True)
class InstallRecord:
    """One line of ``scr-bot workspace list``: who installed the bot where, and when."""

    workspace: Workspace
    team_name: str
    enterprise_name: str
    installed_at: float
    is_enterprise_install: bool
    rotating: bool


class RedisInstallationStore(InstallationStore):
    def __init__(self, client: redis.Redis, logger: Logger | None = None):
        self.r = client
        self._logger = logger or log
        self.vault = crypto.vault(client)  # tokens are sealed at rest (bot.storage.crypto)

    @property
    def logger(self) -> Logger:
        return self._logger

    def _put(self, pipe: Any, ws: Workspace, key: str, data: dict[str, Any]) -> None:
        """Queue (or do, on the client) a record's write, sealed for that key alone."""
        pipe.set(key, self.vault.seal(ws, key, json.dumps(data)))

    def _read(self, ws: Workspace, key: str) -> dict[str, Any] | None:
        raw = self.r.get(key)
        return json.loads(self.vault.open(ws, key, raw)) if raw else None

    # ----- saving ---------------------------------------------------------------------------
    def save(self, installation: Installation) -> None:
        ws = install_workspace(installation.enterprise_id, installation.team_id, installation.is_enterprise_install)
        # A reinstall after an uninstall whose purge has not finished: finish it now and cancel it, so
        # it can never delete what this installation writes next (bot.storage.purge says how).

        Purger(self.r).finish_before_reinstall(ws)
        entity = installation.__dict__
        with self.r.pipeline(transaction=True) as pipe:
            self._put(pipe, ws, keys.install_installer(ws), entity)
            if installation.user_id:
                self._put(pipe, ws, keys.install_installer(ws, installation.user_id), entity)
                pipe.sadd(keys.install_users(ws), installation.user_id)
            pipe.execute()
        self.save_bot(installation.to_bot())
        self._index(ws, installation.team_name, installation.enterprise_name, installation.installed_at,
                    installation.is_enterprise_install)

    def save_bot(self, bot: Bot) -> None:
        if bot.bot_token is None:
            self.logger.debug("not saving a bot without a bot token")
            return
        ws = install_workspace(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        self._put(self.r, ws, keys.install_bot(ws), bot.__dict__)
        self._index(ws, bot.team_name, bot.enterprise_name, bot.installed_at, bot.is_enterprise_install)

    def _index(self, ws: Workspace, team_name: str | None, enterprise_name: str | None, installed_at: float,
               org: bool) -> None:  # fmt: skip
        record = {"enterprise_id": ws.enterprise_id, "team_id": ws.team_id, "team_name": team_name or "",
                  "enterprise_name": enterprise_name or "", "installed_at": installed_at, "org": bool(org)}  # fmt: skip
        self.r.hset(keys.INSTALLATIONS, keys.workspace_entry(ws), json.dumps(record))

    # ----- finding --------------------------------------------------------------------------
    def find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                 is_enterprise_install: bool | None = False) -> Bot | None:  # fmt: skip
        try:
            ws = install_workspace(enterprise_id, team_id, is_enterprise_install)
        except ValueError:
            return None
        data = self._read(ws, keys.install_bot(ws))
        return Bot(**data) if data else None

    def find_installation(self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None,
                          is_enterprise_install: bool | None = False) -> Installation | None:  # fmt: skip
        try:
            ws = install_workspace(enterprise_id, team_id, is_enterprise_install)
        except ValueError:
            return None
        data = self._read(ws, keys.install_installer(ws, user_id))
        if not data:
            return None
        installation = Installation(**data)
        # The latest bot token, as slack_sdk's stores do for a user's record (bolt-python#664), and here
        # for the workspace's latest record too: the clock rotates with ``save_bot`` alone, so the bot
        # record is always the newest (a stale refresh token would fail with invalid_refresh_token).
        bot = self.find_bot(enterprise_id=enterprise_id, team_id=team_id,
                            is_enterprise_install=is_enterprise_install)  # fmt: skip
        if bot is not None and bot.bot_token != installation.bot_token:
            installation.bot_id = bot.bot_id
            installation.bot_user_id = bot.bot_user_id
            installation.bot_token = bot.bot_token
            installation.bot_scopes = bot.bot_scopes
            installation.bot_refresh_token = bot.bot_refresh_token
            installation.bot_token_expires_at = bot.bot_token_expires_at
        return installation

    # ----- deleting -------------------------------------------------------------------------
    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        try:
            ws = install_workspace(enterprise_id, team_id, None)
        except ValueError:
            return
        self._strip(ws, lambda inst: inst.get("bot_token") is not None, ("bot_token", "bot_refresh_token",
                                                                          "bot_token_expires_at"))  # fmt: skip
        self.r.delete(keys.install_bot(ws))

    def delete_installation(self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None) -> None:
        try:
            ws = install_workspace(enterprise_id, team_id, None)
        except ValueError:
            return
        if user_id is None:
            users = self.r.smembers(keys.install_users(ws))
            with self.r.pipeline(transaction=True) as pipe:
                pipe.delete(keys.install_installer(ws), keys.install_users(ws),
                            *[keys.install_installer(ws, u) for u in users])  # fmt: skip
                pipe.execute()
            return
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(keys.install_installer(ws, user_id))
            pipe.srem(keys.install_users(ws), user_id)
            pipe.execute()
        # That person's user token is revoked: the workspace's latest record must not hand it out either.
        self._strip(ws, lambda inst: inst.get("user_id") == user_id,
                    ("user_token", "user_refresh_token", "user_token_expires_at", "user_scopes"))  # fmt: skip

    def delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        super().delete_all(enterprise_id=enterprise_id, team_id=team_id)
        try:
            ws = install_workspace(enterprise_id, team_id, None)
        except ValueError:
            return
        self.r.hdel(keys.INSTALLATIONS, keys.workspace_entry(ws))

    def unindex(self, ws: Workspace) -> None:
        """Drop the workspace from the installations index (the purge of an uninstall)."""
        self.r.hdel(keys.INSTALLATIONS, keys.workspace_entry(ws))

    def _strip(self, ws: Workspace, applies: Any, fields: tuple[str, ...]) -> None:
        """Blank ``fields`` in the workspace's installation records where ``applies(record)``."""
        users = self.r.smembers(keys.install_users(ws))
        for key in [keys.install_installer(ws), *[keys.install_installer(ws, u) for u in users]]:
            data = self._read(ws, key)
            if not data:
                continue
            if applies(data):
                data.update({f: None for f in fields})
                self._put(self.r, ws, key, data)

    # ----- for the clock and the CLI ----------------------------------------------------------
    def installed(self) -> list[InstallRecord]:
        """Every workspace (or org) with a bot token, oldest install first."""
        out = []
        for raw in self.r.hvals(keys.INSTALLATIONS):
            data = json.loads(raw)
            ws = Workspace(data["team_id"], data.get("enterprise_id") or None)
            bot = self._read(ws, keys.install_bot(ws))
            rotating = bool(bot and bot.get("bot_refresh_token"))
            out.append(InstallRecord(ws, data.get("team_name", ""), data.get("enterprise_name", ""),
                                     float(data.get("installed_at") or 0), bool(data.get("org")), rotating))  # fmt: skip
        return sorted(out, key=lambda r: r.installed_at)


class RedisOAuthStateStore(OAuthStateStore):
    """OAuth ``state`` values: single use (``GETDEL``) and expiring (``EX``), shared by every web process."""

    def __init__(self, client: redis.Redis, expiration_seconds: int = keys.OAUTH_STATE_TTL, logger: Logger | None = None):
        self.r = client
        self.expiration_seconds = expiration_seconds
        self._logger = logger or log

    @property
    def logger(self) -> Logger:
        return self._logger

    def issue(self, *args: Any, **kwargs: Any) -> str:
        state = uuid.uuid4().hex
        self.r.set(keys.oauth_state(state), str(time.time()), ex=self.expiration_seconds)
        return state

    def consume(self, state: str) -> bool:
        if not state or len(state) > 200:
            return False
        found = self.r.getdel(keys.oauth_state(state)) is not None
        if not found:
            self.logger.warning("OAuth state not found: expired, already used, or not issued by this app")
        return found


def installation_store(services: Services) -> RedisInstallationStore:
    """Workspaces' tokens (distributed mode), in the services' Redis: the OAuth flow, the clock and uninstalls."""
    return RedisInstallationStore(services.store.client)


def oauth_state_store(services: Services) -> RedisOAuthStateStore:
    return RedisOAuthStateStore(services.store.client)
