"""Every Prometheus metric of scr-bot, defined here and only here (``prometheus_client``).

Why one module at the bottom of the package: the core counts what it produces (weekly posts and summaries,
knowledge checks, digests) where the results are made, so every path that delivers (the clock, ``scr-bot
schedule run-due``, ``post-now``) is counted once, without the core knowing how metrics are served. This
module imports nothing of the bot and nothing of Slack.

Processes: under gunicorn each worker, the master and the clock are separate processes. The operator side
(``bot.ops.metricsdir``) sets ``PROMETHEUS_MULTIPROC_DIR`` before the first metric is made (on first use, not
at import: prometheus_client is imported then, and only then chooses its kind of values), so every
process writes its values to files there and the one endpoint (``scrape_app``) adds them up. Gauges of
things that live in a process (the breaker, running lazy listeners) count only live processes; a dead
worker's files are marked with ``mark_process_dead``. Without the variable (tests, the offline shell) the
metrics are plain in-process values.

Cost: an ``inc`` or ``observe`` is a lock and an add (an mmap write in multiprocess mode), microseconds;
``bench/bench_metrics.py`` measures it against a lookup.
"""

from __future__ import annotations

import hmac
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.core import GaugeMetricFamily

# Slack gives a request 3 s; the buckets say how close to it answers come.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)

# The metrics, made on first use (``_define``): prometheus_client picks in-process or multiprocess values when it
# is imported, so it is imported only once a process has chosen its folder (bot.ops.metricsdir), however early
# this module was imported.
REQUEST_SECONDS: Histogram
POSTS: Counter
KNOWLEDGE_CHECKS: Counter
DIGESTS: Counter
SLACK_CALLS: Counter
SLACK_RATELIMITED: Counter
BREAKER_OPEN: Gauge
LAZY_RUNNING: Gauge
LAZY_QUEUED: Gauge
LAZY_REFUSED: Counter
_NAMES = frozenset(__annotations__)  # the ten names declared just above
_defining = threading.Lock()


def _define() -> None:
    """Make every metric, once per process."""
    with _defining:
        if globals().keys() >= _NAMES:
            return
        from prometheus_client import Counter, Gauge, Histogram

        globals().update(
            REQUEST_SECONDS=Histogram(
                "scr_request_seconds", "Time from a Slack request's arrival to the bot's HTTP answer, by kind "
                "(command: slash commands, lookups included; event; action; view; other; refused: failed the gate)",
                ["kind"], buckets=LATENCY_BUCKETS),
            POSTS=Counter("scr_weekly_posts_total", "Weekly posts and thread summaries by outcome (posted, recovered: "
                          "a lost answer found in Slack, already, busy, failed, retry; not_due and stale are not "
                          "counted)", ["kind", "outcome"]),
            KNOWLEDGE_CHECKS=Counter("scr_knowledge_checks_total",
                                     "Knowledge checks by DM, by outcome (sent, failed, retry)", ["outcome"]),
            DIGESTS=Counter("scr_digests_total", "Monthly digests, by outcome (sent, failed, retry)", ["outcome"]),
            SLACK_CALLS=Counter("scr_slack_api_calls_total",
                                "Web API attempts sent to Slack (retries included), by method", ["method"]),
            SLACK_RATELIMITED=Counter("scr_slack_api_ratelimited_total", "Web API calls answered 429, by method and "
                                      "by whom (slack: Slack said so; gate: the bot's own gate did not send it)",
                                      ["method", "source"]),
            BREAKER_OPEN=Gauge("scr_redis_breaker_open", "1 while the Redis circuit breaker of a node is open in any "
                               "live process (node: host:port on a Cluster, 'redis' for one server)", ["node"],
                               multiprocess_mode="livemax"),
            LAZY_RUNNING=Gauge("scr_lazy_running", "Lazy listeners (work after an ack) running now, all processes",
                               multiprocess_mode="livesum"),
            LAZY_QUEUED=Gauge("scr_lazy_queued", "Lazy listeners waiting for a thread of the pool, all processes",
                              multiprocess_mode="livesum"),
            LAZY_REFUSED=Counter("scr_lazy_refused_total",
                                 "Lazy listeners refused because their workspace had too many running"),
        )  # fmt: skip


def __getattr__(name: str) -> Any:
    """``metrics.POSTS`` and the rest: made on first use (see ``_define``)."""
    if name in _NAMES:
        _define()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Outcomes that say nothing happened: not counted, so a sweep every few minutes does not drown the rest.
QUIET = frozenset({"not_due", "stale", "no_post", "none", "closed"})


def count_posts(kind: str, outcomes: Iterable[str]) -> None:
    """Count weekly posts (``kind`` post) or summaries (``summary``) by outcome."""
    posts = __getattr__("POSTS")
    for outcome in outcomes:
        if outcome not in QUIET:
            posts.labels(kind, outcome).inc()


def count_sent(counter: Counter, outcomes: Iterable[str]) -> None:
    """Count knowledge checks or digests by outcome (``KNOWLEDGE_CHECKS`` or ``DIGESTS``)."""
    for outcome in outcomes:
        if outcome not in QUIET and outcome != "already":
            counter.labels(outcome).inc()


class Gauges:
    """Gauges computed when Prometheus scrapes (one Redis read each), not kept up to date by the code paths."""

    def __init__(self, purges_pending: Callable[[], int]):
        self.purges_pending = purges_pending

    def describe(self) -> list[Any]:
        return []  # computed at scrape: nothing to check at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            pending = float(self.purges_pending())
        except Exception:  # Redis down: no sample, and the scrape still answers with everything else
            return
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily("scr_purges_pending", "Uninstalled workspaces whose data is not yet all deleted",
                                value=pending)  # fmt: skip


def registry(purges_pending: Callable[[], int] | None = None) -> CollectorRegistry:
    """What a scrape answers: every process's values (multiprocess mode) or this process's, plus the gauges
    computed at scrape."""
    from prometheus_client import CollectorRegistry

    _define()  # a process that has counted nothing yet still shows every metric
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        reg = CollectorRegistry()
        multiprocess.MultiProcessCollector(reg)
    else:
        from prometheus_client import REGISTRY

        reg = CollectorRegistry()
        for collector in list(REGISTRY._collector_to_names):  # this process's metrics, in a registry of our own
            reg.register(collector)
    if purges_pending is not None:
        reg.register(Gauges(purges_pending))
    return reg


def scrape_app(reg: CollectorRegistry, token: str | None = None) -> Callable[..., Iterable[bytes]]:
    """A WSGI app answering ``GET /metrics`` with ``reg``; with ``token``, only to ``Authorization: Bearer token``."""
    from prometheus_client import generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    expected = f"Bearer {token}".encode() if token else None

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "/") not in ("/metrics", "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: try /metrics\n"]
        given = environ.get("HTTP_AUTHORIZATION", "").encode("latin-1", "replace")
        if expected is not None and not hmac.compare_digest(given, expected):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"unauthorized\n"]
        body = generate_latest(reg)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
        return [body]

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """A scrape every 15 s is not news."""


class _ThreadingServer(WSGIServer):
    daemon_threads = True


def serve(app: Callable[..., Iterable[bytes]], host: str, port: int) -> WSGIServer:
    """Serve ``app`` on ``host:port`` from a daemon thread; returns the server (``shutdown()`` stops it)."""
    from socketserver import ThreadingMixIn

    server_class = type("MetricsServer", (ThreadingMixIn, _ThreadingServer), {})
    server = make_server(host, port, app, server_class=server_class, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
