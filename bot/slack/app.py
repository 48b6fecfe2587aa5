"""Build the Bolt app: one Web API client, request verification, OAuth when distributed, and the error policy.

The listeners are not registered here: they live in ``bot.handlers`` (which depends on this package, not the
other way round), and whoever assembles the app (``bot.ops``) calls ``bot.handlers.register`` on it.

``process_before_response=True`` makes Bolt answer Slack when the listener has finished rather
than polling for ``ack()`` on a thread pool; our listeners are fast (lookups are in memory), and
this removes Bolt's ~10 ms ack-wait from every request (see bench/). It also lets a listener
that cannot store a reflection answer with an error status so that Slack retries.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from concurrent.futures import Executor
from typing import Any

import redis
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import ConfigError
from bot.services import Services
from bot.slack.client import GatedClient, make_client
from bot.slack.context import NoWorkspace, pin_lazy_request, the_token_workspace
from bot.slack.installations import installation_store, oauth_state_store
from bot.slack.tenants import LazyLanes
from bot.storage.crypto import CryptoError

__all__ = ["build_app", "make_client"]

log = logging.getLogger(__name__)


# What Slack's auth.test errors mean for the person setting the bot up.
_TOKEN_FIXES = {
    "invalid_auth": "copy the Bot User OAuth Token (xoxb-...) from your app's OAuth & Permissions page",
    "not_authed": "copy the Bot User OAuth Token (xoxb-...) from your app's OAuth & Permissions page",
    "token_revoked": "the app was uninstalled or the token revoked: reinstall the app and copy the new token",
    "token_expired": "the token has expired (token rotation is on): reinstall the app, or turn rotation off",
    "account_inactive": "the workspace or the bot user is deactivated",
}


APP_TOKEN_FIX = ("create an app-level token with the connections:write scope (your app's Basic Information > "
                 "App-Level Tokens) and turn Socket Mode on")


# Errors that are Slack's trouble, not the token's (Slack's docs list them for every method).
_SLACK_TROUBLE = {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}


def slack_refusal(exc: SlackApiError, which: str, fix: str) -> str:
    """One line for a failed token check that tells a rejected token from Slack being down or rate-limiting:
    only the first is the operator's to fix, and blaming the token for an outage sends them the wrong way."""
    status = exc.response.status_code
    error = str(exc.response.get("error") or status)
    if status == 429 or error == "ratelimited":
        wait = (exc.response.headers or {}).get("Retry-After") or (exc.response.headers or {}).get("retry-after")
        return (f"Slack is rate-limiting this app (HTTP 429{f', retry after {wait} s' if wait else ''}), so it did not "
                f"check {which}: wait a minute and try again")  # fmt: skip
    if status >= 500 or error in _SLACK_TROUBLE:
        return (f"Slack could not answer (HTTP {status}, {error}): a problem on Slack's side, not a rejected {which}; "
                "try again later (https://status.slack.com)")  # fmt: skip
    return f"Slack rejected {which} ({error}): {fix}"


STORAGE_DOWN = "I can't reach my storage just now, so I can't answer in this workspace yet. Please try again in a minute."
CANNOT_DECRYPT = ("I can't read this workspace's stored data just now (my encryption key doesn't match it), so I can't "
                  "answer here. The people who run the bot can see why in its log.")


class SlackUnavailable(ConfigError):
    """Slack rejected the bot's token, or could not be reached; the message says which and what to do."""


def check_slack(client: WebClient, api_url: str, app_token: str | None = None) -> dict[str, Any]:
    """Call ``auth.test`` once (and, for Socket Mode, ``apps.connections.open`` with the app-level
    token), so a wrong token or no network is one clear line rather than a traceback from deep
    inside Bolt (or a clock that retries for ever). Returns Slack's auth.test answer."""
    sdk_log = logging.getLogger("slack_sdk.web.base_client")
    level = sdk_log.level
    sdk_log.setLevel(logging.CRITICAL)  # its retry chatter would bury the one line that matters
    which = "SLACK_BOT_TOKEN"
    try:
        auth = dict(client.auth_test().data)  # type: ignore[arg-type]
        if app_token:
            which = "SLACK_APP_TOKEN"
            client.apps_connections_open(app_token=app_token)  # the URL it issues expires unused
        return auth
    except SlackApiError as exc:
        error = str(exc.response.get("error") or exc.response.status_code)
        fix = APP_TOKEN_FIX if which == "SLACK_APP_TOKEN" else _TOKEN_FIXES.get(error, "check SLACK_BOT_TOKEN")
        raise SlackUnavailable(slack_refusal(exc, which, fix)) from None
    except OSError as exc:  # URLError, connection refused, DNS, timeouts
        reason = getattr(exc, "reason", None) or exc
        raise SlackUnavailable(
            f"cannot reach Slack at {api_url} ({reason}): check the network connection or proxy"
            + ("" if "slack.com" in api_url else ", and SLACK_API_URL")
        ) from None
    finally:
        sdk_log.setLevel(level)


@contextlib.contextmanager
def _bolt_reads_no_token() -> Iterator[None]:
    """Bolt falls back to ``$SLACK_BOT_TOKEN`` when it is given a client, then warns on every start that
    the token "will be unused". Our client already carries the token (read once, in ``bot.config``),
    so Bolt is built with the client alone."""
    # Likewise SLACK_CLIENT_ID/SECRET: with them in the environment Bolt would build its own OAuth flow
    # (file-based stores) even in single-token mode; ours is passed explicitly when distributed.
    saved = {name: os.environ.pop(name) for name in ("SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")
             if name in os.environ}  # fmt: skip
    try:
        yield
    finally:
        os.environ.update(saved)


class ScrApp(App):
    """Bolt's ``App`` with the request path held to the time that still helps the person waiting.

    - Each request's client (Bolt builds a fresh plain ``WebClient`` per request, outside every gate and with
      the clock's long Retry-After retries) is instead a ``GatedClient`` sharing the app client's gates, with a
      short budget per call (``bot.slack.ratelimit.REQUEST_BUDGET``): no listener sleeps a long Retry-After.
    - Work after the ack runs in lanes (``bot.slack.tenants.LazyLanes``): forms opened on a click on a pool of
      their own, everything else under its workspace's bound, so one workspace cannot take the threads that
      serve the others.
    """

    lanes: LazyLanes
    authorization: Any = None  # the CachedAuthorize of many-workspace mode (uninstalls drop from it), else None

    def _init_context(self, req: BoltRequest) -> None:
        super()._init_context(req)
        if isinstance(self._client, GatedClient):
            req.context["client"] = self._client.for_request(req.context.client.token, req.context.team_id)


def build_app(
    services: Services,
    *,
    verify_requests: bool = True,
    token_verification: bool = True,
    token: str | None = None,
    api_url: str | None = None,
    listener_executor: Executor | None = None,
) -> App:
    """The Bolt app with every listener; ``token``/``api_url`` override settings, and ``listener_executor``
    runs work done after the ack (the offline shell passes one it can wait on)."""
    settings = services.settings
    distributed = settings.distributed and token is None
    oauth: dict = {}
    if distributed:
        # Many workspaces: no token of our own; Bolt serves "Add to Slack" and authorizes each request
        # with its workspace's token from the installation store (see bot.slack.oauth).
        from bot.slack.oauth import oauth_settings

        installations = installation_store(services)
        oauth["oauth_settings"] = oauth_settings(settings, installations, oauth_state_store(services))
        # Given to App as well, Bolt's authorize rotates tokens through our client (SLACK_API_URL, retries);
        # built from OAuthSettings alone, it would rotate through a default client for slack.com.
        oauth["installation_store"] = installations
        # ... and its request-path rotation under the same per-workspace lock as the clock, with each workspace's
        # authorization kept in memory: no Redis read or auth.test per request, and lookups with Redis down.
        from bot.slack.oauth import CachedAuthorize

        oauth["authorize"] = CachedAuthorize(installations=installations, settings=settings,
                                             client=make_client(None, api_url or settings.slack_api_url, settings.http_timeout_seconds),
                                             logger=logging.getLogger("slack_bolt"))  # fmt: skip
    with _bolt_reads_no_token():
        app = ScrApp(
            client=make_client(None if distributed else token or settings.slack_bot_token,
                               api_url or settings.slack_api_url, settings.http_timeout_seconds,
                               call_budget=settings.call_budget_seconds),  # fmt: skip
            signing_secret=settings.slack_signing_secret or "unused-in-socket-mode",
            request_verification_enabled=verify_requests,
            token_verification_enabled=token_verification,
            process_before_response=True,
            # Our own posts come back as events carrying their metadata: the listeners record them
            # (bot.handlers.events) and skip every other event of ours themselves.
            ignoring_self_events_enabled=False,
            logger=logging.getLogger("slack_bolt"),
            # Named, or Bolt names the app after its caller's file through inspect.stack(), which resolves the
            # path of every loaded module: about a tenth of a second of every start.
            name="scr-bot",
            **oauth,
            # Unused with process_before_response (acks run in the request's thread); the lazy work goes to lanes.
            listener_executor=listener_executor,
        )
    # Work after the ack: clicks' forms on a pool of their own, the rest under each workspace's bound.
    app.lanes = LazyLanes(logging.getLogger("slack_bolt"), listener_executor,
                          prepare=None if distributed else pin_lazy_request)  # fmt: skip
    app._listener_runner.lazy_listener_runner = app.lanes
    app.authorization = oauth.get("authorize")
    if not distributed:
        # One token, one workspace: every request acts in the token's workspace, whatever team its body names.
        app.use(the_token_workspace)

    @app.error
    def on_error(error: Exception, body: dict, logger: logging.Logger) -> BoltResponse:
        if isinstance(error, NoWorkspace):
            logger.warning("refused a %s request: %s", body.get("type") or "Slack", error)
            return BoltResponse(status=400, body="")
        if isinstance(error, redis.RedisError) and body.get("command"):
            # A person waiting on a command (a workspace whose authorization this process has not kept yet):
            # tell them, rather than Slack's bare "dispatch_failed".
            logger.error("Redis unavailable while authorizing /scr (%s); asked the person to try again",
                         type(error).__name__)  # fmt: skip
            return BoltResponse(status=200, body=json.dumps({"response_type": "ephemeral", "text": STORAGE_DOWN}),
                                headers={"content-type": "application/json"})  # fmt: skip
        if isinstance(error, CryptoError):
            # A wrong master key (or a damaged value): one line for the operator, no traceback; the person who
            # typed a command is told in one line, an event is answered 503 (kept for Slack to retry).
            logger.error("cannot decrypt while handling a %s request: %s", body.get("type") or "command", error)
            if body.get("command"):
                return BoltResponse(status=200, body=json.dumps({"response_type": "ephemeral", "text": CANNOT_DECRYPT}),
                                    headers={"content-type": "application/json"})  # fmt: skip
            return BoltResponse(status=503, body="")
        if isinstance(error, redis.RedisError):
            # Storage is down: answer 503 at once so Slack retries the event later (nothing dropped).
            logger.error("Redis unavailable while handling a %s request (%s); answered 503 so Slack retries",
                         body.get("type", "Slack"), type(error).__name__)  # fmt: skip
            return BoltResponse(status=503, body="")
        logger.exception("unhandled error in a listener: %s", error)
        return BoltResponse(status=500, body="")

    return app
