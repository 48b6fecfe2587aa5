"""Build the Bolt app: one Web API client, request verification, and every listener registered.

``process_before_response=True`` makes Bolt answer Slack when the listener has finished rather
than polling for ``ack()`` on a thread pool; our listeners are fast (lookups are in memory), and
this removes Bolt's ~10 ms ack-wait from every request (see bench/). It also lets a listener
that cannot store a reflection answer with an error status so that Slack retries.
"""

from __future__ import annotations

import logging
import re

from slack_bolt import Ack, App, BoltResponse

from bot.handlers import actions, commands, events, views
from bot.services import Services
from bot.slack_client import make_client

__all__ = ["build_app", "make_client"]

log = logging.getLogger(__name__)


def build_app(
    services: Services,
    *,
    verify_requests: bool = True,
    token_verification: bool = True,
    token: str | None = None,
    api_url: str | None = None,
) -> App:
    """The Bolt app with every listener; ``token``/``api_url`` override settings (offline shell)."""
    settings = services.settings
    app = App(
        client=make_client(token or settings.slack_bot_token, api_url or settings.slack_api_url),
        signing_secret=settings.slack_signing_secret or "unused-in-socket-mode",
        request_verification_enabled=verify_requests,
        token_verification_enabled=token_verification,
        process_before_response=True,
        logger=logging.getLogger("slack_bolt"),
    )

    @app.error
    def on_error(error: Exception, body: dict, logger: logging.Logger) -> BoltResponse:
        logger.exception("unhandled error in a listener: %s", error)
        return BoltResponse(status=500, body="")

    for module in (commands, events, actions, views):
        module.register(app, services)
    _acknowledge_everything_else(app)
    return app


def _acknowledge_everything_else(app: App) -> None:
    """Registered last, so they only see what no other listener matched.

    Bolt answers 404 to a request no listener matches; over HTTP Slack then retries the event up to
    three times, and in Socket Mode Bolt sends no acknowledgement at all. Events and interactions the
    bot has no use for are acknowledged here instead, in both transports.
    """
    anything = re.compile(".*")

    def ack_only(ack: Ack) -> None:
        ack()

    app.event(anything)(ack_only)
    app.action(anything)(ack_only)
    app.view(anything)(ack_only)
    app.shortcut(anything)(ack_only)
