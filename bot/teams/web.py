"""``POST /api/messages``: where the Bot Connector sends Teams activities.

The bearer token is checked first (``bot.teams.auth``); a request that fails is answered 401 with one log
line and nothing of it is read further or stored. A valid activity is answered 200 at once and handled in a
worker thread (ack first: no Connector call, no Redis, before the answer). An invoke (a card's button) is
the exception: Teams shows what its HTTP answer carries (the updated card), so it is handled before the
answer, with Redis only (no Connector call), as Slack's events are stored before their ack.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask, Response, request

from bot import __version__
from bot.services import Services
from bot.teams.auth import Refused, TokenValidator

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 256 * 1024  # an activity is small; Teams' own limit on a message is ~28 KB
WORKERS = 8
Dispatch = Callable[[dict[str, Any], str], None]  # (activity, the serviceUrl its token vouches for)
# An invoke (a card's Action.Execute) is answered in the HTTP response itself: (status, body), body None for none.
Invoke = Callable[[dict[str, Any], str], tuple[int, dict[str, Any] | None]]
WsgiApp = Callable[..., Any]
# A link's download (``bot.teams.downloads``): (kind, token) -> (body, MIME type, file name or None), or None.
Download = Callable[[str, str], tuple[bytes, str, str | None] | None]


def teams_app(validator: TokenValidator, dispatch: Dispatch, invoke: Invoke | None = None,
              download: Download | None = None, after_invoke: Dispatch | None = None) -> Flask:  # fmt: skip
    """``after_invoke``: work an invoke leaves for after its answer (a Connector call: a shared reflection's post),
    run in a worker thread as an activity is."""
    web = Flask("scr-bot-teams")
    web.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    executor: list[ThreadPoolExecutor] = []  # made on first use: after gunicorn forks, in the worker

    def run(activity: dict[str, Any], service_url: str, handler: Dispatch = dispatch) -> None:
        try:
            handler(activity, service_url)
        except Exception:  # one activity's failure must not end the worker; the log says which kind
            log.exception("teams: handling a %s activity failed", activity.get("type"))

    def later(activity: dict[str, Any], service_url: str, handler: Dispatch = dispatch) -> None:
        if not executor:
            executor.append(ThreadPoolExecutor(WORKERS, thread_name_prefix="teams"))
        executor[0].submit(run, activity, service_url, handler)

    def refuse(status: int, reason: str) -> Response:
        log.warning("refused a request to /api/messages from %s: %s %s", request.remote_addr, status, reason)
        return Response(json.dumps({"error": reason}), status=status, mimetype="application/json")

    def answer_invoke(activity: dict[str, Any], service_url: str) -> Response:
        """Teams waits for an invoke's answer (the updated card): handled here, before the response."""
        assert invoke is not None
        try:
            status, body = invoke(activity, service_url)
        except Exception:
            log.exception("teams: handling an invoke (%s) failed", activity.get("name"))
            return Response(json.dumps({"error": "internal error"}), status=500, mimetype="application/json")
        return Response(json.dumps(body) if body is not None else "", status=status,
                        mimetype="application/json")  # fmt: skip

    @web.post("/api/messages")
    def messages() -> Response:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return refuse(413, "body too large")
        try:
            activity = json.loads(request.get_data(cache=False) or b"null")
        except ValueError:
            activity = None
        if not isinstance(activity, dict):
            # Still a 401 when the token is missing: who may not call us learns nothing of what we accept.
            if not request.headers.get("Authorization"):
                return refuse(401, "no bearer token")
            return refuse(400, "not an activity")
        try:
            caller = validator.validate(request.headers.get("Authorization"), activity)
        except Refused as exc:
            return refuse(401, str(exc))
        if activity.get("type") == "invoke" and invoke is not None:
            answered = answer_invoke(activity, caller.service_url)
            if after_invoke is not None and answered.status_code == 200:
                later(activity, caller.service_url, after_invoke)
            return answered
        later(activity, caller.service_url)
        return Response(status=200)

    @web.get("/teams/<kind>/<token>")
    def downloads(kind: str, token: str) -> Response:
        """A link the bot sent (an export, a chart): its random token is the only key; unknown or expired: 404."""
        found = download(kind, token) if download is not None else None
        if found is None:
            return Response("This link has expired or does not exist. Ask the bot for a new one.\n", status=404,
                            mimetype="text/plain")  # fmt: skip
        body, mimetype, filename = found
        resp = Response(body, status=200, content_type=mimetype)  # as given: mimetype= would add a second charset
        resp.headers["Cache-Control"] = "private, no-store"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        if filename:
            resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return resp

    return web


def add_health(web: Flask, services: Services) -> None:
    """/healthz and /readyz when Teams is served alone (beside Slack, Slack's own answer them), the same
    promises: /healthz is liveness (200 whenever this process serves HTTP; asks nothing of Redis or Teams),
    /readyz readiness (200 only when Redis answers now, else 503 with the reason)."""

    @web.get("/healthz")
    def healthz() -> Response:
        body: dict[str, Any] = {
            "ok": True, "version": __version__, "mode": services.settings.mode,
            "redis": {"breaker_open": services.store.breaker.is_open},
            "content": {"ok": True, "points": len(services.corpus.points), "themes": len(services.corpus.themes),
                        "briefings": len(services.corpus.briefings)},
        }  # fmt: skip
        return Response(json.dumps(body), status=200, mimetype="application/json")

    @web.get("/readyz")
    def readyz() -> Response:
        redis_status = services.store.health()
        body = {"ok": bool(redis_status["ok"]), "redis": redis_status}
        return Response(json.dumps(body), status=200 if body["ok"] else 503, mimetype="application/json")


def beside(main: WsgiApp, teams: WsgiApp) -> WsgiApp:
    """One WSGI app: /api/messages and the Teams links (/teams/...) to Teams, everything else to ``main`` (Slack's
    app, unchanged)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = str(environ.get("PATH_INFO") or "")
        target = teams if path == "/api/messages" or path.startswith("/teams/") else main
        return target(environ, start_response)

    return app
