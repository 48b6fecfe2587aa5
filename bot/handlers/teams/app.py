"""The Teams web app with its listeners attached: what ``scr-bot run`` mounts at /api/messages."""

from __future__ import annotations

from flask import Flask

from bot.handlers.teams.activities import TeamsListeners
from bot.services import Services
from bot.teams import setup
from bot.teams.web import teams_app


def build(services: Services) -> Flask:
    listeners = TeamsListeners(services, setup.connector(services.settings))
    return teams_app(setup.validator(services.settings), listeners.handle, listeners.invoke, listeners.records.download)
