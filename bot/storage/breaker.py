"""A circuit breaker on the Redis connection: after one failure, fail fast for a while.

Why: Slack gives every request 3 s. A frozen Redis (SIGSTOP, a stuck disk) accepts connections and
never answers, so each command waits its full socket timeout; twenty requests each making a few Redis
calls would hold every worker thread for seconds, lookups that need no Redis included. After one
connection error or timeout the breaker opens: every Redis call in this process fails at once with
``RedisUnavailable`` (a ``redis.ConnectionError``, so the existing "storage is down" paths answer)
for ``cooldown`` seconds. Then one call is let through as a probe; its answer closes the breaker,
its failure opens it again. Nothing is retried here: the caller decides (events answer 5xx so Slack
retries; commands say "try again in a minute").

It hooks into redis-py at the connection class, so plain commands, pipelines and scripts all pass
through it without the rest of the bot knowing.

On a Redis Cluster there is one breaker per node (``NodeBreakers``): a failed master fails fast on its
own, while the other masters keep serving their workspaces and the cluster client can still ask them
for the new slot map once a replica has been promoted. One breaker for the whole cluster would refuse
every workspace for a cool-down, and stop the client from learning the new map at all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.connection import AbstractConnection

from bot import metrics

log = logging.getLogger(__name__)


class RedisUnavailable(redis.ConnectionError):  # noqa: N818 - reads as "Redis unavailable"
    """Redis failed recently; the breaker is open and this call was not attempted."""


class Breaker:
    """Fail fast for ``cooldown`` seconds after a connection failure (see the module docstring)."""

    def __init__(self, cooldown: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.cooldown = cooldown
        self.clock = clock
        self._lock = threading.Lock()
        self._open_until = 0.0  # 0: closed
        self._probe: int | None = None  # the thread allowed through while half-open
        self.name = ""  # " at host:port" for one node of a cluster, in messages
        self.node = "redis"  # host:port on a cluster: the label of its breaker's gauge

    @property
    def is_open(self) -> bool:
        return self._open_until > 0

    def for_connection(self, connection: AbstractConnection) -> Breaker:
        """The breaker guarding ``connection``: this one, for a single server."""
        return self

    def before(self) -> None:
        """Raise ``RedisUnavailable`` unless this call may go to Redis."""
        if not self._open_until:
            return
        me = threading.get_ident()
        with self._lock:
            if not self._open_until or self._probe == me:
                return
            if self.clock() >= self._open_until and self._probe is None:
                self._probe = me  # half-open: this call finds out whether Redis is back
                return
        raise RedisUnavailable(f"Redis{self.name} failed recently; not trying again yet (circuit breaker open)")

    def failure(self, error: BaseException) -> None:
        with self._lock:
            was_open = bool(self._open_until)
            self._open_until = self.clock() + self.cooldown
            self._probe = None
        if not was_open:
            metrics.BREAKER_OPEN.labels(self.node).set(1)
            log.info("Redis%s unavailable (%s: %s); failing fast for %.0f s", self.name, type(error).__name__, error,
                     self.cooldown)

    def success(self) -> None:
        if not self._open_until:
            return
        with self._lock:
            self._open_until = 0.0
            self._probe = None
        metrics.BREAKER_OPEN.labels(self.node).set(0)
        log.info("Redis%s is answering again", self.name)

    def release(self) -> None:
        """A probe ended without a verdict (an unexpected exception): let another call probe."""
        if self._probe == threading.get_ident():
            with self._lock:
                self._probe = None


class NodeBreakers:
    """One ``Breaker`` per Redis node (host and port), for a Redis Cluster: a dead master trips only its own."""

    def __init__(self, cooldown: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.cooldown = cooldown
        self.clock = clock
        self._lock = threading.Lock()
        self._nodes: dict[str, Breaker] = {}

    def node(self, host: str, port: int | str) -> Breaker:
        name = f"{host}:{port}"
        with self._lock:
            breaker = self._nodes.get(name)
            if breaker is None:
                breaker = self._nodes[name] = Breaker(self.cooldown, self.clock)
                breaker.name = f" at {name}"
                breaker.node = name
            return breaker

    def for_connection(self, connection: AbstractConnection) -> Breaker:
        return self.node(getattr(connection, "host", "?"), getattr(connection, "port", "?"))

    @property
    def is_open(self) -> bool:
        """Whether any node's breaker is open."""
        with self._lock:
            return any(b.is_open for b in self._nodes.values())


_FAILURES = (redis.ConnectionError, redis.TimeoutError, OSError)


def guarded(base: type[AbstractConnection], breakers: Breaker | NodeBreakers) -> type[AbstractConnection]:
    """A subclass of redis-py's connection class ``base`` whose every round trip goes through the breaker
    for its server (``breakers.for_connection``): the one breaker, or its node's on a cluster."""

    def call(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: AbstractConnection, *args: Any, **kwargs: Any) -> Any:
            breaker = breakers.for_connection(self)
            breaker.before()
            try:
                result = method(self, *args, **kwargs)
            except RedisUnavailable:
                raise
            except redis.ResponseError:
                breaker.success()  # the server answered (with an error): it is alive
                raise
            except _FAILURES as exc:
                breaker.failure(exc)
                raise
            except BaseException:
                breaker.release()
                raise
            return result

        return wrapper

    def read_response(self: AbstractConnection, *args: Any, **kwargs: Any) -> Any:
        response = call(base.read_response)(self, *args, **kwargs)
        breakers.for_connection(self).success()
        return response

    return type(
        f"Guarded{base.__name__}",
        (base,),
        {"connect": call(base.connect), "send_packed_command": call(base.send_packed_command),
         "read_response": read_response},
    )  # fmt: skip
