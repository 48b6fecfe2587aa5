"""The store: a real embedded Redis when no REDIS_URL is set, namespaced per workspace."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from bot.config import load_settings
from bot.storage.embedded_redis import EmbeddedRedis, EmbeddedRedisError
from bot.storage.store import Store


def test_embedded_redis_persists_across_restart(tmp_path: Path) -> None:
    settings = load_settings({"SCR_DATA_DIR": str(tmp_path / "var")}, dotenv=False)
    store = Store(settings).start()
    assert store.health() == {"ok": True, "kind": "embedded"}
    store.client.set("scr:test", "kept")
    pid = store.embedded.process.pid
    store.close()
    with pytest.raises((ProcessLookupError, PermissionError)):
        import os

        os.kill(pid, 0)  # the server process is gone after close
    again = Store(settings).start()
    try:
        assert again.client.get("scr:test") == "kept"
    finally:
        again.close()


def test_second_process_joins_a_running_embedded_server(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path)
    url = first.start()
    try:
        second = EmbeddedRedis(tmp_path)
        assert second.start() == url
        assert second.process is None  # joined, did not start another
        second.stop()  # a joiner never stops someone else's server
        assert redis.Redis.from_url(url).ping()
    finally:
        first.stop()


def test_missing_binary_gives_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedRedisError, match="REDIS_URL"):
        EmbeddedRedis(tmp_path, executable=str(tmp_path / "no-such-redis")).start()


def test_external_redis_url_is_used(redis_server) -> None:  # noqa: ANN001
    store = Store(load_settings({"REDIS_URL": redis_server.url}, dotenv=False)).start()
    assert store.embedded is None
    assert store.health() == {"ok": True, "kind": "external"}
    store.close()


def test_health_reports_redis_down_without_raising() -> None:
    from conftest import free_port

    store = Store(load_settings({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}, dotenv=False))
    status = store.health()
    assert status["ok"] is False
    assert status["error"]
