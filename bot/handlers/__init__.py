"""Slack listeners grouped by kind, as in bolt-python's samples: each module registers its named listeners.

Owns: what the bot does when Slack calls (commands, events, actions, views). May import: ``bot.slack`` (the
front end's rendering, client and context) and the core. Imported by: ``bot.ops``, which builds the app with
``bot.slack.app.build_app`` and then calls :func:`register`.
"""

from __future__ import annotations

import re

from slack_bolt import Ack, App

from bot.handlers import actions, commands, events, sessions, store_down, views
from bot.services import Services


def register(app: App, services: Services) -> None:
    """The store-down gate (first of our middleware, after Bolt's authorization), every listener, then the
    catch-all that acknowledges what none of them matched."""
    app.use(store_down.gate(app, services))
    for module in (commands, events, actions, sessions, views):
        module.register(app, services)
    _acknowledge_everything_else(app)


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
