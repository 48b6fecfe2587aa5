"""Installation and OAuth-state keys (temporary home until they move into ``bot.keys``)."""

from __future__ import annotations

from bot.store import Workspace


def workspace_tag(ws: Workspace) -> str:
    return f"{ws.enterprise_id or '-'}:{ws.team_id}"


def _ws(ws: Workspace, *parts: str) -> str:
    return ":".join((f"scr:{{{workspace_tag(ws)}}}", *parts))


def install_bot(ws: Workspace) -> str:
    return _ws(ws, "install", "bot")


def install_installer(ws: Workspace, user_id: str | None = None) -> str:
    return _ws(ws, "install", "installer", *([user_id] if user_id else []))


def install_users(ws: Workspace) -> str:
    return _ws(ws, "install", "users")


def install_rotating(ws: Workspace) -> str:
    return _ws(ws, "install", "rotating")


def installations_index() -> str:
    return "scr:{_}:installations"


def oauth_state(state: str) -> str:
    return f"scr:{{_oauth}}:state:{state}"
