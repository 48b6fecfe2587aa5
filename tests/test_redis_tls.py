"""``rediss://`` against a real TLS Redis with a self-signed certificate, as managed services run it.

The README documents the URL parameters; these tests hold them to it: ``ssl_cert_reqs=none`` for an
unverifiable self-signed certificate, ``ssl_ca_certs`` to pin the service's own CA, and a plain
``rediss://`` refusing a certificate it cannot verify (reported by /readyz, not a crash). And on a
Redis Cluster speaking TLS the circuit breaker still guards every node's connections.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis_cluster import LocalCluster

from bot.config import load_settings
from bot.storage.breaker import RedisUnavailable
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


@pytest.fixture(scope="module")
def tls_cluster(tls_redis: tuple[int, Path]) -> Iterator[LocalCluster]:
    """A three-master Redis Cluster speaking TLS only (clients and the cluster bus), same certificate."""
    _, cert = tls_redis
    local = LocalCluster(find_redis_server() or "redis-server", Path(tempfile.mkdtemp(prefix="scr-tlscluster-")),
                         tls=(cert, cert.parent / "key.pem")).start()  # fmt: skip
    yield local
    local.stop()


def test_the_breaker_guards_a_tls_cluster(tls_cluster: LocalCluster) -> None:
    """redis-py's URL parsing puts its own TLS connection class in for rediss://; the breaker's must stay.

    A master is killed: the first command for a key it served fails (connection refused) and opens that
    node's breaker; the next fails at once without trying (``RedisUnavailable``), while a key on another
    master is still served."""
    store = Store(load_settings({"REDIS_URL": tls_cluster.url, "REDIS_CLUSTER": "1",
                                 "SCR_REDIS_BREAKER_SECONDS": "60"}, dotenv=False)).start()  # fmt: skip
    try:
        assert store.health() == {"ok": True, "kind": "cluster"}
        keys = {tls_cluster.master_of(f"scr:{{T{i}}}:tls"): f"scr:{{T{i}}}:tls" for i in range(50)}
        assert len(keys) == 3
        for key in keys.values():
            store.client.set(key, "ok")
        victim, other = list(keys)[:2]
        tls_cluster.kill(victim)
        with pytest.raises(redis.ConnectionError) as first:
            store.client.get(keys[victim])
        assert not isinstance(first.value, RedisUnavailable)
        with pytest.raises(RedisUnavailable):
            store.client.get(keys[victim])
        assert store.client.get(keys[other]) == "ok"
    finally:
        store.close()
