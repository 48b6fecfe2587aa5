"""Modal submissions and App Home views."""

from __future__ import annotations

from slack_bolt import App

from bot.services import Services


def register(app: App, services: Services) -> None:
    """No modals or Home tab yet: the reflection modal and App Home arrive with reflections."""
