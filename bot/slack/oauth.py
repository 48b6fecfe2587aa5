"""Distribution: "Add to Slack" for many workspaces, and the token each workspace's work runs with.

With ``SLACK_CLIENT_ID``, ``SLACK_CLIENT_SECRET`` and ``SLACK_SIGNING_SECRET`` set, Bolt serves its
OAuth flow (``/slack/install``, ``/slack/oauth_redirect``) with the scopes in ``manifest.yml``, keeps
installations in Redis (``bot.slack.installations``) and authorizes each request with its workspace's
token, rotating it when Slack's token rotation is on.

Bolt only rotates while it handles an incoming request. The clock posts with no request in hand, so
``WorkspaceClients`` looks the workspace's bot token up itself and refreshes a rotating token that
is close to expiry (``TokenRotator``, as Bolt does), under a short per-workspace lock so that two
clocks do not both spend the refresh token at once.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis.exceptions import LockError, RedisError
from redis.lock import Lock
from slack_bolt import BoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.token_rotation import TokenRotator

from bot.config import ConfigError, Settings
from bot.content.yamlfile import Problem, ProblemsError, load_yaml
from bot.slack.client import make_client
from bot.slack.installations import RedisInstallationStore, RedisOAuthStateStore, installation_store
from bot.storage import keys
from bot.storage.store import Workspace

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)
ROTATION_LOCK_SECONDS = 30.0  # the lease of the per-workspace rotation lock
CLIENT_CACHE = 10_000  # Web API clients kept, by (token, workspace)
AUTH_FRESH_SECONDS = 60.0  # a workspace's cached authorization is used without reading Redis for this long
AUTH_CACHE = 10_000  # authorizations kept in one process


def manifest_scopes(path: Path) -> tuple[list[str], list[str]]:
    """The bot and user scopes the app asks for, from ``oauth_config.scopes`` in the manifest."""
    if not path.exists():
        raise ConfigError(f"{path} not found: the OAuth flow takes its scopes from the app manifest (SCR_MANIFEST)")
    doc = load_yaml(path)
    scopes = ((doc.data or {}).get("oauth_config") or {}).get("scopes") or {}
    bot, user = scopes.get("bot") or [], scopes.get("user") or []
    if not isinstance(bot, list) or not isinstance(user, list) or not bot:
        raise ProblemsError([Problem(path, doc.line_of(["oauth_config", "scopes"]),
                                     "oauth_config.scopes.bot must be a non-empty list of scopes")])  # fmt: skip
    return [str(s) for s in bot], [str(s) for s in user]


def oauth_settings(settings: Settings, installations: RedisInstallationStore,
                   states: RedisOAuthStateStore) -> OAuthSettings:  # fmt: skip
    bot, user = manifest_scopes(settings.manifest_path)
    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=bot,
        user_scopes=user or None,
        redirect_uri=settings.oauth_redirect_uri,
        install_path="/slack/install",
        redirect_uri_path="/slack/oauth_redirect",
        installation_store=installations,
        state_store=states,
        token_rotation_expiration_minutes=settings.token_rotation_minutes,
        logger=logging.getLogger("slack_bolt.oauth"),
    )


def rotation_lock(r: Any, ws: Workspace, seconds: float) -> Lock:
    """The workspace's token rotation lock, shared by the clock (``WorkspaceClients``) and Bolt's request
    path (``LockedAuthorize``): redis-py's ``Lock`` (a random owner token, released by compare-and-delete,
    so a holder whose lease lapsed never deletes the lock another process took since)."""
    return r.lock(keys.install_rotating(ws), timeout=seconds, blocking=False)


def release_rotation_lock(lock: Lock, ws: Workspace) -> None:
    """Give the rotation lock back; if our lease lapsed (and maybe someone else holds it now), theirs stays."""
    try:
        lock.release()
    except LockError:
        log.warning("workspace %s: token rotation outlived its %ss lock", ws.team_id, lock.timeout)


def expires_soon(refresh_token: str | None, expires_at: int | None, minutes: int) -> bool:
    """A rotating token (one with a refresh token) that expires within ``minutes``: rotate it first."""
    return bool(refresh_token and expires_at is not None and expires_at <= time.time() + minutes * 60)


class LockedAuthorize(InstallationStoreAuthorize):
    """Bolt's own authorize for an installation store, with its token rotation under the workspace's lock.

    Bolt rotates an expiring token while it authorizes a request, with no lock: two requests at once for
    one workspace both read the same refresh token and both spend it. Slack accepts a refresh token once,
    so the second exchange fails and Bolt leaves that request unanswered. Here a request that needs a
    rotation takes the same per-workspace lock as the clock, re-reads the installation (someone may have
    rotated meanwhile), and rotates only if it still needs to. Waiting for the lock is bounded (Slack
    wants an answer within 3 s): past ``wait_seconds`` the request goes on with the latest stored token.
    """

    lock_seconds: float = ROTATION_LOCK_SECONDS
    wait_seconds: float = 2.0

    def __init__(self, *, installations: RedisInstallationStore, settings: Settings, client: WebClient,
                 logger: logging.Logger):  # fmt: skip
        super().__init__(logger=logger, installation_store=installations, client_id=settings.slack_client_id,
                         client_secret=settings.slack_client_secret, client=client,
                         token_rotation_expiration_minutes=settings.token_rotation_minutes)  # fmt: skip
        self.installations = installations

    def _expiring(self, inst: Installation) -> bool:
        minutes = self.token_rotation_expiration_minutes
        return (expires_soon(inst.bot_refresh_token, inst.bot_token_expires_at, minutes)
                or expires_soon(inst.user_refresh_token, inst.user_token_expires_at, minutes))  # fmt: skip

    def _latest(self, inst: Installation) -> Installation:
        """``inst`` with the tokens stored now (after another process's rotation). User fields are only
        refreshed when ``inst`` carries that person's user token (Bolt blanks it for anyone else)."""
        out = copy.copy(inst)
        bot = self.installations.find_bot(enterprise_id=inst.enterprise_id, team_id=inst.team_id,
                                          is_enterprise_install=inst.is_enterprise_install)  # fmt: skip
        if bot is not None:
            for field in ("bot_id", "bot_user_id", "bot_token", "bot_scopes", "bot_refresh_token", "bot_token_expires_at"):
                setattr(out, field, getattr(bot, field))
        if inst.user_token is not None and inst.user_id:
            mine = self.installations.find_installation(enterprise_id=inst.enterprise_id, team_id=inst.team_id,
                                                        user_id=inst.user_id,
                                                        is_enterprise_install=inst.is_enterprise_install)  # fmt: skip
            if mine is not None and mine.user_id == inst.user_id:
                for field in ("user_token", "user_scopes", "user_refresh_token", "user_token_expires_at"):
                    setattr(out, field, getattr(mine, field))
        return out

    def _rotate_and_save_tokens_if_necessary(self, installation: Installation | None) -> Installation | None:
        if installation is None or not self._expiring(installation):
            return super()._rotate_and_save_tokens_if_necessary(installation)
        from bot.slack.installations import install_workspace

        ws = install_workspace(installation.enterprise_id, installation.team_id, installation.is_enterprise_install)
        lock = rotation_lock(self.installations.r, ws, self.lock_seconds)
        # Another request or the clock may be rotating this workspace's token: wait for it, within bounds.
        locked = lock.acquire(blocking=True, blocking_timeout=self.wait_seconds, sleep=0.05)
        try:
            latest = self._latest(installation)
            refreshed = super()._rotate_and_save_tokens_if_necessary(latest) if locked else None
            if refreshed is not None:
                return refreshed
            changed = (latest.bot_token, latest.user_token) != (installation.bot_token, installation.user_token)
            return latest if changed else None  # None: Bolt goes on with the token it read
        finally:
            if locked:
                release_rotation_lock(lock, ws)


STORE_DOWN = "scr_store_down"  # in a request's context: authorized without a token, the installation store is down


def store_down(context: Any) -> bool:
    """Whether this request was let in without a token because the installation store could not be read
    (``CachedAuthorize``): only what needs neither the token nor Redis may be answered (``bot.handlers.store_down``)."""
    return bool(context is not None and context.get(STORE_DOWN))


_Key = tuple[str | None, str | None, bool]


class _Cached:
    """One workspace's authorization: Bolt's result, when it was read, and when its token expires."""

    __slots__ = ("result", "read_at", "expires_at")

    def __init__(self, result: AuthorizeResult, read_at: float, expires_at: float | None):
        self.result, self.read_at, self.expires_at = result, read_at, expires_at


class CachedAuthorize(LockedAuthorize):
    """``LockedAuthorize`` that answers from memory, so a request costs neither Redis nor ``auth.test``.

    Bolt's authorize reads the installation from Redis and calls ``auth.test`` on every request: five lookups
    made five ``auth.test`` calls, and with Redis down every lookup in many-workspace mode got a 503, though
    lookups need no Redis. Here:

    - ``auth.test`` runs once per token (Bolt's own ``cache_enabled``, keyed by token: a rotated token is
      checked once more);
    - the result is kept per workspace for ``AUTH_FRESH_SECONDS``, then read again from the store (that is
      how another process's uninstall or token rotation reaches this one), and never past the point where
      the token is due for rotation;
    - with Redis down, a kept result whose token has not expired is used however old it is; a workspace not
      kept here (first seen since Redis went down, or a process started while it is down) is authorized
      without a token, flagged ``STORE_DOWN`` in the context: a lookup is answered in the ack as usual (it
      needs neither), and everything that needs the token or Redis gets the storage message
      (``bot.handlers.store_down``). Whether such a workspace is installed cannot be known while the store is
      down; the request is signed by Slack for this app, and a lookup returns public guidance only, so it is
      answered. With Redis up, a workspace that is not installed is refused as before (Bolt's message);
    - ``forget`` drops a workspace at once, on ``app_uninstalled`` / ``tokens_revoked`` in this process.
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.cache_enabled = True  # Bolt's auth.test cache, by token
        self._kept: dict[_Key, _Cached] = {}
        self._kept_lock = threading.Lock()
        self._seen = threading.local()  # the expiry of the token Bolt settled on, for this thread's request

    def __call__(self, *, context: BoltContext, enterprise_id: str | None, team_id: str | None, user_id: str | None,
                 **kwargs: Any) -> AuthorizeResult | None:  # fmt: skip
        key: _Key = (enterprise_id, team_id, bool(context.is_enterprise_install))
        now = time.time()
        with self._kept_lock:
            kept = self._kept.get(key)
        if kept is not None and now - kept.read_at < AUTH_FRESH_SECONDS and not self._due(kept, now):
            return kept.result
        self._seen.expires_at = None
        try:
            result = super().__call__(context=context, enterprise_id=enterprise_id, team_id=team_id,
                                      user_id=user_id, **kwargs)  # fmt: skip
        except RedisError as exc:
            if kept is not None and (kept.expires_at is None or kept.expires_at > now):
                self.logger.warning("Redis unavailable (%s): authorized workspace %s from this process's cache",
                                    type(exc).__name__, team_id or enterprise_id)  # fmt: skip
                return kept.result
            if not (team_id or enterprise_id):
                return None  # names no workspace: refused, as with the store up
            self.logger.warning("Redis unavailable (%s): workspace %s is not authorized in this process yet; "
                                "answering only what needs no token", type(exc).__name__, team_id or enterprise_id)  # fmt: skip
            context[STORE_DOWN] = True
            return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)
        with self._kept_lock:
            if result is None or result.user_token is not None:  # a person's own token: not shared by the key
                self._kept.pop(key, None)
            else:
                if len(self._kept) >= AUTH_CACHE:
                    self._kept.clear()
                self._kept[key] = _Cached(result, now, getattr(self._seen, "expires_at", None))
        return result

    def _due(self, kept: _Cached, now: float) -> bool:
        """The kept token is due for rotation: go through the store (and rotate) rather than use it."""
        return kept.expires_at is not None and kept.expires_at <= now + self.token_rotation_expiration_minutes * 60

    def _rotate_and_save_tokens_if_necessary(self, installation: Installation | None) -> Installation | None:
        refreshed = super()._rotate_and_save_tokens_if_necessary(installation)
        latest = refreshed or installation
        if latest is not None and latest.bot_token is not None:
            self._seen.expires_at = latest.bot_token_expires_at
        return refreshed

    def forget(self, enterprise_id: str | None, team_id: str | None) -> None:
        """Uninstalled, or its tokens revoked: drop what this process kept for the workspace (or the org's
        workspaces, for an org-wide install) and the auth.test answers for its tokens."""
        with self._kept_lock:
            gone = [k for k in self._kept
                    if (team_id and k[1] == team_id) or (enterprise_id and k[0] == enterprise_id and (k[2] or not team_id))]  # fmt: skip
            for k in gone:
                result = self._kept.pop(k).result
                for token in (result.bot_token, result.user_token):
                    if token:
                        self.authorize_result_cache.pop(token, None)


def workspace_clients(services: Services, single: WebClient | None = None) -> WorkspaceClients:
    """The clients the clock and CLI use: per-workspace tokens in distributed mode, else ``single``."""

    settings = services.settings

    def client(token: str | None) -> WebClient:
        return make_client(token, settings.slack_api_url, settings.http_timeout_seconds,
                           call_budget=settings.call_budget_seconds)

    if settings.distributed:
        return WorkspaceClients(settings, client, installations=installation_store(services))
    return WorkspaceClients(settings, client, single=single or client(settings.slack_bot_token))


def client_for(ws: Workspace, single: WebClient, clients: Callable[[Workspace], WebClient] | None) -> WebClient:
    """The client to reach ``ws`` with: its own token when distributed (``clients``), else ``single``.
    A workspace with no bot token is a permanent failure for this send (``Permanent("not_installed")``)."""
    if clients is None:
        return single
    from bot.once import Permanent

    try:
        return clients(ws)
    except NotInstalled:
        raise Permanent("not_installed") from None


class NotInstalled(Exception):  # noqa: N818 - reads as "raise NotInstalled(ws)"
    """No bot token for this workspace: it never installed the app, uninstalled it, or revoked the token."""


class WorkspaceClients:
    """A Web API client with the right token for a workspace, outside any request (the clock, the CLI).

    Single-token mode: the one client, whatever the workspace. Distributed mode: the workspace's bot
    token from the installation store (an org-wide install's token for a workspace in that org),
    rotated first when it expires within ``token_rotation_minutes``.
    """

    def __init__(self, settings: Settings, make_client: Callable[[str | None], WebClient], *,
                 installations: RedisInstallationStore | None = None, single: WebClient | None = None):  # fmt: skip
        self.settings = settings
        self.make_client = make_client
        self.installations = installations
        self.single = single
        # By (token, workspace): a fan-out posts to each workspace many times, and each client carries its
        # rate-limit gates (bot.slack.ratelimit), so an org-wide token still gets one client per workspace of the
        # org (Slack limits each workspace on its own). The lock: threads of one workspace asking at once
        # must share one client (and its gates), not each build their own.
        self._clients: dict[tuple[str, Workspace], WebClient] = {}
        self._clients_lock = threading.Lock()
        self.rotator = (
            TokenRotator(client_id=settings.slack_client_id or "", client_secret=settings.slack_client_secret or "",
                         client=make_client(None))
            if installations is not None else None
        )  # fmt: skip

    @property
    def distributed(self) -> bool:
        return self.installations is not None

    def __call__(self, ws: Workspace) -> WebClient:
        if self.installations is None:
            assert self.single is not None
            return self.single
        bot = self._find(ws)
        if bot is None:
            raise NotInstalled(f"workspace {ws.team_id} has no installation")
        return self._client(self._fresh(bot).bot_token, ws)

    def _client(self, token: str | None, ws: Workspace) -> WebClient:
        """One client per token and workspace (a WebClient is safe to share between threads); a rotated
        token gets a new one."""
        with self._clients_lock:
            client = self._clients.get((token or "", ws))
            if client is None:
                if len(self._clients) >= CLIENT_CACHE:
                    self._clients.clear()  # old tokens after many rotations: start again rather than grow
                client = self._clients[(token or "", ws)] = self.make_client(token)
            return client

    def _find(self, ws: Workspace) -> Bot | None:
        assert self.installations is not None
        bot = self.installations.find_bot(enterprise_id=ws.enterprise_id, team_id=ws.team_id)
        if bot is None and ws.enterprise_id:
            bot = self.installations.find_bot(enterprise_id=ws.enterprise_id, team_id=None, is_enterprise_install=True)
        return bot

    def _expiring(self, bot: Bot) -> bool:
        return expires_soon(bot.bot_refresh_token, bot.bot_token_expires_at, self.settings.token_rotation_minutes)

    lock_seconds: float = ROTATION_LOCK_SECONDS

    def _fresh(self, bot: Bot) -> Bot:
        """The bot, with its token refreshed first if it is about to expire (one refresher at a time)."""
        if not self._expiring(bot):
            return bot
        assert self.installations is not None and self.rotator is not None
        from bot.slack.installations import install_workspace

        ws = install_workspace(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        # redis-py's Lock: a random owner token, and a compare-and-delete release, so a holder whose lease
        # lapsed (a rotation slower than the lease) never deletes the lock another process took since.
        lock = rotation_lock(self.installations.r, ws, self.lock_seconds)
        deadline = time.monotonic() + 10
        while not lock.acquire(blocking=False):
            # Another process is refreshing: wait for its token rather than spend the refresh token twice.
            time.sleep(0.1)
            again = self._find(ws) or bot
            if not self._expiring(again):
                return again
            if time.monotonic() > deadline:
                return again
        try:
            return self._rotate(ws, bot)
        finally:
            release_rotation_lock(lock, ws)

    def _rotate(self, ws: Workspace, bot: Bot) -> Bot:
        """Refresh the token, holding the lock: re-read first, someone may have refreshed before we locked."""
        assert self.installations is not None and self.rotator is not None
        again = self._find(ws) or bot
        if not self._expiring(again):
            return again
        try:
            refreshed = self.rotator.perform_bot_token_rotation(
                bot=again, minutes_before_expiration=self.settings.token_rotation_minutes)
        except SlackTokenRotationError as exc:
            log.error("workspace %s: token rotation failed (%s); using the current token", ws.team_id, exc)
            return again
        if refreshed is None:
            return again
        self.installations.save_bot(refreshed)
        log.info("workspace %s: bot token rotated (expires in %ds)", ws.team_id,
                 int((refreshed.bot_token_expires_at or 0) - time.time()))  # fmt: skip
        return refreshed
