"""HTTP mode: Flask serving Bolt at /slack/events, /healthz (alive) and /readyz (ready), under gunicorn.

Distributed mode (``SLACK_CLIENT_ID``/``SLACK_CLIENT_SECRET``) adds Bolt's OAuth flow at
``/slack/install`` and ``/slack/oauth_redirect``.

Bolt's own ``app.start()`` is a development server; gunicorn (threaded workers) is the
production server. The app object is built once in the gunicorn master, before workers fork,
so content is loaded and validated once and a bad deploy fails before it binds the port.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from gunicorn.app.base import BaseApplication
from gunicorn.config import Config
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from werkzeug.exceptions import RequestEntityTooLarge

from bot import __version__, logs, metrics
from bot.services import Services
from bot.slack import gate
from bot.storage import crypto
from bot.storage.purge import pending_count

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
        arrived = time.perf_counter()
        token = logs.request_id.set(logs.new_request_id(request.headers.get("X-Request-Id")))
        kind = "refused"
        try:
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
            kind = verdict.kind
            # Requests no feature handles are acknowledged by catch-all listeners (see bot.slack.app).
            return handler.handle(request)
        finally:
            metrics.REQUEST_SECONDS.labels(kind).observe(time.perf_counter() - arrived)
            logs.request_id.reset(token)

    if services.settings.distributed:
        # "Add to Slack": Bolt's install page (sets the state cookie) and the redirect it comes back to.
        @web.get("/slack/install")
        def slack_install() -> Response:
            return handler.handle(request)

        @web.get("/slack/oauth_redirect")
        def slack_oauth_redirect() -> Response:
            return handler.handle(request)

    slack_check = SlackCheck(bolt_app.client)

    @web.get("/readyz")
    def readyz() -> Response:
        """Readiness, for a load balancer: 200 only when Redis answers now, Slack answered its last check
        (at most one a minute) and no workspace's data key failed to unwrap (a wrong master key), else 503
        with the reason. A frozen Redis costs one ``SCR_REDIS_TIMEOUT_MS``
        at most, then nothing while the breaker is open, so the answer comes within a second either way."""
        redis_status = services.store.health()
        slack_ok, slack_error = slack_check()
        key_problem = crypto.key_trouble()  # a data key this process cannot unwrap: a wrong SCR_MASTER_KEY
        body = {"ok": bool(redis_status["ok"]) and slack_ok and key_problem is None, "redis": redis_status,
                "slack": {"ok": slack_ok, **({"error": slack_error} if slack_error else {})},
                "encryption": {"ok": key_problem is None, **({"error": key_problem} if key_problem else {})}}  # fmt: skip
        return Response(json.dumps(body), status=200 if body["ok"] else 503, mimetype="application/json")

    @web.get("/healthz")
    def healthz() -> Response:
        """Liveness: 200 whenever this process serves HTTP. It asks neither Redis nor Slack, because a
        liveness probe that failed with them would have a supervisor restart a healthy process for someone
        else's outage (and a frozen Redis would hold the probe); /readyz is the check that depends on them."""
        body: dict[str, Any] = {
            "ok": True,
            "version": __version__,
            "mode": services.settings.mode,
            # Information only, from memory: whether this process's last Redis call failed (breaker open).
            "redis": {"breaker_open": services.store.breaker.is_open},
            "content": {
                "ok": True,
                "points": len(services.corpus.points),
                "themes": len(services.corpus.themes),
                "briefings": len(services.corpus.briefings),
            },
        }
        return Response(json.dumps(body), status=200, mimetype="application/json")

    return web


class SlackCheck:
    """Whether Slack's Web API answers: ``api.test`` (no token needed, so in every mode), at most once per
    ``every`` seconds per process; a readiness probe every few seconds must not become Slack traffic."""

    def __init__(self, client: Any, every: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.every = every
        self.clock = clock
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._last: tuple[bool, str] = (False, "not checked yet")

    def __call__(self) -> tuple[bool, str]:
        with self._lock:
            if self._checked_at is not None and self.clock() - self._checked_at < self.every:
                return self._last
            try:
                self.client.api_test()
                self._last = (True, "")
            except Exception as exc:  # any failure means "not ready", in one line
                self._last = (False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200])
            self._checked_at = self.clock()
            return self._last


def metrics_app(services: Services) -> Callable[..., Any]:
    """The Prometheus endpoint's WSGI app: every process's metrics, purges pending read at scrape."""
    client = services.store.client
    reg = metrics.registry(lambda: pending_count(client))
    return metrics.scrape_app(reg, services.settings.metrics_token)


def serve_metrics(services: Services) -> None:
    """Serve ``/metrics`` on ``SCR_METRICS_BIND:SCR_METRICS_PORT`` from a thread of this process (0: off)."""
    settings = services.settings
    if not settings.metrics_port:
        return
    metrics.serve(metrics_app(services), settings.metrics_bind, settings.metrics_port)
    log.info("metrics on http://%s:%s/metrics%s", settings.metrics_bind, settings.metrics_port,
             " (bearer token required)" if settings.metrics_token else "")  # fmt: skip


def gunicorn_logging(level: str) -> dict[str, Any]:
    """gunicorn's own log lines (worker start and exit, timeouts) as JSON too, for ``SCR_LOG_FORMAT=json``."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "bot.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False, "qualname": "gunicorn.error"},
            "gunicorn.access": {"level": level, "handlers": ["stderr"], "propagate": False, "qualname": "gunicorn.access"},
        },
        "root": {"level": level, "handlers": ["stderr"]},
    }


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


def serve(services: Services, bolt_app: App, *, on_ready: Any = None,
          wrap: Callable[[Any], Any] | None = None) -> None:
    """``wrap``: another front end's routes beside Slack's (``bot.teams.web.beside``), Slack's app unchanged."""
    app = create_web_app(services, bolt_app)
    serve_wsgi(services, wrap(app) if wrap else app, on_ready=on_ready)


def serve_wsgi(services: Services, app: Any, *, on_ready: Any = None) -> None:
    """Any front end's WSGI app under gunicorn, as Slack's is (Microsoft Teams alone serves its own this way)."""
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
    if settings.log_format == "json":
        options["logconfig_dict"] = gunicorn_logging(settings.log_level)

    def when_ready(server: Any) -> None:
        serve_metrics(services)  # in the master: one endpoint for every worker (and the clock) of this bot
        if on_ready is not None:
            on_ready(server)

    def child_exit(server: Any, worker: Any) -> None:
        """A dead worker's gauges of live things (the breaker, running listeners) stop counting."""
        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if folder:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(worker.pid, folder)

    options["when_ready"] = when_ready
    options["child_exit"] = child_exit
    GunicornServer(app, options).run()
