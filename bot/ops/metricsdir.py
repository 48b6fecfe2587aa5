"""Where the processes of one bot write their metrics: ``PROMETHEUS_MULTIPROC_DIR``, set by the bot itself.

Why here and this early: ``prometheus_client`` decides at its first import whether values are shared through
files, so the folder is chosen before the first metric is made (``bot.metrics`` makes them on first use).
The process that serves the endpoint (``scr-bot run``, the supervisor when it runs the web server and the
clock) empties the folder at start: counters left by an earlier run would otherwise be added to this one's. Its children (gunicorn's workers,
forked; the clock, started by the supervisor) write into the same folder and never empty it. A ``scr-bot
clock`` started on its own (Procfile) writes into ``SCR_DATA_DIR/metrics`` without emptying it, for a web
process on the same machine to serve.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bot.config import Settings

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
PARENT = "SCR_METRICS_PARENT"  # the pid of the process that prepared the folder, for its children to trust


def prepare(settings: Settings, *, serves: bool) -> Path | None:
    """Choose (and, when ``serves``, empty) the metrics folder; None when metrics are off for this process."""
    inherited = os.environ.get(ENV)
    if inherited and os.environ.get(PARENT) == str(os.getppid()):
        return Path(inherited)  # the supervisor prepared it for us
    if not settings.metrics_port:
        os.environ.pop(ENV, None)  # off: plain in-process values, no files
        return None
    if "prometheus_client" in sys.modules:
        log.warning("metrics: prometheus_client was imported before its folder was chosen; values stay in-process")
    folder = _folder(settings.data_dir / "metrics", empty=serves)
    os.environ[ENV] = str(folder)
    os.environ[PARENT] = str(os.getpid())
    return folder


def _folder(wanted: Path, *, empty: bool) -> Path:
    """``wanted``, created (and emptied of an earlier run's files), or a fresh temporary folder if it cannot be."""
    try:
        if empty and wanted.is_dir():
            shutil.rmtree(wanted)
        wanted.mkdir(parents=True, exist_ok=True)
        probe = wanted / f".probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
        return wanted
    except OSError as exc:
        fallback = Path(tempfile.mkdtemp(prefix="scr-metrics-"))
        log.warning("metrics: cannot use %s (%s); writing them to %s", wanted, exc.strerror or exc, fallback)
        return fallback


def process_dead(pid: int) -> None:
    """A worker or the clock exited: its gauges of live things (the breaker, running listeners) stop counting."""
    folder = os.environ.get(ENV)
    if folder:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, folder)
