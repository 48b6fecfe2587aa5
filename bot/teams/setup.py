"""The Teams front end's parts, built from settings once at start-up (web server, clock, CLI)."""

from __future__ import annotations

from bot.config import Settings
from bot.services import Services
from bot.teams.auth import AppTokens, SigningKeys, TokenValidator
from bot.teams.connector import Connector
from bot.teams.delivery import TeamsDeliveries


def connector(settings: Settings) -> Connector:
    assert settings.teams_app_id and settings.teams_app_password and settings.teams_tenant_id
    tokens = AppTokens(settings.teams_login_url, settings.teams_tenant_id, settings.teams_app_id,
                       settings.teams_app_password)  # fmt: skip
    return Connector(tokens, settings.teams_graph_url, settings.http_timeout_seconds)


def validator(settings: Settings) -> TokenValidator:
    assert settings.teams_app_id
    return TokenValidator(settings.teams_app_id, SigningKeys(settings.teams_openid_url))


def deliveries(services: Services) -> TeamsDeliveries:
    settings = services.settings
    assert settings.teams_app_id
    return TeamsDeliveries(connector(settings), services.store.client, services.corpus, settings.teams_app_id,
                           settings.teams_public_url)  # fmt: skip
