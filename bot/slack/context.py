"""Read who and where a Slack request came from, whatever its kind (command, event, action)."""

from __future__ import annotations

from typing import Any

from bot.storage.store import Workspace


def workspace_of(body: dict[str, Any], context: Any = None) -> Workspace:
    """The workspace (and Enterprise Grid org) a request belongs to: every key is scoped by it."""
    team = (
        body.get("team_id")
        or (body.get("team") or {}).get("id")
        or (body.get("view") or {}).get("team_id")
        or (body.get("event") or {}).get("team")
        or (getattr(context, "team_id", None) if context is not None else None)
    )
    enterprise = (
        body.get("enterprise_id")
        or (body.get("enterprise") or {}).get("id")
        or (getattr(context, "enterprise_id", None) if context is not None else None)
    )
    if body.get("is_enterprise_install") in (True, "true") and not team:
        team = enterprise
    return Workspace(team_id=str(team or "unknown"), enterprise_id=str(enterprise) if enterprise else None)
