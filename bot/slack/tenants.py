"""One workspace cannot take every thread that runs work after the ack, and a click always finds a thread.

Bolt runs every lazy listener (the work after an ack: views.open, App Home, response_url answers) on a
thread pool. A workspace whose Slack is slow or rate-limiting holds a thread for each of its requests until
its calls give up; a handful of those would leave none for anyone else, and a Reflect click in another
workspace would then wait in the pool's queue until its trigger_id (3 s) is long expired.

So the work after the ack runs in two **lanes**, each a pool of its own (``LazyLanes``, installed as Bolt's
lazy-listener runner by ``bot.slack.app.ScrApp``):

- the **trigger lane**, for listeners marked ``trigger_bound``: those that spend a ``trigger_id``
  (``views.open`` right after a click). Nothing else runs on it, so no amount of App Home, thread-reply or
  share work, in any workspace, delays a form. One such listener per workspace runs at a time; a workspace's
  next click waits behind it, and a click that has waited past what its trigger allows is told to try again
  (``TRIGGER_WAIT``) rather than spending a thread on an expired trigger.
- the **general lane**, for everything else, with at most ``PER_WORKSPACE`` listeners of one workspace
  submitted to the pool at a time (running or waiting for a thread). The pool has ``GENERAL_THREADS``
  threads, several times that bound, so a few misbehaving workspaces together still leave threads for the
  others. A workspace's excess is **refused, politely**: a request with a ``response_url`` (buttons,
  commands) is told to try again in a moment; one without (an App Home open) is logged and dropped, and the
  next open publishes the tab. Work that must not be dropped, because the person was already told it is
  happening or privacy depends on it (posting a reflection they chose to share, the note saying what was
  masked, purging an uninstalled workspace), is marked ``must_run``: it is never refused but **queued**
  behind its own workspace's work, so it too is held to the bound.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.lazy_listener.internals import build_runnable_function
from slack_bolt.lazy_listener.runner import LazyListenerRunner
from slack_bolt.request import BoltRequest

from bot import metrics

log = logging.getLogger(__name__)

Tenant = tuple[str | None, str | None]  # (enterprise, team)

PER_WORKSPACE = 2  # general-lane listeners of one workspace in the pool at once
GENERAL_THREADS = 10  # five workspaces at their bound before a sixth waits for a thread
TRIGGER_PER_WORKSPACE = 1  # trigger-bound listeners of one workspace running at once (the next waits)
TRIGGER_THREADS = 6  # six workspaces whose views.open hangs before a seventh's click waits
TRIGGER_WAIT = 2.0  # seconds a click may wait for its workspace's previous one: views.open still has 1 s
BUSY = ("I'm still working on your workspace's earlier requests, so I couldn't do that one. "
        "Please try again in a moment.")  # fmt: skip


def must_run(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a lazy listener that is never refused: queued behind its workspace's work instead."""
    func.scr_must_run = True  # type: ignore[attr-defined]
    return func


def trigger_bound(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a lazy listener that spends a ``trigger_id`` (3 s from the click): it runs on the trigger lane."""
    func.scr_trigger_bound = True  # type: ignore[attr-defined]
    return func


class ContextExecutor(ThreadPoolExecutor):
    """A lane's pool: jobs waiting for a thread are counted (``scr_lazy_queued``)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        metrics.LAZY_QUEUED.inc()

        def started() -> Any:
            metrics.LAZY_QUEUED.dec()
            return fn(*args, **kwargs)

        return super().submit(started)


@dataclass
class _Job:
    run: Callable[[], Any]
    name: str
    refused: Callable[[], None] | None  # tells the person to try again (None: nobody is waiting on an answer)
    queued_at: float = field(default_factory=time.monotonic)


class Lane:
    """A pool plus how many jobs of each workspace it holds; the excess is queued (per workspace) or refused."""

    def __init__(self, name: str, executor: Executor, per_workspace: int, max_wait: float | None = None) -> None:
        self.name = name
        self.executor = executor
        self.per_workspace = per_workspace
        self.max_wait = max_wait  # a queued job older than this is refused rather than run
        self._running: dict[Tenant, int] = {}
        self._waiting: dict[Tenant, deque[_Job]] = {}
        self._lock = threading.Lock()

    def submit(self, tenant: Tenant, job: _Job, *, queue: bool) -> bool:
        """Hand ``job`` to the pool if its workspace is under its bound, else queue it (``queue``) or refuse it
        (False). Each job runs in the context of the request that submitted it (its request id in the logs)."""
        context = contextvars.copy_context()
        job.run = _in_context(context, job.run)
        with self._lock:
            running = self._running.get(tenant, 0)
            if running >= self.per_workspace:
                if not queue:
                    metrics.LAZY_REFUSED.inc()
                    return False
                self._waiting.setdefault(tenant, deque()).append(job)
                metrics.LAZY_QUEUED.inc()
                return True
            self._running[tenant] = running + 1
        self.executor.submit(self._run, tenant, job)
        return True

    def _run(self, tenant: Tenant, job: _Job) -> None:
        metrics.LAZY_RUNNING.inc()
        try:
            job.run()
        except Exception:  # Bolt's wrapper logs listener errors; this guards the lane's own bookkeeping
            log.exception("lazy listener %s failed", job.name)
        finally:
            metrics.LAZY_RUNNING.dec()
            self._next(tenant)

    def _next(self, tenant: Tenant) -> None:
        """The workspace's next queued job takes the place of the one that finished (or its place is freed)."""
        while True:
            with self._lock:
                waiting = self._waiting.get(tenant)
                if not waiting:
                    self._waiting.pop(tenant, None)
                    left = self._running.get(tenant, 1) - 1
                    if left > 0:
                        self._running[tenant] = left
                    else:
                        self._running.pop(tenant, None)
                    return
                job = waiting.popleft()
                metrics.LAZY_QUEUED.dec()
            if self.max_wait is not None and time.monotonic() - job.queued_at > self.max_wait:
                metrics.LAZY_REFUSED.inc()
                log.warning("workspace %s: %s waited %.1f s behind the workspace's earlier one; refused",
                            tenant[1], job.name, time.monotonic() - job.queued_at)  # fmt: skip
                if job.refused is not None:
                    _quietly(job.refused)
                continue
            self.executor.submit(self._run, tenant, job)
            return


def _in_context(context: contextvars.Context, fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        return context.run(fn)

    return run


def _quietly(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception as exc:  # a refusal note that cannot be delivered changes nothing
        log.warning("could not tell the person to try again: %s", exc)


class LazyLanes(LazyListenerRunner):
    """Bolt's lazy-listener runner, replaced: each lazy listener goes to its lane under its workspace's bound.

    ``executor`` (the offline shell's, which it waits on) serves every lane when given; otherwise each lane
    has its own pool. ``prepare`` is told of each request before it is placed (single-token mode pins it to
    the token's workspace: Bolt rebuilt it from the body)."""

    def __init__(self, logger: logging.Logger, executor: Executor | None = None,
                 prepare: Callable[[BoltRequest], None] | None = None) -> None:  # fmt: skip
        self.logger = logger
        self.prepare = prepare
        self.trigger = Lane("trigger", executor or ContextExecutor(TRIGGER_THREADS, "scr-trigger"),
                            TRIGGER_PER_WORKSPACE, max_wait=TRIGGER_WAIT)  # fmt: skip
        self.general = Lane("general", executor or ContextExecutor(GENERAL_THREADS, "scr-lazy"), PER_WORKSPACE)
        # Refusal notes go to response_url after the ack (never before it), on a thread of their own.
        self.notices = executor or ContextExecutor(1, "scr-busy")

    def start(self, function: Callable[..., Any], request: BoltRequest) -> None:
        if self.prepare is not None:
            self.prepare(request)
        context = request.context
        tenant: Tenant = (context.enterprise_id, context.team_id)
        name = getattr(function, "__name__", "listener")
        respond = context.respond if (request.body or {}).get("response_url") else None
        refused = (lambda: respond(text=BUSY, response_type="ephemeral", replace_original=False)) if respond else None
        job = _Job(build_runnable_function(func=function, logger=self.logger, request=request), name, refused)
        if getattr(function, "scr_trigger_bound", False):
            self.trigger.submit(tenant, job, queue=True)
            return
        if self.general.submit(tenant, job, queue=getattr(function, "scr_must_run", False)):
            return
        log.warning("workspace %s: %d requests already being worked on; refused a %s",
                    context.team_id, self.general.per_workspace, name)  # fmt: skip
        if refused is not None:
            self.notices.submit(_quietly, refused)

