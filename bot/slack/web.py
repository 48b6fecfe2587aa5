"""HTTP mode: Flask serving Bolt at /slack/events and a health check, under gunicorn.

Distributed mode (``SLACK_CLIENT_ID``/``SLACK_CLIENT_SECRET``) adds Bolt's OAuth flow at
``/slack/install`` and ``/slack/oauth_redirect``.

Bolt's own ``app.start()`` is a development server; gunicorn (threaded workers) is the
production server. The app object is built once in the gunicorn master, before workers fork,
so content is loaded and validated once and a bad deploy fails before it binds the port.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, request
from gunicorn.app.base import BaseApplication
from gunicorn.config import Config
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from werkzeug.exceptions import RequestEntityTooLarge

from bot import __version__
from bot.services import Services
from bot.slack import gate

log = logging.getLogger(__name__)


def create_web_app(services: Services, bolt_app: App) -> Flask:
    web = Flask("scr-bot")
    web.config["MAX_CONTENT_LENGTH"] = gate.MAX_BODY_BYTES  # also bounds chunked bodies as they are read
    handler = SlackRequestHandler(bolt_app)
    secret = services.settings.slack_signing_secret or ""

    def refuse(status: int, reason: str) -> Response:
        # One line, no traceback, nothing of the body: junk is logged as junk.
        log.warning("refused a request to /slack/events from %s: %s %s", request.remote_addr, status, reason)
        resp = Response(json.dumps({"ok": False, "error": reason}), status=status, mimetype="application/json")
        if status == 413:
            resp.headers["Connection"] = "close"  # the rest of the body is never read
        return resp

    @web.post("/slack/events")
    def slack_events() -> Response:
        if (request.content_length or 0) > gate.MAX_BODY_BYTES:
            return refuse(413, "body too large")
        try:
            raw = request.get_data(cache=True)
        except RequestEntityTooLarge:
            return refuse(413, "body too large")
        verdict = gate.check(raw, request.headers.get("X-Slack-Request-Timestamp"),
                             request.headers.get("X-Slack-Signature"), request.content_type or "", secret)  # fmt: skip
        if not verdict.ok:
            return refuse(verdict.status, verdict.reason)
        # Requests no feature handles are acknowledged by catch-all listeners (see bot.slack.app).
        return handler.handle(request)

    if services.settings.distributed:
        # "Add to Slack": Bolt's install page (sets the state cookie) and the redirect it comes back to.
        @web.get("/slack/install")
        def slack_install() -> Response:
            return handler.handle(request)

        @web.get("/slack/oauth_redirect")
        def slack_oauth_redirect() -> Response:
            return handler.handle(request)

    @web.get("/healthz")
    def healthz() -> Response:
        redis_status = services.store.health()
        body: dict[str, Any] = {
            "ok": bool(redis_status["ok"]),
            "version": __version__,
            "redis": redis_status,
            "content": {
                "ok": True,
                "points": len(services.corpus.points),
                "themes": len(services.corpus.themes),
                "briefings": len(services.corpus.briefings),
            },
        }
        return Response(json.dumps(body), status=200 if body["ok"] else 503, mimetype="application/json")

    return web


class GunicornServer(BaseApplication):
    """Run a ready-made WSGI app under gunicorn without a config file."""

    def __init__(self, application: Flask, options: dict[str, Any]):
        self.application = application
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def serve(services: Services, bolt_app: App, *, on_ready: Any = None) -> None:
    settings = services.settings
    options: dict[str, Any] = {
        "bind": f"0.0.0.0:{settings.port}",
        "workers": settings.web_concurrency,
        "worker_class": "gthread",
        "threads": 8,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "proc_name": "scr-bot",
    }
    if "control_socket_disable" in Config().settings:
        # Newer gunicorn opens a control socket at one path per user ($HOME/.gunicorn/gunicorn.ctl), shared
        # by every gunicorn on the host; scr-bot never uses it, and stopping it held each shutdown up to 4 s.
        options["control_socket_disable"] = True
    if on_ready is not None:
        options["when_ready"] = on_ready
    GunicornServer(create_web_app(services, bolt_app), options).run()
