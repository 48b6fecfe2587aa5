"""``rediss://`` against a real TLS Redis with a self-signed certificate, as managed services run it.

The README documents the URL parameters; these tests hold them to it: ``ssl_cert_reqs=none`` for an
unverifiable self-signed certificate, ``ssl_ca_certs`` to pin the service's own CA, and a plain
``rediss://`` refusing a certificate it cannot verify (reported by /healthz, not a crash).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.config import load_settings
from bot.storage.embedded_redis import find_redis_server
from bot.storage.store import Store
from conftest import free_port


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    exe, openssl = find_redis_server(), shutil.which("openssl")
    if not exe or not openssl:
        pytest.skip("needs redis-server and openssl (CI installs both)")
    tmp = tmp_path_factory.mktemp("tls")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem")],
                   check=True, capture_output=True)  # fmt: skip
    port = free_port()
    proc = subprocess.Popen([exe, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                             "--tls-cert-file", str(tmp / "cert.pem"), "--tls-key-file", str(tmp / "key.pem"),
                             "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    probe = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_cert_reqs="none")
    deadline = time.monotonic() + 10
    while True:
        try:
            probe.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None:
                pytest.skip("this redis-server was built without TLS")
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield port, tmp / "cert.pem"
    proc.terminate()
    proc.wait(10)


def store_for(url: str) -> Store:
    return Store(load_settings({"REDIS_URL": url}, dotenv=False)).start()


def test_self_signed_certificate_with_ssl_cert_reqs_none(tls_redis: tuple[int, Path]) -> None:
    port, _ = tls_redis
    store = store_for(f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=none")
    try:
        assert store.health() == {"ok": True, "kind": "external"}
        store.client.set("scr:{_}:tls", "ok")
        assert store.client.get("scr:{_}:tls") == "ok"
    finally:
        store.close()


def test_pinned_ca_certificate(tls_redis: tuple[int, Path]) -> None:
    port, cert = tls_redis
    store = store_for(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}")
    try:
        assert store.health()["ok"] is True
    finally:
        store.close()


def test_unverifiable_certificate_is_refused_and_reported(tls_redis: tuple[int, Path]) -> None:
    port, _ = tls_redis
    store = store_for(f"rediss://127.0.0.1:{port}/0")
    try:
        health = store.health()
        assert health["ok"] is False and health["error"] in ("ConnectionError", "RedisUnavailable")
    finally:
        store.close()
