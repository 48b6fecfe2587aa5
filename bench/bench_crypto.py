"""What encryption at rest costs: per reflection (store + read back) and per lookup, against a plaintext
baseline measured in the same run on the same throwaway Redis.

    python -m bench.bench_crypto [--n 2000]

The baseline is the same ``ReflectionStore`` with a vault that passes values through unchanged, so the
difference is sealing and opening (AES-256-GCM) plus the data key's GET on each write. A lookup touches no
encrypted data: its two columns should agree within noise.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from bot.config import load_settings
from bot.content.corpus import load_corpus
from bot.reflections.store import Reflection, ReflectionStore
from bot.search.lookup import Lookup
from bot.storage import crypto
from bot.storage.embedded_redis import find_redis_server
from bot.storage.keys import Workspace

TEXT = "This made me rethink how we ask about sleep arrangements and who else lives in the home. " * 4
QUERIES = ("police information sharing", "neglect", "domestic abuse health visitor", "escalation", "voice of the child")


class PlainVault:
    """The baseline: what the store did before encryption (values as they are)."""

    def seal(self, ws: Workspace, name: str, plaintext: str) -> str:
        return plaintext

    def open(self, ws: Workspace, name: str, value: str) -> str:
        return value


def reflections(client: redis.Redis, n: int, vault: object, label: str) -> float:
    store = ReflectionStore(client, 365)
    store.vault = vault  # type: ignore[assignment]
    ws = Workspace(f"T0{label.upper()}")
    start = time.perf_counter()
    for i in range(n):
        now = time.time()
        store.add(ws, Reflection(id=f"r{i}", user="U1", point="p", kind="modal", visibility="private",
                                 created_at=now, updated_at=now, stood_out=TEXT))  # fmt: skip
        assert store.get(ws, f"r{i}") is not None
    return (time.perf_counter() - start) / n * 1e6


def lookups(n: int, lookup: Lookup) -> float:
    start = time.perf_counter()
    for i in range(n):
        lookup.answer(QUERIES[i % len(QUERIES)] + f" {i % 7}")
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-crypto-"))
    sock = tmp / "r.sock"
    server = subprocess.Popen([find_redis_server() or "redis-server", "--port", "0", "--unixsocket", str(sock),
                               "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                              stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        client = redis.Redis(unix_socket_path=str(sock), decode_responses=True)
        for _ in range(100):
            try:
                client.ping()
                break
            except (redis.ConnectionError, FileNotFoundError):
                time.sleep(0.05)
        keyring = crypto.Keyring(crypto.parse_master_key("k", crypto.new_master_key()))
        crypto.attach(client, keyring)  # as Store does for its client
        sealed_vault = crypto.Vault(client, keyring)
        reflections(client, 200, PlainVault(), "warm")  # warm up both paths
        reflections(client, 200, sealed_vault, "warm2")
        plain = reflections(client, args.n, PlainVault(), "plain")
        sealed = reflections(client, args.n, sealed_vault, "sealed")
        lookup = Lookup(load_corpus(load_settings({}, dotenv=False).content_dir))
        lookups(200, lookup)
        before = lookups(args.n, lookup)
        crypto.use_default(keyring)  # a process with encryption on: the lookup path never reaches it
        after = lookups(args.n, lookup)
        print(f"reflection store+read, plaintext : {plain:8.1f} µs")
        print(f"reflection store+read, encrypted : {sealed:8.1f} µs  (+{sealed - plain:.1f} µs, "
              f"{(sealed / plain - 1) * 100:+.0f}%)")  # fmt: skip
        print(f"lookup, before keys loaded       : {before:8.1f} µs")
        print(f"lookup, encryption on            : {after:8.1f} µs  (touches no encrypted data: noise only)")
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
