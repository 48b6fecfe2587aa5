"""The one way the bot reaches Redis, and how keys are namespaced per Slack workspace.

Everything the bot keeps (schedules, posts, rotation, reflections) goes through a ``redis.Redis``
handed out here, and every workspace's data lives under its own key prefix, so no command can
reach another workspace's data by accident.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from bot.config import Settings
from bot.storage.breaker import Breaker, guarded
from bot.storage.embedded_redis import EmbeddedRedis
from bot.storage.keys import Workspace, migrate

__all__ = ["Store", "Workspace", "make_client"]

log = logging.getLogger(__name__)
POOL_WAIT = 2.0  # seconds a thread waits for a free Redis connection (inside the 2.5 s answer budget)


def make_client(url: str, timeout: float = 0.5, breaker: Breaker | None = None, *, cluster: bool = False,
                max_connections: int = 64) -> redis.Redis:  # fmt: skip
    """A client that fails fast: every Slack request must be answered within 2.5 s whatever Redis does.

    ``timeout`` bounds each connect and each reply (a frozen server accepts connections and then says
    nothing); there are no retries, because a request has no time for them and an unknown outcome must
    not be repeated blindly; and ``breaker`` makes every call fail at once for a while after a failure,
    so one frozen Redis costs one timeout per cool-down, not one per call.

    ``cluster`` (``REDIS_CLUSTER=1``) gives a ``redis.cluster.RedisCluster`` that discovers the other
    nodes from the one in the URL; every key carries its workspace's hash tag, so each multi-key command
    and script stays in one slot. ``rediss://`` URLs use TLS, and their query parameters pass through to
    redis-py (``?ssl_cert_reqs=none`` for a managed service's self-signed certificate,
    ``ssl_ca_certs=/path/ca.pem`` to pin its CA instead).

    ``max_connections`` (``REDIS_MAX_CONNECTIONS``) bounds the connections one process opens (small
    managed plans allow few; redis-py's own pool fails beyond 100): threads beyond it wait for a free one
    (at most ``POOL_WAIT`` seconds) instead of failing.
    """
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 30,
    }
    if cluster:
        if breaker is not None:
            options["connection_class"] = guarded(redis.Connection, breaker)
        # One pool per node; the cluster client has no blocking pool, so the bound is per node.
        return LazyCluster(url, {**options, "max_connections": max_connections})  # type: ignore[return-value]
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=POOL_WAIT, **options)
    if breaker is not None:
        pool.connection_class = guarded(pool.connection_class, breaker)
    return redis.Redis(connection_pool=pool)


class LazyCluster:
    """A ``redis.cluster.RedisCluster``, built on first use.

    The cluster client asks a node for the slot map as soon as it is built. Building it lazily, and
    turning "no node reachable" into the ``redis.ConnectionError`` every caller already handles, keeps
    the bot's promise with Redis away: it starts, lookups work, and the next use tries again.
    """

    def __init__(self, url: str, options: dict[str, Any]):
        self._url = url
        self._options = options
        self._client: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from redis.cluster import RedisCluster

                    try:
                        self._client = RedisCluster.from_url(self._url, **self._options)
                    except RedisClusterException as exc:
                        raise redis.ConnectionError(f"Redis Cluster unreachable: {exc}") from None
        return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class Store:
    """Owns the Redis connection, starting the embedded server when no ``REDIS_URL`` is set."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.embedded: EmbeddedRedis | None = None
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()
        self.url = settings.redis_url
        self.breaker = Breaker(cooldown=settings.redis_breaker_seconds)
        self._migrated = False

    def start(self) -> Store:
        """Resolve the server: REDIS_URL, or start (or join) the embedded one; then bring keys written by an
        older version to the current layout (``bot.storage.keys.migrate``). Idempotent."""
        with self._lock:
            if self.url is None:
                self.embedded = EmbeddedRedis(self.settings.data_dir)
                self.url = self.embedded.start()
                atexit.register(self.close)
        if not self._migrated:
            try:
                migrate(self.client)
                self._migrated = True
            except (redis.RedisError, OSError) as exc:  # Redis away: the next start tries again
                log.warning("could not check Redis keys for migration (%s)", type(exc).__name__)
        return self

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            if self.url is None:
                self.start()
            assert self.url is not None
            self._client = make_client(self.url, self.settings.redis_timeout_ms / 1000, self.breaker,
                                       cluster=self.settings.redis_cluster,
                                       max_connections=self.settings.redis_max_connections)  # fmt: skip
        return self._client

    def health(self) -> dict[str, object]:
        """What /healthz reports: whether Redis answers, and which kind it is (within one timeout, or at
        once while the breaker is open)."""
        kind = "embedded" if self.embedded else ("cluster" if self.settings.redis_cluster else "external")
        try:
            self.client.ping()
            return {"ok": True, "kind": kind}
        except (redis.RedisError, OSError) as exc:
            return {"ok": False, "kind": kind, "error": type(exc).__name__}

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):  # closing a dead connection
                self._client.close()
            self._client = None
        if self.embedded is not None:
            self.embedded.stop()
