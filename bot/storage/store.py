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
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from bot.config import Settings
from bot.storage import crypto
from bot.storage.breaker import Breaker, NodeBreakers, guarded
from bot.storage.embedded_redis import EmbeddedRedis
from bot.storage.keys import Workspace, migrate

__all__ = ["ClusterUnavailable", "Store", "Workspace", "make_client"]

log = logging.getLogger(__name__)
POOL_WAIT = 2.0  # seconds a thread waits for a free Redis connection (inside the 2.5 s answer budget)


def make_client(url: str, timeout: float = 0.5, breaker: Breaker | NodeBreakers | None = None, *,
                cluster: bool = False, max_connections: int = 64,
                cluster_nodes: tuple[str, ...] = ()) -> redis.Redis:  # fmt: skip
    """A client that fails fast: every Slack request must be answered within 2.5 s whatever Redis does.

    ``timeout`` bounds each connect and each reply (a frozen server accepts connections and then says
    nothing); there are no retries, because a request has no time for them and an unknown outcome must
    not be repeated blindly; and ``breaker`` makes every call fail at once for a while after a failure,
    so one frozen Redis costs one timeout per cool-down, not one per call.

    ``cluster`` (``REDIS_CLUSTER=1``) gives a ``redis.cluster.RedisCluster`` that discovers the other
    nodes from the one in the URL, or from any of ``cluster_nodes`` (``REDIS_CLUSTER_NODES``, ``host:port``
    each, so a process can start while one node is down); every key carries its workspace's hash tag, so
    each multi-key command and script stays in one slot. Pass a ``NodeBreakers`` for a cluster: one
    breaker per node, so a failed master trips only its own (see ``bot.storage.breaker``). ``rediss://`` URLs use TLS, and their query parameters pass through to
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
        # redis-py's URL parsing would put its own connection class for rediss:// over ours, silently
        # dropping the breaker; so the URL goes in as redis:// and the (guarded) TLS class is given here.
        # Its query parameters (ssl_cert_reqs, ssl_ca_certs...) still pass through to each connection.
        tls = url.startswith("rediss://")
        base = redis.SSLConnection if tls else redis.Connection
        if tls:
            url = "redis://" + url[len("rediss://"):]
        options["connection_class"] = guarded(base, breaker) if breaker is not None else base
        # One pool per node; the cluster client has no blocking pool, so the bound is per node.
        return LazyCluster(url, {**options, "max_connections": max_connections}, cluster_nodes)  # type: ignore[return-value]
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=POOL_WAIT, **options)
    if breaker is not None:
        pool.connection_class = guarded(pool.connection_class, breaker)
    return redis.Redis(connection_pool=pool)


class ClusterUnavailable(redis.ConnectionError):  # noqa: N818 - reads as "cluster unavailable"
    """The cluster client could not serve a command (no node reachable, a slot no master covers...).

    redis-py raises ``RedisClusterException`` and ``SlotNotCoveredError`` for these, which are not
    ``redis.RedisError``: every "storage is down" path (and the Bolt error handler's 503) would miss them
    and answer 500 with a traceback. As a ``redis.ConnectionError`` they are storage being down.
    """


def _unavailable(exc: RedisClusterException) -> ClusterUnavailable:
    return ClusterUnavailable(f"Redis Cluster unavailable ({type(exc).__name__}: {exc})")


def _cluster_class() -> type:
    """``RedisCluster`` whose commands and pipelines raise ``ClusterUnavailable`` for cluster errors."""
    from redis.cluster import RedisCluster

    class Cluster(RedisCluster):
        def execute_command(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().execute_command(*args, **kwargs)
            except RedisClusterException as exc:
                raise _unavailable(exc) from exc

        def pipeline(self, *args: Any, **kwargs: Any) -> Any:
            pipe = super().pipeline(*args, **kwargs)
            execute = pipe.execute

            def guarded_execute(*a: Any, **kw: Any) -> Any:
                try:
                    return execute(*a, **kw)
                except RedisClusterException as exc:
                    raise _unavailable(exc) from exc

            pipe.execute = guarded_execute
            return pipe

    return Cluster


class LazyCluster:
    """A ``redis.cluster.RedisCluster``, built on first use.

    The cluster client asks a node for the slot map as soon as it is built. Building it lazily, and
    turning "no node reachable" into the ``redis.ConnectionError`` every caller already handles, keeps
    the bot's promise with Redis away: it starts, lookups work, and the next use tries again. The
    error names every start-up node it tried, so the operator knows which are down.
    """

    def __init__(self, url: str, options: dict[str, Any], nodes: tuple[str, ...] = ()):
        self._url = url
        self._options = options
        self._nodes = nodes
        self._client: Any = None
        self._lock = threading.Lock()

    def _startup(self) -> list[str]:
        from redis.connection import parse_url

        first = parse_url(self._url)
        return [f"{first.get('host', 'localhost')}:{first.get('port', 6379)}", *self._nodes]

    def _get(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from redis.cluster import ClusterNode

                    extra = [ClusterNode(node.rpartition(":")[0], int(node.rpartition(":")[2])) for node in self._nodes]
                    try:
                        self._client = _cluster_class().from_url(self._url, startup_nodes=extra, **self._options)
                    except (RedisClusterException, redis.RedisError) as exc:
                        raise ClusterUnavailable(f"Redis Cluster unreachable at {', '.join(self._startup())} "
                                                 f"({type(exc).__name__}: {exc})") from None  # fmt: skip
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
        self.breaker: Breaker | NodeBreakers = (NodeBreakers if settings.redis_cluster else Breaker)(
            cooldown=settings.redis_breaker_seconds)
        self._migrated = False
        # A missing master key stops start-up now, with one line; a key file (offline and embedded modes) is
        # made only when Redis is first used, so a command that stops on another mistake writes nothing.
        crypto.Keyring.check_settings(settings)
        self._keyring: crypto.Keyring | None = None
        self._keyring_lock = threading.Lock()

    @property
    def keyring(self) -> crypto.Keyring:
        """The master key(s) (bot.storage.crypto), loaded (or, offline, its key file made) on first use."""
        with self._keyring_lock:
            if self._keyring is None:
                self._keyring = crypto.Keyring.from_settings(self.settings)
            return self._keyring

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
                log.warning("could not check Redis keys for migration (%s: %s)", type(exc).__name__, exc)
        return self

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            if self.url is None:
                self.start()
            assert self.url is not None
            self._client = make_client(self.url, self.settings.redis_timeout_ms / 1000, self.breaker,
                                       cluster=self.settings.redis_cluster,
                                       max_connections=self.settings.redis_max_connections,
                                       cluster_nodes=self.settings.redis_cluster_nodes)  # fmt: skip
            # Every store built on this client seals with this store's keys, loaded when first needed: a command
            # that never reads or writes sealed data (or stops on a Redis error first) writes no key file.
            crypto.attach(self._client, cast(crypto.Keyring, _KeyringOnFirstUse(self)))
        return self._client

    def health(self) -> dict[str, object]:
        """What /readyz reports: whether Redis answers, and which kind it is (within one timeout, or at
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


class _KeyringOnFirstUse:
    """Stands in for a store's ``Keyring`` until something is sealed or opened, then is that keyring."""

    def __init__(self, store: Store):
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store.keyring, name)
