"""One workspace cannot take every thread that runs work after the ack.

Bolt runs every lazy listener (the work after an ack: views.open, App Home, response_url answers) on one
small thread pool per process. A workspace whose Slack is slow or rate-limiting holds a thread for each of
its requests until its calls give up, and a handful of its App Home opens would leave none for anyone
else: a Reflect click in another workspace then waits in the pool's queue until its trigger_id (3 s) is
long expired.

So each workspace may have at most ``PER_WORKSPACE`` lazy listeners running at once. The excess is
**refused, politely**, not queued: the work runs in a thread the moment it is admitted, and queuing it
per workspace would only move the wait (a queued click is useless after 3 s anyway). A refused request
that came with a ``response_url`` (buttons, commands) is told to try again in a moment; one without
(an App Home open) is logged and dropped, and the next open publishes the tab.

Work that must not be dropped, because the person was already told it is happening or privacy depends
on it (posting a reflection they chose to share, the note saying what was masked, purging an uninstalled
workspace), is marked ``must_run``: it counts towards its workspace's bound but is never refused.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any

from bot import metrics

log = logging.getLogger(__name__)

PER_WORKSPACE = 2  # lazy listeners of one workspace running at once (Bolt's pool has 5 threads)
BUSY = ("I'm still working on your workspace's earlier requests, so I couldn't do that one. "
        "Please try again in a moment.")  # fmt: skip


def must_run(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a lazy listener that is never refused (it still counts towards its workspace's bound)."""
    func.scr_must_run = True  # type: ignore[attr-defined]
    return func


class TenantBound:
    """How many lazy listeners each workspace has running; ``admit`` / ``release`` around each one."""

    def __init__(self, limit: int = PER_WORKSPACE) -> None:
        self.limit = limit
        self._running: dict[tuple[str | None, str | None], int] = {}
        self._lock = threading.Lock()

    def admit(self, tenant: tuple[str | None, str | None], force: bool = False) -> bool:
        with self._lock:
            running = self._running.get(tenant, 0)
            if running >= self.limit and not force:
                metrics.LAZY_REFUSED.inc()
                return False
            self._running[tenant] = running + 1
        metrics.LAZY_RUNNING.inc()
        return True

    def release(self, tenant: tuple[str | None, str | None]) -> None:
        metrics.LAZY_RUNNING.dec()
        with self._lock:
            left = self._running.get(tenant, 1) - 1
            if left > 0:
                self._running[tenant] = left
            else:
                self._running.pop(tenant, None)

    def wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` as a lazy listener that runs only when its workspace is under its bound.

        Bolt passes a listener the arguments its signature names (``inspect.getfullargspec``), so the
        wrapper declares ``func``'s parameters plus ``context`` and ``body`` (which it needs to know the
        workspace and how to answer), and hands ``func`` only what it asked for."""
        wanted = list(inspect.signature(func).parameters)
        params = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                  for name in dict.fromkeys([*wanted, "context", "body"])]  # fmt: skip

        def bounded(**kwargs: Any) -> Any:
            context, body = kwargs["context"], kwargs["body"] or {}
            tenant = (context.enterprise_id, context.team_id)
            if not self.admit(tenant, force=getattr(func, "scr_must_run", False)):
                log.warning("workspace %s: %d requests already being worked on; refused a %s",
                            context.team_id, self.limit, func.__name__)  # fmt: skip
                if body.get("response_url") and context.respond is not None:
                    context.respond(text=BUSY, response_type="ephemeral", replace_original=False)
                return None
            try:
                return func(**{name: kwargs[name] for name in wanted})
            finally:
                self.release(tenant)

        bounded.__name__ = bounded.__qualname__ = func.__name__  # Bolt names lazy listeners by function
        bounded.__doc__ = func.__doc__
        bounded.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        return bounded
