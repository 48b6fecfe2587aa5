"""``scr-bot run`` in HTTP mode with the scheduler on: the web server and the clock as sibling processes.

Why not the scheduler inside the web server: gunicorn's master forks a worker at start-up and again
whenever one dies, so a scheduler started in the master hands its thread pools and Redis connection
to every fork. Here the ``run`` process only supervises. It starts ``scr-bot run --no-scheduler``
(gunicorn) and ``scr-bot clock`` as its children; each is a fresh ``exec``, and the clock process
never forks. A clock that dies is restarted (with back-off, since exactly-once posting makes a
restart safe at any moment); if the web server exits, so does ``run``. On SIGTERM or Ctrl-C both
children get SIGTERM and are waited for, then anything they did not stop is killed. On Linux the
children are also told to stop if the supervisor itself is killed outright (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

GRACE_SECONDS = 15.0  # gunicorn's graceful timeout is 10 s
RESTART_BACKOFF = (1.0, 2.0, 5.0, 15.0, 60.0)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: deliver SIGTERM to this child when its parent (the supervisor) dies, even by SIGKILL."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    name: str
    args: Sequence[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        preexec: Callable[[], None] | None = _die_with_parent if sys.platform.startswith("linux") else None
        self.process = subprocess.Popen([sys.executable, "-m", "bot", *self.args], preexec_fn=preexec)  # noqa: PLW1509
        self.started_at = time.monotonic()
        log.info("started the %s process (pid %s)", self.name, self.process.pid)

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("the %s process did not stop in time; killing it", self.name)
            self.process.kill()
            self.process.wait()


def _forget(child: Child) -> None:
    """A dead clock's gauges of live things no longer count (see ``bot.ops.metricsdir``)."""
    if child.process is not None:
        from bot.ops.metricsdir import process_dead

        process_dead(child.process.pid)


def run_web_and_clock(poll: float = 0.2) -> int:
    """Run the web server and the clock until the web server exits or this process is told to stop."""
    web = Child("web", ["run", "--no-scheduler"])
    clock = Child("clock", ["clock"])
    web.start()
    clock.start()
    restart_at: float | None = None
    code = 0
    try:
        while True:
            time.sleep(poll)
            status = web.exited()
            if status is not None:
                log.error("the web server exited (code %s); stopping", status)
                code = status or 1
                break
            status = clock.exited()
            if status is not None and restart_at is None:
                # A clock that ran for a while is restarted quickly; one that keeps dying backs off.
                if time.monotonic() - clock.started_at > 300:
                    clock.restarts = 0
                delay = RESTART_BACKOFF[min(clock.restarts, len(RESTART_BACKOFF) - 1)]
                log.error("the clock process exited (code %s); restarting it in %.0f s", status, delay)
                _forget(clock)
                restart_at = time.monotonic() + delay
            if restart_at is not None and time.monotonic() >= restart_at:
                clock.restarts += 1
                clock.start()
                restart_at = None
    finally:
        deadline = time.monotonic() + GRACE_SECONDS
        for child in (clock, web):
            child.terminate()
        for child in (clock, web):
            child.wait(deadline)
        log.info("web server and clock stopped")
    return code
