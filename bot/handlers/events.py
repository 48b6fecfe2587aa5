"""Events API listeners.

Slack retries any event that does not get a 2xx, and Bolt answers 404 to an event no listener
matches; the web layer turns those into 200s (see ``bot.web``), and the listeners here are the
events the bot acts on.
"""

from __future__ import annotations

from slack_bolt import App

from bot.services import Services


def register(app: App, services: Services) -> None:
    @app.event("message")
    def on_message(ack) -> None:  # noqa: ANN001 - Bolt injects by name
        ack()
