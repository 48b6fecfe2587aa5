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

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.breaker import Breaker, guarded
from bot.config import Settings
from bot.embedded_redis import EmbeddedRedis
from bot.keys import Workspace, migrate

__all__ = ["Store", "Workspace", "make_client"]

log = logging.getLogger(__name__)


def make_client(url: str, timeout: float = 0.5, breaker: Breaker | None = None) -> redis.Redis:
    """A client that fails fast: every Slack request must be answered within 2.5 s whatever Redis does.

    ``timeout`` bounds each connect and each reply (a frozen server accepts connections and then says
    nothing); there are no retries, because a request has no time for them and an unknown outcome must
    not be repeated blindly; and ``breaker`` makes every call fail at once for a while after a failure,
    so one frozen Redis costs one timeout per cool-down, not one per call.
    """
    client = redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
    )
    if breaker is not None:
        pool = client.connection_pool
        pool.connection_class = guarded(pool.connection_class, breaker)
    return client


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
        older version to the current layout (``bot.keys.migrate``). Idempotent."""
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
            self._client = make_client(self.url, self.settings.redis_timeout_ms / 1000, self.breaker)
        return self._client

    def health(self) -> dict[str, object]:
        """What /healthz reports: whether Redis answers, and which kind it is (within one timeout, or at
        once while the breaker is open)."""
        kind = "embedded" if self.embedded else "external"
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
