"""The Teams web app with its listeners attached: what ``scr-bot run`` mounts at /api/messages."""

from __future__ import annotations

from flask import Flask

from bot.handlers.teams.activities import TeamsListeners
from bot.services import Services
from bot.teams import setup
from bot.teams.web import add_health, teams_app


def build(services: Services, health: bool = False) -> Flask:
    """``health``: also /healthz and /readyz, when Teams is served alone (beside Slack, Slack's app has them)."""
    services.lookup  # noqa: B018 - build search now (before gunicorn forks), not inside the first lookup
    listeners = TeamsListeners(services, setup.connector(services.settings))
    web = teams_app(setup.validator(services.settings), listeners.handle, listeners.invoke,
                    listeners.records.download, listeners.after_invoke)
    if health:
        add_health(web, services)
    return web
