"""Read who and where a Slack request came from, whatever its kind (command, event, action)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.storage.store import Workspace


class NoWorkspace(ValueError):
    """A request that names no workspace: refused, never filed under a shared placeholder."""


def workspace_of(body: dict[str, Any], context: Any = None) -> Workspace:
    """The workspace (and Enterprise Grid org) a request belongs to: every key is scoped by it.

    Bolt's ``context`` comes first: it is the workspace the request was authorized for (for events, Bolt reads
    ``authorizations``, so a Slack Connect event whose body names the other organisation's team is filed
    under the installation that received it). In single-token mode that is always the token's own workspace:
    ``the_token_workspace`` pins the context to it, so a signed request whose body names another team (a Slack
    Connect user, or a forged body) acts where the bot is installed and never opens a second workspace's keys.
    The body is read only where there is no context (tests and the offline shell) or where the context names no team (an org-wide install), and a request naming no
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


def the_token_workspace(body: dict[str, Any], context: Any, next: Callable[[], Any]) -> Any:  # noqa: A002 - Bolt's name
    """Single-token mode's middleware: every request acts in the token's own workspace (``pin_to_token``)."""
    pin_to_token(body, context)
    return next()


def pin_lazy_request(request: Any) -> None:
    """The same for the work a listener does after the ack: Bolt rebuilds that request from the raw body it
    received (over HTTP), and its context's team from that body, so the pin is made again."""
    pin_to_token(request.body, request.context)


def pin_to_token(body: dict[str, Any], context: Any) -> None:
    """In single-token mode, the workspace is the token's own (``auth.test``'s team and org), not the body's.

    Bolt fills ``context.team_id`` from the request body and keeps it after authorizing with the one token, so
    without this a signed command naming team T0BBB would be filed under T0BBB: global settings (``SCR_ADMINS``)
    would grant rights "for" it and a second workspace's keys and schedules would appear, posted with the only
    token. So the context, the request's client (which sends a ``team_id``) and the body's own workspace fields
    all name the token's workspace: a listener reading ``workspace_of(body)`` (the commands do) finds the same
    one as one given the context. Requests Bolt authorizes without ``auth.test`` (uninstall, token revocation)
    carry the body's team in their result and are unchanged; a token naming an org but no team (an org-wide
    install serves all the org's workspaces) pins the org only."""
    result = context.get("authorize_result")
    team, enterprise = getattr(result, "team_id", None), getattr(result, "enterprise_id", None)
    if team:
        context["team_id"], context["enterprise_id"], context["is_enterprise_install"] = team, enterprise, False
        _name_in_body(body, "team", team)
        _name_in_body(body, "enterprise", enterprise)
        params = getattr(context.get("client"), "default_params", None)
        if isinstance(params, dict) and params.get("team_id"):
            params["team_id"] = team
    elif enterprise:
        context["enterprise_id"] = enterprise
        _name_in_body(body, "enterprise", enterprise)


def _name_in_body(body: dict[str, Any], field: str, value: str | None) -> None:
    """Make the body's own ``<field>_id`` / ``<field>.id`` (the request's workspace or org) say ``value``, or
    drop them when the token names none: every reader of the body then agrees with the context."""
    for holder, key in ((body, f"{field}_id"), (body.get(field), "id")):
        if isinstance(holder, dict) and key in holder:
            if value:
                holder[key] = value
            else:
                del holder[key]
    if field == "team" and isinstance(body.get("view"), dict) and "team_id" in body["view"] and value:
        body["view"]["team_id"] = value
