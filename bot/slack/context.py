"""Read who and where a Slack request came from, whatever its kind (command, event, action)."""

from __future__ import annotations

from typing import Any

from bot.storage.store import Workspace


class NoWorkspace(ValueError):
    """A request that names no workspace: refused, never filed under a shared placeholder."""


def workspace_of(body: dict[str, Any], context: Any = None) -> Workspace:
    """The workspace (and Enterprise Grid org) a request belongs to: every key is scoped by it.

    Bolt's ``context`` comes first: it is the workspace the request was authorized for (for events, Bolt reads
    ``authorizations``, so a Slack Connect event whose body names the other organisation's team is filed
    under the installation that received it). The body is read only where there is no context (tests and
    the offline shell) or where the context names no team (an org-wide install), and a request naming no
    team at all raises ``NoWorkspace``."""
    team = getattr(context, "team_id", None) or _body_team(body)
    enterprise = getattr(context, "enterprise_id", None) or _body_enterprise(body)
    org = getattr(context, "is_enterprise_install", None) or body.get("is_enterprise_install") in (True, "true")
    if org and not team:
        team = enterprise
    if not team:
        raise NoWorkspace("the request names no workspace (no team id)")
    return Workspace(team_id=str(team), enterprise_id=str(enterprise) if enterprise else None)


def _body_team(body: dict[str, Any]) -> str | None:
    """The team the body names: only where Bolt has none (an org-wide install's authorization names no team,
    and the body then says which workspace of the org the request is from)."""
    return (body.get("team_id") or (body.get("team") or {}).get("id") or (body.get("view") or {}).get("team_id")
            or (body.get("event") or {}).get("team"))  # fmt: skip


def _body_enterprise(body: dict[str, Any]) -> str | None:
    return body.get("enterprise_id") or (body.get("enterprise") or {}).get("id")
